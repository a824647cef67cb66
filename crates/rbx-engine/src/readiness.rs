//! Which edges carry control and which nodes may run, from a run's state
//! alone: the rules C, L and R of the execution semantics, written once for
//! the dispatcher, `rbx cancel` and `rbx confirm`.

use std::collections::BTreeMap;

use crate::expand::{Gate, Link, Plan};
use crate::state::{NodeState, RunState, Status};
use rbx_check::graph::EdgeKind;
use rbx_check::symbols::is_cleanup;

/// Whether `link` carries control from a source that settled as `source`
/// (rule C1), leaving aside whether its flow was left.
pub fn takes(source: &NodeState, link: &Link) -> bool {
    let (Link::Flow(kind) | Link::Route(kind)) = link;
    match kind {
        // A node skipped by its own condition is settled, not failed: its
        // flow goes on past it. A decision or choice that took a branch
        // goes only where the branch leads.
        EdgeKind::Next => {
            (source.status == Status::Succeeded && source.branch.is_none())
                || (source.status == Status::Skipped && source.condition.is_some())
        }
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
    // A clean-up node the operator cancelled goes on to the rest of the
    // clean-up, as a failed one does (rules X2, X5).
    let cancelled = source.status == Status::Cancelled && is_cleanup(&node.flow);
    takes(source, link) || (cancelled && *link == Link::Flow(EdgeKind::Failure))
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
    // Only a node with a route out can leave its flow.
    let mut settled: Vec<(u64, usize)> = (0..plan.nodes.len())
        .filter(|&x| plan.routes_out(x))
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
/// counted by a tolerating loop or block around it (rule R6). A clean-up
/// node's failure goes on to the rest of the clean-up, and is told when it
/// is over (rule X3).
pub fn has_failure_route(plan: &Plan, x: usize) -> bool {
    rbx_check::symbols::is_cleanup(&plan.nodes[x].flow)
        || plan.outgoing[x].iter().any(|(_, link)| {
            matches!(
                link,
                Link::Flow(EdgeKind::Failure | EdgeKind::Tolerated)
                    | Link::Route(EdgeKind::Failure)
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
    /// tolerates, or its `repeat` is done: the node will not run.
    Closed,
}

/// Rule R4: an item is admitted once a node of it has started or settled;
/// the first nodes of an item not yet admitted start only when fewer than
/// `N` items before it are unfinished (some node of it not settled). Rule
/// R6: an item not yet admitted never is once its loop has more failed
/// items than it tolerates.
pub fn turn(state: &RunState, plan: &Plan, x: usize, kept: Option<&Kept>) -> Turn {
    let mut turn = Turn::Go;
    for &(gate, item) in &plan.entry_of[x] {
        match gate_turn(state, plan, gate, item, kept) {
            Turn::Closed => return Turn::Closed,
            Turn::Wait => turn = Turn::Wait,
            Turn::Go => {}
        }
    }
    turn
}

/// The turn of one item of one gate (rules R4, R6), read from the state
/// alone, or with what the dispatcher kept of the gate.
pub fn gate_turn(
    state: &RunState,
    plan: &Plan,
    g: usize,
    item: usize,
    kept: Option<&Kept>,
) -> Turn {
    let gate = &plan.gates[g];
    let failed = match kept {
        Some(kept) => kept.failed_items(state, plan, g),
        None => gate
            .tally
            .map_or(0, |tally| tallied(state, plan, tally).len()),
    };
    let from = kept.map_or(0, |kept| kept.first_open[g].min(item));
    // R6: too many failed items; U2: a `repeat` whose condition held.
    let closed = gate
        .tolerate
        .as_ref()
        .is_some_and(|t| !t.allows(failed, gate.items.len()))
        || gate.until.iter().any(|&u| held(state, plan, u));
    if admitted(state, plan, gate, item) {
        Turn::Go
    } else if closed {
        Turn::Closed
    } else if unfinished_between(state, plan, gate, from, item) >= gate.at_once {
        Turn::Wait
    } else {
        Turn::Go
    }
}

/// What the dispatcher keeps of each gate as its nodes settle, so that a
/// turn costs no scan of every item: the first item that may be
/// unfinished (every item before it has finished), and the items with a
/// tolerated failure. Both only grow while a drive lasts; the answers are
/// those `gate_turn` reads from the state alone.
#[derive(Debug, Default)]
pub struct Kept {
    first_open: Vec<usize>,
    failed: Vec<std::collections::BTreeSet<usize>>,
}

impl Kept {
    /// What readiness needs of each gate of `plan` in `state`, where
    /// `statuses` holds each node's status in `state`, by its place in the
    /// plan: read from there, no node's id is looked up.
    pub fn new(state: &RunState, plan: &Plan, statuses: &[Status]) -> Kept {
        let mut kept = Kept {
            first_open: vec![0; plan.gates.len()],
            failed: vec![std::collections::BTreeSet::new(); plan.gates.len()],
        };
        let finished =
            |m: usize| statuses[m].settled() || crate::cleanup::never_runs(state, plan, m);
        for g in 0..plan.gates.len() {
            kept.advance_by(plan, g, finished);
            if let Some(tally) = plan.gates[g].tally {
                kept.failed[g] = tallied(state, plan, tally).into_keys().collect();
            }
        }
        kept
    }

    /// Node `x` settled: its gates' first open item may move on, and a
    /// tolerated failure of it counts.
    pub fn settled(&mut self, state: &RunState, plan: &Plan, x: usize) {
        for &(g, item) in &plan.member_of[x] {
            self.advance(state, plan, g);
            let failed = status_of(state, &plan.nodes[x].id) == Status::Failed;
            let tolerated = (plan.gates[g].tally, Link::Flow(EdgeKind::Tolerated));
            let counted = plan.outgoing[x]
                .iter()
                .any(|(to, link)| (Some(*to), link) == (tolerated.0, &tolerated.1));
            if failed && counted {
                self.failed[g].insert(item);
            }
        }
    }

    fn advance(&mut self, state: &RunState, plan: &Plan, g: usize) {
        self.advance_by(plan, g, |m| finished(state, plan, m));
    }

    /// Moves the gate's first open item past every item whose members
    /// are all `finished`.
    fn advance_by(&mut self, plan: &Plan, g: usize, finished: impl Fn(usize) -> bool) {
        let items = &plan.gates[g].items;
        while let Some(item) = items.get(self.first_open[g]) {
            if !item.members.iter().all(|&m| finished(m)) {
                break;
            }
            self.first_open[g] += 1;
        }
    }

    /// The gate's failed items, as `tallied` counts them: none once the
    /// tally's flow was left, since no tolerated failure carries then (C2).
    fn failed_items(&self, state: &RunState, plan: &Plan, g: usize) -> usize {
        let left = plan.gates[g]
            .tally
            .is_some_and(|tally| state.left.contains_key(&plan.nodes[tally].flow));
        if left { 0 } else { self.failed[g].len() }
    }
}

/// Whether the until node `x` of a `repeat` held (rule U2): it succeeded
/// without taking the branch `again`.
fn held(state: &RunState, plan: &Plan, x: usize) -> bool {
    state
        .nodes
        .get(&plan.nodes[x].id)
        .is_some_and(|n| n.status == Status::Succeeded && n.branch.is_none())
}

/// Rule R4: a node of the item has started or settled — one in doubt and
/// run again had started.
fn admitted(state: &RunState, plan: &Plan, gate: &Gate, item: usize) -> bool {
    gate.items[item].members.iter().any(|&m| {
        state
            .nodes
            .get(&plan.nodes[m].id)
            .is_some_and(|n| n.status != Status::Pending || n.rerun)
    })
}

/// Whether the member `m` of an item is finished: settled, or of the
/// clean-up of an instance that will not start, which never runs.
fn finished(state: &RunState, plan: &Plan, m: usize) -> bool {
    status_of(state, &plan.nodes[m].id).settled() || crate::cleanup::never_runs(state, plan, m)
}

/// How many items from `from` up to `item` are unfinished, counted up to
/// the limit.
fn unfinished_between(
    state: &RunState,
    plan: &Plan,
    gate: &Gate,
    from: usize,
    item: usize,
) -> usize {
    gate.items[from..item]
        .iter()
        .filter(|earlier| earlier.members.iter().any(|&m| !finished(state, plan, m)))
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

pub fn status_of(state: &RunState, id: &str) -> Status {
    state.nodes.get(id).map_or(Status::Pending, |n| n.status)
}

/// Whether `x` starts the `finally` block before the run's end is decided:
/// it waits, neither run nor skipped (rule X1).
pub fn awaits_the_end(state: &RunState, plan: &Plan, x: usize) -> bool {
    if Some(x) == plan.finally {
        // After every stage's clean-up the run's end began (rule Y3).
        return state.finally.is_none() || crate::cleanup::cleaning(state, plan);
    }
    // A stage's clean-up starts once it has begun (rule Y2), after those of
    // the instances it runs.
    plan.scopes.cleans_up(x).is_some_and(|s| {
        !crate::cleanup::begun(state, plan, s) || crate::cleanup::waits_for_inner(state, plan, s)
    })
}

/// Whether every predecessor of `x` has settled (rule R1) and its item's
/// turn has come (R4).
pub fn considered(state: &RunState, plan: &Plan, x: usize) -> bool {
    plan.incoming[x]
        .iter()
        .all(|(from, _)| status_of(state, &plan.nodes[*from].id).settled())
        && turn(state, plan, x, None) != Turn::Wait
}

/// Whether a considered node runs rather than being skipped (rules R2, R6).
pub fn runs(state: &RunState, plan: &Plan, x: usize) -> bool {
    runs_kept(state, plan, x, None)
}

/// `runs`, with what the dispatcher kept of the gates.
pub fn runs_kept(state: &RunState, plan: &Plan, x: usize, kept: Option<&Kept>) -> bool {
    let reached = Some(x) == plan.start
        || (Some(x) == plan.finally && state.finally.is_some())
        || plan
            .scopes
            .cleans_up(x)
            .is_some_and(|s| crate::cleanup::begun(state, plan, s))
        || plan.incoming[x]
            .iter()
            .any(|(from, link)| carries(state, plan, *from, link));
    reached && turn(state, plan, x, kept) != Turn::Closed
}

/// The nodes a stopped run would run next, were it driven now: not settled,
/// every predecessor settled, and control reaching them — and the nodes
/// that were running (in doubt) when it stopped.
pub fn next(state: &RunState, plan: &Plan) -> Vec<usize> {
    (0..plan.nodes.len())
        .filter(|&x| match status_of(state, &plan.nodes[x].id) {
            Status::Running => true,
            // Once the run's end is decided, nothing outside a clean-up
            // starts (rule X2): a person's node it was waiting for is not
            // waited for any more, and `rbx confirm` refuses it.
            Status::Pending if state.finally.is_some() && !is_cleanup(&plan.nodes[x].flow) => false,
            Status::Pending => {
                considered(state, plan, x)
                    && runs(state, plan, x)
                    && !awaits_the_end(state, plan, x)
                    && crate::cleanup::leaving(state, plan, x).is_none()
            }
            _ => false,
        })
        .collect()
}
