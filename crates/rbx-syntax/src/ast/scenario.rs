//! The typed tree of a scenarios file (`NAME.rbxtest`): what `rbx test`
//! gives a simulated run of a runbook, and what it expects of it.

use serde::{Deserialize, Serialize};

use crate::span::Span;

use super::{Duration, Expr, Ident, Int, Path, Stream, Text, Value};

/// `scenario ID "Title" { … }`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: Ident,
    pub title: Text,
    pub body: Vec<ScenarioStmt>,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ScenarioStmt {
    pub kind: ScenarioStmtKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ScenarioStmtKind {
    /// `set NAME = VALUE`: an input.
    Set { name: Ident, value: Value },
    /// `operator "NAME"`: who drives the simulated run.
    Operator(Text),
    /// `start "2026-12-01T09:00:00Z"`: the simulated clock's first reading.
    Start(Text),
    /// `default { … }`: the result of every step no `given` names.
    Default(Vec<ResultStmt>),
    /// `given PATTERN (attempt N)? { … }`: the result of matching steps.
    Given {
        pattern: NodePattern,
        attempt: Option<Int>,
        results: Vec<ResultStmt>,
    },
    /// `answer PATTERN { … }`: what a person answers at a node.
    Answer {
        pattern: NodePattern,
        items: Vec<AnswerItem>,
    },
    /// `earlier DURATION { … }`: a run of the same runbook started that
    /// long before this one, for `count()` rules.
    Earlier {
        ago: Duration,
        facts: Vec<(Path, Value)>,
    },
    /// `cancel at NODE`: the operator stops the run there and cancels it,
    /// as Ctrl-C and `rbx cancel` would; its compensation runs.
    Cancel(NodePattern),
    /// `expect …`: what must hold once the simulated run stops.
    Expect(Check),
}

/// A node named by its id (`smoke.doctor`), its name (`doctor`, any
/// instance), or a quoted pattern where `*` stands for any text
/// (`"smoke#2.*"`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NodePattern {
    pub text: String,
    /// Written quoted (it may hold `#`, `[` or `*`).
    pub quoted: bool,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResultStmt {
    pub kind: ResultKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ResultKind {
    Exit(Int),
    Output(Stream, Text),
    Takes(Duration),
    /// `at "TIME"`: the simulated clock reads this when the node settles.
    At(Text),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AnswerItem {
    pub kind: AnswerKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum AnswerKind {
    Choice(Ident),
    Rationale(Text),
    Evidence(Ident, Text),
    Attest(bool),
    Signoff {
        role: Ident,
        by: Text,
        go: bool,
    },
    /// Types the node's id before a point of no return.
    Confirm,
    /// The person says the step was not done: it fails.
    Reject,
    Takes(Duration),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum CheckKind {
    Outcome(Ident),
    Failed(NodePattern),
    Ran(NodePattern),
    NotRan(NodePattern),
    Attempts(NodePattern, Int),
    /// The whole path (no stage) or a stage's time within a budget.
    Within(Option<NodePattern>, Duration),
    /// The stage is expected to overrun its own `within` budget.
    Overrun(Ident),
    /// An expression over the finished run: `forge_version.version == "2.0.0"`.
    Holds(Expr),
}
