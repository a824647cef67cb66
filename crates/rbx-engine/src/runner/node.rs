//! One node's task: requirements checked, then the work its kind calls for.

use std::time::Duration;

use rbx_check::graph::NodeKind;
use rbx_syntax::ast::{Anchor, Block, BlockKind, Require, StmtKind, Text};
use serde_json::json;

use crate::state::Status;
use crate::value::{self, Env, Value};

use super::decide::decide;
use super::env::{NodeEnv, Rendered, View, render};
use super::person::person;
use super::record::{fail, finish, settled};
use super::step::step;
use super::tally::tally;
use super::wait::wait;
use super::{Done, Shared};

/// Runs `node`. `now` is the moment its own condition read, if it read
/// one: every `now()` the node evaluates is that same moment.
pub(crate) async fn execute(
    shared: &Shared,
    node: &crate::expand::XNode,
    view: View,
    attempts: u32,
    now: Option<i64>,
) -> Done {
    let env = NodeEnv {
        shared,
        view: &view,
        counted: std::sync::Mutex::default(),
        inputs: None,
        now: now.map(std::sync::OnceLock::from).unwrap_or_default(),
    };
    let check = &shared.graph.graph[node.check];
    match &check.kind {
        NodeKind::StageStart { requires, .. } => stage_start(shared, node, requires, &env).await,
        NodeKind::Anchor(anchor) => anchor_time(shared, node, anchor, &env).await,
        NodeKind::Checklist { items, .. } => {
            let done = checklist_verdict(items, &view);
            finish(shared, &node.id, 0, done, json!({})).await
        }
        NodeKind::End { .. } => {
            finish(
                shared,
                &node.id,
                0,
                settled(Status::Succeeded, None),
                json!({}),
            )
            .await
        }
        NodeKind::Tally { tolerate, .. } => tally(shared, node, tolerate, &view).await,
        // Its condition held (the dispatcher judged it before): into the
        // block (rule W5).
        NodeKind::Guard { .. } => {
            let mut state = settled(Status::Succeeded, None);
            state.branch = Some(rbx_check::graph::guard::HELD.to_string());
            finish(shared, &node.id, 0, state, json!({})).await
        }
        // A tick is settled by the dispatcher at its due time (rule V2).
        NodeKind::Tick { .. } => Done::Broken(format!(
            "internal: the tick {} was started as a task; the dispatcher settles ticks",
            node.id
        )),
        NodeKind::Until { until, at_most } => {
            super::repeat::until(shared, node, until, *at_most, &env).await
        }
        NodeKind::Block(block) => run_block(shared, node, block, &env, attempts).await,
    }
}

/// A stage instance's start: its time noted for `within`, then its
/// preconditions.
async fn stage_start(
    shared: &Shared,
    node: &crate::expand::XNode,
    requires: &[Require],
    env: &NodeEnv<'_>,
) -> Done {
    if let Ok(mut started) = shared.stage_started.lock() {
        started.insert(node.id.clone(), shared.options.clock.now_ms());
    }
    let state = match requirements(requires, env) {
        Ok(()) => settled(Status::Succeeded, None),
        Err(why) => settled(Status::Failed, Some(why)),
    };
    let details = env.stamped(super::call::recorded(env.view));
    finish(shared, &node.id, 0, state, details).await
}

/// An anchor: the moment it is reached, or the time its `at` gives, as its
/// capture `time`.
async fn anchor_time(
    shared: &Shared,
    node: &crate::expand::XNode,
    anchor: &Anchor,
    env: &NodeEnv<'_>,
) -> Done {
    shared.options.executor.attend(&node.id).await;
    let time = match &anchor.at {
        None => shared.options.clock.now_ms(),
        Some(at) => match value::eval(at, env) {
            Ok(Value::Timestamp(ms)) => ms,
            Ok(other) => {
                let why = format!("`at` gave {other}, not a time");
                return fail(shared, &node.id, 0, why).await;
            }
            Err(why) => return fail(shared, &node.id, 0, why).await,
        },
    };
    let mut state = settled(Status::Succeeded, None);
    state
        .captures
        .insert("time".to_string(), Value::Timestamp(time));
    finish(shared, &node.id, 0, state, env.stamped(json!({}))).await
}

/// A block of the runbook: its `require` lines, then the work of its kind.
async fn run_block(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempts: u32,
) -> Done {
    let requires: Vec<Require> = block
        .body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Require(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    if let Err(why) = requirements(&requires, env) {
        let failed = settled(Status::Failed, Some(why));
        return finish(shared, &node.id, attempts, failed, env.stamped(json!({}))).await;
    }
    match block.kind {
        BlockKind::Step => step(shared, node, block, env, attempts).await,
        BlockKind::Wait => wait(shared, node, block, env, attempts).await,
        BlockKind::Decide => decide(shared, node, block, env).await,
        BlockKind::Child => {
            let record = env.view.child.as_ref();
            super::child::child(shared, node, block, env, attempts, record).await
        }
        // A gate of `require` lines alone is checked by rbx, above; one
        // with `attest` lines waits for people.
        BlockKind::Gate
            if !block
                .body
                .iter()
                .any(|s| matches!(s.kind, StmtKind::Attest { .. })) =>
        {
            let passed = settled(Status::Succeeded, None);
            finish(shared, &node.id, attempts, passed, json!({})).await
        }
        BlockKind::Manual | BlockKind::Choose | BlockKind::Gate | BlockKind::Signoff => {
            person(shared, node, block, env).await
        }
    }
}

/// A checklist's verdict: failed when any item failed, naming each, with
/// the items that failed as its capture `failed` (in the order written).
fn checklist_verdict(items: &[String], view: &View) -> crate::state::NodeState {
    let failed: Vec<&String> = items
        .iter()
        .filter(|item| {
            view.fields
                .get(*item)
                .is_some_and(|seen| seen.0 == Status::Failed)
        })
        .collect();
    let mut state = if failed.is_empty() {
        settled(Status::Succeeded, None)
    } else {
        let names: Vec<&str> = failed.iter().map(|s| s.as_str()).collect();
        let reason = format!(
            "{} of {} items failed: {}",
            failed.len(),
            items.len(),
            names.join(", ")
        );
        settled(Status::Failed, Some(reason))
    };
    let list = failed.iter().map(|s| Value::Text((*s).clone())).collect();
    state
        .captures
        .insert("failed".to_string(), Value::List(list));
    state
}

pub(crate) fn requirements(requires: &[Require], env: &NodeEnv<'_>) -> Result<(), String> {
    for require in requires {
        match require {
            Require::Role(role) if !env.role_filled(&role.name) => {
                return Err(format!("the role `{}` is not filled", role.name));
            }
            Require::Link(link) if !env.link_set(&link.name) => {
                return Err(format!("the link `{}` is not set", link.name));
            }
            Require::Expr(expr) if !value::truth(expr, env)? => {
                return Err(format!("`{}` does not hold", rbx_syntax::fmt::expr(expr)));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn text_of(block: &Block, pick: fn(&StmtKind) -> Option<&Text>) -> Option<&Text> {
    block.body.iter().find_map(|s| pick(&s.kind))
}

/// The node's `timeout`: a duration as written, or computed now from
/// `timeout EXPR`; `Err` says why it could not be computed.
pub(crate) fn timeout_of(block: &Block, env: &NodeEnv<'_>) -> Result<Option<Duration>, String> {
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Timeout(d) => return Ok(Some(Duration::from_millis(d.millis))),
            StmtKind::TimeoutExpr(e) => {
                return match value::eval(e, env)? {
                    Value::Duration(ms) => Ok(Some(Duration::from_millis(ms))),
                    other => Err(format!(
                        "`timeout {}` gave {other}, not a duration",
                        rbx_syntax::fmt::expr(e)
                    )),
                };
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The node's `run` command rendered; `Err` with the node settled when it
/// has none (nothing to do) or a value it needs is missing.
pub(crate) async fn command(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempt: u32,
) -> Result<Rendered, Done> {
    let Some(text) = text_of(block, |k| match k {
        StmtKind::Run(t) => Some(t),
        _ => None,
    }) else {
        let done = settled(Status::Succeeded, None);
        return Err(finish(shared, &node.id, attempt, done, json!({})).await);
    };
    match render(text, env) {
        Ok(rendered) => Ok(rendered),
        Err(why) => Err(fail(shared, &node.id, attempt, why).await),
    }
}
