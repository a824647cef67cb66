//! The stage-level picture: where the run begins, one box per stage (its
//! `again` instances and irreversible steps named inside), the outcomes,
//! and the routes between them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rbx_check::graph::{EdgeKind, Graph, NodeKind};

use super::{Arrow, Box, Drawing, Route, Shape};

/// A route between two boxes, with the nodes it leaves from.
type Routes = BTreeMap<(usize, usize, RouteKey), BTreeSet<String>>;

/// Why control moves from one box to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RouteKey {
    Next,
    Failure(Written),
    Cancel(Written),
    Branch(String),
}

/// Where a failure or cancel route is written: in the node that takes it,
/// or around it (a stage's, the runbook's or an `again`'s route, which
/// every node it applies to inherits), at this source and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Written {
    Own,
    Around(usize, usize),
}

/// The id of the box that stands for every stage a runbook-wide route
/// applies to: not an identifier, so no stage's.
const EVERY: &str = "any stage";

/// Stage titles are wrapped to lines of about this many characters.
const WRAP: usize = 30;

/// The id of the entry point's box: not an identifier, so no stage's.
const ENTRY: &str = "run starts";

pub(super) fn drawing(title: String, graph: &Graph) -> Drawing {
    let mut boxes = vec![Box {
        id: ENTRY.to_string(),
        lines: vec!["start".to_string()],
        shape: Shape::Begin,
        irreversible: false,
    }];
    let stage_box = stage_boxes(graph, &mut boxes);
    let routes = routes(graph, &stage_box, &mut boxes);
    let arrows = arrows(&routes, &mut boxes);
    Drawing {
        title,
        clusters: Vec::new(),
        boxes,
        arrows,
    }
}

/// One box per primary stage instance, with what it holds: its `again`
/// instances and irreversible steps. Returns each stage's box.
fn stage_boxes<'g>(graph: &'g Graph, boxes: &mut Vec<Box>) -> HashMap<&'g str, usize> {
    let raw = graph.graph.raw_nodes();
    let mut stage_box: HashMap<&str, usize> = HashMap::new();
    for node in raw.iter().map(|n| &n.weight) {
        if let NodeKind::StageStart { title, within, .. } = &node.kind {
            if node.stage == node.host {
                let mut lines = wrap(title);
                lines.push(format!("({})", node.stage));
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
    for node in raw.iter().map(|n| &n.weight) {
        let Some(&at) = stage_box.get(node.host.as_str()) else {
            continue;
        };
        match &node.kind {
            NodeKind::StageStart { stage, .. } if node.stage != node.host => {
                let line = match graph.call_of(&node.stage) {
                    Some(frame) => format!("call: {stage}({})", frame.arguments_written()),
                    None => format!("again: {stage}"),
                };
                boxes[at].lines.push(line);
            }
            NodeKind::Block(block) if super::irreversible(block) => {
                boxes[at].irreversible = true;
                boxes[at]
                    .lines
                    .push(format!("IRREVERSIBLE: {}", block.title.source_form()));
            }
            _ => {}
        }
    }
    stage_box
}

/// The routes between stages and to outcomes (adding a box per outcome),
/// each with the nodes that take it.
fn routes<'g>(graph: &'g Graph, stage_box: &HashMap<&str, usize>, boxes: &mut Vec<Box>) -> Routes {
    let mut outcome_box: HashMap<&'g str, usize> = HashMap::new();
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
        let at = edge.weight.origin;
        let own = at.source == source.origin.source
            && source.origin.span.start <= at.span.start
            && at.span.end <= source.origin.span.end;
        let written = if own {
            Written::Own
        } else {
            Written::Around(at.source, at.span.start)
        };
        let key = match &edge.weight.kind {
            EdgeKind::Next => RouteKey::Next,
            EdgeKind::Failure | EdgeKind::Tolerated => RouteKey::Failure(written),
            EdgeKind::Cancel => RouteKey::Cancel(written),
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
    routes
}

/// One arrow per route. A route written around the nodes that take it is
/// labelled plainly, and one that two or more stages take from the same
/// line (the runbook's) is drawn once, from a box standing for any stage
/// without a route of its own. A node's own route names the nodes.
fn arrows(routes: &Routes, boxes: &mut Vec<Box>) -> Vec<Arrow> {
    let mut stages_of: HashMap<Written, BTreeSet<usize>> = HashMap::new();
    for (from, _, key) in routes.keys() {
        if let RouteKey::Failure(w) | RouteKey::Cancel(w) = key {
            stages_of.entry(*w).or_default().insert(*from);
        }
    }
    let runbook_wide =
        |w: &Written| *w != Written::Own && stages_of.get(w).is_some_and(|s| s.len() >= 2);
    let mut every: Option<usize> = None;
    let mut out: Vec<Arrow> = Vec::new();
    for ((from, to, key), sources) in routes {
        let (route, word, written) = match key {
            RouteKey::Next => (Route::Next, String::new(), None),
            RouteKey::Branch(label) => (Route::Branch, label.clone(), None),
            RouteKey::Failure(w) => (Route::Failure, "on failure".to_string(), Some(w)),
            RouteKey::Cancel(w) => (Route::Cancel, "on cancel".to_string(), Some(w)),
        };
        let (from, label) = match written {
            Some(w) if runbook_wide(w) => {
                let from = *every.get_or_insert_with(|| {
                    boxes.push(Box {
                        id: EVERY.to_string(),
                        lines: vec!["any stage without".to_string(), "its own route".to_string()],
                        shape: Shape::Every,
                        irreversible: false,
                    });
                    boxes.len() - 1
                });
                (from, word)
            }
            Some(Written::Own) => (*from, format!("{word} of {}", named(sources))),
            _ => (*from, word),
        };
        let arrow = Arrow {
            from,
            to: *to,
            route,
            label,
        };
        if !out.iter().any(|a| a.same(&arrow)) {
            out.push(arrow);
        }
    }
    out
}

/// A title in lines of about `WRAP` characters, broken between words.
fn wrap(title: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in title.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= WRAP => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// `verify`, `verify, switch`, or `3 nodes`.
fn named(sources: &BTreeSet<String>) -> String {
    if sources.len() <= 2 {
        sources.iter().cloned().collect::<Vec<_>>().join(", ")
    } else {
        format!("{} nodes", sources.len())
    }
}
