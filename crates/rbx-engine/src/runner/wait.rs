//! Waits: until a time, or polling a command until its expectations hold.

use std::sync::Arc;
use std::time::Duration;

use rbx_syntax::ast::{Block, StmtKind};
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
        // A wait the run stopped for keeps the time it was due then.
        let recorded = shared.dues.get(&node.id).copied().map(Value::Timestamp);
        let due = match recorded.map_or_else(|| value::eval(until, env), Ok) {
            Ok(Value::Timestamp(due)) => due,
            Ok(Value::Bool(true)) => shared.options.clock.now_ms(),
            Ok(other) => {
                let why = format!("`until` gave {other}, not a time");
                return fail(shared, &node.id, previous, why).await;
            }
            Err(why) => {
                return fail(shared, &node.id, previous, why).await;
            }
        };
        let left = due - shared.options.clock.now_ms();
        // Longer than this, the run stops and is due again at `due`: an
        // operator need not keep a terminal open for hours. Simulated time
        // simply passes.
        if left > 60_000 && !shared.options.clock.is_simulated() {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "⏳ {} is due in {}; the run stops until then",
                    node.id,
                    rbx_syntax::fmt::duration(u64::try_from(left).unwrap_or(0))
                ),
            );
            return Done::Waiting(due);
        }
        if left > 0 {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "⏳ {} waits {}",
                    node.id,
                    rbx_syntax::fmt::duration(u64::try_from(left).unwrap_or(0))
                ),
            );
            let mut cancel = shared.cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(0))) => {}
                _ = cancelled_signal(&mut cancel) => return Done::Interrupted,
            }
        }
        let extra = env.stamped(json!({ "due": rbx_syntax::time::format_timestamp(due) }));
        return finish(
            shared,
            &node.id,
            previous,
            settled(Status::Succeeded, None),
            extra,
        )
        .await;
    }
    let every = block
        .body
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Every(d) => Some(d.millis),
            _ => None,
        })
        .unwrap_or(10_000);
    let deadline = match timeout_of(block, env) {
        Ok(timeout) => timeout.map(|t| tokio::time::Instant::now() + t),
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
        if crate::expect::judge(block, &finished).await.outcome.is_ok() {
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
