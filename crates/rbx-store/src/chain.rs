//! The check of a run's record that every durable backend shares: the
//! source snapshot against its hash, each event against its hash and the
//! one before, the journal's length and last hash against the run's row,
//! and every kept output and file against the digest an event recorded.
//! A backend reads its rows; this decides whether they hold together.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::hash::{RunHeader, event_hash, file_digest};
use crate::{Event, RunId, StoreError, Tail, hash_sources, output_digest};

/// A run's row as [`Store::verify`](crate::Store::verify) rehashes it.
#[derive(Debug)]
pub(crate) struct HeaderRow {
    pub(crate) runbook_id: String,
    pub(crate) title: String,
    pub(crate) entry: String,
    pub(crate) source_hash: String,
    pub(crate) inputs: String,
    pub(crate) started_at: String,
    pub(crate) started_by: String,
    pub(crate) host: String,
    pub(crate) head_seq: u64,
    pub(crate) head_hash: String,
}

/// An event's row as stored: the payload still the text that was hashed.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub(crate) seq: u64,
    pub(crate) time: String,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

impl EventRow {
    /// The event, its payload parsed; a payload that is not JSON is damage
    /// in the store at `store`.
    pub(crate) fn into_event(self, store: &Path, run: &RunId) -> Result<Event, StoreError> {
        let seq = self.seq;
        let payload = serde_json::from_str(&self.payload).map_err(|error| StoreError::Corrupt {
            path: store.to_owned(),
            detail: format!("event {seq} of run {run} has a payload that is not JSON: {error}"),
        })?;
        Ok(Event {
            seq,
            time: self.time,
            kind: self.kind,
            payload,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// The checked end of a journal as a [`Tail`]: its first row's payload
/// kept as text, the others parsed; `None` for no rows.
pub(crate) fn tail(
    rows: Vec<EventRow>,
    store: &Path,
    run: &RunId,
) -> Result<Option<Tail>, StoreError> {
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let rest = rows
        .map(|row| row.into_event(store, run))
        .collect::<Result<_, _>>()?;
    Ok(Some(Tail {
        seq: first.seq,
        payload: first.payload,
        rest,
    }))
}

/// A kept output as the check reads it: head, tail and byte count.
pub(crate) type KeptCapture = (Vec<u8>, Vec<u8>, u64);

/// What a backend keeps beside the journal, read back for the check.
pub(crate) trait Kept {
    /// One kept output: head, tail and byte count.
    fn output(
        &self,
        node: &str,
        attempt: i64,
        stream: &str,
    ) -> Result<Option<KeptCapture>, StoreError>;

    /// One kept file's bytes.
    fn file(&self, node: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Checks that the run's header, sources, events and kept captures hold
/// together; [`StoreError::ChainBroken`] at the first place they do not.
pub(crate) fn check(
    run: &RunId,
    header: &HeaderRow,
    sources: &[(String, String)],
    events: &[EventRow],
    kept: &dyn Kept,
) -> Result<(), StoreError> {
    let broken = |seq: u64, reason: String| StoreError::ChainBroken {
        run: run.clone(),
        seq,
        reason,
    };
    if hash_sources(sources) != header.source_hash {
        return Err(broken(
            0,
            "the source snapshot does not match the hash it was recorded with".to_owned(),
        ));
    }
    let mut prev_hash = RunHeader {
        id: run.as_str(),
        runbook_id: &header.runbook_id,
        title: &header.title,
        entry: &header.entry,
        source_hash: &header.source_hash,
        inputs: &header.inputs,
        started_at: &header.started_at,
        started_by: &header.started_by,
        host: &header.host,
    }
    .hash();
    let mut last = 0_u64;
    let mut vouched = Vouched::default();
    for row in events {
        let expected = last + 1;
        if row.seq != expected {
            return Err(broken(
                expected,
                format!(
                    "event {expected} is missing; the journal goes on at event {}",
                    row.seq
                ),
            ));
        }
        if row.prev_hash != prev_hash {
            let reason = if row.seq == 1 {
                "the first event does not follow from the run's header: the run's \
                 inputs or details, or the event, were changed"
                    .to_owned()
            } else {
                format!("its prev_hash is not the hash of event {}", row.seq - 1)
            };
            return Err(broken(row.seq, reason));
        }
        if event_hash(&row.prev_hash, row.seq, &row.time, &row.kind, &row.payload) != row.hash {
            return Err(broken(
                row.seq,
                "its time, kind or payload does not match its hash".to_owned(),
            ));
        }
        vouched.read(row.seq, &row.payload);
        prev_hash.clone_from(&row.hash);
        last = row.seq;
    }
    let head_seq = header.head_seq;
    if last < head_seq {
        return Err(broken(
            last + 1,
            format!(
                "the journal was cut short: it ends at event {last}, but the run recorded \
                 {head_seq} events (events were removed, or the store lost the end of its \
                 write-ahead log)"
            ),
        ));
    }
    if last > head_seq {
        return Err(broken(
            head_seq + 1,
            format!(
                "the journal goes on past event {head_seq}, the last the run recorded: \
                 events were added outside rbx"
            ),
        ));
    }
    if prev_hash != header.head_hash {
        let reason = if last == 0 {
            "the run's inputs or details do not match the hash they were recorded with"
        } else {
            "the last event's hash is not the one the run recorded"
        };
        return Err(broken(last, reason.to_owned()));
    }
    vouched.check(kept, run)
}

/// Checks the end of a run's journal as a resume reads it: `rows` are
/// consecutive events from the one before `from` (from the first event
/// when `from` is 1), each matching its hash and linked to the one before,
/// the last being the run's recorded head. Returns the events from `from`
/// on; [`StoreError::ChainBroken`] at the first place they do not hold
/// together. What comes before `from` is left to [`check`].
pub(crate) fn check_tail(
    run: &RunId,
    from: u64,
    head: (u64, &str),
    mut rows: Vec<EventRow>,
) -> Result<Vec<EventRow>, StoreError> {
    let broken = |seq: u64, reason: String| StoreError::ChainBroken {
        run: run.clone(),
        seq,
        reason,
    };
    let first = from.saturating_sub(1).max(1);
    let mut expected = first;
    let mut prev_hash: Option<&str> = None;
    for row in &rows {
        if row.seq != expected {
            return Err(broken(
                expected,
                format!(
                    "event {expected} is missing; the journal goes on at event {}",
                    row.seq
                ),
            ));
        }
        if prev_hash.is_some_and(|prev| prev != row.prev_hash) {
            return Err(broken(
                row.seq,
                format!("its prev_hash is not the hash of event {}", row.seq - 1),
            ));
        }
        if event_hash(&row.prev_hash, row.seq, &row.time, &row.kind, &row.payload) != row.hash {
            return Err(broken(
                row.seq,
                "its time, kind or payload does not match its hash".to_owned(),
            ));
        }
        prev_hash = Some(&row.hash);
        expected += 1;
    }
    let (head_seq, head_hash) = head;
    let last = expected - 1;
    if last < head_seq {
        return Err(broken(
            last + 1,
            format!(
                "the journal was cut short: it ends at event {last}, but the run recorded \
                 {head_seq} events (events were removed, or the store lost the end of its \
                 write-ahead log)"
            ),
        ));
    }
    if last > head_seq {
        return Err(broken(
            head_seq + 1,
            format!(
                "the journal goes on past event {head_seq}, the last the run recorded: \
                 events were added outside rbx"
            ),
        ));
    }
    if prev_hash.is_some_and(|hash| hash != head_hash) {
        return Err(broken(
            last,
            "the last event's hash is not the one the run recorded".to_owned(),
        ));
    }
    if from > first {
        rows.remove(0);
    }
    Ok(rows)
}

/// The outputs and files the events of a run vouch for, each with the
/// digest the latest event vouching for it recorded, and that event.
#[derive(Default)]
struct Vouched {
    /// (node, attempt, stream) → (event, digest).
    outputs: HashMap<(String, i64, String), (u64, String)>,
    /// (node, name) → (event, digest).
    files: HashMap<(String, String), (u64, String)>,
}

impl Vouched {
    /// Notes what event `seq`'s payload vouches for, if anything.
    fn read(&mut self, seq: u64, payload: &str) {
        // Most events vouch for nothing; only those that may are parsed.
        if !payload.contains("\"outputs\"") && !payload.contains("\"attachments\"") {
            return;
        }
        let Ok(payload) = serde_json::from_str::<Value>(payload) else {
            return;
        };
        let Some(node) = payload.get("node").and_then(Value::as_str) else {
            return;
        };
        let digests = |key: &str| {
            payload
                .get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(name, digest)| Some((name.clone(), digest.as_str()?.to_owned())))
                .collect::<Vec<_>>()
        };
        if let Some(attempt) = payload.get("attempt").and_then(Value::as_i64) {
            for (stream, digest) in digests("outputs") {
                self.outputs
                    .insert((node.to_owned(), attempt, stream), (seq, digest));
            }
        }
        for (name, digest) in digests("attachments") {
            self.files.insert((node.to_owned(), name), (seq, digest));
        }
    }

    /// Recomputes every vouched-for digest from what the store holds now,
    /// and reports the first (by event) that does not match.
    fn check(self, kept: &dyn Kept, run: &RunId) -> Result<(), StoreError> {
        let mut problems: Vec<(u64, String)> = Vec::new();
        for ((node, attempt, stream), (seq, digest)) in self.outputs {
            let what = format!("the {stream} of `{node}` (attempt {attempt})");
            match kept.output(&node, attempt, &stream)? {
                None => problems.push((seq, format!("{what} it vouches for is missing"))),
                Some((head, tail, total)) if output_digest(&head, &tail, total) != digest => {
                    problems.push((
                        seq,
                        format!(
                            "{what} does not match the digest this event recorded: \
                             the output was changed after it was kept"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        for ((node, name), (seq, digest)) in self.files {
            let what = format!("the file `{name}` given for `{node}`");
            match kept.file(&node, &name)? {
                None => problems.push((seq, format!("{what} that it vouches for is missing"))),
                Some(bytes) if file_digest(&bytes) != digest => problems.push((
                    seq,
                    format!(
                        "{what} does not match the SHA-256 this event recorded: \
                         the file was changed after it was kept"
                    ),
                )),
                Some(_) => {}
            }
        }
        match problems.into_iter().min() {
            Some((seq, reason)) => Err(StoreError::ChainBroken {
                run: run.clone(),
                seq,
                reason,
            }),
            None => Ok(()),
        }
    }
}
