//! The operations every store backend provides.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Event, Holder, LockOutcome, NewRun, Output, RunId, RunSummary, StoreError, Tail};

/// How often a store that cannot be told of new events (SQLite, memory)
/// looks for them while [`Store::wait_for_events`] waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A durable record of runs. [`SqliteStore`](crate::SqliteStore) is the
/// embedded default; [`PostgresStore`](crate::PostgresStore) is the store a
/// team shares.
///
/// Every method that writes is one transaction, committed before it
/// returns: when it returns `Ok`, the write survives a crash of the process
/// or of the machine. When it returns `Err`, nothing of it was written.
///
/// Reads take `&self` and writes `&mut self`. A backend whose client needs
/// `&mut` to read can keep it in a `RefCell`, since a store is driven from
/// one thread (the engine's store thread) and only needs to be [`Send`].
pub trait Store: Send {
    /// Records a new run with its source snapshot and inputs, with status
    /// `created` and an empty journal, and returns its fresh id.
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError>;

    /// Records a new run as [`Store::create_run`] does, under `id`, which
    /// the caller chose (a child run's, derived from its parent's run and
    /// node). Returns `false`, writing nothing, when a run with that id
    /// exists already: creating it again after a crash finds the first.
    fn create_run_as(&mut self, id: &RunId, run: &NewRun) -> Result<bool, StoreError>;

    /// Appends an event to the run's journal and returns its sequence
    /// number (1 for the first). `kind` is lowercase letters, digits, `_`,
    /// `.` and `-`. The event is durable when this returns.
    fn append(&mut self, run: &RunId, kind: &str, payload: &Value) -> Result<u64, StoreError>;

    /// Appends an event as [`Store::append`] does, in the same order, but
    /// without waiting for the disk: when this returns the event is written
    /// (the end of this process cannot lose it, a `kill -9` included) and
    /// it is durable — it survives the machine — once the next durable
    /// write commits or [`Store::sync`] returns. The engine appends a
    /// node's finish this way: the start of the node after it, which must
    /// be durable before that node acts, then makes both durable with one
    /// flush. A backend that cannot defer makes it durable at once.
    fn append_deferred(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
    ) -> Result<u64, StoreError> {
        self.append(run, kind, payload)
    }

    /// Whether an event appended with [`Store::append_deferred`] is not
    /// durable yet.
    fn unsynced(&self) -> bool {
        false
    }

    /// Makes every event appended so far durable.
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Appends an event that stops the run (it ended, failed, paused…) and
    /// sets the run's status and next due time in the same transaction, so
    /// that no crash can leave the status saying something the journal
    /// does not.
    fn append_stopping(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<u64, StoreError>;

    /// The run's whole journal, in order.
    fn events(&self, run: &RunId) -> Result<Vec<Event>, StoreError>;

    /// The events of the run's journal after `seq`, in order:
    /// `events_since(run, 0)` is the whole journal.
    fn events_since(&self, run: &RunId, seq: u64) -> Result<Vec<Event>, StoreError>;

    /// The end of the run's journal from its newest event of kind `kind`:
    /// that event and every one after it, in order, or `None` when no event
    /// is of that kind. Found from the journal's end, by its key, without
    /// reading what comes before. The events returned are checked as
    /// [`Store::verify`] checks events: each against its hash, the first
    /// linked to the event before it, each to the one before and the last
    /// to the run's recorded head ([`StoreError::ChainBroken`] where they
    /// do not hold together). The events before it, the source snapshot and
    /// the kept outputs are left to [`Store::verify`].
    fn journal_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Vec<Event>>, StoreError>;

    /// The same end of the journal, checked the same way, with the first
    /// event's payload left as the text that was stored ([`Tail`]): a
    /// checkpoint is decoded from it straight into the state it holds.
    fn tail_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Tail>, StoreError>;

    /// Recomputes the run's record from its start: the hash of its source
    /// snapshot, the hash of every event and the link from each event to the
    /// one before, the journal's length and last hash as the run's row
    /// recorded them, and the digest of every output and attachment an event
    /// vouches for (see [`Store::put_output`] and [`Store::put_attachment`]).
    /// Returns [`StoreError::ChainBroken`] at the first place where they
    /// disagree.
    fn verify(&self, run: &RunId) -> Result<(), StoreError>;

    /// Makes the store's main file hold the whole record, so that a copy of
    /// that file alone is a complete copy of every run. The engine calls it
    /// whenever a drive of a run stops: it ends, fails, pauses, waits or is
    /// interrupted. A backend with nothing to fold in does nothing.
    fn checkpoint(&mut self) -> Result<(), StoreError>;

    /// Every run, oldest first.
    fn runs(&self) -> Result<Vec<RunSummary>, StoreError>;

    /// The run with this id, or `None` if the store has none.
    fn run(&self, id: &RunId) -> Result<Option<RunSummary>, StoreError>;

    /// The most recently created run whose status is one of `statuses`, or
    /// `None`. The caller says which statuses it means (the engine's
    /// "unfinished" is its own vocabulary).
    fn latest_with_status_in(&self, statuses: &[&str]) -> Result<Option<RunSummary>, StoreError>;

    /// Sets the run's status and when its next step is due (`None` when
    /// nothing is scheduled). This is a summary for listings; the journal,
    /// not the status, is the truth a resume derives its state from.
    fn set_status(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Sets the run's status as [`Store::set_status`] does, but without
    /// waiting for the disk, as [`Store::append_deferred`] appends: durable
    /// once the next durable write commits or [`Store::sync`] returns. A
    /// backend that cannot defer makes it durable at once.
    fn set_status_deferred(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_status(run, status, next_due)
    }

    /// The run's source snapshot, `(path, text)`, in the order it was
    /// recorded.
    fn sources(&self, run: &RunId) -> Result<Vec<(String, String)>, StoreError>;

    /// Makes `holder` the one process that drives the run. Fails with
    /// [`StoreError::Locked`] naming the holder when another live process
    /// holds it, or one on another host (whose liveness cannot be seen from
    /// here). A holder on this host whose process is gone, or that has the
    /// caller's own pid (a previous life of a process with a reused pid,
    /// since one process locks a run once), is replaced:
    /// [`LockOutcome::TookOver`].
    ///
    /// The lock guards the run against other processes while its holder
    /// lives; it need not outlive the machine, whose crash ends the holder
    /// too. So a backend may write it without waiting for the disk (visible
    /// to every other process at once, durable with the next durable
    /// write), as the SQLite store does.
    fn lock(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError>;

    /// Releases the run's lock if process `pid` holds it; does nothing
    /// otherwise, so that a process whose lock was taken over cannot release
    /// its successor's.
    fn unlock(&mut self, run: &RunId, pid: u32) -> Result<(), StoreError>;

    /// Who holds the run's lock, if anyone, and whether that process is
    /// still alive as seen from `host` (so a run whose driver died can be
    /// told from a running one; a holder on another host is assumed alive).
    /// Reads only.
    fn holder(&self, run: &RunId, host: &str) -> Result<Option<(Holder, bool)>, StoreError>;

    /// Keeps the bounded capture of one output stream (`stdout`, `stderr`)
    /// of one attempt of a step, replacing an earlier capture of the same
    /// stream, so the engine may save it as it grows. Returns its digest
    /// ([`output_digest`](crate::output_digest)).
    ///
    /// The digest binds the output to the journal: an event whose payload
    /// has `node`, `attempt` and `outputs` (stream → digest) vouches for
    /// those captures, and [`Store::verify`] recomputes them. A later event
    /// vouching for the same capture supersedes an earlier one.
    #[expect(
        clippy::too_many_arguments,
        reason = "a key of four parts and a capture of three; a struct would only rename them"
    )]
    fn put_output(
        &mut self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
        head: &[u8],
        tail: &[u8],
        total: u64,
    ) -> Result<String, StoreError>;

    /// Keeps a file a person gave as evidence for `node`, whole, and
    /// returns its SHA-256 (hex), replacing a file kept under the same name.
    ///
    /// As with outputs, an event whose payload has `node` and `attachments`
    /// (name → SHA-256) vouches for those files, and [`Store::verify`]
    /// recomputes them; a later event supersedes an earlier one.
    fn put_attachment(
        &mut self,
        run: &RunId,
        node: &str,
        name: &str,
        file: &str,
        bytes: &[u8],
    ) -> Result<String, StoreError>;

    /// A kept file: its original name, hash and bytes.
    fn attachment(
        &self,
        run: &RunId,
        node: &str,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError>;

    /// The capture of one output stream of one attempt of a step, or `None`
    /// if none was kept.
    fn output(
        &self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
    ) -> Result<Option<Output>, StoreError>;

    /// The identity the store itself vouches for: the role a database
    /// authenticated. `None` when the store has no notion of one (a file
    /// on this machine), and the operator is then who the OS says.
    fn identity(&self) -> Option<String> {
        None
    }

    /// Waits until the run has an event after `after`, or `timeout` passes;
    /// says whether one came. It is meant for a run that no driver holds
    /// (a run paused for a person). A backend that can be told of commits
    /// (PostgreSQL's `LISTEN`) wakes as soon as one is; the others look
    /// every [`POLL_INTERVAL`].
    fn wait_for_events(
        &self,
        run: &RunId,
        after: u64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.events_since(run, after)?.is_empty() {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(left.min(POLL_INTERVAL));
        }
    }
}
