//! The graph one run walks: the checked DAG with every `foreach` expanded
//! for the items of its list, which are known once the inputs are.
//!
//! A node inside `foreach host in hosts` becomes one node per host
//! (`restart.drain[web-1]`), each with its own checkpoints. Edges join
//! instances whose enclosing items agree; an edge out of a loop joins every
//! item. Each loop instance, and each `parallel N` or tolerating block
//! instance, becomes a [`Gate`]: its items in order, with the nodes that
//! start each, which readiness admits `N` unfinished at a time (rule R4)
//! and closes once more items failed than it tolerates (rule R6).

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::Direction;
use petgraph::graph::EdgeReference;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rbx_check::graph::{Edge, EdgeKind, Graph, NodeKind};
use rbx_syntax::ast::Tolerate;

use crate::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// An edge of the procedure's own order, inside a flow.
    Flow(EdgeKind),
    /// A route out of its flow (rule L1): taking it leaves the flow.
    Route(EdgeKind),
}

#[derive(Debug, Clone)]
pub struct XNode {
    /// The checked node's id, with `[item]` per enclosing loop.
    pub id: String,
    pub check: NodeIndex,
    /// The flow (primary stage instance) the node belongs to (rule G2).
    pub flow: String,
    /// The loop variables in scope and their items, outermost first. A
    /// variable's name is shared by every instance of its loop.
    pub items: Vec<(Arc<str>, Value)>,
    /// Each item's place in its list (`VAR.index`, from 0), in the same
    /// order.
    pub positions: Vec<usize>,
}

/// One instance of a loop, or of a `parallel` block that is limited or
/// tolerates failures: its items (or branches) in order.
#[derive(Debug, Clone)]
pub struct Gate {
    /// How many items may be unfinished at once (rule R4).
    pub at_once: usize,
    pub items: Vec<GateItem>,
    /// The tally node that judges the items' failures (rule R6).
    pub tally: Option<usize>,
    pub tolerate: Option<Tolerate>,
    /// For a `repeat`'s loop, each iteration's until node, by item: once
    /// one held, no later iteration is admitted (rule U2).
    pub until: Vec<usize>,
    /// For an `every`'s loop, each iteration's tick, by item (rule V1).
    pub ticks: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct GateItem {
    /// The item's value, or the branch's first node, as the record names it.
    pub label: String,
    /// Every node of the item.
    pub members: Vec<usize>,
    /// The item's first nodes: no edge leads to them from the same item.
    pub entries: Vec<usize>,
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
    /// The start of the runbook's `finally` block (rule X1).
    pub finally: Option<usize>,
    pub gates: Vec<Gate>,
    /// For each node, the gate items it is a member of: (gate, item).
    pub member_of: Vec<Vec<(usize, usize)>>,
    /// For each node, the gate items it is an entry of.
    pub entry_of: Vec<Vec<(usize, usize)>>,
    /// For each tally node, its gate.
    pub tally_gate: HashMap<usize, usize>,
    /// Which stage instance each node is in, and their own clean-ups.
    pub scopes: crate::cleanup::Scopes,
    /// The lists some loop goes over (`hosts`, `discover.hosts`): a node's
    /// capture among them expands the plan again when it is recorded.
    pub loop_lists: std::collections::HashSet<String>,
    /// For each tick of an `every`, the instances of the nodes it runs
    /// beside, in the same loop items (rule V3), and its gate.
    pub watched: HashMap<usize, (Vec<usize>, usize)>,
}

/// One expansion of a node: its item positions and the values of its loop
/// variables, outermost loop first.
type Combo = (Vec<usize>, Vec<(Arc<str>, Value)>);

/// The instances of each node of the checked graph: their indices in the
/// plan, in the order of their item positions.
pub(crate) type Instances = HashMap<NodeIndex, Vec<usize>>;

/// One gate: the loop's or block's id and the positions of the loops
/// around it.
type GateKey = (usize, Vec<usize>);

/// Expands `graph` for the list values in `lists`: the items of a list
/// (an input's name, or `step.capture`) as the node with the given id
/// sees them.
pub(crate) fn expand(graph: &Graph, lists: &crate::Lists<'_>) -> Plan {
    let g = &graph.graph;
    let mut plan = Plan::default();
    let mut instances: Instances = HashMap::new();
    for index in g.node_indices() {
        let made = plan.instantiate(graph, index, lists);
        instances.insert(index, made);
    }
    plan.incoming = vec![Vec::new(); plan.nodes.len()];
    plan.outgoing = vec![Vec::new(); plan.nodes.len()];
    for edge in g.edge_references() {
        plan.join_instances(graph, edge, &instances);
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
            for fx in instances.get(&from).unwrap_or(&empty) {
                for tx in instances.get(&beyond).unwrap_or(&empty) {
                    plan.link(*fx, *tx, link_of(edge.weight()));
                }
            }
        }
    }
    plan.gate(graph, lists);
    let first = |node: Option<NodeIndex>| {
        node.and_then(|s| instances.get(&s))
            .and_then(|i| i.first())
            .copied()
    };
    plan.start = first(graph.start);
    plan.finally = first(graph.finally);
    plan.watched = crate::every::watched(graph, &plan, &instances);
    plan.scopes = crate::cleanup::Scopes::of(graph, &plan);
    plan.loop_lists = g
        .node_weights()
        .flat_map(|n| n.fanout.iter().map(|f| f.list.clone()))
        .collect();
    plan
}

impl Plan {
    /// Adds the instances of the checked node `index`, one per
    /// combination of the items of the loops around it, outermost loop
    /// first; returns their indices.
    fn instantiate(
        &mut self,
        graph: &Graph,
        index: NodeIndex,
        lists: &crate::Lists<'_>,
    ) -> Vec<usize> {
        let node = &graph.graph[index];
        let mut combos: Vec<Combo> = vec![(Vec::new(), Vec::new())];
        let mut names: Vec<Vec<String>> = Vec::new();
        let depth = node.fanout.len();
        for fanout in &node.fanout {
            let values = match (&fanout.repeat, &fanout.every) {
                (Some(repeat), _) => (1..=repeat.at_most).map(Value::Int).collect(),
                (None, Some(every)) => (1..=every.at_most).map(Value::Int).collect(),
                (None, None) => lists.items(&fanout.list, &node.id),
            };
            names.push(item_names(&values));
            let var: Arc<str> = Arc::from(fanout.var.as_str());
            let mut next = Vec::with_capacity(combos.len() * values.len());
            for (positions, items) in &combos {
                for (i, value) in values.iter().enumerate() {
                    // Made to their final length at once: one allocation
                    // each, however deep the loops.
                    let mut next_positions = Vec::with_capacity(depth);
                    next_positions.extend_from_slice(positions);
                    next_positions.push(i);
                    let mut next_items = Vec::with_capacity(depth);
                    next_items.extend_from_slice(items);
                    next_items.push((Arc::clone(&var), value.clone()));
                    next.push((next_positions, next_items));
                }
            }
            combos = next;
        }
        let first = self.nodes.len();
        self.nodes.reserve(combos.len());
        self.by_id.reserve(combos.len());
        for (positions, items) in combos {
            let brackets: usize = positions
                .iter()
                .zip(&names)
                .map(|(i, n)| n[*i].len() + 2)
                .sum();
            let mut id = String::with_capacity(node.id.len() + brackets);
            id.push_str(&node.id);
            for (i, names) in positions.iter().zip(&names) {
                id.push('[');
                id.push_str(&names[*i]);
                id.push(']');
            }
            self.by_id.insert(id.clone(), self.nodes.len());
            self.nodes.push(XNode {
                id,
                check: index,
                flow: node.host.clone(),
                items,
                positions,
            });
        }
        // A tally has no name in the runbook for `id.field` to read. Every
        // instance has the name of the node it expands: its brackets come
        // after the node's id.
        let made: Vec<usize> = (first..self.nodes.len()).collect();
        let named = !matches!(node.kind, NodeKind::Tally { .. });
        if let Some(name) = crate::runner::base_name(&node.id).filter(|_| named && !made.is_empty())
        {
            self.by_name
                .entry(name)
                .or_default()
                .extend(made.iter().copied());
        }
        made
    }

    /// Links the instances of the edge's two nodes whose enclosing items
    /// agree (rule G3): found by those items, so that an edge inside a
    /// loop of N items costs N, not N². Outside any shared loop, every
    /// instance agrees with every other.
    fn join_instances(
        &mut self,
        graph: &Graph,
        edge: EdgeReference<'_, Edge>,
        instances: &Instances,
    ) {
        let (from, to) = (edge.source(), edge.target());
        let shared = common_loops(graph, from, to);
        let empty = Vec::new();
        let (sources, targets) = (
            instances.get(&from).unwrap_or(&empty),
            instances.get(&to).unwrap_or(&empty),
        );
        let mut pairs = Vec::new();
        if shared == 0 {
            for &fx in sources {
                pairs.extend(targets.iter().map(|&tx| (fx, tx)));
            }
        } else {
            let at = |x: usize| self.nodes[x].positions.get(..shared);
            let mut agreeing: HashMap<Option<&[usize]>, Vec<usize>> = HashMap::new();
            for &tx in targets {
                agreeing.entry(at(tx)).or_default().push(tx);
            }
            for &fx in sources {
                let agree = agreeing.get(&at(fx)).map_or(&[][..], Vec::as_slice);
                pairs.extend(agree.iter().map(|&tx| (fx, tx)));
            }
        }
        for (fx, tx) in pairs {
            self.link(fx, tx, link_of(edge.weight()));
        }
    }
}

/// The nodes with instances reached from `node` through nodes without any
/// (the body of a loop over an empty list).
fn past_empty(graph: &Graph, node: NodeIndex, instances: &Instances) -> Vec<NodeIndex> {
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
    /// Whether a route leads out of `x` (rule L1): only such a node can
    /// leave its flow.
    pub(crate) fn routes_out(&self, x: usize) -> bool {
        self.outgoing[x]
            .iter()
            .any(|(_, link)| matches!(link, Link::Route(_)))
    }

    fn link(&mut self, from: usize, to: usize, link: Link) {
        self.outgoing[from].push((to, link.clone()));
        self.incoming[to].push((from, link));
    }

    /// Groups the nodes of every loop instance, and of every limited or
    /// tolerating block instance, into gates, item by item (rules R4, R6).
    fn gate(&mut self, graph: &Graph, lists: &crate::Lists<'_>) {
        let g = &graph.graph;
        let mut keys = GateKeys::default();
        self.member_of = vec![Vec::new(); self.nodes.len()];
        self.entry_of = vec![Vec::new(); self.nodes.len()];
        for x in 0..self.nodes.len() {
            let node = &g[self.nodes[x].check];
            for (depth, fanout) in node.fanout.iter().enumerate() {
                let shape = || {
                    let at_once = match &fanout.parallel_expr {
                        Some(expr) => lists.width(expr),
                        None => limit(fanout.parallel, 1),
                    };
                    (at_once, fanout.tolerate.clone())
                };
                let gate = keys.gate(self, fanout.id, x, depth, shape);
                let item = self.nodes[x].positions[depth];
                self.join(gate, item, x, |id| item_label(id, depth));
            }
            for lane in &node.lanes {
                let shape = || {
                    let at_once = match &lane.at_once_expr {
                        Some(expr) => lists.width(expr),
                        None => limit(lane.at_once, usize::MAX),
                    };
                    (at_once, lane.tolerate.clone())
                };
                let gate = keys.gate(self, lane.id, x, lane.depth, shape);
                self.join(gate, lane.branch, x, |id| branch_label(id, lane.branch));
            }
        }
        self.close_gates(graph, &keys.all);
    }

    /// Makes `x` a member of the item `item` of `gate`; the first member
    /// names the item.
    fn join(&mut self, gate: usize, item: usize, x: usize, label: impl FnOnce(&str) -> String) {
        let first = self.gates[gate]
            .items
            .get(item)
            .is_none_or(|i| i.members.is_empty());
        let label = first.then(|| label(&self.nodes[x].id));
        let items = &mut self.gates[gate].items;
        if items.len() <= item {
            items.resize_with(item + 1, GateItem::default);
        }
        if let Some(label) = label {
            items[item].label = label;
        }
        items[item].members.push(x);
        self.member_of[x].push((gate, item));
    }

    /// Each item's entries, and each gate's until nodes, ticks and tally.
    fn close_gates(&mut self, graph: &Graph, keys: &HashMap<GateKey, usize>) {
        let g = &graph.graph;
        for x in 0..self.nodes.len() {
            for at in 0..self.member_of[x].len() {
                let (gate, item) = self.member_of[x][at];
                let inside = self.incoming[x]
                    .iter()
                    .any(|(from, _)| self.member_of[*from].contains(&(gate, item)));
                if !inside {
                    self.gates[gate].items[item].entries.push(x);
                    self.entry_of[x].push((gate, item));
                }
            }
            let node = &g[self.nodes[x].check];
            if let (NodeKind::Until { .. }, Some(own)) = (&node.kind, node.fanout.last()) {
                let depth = node.fanout.len() - 1;
                let key = (own.id, self.nodes[x].positions[..depth].to_vec());
                if let Some(&gate) = keys.get(&key) {
                    self.gates[gate].until.push(x);
                }
            }
            if let (NodeKind::Tick { .. }, Some(own)) = (&node.kind, node.fanout.last()) {
                let depth = node.fanout.len() - 1;
                let key = (own.id, self.nodes[x].positions[..depth].to_vec());
                if let Some(&gate) = keys.get(&key) {
                    self.gates[gate].ticks.push(x);
                }
            }
            if let NodeKind::Tally { group, .. } = node.kind {
                let key = (group, self.nodes[x].positions.clone());
                if let Some(&gate) = keys.get(&key) {
                    self.gates[gate].tally = Some(x);
                    self.tally_gate.insert(x, gate);
                }
            }
        }
    }
}

/// The gates made so far, by their loop's or block's id and the positions
/// of the loops around it. Nodes of one gate come one after another in the
/// plan, so the last gate found is tried first, without a key made.
#[derive(Default)]
struct GateKeys {
    all: HashMap<GateKey, usize>,
    last: Option<(GateKey, usize)>,
}

impl GateKeys {
    /// The gate of the loop or block `id` that holds `x`, whose loops
    /// around it are the first `depth` of `x`'s; made with `shape` (its
    /// width and tolerance) when it is new.
    fn gate(
        &mut self,
        plan: &mut Plan,
        id: usize,
        x: usize,
        depth: usize,
        shape: impl FnOnce() -> (usize, Option<Tolerate>),
    ) -> usize {
        let around = &plan.nodes[x].positions[..depth];
        if let Some(((last_id, last_around), gate)) = &self.last {
            if *last_id == id && last_around.as_slice() == around {
                return *gate;
            }
        }
        let key = (id, around.to_vec());
        let next = plan.gates.len();
        let gate = *self.all.entry(key.clone()).or_insert(next);
        if gate == next {
            let (at_once, tolerate) = shape();
            plan.gates.push(Gate {
                at_once,
                items: Vec::new(),
                tally: None,
                tolerate,
                until: Vec::new(),
                ticks: Vec::new(),
            });
        }
        self.last = Some((key, gate));
        gate
    }
}

/// `parallel N` as a count of items at once: `absent` without one, and at
/// least one.
fn limit(parallel: Option<i64>, absent: usize) -> usize {
    parallel.map_or(absent, |n| usize::try_from(n).unwrap_or(1).max(1))
}

/// How the record names an item of a loop: as the node's id does, the
/// item's name in the `depth`-th brackets (`web-1`, or `#3` for an item
/// that cannot name itself).
fn item_label(id: &str, depth: usize) -> String {
    id.split('[')
        .nth(depth + 1)
        .map(|name| name.trim_end_matches(']').to_string())
        .unwrap_or_default()
}

/// How the record names a branch of a `parallel` block: its first node's id
/// in the runbook, else its place.
fn branch_label(id: &str, branch: usize) -> String {
    crate::runner::base_name(id).unwrap_or_else(|| format!("branch {}", branch + 1))
}
