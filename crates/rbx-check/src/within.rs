//! The `within` budget lints: a stage whose worst case exceeds its budget,
//! and a budget that cannot be checked because something on the stage has
//! no timeout.

use std::collections::HashMap;

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{ItemKind, ValueKind};

use crate::budget::{Reason, WorstCase, cost, worst_case_with};
use crate::graph::{Graph, NodeKind, name_span};
use crate::{Finding, Source};

pub fn check(sources: &[Source], graph: &Graph) -> Vec<Finding> {
    let lengths = list_lengths(sources);
    let length = |list: &str| lengths.get(list).copied();
    let g = &graph.graph;
    let mut findings = Vec::new();
    for index in g.node_indices() {
        let node = &g[index];
        let NodeKind::StageStart {
            stage,
            within: Some(budget),
            ..
        } = &node.kind
        else {
            continue;
        };
        // An `again` instance runs the same nodes as the stage's first
        // instance, whose check covers it.
        if node.stage != node.host {
            continue;
        }
        match worst_case_with(graph, &node.stage, &length) {
            WorstCase::Bounded { millis, path, .. } if millis > *budget => {
                let steps: Vec<String> = path
                    .iter()
                    .filter_map(|id| graph.node(id))
                    .map(|index| &g[index])
                    .filter(|step| matches!(step.kind, NodeKind::Block(_)))
                    .map(|step| {
                        let name = step.id.rsplit('.').next().unwrap_or(&step.id);
                        match cost(step).millis {
                            Some(millis) if millis > 0 => {
                                format!("{name} ({})", rbx_syntax::fmt::duration(millis))
                            }
                            _ => name.to_string(),
                        }
                    })
                    .collect();
                findings.push(Finding {
                    source: node.origin.source,
                    diagnostic: Diagnostic::error(
                        "rbx::lint::over_budget",
                        format!(
                            "the stage `{stage}` can take {}, over its budget of {}",
                            rbx_syntax::fmt::duration(millis),
                            rbx_syntax::fmt::duration(*budget)
                        ),
                    )
                    .primary(
                        node.origin.span,
                        format!("slowest path: {}", steps.join(" → ")),
                    )
                    .help(
                        "shorten timeouts, retries or backoff on that path, or raise the \
                         stage's `within` if the budget was wrong",
                    ),
                });
            }
            WorstCase::Unbounded {
                node: culprit,
                reason,
            } => {
                let Some(culprit_index) = graph.node(&culprit) else {
                    continue;
                };
                let culprit_node = &g[culprit_index];
                let (why, help) = match reason {
                    Reason::NoTimeout => (
                        format!("`{culprit}` has no timeout"),
                        "give it a `timeout` so the stage's worst case has an upper bound"
                            .to_string(),
                    ),
                    Reason::ComputedTimeout => (
                        format!("the timeout of `{culprit}` is computed when it starts"),
                        "write its timeout as a duration, or leave the stage without `within`; \
                         lint cannot bound a time it cannot compute"
                            .to_string(),
                    ),
                    Reason::ChildRun => (
                        format!("`{culprit}` runs a child run, whose time is its own runbook's"),
                        "leave the stage without `within`, or bound the child runbook's own \
                         stages with `within`"
                            .to_string(),
                    ),
                    Reason::UnknownLength { list } => (
                        format!(
                            "`{culprit}` runs once per item of `{list}`, whose length is not known"
                        ),
                        format!("give `{list}` a default so its length is known to lint"),
                    ),
                };
                let mut diagnostic = Diagnostic::warning(
                    "rbx::lint::unbounded_budget",
                    format!("the budget of stage `{stage}` cannot be checked: {why}"),
                )
                .primary(name_span(culprit_node), "no upper bound here")
                .help(help);
                if culprit_node.origin.source == node.origin.source {
                    diagnostic = diagnostic.secondary(node.origin.span, "the stage with a budget");
                }
                findings.push(Finding {
                    source: culprit_node.origin.source,
                    diagnostic,
                });
            }
            WorstCase::Bounded { .. } => {}
        }
    }
    findings
}

/// The number of items of every list input with a default.
fn list_lengths(sources: &[Source]) -> HashMap<String, u64> {
    let mut lengths = HashMap::new();
    for file in sources.iter().filter_map(|s| s.file.as_ref()) {
        for item in &file.items {
            if let ItemKind::Input(input) = &item.kind {
                if let Some(ValueKind::List(items)) = input.default.as_ref().map(|d| &d.kind) {
                    let count = u64::try_from(items.len()).unwrap_or(u64::MAX);
                    lengths.insert(input.name.name.clone(), count);
                }
            }
        }
    }
    lengths
}
