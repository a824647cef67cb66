//! Child runbooks: a `child` node names another entry runbook, which is
//! loaded through the same [`Loader`], checked as a procedure of its own
//! and kept beside the parent's report. Its inputs are what the `child`
//! gives (`input NAME = EXPR`), its outcome and captures what the parent
//! reads (`deploy_eu.outcome`, `deploy_eu.version`).
//!
//! A child path is relative to the file that holds the `child`, and stays
//! inside that file's entry runbook's directory as an include does. A
//! runbook that starts itself, directly or through its children, is a
//! cycle and is refused at the `runbook` line that closes it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::*;

use crate::graph::NodeKind as GraphNode;
use crate::resolve::closest;
use crate::symbols::{FieldType, Table};
use crate::{Fills, Finding, Loader, Report, Source};

/// A child runbook as checked: its path as the loader reads it, its own
/// report, and the ids of the `child` nodes that run it.
#[derive(Debug)]
pub struct Child {
    pub path: PathBuf,
    pub report: Report,
    pub nodes: Vec<String>,
}

/// What a parent may know of a child runbook: its inputs, the values it
/// exposes (a capture or a person's evidence that exactly one node of it
/// records, outside loops and instances) and its outcomes.
#[derive(Debug, Clone, Default)]
pub struct ChildInfo {
    pub inputs: Vec<Input>,
    pub captures: BTreeMap<String, FieldType>,
    pub outcomes: Vec<String>,
}

/// Every `child` block of `items`, nested blocks included.
pub fn blocks(items: &[StageItem]) -> Vec<&Block> {
    let mut out = Vec::new();
    collect(items, &mut out);
    out
}

fn collect<'a>(items: &'a [StageItem], out: &mut Vec<&'a Block>) {
    for item in items {
        match &item.kind {
            StageItemKind::Block(block) if block.kind == BlockKind::Child => out.push(block),
            kind => collect(kind.nested(), out),
        }
    }
}

/// Every `child` block of a file.
pub fn file_blocks(file: &File) -> Vec<&Block> {
    let mut out = Vec::new();
    for item in &file.items {
        match &item.kind {
            ItemKind::Stage(stage) => collect(&stage.items, &mut out),
            ItemKind::Finally(items) => collect(items, &mut out),
            _ => {}
        }
    }
    out
}

/// Loads and checks every child runbook the sources name. `stack` holds
/// the entry files of the runbooks being checked around this one, for
/// cycles.
pub(crate) fn load(
    sources: &[Source],
    loader: &dyn Loader,
    fills: &Fills,
    stack: &[PathBuf],
) -> (Vec<Child>, Vec<Finding>) {
    let mut children: Vec<Child> = Vec::new();
    let mut findings = Vec::new();
    let root = sources
        .first()
        .and_then(|s| s.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        let dir = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for block in file_blocks(file) {
            let mut report = |diagnostic| {
                findings.push(Finding {
                    source: index,
                    diagnostic,
                })
            };
            let Some(written) = block.child_runbook() else {
                report(missing_runbook(block));
                continue;
            };
            let Some(relative) = written.as_literal() else {
                report(
                    Diagnostic::error(
                        "rbx::lint::child_runbook",
                        "a child runbook's path cannot hold `{{ }}`",
                    )
                    .primary(written.span, "checked before the run, so it must be fixed text")
                    .help("name one runbook file; choose between runbooks with `when` on two `child` nodes"),
                );
                continue;
            };
            let joined = dir.join(&relative);
            if let Some(diagnostic) = crate::loader::outside(&root, &relative, &joined) {
                report(diagnostic.primary(written.span, "named here"));
                continue;
            }
            let key = crate::loader::normalise(&joined);
            if stack.iter().any(|p| crate::loader::normalise(p) == key) {
                report(
                    Diagnostic::error(
                        "rbx::lint::child_cycle",
                        format!("`{relative}` is already running as a parent of this runbook: this makes a cycle"),
                    )
                    .primary(written.span, "this child closes a cycle")
                    .help("a runbook cannot start itself, directly or through its children; move what both need into a fragment they include"),
                );
                continue;
            }
            if let Some(child) = children
                .iter_mut()
                .find(|c| crate::loader::normalise(&c.path) == key)
            {
                child.nodes.push(block.id.name.clone());
                continue;
            }
            if let Err(error) = loader.load(&joined, Some(&root)) {
                report(
                    Diagnostic::error(
                        error.code(),
                        format!("cannot read child runbook `{relative}`: {error}"),
                    )
                    .primary(written.span, "named here")
                    .help("a child runbook's path is relative to the file that holds the `child`"),
                );
                continue;
            }
            let mut inner = stack.to_vec();
            inner.push(joined.clone());
            let checked = crate::check_nested(&joined, loader, fills, &inner);
            if let Some(diagnostic) = broken(&checked, &dir, &relative, written.span) {
                report(diagnostic);
                continue;
            }
            children.push(Child {
                path: joined,
                report: checked,
                nodes: vec![block.id.name.clone()],
            });
        }
    }
    (children, findings)
}

fn missing_runbook(block: &Block) -> Diagnostic {
    Diagnostic::error(
        "rbx::lint::child_runbook",
        format!("the child `{}` names no runbook", block.id.name),
    )
    .primary(block.id.span, "a child runs another runbook")
    .help("add `runbook \"PATH\"`, the path relative to this file")
}

/// Why a checked child runbook cannot run: it has errors, or it is a
/// fragment rather than an entry runbook.
fn broken(
    checked: &Report,
    dir: &Path,
    relative: &str,
    span: rbx_syntax::Span,
) -> Option<Diagnostic> {
    if let Some(first) = checked.findings.iter().find(|f| f.diagnostic.is_error()) {
        let count = checked
            .findings
            .iter()
            .filter(|f| f.diagnostic.is_error())
            .count();
        // Named as the parent's author would write it: from the parent's
        // directory.
        let file = checked
            .sources
            .get(first.source)
            .map(|s| {
                s.path
                    .strip_prefix(dir)
                    .unwrap_or(&s.path)
                    .display()
                    .to_string()
            })
            .unwrap_or_default();
        return Some(
            Diagnostic::error(
                "rbx::lint::child_errors",
                format!(
                    "the child runbook `{relative}` has {count} error(s); the first, in `{file}`: {}",
                    first.diagnostic.message
                ),
            )
            .primary(span, "this runbook does not pass `rbx lint`")
            .help(format!("run `rbx lint {file}` and fix what it says")),
        );
    }
    let is_entry = checked
        .sources
        .first()
        .and_then(|s| s.file.as_ref())
        .is_some_and(|f| f.header.is_some());
    (!is_entry).then(|| {
        Diagnostic::error(
            "rbx::lint::child_runbook",
            format!("`{relative}` is a fragment, not a runbook"),
        )
        .primary(span, "a child runs an entry runbook")
        .help("a file with `runbook ID \"Title\" { … }` can run as a child; a fragment is for `include`")
    })
}

/// What the parent may read of each child, by the `child` node's id.
pub fn infos(children: &[Child]) -> HashMap<String, ChildInfo> {
    let mut out = HashMap::new();
    for child in children {
        let info = info(&child.report);
        for node in &child.nodes {
            out.insert(node.clone(), info.clone());
        }
    }
    out
}

fn info(report: &Report) -> ChildInfo {
    let mut info = ChildInfo::default();
    let mut seen: BTreeMap<String, (usize, FieldType)> = BTreeMap::new();
    for file in report.sources.iter().filter_map(|s| s.file.as_ref()) {
        for item in &file.items {
            match &item.kind {
                ItemKind::Input(input) => info.inputs.push(input.clone()),
                ItemKind::Stage(stage) => captures(&stage.items, &mut seen),
                _ => {}
            }
        }
    }
    info.captures = seen
        .into_iter()
        .filter(|(_, (count, _))| *count == 1)
        .map(|(name, (_, ty))| (name, ty))
        .collect();
    if let Some(graph) = &report.graph {
        for index in graph.graph.node_indices() {
            if let GraphNode::End { outcome } = &graph.graph[index].kind {
                if !info.outcomes.contains(outcome) {
                    info.outcomes.push(outcome.clone());
                }
            }
        }
    }
    info.outcomes.sort();
    info
}

fn captures(items: &[StageItem], seen: &mut BTreeMap<String, (usize, FieldType)>) {
    for item in items {
        match &item.kind {
            StageItemKind::Block(block) => {
                for stmt in &block.body {
                    let (name, ty) = match &stmt.kind {
                        StmtKind::Capture(capture) => {
                            (&capture.name.name, FieldType::Capture(capture.ty))
                        }
                        StmtKind::Evidence(evidence) => (
                            &evidence.name.name,
                            FieldType::Evidence(evidence.ty.clone()),
                        ),
                        _ => continue,
                    };
                    seen.entry(name.clone()).or_insert((0, ty)).0 += 1;
                }
            }
            StageItemKind::Checklist(list) => captures(&list.items, seen),
            StageItemKind::Parallel(parallel) => captures(&parallel.items, seen),
            _ => {}
        }
    }
}

/// Gives each `child` node the fields its child exposes: `outcome` (one
/// of the child's outcomes) and each capture the child makes once.
pub(crate) fn extend(table: &mut Table, infos: HashMap<String, ChildInfo>) {
    for (node, info) in &infos {
        table.values.extend(info.outcomes.iter().cloned());
        let Some(entry) = table.nodes.get_mut(node) else {
            continue;
        };
        for (name, ty) in &info.captures {
            if let FieldType::Evidence(
                EvidenceType::Choice(choices) | EvidenceType::Choices(choices),
            ) = ty
            {
                table.values.extend(choices.iter().map(|c| c.name.clone()));
            }
            entry.fields.insert(name.clone(), ty.clone());
        }
        let outcomes = info
            .outcomes
            .iter()
            .map(|name| Ident {
                name: name.clone(),
                span: rbx_syntax::Span::default(),
            })
            .collect();
        entry.fields.insert(
            "outcome".to_string(),
            FieldType::Evidence(EvidenceType::Choice(outcomes)),
        );
    }
    table.children = infos;
}

/// The shape of each `child`: one `runbook` line, every input of the
/// child given once (or defaulted), and no input the child lacks.
pub(crate) fn check(sources: &[Source], table: &Table) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        for block in file_blocks(file) {
            let mut report = |diagnostic| {
                findings.push(Finding {
                    source: index,
                    diagnostic,
                })
            };
            let runbooks: Vec<&Stmt> = block
                .body
                .iter()
                .filter(|s| matches!(s.kind, StmtKind::Runbook(_)))
                .collect();
            if let [_, again, ..] = runbooks.as_slice() {
                report(
                    Diagnostic::error(
                        "rbx::lint::child_runbook",
                        format!("the child `{}` names two runbooks", block.id.name),
                    )
                    .primary(again.span, "a second `runbook` line")
                    .help("a child runs one runbook; write a `child` node for each"),
                );
            }
            let Some(info) = table.children.get(&block.id.name) else {
                continue;
            };
            inputs(block, info).into_iter().for_each(&mut report);
        }
    }
    findings
}

fn inputs(block: &Block, info: &ChildInfo) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut given: Vec<&Ident> = Vec::new();
    for arg in block.child_inputs() {
        if let Some(first) = given.iter().find(|g| g.name == arg.name.name) {
            out.push(
                Diagnostic::error(
                    "rbx::lint::child_input_twice",
                    format!("the input `{}` is given twice", arg.name.name),
                )
                .primary(arg.name.span, "given again here")
                .secondary(first.span, "first given here")
                .help("give each input of the child once"),
            );
            continue;
        }
        given.push(&arg.name);
        if info.inputs.iter().any(|i| i.name.name == arg.name.name) {
            continue;
        }
        let names = info.inputs.iter().map(|i| i.name.name.as_str());
        let help = match closest(&arg.name.name, names) {
            Some(best) => format!("did you mean `{best}`?"),
            None if info.inputs.is_empty() => "the child runbook takes no inputs".to_string(),
            None => format!(
                "the child runbook's inputs are: {}",
                info.inputs
                    .iter()
                    .map(|i| format!("`{}`", i.name.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push(
            Diagnostic::error(
                "rbx::lint::child_input_unknown",
                format!("the child runbook has no input `{}`", arg.name.name),
            )
            .primary(arg.name.span, "not an input of the child runbook")
            .help(help),
        );
    }
    for input in &info.inputs {
        if input.default.is_some() || given.iter().any(|g| g.name == input.name.name) {
            continue;
        }
        out.push(
            Diagnostic::error(
                "rbx::lint::child_input_missing",
                format!(
                    "the child `{}` does not give the input `{}`, which has no default",
                    block.id.name, input.name.name
                ),
            )
            .primary(block.id.span, "every input without a default must be given")
            .help(format!("add `input {} = …` to the child", input.name.name)),
        );
    }
    out
}
