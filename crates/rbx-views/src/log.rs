//! `rbx log`: a run's journal, event by event, and a step's kept output.

use rbx_store::{Event, Output};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct LogEvent {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub node: Option<String>,
    pub payload: serde_json::Value,
}

/// One stream of one attempt, as kept: its head and tail, and how much of
/// the middle was not kept.
#[derive(Debug, Serialize)]
pub struct LogOutput {
    pub attempt: u32,
    pub stream: &'static str,
    pub total: u64,
    pub head: String,
    pub tail: String,
    pub dropped: u64,
}

#[derive(Debug, Serialize)]
pub struct LogView {
    pub version: u32,
    pub run: String,
    /// The node the log is limited to, if any.
    pub node: Option<String>,
    pub events: Vec<LogEvent>,
    pub outputs: Vec<LogOutput>,
}

impl LogView {
    /// The journal of `run`, limited to `node`'s events when given, with
    /// its outputs (`stream`, `attempt`, what was kept).
    pub fn of(
        run: &str,
        node: Option<&str>,
        events: &[Event],
        outputs: Vec<(u32, &'static str, Output)>,
    ) -> LogView {
        let events = events
            .iter()
            .filter_map(|event| {
                let about = event.payload.get("node").and_then(|n| n.as_str());
                if node.is_some() && about != node {
                    return None;
                }
                Some(LogEvent {
                    seq: event.seq,
                    time: event.time.clone(),
                    kind: event.kind.clone(),
                    node: about.map(str::to_string),
                    payload: event.payload.clone(),
                })
            })
            .collect();
        let outputs = outputs
            .into_iter()
            .map(|(attempt, stream, output)| {
                let kept = (output.head.len() + output.tail.len()) as u64;
                LogOutput {
                    attempt,
                    stream,
                    total: output.total,
                    head: String::from_utf8_lossy(&output.head).into_owned(),
                    tail: String::from_utf8_lossy(&output.tail).into_owned(),
                    dropped: output.total.saturating_sub(kept),
                }
            })
            .collect();
        LogView {
            version: crate::JSON_VERSION,
            run: run.to_string(),
            node: node.map(str::to_string),
            events,
            outputs,
        }
    }

    /// The events one a line (the outputs are printed byte for byte by the
    /// CLI, which has them as bytes).
    pub fn events_text(&self) -> String {
        self.events
            .iter()
            .map(|e| {
                // A checkpoint repeats the whole state: a line for people
                // says only that it is there (`--format json` has it).
                let payload = if e.kind == "checkpoint" {
                    let format = e.payload.get("format").unwrap_or(&serde_json::Value::Null);
                    format!("(the run's state, format {format})")
                } else {
                    e.payload.to_string()
                };
                format!("{:>4} {} {:<16} {payload}\n", e.seq, e.time, e.kind)
            })
            .collect()
    }
}
