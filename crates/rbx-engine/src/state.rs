//! A run's state, derived from its journal and nothing else.
//!
//! Replaying the events in order gives every node's status: the executor
//! never keeps a fact the journal does not hold, so what a resumed run
//! knows is exactly what was durable when the last one stopped.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value as Json, json};

use crate::value::Value;

mod history;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
pub struct NodeState {
    pub status: Status,
    /// The last attempt started.
    pub attempts: u32,
    pub captures: BTreeMap<String, Value>,
    /// The branch a decision or choice took.
    pub branch: Option<String>,
    pub reason: Option<String>,
    pub duration_ms: Option<u64>,
    /// The journal sequence number of the finishing event, to order nodes.
    pub finished_seq: Option<u64>,
    /// Milliseconds since the epoch when the node finished.
    pub finished_at: Option<i64>,
    /// The node's own `when` condition, as written, when the node was
    /// skipped because it did not hold: such a node is settled, and its
    /// flow goes on past it (rule C1).
    pub condition: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
pub struct RunState {
    pub nodes: HashMap<String, NodeState>,
    pub status: RunStatus,
    /// The flows a route has left (rule L2): flow → the node that left it.
    pub left: BTreeMap<String, Left>,
    /// Who did what, where and when: what the views show, never what the
    /// executor decides by.
    pub history: History,
    /// When each wait the run stopped for is due, as it was computed then:
    /// a resumed wait keeps it, even if its `until` reads `now()`.
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Default for RunState {
    fn default() -> Self {
        RunState::new()
    }
}

/// The state after `events` (kind, payload, seq, time in ms since epoch).
pub fn replay<'e>(events: impl IntoIterator<Item = (&'e str, &'e Json, u64, i64)>) -> RunState {
    let mut state = RunState::new();
    for (kind, payload, seq, time) in events {
        let node = payload
            .get("node")
            .and_then(Json::as_str)
            .unwrap_or_default();
        state.history.apply(kind, payload, seq, time);
        match kind {
            // An attempt that failed with more to come: nothing is in
            // flight until the next attempt starts.
            kind::ATTEMPT_FAILED => {
                let entry = state.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Pending;
                entry.attempts = entry.attempts.max(attempt(payload));
            }
            kind::NODE_STARTED => {
                let entry = state.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Running;
                entry.attempts = attempt(payload);
            }
            kind::NODE_FINISHED => {
                let entry = state.nodes.entry(node.to_string()).or_default();
                entry.status = match payload.get("status").and_then(Json::as_str) {
                    Some("succeeded") => Status::Succeeded,
                    Some("cancelled") => Status::Cancelled,
                    _ => Status::Failed,
                };
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
                let entry = state.nodes.entry(node.to_string()).or_default();
                entry.status = Status::Skipped;
                entry.finished_seq = Some(seq);
                entry.condition = text(payload, "condition");
            }
            kind::FLOW_LEFT => {
                if let Some(flow) = text(payload, "flow") {
                    state.left.entry(flow).or_insert_with(|| Left {
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
                state.left.retain(|_, left| !nodes.contains(&left.by));
                // A run re-driven past its clean-up cleans up again at its
                // next end.
                if payload.get("finally").and_then(Json::as_bool) == Some(true) {
                    state.finally = None;
                    state.cleanups.retain(|_, at_end| !*at_end);
                }
                // Stages run again from inside clean up again when left.
                for stage in payload
                    .get("cleanups")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                {
                    state.cleanups.remove(stage);
                }
                for reset in nodes {
                    state.history.reset(&reset);
                    state.dues.remove(&reset);
                    if let Some(entry) = state.nodes.get_mut(&reset) {
                        let attempts = entry.attempts;
                        *entry = NodeState {
                            attempts,
                            ..NodeState::default()
                        };
                    }
                }
                state.status = RunStatus::Running;
            }
            kind::RUN_RESUMED => state.status = RunStatus::Running,
            kind::FINALLY_STARTED => state.finally = Some(payload.clone()),
            kind::CLEANUP_STARTED => {
                let stage = payload.get("stage").and_then(Json::as_str);
                let at_end = payload.get("at_end").and_then(Json::as_bool) == Some(true);
                if let Some(stage) = stage {
                    state.cleanups.insert(stage.to_string(), at_end);
                }
            }
            kind::RUN_PAUSED => {
                state.status = RunStatus::Paused {
                    node: node.to_string(),
                }
            }
            kind::RUN_INTERRUPTED => state.status = RunStatus::Interrupted,
            kind::RUN_WAITING => {
                let due = payload.get("due").and_then(Json::as_i64).unwrap_or(0);
                state.dues.insert(node.to_string(), due);
                state.status = RunStatus::Waiting {
                    node: node.to_string(),
                    due,
                }
            }
            kind::RUN_CANCELLED => state.status = RunStatus::Cancelled,
            kind::RUN_FAILED => {
                state.status = RunStatus::Failed {
                    node: node.to_string(),
                }
            }
            kind::RUN_ENDED => {
                state.status = RunStatus::Ended {
                    outcome: text(payload, "outcome").unwrap_or_default(),
                }
            }
            _ => {}
        }
    }
    state
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
