//! Lowering a `checklist`: its items in order, then its verdict node.
//!
//! Each item's failure goes on to the next item (or, with `fail-fast`,
//! straight to the verdict), as an edge of the flow, not a route: an item
//! that fails fails nothing by itself. The verdict node, `stage.ID`, runs
//! after the last item (or the first failure), fails when any item failed,
//! and takes the routes a node at its place would take.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{BlockKind, Checklist, StageItemKind, StmtKind, TargetKind};

use super::{Ctx, Edge, EdgeKind, Frontier, Lowerer, Node, NodeKind, Origin, Routes};
use crate::Finding;

impl<'a> Lowerer<'a> {
    pub(super) fn checklist(
        &mut self,
        list: &'a Checklist,
        ctx: &Ctx<'a>,
        mut frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        let items: Vec<String> = list
            .items
            .iter()
            .filter_map(|item| match &item.kind {
                StageItemKind::Block(block) => Some(block.id.name.clone()),
                _ => None,
            })
            .collect();
        // An item's failure goes on to the next item, never to a route nor
        // to the tally of a loop around the checklist: only the verdict's
        // failure is one of the loop's.
        let inner = Ctx {
            routes: Routes {
                failure: None,
                cancel: ctx.routes.cancel,
            },
            tally: None,
            ..ctx.clone()
        };
        let last = list.items.len().saturating_sub(1);
        let mut to_verdict = Vec::new();
        for (at, item) in list.items.iter().enumerate() {
            let StageItemKind::Block(block) = &item.kind else {
                continue;
            };
            let here = Origin {
                source: ctx.source,
                span: item.span,
            };
            self.checklist_item(block.kind, &block.body, here, ctx);
            let exits = self.block(block, &inner, frontier, here);
            let Some(&(node, _, _)) = exits.first() else {
                frontier = exits;
                continue;
            };
            frontier = exits;
            if list.fail_fast || at == last {
                to_verdict.push((node, here));
            } else {
                frontier.push((node, EdgeKind::Failure, here));
            }
        }
        // Added after its items, so that views list it after them.
        let verdict = self.add(Node {
            id: format!("{}.{}", ctx.instance, list.id.name),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Checklist {
                name: list.id.name.clone(),
                title: list.title.clone(),
                fail_fast: list.fail_fast,
                items,
            },
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        for (node, here) in to_verdict {
            self.graph.add_edge(
                node,
                verdict,
                Edge {
                    kind: EdgeKind::Failure,
                    route: false,
                    origin: here,
                },
            );
        }
        self.connect(&frontier, verdict);
        let mut next = vec![(verdict, EdgeKind::Next, origin)];
        // Its failure is a node's at its place: in a loop or block that
        // tolerates failures, one counted against it (rule R6).
        self.failure_route(verdict, ctx.routes, ctx, &mut next);
        if let Some((target, at)) = ctx.routes.cancel {
            let own_stage = matches!(&target.kind, TargetKind::Stage(s) if s.name == ctx.stage);
            if !own_stage {
                if let Some(to) = self.target(target, ctx, at) {
                    self.edge(verdict, to, EdgeKind::Cancel, at);
                }
            }
        }
        next
    }

    /// An item of a checklist takes no route of its own: whatever it does,
    /// the checklist goes on, and its verdict takes the route.
    fn checklist_item(
        &mut self,
        kind: BlockKind,
        body: &[rbx_syntax::ast::Stmt],
        at: Origin,
        ctx: &Ctx<'_>,
    ) {
        let Some(route) = body.iter().find(|s| matches!(s.kind, StmtKind::On(_))) else {
            return;
        };
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::error(
                "rbx::lint::misplaced",
                format!("a `{}` of a checklist takes no route", kind.keyword()),
            )
            .primary(route.span, "not allowed here")
            .secondary(at.span, "an item of the checklist")
            .help(
                "every item of a checklist runs (or, with `fail-fast`, up to the first \
                 failure); put the route on the checklist's stage, which its verdict takes",
            ),
        });
    }
}
