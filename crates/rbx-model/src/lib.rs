//! A reference model of rbx's execution rules: a small interpreter of
//! "The rules" in `book/src/reference/execution.md`, over the checked
//! graph, written for clarity and kept apart from the engine, so that
//! property tests can run the same runbook through both and compare.
//!
//! The model runs one node at a time (the order `--jobs 1` promises,
//! rule R5: nodes start in the order they became ready; nodes that become
//! ready together start in the order they are written). It knows nothing of
//! processes: a [`Script`] says which steps fail and how people answer, and
//! a simulated clock says what time it is (each step's command takes a
//! known time, and the time between operations is set from outside). What a run does is a list of [`Event`]s, the journal's
//! vocabulary without its bookkeeping, and the model's state is what those
//! events replay to — so the model can also be brought to the state a real
//! journal describes ([`Model::apply`]) and asked what the next operation
//! should do from there (rule S3).
//!
//! Architecture invariant: this crate never depends on `rbx-engine`; it
//! shares only the checked graph and the syntax tree.

mod cleanup;
mod clock;
mod drive;
mod eval;
mod every;
mod evidence;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::{BlockKind, StmtKind};

use plan::Plan;

/// An input's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A `list(string)`, for `foreach`.
    List(Vec<String>),
    /// An `enum` member.
    Name(String),
    Bool(bool),
    /// An `int`, for `parallel EXPR`.
    Int(i64),
}

pub type Inputs = BTreeMap<String, Value>;

/// What the world does when the run gets there.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Full ids of the step instances whose command fails.
    pub fails: BTreeSet<String>,
    /// Answers given ahead of time, as an answers file gives them: by a
    /// node's full id, else by its id in the runbook (rule P1). A person's
    /// node with no answer here pauses the run.
    pub answers: BTreeMap<String, Answer>,
    /// The paths of the files rbx can read: what a `file` evidence may
    /// name.
    pub files: BTreeSet<String>,
}

/// A person's answer to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A manual step's evidence: name and value.
    Evidence(BTreeMap<String, String>),
    /// A gate's attestations: made or not.
    Attest(bool),
    /// A sign-off: GO or NO-GO.
    Signoff(bool),
    /// A choice's option.
    Choice(String),
    /// The person says it was not done.
    Reject,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    #[default]
    Pending,
    /// Started and not finished: in doubt once the run stopped.
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl Status {
    pub fn settled(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }
}

/// Who settled a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum By {
    /// rbx: a command, a decision, a stage's requirements.
    Rbx,
    /// A person's answer, from an answers file or `rbx confirm`.
    Person,
    /// The operator: an in-doubt step said to be done, or a cancel.
    Operator,
}

/// How a run stopped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// E1: with this outcome.
    Ended(String),
    /// E2: at this node.
    Failed(String),
    /// P1: at this node, for a person.
    Paused(String),
}

/// One thing a run does, as its journal records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A step's command started.
    Started(String),
    Settled {
        node: String,
        status: Status,
        by: By,
        /// The branch a decision or choice took.
        branch: Option<String>,
        /// A manual step's evidence (rule P3).
        answers: BTreeMap<String, String>,
    },
    Skipped(String),
    /// A node skipped because its own `when` condition (as written) did
    /// not hold: settled, and its flow goes on past it (C1).
    Bypassed {
        node: String,
        condition: String,
    },
    /// L2: `flow` was left by the settlement of `by`.
    Left {
        flow: String,
        by: String,
    },
    /// Nodes made pending again: a failed run re-driven (S5) or `--from`.
    Reset(Vec<String>),
    /// An in-doubt step to be run again (`rerun`) or taken as done.
    InDoubt {
        node: String,
        rerun: bool,
    },
    /// The run is driven again (`rbx resume`).
    Resumed,
    /// The operator cancelled the run; the next drive runs the
    /// compensation.
    Cancelled,
    /// X1: the run's end is decided and its `finally` block starts; how
    /// the run would end (an outcome, `cancelled` included, or the node
    /// whose failure failed it).
    FinallyStarted(Stop),
    /// X4: a re-driven run runs its clean-up again at its new end, and
    /// the stages' clean-ups that end began (Y4).
    FinallyCleared,
    /// Y2, Y3: the clean-up of a stage instance (named by its start)
    /// begins, once the instance is left or at the run's end.
    CleanupStarted {
        instance: String,
        at_end: bool,
    },
    /// Y4: instances run again from inside by `--from`, whose clean-ups
    /// begin again when they are next left.
    CleanupsReset(Vec<String>),
    /// V2: the tick's due time (milliseconds since the epoch) is recorded;
    /// it waits for it.
    Due {
        tick: String,
        due: i64,
    },
    /// V4: the tick is skipped as missed: its period passed without it
    /// starting.
    Missed {
        tick: String,
        due: i64,
    },
    /// V3: the tick and every later iteration of its `every` are skipped:
    /// their nodes not settled yet, in one event.
    EveryStopped {
        tick: String,
        skipped: Vec<String>,
    },
    Stopped(Stop),
}

/// What to do with an in-doubt step that is not `idempotent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubt {
    Rerun,
    Skip,
    Abort,
}

/// An operation on a run, as the CLI offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Run,
    Resume {
        in_doubt: Option<InDoubt>,
        from: Option<String>,
    },
    Confirm {
        node: String,
        answer: Answer,
    },
    Cancel {
        in_doubt: Option<InDoubt>,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stopped(Stop),
    /// A resume found a step in doubt and no policy for it.
    NeedsDecision(String),
    /// Refused, with nothing more recorded than the events returned.
    Refused(String),
    /// A confirmation was recorded.
    Recorded,
}

/// What one operation did.
#[derive(Debug, Clone)]
pub struct Done {
    pub events: Vec<Event>,
    pub outcome: Outcome,
}

/// A shape the rules call an error, or one the model does not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// E3: nothing left to run and no outcome.
    Broken(String),
    /// Outside what the model covers (or what the rules say).
    Unsupported(String),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Broken(why) => write!(f, "the run breaks (E3): {why}"),
            ModelError::Unsupported(what) => write!(f, "not covered by the model: {what}"),
        }
    }
}

/// What a node is, for whoever writes its script.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub id: String,
    /// The id written in the runbook (`check` for `s#2.check[a]`).
    pub name: String,
    pub items: Vec<(String, String)>,
    pub kind: Kind,
    /// A choice's options, in the order written.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    StageStart,
    Step,
    /// A manual step, a gate with `attest`, a sign-off or a choice.
    Person(BlockKind),
    /// A decision, a gate of `require` lines, an anchor.
    Other,
    Outcome,
}

#[derive(Debug, Clone, Default)]
struct NodeState {
    status: Status,
    /// In doubt, and to be run again in this drive. The journal's replay
    /// keeps such a step in doubt until it starts again: a drive that stops
    /// first leaves it in doubt for the next resume to decide again.
    rerun: bool,
    /// The order nodes settled in, for "the one that finished last".
    seq: u64,
    branch: Option<String>,
    answers: BTreeMap<String, String>,
    /// Skipped by its own condition, rather than because no control
    /// reached it.
    bypassed: bool,
}

/// How the run stands between operations.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Run {
    Going,
    Stopped(Stop),
    /// Cancelled, and the compensation not yet under way.
    Cancelled,
}

/// The model of one run of one checked runbook.
#[derive(Debug, Clone)]
pub struct Model<'g> {
    graph: &'g Graph,
    plan: Plan,
    inputs: Inputs,
    nodes: Vec<NodeState>,
    /// L2: each flow left, and the node whose settlement left it: the
    /// first settlement that takes a route out of the flow. Derived from
    /// the settlements, whether or not the journal has said so yet.
    left: BTreeMap<String, usize>,
    /// The flows whose `flow_left` the journal holds.
    recorded: BTreeMap<String, usize>,
    run: Run,
    seq: u64,
    /// Nodes that started a command or were answered by a person, ever.
    executed: BTreeSet<String>,
    /// X1: how the run ends once its `finally` block is over.
    finally: Option<Stop>,
    /// Y2, Y3: each instance whose clean-up has begun, and whether the
    /// run's end began it.
    cleanups: BTreeMap<usize, bool>,
    /// V2: the ticks whose due time is recorded, and that time.
    dues: BTreeMap<usize, i64>,
    /// The simulated clock, in milliseconds since the epoch.
    now: i64,
    /// How long each step's command takes on that clock.
    step_ms: i64,
    /// When each node settled, for V3 (the work beside an `every` settled
    /// after a tick's due time).
    finished: BTreeMap<usize, i64>,
}

/// One item a node starts (rule R4), for the checks over a journal.
#[derive(Debug, Clone)]
pub struct ItemTurn {
    /// How many items may be unfinished at once.
    pub at_once: usize,
    /// The nodes of the node's own item.
    pub own: Vec<String>,
    /// The nodes of each item before it, in order.
    pub before: Vec<Vec<String>>,
    /// Each node of a stage's clean-up among them, and the start of the
    /// instance it cleans up: a clean-up whose instance's start settled
    /// without succeeding never runs, and counts as finished (Y1).
    pub cleaning: BTreeMap<String, String>,
}

/// Where a run stands: what the model computes for a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// How it last stopped, if it did and was not resumed since.
    pub stop: Option<Stop>,
    /// Every node that started a command or was answered.
    pub executed: BTreeSet<String>,
    /// Every node that settled, with its status; the others never did.
    pub settled: BTreeMap<String, Status>,
    /// Each flow left, and the node whose settlement left it.
    pub left: BTreeMap<String, String>,
    /// Each instance whose clean-up has begun, and whether the run's end
    /// began it (Y2, Y3).
    pub cleanups: BTreeMap<String, bool>,
}

impl NodeState {
    /// Whether the node is still to run in this drive.
    fn pending(&self) -> bool {
        self.status == Status::Pending || (self.status == Status::Running && self.rerun)
    }
}

impl<'g> Model<'g> {
    pub fn new(graph: &'g Graph, inputs: Inputs) -> Result<Model<'g>, ModelError> {
        let plan = Plan::expand(graph, &inputs)?;
        Ok(Model {
            graph,
            nodes: vec![NodeState::default(); plan.nodes.len()],
            plan,
            inputs,
            left: BTreeMap::new(),
            recorded: BTreeMap::new(),
            run: Run::Going,
            seq: 0,
            executed: BTreeSet::new(),
            finally: None,
            cleanups: BTreeMap::new(),
            dues: BTreeMap::new(),
            now: 0,
            step_ms: 0,
            finished: BTreeMap::new(),
        })
    }

    /// What the run has come to so far.
    pub fn summary(&self) -> Summary {
        Summary {
            stop: self.stopped().cloned(),
            executed: self.executed.clone(),
            settled: (0..self.nodes.len())
                .filter(|&x| self.nodes[x].status.settled())
                .map(|x| (self.plan.nodes[x].id.clone(), self.nodes[x].status))
                .collect(),
            left: self.left(),
            cleanups: self
                .cleanups
                .iter()
                .map(|(&s, &at_end)| (self.plan.nodes[s].id.clone(), at_end))
                .collect(),
        }
    }

    /// Every node of the run, in the order written.
    pub fn nodes(&self) -> Vec<NodeView> {
        (0..self.plan.nodes.len()).map(|x| self.view(x)).collect()
    }

    fn view(&self, x: usize) -> NodeView {
        let node = &self.plan.nodes[x];
        let check = &self.graph.graph[node.check];
        let mut options = Vec::new();
        let (name, kind) = match &check.kind {
            NodeKind::StageStart { stage, .. } => (stage.clone(), Kind::StageStart),
            NodeKind::End { .. } => (check.id.clone(), Kind::Outcome),
            NodeKind::Anchor(anchor) => (anchor.id.name.clone(), Kind::Other),
            NodeKind::Checklist { name, .. } => (name.clone(), Kind::Other),
            NodeKind::Tally { .. }
            | NodeKind::Until { .. }
            | NodeKind::Tick { .. }
            | NodeKind::Guard { .. } => (check.id.clone(), Kind::Other),
            NodeKind::Block(block) => {
                let attests = block
                    .body
                    .iter()
                    .any(|s| matches!(s.kind, StmtKind::Attest { .. }));
                let kind = match block.kind {
                    // A child node settles as its child run ended: to the
                    // parent's rules it is a step whose outcome is given.
                    BlockKind::Step | BlockKind::Child => Kind::Step,
                    BlockKind::Manual | BlockKind::Signoff | BlockKind::Choose => {
                        Kind::Person(block.kind)
                    }
                    BlockKind::Gate if attests => Kind::Person(block.kind),
                    BlockKind::Gate | BlockKind::Decide | BlockKind::Wait => Kind::Other,
                };
                for stmt in &block.body {
                    if let StmtKind::Option(option) = &stmt.kind {
                        options.push(option.name.name.clone());
                    }
                }
                (block.id.name.clone(), kind)
            }
        };
        NodeView {
            id: node.id.clone(),
            name,
            items: node.items.clone(),
            kind,
            options,
        }
    }

    /// The node's status now.
    pub fn status(&self, id: &str) -> Status {
        self.plan
            .index(id)
            .map_or(Status::Pending, |x| self.nodes[x].status)
    }

    /// The flows left so far, and by which node (L2).
    pub fn left(&self) -> BTreeMap<String, String> {
        self.left
            .iter()
            .map(|(flow, by)| (flow.clone(), self.plan.nodes[*by].id.clone()))
            .collect()
    }

    /// How the run last stopped, if it did and was not resumed since.
    pub fn stopped(&self) -> Option<&Stop> {
        match &self.run {
            Run::Stopped(stop) => Some(stop),
            Run::Going | Run::Cancelled => None,
        }
    }

    /// What a node waits for before it is considered (R1): its
    /// predecessors.
    pub fn waits_for(&self, id: &str) -> Vec<String> {
        let Some(x) = self.plan.index(id) else {
            return Vec::new();
        };
        self.plan.preds[x]
            .iter()
            .map(|(p, _)| self.plan.nodes[*p].id.clone())
            .collect()
    }

    /// The items a node starts (R4), each as how many items may be
    /// unfinished at once, the nodes of its own item, and those of every
    /// item before it.
    pub fn items_it_starts(&self, id: &str) -> Vec<ItemTurn> {
        let Some(x) = self.plan.index(id) else {
            return Vec::new();
        };
        let ids = |nodes: &Vec<usize>| -> Vec<String> {
            nodes
                .iter()
                .map(|&m| self.plan.nodes[m].id.clone())
                .collect()
        };
        self.plan
            .starts(x)
            .into_iter()
            .map(|(group, item)| {
                let g = &self.plan.groups[group];
                let cleaning = g.items[..item]
                    .iter()
                    .flatten()
                    .filter_map(|&m| {
                        let s = self.plan.scopes.cleans(m)?;
                        Some((self.plan.nodes[m].id.clone(), self.plan.nodes[s].id.clone()))
                    })
                    .collect();
                ItemTurn {
                    at_once: g.at_once,
                    own: ids(&g.items[item]),
                    before: g.items[..item].iter().map(ids).collect(),
                    cleaning,
                }
            })
            .collect()
    }

    /// Brings the model to the state after `event`, as a journal replays:
    /// the same transitions the model's own operations make.
    pub fn apply(&mut self, event: &Event) {
        if !self.apply_to_node(event) {
            self.apply_to_run(event);
        }
        self.derive_left();
    }

    /// A finished node's new state: the next in the order of settlements.
    fn finish_node(&mut self, x: usize, state: NodeState) {
        self.seq += 1;
        self.finished.insert(x, self.now);
        self.nodes[x] = NodeState {
            seq: self.seq,
            ..state
        };
    }

    /// `apply` of an event about nodes; false for any other.
    fn apply_to_node(&mut self, event: &Event) -> bool {
        let index = |id: &str| self.plan.index(id);
        match event {
            Event::Started(id) => {
                if let Some(x) = index(id) {
                    self.nodes[x].status = Status::Running;
                    self.nodes[x].rerun = false;
                }
                self.executed.insert(id.clone());
            }
            Event::Settled {
                node,
                status,
                by,
                branch,
                answers,
            } => {
                if *by == By::Person {
                    self.executed.insert(node.clone());
                }
                if *status == Status::Cancelled {
                    self.run = Run::Going;
                }
                if let Some(x) = index(node) {
                    let state = NodeState {
                        status: *status,
                        branch: branch.clone(),
                        answers: answers.clone(),
                        ..NodeState::default()
                    };
                    self.finish_node(x, state);
                }
            }
            Event::Skipped(id) | Event::Missed { tick: id, .. } => {
                if let Some(x) = index(id) {
                    let skipped = NodeState {
                        status: Status::Skipped,
                        ..NodeState::default()
                    };
                    self.finish_node(x, skipped);
                }
            }
            Event::Bypassed { node, .. } => {
                if let Some(x) = index(node) {
                    let bypassed = NodeState {
                        status: Status::Skipped,
                        bypassed: true,
                        ..NodeState::default()
                    };
                    self.finish_node(x, bypassed);
                }
            }
            Event::Reset(ids) => {
                let reset: Vec<usize> = ids.iter().filter_map(|id| index(id)).collect();
                // A flow left by a node run again is not left any more.
                self.recorded.retain(|_, by| !reset.contains(by));
                for x in reset {
                    self.nodes[x] = NodeState::default();
                    self.dues.remove(&x);
                }
                self.run = Run::Going;
            }
            Event::InDoubt { node, rerun: true } => {
                if let Some(x) = index(node) {
                    self.nodes[x].rerun = true;
                }
            }
            Event::InDoubt { rerun: false, .. } => {}
            Event::Due { tick, due } => {
                if let Some(x) = index(tick) {
                    self.dues.insert(x, *due);
                }
            }
            Event::EveryStopped { skipped, .. } => {
                // One settlement: every skipped iteration shares its place.
                self.seq += 1;
                for x in skipped.iter().filter_map(|id| index(id)) {
                    self.finished.insert(x, self.now);
                    self.nodes[x] = NodeState {
                        status: Status::Skipped,
                        seq: self.seq,
                        ..NodeState::default()
                    };
                }
            }
            _ => return false,
        }
        true
    }

    /// `apply` of an event about the run, its flows and its clean-ups.
    fn apply_to_run(&mut self, event: &Event) {
        let index = |id: &str| self.plan.index(id);
        match event {
            Event::Left { flow, by } => {
                if let Some(x) = index(by) {
                    self.recorded.entry(flow.clone()).or_insert(x);
                }
            }
            Event::Resumed => {
                // A new drive decides again about every step in doubt.
                for node in &mut self.nodes {
                    node.rerun = false;
                }
                // S5: a failed run stays failed until its re-drive (the
                // reset) is recorded.
                if !matches!(self.run, Run::Cancelled | Run::Stopped(Stop::Failed(_))) {
                    self.run = Run::Going;
                }
            }
            Event::Cancelled => self.run = Run::Cancelled,
            Event::FinallyStarted(end) => {
                self.finally = Some(end.clone());
                // A cancelled run's clean-up is its compensation.
                if self.run == Run::Cancelled {
                    self.run = Run::Going;
                }
            }
            Event::FinallyCleared => {
                self.finally = None;
                self.cleanups.retain(|_, at_end| !*at_end);
            }
            Event::CleanupStarted { instance, at_end } => {
                if let Some(s) = index(instance) {
                    self.cleanups.insert(s, *at_end);
                }
            }
            Event::CleanupsReset(instances) => {
                for s in instances.iter().filter_map(|id| index(id)) {
                    self.cleanups.remove(&s);
                }
            }
            Event::Stopped(stop) => self.run = Run::Stopped(stop.clone()),
            _ => {}
        }
    }
}

/// The child runbooks a generated runbook's `child` nodes run, by path:
/// one whose run succeeds and one whose run fails. To the parent's rules a
/// `child` node is a step whose outcome is its child's (rules D1–D4), so
/// the model reads nothing of them but which one a node runs.
pub const CHILDREN: [(&str, &str); 2] = [
    (
        "child_ok.runbook",
        "runbook child_ok \"A child that succeeds\" {\n  outcome ok success\n  stage c \"C\" {\n    step work \"Work\" {\n      run \"exit 0\"\n      idempotent\n    }\n    end ok\n  }\n}\n",
    ),
    (
        "child_bad.runbook",
        "runbook child_bad \"A child that fails\" {\n  outcome ok success\n  stage c \"C\" {\n    step work \"Work\" {\n      run \"exit 1\"\n      idempotent\n    }\n    end ok\n  }\n}\n",
    ),
];

/// Checks a runbook given as text, as `rbx lint` would, with its includes
/// refused and the [`CHILDREN`] served: enough for the model's tests and
/// the property tests.
pub fn check_text(text: &str) -> rbx_check::Report {
    struct One<'a>(&'a str);
    impl rbx_check::Loader for One<'_> {
        fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, rbx_check::LoadError> {
            if path == Path::new("model.runbook") {
                return Ok(self.0.as_bytes().to_vec());
            }
            CHILDREN
                .iter()
                .find(|(name, _)| path == Path::new(name))
                .map(|(_, text)| text.as_bytes().to_vec())
                .ok_or(rbx_check::LoadError::NotFound)
        }
    }
    rbx_check::check_with(
        Path::new("model.runbook"),
        &One(text),
        &rbx_check::Fills::default(),
    )
}
