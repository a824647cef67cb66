//! The stage-level picture: where the run begins, one box per stage (its
//! `again` instances and irreversible steps named inside), the outcomes,
//! and the routes between them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rbx_check::graph::{EdgeKind, Graph, NodeKind};

use super::{Arrow, Box, Drawing, Route, Shape};

/// A route between two boxes, with the nodes it leaves from.
type Routes = BTreeMap<(usize, usize, RouteKey), BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RouteKey {
    Next,
    Failure,
    Cancel,
    Branch(String),
}

pub(super) fn drawing(title: String, graph: &Graph) -> Drawing {
    let raw = graph.graph.raw_nodes();
    let mut boxes = vec![Box {
        id: "start".to_string(),
        lines: vec!["start".to_string()],
        shape: Shape::Begin,
        irreversible: false,
    }];
    let mut stage_box: HashMap<&str, usize> = HashMap::new();
    for node in raw.iter().map(|n| &n.weight) {
        if let NodeKind::StageStart { title, within, .. } = &node.kind {
            if node.stage == node.host {
                let mut lines = vec![title.clone(), format!("({})", node.stage)];
                if let Some(millis) = within {
                    lines.push(format!("within {}", rbx_syntax::fmt::duration(*millis)));
                }
                stage_box.insert(&node.stage, boxes.len());
                boxes.push(Box {
                    id: node.stage.clone(),
                    lines,
                    shape: Shape::Stage,
                    irreversible: false,
                });
            }
        }
    }
    // What each stage holds: its `again` instances and irreversible steps,
    // and how many nodes can route out of it.
    let mut members: HashMap<usize, usize> = HashMap::new();
    for node in raw.iter().map(|n| &n.weight) {
        let Some(&at) = stage_box.get(node.host.as_str()) else {
            continue;
        };
        match &node.kind {
            NodeKind::StageStart { stage, .. } if node.stage != node.host => {
                boxes[at].lines.push(format!("again: {stage}"));
            }
            NodeKind::Block(block) if super::irreversible(block) => {
                boxes[at].irreversible = true;
                boxes[at]
                    .lines
                    .push(format!("IRREVERSIBLE: {}", block.title.source_form()));
            }
            _ => {}
        }
        if !matches!(node.kind, NodeKind::End { .. }) {
            *members.entry(at).or_default() += 1;
        }
    }
    let mut outcome_box: HashMap<&str, usize> = HashMap::new();
    let mut routes = Routes::new();
    if let Some(&entry) = graph
        .start
        .and_then(|start| stage_box.get(graph.graph[start].host.as_str()))
    {
        routes.insert((0, entry, RouteKey::Next), BTreeSet::new());
    }
    for edge in graph.graph.raw_edges() {
        let source = &graph.graph[edge.source()];
        let target = &graph.graph[edge.target()];
        let Some(&from) = stage_box.get(source.host.as_str()) else {
            continue;
        };
        let to = match &target.kind {
            NodeKind::End { outcome } => *outcome_box.entry(outcome).or_insert_with(|| {
                let (label, class) = super::outcome_label(graph, outcome);
                boxes.push(Box {
                    id: format!("outcome {outcome}"),
                    lines: vec![label],
                    shape: Shape::End(class),
                    irreversible: false,
                });
                boxes.len() - 1
            }),
            _ => match stage_box.get(target.host.as_str()) {
                Some(&to) if to != from => to,
                _ => continue,
            },
        };
        let key = match &edge.weight.kind {
            EdgeKind::Next => RouteKey::Next,
            EdgeKind::Failure => RouteKey::Failure,
            EdgeKind::Cancel => RouteKey::Cancel,
            EdgeKind::Branch(label) => RouteKey::Branch(label.clone()),
        };
        let name = source
            .id
            .strip_prefix(&format!("{}.", source.host))
            .unwrap_or(&source.id);
        routes
            .entry((from, to, key))
            .or_default()
            .insert(name.to_string());
    }
    let arrows = arrows(&routes, &members);
    Drawing {
        title,
        clusters: Vec::new(),
        boxes,
        arrows,
    }
}

/// One arrow per route. Of a stage's failure (or cancel) routes, the one
/// most of its nodes take is the stage's own or the runbook's, which they
/// inherit: it is labelled plainly. Another names the nodes that take it.
fn arrows(routes: &Routes, members: &HashMap<usize, usize>) -> Vec<Arrow> {
    let mut widest: HashMap<(usize, bool), (usize, usize)> = HashMap::new();
    for ((from, to, key), sources) in routes {
        let failure = match key {
            RouteKey::Failure => true,
            RouteKey::Cancel => false,
            _ => continue,
        };
        let best = widest.entry((*from, failure)).or_insert((*to, 0));
        if sources.len() > best.1 {
            *best = (*to, sources.len());
        }
    }
    let inherited = |from: usize, to: usize, failure: bool, count: usize| {
        widest.get(&(from, failure)) == Some(&(to, count))
            && count * 2 > members.get(&from).copied().unwrap_or(0)
    };
    routes
        .iter()
        .map(|((from, to, key), sources)| {
            let (route, label) = match key {
                RouteKey::Next => (Route::Next, String::new()),
                RouteKey::Branch(label) => (Route::Branch, label.clone()),
                RouteKey::Failure | RouteKey::Cancel => {
                    let failure = *key == RouteKey::Failure;
                    let (route, word) = if failure {
                        (Route::Failure, "on failure")
                    } else {
                        (Route::Cancel, "on cancel")
                    };
                    let label = if inherited(*from, *to, failure, sources.len()) {
                        word.to_string()
                    } else {
                        format!("{word} of {}", named(sources))
                    };
                    (route, label)
                }
            };
            Arrow {
                from: *from,
                to: *to,
                route,
                label,
            }
        })
        .collect()
}

/// `verify`, `verify, switch`, or `3 nodes`.
fn named(sources: &BTreeSet<String>) -> String {
    if sources.len() <= 2 {
        sources.iter().cloned().collect::<Vec<_>>().join(", ")
    } else {
        format!("{} nodes", sources.len())
    }
}
