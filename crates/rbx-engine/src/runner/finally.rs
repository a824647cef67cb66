//! The runbook's `finally` block (rules X1–X4 of the execution semantics):
//! once a run's end is decided — an outcome reached, a failure with no
//! route, a cancel — the journal records how it would end
//! (`finally_started`), the block's nodes run, and only then does the run
//! end, with the clean-up's failures told, never hidden.

use rbx_check::symbols::is_cleanup;
use rbx_syntax::ast::HookEvent;
use serde_json::{Value as Json, json};

use crate::Exit;
use crate::expand::Plan;
use crate::state::{RunState, Status, kind};

use super::Shared;
use super::hooks::hook;

/// The payload of `finally_started` for a run that reached `outcome`.
pub(crate) fn ended(shared: &Shared, outcome: &str) -> Json {
    let success = shared.graph.outcomes.get(outcome).is_none_or(|c| c.success);
    json!({ "outcome": outcome, "success": success })
}

/// The payload of `finally_started` for a run that failed at `node`.
pub(crate) fn failed(state: &RunState, node: &str) -> Json {
    let reason = state
        .nodes
        .get(node)
        .and_then(|n| n.reason.clone())
        .unwrap_or_default();
    json!({ "failed": node, "reason": reason })
}

/// The clean-up nodes that failed or that a cancel stopped (rule X5) — of
/// the runbook's `finally` and of every stage's — in the order they
/// settled.
pub(crate) fn failures(plan: &Plan, state: &RunState) -> Vec<(String, String)> {
    let mut failed: Vec<(u64, String, String)> = plan
        .nodes
        .iter()
        .filter(|n| is_cleanup(&n.flow))
        .filter_map(|n| {
            let ns = state.nodes.get(&n.id)?;
            matches!(ns.status, Status::Failed | Status::Cancelled).then(|| {
                let reason = ns.reason.clone().unwrap_or_default();
                (ns.finished_seq.unwrap_or(0), n.id.clone(), reason)
            })
        })
        .collect();
    failed.sort();
    failed.into_iter().map(|(_, id, why)| (id, why)).collect()
}

/// Ends the run once its clean-up is over (rule X3): as decided before it,
/// unless the clean-up failed, which fails a run that would have ended —
/// and is listed beside the failure of a run that failed already.
pub(crate) async fn conclude(shared: &Shared, plan: &Plan, state: &RunState, end: &Json) -> Exit {
    let cleanup = failures(plan, state);
    let listed: Vec<&str> = cleanup.iter().map(|(id, _)| id.as_str()).collect();
    let text = |key: &str| {
        end.get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (node, reason, outcome) = if let Some(node) = end.get("failed").and_then(Json::as_str) {
        (node.to_string(), text("reason"), None)
    } else if let Some((node, why)) = cleanup.first() {
        let outcome = text("outcome");
        let reason = format!("clean-up failed after the run reached `{outcome}`: {why}");
        (node.clone(), reason, Some(outcome))
    } else {
        let outcome = text("outcome");
        let success = end.get("success").and_then(Json::as_bool).unwrap_or(false);
        let status = format!("ended:{outcome}");
        let payload = json!({ "outcome": outcome, "success": success });
        let recorded =
            super::dispatch::stopping(shared, kind::RUN_ENDED, payload, status, None).await;
        let class = if success { "success" } else { "failure" };
        let details = [
            ("RBX_OUTCOME", outcome.as_str()),
            ("RBX_OUTCOME_CLASS", class),
        ];
        hook(shared, HookEvent::End, &details).await;
        return recorded.map_or_else(Exit::Broken, |()| Exit::Ended { outcome, success });
    };
    let mut payload = json!({ "node": node, "reason": reason, "cleanup_failed": listed });
    if let Some(outcome) = outcome {
        payload["outcome"] = json!(outcome);
    }
    let recorded =
        super::dispatch::stopping(shared, kind::RUN_FAILED, payload, "failed".into(), None).await;
    let details = [("RBX_OUTCOME", "failed"), ("RBX_STEP", node.as_str())];
    hook(shared, HookEvent::End, &details).await;
    recorded.map_or_else(Exit::Broken, |()| Exit::Failed { node, reason })
}
