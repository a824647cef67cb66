//! The nodes of a run's child runs, as a scenario names them: a path
//! through each `child` node (`canary_deploy/roll.ready`), each part named
//! as a node is. A child's nodes are known from its runbook, its loops'
//! items shown as `[*]` (what the parent gives the child is known only as
//! the run goes); an unknown child or child node is a problem at its
//! place, with the closest name there is.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use rbx_check::graph::NodeKind;
use rbx_engine::Procedure;
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{BlockKind, NodePattern};

use super::Problems;
use crate::matching::{closeness, parts, suggestion};

/// A node of a child run: its path from the scenario's run, and its node
/// in the child's runbook.
#[derive(Debug, Clone)]
pub struct ChildNode {
    pub path: String,
    pub procedure: Arc<Procedure>,
    pub index: NodeIndex,
}

impl ChildNode {
    pub fn kind(&self) -> &NodeKind {
        &self.procedure.graph.graph[self.index].kind
    }

    /// The key of its answer in the answers the run is given: the path,
    /// with each part whose loop item is not known (`[*]`) by its name
    /// in the runbook, which serves every item (`Answers::nested`).
    pub fn answer_key(&self) -> String {
        parts(&self.path)
            .into_iter()
            .map(|part| match part.contains("[*]") {
                true => rbx_engine::base_name(part).unwrap_or_else(|| part.to_string()),
                false => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Every node of every child run the run's `child` nodes start, at every
/// depth.
pub fn child_nodes(procedure: &Procedure, nodes: &[(String, NodeIndex)]) -> Vec<ChildNode> {
    let mut out = Vec::new();
    for (id, x) in nodes {
        let NodeKind::Block(block) = &procedure.graph.graph[*x].kind else {
            continue;
        };
        let child = match (block.kind, procedure.children.get(&block.id.name)) {
            (BlockKind::Child, Some(child)) => child,
            _ => continue,
        };
        let inner = written(child);
        for grand in child_nodes(child, &inner) {
            out.push(ChildNode {
                path: format!("{id}/{}", grand.path),
                ..grand
            });
        }
        out.extend(inner.into_iter().map(|(node, index)| ChildNode {
            path: format!("{id}/{node}"),
            procedure: Arc::clone(child),
            index,
        }));
    }
    out
}

/// A runbook's nodes as written, each loop's item `[*]`.
fn written(procedure: &Procedure) -> Vec<(String, NodeIndex)> {
    let graph = &procedure.graph.graph;
    graph
        .node_indices()
        .map(|x| {
            let node = &graph[x];
            (format!("{}{}", node.id, "[*]".repeat(node.fanout.len())), x)
        })
        .collect()
}

/// A problem unless some child run's node answers to `pattern` (a path):
/// the first part that names nothing is the one pointed at.
pub(super) fn known(
    children: &[ChildNode],
    pattern: &NodePattern,
    problems: &mut Problems,
) -> bool {
    if children
        .iter()
        .any(|c| closeness(pattern, &c.path).is_some())
    {
        return true;
    }
    let wanted = parts(&pattern.text);
    let head = |depth: usize| NodePattern {
        text: wanted[..depth].join("/"),
        ..pattern.clone()
    };
    // How many parts name child nodes: those whose runs exist.
    let named = (1..wanted.len())
        .take_while(|&depth| {
            children
                .iter()
                .any(|c| closeness(&head(depth), &parts(&c.path)[..depth].join("/")).is_some())
        })
        .count();
    let under: Vec<&ChildNode> = children
        .iter()
        .filter(|c| {
            let path = parts(&c.path);
            path.len() > named
                && (named == 0 || closeness(&head(named), &path[..named].join("/")).is_some())
        })
        .collect();
    let mut names: Vec<String> = under
        .iter()
        .filter_map(|c| {
            let part = parts(&c.path)[named];
            Some([part.to_string(), rbx_engine::base_name(part)?])
        })
        .flatten()
        .collect();
    names.sort();
    names.dedup();
    let missing = wanted[named];
    let mut d = if named == 0 {
        Diagnostic::error(
            "rbx::test::unknown_child",
            format!("no `child` node of the runbook is named `{missing}`"),
        )
        .primary(pattern.span, "names no child run")
    } else {
        let runbook = under
            .iter()
            .find(|c| parts(&c.path).len() == named + 1)
            .map(|c| c.procedure.entry.clone())
            .unwrap_or_default();
        Diagnostic::error(
            "rbx::test::unknown_child_node",
            format!(
                "the child runbook {runbook} that `{}` runs has no node `{missing}`",
                wanted[..named].join("/")
            ),
        )
        .primary(pattern.span, "names nothing in that child run")
    };
    d = match suggestion(missing, names.iter().map(String::as_str)) {
        Some(near) => d.help(format!("did you mean `{near}`?")),
        None if named == 0 => d.help(
            "a child run's node is named by a path through its `child` node: \"deploy_eu/push\"",
        ),
        None => d.help("name the node by its id in the child runbook, or its name"),
    };
    problems.push(d);
    false
}
