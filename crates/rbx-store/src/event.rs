//! One entry of a run's journal.

use serde_json::Value;

/// An event of a run's journal, as it was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its position in the run's journal, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// What happened, such as `step.started`: lowercase letters, digits,
    /// `_`, `.` and `-`. The engine owns the vocabulary.
    pub kind: String,
    /// The details, as the engine gave them.
    pub payload: Value,
    /// The `hash` of the event before it; for event 1, the hash of the
    /// run's header, which covers its source hash and inputs.
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash|seq|time|kind|payload`, the payload being
    /// the JSON text as stored.
    pub hash: String,
}

/// The end of a run's journal from its newest event of some kind
/// ([`Store::tail_from_last`](crate::Store::tail_from_last)): that event's
/// payload as the text that was stored and hashed, for a reader that
/// decodes it into a type of its own without a [`Value`] in between, and
/// the events after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tail {
    /// The first event's position in the journal.
    pub seq: u64,
    /// The first event's payload, the JSON text as stored.
    pub payload: String,
    /// The events after it, in order.
    pub rest: Vec<Event>,
}
