//! What a run is started with, and what the store tells about it.

use serde_json::Value;

use crate::RunId;

/// Everything a run is created with. The store computes the hash of
/// `sources` itself (with [`hash_sources`](crate::hash_sources)), so the
/// recorded hash always describes the recorded snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The `runbook ID` of the entry file.
    pub runbook_id: String,
    /// The runbook's title.
    pub title: String,
    /// The path of the entry file, as the operator gave it.
    pub entry: String,
    /// Every source file of the procedure, `(path, text)`, entry first: the
    /// snapshot a resume executes, never the files on disk.
    pub sources: Vec<(String, String)>,
    /// The inputs the run was started with. Secrets must not be here: the
    /// store keeps whatever it is given, forever.
    pub inputs: Value,
    /// The operator who started the run.
    pub started_by: String,
    /// The host the run was started on.
    pub host: String,
}

/// A run as [`Store::runs`](crate::Store::runs) lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's id.
    pub id: RunId,
    /// The `runbook ID` of the entry file.
    pub runbook_id: String,
    /// The runbook's title.
    pub title: String,
    /// The path of the entry file.
    pub entry: String,
    /// The hex SHA-256 of the source snapshot.
    pub source_hash: String,
    /// The non-secret inputs the run was started with.
    pub inputs: Value,
    /// When the run was created, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// The operator who started the run.
    pub started_by: String,
    /// The host the run was started on.
    pub host: String,
    /// The status the engine last set with
    /// [`Store::set_status`](crate::Store::set_status); `created` until then.
    pub status: String,
    /// When the run's next step is due, if the engine said so (a durable
    /// time anchor); RFC 3339 as the engine wrote it.
    pub next_due: Option<String>,
    /// The newest event of the journal, if there is one.
    pub last_event: Option<LastEvent>,
}

/// The newest event of a run, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEvent {
    /// Its sequence number: the number of events in the journal.
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// When it was recorded, RFC 3339 UTC with milliseconds.
    pub time: String,
}
