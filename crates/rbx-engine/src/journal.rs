//! The store on a thread of its own. SQLite work never runs on a tokio
//! worker: the executor sends closures here and awaits their answers.

use std::sync::mpsc;

use rbx_store::{Store, StoreError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut dyn Store) + Send>;

/// A handle to the store thread. Cloning it shares the thread.
#[derive(Clone)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
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
        Journal { jobs }
    }

    /// Runs `work` on the store thread and waits for its result.
    pub async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(work(store));
        });
        if self.jobs.send(job).is_err() {
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
