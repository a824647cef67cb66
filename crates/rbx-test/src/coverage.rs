//! Path coverage: which of a runbook's branches, routes and outcomes the
//! scenarios took, and where in the source each one they missed is.
//!
//! A unit is one thing written in the runbook, however many instances of
//! it a run has: a `when`, `otherwise` or `option` (a branch), an
//! `on failure` or `on cancel` (a route), an `end` (an outcome).

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rbx_check::graph::{EdgeKind, Graph, NodeKind, Origin};
use rbx_engine::Exit;

use crate::trace::Trace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKind {
    Branch,
    Route,
    Outcome,
}

impl UnitKind {
    pub fn word(self) -> &'static str {
        match self {
            UnitKind::Branch => "branch",
            UnitKind::Route => "route",
            UnitKind::Outcome => "outcome",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            UnitKind::Branch => "branches",
            UnitKind::Route => "routes",
            UnitKind::Outcome => "outcomes",
        }
    }
}

/// One branch, route or outcome of the runbook.
#[derive(Debug, Clone)]
pub struct Unit {
    pub kind: UnitKind,
    /// What it is, in words: "`SEV0` of `severity`".
    pub label: String,
    pub origin: Origin,
    /// The scenarios that took it.
    pub by: Vec<String>,
}

type Key = (UnitKind, usize, usize, String);

/// Every unit of one runbook, and who covered each.
#[derive(Debug, Clone)]
pub struct Coverage {
    units: BTreeMap<Key, Unit>,
}

impl Coverage {
    pub fn of(graph: &Graph) -> Coverage {
        let g = &graph.graph;
        let mut units = BTreeMap::new();
        for edge in g.edge_references() {
            let e = edge.weight();
            let from = &g[edge.source()].id;
            let (kind, label, tag) = match &e.kind {
                EdgeKind::Branch(label) => (
                    UnitKind::Branch,
                    format!("`{label}` of `{}`", base(from)),
                    label.clone(),
                ),
                EdgeKind::Failure if e.route => (
                    UnitKind::Route,
                    format!("`on failure -> {}`", target(g, edge.target())),
                    String::new(),
                ),
                EdgeKind::Cancel if e.route => (
                    UnitKind::Route,
                    format!("`on cancel -> {}`", target(g, edge.target())),
                    String::new(),
                ),
                _ => continue,
            };
            let key = (kind, e.origin.source, e.origin.span.start, tag);
            units.entry(key).or_insert(Unit {
                kind,
                label,
                origin: e.origin,
                by: Vec::new(),
            });
        }
        for node in g.node_weights() {
            if let NodeKind::End { outcome } = &node.kind {
                let key = (
                    UnitKind::Outcome,
                    node.origin.source,
                    node.origin.span.start,
                    outcome.clone(),
                );
                units.entry(key).or_insert(Unit {
                    kind: UnitKind::Outcome,
                    label: format!("`end {outcome}`"),
                    origin: node.origin,
                    by: Vec::new(),
                });
            }
        }
        Coverage { units }
    }

    /// Marks what one scenario's run took.
    pub fn add(
        &mut self,
        graph: &Graph,
        nodes: &HashMap<String, NodeIndex>,
        scenario: &str,
        trace: &Trace,
    ) {
        let g = &graph.graph;
        let mut took: Vec<Key> = Vec::new();
        for visit in &trace.visits {
            let Some(&x) = nodes.get(&visit.id) else {
                continue;
            };
            for edge in g.edges(x) {
                let e = edge.weight();
                let at = (e.origin.source, e.origin.span.start);
                match &e.kind {
                    EdgeKind::Branch(label) if visit.branch.as_deref() == Some(label) => {
                        took.push((UnitKind::Branch, at.0, at.1, label.clone()));
                    }
                    EdgeKind::Failure | EdgeKind::Cancel
                        if e.route
                            && trace.left_by.contains(&visit.id)
                            && matches!(
                                (&e.kind, visit.status.as_str()),
                                (EdgeKind::Failure, "failed") | (EdgeKind::Cancel, "cancelled")
                            ) =>
                    {
                        took.push((UnitKind::Route, at.0, at.1, String::new()));
                    }
                    _ => {}
                }
                // The run ended through this edge: its `end` is covered.
                if let (NodeKind::End { outcome }, Exit::Ended { outcome: ended, .. }) =
                    (&g[edge.target()].kind, &trace.exit)
                {
                    let carried = match &e.kind {
                        EdgeKind::Next => visit.status == "succeeded",
                        EdgeKind::Failure | EdgeKind::Tolerated => visit.status == "failed",
                        EdgeKind::Cancel => visit.status == "cancelled",
                        EdgeKind::Branch(label) => visit.branch.as_deref() == Some(label),
                    };
                    if carried && outcome == ended {
                        let end = &g[edge.target()].origin;
                        took.push((
                            UnitKind::Outcome,
                            end.source,
                            end.span.start,
                            outcome.clone(),
                        ));
                    }
                }
            }
        }
        for key in took {
            if let Some(unit) = self.units.get_mut(&key) {
                if !unit.by.iter().any(|s| s == scenario) {
                    unit.by.push(scenario.to_string());
                }
            }
        }
    }

    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// (covered, total) of one kind, or of all with `None`.
    pub fn count(&self, kind: Option<UnitKind>) -> (usize, usize) {
        let of_kind = self.units().filter(|u| kind.is_none_or(|k| u.kind == k));
        let (mut covered, mut total) = (0, 0);
        for unit in of_kind {
            total += 1;
            covered += usize::from(!unit.by.is_empty());
        }
        (covered, total)
    }

    /// The share covered, in percent; 100 when there is nothing to cover.
    pub fn percent(&self) -> f64 {
        let (covered, total) = self.count(None);
        if total == 0 {
            return 100.0;
        }
        covered as f64 * 100.0 / total as f64
    }
}

fn base(id: &str) -> String {
    rbx_engine::base_name(id).unwrap_or_else(|| id.to_string())
}

fn target(
    g: &petgraph::graph::DiGraph<rbx_check::graph::Node, rbx_check::graph::Edge>,
    x: NodeIndex,
) -> String {
    match &g[x].kind {
        NodeKind::End { outcome } => format!("end {outcome}"),
        NodeKind::StageStart { stage, .. } => stage.clone(),
        _ => g[x].id.clone(),
    }
}
