//! The store on a thread of its own. SQLite work never runs on a tokio
//! worker: the executor sends closures here and awaits their answers. A
//! simulated run's store is in memory and never blocks: its journal is
//! written in the calling task instead (`Journal::inline`).

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rbx_store::{Store, StoreError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut dyn Store) + Send>;

/// A handle to the store thread. Cloning it shares the thread.
#[derive(Clone)]
pub struct Journal {
    to: To,
}

#[derive(Clone)]
enum To {
    Thread(mpsc::Sender<Job>),
    /// A store in memory, written in the caller's task: a simulated run,
    /// whose clock must not move while the journal is written.
    Inline(Arc<Mutex<Box<dyn Store>>>),
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

/// How long a deferred write may wait for the durable write that would
/// cover it before the store thread flushes it alone. A step's successor
/// starts well within it; a node that finishes while nothing else happens
/// (its siblings still running, the run idle) is on disk soon after.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// The store thread: runs jobs in the order sent, and flushes a deferred
/// write no job has covered within [`FLUSH_AFTER`], or when the last
/// handle is dropped.
fn serve(store: &mut dyn Store, receiver: &mpsc::Receiver<Job>) {
    loop {
        let next = if store.unsynced() {
            receiver.recv_timeout(FLUSH_AFTER)
        } else {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(job) => job(store),
            // A flush that fails leaves the write unsynced: it is tried
            // again, and the next durable write reports the store's error.
            Err(RecvTimeoutError::Timeout) => {
                let _ = store.sync();
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = store.sync();
                return;
            }
        }
    }
}

impl Journal {
    /// Moves `store` onto a new thread that runs jobs in the order sent.
    pub fn spawn(mut store: Box<dyn Store>) -> Journal {
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rbx-store".to_string())
            .spawn(move || serve(store.as_mut(), &receiver))
            .ok();
        Journal {
            to: To::Thread(jobs),
        }
    }

    /// A journal written in the calling task, for a store that never
    /// blocks (one in memory).
    pub fn inline(store: Box<dyn Store>) -> Journal {
        Journal {
            to: To::Inline(Arc::new(Mutex::new(store))),
        }
    }

    /// Runs `work` on the store thread and waits for its result.
    pub async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let jobs = match &self.to {
            To::Thread(jobs) => jobs,
            To::Inline(store) => {
                let mut store = store.lock().map_err(|_| JournalError::Gone)?;
                return work(store.as_mut()).map_err(JournalError::Store);
            }
        };
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(work(store));
        });
        if jobs.send(job).is_err() {
            return Err(JournalError::Gone);
        }
        match answer.await {
            Ok(result) => result.map_err(JournalError::Store),
            Err(_) => Err(JournalError::Gone),
        }
    }
}

/// Why a journal call failed.
#[derive(Debug)]
pub enum JournalError {
    Store(StoreError),
    /// The store thread ended (it panicked or could not start).
    Gone,
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Store(error) => error.fmt(f),
            JournalError::Gone => {
                f.write_str("the store thread stopped; nothing more can be recorded")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rbx_store::{NewRun, SqliteStore};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_deferred_write_nothing_covers_is_flushed_by_the_store_thread() {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let mut store = SqliteStore::open(tmp.path()).expect("the store opens");
        let run = store
            .create_run(&NewRun {
                runbook_id: "r".to_owned(),
                title: "R".to_owned(),
                entry: "r.runbook".to_owned(),
                sources: vec![("r.runbook".to_owned(), String::new())],
                inputs: json!({}),
                started_by: "tester".to_owned(),
                host: "here".to_owned(),
            })
            .expect("the run is created");
        let journal = Journal::spawn(Box::new(store));
        let pending = journal
            .call(move |s| {
                s.append_deferred(&run, "node_finished", &json!({}))?;
                Ok(s.unsynced())
            })
            .await
            .expect("appended");
        assert!(pending, "the write waits for a flush");
        // No other write comes: the store thread flushes it on its own
        // once the window has passed (far more time is given here than the
        // window, so a slow machine is no failure).
        tokio::time::sleep(FLUSH_AFTER * 20).await;
        let pending = journal.call(|s| Ok(s.unsynced())).await.expect("read back");
        assert!(!pending, "the store thread flushed the deferred write");
    }
}
