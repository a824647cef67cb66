//! A checked graph as data, for the engine's cache of checked procedures:
//! its nodes and edges in index order, and every other part with its node
//! indexes as numbers. Maps are written in key order, so one graph always
//! encodes to the same bytes. Reading rebuilds the graph node by node and
//! edge by edge in the order written, which gives back the same indexes
//! and the same order of each node's edges; an index out of range is an
//! error, never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rbx_syntax::ast::Block;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{CallFrame, Edge, Graph, Node, NodeKind, OutcomeClass};

#[derive(Serialize)]
struct Written<'a> {
    nodes: Vec<&'a Node>,
    edges: Vec<(u32, u32, &'a Edge)>,
    start: Option<u32>,
    finally: Option<u32>,
    outcomes: &'a BTreeMap<String, OutcomeClass>,
    cleanups: BTreeMap<&'a str, u32>,
    parents: BTreeMap<&'a str, &'a str>,
    calls: &'a BTreeMap<String, CallFrame>,
}

#[derive(Deserialize)]
struct Read {
    nodes: Vec<Node>,
    edges: Vec<(u32, u32, Edge)>,
    start: Option<u32>,
    finally: Option<u32>,
    outcomes: BTreeMap<String, OutcomeClass>,
    cleanups: BTreeMap<String, u32>,
    parents: BTreeMap<String, String>,
    calls: BTreeMap<String, CallFrame>,
}

fn number(index: NodeIndex) -> u32 {
    // A graph's indexes are `u32` (petgraph's default index type).
    index.index() as u32
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written {
            nodes: self.graph.node_weights().collect(),
            edges: self
                .graph
                .edge_references()
                .map(|e| (number(e.source()), number(e.target()), e.weight()))
                .collect(),
            start: self.start.map(number),
            finally: self.finally.map(number),
            outcomes: &self.outcomes,
            cleanups: self
                .cleanups
                .iter()
                .map(|(stage, &at)| (stage.as_str(), number(at)))
                .collect(),
            parents: self
                .parents
                .iter()
                .map(|(child, parent)| (child.as_str(), parent.as_str()))
                .collect(),
            calls: &self.calls,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Graph {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Graph, D::Error> {
        let read = Read::deserialize(deserializer)?;
        let count = read.nodes.len();
        let index = |n: u32| {
            if (n as usize) < count {
                Ok(NodeIndex::new(n as usize))
            } else {
                Err(D::Error::custom(format!(
                    "node {n} of a graph of {count} nodes"
                )))
            }
        };
        let mut graph = DiGraph::with_capacity(count, read.edges.len());
        let mut by_id = std::collections::HashMap::with_capacity(count);
        for node in &read.nodes {
            if let NodeKind::Tick { watched, .. } = &node.kind {
                for &at in watched {
                    index(number(at))?;
                }
            }
        }
        for node in read.nodes {
            let id = node.id.clone();
            let at = graph.add_node(node);
            if by_id.insert(id, at).is_some() {
                return Err(D::Error::custom("two nodes with one id"));
            }
        }
        for (from, to, edge) in read.edges {
            graph.add_edge(index(from)?, index(to)?, edge);
        }
        let cleanups = read
            .cleanups
            .into_iter()
            .map(|(stage, at)| Ok((stage, index(at)?)))
            .collect::<Result<_, D::Error>>()?;
        Ok(Graph {
            start: read.start.map(index).transpose()?,
            finally: read.finally.map(index).transpose()?,
            graph,
            outcomes: read.outcomes,
            cleanups,
            parents: read.parents.into_iter().collect(),
            calls: read.calls,
            by_id,
        })
    }
}

/// A step's tree read straight into its node's `Arc`: serde's own reading
/// of an `Arc` builds a `Box` and moves it over, one allocation more per
/// step (the same bytes either way).
pub(super) fn shared_block<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Arc<Block>, D::Error> {
    Block::deserialize(deserializer).map(Arc::new)
}

/// The node indexes a node holds (an `every`'s tick names the nodes it
/// runs beside), as numbers; the graph's reading checks their range.
pub(super) mod indexes {
    use petgraph::graph::NodeIndex;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(at: &[NodeIndex], serializer: S) -> Result<S::Ok, S::Error> {
        let numbers: Vec<u32> = at.iter().map(|&i| super::number(i)).collect();
        numbers.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<NodeIndex>, D::Error> {
        let numbers = Vec::<u32>::deserialize(deserializer)?;
        Ok(numbers
            .into_iter()
            .map(|n| NodeIndex::new(n as usize))
            .collect())
    }
}
