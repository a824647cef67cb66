//! Writing a node's settlement to the journal.

use std::time::{SystemTime, UNIX_EPOCH};

use rbx_store::Store;
use serde_json::json;

use crate::people;
use crate::state::{self, NodeState, Status, kind};

use super::{Done, Shared};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Appends an event, durable when this returns.
pub(crate) async fn record(
    shared: &Shared,
    kind: &'static str,
    payload: serde_json::Value,
) -> Result<u64, String> {
    write(shared, kind, payload, false).await
}

/// Appends an event; `deferred`, it becomes durable with the next durable
/// write ([`Store::append_deferred`]).
async fn write(
    shared: &Shared,
    kind: &'static str,
    mut payload: serde_json::Value,
    deferred: bool,
) -> Result<u64, String> {
    people::with_account(&mut payload, &shared.options.account);
    let run = shared.run.clone();
    shared
        .journal
        .call(move |s: &mut dyn Store| {
            if deferred {
                s.append_deferred(&run, kind, &payload)
            } else {
                s.append(&run, kind, &payload)
            }
        })
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn finish(
    shared: &Shared,
    id: &str,
    attempt: u32,
    mut node: NodeState,
    extra: serde_json::Value,
) -> Done {
    let mut payload = json!({
        "node": id,
        "attempt": attempt,
        "status": node.status.as_str(),
        "captures": state::captures_json(&node.captures),
    });
    if let (Some(obj), Some(more)) = (payload.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    if let Some(branch) = &node.branch {
        payload["branch"] = json!(branch);
    }
    if let Some(reason) = &node.reason {
        payload["reason"] = json!(reason);
    }
    if let Some(ms) = node.duration_ms {
        payload["duration_ms"] = json!(ms);
    }
    // Deferred: the next durable write — the start of the node after this
    // one, which must be durable before that node acts — flushes both at
    // once (book: Execution, "Durability").
    match write(shared, kind::NODE_FINISHED, payload, true).await {
        Ok(seq) => {
            node.attempts = attempt;
            node.finished_seq = Some(seq);
            node.finished_at = Some(shared.options.clock.now_ms());
            Done::Settled(node)
        }
        Err(e) => Done::Broken(e),
    }
}

pub(crate) fn settled(status: Status, reason: Option<String>) -> NodeState {
    NodeState {
        status,
        reason,
        ..NodeState::default()
    }
}

/// Settles a node as failed for `why`.
pub(crate) async fn fail(shared: &Shared, id: &str, attempt: u32, why: String) -> Done {
    finish(
        shared,
        id,
        attempt,
        settled(Status::Failed, Some(why)),
        json!({}),
    )
    .await
}
