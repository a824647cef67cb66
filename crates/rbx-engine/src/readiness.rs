//! Which edges carry control and which nodes may run, from a run's state
//! alone: the rules C, L and R of the execution semantics, written once for
//! the dispatcher, `rbx cancel` and `rbx confirm`.

use crate::expand::{Link, Plan};
use crate::state::{NodeState, RunState, Status};
use rbx_check::graph::EdgeKind;

/// Whether `link` carries control from a source that settled as `source`
/// (rule C1), leaving aside whether its flow was left.
pub fn takes(source: &NodeState, link: &Link) -> bool {
    let kind = match link {
        Link::Order => return false,
        Link::Flow(kind) | Link::Route(kind) => kind,
    };
    match kind {
        // A node skipped by its own condition is settled, not failed: its
        // flow goes on past it. A decision or choice that took a branch
        // goes only where the branch leads.
        EdgeKind::Next => {
            (source.status == Status::Succeeded && source.branch.is_none())
                || (source.status == Status::Skipped && source.condition.is_some())
        }
        EdgeKind::Failure => source.status == Status::Failed,
        EdgeKind::Cancel => source.status == Status::Cancelled,
        EdgeKind::Branch(label) => {
            source.status == Status::Succeeded && source.branch.as_deref() == Some(label)
        }
    }
}

/// Whether the edge `link` from the settled node `from` carries control:
/// rule C1, and C2 — once a flow was left, only the route it was left by
/// carries control out of its nodes.
pub fn carries(state: &RunState, plan: &Plan, from: usize, link: &Link) -> bool {
    let node = &plan.nodes[from];
    let Some(source) = state.nodes.get(&node.id) else {
        return false;
    };
    if let Some(left) = state.left.get(&node.flow) {
        if left.by != node.id || !matches!(link, Link::Route(_)) {
            return false;
        }
    }
    takes(source, link)
}

/// Whether the settled node `x` leaves its flow (rule L2): a route out of
/// it carries control.
pub fn leaves(state: &RunState, plan: &Plan, x: usize) -> bool {
    let Some(source) = state.nodes.get(&plan.nodes[x].id) else {
        return false;
    };
    plan.outgoing[x]
        .iter()
        .any(|(_, link)| matches!(link, Link::Route(_)) && takes(source, link))
}

/// The flows that settled nodes left (rule L2) but the journal does not
/// say so yet — rbx was killed between a settlement and its `flow_left` —
/// each with the node that left it: the first such node of a flow, in the
/// order the nodes settled.
pub fn unrecorded_lefts(state: &RunState, plan: &Plan) -> Vec<(String, String)> {
    let mut settled: Vec<(u64, usize)> = (0..plan.nodes.len())
        .filter_map(|x| Some((state.nodes.get(&plan.nodes[x].id)?.finished_seq?, x)))
        .collect();
    settled.sort_unstable();
    let mut found: Vec<(String, String)> = Vec::new();
    for (_, x) in settled {
        let node = &plan.nodes[x];
        let known =
            state.left.contains_key(&node.flow) || found.iter().any(|(f, _)| *f == node.flow);
        if !known && leaves(state, plan, x) {
            found.push((node.flow.clone(), node.id.clone()));
        }
    }
    found
}

/// Whether a failure of node `x` has a route to take (its own, its
/// instance's, its stage's or the runbook's, `continue` included). A
/// clean-up node's failure goes on to the rest of the clean-up, and is
/// told when it is over (rule X3).
pub fn has_failure_route(plan: &Plan, x: usize) -> bool {
    plan.nodes[x].flow == rbx_check::symbols::FINALLY
        || plan.outgoing[x].iter().any(|(_, link)| {
            matches!(
                link,
                Link::Flow(EdgeKind::Failure) | Link::Route(EdgeKind::Failure)
            )
        })
}

pub fn status_of(state: &RunState, id: &str) -> Status {
    state.nodes.get(id).map_or(Status::Pending, |n| n.status)
}

/// Whether `x` starts the `finally` block before the run's end is decided:
/// it waits, neither run nor skipped (rule X1).
pub fn awaits_the_end(state: &RunState, plan: &Plan, x: usize) -> bool {
    Some(x) == plan.finally && state.finally.is_none()
}

/// Whether every predecessor of `x` has settled (rule R1).
pub fn considered(state: &RunState, plan: &Plan, x: usize) -> bool {
    plan.incoming[x]
        .iter()
        .all(|(from, _)| status_of(state, &plan.nodes[*from].id).settled())
}

/// Whether a considered node runs rather than being skipped (rule R2).
pub fn runs(state: &RunState, plan: &Plan, x: usize) -> bool {
    Some(x) == plan.start
        || (Some(x) == plan.finally && state.finally.is_some())
        || plan.incoming[x]
            .iter()
            .any(|(from, link)| carries(state, plan, *from, link))
}

/// The nodes a stopped run would run next, were it driven now: not settled,
/// every predecessor settled, and control reaching them — and the nodes
/// that were running (in doubt) when it stopped.
pub fn next(state: &RunState, plan: &Plan) -> Vec<usize> {
    (0..plan.nodes.len())
        .filter(|&x| match status_of(state, &plan.nodes[x].id) {
            Status::Running => true,
            Status::Pending => considered(state, plan, x) && runs(state, plan, x),
            _ => false,
        })
        .collect()
}
