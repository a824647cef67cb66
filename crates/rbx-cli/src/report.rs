//! `rbx report`: a run's evidence record, as Markdown, JSON or HTML.
//!
//! The record is built once from what the store holds — the run's summary,
//! its source snapshot, its journal, the kept output of its steps and the
//! check of its hash chain — and then rendered. Every format says the same
//! things: the header, the roles and inputs, every step of every stage
//! instance in graph order with its result and evidence, the decisions and
//! sign-offs, the timeline of every journal event, the outcome, and whether
//! the journal's chain is intact.
//!
//! Nothing here reads the runbook files on disk: the steps come from the
//! run's own snapshot, checked again. Secrets are never stored, so a secret
//! input shows as a mask; recorded commands were masked by the engine.
//!
//! The JSON structure is versioned (`"version": 1`) and documented field by
//! field in the book (`reference/report.md`); a change that removes or
//! renames a field bumps the version.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rbx_check::graph::{Node, NodeKind};
use rbx_engine::state::{NodeState, kind};
use rbx_engine::value::{MASK, Value};
use rbx_engine::{RunState, RunStatus, Snapshot, Status};
use rbx_store::{Event, RunId, RunSummary, SqliteStore, Store, StoreError};
use rbx_syntax::ast::{
    BlockKind, File, InputTypeKind, ItemKind, RoleFieldKind, ScalarType, StmtKind, Text, TextPart,
};
use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::{Map, Value as Json, json};

use crate::cli::{ReportArgs, ReportFormat};
use crate::exit;
use crate::run_cmd::open_store;

/// The version of the JSON structure.
const VERSION: u32 = 1;

/// How many lines of a kept stream the report shows.
const EXCERPT_LINES: usize = 20;

pub fn run(args: &ReportArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let store = open_store(&args.store.state_dir)?;
        let summary = find_run(&store, args.run.as_deref(), &args.store.state_dir)?;
        let record = Record::build(&store, &summary)?;
        let text = match args.format {
            ReportFormat::Md => markdown(&record),
            ReportFormat::Json => {
                let mut text = serde_json::to_string_pretty(&record)
                    .map_err(|e| fail(format!("cannot write the report as JSON: {e}")))?;
                text.push('\n');
                text
            }
            ReportFormat::Html => html(&record),
        };
        Ok(crate::graph_cmd::emit(&text))
    };
    attempt().unwrap_or_else(|status| status)
}

fn fail(message: impl std::fmt::Display) -> u8 {
    errln!("error: {message}");
    exit::INVALID
}

/// The run named, or the most recently created one.
fn find_run(store: &SqliteStore, run: Option<&str>, dir: &Path) -> Result<RunSummary, u8> {
    let found = match run {
        Some(id) => store.run(&RunId::new(id)),
        // `runs()` lists the oldest first.
        None => store.runs().map(|runs| runs.into_iter().last()),
    };
    match found {
        Ok(Some(summary)) => Ok(summary),
        Ok(None) => Err(fail(match run {
            Some(id) => format!("there is no run `{id}` in {}", dir.display()),
            None => format!("there are no runs in {}", dir.display()),
        })),
        Err(e) => Err(fail(e)),
    }
}

// ------------------------------------------------------------------ model --

/// Everything the report says, in the order it says it. Serialized as is
/// for `--format json`.
#[derive(Debug, Serialize)]
struct Record {
    version: u32,
    run: RunInfo,
    roles: Vec<RoleInfo>,
    inputs: Inputs,
    stages: Vec<StageInfo>,
    timeline: Vec<TimelineEntry>,
    outcome: Outcome,
    chain: Chain,
}

#[derive(Debug, Serialize)]
struct RunInfo {
    id: String,
    runbook_id: String,
    title: String,
    /// The `version` the snapshot's entry file declares.
    runbook_version: Option<String>,
    entry: String,
    source_hash: String,
    started_at: String,
    started_by: String,
    host: String,
    /// The status the store keeps for listings (`ended:resolved`, `paused`…).
    status: String,
    /// The time of the journal's last event.
    last_event_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct RoleInfo {
    id: String,
    title: String,
    person: Option<String>,
    contact: Option<String>,
    backup: Option<String>,
    filled: bool,
    /// `runbook`, or `fill file` when the run's fill file filled it.
    source: &'static str,
}

/// The inputs in the order the runbook declares them; a JSON object.
#[derive(Debug)]
struct Inputs(Vec<(String, InputInfo)>);

impl Serialize for Inputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, info) in &self.0 {
            map.serialize_entry(name, info)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct InputInfo {
    /// As the runbook writes it: `string`, `enum(a, b)`, `list(string)`…;
    /// `unknown` for a stored input the snapshot does not declare.
    #[serde(rename = "type")]
    ty: String,
    secret: bool,
    /// The value the run was started with; `"••••••"` for a secret; `null`
    /// when the run has none.
    value: Json,
}

#[derive(Debug, Serialize)]
struct StageInfo {
    /// The stage's id in the runbook.
    id: String,
    title: String,
    /// The stage instance: the id for the primary instance, `smoke#2` for
    /// one made by `again`.
    instance: String,
    /// For an `again` instance, the stage instance that holds the `again`.
    again_in: Option<String>,
    /// The stage's own start: its requirements held (`done`), failed, or it
    /// was not on the run's path (`skipped`) or not reached (`pending`).
    result: &'static str,
    reason: Option<String>,
    /// The stage's `require`s, checked at its start.
    conditions: Vec<String>,
    steps: Vec<StepInfo>,
}

#[derive(Debug, Serialize)]
struct StepInfo {
    /// The node's id in the run: `smoke.version`, `smoke#2.version`,
    /// `restart.drain[web-1]`.
    id: String,
    /// The block's id in the runbook (`version`).
    name: String,
    /// `step`, `manual`, `gate`, `signoff`, `decide`, `choose`, `wait`,
    /// `anchor`, or `again` (a row standing for a whole `again` instance).
    kind: &'static str,
    title: String,
    /// The `foreach` items of this instance, outermost first.
    items: Vec<String>,
    /// For `kind: again`, the stage instance it ran.
    instance: Option<String>,
    /// The role the runbook makes the node's owner.
    owner: Option<String>,
    /// What the node checks before it runs, in the runbook's words:
    /// `require …` and `attest ROLE: statement`. A gate passes when all hold.
    conditions: Vec<String>,
    result: &'static str,
    reason: Option<String>,
    /// The last attempt started (0 for nodes that run no command).
    attempts: u32,
    operator: Option<String>,
    host: Option<String>,
    /// How a person's answer arrived: `rbx confirm`, `answers file`, or
    /// `null` when asked on the terminal.
    via: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// As recorded: how long the last attempt's command ran.
    duration_ms: Option<u64>,
    exit: Option<i64>,
    /// The command of the last attempt, as recorded (secrets masked).
    command: Option<String>,
    captures: Map<String, Json>,
    answers: Map<String, Json>,
    /// The branch a decision or choice took.
    branch: Option<String>,
    rationale: Option<String>,
    signoff: Option<Signoff>,
    output: Vec<Excerpt>,
    earlier_attempts: Vec<EarlierAttempt>,
}

#[derive(Debug, Serialize)]
struct Signoff {
    /// `GO` or `NO-GO`.
    verdict: String,
    /// The roles the runbook asks to sign (`by`).
    roles: Vec<String>,
    /// Who signed, as recorded.
    signers: Vec<Signer>,
}

#[derive(Debug, Clone, Serialize)]
struct Signer {
    role: String,
    by: String,
    /// `GO` or `NO-GO`.
    decision: String,
    comment: Option<String>,
}

#[derive(Debug, Serialize)]
struct Excerpt {
    stream: String,
    attempt: u32,
    /// The first lines of what was kept, control characters removed.
    lines: Vec<String>,
    /// Kept lines not shown here (see `rbx log RUN STEP`).
    more_lines: usize,
    total_bytes: u64,
    /// Whether the store dropped bytes between the head and the tail.
    truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
struct EarlierAttempt {
    attempt: u32,
    time: String,
    result: &'static str,
    reason: Option<String>,
    exit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct TimelineEntry {
    seq: u64,
    time: String,
    kind: String,
    node: Option<String>,
    summary: String,
    payload: Json,
}

#[derive(Debug, Serialize)]
struct Outcome {
    /// `ended`, `failed`, `paused`, `waiting`, `interrupted`, `in_doubt`,
    /// `broken`, `running` or `created`.
    status: String,
    /// For `ended`: the terminal outcome.
    outcome: Option<String>,
    /// For `ended`: whether the outcome is a success (as recorded with it;
    /// a run recorded before outcomes had classes counts as one).
    success: Option<bool>,
    /// The node the run failed or paused at.
    node: Option<String>,
    reason: Option<String>,
    /// When the event that says so was recorded.
    at: Option<String>,
}

#[derive(Debug, Serialize)]
struct Chain {
    intact: bool,
    events: u64,
    /// The first event that does not check (0: the run's own record).
    broken_at: Option<u64>,
    reason: Option<String>,
    summary: String,
}

// ----------------------------------------------------------------- build --

/// What the journal says about one node beyond its replayed state.
#[derive(Debug, Default, Clone)]
struct Facts {
    first_seq: u64,
    started: Option<String>,
    finished: Option<String>,
    command: Option<String>,
    host: Option<String>,
    operator: Option<String>,
    via: Option<String>,
    exit: Option<i64>,
    answers: Map<String, Json>,
    rationale: Option<String>,
    captures: Map<String, Json>,
    signers: Vec<Signer>,
    /// The last finishing event's status and reason, kept for a reset.
    settled: Option<(&'static str, Option<String>, u32)>,
    earlier: Vec<EarlierAttempt>,
}

fn text(payload: &Json, key: &str) -> Option<String> {
    payload.get(key).and_then(Json::as_str).map(str::to_string)
}

fn facts_of(events: &[Event]) -> HashMap<String, Facts> {
    let mut facts: HashMap<String, Facts> = HashMap::new();
    // Who drives the run now: the operator of the latest start or resume.
    let mut driver: Option<String> = None;
    // Nodes an operator's in-doubt policy settled, waiting for their
    // `node_finished`.
    let mut settled_in_doubt: HashMap<String, String> = HashMap::new();
    for event in events {
        let p = &event.payload;
        let attempt = p
            .get("attempt")
            .and_then(Json::as_u64)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0);
        let seq = event.seq;
        let node = text(p, "node");
        match (event.kind.as_str(), node.as_deref()) {
            (kind::RUN_RESUMED, _) => driver = text(p, "operator"),
            (kind::IN_DOUBT, Some(node)) if text(p, "decision").as_deref() == Some("done") => {
                if let Some(op) = &driver {
                    settled_in_doubt.insert(node.to_string(), op.clone());
                }
            }
            (kind::NODE_STARTED, Some(node)) => {
                let f = entry(&mut facts, node, seq);
                if f.started.is_none() {
                    f.started = Some(event.time.clone());
                }
                f.command = text(p, "command").or(f.command.take());
                f.host = text(p, "host").or(f.host.take());
                f.operator = text(p, "operator").or(f.operator.take());
            }
            (kind::ATTEMPT_FAILED, Some(node)) => {
                entry(&mut facts, node, seq).earlier.push(EarlierAttempt {
                    attempt,
                    time: event.time.clone(),
                    result: "failed",
                    reason: text(p, "reason"),
                    exit: p.get("exit").and_then(Json::as_i64),
                });
            }
            (kind::NODE_FINISHED, Some(node)) => {
                let f = entry(&mut facts, node, seq);
                f.finished = Some(event.time.clone());
                f.exit = p.get("exit").and_then(Json::as_i64);
                f.answers = p
                    .get("answers")
                    .and_then(Json::as_object)
                    .cloned()
                    .unwrap_or_default();
                f.rationale = text(p, "rationale").or_else(|| {
                    f.answers
                        .get("rationale")
                        .and_then(Json::as_str)
                        .map(str::to_string)
                });
                f.signers = p
                    .get("signoffs")
                    .and_then(Json::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|s| Signer {
                                role: text(s, "role").unwrap_or_default(),
                                by: text(s, "by").unwrap_or_default(),
                                decision: text(s, "decision").unwrap_or_default(),
                                comment: text(s, "comment"),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                f.via = text(p, "via");
                // The engine records no operator with a node settled by the
                // in-doubt policy: it is the one who resumed the run.
                if let Some(op) = settled_in_doubt.remove(node) {
                    f.operator = Some(op);
                    f.via = Some("in-doubt policy of rbx resume".to_string());
                }
                f.operator = text(p, "operator").or(f.operator.take());
                f.captures = p
                    .get("captures")
                    .and_then(Json::as_object)
                    .map(|map| {
                        map.iter()
                            .filter_map(|(k, v)| Some((k.clone(), plain(&Value::from_json(v)?))))
                            .collect()
                    })
                    .unwrap_or_default();
                let status = if text(p, "status").as_deref() == Some("succeeded") {
                    "done"
                } else {
                    "failed"
                };
                f.settled = Some((status, text(p, "reason"), attempt));
            }
            (kind::NODE_SKIPPED, Some(node)) => {
                let f = entry(&mut facts, node, seq);
                f.finished = Some(event.time.clone());
                f.settled = Some(("skipped", None, 0));
            }
            (kind::RETRY | kind::RERUN_FROM, _) => {
                let reset: Vec<String> = p
                    .get("reset")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                for id in reset {
                    let Some(f) = facts.get_mut(&id) else {
                        continue;
                    };
                    let mut earlier = std::mem::take(&mut f.earlier);
                    if let Some((result, reason, attempt)) = f.settled.take() {
                        earlier.push(EarlierAttempt {
                            attempt,
                            time: f.finished.clone().unwrap_or_default(),
                            result,
                            reason,
                            exit: f.exit,
                        });
                    }
                    *f = Facts {
                        first_seq: f.first_seq,
                        earlier,
                        ..Facts::default()
                    };
                }
            }
            _ => {}
        }
    }
    facts
}

fn entry<'a>(facts: &'a mut HashMap<String, Facts>, node: &str, seq: u64) -> &'a mut Facts {
    let f = facts.entry(node.to_string()).or_default();
    if f.first_seq == 0 {
        f.first_seq = seq;
    }
    f
}

/// A value as plain JSON: text as a string, a duration as the runbook
/// writes one, a time in RFC 3339.
fn plain(value: &Value) -> Json {
    match value {
        Value::Text(s) | Value::Name(s) => json!(s),
        Value::Int(n) => json!(n),
        Value::Bool(b) => json!(b),
        Value::Duration(ms) => json!(rbx_syntax::fmt::duration(*ms)),
        Value::Timestamp(ms) => json!(rbx_engine::format_time(*ms)),
        Value::List(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Secret(_) => json!(MASK),
    }
}

impl Record {
    fn build(store: &SqliteStore, summary: &RunSummary) -> Result<Record, u8> {
        let run = &summary.id;
        let sources = store.sources(run).map_err(fail)?;
        let events = store.events(run).map_err(fail)?;
        let state = rbx_engine::replay(&events);
        let report = rbx_check::check(&PathBuf::from(&summary.entry), &Snapshot(sources.clone()));
        let Some(graph) = report.graph.as_ref() else {
            return Err(fail(format!(
                "the snapshot of run {run} does not parse, so its steps cannot be listed"
            )));
        };
        let files: Vec<&File> = report
            .sources
            .iter()
            .filter_map(|s| s.file.as_ref())
            .collect();
        let facts = facts_of(&events);
        let outcome = outcome(&state, summary, &events);
        let paused_at = match &state.status {
            RunStatus::Paused { node } => Some((node.clone(), "for a person".to_string())),
            RunStatus::Waiting { node, due } => Some((
                node.clone(),
                format!("until {}", rbx_engine::format_time(*due)),
            )),
            _ => None,
        };
        let nodes = NodeView {
            state: &state,
            facts: &facts,
            store,
            run,
            driven: summary.status == "running",
            paused_at,
            inputs: &summary.inputs,
        };
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
            },
            roles: roles(&files, &sources),
            inputs: inputs(&files, &summary.inputs),
            stages: stages(graph, &nodes),
            timeline: events.iter().map(timeline_entry).collect(),
            outcome,
            chain: chain(store, run, events.len()),
        })
    }
}

fn roles(files: &[&File], sources: &[(String, String)]) -> Vec<RoleInfo> {
    let fill = sources.iter().find_map(|(path, text)| {
        path.strip_prefix(rbx_engine::fills::FILL_SOURCE)?;
        rbx_engine::fills::parse_fills(text).ok()
    });
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
            };
            if let Some(filled) = fill.as_ref().and_then(|f| f.roles.get(&role.id.name)) {
                info.person = Some(filled.person.clone());
                info.contact = filled.contact.clone().or(info.contact);
                info.backup = filled.backup.clone().or(info.backup);
                info.source = "fill file";
            }
            info.filled = info
                .person
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty() && !p.contains("_TBD_"));
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

/// What the report needs to describe one node of the run.
struct NodeView<'a> {
    state: &'a RunState,
    facts: &'a HashMap<String, Facts>,
    store: &'a SqliteStore,
    run: &'a RunId,
    /// Whether the store says a process is driving the run now: a started
    /// node is then running, not in doubt.
    driven: bool,
    /// The node the run stopped at to wait, and for what.
    paused_at: Option<(String, String)>,
    /// The run's stored (non-secret) inputs, for titles that mention them.
    inputs: &'a Json,
}

impl NodeView<'_> {
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
            .facts
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
        let (kind, title, block) = match &node.kind {
            NodeKind::Block(block) => (block.kind.keyword(), &block.title, Some(block)),
            NodeKind::Anchor(anchor) => ("anchor", &anchor.title, None),
            NodeKind::StageStart { .. } | NodeKind::End { .. } => return None,
        };
        let items = items_of(id);
        let vars: Vec<(&str, &str)> = node
            .fanout
            .iter()
            .map(|f| f.var.as_str())
            .zip(items.iter().map(String::as_str))
            .collect();
        let title = self.resolve(title, &vars);
        let default_state = NodeState::default();
        let ns = self.state.nodes.get(id).unwrap_or(&default_state);
        let facts = self.facts.get(id).cloned().unwrap_or_default();
        let result = self.result(id);
        let statements = block.map(|b| b.body.as_slice()).unwrap_or_default();
        let owner = statements.iter().find_map(|s| match &s.kind {
            StmtKind::Owner(role) => Some(role.name.clone()),
            _ => None,
        });
        let signoff = match (block.map(|b| b.kind), result) {
            (Some(BlockKind::Signoff), "done" | "failed") => Some(Signoff {
                verdict: if !facts.signers.is_empty() {
                    let go = facts.signers.iter().all(|s| s.decision == "GO");
                    if go { "GO" } else { "NO-GO" }.to_string()
                } else {
                    facts
                        .answers
                        .get("signoff")
                        .and_then(Json::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            if result == "done" { "GO" } else { "NO-GO" }.to_string()
                        })
                },
                signers: facts.signers.clone(),
                roles: statements
                    .iter()
                    .filter_map(|s| match &s.kind {
                        StmtKind::By(roles) => Some(roles.iter().map(|r| r.name.clone())),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
            }),
            _ => None,
        };
        let conditions: Vec<String> = statements
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Require(r) => Some(format!("require {}", crate::graph_cmd::require(r))),
                StmtKind::Attest { role, statement } => Some(format!(
                    "attest {}: {}",
                    role.name,
                    self.resolve(statement, &vars)
                )),
                _ => None,
            })
            .collect();
        let kept: Vec<&'static str> = statements
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Keep(stream) => Some(stream.keyword()),
                _ => None,
            })
            .collect();
        let output = if ns.attempts > 0 {
            kept.iter()
                .filter_map(|stream| self.excerpt(id, ns.attempts, stream))
                .collect()
        } else {
            Vec::new()
        };
        Some(StepInfo {
            id: id.to_string(),
            name: base_name(id),
            kind,
            title,
            items,
            instance: None,
            owner,
            conditions,
            result,
            reason: match (&self.paused_at, result) {
                (Some((_, why)), "waiting") => Some(format!("waiting {why}")),
                _ => ns.reason.clone(),
            },
            attempts: ns.attempts,
            operator: facts.operator,
            host: facts.host,
            via: facts.via,
            started_at: facts.started,
            finished_at: facts.finished,
            duration_ms: ns.duration_ms,
            exit: facts.exit,
            command: facts.command,
            captures: facts.captures,
            answers: facts.answers,
            branch: ns.branch.clone(),
            rationale: facts.rationale,
            signoff,
            output,
            earlier_attempts: facts.earlier,
        })
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

fn stages(graph: &rbx_check::graph::Graph, nodes: &NodeView<'_>) -> Vec<StageInfo> {
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
        Some(StageInfo {
            id: stage.clone(),
            title: title.clone(),
            instance: start.stage.clone(),
            again_in: (start.stage != start.host).then(|| start.host.clone()),
            result: nodes.result(&start.id),
            reason: ns.and_then(|n| n.reason.clone()),
            conditions: requires
                .iter()
                .map(|r| format!("require {}", crate::graph_cmd::require(r)))
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
                    info.steps.push(again_row(stage, title, &member.stage));
                    if let Some(again) = stage_info(member) {
                        agains.push(again);
                    }
                }
                NodeKind::Block(_) | NodeKind::Anchor(_) => {
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
        title: format!("Run again: {title}"),
        items: Vec::new(),
        instance: Some(instance.to_string()),
        owner: None,
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
        captures: Map::new(),
        answers: Map::new(),
        branch: None,
        rationale: None,
        signoff: None,
        output: Vec::new(),
        earlier_attempts: Vec::new(),
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

fn outcome(state: &RunState, summary: &RunSummary, events: &[Event]) -> Outcome {
    let last = |wanted: &str| events.iter().rev().find(|e| e.kind == wanted);
    let at = |wanted: &str| last(wanted).map(|e| e.time.clone());
    let mut out = Outcome {
        status: String::new(),
        outcome: None,
        success: None,
        node: None,
        reason: None,
        at: None,
    };
    match &state.status {
        RunStatus::Ended { outcome } => {
            out.status = "ended".to_string();
            out.outcome = Some(outcome.clone());
            out.success = Some(
                last(kind::RUN_ENDED)
                    .and_then(|e| e.payload.get("success").and_then(Json::as_bool))
                    .unwrap_or(true),
            );
            out.at = at(kind::RUN_ENDED);
        }
        RunStatus::Failed { node } => {
            out.status = "failed".to_string();
            out.node = Some(node.clone());
            out.reason = last(kind::RUN_FAILED).and_then(|e| text(&e.payload, "reason"));
            out.at = at(kind::RUN_FAILED);
        }
        RunStatus::Paused { node } => {
            out.status = "paused".to_string();
            out.node = Some(node.clone());
            out.reason = Some("waiting for a person: `rbx confirm`, then `rbx resume`".into());
            out.at = at(kind::RUN_PAUSED);
        }
        RunStatus::Waiting { node, due } => {
            out.status = "waiting".to_string();
            out.node = Some(node.clone());
            out.reason = Some(format!(
                "due at {}: `rbx resume` then goes on",
                rbx_engine::format_time(*due)
            ));
            out.at = at(kind::RUN_WAITING);
        }
        RunStatus::Cancelled => {
            out.status = "cancelled".to_string();
            out.reason = last(kind::RUN_CANCELLED).and_then(|e| text(&e.payload, "reason"));
            out.reason = Some(format!(
                "cancelled ({}); `rbx resume` runs the compensation",
                out.reason.clone().unwrap_or_default()
            ));
            out.at = at(kind::RUN_CANCELLED);
        }
        RunStatus::Interrupted => {
            out.status = "interrupted".to_string();
            out.at = at(kind::RUN_INTERRUPTED);
        }
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
            out.at = events.last().map(|e| e.time.clone());
        }
    }
    out
}

fn chain(store: &SqliteStore, run: &RunId, events: usize) -> Chain {
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

fn timeline_entry(event: &Event) -> TimelineEntry {
    let p = &event.payload;
    let get = |key: &str| text(p, key).unwrap_or_default();
    let attempt = p.get("attempt").and_then(Json::as_u64).unwrap_or(0);
    let exit = p
        .get("exit")
        .and_then(Json::as_i64)
        .map_or(String::new(), |e| format!(" (exit {e})"));
    let by = |p: &Json| {
        let mut s = String::new();
        if let Some(op) = text(p, "operator") {
            s.push_str(&format!(" by {op}"));
        }
        if let Some(host) = text(p, "host") {
            s.push_str(&format!(" on {host}"));
        }
        s
    };
    let summary = match event.kind.as_str() {
        kind::RUN_STARTED => format!(
            "run started (pid {})",
            p.get("pid").map_or(String::new(), Json::to_string)
        ),
        kind::RUN_RESUMED => format!(
            "run resumed{} (pid {})",
            by(p),
            p.get("pid").map_or(String::new(), Json::to_string)
        ),
        kind::NODE_STARTED => {
            let command = text(p, "command").map_or(String::new(), |c| format!(": {c}"));
            format!("attempt {attempt} started{}{command}", by(p))
        }
        kind::ATTEMPT_FAILED => format!("attempt {attempt} failed{exit}: {}", get("reason")),
        kind::NODE_FINISHED => {
            let status = if get("status") == "succeeded" {
                "done"
            } else {
                "failed"
            };
            let mut s = status.to_string();
            let exit = p.get("exit").and_then(Json::as_i64);
            match (attempt, exit) {
                (0, None) => {}
                (0, Some(e)) => s.push_str(&format!(" (exit {e})")),
                (a, None) => s.push_str(&format!(" (attempt {a})")),
                (a, Some(e)) => s.push_str(&format!(" (attempt {a}, exit {e})")),
            }
            if let Some(branch) = text(p, "branch") {
                s.push_str(&format!(" → {branch}"));
            }
            if let Some(reason) = text(p, "reason") {
                s.push_str(&format!(": {reason}"));
            }
            s.push_str(&by(p));
            if let Some(via) = text(p, "via") {
                s.push_str(&format!(" via {via}"));
            }
            s
        }
        kind::NODE_SKIPPED => "skipped: not on the run's path".to_string(),
        kind::FLOW_LEFT => format!(
            "left the flow of stage {} by its route; nothing more of it starts",
            get("flow")
        ),
        kind::IN_DOUBT => format!(
            "in doubt after attempt {attempt}: {} ({})",
            get("decision"),
            get("why")
        ),
        kind::RETRY => "the failed node runs again".to_string(),
        kind::RERUN_FROM => format!("re-run from here{}: {}", by(p), get("reason")),
        kind::SIGNOFF_RECORDED => format!(
            "{} for {}: {}, waiting for the other approvers{} via {}",
            get("by"),
            get("role"),
            get("decision"),
            by(p),
            get("via")
        ),
        kind::RUN_PAUSED => "paused: waiting for a person".to_string(),
        kind::RUN_INTERRUPTED => "interrupted".to_string(),
        kind::RUN_WAITING => format!(
            "stopped until the node is due at {}",
            p.get("due")
                .and_then(Json::as_i64)
                .map_or(String::new(), rbx_engine::format_time)
        ),
        kind::RUN_FAILED => format!("run failed: {}", get("reason")),
        kind::RUN_ENDED => format!("run ended: {}", get("outcome")),
        _ => p.to_string(),
    };
    TimelineEntry {
        seq: event.seq,
        time: event.time.clone(),
        kind: event.kind.clone(),
        node: text(p, "node"),
        summary,
        payload: p.clone(),
    }
}

// ----------------------------------------------------------- shared text --

fn result_label(result: &str) -> &'static str {
    match result {
        "done" => "✅ done",
        "failed" => "❌ failed",
        "skipped" => "⏭ skipped",
        "waiting" => "⏸ waiting",
        "in_doubt" => "❓ in doubt",
        "running" => "▶ running",
        "cancelled" => "⛔ cancelled",
        "not_reached" => "· not reached",
        _ => "⏳ pending",
    }
}

fn outcome_label(outcome: &Outcome) -> String {
    let mut s = match outcome.status.as_str() {
        "ended" if outcome.success == Some(false) => format!(
            "❌ ended: {} (not a success)",
            outcome.outcome.as_deref().unwrap_or_default()
        ),
        "ended" => format!(
            "✅ ended: {} (success)",
            outcome.outcome.as_deref().unwrap_or_default()
        ),
        "failed" => "❌ failed".to_string(),
        "paused" => "⏸ paused".to_string(),
        "waiting" => "⏳ waiting".to_string(),
        "interrupted" => "⚠ interrupted".to_string(),
        "in_doubt" => "❓ in doubt".to_string(),
        "broken" => "❌ broken".to_string(),
        "running" => "▶ running".to_string(),
        other => other.to_string(),
    };
    if let Some(node) = &outcome.node {
        s.push_str(&format!(" at {node}"));
    }
    if let Some(reason) = &outcome.reason {
        s.push_str(&format!(": {reason}"));
    }
    if outcome.status == "running" {
        s.push_str(
            " (as the store last recorded; if no rbx process drives the run now, \
             it stopped without a record and `rbx resume` settles what is in doubt)",
        );
    }
    s
}

/// The result of a step in words: its label, then what qualifies it.
fn step_result(step: &StepInfo) -> String {
    let mut s = match &step.signoff {
        Some(signoff) if step.result == "done" => format!("✅ {}", signoff.verdict),
        Some(signoff) => format!("❌ {}", signoff.verdict),
        None => result_label(step.result).to_string(),
    };
    if let Some(branch) = &step.branch {
        s.push_str(&format!(" → {branch}"));
    }
    let mut notes = Vec::new();
    if step.attempts > 1 {
        notes.push(format!("attempt {}", step.attempts));
    }
    if let Some(reason) = &step.reason {
        if step.signoff.is_none() || reason != "NO-GO" {
            let reason = if step.result == "waiting" {
                reason.trim_start_matches("waiting ")
            } else {
                reason
            };
            notes.push(reason.to_string());
        }
    }
    if step.result == "running" {
        notes.push("or in doubt, if no rbx process drives the run now".to_string());
    }
    if !notes.is_empty() {
        s.push_str(&format!(" ({})", notes.join("; ")));
    }
    s
}

fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        rbx_syntax::fmt::duration(ms / 1000 * 1000)
    }
}

/// Who, where, when and how long, in one line.
fn meta(step: &StepInfo, roles: &[RoleInfo]) -> Vec<String> {
    let mut parts = vec![step.id.clone()];
    if let Some(owner) = &step.owner {
        let person = roles
            .iter()
            .find(|r| r.id == *owner && r.filled)
            .and_then(|r| r.person.as_deref());
        parts.push(match person {
            Some(person) => format!("owner {owner} ({person})"),
            None => format!("owner {owner}"),
        });
    }
    match (&step.operator, &step.host) {
        (Some(op), Some(host)) => parts.push(format!("{op} on {host}")),
        (Some(op), None) => parts.push(format!("by {op}")),
        (None, Some(host)) => parts.push(format!("on {host}")),
        (None, None) => {}
    }
    if let Some(via) = &step.via {
        parts.push(format!("via {via}"));
    }
    match (&step.started_at, &step.finished_at) {
        (Some(s), Some(f)) => parts.push(format!("{s} → {f}")),
        (Some(s), None) => parts.push(format!("started {s}")),
        (None, Some(f)) => parts.push(format!("at {f}")),
        (None, None) => {}
    }
    if let Some(ms) = step.duration_ms {
        parts.push(format!("took {}", duration_text(ms)));
    }
    if let Some(exit) = step.exit {
        parts.push(format!("exit {exit}"));
    }
    parts
}

/// A step's evidence as labelled pieces: (label, text, is code).
fn evidence(step: &StepInfo) -> Vec<Piece> {
    let mut out = Vec::new();
    if let Some(command) = &step.command {
        out.push(Piece::Code(format!("$ {command}")));
    }
    // A person's evidence is also a value for later nodes (a capture of
    // the same name): it is shown once, as the answer.
    for (name, value) in &step.captures {
        if !step.answers.contains_key(name) {
            out.push(Piece::Pair(name.clone(), json_text(value)));
        }
    }
    for (name, value) in &step.answers {
        if name == "rationale" || name == "signoff" {
            continue;
        }
        out.push(Piece::Pair(name.clone(), json_text(value)));
    }
    if let Some(rationale) = &step.rationale {
        out.push(Piece::Pair("rationale".to_string(), rationale.clone()));
    }
    for signer in step.signoff.iter().flat_map(|s| &s.signers) {
        out.push(Piece::Pair("signed".to_string(), signer_text(signer)));
    }
    if step.result == "done" {
        for condition in &step.conditions {
            out.push(Piece::Pair("held".to_string(), condition.clone()));
        }
    }
    for earlier in &step.earlier_attempts {
        let mut s = format!("attempt {} {}", earlier.attempt, earlier.result);
        if let Some(exit) = earlier.exit {
            s.push_str(&format!(" (exit {exit})"));
        }
        if let Some(reason) = &earlier.reason {
            s.push_str(&format!(": {reason}"));
        }
        out.push(Piece::Note(s));
    }
    for excerpt in &step.output {
        let mut head = format!("{} ({} bytes", excerpt.stream, excerpt.total_bytes);
        if excerpt.truncated {
            head.push_str(", middle not kept");
        }
        head.push_str("):");
        out.push(Piece::Note(head));
        for line in &excerpt.lines {
            out.push(Piece::Code(line.clone()));
        }
        if excerpt.more_lines > 0 {
            out.push(Piece::Note(format!(
                "… {} more line(s): rbx log RUN {}",
                excerpt.more_lines, step.id
            )));
        }
    }
    if step.kind == "again" {
        if let Some(instance) = &step.instance {
            out.push(Piece::Note(format!("see stage instance {instance} below")));
        }
    }
    out
}

/// `Dana Ruiz for release_owner: GO (comment)`.
fn signer_text(signer: &Signer) -> String {
    let mut s = format!("{} for {}: {}", signer.by, signer.role, signer.decision);
    if let Some(comment) = &signer.comment {
        s.push_str(&format!(" ({comment})"));
    }
    s
}

/// Who signed, one per line, for the sign-offs table.
fn signers_text(step: &StepInfo) -> String {
    step.signoff
        .iter()
        .flat_map(|s| &s.signers)
        .map(signer_text)
        .collect::<Vec<_>>()
        .join("\n")
}

enum Piece {
    Pair(String, String),
    Code(String),
    Note(String),
}

// -------------------------------------------------------------- markdown --

/// Text for a Markdown table cell: shown exactly as written, never read as
/// Markdown or HTML.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span for a table cell; one span per line.
fn md_code(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('|', "\\|");
            if line.trim().is_empty() {
                return "` `".to_string();
            }
            // A fence longer than any run of backticks in the line.
            let longest = line.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest + 1);
            let pad = if line.starts_with('`') || line.ends_with('`') {
                " "
            } else {
                ""
            };
            format!("{fence}{pad}{line}{pad}{fence}")
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn markdown(r: &Record) -> String {
    let mut o = String::new();
    let run = &r.run;
    let _ = writeln!(o, "# Run report: {}\n", md(&run.title));
    o.push_str("| | |\n|---|---|\n");
    let mut runbook = md_code(&run.runbook_id);
    if let Some(version) = &run.runbook_version {
        runbook.push_str(&format!(", version {}", md(version)));
    }
    let rows = [
        ("Runbook", runbook),
        ("Entry", md_code(&run.entry)),
        ("Run", md_code(&run.id)),
        (
            "Started",
            md(&format!(
                "{} by {} on {}",
                run.started_at, run.started_by, run.host
            )),
        ),
        ("Source hash", md_code(&run.source_hash)),
        ("Outcome", md(&outcome_label(&r.outcome))),
        ("Journal", md(&r.chain.summary)),
    ];
    for (key, value) in rows {
        let _ = writeln!(o, "| {key} | {value} |");
    }

    o.push_str("\n## Roles\n\n");
    if r.roles.is_empty() {
        o.push_str("The runbook declares no roles.\n");
    } else {
        o.push_str("| Role | Person | Contact | Backup |\n|---|---|---|---|\n");
        for role in &r.roles {
            let person = if role.filled {
                md(role.person.as_deref().unwrap_or_default())
            } else {
                format!(
                    "⚠ unfilled{}",
                    role.person
                        .as_deref()
                        .map_or(String::new(), |p| format!(" ({})", md(p)))
                )
            };
            let mut name = format!("{} ({})", md(&role.title), md_code(&role.id));
            if role.source != "runbook" {
                name.push_str(&format!(", from the {}", role.source));
            }
            let _ = writeln!(
                o,
                "| {name} | {person} | {} | {} |",
                md(role.contact.as_deref().unwrap_or_default()),
                md(role.backup.as_deref().unwrap_or_default()),
            );
        }
    }

    o.push_str("\n## Inputs\n\n");
    if r.inputs.0.is_empty() {
        o.push_str("The runbook has no inputs.\n");
    } else {
        o.push_str("| Input | Type | Value |\n|---|---|---|\n");
        for (name, input) in &r.inputs.0 {
            let value = match &input.value {
                Json::Null => "(none)".to_string(),
                v if input.secret => md(&json_text(v)),
                v => md_code(&json_text(v)),
            };
            let _ = writeln!(o, "| {} | {} | {value} |", md_code(name), md(&input.ty));
        }
    }

    for stage in &r.stages {
        let _ = write!(o, "\n## {} ({}", md(&stage.title), md_code(&stage.instance));
        if let Some(host) = &stage.again_in {
            let _ = write!(o, ", again in {}", md_code(host));
        }
        o.push_str(")\n\n");
        match stage.result {
            "failed" => {
                let _ = writeln!(
                    o,
                    "Stage requirements: ❌ failed{}",
                    stage
                        .reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(" ({})", md(r)))
                );
            }
            "skipped" => o.push_str("Not on this run's path.\n"),
            "pending" => o.push_str("Not reached yet.\n"),
            "not_reached" => o.push_str("Not reached.\n"),
            _ => {
                if !stage.conditions.is_empty() {
                    let held: Vec<String> = stage.conditions.iter().map(|c| md_code(c)).collect();
                    let _ = writeln!(o, "Stage requirements held: {}", held.join(", "));
                }
                if stage.steps.is_empty() {
                    o.push_str("No steps.\n");
                }
            }
        }
        if stage.steps.is_empty() {
            continue;
        }
        if stage.result != "done" || !stage.conditions.is_empty() {
            o.push('\n');
        }
        o.push_str("| Item | Result | Evidence |\n|---|---|---|\n");
        for step in &stage.steps {
            let mut title = md(&step.title);
            if !step.items.iter().all(|i| step.title.contains(i.as_str())) {
                title.push_str(&format!(" [{}]", md(&step.items.join(", "))));
            }
            let mut cell: Vec<String> = evidence(step)
                .into_iter()
                .map(|piece| match piece {
                    Piece::Pair(k, v) => format!("{}: {}", md(&k), md(&v)),
                    Piece::Code(c) => md_code(&c),
                    Piece::Note(n) => md(&n),
                })
                .collect();
            if step.kind != "again" {
                cell.push(format!(
                    "<sub>{}</sub>",
                    md(&meta(step, &r.roles).join(" · "))
                ));
            }
            let _ = writeln!(
                o,
                "| {title} | {} | {} |",
                md(&step_result(step)),
                cell.join("<br>")
            );
        }
    }

    let steps: Vec<&StepInfo> = r.stages.iter().flat_map(|s| &s.steps).collect();
    o.push_str("\n## Decisions\n\n");
    let decisions: Vec<&&StepInfo> = steps
        .iter()
        .filter(|s| matches!(s.kind, "decide" | "choose") && s.branch.is_some())
        .collect();
    if decisions.is_empty() {
        o.push_str("No decision was taken in this run.\n");
    } else {
        o.push_str("| Decision | Taken | Rationale | By | When |\n|---|---|---|---|---|\n");
        for d in decisions {
            let by = match (&d.operator, d.kind) {
                (Some(op), _) => md(op),
                (None, "decide") => "rule".to_string(),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                o,
                "| {} ({}) | {} | {} | {by} | {} |",
                md(&d.title),
                md_code(&d.id),
                md_code(d.branch.as_deref().unwrap_or_default()),
                md(d.rationale.as_deref().unwrap_or_default()),
                md(d.finished_at.as_deref().unwrap_or_default()),
            );
        }
    }

    o.push_str("\n## Sign-offs\n\n");
    let signoffs: Vec<&&StepInfo> = steps.iter().filter(|s| s.kind == "signoff").collect();
    if signoffs.is_empty() {
        o.push_str("The run's path had no sign-off.\n");
    } else {
        o.push_str(
            "| Sign-off | Roles | Verdict | Signed | Recorded by | When |\n|---|---|---|---|---|---|\n",
        );
        for s in signoffs {
            let roles = s
                .signoff
                .as_ref()
                .map(|x| x.roles.join(", "))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} ({}) | {} | {} | {} | {} | {} |",
                md(&s.title),
                md_code(&s.id),
                md(&roles),
                md(&step_result(s)),
                md(&signers_text(s)),
                md(s.operator.as_deref().unwrap_or_default()),
                md(s.finished_at.as_deref().unwrap_or_default()),
            );
        }
    }

    o.push_str("\n## Timeline\n\n| # | Time | Event | Node | Details |\n|---|---|---|---|---|\n");
    for e in &r.timeline {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            e.seq,
            md(&e.time),
            md_code(&e.kind),
            e.node.as_deref().map_or(String::new(), md_code),
            md(&e.summary)
        );
    }

    let _ = writeln!(o, "\n## Outcome\n\n{}", md(&outcome_label(&r.outcome)));
    if let Some(at) = &r.outcome.at {
        let _ = writeln!(o, "\nRecorded at {}.", md(at));
    }
    let _ = writeln!(o, "\n## Journal\n\n{}", md(&r.chain.summary));
    o
}

// ------------------------------------------------------------------ html --

/// Text for HTML, in element content or a quoted attribute.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em}
pre{margin:.2rem 0;padding:.3rem;background:#f6f8fa;white-space:pre-wrap;word-break:break-all}
.meta{color:#57606a;font-size:.8em}
.done{color:#1a7f37}.failed{color:#cf222e;font-weight:bold}.skipped{color:#8c959f}
.pending,.waiting{color:#9a6700}.in_doubt,.running{color:#8250df;font-weight:bold}
.unfilled{color:#cf222e}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0}
@media print{body{margin:0;max-width:none}}
";

fn html(r: &Record) -> String {
    let e = escape_html;
    let mut o = String::new();
    let run = &r.run;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Run report: {} ({})</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        e(&run.title),
        e(&run.id)
    );
    let _ = writeln!(o, "<h1>Run report: {}</h1>", e(&run.title));
    o.push_str("<dl>\n");
    let mut runbook = format!("<code>{}</code>", e(&run.runbook_id));
    if let Some(version) = &run.runbook_version {
        runbook.push_str(&format!(", version {}", e(version)));
    }
    let outcome_class = match r.outcome.status.as_str() {
        "ended" if r.outcome.success == Some(false) => "failed",
        "ended" => "done",
        "failed" | "broken" => "failed",
        "in_doubt" => "in_doubt",
        _ => "pending",
    };
    let rows = [
        ("Runbook", runbook),
        ("Entry", format!("<code>{}</code>", e(&run.entry))),
        ("Run", format!("<code>{}</code>", e(&run.id))),
        (
            "Started",
            e(&format!(
                "{} by {} on {}",
                run.started_at, run.started_by, run.host
            )),
        ),
        (
            "Source hash",
            format!("<code>{}</code>", e(&run.source_hash)),
        ),
        (
            "Outcome",
            format!(
                "<span class=\"{outcome_class}\">{}</span>",
                e(&outcome_label(&r.outcome))
            ),
        ),
        (
            "Journal",
            format!(
                "<span class=\"{}\">{}</span>",
                if r.chain.intact { "done" } else { "failed" },
                e(&r.chain.summary)
            ),
        ),
    ];
    for (key, value) in rows {
        let _ = writeln!(o, "<dt>{key}</dt><dd>{value}</dd>");
    }
    o.push_str("</dl>\n");

    o.push_str("<h2>Roles</h2>\n");
    if r.roles.is_empty() {
        o.push_str("<p>The runbook declares no roles.</p>\n");
    } else {
        o.push_str(
            "<table>\n<tr><th>Role</th><th>Person</th><th>Contact</th><th>Backup</th></tr>\n",
        );
        for role in &r.roles {
            let person = if role.filled {
                e(role.person.as_deref().unwrap_or_default())
            } else {
                format!(
                    "<span class=\"unfilled\">⚠ unfilled{}</span>",
                    role.person
                        .as_deref()
                        .map_or(String::new(), |p| format!(" ({})", e(p)))
                )
            };
            let source = if role.source == "runbook" {
                String::new()
            } else {
                format!(", from the {}", role.source)
            };
            let _ = writeln!(
                o,
                "<tr><td>{} (<code>{}</code>){source}</td><td>{person}</td><td>{}</td><td>{}</td></tr>",
                e(&role.title),
                e(&role.id),
                e(role.contact.as_deref().unwrap_or_default()),
                e(role.backup.as_deref().unwrap_or_default()),
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>Inputs</h2>\n");
    if r.inputs.0.is_empty() {
        o.push_str("<p>The runbook has no inputs.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>Input</th><th>Type</th><th>Value</th></tr>\n");
        for (name, input) in &r.inputs.0 {
            let value = match &input.value {
                Json::Null => "(none)".to_string(),
                v if input.secret => e(&json_text(v)),
                v => format!("<code>{}</code>", e(&json_text(v))),
            };
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td>{value}</td></tr>",
                e(name),
                e(&input.ty)
            );
        }
        o.push_str("</table>\n");
    }

    for stage in &r.stages {
        let _ = write!(
            o,
            "<h2 id=\"stage-{}\">{} (<code>{}</code>",
            e(&stage.instance),
            e(&stage.title),
            e(&stage.instance)
        );
        if let Some(host) = &stage.again_in {
            let _ = write!(o, ", again in <code>{}</code>", e(host));
        }
        o.push_str(")</h2>\n");
        match stage.result {
            "failed" => {
                let _ = writeln!(
                    o,
                    "<p class=\"failed\">Stage requirements failed{}</p>",
                    stage
                        .reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(": {}", e(r)))
                );
            }
            "skipped" => o.push_str("<p class=\"skipped\">Not on this run's path.</p>\n"),
            "pending" => o.push_str("<p class=\"pending\">Not reached yet.</p>\n"),
            "not_reached" => o.push_str("<p class=\"pending\">Not reached.</p>\n"),
            _ if !stage.conditions.is_empty() => {
                let held: Vec<String> = stage
                    .conditions
                    .iter()
                    .map(|c| format!("<code>{}</code>", e(c)))
                    .collect();
                let _ = writeln!(o, "<p>Stage requirements held: {}</p>", held.join(", "));
            }
            _ => {}
        }
        if stage.steps.is_empty() {
            if !matches!(stage.result, "skipped" | "pending" | "not_reached") {
                o.push_str("<p>No steps.</p>\n");
            }
            continue;
        }
        o.push_str("<table>\n<tr><th>Item</th><th>Result</th><th>Evidence</th></tr>\n");
        for step in &stage.steps {
            let mut title = e(&step.title);
            if !step.items.iter().all(|i| step.title.contains(i.as_str())) {
                title.push_str(&format!(" [{}]", e(&step.items.join(", "))));
            }
            let mut cell = String::new();
            let mut code: Vec<String> = Vec::new();
            let flush = |code: &mut Vec<String>, cell: &mut String| {
                if !code.is_empty() {
                    cell.push_str(&format!("<pre>{}</pre>", e(&code.join("\n"))));
                    code.clear();
                }
            };
            for piece in evidence(step) {
                match piece {
                    Piece::Code(c) => code.push(c),
                    Piece::Pair(k, v) => {
                        flush(&mut code, &mut cell);
                        cell.push_str(&format!("<div><b>{}</b>: {}</div>", e(&k), e(&v)));
                    }
                    Piece::Note(n) => {
                        flush(&mut code, &mut cell);
                        cell.push_str(&format!("<div>{}</div>", e(&n)));
                    }
                }
            }
            flush(&mut code, &mut cell);
            if step.kind != "again" {
                cell.push_str(&format!(
                    "<div class=\"meta\">{}</div>",
                    e(&meta(step, &r.roles).join(" · "))
                ));
            }
            let class = match &step.signoff {
                Some(_) if step.result == "done" => "done",
                _ => step.result,
            };
            let _ = writeln!(
                o,
                "<tr><td>{title}</td><td class=\"{class}\">{}</td><td>{cell}</td></tr>",
                e(&step_result(step))
            );
        }
        o.push_str("</table>\n");
    }

    let steps: Vec<&StepInfo> = r.stages.iter().flat_map(|s| &s.steps).collect();
    o.push_str("<h2>Decisions</h2>\n");
    let decisions: Vec<&&StepInfo> = steps
        .iter()
        .filter(|s| matches!(s.kind, "decide" | "choose") && s.branch.is_some())
        .collect();
    if decisions.is_empty() {
        o.push_str("<p>No decision was taken in this run.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>Decision</th><th>Taken</th><th>Rationale</th><th>By</th><th>When</th></tr>\n");
        for d in decisions {
            let by = match (&d.operator, d.kind) {
                (Some(op), _) => e(op),
                (None, "decide") => "rule".to_string(),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                o,
                "<tr><td>{} (<code>{}</code>)</td><td><code>{}</code></td><td>{}</td><td>{by}</td><td>{}</td></tr>",
                e(&d.title),
                e(&d.id),
                e(d.branch.as_deref().unwrap_or_default()),
                e(d.rationale.as_deref().unwrap_or_default()),
                e(d.finished_at.as_deref().unwrap_or_default()),
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>Sign-offs</h2>\n");
    let signoffs: Vec<&&StepInfo> = steps.iter().filter(|s| s.kind == "signoff").collect();
    if signoffs.is_empty() {
        o.push_str("<p>The run's path had no sign-off.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>Sign-off</th><th>Roles</th><th>Verdict</th><th>Signed</th><th>Recorded by</th><th>When</th></tr>\n");
        for s in signoffs {
            let roles = s
                .signoff
                .as_ref()
                .map(|x| x.roles.join(", "))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "<tr><td>{} (<code>{}</code>)</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&s.title),
                e(&s.id),
                e(&roles),
                e(&step_result(s)),
                e(&signers_text(s)).replace('\n', "<br>"),
                e(s.operator.as_deref().unwrap_or_default()),
                e(s.finished_at.as_deref().unwrap_or_default()),
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>Timeline</h2>\n<table>\n<tr><th>#</th><th>Time</th><th>Event</th><th>Node</th><th>Details</th></tr>\n");
    for t in &r.timeline {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            t.seq,
            e(&t.time),
            e(&t.kind),
            e(t.node.as_deref().unwrap_or_default()),
            e(&t.summary)
        );
    }
    o.push_str("</table>\n");

    let _ = writeln!(
        o,
        "<h2>Outcome</h2>\n<p class=\"{outcome_class}\">{}</p>",
        e(&outcome_label(&r.outcome))
    );
    if let Some(at) = &r.outcome.at {
        let _ = writeln!(o, "<p>Recorded at {}.</p>", e(at));
    }
    let _ = writeln!(
        o,
        "<h2>Journal</h2>\n<p class=\"{}\">{}</p>",
        if r.chain.intact { "done" } else { "failed" },
        e(&r.chain.summary)
    );
    o.push_str("</body>\n</html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_defuses_markup() {
        let evil = r#"<script>alert("x" & 'y')</script>"#;
        let escaped = escape_html(evil);
        assert_eq!(
            escaped,
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert!(!escaped.contains('<') && !escaped.contains('>'));
    }

    #[test]
    fn markdown_cells_stay_one_cell_and_show_text_as_written() {
        assert_eq!(md("a|b\n<i>_x_</i>"), "a\\|b<br>&lt;i&gt;\\_x\\_&lt;/i&gt;");
        assert_eq!(md_code("x | y"), "`x \\| y`");
        assert_eq!(md_code("a `b` c"), "``a `b` c``");
        assert_eq!(md_code("`b`"), "`` `b` ``");
        assert_eq!(md_code("one\ntwo"), "`one`<br>`two`");
    }

    #[test]
    fn items_read_back() {
        assert_eq!(items_of("r.drain[web-1][a]"), vec!["web-1", "a"]);
        assert!(items_of("r.drain").is_empty());
        assert_eq!(clean("\u{1b}[31mred\u{1b}[0m\tx\u{7}"), "red    x");
    }
}
