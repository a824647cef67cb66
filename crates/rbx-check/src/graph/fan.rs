//! Lowering fan-out: `foreach` and `parallel` blocks, each item or branch
//! marked with what limits it (`parallel N`, rule R4), and the tally node
//! of one that tolerates failures (`tolerate T`, rule R6).

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Foreach, Int, Parallel, StageItem, Tolerate};

use super::{Ctx, Edge, EdgeKind, Fanout, Frontier, Lane, Lowerer, Node, NodeKind, Origin};
use crate::Finding;

impl<'a> Lowerer<'a> {
    pub(super) fn foreach(
        &mut self,
        foreach: &'a Foreach,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        self.check_limit(foreach.parallel.as_ref(), foreach.tolerate.as_ref(), ctx);
        let mut inner = ctx.clone();
        self.loops += 1;
        let group = self.loops;
        inner.fanout.push(Fanout {
            id: group,
            var: foreach.var.name.clone(),
            list: foreach.list.dotted(),
            parallel: foreach.parallel.as_ref().map(|n| n.value),
            parallel_expr: foreach.parallel_expr.clone(),
            tolerate: foreach.tolerate.clone(),
            repeat: None,
            every: None,
        });
        let Some(tolerate) = &foreach.tolerate else {
            return self.items(&foreach.items, &inner, frontier, false);
        };
        let tally = self.open_tally(&mut inner);
        let exits = self.items(&foreach.items, &inner, frontier, false);
        let name = format!("{}.foreach-{}", ctx.instance, foreach.var.name);
        self.close_tally(tally, name, group, tolerate, ctx, exits, origin)
    }

    pub(super) fn parallel(
        &mut self,
        parallel: &'a Parallel,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        self.check_limit(parallel.at_once.as_ref(), parallel.tolerate.as_ref(), ctx);
        let limited = parallel.at_once.is_some()
            || parallel.at_once_expr.is_some()
            || parallel.tolerate.is_some();
        self.loops += 1;
        let group = self.loops;
        let mut inner = ctx.clone();
        let tally = parallel
            .tolerate
            .as_ref()
            .map(|_| self.open_tally(&mut inner));
        let mut joined = Vec::new();
        for (branch, item) in parallel.items.iter().enumerate() {
            let mut lane_ctx = inner.clone();
            if limited {
                lane_ctx.lanes.push(Lane {
                    id: group,
                    depth: ctx.fanout.len(),
                    branch,
                    branches: parallel.items.len(),
                    at_once: parallel.at_once.as_ref().map(|n| n.value),
                    at_once_expr: parallel.at_once_expr.clone(),
                    tolerate: parallel.tolerate.clone(),
                });
            }
            let branch_items: &'a [StageItem] = std::slice::from_ref(item);
            joined.extend(self.items(branch_items, &lane_ctx, frontier.clone(), false));
        }
        match (tally, &parallel.tolerate) {
            (Some(tally), Some(tolerate)) => {
                let name = format!("{}.parallel-block", ctx.instance);
                self.close_tally(tally, name, group, tolerate, ctx, joined, origin)
            }
            _ => joined,
        }
    }

    /// Starts collecting the failures a tolerating block counts: failures
    /// inside it with no route written there go to its tally.
    fn open_tally(&mut self, inner: &mut Ctx<'a>) -> usize {
        let tally = self.tallies.len();
        self.tallies.push(Vec::new());
        inner.tally = Some(tally);
        inner.routes.failure = None;
        tally
    }

    /// The tally node after a tolerating block: every way out of the block
    /// and every failure counted against it lead there, and its own failure
    /// takes the route around the block.
    #[expect(
        clippy::too_many_arguments,
        reason = "two call sites, each naming what the block is"
    )]
    fn close_tally(
        &mut self,
        tally: usize,
        id: String,
        group: usize,
        tolerate: &Tolerate,
        ctx: &Ctx<'a>,
        exits: Frontier,
        origin: Origin,
    ) -> Frontier {
        let node = self.add(Node {
            id,
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Tally {
                group,
                tolerate: tolerate.clone(),
            },
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        self.connect(&exits, node);
        let failures = self.tallies.get_mut(tally).map(std::mem::take);
        for (from, at) in failures.unwrap_or_default() {
            let edge = Edge {
                kind: EdgeKind::Tolerated,
                route: false,
                origin: at,
            };
            self.graph.add_edge(from, node, edge);
        }
        let mut next = vec![(node, EdgeKind::Next, origin)];
        self.failure_route(node, ctx.routes, ctx, &mut next);
        next
    }

    /// `parallel N` runs at least one at a time; a tolerance is a count of
    /// items or a percentage of them.
    fn check_limit(&mut self, at_once: Option<&Int>, tolerate: Option<&Tolerate>, ctx: &Ctx<'a>) {
        if let Some(n) = at_once.filter(|n| n.value < 1) {
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::warning(
                    "rbx::lint::parallel_limit",
                    format!("`parallel {}` runs one at a time", n.value),
                )
                .primary(n.span, "less than one")
                .help("write how many run at once, `parallel 2` or more, or leave `parallel` out"),
            });
        }
        let Some(tolerate) = tolerate else { return };
        let wrong = if tolerate.percent {
            !(0..=100).contains(&tolerate.amount)
        } else {
            tolerate.amount < 0
        };
        if wrong {
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::tolerate_range",
                    format!(
                        "`tolerate {}` is not {}",
                        tolerate.source_form(),
                        if tolerate.percent {
                            "a share of the items"
                        } else {
                            "a count of items"
                        }
                    ),
                )
                .primary(tolerate.span, "out of range")
                .help("tolerate a count of failed items (`tolerate 2`) or a share of them from 0% to 100% (`tolerate 10%`)"),
            });
        }
    }
}
