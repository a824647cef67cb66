//! A node's own condition (`when EXPR`): once control reaches a node, it
//! decides whether the node runs or is skipped. The dispatcher judges it
//! before anything of the node happens, and `rbx confirm` judges it the
//! same way (rule P2), through [`judge`].

use std::collections::HashMap;

use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::Expr;

use crate::expand::{Plan, XNode};
use crate::state::RunState;
use crate::value::{self, Env, Value};

use super::Shared;
use super::env::{NodeEnv, View, read};

/// What a node's condition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judged {
    /// It has none, or it holds.
    Runs,
    /// It does not hold; the condition as written.
    Skipped(String),
    /// It could not be evaluated: the node fails, with this reason.
    Failed(String),
}

/// The condition of the checked node behind `node`, if it has one.
fn condition<'g>(graph: &'g Graph, node: &XNode) -> Option<&'g Expr> {
    match &graph.graph[node.check].kind {
        NodeKind::Block(block) => block.condition(),
        NodeKind::Guard { condition } => Some(condition),
        _ => None,
    }
}

/// Judges `node`'s condition in `env`.
pub(crate) fn judge(graph: &Graph, node: &XNode, env: &dyn Env) -> Judged {
    let Some(condition) = condition(graph, node) else {
        return Judged::Runs;
    };
    let text = rbx_syntax::fmt::expr(condition);
    match value::truth(condition, env) {
        Ok(true) => Judged::Runs,
        Ok(false) => Judged::Skipped(text),
        Err(why) => Judged::Failed(format!("the condition `{text}` could not be judged: {why}")),
    }
}

/// Judges `node`'s condition while the run is driven; with it, the moment
/// `now()` read if the condition asked for it, for the record.
pub(crate) fn judge_driven(shared: &Shared, node: &XNode, view: &View) -> (Judged, Option<i64>) {
    let env = NodeEnv {
        shared,
        view,
        counted: std::sync::Mutex::default(),
        inputs: None,
        now: std::sync::OnceLock::new(),
    };
    let judged = judge(&shared.graph, node, &env);
    (judged, env.now.get().copied())
}

/// What a stopped run's node reads, from its journal and stored inputs:
/// how `rbx confirm` judges a condition without driving the run.
pub(crate) struct Stored<'a> {
    pub(crate) view: View,
    pub(crate) inputs: &'a HashMap<String, Value>,
    pub(crate) roles: crate::roles::Roles,
    pub(crate) links_set: &'a HashMap<String, bool>,
}

impl<'a> Stored<'a> {
    pub(crate) fn of(
        state: &RunState,
        plan: &Plan,
        node: &XNode,
        graph: &Graph,
        procedure: &'a crate::Procedure,
        inputs: &'a HashMap<String, Value>,
    ) -> Stored<'a> {
        Stored {
            view: View::of(state, plan, node, graph),
            inputs,
            roles: crate::roles::Roles::of(procedure, state),
            links_set: &procedure.links_set,
        }
    }
}

impl Env for Stored<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        read(&self.view, self.inputs, path)
    }

    fn role_filled(&self, role: &str) -> bool {
        self.roles.filled(role)
    }

    fn link_set(&self, link: &str) -> bool {
        self.links_set.get(link).copied().unwrap_or(false)
    }

    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("`count()` is judged only while the run is driven".to_string())
    }

    /// `rbx confirm` judges a condition now, on the system clock.
    fn now(&self) -> i64 {
        super::now_ms()
    }
}
