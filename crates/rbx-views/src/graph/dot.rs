//! The picture in Graphviz DOT.

use std::fmt::Write as _;

use super::{Cluster, Drawing, Route, Shape};

pub(super) fn write(drawing: &Drawing) -> String {
    let mut out = String::new();
    out.push_str("digraph rbx {\n");
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", rankdir=TB];",
        string(&drawing.title)
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    if drawing.clusters.is_empty() {
        out.push('\n');
        for (index, _) in drawing.boxes.iter().enumerate() {
            node(&mut out, drawing, index, "  ");
        }
    }
    for cluster in drawing.clusters.iter().filter(|c| c.id == c.host) {
        out.push('\n');
        write_cluster(&mut out, drawing, cluster, 1);
    }
    out.push('\n');
    for arrow in &drawing.arrows {
        let label = if arrow.label.is_empty() {
            String::new()
        } else {
            format!("label={}", string(&arrow.label))
        };
        let style = match arrow.route {
            Route::Next | Route::Branch => "",
            Route::Failure => "color=red, fontcolor=red, style=dashed",
            Route::Cancel => "style=dotted",
        };
        let attributes: Vec<&str> = [label.as_str(), style]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attributes.join(", "))
        };
        let _ = writeln!(
            out,
            "  {} -> {}{attributes};",
            string(&drawing.boxes[arrow.from].id),
            string(&drawing.boxes[arrow.to].id)
        );
    }
    out.push_str("}\n");
    out
}

fn node(out: &mut String, drawing: &Drawing, index: usize, pad: &str) {
    let b = &drawing.boxes[index];
    let marked = if b.irreversible {
        ", color=red3, penwidth=2.5"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{pad}{} [label={}{}{marked}];",
        string(&b.id),
        string(&b.lines.join("\n")),
        shape(b.shape)
    );
}

/// A cluster and, inside it, the `again` instances it hosts.
fn write_cluster(out: &mut String, drawing: &Drawing, cluster: &Cluster, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}subgraph {} {{",
        string(&format!("cluster_{}", cluster.id))
    );
    let _ = writeln!(
        out,
        "{pad}  label={}; style=rounded; color=gray60;",
        string(&cluster.label)
    );
    for &index in &cluster.boxes {
        node(out, drawing, index, &format!("{pad}  "));
    }
    for again in drawing.hosted(cluster) {
        write_cluster(out, drawing, again, depth + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

fn shape(shape: Shape) -> &'static str {
    match shape {
        Shape::Begin => ", shape=circle, style=filled, fillcolor=gray85",
        Shape::Stage => ", shape=box, style=rounded",
        Shape::Every => ", shape=box, style=dashed",
        Shape::Start => ", shape=oval",
        Shape::Step => ", shape=box, style=rounded",
        Shape::Person => ", shape=box, style=\"rounded,filled\", fillcolor=lightyellow",
        Shape::Check => ", shape=hexagon",
        Shape::Decision => ", shape=diamond",
        Shape::Wait => ", shape=parallelogram",
        Shape::Anchor => ", shape=cds",
        Shape::End(Some(true)) => ", shape=doubleoctagon, style=filled, fillcolor=honeydew",
        Shape::End(Some(false)) => ", shape=doubleoctagon, style=filled, fillcolor=mistyrose",
        Shape::End(None) => ", shape=doubleoctagon",
    }
}

/// A DOT quoted string. In a label `\n` is a line break and a backslash
/// starts an escape (`\N` is the node's name), so backslashes are doubled.
fn string(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_newlines() {
        assert_eq!(string(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(string(r"\d+\N"), r#""\\d+\\N""#);
        assert_eq!(string("two\r\nlines"), r#""two\nlines""#);
    }
}
