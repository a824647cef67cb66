//! Waits: until a time, or polling a command until its expectations hold.

use std::sync::Arc;
use std::time::Duration;

use rbx_syntax::ast::{Block, Expr, StmtKind};
use serde_json::json;

use crate::executor::{Call, Purpose, Unrun};
use crate::observer::Tone;
use crate::process::{self, Spec, cancelled_signal};
use crate::state::{Status, kind};
use crate::value::{self, Value};

use super::env::{NodeEnv, secrets};
use super::node::{command, timeout_of};
use super::record::{fail, finish, record, settled};
use super::{Done, Shared};

pub(crate) async fn wait(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    previous: u32,
) -> Done {
    if let Some(until) = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Until(e) => Some(e),
        _ => None,
    }) {
        return wait_until(shared, node, until, env, previous).await;
    }
    let every = block
        .body
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Every(d) => Some(d.millis),
            _ => None,
        })
        .unwrap_or(10_000);
    let timeout = match timeout_of(block, env) {
        Ok(timeout) => timeout,
        Err(why) => return fail(shared, &node.id, previous, why).await,
    };
    let rendered = match command(shared, node, block, env, previous).await {
        Ok(rendered) => rendered,
        Err(done) => return done,
    };
    let attempt = previous + 1;
    if let Err(e) = record(
        shared,
        kind::NODE_STARTED,
        json!({
            "node": node.id,
            "attempt": attempt,
            "command": rendered.shown,
            "template": rendered.template,
        }),
    )
    .await
    {
        return Done::Broken(e);
    }
    let observer = &shared.options.observer;
    observer.line(
        Tone::Start,
        &format!(
            "▶ {} (polling every {}): {}",
            node.id,
            rbx_syntax::fmt::duration(every),
            rendered.shown
        ),
    );
    observer.running(&node.id);
    let done = poll(shared, node, block, &rendered, (attempt, every), timeout).await;
    observer.stopped();
    done
}

/// A wait `until` a time: done at once when it is due, slept through when
/// it is due within a minute, else the run stops until then.
async fn wait_until(
    shared: &Shared,
    node: &crate::expand::XNode,
    until: &Expr,
    env: &NodeEnv<'_>,
    previous: u32,
) -> Done {
    // A wait the run stopped for keeps the time it was due then.
    let recorded = shared.dues.get(&node.id).copied().map(Value::Timestamp);
    let due = match recorded.map_or_else(|| value::eval(until, env), Ok) {
        Ok(Value::Timestamp(due)) => due,
        Ok(Value::Bool(true)) => shared.options.clock.now_ms(),
        Ok(other) => {
            let why = format!("`until` gave {other}, not a time");
            return fail(shared, &node.id, previous, why).await;
        }
        Err(why) => return fail(shared, &node.id, previous, why).await,
    };
    let left = u64::try_from(due - shared.options.clock.now_ms()).unwrap_or(0);
    let observer = &shared.options.observer;
    // Longer than this, the run stops and is due again at `due`: an
    // operator need not keep a terminal open for hours. Simulated time
    // simply passes.
    if left > 60_000 && !shared.options.clock.is_simulated() {
        let left = rbx_syntax::fmt::duration(left);
        let line = format!("⏳ {} is due in {left}; the run stops until then", node.id);
        observer.line(Tone::Note, &line);
        return Done::Waiting(due);
    }
    if left > 0 {
        let shown = rbx_syntax::fmt::duration(left);
        observer.line(Tone::Note, &format!("⏳ {} waits {shown}", node.id));
        let mut cancel = shared.cancel.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(left)) => {}
            _ = cancelled_signal(&mut cancel) => return Done::Interrupted,
        }
    }
    let extra = env.stamped(json!({ "due": rbx_syntax::time::format_timestamp(due) }));
    let passed = settled(Status::Succeeded, None);
    finish(shared, &node.id, previous, passed, extra).await
}

/// Probes until the wait's expectations hold, its timeout passes or the
/// run is interrupted; each probe is journalled and shown.
async fn poll(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    rendered: &super::env::Rendered,
    (attempt, every): (u32, u64),
    timeout: Option<Duration>,
) -> Done {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut polls = 0u32;
    loop {
        polls += 1;
        let spec = Spec {
            command: rendered.run.clone(),
            env: rendered.env.clone(),
            timeout: Some(Duration::from_millis(every.max(1000))),
            secrets: Arc::new(secrets(shared)),
            whole: crate::expect::judged(block),
        };
        let call = Call {
            node: &node.id,
            attempt: polls,
            purpose: Purpose::Poll,
            spec: &spec,
        };
        let running = shared
            .options
            .executor
            .run(call, Arc::new(|_, _| {}), shared.cancel.clone());
        let finished = match running.await {
            Ok(f) => f,
            Err(Unrun::Start(e)) => {
                let why = format!("could not start `{}`: {e}", process::SHELL);
                return fail(shared, &node.id, attempt, why).await;
            }
            Err(Unrun::Missing(why)) => return Done::Broken(why),
        };
        if finished.cancelled {
            return Done::Interrupted;
        }
        let verdict = crate::expect::judge(block, &finished).await;
        if let Err(e) = probed(shared, node, attempt, polls, &finished, &verdict.outcome).await {
            return Done::Broken(e);
        }
        if verdict.outcome.is_ok() {
            return finish(
                shared,
                &node.id,
                attempt,
                settled(Status::Succeeded, None),
                json!({ "polls": polls }),
            )
            .await;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            let why = format!("still not true after {polls} polls");
            return finish(
                shared,
                &node.id,
                attempt,
                settled(Status::Failed, Some(why)),
                json!({ "polls": polls }),
            )
            .await;
        }
        let mut cancel = shared.cancel.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(every)) => {}
            _ = cancelled_signal(&mut cancel) => return Done::Interrupted,
        }
    }
}

/// The most of each stream a probe's record keeps: its last bytes.
const PROBE_KEEP: usize = 512;

/// Journals one probe and shows it as the running wait's label.
async fn probed(
    shared: &Shared,
    node: &crate::expand::XNode,
    attempt: u32,
    poll: u32,
    finished: &process::Finished,
    outcome: &Result<std::collections::BTreeMap<String, Value>, String>,
) -> Result<(), String> {
    let stdout = last_bytes(&finished.stdout, PROBE_KEEP);
    let stderr = last_bytes(&finished.stderr, PROBE_KEEP);
    let reason = outcome.as_ref().err();
    let exit = finished
        .exit
        .map_or_else(|| "no exit status".to_string(), |e| format!("exit {e}"));
    let last_line = [&stderr, &stdout]
        .iter()
        .find_map(|text| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("");
    let label = match reason {
        None => format!("{}: poll {poll}, {exit}, holds", node.id),
        Some(_) if last_line.is_empty() => format!("{}: poll {poll}, {exit}", node.id),
        Some(_) => format!("{}: poll {poll}, {exit}: {last_line}", node.id),
    };
    shared.options.observer.progress(&label);
    let payload = json!({
        "node": node.id,
        "attempt": attempt,
        "poll": poll,
        "exit": finished.exit,
        "held": reason.is_none(),
        "reason": reason,
        "stdout": stdout,
        "stderr": stderr,
    });
    record(shared, kind::WAIT_POLLED, payload).await.map(|_| ())
}

/// At most the last `limit` bytes a stream kept, as text, cut at a
/// character: the tail holds what came after the head, so the stream ends
/// where the two joined end.
fn last_bytes(stream: &process::Captured, limit: usize) -> String {
    let mut kept = stream.head.clone();
    kept.extend_from_slice(&stream.tail());
    let text = String::from_utf8_lossy(&kept);
    let mut start = text.len().saturating_sub(limit);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}
