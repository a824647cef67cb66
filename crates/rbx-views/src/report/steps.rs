//! The steps of every stage instance, in graph order, as the engine's
//! replay says they stand and what they did.

use rbx_check::graph::{Node, NodeKind};
use rbx_engine::state::{NodeHistory, NodeState};
use rbx_engine::value::Value;
use rbx_engine::{RunState, RunStatus, Status};
use rbx_store::{RunId, RunSummary, Store};
use rbx_syntax::ast::{BlockKind, StmtKind, Text, TextPart};
use serde_json::{Map, Value as Json};

use super::build::plain;
use super::words::{cancelled_text, json_text};
use super::{
    Confirmed, EXCERPT_LINES, EarlierAttempt, Excerpt, LastProbe, Probes, Signer, Signoff,
    StageInfo, StepInfo,
};
use crate::graph::require;

/// What the report needs to describe one node of the run.
pub(super) struct NodeView<'a> {
    state: &'a RunState,
    store: &'a dyn Store,
    run: &'a RunId,
    /// Whether the store says a process is driving the run now: a started
    /// node is then running, not in doubt.
    driven: bool,
    /// The node the run stopped at to wait, and for what.
    paused_at: Option<(String, String)>,
    /// The run's stored (non-secret) inputs, for titles that mention them.
    inputs: &'a Json,
}

impl<'a> NodeView<'a> {
    pub(super) fn new(
        state: &'a RunState,
        store: &'a dyn Store,
        summary: &'a RunSummary,
    ) -> NodeView<'a> {
        let paused_at = match &state.status {
            RunStatus::Paused { node } => Some((node.clone(), "for a person".to_string())),
            RunStatus::Waiting { node, due } => Some((
                node.clone(),
                format!("until {}", rbx_engine::format_time(*due)),
            )),
            _ => None,
        };
        NodeView {
            state,
            store,
            run: &summary.id,
            driven: summary.status == "running",
            paused_at,
            inputs: &summary.inputs,
        }
    }

    fn result(&self, id: &str) -> &'static str {
        match self.state.nodes.get(id).map(|n| n.status) {
            None | Some(Status::Pending) | Some(Status::Running)
                if self.paused_at.as_ref().is_some_and(|(node, _)| node == id) =>
            {
                "waiting"
            }
            _ => rbx_engine::state::standing(
                self.state.nodes.get(id),
                &self.state.status,
                self.driven,
            ),
        }
    }

    /// The run's ids for a checked node: itself, or one per `foreach` item
    /// seen in the journal, in the order they first appear.
    fn instances(&self, node: &Node) -> Vec<String> {
        if node.fanout.is_empty() {
            return vec![node.id.clone()];
        }
        let prefix = format!("{}[", node.id);
        let mut ids: Vec<(&String, u64)> = self
            .state
            .history
            .nodes
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(id, f)| (id, f.first_seq))
            .collect();
        ids.sort_by_key(|(id, seq)| (*seq, (*id).clone()));
        if ids.is_empty() {
            return vec![node.id.clone()];
        }
        ids.into_iter().map(|(id, _)| id.clone()).collect()
    }

    fn step(&self, node: &Node, id: &str) -> Option<StepInfo> {
        let items = items_of(id);
        let vars: Vec<(&str, &str)> = node
            .fanout
            .iter()
            .map(|f| f.var.as_str())
            .zip(items.iter().map(String::as_str))
            .collect();
        let (kind, title, block) = self.heading(node, &items, &vars)?;
        let conditions = self.conditions(statements_of(block), &vars);
        let default_state = NodeState::default();
        let ns = self.state.nodes.get(id).unwrap_or(&default_state);
        let history = self
            .state
            .history
            .nodes
            .get(id)
            .cloned()
            .unwrap_or_default();
        // An iteration that never came, once its `every` stopped (V3).
        if history.stopped {
            return None;
        }
        let result = self.result(id);
        let statements = statements_of(block);
        let signoff = match (block.map(|b| b.kind), result) {
            (Some(BlockKind::Signoff), "done" | "failed") => {
                Some(signoff(statements, &history, result))
            }
            _ => None,
        };
        let output = self.output(statements, id, ns.attempts);
        let probes = probes(&history);
        let earlier_attempts = earlier_attempts(&history);
        Some(StepInfo {
            id: id.to_string(),
            name: base_name(id),
            kind,
            title,
            items,
            instance: None,
            owner: statements.iter().find_map(|s| match &s.kind {
                StmtKind::Owner(role) => Some(role.name.clone()),
                _ => None,
            }),
            irreversible: statements
                .iter()
                .any(|s| matches!(s.kind, StmtKind::Irreversible(_))),
            confirmed: history.confirmed.as_ref().map(|c| Confirmed {
                by: c.operator.clone(),
                via: c.via.clone(),
                at: rbx_engine::format_time(c.at),
            }),
            conditions,
            result,
            reason: match history.due.map(rbx_engine::format_time) {
                Some(due) if history.missed => Some(format!(
                    "missed: due {due}, its interval passed without it starting"
                )),
                Some(due) => Some(format!("due {due}")),
                None => self.reason(result, ns),
            },
            attempts: ns.attempts,
            operator: history.operator,
            host: history.host,
            via: history.via,
            started_at: history.started_at.map(rbx_engine::format_time),
            finished_at: history.finished_at.map(rbx_engine::format_time),
            duration_ms: ns.duration_ms,
            exit: history.exit,
            command: history.command,
            child: history.child,
            captures: ns
                .captures
                .iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect(),
            answers: history.answers,
            branch: ns.branch.clone(),
            rationale: history.rationale,
            signoff,
            output,
            probes,
            earlier_attempts,
        })
    }

    /// A node's kind, its title as the run resolved it, and its block,
    /// if it is one; `None` for a node the report leaves out.
    fn heading<'n>(
        &self,
        node: &'n Node,
        items: &[String],
        vars: &[(&str, &str)],
    ) -> Option<(&'static str, String, Option<&'n rbx_syntax::ast::Block>)> {
        Some(match &node.kind {
            NodeKind::Block(block) => (
                block.kind.keyword(),
                self.resolve(&block.title, vars),
                Some(block),
            ),
            NodeKind::Anchor(anchor) => ("anchor", self.resolve(&anchor.title, vars), None),
            NodeKind::Checklist { title, .. } => ("checklist", self.resolve(title, vars), None),
            NodeKind::Tally { tolerate, .. } => (
                "tally",
                format!("Failed items, {} tolerated", tolerate.source_form()),
                None,
            ),
            NodeKind::Guard { condition } => (
                "when",
                format!("Only when {}", rbx_syntax::fmt::expr(condition)),
                None,
            ),
            NodeKind::Until { until, at_most } => (
                "until",
                format!(
                    "Until {} (iteration {} of {at_most})",
                    rbx_syntax::fmt::expr(until),
                    items.last().map_or("1", String::as_str)
                ),
                None,
            ),
            NodeKind::Tick { interval, .. } => (
                "every",
                format!(
                    "Every {} (iteration {})",
                    rbx_syntax::fmt::expr(interval),
                    items.last().map_or("1", String::as_str)
                ),
                None,
            ),
            NodeKind::StageStart { .. } | NodeKind::End { .. } => return None,
        })
    }

    /// Why a node stands where it does: what it waits for, who cancelled
    /// it and why, or what its settlement recorded.
    fn reason(&self, result: &str, ns: &NodeState) -> Option<String> {
        match (&self.paused_at, result) {
            (Some((_, why)), "waiting") => Some(format!("waiting {why}")),
            (_, "cancelled") => {
                let cancel = self.state.history.cancellation.as_ref();
                Some(cancelled_text(
                    cancel.and_then(|c| c.operator.as_deref()),
                    cancel.and_then(|c| c.reason.as_deref()),
                ))
            }
            _ => ns.why(),
        }
    }

    /// What the node checks before it runs, in the runbook's words.
    fn conditions(
        &self,
        statements: &[rbx_syntax::ast::Stmt],
        vars: &[(&str, &str)],
    ) -> Vec<String> {
        statements
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Condition(c) => Some(format!("when {}", rbx_syntax::fmt::expr(c))),
                StmtKind::Require(r) => Some(format!("require {}", require(r))),
                StmtKind::Attest { role, statement } => Some(format!(
                    "attest {}: {}",
                    role.name,
                    self.resolve(statement, vars)
                )),
                _ => None,
            })
            .collect()
    }

    /// Excerpts of the streams the node keeps, from its last attempt.
    fn output(&self, statements: &[rbx_syntax::ast::Stmt], id: &str, attempt: u32) -> Vec<Excerpt> {
        if attempt == 0 {
            return Vec::new();
        }
        statements
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Keep(stream) => self.excerpt(id, attempt, stream.keyword()),
                _ => None,
            })
            .collect()
    }

    /// A title or statement with loop variables and stored inputs filled
    /// in; anything else stays `{{ name }}`.
    fn resolve(&self, text: &Text, vars: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for part in &text.parts {
            match part {
                TextPart::Literal(literal) => out.push_str(literal),
                TextPart::Interpolation(interpolation) => {
                    let name = interpolation.path.dotted();
                    let value = vars
                        .iter()
                        .find(|(var, _)| *var == name)
                        .map(|(_, item)| (*item).to_string())
                        .or_else(|| {
                            let stored = self.inputs.get(&name).and_then(Value::from_json)?;
                            Some(json_text(&plain(&stored)))
                        });
                    match value {
                        Some(value) => out.push_str(&rbx_engine::shell::quoted(
                            value,
                            interpolation.shell_quotes(),
                        )),
                        None => out.push_str(&interpolation.source_form()),
                    }
                }
            }
        }
        out
    }

    fn excerpt(&self, id: &str, attempt: u32, stream: &str) -> Option<Excerpt> {
        let output = self.store.output(self.run, id, attempt, stream).ok()??;
        let truncated = output.is_truncated();
        let mut kept = String::from_utf8_lossy(&output.head).into_owned();
        if !truncated {
            kept.push_str(&String::from_utf8_lossy(&output.tail));
        }
        let all: Vec<String> = kept.lines().map(clean).collect();
        let lines: Vec<String> = all.iter().take(EXCERPT_LINES).cloned().collect();
        Some(Excerpt {
            stream: stream.to_string(),
            attempt,
            more_lines: all.len() - lines.len(),
            lines,
            total_bytes: output.total,
            truncated,
        })
    }
}

/// A polling wait's probes, as its history keeps them.
fn probes(history: &NodeHistory) -> Option<Probes> {
    let last = history.last_probe.as_ref()?;
    Some(Probes {
        count: history.polls,
        last: LastProbe {
            poll: last.poll,
            at: rbx_engine::format_time(last.at),
            exit: last.exit,
            held: last.held,
            reason: last.reason.clone(),
            stdout: last.stdout.clone(),
            stderr: last.stderr.clone(),
        },
    })
}

fn earlier_attempts(history: &NodeHistory) -> Vec<EarlierAttempt> {
    history
        .earlier
        .iter()
        .map(|e| EarlierAttempt {
            attempt: e.attempt,
            time: rbx_engine::format_time(e.at),
            result: e.result,
            reason: e.reason.clone(),
            exit: e.exit,
            retried: e.retried.clone(),
            child: e.child.clone(),
        })
        .collect()
}

fn statements_of(block: Option<&rbx_syntax::ast::Block>) -> &[rbx_syntax::ast::Stmt] {
    block.map(|b| b.body.as_slice()).unwrap_or_default()
}

/// A settled sign-off: its verdict, the roles asked and who signed.
fn signoff(statements: &[rbx_syntax::ast::Stmt], history: &NodeHistory, result: &str) -> Signoff {
    let verdict = if history.signers.is_empty() {
        history
            .answers
            .get("signoff")
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| if result == "done" { "GO" } else { "NO-GO" }.to_string())
    } else {
        let go = history.signers.iter().all(|s| s.decision == "GO");
        if go { "GO" } else { "NO-GO" }.to_string()
    };
    Signoff {
        verdict,
        signers: history
            .signers
            .iter()
            .map(|s| Signer {
                role: s.role.clone(),
                by: s.by.clone(),
                decision: s.decision.clone(),
                comment: s.comment.clone(),
            })
            .collect(),
        roles: statements
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::By(roles) => Some(roles.iter().map(|r| r.name.clone())),
                _ => None,
            })
            .flatten()
            .collect(),
    }
}

/// `smoke#2.version[web-1]` → `version`.
fn base_name(id: &str) -> String {
    let without_items = id.split('[').next().unwrap_or(id);
    without_items
        .rsplit('.')
        .next()
        .unwrap_or(without_items)
        .to_string()
}

/// `restart.drain[web-1][a]` → `["web-1", "a"]`.
fn items_of(id: &str) -> Vec<String> {
    let Some(start) = id.find('[') else {
        return Vec::new();
    };
    id[start + 1..]
        .trim_end_matches(']')
        .split("][")
        .map(str::to_string)
        .collect()
}

/// A line of a command's output without terminal escapes and control
/// characters, which mean nothing in a document.
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\t' {
            out.push_str("    ");
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

pub(super) fn stages(graph: &rbx_check::graph::Graph, nodes: &NodeView<'_>) -> Vec<StageInfo> {
    let g = &graph.graph;
    let all: Vec<&Node> = g.raw_nodes().iter().map(|n| &n.weight).collect();
    let stage_info = |start: &Node| -> Option<StageInfo> {
        let NodeKind::StageStart {
            stage,
            title,
            requires,
            ..
        } = &start.kind
        else {
            return None;
        };
        let ns = nodes.state.nodes.get(&start.id);
        // A call instance says which arguments it ran with.
        let title = match graph.call_of(&start.stage) {
            Some(frame) => format!("{title} ({})", frame.arguments_written()),
            None => title.clone(),
        };
        Some(StageInfo {
            id: stage.clone(),
            title,
            instance: start.stage.clone(),
            again_in: (start.stage != start.host).then(|| start.host.clone()),
            result: nodes.result(&start.id),
            reason: ns.and_then(|n| n.reason.clone()),
            conditions: requires
                .iter()
                .map(|r| format!("require {}", require(r)))
                .collect(),
            steps: Vec::new(),
        })
    };
    let mut out = Vec::new();
    for primary in all
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::StageStart { .. }) && n.stage == n.host)
    {
        let Some(mut info) = stage_info(primary) else {
            continue;
        };
        let mut agains: Vec<StageInfo> = Vec::new();
        for member in all.iter().filter(|n| n.host == primary.stage) {
            match &member.kind {
                // An `again` instance is a row of the stage that holds it,
                // where the `again` is written, and a section of its own.
                NodeKind::StageStart { stage, title, .. } if member.stage != member.host => {
                    let title = match graph.call_of(&member.stage) {
                        Some(frame) => format!("Call: {title} ({})", frame.arguments_written()),
                        None => format!("Run again: {title}"),
                    };
                    info.steps.push(again_row(stage, &title, &member.stage));
                    if let Some(again) = stage_info(member) {
                        agains.push(again);
                    }
                }
                NodeKind::Block(_)
                | NodeKind::Anchor(_)
                | NodeKind::Checklist { .. }
                | NodeKind::Until { .. }
                | NodeKind::Tick { .. }
                | NodeKind::Guard { .. }
                | NodeKind::Tally { .. } => {
                    let target = if member.stage == primary.stage {
                        &mut info.steps
                    } else {
                        match agains.iter_mut().rev().find(|a| a.instance == member.stage) {
                            Some(again) => &mut again.steps,
                            None => continue,
                        }
                    };
                    for id in nodes.instances(member) {
                        target.extend(nodes.step(member, &id));
                    }
                }
                _ => {}
            }
        }
        for again in &agains {
            if let Some(row) = info
                .steps
                .iter_mut()
                .find(|s| s.kind == "again" && s.instance.as_deref() == Some(&again.instance))
            {
                row.result = combined(again);
            }
        }
        out.push(info);
        out.extend(agains);
    }
    out
}

fn again_row(stage: &str, title: &str, instance: &str) -> StepInfo {
    StepInfo {
        id: instance.to_string(),
        name: stage.to_string(),
        kind: "again",
        title: title.to_string(),
        items: Vec::new(),
        instance: Some(instance.to_string()),
        owner: None,
        irreversible: false,
        confirmed: None,
        conditions: Vec::new(),
        result: "pending",
        reason: None,
        attempts: 0,
        operator: None,
        host: None,
        via: None,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        exit: None,
        command: None,
        child: None,
        captures: Map::new(),
        answers: Map::new(),
        branch: None,
        rationale: None,
        signoff: None,
        output: Vec::new(),
        earlier_attempts: Vec::new(),
        probes: None,
    }
}

/// The result of a whole stage instance, for the row that stands for it.
fn combined(stage: &StageInfo) -> &'static str {
    let results: Vec<&str> = std::iter::once(stage.result)
        .chain(stage.steps.iter().map(|s| s.result))
        .collect();
    for worst in ["failed", "in_doubt", "running", "waiting"] {
        if results.contains(&worst) {
            return worst;
        }
    }
    if results.iter().all(|r| *r == "skipped") {
        "skipped"
    } else if results.contains(&"pending") {
        "pending"
    } else if results
        .iter()
        .all(|r| matches!(*r, "skipped" | "not_reached"))
    {
        "not_reached"
    } else {
        "done"
    }
}

#[cfg(test)]
mod tests {
    use super::{clean, items_of};

    #[test]
    fn items_read_back() {
        assert_eq!(items_of("r.drain[web-1][a]"), vec!["web-1", "a"]);
        assert!(items_of("r.drain").is_empty());
        assert_eq!(clean("\u{1b}[31mred\u{1b}[0m\tx\u{7}"), "red    x");
    }
}
