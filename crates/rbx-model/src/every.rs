//! `every` (rules V1–V5) on the model's clock (`clock`). The model covers
//! an `every` whose interval is a written duration. The first tick whose
//! turn comes while its beside set has not settled records its due time;
//! the others are due a whole number of intervals after it (V2). A tick
//! waits for its due time, neither run nor skipped, and runs then (late, if
//! its turn came after it); one whose period passed without it starting is
//! skipped as missed (V4). Once the beside set has settled, a tick due
//! before the last of it settled is missed, and otherwise it and every
//! later iteration are skipped in one event (`every_stopped`), as they are
//! once no control reaches the tick (V3).

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;
use rbx_check::graph::{Fanout, Graph, NodeKind};
use rbx_syntax::ast::ExprKind;

use crate::plan::XNode;
use crate::{By, Event, Model, ModelError, Status};

/// Refuses an `every` whose interval is not written as a duration: the
/// model does not compute one from the inputs.
pub fn check_interval(fanout: &Fanout) -> Result<(), ModelError> {
    let Some(every) = &fanout.every else {
        return Ok(());
    };
    match every.interval.kind {
        ExprKind::Duration(_) => Ok(()),
        _ => Err(ModelError::Unsupported(
            "an `every` interval that is not a written duration".to_string(),
        )),
    }
}

/// V1: each tick's beside set, in the same loop items: the instances of
/// the nodes the block runs beside that agree with the tick on the loops
/// both are in.
pub fn beside_sets(
    graph: &Graph,
    nodes: &[XNode],
    instances: &HashMap<NodeIndex, Vec<usize>>,
) -> BTreeMap<usize, Vec<usize>> {
    let g = &graph.graph;
    let mut sets = BTreeMap::new();
    for (x, node) in nodes.iter().enumerate() {
        let NodeKind::Tick { watched, .. } = &g[node.check].kind else {
            continue;
        };
        let mut beside = Vec::new();
        for w in watched {
            let shared = g[node.check]
                .fanout
                .iter()
                .zip(&g[*w].fanout)
                .take_while(|(a, b)| a.id == b.id)
                .count();
            beside.extend(
                instances
                    .get(w)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&y| nodes[y].positions[..shared] == node.positions[..shared]),
            );
        }
        sets.insert(x, beside);
    }
    sets
}

impl Model<'_> {
    fn is_tick(&self, x: usize) -> bool {
        self.plan.beside.contains_key(&x)
    }

    /// V3: every node of the tick's beside set has settled.
    fn beside_settled(&self, x: usize) -> bool {
        self.plan
            .beside
            .get(&x)
            .is_none_or(|beside| beside.iter().all(|&y| self.nodes[y].status.settled()))
    }

    /// V3: when the last node of the tick's beside set settled.
    fn beside_settled_at(&self, x: usize) -> Option<i64> {
        let beside = self.plan.beside.get(&x)?;
        beside
            .iter()
            .filter_map(|y| self.finished.get(y).copied())
            .max()
    }

    /// V2: a tick reached whose due time is recorded and still to come
    /// waits for it while the work beside it goes on: neither run nor
    /// skipped.
    pub(crate) fn tick_waits(&self, x: usize) -> bool {
        self.is_tick(x)
            && self.dues.get(&x).is_some_and(|&due| self.now < due)
            && !self.beside_settled(x)
            && self.runs(x)
    }

    /// The due time of the earliest tick that waits for it, once nothing
    /// else can happen first: the run waits for it as it waits for a node
    /// to finish (V2). None once the run's end is decided (X2, E1).
    pub(crate) fn next_due(&self) -> Option<i64> {
        if self.finally.is_some() || self.ending() {
            return None;
        }
        self.dues
            .iter()
            .filter(|&(&x, _)| self.nodes[x].pending() && self.tick_waits(x))
            .map(|(_, &due)| due)
            .min()
    }

    /// V2: when the tick `x` is due, if its block's schedule is recorded:
    /// as recorded for it, or the first iteration's due time plus a whole
    /// number of intervals.
    fn scheduled(&self, x: usize) -> Option<i64> {
        if let Some(&due) = self.dues.get(&x) {
            return Some(due);
        }
        let group = self.plan.groups.iter().find(|g| g.ticks.contains(&x))?;
        let place = group.ticks.iter().position(|&t| t == x)?;
        let first = self.dues.get(group.ticks.first()?)?;
        let steps = i64::try_from(place).ok()?;
        Some(first + self.interval(x) * steps)
    }

    /// V2: the tick's due time, recorded the first time its turn comes:
    /// one interval from now for the first iteration.
    fn due(&mut self, x: usize, events: &mut Vec<Event>) -> i64 {
        if let Some(&due) = self.dues.get(&x) {
            return due;
        }
        let due = self
            .scheduled(x)
            .unwrap_or_else(|| self.now + self.interval(x));
        let tick = self.id(x);
        self.emit(events, Event::Due { tick, due });
        due
    }

    /// V2–V4 for the considered tick `x`: it waits, runs, is missed, or it
    /// and every later iteration are skipped. `false` when `x` is no tick.
    pub(crate) fn tick(&mut self, x: usize, events: &mut Vec<Event>) -> bool {
        if !self.is_tick(x) {
            return false;
        }
        if !self.runs(x) {
            self.every_stopped(x, events);
        } else if self.beside_settled(x) {
            // V3: due while the work ran, and not started: missed.
            match (self.scheduled(x), self.beside_settled_at(x)) {
                (Some(due), Some(at)) if due < at => {
                    let due = self.due(x, events);
                    self.missed(x, due, events);
                }
                _ => self.every_stopped(x, events),
            }
        } else {
            let due = self.due(x, events);
            if self.now >= due + self.interval(x) {
                self.missed(x, due, events);
            } else if self.now >= due {
                self.settle_tick(x, events);
            }
        }
        true
    }

    /// V2: the tick succeeds at its due time (or later, within its
    /// period), which starts its iteration.
    fn settle_tick(&mut self, x: usize, events: &mut Vec<Event>) {
        let node = self.id(x);
        self.emit(
            events,
            Event::Settled {
                node,
                status: Status::Succeeded,
                by: By::Rbx,
                branch: None,
                answers: BTreeMap::new(),
            },
        );
    }

    /// V4: the tick is skipped as missed; its iteration's nodes are
    /// skipped after it (R3).
    fn missed(&mut self, x: usize, due: i64, events: &mut Vec<Event>) {
        let tick = self.id(x);
        self.emit(events, Event::Missed { tick, due });
    }

    /// V3: the iteration of the tick `x` and every later one are skipped,
    /// their nodes not settled yet, in one event.
    fn every_stopped(&mut self, x: usize, events: &mut Vec<Event>) {
        let Some(group) = self.plan.groups.iter().find(|g| g.ticks.contains(&x)) else {
            return;
        };
        let from = group.ticks.iter().position(|&t| t == x).unwrap_or(0);
        let skipped: Vec<String> = group.items[from..]
            .iter()
            .flatten()
            .filter(|&&y| self.nodes[y].status == Status::Pending)
            .map(|&y| self.id(y))
            .collect();
        let tick = self.id(x);
        self.emit(events, Event::EveryStopped { tick, skipped });
    }
}
