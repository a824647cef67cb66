//! The run's graph (rules G1–G4, R4 and R6): the checked graph with every
//! `foreach` expanded for the items of its list.
//!
//! Written for reading, not speed: a node per (checked node, item
//! combination), an edge per checked edge and pair of instances whose
//! shared loops agree, and each loop instance (and each `parallel N` or
//! tolerating block) kept as a list of its items' nodes.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::{DiGraph, EdgeReference, NodeIndex};
use petgraph::visit::EdgeRef;
use rbx_check::graph::{Edge, EdgeKind, Fanout, Graph, Node, NodeKind};
use rbx_syntax::ast::Tolerate;

use crate::cleanup::Scopes;
use crate::{Inputs, ModelError, Value};

/// One combination of items: each enclosing loop's position, and its
/// variable with the item there.
type Combo = (Vec<usize>, Vec<(String, String)>);

/// One node of the run: a checked node for one combination of items.
#[derive(Debug, Clone)]
pub struct XNode {
    /// `stage.node[item]…`, outermost loop first (G1).
    pub id: String,
    pub check: NodeIndex,
    /// The flow the node belongs to (G2).
    pub flow: String,
    /// Each enclosing loop's variable and this node's item, outermost first.
    pub items: Vec<(String, String)>,
    /// The item's position in each enclosing loop's list.
    pub positions: Vec<usize>,
}

/// An edge of the run's graph: its kind and whether it leaves its flow (L1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: EdgeKind,
    pub route: bool,
    /// For a branch: whether it is the first of the node's own clauses
    /// written with its label (or goes on past the node). A decision takes
    /// the first `when` that holds, so of two written the same only the
    /// first can be the branch it took.
    pub first: bool,
}

/// One loop instance, or one limited or tolerating `parallel` block
/// instance.
#[derive(Debug, Clone)]
pub struct Group {
    /// How many items may be unfinished at once.
    pub at_once: usize,
    /// Each item's (or branch's) nodes, in list (or written) order.
    pub items: Vec<Vec<usize>>,
    pub tolerate: Option<Tolerate>,
    /// The node that judges the items' failures.
    pub tally: Option<usize>,
    /// For a `repeat`, each iteration's until node (U2).
    pub until: Vec<usize>,
    /// For an `every`, each iteration's tick (V1).
    pub ticks: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: Vec<XNode>,
    pub preds: Vec<Vec<(usize, Link)>>,
    pub succs: Vec<Vec<(usize, Link)>>,
    /// Rules R4 and R6: every loop instance, and every `parallel N` or
    /// tolerating block instance.
    pub groups: Vec<Group>,
    pub start: Option<usize>,
    /// The start of the runbook's `finally` block (rule X1).
    pub finally: Option<usize>,
    /// Rule Y1: the stage instance each node is inside, and their
    /// clean-ups.
    pub scopes: Scopes,
    /// Rule V1: each tick of an `every`, and its beside set.
    pub beside: BTreeMap<usize, Vec<usize>>,
    by_id: HashMap<String, usize>,
}

/// Every combination of items of the loops around `node`, outermost loop
/// first (G3).
fn combos(node: &Node, inputs: &Inputs) -> Result<Vec<Combo>, ModelError> {
    let mut combos: Vec<Combo> = vec![(vec![], vec![])];
    for fanout in &node.fanout {
        crate::every::check_interval(fanout)?;
        let list = loop_items(fanout, inputs)?;
        combos = combos
            .iter()
            .flat_map(|(positions, items)| {
                list.iter().enumerate().map(move |(i, item)| {
                    let mut positions = positions.clone();
                    positions.push(i);
                    let mut items = items.clone();
                    items.push((fanout.var.clone(), item.clone()));
                    (positions, items)
                })
            })
            .collect();
    }
    Ok(combos)
}

/// A loop's items: a `repeat`'s or an `every`'s iterations, 1 to N (U1,
/// V1), or a `foreach`'s list.
fn loop_items(fanout: &Fanout, inputs: &Inputs) -> Result<Vec<String>, ModelError> {
    let at_most = fanout.repeat.as_ref().map(|r| r.at_most);
    if let Some(n) = at_most.or(fanout.every.as_ref().map(|e| e.at_most)) {
        return Ok((1..=n).map(|i| i.to_string()).collect());
    }
    match inputs.get(&fanout.list) {
        Some(Value::List(list)) if !list.is_empty() => Ok(list.clone()),
        Some(Value::List(_)) => Err(ModelError::Unsupported(format!(
            "`{}` is empty: the rules do not say where a loop over nothing leads",
            fanout.list
        ))),
        _ => Err(ModelError::Unsupported(format!(
            "a loop over `{}`, which is not a list input",
            fanout.list
        ))),
    }
}

/// What an edge of the checked graph is in the plan: its kind, whether it
/// is a route, and whether it is the first of its kind its node wrote.
fn link(g: &DiGraph<Node, Edge>, edge: EdgeReference<'_, Edge>) -> Link {
    let from = edge.source();
    let written = |e: &Edge| (e.origin.source, e.origin.span.start);
    // Only the node's own clauses can be written twice: an edge that goes
    // on past it (to the item after an `every`, or by `then`) carries with
    // the branch it continues. And V1: the edge into an `every`'s first
    // tick is one more way on beside the edges lowered as if the `every`
    // were not there.
    let node = &g[from].origin;
    let clause = |e: &Edge| {
        e.origin.source == node.source
            && node.span.start <= e.origin.span.start
            && e.origin.span.end <= node.span.end
    };
    let tick = |n: NodeIndex| matches!(g[n].kind, NodeKind::Tick { .. });
    let first = tick(edge.target())
        || !clause(edge.weight())
        || !g.edges(from).any(|other| {
            other.weight().kind == edge.weight().kind
                && clause(other.weight())
                && !tick(other.target())
                && written(other.weight()) < written(edge.weight())
        });
    Link {
        kind: edge.weight().kind.clone(),
        route: edge.weight().route,
        first,
    }
}

impl Plan {
    pub fn expand(graph: &Graph, inputs: &Inputs) -> Result<Plan, ModelError> {
        let g = &graph.graph;
        let mut nodes = Vec::new();
        let mut instances: HashMap<NodeIndex, Vec<usize>> = HashMap::new();
        for index in g.node_indices() {
            let node = &g[index];
            let combos = combos(node, inputs)?;
            for (positions, items) in combos {
                let suffix: String = items.iter().map(|(_, v)| format!("[{v}]")).collect();
                instances.entry(index).or_default().push(nodes.len());
                nodes.push(XNode {
                    id: format!("{}{suffix}", node.id),
                    check: index,
                    flow: node.host.clone(),
                    items,
                    positions,
                });
            }
        }
        let mut plan = Plan {
            preds: vec![Vec::new(); nodes.len()],
            succs: vec![Vec::new(); nodes.len()],
            groups: Vec::new(),
            start: graph
                .start
                .and_then(|s| instances.get(&s)?.first().copied()),
            finally: graph
                .finally
                .and_then(|s| instances.get(&s)?.first().copied()),
            scopes: Scopes::of(graph, &nodes),
            beside: crate::every::beside_sets(graph, &nodes, &instances),
            by_id: nodes
                .iter()
                .enumerate()
                .map(|(x, n)| (n.id.clone(), x))
                .collect(),
            nodes,
        };
        // An edge joins the instances that agree on the loops both ends
        // share; an edge into or out of a loop joins every item (G3).
        for edge in g.edge_references() {
            let (from, to) = (edge.source(), edge.target());
            let shared = g[from]
                .fanout
                .iter()
                .zip(&g[to].fanout)
                .take_while(|(a, b)| a.id == b.id)
                .count();
            let link = link(g, edge);
            let (sources, targets) = (&instances[&from], &instances[&to]);
            for &a in sources {
                for &b in targets {
                    if plan.nodes[a].positions[..shared] == plan.nodes[b].positions[..shared] {
                        plan.preds[b].push((a, link.clone()));
                        plan.succs[a].push((b, link.clone()));
                    }
                }
            }
        }
        plan.limit_loops(graph, inputs)?;
        Ok(plan)
    }

    /// Rules R4 and R6: the items of each loop instance (one per
    /// combination of the loops around it) and of each block with
    /// `parallel N` or `tolerate`, in order, and the tally of each.
    fn limit_loops(&mut self, graph: &Graph, inputs: &Inputs) -> Result<(), ModelError> {
        let g = &graph.graph;
        // (loop or block id, positions of the loops around it) → group.
        let mut found: BTreeMap<(usize, Vec<usize>), usize> = BTreeMap::new();
        for x in 0..self.nodes.len() {
            let check = &g[self.nodes[x].check];
            let positions = self.nodes[x].positions.clone();
            let mut places = Vec::new();
            for (depth, lp) in check.fanout.iter().enumerate() {
                let at_once = match &lp.parallel_expr {
                    Some(expr) => computed_width(expr, inputs)?,
                    None => lp
                        .parallel
                        .map_or(1, |n| usize::try_from(n).unwrap_or(1).max(1)),
                };
                let key = (lp.id, positions[..depth].to_vec());
                places.push((key, positions[depth], at_once, lp.tolerate.clone()));
            }
            for lane in &check.lanes {
                let at_once = match &lane.at_once_expr {
                    Some(expr) => computed_width(expr, inputs)?,
                    None => lane
                        .at_once
                        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(1).max(1)),
                };
                let key = (lane.id, positions[..lane.depth].to_vec());
                places.push((key, lane.branch, at_once, lane.tolerate.clone()));
            }
            for (key, item, at_once, tolerate) in places {
                let group = *found.entry(key).or_insert_with(|| {
                    self.groups.push(Group {
                        at_once,
                        items: Vec::new(),
                        tolerate,
                        tally: None,
                        until: Vec::new(),
                        ticks: Vec::new(),
                    });
                    self.groups.len() - 1
                });
                let items = &mut self.groups[group].items;
                while items.len() <= item {
                    items.push(Vec::new());
                }
                items[item].push(x);
            }
        }
        for x in 0..self.nodes.len() {
            let check = &g[self.nodes[x].check];
            let ends = matches!(check.kind, NodeKind::Until { .. } | NodeKind::Tick { .. });
            if let (true, Some(own)) = (ends, check.fanout.last()) {
                let depth = check.fanout.len() - 1;
                let key = (own.id, self.nodes[x].positions[..depth].to_vec());
                if let Some(&found) = found.get(&key) {
                    let group = &mut self.groups[found];
                    match check.kind {
                        NodeKind::Tick { .. } => group.ticks.push(x),
                        _ => group.until.push(x),
                    }
                }
            }
            if let NodeKind::Tally { group, .. } = g[self.nodes[x].check].kind {
                let key = (group, self.nodes[x].positions.clone());
                if let Some(&found) = found.get(&key) {
                    self.groups[found].tally = Some(x);
                }
            }
        }
        Ok(())
    }

    /// The items of every group that node `x` starts: it is in the item
    /// and no edge leads to it from the same item. (group, item) pairs.
    pub fn starts(&self, x: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (group, g) in self.groups.iter().enumerate() {
            for (item, members) in g.items.iter().enumerate() {
                if members.contains(&x) && !self.preds[x].iter().any(|(p, _)| members.contains(p)) {
                    out.push((group, item));
                }
            }
        }
        out
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// A node and every node reachable from it by any edge, for `--from`.
    pub fn descendants(&self, from: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![from];
        while let Some(x) = stack.pop() {
            if std::mem::replace(&mut seen[x], true) {
                continue;
            }
            stack.extend(self.succs[x].iter().map(|(to, _)| *to));
        }
        (0..self.nodes.len()).filter(|&x| seen[x]).collect()
    }
}

/// The places `parallel EXPR` gives. A width below one refuses the run
/// before anything is recorded, which the generator never writes.
fn computed_width(expr: &rbx_syntax::ast::Expr, inputs: &Inputs) -> Result<usize, ModelError> {
    let width = crate::eval::width(expr, inputs)?;
    usize::try_from(width)
        .ok()
        .filter(|&w| w >= 1)
        .ok_or_else(|| ModelError::Unsupported(format!("`parallel` of {width} places")))
}
