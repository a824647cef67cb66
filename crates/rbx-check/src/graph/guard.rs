//! Lowering a block's own condition, `foreach … when EXPR { … }` or
//! `parallel … when EXPR { … }`: a *guard* node before the block judges
//! it once (rule W5). When it holds, the guard succeeds with the branch
//! `when`, which leads into the block; when it does not, the guard is
//! skipped by its condition, and its next edge leads past the block to
//! what follows it, so every node of the block is skipped.

use rbx_syntax::ast::{Expr, TargetKind};

use super::{Ctx, EdgeKind, Frontier, Lowerer, Node, NodeKind, Origin};

/// The branch a guard takes into its block when its condition holds.
pub const HELD: &str = "when";

impl<'a> Lowerer<'a> {
    /// Adds the guard of a block named `what` (`foreach-host`,
    /// `parallel`) after `frontier`. Returns the edges into the block and
    /// the edges past it.
    pub(super) fn guard(
        &mut self,
        condition: &Expr,
        what: &str,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> (Frontier, Frontier) {
        let node = self.add(Node {
            id: format!("{}.when-{what}", ctx.instance),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Guard {
                condition: condition.clone(),
            },
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        self.connect(&frontier, node);
        let into = vec![(node, EdgeKind::Branch(HELD.to_string()), origin)];
        // A condition that cannot be judged fails the guard (W3), which
        // routes as a node at the block's place would.
        let mut past = vec![(node, EdgeKind::Next, origin)];
        self.failure_route(node, ctx.routes, ctx, &mut past);
        if let Some((target, at)) = ctx.routes.cancel {
            let own_stage = matches!(&target.kind, TargetKind::Stage(s) if s.name == ctx.stage);
            if !own_stage {
                if let Some(to) = self.target(target, ctx, at) {
                    self.edge(node, to, EdgeKind::Cancel, at);
                }
            }
        }
        (into, past)
    }
}
