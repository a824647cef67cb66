//! A tally node: where a `foreach` or `parallel` block that tolerates
//! failures is judged once every item has finished (rule R6).

use std::collections::BTreeMap;

use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::Tolerate;
use serde_json::json;

use crate::expand::{Plan, XNode};
use crate::readiness;
use crate::state::{RunState, Status};

use super::record::{finish, settled};
use super::{Done, Shared};

/// The failures a tally counts, read from the run's state when it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// By item: its label and the nodes of it that failed.
    failed: BTreeMap<usize, (String, Vec<String>)>,
    /// How many items the loop or block has.
    items: usize,
}

impl Tally {
    /// What the tally node `x` counts; `None` for any other node. A tally
    /// after a loop over an empty list has no gate, and counts nothing.
    pub(crate) fn of(state: &RunState, plan: &Plan, graph: &Graph, x: usize) -> Option<Tally> {
        if !matches!(
            graph.graph[plan.nodes[x].check].kind,
            NodeKind::Tally { .. }
        ) {
            return None;
        }
        let items = plan
            .tally_gate
            .get(&x)
            .map_or(0, |&gate| plan.gates[gate].items.len());
        Some(Tally {
            failed: readiness::tallied(state, plan, x),
            items,
        })
    }
}

/// Settles the tally: succeeded when the failed items stay within the
/// tolerance, failed otherwise; either way the record names every failed
/// item and the nodes of it that failed.
pub(crate) async fn tally(
    shared: &Shared,
    node: &XNode,
    tolerate: &Tolerate,
    view: &super::env::View,
) -> Done {
    let counted = view.tally.clone().unwrap_or_default();
    let failed = counted.failed.len();
    let within = tolerate.allows(failed, counted.items);
    let noun = if counted.items == 1 { "item" } else { "items" };
    let names: Vec<String> = counted
        .failed
        .values()
        .map(|(label, nodes)| format!("{label} ({})", nodes.join(", ")))
        .collect();
    let reason = match (failed, within) {
        (0, _) => None,
        (_, true) => Some(format!(
            "{failed} of {} {noun} failed, within `tolerate {}`: {}",
            counted.items,
            tolerate.source_form(),
            names.join("; ")
        )),
        (_, false) => Some(format!(
            "{failed} of {} {noun} failed, more than `tolerate {}` allows: {}",
            counted.items,
            tolerate.source_form(),
            names.join("; ")
        )),
    };
    let status = if within {
        Status::Succeeded
    } else {
        Status::Failed
    };
    let failed_items: Vec<serde_json::Value> = counted
        .failed
        .values()
        .map(|(label, nodes)| json!({ "item": label, "nodes": nodes }))
        .collect();
    let extra = json!({ "items": counted.items, "failed_items": failed_items });
    finish(shared, &node.id, 0, settled(status, reason), extra).await
}
