//! `RBX_TEST_CLOCK=START:STEP`: a real run of the `rbx` binary on a
//! simulated clock, for the tests that drive the binary and must know what
//! time it is (the reference model's property test). The clock reads
//! `START` (milliseconds since the epoch) when the command begins; time
//! passes only while the run waits for a due time, which it then reaches
//! at once (the runtime's clock is paused), and each step's command takes
//! `STEP` milliseconds once its real process has ended. The store stamps
//! what it records with the same clock. A test hook, as
//! `RBX_CRASH_AFTER_EVENTS` is: a real run never sets it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Call, Clock, Executor, Finished, Live, Pending, Purpose, Unrun};

/// The environment variable that puts the `rbx` binary on a simulated
/// clock.
pub const TEST_CLOCK: &str = "RBX_TEST_CLOCK";

/// The simulated clock `RBX_TEST_CLOCK` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestClock {
    /// What the clock reads when the command begins.
    pub start_ms: i64,
    /// How long each step's command takes.
    pub step_ms: u64,
}

impl TestClock {
    /// The clock `RBX_TEST_CLOCK` asks for, if it is set; why not, when
    /// its value is not `START:STEP`.
    pub fn from_env() -> Result<Option<TestClock>, String> {
        let Ok(value) = std::env::var(TEST_CLOCK) else {
            return Ok(None);
        };
        let parsed = value
            .split_once(':')
            .and_then(|(start, step)| Some((start.parse().ok()?, step.parse().ok()?)));
        match parsed {
            Some((start_ms, step_ms)) => Ok(Some(TestClock { start_ms, step_ms })),
            None => Err(format!(
                "`{TEST_CLOCK}={value}`: expected START:STEP, in milliseconds"
            )),
        }
    }

    /// Stamps what the stores of this process record with `START` until a
    /// run's clock takes over (`run_clock`): a command that drives no run,
    /// such as `rbx confirm`, happens at that moment.
    pub fn hold_store_clock(&self) {
        let start = self.start_ms;
        rbx_store::set_test_clock(Arc::new(move || start));
    }

    /// A runtime of one thread whose clock is paused: a sleep ends as soon
    /// as nothing else can happen first.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
    }

    /// The run's clock, which the stores follow too; called on the runtime
    /// from `runtime`.
    pub fn run_clock(&self) -> Clock {
        let clock = Clock::Simulated {
            epoch_ms: self.start_ms,
            base: tokio::time::Instant::now(),
        };
        let reading = clock.clone();
        rbx_store::set_test_clock(Arc::new(move || reading.now_ms()));
        clock
    }

    /// `store`, writing checkpoints as a real run's journal does (a run on
    /// a simulated clock writes its journal in the driving task, bare).
    pub fn store(&self, store: Box<dyn rbx_store::Store>) -> Box<dyn rbx_store::Store> {
        Box::new(crate::checkpoint::Checkpointing::new(store))
    }

    /// `inner`, with each step's command taking `STEP` of simulated time.
    pub fn executor(&self, inner: Arc<dyn Executor>) -> Arc<dyn Executor> {
        Arc::new(Timed {
            inner,
            step: Duration::from_millis(self.step_ms),
        })
    }
}

/// An executor whose steps take a known simulated time.
#[derive(Debug)]
struct Timed {
    inner: Arc<dyn Executor>,
    step: Duration,
}

impl Executor for Timed {
    fn run<'a>(
        &'a self,
        call: Call<'a>,
        live: Live,
        cancel: watch::Receiver<bool>,
    ) -> Pending<'a, Result<Finished, Unrun>> {
        Box::pin(async move {
            // While a blocking task runs, a paused clock does not jump to
            // the next timer: the real process takes no simulated time.
            let (done, wait) = std::sync::mpsc::channel::<()>();
            let held = tokio::task::spawn_blocking(move || wait.recv());
            let finished = self.inner.run(call, live, cancel).await;
            drop(done);
            let _ = held.await;
            if call.purpose == Purpose::Step {
                tokio::time::sleep(self.step).await;
            }
            finished
        })
    }

    fn attend<'a>(&'a self, node: &'a str) -> Pending<'a, ()> {
        self.inner.attend(node)
    }

    fn attachment(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.inner.attachment(path)
    }

    fn interruption(&self) -> Pending<'_, ()> {
        self.inner.interruption()
    }
}
