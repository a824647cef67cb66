//! Checkpoints of a run's state in its journal, so that a resume reads the
//! newest one and the events after it instead of the whole journal.
//!
//! A checkpoint is an ordinary event (`checkpoint`): the hash chain covers
//! it as it covers every event. Its payload is the state the events before
//! it replay to — what the executor decides by: every node's status,
//! attempts, captures and times, the flows left, the due times, the
//! clean-up's start (`RunState` without its history, which only the views
//! read, and they replay the whole journal) — with the version of its
//! format. Format 3 writes the nodes that are only a finish in columns
//! ([`compact`]); format 2, an object per node, is still read. A replay passes over it, so the state of a journal is the same
//! with or without its checkpoints, and nothing depends on one being
//! there: a journal with none, or whose newest is of a format this rbx
//! does not read, is replayed whole.
//!
//! `rbx verify` replays the whole journal and compares every checkpoint
//! with the state before it ([`check`]), so a checkpoint that says
//! something its events do not is reported, as a changed event is.

mod compact;
mod writer;

use std::collections::{BTreeMap, HashMap};

use rbx_store::{Event, RunId, Store, StoreError, Tail};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::state::{Left, RunState, RunStatus, kind};

pub(crate) use writer::Checkpointing;
pub use writer::EVERY;

/// The version of a checkpoint's payload that this rbx writes. A change of
/// what `RunState` holds, or of how it is written, is a new version: a
/// checkpoint of a version rbx does not read is passed over, and the
/// journal is replayed instead.
pub const FORMAT: u64 = 3;

/// The versions this rbx reads: format 2 (every node an object) and 3.
const READS: [u64; 2] = [2, FORMAT];

/// The payload of a checkpoint of `state`, in format [`FORMAT`].
pub fn payload(state: &RunState) -> Json {
    let RunState {
        nodes,
        status,
        left,
        history: _,
        dues,
        finally,
        cleanups,
    } = state;
    let written = Written {
        format: FORMAT,
        state: Columns {
            nodes: compact::Written::of(nodes),
            status,
            left,
            dues,
            finally,
            cleanups,
        },
    };
    serde_json::to_value(written).expect("a checkpoint is plain JSON")
}

/// A checkpoint's payload in format 3, as written.
#[derive(Serialize)]
struct Written<'a> {
    format: u64,
    state: Columns<'a>,
}

/// The state as format 3 writes it: `RunState` with its nodes in columns.
#[derive(Serialize)]
struct Columns<'a> {
    nodes: compact::Written<'a>,
    status: &'a RunStatus,
    left: &'a BTreeMap<String, Left>,
    dues: &'a HashMap<String, i64>,
    finally: &'a Option<Json>,
    cleanups: &'a BTreeMap<String, bool>,
}

/// A checkpoint's payload in format 3, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    format: u64,
    state: ReadColumns,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadColumns {
    nodes: compact::Read,
    status: RunStatus,
    left: BTreeMap<String, Left>,
    dues: HashMap<String, i64>,
    finally: Option<Json>,
    cleanups: BTreeMap<String, bool>,
}

/// A checkpoint's payload in format 2: the state, every node an object.
#[derive(Deserialize)]
struct Held {
    format: u64,
    state: RunState,
}

/// The state a checkpoint's payload holds, decoded from the JSON text as
/// the store keeps it, or `None` when it is of a format rbx does not read
/// (or not a state at all). The one reader of a checkpoint: a resume's,
/// and `rbx verify`'s through [`check`].
pub fn read(payload: &str) -> Option<RunState> {
    if let Ok(Read { format, state }) = serde_json::from_str(payload) {
        if format != FORMAT {
            return None;
        }
        return Some(RunState {
            nodes: state.nodes.into_map()?,
            status: state.status,
            left: state.left,
            dues: state.dues,
            finally: state.finally,
            cleanups: state.cleanups,
            ..RunState::new()
        });
    }
    let held: Held = serde_json::from_str(payload).ok()?;
    (held.format == 2).then_some(held.state)
}

/// The state at the end of `tail`, whose first event is a checkpoint: the
/// checkpoint's state with every later event replayed onto it. `None`
/// when the checkpoint is not one this rbx reads.
pub fn replay_tail(tail: &Tail) -> Option<RunState> {
    let mut state = read(&tail.payload)?;
    for event in &tail.rest {
        state.apply(
            &event.kind,
            &event.payload,
            event.seq,
            crate::parse_time(&event.time),
        );
    }
    Some(state)
}

/// The state at the end of `events`, which start with a checkpoint, read
/// as a resume reads it (the checkpoint's payload as text). `None` when
/// the first event is not a checkpoint this rbx reads.
pub fn replay_from(events: &[Event]) -> Option<RunState> {
    let (first, rest) = events.split_first()?;
    if first.kind != kind::CHECKPOINT {
        return None;
    }
    replay_tail(&Tail {
        seq: first.seq,
        payload: first.payload.to_string(),
        rest: rest.to_vec(),
    })
}

/// The run's state as its journal says, read from the newest checkpoint and
/// the events after it, whose chain the store checks from the checkpoint
/// to the run's head. `None` when the journal has no checkpoint this rbx
/// reads: the caller replays it whole.
pub fn latest(store: &dyn Store, run: &RunId) -> Result<Option<RunState>, StoreError> {
    Ok(store
        .tail_from_last(run, kind::CHECKPOINT)?
        .and_then(|tail| replay_tail(&tail)))
}

/// Where a checkpoint does not match the replay of the events before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub seq: u64,
    pub reason: String,
}

/// Replays a whole journal and compares each checkpoint in it with the
/// state the events before it replay to. Returns how many checkpoints it
/// compared; a checkpoint of a format this rbx does not read is not
/// compared (nor ever read by it).
pub fn check(events: &[Event]) -> Result<usize, Mismatch> {
    let mut state = RunState::new();
    let mut compared = 0;
    for event in events {
        if event.kind == kind::CHECKPOINT {
            let format = event.payload.get("format").and_then(Json::as_u64);
            if format.is_some_and(|f| READS.contains(&f)) {
                let Some(held) = read(&event.payload.to_string()) else {
                    return Err(Mismatch {
                        seq: event.seq,
                        reason: "the checkpoint's state cannot be read".to_string(),
                    });
                };
                if !held.same_for_executor(&state) {
                    return Err(Mismatch {
                        seq: event.seq,
                        reason: "the checkpoint does not match the replay of the events \
                                 before it"
                            .to_string(),
                    });
                }
                compared += 1;
            }
            continue;
        }
        state.apply(
            &event.kind,
            &event.payload,
            event.seq,
            crate::parse_time(&event.time),
        );
    }
    Ok(compared)
}

#[cfg(test)]
mod tests {
    use rbx_store::Event;
    use serde_json::{Value as Json, json};

    use super::{check, payload, read, replay_from};
    use crate::state::kind;

    /// A journal of `list`, one second apart, with a checkpoint of the
    /// state so far written after each event whose index is in `at`.
    fn journal(list: &[(&str, Json)], at: &[usize]) -> Vec<Event> {
        let mut events: Vec<Event> = Vec::new();
        let push = |events: &mut Vec<Event>, kind: &str, payload: Json| {
            let seq = events.len() as u64 + 1;
            events.push(Event {
                seq,
                time: crate::format_time(1_000 * seq as i64),
                kind: kind.to_string(),
                payload,
                prev_hash: String::new(),
                hash: String::new(),
            });
        };
        for (i, (kind, body)) in list.iter().enumerate() {
            push(&mut events, kind, body.clone());
            if at.contains(&i) {
                let state = crate::replay(&events);
                push(&mut events, kind::CHECKPOINT, payload(&state));
            }
        }
        events
    }

    fn run() -> Vec<(&'static str, Json)> {
        vec![
            (kind::RUN_STARTED, json!({ "operator": "ann" })),
            (kind::NODE_STARTED, json!({ "node": "s.z", "attempt": 1 })),
            (
                kind::NODE_FINISHED,
                json!({ "node": "s.z", "attempt": 1, "status": "succeeded", "duration_ms": 2 }),
            ),
            (kind::NODE_STARTED, json!({ "node": "s.a", "attempt": 1 })),
            (
                kind::NODE_FINISHED,
                json!({ "node": "s.a", "attempt": 1, "status": "succeeded", "duration_ms": 5,
                        "captures": { "v": { "version": "1.2.3" }, "n": { "int": 3 },
                                      "l": { "list": [{ "text": "x" }, { "timestamp": 7 }] } } }),
            ),
            (kind::FLOW_LEFT, json!({ "flow": "s", "node": "s.a" })),
            (
                kind::NODE_SKIPPED,
                json!({ "node": "s.b", "condition": "false" }),
            ),
            (kind::NODE_STARTED, json!({ "node": "s.c", "attempt": 1 })),
            (
                kind::ATTEMPT_FAILED,
                json!({ "node": "s.c", "attempt": 1, "reason": "exit 1" }),
            ),
            (
                kind::NODE_FINISHED,
                json!({ "node": "s.c", "attempt": 2, "status": "failed", "branch": "no" }),
            ),
            (kind::RUN_FAILED, json!({ "node": "s.c" })),
            (
                kind::RETRY,
                json!({ "node": "s.c", "reset": ["s.c", "s.a"], "finally": true }),
            ),
            (kind::RUN_WAITING, json!({ "node": "s.w", "due": 99 })),
            (
                kind::FINALLY_STARTED,
                json!({ "outcome": "done", "success": true }),
            ),
            (kind::RUN_PAUSED, json!({ "node": "s.p" })),
        ]
    }

    #[test]
    fn a_checkpoint_and_the_events_after_it_replay_to_the_whole_journal() {
        let list = run();
        for cut in 0..list.len() {
            let events = journal(&list, &[cut]);
            let whole = crate::replay(&events);
            let at = events
                .iter()
                .position(|e| e.kind == kind::CHECKPOINT)
                .expect("a checkpoint");
            let read = replay_from(&events[at..]).expect("the checkpoint reads");
            assert!(read.same_for_executor(&whole), "checkpoint after {cut}");
            assert_eq!(check(&events), Ok(1), "checkpoint after {cut}");
        }
    }

    /// What a checkpoint of this format holds. A field added to the state
    /// changes these lists: `FORMAT` is then a new version, so that no rbx
    /// reads a checkpoint written without the field as if it were empty.
    #[test]
    fn the_fields_a_checkpoint_holds_are_those_of_its_format() {
        let keys = |json: &Json| {
            let mut keys: Vec<String> = json
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let state = crate::replay(&journal(&run(), &[]));
        let node = crate::state::NodeState {
            captures: [("v".to_string(), crate::value::Value::Int(1))].into(),
            branch: Some("b".to_string()),
            reason: Some("r".to_string()),
            duration_ms: Some(1),
            finished_seq: Some(1),
            finished_at: Some(1),
            condition: Some("c".to_string()),
            child: Some(crate::state::ChildRun {
                id: "r/s.c".to_string(),
                again: None,
            }),
            ..crate::state::NodeState::default()
        };
        let node = serde_json::to_value(&node).expect("a node serializes");
        assert_eq!(
            (
                super::FORMAT,
                keys(&payload(&state)["state"]),
                keys(&payload(&state)["state"]["nodes"]),
                keys(&node)
            ),
            (
                3,
                ["cleanups", "dues", "finally", "left", "nodes", "status"]
                    .map(String::from)
                    .to_vec(),
                ["families", "others"].map(String::from).to_vec(),
                [
                    "attempts",
                    "branch",
                    "captures",
                    "child",
                    "condition",
                    "duration_ms",
                    "finished_at",
                    "finished_seq",
                    "reason",
                    "status"
                ]
                .map(String::from)
                .to_vec(),
            )
        );
    }

    /// A journal rbx wrote before format 3 resumes from its checkpoints,
    /// and `rbx verify` compares them.
    #[test]
    fn a_checkpoint_of_format_2_is_still_read_and_compared() {
        let list = run();
        for cut in 0..list.len() {
            let mut events = journal(&list, &[cut]);
            let at = events
                .iter()
                .position(|e| e.kind == kind::CHECKPOINT)
                .expect("a checkpoint");
            let state = crate::replay(&events[..at]);
            events[at].payload = json!({ "format": 2, "state": state });
            let whole = crate::replay(&events);
            let read = replay_from(&events[at..]).expect("format 2 reads");
            assert!(read.same_for_executor(&whole), "checkpoint after {cut}");
            assert_eq!(check(&events), Ok(1), "checkpoint after {cut}");
            events[at].payload["state"]["status"] = json!("interrupted");
            assert!(check(&events).is_err(), "a forged format 2 is found");
        }
    }

    #[test]
    fn a_checkpoint_of_another_format_is_not_read() {
        let state = crate::replay(&journal(&run(), &[]));
        let mut later = payload(&state);
        assert!(read(&later.to_string()).is_some_and(|read| read.same_for_executor(&state)));
        later["format"] = json!(super::FORMAT + 1);
        assert!(read(&later.to_string()).is_none());
        assert!(read(&json!({ "format": super::FORMAT, "state": "?" }).to_string()).is_none());
        assert!(read(&json!({ "state": later["state"] }).to_string()).is_none());
        assert!(
            replay_from(&journal(&run(), &[])).is_none(),
            "no checkpoint first"
        );
    }

    #[test]
    fn a_checkpoint_that_says_what_its_events_do_not_is_found() {
        let list = run();
        let mut events = journal(&list, &[2, 9]);
        assert_eq!(check(&events), Ok(2));
        let forged = events
            .iter()
            .rposition(|e| e.kind == kind::CHECKPOINT)
            .expect("a checkpoint");
        events[forged].payload["state"]["nodes"]["others"]["s.c"]["status"] = json!("failed");
        assert_eq!(check(&events), Ok(2), "the same state, written otherwise");
        events[forged].payload["state"]["nodes"]["others"]["s.c"]["status"] = json!("succeeded");
        let mismatch = check(&events).expect_err("the forged checkpoint is found");
        assert_eq!(mismatch.seq, events[forged].seq);
        // A node in a family changed is found as well: `s.z` finished one
        // event later than it did.
        let mut events = journal(&list, &[2, 9]);
        events[forged].payload["state"]["nodes"]["families"][0]["seq"][0] = json!(4);
        let mismatch = check(&events).expect_err("the forged family is found");
        assert_eq!(mismatch.seq, events[forged].seq);
        // A checkpoint of this format that cannot be read is reported too.
        let mut events = journal(&list, &[2]);
        events[3].payload = json!({ "format": super::FORMAT, "state": { "nodes": 1 } });
        assert_eq!(check(&events).map_err(|m| m.seq), Err(4));
    }
}
