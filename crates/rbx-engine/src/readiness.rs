//! Which edges carry control and which nodes may run, from a run's state
//! alone: the rules C, L and R of the execution semantics, written once for
//! the dispatcher, `rbx cancel` and `rbx confirm`.

use std::collections::BTreeMap;

use crate::expand::{Gate, Link, Plan};
use crate::state::{NodeState, RunState, Status};
use rbx_check::graph::EdgeKind;

/// Whether `link` carries control from a source that settled as `source`
/// (rule C1), leaving aside whether its flow was left.
pub fn takes(source: &NodeState, link: &Link) -> bool {
    let (Link::Flow(kind) | Link::Route(kind)) = link;
    match kind {
        EdgeKind::Next => source.status == Status::Succeeded,
        EdgeKind::Failure | EdgeKind::Tolerated => source.status == Status::Failed,
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
/// instance's, its stage's or the runbook's, `continue` included), or is
/// counted by a tolerating loop or block around it (rule R6).
pub fn has_failure_route(plan: &Plan, x: usize) -> bool {
    plan.outgoing[x].iter().any(|(_, link)| {
        matches!(
            link,
            Link::Flow(EdgeKind::Failure | EdgeKind::Tolerated) | Link::Route(EdgeKind::Failure)
        )
    })
}

/// Whether the items of the loops and blocks around a node let it start
/// (rules R4, R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Its item is admitted, or may be now.
    Go,
    /// Its item waits for a place: `N` items before it are unfinished.
    Wait,
    /// Its item was never admitted and its loop failed more items than it
    /// tolerates: the node will not run.
    Closed,
}

/// Rule R4: an item is admitted once a node of it has started or settled;
/// the first nodes of an item not yet admitted start only when fewer than
/// `N` items before it are unfinished (some node of it not settled). Rule
/// R6: an item not yet admitted never is once its loop has more failed
/// items than it tolerates.
pub fn turn(state: &RunState, plan: &Plan, x: usize) -> Turn {
    let mut turn = Turn::Go;
    for &(gate, item) in &plan.entry_of[x] {
        match gate_turn(state, plan, gate, item) {
            Turn::Closed => return Turn::Closed,
            Turn::Wait => turn = Turn::Wait,
            Turn::Go => {}
        }
    }
    turn
}

/// The turn of one item of one gate (rules R4, R6).
pub fn gate_turn(state: &RunState, plan: &Plan, gate: usize, item: usize) -> Turn {
    let gate = &plan.gates[gate];
    if admitted(state, plan, gate, item) {
        Turn::Go
    } else if over_tolerance(state, plan, gate) {
        Turn::Closed
    } else if unfinished_before(state, plan, gate, item) >= gate.at_once {
        Turn::Wait
    } else {
        Turn::Go
    }
}

fn admitted(state: &RunState, plan: &Plan, gate: &Gate, item: usize) -> bool {
    gate.items[item]
        .members
        .iter()
        .any(|&m| status_of(state, &plan.nodes[m].id) != Status::Pending)
}

/// How many items before `item` are unfinished, counted up to the limit.
fn unfinished_before(state: &RunState, plan: &Plan, gate: &Gate, item: usize) -> usize {
    gate.items[..item]
        .iter()
        .filter(|earlier| {
            earlier
                .members
                .iter()
                .any(|&m| !status_of(state, &plan.nodes[m].id).settled())
        })
        .take(gate.at_once)
        .count()
}

/// The failures a tally counts (rule R6): for each item with a failure
/// that carries control to the tally, the item's label and the nodes that
/// failed, in item order.
pub fn tallied(
    state: &RunState,
    plan: &Plan,
    tally: usize,
) -> BTreeMap<usize, (String, Vec<String>)> {
    let mut failed: BTreeMap<usize, (String, Vec<String>)> = BTreeMap::new();
    let Some(&g) = plan.tally_gate.get(&tally) else {
        return failed;
    };
    let gate = &plan.gates[g];
    for (from, link) in &plan.incoming[tally] {
        if *link != Link::Flow(EdgeKind::Tolerated) || !carries(state, plan, *from, link) {
            continue;
        }
        let Some(&(_, item)) = plan.member_of[*from].iter().find(|(of, _)| *of == g) else {
            continue;
        };
        let entry = failed
            .entry(item)
            .or_insert_with(|| (gate.items[item].label.clone(), Vec::new()));
        entry.1.push(plan.nodes[*from].id.clone());
    }
    failed
}

/// Whether a gate's failed items exceed what it tolerates (rule R6).
fn over_tolerance(state: &RunState, plan: &Plan, gate: &Gate) -> bool {
    match (&gate.tolerate, gate.tally) {
        (Some(tolerate), Some(tally)) => {
            let failed = tallied(state, plan, tally).len();
            !tolerate.allows(failed, gate.items.len())
        }
        _ => false,
    }
}

pub fn status_of(state: &RunState, id: &str) -> Status {
    state.nodes.get(id).map_or(Status::Pending, |n| n.status)
}

/// Whether every predecessor of `x` has settled (rule R1) and its item's
/// turn has come (R4).
pub fn considered(state: &RunState, plan: &Plan, x: usize) -> bool {
    plan.incoming[x]
        .iter()
        .all(|(from, _)| status_of(state, &plan.nodes[*from].id).settled())
        && turn(state, plan, x) != Turn::Wait
}

/// Whether a considered node runs rather than being skipped (rules R2, R6).
pub fn runs(state: &RunState, plan: &Plan, x: usize) -> bool {
    let reached = Some(x) == plan.start
        || plan.incoming[x]
            .iter()
            .any(|(from, link)| carries(state, plan, *from, link));
    reached && turn(state, plan, x) != Turn::Closed
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
