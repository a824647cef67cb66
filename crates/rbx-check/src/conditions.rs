//! The lints on nodes' own conditions (`when EXPR`): one condition per
//! node, a condition that can change, and reading only what can have a
//! value when it is judged. A node whose condition does not hold is
//! skipped, so its captures and evidence have no value afterwards: a
//! command that interpolates one fails, and lint says so first.

use std::collections::{HashMap, HashSet};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Block, CompareOp, Expr, ExprKind, ItemKind, Path, StmtKind, Text, TextPart};

use crate::graph::{Graph, NodeKind};
use crate::{Finding, Source};

const DUPLICATE: &str = "rbx::lint::duplicate_condition";
const CONSTANT: &str = "rbx::lint::constant_condition";
const MAYBE_SKIPPED: &str = "rbx::lint::maybe_skipped";
const NOT_BEFORE: &str = "rbx::lint::condition_reads_later";
const SKIPPED_VALUE: &str = "rbx::lint::skipped_value";

/// Every finding about conditions, once per place written (a node of an
/// `again` instance is the same text as its stage's).
pub fn check(sources: &[Source], graph: &Graph) -> Vec<Finding> {
    let inputs: HashSet<&str> = sources
        .iter()
        .filter_map(|s| s.file.as_ref())
        .flat_map(|f| &f.items)
        .filter_map(|item| match &item.kind {
            ItemKind::Input(input) => Some(input.name.name.as_str()),
            _ => None,
        })
        .collect();
    let mut blocks: HashMap<&str, Vec<NodeIndex>> = HashMap::new();
    for index in graph.graph.node_indices() {
        if let NodeKind::Block(block) = &graph.graph[index].kind {
            blocks
                .entry(block.id.name.as_str())
                .or_default()
                .push(index);
        }
    }
    let mut checker = Checker {
        graph,
        inputs,
        blocks,
        findings: Vec::new(),
        reported: HashSet::new(),
    };
    for index in graph.graph.node_indices() {
        match &graph.graph[index].kind {
            NodeKind::Block(block) => checker.node(index, block),
            NodeKind::Guard { condition } => checker.guard(index, condition),
            _ => {}
        }
    }
    checker.findings
}

/// The node or block whose condition or commands are checked: its name in
/// messages, and its own condition.
struct Reader<'r> {
    name: &'r str,
    own: Option<&'r Expr>,
}

struct Checker<'g> {
    graph: &'g Graph,
    inputs: HashSet<&'g str>,
    /// Block ids written in the runbook → their nodes in the graph.
    blocks: HashMap<&'g str, Vec<NodeIndex>>,
    findings: Vec<Finding>,
    /// (source, offset, code) of what was reported already.
    reported: HashSet<(usize, usize, &'static str)>,
}

impl<'g> Checker<'g> {
    fn report(&mut self, at: NodeIndex, code: &'static str, diagnostic: Diagnostic) {
        let source = self.graph.graph[at].origin.source;
        let offset = diagnostic.span().unwrap_or_default().start;
        if self.reported.insert((source, offset, code)) {
            self.findings.push(Finding { source, diagnostic });
        }
    }

    fn node(&mut self, at: NodeIndex, block: &'g Block) {
        let conditions: Vec<&Expr> = block
            .body
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Condition(c) => Some(c),
                _ => None,
            })
            .collect();
        if let [first, second, ..] = conditions.as_slice() {
            let diagnostic = Diagnostic::error(
                DUPLICATE,
                format!("`{}` has two `when` conditions", block.id.name),
            )
            .primary(second.span, "a second condition")
            .secondary(first.span, "the first")
            .help(format!(
                "join them into one: `when ({}) and ({})`",
                rbx_syntax::fmt::expr(first),
                rbx_syntax::fmt::expr(second)
            ));
            self.report(at, DUPLICATE, diagnostic);
        }
        let reader = Reader {
            name: &block.id.name,
            own: block.condition(),
        };
        if let Some(condition) = block.condition() {
            self.constant(at, &reader, condition);
            self.reads(at, &reader, condition);
        }
        for stmt in &block.body {
            if let StmtKind::Run(text) | StmtKind::Verify(text) = &stmt.kind {
                self.interpolations(at, &reader, text);
            }
        }
    }

    /// A `foreach` or `parallel` block's own condition: the same lints as
    /// a node's, about the block.
    fn guard(&mut self, at: NodeIndex, condition: &'g Expr) {
        let reader = Reader {
            name: &self.graph.graph[at].id,
            own: Some(condition),
        };
        self.constant(at, &reader, condition);
        self.reads(at, &reader, condition);
    }

    /// A condition that reads nothing is the same on every run.
    fn constant(&mut self, at: NodeIndex, reader: &Reader<'_>, condition: &Expr) {
        if reads_anything(condition) {
            return;
        }
        let diagnostic = Diagnostic::warning(
            CONSTANT,
            format!(
                "the condition of `{}` reads no input, item or node: it is the same on every run",
                reader.name
            ),
        )
        .primary(condition.span, "never changes")
        .help(
            "compare an input, a loop item or an earlier node's result, or remove the `when` line",
        );
        self.report(at, CONSTANT, diagnostic);
    }

    /// The node a path reads, when it reads one: not a loop item or an
    /// input, which come first ("What a node can read").
    fn node_read(&self, at: NodeIndex, path: &Path) -> Option<&'g str> {
        let head = path.segments.first()?.name.as_str();
        let fanout = &self.graph.graph[at].fanout;
        if fanout.iter().any(|f| f.var == head) || self.inputs.contains(head) {
            return None;
        }
        self.blocks.get_key_value(head).map(|(name, _)| *name)
    }

    /// The condition of the node written `name`, if it has one.
    fn condition_of(&self, name: &str) -> Option<&'g Expr> {
        let index = *self.blocks.get(name)?.first()?;
        match &self.graph.graph[index].kind {
            NodeKind::Block(block) => block.condition(),
            _ => None,
        }
    }

    /// What a condition reads of other nodes: something that may have no
    /// value when it is judged.
    fn reads(&mut self, at: NodeIndex, reader: &Reader<'_>, condition: &'g Expr) {
        let mut paths = Vec::new();
        collect_paths(condition, &mut paths);
        let mut before: Option<HashSet<NodeIndex>> = None;
        for path in paths {
            let Some(name) = self.node_read(at, path) else {
                continue;
            };
            let ancestors = before.get_or_insert_with(|| ancestors(self.graph, at));
            let ran_before = self.blocks[name].iter().any(|i| ancestors.contains(i));
            if !ran_before {
                let diagnostic = Diagnostic::warning(
                    NOT_BEFORE,
                    format!("`{}` is read before `{name}` can have run", path.dotted()),
                )
                .primary(
                    path.span,
                    format!("no way to `{}` passes `{name}`", reader.name),
                )
                .help(format!(
                    "read only nodes that come before `{}`, or move it after `{name}`",
                    reader.name
                ));
                self.report(at, NOT_BEFORE, diagnostic);
                continue;
            }
            // A status is there whether the node ran or was skipped; its
            // captures, evidence and branch are not.
            if path.segments.get(1).is_none_or(|s| s.name != "status") {
                self.skipped_read(at, reader, path, name, MAYBE_SKIPPED);
            }
        }
    }

    /// `{{ node.field }}` in a command, of a node that may be skipped.
    fn interpolations(&mut self, at: NodeIndex, reader: &Reader<'_>, text: &'g Text) {
        for part in &text.parts {
            let TextPart::Interpolation(interpolation) = part else {
                continue;
            };
            let path = &interpolation.path;
            if path.segments.get(1).is_some_and(|s| s.name == "status") {
                continue;
            }
            if let Some(name) = self.node_read(at, path) {
                self.skipped_read(at, reader, path, name, SKIPPED_VALUE);
            }
        }
    }

    /// Reports reading `path` of the node `name` when `name` has a
    /// condition that the reader's own does not repeat or test.
    fn skipped_read(
        &mut self,
        at: NodeIndex,
        reader: &Reader<'_>,
        path: &Path,
        name: &str,
        code: &'static str,
    ) {
        let Some(theirs) = self.condition_of(name) else {
            return;
        };
        if name == reader.name || guarded(reader.own, theirs, name) {
            return;
        }
        let theirs = rbx_syntax::fmt::expr(theirs);
        let help = format!(
            "give `{}` the same condition (`when {theirs}`), or test `{name}.status == succeeded` in its `when`",
            reader.name
        );
        let diagnostic = if code == SKIPPED_VALUE {
            Diagnostic::error(
                code,
                format!(
                    "`{{{{ {} }}}}` has no value when `{name}` is skipped",
                    path.dotted()
                ),
            )
            .primary(path.span, format!("`{name}` runs only when `{theirs}`"))
            .help(help)
        } else {
            Diagnostic::warning(
                code,
                format!("`{}` has no value when `{name}` is skipped", path.dotted()),
            )
            .primary(
                path.span,
                format!("`{name}` runs only when `{theirs}`; here it would read as a bare name"),
            )
            .help(help)
        };
        self.report(at, code, diagnostic);
    }
}

/// Whether the reader's condition covers the node `name` having run: one
/// of its conjuncts is `name`'s own condition or `name.status == succeeded`.
fn guarded(reader: Option<&Expr>, theirs: &Expr, name: &str) -> bool {
    let Some(reader) = reader else {
        return false;
    };
    let wanted = rbx_syntax::fmt::expr(theirs);
    let mut conjuncts = Vec::new();
    flatten_and(reader, &mut conjuncts);
    conjuncts.iter().any(|c| {
        rbx_syntax::fmt::expr(c) == wanted
            || matches!(&c.kind, ExprKind::Compare { lhs, op: CompareOp::Eq, rhs }
                if is_path(lhs, &[name, "status"]) && is_path(rhs, &["succeeded"]))
    })
}

fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::And(items) => items.iter().for_each(|i| flatten_and(i, out)),
        ExprKind::Paren(inner) => flatten_and(inner, out),
        _ => out.push(e),
    }
}

fn is_path(e: &Expr, names: &[&str]) -> bool {
    matches!(&e.kind, ExprKind::Path(p)
        if p.segments.iter().map(|s| s.name.as_str()).eq(names.iter().copied()))
}

/// Whether an expression reads anything a run can change: a name, a call
/// or an interpolation.
fn reads_anything(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => items.iter().any(reads_anything),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => reads_anything(inner),
        ExprKind::Compare { lhs, rhs, .. } => reads_anything(lhs) || reads_anything(rhs),
        ExprKind::Sum { first, rest } => {
            reads_anything(first) || rest.iter().any(|(_, r)| reads_anything(r))
        }
        ExprKind::List(items) | ExprKind::Default(items) | ExprKind::Product(items) => {
            items.iter().any(reads_anything)
        }
        ExprKind::Call { .. } | ExprKind::Path(_) => true,
        ExprKind::String(text) => text.interpolations().next().is_some(),
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Regex(_) => false,
    }
}

pub(crate) fn collect_paths<'e>(e: &'e Expr, out: &mut Vec<&'e Path>) {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => {
            items.iter().for_each(|i| collect_paths(i, out))
        }
        ExprKind::Not(inner) | ExprKind::Paren(inner) => collect_paths(inner, out),
        ExprKind::Compare { lhs, rhs, .. } => {
            collect_paths(lhs, out);
            collect_paths(rhs, out);
        }
        ExprKind::Sum { first, rest } => {
            collect_paths(first, out);
            rest.iter().for_each(|(_, r)| collect_paths(r, out));
        }
        ExprKind::Call { args, .. } | ExprKind::List(args) | ExprKind::Product(args) => {
            args.iter().for_each(|a| collect_paths(a, out))
        }
        // `a ?? b`: what has a fallback may be missing; only the last
        // operand must have a value.
        ExprKind::Default(items) => {
            if let Some(last) = items.last() {
                collect_paths(last, out);
            }
        }
        ExprKind::Path(path) => out.push(path),
        ExprKind::String(text) => out.extend(text.interpolations()),
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Regex(_) => {}
    }
}

/// Every node some way leads from to `at`.
fn ancestors(graph: &Graph, at: NodeIndex) -> HashSet<NodeIndex> {
    let mut seen = HashSet::new();
    let mut stack = vec![at];
    while let Some(node) = stack.pop() {
        for before in graph.graph.neighbors_directed(node, Direction::Incoming) {
            if seen.insert(before) {
                stack.push(before);
            }
        }
    }
    seen
}
