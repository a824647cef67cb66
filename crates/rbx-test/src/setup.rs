//! A scenario as the simulation uses it: inputs, what each step prints and
//! how long it takes, what each person answers, earlier runs, and the
//! checks — every name in it found in the runbook, or a problem saying
//! where it is written and what the runbook has instead.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;
use rbx_engine::Procedure;
use rbx_engine::value::{self, Value};
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{
    AnswerItem, Check, NodePattern, ResultKind, ResultStmt, Scenario, ScenarioStmtKind, Stream,
    Text,
};
use serde_json::{Map, Value as Json};

use crate::matching::suggestion;

mod answers;
mod children;
mod names;

use answers::people;
pub use children::ChildNode;
use names::known;

/// When a scenario's clock starts unless it says: a fixed time, so that
/// every run of a scenario reads the same.
pub const DEFAULT_START: &str = "2026-01-01T09:00:00Z";

/// What a step does in a scenario: each part given, or left to the next
/// rule down (an attempt's own, then the node's, then the default).
#[derive(Debug, Clone, Default)]
pub struct Effect {
    pub exit: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub takes: Option<u64>,
    pub at: Option<i64>,
}

impl Effect {
    /// `self`, with what it leaves open taken from `under`.
    pub fn over(&self, under: &Effect) -> Effect {
        Effect {
            exit: self.exit.or(under.exit),
            stdout: self.stdout.clone().or_else(|| under.stdout.clone()),
            stderr: self.stderr.clone().or_else(|| under.stderr.clone()),
            takes: self.takes.or(under.takes),
            at: self.at.or(under.at),
        }
    }
}

/// `given PATTERN (attempt N)? { … }`.
#[derive(Debug, Clone)]
pub struct Given {
    pub pattern: NodePattern,
    pub attempt: Option<u32>,
    pub result: Effect,
}

/// What an earlier run records of one node.
#[derive(Debug, Clone)]
pub struct Fact {
    pub status: String,
    pub branch: Option<String>,
    pub captures: BTreeMap<String, Value>,
}

/// A run of the same runbook before this one, as `count()` reads it.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub ago: u64,
    pub inputs: Map<String, Json>,
    /// By node name.
    pub nodes: BTreeMap<String, Fact>,
}

#[derive(Debug)]
pub struct Setup {
    pub inputs: HashMap<String, Value>,
    pub operator: String,
    pub start_ms: i64,
    pub default: Option<Effect>,
    pub givens: Vec<Given>,
    /// People's answers, by the run's node id, as the scenario's operator
    /// gives them (with the sign-offs that are the operator's own).
    pub answers: BTreeMap<String, Json>,
    /// Each other person who signs, in the order first named, with the
    /// answers of their own session: the sign-offs they give.
    pub sessions: Vec<(String, BTreeMap<String, Json>)>,
    /// How long a person or an anchor takes, by the run's node id.
    pub attend: HashMap<String, Effect>,
    pub earlier: Vec<Earlier>,
    /// Where the operator stops and cancels the run (`cancel at`).
    pub cancel_at: Option<NodePattern>,
    pub checks: Vec<Check>,
    /// The run's nodes, by id, with their node in the checked graph.
    pub nodes: Vec<(String, NodeIndex)>,
    /// The nodes of its child runs, by path through their `child` node.
    pub children: Vec<ChildNode>,
}

/// Problems found in a scenario, each at its place in the scenarios file.
type Problems = Vec<Diagnostic>;

/// `file` stands in for a file a person gives as evidence when the
/// scenario names none: it exists (the engine checks that, as for a real
/// answer) and the simulation never reads it.
pub fn setup(procedure: &Procedure, scenario: &Scenario, file: &str) -> Result<Setup, Problems> {
    let mut problems = Vec::new();
    let inputs = inputs(procedure, scenario, &mut problems);
    let nodes = rbx_engine::run_nodes(procedure, &inputs);
    let children = children::child_nodes(procedure, &nodes);
    let mut setup = Setup {
        inputs,
        operator: "rbx-test".to_string(),
        start_ms: rbx_engine::parse_time(DEFAULT_START),
        default: None,
        givens: Vec::new(),
        answers: BTreeMap::new(),
        sessions: Vec::new(),
        attend: HashMap::new(),
        earlier: Vec::new(),
        cancel_at: None,
        checks: Vec::new(),
        nodes,
        children,
    };
    let mut answers: Vec<(&NodePattern, &[AnswerItem])> = Vec::new();
    for stmt in &scenario.body {
        match &stmt.kind {
            ScenarioStmtKind::Set { .. } => {}
            ScenarioStmtKind::Operator(name) => setup.operator = plain(name),
            ScenarioStmtKind::Start(at) => match time(at) {
                Ok(ms) => setup.start_ms = ms,
                Err(d) => problems.push(d),
            },
            ScenarioStmtKind::Default(results) => {
                setup.default = Some(result(results, &mut problems));
            }
            ScenarioStmtKind::Given {
                pattern,
                attempt,
                results,
            } => {
                known(&setup.nodes, &setup.children, pattern, &mut problems);
                let result = result(results, &mut problems);
                let attempt = attempt
                    .as_ref()
                    .map(|a| u32::try_from(a.value).unwrap_or(0));
                setup.givens.push(Given {
                    pattern: pattern.clone(),
                    attempt,
                    result,
                });
            }
            ScenarioStmtKind::Answer { pattern, items } => {
                known(&setup.nodes, &setup.children, pattern, &mut problems);
                answers.push((pattern, items));
            }
            ScenarioStmtKind::Earlier { ago, facts } => {
                setup
                    .earlier
                    .push(earlier(procedure, ago.millis, facts, &mut problems));
            }
            ScenarioStmtKind::Cancel(pattern)
                if crate::matching::parts(&pattern.text).len() > 1 =>
            {
                problems.push(
                    Diagnostic::error(
                        "rbx::test::cancel_in_child",
                        "`cancel at` names a node of the run the scenario drives, not of a child run",
                    )
                    .primary(pattern.span, "a node of a child run")
                    .help("cancel at a node of this run: cancelling it cancels the child runs it waits in (rule D5)"),
                );
            }
            ScenarioStmtKind::Cancel(pattern) => {
                known(&setup.nodes, &setup.children, pattern, &mut problems);
                setup.cancel_at = Some(pattern.clone());
            }
            ScenarioStmtKind::Expect(check) => {
                names::check(
                    procedure,
                    (&setup.nodes, &setup.children),
                    check,
                    &mut problems,
                );
                setup.checks.push(check.clone());
            }
        }
    }
    people(procedure, &mut setup, &answers, file);
    // Nobody answers where the operator cancels: the run waits there.
    if let Some(cancel) = &setup.cancel_at {
        setup
            .answers
            .retain(|id, _| crate::matching::closeness(cancel, id).is_none());
    }
    if problems.is_empty() {
        Ok(setup)
    } else {
        Err(problems)
    }
}

/// The inputs: each default, then each `set`; one not given is a problem
/// at the scenario's name.
fn inputs(
    procedure: &Procedure,
    scenario: &Scenario,
    problems: &mut Problems,
) -> HashMap<String, Value> {
    let mut values: HashMap<String, Value> = procedure
        .inputs
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.default.clone()?)))
        .collect();
    for stmt in &scenario.body {
        let ScenarioStmtKind::Set { name, value: given } = &stmt.kind else {
            continue;
        };
        let Some(input) = procedure.inputs.iter().find(|i| i.name == name.name) else {
            let names: Vec<&str> = procedure.inputs.iter().map(|i| i.name.as_str()).collect();
            let mut d = Diagnostic::error(
                "rbx::test::unknown_input",
                format!("the runbook has no input `{}`", name.name),
            )
            .primary(name.span, "not an input of the runbook");
            if let Some(near) = suggestion(&name.name, names.iter().copied()) {
                d = d.help(format!("did you mean `{near}`?"));
            } else {
                d = d.help(format!("its inputs are {}", names.join(", ")));
            }
            problems.push(d);
            continue;
        };
        match value::parse_input(&as_input_text(given), &input.ty) {
            Ok(v) => {
                values.insert(name.name.clone(), v);
            }
            Err(why) => problems.push(
                Diagnostic::error("rbx::test::bad_input", format!("`{}`: {why}", name.name))
                    .primary(given.span, "this value"),
            ),
        }
    }
    let missing: Vec<&str> = procedure
        .inputs
        .iter()
        .filter(|i| !values.contains_key(&i.name))
        .map(|i| i.name.as_str())
        .collect();
    if !missing.is_empty() {
        problems.push(
            Diagnostic::error(
                "rbx::test::missing_input",
                format!(
                    "scenario `{}` gives no value for {}",
                    scenario.id.name,
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .primary(scenario.id.span, "this scenario")
            .help(format!("add `set {} = …`", missing[0])),
        );
    }
    values
}

/// A scenario's value as `--set` would give it.
fn as_input_text(given: &rbx_syntax::ast::Value) -> String {
    use rbx_syntax::ast::ValueKind;
    match &given.kind {
        ValueKind::String(text) => text.source_form(),
        ValueKind::Int(n) => n.to_string(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration(ms) => rbx_syntax::fmt::duration(*ms),
        ValueKind::Name(name) => name.name.clone(),
        ValueKind::List(items) => Json::Array(
            items
                .iter()
                .map(|i| Json::String(as_input_text(i)))
                .collect(),
        )
        .to_string(),
    }
}

fn plain(text: &Text) -> String {
    text.source_form()
}

fn time(at: &Text) -> Result<i64, Diagnostic> {
    let written = plain(at);
    let ms = rbx_engine::parse_time(&written);
    if written.ends_with('Z')
        && rbx_engine::format_time(ms).starts_with(&written[..written.len().min(19)])
    {
        Ok(ms)
    } else {
        Err(Diagnostic::error(
            "rbx::test::bad_time",
            format!("`{written}` is not a UTC time"),
        )
        .primary(at.span, "this time")
        .help(format!("write it as `{DEFAULT_START}`")))
    }
}

fn result(results: &[ResultStmt], problems: &mut Problems) -> Effect {
    let mut out = Effect::default();
    for r in results {
        match &r.kind {
            ResultKind::Exit(status) => match i32::try_from(status.value) {
                Ok(code) if (0..=255).contains(&code) => out.exit = Some(code),
                _ => problems.push(
                    Diagnostic::error("rbx::test::bad_exit", "an exit status is 0 to 255")
                        .primary(status.span, "this status"),
                ),
            },
            ResultKind::Output(Stream::Stdout, text) => out.stdout = Some(plain(text)),
            ResultKind::Output(Stream::Stderr, text) => out.stderr = Some(plain(text)),
            ResultKind::Takes(d) => out.takes = Some(d.millis),
            ResultKind::At(at) => match time(at) {
                Ok(ms) => out.at = Some(ms),
                Err(d) => problems.push(d),
            },
        }
    }
    out
}

/// An earlier run: inputs by name, and for each node its branch
/// (`severity = SEV1`), status (`x.status = failed`) or a capture.
fn earlier(
    procedure: &Procedure,
    ago: u64,
    facts: &[(rbx_syntax::ast::Path, rbx_syntax::ast::Value)],
    problems: &mut Problems,
) -> Earlier {
    let mut out = Earlier {
        ago,
        inputs: Map::new(),
        nodes: BTreeMap::new(),
    };
    for (path, given) in facts {
        let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        let literal = rbx_engine::literal(given);
        if let [name] = names.as_slice() {
            if let Some(input) = procedure.inputs.iter().find(|i| i.name == *name) {
                match value::parse_input(&as_input_text(given), &input.ty) {
                    Ok(v) => {
                        out.inputs
                            .insert((*name).to_string(), v.to_json().unwrap_or(Json::Null));
                    }
                    Err(why) => problems.push(
                        Diagnostic::error("rbx::test::bad_input", format!("`{name}`: {why}"))
                            .primary(given.span, "this value"),
                    ),
                }
                continue;
            }
        }
        let node = names[0];
        if procedure
            .graph
            .graph
            .node_weights()
            .all(|n| rbx_engine::base_name(&n.id).as_deref() != Some(node))
        {
            problems.push(
                Diagnostic::error(
                    "rbx::test::unknown_node",
                    format!("no node or input of the runbook is named `{node}`"),
                )
                .primary(path.span, "names nothing in the runbook"),
            );
            continue;
        }
        let entry = out.nodes.entry(node.to_string()).or_insert_with(|| Fact {
            status: "succeeded".to_string(),
            branch: None,
            captures: BTreeMap::new(),
        });
        match names.get(1) {
            None => entry.branch = Some(literal.to_string()),
            Some(&"status") => entry.status = literal.to_string(),
            Some(field) => {
                entry.captures.insert((*field).to_string(), literal);
            }
        }
    }
    out
}
