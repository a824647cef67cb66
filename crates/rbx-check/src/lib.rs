//! The second stage of rbx: a parsed entry runbook and the files it
//! includes, checked as one procedure.
//!
//! Architecture invariant: this crate does no IO of its own. Included files
//! are read through the [`Loader`] the caller passes in, so the checks are
//! pure functions of the sources.

pub mod budget;
mod calls;
pub mod children;
mod conditions;
pub mod graph;
mod lints;
mod loader;
pub mod project;
pub mod regexes;
mod resolve;
pub mod shell_context;
pub mod symbols;
mod types;
mod within;

use std::path::{Path, PathBuf};

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::File;

pub use loader::{LoadError, Loader, MAX_RUNBOOK_BYTES};

/// One source file of a procedure: the entry file or an included one.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    /// `None` when the file has syntax errors.
    pub file: Option<File>,
}

/// A diagnostic and the source it points into.
#[derive(Debug, Clone)]
pub struct Finding {
    pub source: usize,
    pub diagnostic: Diagnostic,
}

/// Everything the checks found in a procedure.
#[derive(Debug)]
pub struct Report {
    /// The entry file first, then included files in the order first met.
    pub sources: Vec<Source>,
    pub findings: Vec<Finding>,
    /// The lowered procedure, when every file parsed and loaded.
    pub graph: Option<graph::Graph>,
    /// The runbooks its `child` nodes run, each checked as a procedure of
    /// its own.
    pub children: Vec<children::Child>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.diagnostic.is_error())
    }

    /// Every source of the procedure, then of each child runbook (and
    /// theirs), each path once: what a run's snapshot holds.
    pub fn every_source(&self) -> Vec<&Source> {
        let mut out: Vec<&Source> = Vec::new();
        let mut pending = vec![self];
        while let Some(report) = pending.pop() {
            for source in &report.sources {
                if !out.iter().any(|s| s.path == source.path) {
                    out.push(source);
                }
            }
            pending.extend(report.children.iter().rev().map(|c| &c.report));
        }
        out
    }
}

/// Roles and links filled in for one environment, outside the runbook:
/// what `--fill FILE` gives. A filled role or link satisfies `require` and
/// its placeholders in the runbook are not reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fills {
    /// Role id → (person, contact, backup).
    pub roles: std::collections::BTreeMap<String, RoleFill>,
    /// Link id → target.
    pub links: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFill {
    pub person: String,
    pub contact: Option<String>,
    pub backup: Option<String>,
    /// The operators who may sign for the role (`identity` in a role).
    pub identities: Vec<String>,
}

/// Checks the procedure whose entry file is `entry`.
pub fn check(entry: &Path, loader: &dyn Loader) -> Report {
    check_with(entry, loader, &Fills::default())
}

/// Checks the procedure with roles and links filled from outside it.
pub fn check_with(entry: &Path, loader: &dyn Loader, fills: &Fills) -> Report {
    check_nested(entry, loader, fills, &[entry.to_path_buf()])
}

/// The checks that read the symbol table, in the order their findings are
/// reported, and the child runbooks the table was completed with.
fn check_names(
    sources: &[Source],
    loader: &dyn Loader,
    fills: &Fills,
    stack: &[PathBuf],
) -> (Vec<Finding>, Vec<children::Child>) {
    let (mut table, mut findings) = symbols::build(sources);
    let (children, found) = children::load(sources, loader, fills, stack);
    findings.extend(found);
    children::extend(&mut table, children::infos(&children));
    findings.extend(children::check(sources, &table));
    findings.extend(resolve::resolve(sources, &table));
    findings.extend(types::check(sources, &table));
    findings.extend(lints::check(sources, &table, fills));
    findings.extend(calls::check(sources, &table));
    (findings, children)
}

/// Checks a procedure that runs as a child of the runbooks in `stack`
/// (the entry files of every parent, this one last).
fn check_nested(entry: &Path, loader: &dyn Loader, fills: &Fills, stack: &[PathBuf]) -> Report {
    let mut report = loader::load(entry, loader);
    if report.has_errors() {
        return report;
    }
    // The graph needs only the sources: it is built on a thread of its own
    // while the checks that read the symbol table run on this one.
    let sources = &report.sources;
    let (graph, table_findings, children) = std::thread::scope(|scope| {
        let graph = scope.spawn(|| graph::lower(sources));
        let (findings, children) = check_names(sources, loader, fills, stack);
        match graph.join() {
            Ok(graph) => (graph, findings, children),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    report.findings.extend(table_findings);
    report.children = children;
    let (graph, findings) = graph;
    report.findings.extend(findings);
    report
        .findings
        .extend(conditions::check(&report.sources, &graph));
    // Longest paths mean nothing around a cycle, which is reported already.
    if !report
        .findings
        .iter()
        .any(|f| f.diagnostic.code == "rbx::lint::cycle")
    {
        report
            .findings
            .extend(within::check(&report.sources, &graph));
    }
    report.graph = Some(graph);
    report
        .findings
        .sort_by_key(|f| (f.source, f.diagnostic.span().unwrap_or_default().start));
    report
}
