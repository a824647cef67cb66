//! A case made concrete — its runbook, inputs, failing steps, answers and
//! operations — as a fixture writes and reads it, and the answers in each
//! of their forms (the model's, an answers file's, `rbx confirm`'s).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rbx_model::{Answer, InDoubt, Op, Script, Value};

use crate::fixtures;
use crate::generate::Case;

/// An operation with every node it names picked: what the log keeps and a
/// fixture replays.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Run {
        crash: Option<u32>,
    },
    Resume {
        crash: Option<u32>,
        in_doubt: Option<InDoubt>,
        from: Option<String>,
    },
    Confirm {
        node: String,
        answer: String,
    },
    Cancel {
        crash: Option<u32>,
        in_doubt: Option<InDoubt>,
    },
}

impl Action {
    pub(crate) fn op(&self) -> Op {
        match self {
            Action::Run { .. } => Op::Run,
            Action::Resume { in_doubt, from, .. } => Op::Resume {
                in_doubt: *in_doubt,
                from: from.clone(),
            },
            Action::Confirm { node, answer } => Op::Confirm {
                node: node.clone(),
                answer: model_answer(answer),
            },
            Action::Cancel { in_doubt, .. } => Op::Cancel {
                in_doubt: *in_doubt,
            },
        }
    }

    pub(crate) fn crash(&self) -> Option<u32> {
        match self {
            Action::Run { crash } | Action::Resume { crash, .. } | Action::Cancel { crash, .. } => {
                *crash
            }
            Action::Confirm { .. } => None,
        }
    }

    /// The action as a fixture line.
    pub(crate) fn toml(&self) -> String {
        let crash = |c: &Option<u32>| c.map_or(String::new(), |n| format!(", crash = {n}"));
        let policy = |p: &Option<InDoubt>| {
            p.map_or(String::new(), |p| {
                format!(", in_doubt = \"{}\"", policy_name(p))
            })
        };
        match self {
            Action::Run { crash: c } => format!("{{ op = \"run\"{} }}", crash(c)),
            Action::Resume {
                crash: c,
                in_doubt,
                from,
            } => {
                let from = from
                    .as_ref()
                    .map_or(String::new(), |f| format!(", from = \"{f}\""));
                format!(
                    "{{ op = \"resume\"{}{}{} }}",
                    crash(c),
                    policy(in_doubt),
                    from
                )
            }
            Action::Confirm { node, answer } => {
                format!("{{ op = \"confirm\", node = \"{node}\", answer = \"{answer}\" }}")
            }
            Action::Cancel { crash: c, in_doubt } => {
                format!("{{ op = \"cancel\"{}{} }}", crash(c), policy(in_doubt))
            }
        }
    }
}

pub(crate) fn policy_name(policy: InDoubt) -> &'static str {
    match policy {
        InDoubt::Rerun => "rerun",
        InDoubt::Skip => "skip",
        InDoubt::Abort => "abort",
    }
}

/// An answer written as the harness writes them
/// (`evidence:verdict=bad;proof=red,blue`, `attest`, `attest:no`, `go`,
/// `no-go`, `choice:yes`, `reject`), for the model.
pub(crate) fn model_answer(answer: &str) -> Answer {
    match answer.split_once(':') {
        Some(("evidence", pairs)) => Answer::Evidence(
            pairs
                .split(';')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        Some(("choice", option)) => Answer::Choice(option.to_string()),
        Some(("attest", _)) => Answer::Attest(false),
        _ => match answer {
            "attest" => Answer::Attest(true),
            "go" => Answer::Signoff(true),
            "no-go" => Answer::Signoff(false),
            _ => Answer::Reject,
        },
    }
}

/// The same answer as a table of an answers file.
pub(crate) fn answers_table(node: &str, answer: &str) -> String {
    let body = match model_answer(answer) {
        Answer::Evidence(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect();
            format!("evidence = {{ {} }}", pairs.join(", "))
        }
        Answer::Attest(made) => format!("attest = {made}"),
        // A sign-off is given by the operator who records it: every `rbx`
        // here runs as `tester`.
        Answer::Signoff(go) => format!(
            "signoffs = [{{ role = \"op\", by = \"tester\", decision = \"{}\" }}]",
            if go { "GO" } else { "NO-GO" }
        ),
        Answer::Choice(option) => format!("choice = \"{option}\"\nrationale = \"picked\""),
        Answer::Reject => "reject = true".to_string(),
    };
    format!("[\"{node}\"]\n{body}\n")
}

/// The same answer as `rbx confirm` flags. An attestation not made can
/// only be given as a rejection there; the harness never confirms one.
pub(crate) fn confirm_flags(answer: &str) -> Vec<String> {
    match model_answer(answer) {
        Answer::Evidence(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| ["--evidence".to_string(), format!("{k}={v}")])
            .collect(),
        Answer::Attest(_) => vec!["--attest".into()],
        Answer::Signoff(go) => vec![
            "--signoff".into(),
            format!("op=tester:{}", if go { "GO" } else { "NO-GO" }),
        ],
        Answer::Choice(option) => vec![
            "--choice".into(),
            option,
            "--rationale".into(),
            "picked".into(),
        ],
        Answer::Reject => vec!["--reject".into()],
    }
}

/// The files in the directory rbx runs in, which a `file` evidence may
/// name.
pub(crate) const PROOF_FILES: [&str; 1] = ["proof.txt"];

/// How long before the operation that follows `done` operations the
/// operator waits, in milliseconds: the first of `downtimes` (minutes)
/// after the run, then the next, round again.
pub(crate) fn downtime(downtimes: &[u32], done: usize) -> i64 {
    match done.checked_sub(1) {
        Some(i) if !downtimes.is_empty() => i64::from(downtimes[i % downtimes.len()]) * 60_000,
        _ => 0,
    }
}

/// Everything a case needs, independent of the generator: what a fixture
/// holds besides its actions.
#[derive(Debug, Clone)]
pub(crate) struct Concrete {
    pub(crate) text: String,
    pub(crate) inputs: BTreeMap<String, Value>,
    pub(crate) fails: BTreeSet<String>,
    /// Answers file entries: node id (full or as written) → answer.
    pub(crate) answers: BTreeMap<String, String>,
    /// How many events at least between two checkpoints of the run
    /// (`RBX_CHECKPOINT_EVERY`); `None`: rbx's own number. A crash after
    /// N events counts the checkpoints' commits too.
    pub(crate) checkpoint_every: Option<u32>,
    /// The minutes that pass on the simulated clock before each operation
    /// after the first, in turn (the first after the run, then the next…,
    /// round again); none: no time passes between operations.
    pub(crate) downtimes: Vec<u32>,
}

impl Concrete {
    pub(crate) fn script(&self) -> Script {
        Script {
            fails: self.fails.clone(),
            answers: self
                .answers
                .iter()
                .map(|(k, v)| (k.clone(), model_answer(v)))
                .collect(),
            files: PROOF_FILES.iter().map(|f| f.to_string()).collect(),
        }
    }

    pub(crate) fn answers_file(&self) -> String {
        self.answers
            .iter()
            .map(|(k, v)| answers_table(k, v))
            .collect()
    }

    /// The case as a fixture: the `.toml` beside its `.runbook`.
    pub(crate) fn fixture(&self, log: &[Action], expected: &str, why: &str) -> String {
        let mut out = String::new();
        for line in why.lines() {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(out, "expected = \"{expected}\"");
        let value = |v: &Value| match v {
            Value::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| format!("\"{i}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Name(name) => format!("\"{name}\""),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
        };
        let inputs: Vec<String> = self
            .inputs
            .iter()
            .map(|(k, v)| format!("{k} = {}", value(v)))
            .collect();
        let _ = writeln!(out, "inputs = {{ {} }}", inputs.join(", "));
        let fails: Vec<String> = self.fails.iter().map(|f| format!("\"{f}\"")).collect();
        let _ = writeln!(out, "fails = [{}]", fails.join(", "));
        let answers: Vec<String> = self
            .answers
            .iter()
            .map(|(k, v)| format!("\"{k}\" = \"{v}\""))
            .collect();
        let _ = writeln!(out, "answers = {{ {} }}", answers.join(", "));
        if let Some(every) = self.checkpoint_every {
            let _ = writeln!(out, "checkpoint_every = {every}");
        }
        if !self.downtimes.is_empty() {
            let downtimes: Vec<String> = self.downtimes.iter().map(u32::to_string).collect();
            let _ = writeln!(out, "downtimes = [{}]", downtimes.join(", "));
        }
        let _ = writeln!(out, "actions = [");
        for action in log {
            let _ = writeln!(out, "  {},", action.toml());
        }
        let _ = writeln!(out, "]");
        out
    }
}

/// How a case chooses its actions: as generated (with the nodes picked as
/// the run goes, then driven to its end), or exactly as a fixture lists.
pub(crate) enum Actions<'c> {
    Generated(&'c Case),
    Listed(Vec<Action>),
}

/// What a case that passed came to.
pub(crate) struct Played {
    /// How the run stands at the end, as the model (and so the journal)
    /// says: `ended: OUTCOME`, `failed: NODE`, …
    pub(crate) end: String,
    /// Whether the model covered the whole case.
    pub(crate) covered: bool,
    /// The known engine bugs it ran into.
    pub(crate) known: BTreeSet<&'static str>,
    /// What its actions came to.
    pub(crate) seen: BTreeSet<String>,
}

/// A fixture: its case, its actions and the end the model gave it.
pub(crate) fn load(name: &str) -> (Concrete, Vec<Action>, String) {
    let dir = fixtures();
    let text = std::fs::read_to_string(dir.join(format!("{name}.runbook")))
        .expect("the fixture's runbook");
    let toml_text =
        std::fs::read_to_string(dir.join(format!("{name}.toml"))).expect("the fixture's toml");
    let table: toml::Table = toml_text.parse().expect("the fixture's toml parses");
    let strings = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let inputs = table["inputs"]
        .as_table()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::Array(_) => Value::List(strings(v)),
                toml::Value::Boolean(b) => Value::Bool(*b),
                toml::Value::Integer(n) => Value::Int(*n),
                other => Value::Name(other.as_str().unwrap_or_default().to_string()),
            };
            (k.clone(), value)
        })
        .collect();
    let answers = table["answers"]
        .as_table()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let actions = table["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let text = |key: &str| a.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let crash = a
                .get("crash")
                .and_then(|v| v.as_integer())
                .and_then(|n| u32::try_from(n).ok());
            let in_doubt = text("in_doubt").map(|p| match p.as_str() {
                "skip" => InDoubt::Skip,
                "abort" => InDoubt::Abort,
                _ => InDoubt::Rerun,
            });
            match text("op").as_deref() {
                Some("run") => Action::Run { crash },
                Some("confirm") => Action::Confirm {
                    node: text("node").unwrap_or_default(),
                    answer: text("answer").unwrap_or_default(),
                },
                Some("cancel") => Action::Cancel { crash, in_doubt },
                _ => Action::Resume {
                    crash,
                    in_doubt,
                    from: text("from"),
                },
            }
        })
        .collect();
    let concrete = Concrete {
        text,
        inputs,
        fails: strings(&table["fails"]).into_iter().collect(),
        answers,
        checkpoint_every: table
            .get("checkpoint_every")
            .and_then(toml::Value::as_integer)
            .and_then(|n| u32::try_from(n).ok()),
        downtimes: table
            .get("downtimes")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| u32::try_from(d.as_integer()?).ok())
            .collect(),
    };
    let expected = table["expected"].as_str().unwrap_or_default().to_string();
    (concrete, actions, expected)
}
