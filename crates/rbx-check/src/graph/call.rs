//! Lowering a `call`: a fresh instance of a stage with parameters, in
//! place, as `again` lowers one, with the frame that binds its parameters
//! to the call's arguments.
//!
//! An instance's ids are its stage's with `#N`, numbered in the order the
//! calls are written (`drain#1`, `drain#2`): the same every time the
//! snapshot is lowered, so a resumed run finds each instance's record.

use rbx_syntax::ast::{BlockKind, Call, Expr, Param, StageItem, StageItemKind, StmtKind};

use super::{Ctx, Frontier, Lowerer, Origin};

/// One `call` instance: what its nodes read for their stage's parameters.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct CallFrame {
    /// The stage called.
    pub stage: String,
    /// The stage instance that holds the `call`, whose scope the arguments
    /// are read in: a `call` instance too when calls nest.
    pub caller: String,
    /// How many loops are around the `call`: the first `depth` loop items
    /// of a node of the instance are the caller's.
    pub depth: usize,
    /// Each parameter, in the order declared, with its argument (`None`
    /// when the call leaves it out, which lint reports).
    pub bindings: Vec<(Param, Option<Expr>)>,
    pub origin: Origin,
}

impl CallFrame {
    /// The argument for `name`, when it is a parameter of this stage.
    pub fn argument(&self, name: &str) -> Option<(&Param, Option<&Expr>)> {
        self.bindings
            .iter()
            .find(|(param, _)| param.name.name == name)
            .map(|(param, arg)| (param, arg.as_ref()))
    }

    /// `host = "db-1", phase = pre`: the arguments as written, for views.
    pub fn arguments_written(&self) -> String {
        let written: Vec<String> = self
            .bindings
            .iter()
            .filter_map(|(param, arg)| {
                let arg = arg.as_ref()?;
                Some(format!(
                    "{} = {}",
                    param.name.name,
                    rbx_syntax::fmt::expr(arg)
                ))
            })
            .collect();
        written.join(", ")
    }
}

impl<'a> Lowerer<'a> {
    /// Why `call` cannot stand in `finally`, where every node runs and
    /// goes on to the next: the stage it runs branches, routes or runs
    /// other stages.
    pub(super) fn unsafe_call(&self, call: &Call) -> Option<&'static str> {
        let &(_, stage) = self.stages.get(call.stage.name.as_str())?;
        unsafe_items(&stage.items).then_some("a call of a stage that branches or routes")
    }

    pub(super) fn call(
        &mut self,
        call: &'a Call,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        let Some(&(_, stage)) = self.stages.get(call.stage.name.as_str()) else {
            return frontier;
        };
        // Calling a stage without parameters is reported; it has a primary
        // instance, and `again` is how it runs again.
        let Some(params) = &stage.params else {
            return frontier;
        };
        let bindings = params
            .iter()
            .map(|param| {
                let arg = call
                    .args
                    .iter()
                    .find(|a| a.name.name == param.name.name)
                    .map(|a| a.value.clone());
                (param.clone(), arg)
            })
            .collect();
        let frame = CallFrame {
            stage: call.stage.name.clone(),
            caller: ctx.instance.clone(),
            depth: ctx.fanout.len(),
            bindings,
            origin,
        };
        self.instance(
            &call.stage,
            &call.routes,
            ctx,
            frontier,
            origin,
            Some(frame),
        )
    }
}

/// Whether any of `items` branches, routes, or runs another stage.
fn unsafe_items(items: &[StageItem]) -> bool {
    items.iter().any(|item| match &item.kind {
        StageItemKind::Block(block) => {
            matches!(block.kind, BlockKind::Decide | BlockKind::Choose)
                || block.body.iter().any(|s| matches!(s.kind, StmtKind::On(_)))
        }
        StageItemKind::Again(_) | StageItemKind::Call(_) => true,
        StageItemKind::Foreach(foreach) => unsafe_items(&foreach.items),
        StageItemKind::Parallel(parallel) => unsafe_items(&parallel.items),
        StageItemKind::Checklist(list) => unsafe_items(&list.items),
        StageItemKind::Finally(items) => unsafe_items(items),
        // Reaching its bound fails the loop, which takes a route.
        StageItemKind::Repeat(_) => true,
        StageItemKind::Every(every) => unsafe_items(&every.items),
        StageItemKind::Require(_)
        | StageItemKind::On(_)
        | StageItemKind::Then(_)
        | StageItemKind::End(_)
        | StageItemKind::Anchor(_) => false,
    })
}
