//! The picture of an entry runbook, as Graphviz DOT or Mermaid, so that a
//! procedure can be looked at in a review or a doc.
//!
//! Two levels of detail. By default one box per stage, the routes between
//! stages and the outcomes: a route every node of a stage inherits (the
//! stage's or the runbook's `on failure`, `on cancel`) is drawn once, from
//! the stage. With `Detail::Nodes`, each stage instance (`smoke`, and
//! `smoke#2` for an `again`) is a cluster, each node of the graph one box
//! labelled with its kind and title, and every edge is drawn. Irreversible
//! steps are marked at both levels.

mod dot;
mod mermaid;
mod nodes;
mod stages;

use rbx_check::graph::{Fanout, Lane, Node, NodeKind};
use rbx_syntax::ast::{Block, Require, StmtKind};

use crate::Procedure;

/// How much of the procedure the picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// One box per stage, the routes between stages, the outcomes.
    Stages,
    /// Every node in its stage instance, every edge.
    Nodes,
}

/// The language the picture is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Graphviz: `rbx graph FILE | dot -Tsvg > graph.svg`.
    Dot,
    /// Mermaid, for Markdown that renders it.
    Mermaid,
}

/// How a box is drawn: one shape per kind of thing it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Where the run begins (the stage-level picture's entry point).
    Begin,
    /// A whole stage (the stage-level picture).
    Stage,
    /// Any stage a runbook-wide route applies to (the stage-level picture).
    Every,
    Start,
    Step,
    /// A node that waits for a person to act.
    Person,
    Check,
    Decision,
    Wait,
    Anchor,
    /// An outcome: a success, a failure, or of no declared class.
    End(Option<bool>),
}

/// Why control moves along an edge, which says how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Next,
    Failure,
    Cancel,
    Branch,
}

#[derive(Debug)]
struct Box {
    id: String,
    lines: Vec<String>,
    shape: Shape,
    irreversible: bool,
}

#[derive(Debug)]
struct Arrow {
    from: usize,
    to: usize,
    route: Route,
    label: String,
}

impl Arrow {
    fn same(&self, other: &Arrow) -> bool {
        (self.from, self.to, self.route, &self.label)
            == (other.from, other.to, other.route, &other.label)
    }
}

/// A stage instance drawn as a cluster around its nodes.
#[derive(Debug)]
struct Cluster {
    id: String,
    /// The primary instance whose flow this one runs in: itself, or for an
    /// `again` instance the stage holding the `again`, inside whose cluster
    /// it is drawn.
    host: String,
    label: String,
    boxes: Vec<usize>,
}

/// The picture, laid out for either language.
#[derive(Debug)]
pub struct Drawing {
    /// The runbook's id and title.
    title: String,
    /// Stage instances in the order they were lowered (none at stage level).
    clusters: Vec<Cluster>,
    boxes: Vec<Box>,
    arrows: Vec<Arrow>,
}

impl Drawing {
    pub fn new(procedure: &Procedure, detail: Detail) -> Drawing {
        let title = procedure
            .report
            .sources
            .first()
            .and_then(|s| s.file.as_ref())
            .and_then(|f| f.header.as_ref())
            .map(|h| format!("{}: {}", h.id.name, h.title.source_form()))
            .unwrap_or_default();
        match detail {
            Detail::Stages => stages::drawing(title, &procedure.graph),
            Detail::Nodes => nodes::drawing(title, &procedure.graph),
        }
    }

    pub fn render(&self, language: Language) -> String {
        match language {
            Language::Dot => dot::write(self),
            Language::Mermaid => mermaid::write(self),
        }
    }

    /// The `again` instances drawn inside a primary instance's cluster.
    fn hosted<'s>(&'s self, cluster: &'s Cluster) -> impl Iterator<Item = &'s Cluster> {
        self.clusters
            .iter()
            .filter(move |c| cluster.id == cluster.host && c.host == cluster.id && c.id != c.host)
    }
}

/// Whether a block is a point of no return.
fn irreversible(block: &Block) -> bool {
    block
        .body
        .iter()
        .any(|stmt| matches!(stmt.kind, StmtKind::Irreversible(_)))
}

/// Whether a node is an irreversible step.
fn irreversible_node(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Block(block) if irreversible(block))
}

/// An outcome's name and its class, as a label: `rolled_back (failure)`.
fn outcome_label(graph: &rbx_check::graph::Graph, outcome: &str) -> (String, Option<bool>) {
    match graph.outcomes.get(outcome) {
        Some(class) => {
            let word = if class.success { "success" } else { "failure" };
            (format!("{outcome} ({word})"), Some(class.success))
        }
        None => (outcome.to_string(), None),
    }
}

/// `foreach host in hosts (2 at a time)`, with what it tolerates.
pub fn fanout(fanout: &Fanout) -> String {
    if let Some(repeat) = &fanout.repeat {
        return format!(
            "repeat at most {} until {} (one iteration at a time)",
            repeat.at_most, repeat.until
        );
    }
    if let Some(every) = &fanout.every {
        return format!(
            "every {}, at most {} iterations (one at a time)",
            rbx_syntax::fmt::expr(&every.interval),
            every.at_most
        );
    }
    let mut pace = match (fanout.parallel, &fanout.parallel_expr) {
        (_, Some(width)) => format!("{} at a time", rbx_syntax::fmt::expr(width)),
        (Some(n), None) if n > 1 => format!("{n} at a time"),
        _ => "one at a time".to_string(),
    };
    if let Some(tolerate) = &fanout.tolerate {
        pace.push_str(&format!(", tolerate {}", tolerate.source_form()));
    }
    format!("foreach {} in {} ({pace})", fanout.var, fanout.list)
}

/// `parallel branch 1 of 3 (2 at a time)`, with what it tolerates.
pub fn lane(lane: &Lane) -> String {
    let mut pace = match (lane.at_once, &lane.at_once_expr) {
        (_, Some(width)) => format!("{} at a time", rbx_syntax::fmt::expr(width)),
        (Some(n), None) if n > 1 => format!("{n} at a time"),
        (Some(_), None) => "one at a time".to_string(),
        (None, None) => "all at once".to_string(),
    };
    if let Some(tolerate) = &lane.tolerate {
        pace.push_str(&format!(", tolerate {}", tolerate.source_form()));
    }
    format!(
        "parallel branch {} of {} ({pace})",
        lane.branch + 1,
        lane.branches
    )
}

/// A requirement as the runbook writes it, without the `require`.
pub fn require(require: &Require) -> String {
    match require {
        Require::Role(role) => format!("role {}", role.name),
        Require::Link(link) => format!("link {}", link.name),
        Require::Expr(expr) => rbx_syntax::fmt::expr(expr),
    }
}
