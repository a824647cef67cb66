//! The node-level picture: every node in its stage instance, every edge.

use std::collections::HashMap;

use rbx_check::graph::{EdgeKind, Graph, Node, NodeKind};
use rbx_syntax::ast::BlockKind;

use super::{Arrow, Box, Cluster, Drawing, Route, Shape, fanout, require};

pub(super) fn drawing(title: String, graph: &Graph) -> Drawing {
    let raw = graph.graph.raw_nodes();
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut cluster_of: HashMap<&str, usize> = HashMap::new();
    let mut boxes = Vec::with_capacity(raw.len());
    for (index, node) in raw.iter().map(|n| &n.weight).enumerate() {
        let at = *cluster_of.entry(node.stage.as_str()).or_insert_with(|| {
            clusters.push(Cluster {
                id: node.stage.clone(),
                host: node.host.clone(),
                label: node.stage.clone(),
                boxes: Vec::new(),
            });
            clusters.len() - 1
        });
        if let NodeKind::StageStart { title, .. } = &node.kind {
            clusters[at].label = if node.stage == node.host {
                title.clone()
            } else if let Some(frame) = graph.call_of(&node.stage) {
                format!(
                    "{title} (call {}: {})",
                    node.stage,
                    frame.arguments_written()
                )
            } else {
                format!("{title} (again: {})", node.stage)
            };
        }
        clusters[at].boxes.push(index);
        let irreversible = super::irreversible_node(node);
        let mut lines = label(graph, node);
        if irreversible {
            lines.push("IRREVERSIBLE".to_string());
        }
        boxes.push(Box {
            id: node.id.clone(),
            lines,
            shape: shape(graph, node),
            irreversible,
        });
    }
    let arrows = graph
        .graph
        .raw_edges()
        .iter()
        .map(|e| {
            let (route, label) = match &e.weight.kind {
                // Out of a choice, the next item is taken only when its
                // own condition skipped it.
                EdgeKind::Next if is_choice(&graph.graph[e.source()]) => {
                    (Route::Next, "if skipped".to_string())
                }
                EdgeKind::Next => (Route::Next, String::new()),
                EdgeKind::Failure => (Route::Failure, "on failure".to_string()),
                EdgeKind::Tolerated => (Route::Failure, "tolerated".to_string()),
                EdgeKind::Cancel => (Route::Cancel, "on cancel".to_string()),
                EdgeKind::Branch(label) => (Route::Branch, label.clone()),
            };
            Arrow {
                from: e.source().index(),
                to: e.target().index(),
                route,
                label,
            }
        })
        .collect();
    Drawing {
        title,
        clusters,
        boxes,
        arrows,
    }
}

/// The lines of a node's label: its kind and title, then what else a
/// reader of the picture needs (fan-out, a stage's budget and requirements).
fn label(graph: &Graph, node: &Node) -> Vec<String> {
    let mut lines = match &node.kind {
        NodeKind::StageStart {
            within, requires, ..
        } => {
            let mut lines = vec![format!("start: {}", node.stage)];
            if let Some(millis) = within {
                lines.push(format!("within {}", rbx_syntax::fmt::duration(*millis)));
            }
            lines.extend(requires.iter().map(|r| format!("require {}", require(r))));
            lines
        }
        NodeKind::Block(block) => {
            let mut lines = vec![format!(
                "{}: {}",
                block.kind.keyword(),
                block.title.source_form()
            )];
            // A child run names the runbook it runs.
            if let Some(path) = block.child_runbook() {
                lines.push(format!("runs {}", path.source_form()));
            }
            // A node that may be skipped says when it runs.
            if let Some(condition) = block.condition() {
                lines.push(format!("only when {}", rbx_syntax::fmt::expr(condition)));
            }
            lines
        }
        NodeKind::Anchor(anchor) => vec![format!("anchor: {}", anchor.title.source_form())],
        NodeKind::Checklist {
            title, fail_fast, ..
        } => vec![format!(
            "checklist{}: {}",
            if *fail_fast { " (fail-fast)" } else { "" },
            title.source_form()
        )],
        NodeKind::End { outcome } => {
            vec![format!("end: {}", super::outcome_label(graph, outcome).0)]
        }
        NodeKind::Tally { tolerate, .. } => {
            vec![format!("tally: tolerate {}", tolerate.source_form())]
        }
        NodeKind::Guard { condition } => vec![format!(
            "only when {}; else the block is skipped",
            rbx_syntax::fmt::expr(condition)
        )],
        NodeKind::Until { until, at_most } => vec![format!(
            "until: {} (fails after iteration {at_most})",
            rbx_syntax::fmt::expr(until)
        )],
        NodeKind::Tick { interval, .. } => vec![format!(
            "every {}: at its due time, while the work beside it runs",
            rbx_syntax::fmt::expr(interval)
        )],
    };
    lines.extend(node.fanout.iter().map(fanout));
    lines.extend(node.lanes.iter().map(super::lane));
    lines
}

fn is_choice(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Block(block) if block.kind == BlockKind::Choose)
}

fn shape(graph: &Graph, node: &Node) -> Shape {
    match &node.kind {
        NodeKind::StageStart { .. } => Shape::Start,
        NodeKind::Anchor(_) | NodeKind::Tick { .. } => Shape::Anchor,
        NodeKind::Checklist { .. } | NodeKind::Tally { .. } => Shape::Check,
        NodeKind::Until { .. } | NodeKind::Guard { .. } => Shape::Decision,
        NodeKind::End { outcome } => Shape::End(super::outcome_label(graph, outcome).1),
        NodeKind::Block(block) => match block.kind {
            BlockKind::Step | BlockKind::Child => Shape::Step,
            BlockKind::Manual | BlockKind::Signoff => Shape::Person,
            BlockKind::Gate => Shape::Check,
            BlockKind::Decide | BlockKind::Choose => Shape::Decision,
            BlockKind::Wait => Shape::Wait,
        },
    }
}
