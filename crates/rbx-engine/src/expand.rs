//! The graph one run walks: the checked DAG with every `foreach` expanded
//! for the items of its list, which are known once the inputs are.
//!
//! A node inside `foreach host in hosts` becomes one node per host
//! (`restart.drain[web-1]`), each with its own checkpoints. Edges join
//! instances whose enclosing items agree; an edge out of a loop joins every
//! item. `parallel N` becomes ordering edges: item `i + N` starts only
//! once item `i` has settled.

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rbx_check::graph::{Edge, EdgeKind, Graph};

use crate::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// An edge of the procedure's own order, inside a flow.
    Flow(EdgeKind),
    /// A route out of its flow (rule L1): taking it leaves the flow.
    Route(EdgeKind),
    /// Only an ordering: wait for the source to settle, whatever its
    /// outcome. From a `parallel N` limit.
    Order,
}

#[derive(Debug, Clone)]
pub struct XNode {
    /// The checked node's id, with `[item]` per enclosing loop.
    pub id: String,
    pub check: NodeIndex,
    /// The flow (primary stage instance) the node belongs to (rule G2).
    pub flow: String,
    /// The loop variables in scope and their items, outermost first.
    pub items: Vec<(String, Value)>,
    /// Each item's place in its list (`VAR.index`, from 0), in the same
    /// order.
    pub positions: Vec<usize>,
}

/// The longest item that names its node instance as written.
const NAME_LIMIT: usize = 64;

/// How each item of a loop's list names its node instances: the item
/// itself (`restart[web-1]`) when it is short, plain and not repeated in
/// the list; otherwise its place, `#1` for the first. An item from a
/// command's output can hold anything, and an id is shown and journalled.
fn item_names(values: &[Value]) -> Vec<String> {
    let written: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::Secret(_) => String::new(),
            v => v.reveal(),
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for name in &written {
        *seen.entry(name.as_str()).or_default() += 1;
    }
    written
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let plain = !name.is_empty()
                && name.len() <= NAME_LIMIT
                && !name.starts_with('#')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:@/%+=,".contains(c));
            if plain && seen[name.as_str()] == 1 {
                name.clone()
            } else {
                format!("#{}", i + 1)
            }
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Plan {
    pub nodes: Vec<XNode>,
    pub incoming: Vec<Vec<(usize, Link)>>,
    pub outgoing: Vec<Vec<(usize, Link)>>,
    pub by_id: HashMap<String, usize>,
    /// Expanded nodes by the id their block has in the runbook (`version`
    /// for `smoke#2.version[web-1]`), for lookups of `version.build`.
    pub by_name: HashMap<String, Vec<usize>>,
    pub start: Option<usize>,
}

/// One expansion of a node: its item positions and the values of its loop
/// variables, outermost loop first.
type Combo = (Vec<usize>, Vec<(String, Value)>);

/// One loop level: its identity and the positions of the loops around it.
type LoopKey = (String, Vec<usize>);

/// Expands `graph` for the list values in `lists`: the items of a list
/// (an input's name, or `step.capture`) as the node with the given id
/// sees them.
pub fn expand(graph: &Graph, lists: &dyn Fn(&str, &str) -> Vec<Value>) -> Plan {
    let g = &graph.graph;
    let mut plan = Plan::default();
    let mut instances: HashMap<NodeIndex, Vec<(Vec<usize>, usize)>> = HashMap::new();
    for index in g.node_indices() {
        let node = &g[index];
        let mut combos: Vec<Combo> = vec![(Vec::new(), Vec::new())];
        let mut names: Vec<Vec<String>> = Vec::new();
        for fanout in &node.fanout {
            let values = lists(&fanout.list, &node.id);
            names.push(item_names(&values));
            let mut next = Vec::new();
            for (positions, items) in &combos {
                for (i, value) in values.iter().enumerate() {
                    let mut positions = positions.clone();
                    positions.push(i);
                    let mut items = items.clone();
                    items.push((fanout.var.clone(), value.clone()));
                    next.push((positions, items));
                }
            }
            combos = next;
        }
        for (positions, items) in combos {
            let suffix: String = positions
                .iter()
                .zip(&names)
                .map(|(i, names)| format!("[{}]", names[*i]))
                .collect();
            let id = format!("{}{suffix}", node.id);
            let x = plan.nodes.len();
            plan.by_id.insert(id.clone(), x);
            if let Some(name) = crate::runner::base_name(&id) {
                plan.by_name.entry(name).or_default().push(x);
            }
            plan.nodes.push(XNode {
                id,
                check: index,
                flow: node.host.clone(),
                items,
                positions: positions.clone(),
            });
            instances.entry(index).or_default().push((positions, x));
        }
    }
    plan.incoming = vec![Vec::new(); plan.nodes.len()];
    plan.outgoing = vec![Vec::new(); plan.nodes.len()];
    for edge in g.edge_references() {
        let (from, to) = (edge.source(), edge.target());
        let shared = common_loops(graph, from, to);
        let empty = Vec::new();
        for (from_pos, fx) in instances.get(&from).unwrap_or(&empty) {
            for (to_pos, tx) in instances.get(&to).unwrap_or(&empty) {
                if from_pos.get(..shared) == to_pos.get(..shared) {
                    plan.link(*fx, *tx, link_of(edge.weight()));
                }
            }
        }
    }
    // A loop over an empty list has no nodes at all: whatever led into it
    // leads past it, to the first nodes after the loop.
    for edge in g.edge_references() {
        let (from, to) = (edge.source(), edge.target());
        let empty = Vec::new();
        if instances.get(&to).is_some_and(|i| !i.is_empty()) {
            continue;
        }
        for &beyond in &past_empty(graph, to, &instances) {
            for (_, fx) in instances.get(&from).unwrap_or(&empty) {
                for (_, tx) in instances.get(&beyond).unwrap_or(&empty) {
                    plan.link(*fx, *tx, link_of(edge.weight()));
                }
            }
        }
    }
    plan.limit_parallelism(graph, &instances);
    plan.start = graph
        .start
        .and_then(|s| instances.get(&s))
        .and_then(|i| i.first())
        .map(|(_, x)| *x);
    plan
}

/// The nodes with instances reached from `node` through nodes without any
/// (the body of a loop over an empty list).
fn past_empty(
    graph: &Graph,
    node: NodeIndex,
    instances: &HashMap<NodeIndex, Vec<(Vec<usize>, usize)>>,
) -> Vec<NodeIndex> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![node];
    while let Some(at) = stack.pop() {
        if !seen.insert(at) {
            continue;
        }
        if instances.get(&at).is_some_and(|i| !i.is_empty()) {
            out.push(at);
            continue;
        }
        stack.extend(graph.graph.neighbors_directed(at, Direction::Outgoing));
    }
    out
}

/// How many loops two nodes share, outermost first (rule G3).
fn common_loops(graph: &Graph, a: NodeIndex, b: NodeIndex) -> usize {
    let (a, b) = (&graph.graph[a].fanout, &graph.graph[b].fanout);
    a.iter()
        .zip(b.iter())
        .take_while(|(x, y)| x.id == y.id)
        .count()
}

fn link_of(edge: &Edge) -> Link {
    if edge.route {
        Link::Route(edge.kind.clone())
    } else {
        Link::Flow(edge.kind.clone())
    }
}

impl Plan {
    fn link(&mut self, from: usize, to: usize, link: Link) {
        self.outgoing[from].push((to, link.clone()));
        self.incoming[to].push((from, link));
    }

    /// Chains item `i` of each loop level to item `i + N`: the loop's nodes
    /// for one item must all settle before the item `N` places later starts.
    fn limit_parallelism(
        &mut self,
        graph: &Graph,
        instances: &HashMap<NodeIndex, Vec<(Vec<usize>, usize)>>,
    ) {
        let g = &graph.graph;
        // Group expanded nodes by (loop identity, outer positions, item).
        let mut groups: HashMap<LoopKey, Vec<(usize, usize, NodeIndex)>> = HashMap::new();
        let mut limits: HashMap<LoopKey, usize> = HashMap::new();
        for (index, list) in instances {
            let node = &g[*index];
            for (depth, fanout) in node.fanout.iter().enumerate() {
                let key_loop = format!("{}:{depth}", fanout.id);
                for (positions, x) in list {
                    let outer = positions[..depth].to_vec();
                    let key = (key_loop.clone(), outer);
                    groups
                        .entry(key.clone())
                        .or_default()
                        .push((positions[depth], *x, *index));
                    let at_once = fanout
                        .parallel
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .unwrap_or(1);
                    limits.insert(key, at_once);
                }
            }
        }
        let mut keys: Vec<_> = groups.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let members = &groups[&key];
            let at_once = limits.get(&key).copied().unwrap_or(1);
            let in_loop: std::collections::HashSet<NodeIndex> =
                members.iter().map(|(_, _, i)| *i).collect();
            let items = members
                .iter()
                .map(|(item, _, _)| *item)
                .max()
                .map_or(0, |m| m + 1);
            for item in at_once..items {
                let earlier = item - at_once;
                // Exits of the earlier item: members with a successor outside the loop.
                let exits: Vec<usize> = members
                    .iter()
                    .filter(|(i, _, index)| {
                        *i == earlier
                            && g.neighbors_directed(*index, Direction::Outgoing)
                                .all(|n| !in_loop.contains(&n))
                    })
                    .map(|(_, x, _)| *x)
                    .collect();
                let entries: Vec<usize> = members
                    .iter()
                    .filter(|(i, _, index)| {
                        *i == item
                            && g.neighbors_directed(*index, Direction::Incoming)
                                .all(|n| !in_loop.contains(&n))
                    })
                    .map(|(_, x, _)| *x)
                    .collect();
                for &exit in &exits {
                    for &entry in &entries {
                        self.link(exit, entry, Link::Order);
                    }
                }
            }
        }
    }
}
