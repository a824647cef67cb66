//! A failed run re-driven (rules S5, X4): every node whose failure failed
//! it runs again as a new attempt, in one resume, with what it re-enters.

use rbx_check::graph::{Graph, NodeKind};
use serde_json::json;

use super::Resuming;
use crate::state::{self, Status};
use crate::{ResumeError, RunState, cleanup, expand, readiness, runner};

/// Resets what the failed run re-drives, and journals it (`retry`).
pub(super) async fn redrive(
    r: &Resuming<'_>,
    graph: &Graph,
    plan: &expand::Plan,
    state: &mut RunState,
    node: &str,
) -> Result<(), ResumeError> {
    let (mut reset, again) = to_redrive(graph, plan, state);
    // A stage instance re-entered by a node run again cleans up again when
    // it is next left, as after `--from` (rule Y4). Only the clean-up nodes
    // that ran: one an earlier reset left pending is pending already.
    let cleanups =
        cleanup::reset_reentered(state, plan, &mut reset, |id| state.nodes.contains_key(id));
    r.append(
        state::kind::RETRY,
        json!({ "node": node, "reset": reset, "finally": again, "cleanups": cleanups }),
    )
    .await?;
    if again {
        state.finally = None;
        state.cleanups.retain(|_, at_end| !*at_end);
    }
    for stage in &cleanups {
        state.cleanups.remove(stage);
    }
    for id in &reset {
        if let Some(entry) = state.nodes.get_mut(id) {
            entry.status = Status::Pending;
            entry.mark_again(state::Again::Redrive);
        }
        // A tick run again is due anew (rule V2), as the replay says.
        state.dues.remove(id);
    }
    state.left.retain(|_, left| !reset.contains(&left.by));
    Ok(())
}

/// What a failed run re-drives (rule S5, X4), and whether its clean-up
/// runs again at its next end: when only the clean-up failed, its failed
/// nodes run again and the end stays as decided; when the run itself
/// failed, the nodes that failed it run again, and so does all of the
/// clean-up, once the run ends again.
fn to_redrive(graph: &Graph, plan: &expand::Plan, state: &RunState) -> (Vec<String>, bool) {
    let mut reset = failed_the_run(plan, state);
    let items = items_to_retry(plan, state, &reset);
    reset.extend(items);
    let items = checklist_items_to_retry(graph, plan, state, &reset);
    reset.extend(items);
    if state.finally.is_none() {
        return (reset, false);
    }
    if reset.is_empty() {
        let cleanup = runner::cleanup_failures(plan, state);
        return (cleanup.into_iter().map(|(id, _)| id).collect(), false);
    }
    // The clean-ups the run's end began run again at its next end (rules
    // X4, Y4): the runbook's, and those of the stages it cut short.
    reset.extend(
        plan.nodes
            .iter()
            .filter(|n| {
                n.flow == rbx_check::symbols::FINALLY
                    && state
                        .nodes
                        .get(&n.id)
                        .is_some_and(|e| e.status != Status::Pending)
            })
            .map(|n| n.id.clone()),
    );
    reset.extend(cleanup::begun_at_end(state, plan));
    (reset, true)
}

/// The nodes whose failure failed the run (rule E2): failed, with no route
/// to take, in a flow no route had left.
fn failed_the_run(plan: &expand::Plan, state: &RunState) -> Vec<String> {
    (0..plan.nodes.len())
        .filter(|&x| {
            let node = &plan.nodes[x];
            let Some(settled) = state.nodes.get(&node.id) else {
                return false;
            };
            // A failure after its flow was left took no route and failed
            // nothing (rule L4); one before did.
            let before_left = state
                .left
                .get(&node.flow)
                .is_none_or(|left| settled.finished_seq.is_some_and(|seq| seq < left.seq));
            settled.status == Status::Failed
                && !readiness::has_failure_route(plan, x)
                && before_left
        })
        .map(|x| plan.nodes[x].id.clone())
        .collect()
}

/// A tally that failed the run judged its items: retrying it retries
/// them — every node of its loop or block that failed or was skipped
/// (rule S5).
fn items_to_retry(plan: &expand::Plan, state: &RunState, reset: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in reset {
        let Some(gate) = plan.by_id.get(id).and_then(|x| plan.tally_gate.get(x)) else {
            continue;
        };
        for item in &plan.gates[*gate].items {
            for &m in &item.members {
                let member = &plan.nodes[m].id;
                let status = readiness::status_of(state, member);
                let unfinished = matches!(status, Status::Failed | Status::Skipped);
                if unfinished && !reset.contains(member) && !out.contains(member) {
                    out.push(member.clone());
                }
            }
        }
    }
    // What was skipped because an item was shut out (an outcome its route
    // leads to) is looked at again with it (rule S5).
    let mut at = 0;
    while at < out.len() {
        let Some(&x) = plan.by_id.get(&out[at]) else {
            at += 1;
            continue;
        };
        for (to, _) in &plan.outgoing[x] {
            let id = &plan.nodes[*to].id;
            let skipped = state
                .nodes
                .get(id)
                .is_some_and(|n| n.status == Status::Skipped && n.condition.is_none());
            if skipped && !reset.contains(id) && !out.contains(id) {
                out.push(id.clone());
            }
        }
        at += 1;
    }
    out
}

/// A checklist that failed the run judged its items: retrying it runs
/// them again from the first that failed (or that `fail-fast` skipped) to
/// its last — the verdict waits for the last, so none of them is judged
/// before it ran again (rule S5).
fn checklist_items_to_retry(
    graph: &Graph,
    plan: &expand::Plan,
    state: &RunState,
    reset: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for id in reset {
        let Some(&x) = plan.by_id.get(id) else {
            continue;
        };
        let NodeKind::Checklist { name, items, .. } = &graph.graph[plan.nodes[x].check].kind else {
            continue;
        };
        let (head, rest) = id.split_at(id.find('[').unwrap_or(id.len()));
        let Some(prefix) = head.strip_suffix(name.as_str()) else {
            continue;
        };
        let ids = items.iter().map(|item| format!("{prefix}{item}{rest}"));
        let mut again = false;
        for item in ids.filter(|item| state.nodes.contains_key(item)) {
            let status = readiness::status_of(state, &item);
            again |= matches!(status, Status::Failed | Status::Skipped);
            if again && !reset.contains(&item) && !out.contains(&item) {
                out.push(item);
            }
        }
    }
    out
}
