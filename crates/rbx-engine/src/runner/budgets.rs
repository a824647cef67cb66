//! Budgets over the whole run or several stages together: `within 4h`,
//! `within 90m for freeze, ship`, `deadline release + 2h for ship`.
//!
//! Checked as a stage's own `within` is: after a node the budget covers
//! settles. Past its limit, the run says so once, records a
//! `stage_overrun` event labelled with what the budget covers (`run`,
//! `freeze+ship`) and runs the `overrun` hook. A deadline that cannot be
//! computed yet (its anchor not reached) is not checked yet.

use std::collections::{HashMap, HashSet};

use rbx_check::graph::NodeKind;
use rbx_syntax::ast::{Budget, HookEvent, Limit};
use serde_json::json;

use crate::expand::Plan;
use crate::observer::Tone;
use crate::state::{RunState, kind};
use crate::value::{self, Value};

use super::Shared;
use super::env::{NodeEnv, View, base_name};
use super::hooks::hook;
use super::record::record;

pub(crate) async fn run_budgets(
    shared: &Shared,
    plan: &Plan,
    state: &RunState,
    x: usize,
    reported: &mut HashSet<String>,
) -> Result<(), String> {
    let graph = &shared.graph.graph;
    let stage = graph[plan.nodes[x].check].stage.clone();
    let stage = stage.split('#').next().unwrap_or_default();
    for budget in &shared.budgets {
        let label = budget.label();
        let covers = budget.stages.is_empty() || budget.stages.iter().any(|s| s.name == stage);
        if !covers || reported.contains(&label) {
            continue;
        }
        let now = shared.options.clock.now_ms();
        let Some((over, detail)) = overrun(shared, state, budget, now) else {
            continue;
        };
        if !over {
            continue;
        }
        reported.insert(label.clone());
        let what = if budget.stages.is_empty() {
            "the run".to_string()
        } else {
            format!("stages {}", label.replace('+', ", "))
        };
        shared.options.observer.line(
            Tone::Note,
            &format!("warning: {what} went past {}", detail.0),
        );
        let mut payload = json!({ "stage": label, "budget": rbx_syntax::fmt::budget_text(budget) });
        if let Some(elapsed) = detail.1 {
            payload["elapsed_ms"] = json!(elapsed);
        }
        record(shared, kind::STAGE_OVERRUN, payload).await?;
        hook(
            shared,
            HookEvent::Overrun,
            &[("RBX_STAGE", &label), ("RBX_BUDGET", &detail.0)],
        )
        .await;
    }
    Ok(())
}

/// Whether `budget` is over at `now`, with its limit in words and, for a
/// length of time, the time spent; `None` when it cannot be told yet.
fn overrun(
    shared: &Shared,
    state: &RunState,
    budget: &Budget,
    now: i64,
) -> Option<(bool, (String, Option<u64>))> {
    match &budget.limit {
        Limit::Within(limit) => {
            let started = started(shared, state, budget)?;
            let elapsed = u64::try_from(now - started).unwrap_or(0);
            let words = format!("its budget of {}", rbx_syntax::fmt::duration(limit.millis));
            Some((elapsed > limit.millis, (words, Some(elapsed))))
        }
        Limit::Deadline(deadline) => {
            let view = finished(state);
            let env = NodeEnv {
                shared,
                view: &view,
                counted: std::sync::Mutex::default(),
                inputs: None,
                now: std::sync::OnceLock::from(now),
            };
            let Ok(Value::Timestamp(due)) = value::eval(deadline, &env) else {
                return None;
            };
            let words = format!("its deadline, {}", rbx_syntax::time::format_timestamp(due));
            Some((now > due, (words, None)))
        }
    }
}

/// When the run, or the first of the budget's stages, started.
fn started(shared: &Shared, state: &RunState, budget: &Budget) -> Option<i64> {
    let graph = &shared.graph;
    state
        .nodes
        .iter()
        .filter(|(id, _)| {
            let base = id.split('#').next().unwrap_or_default();
            graph
                .node(id)
                .is_some_and(|n| matches!(graph.graph[n].kind, NodeKind::StageStart { .. }))
                && (budget.stages.is_empty() || budget.stages.iter().any(|s| s.name == base))
        })
        .filter_map(|(_, node)| node.finished_at)
        .min()
}

/// What a budget's deadline can read: every finished node, by its id in
/// the runbook, the latest instance of each.
fn finished(state: &RunState) -> View {
    let mut latest: HashMap<String, &crate::state::NodeState> = HashMap::new();
    for (id, node) in &state.nodes {
        let (Some(name), Some(seq)) = (base_name(id), node.finished_seq) else {
            continue;
        };
        if latest
            .get(&name)
            .is_none_or(|other| other.finished_seq < Some(seq))
        {
            latest.insert(name, node);
        }
    }
    View {
        fields: latest
            .into_iter()
            .map(|(name, n)| {
                let seen = (
                    n.status,
                    n.captures.clone(),
                    n.branch.clone(),
                    n.finished_at,
                );
                (name, seen)
            })
            .collect(),
        ..View::default()
    }
}
