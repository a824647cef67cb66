//! What a simulated run did, read back from its journal: the nodes it
//! settled in order, how it stopped, and the simulated time of each stage
//! instance and of the whole path.

use rbx_check::graph::NodeKind;
use rbx_engine::{Exit, Procedure, RunState};
use rbx_store::Event;
use serde_json::Value as Json;

/// One node the run settled without skipping it.
#[derive(Debug, Clone)]
pub struct Visit {
    pub id: String,
    /// The stage instance it belongs to (`smoke`, `smoke#2`).
    pub stage: String,
    pub status: String,
    pub branch: Option<String>,
    pub reason: Option<String>,
    pub attempts: u32,
    /// Milliseconds since the run started.
    pub finished: i64,
}

/// How long a stage instance took in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTime {
    pub stage: String,
    /// When it started, in milliseconds since the run started.
    pub from: i64,
    pub elapsed: u64,
    /// Its `within` budget, if it has one.
    pub budget: Option<u64>,
}

#[derive(Debug)]
pub struct Trace {
    pub exit: Exit,
    pub visits: Vec<Visit>,
    /// The whole path, in simulated milliseconds.
    pub elapsed: u64,
    pub stages: Vec<StageTime>,
    /// Stage instances the engine reported over their budget.
    pub overruns: Vec<String>,
    /// The nodes that left their flow by a route.
    pub left_by: Vec<String>,
    pub state: RunState,
    /// The nodes its child runs settled, each by its path through its
    /// `child` node (`canary_deploy/roll.ready`), in each child's order.
    pub children: Vec<Visit>,
}

pub fn stage_of(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

pub fn trace(procedure: &Procedure, exit: Exit, events: &[Event]) -> Trace {
    let time = |e: &Event| rbx_engine::parse_time(&e.time);
    let start = events.first().map_or(0, time);
    let end = events.last().map_or(start, time);
    let text = |p: &Json, k: &str| p.get(k).and_then(Json::as_str).map(str::to_string);
    let visits = visits(events);
    let mut overruns = Vec::new();
    let mut left_by = Vec::new();
    for event in events {
        let p = &event.payload;
        match event.kind.as_str() {
            rbx_engine::state::kind::STAGE_OVERRUN => {
                overruns.extend(text(p, "stage"));
            }
            rbx_engine::state::kind::FLOW_LEFT => left_by.extend(text(p, "node")),
            _ => {}
        }
    }
    let stages = stage_times(procedure, &visits);
    Trace {
        exit,
        elapsed: u64::try_from(end - start).unwrap_or(0),
        stages,
        overruns,
        left_by,
        state: rbx_engine::replay(events),
        visits,
        children: Vec::new(),
    }
}

/// The nodes a run's journal says settled, in order; times from the
/// run's first event.
pub fn visits(events: &[Event]) -> Vec<Visit> {
    let time = |e: &Event| rbx_engine::parse_time(&e.time);
    let start = events.first().map_or(0, time);
    let text = |p: &Json, k: &str| p.get(k).and_then(Json::as_str).map(str::to_string);
    events
        .iter()
        .filter(|e| e.kind == rbx_engine::state::kind::NODE_FINISHED)
        .map(|event| {
            let p = &event.payload;
            let id = text(p, "node").unwrap_or_default();
            Visit {
                stage: stage_of(&id).to_string(),
                id,
                status: text(p, "status").unwrap_or_default(),
                branch: text(p, "branch"),
                reason: text(p, "reason"),
                attempts: p
                    .get("attempt")
                    .and_then(Json::as_u64)
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(0),
                finished: time(event) - start,
            }
        })
        .collect()
}

fn stage_times(procedure: &Procedure, visits: &[Visit]) -> Vec<StageTime> {
    let mut stages: Vec<StageTime> = Vec::new();
    for visit in visits {
        if visit.id == visit.stage {
            let budget = procedure.graph.node(&visit.stage).and_then(|x| {
                match &procedure.graph.graph[x].kind {
                    NodeKind::StageStart { within, .. } => *within,
                    _ => None,
                }
            });
            stages.push(StageTime {
                stage: visit.stage.clone(),
                from: visit.finished,
                elapsed: 0,
                budget,
            });
        } else if let Some(stage) = stages.iter_mut().rev().find(|s| s.stage == visit.stage) {
            stage.elapsed = u64::try_from(visit.finished - stage.from).unwrap_or(0);
        }
    }
    stages
}

/// `✓`, `✗`, `⊘` for a node's status.
pub fn mark(status: &str) -> &'static str {
    match status {
        "succeeded" => "✓",
        "failed" => "✗",
        "cancelled" => "⊘",
        _ => "·",
    }
}

impl Trace {
    /// The path the run took, a stage instance a line: when it started,
    /// how long it took, and each node it settled with how.
    pub fn path(&self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut current: Option<&str> = None;
        for visit in &self.visits {
            if current != Some(visit.stage.as_str()) {
                current = Some(visit.stage.as_str());
                let timing = self
                    .stages
                    .iter()
                    .find(|s| s.stage == visit.stage && s.from <= visit.finished)
                    .map(|s| {
                        format!(
                            "+{} {}",
                            rbx_syntax::fmt::duration(u64::try_from(s.from).unwrap_or(0)),
                            rbx_syntax::fmt::duration(s.elapsed)
                        )
                    })
                    .unwrap_or_default();
                lines.push(format!("{:<18} {timing:<14}", visit.stage));
            }
            if visit.id == visit.stage {
                if visit.status == "failed" {
                    let line = lines.last_mut();
                    if let Some(line) = line {
                        line.push_str(&format!(
                            " ✗ requirement: {}",
                            visit.reason.clone().unwrap_or_default()
                        ));
                    }
                }
                continue;
            }
            let name = visit
                .id
                .strip_prefix(&format!("{}.", visit.stage))
                .unwrap_or(&visit.id);
            let mut part = format!(" {name} {}", mark(&visit.status));
            if let Some(branch) = &visit.branch {
                part.push_str(&format!(" → {branch}"));
            }
            if visit.attempts > 1 {
                part.push_str(&format!(" ({} attempts)", visit.attempts));
            }
            if visit.status == "failed" {
                if let Some(reason) = &visit.reason {
                    part.push_str(&format!(" ({reason})"));
                }
            }
            if let Some(line) = lines.last_mut() {
                line.push_str(&part);
            }
        }
        lines.push(match &self.exit {
            Exit::Ended { outcome, .. } => format!(
                "{:<18} +{}",
                format!("end {outcome}"),
                rbx_syntax::fmt::duration(self.elapsed)
            ),
            other => describe(other),
        });
        lines
    }
}

/// How a run stopped, in a sentence.
pub fn describe(exit: &Exit) -> String {
    match exit {
        Exit::Ended { outcome, .. } => format!("ended `{outcome}`"),
        Exit::Failed { node, reason } => format!("failed at `{node}`: {reason}"),
        Exit::Paused { node, hint } => format!(
            "paused at `{node}`, waiting for a person: the scenario gives no answer it accepts \
             (it needs {hint})"
        ),
        Exit::Waiting { node, .. } => format!("stopped waiting at `{node}`"),
        Exit::Interrupted => "was interrupted".to_string(),
        Exit::NeedsDecision { node } => format!("stopped: `{node}` is in doubt"),
        Exit::Broken(why) => format!("could not go on: {why}"),
    }
}
