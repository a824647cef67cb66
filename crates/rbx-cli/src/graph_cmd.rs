//! `rbx graph`: the DAG of an entry runbook as Graphviz DOT or Mermaid, so
//! that a procedure can be looked at as a picture in a review or a doc.
//!
//! Each stage instance (`smoke`, and `smoke#2` for an `again`) is a
//! cluster; each node of the graph is one box labelled with its kind and
//! title; edges say why control moves. Loading the procedure is shared with
//! `rbx plan`, which needs the same checked graph.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use rbx_check::Report;
use rbx_check::graph::{EdgeKind, Fanout, Graph, Node, NodeKind};
use rbx_syntax::ast::{BlockKind, Require};

use crate::cli::{GraphArgs, GraphFormat};
use crate::{exit, render, sources};

/// Errors that say the procedure is not ready to be run (a role or link
/// still to fill in, a `_TBD_` placeholder) rather than that its shape is
/// wrong. The graph and the plan are what people read while they fill
/// these in, so they do not stop `rbx graph` and `rbx plan`.
const NOT_READY: [&str; 3] = [
    "rbx::lint::placeholder",
    "rbx::lint::unfilled_role",
    "rbx::lint::unset_link",
];

/// A checked entry runbook with its graph.
pub struct Procedure {
    pub report: Report,
    pub graph: Graph,
}

/// Checks the entry runbook at `path`. When it cannot be drawn or planned,
/// says why on standard error and gives the exit status to end with.
pub fn load(path: &Path) -> Result<Procedure, u8> {
    if let Err(error) = sources::read(path) {
        err!("{}", error.render());
        return Err(exit::INVALID);
    }
    let mut report = rbx_check::check(path, &sources::FileSystem);
    let blocking = |code: &str| !NOT_READY.contains(&code);
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.diagnostic.is_error())
        .collect();
    if errors.iter().any(|f| blocking(f.diagnostic.code)) {
        for finding in &errors {
            err!("{}", render::finding(&report, finding));
        }
        errln!(
            "{} error(s): fix them first (`rbx lint {}` shows every problem)",
            errors.len(),
            path.display()
        );
        return Err(exit::INVALID);
    }
    let is_entry = report
        .sources
        .first()
        .and_then(|s| s.file.as_ref())
        .is_some_and(|f| f.header.is_some());
    let graph = report.graph.take();
    let Some(graph) = graph.filter(|_| is_entry) else {
        errln!(
            "error: `{}` has no `runbook` header: give the entry file, not a fragment it includes",
            path.display()
        );
        return Err(exit::INVALID);
    };
    if !errors.is_empty() {
        errln!(
            "note: {} thing(s) to fill in before this runbook can run (`rbx lint {}` lists them)",
            errors.len(),
            path.display()
        );
    }
    Ok(Procedure { report, graph })
}

pub fn run(args: &GraphArgs) -> u8 {
    let procedure = match load(&args.file) {
        Ok(procedure) => procedure,
        Err(status) => return status,
    };
    let drawing = Drawing::new(&procedure);
    let out = match args.format {
        GraphFormat::Dot => drawing.dot(),
        GraphFormat::Mermaid => drawing.mermaid(),
    };
    emit(&out)
}

/// Writes a command's output to standard output. A reader that stopped
/// early (`rbx plan FILE | head`) is not an error worth a panic.
pub fn emit(text: &str) -> u8 {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => exit::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(error) => {
            errln!("error: cannot write to standard output: {error}");
            exit::INVALID
        }
    }
}

/// How a node is drawn: one shape per kind of thing it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Start,
    Step,
    /// A node that waits for a person to act.
    Person,
    Check,
    Decision,
    Wait,
    Anchor,
    End,
}

/// The graph laid out for drawing, in either format.
struct Drawing {
    /// The runbook's id and title.
    title: String,
    /// Stage instances in the order they were lowered.
    clusters: Vec<Cluster>,
    /// Graph node index → (id, label lines, shape).
    nodes: Vec<(String, Vec<String>, Shape)>,
    edges: Vec<(usize, usize, EdgeKind)>,
}

struct Cluster {
    id: String,
    /// The primary instance whose flow this one runs in: itself, or for an
    /// `again` instance the stage holding the `again`, inside whose cluster
    /// it is drawn.
    host: String,
    label: String,
    nodes: Vec<usize>,
}

impl Drawing {
    fn new(procedure: &Procedure) -> Drawing {
        let title = procedure
            .report
            .sources
            .first()
            .and_then(|s| s.file.as_ref())
            .and_then(|f| f.header.as_ref())
            .map(|h| format!("{}: {}", h.id.name, h.title.source_form()))
            .unwrap_or_default();
        let raw = procedure.graph.graph.raw_nodes();
        let mut clusters: Vec<Cluster> = Vec::new();
        let mut cluster_of: HashMap<&str, usize> = HashMap::new();
        let mut nodes = Vec::with_capacity(raw.len());
        for (index, node) in raw.iter().map(|n| &n.weight).enumerate() {
            let at = *cluster_of.entry(node.stage.as_str()).or_insert_with(|| {
                clusters.push(Cluster {
                    id: node.stage.clone(),
                    host: node.host.clone(),
                    label: node.stage.clone(),
                    nodes: Vec::new(),
                });
                clusters.len() - 1
            });
            if let NodeKind::StageStart { title, .. } = &node.kind {
                clusters[at].label = if node.stage == node.host {
                    title.clone()
                } else {
                    format!("{title} (again: {})", node.stage)
                };
            }
            clusters[at].nodes.push(index);
            nodes.push((node.id.clone(), label(node), shape(node)));
        }
        let edges = procedure
            .graph
            .graph
            .raw_edges()
            .iter()
            .map(|e| {
                (
                    e.source().index(),
                    e.target().index(),
                    e.weight.kind.clone(),
                )
            })
            .collect();
        Drawing {
            title,
            clusters,
            nodes,
            edges,
        }
    }

    fn dot(&self) -> String {
        let mut out = String::new();
        out.push_str("digraph rbx {\n");
        let _ = writeln!(
            out,
            "  graph [label={}, labelloc=t, fontname=\"Helvetica\", rankdir=TB];",
            dot_string(&self.title)
        );
        out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for cluster in self.clusters.iter().filter(|c| c.id == c.host) {
            out.push('\n');
            self.dot_cluster(&mut out, cluster, 1);
        }
        out.push('\n');
        for (from, to, kind) in &self.edges {
            let attributes = match kind {
                EdgeKind::Next => String::new(),
                EdgeKind::Failure => {
                    " [label=\"on failure\", color=red, fontcolor=red, style=dashed]".to_string()
                }
                EdgeKind::Cancel => " [label=\"on cancel\", style=dotted]".to_string(),
                EdgeKind::Branch(label) => format!(" [label={}]", dot_string(label)),
            };
            let _ = writeln!(
                out,
                "  {} -> {}{attributes};",
                dot_string(&self.nodes[*from].0),
                dot_string(&self.nodes[*to].0)
            );
        }
        out.push_str("}\n");
        out
    }

    /// A cluster and, inside it, the `again` instances it hosts.
    fn dot_cluster(&self, out: &mut String, cluster: &Cluster, depth: usize) {
        let pad = "  ".repeat(depth);
        let _ = writeln!(
            out,
            "{pad}subgraph {} {{",
            dot_string(&format!("cluster_{}", cluster.id))
        );
        let _ = writeln!(
            out,
            "{pad}  label={}; style=rounded; color=gray60;",
            dot_string(&cluster.label)
        );
        for &index in &cluster.nodes {
            let (id, lines, shape) = &self.nodes[index];
            let _ = writeln!(
                out,
                "{pad}  {} [label={}{}];",
                dot_string(id),
                dot_string(&lines.join("\n")),
                dot_shape(*shape)
            );
        }
        for again in self.hosted(cluster) {
            self.dot_cluster(out, again, depth + 1);
        }
        let _ = writeln!(out, "{pad}}}");
    }

    /// The `again` instances drawn inside a primary instance's cluster.
    fn hosted<'s>(&'s self, cluster: &'s Cluster) -> impl Iterator<Item = &'s Cluster> {
        self.clusters
            .iter()
            .filter(move |c| cluster.id == cluster.host && c.host == cluster.id && c.id != c.host)
    }

    fn mermaid(&self) -> String {
        // Mermaid ids allow neither `.` nor `#`, and some bare words are
        // keywords (`end`, `graph`), so every id gets a prefix and its
        // other characters become `_`; a clash gets a number.
        let mut taken = HashSet::new();
        let ids: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, _, _)| mermaid_id("n_", id, &mut taken))
            .collect();
        let mut out = String::new();
        let _ = writeln!(out, "%% {}", self.title.replace('\n', " "));
        out.push_str("flowchart TD\n");
        for cluster in self.clusters.iter().filter(|c| c.id == c.host) {
            self.mermaid_cluster(&mut out, cluster, 1, &ids, &mut taken);
        }
        let mut failures = Vec::new();
        let mut cancels = Vec::new();
        for (number, (from, to, kind)) in self.edges.iter().enumerate() {
            let arrow = match kind {
                EdgeKind::Next => "-->".to_string(),
                EdgeKind::Failure => {
                    failures.push(number.to_string());
                    "-.->|\"on failure\"|".to_string()
                }
                EdgeKind::Cancel => {
                    cancels.push(number.to_string());
                    "-.->|\"on cancel\"|".to_string()
                }
                EdgeKind::Branch(label) => format!("-->|\"{}\"|", mermaid_text(label)),
            };
            let _ = writeln!(out, "  {} {arrow} {}", ids[*from], ids[*to]);
        }
        if !failures.is_empty() {
            let _ = writeln!(
                out,
                "  linkStyle {} stroke:red,color:red",
                failures.join(",")
            );
        }
        if !cancels.is_empty() {
            let _ = writeln!(out, "  linkStyle {} stroke:gray", cancels.join(","));
        }
        out
    }

    /// A subgraph and, inside it, the `again` instances it hosts.
    fn mermaid_cluster(
        &self,
        out: &mut String,
        cluster: &Cluster,
        depth: usize,
        ids: &[String],
        taken: &mut HashSet<String>,
    ) {
        let pad = "  ".repeat(depth);
        let _ = writeln!(
            out,
            "{pad}subgraph {}[\"{}\"]",
            mermaid_id("s_", &cluster.id, taken),
            mermaid_text(&cluster.label)
        );
        for &index in &cluster.nodes {
            let (_, lines, shape) = &self.nodes[index];
            let text: Vec<String> = lines.iter().map(|l| mermaid_text(l)).collect();
            let (open, close) = mermaid_shape(*shape);
            let _ = writeln!(
                out,
                "{pad}  {}{open}\"{}\"{close}",
                ids[index],
                text.join("<br>")
            );
        }
        for again in self.hosted(cluster) {
            self.mermaid_cluster(out, again, depth + 1, ids, taken);
        }
        let _ = writeln!(out, "{pad}end");
    }
}

/// The lines of a node's label: its kind and title, then what else a
/// reader of the picture needs (fan-out, a stage's budget and requirements).
fn label(node: &Node) -> Vec<String> {
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
        NodeKind::Block(block) => vec![format!(
            "{}: {}",
            block.kind.keyword(),
            block.title.source_form()
        )],
        NodeKind::Anchor(anchor) => vec![format!("anchor: {}", anchor.title.source_form())],
        NodeKind::End { outcome } => vec![format!("end: {outcome}")],
    };
    lines.extend(node.fanout.iter().map(fanout));
    lines
}

/// `foreach host in hosts (2 at a time)`.
pub fn fanout(fanout: &Fanout) -> String {
    let pace = match fanout.parallel {
        Some(n) if n > 1 => format!("{n} at a time"),
        _ => "one at a time".to_string(),
    };
    format!("foreach {} in {} ({pace})", fanout.var, fanout.list)
}

/// A requirement as the runbook writes it, without the `require`.
pub fn require(require: &Require) -> String {
    match require {
        Require::Role(role) => format!("role {}", role.name),
        Require::Link(link) => format!("link {}", link.name),
        Require::Expr(expr) => rbx_syntax::fmt::expr(expr),
    }
}

fn shape(node: &Node) -> Shape {
    match &node.kind {
        NodeKind::StageStart { .. } => Shape::Start,
        NodeKind::Anchor(_) => Shape::Anchor,
        NodeKind::End { .. } => Shape::End,
        NodeKind::Block(block) => match block.kind {
            BlockKind::Step => Shape::Step,
            BlockKind::Manual | BlockKind::Signoff => Shape::Person,
            BlockKind::Gate => Shape::Check,
            BlockKind::Decide | BlockKind::Choose => Shape::Decision,
            BlockKind::Wait => Shape::Wait,
        },
    }
}

fn dot_shape(shape: Shape) -> &'static str {
    match shape {
        Shape::Start => ", shape=oval",
        Shape::Step => ", shape=box, style=rounded",
        Shape::Person => ", shape=box, style=\"rounded,filled\", fillcolor=lightyellow",
        Shape::Check => ", shape=hexagon",
        Shape::Decision => ", shape=diamond",
        Shape::Wait => ", shape=parallelogram",
        Shape::Anchor => ", shape=cds",
        Shape::End => ", shape=doubleoctagon",
    }
}

fn mermaid_shape(shape: Shape) -> (&'static str, &'static str) {
    match shape {
        Shape::Start => ("([", "])"),
        Shape::Step => ("[", "]"),
        Shape::Person => ("(", ")"),
        Shape::Check => ("{{", "}}"),
        Shape::Decision => ("{", "}"),
        Shape::Wait => ("[/", "/]"),
        Shape::Anchor => (">", "]"),
        Shape::End => ("((", "))"),
    }
}

/// A DOT quoted string. In a label `\n` is a line break and a backslash
/// starts an escape (`\N` is the node's name), so backslashes are doubled.
fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for inside a Mermaid `"…"` label. Mermaid reads `#name;` as an
/// entity and renders labels as HTML, so `#`, quotes, angle brackets and
/// `&` are written as entities; a backtick would start Markdown and `|`
/// would end an edge label.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid id for `raw`: `prefix` and the id with every character other
/// than ASCII letters, digits and `_` replaced, numbered if already taken.
fn mermaid_id(prefix: &str, raw: &str, taken: &mut HashSet<String>) -> String {
    let base: String = prefix
        .chars()
        .chain(raw.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        }))
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{dot_string, mermaid_id, mermaid_text};

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_newlines() {
        assert_eq!(dot_string(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(dot_string(r"\d+\N"), r#""\\d+\\N""#);
        assert_eq!(dot_string("two\r\nlines"), r#""two\nlines""#);
    }

    #[test]
    fn mermaid_text_uses_entities() {
        assert_eq!(
            mermaid_text(r#"`forge` "ok" <b> a|b #2 &"#),
            "#96;forge#96; #quot;ok#quot; #lt;b#gt; a#124;b #35;2 #amp;"
        );
    }

    #[test]
    fn mermaid_ids_are_sanitised_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            mermaid_id("n_", "smoke#2.version", &mut taken),
            "n_smoke_2_version"
        );
        assert_eq!(
            mermaid_id("n_", "smoke_2.version", &mut taken),
            "n_smoke_2_version_2"
        );
        assert_eq!(
            mermaid_id("n_", "smoke.2_version", &mut taken),
            "n_smoke_2_version_3"
        );
        assert_eq!(mermaid_id("n_", "end", &mut taken), "n_end");
    }
}
