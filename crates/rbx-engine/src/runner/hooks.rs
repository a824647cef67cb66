//! Event hooks and stage budgets.

use std::sync::Arc;
use std::time::Duration;

use rbx_check::graph::NodeKind;
use rbx_syntax::ast::HookEvent;
use serde_json::json;
use tokio::sync::watch;

use crate::executor::{Call, Purpose, Unrun};
use crate::expand::Plan;
use crate::observer::Tone;
use crate::process::Spec;
use crate::state::{RunState, kind};

use super::Shared;
use super::env::{NodeEnv, View, render, secrets};
use super::record::record;

/// Runs the runbook's hook for `event`, with the event in environment
/// variables. A hook that fails is recorded and never stops the run.
pub(crate) async fn hook(shared: &Shared, event: HookEvent, details: &[(&str, &str)]) {
    for (on, command) in &shared.hooks {
        if *on != event {
            continue;
        }
        let mut env: Vec<(String, String)> = vec![
            ("RBX_EVENT".to_string(), event.keyword().to_string()),
            ("RBX_RUN".to_string(), shared.run.to_string()),
            ("RBX_RUNBOOK".to_string(), shared.runbook_id.clone()),
            ("RBX_OPERATOR".to_string(), shared.options.operator.clone()),
        ];
        env.extend(details.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // A hook reads the run's inputs; it is not a node, so nothing a
        // node captured is known to it.
        let view = View::default();
        let values = NodeEnv {
            shared,
            view: &view,
            counted: std::sync::Mutex::default(),
            inputs: None,
            now: std::sync::OnceLock::new(),
        };
        let outcome = match render(command, &values) {
            Ok(rendered) => {
                env.extend(rendered.env);
                // What a hook prints is recorded: never a secret in it.
                let spec = Spec {
                    command: rendered.run,
                    env,
                    timeout: Some(Duration::from_secs(30)),
                    secrets: Arc::new(secrets(shared)),
                    whole: Vec::new(),
                };
                let (_never, cancel) = watch::channel(false);
                let call = Call {
                    node: event.keyword(),
                    attempt: 0,
                    purpose: Purpose::Hook,
                    spec: &spec,
                };
                shared
                    .options
                    .executor
                    .run(call, Arc::new(|_, _| {}), cancel)
                    .await
                    .map_err(|e| match e {
                        Unrun::Start(e) => e.to_string(),
                        Unrun::Missing(why) => why,
                    })
            }
            Err(why) => Err(why),
        };
        let (ok, detail) = match outcome {
            Ok(f) if f.exit == Some(0) => (true, "exit 0".to_string()),
            Ok(f) if f.timed_out => (false, "timed out after 30s".to_string()),
            Ok(f) => (
                false,
                format!("exit {:?}: {}", f.exit, f.stderr.text().trim()),
            ),
            Err(why) => (false, why),
        };
        let kind = if ok {
            kind::HOOK_RAN
        } else {
            kind::HOOK_FAILED
        };
        if !ok {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "warning: the {} hook failed ({detail}); the run goes on",
                    event.keyword()
                ),
            );
        }
        let _ = record(
            shared,
            kind,
            json!({ "event": event.keyword(), "detail": detail }),
        )
        .await;
    }
}

/// After a node settles: if its stage instance has run past its `within`
/// budget, say so once, record it, and run the `overrun` hook.
pub(crate) async fn budget(
    shared: &Shared,
    plan: &Plan,
    state: &RunState,
    x: usize,
    reported: &mut std::collections::HashSet<String>,
) -> Result<(), String> {
    let graph = &shared.graph.graph;
    let stage = &graph[plan.nodes[x].check].stage;
    if reported.contains(stage) {
        return Ok(());
    }
    let Some(start) = shared.graph.node(stage) else {
        return Ok(());
    };
    let NodeKind::StageStart {
        within: Some(within),
        ..
    } = &graph[start].kind
    else {
        return Ok(());
    };
    let Some(started) = state.nodes.get(stage).and_then(|n| n.finished_at) else {
        return Ok(());
    };
    let elapsed = u64::try_from(shared.options.clock.now_ms() - started).unwrap_or(0);
    if elapsed <= *within {
        return Ok(());
    }
    reported.insert(stage.clone());
    let (spent, budget) = (
        rbx_syntax::fmt::duration(elapsed),
        rbx_syntax::fmt::duration(*within),
    );
    shared.options.observer.line(
        Tone::Note,
        &format!("warning: stage {stage} has taken {spent}, over its budget of {budget}"),
    );
    record(
        shared,
        kind::STAGE_OVERRUN,
        json!({ "stage": stage, "elapsed_ms": elapsed, "budget_ms": within }),
    )
    .await?;
    hook(
        shared,
        HookEvent::Overrun,
        &[
            ("RBX_STAGE", stage),
            ("RBX_ELAPSED", &spent),
            ("RBX_BUDGET", &budget),
        ],
    )
    .await;
    Ok(())
}

/// ` [smoke 4m12s of 30m]` for a node of a stage with a budget, else empty.
pub(crate) fn stage_clock(shared: &Shared, node: &crate::expand::XNode) -> String {
    let graph = &shared.graph.graph;
    let stage = &graph[node.check].stage;
    let Some(start) = shared.graph.node(stage) else {
        return String::new();
    };
    let NodeKind::StageStart {
        within: Some(within),
        ..
    } = &graph[start].kind
    else {
        return String::new();
    };
    let started = shared
        .stage_started
        .lock()
        .ok()
        .and_then(|s| s.get(stage).copied());
    let Some(started) = started else {
        return String::new();
    };
    let elapsed = u64::try_from(shared.options.clock.now_ms() - started).unwrap_or(0);
    format!(
        " [{stage} {} of {}]",
        rbx_syntax::fmt::duration(elapsed / 1000 * 1000),
        rbx_syntax::fmt::duration(*within)
    )
}
