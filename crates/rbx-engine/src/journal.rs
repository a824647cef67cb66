//! The store on a thread of its own. SQLite work never runs on a tokio
//! worker: the executor sends closures here and awaits their answers. A
//! simulated run's store is in memory and never blocks: its journal is
//! written in the calling task instead (`Journal::inline`).

use std::sync::{Arc, Mutex, mpsc};

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

impl Journal {
    /// Moves `store` onto a new thread that runs jobs in the order sent.
    pub fn spawn(mut store: Box<dyn Store>) -> Journal {
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rbx-store".to_string())
            .spawn(move || {
                for job in receiver {
                    job(store.as_mut());
                }
            })
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
