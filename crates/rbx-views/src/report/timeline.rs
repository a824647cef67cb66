//! The journal as a timeline: one line per event, in words.

use rbx_engine::state::kind;
use rbx_store::Event;
use serde_json::Value as Json;

use super::TimelineEntry;
use super::words::{cancelled_text, duration_text};

/// A line of the timeline as Markdown and HTML show it: an event, or a run
/// of consecutive `node_skipped` events as one line.
pub(super) enum Line<'r> {
    Event(&'r TimelineEntry),
    Skipped(&'r [TimelineEntry]),
}

/// The timeline with each run of two or more skips folded into one line.
pub(super) fn lines(timeline: &[TimelineEntry]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < timeline.len() {
        let skips = timeline[at..]
            .iter()
            // A skip that says why (a condition, a missed iteration) is a
            // line of its own.
            .take_while(|e| {
                e.kind == kind::NODE_SKIPPED
                    && e.payload.get("condition").is_none()
                    && e.payload.get("missed").is_none()
            })
            .count();
        if skips >= 2 {
            out.push(Line::Skipped(&timeline[at..at + skips]));
            at += skips;
        } else {
            out.push(Line::Event(&timeline[at]));
            at += 1;
        }
    }
    out
}

/// `skipped, not on the run's path: a.b, a.c, d.e`.
pub(super) fn skipped_summary(skipped: &[TimelineEntry]) -> String {
    let nodes: Vec<&str> = skipped.iter().filter_map(|e| e.node.as_deref()).collect();
    format!(
        "{} nodes skipped, not on the run's path: {}",
        nodes.len(),
        nodes.join(", ")
    )
}

fn text(payload: &Json, key: &str) -> Option<String> {
    payload.get(key).and_then(Json::as_str).map(str::to_string)
}

fn millis(payload: &Json, key: &str) -> String {
    payload
        .get(key)
        .and_then(Json::as_u64)
        .map_or_else(|| "?".to_string(), duration_text)
}

pub(super) fn timeline_entry(event: &Event) -> TimelineEntry {
    let p = &event.payload;
    let summary = node_summary(&event.kind, p).unwrap_or_else(|| run_summary(&event.kind, p));
    TimelineEntry {
        seq: event.seq,
        time: event.time.clone(),
        kind: event.kind.clone(),
        node: text(p, "node"),
        summary,
        payload: p.clone(),
    }
}

fn get(p: &Json, key: &str) -> String {
    text(p, key).unwrap_or_default()
}

fn attempt_of(p: &Json) -> u64 {
    p.get("attempt").and_then(Json::as_u64).unwrap_or(0)
}

/// ` (exit N)` when the event records an exit status.
fn exit_of(p: &Json) -> String {
    p.get("exit")
        .and_then(Json::as_i64)
        .map_or(String::new(), |e| format!(" (exit {e})"))
}

/// ` by OPERATOR on HOST`, as far as the event records them.
fn by(p: &Json) -> String {
    let mut s = String::new();
    if let Some(op) = text(p, "operator") {
        s.push_str(&format!(" by {op}"));
    }
    if let Some(host) = text(p, "host") {
        s.push_str(&format!(" on {host}"));
    }
    s
}

/// What an event about one node says, or `None` for another event.
fn node_summary(kind: &str, p: &Json) -> Option<String> {
    let get = |key: &str| get(p, key);
    let attempt = attempt_of(p);
    let exit = exit_of(p);
    Some(match kind {
        kind::NODE_STARTED => {
            let command = text(p, "command").map_or(String::new(), |c| format!(": {c}"));
            format!("attempt {attempt} started{}{command}", by(p))
        }
        kind::ATTEMPT_FAILED => {
            let mut s = format!("attempt {attempt} failed{exit}: {}", get("reason"));
            if let Some(after) = p.get("retry_after_ms").and_then(Json::as_u64) {
                s.push_str(&format!(
                    "; retried after {}: {}",
                    rbx_syntax::fmt::duration(after),
                    get("retry_because")
                ));
            }
            s
        }
        kind::WAIT_POLLED => {
            let poll = p.get("poll").and_then(Json::as_u64).unwrap_or(0);
            let held = p.get("held").and_then(Json::as_bool).unwrap_or(false);
            match text(p, "reason") {
                _ if held => format!("poll {poll}{exit}: holds"),
                Some(reason) => format!("poll {poll}{exit}: not yet, {reason}"),
                None => format!("poll {poll}{exit}: not yet"),
            }
        }
        kind::NODE_SKIPPED if p.get("missed").and_then(Json::as_bool) == Some(true) => format!(
            "missed: iteration {} was due {}, and its interval passed without it starting",
            p.get("iteration").map_or(String::new(), Json::to_string),
            get("due")
        ),
        kind::NODE_SKIPPED => match text(p, "condition") {
            Some(condition) => format!("skipped: {}", rbx_engine::state::skipped_by(&condition)),
            None => "skipped: not on the run's path".to_string(),
        },
        kind::ITERATION_DUE => format!(
            "iteration {} of its `every` is due at {}",
            p.get("iteration").map_or(String::new(), Json::to_string),
            p.get("due")
                .and_then(Json::as_i64)
                .map_or(String::new(), rbx_engine::format_time)
        ),
        kind::IN_DOUBT => format!(
            "in doubt after attempt {attempt}: {} ({})",
            get("decision"),
            get("why")
        ),
        kind::RETRY => "the failed node runs again".to_string(),
        kind::RERUN_FROM => format!("re-run from here{}: {}", by(p), get("reason")),
        kind::SIGNOFF_RECORDED => format!(
            "{} for {}: {}, waiting for the other approvers{} via {}",
            get("by"),
            get("role"),
            get("decision"),
            by(p),
            get("via")
        ),
        kind::CONFIRMED => format!(
            "point of no return confirmed{}{}",
            by(p),
            text(p, "via").map_or(String::new(), |v| format!(" via {v}"))
        ),
        kind::HOOK_RAN => format!("hook `{}` ran: {}", get("event"), get("detail")),
        kind::HOOK_FAILED => format!("hook `{}` failed: {}", get("event"), get("detail")),
        kind::NODE_FINISHED => finished(p),
        _ => return None,
    })
}

/// What a node's finish says: how it settled, its branch, what `now()`
/// read and when a wait was due (the record of the time a node went
/// by), why, and who.
fn finished(p: &Json) -> String {
    let get = |key: &str| get(p, key);
    let attempt = attempt_of(p);
    let status = match get("status").as_str() {
        "succeeded" => "done",
        "cancelled" => "cancelled",
        _ => "failed",
    };
    let mut s = status.to_string();
    let exit = p.get("exit").and_then(Json::as_i64);
    match (attempt, exit) {
        (0, None) => {}
        (0, Some(e)) => s.push_str(&format!(" (exit {e})")),
        (a, None) => s.push_str(&format!(" (attempt {a})")),
        (a, Some(e)) => s.push_str(&format!(" (attempt {a}, exit {e})")),
    }
    if let Some(branch) = text(p, "branch") {
        s.push_str(&format!(" → {branch}"));
    }
    // What `now()` read when the node decided, and when a wait
    // was due: the record of the time a node went by.
    if let Some(now) = text(p, "now") {
        s.push_str(&format!(" (now() read {now})"));
    }
    if let Some(due) = text(p, "due") {
        s.push_str(&format!(" (due {due})"));
    }
    if let Some(reason) = text(p, "reason") {
        s.push_str(&format!(": {reason}"));
    }
    s.push_str(&by(p));
    if let Some(via) = text(p, "via") {
        s.push_str(&format!(" via {via}"));
    }
    s
}

/// What an event about the whole run says.
fn run_summary(kind: &str, p: &Json) -> String {
    let get = |key: &str| get(p, key);
    match kind {
        kind::RUN_STARTED => format!(
            "run started (pid {})",
            p.get("pid").map_or(String::new(), Json::to_string)
        ),
        kind::RUN_RESUMED => format!(
            "run resumed{} (pid {})",
            by(p),
            p.get("pid").map_or(String::new(), Json::to_string)
        ),
        kind::EVERY_STOPPED => format!(
            "the work beside its `every` has settled: {} node(s) of iterations not begun are skipped",
            p.get("skipped")
                .and_then(Json::as_array)
                .map_or(0, Vec::len)
        ),
        kind::FLOW_LEFT => format!(
            "left the flow of stage {} by its route; nothing more of it starts",
            get("flow")
        ),
        kind::RUN_PAUSED => "paused: waiting for a person".to_string(),
        kind::RUN_INTERRUPTED => "interrupted".to_string(),
        kind::RUN_WAITING => format!(
            "stopped until the node is due at {}",
            p.get("due")
                .and_then(Json::as_i64)
                .map_or(String::new(), rbx_engine::format_time)
        ),
        kind::RUN_FAILED => format!("run failed: {}", get("reason")),
        kind::FINALLY_STARTED => match text(p, "failed") {
            Some(node) => format!("the run failed at {node}; its clean-up (finally) runs"),
            None => format!(
                "the run reached `{}`; its clean-up (finally) runs",
                get("outcome")
            ),
        },
        kind::CLEANUP_STARTED => match p.get("at_end").and_then(Json::as_bool) {
            Some(true) => format!(
                "the run ends with {} started: its clean-up (finally) runs",
                get("stage")
            ),
            _ => format!("{} is left: its clean-up (finally) runs", get("stage")),
        },
        kind::RUN_ENDED => match p.get("success").and_then(Json::as_bool) {
            Some(true) => format!("run ended: {} (success)", get("outcome")),
            Some(false) => format!("run ended: {} (failure)", get("outcome")),
            None => format!("run ended: {}", get("outcome")),
        },
        kind::RUN_CANCELLED => {
            let reason = text(p, "reason");
            format!(
                "run {}",
                cancelled_text(text(p, "operator").as_deref(), reason.as_deref())
            )
        }
        kind::STAGE_OVERRUN => format!(
            "stage {} overran its budget: {} of {}",
            get("stage"),
            millis(p, "elapsed_ms"),
            millis(p, "budget_ms")
        ),
        kind::CHECKPOINT => "the run's state so far, which a resume reads".to_string(),
        other => format!("{other} (an event this rbx does not know)"),
    }
}
