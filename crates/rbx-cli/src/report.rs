//! `rbx report`: picks the run and prints its record, built and written
//! by `rbx_views::report`.

use rbx_views::report::Record;

use crate::cli::{ReportArgs, ReportFormat};
use crate::exit;

pub fn run(args: &ReportArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let (store, summary) = crate::pick::open(
            &args.store,
            args.run.as_deref(),
            crate::pick::Default::Latest,
        )?;
        let record = Record::build(store.as_ref(), &summary).map_err(fail)?;
        let text = match args.format {
            ReportFormat::Md => record.markdown(),
            ReportFormat::Json => record.json().map_err(fail)?,
            ReportFormat::Html => record.html(),
        };
        Ok(crate::graph_cmd::emit(&text))
    };
    attempt().unwrap_or_else(|status| status)
}

fn fail(message: impl std::fmt::Display) -> u8 {
    errln!("error: {message}");
    exit::INVALID
}
