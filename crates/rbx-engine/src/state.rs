//! A run's state, derived from its journal and nothing else.
//!
//! Replaying the events in order gives every node's status: the executor
//! never keeps a fact the journal does not hold, so what a resumed run
//! knows is exactly what was durable when the last one stopped.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::value::Value;

mod child;
mod history;

pub use child::{Again, ChildRun};
pub use history::{Cancellation, Confirmation, EarlierAttempt, History, NodeHistory, Signer};

/// Event kinds, as written to the journal.
pub mod kind {
    pub const RUN_STARTED: &str = "run_started";
    pub const RUN_RESUMED: &str = "run_resumed";
    pub const NODE_STARTED: &str = "node_started";
    pub const ATTEMPT_FAILED: &str = "attempt_failed";
    pub const NODE_FINISHED: &str = "node_finished";
    pub const NODE_SKIPPED: &str = "node_skipped";
    /// One probe of a polling `wait`: its exit status, whether the wait's
    /// expectations held, and the end of its output.
    pub const WAIT_POLLED: &str = "wait_polled";
    pub const FLOW_LEFT: &str = "flow_left";
    /// When an iteration of an `every` is due (rule V2), recorded the first
    /// time its turn comes, before it is waited for.
    pub const ITERATION_DUE: &str = "iteration_due";
    /// The work an `every` runs beside has settled: the iterations not
    /// begun are skipped, every node of them listed (rule V3).
    pub const EVERY_STOPPED: &str = "every_stopped";
    pub const IN_DOUBT: &str = "in_doubt";
    pub const RETRY: &str = "retry";
    pub const RERUN_FROM: &str = "rerun_from";
    pub const RUN_PAUSED: &str = "run_paused";
    pub const RUN_INTERRUPTED: &str = "run_interrupted";
    pub const RUN_FAILED: &str = "run_failed";
    pub const RUN_ENDED: &str = "run_ended";
    pub const RUN_CANCELLED: &str = "run_cancelled";
    pub const RUN_WAITING: &str = "run_waiting";
    /// The run's end is decided and its `finally` block starts: the
    /// payload says how it would have ended.
    pub const FINALLY_STARTED: &str = "finally_started";
    /// A stage instance's own clean-up starts: it was left (`at_end`
    /// false) or the run's end was decided with it started (true).
    pub const CLEANUP_STARTED: &str = "cleanup_started";
    pub const CONFIRMED: &str = "irreversible_confirmed";
    /// One person's sign-off that did not yet settle its node.
    pub const SIGNOFF_RECORDED: &str = "signoff_recorded";
    pub const STAGE_OVERRUN: &str = "stage_overrun";
    pub const HOOK_RAN: &str = "hook_ran";
    pub const HOOK_FAILED: &str = "hook_failed";
    /// The run's state as the events before it replay to, so that a
    /// resume reads it and the events after it instead of the whole
    /// journal (`crate::checkpoint`). It records no happening: a replay
    /// passes over it.
    pub const CHECKPOINT: &str = "checkpoint";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    /// Started and not finished: while the run is driven, running; when a
    /// run is resumed, in doubt.
    Running,
    Succeeded,
    Failed,
    Skipped,
    /// Stopped by an operator's cancel; its `on cancel` route carries on.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn settled(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::Skipped | Status::Cancelled
        )
    }
}

/// One word for where a node stands, the same in `rbx status`, `rbx report`
/// and every JSON output: `done`, `failed`, `skipped` (no control reached
/// it: a branch not taken, or its flow was left), `cancelled` (by
/// `rbx cancel`), `running`, `in_doubt` (started, and no process drives the
/// run), `pending` (the run may still reach it) or `not_reached` (the run
/// ended without reaching it).
pub fn standing(node: Option<&NodeState>, run: &RunStatus, driven: bool) -> &'static str {
    match node.map(|n| n.status) {
        None | Some(Status::Pending) if matches!(run, RunStatus::Ended { .. }) => "not_reached",
        None | Some(Status::Pending) => "pending",
        Some(Status::Running) if driven => "running",
        Some(Status::Running) => "in_doubt",
        Some(Status::Succeeded) => "done",
        Some(Status::Failed) => "failed",
        Some(Status::Skipped) => "skipped",
        Some(Status::Cancelled) => "cancelled",
    }
}

/// In a checkpoint, a field that is empty is left out, and reads back
/// empty: a finished step is a handful of numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeState {
    pub status: Status,
    /// The last attempt started.
    pub attempts: u32,
    #[serde(with = "captures", skip_serializing_if = "BTreeMap::is_empty")]
    pub captures: BTreeMap<String, Value>,
    /// The branch a decision or choice took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The journal sequence number of the finishing event, to order nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_seq: Option<u64>,
    /// Milliseconds since the epoch when the node finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// The node's own `when` condition, as written, when the node was
    /// skipped because it did not hold: such a node is settled, and its
    /// flow goes on past it (rule C1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// A step that was in doubt and runs again (S2): pending, but it had
    /// started, so its loop item stays admitted (R4) — a loop closed since
    /// (R6) does not shut it out. Set by a resume in memory, never by a
    /// replay: not in a checkpoint.
    #[serde(skip)]
    pub rerun: bool,
    /// For a `child` node: the child run its last start named (rule D7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<ChildRun>,
}

impl Default for NodeState {
    fn default() -> Self {
        NodeState {
            status: Status::Pending,
            attempts: 0,
            captures: BTreeMap::new(),
            branch: None,
            reason: None,
            duration_ms: None,
            finished_seq: None,
            finished_at: None,
            condition: None,
            rerun: false,
            child: None,
        }
    }
}

impl NodeState {
    /// Why the node stands where it does, in words: the reason its
    /// settlement recorded, or the condition that skipped it.
    pub fn why(&self) -> Option<String> {
        self.reason.clone().or_else(|| {
            self.condition
                .as_ref()
                .map(|condition| skipped_by(condition))
        })
    }
}

/// The words for a node its own condition skipped, the same in every view.
pub fn skipped_by(condition: &str) -> String {
    format!("its condition `when {condition}` did not hold")
}

/// How a run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Paused {
        node: String,
    },
    /// Stopped until a time: a wait too long to sit through.
    Waiting {
        node: String,
        due: i64,
    },
    Interrupted,
    Failed {
        node: String,
    },
    /// An operator cancelled the run; resuming it runs the compensation.
    Cancelled,
    Ended {
        outcome: String,
    },
}

impl RunStatus {
    pub fn label(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Paused { .. } => "paused",
            RunStatus::Waiting { .. } => "waiting",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed { .. } => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Ended { .. } => "ended",
        }
    }
}

/// A checkpoint holds all of it but the history, which only the views
/// read, and they replay the whole journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub nodes: HashMap<String, NodeState>,
    pub status: RunStatus,
    /// The flows a route has left (rule L2): flow → the node that left it.
    pub left: BTreeMap<String, Left>,
    /// Who did what, where and when: what the views show, never what the
    /// executor decides by.
    #[serde(skip)]
    pub history: History,
    /// When each wait the run stopped for is due, as it was computed then:
    /// a resumed wait keeps it, even if its `until` reads `now()`; and when
    /// each iteration of an `every` whose turn came is due (rule V2).
    pub dues: HashMap<String, i64>,
    /// Once the run's `finally` block has started: how the run ends when
    /// it is over (`finally_started`'s payload: `outcome` and `success`,
    /// or the `failed` node and its `reason`).
    pub finally: Option<Json>,
    /// The stage instances whose own clean-up has started, each with
    /// whether it started at the run's end (`cleanup_started`).
    pub cleanups: BTreeMap<String, bool>,
}

/// How a flow was left: by which node, at which event of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    pub by: String,
    pub seq: u64,
}

impl RunState {
    pub fn new() -> RunState {
        RunState {
            nodes: HashMap::new(),
            status: RunStatus::Running,
            left: BTreeMap::new(),
            history: History::default(),
            dues: HashMap::new(),
            finally: None,
            cleanups: BTreeMap::new(),
        }
    }
}

impl RunState {
    /// Whether two states say the same for the executor: everything but
    /// the history.
    pub fn same_for_executor(&self, other: &RunState) -> bool {
        self.nodes == other.nodes
            && self.status == other.status
            && self.left == other.left
            && self.dues == other.dues
            && self.finally == other.finally
            && self.cleanups == other.cleanups
    }
}

impl Default for RunState {
    fn default() -> Self {
        RunState::new()
    }
}

/// The state after `events` (kind, payload, seq, time in ms since epoch).
pub fn replay<'e>(events: impl IntoIterator<Item = (&'e str, &'e Json, u64, i64)>) -> RunState {
    let mut state = RunState::new();
    for (kind, payload, seq, time) in events {
        state.apply(kind, payload, seq, time);
    }
    state
}

impl RunState {
    /// Takes in the next event of the journal (time in ms since epoch).
    pub fn apply(&mut self, kind: &str, payload: &Json, seq: u64, time: i64) {
        if kind == kind::CHECKPOINT {
            return;
        }
        let node = payload
            .get("node")
            .and_then(Json::as_str)
            .unwrap_or_default();
        self.history.apply(kind, payload, seq, time);
        match kind {
            // An attempt that failed with more to come: nothing is in
            // flight until the next attempt starts.
            kind::ATTEMPT_FAILED => {
                let entry = self.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Pending;
                entry.attempts = entry.attempts.max(attempt(payload));
            }
            kind::NODE_STARTED => {
                let entry = self.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Running;
                entry.attempts = attempt(payload);
                if let Some(id) = text(payload, "child") {
                    entry.child = Some(ChildRun { id, again: None });
                }
            }
            kind::NODE_FINISHED => {
                let entry = self.nodes.entry(node.to_string()).or_default();
                entry.status = match payload.get("status").and_then(Json::as_str) {
                    Some("succeeded") => Status::Succeeded,
                    Some("cancelled") => Status::Cancelled,
                    _ => Status::Failed,
                };
                if entry.status == Status::Cancelled && self.status == RunStatus::Cancelled {
                    self.status = RunStatus::Running;
                }
                entry.attempts = entry.attempts.max(attempt(payload));
                entry.captures = payload
                    .get("captures")
                    .and_then(Json::as_object)
                    .map(|map| {
                        map.iter()
                            .filter_map(|(k, v)| Some((k.clone(), Value::from_json(v)?)))
                            .collect()
                    })
                    .unwrap_or_default();
                entry.branch = text(payload, "branch");
                entry.reason = text(payload, "reason");
                entry.duration_ms = payload.get("duration_ms").and_then(Json::as_u64);
                entry.finished_seq = Some(seq);
                entry.finished_at = Some(time);
            }
            kind::NODE_SKIPPED => {
                let entry = self.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Skipped;
                entry.finished_seq = Some(seq);
                entry.condition = text(payload, "condition");
            }
            kind::ITERATION_DUE => {
                let due = payload.get("due").and_then(Json::as_i64).unwrap_or(0);
                self.dues.insert(node.to_string(), due);
            }
            kind::EVERY_STOPPED => {
                let skipped = payload.get("skipped").and_then(Json::as_array);
                for id in skipped.into_iter().flatten().filter_map(Json::as_str) {
                    let entry = self.nodes.entry(id.to_string()).or_default();
                    entry.status = Status::Skipped;
                    entry.finished_seq = Some(seq);
                }
            }
            kind::FLOW_LEFT => {
                if let Some(flow) = text(payload, "flow") {
                    self.left.entry(flow).or_insert_with(|| Left {
                        by: node.to_string(),
                        seq,
                    });
                }
            }
            kind::RETRY | kind::RERUN_FROM => {
                let nodes: Vec<String> = payload
                    .get("reset")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                // A flow left by a node run again is not left any more.
                self.left.retain(|_, left| !nodes.contains(&left.by));
                // A run re-driven past its clean-up cleans up again at its
                // next end.
                if payload.get("finally").and_then(Json::as_bool) == Some(true) {
                    self.finally = None;
                    self.cleanups.retain(|_, at_end| !*at_end);
                }
                // Stages run again from inside clean up again when left.
                for stage in payload
                    .get("cleanups")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                {
                    self.cleanups.remove(stage);
                }
                let again = match kind {
                    kind::RETRY => Again::Redrive,
                    _ => Again::From,
                };
                for reset in nodes {
                    self.history.reset(&reset);
                    self.dues.remove(&reset);
                    if let Some(entry) = self.nodes.get_mut(&reset) {
                        entry.reset(again);
                    }
                }
                self.status = RunStatus::Running;
            }
            // A cancel not carried out yet stays pending across the resume
            // that carries it out, until that resume records the carrying
            // out (a node cancelled, the clean-up begun, the run ended): a
            // crash in between leaves it to the next resume.
            kind::RUN_RESUMED if self.status == RunStatus::Cancelled => {}
            // A failed run stays failed until the resume records its
            // re-drive (`retry`, rule S5): one killed in between is
            // re-driven by the next resume, not failed again untried.
            kind::RUN_RESUMED if matches!(self.status, RunStatus::Failed { .. }) => {}
            kind::RUN_RESUMED => self.status = RunStatus::Running,
            kind::FINALLY_STARTED => {
                self.finally = Some(payload.clone());
                if self.status == RunStatus::Cancelled {
                    self.status = RunStatus::Running;
                }
            }
            kind::CLEANUP_STARTED => {
                let stage = payload.get("stage").and_then(Json::as_str);
                let at_end = payload.get("at_end").and_then(Json::as_bool) == Some(true);
                if let Some(stage) = stage {
                    self.cleanups.insert(stage.to_string(), at_end);
                }
            }
            kind::RUN_PAUSED => {
                self.status = RunStatus::Paused {
                    node: node.to_string(),
                }
            }
            kind::RUN_INTERRUPTED => self.status = RunStatus::Interrupted,
            kind::RUN_WAITING => {
                let due = payload.get("due").and_then(Json::as_i64).unwrap_or(0);
                self.dues.insert(node.to_string(), due);
                self.status = RunStatus::Waiting {
                    node: node.to_string(),
                    due,
                }
            }
            kind::RUN_CANCELLED => self.status = RunStatus::Cancelled,
            kind::RUN_FAILED => {
                self.status = RunStatus::Failed {
                    node: node.to_string(),
                }
            }
            kind::RUN_ENDED => {
                self.status = RunStatus::Ended {
                    outcome: text(payload, "outcome").unwrap_or_default(),
                }
            }
            _ => {}
        }
    }
}

fn attempt(payload: &Json) -> u32 {
    payload
        .get("attempt")
        .and_then(Json::as_u64)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0)
}

fn text(payload: &Json, key: &str) -> Option<String> {
    payload.get(key).and_then(Json::as_str).map(str::to_string)
}

/// The captures of a node as journal JSON; secrets are never captured.
pub fn captures_json(captures: &BTreeMap<String, Value>) -> Json {
    let map: serde_json::Map<String, Json> = captures
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.to_json()?)))
        .collect();
    json!(map)
}

/// Captures in a checkpoint as the journal writes them (`captures_json`),
/// so that a value reads back as a replay of its event reads it.
mod captures {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value as Json;

    use crate::value::Value;

    pub(super) fn serialize<S: Serializer>(
        captures: &BTreeMap<String, Value>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        super::captures_json(captures).serialize(to)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        from: D,
    ) -> Result<BTreeMap<String, Value>, D::Error> {
        let map = BTreeMap::<String, Json>::deserialize(from)?;
        map.into_iter()
            .map(|(name, json)| match Value::from_json(&json) {
                Some(value) => Ok((name, value)),
                None => Err(serde::de::Error::custom(format!(
                    "the capture `{name}` is not a value"
                ))),
            })
            .collect()
    }
}
