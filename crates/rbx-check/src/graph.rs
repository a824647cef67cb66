//! Lowering a procedure to the DAG the engine walks, and the checks that
//! need the graph: cycles, unreachable nodes and paths with no outcome.
//!
//! Every stage has one *primary* instance, whose start node is what `then`
//! and routes lead to. `again STAGE` lowers a fresh instance of the stage's
//! nodes in place, with ids of its own (`smoke#2.version`), and goes on
//! with the item after it. `foreach` bodies are lowered once and marked
//! with their fan-out: the engine expands them per item at run time, since
//! the list is an input.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path as FsPath;
use std::sync::Arc;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rbx_syntax::ast::*;
use rbx_syntax::{Diagnostic, Span};
use serde::{Deserialize, Serialize};

mod call;
mod checklist;

use crate::symbols::FINALLY;
use crate::{Finding, Source};

pub use call::CallFrame;

pub mod every;
mod fan;
pub mod guard;
pub mod repeat;
mod wire;

/// Where in the sources something was written.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub struct Origin {
    pub source: usize,
    pub span: Span,
}

/// One `foreach` around a node.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Fanout {
    /// Which lowering of which `foreach` this is: two loops are the same
    /// loop only when they are the same `foreach` lowered once (a loop in
    /// an `again` instance is a loop of its own).
    pub id: usize,
    pub var: String,
    pub list: String,
    /// How many items run at once; `None` means one at a time (unless
    /// `parallel_expr` says).
    pub parallel: Option<i64>,
    /// `parallel EXPR`: how many at once, from the inputs when the run
    /// starts.
    pub parallel_expr: Option<Expr>,
    /// How many items may fail before the loop does (rule R6); `None`:
    /// a failure takes its route at once.
    pub tolerate: Option<Tolerate>,
    /// For the loop of a `repeat`: its items are the iterations `1..=N`,
    /// not a list's, and `var` and `list` are empty.
    pub repeat: Option<RepeatLoop>,
    /// For the loop of an `every`: its items are the iterations `1..=N`,
    /// each started at its due time (rules V1–V5).
    pub every: Option<EveryLoop>,
}

/// What an `every` loop is: how many iterations at most, and its interval
/// as written (a duration, or an expression of the inputs).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EveryLoop {
    pub at_most: i64,
    pub interval: Expr,
}

/// What a `repeat` loop is: how many iterations at most, and the condition
/// that ends it, as written.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RepeatLoop {
    pub at_most: i64,
    pub until: String,
}

/// One `parallel N` or `parallel … tolerate T` block around a node: which
/// block, and which of its branches the node is in (rules R4, R6). A plain
/// `parallel` block, which runs every branch at once and tolerates no
/// failure, leaves no lane.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Lane {
    /// Which lowering of which block; shares its numbering with loops.
    pub id: usize,
    /// How many loops are around the block: the first `depth` items of a
    /// node say which instance of the block it is in.
    pub depth: usize,
    /// The branch, in the order written.
    pub branch: usize,
    pub branches: usize,
    /// How many branches run at once; `None`: every branch (unless
    /// `at_once_expr` says).
    pub at_once: Option<i64>,
    /// `parallel EXPR`: how many at once, from the inputs when the run
    /// starts.
    pub at_once_expr: Option<Expr>,
    pub tolerate: Option<Tolerate>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum NodeKind {
    /// The start of a stage instance, holding the stage's preconditions.
    StageStart {
        stage: String,
        title: String,
        within: Option<u64>,
        requires: Vec<Require>,
    },
    /// The step's tree, shared with the syntax tree it was lowered from.
    Block(Arc<Block>),
    Anchor(Anchor),
    /// A checklist's verdict, after its items: fails when any of them
    /// (named by their ids in the runbook) failed.
    Checklist {
        /// Its id in the runbook.
        name: String,
        title: Text,
        fail_fast: bool,
        items: Vec<String>,
    },
    /// A terminal outcome.
    End {
        outcome: String,
    },
    /// The end of one iteration of a `repeat` (rules U1-U3): succeeds when
    /// `until` holds on the iteration's values, takes the branch `again`
    /// when it does not, and fails on the last iteration, the `at_most`-th.
    Until {
        until: Expr,
        at_most: i64,
    },
    /// The start of one iteration of an `every` (rules V1–V5): started at
    /// its due time while a node of `watched` (the work the block runs
    /// beside, in the same loop items) has not settled; skipped once they
    /// all have, or as missed once its period has passed.
    Tick {
        interval: Expr,
        at_most: i64,
        #[serde(with = "wire::indexes")]
        watched: Vec<NodeIndex>,
    },
    /// A `foreach` or `parallel` block's own condition, judged before it
    /// (rule W5): takes the branch `when` into the block when it holds,
    /// and is skipped by it, going on past the block, when it does not.
    Guard {
        condition: Expr,
    },
    /// Where a `foreach` or `parallel` block that tolerates failures is
    /// judged, once every item has finished (rule R6): it succeeds when
    /// the failed items stay within `tolerate`, and fails otherwise.
    Tally {
        /// The loop's `Fanout::id` or the block's `Lane::id`.
        group: usize,
        tolerate: Tolerate,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Node {
    /// Stable and readable: `smoke` (a stage's start), `smoke.version`,
    /// `smoke#2.version` (in the second instance), `smoke.end.resolved`.
    pub id: String,
    /// The stage instance the node belongs to: `smoke`, `smoke#2`.
    pub stage: String,
    /// The primary stage instance whose flow the node runs in: for a node
    /// of an `again` instance, the stage that holds the `again`.
    pub host: String,
    pub kind: NodeKind,
    pub fanout: Vec<Fanout>,
    /// The limited or tallied `parallel` blocks around the node, outermost
    /// first.
    pub lanes: Vec<Lane>,
    pub origin: Origin,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum EdgeKind {
    /// Runs after its source succeeded without taking a branch, or was
    /// skipped by its own `when` condition.
    Next,
    /// Runs after its source failed.
    Failure,
    /// Runs when the operator cancels during its source.
    Cancel,
    /// Runs when a decision took this branch.
    Branch(String),
    /// Runs after its source failed, inside a `foreach` or `parallel`
    /// block that tolerates failures: to the block's tally, which counts
    /// the failure against the tolerance (rule R6).
    Tolerated,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Edge {
    pub kind: EdgeKind,
    /// Whether the edge is a route that leaves its flow: an `on failure` or
    /// `on cancel` route, or a branch, to a stage or an outcome. Edges of
    /// the flow's own order (next item, `continue`, `then`) are not.
    pub route: bool,
    /// The statement that made the edge, for diagnostics.
    pub origin: Origin,
}

/// Whether a run that ends with an outcome succeeded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OutcomeClass {
    pub success: bool,
    /// Said by an `outcome` line; otherwise the default: an outcome that an
    /// `on failure` or `on cancel` route leads to is a failure, any other a
    /// success.
    pub declared: bool,
    pub description: Option<String>,
}

/// The lowered procedure. Built once, never changed.
#[derive(Debug)]
pub struct Graph {
    pub graph: DiGraph<Node, Edge>,
    pub start: Option<NodeIndex>,
    /// The start of the runbook's `finally` block, which runs once whenever
    /// the run ends; nothing leads to it.
    pub finally: Option<NodeIndex>,
    /// Every outcome a run can end with, and whether it is a success.
    pub outcomes: std::collections::BTreeMap<String, OutcomeClass>,
    /// Each stage instance with a `finally` block of its own, and the
    /// start of that clean-up (rules Y1–Y4).
    pub cleanups: std::collections::BTreeMap<String, NodeIndex>,
    /// Each `again` instance, and the stage instance that runs it.
    pub parents: HashMap<String, String>,
    /// Each `call` instance (`drain#1`) with its stage's parameters and the
    /// arguments the call gives them.
    pub calls: std::collections::BTreeMap<String, CallFrame>,
    by_id: HashMap<String, NodeIndex>,
}

impl Graph {
    /// The `call` a node of stage instance `stage` is of, if any: for a
    /// node of an instance's own clean-up (`drain#1.finally`), the call of
    /// the instance it cleans up, whose parameters it reads.
    pub fn call_of(&self, stage: &str) -> Option<&CallFrame> {
        self.calls
            .get(crate::symbols::cleaned_instance(stage).unwrap_or(stage))
    }

    pub fn node(&self, id: &str) -> Option<NodeIndex> {
        self.by_id.get(id).copied()
    }
}

#[derive(Debug, Clone, Copy)]
struct Routes<'a> {
    failure: Option<(&'a Target, Origin)>,
    cancel: Option<(&'a Target, Origin)>,
}

#[derive(Clone)]
struct Ctx<'a> {
    source: usize,
    stage: &'a str,
    instance: String,
    host: String,
    routes: Routes<'a>,
    fanout: Vec<Fanout>,
    lanes: Vec<Lane>,
    /// The tolerating loop or block a failure with no route written inside
    /// it counts against: an index into `Lowerer::tallies`.
    tally: Option<usize>,
}

type Frontier = Vec<(NodeIndex, EdgeKind, Origin)>;

/// The failure route of every clean-up node: on to the next.
static GO_ON: std::sync::LazyLock<Target> = std::sync::LazyLock::new(|| Target {
    kind: TargetKind::Continue,
    span: Span::default(),
});

pub fn lower(sources: &[Source]) -> (Graph, Vec<Finding>) {
    let mut lowerer = Lowerer {
        sources,
        stages: HashMap::new(),
        primary: HashMap::new(),
        instances: HashMap::new(),
        graph: DiGraph::new(),
        by_id: HashMap::new(),
        findings: Vec::new(),
        again_stack: Vec::new(),
        calls: std::collections::BTreeMap::new(),
        loops: 0,
        tallies: Vec::new(),
        runbook_routes: Routes {
            failure: None,
            cancel: None,
        },
        ends: HashMap::new(),
        cleanups: std::collections::BTreeMap::new(),
        parents: HashMap::new(),
    };
    lowerer.collect();
    let order = lowerer.stage_order();
    for (stage, source) in &order {
        lowerer.start_primary(stage, *source);
    }
    for (stage, source) in &order {
        lowerer.lower_primary(stage, *source);
    }
    let start = first_stage(sources, 0, &mut HashSet::new())
        .and_then(|stage| lowerer.primary.get(&stage).copied());
    // What the whole runbook requires holds before its first stage starts.
    if let Some(start) = start {
        let runbook_requires: Vec<Require> = sources
            .iter()
            .filter_map(|s| s.file.as_ref())
            .flat_map(|f| &f.items)
            .filter_map(|item| match &item.kind {
                ItemKind::Require(require) => Some(require.clone()),
                _ => None,
            })
            .collect();
        if let NodeKind::StageStart { requires, .. } = &mut lowerer.graph[start].kind {
            requires.splice(0..0, runbook_requires);
        }
    }
    let finally = lowerer.lower_finally();
    let (outcomes, unused) = classify_outcomes(sources, &lowerer.graph);
    let graph = Graph {
        graph: lowerer.graph,
        start,
        finally,
        outcomes,
        cleanups: lowerer.cleanups,
        parents: lowerer.parents,
        calls: lowerer.calls,
        by_id: lowerer.by_id,
    };
    let mut findings = lowerer.findings;
    findings.extend(unused);
    if !findings
        .iter()
        .any(|f| f.diagnostic.code == "rbx::lint::cycle")
    {
        findings.extend(cycles(&graph));
    }
    findings.extend(unreachable(&graph, sources));
    findings.extend(unverified_irreversible(&graph));
    (graph, findings)
}

/// Each outcome's class: as declared, else a failure when a failure or
/// cancel route leads to it, else a success. Declared outcomes no `end`
/// names are reported.
fn classify_outcomes(
    sources: &[Source],
    g: &DiGraph<Node, Edge>,
) -> (
    std::collections::BTreeMap<String, OutcomeClass>,
    Vec<Finding>,
) {
    let mut outcomes = std::collections::BTreeMap::new();
    for index in g.node_indices() {
        let NodeKind::End { outcome } = &g[index].kind else {
            continue;
        };
        let routed = g.edges_directed(index, Direction::Incoming).any(|e| {
            e.weight().route && matches!(e.weight().kind, EdgeKind::Failure | EdgeKind::Cancel)
        });
        let class = outcomes.entry(outcome.clone()).or_insert(OutcomeClass {
            success: true,
            declared: false,
            description: None,
        });
        class.success &= !routed;
    }
    let mut findings = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let Some(file) = &source.file else { continue };
        for item in &file.items {
            let ItemKind::Outcome(declared) = &item.kind else {
                continue;
            };
            let description = declared.description.as_ref().map(Text::source_form);
            match outcomes.get_mut(&declared.name.name) {
                Some(class) if !class.declared => {
                    *class = OutcomeClass {
                        success: declared.success,
                        declared: true,
                        description,
                    };
                }
                Some(_) => {}
                None => findings.push(Finding {
                    source: index,
                    diagnostic: Diagnostic::warning(
                        "rbx::lint::unused_outcome",
                        format!("no `end` leads to the outcome `{}`", declared.name.name),
                    )
                    .primary(declared.name.span, "declared here, never reached")
                    .help("end a stage or a route with it, or remove the declaration"),
                }),
            }
        }
    }
    (outcomes, findings)
}

/// Irreversible steps that some way from the start reaches without passing
/// a gate or a sign-off: on that way, nobody checked anything before the
/// point of no return. One gate on one branch does not cover another.
fn unverified_irreversible(graph: &Graph) -> Vec<Finding> {
    let g = &graph.graph;
    let checks = |index: NodeIndex| matches!(&g[index].kind, NodeKind::Block(b) if matches!(b.kind, BlockKind::Gate | BlockKind::Signoff));
    // Every node some way from the start reaches with no check on it; a
    // check is reached but not gone past. Cancel routes are compensation,
    // not the procedure's way forward.
    let mut unchecked = HashSet::new();
    let mut stack: Vec<NodeIndex> = graph.start.into_iter().collect();
    while let Some(node) = stack.pop() {
        if !unchecked.insert(node) || checks(node) {
            continue;
        }
        for edge in g.edges_directed(node, Direction::Outgoing) {
            if edge.weight().kind != EdgeKind::Cancel {
                stack.push(edge.target());
            }
        }
    }
    let mut findings = Vec::new();
    for index in g.node_indices() {
        let NodeKind::Block(block) = &g[index].kind else {
            continue;
        };
        let irreversible = block
            .body
            .iter()
            .any(|stmt| matches!(stmt.kind, StmtKind::Irreversible(_)));
        if !irreversible || !unchecked.contains(&index) {
            continue;
        }
        let node = &g[index];
        findings.push(Finding {
            source: node.origin.source,
            diagnostic: Diagnostic::warning(
                "rbx::lint::unverified_irreversible",
                format!("nothing is verified before the irreversible `{}`", node.id),
            )
            .primary(
                block.id.span,
                "a way to this point of no return passes no gate or sign-off",
            )
            .help(
                "add a `gate` (require what must hold, or `attest` it) or a `signoff` \
                 on every way to this step",
            ),
        });
    }
    findings
}

/// The stage a run starts at (G5): the first stage written in the entry
/// file itself, whatever `include` lines come before it; for an entry file
/// with no stage of its own, the first stage of its includes, in order.
fn first_stage(sources: &[Source], index: usize, seen: &mut HashSet<usize>) -> Option<String> {
    if !seen.insert(index) {
        return None;
    }
    let source = sources.get(index)?;
    let items = &source.file.as_ref()?.items;
    let own = items.iter().find_map(|item| match &item.kind {
        ItemKind::Stage(stage) => Some(stage.id.name.clone()),
        _ => None,
    });
    if own.is_some() {
        return own;
    }
    let dir = source.path.parent().unwrap_or(FsPath::new(""));
    items.iter().find_map(|item| {
        let ItemKind::Include(path) = &item.kind else {
            return None;
        };
        let target = dir.join(path.as_literal()?);
        let included = sources.iter().position(|s| s.path == target)?;
        first_stage(sources, included, seen)
    })
}

struct Lowerer<'a> {
    sources: &'a [Source],
    /// Stage id → (source, stage), first definition wins.
    stages: HashMap<&'a str, (usize, &'a Stage)>,
    primary: HashMap<String, NodeIndex>,
    /// How many instances of each stage exist so far.
    instances: HashMap<String, usize>,
    graph: DiGraph<Node, Edge>,
    by_id: HashMap<String, NodeIndex>,
    findings: Vec<Finding>,
    again_stack: Vec<String>,
    /// The `call` instances lowered so far.
    calls: std::collections::BTreeMap<String, CallFrame>,
    /// How many `foreach` lowerings so far, for their ids.
    loops: usize,
    /// For each tolerating loop or block being lowered, the nodes whose
    /// failure counts against it, with the statement that says so.
    tallies: Vec<Vec<(NodeIndex, Origin)>>,
    runbook_routes: Routes<'a>,
    /// Outcome nodes by (stage instance, source, offset of the `end`).
    ends: HashMap<(String, usize, usize), NodeIndex>,
    /// The start of each stage instance's own clean-up.
    cleanups: std::collections::BTreeMap<String, NodeIndex>,
    /// Each `again` instance and the instance that runs it.
    parents: HashMap<String, String>,
}

impl<'a> Lowerer<'a> {
    fn collect(&mut self) {
        for (index, source) in self.sources.iter().enumerate() {
            let Some(file) = &source.file else { continue };
            for item in &file.items {
                let origin = Origin {
                    source: index,
                    span: item.span,
                };
                match &item.kind {
                    ItemKind::Stage(stage) => {
                        self.stages
                            .entry(stage.id.name.as_str())
                            .or_insert((index, stage));
                    }
                    ItemKind::On(route) => match route.event {
                        RouteEvent::Failure => {
                            self.runbook_routes.failure = Some((&route.target, origin));
                        }
                        RouteEvent::Cancel => {
                            self.runbook_routes.cancel = Some((&route.target, origin));
                        }
                    },
                    _ => {}
                }
            }
        }
    }

    /// Stages in the order they are written, sources in load order.
    fn stage_order(&self) -> Vec<(&'a str, usize)> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for (index, source) in self.sources.iter().enumerate() {
            let Some(file) = &source.file else { continue };
            for item in &file.items {
                if let ItemKind::Stage(stage) = &item.kind {
                    // A stage with parameters has no primary instance:
                    // only `call` runs it.
                    if seen.insert(stage.id.name.as_str()) && stage.params.is_none() {
                        order.push((stage.id.name.as_str(), index));
                    }
                }
            }
        }
        order
    }

    fn add(&mut self, mut node: Node) -> NodeIndex {
        if self.by_id.contains_key(&node.id) {
            let base = node.id.clone();
            let mut n = 2;
            while self.by_id.contains_key(&format!("{base}#{n}")) {
                n += 1;
            }
            node.id = format!("{base}#{n}");
        }
        let id = node.id.clone();
        let index = self.graph.add_node(node);
        self.by_id.insert(id, index);
        index
    }

    fn stage_start(
        &mut self,
        stage: &Stage,
        instance: &str,
        host: &str,
        source: usize,
        fanout: &[Fanout],
        lanes: &[Lane],
    ) -> NodeIndex {
        let requires = stage
            .items
            .iter()
            .filter_map(|item| match &item.kind {
                StageItemKind::Require(require) => Some(require.clone()),
                _ => None,
            })
            .collect();
        self.add(Node {
            id: instance.to_string(),
            stage: instance.to_string(),
            host: host.to_string(),
            kind: NodeKind::StageStart {
                stage: stage.id.name.clone(),
                title: stage.title.source_form(),
                within: stage.within.as_ref().map(|d| d.millis),
                requires,
            },
            fanout: fanout.to_vec(),
            lanes: lanes.to_vec(),
            origin: Origin {
                source,
                span: stage.id.span,
            },
        })
    }

    fn start_primary(&mut self, id: &str, source: usize) {
        let Some(&(_, stage)) = self.stages.get(id) else {
            return;
        };
        self.instances.insert(id.to_string(), 1);
        let start = self.stage_start(stage, id, id, source, &[], &[]);
        self.primary.insert(id.to_string(), start);
    }

    /// The stage's own `on` routes over the ones around it.
    fn stage_routes(&self, stage: &'a Stage, source: usize, outer: Routes<'a>) -> Routes<'a> {
        let mut routes = outer;
        for item in &stage.items {
            if let StageItemKind::On(route) = &item.kind {
                let origin = Origin {
                    source,
                    span: item.span,
                };
                match route.event {
                    RouteEvent::Failure => routes.failure = Some((&route.target, origin)),
                    RouteEvent::Cancel => routes.cancel = Some((&route.target, origin)),
                }
            }
        }
        routes
    }

    fn lower_primary(&mut self, id: &'a str, source: usize) {
        let Some(&(_, stage)) = self.stages.get(id) else {
            return;
        };
        let Some(&start) = self.primary.get(id) else {
            return;
        };
        let ctx = Ctx {
            source,
            stage: id,
            instance: id.to_string(),
            host: id.to_string(),
            routes: self.stage_routes(stage, source, self.runbook_routes),
            fanout: Vec::new(),
            lanes: Vec::new(),
            tally: None,
        };
        self.again_stack.push(id.to_string());
        let origin = Origin {
            source,
            span: stage.id.span,
        };
        let entry = self.stage_entry(start, &ctx, origin);
        let exits = self.items(&stage.items, &ctx, entry, true);
        self.again_stack.pop();
        // Exits of nodes nothing reaches are reported as unreachable instead.
        // The search stays inside this stage's flow, so it costs the size of
        // the stage, not of everything after it.
        let mut reached = HashSet::from([start]);
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for next in self.graph.neighbors_directed(node, Direction::Outgoing) {
                if self.graph[next].host == id && reached.insert(next) {
                    stack.push(next);
                }
            }
        }
        let exits: Frontier = exits
            .into_iter()
            .filter(|(node, _, _)| reached.contains(node))
            .collect();
        if !exits.is_empty() {
            let mut diagnostic = Diagnostic::error(
                "rbx::lint::dead_end",
                format!("the stage `{id}` can finish without reaching an outcome"),
            )
            .primary(stage.id.span, "a path through this stage stops at its end")
            .help("end the stage with `then STAGE` or `end OUTCOME`");
            for (node, kind, _) in &exits {
                if let EdgeKind::Branch(label) = kind {
                    let at = self.graph[*node].origin;
                    if at.source == source {
                        diagnostic = diagnostic
                            .secondary(at.span, format!("`{label}` continues past the last item"));
                    }
                }
            }
            self.findings.push(Finding { source, diagnostic });
        }
    }

    /// The edges out of a stage instance's start: on to its first item, and
    /// its failure route (a `require` of the stage, or of the runbook for
    /// the entry stage, that does not hold), as the instance's nodes take it.
    fn stage_entry(&mut self, start: NodeIndex, ctx: &Ctx<'a>, origin: Origin) -> Frontier {
        let mut entry = vec![(start, EdgeKind::Next, origin)];
        self.failure_route(start, ctx.routes, ctx, &mut entry);
        entry
    }

    fn connect(&mut self, frontier: &Frontier, to: NodeIndex) {
        for (from, kind, origin) in frontier {
            self.graph.add_edge(
                *from,
                to,
                Edge {
                    kind: kind.clone(),
                    route: false,
                    origin: *origin,
                },
            );
        }
    }

    /// Lowers a list of stage items; returns the edges that go on after it.
    fn items(
        &mut self,
        items: &'a [StageItem],
        ctx: &Ctx<'a>,
        mut frontier: Frontier,
        stage_level: bool,
    ) -> Frontier {
        let mut routes = ctx.routes;
        if !stage_level {
            for item in items {
                if let StageItemKind::On(route) = &item.kind {
                    let origin = Origin {
                        source: ctx.source,
                        span: item.span,
                    };
                    match route.event {
                        RouteEvent::Failure => routes.failure = Some((&route.target, origin)),
                        RouteEvent::Cancel => routes.cancel = Some((&route.target, origin)),
                    }
                }
            }
        }
        let ctx = Ctx {
            routes,
            ..ctx.clone()
        };
        let mut beside = Vec::new();
        for item in items {
            let origin = Origin {
                source: ctx.source,
                span: item.span,
            };
            if matches!(item.kind, StageItemKind::Then(_) | StageItemKind::End(_)) {
                self.join_beside(&mut beside, &mut frontier);
            }
            match &item.kind {
                StageItemKind::On(_) => {}
                StageItemKind::Every(every) => {
                    beside.push(self.every(every, &ctx, frontier.clone(), origin));
                }
                StageItemKind::Require(_) if stage_level => {}
                StageItemKind::Require(_) | StageItemKind::Then(_) | StageItemKind::End(_)
                    if !stage_level =>
                {
                    self.misplaced(item, &ctx);
                }
                StageItemKind::Then(_) | StageItemKind::End(_) if ctx.instance != ctx.host => {
                    // An `again` instance hands control back instead.
                }
                StageItemKind::Require(_) => {}
                StageItemKind::Then(stage) => {
                    if let Some(&target) = self.primary.get(&stage.name) {
                        let frontier_with_origin: Frontier = frontier
                            .iter()
                            .map(|(node, kind, _)| (*node, kind.clone(), origin))
                            .collect();
                        self.connect(&frontier_with_origin, target);
                    }
                    frontier.clear();
                }
                StageItemKind::End(outcome) => {
                    let end = self.end_node(&outcome.name, &ctx, origin);
                    self.connect(&frontier, end);
                    frontier.clear();
                }
                StageItemKind::Block(block) => {
                    frontier = self.block(block, &ctx, frontier, origin);
                }
                StageItemKind::Checklist(list) => {
                    frontier = self.checklist(list, &ctx, frontier, origin);
                }
                StageItemKind::Anchor(anchor) => {
                    let node = self.add(Node {
                        id: format!("{}.{}", ctx.instance, anchor.id.name),
                        stage: ctx.instance.clone(),
                        host: ctx.host.clone(),
                        kind: NodeKind::Anchor(anchor.clone()),
                        fanout: ctx.fanout.clone(),
                        lanes: ctx.lanes.clone(),
                        origin,
                    });
                    self.connect(&frontier, node);
                    frontier = vec![(node, EdgeKind::Next, origin)];
                }
                StageItemKind::Parallel(parallel) if parallel.items.is_empty() => {
                    // Nothing would join after it: the flow would stop here.
                    self.findings.push(Finding {
                        source: ctx.source,
                        diagnostic: Diagnostic::error(
                            "rbx::lint::empty_parallel",
                            "this `parallel` block has no branch: nothing goes on after it",
                        )
                        .primary(item.span, "an empty block")
                        .help("put the steps that run side by side inside it, or remove it"),
                    });
                }
                StageItemKind::Parallel(parallel) => {
                    let (into, past) = match &parallel.condition {
                        Some(c) => self.guard(c, "parallel", &ctx, frontier, origin),
                        None => (frontier, Vec::new()),
                    };
                    frontier = self.parallel(parallel, &ctx, into, origin);
                    frontier.extend(past);
                }
                StageItemKind::Foreach(foreach) => {
                    let what = format!("foreach-{}", foreach.var.name);
                    let (into, past) = match &foreach.condition {
                        Some(c) => self.guard(c, &what, &ctx, frontier, origin),
                        None => (frontier, Vec::new()),
                    };
                    frontier = self.foreach(foreach, &ctx, into, origin);
                    frontier.extend(past);
                }
                StageItemKind::Again(again) => {
                    let (into, past) = self.instance_guard(
                        again.condition.as_ref(),
                        &again.stage,
                        &ctx,
                        frontier,
                        origin,
                    );
                    frontier = self.again(again, &ctx, into, origin);
                    frontier.extend(past);
                }
                StageItemKind::Repeat(repeat) => {
                    frontier = self.repeat(repeat, &ctx, frontier, origin);
                }
                StageItemKind::Finally(cleanup) if stage_level => {
                    self.cleanup(cleanup, &ctx, origin);
                }
                StageItemKind::Finally(_) => self.misplaced(item, &ctx),
                StageItemKind::Call(call) => {
                    let (into, past) = self.instance_guard(
                        call.condition.as_ref(),
                        &call.stage,
                        &ctx,
                        frontier,
                        origin,
                    );
                    frontier = self.call(call, &ctx, into, origin);
                    frontier.extend(past);
                }
            }
        }
        self.join_beside(&mut beside, &mut frontier);
        frontier
    }

    /// Lowers a stage instance's own `finally` block as a flow of its own,
    /// `INSTANCE.finally`: nothing leads to its start, which runs when the
    /// instance is left or the run's end is decided with the instance
    /// started (rules Y1, Y2); each node goes on to the next whether it
    /// succeeded or failed. A second block in one stage is reported.
    fn cleanup(&mut self, items: &'a [StageItem], ctx: &Ctx<'a>, origin: Origin) {
        if self.cleanups.contains_key(&ctx.instance) {
            if ctx.instance == ctx.host {
                self.findings.push(Finding {
                    source: ctx.source,
                    diagnostic: Diagnostic::error(
                        "rbx::lint::duplicate_finally",
                        format!("the stage `{}` has two `finally` blocks", ctx.stage),
                    )
                    .primary(origin.span, "a second `finally`")
                    .help("put every clean-up step of the stage in one `finally` block"),
                });
            }
            return;
        }
        let flow = crate::symbols::cleanup_flow(&ctx.instance);
        let start = self.add(Node {
            id: flow.clone(),
            stage: flow.clone(),
            host: flow.clone(),
            kind: NodeKind::StageStart {
                stage: flow.clone(),
                title: format!("Clean-up of `{}`, whenever it is left", ctx.instance),
                within: None,
                requires: Vec::new(),
            },
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        let inner = Ctx {
            source: ctx.source,
            stage: ctx.stage,
            instance: flow.clone(),
            host: flow,
            routes: Routes {
                failure: Some((&GO_ON, origin)),
                cancel: None,
            },
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            tally: None,
        };
        if ctx.instance == ctx.host {
            self.finally_items(items, ctx.source);
        }
        self.items(items, &inner, vec![(start, EdgeKind::Next, origin)], false);
        self.cleanups.insert(ctx.instance.clone(), start);
    }

    /// Lowers the runbook's `finally` block as a flow of its own, `finally`:
    /// its nodes in the order written, each going on to the next whether it
    /// succeeded or failed. A second block, and anything in it that would
    /// route elsewhere, is reported.
    fn lower_finally(&mut self) -> Option<NodeIndex> {
        let mut found: Vec<(usize, &'a Item, &'a [StageItem])> = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            for item in source.file.iter().flat_map(|f| &f.items) {
                if let ItemKind::Finally(items) = &item.kind {
                    found.push((index, item, items));
                }
            }
        }
        let (source, first, items) = *found.first()?;
        for (index, item, _) in found.iter().skip(1) {
            self.findings.push(Finding {
                source: *index,
                diagnostic: Diagnostic::error(
                    "rbx::lint::duplicate_finally",
                    "the procedure has two `finally` blocks",
                )
                .primary(item.span, "a second `finally`")
                .help("put every clean-up step in one `finally` block"),
            });
        }
        let start = self.add(Node {
            id: FINALLY.to_string(),
            stage: FINALLY.to_string(),
            host: FINALLY.to_string(),
            kind: NodeKind::StageStart {
                stage: FINALLY.to_string(),
                title: "Clean-up, whenever the run ends".to_string(),
                within: None,
                requires: Vec::new(),
            },
            fanout: Vec::new(),
            lanes: Vec::new(),
            origin: Origin {
                source,
                span: first.span,
            },
        });
        let ctx = Ctx {
            source,
            stage: FINALLY,
            instance: FINALLY.to_string(),
            host: FINALLY.to_string(),
            routes: Routes {
                failure: Some((
                    &GO_ON,
                    Origin {
                        source,
                        span: first.span,
                    },
                )),
                cancel: None,
            },
            fanout: Vec::new(),
            lanes: Vec::new(),
            tally: None,
        };
        self.finally_items(items, source);
        let origin = Origin {
            source,
            span: first.span,
        };
        self.items(items, &ctx, vec![(start, EdgeKind::Next, origin)], false);
        Some(start)
    }

    /// What a clean-up node cannot do: take a route, branch, or run a stage
    /// again — every node of `finally` runs, and the run ends after it.
    fn finally_items(&mut self, items: &[StageItem], source: usize) {
        for item in items {
            let why = match &item.kind {
                StageItemKind::Block(block)
                    if matches!(block.kind, BlockKind::Decide | BlockKind::Choose) =>
                {
                    Some("a decision or choice")
                }
                StageItemKind::Block(block)
                    if block.body.iter().any(|s| matches!(s.kind, StmtKind::On(_))) =>
                {
                    Some("a route")
                }
                StageItemKind::Again(_) => Some("`again`"),
                StageItemKind::Call(call) if !call.routes.is_empty() => Some("a route"),
                StageItemKind::Call(call) => self.unsafe_call(call),
                StageItemKind::Foreach(foreach) => {
                    self.finally_items(&foreach.items, source);
                    None
                }
                StageItemKind::Parallel(parallel) => {
                    self.finally_items(&parallel.items, source);
                    None
                }
                StageItemKind::Repeat(repeat) => {
                    self.finally_items(&repeat.items, source);
                    None
                }
                StageItemKind::Every(_) => Some("`every`"),
                _ => None,
            };
            if let Some(why) = why {
                self.findings.push(Finding {
                    source,
                    diagnostic: Diagnostic::error(
                        "rbx::lint::misplaced",
                        format!("{why} cannot stand inside `finally`"),
                    )
                    .primary(item.span, "not allowed here")
                    .help(
                        "every node of `finally` runs, one after the other, and a failure \
                         is reported when the clean-up is over; put branches in a stage",
                    ),
                });
            }
        }
    }

    fn misplaced(&mut self, item: &StageItem, ctx: &Ctx<'_>) {
        let what = match &item.kind {
            StageItemKind::Require(_) => "`require`",
            StageItemKind::Then(_) => "`then`",
            StageItemKind::Finally(_) => "`finally`",
            _ => "`end`",
        };
        let within = if crate::symbols::is_cleanup(&ctx.host) {
            "`finally`"
        } else {
            "`foreach` or `parallel`"
        };
        self.findings.push(Finding {
            source: ctx.source,
            diagnostic: Diagnostic::error(
                "rbx::lint::misplaced",
                format!("{what} cannot stand inside {within}"),
            )
            .primary(item.span, "not allowed here")
            .help(match &item.kind {
                StageItemKind::Require(_) => {
                    "put the `require` inside a node, or at the top of the stage"
                }
                StageItemKind::Finally(_) => {
                    "give the stage its clean-up at the stage's own level: one `finally` \
                     block, beside its nodes"
                }
                _ => "end the stage after the block, at the stage's own level",
            }),
        });
    }

    /// The outcome node for one `end` written at `origin`, shared by every
    /// node of the instance that the same route or statement sends there.
    fn end_node(&mut self, outcome: &str, ctx: &Ctx<'_>, origin: Origin) -> NodeIndex {
        let key = (ctx.instance.clone(), origin.source, origin.span.start);
        if let Some(&node) = self.ends.get(&key) {
            return node;
        }
        let node = self.add(Node {
            id: format!("{}.end.{outcome}", ctx.instance),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::End {
                outcome: outcome.to_string(),
            },
            // One outcome node per `end` written, never one per item (G4).
            fanout: Vec::new(),
            lanes: Vec::new(),
            origin,
        });
        self.ends.insert(key, node);
        node
    }

    /// Where a target leads: a stage's start or a new outcome node. `None`
    /// for `continue`, and for a stage that does not exist (already
    /// reported by name resolution).
    fn target(&mut self, target: &Target, ctx: &Ctx<'_>, origin: Origin) -> Option<NodeIndex> {
        match &target.kind {
            TargetKind::Stage(stage) => self.primary.get(&stage.name).copied(),
            TargetKind::End(outcome) => Some(self.end_node(&outcome.name, ctx, origin)),
            TargetKind::Continue => None,
        }
    }

    /// The edge a failure of `node` takes: the innermost route written, or,
    /// with none inside a loop or block that tolerates failures, to that
    /// block's tally. A `continue` goes on with the next item (`next`).
    fn failure_route(
        &mut self,
        node: NodeIndex,
        routes: Routes<'_>,
        ctx: &Ctx<'_>,
        next: &mut Frontier,
    ) {
        match (routes.failure, ctx.tally) {
            (Some((target, at)), _) => match self.target(target, ctx, at) {
                Some(to) => self.edge(node, to, EdgeKind::Failure, at),
                None if target.kind == TargetKind::Continue => {
                    next.push((node, EdgeKind::Failure, at));
                }
                None => {}
            },
            (None, Some(tally)) => {
                let at = self.graph[node].origin;
                if let Some(sources) = self.tallies.get_mut(tally) {
                    sources.push((node, at));
                }
            }
            (None, None) => {}
        }
    }

    fn edge(&mut self, from: NodeIndex, to: NodeIndex, kind: EdgeKind, origin: Origin) {
        self.graph.add_edge(
            from,
            to,
            Edge {
                kind,
                route: true,
                origin,
            },
        );
    }

    fn block(
        &mut self,
        block: &'a Arc<Block>,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        let node = self.add(Node {
            id: format!("{}.{}", ctx.instance, block.id.name),
            stage: ctx.instance.clone(),
            host: ctx.host.clone(),
            kind: NodeKind::Block(Arc::clone(block)),
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            origin,
        });
        self.connect(&frontier, node);
        let mut routes = ctx.routes;
        for stmt in &block.body {
            if let StmtKind::On(route) = &stmt.kind {
                let at = Origin {
                    source: ctx.source,
                    span: stmt.span,
                };
                match route.event {
                    RouteEvent::Failure => routes.failure = Some((&route.target, at)),
                    RouteEvent::Cancel => routes.cancel = Some((&route.target, at)),
                }
            }
        }
        let mut next: Frontier = Vec::new();
        if block.kind != BlockKind::Decide {
            self.failure_route(node, routes, ctx, &mut next);
            if let Some((target, at)) = routes.cancel {
                // A compensation stage is not re-entered from inside itself.
                let own_stage = matches!(&target.kind, TargetKind::Stage(s) if s.name == ctx.stage);
                if !own_stage {
                    if let Some(to) = self.target(target, ctx, at) {
                        self.edge(node, to, EdgeKind::Cancel, at);
                    }
                }
            }
        }
        match block.kind {
            BlockKind::Decide | BlockKind::Choose => {
                self.branches(block, node, ctx, &mut next);
                // A choice skipped by its own condition takes no branch: it
                // goes on to the next item, as `continue` would.
                if block.condition().is_some() {
                    next.push((node, EdgeKind::Next, origin));
                }
            }
            _ => next.push((node, EdgeKind::Next, origin)),
        }
        next
    }

    fn branches(&mut self, block: &Block, node: NodeIndex, ctx: &Ctx<'_>, next: &mut Frontier) {
        let mut has_branch = false;
        let mut has_otherwise = false;
        // A branch is named by its condition; a second `when` written the
        // same can never be the one taken (the first that holds is), and
        // gets a name of its own so that no edge is taken for it.
        let mut labels: HashSet<String> = HashSet::new();
        for stmt in &block.body {
            let at = Origin {
                source: ctx.source,
                span: stmt.span,
            };
            let (label, target) = match &stmt.kind {
                StmtKind::When { condition, target } => (rbx_syntax::fmt::expr(condition), target),
                StmtKind::Otherwise(target) => {
                    has_otherwise = true;
                    ("otherwise".to_string(), target)
                }
                StmtKind::Option(option) => (option.name.name.clone(), &option.target),
                _ => continue,
            };
            has_branch = true;
            let mut label = label;
            while !labels.insert(label.clone()) {
                label.push_str(" (again)");
            }
            match self.target(target, ctx, at) {
                Some(to) => self.edge(node, to, EdgeKind::Branch(label), at),
                None if target.kind == TargetKind::Continue => {
                    next.push((node, EdgeKind::Branch(label), at));
                }
                None => {}
            }
        }
        let what = block.kind.keyword();
        if !has_branch {
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::no_branches",
                    format!("the `{what}` `{}` has nowhere to go", block.id.name),
                )
                .primary(block.id.span, "no branch")
                .help(if block.kind == BlockKind::Decide {
                    "add `when CONDITION -> TARGET` lines and an `otherwise -> TARGET`"
                } else {
                    "add `option NAME \"description\" -> TARGET` lines"
                }),
            });
        } else if block.kind == BlockKind::Decide && !has_otherwise {
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::non_exhaustive",
                    format!("the decision `{}` has no `otherwise`", block.id.name),
                )
                .primary(
                    block.id.span,
                    "when no condition holds, the run has nowhere to go",
                )
                .help("add `otherwise -> TARGET` as its last line"),
            });
        }
    }

    fn again(
        &mut self,
        again: &'a Again,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> Frontier {
        self.instance(&again.stage, &again.routes, ctx, frontier, origin, None)
    }

    /// The number the next instance of `stage` takes. A stage with
    /// parameters has no primary instance: its first call is `#1`.
    fn next_instance(&self, name: &str, stage: &Stage) -> usize {
        let first = usize::from(stage.params.is_none());
        self.instances.get(name).copied().unwrap_or(first) + 1
    }

    /// The guard of an instance with its own `when` (`again STAGE when
    /// EXPR`, `call STAGE(…) when EXPR`), named after the instance it
    /// guards: the edges into the instance, and the edges past it.
    fn instance_guard(
        &mut self,
        condition: Option<&Expr>,
        stage_id: &Ident,
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
    ) -> (Frontier, Frontier) {
        let name = stage_id.name.as_str();
        match (condition, self.stages.get(name)) {
            (Some(condition), Some(&(_, stage))) => {
                let what = format!("{name}#{}", self.next_instance(name, stage));
                self.guard(condition, &what, ctx, frontier, origin)
            }
            _ => (frontier, Vec::new()),
        }
    }

    /// A fresh instance of a stage in place (`again`, or `call` with the
    /// frame that binds its parameters): ids of its own, its routes over
    /// the stage's, and control back to the next item.
    fn instance(
        &mut self,
        stage_id: &'a Ident,
        own_routes: &'a [SpannedRoute],
        ctx: &Ctx<'a>,
        frontier: Frontier,
        origin: Origin,
        frame: Option<CallFrame>,
    ) -> Frontier {
        let name = stage_id.name.as_str();
        let Some(&(source, stage)) = self.stages.get(name) else {
            return frontier;
        };
        if self.again_stack.iter().any(|s| s == name) {
            let keyword = if frame.is_some() { "call" } else { "again" };
            // Each instance of the stage around it lowers the same item.
            let reported = self.findings.iter().any(|f| {
                f.source == ctx.source
                    && f.diagnostic.code == "rbx::lint::cycle"
                    && f.diagnostic.span().is_some_and(|s| {
                        (s.start, s.end) == (stage_id.span.start, stage_id.span.end)
                    })
            });
            if reported {
                return frontier;
            }
            self.findings.push(Finding {
                source: ctx.source,
                diagnostic: Diagnostic::error(
                    "rbx::lint::cycle",
                    format!(
                        "`{keyword} {name}` runs a stage inside itself: {} → {name}",
                        self.again_stack.join(" → ")
                    ),
                )
                .primary(stage_id.span, "this instance would contain itself")
                .help("a stage can be run again only from outside it"),
            });
            return frontier;
        }
        let number = self.next_instance(name, stage);
        self.instances.insert(name.to_string(), number);
        let instance = format!("{name}#{number}");
        self.parents.insert(instance.clone(), ctx.instance.clone());
        if let Some(frame) = frame {
            self.calls.insert(instance.clone(), frame);
        }
        let start = self.stage_start(stage, &instance, &ctx.host, source, &ctx.fanout, &ctx.lanes);
        self.connect(&frontier, start);
        // Inside a loop or block that tolerates failures, the instance's
        // failures count against it unless its stage or the `again` says
        // where they go.
        let outer = match ctx.tally {
            Some(_) => Routes {
                failure: None,
                ..self.runbook_routes
            },
            None => self.runbook_routes,
        };
        let mut routes = self.stage_routes(stage, source, outer);
        // In the clean-up, every node goes on to the next, whatever the
        // stage says elsewhere.
        if ctx.host == FINALLY {
            routes = ctx.routes;
        }
        for route in own_routes.iter().filter(|_| ctx.host != FINALLY) {
            let at = Origin {
                source: ctx.source,
                span: route.span,
            };
            match route.route.event {
                RouteEvent::Failure => routes.failure = Some((&route.route.target, at)),
                RouteEvent::Cancel => routes.cancel = Some((&route.route.target, at)),
            }
        }
        let inner = Ctx {
            source,
            stage: name,
            instance,
            host: ctx.host.clone(),
            routes,
            fanout: ctx.fanout.clone(),
            lanes: ctx.lanes.clone(),
            tally: ctx.tally,
        };
        self.again_stack.push(name.to_string());
        let entry = self.stage_entry(start, &inner, origin);
        let exits = self.items(&stage.items, &inner, entry, true);
        self.again_stack.pop();
        exits
    }
}

/// Every cycle, reported once with its path.
fn cycles(graph: &Graph) -> Vec<Finding> {
    let g = &graph.graph;
    let mut findings = Vec::new();
    // Kosaraju's walk keeps its stack on the heap; Tarjan's recursion in
    // petgraph overflows the thread's stack on a long run of steps. The
    // components are put in the order they are written, as the findings
    // are read.
    let mut components = petgraph::algo::kosaraju_scc(g);
    components.sort_by_key(|component| {
        component
            .iter()
            .map(|n| (g[*n].origin.source, g[*n].origin.span.start))
            .min()
    });
    for component in components {
        let looped = component.len() > 1
            || component
                .first()
                .is_some_and(|n| g.find_edge(*n, *n).is_some());
        if !looped {
            continue;
        }
        let members: HashSet<NodeIndex> = component.iter().copied().collect();
        let mut path = cycle_path(g, component[0], &members);
        // Start the story at the node written first, so the edge blamed is
        // the `then`, route or branch that goes back up the file to it.
        if let Some(first) = (0..path.len()).min_by_key(|&i| {
            let origin = g[path[i].0].origin;
            (origin.source, origin.span.start)
        }) {
            path.rotate_left(first);
        }
        let names: Vec<&str> = path
            .iter()
            .map(|(n, _)| g[*n].id.as_str())
            .filter(|id| !id.is_empty())
            .collect();
        let Some(&(_, closing)) = path.last() else {
            continue;
        };
        let closing = g[closing].origin;
        let names: Vec<&str> = match names.first() {
            Some(first) => names.iter().copied().chain([*first]).collect(),
            None => continue,
        };
        let mut diagnostic = Diagnostic::error(
            "rbx::lint::cycle",
            format!("these steps form a cycle: {}", names.join(" → ")),
        )
        .primary(closing.span, "this leads back to an earlier step")
        .help(
            "a procedure is a DAG: to run a stage again, use `again STAGE` with its own \
             `on failure`, or route to a later stage",
        );
        for (_, edge) in &path[..path.len().saturating_sub(1)] {
            if !is_flow(g, *edge) {
                continue;
            }
            let at = g[*edge].origin;
            if at.source == closing.source && at.span.start != closing.span.start {
                diagnostic = diagnostic.secondary(at.span, "part of the cycle");
            }
        }
        findings.push(Finding {
            source: closing.source,
            diagnostic,
        });
    }
    findings
}

/// Whether an edge changes course — a `then`, a route, a branch or an
/// outcome — rather than going on to the next item of a stage.
fn is_flow(g: &DiGraph<Node, Edge>, edge: petgraph::graph::EdgeIndex) -> bool {
    let Some((_, to)) = g.edge_endpoints(edge) else {
        return false;
    };
    let into_stage = matches!(g[to].kind, NodeKind::StageStart { .. }) && g[to].stage == g[to].host;
    g[edge].kind != EdgeKind::Next || into_stage
}

/// A path around the cycle through `start`: each node with the edge that
/// leaves it.
fn cycle_path(
    g: &DiGraph<Node, Edge>,
    start: NodeIndex,
    members: &HashSet<NodeIndex>,
) -> Vec<(NodeIndex, petgraph::graph::EdgeIndex)> {
    // Breadth-first search from start's successors back to start, within
    // the component, gives a shortest cycle.
    let mut previous: HashMap<NodeIndex, (NodeIndex, petgraph::graph::EdgeIndex)> = HashMap::new();
    let mut queue = VecDeque::new();
    for edge in g.edges_directed(start, Direction::Outgoing) {
        if members.contains(&edge.target()) && !previous.contains_key(&edge.target()) {
            previous.insert(edge.target(), (start, edge.id()));
            queue.push_back(edge.target());
        }
    }
    while let Some(node) = queue.pop_front() {
        if node == start {
            break;
        }
        for edge in g.edges_directed(node, Direction::Outgoing) {
            let next = edge.target();
            if members.contains(&next) && !previous.contains_key(&next) {
                previous.insert(next, (node, edge.id()));
                queue.push_back(next);
            }
        }
    }
    let mut path = Vec::new();
    let mut at = start;
    while let Some(&(from, edge)) = previous.get(&at) {
        path.push((from, edge));
        at = from;
        if at == start || path.len() > members.len() {
            break;
        }
    }
    path.reverse();
    path
}

/// Nodes nothing leads to: reported once per stage never reached, and at
/// the first node of each run of nodes within a reached stage.
fn unreachable(graph: &Graph, sources: &[Source]) -> Vec<Finding> {
    let g = &graph.graph;
    let Some(start) = graph.start else {
        return Vec::new();
    };
    let mut reached = HashSet::new();
    let mut bfs = petgraph::visit::Bfs::new(g, start);
    while let Some(node) = bfs.next(g) {
        reached.insert(node);
    }
    let again_targets = again_targets(sources);
    let mut findings = Vec::new();
    for index in g.node_indices() {
        if reached.contains(&index) {
            continue;
        }
        let node = &g[index];
        // A clean-up is reached by the run's or its stage's end, not by an
        // edge.
        if crate::symbols::is_cleanup(&node.host) {
            continue;
        }
        let has_unreached_predecessor = g
            .neighbors_directed(index, Direction::Incoming)
            .any(|p| !reached.contains(&p));
        match &node.kind {
            NodeKind::StageStart { stage, .. } if node.stage == node.host => {
                if again_targets.contains(stage) {
                    continue;
                }
                findings.push(Finding {
                    source: node.origin.source,
                    diagnostic: Diagnostic::warning(
                        "rbx::lint::unreachable",
                        format!("the stage `{stage}` is never reached"),
                    )
                    .primary(node.origin.span, "no `then`, route or branch leads here")
                    .help("route to it from another stage, or remove it"),
                });
            }
            NodeKind::Block(_) | NodeKind::Anchor(_) | NodeKind::End { .. }
                if !has_unreached_predecessor && reached.contains(&stage_start(graph, node)) =>
            {
                findings.push(Finding {
                    source: node.origin.source,
                    diagnostic: Diagnostic::warning(
                        "rbx::lint::unreachable",
                        format!("`{}` can never run", node.id),
                    )
                    .primary(name_span(node), "nothing before it continues here")
                    .help("an earlier `then`, `end` or decision always leaves the stage first"),
                });
            }
            _ => {}
        }
    }
    findings
}

/// The span of a node's id, where a diagnostic about the node points.
pub fn name_span(node: &Node) -> Span {
    match &node.kind {
        NodeKind::Block(block) => block.id.span,
        NodeKind::Anchor(anchor) => anchor.id.span,
        NodeKind::StageStart { .. }
        | NodeKind::Checklist { .. }
        | NodeKind::End { .. }
        | NodeKind::Until { .. }
        | NodeKind::Tick { .. }
        | NodeKind::Guard { .. }
        | NodeKind::Tally { .. } => node.origin.span,
    }
}

fn stage_start(graph: &Graph, node: &Node) -> NodeIndex {
    graph.node(&node.stage).unwrap_or_default()
}

fn again_targets(sources: &[Source]) -> HashSet<String> {
    fn walk(items: &[StageItem], out: &mut HashSet<String>) {
        for item in items {
            match &item.kind {
                StageItemKind::Again(again) => {
                    out.insert(again.stage.name.clone());
                }
                StageItemKind::Foreach(foreach) => walk(&foreach.items, out),
                StageItemKind::Parallel(parallel) => walk(&parallel.items, out),
                StageItemKind::Repeat(repeat) => walk(&repeat.items, out),
                StageItemKind::Every(every) => walk(&every.items, out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    for file in sources.iter().filter_map(|s| s.file.as_ref()) {
        for item in &file.items {
            if let ItemKind::Stage(stage) = &item.kind {
                walk(&stage.items, &mut out);
            }
        }
    }
    out
}
