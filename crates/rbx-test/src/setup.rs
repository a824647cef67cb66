//! A scenario as the simulation uses it: inputs, what each step prints and
//! how long it takes, what each person answers, earlier runs, and the
//! checks — every name in it found in the runbook, or a problem saying
//! where it is written and what the runbook has instead.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;
use rbx_check::graph::NodeKind;
use rbx_engine::Procedure;
use rbx_engine::value::{self, Value};
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{
    AnswerItem, AnswerKind, Block, BlockKind, Check, CheckKind, Expr, ExprKind, NodePattern,
    ResultKind, ResultStmt, Scenario, ScenarioStmtKind, StmtKind, Stream, Text,
};
use serde_json::{Map, Value as Json, json};

use crate::matching::{closeness, suggestion};

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
    pub checks: Vec<Check>,
    /// The run's nodes, by id, with their node in the checked graph.
    pub nodes: Vec<(String, NodeIndex)>,
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
        checks: Vec::new(),
        nodes,
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
                known(&setup.nodes, pattern, &mut problems);
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
                known(&setup.nodes, pattern, &mut problems);
                answers.push((pattern, items));
            }
            ScenarioStmtKind::Earlier { ago, facts } => {
                setup
                    .earlier
                    .push(earlier(procedure, ago.millis, facts, &mut problems));
            }
            ScenarioStmtKind::Expect(check) => {
                self::check(procedure, &setup.nodes, check, &mut problems);
                setup.checks.push(check.clone());
            }
        }
    }
    people(procedure, &mut setup, &answers, file);
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

/// A problem unless some node of the run answers to `pattern`.
fn known(nodes: &[(String, NodeIndex)], pattern: &NodePattern, problems: &mut Problems) -> bool {
    if nodes.iter().any(|(id, _)| closeness(pattern, id).is_some()) {
        return true;
    }
    let names: Vec<String> = nodes
        .iter()
        .flat_map(|(id, _)| [id.clone(), rbx_engine::base_name(id).unwrap_or_default()])
        .collect();
    let mut d = Diagnostic::error(
        "rbx::test::unknown_node",
        format!("no node of the runbook is named `{}`", pattern.text),
    )
    .primary(pattern.span, "names nothing in this run");
    if let Some(near) = suggestion(&pattern.text, names.iter().map(String::as_str)) {
        d = d.help(format!("did you mean `{near}`?"));
    } else {
        d = d.help("name a node by its id (`stage.node`), its name, or a quoted pattern such as \"stage.*\"");
    }
    problems.push(d);
    false
}

fn check(
    procedure: &Procedure,
    nodes: &[(String, NodeIndex)],
    check: &Check,
    problems: &mut Problems,
) {
    match &check.kind {
        CheckKind::Failed(p)
        | CheckKind::Ran(p)
        | CheckKind::NotRan(p)
        | CheckKind::Attempts(p, _) => {
            known(nodes, p, problems);
        }
        CheckKind::Within(Some(stage), _) => {
            let stages: Vec<&str> = nodes
                .iter()
                .filter(|(id, _)| !id.contains('.'))
                .map(|(id, _)| id.as_str())
                .collect();
            if !stages
                .iter()
                .any(|s| closeness(stage, s) == Some(3) || glob_stage(stage, s))
            {
                let mut d = Diagnostic::error(
                    "rbx::test::unknown_stage",
                    format!("no stage of the runbook is named `{}`", stage.text),
                )
                .primary(stage.span, "not a stage");
                if let Some(near) = suggestion(&stage.text, stages.iter().copied()) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                problems.push(d);
            }
        }
        CheckKind::Overrun(stage) => {
            if procedure.graph.node(&stage.name).is_none() {
                problems.push(
                    Diagnostic::error(
                        "rbx::test::unknown_stage",
                        format!("no stage of the runbook is named `{}`", stage.name),
                    )
                    .primary(stage.span, "not a stage"),
                );
            }
        }
        CheckKind::Outcome(outcome) => {
            let known: Vec<String> = procedure
                .graph
                .graph
                .node_weights()
                .filter_map(|n| match &n.kind {
                    NodeKind::End { outcome } => Some(outcome.clone()),
                    _ => None,
                })
                .collect();
            if !known.contains(&outcome.name) {
                let mut d = Diagnostic::error(
                    "rbx::test::unknown_outcome",
                    format!("no route of the runbook ends `{}`", outcome.name),
                )
                .primary(outcome.span, "not an outcome of this runbook");
                if let Some(near) = suggestion(&outcome.name, known.iter().map(String::as_str)) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                problems.push(d);
            }
        }
        CheckKind::Holds(condition) => names(procedure, condition, problems),
        CheckKind::Within(None, _) => {}
    }
}

/// A problem for each name an expectation reads that is neither an input
/// nor a node of the runbook (nor a value: an enum value, an option, a
/// status).
fn names(procedure: &Procedure, condition: &Expr, problems: &mut Problems) {
    let mut paths = Vec::new();
    paths_in(condition, &mut paths);
    let known: Vec<String> = procedure
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .chain(
            procedure
                .graph
                .graph
                .node_weights()
                .filter_map(|n| rbx_engine::base_name(&n.id)),
        )
        .collect();
    for path in paths {
        let Some(head) = path.segments.first() else {
            continue;
        };
        // A bare name may be a value (`succeeded`, `SEV1`), which the
        // comparison itself judges.
        if path.segments.len() == 1 || known.contains(&head.name) {
            continue;
        }
        let mut d = Diagnostic::error(
            "rbx::test::unknown_name",
            format!("no node or input of the runbook is named `{}`", head.name),
        )
        .primary(head.span, "names nothing in the runbook");
        if let Some(near) = suggestion(&head.name, known.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{near}`?"));
        }
        problems.push(d);
    }
}

fn paths_in<'e>(e: &'e Expr, out: &mut Vec<&'e rbx_syntax::ast::Path>) {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|i| paths_in(i, out)),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => paths_in(inner, out),
        ExprKind::Compare { lhs, rhs, .. } => {
            paths_in(lhs, out);
            paths_in(rhs, out);
        }
        ExprKind::Sum { first, rest } => {
            paths_in(first, out);
            rest.iter().for_each(|(_, r)| paths_in(r, out));
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| paths_in(a, out)),
        ExprKind::Path(path) => out.push(path),
        ExprKind::String(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Regex(_) => {}
    }
}

fn glob_stage(pattern: &NodePattern, stage: &str) -> bool {
    closeness(pattern, stage) == Some(0)
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

/// Each person's node (and irreversible step) gets the answer of the
/// closest `answer` that names it; a later one wins a tie.
fn people(
    procedure: &Procedure,
    setup: &mut Setup,
    answers: &[(&NodePattern, &[AnswerItem])],
    file: &str,
) {
    for (id, check) in &setup.nodes {
        let NodeKind::Block(block) = &procedure.graph.graph[*check].kind else {
            if let NodeKind::Anchor(_) = &procedure.graph.graph[*check].kind {
                if let Some(given) = best_given(&setup.givens, id) {
                    setup.attend.insert(id.clone(), given);
                }
            }
            continue;
        };
        let best = answers
            .iter()
            .enumerate()
            .filter_map(|(order, (pattern, items))| {
                Some(((closeness(pattern, id)?, order), *items))
            })
            .max_by_key(|(key, _)| *key)
            .map(|(_, items)| items);
        let Some(items) = best else { continue };
        if let Some(takes) = items.iter().find_map(|i| match &i.kind {
            AnswerKind::Takes(d) => Some(d.millis),
            _ => None,
        }) {
            setup.attend.insert(
                id.clone(),
                Effect {
                    takes: Some(takes),
                    ..Effect::default()
                },
            );
        }
        let mut given = answer(block, id, items, file);
        split_signoffs(&mut given, id, &setup.operator, &mut setup.sessions);
        setup.answers.insert(id.clone(), given);
    }
}

/// Keeps in `given` only the sign-offs by `operator`, and gives each other
/// signer's to their own session: a sign-off is given by the person who
/// records it, each in a session of their own.
fn split_signoffs(
    given: &mut Json,
    id: &str,
    operator: &str,
    sessions: &mut Vec<(String, BTreeMap<String, Json>)>,
) {
    let Some(signoffs) = given.get_mut("signoffs").and_then(Json::as_array_mut) else {
        return;
    };
    let normal = |name: &str| rbx_engine::people::normalise(name);
    let (own, others): (Vec<Json>, Vec<Json>) = signoffs
        .drain(..)
        .partition(|s| normal(s["by"].as_str().unwrap_or_default()) == normal(operator));
    *signoffs = own;
    for signoff in others {
        let by = signoff["by"].as_str().unwrap_or_default().to_string();
        let at = match sessions
            .iter()
            .position(|(who, _)| normal(who) == normal(&by))
        {
            Some(at) => at,
            None => {
                sessions.push((by, BTreeMap::new()));
                sessions.len() - 1
            }
        };
        let entry = sessions[at]
            .1
            .entry(id.to_string())
            .or_insert_with(|| json!({ "signoffs": [] }));
        if let Some(list) = entry["signoffs"].as_array_mut() {
            list.push(signoff);
        }
    }
}

fn best_given(givens: &[Given], id: &str) -> Option<Effect> {
    givens
        .iter()
        .enumerate()
        .filter(|(_, g)| g.attempt.is_none())
        .filter_map(|(order, g)| Some(((closeness(&g.pattern, id)?, order), g.result.clone())))
        .max_by_key(|(key, _)| *key)
        .map(|(_, r)| r)
}

/// The answer as an answers file gives it (`rbx run --answers`), so the
/// engine's one rule set for people's answers judges it.
fn answer(block: &Block, id: &str, items: &[AnswerItem], file: &str) -> Json {
    let mut out = Map::new();
    let mut evidence = Map::new();
    let mut signoffs = Vec::new();
    for item in items {
        match &item.kind {
            AnswerKind::Choice(option) => {
                out.insert("choice".into(), json!(option.name));
            }
            AnswerKind::Rationale(why) => {
                out.insert("rationale".into(), json!(plain(why)));
            }
            AnswerKind::Evidence(name, given) => {
                evidence.insert(name.name.clone(), json!(plain(given)));
            }
            AnswerKind::Attest(yes) => {
                out.insert("attest".into(), json!(yes));
            }
            AnswerKind::Signoff { role, by, go } => signoffs.push(json!({
                "role": role.name,
                "by": plain(by),
                "decision": if *go { "GO" } else { "NO-GO" },
            })),
            AnswerKind::Confirm => {
                out.insert("confirm".into(), json!(id));
            }
            AnswerKind::Reject => {
                out.insert("reject".into(), json!(true));
            }
            AnswerKind::Takes(_) => {}
        }
    }
    // A choice is recorded with why it was made; a scenario need not say.
    if block.kind == BlockKind::Choose && !out.contains_key("rationale") {
        out.insert("rationale".into(), json!("a scenario's answer"));
    }
    // Evidence a scenario leaves out is given as its own name, so that a
    // manual step passes with `answer x {}`; a choice must be chosen.
    for stmt in &block.body {
        if let StmtKind::Evidence(e) = &stmt.kind {
            if !evidence.contains_key(&e.name.name)
                && !e.optional
                && !matches!(e.ty, rbx_syntax::ast::EvidenceType::Choice(_))
            {
                let filler = match e.ty {
                    rbx_syntax::ast::EvidenceType::Url => {
                        format!("https://example.invalid/{}", e.name.name)
                    }
                    rbx_syntax::ast::EvidenceType::File => file.to_string(),
                    _ => e.name.name.clone(),
                };
                evidence.insert(e.name.name.clone(), json!(filler));
            }
        }
    }
    // Likewise an attestation not refused is made.
    let attests = block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Attest { .. }));
    if attests && !out.contains_key("attest") {
        out.insert("attest".into(), json!(true));
    }
    if !evidence.is_empty() {
        out.insert("evidence".into(), Json::Object(evidence));
    }
    if !signoffs.is_empty() {
        out.insert("signoffs".into(), Json::Array(signoffs));
    }
    Json::Object(out)
}
