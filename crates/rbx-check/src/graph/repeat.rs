//! Lowering `repeat at most N until EXPR { … }`: the body is lowered once,
//! as a loop over the iterations `1..=N` that the engine expands like a
//! `foreach` run one item at a time, and closed by an *until* node inside
//! each iteration, which judges the condition on that iteration's values.
//!
//! The until node succeeds when the condition holds, and its next edge
//! leaves the loop; it settles with the branch `again` when it does not,
//! which carries control nowhere, so the next iteration is admitted; on the
//! last iteration it fails instead, and takes the routes a node at the
//! `repeat` would take. Once an iteration's until node held, no later
//! iteration is admitted (rule U2): the engine skips them.

use rbx_syntax::Diagnostic;
use std::collections::HashSet;

use rbx_syntax::ast::{Expr, ExprKind, Repeat, StageItem, StageItemKind, TargetKind};

use super::{Ctx, EdgeKind, Fanout, Frontier, Lowerer, Node, NodeKind, Origin, RepeatLoop};
use crate::Finding;

/// The most iterations a `repeat` may have: each is a set of nodes of the
/// run, with ids of its own, and is shown in every view.
pub const MAX_ITERATIONS: i64 = 1000;

/// The branch an until node takes when its condition does not hold yet.
pub const AGAIN: &str = "again";

impl<'a> Lowerer<'a> {
    pub(super) fn repeat(
        &mut self,
        repeat: &'a Repeat,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        let at_most = self.repeat_bound(repeat, ctx, origin);
        self.until_reads_body(repeat, ctx);
        self.loops += 1;
        let until = rbx_syntax::fmt::expr(&repeat.until);
        let mut inner = ctx.clone();
        inner.fanout.push(Fanout {
            id: self.loops,
            var: String::new(),
            list: String::new(),
            parallel: None,
            parallel_expr: None,
            tolerate: None,
            repeat: Some(RepeatLoop {
                at_most,
                until: until.clone(),
            }),
            every: None,
        });
        let exits = self.items(&repeat.items, &inner, frontier, false);
        let first = repeat
            .items
            .iter()
            .find_map(|item| match &item.kind {
                StageItemKind::Block(block) => Some(block.id.name.as_str()),
                StageItemKind::Checklist(list) => Some(list.id.name.as_str()),
                _ => None,
            })
            .unwrap_or("body");
        // Added after its iteration's nodes, so that views list it after them.
        let node = self.add(Node {
            id: format!("{}.repeat-{first}", ctx.instance),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Until {
                until: repeat.until.clone(),
                at_most,
            },
            fanout: inner.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        self.connect(&exits, node);
        let mut next = vec![(node, EdgeKind::Next, origin)];
        self.failure_route(node, ctx.routes, ctx, &mut next);
        if let Some((target, at)) = ctx.routes.cancel {
            let own_stage = matches!(&target.kind, TargetKind::Stage(s) if s.name == ctx.stage);
            if !own_stage {
                if let Some(to) = self.target(target, ctx, at) {
                    self.edge(node, to, EdgeKind::Cancel, at);
                }
            }
        }
        next
    }

    /// The bound, which a `repeat` must have: a person's judgement that
    /// never comes would otherwise hold the run for ever. A missing or
    /// wrong one is reported and lowered as one iteration.
    fn repeat_bound(&mut self, repeat: &Repeat, ctx: &Ctx<'a>, origin: Origin) -> i64 {
        let Some(bound) = &repeat.at_most else {
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::unbounded_repeat",
                    "this `repeat` has no bound",
                )
                .primary(
                    rbx_syntax::Span::new(origin.span.start, origin.span.start + "repeat".len()),
                    "may run for ever",
                )
                .help(format!(
                    "say how many iterations at most, such as `repeat at most 5 until {}`; \
                     reaching the bound without the condition fails the loop",
                    rbx_syntax::fmt::expr(&repeat.until)
                )),
            });
            return 1;
        };
        if (1..=MAX_ITERATIONS).contains(&bound.value) {
            return bound.value;
        }
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::error(
                "rbx::lint::repeat_bound",
                format!(
                    "`repeat at most {}` is not between 1 and {MAX_ITERATIONS}",
                    bound.value
                ),
            )
            .primary(bound.span, "out of range")
            .help(format!(
                "a `repeat` runs from 1 to {MAX_ITERATIONS} iterations; each is recorded with ids of its own"
            )),
        });
        1
    }

    /// An `until` that reads nothing an iteration writes is judged the same
    /// after every iteration: the loop either stops after the first or runs
    /// to its bound and fails.
    fn until_reads_body(&mut self, repeat: &Repeat, ctx: &Ctx<'a>) {
        let mut written = HashSet::new();
        body_names(&repeat.items, &mut written);
        let mut paths = Vec::new();
        crate::conditions::collect_paths(&repeat.until, &mut paths);
        let reads_body = paths.iter().any(|path| {
            path.segments
                .first()
                .is_some_and(|head| written.contains(head.name.as_str()))
        });
        if reads_body || calls(&repeat.until) {
            return;
        }
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::warning(
                "rbx::lint::until_reads_no_iteration",
                "this `until` reads nothing an iteration of the `repeat` records",
            )
            .primary(repeat.until.span, "the same after every iteration")
            .help(
                "test what a node inside the `repeat` found, such as the evidence of a \
                 manual step (`investigate.known`) or a step's capture",
            ),
        });
    }
}

/// The ids of the nodes written in `items`, at any depth.
fn body_names<'i>(items: &'i [StageItem], out: &mut HashSet<&'i str>) {
    for item in items {
        match &item.kind {
            StageItemKind::Block(block) => {
                out.insert(block.id.name.as_str());
            }
            StageItemKind::Anchor(anchor) => {
                out.insert(anchor.id.name.as_str());
            }
            StageItemKind::Checklist(list) => {
                out.insert(list.id.name.as_str());
                body_names(&list.items, out);
            }
            StageItemKind::Foreach(foreach) => body_names(&foreach.items, out),
            StageItemKind::Parallel(parallel) => body_names(&parallel.items, out),
            StageItemKind::Repeat(repeat) => body_names(&repeat.items, out),
            StageItemKind::Every(every) => body_names(&every.items, out),
            StageItemKind::Require(_)
            | StageItemKind::On(_)
            | StageItemKind::Then(_)
            | StageItemKind::End(_)
            | StageItemKind::Again(_)
            | StageItemKind::Call(_)
            | StageItemKind::Finally(_) => {}
        }
    }
}

/// Whether an expression calls a function (`now()`, `count(…)`), whose
/// value can change between iterations by itself.
fn calls(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Call { .. } => true,
        ExprKind::Or(items)
        | ExprKind::And(items)
        | ExprKind::List(items)
        | ExprKind::Default(items)
        | ExprKind::Product(items) => items.iter().any(calls),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => calls(inner),
        ExprKind::Compare { lhs, rhs, .. } => calls(lhs) || calls(rhs),
        ExprKind::Sum { first, rest } => calls(first) || rest.iter().any(|(_, r)| calls(r)),
        ExprKind::Path(_)
        | ExprKind::String(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Regex(_) => false,
    }
}
