//! Durations taken from a real run (`rbx test --durations-from RUN`): how
//! long each node took when it was done for real, for a rehearsal of the
//! same path in simulated time.

use std::collections::HashMap;

use rbx_store::Event;
use serde_json::Value as Json;

/// Each settled node's duration in a run's journal, by node id: a step's
/// last attempt from its start to its finish, a person's node from the
/// event before it (when it was asked) to its answer.
pub fn durations_from(events: &[Event]) -> HashMap<String, u64> {
    let mut started: HashMap<String, i64> = HashMap::new();
    let mut out = HashMap::new();
    let mut previous: Option<i64> = None;
    for event in events {
        let at = rbx_engine::parse_time(&event.time);
        let node = event.payload.get("node").and_then(Json::as_str);
        match (event.kind.as_str(), node) {
            (rbx_engine::state::kind::NODE_STARTED, Some(node)) => {
                started.insert(node.to_string(), at);
            }
            (rbx_engine::state::kind::NODE_FINISHED, Some(node)) => {
                let from = started.remove(node).or(previous).unwrap_or(at);
                let ms = event
                    .payload
                    .get("duration_ms")
                    .and_then(Json::as_u64)
                    .unwrap_or_else(|| u64::try_from(at - from).unwrap_or(0));
                out.insert(node.to_string(), ms);
            }
            _ => {}
        }
        previous = Some(at);
    }
    out
}

#[cfg(test)]
mod tests {
    use rbx_store::Event;
    use serde_json::json;

    use super::durations_from;

    fn event(time: &str, kind: &str, payload: serde_json::Value) -> Event {
        Event {
            seq: 0,
            time: time.to_string(),
            kind: kind.to_string(),
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_step_takes_its_recorded_duration_and_a_person_the_time_to_answer() {
        let events = [
            event("2026-01-01T09:00:00.000Z", "run_started", json!({})),
            event(
                "2026-01-01T09:00:00.000Z",
                "node_started",
                json!({"node": "s.a"}),
            ),
            event(
                "2026-01-01T09:00:40.000Z",
                "node_finished",
                json!({"node": "s.a", "duration_ms": 39_500}),
            ),
            event(
                "2026-01-01T09:05:40.000Z",
                "node_finished",
                json!({"node": "s.person"}),
            ),
            event(
                "2026-01-01T09:05:40.000Z",
                "node_started",
                json!({"node": "s.b"}),
            ),
            event(
                "2026-01-01T09:06:00.000Z",
                "node_finished",
                json!({"node": "s.b"}),
            ),
        ];
        let durations = durations_from(&events);
        assert_eq!(durations["s.a"], 39_500);
        assert_eq!(durations["s.person"], 300_000);
        assert_eq!(durations["s.b"], 20_000);
    }
}
