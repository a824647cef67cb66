//! The third stage of rbx: running a checked procedure, journal first, so
//! that a run interrupted at any moment resumes exactly where it stopped.
//!
//! Architecture invariant: the engine reads runbook text only from the
//! snapshot its run recorded, never from the files on disk after the run
//! started; the store is touched only from its own thread (a simulated
//! run's store, in memory, from the task that drives it).

pub mod at_once;
pub mod changes;
pub mod checkpoint;
mod child_run;
mod cleanup;
mod data;
mod every;
pub mod executor;
mod expand;
mod expect;
pub mod fills;
pub mod graph_cache;
mod jobs;
mod journal;
mod mask;
pub mod observer;
pub mod people;
mod process;
pub mod readiness;
mod resume;
pub mod roles;
mod runner;
pub mod shell;
pub mod state;
mod time;
pub mod value;
mod whole;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbx_check::graph::{Graph, NodeKind};
use rbx_check::{LoadError, Loader, Report};
use rbx_store::{Holder, LockOutcome, NewRun, RunId, Store};
use rbx_syntax::ast::{InputTypeKind, ItemKind, RoleFieldKind, ScalarType, ValueKind};
use serde_json::json;

pub use jobs::Jobs;
pub use journal::{Journal, JournalError};
pub use observer::{Observer, Tone};
pub use runner::{CHILD_PAUSE, base_name, now_ms};
pub use state::{RunState, RunStatus, Status};
use value::Value;

/// A checked procedure ready to run.
#[derive(Debug)]
pub struct Procedure {
    pub graph: Arc<Graph>,
    pub runbook_id: String,
    pub title: String,
    pub entry: String,
    /// Every source file, as the run snapshots it.
    pub sources: Vec<(String, String)>,
    pub inputs: Vec<InputDecl>,
    pub roles_filled: HashMap<String, bool>,
    /// The operators who may sign for each role that names any: its
    /// `identity` lines, then its fill's.
    pub identities: HashMap<String, Vec<String>>,
    pub links_set: HashMap<String, bool>,
    pub hooks: Vec<(rbx_syntax::ast::HookEvent, rbx_syntax::ast::Text)>,
    /// The budgets over the whole run or several stages together.
    pub budgets: Vec<rbx_syntax::ast::Budget>,
    /// The procedure each `child` node runs, by the node's id in the
    /// runbook; their sources are part of this procedure's snapshot.
    pub children: HashMap<String, Arc<Procedure>>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct InputDecl {
    pub name: String,
    pub ty: InputTypeKind,
    pub default: Option<Value>,
}

impl Procedure {
    /// The procedure with the project configuration it was checked under
    /// kept in its snapshot.
    pub fn with_project(mut self, text: &str) -> Procedure {
        self.sources.push((
            format!("{PROJECT_SOURCE}{}", rbx_check::project::FILE_NAME),
            text.to_string(),
        ));
        self
    }

    /// The procedure a lint report describes; `None` when it has errors.
    pub fn from_report(report: Report) -> Option<Procedure> {
        Procedure::from_report_with(report, None)
    }

    /// The same, with roles and links filled from a fill file (whose text
    /// the run's snapshot keeps).
    pub fn from_report_with(mut report: Report, fill: Option<(&str, &str)>) -> Option<Procedure> {
        let fills = match fill {
            Some((_, text)) => fills::parse_fills(text).ok()?,
            None => rbx_check::Fills::default(),
        };
        if report.has_errors() {
            return None;
        }
        let mut children = HashMap::new();
        let mut child_sources: Vec<(String, String)> = Vec::new();
        for child in std::mem::take(&mut report.children) {
            let procedure = Arc::new(Procedure::from_report_with(child.report, fill)?);
            child_sources.extend(procedure.sources.iter().cloned());
            for node in child.nodes {
                children.insert(node, Arc::clone(&procedure));
            }
        }
        let graph = report.graph?;
        let entry = report.sources.first()?;
        let header = entry.file.as_ref()?.header.as_ref()?;
        let mut inputs = Vec::new();
        let mut roles_filled = HashMap::new();
        let mut identities: HashMap<String, Vec<String>> = HashMap::new();
        let mut links_set = HashMap::new();
        let mut hooks = Vec::new();
        let mut budgets = Vec::new();
        for file in report.sources.iter().filter_map(|s| s.file.as_ref()) {
            for item in &file.items {
                match &item.kind {
                    ItemKind::Hook(hook) => hooks.push((hook.event, hook.command.clone())),
                    ItemKind::Budget(budget) => budgets.push(budget.clone()),
                    ItemKind::Input(input) => inputs.push(InputDecl {
                        name: input.name.name.clone(),
                        ty: input.ty.kind.clone(),
                        default: input
                            .default
                            .as_ref()
                            .map(|d| default_value(d, &input.ty.kind)),
                    }),
                    ItemKind::Role(role) => {
                        let filled = role.fields.iter().flatten().any(|f| {
                            f.kind == RoleFieldKind::Person
                                && !f.value.source_form().trim().is_empty()
                                && !f.value.source_form().contains("_TBD_")
                        });
                        let filled = filled || fills.roles.contains_key(&role.id.name);
                        roles_filled.insert(role.id.name.clone(), filled);
                        // A role filled from outside replaces what the
                        // file says, its identities included.
                        let named: Vec<String> = match fills.roles.get(&role.id.name) {
                            Some(fill) => fill.identities.clone(),
                            None => role
                                .fields
                                .iter()
                                .flatten()
                                .filter(|f| f.kind == RoleFieldKind::Identity)
                                .map(|f| f.value.source_form())
                                .collect(),
                        };
                        if !named.is_empty() {
                            identities.insert(role.id.name.clone(), named);
                        }
                    }
                    ItemKind::Link(link) => {
                        let set = link.target.as_ref().is_some_and(|t| {
                            !t.source_form().trim().is_empty() && !t.source_form().contains("_TBD_")
                        });
                        let set = set || fills.links.contains_key(&link.id.name);
                        links_set.insert(link.id.name.clone(), set);
                    }
                    _ => {}
                }
            }
        }
        let mut sources: Vec<(String, String)> = report
            .sources
            .iter()
            .map(|s| (s.path.display().to_string(), s.text.clone()))
            .collect();
        if let Some((path, text)) = fill {
            sources.push((format!("{}{path}", fills::FILL_SOURCE), text.to_string()));
        }
        // A child's sources, once each, after the parent's own: a resume
        // rebuilds the child from the same text.
        for source in child_sources {
            if !sources.iter().any(|(path, _)| *path == source.0) {
                sources.push(source);
            }
        }
        Some(Procedure {
            runbook_id: header.id.name.clone(),
            title: header.title.source_form(),
            entry: entry.path.display().to_string(),
            sources,
            graph: Arc::new(graph),
            inputs,
            roles_filled,
            identities,
            links_set,
            hooks,
            budgets,
            children,
        })
    }
}

/// A literal from the runbook (an input's default) as a value.
pub fn literal(value: &rbx_syntax::ast::Value) -> Value {
    match &value.kind {
        ValueKind::String(text) => Value::Text(text.source_form()),
        ValueKind::Int(n) => Value::Int(*n),
        ValueKind::Bool(b) => Value::Bool(*b),
        ValueKind::Duration(ms) => Value::Duration(*ms),
        ValueKind::Name(name) => Value::Name(name.name.clone()),
        ValueKind::List(items) => Value::List(items.iter().map(literal).collect()),
    }
}

/// An input's default as a value of the input's type: the text of a
/// `timestamp` read as a time (lint has checked that it is one; text that
/// is not stays text, and the node reading it fails saying so).
pub fn default_value(value: &rbx_syntax::ast::Value, ty: &InputTypeKind) -> Value {
    fn as_time(value: Value) -> Value {
        match value {
            Value::Text(text) => {
                rbx_syntax::time::parse_timestamp(&text).map_or(Value::Text(text), Value::Timestamp)
            }
            Value::List(items) => Value::List(items.into_iter().map(as_time).collect()),
            other => other,
        }
    }
    match ty {
        InputTypeKind::Scalar(ScalarType::Timestamp)
        | InputTypeKind::List(ScalarType::Timestamp) => as_time(literal(value)),
        _ => literal(value),
    }
}

/// Serves a run's snapshot to the checker, so a resumed run is rebuilt from
/// exactly the text it started with.
#[derive(Debug)]
pub struct Snapshot(pub Vec<(String, String)>);

impl Loader for Snapshot {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        let wanted = path.display().to_string();
        self.0
            .iter()
            .find(|(p, _)| *p == wanted)
            .map(|(_, text)| text.clone().into_bytes())
            .ok_or_else(|| LoadError::Unreadable("not in the run's snapshot".to_string()))
    }
}

/// What to do with a step that was in flight when the last driver died and
/// has no `idempotent` or `verify` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubt {
    Rerun,
    /// Treat it as done: the operator checked that its effect happened.
    Skip,
    Abort,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// At most how many nodes run at once (`--jobs`), across the run and
    /// its child runs (rule D6); no cap: as many as the runbook's
    /// `parallel` blocks and loops start (rule R5).
    pub jobs: Jobs,
    /// Where progress goes and how a person is asked.
    pub observer: Arc<dyn Observer>,
    pub in_doubt: Option<InDoubt>,
    /// Who says they are driving the run (`--operator`): a name typed by
    /// the person, which rbx cannot check.
    pub operator: String,
    /// The OS account that runs this process, recorded with every event
    /// that records an operator: what rbx can actually vouch for.
    pub account: String,
    pub host: String,
    /// Answers given ahead of time (`--answers`), used instead of asking.
    pub answers: fills::Answers,
    /// What runs commands: processes, or a simulation (`rbx test`).
    pub executor: Arc<dyn executor::Executor>,
    /// What time it is: the system's, or a simulated clock.
    pub clock: executor::Clock,
    /// Where checked procedures are kept for resumes; `None`: nowhere,
    /// and a resume checks its snapshot again.
    pub graph_cache: Option<graph_cache::GraphCache>,
}

/// How a drive of a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The run reached an outcome; `success` is its class (an `outcome`
    /// line, or the default: reached by a failure or cancel route is not).
    Ended {
        outcome: String,
        success: bool,
    },
    Failed {
        node: String,
        reason: String,
    },
    Paused {
        node: String,
        /// What to give `rbx confirm` for it.
        hint: String,
    },
    /// Stopped until `due` (milliseconds since the epoch), when `node` can
    /// go on: `rbx resume --due` picks it up.
    Waiting {
        node: String,
        due: i64,
    },
    Interrupted,
    /// A step was in doubt and no policy said what to do.
    NeedsDecision {
        node: String,
    },
    /// The run could not go on: the journal failed, or the run is held.
    Broken(String),
}

/// Inputs for a run: defaults, then `--set` values; secrets from the
/// environment (`RBX_SECRET_NAME`) when not set. Errors name what is wrong.
pub fn resolve_inputs(
    procedure: &Procedure,
    sets: &[(String, String)],
    stored: Option<&serde_json::Value>,
) -> Result<HashMap<String, Value>, String> {
    let mut values = HashMap::new();
    for input in &procedure.inputs {
        if let Some(default) = &input.default {
            values.insert(input.name.clone(), default.clone());
        }
        if let Some(v) = stored
            .and_then(|s| s.get(&input.name))
            .and_then(Value::from_json)
        {
            values.insert(input.name.clone(), v);
        }
    }
    for (key, text) in sets {
        let Some(input) = procedure.inputs.iter().find(|i| i.name == *key) else {
            let known: Vec<&str> = procedure.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "`--set {key}=…`: no input `{key}`; the inputs are {}",
                known.join(", ")
            ));
        };
        let value =
            value::parse_input(text, &input.ty).map_err(|why| format!("`--set {key}=…`: {why}"))?;
        if let Some(was) = stored.and_then(|s| s.get(key)) {
            kept_as_started(key, was, &value)?;
        }
        values.insert(key.clone(), value);
    }
    for input in &procedure.inputs {
        if input.ty == InputTypeKind::Scalar(ScalarType::Secret)
            && !values.contains_key(&input.name)
        {
            let var = format!("RBX_SECRET_{}", input.name.to_uppercase());
            if let Ok(secret) = std::env::var(&var) {
                values.insert(input.name.clone(), Value::Secret(secret));
            }
        }
    }
    let missing: Vec<String> = procedure
        .inputs
        .iter()
        .filter(|i| !values.contains_key(&i.name))
        .map(|i| {
            if i.ty == InputTypeKind::Scalar(ScalarType::Secret) {
                format!(
                    "{} (a secret: set RBX_SECRET_{})",
                    i.name,
                    i.name.to_uppercase()
                )
            } else {
                format!("{} (--set {}=…)", i.name, i.name)
            }
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "these inputs have no value: {}",
            missing.join(", ")
        ));
    }
    at_once::check(&procedure.graph, &values)?;
    Ok(values)
}

/// A resumed run keeps the inputs it started with: its record names them,
/// and every value the run derived from them (loop items, conditions taken)
/// was derived from those. `--set` may repeat a value, not change it.
fn kept_as_started(key: &str, was: &serde_json::Value, given: &Value) -> Result<(), String> {
    if given.to_json().as_ref() == Some(was) {
        return Ok(());
    }
    let was = Value::from_json(was).map_or_else(|| was.to_string(), |v| v.to_string());
    let was = was.escape_debug();
    Err(format!(
        "`--set {key}=…`: the run started with {key} = `{was}`, and a run keeps the inputs it \
         started with (its record names them); leave `--set {key}` out to go on with that \
         value, or start a new run to use another"
    ))
}

fn non_secret_json(inputs: &HashMap<String, Value>) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = inputs
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.to_json()?)))
        .collect();
    serde_json::Value::Object(map)
}

/// The items of each list a `foreach` goes over: a list input, or a list
/// captured by a step that has finished — as the journal recorded it, so
/// a resumed run expands the loop to the very same items. A loop over a
/// capture not made yet has no items yet.
pub(crate) fn list_values<'a>(
    inputs: &'a HashMap<String, Value>,
    state: &'a RunState,
) -> Lists<'a> {
    Lists { inputs, state }
}

/// What expanding the graph reads of a run: its inputs and what its
/// journal recorded.
pub(crate) struct Lists<'a> {
    inputs: &'a HashMap<String, Value>,
    state: &'a RunState,
}

impl Lists<'_> {
    /// The items of `list` as the node `node` sees them.
    pub(crate) fn items(&self, list: &str, node: &str) -> Vec<Value> {
        let found = match list.split_once('.') {
            None => self.inputs.get(list).cloned(),
            Some((step, field)) => captured_list(self.state, step, field, node),
        };
        match found {
            Some(Value::List(items)) => items,
            _ => Vec::new(),
        }
    }

    /// How many at once a `parallel EXPR` says. Every run was refused at
    /// its start unless each of them is a number of places
    /// (`at_once::check`), and a resume reads the same inputs, so one
    /// place stands in only for what cannot happen.
    pub(crate) fn width(&self, expr: &rbx_syntax::ast::Expr) -> usize {
        at_once::width(expr, self.inputs).unwrap_or(1)
    }
}

/// `step.field` as the node `node` sees it: the capture of the instance of
/// `step` in the same stage instance, else of the one that finished last.
fn captured_list(state: &RunState, step: &str, field: &str, node: &str) -> Option<Value> {
    let instance = node.rsplit_once('.').map_or("", |(instance, _)| instance);
    let same = format!("{instance}.{step}");
    if let Some(value) = state.nodes.get(&same).and_then(|n| n.captures.get(field)) {
        return Some(value.clone());
    }
    state
        .nodes
        .iter()
        .filter(|(id, n)| {
            runner::base_name(id).as_deref() == Some(step) && n.captures.contains_key(field)
        })
        .max_by_key(|(_, n)| n.finished_seq)
        .and_then(|(_, n)| n.captures.get(field).cloned())
}

/// The nodes a stopped run is waiting for — those it would run next were it
/// resumed now (rules R1, R2, C2) — by id, with whether each needs a
/// person. `inputs` are the run's stored inputs; only its lists matter
/// here, to expand the loops. `rbx confirm` answers only these (rule P2).
pub fn waiting_for(
    procedure: &Procedure,
    inputs: &serde_json::Value,
    state: &RunState,
) -> Vec<(String, bool)> {
    // A cancel recorded and not carried out yet (rbx was killed right
    // after it): the run waits for nobody until `rbx resume` carries it
    // out, settling what was waiting as cancelled.
    if matches!(state.status, RunStatus::Cancelled) {
        return Vec::new();
    }
    let inputs = stored_inputs(inputs);
    let plan = expand::expand(&procedure.graph, &list_values(&inputs, state));
    // A flow a settled node left is left, whether or not a crash kept its
    // `flow_left` from the journal (rule L2).
    let mut state = state.clone();
    for (flow, node) in readiness::unrecorded_lefts(&state, &plan) {
        state.left.insert(
            flow,
            state::Left {
                by: node,
                seq: u64::MAX,
            },
        );
    }
    readiness::next(&state, &plan)
        .into_iter()
        // A node whose own condition does not hold will be skipped, not
        // run; one whose condition cannot be judged here is left to the
        // drive, which judges it before anything else.
        .filter(|&x| {
            let node = &plan.nodes[x];
            if readiness::status_of(&state, &node.id) != Status::Pending {
                return true;
            }
            let env = runner::Stored::of(&state, &plan, node, &procedure.graph, procedure, &inputs);
            !matches!(
                runner::judge(&procedure.graph, node, &env),
                runner::Judged::Skipped(_)
            )
        })
        .map(|x| {
            let node = &plan.nodes[x];
            let person = matches!(
                &procedure.graph.graph[node.check].kind,
                NodeKind::Block(block) if people::needs_person(block)
            );
            (node.id.clone(), person)
        })
        .collect()
}

/// The flow that the settled node `node` leaves, if a route out of it
/// carries control and its flow was not left already (rule L2): what
/// `rbx confirm` records as `flow_left` after an answer that takes a route.
pub fn flow_it_leaves(
    procedure: &Procedure,
    inputs: &serde_json::Value,
    state: &RunState,
    node: &str,
) -> Option<String> {
    let inputs = stored_inputs(inputs);
    let plan = expand::expand(&procedure.graph, &list_values(&inputs, state));
    let x = *plan.by_id.get(node)?;
    let flow = &plan.nodes[x].flow;
    (!state.left.contains_key(flow) && readiness::leaves(state, &plan, x)).then(|| flow.clone())
}

/// The nodes a run of `procedure` with these inputs has, by the id the
/// run gives each (every `foreach` expanded per item), each with its node
/// in the checked graph: what `rbx test` matches a scenario's names against.
/// A node of a loop over a list a step captures has items known only once
/// the step ran: it is listed as `id[*]`, one `[*]` per loop.
pub fn run_nodes(
    procedure: &Procedure,
    inputs: &HashMap<String, Value>,
) -> Vec<(String, petgraph::graph::NodeIndex)> {
    let plan = expand::expand(&procedure.graph, &list_values(inputs, &RunState::new()));
    let graph = &procedure.graph.graph;
    let captured = graph.node_indices().filter_map(|index| {
        let node = &graph[index];
        node.fanout.iter().any(|f| f.list.contains('.')).then(|| {
            (
                format!("{}{}", node.id, "[*]".repeat(node.fanout.len())),
                index,
            )
        })
    });
    plan.nodes
        .into_iter()
        .map(|n| (n.id, n.check))
        .chain(captured)
        .collect()
}

/// A run's inputs as the store keeps them (secrets never are), as values.
fn stored_inputs(inputs: &serde_json::Value) -> HashMap<String, Value> {
    inputs
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), Value::from_json(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// An earlier run of the same runbook, for rules that count across runs.
#[derive(Debug)]
pub struct Past {
    pub started: i64,
    pub run: String,
    pub state: RunState,
    /// Its inputs (secrets were never stored).
    pub inputs: HashMap<String, Value>,
}

async fn history(journal: &Journal, procedure: &Procedure, this: &RunId) -> Vec<Past> {
    // Only `count()` reads earlier runs; without it they are not loaded.
    let counts = procedure
        .sources
        .iter()
        .any(|(_, text)| text.contains("count("));
    if !counts {
        return Vec::new();
    }
    let runbook = procedure.runbook_id.clone();
    let this = this.clone();
    journal
        .call(move |store: &mut dyn Store| {
            let mut out = Vec::new();
            for run in store.runs()? {
                if run.runbook_id != runbook || run.id == this {
                    continue;
                }
                let events = store.events(&run.id)?;
                let started = events.first().map_or(0, |e| parse_time(&e.time));
                let inputs = stored_inputs(&run.inputs);
                out.push(Past {
                    started,
                    run: run.id.to_string(),
                    state: replay(&events),
                    inputs,
                });
            }
            Ok(out)
        })
        .await
        .unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 UTC time the store wrote.
pub fn parse_time(time: &str) -> i64 {
    let digits: Vec<i64> = time
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let [y, mo, d, h, mi, s, rest @ ..] = digits.as_slice() else {
        return 0;
    };
    let ms = rest.first().copied().unwrap_or(0);
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if *mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (*y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms
}

/// Milliseconds since the epoch as RFC 3339 UTC, the store's time format.
pub fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Civil date from days (Howard Hinnant's algorithm, inverse of the one in
    // `parse_time`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// The state a run's events describe.
pub fn replay(events: &[rbx_store::Event]) -> RunState {
    state::replay(
        events
            .iter()
            .map(|e| (e.kind.as_str(), &e.payload, e.seq, parse_time(&e.time))),
    )
}

/// Starts a new run of `procedure` and drives it.
pub async fn start(
    procedure: &Procedure,
    store: Box<dyn Store>,
    inputs: HashMap<String, Value>,
    options: Options,
    on_created: impl FnOnce(&RunId),
) -> Exit {
    // Refused before anything is recorded, as a missing input is.
    if let Err(why) = at_once::check(&procedure.graph, &inputs) {
        return Exit::Broken(why);
    }
    let journal = journal_for(store, &options);
    let new = NewRun {
        runbook_id: procedure.runbook_id.clone(),
        title: procedure.title.clone(),
        entry: procedure.entry.clone(),
        sources: procedure.sources.clone(),
        inputs: non_secret_json(&inputs),
        started_by: options.operator.clone(),
        host: options.host.clone(),
    };
    let holder = Holder::this_process(options.host.clone());
    let (started_by, account) = (options.operator.clone(), options.account.clone());
    let created = journal
        .call(move |s: &mut dyn Store| {
            let run = s.create_run(&new)?;
            s.lock(&run, &holder)?;
            s.set_status(&run, "running", None)?;
            s.append(
                &run,
                state::kind::RUN_STARTED,
                &json!({ "pid": std::process::id(), "operator": started_by, "account": account }),
            )?;
            Ok(run)
        })
        .await;
    let run = match created {
        Ok(run) => run,
        Err(e) => return Exit::Broken(e.to_string()),
    };
    on_created(&run);
    // The run's procedure is kept for its resumes while it runs: encoded
    // here, written on another thread.
    let keeping = options
        .graph_cache
        .as_ref()
        .and_then(|cache| cache.keep(procedure))
        .map(|keeping| tokio::task::spawn_blocking(move || keeping.write()));
    let plan = expand::expand(&procedure.graph, &list_values(&inputs, &RunState::new()));
    let past = history(&journal, procedure, &run).await;
    let state = RunState::new();
    let started_by = options.operator.clone();
    let observer = Arc::clone(&options.observer);
    let exit = runner::drive(
        procedure,
        journal.clone(),
        run.clone(),
        state,
        plan,
        inputs,
        options,
        past,
        &started_by,
        std::collections::HashSet::new(),
    )
    .await;
    finish(&journal, &run, &exit, &observer).await;
    if let Some(keeping) = keeping {
        let _ = keeping.await;
    }
    exit
}

/// The store on a thread of its own; a simulated run's journal is written
/// in the driving task itself, so that no simulated time passes while it
/// writes.
fn journal_for(store: Box<dyn Store>, options: &Options) -> Journal {
    if options.clock.is_simulated() {
        Journal::inline(store)
    } else {
        Journal::spawn(Box::new(checkpoint::Checkpointing::new(store)))
    }
}

async fn finish(journal: &Journal, run: &RunId, exit: &Exit, observer: &Arc<dyn Observer>) {
    let status = match exit {
        Exit::Ended { outcome, .. } => format!("ended:{outcome}"),
        Exit::Failed { .. } => "failed".to_string(),
        Exit::Paused { .. } => "paused".to_string(),
        Exit::Waiting { .. } => "waiting".to_string(),
        Exit::Interrupted => "interrupted".to_string(),
        Exit::NeedsDecision { .. } => "in-doubt".to_string(),
        Exit::Broken(_) => "broken".to_string(),
    };
    let due = match exit {
        Exit::Waiting { due, .. } => Some(format_time(*due)),
        _ => None,
    };
    let run = run.clone();
    let pid = std::process::id();
    let _ = journal
        .call(move |s: &mut dyn Store| {
            s.set_status(&run, &status, due.as_deref())?;
            s.unlock(&run, pid)
        })
        .await;
    settle_store(journal, observer).await;
}

/// Folds the store's write-ahead log into its main file whenever a drive
/// stops, so that a copy of `rbx.db` alone is the whole record. If it
/// cannot, nothing is lost (the log is durable), but a copy must take the
/// log too: the operator is told.
async fn settle_store(journal: &Journal, observer: &Arc<dyn Observer>) {
    if let Err(e) = journal.call(|s: &mut dyn Store| s.checkpoint()).await {
        observer.line(
            Tone::Note,
            &format!(
                "note: the record stays partly in the store's write-ahead log ({e}); \
                 copy `rbx.db-wal` with `rbx.db`"
            ),
        );
    }
}

/// The path under which a run's snapshot keeps the project's `rbx.toml`, so
/// a resumed run is checked with the lint levels it was started under.
pub const PROJECT_SOURCE: &str = "rbx-project:";

/// Whether a snapshot's source is a runbook file, not the fill file or the
/// project's configuration kept beside them.
pub fn is_runbook_source(path: &str) -> bool {
    !path.starts_with(fills::FILL_SOURCE) && !path.starts_with(PROJECT_SOURCE)
}

/// The procedure a run recorded, rebuilt from its snapshot alone (with the
/// fill file and the project configuration the snapshot keeps, if any).
pub fn procedure_from_snapshot(
    entry: &str,
    sources: Vec<(String, String)>,
) -> Result<Procedure, String> {
    let fill = sources.iter().find_map(|(path, text)| {
        Some((
            path.strip_prefix(fills::FILL_SOURCE)?.to_string(),
            text.clone(),
        ))
    });
    let fill_set = match &fill {
        Some((_, text)) => fills::parse_fills(text)?,
        None => rbx_check::Fills::default(),
    };
    let project = sources
        .iter()
        .find(|(path, _)| path.starts_with(PROJECT_SOURCE))
        .map(|(_, text)| text.clone());
    let policy = match &project {
        Some(text) => {
            rbx_check::project::parse(Path::new(""), text)
                .map_err(|d| format!("the run's project configuration: {}", d.message))?
                .policy
        }
        None => rbx_check::project::Policy::default(),
    };
    let snapshot = Snapshot(sources);
    let mut report = rbx_check::check_with(&PathBuf::from(entry), &snapshot, &fill_set);
    rbx_check::project::apply(&mut report, &policy);
    let fill = fill
        .as_ref()
        .map(|(path, text)| (path.as_str(), text.as_str()));
    let procedure = Procedure::from_report_with(report, fill)
        .ok_or_else(|| "the run's own snapshot no longer checks".to_string())?;
    Ok(match project {
        Some(text) => procedure.with_project(&text),
        None => procedure,
    })
}

/// What `rbx resume` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Re-run from this node (and everything after it), with a reason.
    pub from: Option<(String, String)>,
    /// Go on even though the runbook changed, if no finished step did.
    pub allow_changed: bool,
    /// The sources as they are now, to compare with the snapshot.
    pub current: Vec<(String, String)>,
}

/// Why a run cannot be resumed.
#[derive(Debug)]
pub enum ResumeError {
    Store(String),
    Held(Holder),
    Changed(Vec<changes::Change>),
    Invalid(String),
}

/// Resumes `run`: rebuilds it from its snapshot and journal, settles steps
/// left in doubt, and drives it on.
pub async fn resume(
    store: Box<dyn Store>,
    run: RunId,
    request: Resume,
    sets: &[(String, String)],
    options: Options,
) -> Result<Exit, ResumeError> {
    // A child run (`PARENT/NODE`) goes on only through its parent, which
    // gives it its inputs (secrets included) and takes in how it ends; on
    // its own it could end differently from what its parent recorded.
    if let Some((parent, _)) = run.as_str().split_once('/') {
        return Err(ResumeError::Invalid(format!(
            "`{run}` is a child run of `{parent}`: it goes on only through its parent; \
             resume that (`rbx resume {parent}`), which resumes the child where it stopped"
        )));
    }
    let journal = journal_for(store, &options);
    resume_with(&journal, run, request, sets, None, options).await
}

/// Resumes `run` through `journal`, with `inputs` when the caller has
/// them (a child run's), else as the store and `sets` give them.
async fn resume_with(
    journal: &Journal,
    run: RunId,
    request: Resume,
    sets: &[(String, String)],
    inputs: Option<HashMap<String, Value>>,
    options: Options,
) -> Result<Exit, ResumeError> {
    let holder = Holder::this_process(options.host.clone());
    let id = run.clone();
    let loaded = journal
        .call(move |s: &mut dyn Store| {
            let summary = s.run(&id)?;
            let sources = s.sources(&id)?;
            let lock = s.lock(&id, &holder)?;
            Ok((summary, sources, lock))
        })
        .await
        .map_err(|e| match e {
            JournalError::Store(rbx_store::StoreError::Locked { holder, .. }) => {
                ResumeError::Held(holder)
            }
            other => ResumeError::Store(other.to_string()),
        })?;
    let (summary, sources, lock) = loaded;
    let Some(summary) = summary else {
        return Err(ResumeError::Invalid(format!("there is no run `{run}`")));
    };

    // The driver this one replaces (gone from this host, or its lease
    // lapsed on a shared store) is named in the `run_resumed` event.
    let took_over = match lock {
        LockOutcome::TookOver(previous) => {
            options.observer.line(
                Tone::Note,
                &format!(
                    "note: took over the run from process {} on {}, which is no longer running",
                    previous.pid, previous.host
                ),
            );
            json!({ "pid": previous.pid, "host": previous.host, "since": previous.since })
        }
        LockOutcome::Acquired => serde_json::Value::Null,
    };
    let observer = Arc::clone(&options.observer);
    let request = resume::Resumed {
        request,
        took_over,
        inputs,
    };
    let result =
        resume::resume_locked(journal, &run, &summary, sources, request, sets, options).await;
    if let Ok(exit) = &result {
        finish(journal, &run, exit, &observer).await;
    } else {
        let (run, pid) = (run.clone(), std::process::id());
        let _ = journal
            .call(move |s: &mut dyn Store| s.unlock(&run, pid))
            .await;
        settle_store(journal, &observer).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::{format_time, parse_time};

    #[test]
    fn times_are_written_and_read_as_the_store_keeps_them() {
        assert_eq!(format_time(1_764_318_612_345), "2025-11-28T08:30:12.345Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        for ms in [0, 951_782_400_000, 1_764_318_612_345, 4_102_444_799_999] {
            assert_eq!(parse_time(&format_time(ms)), ms);
        }
    }
}
