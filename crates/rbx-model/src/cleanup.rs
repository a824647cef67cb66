//! A stage's own clean-up (rules Y1–Y4): which stage instance each node of
//! the run is inside, when an instance's clean-up begins, what waits for it,
//! and what the run's end and a resume do with it.
//!
//! An instance is named by its start node (`s0`, `s0#2`, `s0#2[a]`). Its
//! clean-up is a flow of its own, `INSTANCE.finally`, whose start nothing
//! leads to: the model runs it once the clean-up has begun.

use std::collections::{BTreeMap, VecDeque};

use rbx_check::graph::{Graph, NodeKind};
use rbx_check::symbols::{cleaned_instance, is_cleanup};

use crate::plan::XNode;
use crate::{Event, Model, Status};

/// Which instance each node is inside, and each instance's clean-up.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    /// For each node: the instance it is a node of (its start). Clean-up
    /// nodes, the runbook's `finally` and outcomes are of none.
    own: Vec<Option<usize>>,
    /// For each `again` or `call` instance: the instance that runs it.
    parent: BTreeMap<usize, usize>,
    /// For each instance with a clean-up: the clean-up's start.
    cleanup: BTreeMap<usize, usize>,
    /// For each node of a stage's clean-up: the instance it cleans up.
    cleans: Vec<Option<usize>>,
}

impl Scopes {
    /// Y1: the instances of the run's nodes, from the stage instance each
    /// checked node was lowered in, at the items of the loops around the
    /// instance.
    pub fn of(graph: &Graph, nodes: &[XNode]) -> Scopes {
        let g = &graph.graph;
        let at: BTreeMap<(usize, Vec<usize>), usize> = nodes
            .iter()
            .enumerate()
            .map(|(x, n)| ((n.check.index(), n.positions.clone()), x))
            .collect();
        let start_of = |instance: &str, positions: &[usize]| -> Option<usize> {
            let start = graph.node(instance)?;
            let depth = g[start].fanout.len().min(positions.len());
            at.get(&(start.index(), positions[..depth].to_vec()))
                .copied()
        };
        let mut scopes = Scopes {
            own: vec![None; nodes.len()],
            cleans: vec![None; nodes.len()],
            ..Scopes::default()
        };
        for (x, node) in nodes.iter().enumerate() {
            let check = &g[node.check];
            if matches!(check.kind, NodeKind::End { .. }) {
                continue;
            }
            match cleaned_instance(&check.stage) {
                Some(instance) if is_cleanup(&node.flow) => {
                    let cleaned = start_of(instance, &node.positions);
                    scopes.cleans[x] = cleaned;
                    if let (Some(s), true) = (cleaned, check.id == check.stage) {
                        scopes.cleanup.insert(s, x);
                    }
                }
                _ if is_cleanup(&node.flow) => {}
                _ => scopes.own[x] = start_of(&check.stage, &node.positions),
            }
            if let NodeKind::StageStart { .. } = &check.kind {
                let runner = graph.parents.get(&check.stage);
                if let Some(p) = runner.and_then(|p| start_of(p, &node.positions)) {
                    scopes.parent.insert(x, p);
                }
            }
        }
        scopes
    }

    /// The instances `x` is inside, its own first, then the one that runs
    /// it, and so on outwards.
    pub fn enclosing(&self, x: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.own[x];
        while let Some(s) = at.filter(|s| !out.contains(s)) {
            out.push(s);
            at = self.parent.get(&s).copied();
        }
        out
    }

    pub fn inside(&self, x: usize, s: usize) -> bool {
        self.enclosing(x).contains(&s)
    }

    /// The instance whose clean-up `x` is a node of.
    pub fn cleans(&self, x: usize) -> Option<usize> {
        self.cleans[x]
    }

    /// Every instance with a clean-up, and the clean-up's start.
    pub fn cleanups(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.cleanup.iter().map(|(&s, &start)| (s, start))
    }

    fn has_cleanup(&self, s: usize) -> bool {
        self.cleanup.contains_key(&s)
    }

    /// How many instances run `s`, for "innermost first".
    fn depth(&self, s: usize) -> usize {
        self.enclosing(s).len()
    }
}

impl Model<'_> {
    /// Y1: the instance started: its start succeeded.
    fn started(&self, s: usize) -> bool {
        self.nodes[s].status == Status::Succeeded
    }

    /// Y1: `x` is a node of the clean-up of an instance whose start settled
    /// otherwise: it never runs, and counts as finished for its item (R4).
    pub(crate) fn never_cleans(&self, x: usize) -> bool {
        self.plan.scopes.cleans(x).is_some_and(|s| {
            let start = self.nodes[s].status;
            start.settled() && start != Status::Succeeded
        })
    }

    /// Whether the clean-up of `s` has begun and every node of it settled.
    fn cleanup_over(&self, s: usize) -> bool {
        self.cleanups.contains_key(&s)
            && (0..self.nodes.len())
                .filter(|&x| self.plan.scopes.cleans(x) == Some(s))
                .all(|x| self.nodes[x].status.settled())
    }

    /// A started instance with a clean-up that is not over.
    pub(crate) fn unclean(&self, s: usize) -> bool {
        self.plan.scopes.has_cleanup(s) && self.started(s) && !self.cleanup_over(s)
    }

    /// Y2: the innermost started instance whose clean-up is not over that
    /// control leaves to reach `x`: an edge carrying control from a node
    /// inside it to `x`, which is not. `x` waits for it.
    pub(crate) fn leaving(&self, x: usize) -> Option<usize> {
        let scopes = &self.plan.scopes;
        self.plan.preds[x]
            .iter()
            .filter(|(p, link)| self.nodes[*p].status.settled() && self.carries(*p, link))
            .filter_map(|(p, _)| {
                scopes
                    .enclosing(*p)
                    .into_iter()
                    .find(|&s| !scopes.inside(x, s) && self.unclean(s))
            })
            .min_by_key(|&s| std::cmp::Reverse(scopes.depth(s)))
    }

    /// Y2, Y3: the start of a clean-up waits until it has begun and the
    /// clean-ups of the instances inside its own are over (innermost
    /// first); the runbook's `finally` waits until every stage's is.
    pub(crate) fn cleanup_waits(&self, x: usize) -> bool {
        if self.plan.finally == Some(x) {
            return self.plan.scopes.cleanups().any(|(s, _)| self.unclean(s));
        }
        let Some((s, _)) = self.plan.scopes.cleanups().find(|&(_, start)| start == x) else {
            return false;
        };
        !self.cleanups.contains_key(&s)
            || self.plan.scopes.cleanups().any(|(inner, _)| {
                inner != s && self.plan.scopes.inside(inner, s) && self.unclean(inner)
            })
    }

    /// Y2: the start of a begun clean-up runs: control reaches it.
    pub(crate) fn cleanup_reached(&self, x: usize) -> bool {
        self.plan
            .scopes
            .cleanups()
            .any(|(s, start)| start == x && self.cleanups.contains_key(&s))
    }

    /// E1 with Y2: an outcome control reaches waits for a clean-up. The
    /// run's end is decided: nothing but clean-ups starts meanwhile.
    pub(crate) fn ending(&self) -> bool {
        (0..self.nodes.len()).any(|x| {
            matches!(
                self.graph.graph[self.plan.nodes[x].check].kind,
                NodeKind::End { .. }
            ) && self.nodes[x].pending()
                && self.considered(x)
                && self.runs(x)
                && self.leaving(x).is_some()
        })
    }

    /// Y2: the started instances whose clean-up may begin while the run
    /// goes on: every node inside settled, or a node control reaches by
    /// leaving it waits for it, nothing inside it is running and nothing
    /// inside it can start any more (its flow was left, or an outcome
    /// waits); or an outcome waits and nothing inside it is running.
    fn ready_to_clean(&self) -> Vec<usize> {
        let ending = self.ending();
        let waited: Vec<usize> = (0..self.nodes.len())
            .filter(|&x| self.nodes[x].pending() && self.considered(x) && self.runs(x))
            .filter_map(|x| self.leaving(x))
            .collect();
        let scopes = &self.plan.scopes;
        scopes
            .cleanups()
            .map(|(s, _)| s)
            .filter(|&s| self.started(s) && !self.cleanups.contains_key(&s))
            .filter(|&s| {
                let inside: Vec<usize> = (0..self.nodes.len())
                    .filter(|&x| scopes.inside(x, s))
                    .collect();
                let idle = !inside
                    .iter()
                    .any(|&x| self.nodes[x].status == Status::Running);
                let stopped = ending || self.left.contains_key(&self.plan.nodes[s].flow);
                inside.iter().all(|&x| self.nodes[x].status.settled())
                    || (waited.contains(&s) && idle && stopped)
                    || (ending && idle)
            })
            .collect()
    }

    /// Y2: begins every clean-up that may begin before the run's end is
    /// decided; whether one did.
    pub(crate) fn begin_cleanups(&mut self, events: &mut Vec<Event>) -> bool {
        if self.finally.is_some() {
            return false;
        }
        let ready = self.ready_to_clean();
        for &s in &ready {
            let instance = self.id(s);
            self.emit(
                events,
                Event::CleanupStarted {
                    instance,
                    at_end: false,
                },
            );
        }
        !ready.is_empty()
    }

    /// Y3: at the run's end, every started instance whose clean-up has not
    /// begun begins it, those run by another first.
    pub(crate) fn begin_at_end(&mut self, events: &mut Vec<Event>) {
        let mut due: Vec<usize> = self
            .plan
            .scopes
            .cleanups()
            .map(|(s, _)| s)
            .filter(|&s| self.started(s) && !self.cleanups.contains_key(&s))
            .collect();
        due.sort_by_key(|&s| std::cmp::Reverse(self.plan.scopes.depth(s)));
        for s in due {
            let instance = self.id(s);
            self.emit(
                events,
                Event::CleanupStarted {
                    instance,
                    at_end: true,
                },
            );
        }
    }

    /// Y3: whether the run's end goes through `finally_started` without a
    /// runbook `finally`: a started instance's clean-up is not over, or a
    /// clean-up node failed.
    pub(crate) fn cleans_up_at_end(&self) -> bool {
        self.plan.scopes.cleanups().any(|(s, _)| self.unclean(s))
            || (0..self.nodes.len()).any(|x| self.cleanup_failed(x))
    }

    /// A node of a clean-up, the runbook's or a stage's, that failed or
    /// that a cancel stopped (X5).
    pub(crate) fn cleanup_failed(&self, x: usize) -> bool {
        is_cleanup(&self.plan.nodes[x].flow)
            && matches!(self.nodes[x].status, Status::Failed | Status::Cancelled)
    }

    /// Y4: the nodes of the clean-ups the run's end began, to run again at
    /// its next end.
    pub(crate) fn begun_at_end(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&x| {
                self.plan
                    .scopes
                    .cleans(x)
                    .is_some_and(|s| self.cleanups.get(&s) == Some(&true))
            })
            .filter(|&x| self.nodes[x].status != Status::Pending)
            .collect()
    }

    /// Y4: the instances whose clean-up began that hold a node of `reset`
    /// (run again by `--from`), and every node of their clean-ups.
    pub(crate) fn reentered(&self, reset: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let scopes = &self.plan.scopes;
        let instances: Vec<usize> = self
            .cleanups
            .keys()
            .copied()
            .filter(|&s| reset.iter().any(|&x| scopes.inside(x, s)))
            .collect();
        let nodes = (0..self.nodes.len())
            .filter(|&x| scopes.cleans(x).is_some_and(|s| instances.contains(&s)))
            .collect();
        (instances, nodes)
    }

    /// X2 with Y: once the end is decided, only clean-up nodes stay ready.
    pub(crate) fn keep_cleanups(&self, ready: &mut VecDeque<usize>) {
        ready.retain(|&x| is_cleanup(&self.plan.nodes[x].flow));
    }
}
