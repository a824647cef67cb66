//! `rbx status`: where one run stands, node by node.

use std::collections::HashMap;

use rbx_check::graph::{Graph, Node, NodeKind};
use rbx_engine::state::Status;
use rbx_engine::{Procedure, RunState};
use rbx_store::RunSummary;
use serde::Serialize;

/// One node of the run and where it stands.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    pub id: String,
    /// One word of the engine's vocabulary: `done`, `failed`, `skipped`,
    /// `cancelled`, `running`, `in_doubt`, `pending`, `not_reached`.
    pub standing: &'static str,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub branch: Option<String>,
    pub reason: Option<String>,
    /// For a `child` node: the id of the child run it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
    /// For a `child` node run again (`--from`, a re-drive): the child runs
    /// its earlier starts named, oldest first (rule D7).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_children: Vec<String>,
    /// For an iteration of an `every`: when it was due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Its interval passed without it starting (rule V4).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missed: bool,
}

/// The run and node that started a child run.
#[derive(Debug, Serialize)]
pub struct ParentRow {
    pub run: String,
    pub node: String,
}

/// The next iteration of an `every` that waits for its due time.
#[derive(Debug, Serialize)]
pub struct NextDue {
    pub node: String,
    pub due: String,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    pub version: u32,
    pub run: String,
    pub title: String,
    /// The run's status as recorded (`running`, `paused`, `ended`, …), or
    /// `interrupted` for a run recorded as running that no process drives,
    /// or `cancelling` for one whose cancel was recorded and not carried
    /// out (rbx was killed right after it).
    pub status: String,
    pub outcome: Option<String>,
    /// Whether a live process drives the run now.
    pub driven: bool,
    pub started_at: String,
    pub started_by: String,
    pub host: String,
    /// The nodes the run would run next, were it resumed now.
    pub waiting_for: Vec<String>,
    /// The roles steps assigned during the run, as they stand now.
    pub assigned: Vec<AssignedRow>,
    /// For a child run: the run and node that started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRow>,
    /// The earliest iteration of an `every` whose due time is recorded and
    /// that has not started: what the run does next, at that time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<NextDue>,
    pub nodes: Vec<NodeRow>,
}

/// A role a step assigned during the run (`assign ROLE = EVIDENCE`).
#[derive(Debug, Serialize)]
pub struct AssignedRow {
    pub role: String,
    pub person: String,
    /// The step instance whose answer named them.
    pub by: String,
}

impl StatusView {
    pub fn of(
        summary: &RunSummary,
        state: &RunState,
        procedure: &Procedure,
        driven: bool,
    ) -> StatusView {
        let (recorded, outcome) = match summary.status.split_once(':') {
            Some((status, outcome)) => (status.to_string(), Some(outcome.to_string())),
            None => (summary.status.clone(), None),
        };
        let status = if !driven && matches!(recorded.as_str(), "running" | "created") {
            "interrupted".to_string()
        } else if !driven && outcome.is_none() && state.status == rbx_engine::RunStatus::Cancelled {
            // A cancel recorded, and rbx killed before it was carried out.
            "cancelling".to_string()
        } else {
            recorded
        };
        let mut ids = ordered_ids(&procedure.graph, state);
        let history = |id: &str| state.history.nodes.get(id);
        // An iteration that never came, once its `every` stopped, is left
        // out (rule V3).
        ids.retain(|id| !history(id).is_some_and(|h| h.stopped));
        let nodes = ids
            .into_iter()
            .map(|id| {
                let node = state.nodes.get(&id);
                let due = history(&id).and_then(|h| h.due);
                NodeRow {
                    due: due.map(rbx_engine::format_time),
                    missed: history(&id).is_some_and(|h| h.missed),
                    standing: rbx_engine::state::standing(node, &state.status, driven),
                    attempts: node.map_or(0, |n| n.attempts),
                    duration_ms: node.and_then(|n| n.duration_ms),
                    branch: node.and_then(|n| n.branch.clone()),
                    reason: node.and_then(rbx_engine::state::NodeState::why),
                    child: history(&id).and_then(|h| h.child.clone()),
                    earlier_children: history(&id).map(earlier_children).unwrap_or_default(),
                    id,
                }
            })
            .collect();
        let waiting_for = if matches!(state.status, rbx_engine::RunStatus::Ended { .. }) {
            Vec::new()
        } else {
            rbx_engine::waiting_for(procedure, &summary.inputs, state)
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let next_due = state
            .dues
            .iter()
            .filter(|(id, _)| {
                let pending = state
                    .nodes
                    .get(*id)
                    .is_none_or(|n| n.status == Status::Pending);
                pending && history(id).is_some_and(|h| h.due.is_some())
            })
            .min_by_key(|(id, due)| (**due, (*id).clone()))
            .map(|(id, due)| NextDue {
                node: id.clone(),
                due: rbx_engine::format_time(*due),
            });
        StatusView {
            version: crate::JSON_VERSION,
            next_due,
            run: summary.id.to_string(),
            title: summary.title.clone(),
            status,
            outcome,
            driven,
            started_at: summary.started_at.clone(),
            started_by: summary.started_by.clone(),
            host: summary.host.clone(),
            waiting_for,
            assigned: rbx_engine::roles::Roles::of(procedure, state)
                .assigned()
                .iter()
                .map(|(role, a)| AssignedRow {
                    role: role.clone(),
                    person: a.person.clone(),
                    by: a.node.clone(),
                })
                .collect(),
            parent: state.history.parent.as_ref().map(|(run, node)| ParentRow {
                run: run.clone(),
                node: node.clone(),
            }),
            nodes,
        }
    }

    /// The run's header and one line a node, for a person.
    pub fn text(&self) -> String {
        let status = match (&self.outcome, self.status.as_str()) {
            (Some(outcome), _) => format!("{}:{outcome}", self.status),
            (None, "interrupted") if !self.driven => {
                "interrupted: no process is driving it; `rbx resume` goes on".to_string()
            }
            (None, "cancelling") => {
                "cancelled, not carried out yet: `rbx resume` runs its clean-up and ends it"
                    .to_string()
            }
            (None, status) => status.to_string(),
        };
        let mut out = format!(
            "run {}  {}  ({status})\nstarted {} by {} on {}\n",
            self.run, self.title, self.started_at, self.started_by, self.host
        );
        if let Some(parent) = &self.parent {
            out.push_str(&format!(
                "child run of {} (node {})\n",
                parent.run, parent.node
            ));
        }
        if !self.waiting_for.is_empty() && self.status != "running" {
            out.push_str(&format!("waiting for: {}\n", self.waiting_for.join(", ")));
        }
        for row in &self.assigned {
            out.push_str(&format!(
                "role {}: {} (assigned by {})\n",
                row.role, row.person, row.by
            ));
        }
        if let Some(next) = &self.next_due {
            out.push_str(&format!("next iteration: {} due {}\n", next.node, next.due));
        }
        out.push('\n');
        for node in &self.nodes {
            let mut parts = Vec::new();
            if let Some(due) = &node.due {
                let missed = if node.missed { "missed, " } else { "" };
                parts.push(format!("{missed}due {due}"));
            }
            if node.attempts > 1 {
                parts.push(format!("{} attempts", node.attempts));
            }
            if let Some(ms) = node.duration_ms {
                parts.push(format!("{:.1}s", ms as f64 / 1000.0));
            }
            if let Some(branch) = &node.branch {
                parts.push(format!("→ {branch}"));
            }
            if let Some(reason) = &node.reason {
                parts.push(reason.clone());
            }
            if let Some(child) = &node.child {
                parts.push(format!("child run {child}"));
            }
            if !node.earlier_children.is_empty() {
                parts.push(format!("earlier {}", node.earlier_children.join(", ")));
            }
            let standing = node.standing.replace('_', " ");
            out.push_str(&format!(
                "  {standing:<11} {}  {}\n",
                node.id,
                parts.join(", ")
            ));
        }
        out
    }
}

/// The child runs a node's earlier attempts started, oldest first, each
/// once and not the one it names now.
fn earlier_children(history: &rbx_engine::state::NodeHistory) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for child in history.earlier.iter().filter_map(|e| e.child.as_ref()) {
        if Some(child) != history.child.as_ref() && !runs.contains(child) {
            runs.push(child.clone());
        }
    }
    runs
}

/// The nodes in the order they are written. A node inside a loop stands
/// for the instances the journal has seen (a loop's own template node is
/// never run): every instance of every node inside a loop, nested loops,
/// `repeat` iterations and tallies included, comes where the outermost
/// loop is written, in the order they settled — so a loop reads item by
/// item (`probe[1]`, `judge[1]`, `probe[2]`…), before the tally that
/// judges it and what follows it. Instances not settled come last.
fn ordered_ids(graph: &Graph, state: &RunState) -> Vec<String> {
    let nodes: Vec<&Node> = graph.graph.node_weights().filter(|n| listed(n)).collect();
    let mut instances: HashMap<&str, Vec<&String>> = HashMap::new();
    for id in state.nodes.keys().filter(|id| id.contains('[')) {
        let template = id.split('[').next().unwrap_or(id);
        instances.entry(template).or_default().push(id);
    }
    let mut in_loop: HashMap<usize, Vec<&String>> = HashMap::new();
    for node in &nodes {
        if let (Some(outer), Some(seen)) = (node.fanout.first(), instances.get(node.id.as_str())) {
            in_loop
                .entry(outer.id)
                .or_default()
                .extend(seen.iter().copied());
        }
    }
    let settled_at = |id: &String| {
        let seq = state.nodes.get(id).and_then(|n| n.finished_seq);
        (seq.unwrap_or(u64::MAX), id.clone())
    };
    let mut ids = Vec::new();
    for node in &nodes {
        match node.fanout.first() {
            None => ids.push(node.id.clone()),
            Some(outer) => {
                if let Some(mut seen) = in_loop.remove(&outer.id) {
                    seen.sort_by_key(|id| settled_at(id));
                    ids.extend(seen.into_iter().cloned());
                }
            }
        }
    }
    ids
}

/// Whether `rbx status` lists a node: what the runbook writes, and the
/// nodes that judge a loop, a `repeat` or a block's condition.
fn listed(node: &Node) -> bool {
    matches!(
        node.kind,
        NodeKind::Block(_)
            | NodeKind::Anchor(_)
            | NodeKind::Checklist { .. }
            | NodeKind::Tally { .. }
            | NodeKind::Until { .. }
            | NodeKind::Tick { .. }
            | NodeKind::Guard { .. }
    )
}
