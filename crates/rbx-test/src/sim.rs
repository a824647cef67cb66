//! The simulated executor: what a scenario says each step prints, with
//! which exit status and after how long, played through the engine's own
//! output handling. Time passes on the runtime's paused clock, so a
//! scenario's hours take no time at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rbx_engine::executor::{Call, Executor, Finished, Live, Pending, Purpose, Unrun};
use rbx_syntax::ast::NodePattern;
use tokio::sync::{Notify, watch};

use crate::matching::closeness;
use crate::setup::{Effect, Given};

#[derive(Debug)]
pub struct Simulator {
    pub givens: Vec<Given>,
    pub default: Option<Effect>,
    pub attend: HashMap<String, Effect>,
    /// Durations of an earlier real run (`--durations-from`), by node id.
    pub durations: Arc<HashMap<String, u64>>,
    /// Where each node of the run is written, for messages.
    pub places: HashMap<String, String>,
    /// The run's simulated clock, for `at`.
    pub clock: rbx_engine::executor::Clock,
    /// The step or poll at which the operator interrupts the run
    /// (`cancel at`), once.
    pub cancel_at: Option<NodePattern>,
    pub interrupted: AtomicBool,
    pub interrupt: Notify,
}

impl Simulator {
    /// The step's effect on this attempt: the closest `given` for the
    /// attempt, over the closest for every attempt, over the default.
    fn effect(&self, node: &str, attempt: u32) -> Option<Effect> {
        let best = |for_attempt: bool| {
            self.givens
                .iter()
                .enumerate()
                .filter(|(_, g)| {
                    if for_attempt {
                        g.attempt == Some(attempt)
                    } else {
                        g.attempt.is_none()
                    }
                })
                .filter_map(|(order, g)| Some(((closeness(&g.pattern, node)?, order), &g.result)))
                .max_by_key(|(key, _)| *key)
                .map(|(_, r)| r.clone())
        };
        let general = best(false);
        let specific = best(true);
        if general.is_none() && specific.is_none() && self.default.is_none() {
            return None;
        }
        let default = self.default.clone().unwrap_or_default();
        let general = general.unwrap_or_default().over(&default);
        Some(specific.unwrap_or_default().over(&general))
    }

    /// How long a node takes: as the scenario says, else as the earlier
    /// real run took, else no time.
    fn duration(&self, node: &str, effect: &Effect) -> Duration {
        let ms = effect
            .takes
            .or_else(|| self.durations.get(node).copied())
            .or_else(|| {
                let name = rbx_engine::base_name(node)?;
                self.durations.get(&name).copied()
            })
            .unwrap_or(0);
        Duration::from_millis(ms)
    }

    /// Sleeps (in simulated time) until `at`, if that is still to come.
    async fn until(&self, at: Option<i64>) {
        let Some(at) = at else { return };
        let now = self.clock.now_ms();
        if at > now {
            tokio::time::sleep(Duration::from_millis(u64::try_from(at - now).unwrap_or(0))).await;
        }
    }
}

impl Executor for Simulator {
    fn run<'a>(
        &'a self,
        call: Call<'a>,
        live: Live,
        mut cancel: watch::Receiver<bool>,
    ) -> Pending<'a, Result<Finished, Unrun>> {
        Box::pin(async move {
            if call.purpose == Purpose::Hook {
                return Ok(rbx_engine::executor::finished(
                    call.spec,
                    0,
                    b"",
                    b"",
                    Duration::ZERO,
                    live,
                )
                .await);
            }
            let cancels = self
                .cancel_at
                .as_ref()
                .is_some_and(|at| closeness(at, call.node).is_some());
            if cancels && !self.interrupted.swap(true, Ordering::SeqCst) {
                // The operator presses Ctrl-C as the node starts: the run
                // is interrupted, and the command ends with it.
                self.interrupt.notify_one();
                let _ = cancel.wait_for(|c| *c).await;
                let mut finished =
                    rbx_engine::executor::finished(call.spec, 0, b"", b"", Duration::ZERO, live)
                        .await;
                finished.exit = None;
                finished.cancelled = true;
                return Ok(finished);
            }
            let Some(effect) = self.effect(call.node, call.attempt) else {
                let place = self
                    .places
                    .get(call.node)
                    .map(|p| format!(" (written at {p})"))
                    .unwrap_or_default();
                let name = match crate::matching::parts(call.node).as_slice() {
                    [] | [_] => rbx_engine::base_name(call.node).unwrap_or_default(),
                    [heads @ .., last] => format!(
                        "\"{}/{}\"",
                        heads.join("/"),
                        rbx_engine::base_name(last).unwrap_or_default()
                    ),
                };
                let why = format!(
                    "the scenario gives no result for step `{}`{place}, attempt {}: add \
                     `given {name} {{ exit 0 }}` or a `default {{ exit 0 }}`",
                    call.node, call.attempt
                );
                return Err(Unrun::Missing(why));
            };
            let took = self.duration(call.node, &effect);
            // A step that takes longer than its timeout is ended by it, as
            // a real one would be.
            if let Some(limit) = call.spec.timeout.filter(|t| *t < took) {
                tokio::time::sleep(limit).await;
                let mut finished =
                    rbx_engine::executor::finished(call.spec, 0, b"", b"", limit, live).await;
                finished.exit = None;
                finished.timed_out = true;
                return Ok(finished);
            }
            tokio::time::sleep(took).await;
            self.until(effect.at).await;
            let stdout = effect.stdout.unwrap_or_default();
            let stderr = effect.stderr.unwrap_or_default();
            Ok(rbx_engine::executor::finished(
                call.spec,
                effect.exit.unwrap_or(0),
                stdout.as_bytes(),
                stderr.as_bytes(),
                took,
                live,
            )
            .await)
        })
    }

    fn attend<'a>(&'a self, node: &'a str) -> Pending<'a, ()> {
        Box::pin(async move {
            let effect = self.attend.get(node).cloned().unwrap_or_default();
            tokio::time::sleep(self.duration(node, &effect)).await;
            self.until(effect.at).await;
        })
    }

    /// A file a simulated person names holds its own name.
    fn attachment(&self, path: &str) -> std::io::Result<Vec<u8>> {
        Ok(path.as_bytes().to_vec())
    }

    fn interruption(&self) -> Pending<'_, ()> {
        Box::pin(self.interrupt.notified())
    }
}
