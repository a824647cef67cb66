//! `rbx test`: a runbook's scenarios, each run by the real engine — the
//! same dispatcher, routes, joins, retries, captures, expectations and
//! people's rules — with a simulated executor and clock in place of
//! processes and sleeps, and a journal in memory. Nothing is executed and
//! no store is written.
//!
//! A scenarios file `NAME.rbxtest` sits beside the runbook `NAME.runbook`
//! it tests and is written in the runbook language's own grammar.
//!
//! Architecture invariant: this crate decides nothing about how a run
//! goes; it only says what steps print and people answer, and reads the
//! journal the engine wrote. It reads files only through a `Loader` and
//! never prints.

mod coverage;
mod drive;
mod earlier;
mod judge;
mod matching;
mod output;
mod refusals;

mod setup;
mod sim;
mod timing;
mod trace;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbx_check::Loader;
use rbx_engine::Procedure;
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{ItemKind, Scenario};

pub use coverage::{Coverage, Unit, UnitKind};
pub use drive::{Outcome, Report};
pub use drive::{Settings, run_suite};
pub use judge::Miss;
pub use output::{Human, JSON_VERSION, coverage_json, human, json, junit};
pub use timing::durations_from;
pub use trace::{StageTime, Trace};

/// The extension of a scenarios file.
pub const EXTENSION: &str = "rbxtest";

/// A diagnostic about a file, with the file's text to show it against.
#[derive(Debug, Clone)]
pub struct Problem {
    pub path: PathBuf,
    pub text: String,
    pub diagnostic: Diagnostic,
}

/// A scenarios file and the checked runbook it tests.
#[derive(Debug)]
pub struct Suite {
    pub path: PathBuf,
    pub text: String,
    pub runbook: PathBuf,
    pub procedure: Arc<Procedure>,
    /// Every source of the runbook, `(path, text)`, by the index spans use.
    pub sources: Vec<(PathBuf, String)>,
    pub scenarios: Vec<Scenario>,
}

/// The runbook a scenarios file tests: `NAME.runbook` beside `NAME.rbxtest`.
pub fn runbook_of(scenarios: &Path) -> PathBuf {
    scenarios.with_extension("runbook")
}

/// Reads and parses a scenarios file and checks the runbook beside it.
/// Every problem is reported, each against the file it is in.
pub fn load(
    path: &Path,
    loader: &dyn Loader,
    policy: &rbx_check::project::Policy,
) -> Result<Suite, Vec<Problem>> {
    let (text, scenarios) = read_scenarios(path, loader)?;
    let problem = |diagnostic: Diagnostic| Problem {
        path: path.to_path_buf(),
        text: text.clone(),
        diagnostic,
    };
    let runbook = runbook_of(path);
    if let Err(e) = loader.load(&runbook, None) {
        return Err(vec![problem(
            Diagnostic::error(
                "rbx::test::no_runbook",
                format!(
                    "the runbook these scenarios test, {}, cannot be read: {e}",
                    runbook.display()
                ),
            )
            .primary(scenarios[0].id.span, "scenarios of that runbook")
            .help("a scenarios file NAME.rbxtest tests NAME.runbook in the same directory"),
        )]);
    }
    let fills = everything_filled(&runbook, loader);
    let mut report = rbx_check::check_with(&runbook, loader, &fills);
    rbx_check::project::apply(&mut report, policy);
    let sources: Vec<(PathBuf, String)> = report
        .sources
        .iter()
        .map(|s| (s.path.clone(), s.text.clone()))
        .collect();
    if report.has_errors() {
        let problems = runbook_problems(&report, &sources, &runbook);
        if problems.is_empty() {
            return Err(vec![problem(
                Diagnostic::error(
                    "rbx::test::no_runbook",
                    format!(
                        "the runbook these scenarios test, {}, cannot be read",
                        runbook.display()
                    ),
                )
                .help("a scenarios file NAME.rbxtest tests NAME.runbook in the same directory"),
            )]);
        }
        return Err(problems);
    }
    // The fill goes into the run's snapshot, so that a drive resumed for
    // another person's sign-off rebuilds the same procedure.
    let fill = rbx_engine::fills::to_toml(&fills);
    let Some(procedure) = Procedure::from_report_with(report, Some(("simulated.fill.toml", &fill)))
    else {
        return Err(vec![problem(Diagnostic::error(
            "rbx::test::not_an_entry",
            format!(
                "{} is not an entry runbook (`runbook ID \"Title\" {{ … }}`)",
                runbook.display()
            ),
        ))]);
    };
    Ok(Suite {
        path: path.to_path_buf(),
        text,
        runbook,
        procedure: Arc::new(procedure),
        sources,
        scenarios,
    })
}

/// A scenarios file's text and scenarios: refused when it cannot be read,
/// does not parse, or holds none.
fn read_scenarios(
    path: &Path,
    loader: &dyn Loader,
) -> Result<(String, Vec<rbx_syntax::ast::Scenario>), Vec<Problem>> {
    let problem = |text: &str, diagnostic: Diagnostic| Problem {
        path: path.to_path_buf(),
        text: text.to_string(),
        diagnostic,
    };
    let bytes = loader.load(path, None).map_err(|e| {
        vec![problem(
            "",
            Diagnostic::error(
                "rbx::test::unreadable",
                format!("cannot read this file: {e}"),
            ),
        )]
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parsed = rbx_syntax::parse_bytes(&bytes);
    let errors: Vec<Problem> = parsed
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| problem(&text, d.clone()))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let scenarios = parsed.file.map(|f| f.scenarios).unwrap_or_default();
    if scenarios.is_empty() {
        return Err(vec![problem(
            &text,
            Diagnostic::error("rbx::test::no_scenarios", "this file holds no scenario")
                .primary(rbx_syntax::Span::at(0), "a scenarios file starts here")
                .help("write `scenario ID \"What it proves\" { … }` blocks"),
        )]);
    }
    Ok((text, scenarios))
}

/// The errors checking the runbook found, each against its own file.
fn runbook_problems(
    report: &rbx_check::Report,
    sources: &[(PathBuf, String)],
    runbook: &Path,
) -> Vec<Problem> {
    report
        .findings
        .iter()
        .filter(|f| f.diagnostic.is_error())
        .map(|f| {
            let (path, text) = sources
                .get(f.source)
                .cloned()
                .unwrap_or_else(|| (runbook.to_path_buf(), String::new()));
            Problem {
                path,
                text,
                diagnostic: f.diagnostic.clone(),
            }
        })
        .collect()
}

/// A scenario proves the procedure's paths, not one environment's fill:
/// it runs as if every role were filled and every link set.
fn everything_filled(runbook: &Path, loader: &dyn Loader) -> rbx_check::Fills {
    let mut fills = rbx_check::Fills::default();
    let loaded = rbx_check::check(runbook, loader);
    for file in loaded.sources.iter().filter_map(|s| s.file.as_ref()) {
        for item in &file.items {
            match &item.kind {
                ItemKind::Role(role) => {
                    fills.roles.insert(
                        role.id.name.clone(),
                        rbx_check::RoleFill {
                            person: format!("{} (simulated)", role.id.name),
                            contact: None,
                            backup: None,
                            identities: Vec::new(),
                        },
                    );
                }
                ItemKind::Link(link) => {
                    fills.links.insert(
                        link.id.name.clone(),
                        format!("https://example.invalid/{}", link.id.name),
                    );
                }
                _ => {}
            }
        }
    }
    fills
}

/// `path:line:col` of a byte offset in a text, for messages.
pub fn place(path: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}", path.display())
}
