//! What the journal says about a run beyond the state the executor needs:
//! who did what, where, when and with what evidence. `rbx report` and the
//! other views read it; the executor never decides anything by it.
//!
//! It is replayed in the same pass as the state, and a retry or a re-run
//! `--from` resets a node's history where it resets the node's state
//! (`History::reset`), keeping what the reset node did as an earlier
//! attempt.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::{attempt, kind, text};

/// A run's history: one entry per node the journal names, and the
/// run-level facts.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub nodes: HashMap<String, NodeHistory>,
    /// Who started the run, then each operator who resumed it, in order.
    pub drivers: Vec<String>,
    /// The operator's cancel, when the run was cancelled.
    pub cancellation: Option<Cancellation>,
    /// For an ended run: whether its outcome is a success, as recorded
    /// with it (`None` for a run recorded before outcomes had classes).
    pub success: Option<bool>,
    /// Why the run failed, as its `run_failed` event says.
    pub failure: Option<String>,
    /// When the run last stopped (paused, waited, was interrupted,
    /// cancelled, failed or ended).
    pub stopped_at: Option<i64>,
    /// Milliseconds since the epoch of the first and the last event.
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
    /// For a child run: the run and the node that started it, as its
    /// `run_started` names them.
    pub parent: Option<(String, String)>,
}

/// One node's history. Times are milliseconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct NodeHistory {
    /// The journal sequence number of the first event that names it.
    pub first_seq: u64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The command of the last attempt, as recorded (secrets masked).
    pub command: Option<String>,
    pub host: Option<String>,
    pub operator: Option<String>,
    /// How a person's answer arrived (`rbx confirm`, `answers file`), or
    /// that the in-doubt policy of a resume settled the node.
    pub via: Option<String>,
    pub exit: Option<i64>,
    pub answers: Map<String, Json>,
    pub rationale: Option<String>,
    pub signers: Vec<Signer>,
    /// Who confirmed an irreversible step before it ran.
    pub confirmed: Option<Confirmation>,
    /// Attempts before the one the node's state describes: failed attempts
    /// that were retried, and settlements a retry or `--from` reset.
    pub earlier: Vec<EarlierAttempt>,
    /// The last settlement, kept to become an earlier attempt on a reset.
    settled: Option<EarlierAttempt>,
    /// How many times a polling `wait` probed, over every attempt and
    /// resume, and what its last probe found.
    pub polls: u32,
    pub last_probe: Option<Probe>,
    /// For a `child` node: the id of the child run it started.
    pub child: Option<String>,
    /// Whether a resume's in-doubt policy settled the node as done, which
    /// its `node_finished` then records.
    settled_in_doubt: bool,
    /// For an iteration of an `every` (its tick): when it was due.
    pub due: Option<i64>,
    /// The tick's interval passed without it starting (rule V4).
    pub missed: bool,
    /// Skipped because the work its `every` ran beside had settled (V3):
    /// an iteration that never came, which views leave out.
    pub stopped: bool,
}

/// One person's part in a sign-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub role: String,
    pub by: String,
    /// `GO` or `NO-GO`.
    pub decision: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub operator: Option<String>,
    pub via: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub operator: Option<String>,
    pub reason: Option<String>,
    pub at: i64,
}

/// One probe of a polling `wait`, as `wait_polled` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub poll: u32,
    pub at: i64,
    pub exit: Option<i64>,
    /// Whether the wait's expectations held.
    pub held: bool,
    /// Why they did not.
    pub reason: Option<String>,
    /// The end of its standard output and error (secrets masked).
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierAttempt {
    pub attempt: u32,
    pub at: i64,
    /// `failed`, `done`, `skipped` or `cancelled`.
    pub result: &'static str,
    pub reason: Option<String>,
    pub exit: Option<i64>,
    /// When the attempt earned another: after how long, and why
    /// (`retried after 4s: exit 75 is retried (on exit 75, 111)`).
    pub retried: Option<String>,
    /// For a `child` node: the child run the attempt started (rule D7).
    pub child: Option<String>,
}

impl History {
    fn node(&mut self, id: &str, seq: u64) -> &mut NodeHistory {
        let node = self.nodes.entry(id.to_string()).or_default();
        if node.first_seq == 0 {
            node.first_seq = seq;
        }
        node
    }

    /// Takes in one event, after the state has.
    pub(super) fn apply(&mut self, kind: &str, payload: &Json, seq: u64, time: i64) {
        self.first_at.get_or_insert(time);
        self.last_at = Some(time);
        let id = text(payload, "node");
        match (kind, id.as_deref()) {
            (kind::RUN_STARTED | kind::RUN_RESUMED, _) => {
                if let Some(parent) = payload.get("parent") {
                    if let (Some(run), Some(node)) = (text(parent, "run"), text(parent, "node")) {
                        self.parent = Some((run, node));
                    }
                }
                if let Some(operator) = text(payload, "operator") {
                    self.drivers.push(operator);
                }
            }
            (kind::NODE_STARTED, Some(id)) => {
                let node = self.node(id, seq);
                node.started_at.get_or_insert(time);
                node.command = text(payload, "command").or(node.command.take());
                node.host = text(payload, "host").or(node.host.take());
                node.operator = text(payload, "operator").or(node.operator.take());
                node.child = text(payload, "child").or(node.child.take());
            }
            (kind::WAIT_POLLED, Some(id)) => {
                let node = self.node(id, seq);
                node.polls += 1;
                node.last_probe = Some(Probe {
                    poll: u32::try_from(payload.get("poll").and_then(Json::as_u64).unwrap_or(0))
                        .unwrap_or(u32::MAX),
                    at: time,
                    exit: payload.get("exit").and_then(Json::as_i64),
                    held: payload.get("held").and_then(Json::as_bool).unwrap_or(false),
                    reason: text(payload, "reason"),
                    stdout: text(payload, "stdout").unwrap_or_default(),
                    stderr: text(payload, "stderr").unwrap_or_default(),
                });
            }
            (kind::ATTEMPT_FAILED, Some(id)) => {
                let node = self.node(id, seq);
                let child = node.child.clone();
                node.earlier.push(EarlierAttempt {
                    attempt: attempt(payload),
                    at: time,
                    result: "failed",
                    reason: text(payload, "reason"),
                    exit: payload.get("exit").and_then(Json::as_i64),
                    retried: retried(payload),
                    child,
                });
            }
            (kind::IN_DOUBT, Some(id)) if text(payload, "decision").as_deref() == Some("done") => {
                // The engine records no operator with a node its in-doubt
                // policy settles: it is the one who resumed the run.
                let driver = self.drivers.last().cloned();
                let node = self.node(id, seq);
                node.operator = driver;
                node.settled_in_doubt = true;
            }
            (kind::NODE_FINISHED, Some(id)) => self.node(id, seq).finished(payload, time),
            (kind::ITERATION_DUE, Some(id)) => {
                self.node(id, seq).due = payload.get("due").and_then(Json::as_i64);
            }
            (kind::EVERY_STOPPED, _) => {
                let skipped = payload.get("skipped").and_then(Json::as_array);
                for id in skipped.into_iter().flatten().filter_map(Json::as_str) {
                    let node = self.node(id, seq);
                    node.stopped = true;
                    node.finished_at = Some(time);
                }
            }
            (kind::NODE_SKIPPED, Some(id)) => {
                let node = self.node(id, seq);
                node.finished_at = Some(time);
                node.missed = payload.get("missed").and_then(Json::as_bool) == Some(true);
                node.settled = Some(EarlierAttempt {
                    attempt: 0,
                    at: time,
                    result: "skipped",
                    reason: None,
                    exit: None,
                    retried: None,
                    child: None,
                });
            }
            (kind::CONFIRMED, Some(id)) => {
                self.node(id, seq).confirmed = Some(Confirmation {
                    operator: text(payload, "operator"),
                    via: text(payload, "via"),
                    at: time,
                });
            }
            (kind::RUN_CANCELLED, _) => {
                self.cancellation = Some(Cancellation {
                    operator: text(payload, "operator"),
                    reason: text(payload, "reason"),
                    at: time,
                });
                self.stopped_at = Some(time);
            }
            (kind::RUN_ENDED, _) => {
                self.success = payload.get("success").and_then(Json::as_bool);
                self.stopped_at = Some(time);
            }
            (kind::RUN_FAILED, _) => {
                self.failure = text(payload, "reason");
                self.stopped_at = Some(time);
            }
            (kind::RUN_PAUSED | kind::RUN_WAITING | kind::RUN_INTERRUPTED, _) => {
                self.stopped_at = Some(time);
            }
            _ => {}
        }
    }

    /// A retry or a re-run `--from` resets `id`: what it did becomes an
    /// earlier attempt, and the rest of its history starts again.
    pub(super) fn reset(&mut self, id: &str) {
        let Some(node) = self.nodes.get_mut(id) else {
            return;
        };
        let mut earlier = std::mem::take(&mut node.earlier);
        earlier.extend(node.settled.take());
        *node = NodeHistory {
            first_seq: node.first_seq,
            earlier,
            ..NodeHistory::default()
        };
    }
}

impl NodeHistory {
    fn finished(&mut self, payload: &Json, time: i64) {
        self.finished_at = Some(time);
        self.exit = payload.get("exit").and_then(Json::as_i64);
        self.answers = payload
            .get("answers")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        self.rationale = text(payload, "rationale").or_else(|| {
            self.answers
                .get("rationale")
                .and_then(Json::as_str)
                .map(str::to_string)
        });
        self.signers = payload
            .get("signoffs")
            .and_then(Json::as_array)
            .map(|list| list.iter().map(signer).collect())
            .unwrap_or_default();
        self.via = if std::mem::take(&mut self.settled_in_doubt) {
            Some("in-doubt policy of rbx resume".to_string())
        } else {
            text(payload, "via")
        };
        self.operator = text(payload, "operator").or(self.operator.take());
        let result = match payload.get("status").and_then(Json::as_str) {
            Some("succeeded") => "done",
            Some("cancelled") => "cancelled",
            _ => "failed",
        };
        self.settled = Some(EarlierAttempt {
            attempt: attempt(payload),
            at: time,
            result,
            reason: text(payload, "reason"),
            exit: self.exit,
            retried: None,
            child: self.child.clone(),
        });
    }
}

/// `retried after 4s: exit 75 is retried (on exit 75, 111)`, from the
/// delay and reason a failed attempt recorded when it earned another.
fn retried(payload: &Json) -> Option<String> {
    let after = payload.get("retry_after_ms").and_then(Json::as_u64)?;
    let because = text(payload, "retry_because").unwrap_or_default();
    Some(format!(
        "retried after {}: {because}",
        rbx_syntax::fmt::duration(after)
    ))
}

fn signer(payload: &Json) -> Signer {
    Signer {
        role: text(payload, "role").unwrap_or_default(),
        by: text(payload, "by").unwrap_or_default(),
        decision: text(payload, "decision").unwrap_or_default(),
        comment: text(payload, "comment"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Status, kind, replay};

    fn state(list: &[(&'static str, serde_json::Value)]) -> super::super::RunState {
        replay(
            list.iter()
                .enumerate()
                .map(|(i, (k, p))| (*k, p, i as u64 + 1, 1000 * i as i64)),
        )
    }

    #[test]
    fn a_reset_keeps_what_the_node_did_as_an_earlier_attempt() {
        for reset in [kind::RETRY, kind::RERUN_FROM] {
            let list = [
                (kind::RUN_STARTED, json!({ "operator": "alice" })),
                (
                    kind::NODE_STARTED,
                    json!({ "node": "s.a", "attempt": 1, "command": "one", "operator": "alice" }),
                ),
                (
                    kind::ATTEMPT_FAILED,
                    json!({ "node": "s.a", "attempt": 1, "exit": 1, "reason": "exit 1" }),
                ),
                (
                    kind::NODE_STARTED,
                    json!({ "node": "s.a", "attempt": 2, "command": "one" }),
                ),
                (
                    kind::NODE_FINISHED,
                    json!({ "node": "s.a", "attempt": 2, "status": "failed", "exit": 2, "reason": "exit 2" }),
                ),
                (reset, json!({ "reset": ["s.a"] })),
                (kind::RUN_RESUMED, json!({ "operator": "bob" })),
                (
                    kind::NODE_STARTED,
                    json!({ "node": "s.a", "attempt": 3, "command": "one", "operator": "bob" }),
                ),
                (
                    kind::NODE_FINISHED,
                    json!({ "node": "s.a", "attempt": 3, "status": "succeeded", "exit": 0 }),
                ),
            ];
            let replayed = state(&list);
            assert_eq!(replayed.nodes["s.a"].status, Status::Succeeded);
            let node = &replayed.history.nodes["s.a"];
            let earlier: Vec<(u32, &str, Option<i64>)> = node
                .earlier
                .iter()
                .map(|e| (e.attempt, e.result, e.exit))
                .collect();
            assert_eq!(
                earlier,
                [(1, "failed", Some(1)), (2, "failed", Some(2))],
                "{reset}"
            );
            assert_eq!(node.operator.as_deref(), Some("bob"));
            assert_eq!(node.exit, Some(0));
            assert_eq!(node.started_at, Some(7000), "the reset attempt's start");
            assert_eq!(node.first_seq, 2);
            assert_eq!(replayed.history.drivers, ["alice", "bob"]);
        }
    }

    #[test]
    fn who_confirmed_cancelled_and_settled_in_doubt_is_kept() {
        let list = [
            (kind::RUN_STARTED, json!({ "operator": "alice" })),
            (
                kind::CONFIRMED,
                json!({ "node": "s.switch", "operator": "alice", "via": "terminal" }),
            ),
            (
                kind::NODE_STARTED,
                json!({ "node": "s.switch", "attempt": 1 }),
            ),
            (kind::RUN_INTERRUPTED, json!({})),
            (kind::RUN_RESUMED, json!({ "operator": "bob" })),
            (
                kind::IN_DOUBT,
                json!({ "node": "s.switch", "attempt": 1, "decision": "done" }),
            ),
            (
                kind::NODE_FINISHED,
                json!({ "node": "s.switch", "attempt": 1, "status": "succeeded", "via": "resume" }),
            ),
            (
                kind::RUN_CANCELLED,
                json!({ "operator": "carol", "reason": "not today" }),
            ),
            (
                kind::RUN_ENDED,
                json!({ "outcome": "cancelled", "success": false }),
            ),
        ];
        let replayed = state(&list);
        let switch = &replayed.history.nodes["s.switch"];
        let confirmed = switch.confirmed.as_ref().expect("a confirmation");
        assert_eq!(confirmed.operator.as_deref(), Some("alice"));
        assert_eq!(confirmed.at, 1000);
        assert_eq!(switch.operator.as_deref(), Some("bob"));
        assert_eq!(switch.via.as_deref(), Some("in-doubt policy of rbx resume"));
        let cancel = replayed.history.cancellation.as_ref().expect("a cancel");
        assert_eq!(cancel.operator.as_deref(), Some("carol"));
        assert_eq!(cancel.reason.as_deref(), Some("not today"));
        assert_eq!(replayed.history.success, Some(false));
        assert_eq!(
            (replayed.history.first_at, replayed.history.last_at),
            (Some(0), Some(8000))
        );
    }
}
