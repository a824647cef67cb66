//! A stage's own `finally` block (rules Y1–Y4 of the execution semantics):
//! which stage instance each node of a run belongs to, and when an
//! instance's clean-up runs — once the instance is left, before what
//! control leaves it for; or, when the run's end is decided with the
//! instance started, before the runbook's own clean-up.
//!
//! An instance is named by its start node's id in the run (`drain`,
//! `drain#2`, `drain#2[web-1]` for an `again` inside a loop); the journal
//! records `cleanup_started` with that name.

use std::collections::{HashMap, HashSet};

use petgraph::graph::NodeIndex;
use rbx_check::graph::{Graph, NodeKind};
use rbx_check::symbols::FINALLY;

use crate::expand::Plan;
use crate::readiness::{carries, status_of};
use crate::state::{RunState, Status};

/// Which stage instance each node of a run is in, and their clean-ups. A
/// node or an instance is its index in the plan; an instance is its start.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    /// For each node of a stage instance (not of a clean-up): its
    /// instance.
    instance: Vec<Option<usize>>,
    /// For each instance with a clean-up: the clean-up's nodes.
    cleaning: HashMap<usize, Vec<usize>>,
    /// For each node of a clean-up: the instance it cleans up.
    cleaner: HashMap<usize, usize>,
    /// For each instance with a clean-up: the clean-up's start.
    cleanup: HashMap<usize, usize>,
    /// For each clean-up start: the instance it cleans up.
    cleans_up: HashMap<usize, usize>,
    /// For each `again` instance: the instance that runs it.
    parent: HashMap<usize, usize>,
    /// For each instance with a clean-up: the nodes inside it (its own and
    /// those of the instances it runs), outcomes left out.
    members: HashMap<usize, Vec<usize>>,
}

impl Scopes {
    /// The scopes of `plan`, expanded from `graph`.
    pub(crate) fn of(graph: &Graph, plan: &Plan) -> Scopes {
        let g = &graph.graph;
        let starts = Starts::of(graph);
        let at: HashMap<(NodeIndex, &[usize]), usize> = plan
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| starts.named.contains(&n.check))
            .map(|(x, n)| ((n.check, n.positions.as_slice()), x))
            .collect();
        // The instance whose start is `start` that a node at `positions` is
        // in: its start, at the positions of the loops around the instance.
        let start_of = |start: Option<NodeIndex>, positions: &[usize]| -> Option<usize> {
            let start = start?;
            let outer = g[start].fanout.len().min(positions.len());
            at.get(&(start, &positions[..outer])).copied()
        };
        let mut scopes = Scopes {
            instance: vec![None; plan.nodes.len()],
            ..Scopes::default()
        };
        for (x, node) in plan.nodes.iter().enumerate() {
            let stage = &g[node.check].stage;
            // An outcome is inside no instance: control reaching it from
            // one leaves every instance around that one (rule Y2).
            if stage == FINALLY || matches!(g[node.check].kind, NodeKind::End { .. }) {
                continue;
            }
            match rbx_check::symbols::cleaned_instance(stage) {
                Some(_) => {
                    if let Some(s) = start_of(starts.cleaned[node.check.index()], &node.positions) {
                        scopes.cleaning.entry(s).or_default().push(x);
                        scopes.cleaner.insert(x, s);
                    }
                }
                None => {
                    scopes.instance[x] = start_of(starts.own[node.check.index()], &node.positions);
                }
            }
        }
        for (x, node) in plan.nodes.iter().enumerate() {
            let check = &g[node.check];
            // A clean-up's start: the node of a clean-up named as its flow.
            let cleaned = starts.cleaned[node.check.index()];
            if check.id == check.stage {
                if let Some(s) = start_of(cleaned, &node.positions) {
                    scopes.cleanup.insert(s, x);
                    scopes.cleans_up.insert(x, s);
                }
            }
            if let NodeKind::StageStart { .. } = check.kind {
                let parent = graph.parents.get(&check.stage);
                let parent = parent.and_then(|p| graph.node(p));
                if let Some(p) = start_of(parent, &node.positions) {
                    scopes.parent.insert(x, p);
                }
            }
        }
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        // Without any clean-up, no instance has members to keep.
        let kept = if scopes.cleanup.is_empty() {
            0
        } else {
            plan.nodes.len()
        };
        for x in 0..kept {
            if matches!(g[plan.nodes[x].check].kind, NodeKind::End { .. }) {
                continue;
            }
            for s in scopes.enclosing(x) {
                if scopes.cleanup.contains_key(&s) {
                    members.entry(s).or_default().push(x);
                }
            }
        }
        scopes.members = members;
        scopes
    }

    /// The nodes inside the instance `s` with a clean-up, outcomes left
    /// out.
    pub(crate) fn members(&self, s: usize) -> &[usize] {
        self.members.get(&s).map_or(&[], Vec::as_slice)
    }

    /// The stage instance `x` is a node of, if any (not for a clean-up's
    /// nodes).
    pub(crate) fn instance(&self, x: usize) -> Option<usize> {
        self.instance.get(x).copied().flatten()
    }

    /// Whether `x` is a node of the instance `s`, or of an instance that
    /// `s` runs with `again` or `call`.
    pub(crate) fn inside(&self, x: usize, s: usize) -> bool {
        self.enclosing(x).any(|i| i == s)
    }

    /// The instances `x` is inside: its own, then the instance that runs
    /// it, and so on out to a stage run in place — stopping before an
    /// instance it already went through. The chain is short, so that is
    /// looked for along it again rather than kept in a set.
    pub(crate) fn enclosing(&self, x: usize) -> impl Iterator<Item = usize> + '_ {
        self.chain(x)
            .enumerate()
            .take_while(move |&(n, i)| !self.chain(x).take(n).any(|j| j == i))
            .map(|(_, i)| i)
    }

    fn chain(&self, x: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.instance(x), |i| self.parent.get(i).copied())
    }

    /// The instance whose clean-up `x` starts, if `x` starts one.
    pub(crate) fn cleans_up(&self, x: usize) -> Option<usize> {
        self.cleans_up.get(&x).copied()
    }

    /// Whether the instance `s` has a clean-up of its own.
    pub(crate) fn has_cleanup(&self, s: usize) -> bool {
        self.cleanup.contains_key(&s)
    }

    /// The nodes of the clean-up of `s`.
    pub(crate) fn nodes_cleaning(&self, s: usize) -> impl Iterator<Item = usize> + '_ {
        self.cleaning.get(&s).into_iter().flatten().copied()
    }

    /// The start of the clean-up of `s`.
    pub(crate) fn start_of_cleanup(&self, s: usize) -> Option<usize> {
        self.cleanup.get(&s).copied()
    }

    /// Every instance with a clean-up.
    pub(crate) fn with_cleanup(&self) -> impl Iterator<Item = usize> + '_ {
        self.cleanup.keys().copied()
    }
}

/// The start nodes of the checked graph that the nodes' stages name: for
/// each checked node (by its index), the start of its own stage instance
/// and of the instance its clean-up cleans, and every start named so or
/// as the instance that runs another.
struct Starts {
    own: Vec<Option<NodeIndex>>,
    cleaned: Vec<Option<NodeIndex>>,
    named: HashSet<NodeIndex>,
}

impl Starts {
    fn of(graph: &Graph) -> Starts {
        let g = &graph.graph;
        let size = g.node_indices().map(|i| i.index() + 1).max().unwrap_or(0);
        let mut starts = Starts {
            own: vec![None; size],
            cleaned: vec![None; size],
            named: HashSet::new(),
        };
        for i in g.node_indices() {
            let stage = g[i].stage.as_str();
            starts.own[i.index()] = graph.node(stage);
            starts.cleaned[i.index()] =
                rbx_check::symbols::cleaned_instance(stage).and_then(|c| graph.node(c));
            let parent = graph.parents.get(stage).and_then(|p| graph.node(p));
            let named = [starts.own[i.index()], starts.cleaned[i.index()], parent];
            starts.named.extend(named.into_iter().flatten());
        }
        starts
    }
}

/// Whether the clean-up of `s` has begun (rule Y2).
pub(crate) fn begun(state: &RunState, plan: &Plan, s: usize) -> bool {
    state.cleanups.contains_key(&plan.nodes[s].id)
}

/// Whether the clean-up of `s` has begun and every node of it settled.
pub(crate) fn over(state: &RunState, plan: &Plan, s: usize) -> bool {
    begun(state, plan, s)
        && plan
            .scopes
            .nodes_cleaning(s)
            .all(|x| status_of(state, &plan.nodes[x].id).settled())
}

/// Whether the instance `s` started: its start succeeded. An instance
/// whose requirements did not hold did nothing to clean up.
fn started(state: &RunState, plan: &Plan, s: usize) -> bool {
    status_of(state, &plan.nodes[s].id) == Status::Succeeded
}

/// Whether `x` is a node of the clean-up of an instance that will not
/// start: its start settled without succeeding (skipped, or its
/// requirements did not hold). Such a clean-up never runs (Y1), and its
/// nodes count as finished for the loop item they are in (R4).
pub(crate) fn never_runs(state: &RunState, plan: &Plan, x: usize) -> bool {
    plan.scopes.cleaner.get(&x).is_some_and(|&s| {
        let start = status_of(state, &plan.nodes[s].id);
        start.settled() && start != Status::Succeeded
    })
}

/// Whether nothing of the instance `s` (or of what it runs) is running.
pub(crate) fn idle(state: &RunState, plan: &Plan, s: usize) -> bool {
    !plan
        .scopes
        .members(s)
        .iter()
        .any(|&x| status_of(state, &plan.nodes[x].id) == Status::Running)
}

/// Rule Y2: the started instances whose clean-up may begin as the run
/// goes: every node inside settled, or something control leaves for
/// waits for it (`waited`), nothing inside is running, and nothing inside
/// can start any more — its flow was left, or an outcome waits (`ending`);
/// or an outcome waits and nothing inside is running, whether or not
/// control leaves it. Left by `then` with work inside still to run, it
/// cleans up after it.
pub(crate) fn done(
    state: &RunState,
    plan: &Plan,
    waited: &std::collections::BTreeSet<usize>,
    ending: bool,
) -> Vec<usize> {
    plan.scopes
        .with_cleanup()
        .filter(|&s| started(state, plan, s) && !begun(state, plan, s))
        .filter(|&s| {
            let members = plan.scopes.members(s);
            let settled = |x: &usize| status_of(state, &plan.nodes[*x].id).settled();
            let stopped = ending || state.left.contains_key(&plan.nodes[s].flow);
            members.iter().all(settled)
                || ((waited.contains(&s) && stopped) || ending) && idle(state, plan, s)
        })
        .collect()
}

/// Rule Y2: the started instance with a clean-up not over that control
/// leaves to reach `x`, if it does, which `x` waits for, neither run nor
/// skipped (an outcome, which is inside none, is reached so from every
/// instance around the node that leads to it): the innermost, when an
/// edge leaves several at once (the last node of an `again` instance that
/// is its stage's last item leaves that stage too), so that it cleans up
/// first.
pub(crate) fn leaving(state: &RunState, plan: &Plan, x: usize) -> Option<usize> {
    let scopes = &plan.scopes;
    plan.incoming[x].iter().find_map(|(from, link)| {
        let s = scopes
            .enclosing(*from)
            .find(|&s| !scopes.inside(x, s) && unfinished(state, plan, s))?;
        carries(state, plan, *from, link).then_some(s)
    })
}

fn unfinished(state: &RunState, plan: &Plan, s: usize) -> bool {
    plan.scopes.has_cleanup(s) && started(state, plan, s) && !over(state, plan, s)
}

/// Rule Y3: the started instances whose clean-up is not over, for the
/// run's end; those inside another first.
pub(crate) fn pending(state: &RunState, plan: &Plan) -> Vec<usize> {
    let mut out: Vec<usize> = plan
        .scopes
        .with_cleanup()
        .filter(|&s| started(state, plan, s) && !over(state, plan, s))
        .collect();
    out.sort_by_key(|&s| std::cmp::Reverse(depth(plan, s)));
    out
}

fn depth(plan: &Plan, s: usize) -> usize {
    let mut depth = 0;
    let mut at = s;
    while let Some(&p) = plan.scopes.parent.get(&at) {
        depth += 1;
        at = p;
        if depth > plan.nodes.len() {
            break;
        }
    }
    depth
}

/// Whether the clean-up start `x` must wait although its clean-up has
/// begun: a clean-up of an instance that its own instance runs is not
/// over yet (the innermost cleans up first).
pub(crate) fn waits_for_inner(state: &RunState, plan: &Plan, s: usize) -> bool {
    plan.scopes.with_cleanup().any(|inner| {
        inner != s
            && plan.scopes.inside(inner, s)
            && begun(state, plan, inner)
            && !over(state, plan, inner)
    })
}

/// Whether some started instance's clean-up is not over, begun or not
/// (a crash may come between `finally_started` and its `cleanup_started`):
/// the runbook's own `finally` waits for it (rule Y3).
pub(crate) fn cleaning(state: &RunState, plan: &Plan) -> bool {
    plan.scopes
        .with_cleanup()
        .any(|s| unfinished(state, plan, s))
}

/// The nodes a re-driven run resets with the clean-ups the run's end began
/// (rule Y4), with those clean-ups' instance names.
pub(crate) fn begun_at_end(state: &RunState, plan: &Plan) -> Vec<String> {
    plan.scopes
        .with_cleanup()
        .filter(|&s| state.cleanups.get(&plan.nodes[s].id) == Some(&true))
        .flat_map(|s| plan.scopes.nodes_cleaning(s))
        .map(|x| plan.nodes[x].id.clone())
        .filter(|id| state.nodes.contains_key(id))
        .collect()
}

/// Rule Y4: the instances with a node among `reset` (their outcomes
/// aside: an outcome run again runs nothing of its instance) whose
/// clean-up has begun — run again from inside, they clean up again when
/// left — by name; the nodes of their clean-ups that `keep` accepts are
/// added to `reset`. For a re-drive and for `--from`.
pub(crate) fn reset_reentered(
    state: &RunState,
    plan: &Plan,
    reset: &mut Vec<String>,
    keep: impl Fn(&str) -> bool,
) -> Vec<String> {
    let reentered: Vec<usize> = plan
        .scopes
        .with_cleanup()
        .filter(|&s| begun(state, plan, s))
        .filter(|&s| {
            let members = plan.scopes.members(s);
            reset
                .iter()
                .any(|id| plan.by_id.get(id).is_some_and(|x| members.contains(x)))
        })
        .collect();
    for &s in &reentered {
        let nodes: Vec<String> = plan
            .scopes
            .nodes_cleaning(s)
            .map(|x| plan.nodes[x].id.clone())
            .filter(|id| keep(id) && !reset.contains(id))
            .collect();
        reset.extend(nodes);
    }
    reentered
        .into_iter()
        .map(|s| plan.nodes[s].id.clone())
        .collect()
}

/// Rule X5: the people's nodes of a clean-up that a cancelled run whose
/// clean-up began waits for: those `rbx cancel` settles as cancelled.
pub(crate) fn waited_for(
    procedure: &crate::Procedure,
    inputs: &serde_json::Value,
    state: &RunState,
    plan: &Plan,
) -> Vec<usize> {
    // What the run would wait for, were the cancel not pending.
    let mut going = state.clone();
    going.status = crate::state::RunStatus::Running;
    crate::waiting_for(procedure, inputs, &going)
        .into_iter()
        .filter(|(id, person)| *person && status_of(state, id) == Status::Pending)
        .filter_map(|(id, _)| plan.by_id.get(&id).copied())
        .filter(|&x| rbx_check::symbols::is_cleanup(&plan.nodes[x].flow))
        .collect()
}
