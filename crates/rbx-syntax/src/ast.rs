//! The typed syntax tree of a `.runbook` file.
//!
//! Every node a user can be blamed for carries a [`Span`]. Spans compare
//! equal to each other, so two trees are `==` when they say the same thing,
//! wherever it was written.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::span::Span;

mod scenario;

pub use scenario::*;

/// One parsed file: an entry runbook (with a header) or a fragment that
/// another file includes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct File {
    pub header: Option<Header>,
    pub items: Vec<Item>,
    /// A scenarios file's scenarios (such a file has no items).
    pub scenarios: Vec<Scenario>,
    pub comments: Vec<Comment>,
    pub span: Span,
}

/// `runbook ID "Title" { ... }`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Header {
    pub id: Ident,
    pub title: Text,
    pub span: Span,
}

/// A `#` comment, kept so the formatter can put it back.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment's text after `#`, trailing whitespace removed.
    pub text: String,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string or text block. Interpolations (`{{ path }}`) are kept apart from
/// the literal text so later stages can resolve and quote them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Text {
    pub parts: Vec<TextPart>,
    /// Written as a `"""` block rather than a one-line string.
    pub block: bool,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum TextPart {
    Literal(String),
    Interpolation(Interpolation),
}

/// `{{ path }}`, or `{{ path | shell }}`: a value put into text, passed
/// through its filters in the order written.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Interpolation {
    /// The value's name; its span covers the whole `{{ … }}`.
    pub path: Path,
    pub filters: Vec<Filter>,
}

impl Interpolation {
    /// `{{ path }}` or `{{ path | shell }}`, in canonical spacing.
    pub fn source_form(&self) -> String {
        let mut out = format!("{{{{ {}", self.path.dotted());
        for filter in &self.filters {
            out.push_str(" | ");
            out.push_str(filter.keyword());
        }
        out.push_str(" }}");
        out
    }

    /// How many times the value is quoted for a shell.
    pub fn shell_quotes(&self) -> usize {
        self.filters.iter().filter(|f| **f == Filter::Shell).count()
    }
}

/// What a filter does to an interpolated value.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// The value quoted as one POSIX shell word, for a shell that parses
    /// the command's text once more (`ssh`, `sh -c`, `eval`).
    Shell,
}

impl Filter {
    /// Every filter, for messages.
    pub const ALL: [Filter; 1] = [Filter::Shell];

    pub fn keyword(self) -> &'static str {
        match self {
            Filter::Shell => "shell",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.keyword() == word)
    }
}

impl Text {
    /// The text with interpolations written back as `{{ path }}`.
    pub fn source_form(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TextPart::Literal(text) => out.push_str(text),
                TextPart::Interpolation(interpolation) => {
                    out.push_str(&interpolation.source_form());
                }
            }
        }
        out
    }

    /// The literal text when there is no interpolation in it.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TextPart::Literal(text) => out.push_str(text),
                TextPart::Interpolation(_) => return None,
            }
        }
        Some(out)
    }

    /// The names of the values the text interpolates.
    pub fn interpolations(&self) -> impl Iterator<Item = &Path> {
        self.parts.iter().filter_map(|part| match part {
            TextPart::Interpolation(interpolation) => Some(&interpolation.path),
            TextPart::Literal(_) => None,
        })
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Duration {
    pub millis: u64,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Int {
    pub value: i64,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Regex {
    pub pattern: String,
    pub flags: String,
    pub span: Span,
}

/// A dotted name: `forge`, `version.build`, `host`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
}

// ------------------------------------------------------------ top level --

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ItemKind {
    Version(Text),
    Scope(Text),
    Policy(Text),
    Include(Text),
    Input(Input),
    Role(Role),
    Link(Link),
    Outcome(Outcome),
    Hook(Hook),
    Require(Require),
    On(Route),
    Budget(Budget),
    Stage(Stage),
    /// `finally { ... }`: the nodes that run once whenever the run ends.
    Finally(Vec<StageItem>),
}

/// `within DURATION (for STAGE, …)?` or `deadline EXPR (for STAGE, …)?`:
/// a time budget over the whole run, or over the listed stages together.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Budget {
    pub limit: Limit,
    /// Empty for the whole run.
    pub stages: Vec<Ident>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Limit {
    /// A length of time from when the run (or the first of the stages)
    /// started.
    Within(Duration),
    /// A time by which the run (or the stages) should be done.
    Deadline(Expr),
}

impl Budget {
    /// What the budget covers, in the record and in `expect overrun`:
    /// `run`, or the stages' ids joined with `+`.
    pub fn label(&self) -> String {
        if self.stages.is_empty() {
            return "run".to_string();
        }
        let names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        names.join("+")
    }
}

/// `input NAME "description"?: TYPE (= DEFAULT)?`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Input {
    pub name: Ident,
    pub description: Option<Text>,
    pub ty: InputType,
    pub default: Option<Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InputType {
    pub kind: InputTypeKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    String,
    Int,
    Bool,
    Duration,
    /// A point in time, written in RFC 3339 with its offset.
    Timestamp,
    Secret,
    /// A host name or address, optionally `user@host`: text that cannot
    /// hold shell syntax or start with `-`, so it is safe wherever a
    /// command parses it again (`ssh {{ host }} …`).
    Host,
    /// A shell command line, run as code where a command hands it to a
    /// shell (`sh -c {{ freeze_cmd }}`): whoever sets it can run anything.
    Command,
}

impl ScalarType {
    pub fn keyword(self) -> &'static str {
        match self {
            ScalarType::String => "string",
            ScalarType::Int => "int",
            ScalarType::Bool => "bool",
            ScalarType::Duration => "duration",
            ScalarType::Timestamp => "timestamp",
            ScalarType::Secret => "secret",
            ScalarType::Host => "host",
            ScalarType::Command => "command",
        }
    }
}

/// Checks that `text` is a host: letters, digits and `. _ - : @ %` (a
/// name, an IPv4 or IPv6 address, `user@host`), not empty and not starting
/// with `-`. `Err` says what is wrong, as a lowercase fragment.
pub fn check_host(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("a host cannot be empty".to_string());
    }
    if text.starts_with('-') {
        return Err(format!(
            "`{text}` starts with `-`, which a command would read as an option"
        ));
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@' | '%')))
    {
        Some(c) => Err(format!(
            "`{text}` has `{}` in it; a host has only letters, digits and . _ - : @ %",
            c.escape_debug()
        )),
        None => Ok(()),
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum InputTypeKind {
    Scalar(ScalarType),
    Enum(Vec<Ident>),
    List(ScalarType),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ValueKind {
    String(Text),
    Int(i64),
    Bool(bool),
    Duration(u64),
    Name(Ident),
    List(Vec<Value>),
}

/// `role ID "Title" { person "..." contact "..." backup "..." }`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Role {
    pub id: Ident,
    pub title: Text,
    /// `None` when the role has no body at all (filled in at run time).
    pub fields: Option<Vec<RoleField>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RoleField {
    pub kind: RoleFieldKind,
    pub value: Text,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleFieldKind {
    Person,
    Contact,
    Backup,
    /// Who may sign for the role: the operator rbx records (on PostgreSQL,
    /// the authenticated database role). One line per identity.
    Identity,
}

impl RoleFieldKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RoleFieldKind::Person => "person",
            RoleFieldKind::Contact => "contact",
            RoleFieldKind::Backup => "backup",
            RoleFieldKind::Identity => "identity",
        }
    }
}

/// `link ID "Title" (= "target")?`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Link {
    pub id: Ident,
    pub title: Text,
    pub target: Option<Text>,
}

/// `outcome NAME "description"? success|failure`: whether a run that ends
/// with this outcome succeeded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Outcome {
    pub name: Ident,
    pub description: Option<Text>,
    pub success: bool,
}

/// `hook EVENT "command"`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hook {
    pub event: HookEvent,
    pub command: Text,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookEvent {
    Pause,
    Overrun,
    Failure,
    End,
    /// A step's attempt starts (after `node_started` is recorded).
    Start,
    /// A step settles, succeeded or failed.
    Finish,
}

impl HookEvent {
    pub fn keyword(self) -> &'static str {
        match self {
            HookEvent::Pause => "pause",
            HookEvent::Overrun => "overrun",
            HookEvent::Failure => "failure",
            HookEvent::End => "end",
            HookEvent::Start => "start",
            HookEvent::Finish => "finish",
        }
    }
}

/// `require role ID`, `require link ID` or `require EXPR`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Require {
    Role(Ident),
    Link(Ident),
    Expr(Expr),
}

/// `on failure -> TARGET`, `on cancel -> TARGET`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Route {
    pub event: RouteEvent,
    pub target: Target,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteEvent {
    Failure,
    Cancel,
}

impl RouteEvent {
    pub fn keyword(self) -> &'static str {
        match self {
            RouteEvent::Failure => "failure",
            RouteEvent::Cancel => "cancel",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Target {
    pub kind: TargetKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// Go on with the named stage.
    Stage(Ident),
    /// Stop with the named terminal outcome.
    End(Ident),
    /// Go on with the next item of the current stage (decisions only).
    Continue,
}

// --------------------------------------------------------------- stages --

/// `stage ID (PARAMS)? "Title" (within DURATION)? { ... }`
#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct Stage {
    pub id: Ident,
    /// `None` for a plain stage; `Some` (perhaps empty) for a stage that
    /// runs only where `call` invokes it.
    pub params: Option<Vec<Param>>,
    pub title: Text,
    pub within: Option<Duration>,
    pub items: Vec<StageItem>,
}

/// A plain stage's tree shows no `params`: most stages have none.
impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Stage");
        out.field("id", &self.id);
        if let Some(params) = &self.params {
            out.field("params", params);
        }
        out.field("title", &self.title)
            .field("within", &self.within)
            .field("items", &self.items)
            .finish()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StageItem {
    pub kind: StageItemKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum StageItemKind {
    Require(Require),
    On(Route),
    /// `then STAGE`
    Then(Ident),
    /// `end OUTCOME`
    End(Ident),
    /// Shared with the checked graph's node of it, which holds the same
    /// tree rather than a copy.
    Block(Arc<Block>),
    Anchor(Anchor),
    Checklist(Checklist),
    Foreach(Foreach),
    Parallel(Parallel),
    Again(Again),
    Repeat(Repeat),
    Every(Every),
    /// `finally { ... }` in a stage: the stage's clean-up, run whenever the
    /// stage is left, as it ends, fails or is cancelled.
    Finally(Vec<StageItem>),
    Call(Call),
}

impl StageItemKind {
    /// The items written inside this one: a loop's, a block's, a
    /// checklist's, a `repeat`'s, an `every`'s or a clean-up's body; none
    /// for a node or a statement. A walk over every node of a stage goes
    /// through this, so that a new kind of body is not missed.
    pub fn nested(&self) -> &[StageItem] {
        match self {
            StageItemKind::Checklist(list) => &list.items,
            StageItemKind::Foreach(foreach) => &foreach.items,
            StageItemKind::Parallel(parallel) => &parallel.items,
            StageItemKind::Repeat(repeat) => &repeat.items,
            StageItemKind::Every(every) => &every.items,
            StageItemKind::Finally(items) => items,
            StageItemKind::Require(_)
            | StageItemKind::On(_)
            | StageItemKind::Then(_)
            | StageItemKind::End(_)
            | StageItemKind::Block(_)
            | StageItemKind::Anchor(_)
            | StageItemKind::Again(_)
            | StageItemKind::Call(_) => &[],
        }
    }

    /// The items written inside this one, to change them: as
    /// [`StageItemKind::nested`] gives them.
    pub fn nested_mut(&mut self) -> &mut [StageItem] {
        match self {
            StageItemKind::Checklist(list) => &mut list.items,
            StageItemKind::Foreach(foreach) => &mut foreach.items,
            StageItemKind::Parallel(parallel) => &mut parallel.items,
            StageItemKind::Repeat(repeat) => &mut repeat.items,
            StageItemKind::Every(every) => &mut every.items,
            StageItemKind::Finally(items) => items,
            StageItemKind::Require(_)
            | StageItemKind::On(_)
            | StageItemKind::Then(_)
            | StageItemKind::End(_)
            | StageItemKind::Block(_)
            | StageItemKind::Anchor(_)
            | StageItemKind::Again(_)
            | StageItemKind::Call(_) => &mut [],
        }
    }
}

/// A node with a statement body: step, manual, gate, signoff, decide,
/// choose or wait. Which statements each kind accepts is the grammar's job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: BlockKind,
    pub id: Ident,
    pub title: Text,
    pub body: Vec<Stmt>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    Step,
    Manual,
    Gate,
    Signoff,
    Decide,
    Choose,
    Wait,
    /// `child ID "Title" { runbook "PATH" input NAME = EXPR … }`: another
    /// runbook run as a child run, whose outcome is this node's.
    Child,
}

impl Block {
    /// The node's own condition (`when EXPR`), if it has one.
    pub fn condition(&self) -> Option<&Expr> {
        self.body.iter().find_map(|stmt| match &stmt.kind {
            StmtKind::Condition(condition) => Some(condition),
            _ => None,
        })
    }
}

impl Block {
    /// A `child`'s `runbook "PATH"`, if it has one.
    pub fn child_runbook(&self) -> Option<&Text> {
        self.body.iter().find_map(|stmt| match &stmt.kind {
            StmtKind::Runbook(path) => Some(path),
            _ => None,
        })
    }

    /// A `child`'s `input NAME = EXPR` lines, in the order written.
    pub fn child_inputs(&self) -> impl Iterator<Item = &Arg> {
        self.body.iter().filter_map(|stmt| match &stmt.kind {
            StmtKind::ChildInput(arg) => Some(arg),
            _ => None,
        })
    }
}

impl BlockKind {
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Step => "step",
            BlockKind::Manual => "manual",
            BlockKind::Gate => "gate",
            BlockKind::Signoff => "signoff",
            BlockKind::Decide => "decide",
            BlockKind::Choose => "choose",
            BlockKind::Wait => "wait",
            BlockKind::Child => "child",
        }
    }
}

/// `anchor ID "Title" (at EXPR)?`: records the time it is reached, or
/// the time `EXPR` gives.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Anchor {
    pub id: Ident,
    pub title: Text,
    pub at: Option<Expr>,
}

/// `checklist ID "Title" fail-fast? { ... }`: every item runs, each
/// whatever the one before did (or, `fail-fast`, up to the first that
/// fails); the checklist fails after them if any failed, naming each.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Checklist {
    pub id: Ident,
    pub title: Text,
    pub fail_fast: bool,
    pub items: Vec<StageItem>,
}

/// `foreach VAR in LIST (parallel N)? (tolerate T)? { ... }`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Foreach {
    pub var: Ident,
    pub list: Path,
    pub parallel: Option<Int>,
    /// `parallel EXPR` with an expression rather than a number.
    pub parallel_expr: Option<Expr>,
    pub tolerate: Option<Tolerate>,
    /// `when EXPR`: the whole loop runs only when it holds.
    pub condition: Option<Expr>,
    pub items: Vec<StageItem>,
}

/// `parallel (N)? (tolerate T)? { ... }`: each item is a branch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Parallel {
    /// How many branches run at once; every branch when absent.
    pub at_once: Option<Int>,
    /// `parallel EXPR` with an expression rather than a number.
    pub at_once_expr: Option<Expr>,
    pub tolerate: Option<Tolerate>,
    /// `when EXPR`: the whole block runs only when it holds.
    pub condition: Option<Expr>,
    pub items: Vec<StageItem>,
}

/// `tolerate 2` or `tolerate 10%`: how many failed items (or branches) a
/// `foreach` or `parallel` block lets pass.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Tolerate {
    pub amount: i64,
    /// Whether `amount` is a percentage of the items.
    pub percent: bool,
    pub span: Span,
}

impl Tolerate {
    /// Whether `failed` of `total` items stay within the tolerance: at
    /// most `amount` items, or at most `amount` percent of them.
    pub fn allows(&self, failed: usize, total: usize) -> bool {
        let (failed, total) = (failed as i128, total as i128);
        if self.percent {
            failed * 100 <= i128::from(self.amount) * total
        } else {
            failed <= i128::from(self.amount)
        }
    }

    /// `2` or `10%`, as written.
    pub fn source_form(&self) -> String {
        if self.percent {
            format!("{}%", self.amount)
        } else {
            self.amount.to_string()
        }
    }
}

/// `repeat at most N until EXPR { ... }`: the items run as iterations,
/// one after the other, until `until` holds after one, at most `N` times.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Repeat {
    /// The bound; lint refuses a `repeat` without one.
    pub at_most: Option<Int>,
    pub until: Expr,
    pub items: Vec<StageItem>,
}

/// `every INTERVAL (at most N)? { ... }`: the items run once per interval,
/// beside the items written after the block, until those have settled.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Every {
    /// A duration, or an expression of the inputs giving one.
    pub interval: Expr,
    /// How many iterations at most; without it, `every::DEFAULT_BOUND`.
    pub at_most: Option<Int>,
    pub items: Vec<StageItem>,
}

/// `again STAGE (on failure -> TARGET)*`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Again {
    pub stage: Ident,
    /// `when EXPR`: the instance runs only when it holds.
    pub condition: Option<Expr>,
    pub routes: Vec<SpannedRoute>,
}

/// `NAME: TYPE`, a parameter of a stage: a typed value its body reads as
/// it reads an input.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: InputType,
}

/// `call STAGE(NAME = EXPR, …) { on failure -> TARGET }`: a fresh
/// instance of a stage with parameters, in place, its arguments named.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Call {
    pub stage: Ident,
    pub args: Vec<Arg>,
    /// `when EXPR`: the instance runs only when it holds.
    pub condition: Option<Expr>,
    pub routes: Vec<SpannedRoute>,
    /// From the stage's name to the closing parenthesis.
    pub span: Span,
}

/// `NAME = EXPR`, an argument of a `call`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SpannedRoute {
    pub route: Route,
    pub span: Span,
}

// ------------------------------------------------------------ statements --

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum StmtKind {
    Owner(Ident),
    Require(Require),
    On(Route),
    Run(Text),
    Timeout(Duration),
    /// `timeout EXPR` with anything but a duration literal: a duration
    /// computed when the node starts (`timeout budget * 2`).
    TimeoutExpr(Expr),
    Retry(Retry),
    ExpectExit(Vec<Int>),
    ExpectStream(ExpectStream),
    Capture(Capture),
    Keep(Stream),
    Idempotent,
    /// `acknowledge`: a manual step asks only whether it was done.
    Acknowledge,
    /// `assign ROLE = EVIDENCE`: the person a manual step's answer names
    /// in its string evidence fills the role for the rest of the run.
    Assign {
        role: Ident,
        evidence: Ident,
    },
    Verify(Text),
    Irreversible(Option<Text>),
    Instructions(Text),
    Evidence(Evidence),
    Attest {
        role: Ident,
        statement: Text,
    },
    By(Vec<Ident>),
    Approvers(Int),
    NoSelfApproval,
    When {
        condition: Expr,
        target: Target,
    },
    /// `when EXPR` with no arrow: the node's own condition. When it does
    /// not hold, the node is skipped and its flow goes on.
    Condition(Expr),
    Otherwise(Target),
    Option(ChoiceOption),
    Every(Duration),
    Until(Expr),
    /// `runbook "PATH"` in a `child`: the runbook it runs, relative to the
    /// file that holds the `child`.
    Runbook(Text),
    /// `input NAME = EXPR` in a `child`: a value for one of the child
    /// runbook's inputs, read in the parent's scope.
    ChildInput(Arg),
}

/// `retry N (backoff DURATION (fixed|exponential)? (max DURATION)?
/// jitter?)? (on exit N, …)?`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Retry {
    pub count: Int,
    pub backoff: Option<Backoff>,
    /// The exit statuses that earn another attempt; empty for any failure.
    pub on_exit: Vec<Int>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Backoff {
    pub delay: Duration,
    /// `None` when not written; the default is exponential.
    pub kind: Option<BackoffKind>,
    /// `max DURATION`: no delay is longer.
    pub max: Option<Duration>,
    /// `jitter`: each delay is drawn between half of it and all of it.
    pub jitter: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackoffKind {
    Fixed,
    Exponential,
}

impl BackoffKind {
    pub fn keyword(self) -> &'static str {
        match self {
            BackoffKind::Fixed => "fixed",
            BackoffKind::Exponential => "exponential",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn keyword(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// `expect stdout ~ /re/`, `expect stderr !~ /re/`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ExpectStream {
    pub stream: Stream,
    pub negated: bool,
    pub regex: Regex,
}

/// `capture NAME(: TYPE)? = STREAM ~ /re/` or `= STREAM json "path"`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Capture {
    pub name: Ident,
    pub ty: Option<CaptureType>,
    pub stream: Stream,
    pub source: CaptureSource,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureType {
    String,
    Int,
    Bool,
    Duration,
    Timestamp,
    /// `list` or `list(T)`: a JSON array, every line, or every match, each
    /// item of the scalar type `T` (`string` when not written).
    List(ScalarType),
}

impl CaptureType {
    /// The type as written: `int`, `list(int)`; `list` for a list of strings.
    pub fn written(self) -> String {
        match self {
            CaptureType::List(ScalarType::String) => "list".to_string(),
            CaptureType::List(item) => format!("list({})", item.keyword()),
            scalar => scalar.keyword().to_string(),
        }
    }

    /// The keyword of a scalar capture type, or `list`.
    pub fn keyword(self) -> &'static str {
        match self {
            CaptureType::String => "string",
            CaptureType::Int => "int",
            CaptureType::Bool => "bool",
            CaptureType::Duration => "duration",
            CaptureType::Timestamp => "timestamp",
            CaptureType::List(_) => "list",
        }
    }

    /// The scalar type a value (or each item of a list) is read as.
    pub fn item(self) -> ScalarType {
        match self {
            CaptureType::String => ScalarType::String,
            CaptureType::Int => ScalarType::Int,
            CaptureType::Bool => ScalarType::Bool,
            CaptureType::Duration => ScalarType::Duration,
            CaptureType::Timestamp => ScalarType::Timestamp,
            CaptureType::List(item) => item,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum CaptureSource {
    /// The first capture group of the regex (or the whole match without one).
    Regex(Regex),
    /// A dotted field path into the stream parsed as JSON.
    Json(Text),
    /// Every non-empty line of the stream, trimmed (a `list` capture only).
    Lines,
}

/// `evidence NAME "prompt": TYPE optional?`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Evidence {
    pub name: Ident,
    pub prompt: Text,
    pub ty: EvidenceType,
    pub optional: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum EvidenceType {
    Text,
    Url,
    File,
    /// A whole number.
    Int,
    /// Yes or no.
    Bool,
    Choice(Vec<Ident>),
    /// Any number of the listed names, in the order listed: a multi-choice.
    Choices(Vec<Ident>),
}

/// `option NAME "description" -> TARGET`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ChoiceOption {
    pub name: Ident,
    pub description: Text,
    pub target: Target,
}

// ----------------------------------------------------------- expressions --

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Chains of `or`, `and`, `+` and `-` are kept flat, so a long chain is a
/// long vector rather than a deep tree.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ExprKind {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        lhs: Box<Expr>,
        op: CompareOp,
        rhs: Box<Expr>,
    },
    Sum {
        first: Box<Expr>,
        rest: Vec<(SumOp, Expr)>,
    },
    /// `a * b * c`: multiplication, binding tighter than `+` (a duration
    /// times an int, an int times an int).
    Product(Vec<Expr>),
    Paren(Box<Expr>),
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    Path(Path),
    String(Text),
    Int(i64),
    Bool(bool),
    Duration(u64),
    Regex(Regex),
    /// `[a, b, c]`: a list of values of one type.
    List(Vec<Expr>),
    /// `a ?? b ?? c`: the first operand that has a value (a capture of a
    /// step that did not run, optional evidence left out, has none). Kept
    /// flat, like `or`.
    Default(Vec<Expr>),
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    NotMatch,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Match => "~",
            CompareOp::NotMatch => "!~",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SumOp {
    Add,
    Sub,
}

impl SumOp {
    pub fn symbol(self) -> &'static str {
        match self {
            SumOp::Add => "+",
            SumOp::Sub => "-",
        }
    }
}
