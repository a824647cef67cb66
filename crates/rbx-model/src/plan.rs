//! The run's graph (rules G1–G4 and R4): the checked graph with every
//! `foreach` expanded for the items of its list.
//!
//! Written for reading, not speed: a node per (checked node, item
//! combination), an edge per checked edge and pair of instances whose
//! shared loops agree, and the `parallel N` limit kept as a list of nodes
//! to wait for rather than as edges.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rbx_check::graph::{EdgeKind, Graph};

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
    positions: Vec<usize>,
}

/// An edge of the run's graph: its kind and whether it leaves its flow (L1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: EdgeKind,
    pub route: bool,
    /// For a branch: whether it is the first written with its label. A
    /// decision takes the first `when` that holds, so of two written the
    /// same only the first can be the branch it took.
    pub first: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: Vec<XNode>,
    pub preds: Vec<Vec<(usize, Link)>>,
    pub succs: Vec<Vec<(usize, Link)>>,
    /// Rule R4: the nodes a loop item's first nodes wait for, item `i - N`.
    pub waits: Vec<Vec<usize>>,
    pub start: Option<usize>,
    by_id: HashMap<String, usize>,
}

impl Plan {
    pub fn expand(graph: &Graph, inputs: &Inputs) -> Result<Plan, ModelError> {
        let g = &graph.graph;
        let mut nodes = Vec::new();
        let mut instances: HashMap<NodeIndex, Vec<usize>> = HashMap::new();
        for index in g.node_indices() {
            let node = &g[index];
            // Every combination of items, outermost loop first (G3).
            let mut combos: Vec<Combo> = vec![(vec![], vec![])];
            for fanout in &node.fanout {
                let list = match inputs.get(&fanout.list) {
                    Some(Value::List(list)) if !list.is_empty() => list,
                    Some(Value::List(_)) => {
                        return Err(ModelError::Unsupported(format!(
                            "`{}` is empty: the rules do not say where a loop over nothing leads",
                            fanout.list
                        )));
                    }
                    _ => {
                        return Err(ModelError::Unsupported(format!(
                            "a loop over `{}`, which is not a list input",
                            fanout.list
                        )));
                    }
                };
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
            waits: vec![Vec::new(); nodes.len()],
            start: graph
                .start
                .and_then(|s| instances.get(&s)?.first().copied()),
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
            let written = |e: &rbx_check::graph::Edge| (e.origin.source, e.origin.span.start);
            let first = !g.edges(from).any(|other| {
                other.weight().kind == edge.weight().kind
                    && written(other.weight()) < written(edge.weight())
            });
            let link = Link {
                kind: edge.weight().kind.clone(),
                route: edge.weight().route,
                first,
            };
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
        plan.limit_loops(graph);
        Ok(plan)
    }

    /// Rule R4: a node that starts the body of a loop (no edge into it from
    /// the same loop) waits, for item `i`, until every node of item `i - N`
    /// of that loop has settled. Serial loops have `N = 1`.
    fn limit_loops(&mut self, graph: &Graph) {
        let g = &graph.graph;
        for x in 0..self.nodes.len() {
            let fanout = &g[self.nodes[x].check].fanout;
            for (depth, lp) in fanout.iter().enumerate() {
                let in_loop = |y: usize| {
                    g[self.nodes[y].check]
                        .fanout
                        .get(depth)
                        .is_some_and(|f| f.id == lp.id)
                };
                let starts_body = self.preds[x].iter().all(|(p, _)| !in_loop(*p));
                let at_once = lp
                    .parallel
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(1)
                    .max(1);
                let position = self.nodes[x].positions[depth];
                if !starts_body || position < at_once {
                    continue;
                }
                let outer = &self.nodes[x].positions[..depth];
                let earlier: Vec<usize> = (0..self.nodes.len())
                    .filter(|&y| {
                        in_loop(y)
                            && self.nodes[y].positions[..depth] == *outer
                            && self.nodes[y].positions[depth] == position - at_once
                    })
                    .collect();
                self.waits[x].extend(earlier);
            }
        }
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// A node and every node reachable from it by any edge or wait, for
    /// `--from`.
    pub fn descendants(&self, from: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![from];
        while let Some(x) = stack.pop() {
            if std::mem::replace(&mut seen[x], true) {
                continue;
            }
            stack.extend(self.succs[x].iter().map(|(to, _)| *to));
            stack.extend((0..self.nodes.len()).filter(|&y| self.waits[y].contains(&x)));
        }
        (0..self.nodes.len()).filter(|&x| seen[x]).collect()
    }
}
