//! `rbx plan`: checks the entry runbook and prints what a run would do,
//! written by `rbx_views::plan`.

use crate::cli::PlanArgs;
use crate::{exit, graph_cmd};

pub fn run(args: &PlanArgs) -> u8 {
    let procedure = match graph_cmd::load(&args.file, args.fill.as_deref()) {
        Ok(procedure) => procedure,
        Err(status) => return status,
    };
    match rbx_views::plan::render(&procedure, &args.set) {
        Ok(text) => graph_cmd::emit(&text),
        Err(message) => {
            errln!("error: {message}");
            exit::INVALID
        }
    }
}
