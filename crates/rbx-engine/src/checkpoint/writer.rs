//! When checkpoints are written: a store that passes everything to the
//! store it wraps, and appends a checkpoint to a run's journal
//!
//! - after an event, once the run has `max(EVERY, its nodes)` events past
//!   its last checkpoint: a checkpoint costs about the size of the state,
//!   so it is written no more often than that many events, and a resume
//!   after a crash replays at most about as many events as the state has
//!   nodes;
//! - before an event that stops the run (other than its end), once it has
//!   `EVERY` events past its last checkpoint, so that a run that paused,
//!   waited, failed or was interrupted resumes from a checkpoint with
//!   about one event after it.
//!
//! A checkpoint is appended deferred (`Store::append_deferred`): it needs
//! no flush of its own, and a crash that loses it loses nothing the events
//! do not hold. Failing to write one is not an error of the write it
//! follows: the run goes on, and a resume replays more.

use std::collections::HashMap;
use std::time::Duration;

use rbx_store::{
    Event, Holder, LockOutcome, NewRun, Output, RunId, RunSummary, Store, StoreError, Tail,
};
use serde_json::Value as Json;

use crate::state::{RunState, kind};

/// How many events at least separate two checkpoints of a run;
/// `RBX_CHECKPOINT_EVERY` sets another number (tests use 1).
pub const EVERY: u64 = 256;

/// The environment variable that sets how many events at least separate
/// two checkpoints, instead of [`EVERY`].
const EVERY_VAR: &str = "RBX_CHECKPOINT_EVERY";

/// What the writer knows of a run's journal since this process first
/// appended to it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// The last checkpoint (or, until this process writes one, the event
    /// before its first append: the run's checkpoint, if any, is older).
    checkpoint: u64,
    /// The last event appended.
    head: u64,
    /// How many nodes the state at the last checkpoint had.
    nodes: u64,
}

/// A store that writes checkpoints into the journals it appends to.
pub(crate) struct Checkpointing {
    inner: Box<dyn Store>,
    every: u64,
    marks: HashMap<RunId, Mark>,
}

impl Checkpointing {
    pub(crate) fn new(inner: Box<dyn Store>) -> Checkpointing {
        let every = std::env::var(EVERY_VAR)
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(EVERY);
        Checkpointing {
            inner,
            every,
            marks: HashMap::new(),
        }
    }

    /// Notes event `seq` of `run`; writes a checkpoint when it is due.
    fn appended(&mut self, run: &RunId, seq: u64) {
        let mark = self.marks.entry(run.clone()).or_insert(Mark {
            checkpoint: seq - 1,
            head: seq,
            nodes: 0,
        });
        mark.head = seq;
        let due = mark.checkpoint + self.every.max(mark.nodes);
        if seq >= due {
            self.write(run);
        }
    }

    /// Before `kind`, an event that stops the run: a checkpoint when one
    /// is due.
    fn stopping(&mut self, run: &RunId, kind: &str) {
        let Some(mark) = self.marks.get(run) else {
            return;
        };
        if kind != kind::RUN_ENDED && mark.head >= mark.checkpoint + self.every {
            self.write(run);
        }
    }

    /// Appends a checkpoint of the state the journal replays to now.
    fn write(&mut self, run: &RunId) {
        let Ok(state) = state_now(self.inner.as_ref(), run) else {
            return;
        };
        let nodes = state.nodes.len() as u64;
        let payload = super::payload(&state);
        if let Ok(seq) = self.inner.append_deferred(run, kind::CHECKPOINT, &payload) {
            self.marks.insert(
                run.clone(),
                Mark {
                    checkpoint: seq,
                    head: seq,
                    nodes,
                },
            );
        }
    }
}

/// The state the run's journal replays to: from its newest checkpoint, or
/// from its start.
fn state_now(store: &dyn Store, run: &RunId) -> Result<RunState, StoreError> {
    match super::latest(store, run)? {
        Some(state) => Ok(state),
        None => Ok(crate::replay(&store.events(run)?)),
    }
}

impl Store for Checkpointing {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        self.inner.create_run(run)
    }

    fn create_run_as(&mut self, id: &RunId, run: &NewRun) -> Result<bool, StoreError> {
        self.inner.create_run_as(id, run)
    }

    fn append(&mut self, run: &RunId, kind: &str, payload: &Json) -> Result<u64, StoreError> {
        let seq = self.inner.append(run, kind, payload)?;
        self.appended(run, seq);
        Ok(seq)
    }

    fn append_deferred(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Json,
    ) -> Result<u64, StoreError> {
        let seq = self.inner.append_deferred(run, kind, payload)?;
        self.appended(run, seq);
        Ok(seq)
    }

    fn unsynced(&self) -> bool {
        self.inner.unsynced()
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.inner.sync()
    }

    fn append_stopping(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Json,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.stopping(run, kind);
        let seq = self
            .inner
            .append_stopping(run, kind, payload, status, next_due)?;
        if let Some(mark) = self.marks.get_mut(run) {
            mark.head = seq;
        }
        Ok(seq)
    }

    fn events(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.inner.events(run)
    }

    fn events_since(&self, run: &RunId, seq: u64) -> Result<Vec<Event>, StoreError> {
        self.inner.events_since(run, seq)
    }

    fn journal_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Vec<Event>>, StoreError> {
        self.inner.journal_from_last(run, kind)
    }

    fn tail_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Tail>, StoreError> {
        self.inner.tail_from_last(run, kind)
    }

    fn verify(&self, run: &RunId) -> Result<(), StoreError> {
        self.inner.verify(run)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.inner.checkpoint()
    }

    fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.inner.runs()
    }

    fn run(&self, id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        self.inner.run(id)
    }

    fn latest_with_status_in(&self, statuses: &[&str]) -> Result<Option<RunSummary>, StoreError> {
        self.inner.latest_with_status_in(statuses)
    }

    fn set_status(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_status(run, status, next_due)
    }

    fn set_status_deferred(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_status_deferred(run, status, next_due)
    }

    fn sources(&self, run: &RunId) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.sources(run)
    }

    fn lock(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError> {
        self.inner.lock(run, holder)
    }

    fn unlock(&mut self, run: &RunId, pid: u32) -> Result<(), StoreError> {
        self.inner.unlock(run, pid)
    }

    fn holder(&self, run: &RunId, host: &str) -> Result<Option<(Holder, bool)>, StoreError> {
        self.inner.holder(run, host)
    }

    fn put_output(
        &mut self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
        head: &[u8],
        tail: &[u8],
        total: u64,
    ) -> Result<String, StoreError> {
        self.inner
            .put_output(run, node, attempt, stream, head, tail, total)
    }

    fn put_attachment(
        &mut self,
        run: &RunId,
        node: &str,
        name: &str,
        file: &str,
        bytes: &[u8],
    ) -> Result<String, StoreError> {
        self.inner.put_attachment(run, node, name, file, bytes)
    }

    fn attachment(
        &self,
        run: &RunId,
        node: &str,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
        self.inner.attachment(run, node, name)
    }

    fn output(
        &self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
    ) -> Result<Option<Output>, StoreError> {
        self.inner.output(run, node, attempt, stream)
    }

    fn identity(&self) -> Option<String> {
        self.inner.identity()
    }

    fn wait_for_events(
        &self,
        run: &RunId,
        after: u64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.wait_for_events(run, after, timeout)
    }
}
