//! A store in memory: the journal of a simulated run (`rbx test`), which
//! nothing outlives. It keeps what the SQLite store keeps and answers the
//! same questions, with no hash chain (there is no file to alter) and times
//! read from a clock its owner gives, so a simulated clock's times are the
//! journal's. Clones share the same runs: the owner keeps one to read the
//! journal after the engine is done with the other.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::utc::Utc;
use crate::{
    Event, Holder, LastEvent, LockOutcome, NewRun, Output, RunId, RunSummary, Store, StoreError,
    Tail, hash_sources, output_digest,
};

/// Milliseconds since the epoch, as the store's owner reckons them.
pub type MemoryClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Runs, journals, outputs and files, in memory.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    clock: MemoryClock,
    runs: Vec<Kept>,
}

struct Kept {
    summary: RunSummary,
    sources: Vec<(String, String)>,
    events: Vec<Event>,
    holder: Option<Holder>,
    outputs: BTreeMap<(String, u32, String), Output>,
    attachments: BTreeMap<(String, String), (String, String, Vec<u8>)>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    pub fn new(clock: MemoryClock) -> MemoryStore {
        MemoryStore {
            shared: Arc::new(Mutex::new(Shared {
                clock,
                runs: Vec::new(),
            })),
        }
    }

    /// From now on, times are read from `clock`: a run written before the
    /// simulated one starts can be dated when it happened.
    pub fn set_clock(&self, clock: MemoryClock) {
        self.shared().clock = clock;
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // A panic while the lock was held leaves the runs as they were
        // between two whole writes: each write completes under the lock.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with<T>(
        &self,
        run: &RunId,
        f: impl FnOnce(&mut Kept, String) -> T,
    ) -> Result<T, StoreError> {
        let mut shared = self.shared();
        let now = Utc::from_unix_millis((shared.clock)()).rfc3339_millis();
        shared
            .runs
            .iter_mut()
            .find(|k| k.summary.id == *run)
            .map(|kept| f(kept, now))
            .ok_or_else(|| StoreError::UnknownRun { run: run.clone() })
    }
}

fn valid_kind(kind: &str) -> Result<(), StoreError> {
    if crate::hash::valid_kind(kind) {
        Ok(())
    } else {
        Err(StoreError::InvalidKind {
            kind: kind.to_string(),
        })
    }
}

impl Store for MemoryStore {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        let id = RunId::new(format!("sim-{}", self.shared().runs.len() + 1));
        self.create_run_as(&id, run)?;
        Ok(id)
    }

    fn create_run_as(&mut self, id: &RunId, run: &NewRun) -> Result<bool, StoreError> {
        let mut shared = self.shared();
        if shared.runs.iter().any(|kept| kept.summary.id == *id) {
            return Ok(false);
        }
        let id = id.clone();
        let now = Utc::from_unix_millis((shared.clock)()).rfc3339_millis();
        let summary = RunSummary {
            id: id.clone(),
            runbook_id: run.runbook_id.clone(),
            title: run.title.clone(),
            entry: run.entry.clone(),
            source_hash: hash_sources(&run.sources),
            inputs: run.inputs.clone(),
            started_at: now,
            started_by: run.started_by.clone(),
            host: run.host.clone(),
            status: "created".to_string(),
            next_due: None,
            last_event: None,
        };
        shared.runs.push(Kept {
            summary,
            sources: run.sources.clone(),
            events: Vec::new(),
            holder: None,
            outputs: BTreeMap::new(),
            attachments: BTreeMap::new(),
        });
        Ok(true)
    }

    fn append(&mut self, run: &RunId, kind: &str, payload: &Value) -> Result<u64, StoreError> {
        valid_kind(kind)?;
        self.with(run, |kept, time| {
            let seq = kept.events.len() as u64 + 1;
            kept.events.push(Event {
                seq,
                time: time.clone(),
                kind: kind.to_string(),
                payload: payload.clone(),
                prev_hash: String::new(),
                hash: String::new(),
            });
            kept.summary.last_event = Some(LastEvent {
                seq,
                kind: kind.to_string(),
                time,
            });
            seq
        })
    }

    fn append_stopping(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<u64, StoreError> {
        let seq = self.append(run, kind, payload)?;
        self.set_status(run, status, next_due)?;
        Ok(seq)
    }

    fn events(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.with(run, |kept, _| kept.events.clone())
    }

    fn events_since(&self, run: &RunId, seq: u64) -> Result<Vec<Event>, StoreError> {
        self.with(run, |kept, _| {
            kept.events
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect()
        })
    }

    /// No chain to check here, as for [`Store::verify`].
    fn journal_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Vec<Event>>, StoreError> {
        self.with(run, |kept, _| {
            let from = kept.events.iter().rposition(|e| e.kind == kind)?;
            Some(kept.events[from..].to_vec())
        })
    }

    /// The payload is written as the other stores keep it: JSON text.
    fn tail_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Tail>, StoreError> {
        self.with(run, |kept, _| {
            let from = kept.events.iter().rposition(|e| e.kind == kind)?;
            let first = &kept.events[from];
            Some(Tail {
                seq: first.seq,
                payload: first.payload.to_string(),
                rest: kept.events[from + 1..].to_vec(),
            })
        })
    }

    /// Events here cannot be altered from outside this process, and none
    /// carries a hash: there is no chain to check, only whether the run
    /// exists.
    fn verify(&self, run: &RunId) -> Result<(), StoreError> {
        self.with(run, |_, _| ())
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        Ok(self
            .shared()
            .runs
            .iter()
            .map(|k| k.summary.clone())
            .collect())
    }

    fn run(&self, id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        Ok(self.with(id, |k, _| k.summary.clone()).ok())
    }

    fn latest_with_status_in(&self, statuses: &[&str]) -> Result<Option<RunSummary>, StoreError> {
        Ok(self
            .shared()
            .runs
            .iter()
            .rev()
            .find(|k| statuses.contains(&k.summary.status.as_str()))
            .map(|k| k.summary.clone()))
    }

    fn set_status(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(run, |kept, _| {
            kept.summary.status = status.to_string();
            kept.summary.next_due = next_due.map(str::to_string);
        })
    }

    fn sources(&self, run: &RunId) -> Result<Vec<(String, String)>, StoreError> {
        self.with(run, |kept, _| kept.sources.clone())
    }

    fn lock(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError> {
        self.with(run, |kept, _| match kept.holder.replace(holder.clone()) {
            Some(previous) if previous.pid != holder.pid => LockOutcome::TookOver(previous),
            _ => LockOutcome::Acquired,
        })
    }

    fn unlock(&mut self, run: &RunId, pid: u32) -> Result<(), StoreError> {
        self.with(run, |kept, _| {
            if kept.holder.as_ref().is_some_and(|h| h.pid == pid) {
                kept.holder = None;
            }
        })
    }

    fn holder(&self, run: &RunId, _: &str) -> Result<Option<(Holder, bool)>, StoreError> {
        self.with(run, |kept, _| kept.holder.clone().map(|h| (h, true)))
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
        let digest = output_digest(head, tail, total);
        let output = Output {
            head: head.to_vec(),
            tail: tail.to_vec(),
            total,
        };
        self.with(run, |kept, _| {
            kept.outputs
                .insert((node.to_string(), attempt, stream.to_string()), output);
            digest
        })
    }

    fn put_attachment(
        &mut self,
        run: &RunId,
        node: &str,
        name: &str,
        file: &str,
        bytes: &[u8],
    ) -> Result<String, StoreError> {
        let hash = crate::hash::file_digest(bytes);
        self.with(run, |kept, _| {
            kept.attachments.insert(
                (node.to_string(), name.to_string()),
                (file.to_string(), hash.clone(), bytes.to_vec()),
            );
            hash
        })
    }

    fn attachment(
        &self,
        run: &RunId,
        node: &str,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
        self.with(run, |kept, _| {
            kept.attachments
                .get(&(node.to_string(), name.to_string()))
                .cloned()
        })
    }

    fn output(
        &self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
    ) -> Result<Option<Output>, StoreError> {
        self.with(run, |kept, _| {
            kept.outputs
                .get(&(node.to_string(), attempt, stream.to_string()))
                .cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use serde_json::json;

    use super::MemoryStore;
    use crate::{NewRun, Store};

    #[test]
    fn a_journal_in_memory_reads_back_in_order_with_the_owners_times() {
        let clock = Arc::new(AtomicI64::new(1_764_318_612_345));
        let reading = Arc::clone(&clock);
        let mut store = MemoryStore::new(Arc::new(move || reading.load(Ordering::SeqCst)));
        let new = NewRun {
            runbook_id: "r".into(),
            title: "R".into(),
            entry: "r.runbook".into(),
            sources: vec![("r.runbook".into(), "stage a \"A\" {}".into())],
            inputs: json!({}),
            started_by: "ada".into(),
            host: "h".into(),
        };
        let reader = store.clone();
        let run = store.create_run(&new).unwrap();
        assert_eq!(store.append(&run, "run_started", &json!({})).unwrap(), 1);
        clock.store(1_764_318_672_345, Ordering::SeqCst);
        let seq = store
            .append_stopping(
                &run,
                "run_ended",
                &json!({"outcome": "ok"}),
                "ended:ok",
                None,
            )
            .unwrap();
        assert_eq!(seq, 2);
        let events = reader.events(&run).unwrap();
        assert_eq!(events[0].time, "2025-11-28T08:30:12.345Z");
        assert_eq!(events[1].time, "2025-11-28T08:31:12.345Z");
        assert_eq!(store.events_since(&run, 1).unwrap().len(), 1);
        assert_eq!(store.run(&run).unwrap().unwrap().status, "ended:ok");
        assert!(store.append(&run, "Bad Kind", &json!({})).is_err());
        let ghost = crate::RunId::new("ghost");
        assert!(store.events(&ghost).is_err());
    }
}
