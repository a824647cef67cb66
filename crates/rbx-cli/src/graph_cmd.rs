//! `rbx graph`: checks the entry runbook and prints its picture, drawn by
//! `rbx_views::graph`. Loading the procedure is shared with `rbx plan`.

use std::io::Write as _;
use std::path::Path;

use rbx_views::Procedure;
use rbx_views::graph::{Detail, Drawing, Language};

use crate::cli::{GraphArgs, GraphFormat};
use crate::{exit, render, sources};

/// Errors that say the procedure is not ready to be run (a role or link
/// still to fill in, a `_TBD_` placeholder) rather than that its shape is
/// wrong. The graph and the plan are what people read while they fill
/// these in, so they do not stop `rbx graph` and `rbx plan`.
const NOT_READY: [&str; 3] = [
    "rbx::lint::placeholder",
    "rbx::lint::unfilled_role",
    "rbx::lint::unset_link",
];

/// Checks the entry runbook at `path`, with the roles and links `fill`
/// gives and the project's lint levels. When it cannot be drawn or
/// planned, says why on standard error and gives the exit status to end
/// with.
pub fn load(path: &Path, fill: Option<&Path>) -> Result<Procedure, u8> {
    if let Err(error) = sources::read(path) {
        err!("{}", error.render());
        return Err(exit::INVALID);
    }
    let fill = crate::project::fill(fill);
    let fills = crate::run_cmd::fill(fill.as_deref())?
        .map(|(_, _, fills)| fills)
        .unwrap_or_default();
    let mut report = rbx_check::check_with(path, &sources::FileSystem, &fills);
    rbx_check::project::apply(&mut report, &crate::project::policy());
    let blocking = |code: &str| !NOT_READY.contains(&code);
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.diagnostic.is_error())
        .collect();
    if errors.iter().any(|f| blocking(f.diagnostic.code)) {
        let findings = render::Findings::new(&report);
        for finding in &errors {
            err!("{}", findings.render(finding));
        }
        errln!(
            "{} error(s): fix them first (`rbx lint {}` shows every problem)",
            errors.len(),
            path.display()
        );
        return Err(exit::INVALID);
    }
    let is_entry = report
        .sources
        .first()
        .and_then(|s| s.file.as_ref())
        .is_some_and(|f| f.header.is_some());
    let graph = report.graph.take();
    let Some(graph) = graph.filter(|_| is_entry) else {
        errln!(
            "error: `{}` has no `runbook` header: give the entry file, not a fragment it includes",
            path.display()
        );
        return Err(exit::INVALID);
    };
    if !errors.is_empty() {
        errln!(
            "note: {} thing(s) to fill in before this runbook can run (`rbx lint {}` lists them)",
            errors.len(),
            path.display()
        );
    }
    Ok(Procedure { report, graph })
}

pub fn run(args: &GraphArgs) -> u8 {
    let procedure = match load(&args.file, None) {
        Ok(procedure) => procedure,
        Err(status) => return status,
    };
    let language = match args.format {
        GraphFormat::Dot => Language::Dot,
        GraphFormat::Mermaid => Language::Mermaid,
    };
    let detail = if args.detail {
        Detail::Nodes
    } else {
        Detail::Stages
    };
    emit(&Drawing::new(&procedure, detail).render(language))
}

/// Writes a command's output to standard output. A reader that stopped
/// early (`rbx plan FILE | head`) is not an error worth a panic.
pub fn emit(text: &str) -> u8 {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => exit::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(error) => {
            errln!("error: cannot write to standard output: {error}");
            exit::INVALID
        }
    }
}
