//! Building the record from the store and the engine's replay: the run,
//! its roles, links and inputs, its outcome and its journal's chain.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rbx_engine::value::{MASK, Value};
use rbx_engine::{RunState, RunStatus, Snapshot, Status};
use rbx_store::{RunId, RunSummary, Store, StoreError};
use rbx_syntax::ast::{File, InputTypeKind, ItemKind, RoleFieldKind, ScalarType};
use serde_json::{Value as Json, json};

use super::steps::{NodeView, stages};
use super::timeline::timeline_entry;
use super::{Chain, InputInfo, Inputs, LinkInfo, Outcome, Record, RoleInfo, RunInfo, VERSION};

/// A value as plain JSON: text as a string, a duration as the runbook
/// writes one, a time in RFC 3339.
pub(super) fn plain(value: &Value) -> Json {
    match value {
        Value::Text(s) | Value::Name(s) => json!(s),
        Value::Int(n) => json!(n),
        Value::Bool(b) => json!(b),
        Value::Duration(ms) => json!(rbx_syntax::fmt::duration(*ms)),
        Value::Timestamp(ms) => json!(rbx_engine::format_time(*ms)),
        Value::Version(v) => json!(v.as_str()),
        Value::List(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Secret(_) => json!(MASK),
    }
}

impl Record {
    /// The record of the run `summary` describes, or why it cannot be made.
    pub fn build(store: &dyn Store, summary: &RunSummary) -> Result<Record, String> {
        let run = &summary.id;
        let sources = store.sources(run).map_err(|e| e.to_string())?;
        let events = store.events(run).map_err(|e| e.to_string())?;
        let state = rbx_engine::replay(&events);
        let report = rbx_check::check(&PathBuf::from(&summary.entry), &Snapshot(sources.clone()));
        let Some(graph) = report.graph.as_ref() else {
            return Err(format!(
                "the snapshot of run {run} does not parse, so its steps cannot be listed"
            ));
        };
        let files: Vec<&File> = report
            .sources
            .iter()
            .filter_map(|s| s.file.as_ref())
            .collect();
        let outcome = outcome(&state, summary);
        let nodes = NodeView::new(&state, store, summary);
        let stages = stages(graph, &nodes);
        let mut roles = roles(&files, &sources);
        for (role, assignment) in rbx_engine::roles::assignments(graph, &state) {
            if let Some(info) = roles.iter_mut().find(|r| r.id == role) {
                info.person = Some(assignment.person);
                info.filled = true;
                info.source = "run";
                info.assigned_by = Some(assignment.node);
            }
        }
        let tolerated = tolerated(&events);
        let summary_view =
            super::summary::summarise(summary, &state, &stages, &outcome, &tolerated);
        Ok(Record {
            version: VERSION,
            run: RunInfo {
                id: run.to_string(),
                runbook_id: summary.runbook_id.clone(),
                title: summary.title.clone(),
                runbook_version: files.first().and_then(|f| {
                    f.items.iter().find_map(|i| match &i.kind {
                        ItemKind::Version(v) => Some(v.source_form()),
                        _ => None,
                    })
                }),
                entry: summary.entry.clone(),
                source_hash: summary.source_hash.clone(),
                started_at: summary.started_at.clone(),
                started_by: summary.started_by.clone(),
                host: summary.host.clone(),
                status: summary.status.clone(),
                last_event_at: events.last().map(|e| e.time.clone()),
                parent: state
                    .history
                    .parent
                    .as_ref()
                    .map(|(run, node)| super::ParentInfo {
                        run: run.clone(),
                        node: node.clone(),
                    }),
            },
            summary: summary_view,
            roles,
            links: links(&files, &sources),
            inputs: inputs(&files, &summary.inputs),
            stages,
            timeline: events.iter().map(timeline_entry).collect(),
            outcome,
            chain: chain(store, run, events.len()),
        })
    }
}

/// The failed nodes a `tolerate` let pass: by node, the tally that
/// counted it within its tolerance (rule R6).
fn tolerated(events: &[rbx_store::Event]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for event in events.iter().filter(|e| e.kind == "node_finished") {
        let payload = &event.payload;
        let (Some(tally), Some("succeeded"), Some(items)) = (
            payload.get("node").and_then(Json::as_str),
            payload.get("status").and_then(Json::as_str),
            payload.get("failed_items").and_then(Json::as_array),
        ) else {
            continue;
        };
        let nodes = items
            .iter()
            .filter_map(|item| item.get("nodes")?.as_array())
            .flatten()
            .filter_map(Json::as_str);
        for node in nodes {
            out.insert(node.to_string(), tally.to_string());
        }
    }
    out
}

/// The run's fill file, when it was started with one.
fn fill_file(sources: &[(String, String)]) -> Option<rbx_check::Fills> {
    sources.iter().find_map(|(path, text)| {
        path.strip_prefix(rbx_engine::fills::FILL_SOURCE)?;
        rbx_engine::fills::parse_fills(text).ok()
    })
}

/// Whether a role's person or a link's target is really given.
fn is_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty() && !v.contains("_TBD_"))
}

fn links(files: &[&File], sources: &[(String, String)]) -> Vec<LinkInfo> {
    let fill = fill_file(sources);
    let mut out = Vec::new();
    for file in files {
        for item in &file.items {
            let ItemKind::Link(link) = &item.kind else {
                continue;
            };
            let filled = fill.as_ref().and_then(|f| f.links.get(&link.id.name));
            let target = filled
                .cloned()
                .or_else(|| link.target.as_ref().map(|t| t.source_form()));
            out.push(LinkInfo {
                id: link.id.name.clone(),
                title: link.title.source_form(),
                set: is_set(target.as_deref()),
                target,
                source: if filled.is_some() {
                    "fill file"
                } else {
                    "runbook"
                },
            });
        }
    }
    out
}

fn roles(files: &[&File], sources: &[(String, String)]) -> Vec<RoleInfo> {
    let fill = fill_file(sources);
    let mut out = Vec::new();
    for file in files {
        for item in &file.items {
            let ItemKind::Role(role) = &item.kind else {
                continue;
            };
            let field = |kind: RoleFieldKind| {
                role.fields
                    .iter()
                    .flatten()
                    .find(|f| f.kind == kind)
                    .map(|f| f.value.source_form())
            };
            let mut info = RoleInfo {
                id: role.id.name.clone(),
                title: role.title.source_form(),
                person: field(RoleFieldKind::Person),
                contact: field(RoleFieldKind::Contact),
                backup: field(RoleFieldKind::Backup),
                filled: false,
                source: "runbook",
                assigned_by: None,
            };
            if let Some(filled) = fill.as_ref().and_then(|f| f.roles.get(&role.id.name)) {
                info.person = Some(filled.person.clone());
                info.contact = filled.contact.clone().or(info.contact);
                info.backup = filled.backup.clone().or(info.backup);
                info.source = "fill file";
            }
            info.filled = is_set(info.person.as_deref());
            out.push(info);
        }
    }
    out
}

fn type_name(ty: &InputTypeKind) -> String {
    match ty {
        InputTypeKind::Scalar(scalar) => scalar.keyword().to_string(),
        InputTypeKind::Enum(members) => {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            format!("enum({})", names.join(", "))
        }
        InputTypeKind::List(scalar) => format!("list({})", scalar.keyword()),
    }
}

fn inputs(files: &[&File], stored: &Json) -> Inputs {
    let mut out: Vec<(String, InputInfo)> = Vec::new();
    for file in files {
        for item in &file.items {
            let ItemKind::Input(input) = &item.kind else {
                continue;
            };
            let name = &input.name.name;
            if out.iter().any(|(n, _)| n == name) {
                continue;
            }
            let secret = input.ty.kind == InputTypeKind::Scalar(ScalarType::Secret);
            let value = if secret {
                json!(MASK)
            } else {
                stored
                    .get(name)
                    .and_then(Value::from_json)
                    .map_or(Json::Null, |v| plain(&v))
            };
            out.push((
                name.clone(),
                InputInfo {
                    ty: type_name(&input.ty.kind),
                    secret,
                    value,
                },
            ));
        }
    }
    // Stored inputs the snapshot does not declare (it always should).
    if let Some(map) = stored.as_object() {
        for (name, value) in map {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((
                    name.clone(),
                    InputInfo {
                        ty: "unknown".to_string(),
                        secret: false,
                        value: Value::from_json(value).map_or(Json::Null, |v| plain(&v)),
                    },
                ));
            }
        }
    }
    Inputs(out)
}

fn outcome(state: &RunState, summary: &RunSummary) -> Outcome {
    let history = &state.history;
    let mut out = Outcome {
        status: state.status.label().to_string(),
        outcome: None,
        success: None,
        node: None,
        reason: None,
        at: history.stopped_at.map(rbx_engine::format_time),
    };
    match &state.status {
        RunStatus::Ended { outcome } => {
            out.outcome = Some(outcome.clone());
            out.success = Some(history.success.unwrap_or(true));
        }
        RunStatus::Failed { node } => {
            out.node = Some(node.clone());
            out.reason = history.failure.clone();
        }
        RunStatus::Paused { node } => {
            out.node = Some(node.clone());
            out.reason = Some("waiting for a person: `rbx confirm`, then `rbx resume`".into());
        }
        RunStatus::Waiting { node, due } => {
            out.node = Some(node.clone());
            out.reason = Some(format!(
                "due at {}: `rbx resume` then goes on",
                rbx_engine::format_time(*due)
            ));
        }
        RunStatus::Cancelled => {
            let cancel = history.cancellation.as_ref();
            out.reason = Some(format!(
                "{}; `rbx resume` runs the compensation",
                super::words::cancelled_text(
                    cancel.and_then(|c| c.operator.as_deref()),
                    cancel.and_then(|c| c.reason.as_deref())
                )
            ));
        }
        RunStatus::Interrupted => {}
        RunStatus::Running => {
            // The journal has no word for these; the store's status does.
            out.status = match summary.status.as_str() {
                "in-doubt" => "in_doubt",
                "broken" => "broken",
                "created" => "created",
                _ => "running",
            }
            .to_string();
            out.node = state
                .nodes
                .iter()
                .filter(|(_, n)| n.status == Status::Running)
                .map(|(id, _)| id.clone())
                .min();
            out.at = history.last_at.map(rbx_engine::format_time);
        }
    }
    out
}

fn chain(store: &dyn Store, run: &RunId, events: usize) -> Chain {
    let events = u64::try_from(events).unwrap_or(u64::MAX);
    match store.verify(run) {
        Ok(()) => Chain {
            intact: true,
            events,
            broken_at: None,
            reason: None,
            summary: format!("verified: {events} events, chain intact"),
        },
        Err(StoreError::ChainBroken { seq, reason, .. }) => Chain {
            intact: false,
            events,
            broken_at: Some(seq),
            summary: if seq == 0 {
                format!("BROKEN: the run's own record does not check: {reason}")
            } else {
                format!("BROKEN at event {seq}: {reason}")
            },
            reason: Some(reason),
        },
        Err(other) => Chain {
            intact: false,
            events,
            broken_at: None,
            summary: format!("could not be verified: {other}"),
            reason: Some(other.to_string()),
        },
    }
}
