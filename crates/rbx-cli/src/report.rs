//! `rbx report`: finds the run and prints its record, built and written
//! by `rbx_views::report`.

use std::path::Path;

use rbx_store::{RunId, RunSummary, SqliteStore, Store};
use rbx_views::report::Record;

use crate::cli::{ReportArgs, ReportFormat};
use crate::exit;
use crate::run_cmd::open_store;

pub fn run(args: &ReportArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let store = open_store(&args.store.state_dir)?;
        let summary = find_run(&store, args.run.as_deref(), &args.store.state_dir)?;
        let record = Record::build(&store, &summary).map_err(fail)?;
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

/// The run named, or the most recently created one.
fn find_run(store: &SqliteStore, run: Option<&str>, dir: &Path) -> Result<RunSummary, u8> {
    let found = match run {
        Some(id) => store.run(&RunId::new(id)),
        // `runs()` lists the oldest first.
        None => store.runs().map(|runs| runs.into_iter().last()),
    };
    match found {
        Ok(Some(summary)) => Ok(summary),
        Ok(None) => Err(fail(match run {
            Some(id) => format!("there is no run `{id}` in {}", dir.display()),
            None => format!("there are no runs in {}", dir.display()),
        })),
        Err(e) => Err(fail(e)),
    }
}
