//! `every` (rules V1–V5) without a clock. The model covers an `every` whose
//! interval is a written duration of an hour or more, and takes it that no
//! iteration comes due while a run is driven: operations follow each other
//! at once, and a generated run's commands are instant. So rules V2 and V3
//! decide everything: the first tick whose turn comes while its beside set
//! has not settled records its due time and waits, neither run nor skipped;
//! once the beside set has settled, or once no control reaches the tick, it
//! and every later iteration are skipped in one event (`every_stopped`).
//! Iterations that come due, run, or are missed (V4) are left to
//! `tests/every.rs`, which runs them on a simulated clock.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;
use rbx_check::graph::{Fanout, Graph, NodeKind};
use rbx_syntax::ast::ExprKind;

use crate::plan::XNode;
use crate::{Event, Model, ModelError, Status};

/// The shortest interval the model takes as never coming due: an hour.
const NEVER_DUE_MS: u64 = 3_600_000;

/// Refuses an `every` whose interval could come due while the model
/// drives a run.
pub fn check_interval(fanout: &Fanout) -> Result<(), ModelError> {
    let Some(every) = &fanout.every else {
        return Ok(());
    };
    match every.interval.kind {
        ExprKind::Duration(ms) if ms >= NEVER_DUE_MS => Ok(()),
        _ => Err(ModelError::Unsupported(
            "an `every` interval that is not a written duration of an hour or more: \
             the model has no clock, and such an iteration could come due"
                .to_string(),
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

    /// V2: a tick reached whose due time is recorded waits for it while
    /// the work beside it goes on: neither run nor skipped.
    pub(crate) fn tick_waits(&self, x: usize) -> bool {
        self.is_tick(x) && self.dues.contains(&x) && !self.beside_settled(x) && self.runs(x)
    }

    /// V2, V3 for the considered tick `x`: its due time is recorded, or it
    /// and every later iteration are skipped. `false` when `x` is no tick.
    pub(crate) fn tick(&mut self, x: usize, events: &mut Vec<Event>) -> bool {
        if !self.is_tick(x) {
            return false;
        }
        if !self.runs(x) || self.beside_settled(x) {
            self.every_stopped(x, events);
        } else if !self.dues.contains(&x) {
            let node = self.id(x);
            self.emit(events, Event::Due(node));
        }
        true
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
