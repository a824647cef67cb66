//! The seam between the engine and the world it acts on: what runs a
//! command, how long a person or an anchor takes, where a file a person
//! names is read from, and what time it is.
//!
//! A real run uses [`Processes`] and [`Clock::System`]. `rbx test` drives
//! the same dispatcher, node tasks, retries, expectations and people's
//! rules with an executor that starts nothing and a simulated clock, so
//! what a scenario proves is what the engine does.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;

mod nested;
mod test_clock;

pub use crate::process::{Captured, Finished, Live, Spec, Stream};
pub use nested::Nested;
pub use test_clock::{TEST_CLOCK, TestClock};

/// A future an executor returns.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a command is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An attempt of a step.
    Step,
    /// A step's `verify` probe, after a crash left it in doubt.
    Verify,
    /// One poll of a `wait`.
    Poll,
    /// A runbook hook (`hook end "…"`); `node` is the event's name.
    Hook,
}

/// One command the engine wants run.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The node's id in the run (`smoke#2.doctor[web-1]`).
    pub node: &'a str,
    /// The attempt (or poll) number, from 1; 0 for a hook.
    pub attempt: u32,
    pub purpose: Purpose,
    pub spec: &'a Spec,
}

/// Why a command gave no result.
#[derive(Debug)]
pub enum Unrun {
    /// The shell could not be started: the attempt fails.
    Start(std::io::Error),
    /// The executor has no result to give (a scenario that does not say
    /// what the step does): the run cannot go on.
    Missing(String),
}

pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Runs one command, passing its output to `live` as it arrives; a
    /// `cancel` turning true ends it as a timeout would.
    fn run<'a>(
        &'a self,
        call: Call<'a>,
        live: Live,
        cancel: watch::Receiver<bool>,
    ) -> Pending<'a, Result<Finished, Unrun>>;

    /// The time a person's answer, or reaching an anchor, takes beyond the
    /// asking: nothing for a real run, where the person's own time passes.
    fn attend<'a>(&'a self, node: &'a str) -> Pending<'a, ()>;

    /// The bytes of a file a person gave as evidence.
    fn attachment(&self, path: &str) -> std::io::Result<Vec<u8>>;

    /// Resolves when a simulated run is to be interrupted as Ctrl-C
    /// interrupts a real one. A real run is interrupted by signals only:
    /// for it this never resolves.
    fn interruption(&self) -> Pending<'_, ()>;
}

/// The real executor: `bash` in a process group of its own (`process.rs`),
/// files from the filesystem.
#[derive(Debug, Default)]
pub struct Processes;

impl Executor for Processes {
    fn run<'a>(
        &'a self,
        call: Call<'a>,
        live: Live,
        cancel: watch::Receiver<bool>,
    ) -> Pending<'a, Result<Finished, Unrun>> {
        Box::pin(async move {
            crate::process::run(call.spec, live, cancel)
                .await
                .map_err(Unrun::Start)
        })
    }

    fn attend<'a>(&'a self, _: &'a str) -> Pending<'a, ()> {
        Box::pin(async {})
    }

    fn attachment(&self, path: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn interruption(&self) -> Pending<'_, ()> {
        Box::pin(std::future::pending())
    }
}

/// What a command printed and how it ended, as the real executor would
/// report it: `stdout` and `stderr` go through the same masking, live
/// forwarding and keeping (bounded, and whole for the streams the step
/// judges) as a real process's pipes.
pub async fn finished(
    spec: &Spec,
    exit: i32,
    stdout: &[u8],
    stderr: &[u8],
    duration: std::time::Duration,
    live: Live,
) -> Finished {
    crate::process::from_output(spec, exit, stdout, stderr, duration, live).await
}

/// What time it is for a run.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock; waits and backoffs sleep for real.
    System,
    /// Simulated time: `epoch_ms` at `base`, advancing with tokio's clock.
    /// Only meaningful on a runtime whose time is paused, where every
    /// sleep (a backoff, a wait, a simulated step's duration) passes at
    /// once and in order. A wait never stops such a run to be resumed
    /// later: its time simply passes.
    Simulated {
        epoch_ms: i64,
        base: tokio::time::Instant,
    },
}

impl Clock {
    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => crate::runner::now_ms(),
            Clock::Simulated { epoch_ms, base } => {
                let passed = tokio::time::Instant::now().duration_since(*base);
                epoch_ms.saturating_add(i64::try_from(passed.as_millis()).unwrap_or(i64::MAX))
            }
        }
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Simulated { .. })
    }
}
