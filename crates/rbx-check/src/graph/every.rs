//! Lowering `every INTERVAL (at most N) { … }`: the body is lowered once,
//! as a loop over the iterations `1..=N` that the engine expands like a
//! `foreach` run one item at a time, each iteration opened by a *tick*
//! node (`stage.every-FIRST[k]`) that the engine starts at the
//! iteration's due time (rules V1–V5).
//!
//! The block runs *beside* the items written after it in the same block:
//! they are lowered from the same place, and what they lower to is the
//! tick's `watched` set. Once every watched node has settled, no further
//! iteration starts; the block's exits join theirs, so whatever follows
//! waits for an iteration still running.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Every, StageItem, StageItemKind};

use super::{Ctx, EveryLoop, Fanout, Frontier, Lowerer, Node, NodeKind, Origin};
use crate::Finding;
use petgraph::graph::NodeIndex;

/// The most iterations an `every` may have: each is a set of nodes of the
/// run with ids of its own.
pub const MAX_ITERATIONS: i64 = 1000;

/// The iterations of an `every` without `at most`.
pub const DEFAULT_BOUND: i64 = 100;

/// The shortest interval: anything shorter is a busy loop, not a
/// recurring task.
pub const MIN_INTERVAL_MS: i64 = 1000;

/// An `every` lowered, waiting for the items after it: its tick, its
/// exits, and how many nodes the graph had once it was lowered (the nodes
/// added after that, in the same block, are the ones it runs beside).
pub(super) struct Beside {
    tick: NodeIndex,
    exits: Frontier,
    after: usize,
    origin: Origin,
    source: usize,
}

impl<'a> Lowerer<'a> {
    pub(super) fn every(
        &mut self,
        every: &'a Every,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Beside {
        self.every_place(ctx, origin);
        let at_most = self.every_bound(every, ctx);
        self.loops += 1;
        let mut inner = ctx.clone();
        inner.fanout.push(Fanout {
            id: self.loops,
            var: String::new(),
            list: String::new(),
            parallel: None,
            parallel_expr: None,
            tolerate: None,
            repeat: None,
            every: Some(EveryLoop {
                at_most,
                interval: every.interval.clone(),
            }),
        });
        let first = first_name(&every.items).unwrap_or("body");
        let tick = self.add(Node {
            id: format!("{}.every-{first}", ctx.instance),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Tick {
                interval: every.interval.clone(),
                at_most,
                watched: Vec::new(),
            },
            fanout: inner.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        self.connect(&frontier, tick);
        let into = vec![(tick, super::EdgeKind::Next, origin)];
        let exits = self.items(&every.items, &inner, into, false);
        Beside {
            tick,
            exits,
            after: self.graph.node_count(),
            origin,
            source: ctx.source,
        }
    }

    /// The `every` blocks of a block, once the items after them are
    /// lowered: each watches the nodes lowered since (outcomes and
    /// clean-ups aside: they come after, not beside), and its exits join
    /// the block's.
    pub(super) fn join_beside(&mut self, beside: &mut Vec<Beside>, frontier: &mut Frontier) {
        for b in beside.drain(..) {
            let watched: Vec<NodeIndex> = (b.after..self.graph.node_count())
                .map(NodeIndex::new)
                .filter(|&n| {
                    let node = &self.graph[n];
                    !matches!(node.kind, NodeKind::End { .. })
                        && !crate::symbols::is_cleanup(&node.host)
                })
                .collect();
            // One in a clean-up is refused already (`misplaced`).
            let cleanup = crate::symbols::is_cleanup(&self.graph[b.tick].host);
            if watched.is_empty() && !cleanup {
                self.findings.push(Finding {
                    source: b.source,
                    diagnostic: Diagnostic::warning(
                        "rbx::lint::every_beside_nothing",
                        "nothing is written after this `every`, so it never runs",
                    )
                    .primary(keyword(b.origin), "runs beside the items after it")
                    .help(
                        "an `every` repeats while the items written after it in the same \
                         block run: move it before the work it accompanies",
                    ),
                });
            }
            if let NodeKind::Tick { watched: w, .. } = &mut self.graph[b.tick].kind {
                *w = watched;
            }
            // When the work beside it ends only in routes, the flow is
            // left by one (L3) and the block's exits lead nowhere.
            if !frontier.is_empty() {
                frontier.extend(b.exits);
            }
        }
    }

    /// An `every` inside another is refused: one schedule inside another
    /// would say nothing more than the outer one.
    fn every_place(&mut self, ctx: &Ctx<'a>, origin: Origin) {
        if !ctx.fanout.iter().any(|f| f.every.is_some()) {
            return;
        }
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::error(
                "rbx::lint::misplaced",
                "an `every` cannot stand inside another `every`",
            )
            .primary(keyword(origin), "not allowed here")
            .help(
                "write `every` in a stage, or in a `foreach`, `parallel` or `repeat` \
                 block of one, before the work it accompanies",
            ),
        });
    }

    /// The bound, between 1 and `MAX_ITERATIONS`; `DEFAULT_BOUND` when
    /// none is written. A wrong one is reported and lowered as the default.
    fn every_bound(&mut self, every: &Every, ctx: &Ctx<'a>) -> i64 {
        let Some(bound) = &every.at_most else {
            return DEFAULT_BOUND;
        };
        if (1..=MAX_ITERATIONS).contains(&bound.value) {
            return bound.value;
        }
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::error(
                "rbx::lint::every_bound",
                format!(
                    "`every … at most {}` is not between 1 and {MAX_ITERATIONS}",
                    bound.value
                ),
            )
            .primary(bound.span, "out of range")
            .help(format!(
                "an `every` runs from 1 to {MAX_ITERATIONS} iterations (without `at most`, \
                 {DEFAULT_BOUND}); each is recorded with ids of its own"
            )),
        });
        DEFAULT_BOUND
    }
}

/// The span of the `every` keyword of a block written at `origin`.
fn keyword(origin: Origin) -> rbx_syntax::Span {
    rbx_syntax::Span::new(origin.span.start, origin.span.start + "every".len())
}

/// The id of the first node written in `items`, which names the block.
fn first_name(items: &[StageItem]) -> Option<&str> {
    items.iter().find_map(|item| match &item.kind {
        StageItemKind::Block(block) => Some(block.id.name.as_str()),
        StageItemKind::Checklist(list) => Some(list.id.name.as_str()),
        StageItemKind::Anchor(anchor) => Some(anchor.id.name.as_str()),
        StageItemKind::Foreach(f) => first_name(&f.items),
        StageItemKind::Parallel(p) => first_name(&p.items),
        StageItemKind::Repeat(r) => first_name(&r.items),
        _ => None,
    })
}
