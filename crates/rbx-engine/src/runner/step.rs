//! Automated steps: attempts, retries, output, expectations, the in-doubt probe and the point of no return.

use std::sync::Arc;
use std::time::Duration;

use rbx_store::Store;
use rbx_syntax::ast::{Block, HookEvent, StmtKind, Text};
use serde_json::json;

use crate::executor::{Call, Purpose, Unrun};
use crate::observer::Tone;
use crate::process::{self, Spec, cancelled_signal};
use crate::state::{NodeState, Status, kind};

use super::env::{NodeEnv, Rendered, base_name, render, secrets};
use super::hooks::stage_clock;
use super::node::{command, text_of, timeout_of};
use super::record::{fail, finish, record, settled};
use super::retry::{self, Policy};
use super::{Done, Shared};

/// Forwards a command's output to the observer as it arrives: every secret
/// of the run is masked already, as the output was read (`process.rs`).
pub(crate) fn live(observer: Arc<dyn crate::Observer>) -> process::Live {
    Arc::new(move |stream, bytes| observer.output(stream, bytes))
}

pub(crate) async fn step(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    previous: u32,
) -> Done {
    let rendered = match command(shared, node, block, env, previous).await {
        Ok(rendered) => rendered,
        Err(done) => return done,
    };
    let timeout = match timeout_of(block, env) {
        Ok(timeout) => timeout,
        Err(why) => return fail(shared, &node.id, previous, why).await,
    };
    let policy = Policy::of(block);
    let spec = spec_of(shared, node, block, &rendered, timeout);
    if shared.verify_first.contains(&node.id) {
        if let Some(done) = verify_in_doubt(shared, node, block, env, previous).await {
            return done;
        }
    }
    if let Some(done) = confirm_irreversible(shared, node, block).await {
        return done;
    }
    for round in 0..=policy.retries {
        let attempt = previous + round + 1;
        let finished = match run_attempt(shared, node, env, &rendered, &spec, attempt).await {
            Ok(finished) => finished,
            Err(done) => return done,
        };
        let digests = match keep_outputs(shared, &node.id, attempt, &finished).await {
            Ok(digests) => digests,
            Err(done) => return done,
        };
        let duration_ms = u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX);
        let verdict = crate::expect::judge(block, &finished).await;
        let mut exit = json!({ "exit": finished.exit, "outputs": digests });
        verdict.record(&mut exit);
        if let Err(problem) = &verdict.outcome {
            shared.options.observer.line(
                Tone::Bad,
                &format!("✗ {} attempt {attempt}: {problem}", node.id),
            );
            if round < policy.retries {
                match policy.earns(finished.exit) {
                    Ok(because) => {
                        let now = shared.options.clock.now_ms();
                        let wait = policy.delay(round, retry::seed(&node.id, attempt, now));
                        let mut payload = json!({
                            "node": node.id,
                            "attempt": attempt,
                            "reason": problem,
                            "exit": finished.exit,
                            "retry_after_ms": wait,
                            "retry_because": because,
                        });
                        verdict.record(&mut payload);
                        if let Some(done) =
                            back_off(shared, &node.id, payload, wait, &because).await
                        {
                            return done;
                        }
                        continue;
                    }
                    Err(why_not) => {
                        let reason = format!("{problem}; {why_not}");
                        let mut state = settled(Status::Failed, Some(reason));
                        state.duration_ms = Some(duration_ms);
                        return finish(shared, &node.id, attempt, state, exit).await;
                    }
                }
            }
        }
        let mut state = match verdict.outcome {
            Ok(captures) => NodeState {
                captures,
                ..settled(Status::Succeeded, None)
            },
            Err(problem) => settled(Status::Failed, Some(problem)),
        };
        state.duration_ms = Some(duration_ms);
        return finish(shared, &node.id, attempt, state, exit).await;
    }
    Done::Broken("a step ran no attempt".to_string())
}

/// What the executor runs for the step: its command and environment, with
/// the marker that lets a later resume find this attempt's processes if
/// rbx dies while they run (rule S2): every process the step starts
/// inherits it.
fn spec_of(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    rendered: &Rendered,
    timeout: Option<Duration>,
) -> Spec {
    let mut marked = rendered.env.clone();
    marked.push((
        process::MARKER.to_string(),
        process::marker(shared.run.as_str(), &node.id),
    ));
    Spec {
        command: rendered.run.clone(),
        env: marked,
        timeout,
        secrets: Arc::new(secrets(shared)),
        whole: crate::expect::judged(block),
    }
}

/// One attempt: its start journalled and announced, then the command run
/// to its end. `Err` is how the step ends when the attempt cannot run or
/// is interrupted.
async fn run_attempt(
    shared: &Shared,
    node: &crate::expand::XNode,
    env: &NodeEnv<'_>,
    rendered: &Rendered,
    spec: &Spec,
    attempt: u32,
) -> Result<process::Finished, Done> {
    let started = json!({
        "node": node.id,
        "attempt": attempt,
        "command": rendered.shown,
        "template": rendered.template,
        "host": shared.options.host,
        "operator": shared.options.operator,
    });
    if let Err(e) = record(shared, kind::NODE_STARTED, env.stamped(started)).await {
        return Err(Done::Broken(e));
    }
    let details = [
        ("RBX_STEP", node.id.as_str()),
        ("RBX_ATTEMPT", &attempt.to_string()),
    ];
    super::hooks::hook(shared, HookEvent::Start, &details).await;
    let observer = &shared.options.observer;
    observer.line(
        Tone::Start,
        &format!(
            "▶ {} (attempt {attempt}){}: {}",
            node.id,
            stage_clock(shared, node),
            rendered.shown
        ),
    );
    observer.running(&node.id);
    let call = Call {
        node: &node.id,
        attempt,
        purpose: Purpose::Step,
        spec,
    };
    let finished = shared
        .options
        .executor
        .run(call, live(Arc::clone(observer)), shared.cancel.clone())
        .await;
    observer.stopped();
    let finished = match finished {
        Ok(f) => f,
        Err(Unrun::Start(e)) => {
            let why = format!("could not start `{}`: {e}", process::SHELL);
            return Err(fail(shared, &node.id, attempt, why).await);
        }
        Err(Unrun::Missing(why)) => return Err(Done::Broken(why)),
    };
    if finished.cancelled {
        return Err(Done::Interrupted);
    }
    Ok(finished)
}

/// Keeps each stream that printed something with the run, and returns
/// their digests for the finish event, so the hash chain covers the output
/// too.
async fn keep_outputs(
    shared: &Shared,
    node: &str,
    attempt: u32,
    finished: &process::Finished,
) -> Result<serde_json::Map<String, serde_json::Value>, Done> {
    // A command may print a secret: every secret of the run was masked
    // as the output was read, so none reaches the store, a capture or
    // a report.
    let outputs = [("stdout", &finished.stdout), ("stderr", &finished.stderr)];
    let mut digests = serde_json::Map::new();
    // A stream that printed nothing has nothing to keep: no write.
    for (stream, captured) in outputs.into_iter().filter(|(_, c)| c.total > 0) {
        let (run, id, head, tail, total) = (
            shared.run.clone(),
            node.to_string(),
            captured.head.clone(),
            captured.tail(),
            captured.total,
        );
        let stored = shared
            .journal
            .call(move |s: &mut dyn Store| {
                s.put_output(&run, &id, attempt, stream, &head, &tail, total)
            })
            .await;
        match stored {
            Ok(digest) => digests.insert(stream.to_string(), json!(digest)),
            Err(e) => return Err(Done::Broken(e.to_string())),
        };
    }
    Ok(digests)
}

/// A failed attempt that earned another: journalled, announced, and
/// waited out. `Some` when the step ends instead (the journal failed, or
/// the wait was interrupted).
async fn back_off(
    shared: &Shared,
    node: &str,
    payload: serde_json::Value,
    wait: u64,
    because: &str,
) -> Option<Done> {
    if let Err(e) = record(shared, kind::ATTEMPT_FAILED, payload).await {
        return Some(Done::Broken(e));
    }
    shared.options.observer.line(
        Tone::Note,
        &format!(
            "↻ {} retries in {}: {because}",
            node,
            rbx_syntax::fmt::duration(wait)
        ),
    );
    let mut cancel = shared.cancel.clone();
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(wait)) => {}
        () = cancelled_signal(&mut cancel) => return Some(Done::Interrupted),
    }
    None
}

/// A step left in doubt with a `verify` probe: the probe, with every value
/// the step itself would see, says whether its effect already happened.
/// `Some` when it did (the step is settled without running again).
pub(crate) async fn verify_in_doubt(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempt: u32,
) -> Option<Done> {
    let probe = text_of(block, |k| match k {
        StmtKind::Verify(t) => Some(t),
        _ => None,
    })?;
    let rendered = render(probe, env).ok()?;
    let spec = Spec {
        command: rendered.run,
        env: rendered.env,
        timeout: Some(Duration::from_secs(60)),
        secrets: Arc::new(secrets(shared)),
        whole: Vec::new(),
    };
    let call = Call {
        node: &node.id,
        attempt,
        purpose: Purpose::Verify,
        spec: &spec,
    };
    let finished = shared
        .options
        .executor
        .run(call, Arc::new(|_, _| {}), shared.cancel.clone())
        .await
        .ok()?;
    let happened = finished.exit == Some(0);
    let why = if happened {
        "the verify probe says it happened"
    } else {
        "the verify probe says it did not happen"
    };
    let decision = if happened { "done" } else { "rerun" };
    let payload = json!({
        "node": node.id,
        "attempt": attempt,
        "decision": decision,
        "why": why,
        "probe": rendered.shown,
        "template": rendered.template,
        "operator": shared.options.operator,
    });
    if let Err(e) = record(shared, kind::IN_DOUBT, payload).await {
        return Some(Done::Broken(e));
    }
    shared
        .options
        .observer
        .line(Tone::Note, &format!("? {}: {why}", node.id));
    if !happened {
        return None;
    }
    let state = settled(Status::Succeeded, Some(why.to_string()));
    Some(
        finish(
            shared,
            &node.id,
            attempt,
            state,
            json!({ "via": "verify probe" }),
        )
        .await,
    )
}

/// Before an irreversible step's first attempt: the operator types the
/// step's id (or the answers file says `confirm = "ID"`), and the journal
/// records who. `Some` when the step must not run now.
pub(crate) async fn confirm_irreversible(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
) -> Option<Done> {
    let why = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Irreversible(why) => {
            Some(why.as_ref().map(Text::source_form).unwrap_or_default())
        }
        _ => None,
    })?;
    let base = base_name(&node.id).unwrap_or_default();
    // The id a confirmation must name: the instance's own when the step has
    // several in this run (rule I1).
    let single = shared
        .instances
        .lock()
        .is_ok_and(|counts| counts.get(&base).is_some_and(|n| *n == 1));
    let name = if single {
        base.clone()
    } else {
        node.id.clone()
    };
    let from_file = shared
        .options
        .answers
        .for_node(&node.id, &base)
        .and_then(|a| a.get("confirm"))
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let (confirmed, via) =
        match from_file {
            // A file names the instance it confirms: one line must not
            // confirm every disk of a loop (rule I1).
            Some(typed) => (typed == node.id || typed == name, "answers file"),
            None if shared.options.observer.can_ask() => {
                let _turn = shared.person.lock().await;
                shared.options.observer.line(
                    Tone::Note,
                    &format!("\n⚠ {} is a point of no return. {why}", node.id),
                );
                // No answer (the input ended) confirms nothing; Ctrl-C
                // stops the run as a signal does.
                let typed = shared
                    .options
                    .observer
                    .ask(&format!("type `{name}` to go on"));
                if typed.is_none() && shared.options.observer.interrupted() {
                    shared.interrupt.send_replace(true);
                    return Some(Done::Interrupted);
                }
                let typed = typed.unwrap_or_default();
                (typed == name || typed == node.id, "terminal")
            }
            None => {
                shared.options.observer.line(Tone::Note, &format!(
                "⏸ {} is irreversible and needs confirmation: resume at a terminal and type \
                 its id, or give `confirm = \"{name}\"` for it in an --answers file",
                node.id
            ));
                return Some(Done::Paused(irreversible_hint(&name)));
            }
        };
    if !confirmed {
        shared
            .options
            .observer
            .line(Tone::Bad, &format!("✗ {} was not confirmed", node.id));
        return Some(Done::Paused(irreversible_hint(&name)));
    }
    let payload = json!({ "node": node.id, "operator": shared.options.operator, "via": via });
    match record(shared, kind::CONFIRMED, payload).await {
        Ok(_) => None,
        Err(e) => Some(Done::Broken(e)),
    }
}

pub(crate) fn irreversible_hint(name: &str) -> String {
    format!(
        "(irreversible: resume at a terminal and type its id, or give `confirm = \"{name}\"` in an --answers file)"
    )
}
