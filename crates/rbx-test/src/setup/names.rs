//! Every name a scenario uses, found in the runbook — or a problem at its
//! place in the scenarios file, with the closest name the runbook has.

use petgraph::graph::NodeIndex;
use rbx_check::graph::NodeKind;
use rbx_engine::Procedure;
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Check, CheckKind, Expr, ExprKind, NodePattern};

use super::ChildNode;
use super::Problems;
use crate::matching::{closeness, names_stage, parts, suggestion};

/// A problem unless some node of the run answers to `pattern` — of a
/// child run, for a path through a `child` node.
pub(super) fn known(
    nodes: &[(String, NodeIndex)],
    children: &[ChildNode],
    pattern: &NodePattern,
    problems: &mut Problems,
) -> bool {
    if parts(&pattern.text).len() > 1 {
        return super::children::known(children, pattern, problems);
    }
    if nodes.iter().any(|(id, _)| closeness(pattern, id).is_some()) {
        return true;
    }
    let names: Vec<String> = nodes
        .iter()
        .flat_map(|(id, _)| [id.clone(), rbx_engine::base_name(id).unwrap_or_default()])
        .collect();
    let mut d = Diagnostic::error(
        "rbx::test::unknown_node",
        format!("no node of the runbook is named `{}`", pattern.text),
    )
    .primary(pattern.span, "names nothing in this run");
    if let Some(near) = suggestion(&pattern.text, names.iter().map(String::as_str)) {
        d = d.help(format!("did you mean `{near}`?"));
    } else {
        d = d.help("name a node by its id (`stage.node`), its name, or a quoted pattern such as \"stage.*\"");
    }
    problems.push(d);
    false
}

pub(super) fn check(
    procedure: &Procedure,
    (nodes, children): (&[(String, NodeIndex)], &[ChildNode]),
    check: &Check,
    problems: &mut Problems,
) {
    match &check.kind {
        CheckKind::Failed(p)
        | CheckKind::Ran(p)
        | CheckKind::NotRan(p)
        | CheckKind::Attempts(p, _) => {
            known(nodes, children, p, problems);
        }
        CheckKind::Within(Some(stage), _) => {
            let stages: Vec<&str> = nodes
                .iter()
                .filter(|(id, _)| !id.contains('.'))
                .map(|(id, _)| id.as_str())
                .collect();
            if !stages.iter().any(|s| names_stage(stage, s)) {
                let mut d = Diagnostic::error(
                    "rbx::test::unknown_stage",
                    format!("no stage of the runbook is named `{}`", stage.text),
                )
                .primary(stage.span, "not a stage");
                if let Some(near) = suggestion(&stage.text, stages.iter().copied()) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                problems.push(d);
            }
        }
        CheckKind::Overrun(stage) => {
            let budgets: Vec<String> = procedure.budgets.iter().map(|b| b.label()).collect();
            if procedure.graph.node(&stage.name).is_none() && !budgets.contains(&stage.name) {
                let mut d = Diagnostic::error(
                    "rbx::test::unknown_stage",
                    format!(
                        "no stage or budget of the runbook is named `{}`",
                        stage.name
                    ),
                )
                .primary(stage.span, "not a stage");
                if !budgets.is_empty() {
                    d = d.help(format!(
                        "the runbook's budgets over several stages or the run are {}",
                        budgets.join(", ")
                    ));
                }
                problems.push(d);
            }
        }
        CheckKind::Outcome(outcome) => {
            let known: Vec<String> = procedure
                .graph
                .graph
                .node_weights()
                .filter_map(|n| match &n.kind {
                    NodeKind::End { outcome } => Some(outcome.clone()),
                    _ => None,
                })
                .collect();
            if !known.contains(&outcome.name) {
                let mut d = Diagnostic::error(
                    "rbx::test::unknown_outcome",
                    format!("no route of the runbook ends `{}`", outcome.name),
                )
                .primary(outcome.span, "not an outcome of this runbook");
                if let Some(near) = suggestion(&outcome.name, known.iter().map(String::as_str)) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                problems.push(d);
            }
        }
        CheckKind::Holds(condition) => names(procedure, condition, problems),
        CheckKind::Within(None, _) => {}
    }
}

/// A problem for each name an expectation reads that is neither an input
/// nor a node of the runbook (nor a value: an enum value, an option, a
/// status).
fn names(procedure: &Procedure, condition: &Expr, problems: &mut Problems) {
    let mut paths = Vec::new();
    paths_in(condition, &mut paths);
    let known: Vec<String> = procedure
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .chain(
            procedure
                .graph
                .graph
                .node_weights()
                .filter_map(|n| rbx_engine::base_name(&n.id)),
        )
        .collect();
    for path in paths {
        let Some(head) = path.segments.first() else {
            continue;
        };
        // A bare name may be a value (`succeeded`, `SEV1`), which the
        // comparison itself judges.
        if path.segments.len() == 1 || known.contains(&head.name) {
            continue;
        }
        let mut d = Diagnostic::error(
            "rbx::test::unknown_name",
            format!("no node or input of the runbook is named `{}`", head.name),
        )
        .primary(head.span, "names nothing in the runbook");
        if let Some(near) = suggestion(&head.name, known.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{near}`?"));
        }
        problems.push(d);
    }
}

fn paths_in<'e>(e: &'e Expr, out: &mut Vec<&'e rbx_syntax::ast::Path>) {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|i| paths_in(i, out)),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => paths_in(inner, out),
        ExprKind::Compare { lhs, rhs, .. } => {
            paths_in(lhs, out);
            paths_in(rhs, out);
        }
        ExprKind::Sum { first, rest } => {
            paths_in(first, out);
            rest.iter().for_each(|(_, r)| paths_in(r, out));
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| paths_in(a, out)),
        ExprKind::Path(path) => out.push(path),
        ExprKind::List(items) | ExprKind::Default(items) | ExprKind::Product(items) => {
            items.iter().for_each(|i| paths_in(i, out))
        }
        ExprKind::String(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Regex(_) => {}
    }
}
