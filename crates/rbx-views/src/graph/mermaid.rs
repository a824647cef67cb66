//! The picture in Mermaid.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::{Cluster, Drawing, Route, Shape};

pub(super) fn write(drawing: &Drawing) -> String {
    // Mermaid ids allow neither `.` nor `#`, and some bare words are
    // keywords (`end`, `graph`), so every id gets a prefix and its other
    // characters become `_`; a clash gets a number.
    let mut taken = HashSet::new();
    let ids: Vec<String> = drawing
        .boxes
        .iter()
        .map(|b| id("n_", &b.id, &mut taken))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "%% {}", drawing.title.replace('\n', " "));
    out.push_str("flowchart TD\n");
    if drawing.clusters.is_empty() {
        for index in 0..drawing.boxes.len() {
            node(&mut out, drawing, index, &ids, "  ");
        }
    }
    for cluster in drawing.clusters.iter().filter(|c| c.id == c.host) {
        write_cluster(&mut out, drawing, cluster, 1, &ids, &mut taken);
    }
    let mut failures = Vec::new();
    let mut cancels = Vec::new();
    for (number, a) in drawing.arrows.iter().enumerate() {
        let arrow = match a.route {
            Route::Next | Route::Branch => "-->",
            Route::Failure => {
                failures.push(number.to_string());
                "-.->"
            }
            Route::Cancel => {
                cancels.push(number.to_string());
                "-.->"
            }
        };
        let label = if a.label.is_empty() {
            String::new()
        } else {
            format!("|\"{}\"|", text(&a.label))
        };
        let _ = writeln!(out, "  {} {arrow}{label} {}", ids[a.from], ids[a.to]);
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
    let marked: Vec<&str> = drawing
        .boxes
        .iter()
        .zip(&ids)
        .filter(|(b, _)| b.irreversible)
        .map(|(_, id)| id.as_str())
        .collect();
    if !marked.is_empty() {
        out.push_str("  classDef irreversible stroke:#b00,stroke-width:3px\n");
        let _ = writeln!(out, "  class {} irreversible", marked.join(","));
    }
    out
}

fn node(out: &mut String, drawing: &Drawing, index: usize, ids: &[String], pad: &str) {
    let b = &drawing.boxes[index];
    let lines: Vec<String> = b.lines.iter().map(|l| text(l)).collect();
    let (open, close) = shape(b.shape);
    let _ = writeln!(
        out,
        "{pad}{}{open}\"{}\"{close}",
        ids[index],
        lines.join("<br>")
    );
}

/// A subgraph and, inside it, the `again` instances it hosts.
fn write_cluster(
    out: &mut String,
    drawing: &Drawing,
    cluster: &Cluster,
    depth: usize,
    ids: &[String],
    taken: &mut HashSet<String>,
) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}subgraph {}[\"{}\"]",
        id("s_", &cluster.id, taken),
        text(&cluster.label)
    );
    for &index in &cluster.boxes {
        node(out, drawing, index, ids, &format!("{pad}  "));
    }
    for again in drawing.hosted(cluster) {
        write_cluster(out, drawing, again, depth + 1, ids, taken);
    }
    let _ = writeln!(out, "{pad}end");
}

fn shape(shape: Shape) -> (&'static str, &'static str) {
    match shape {
        Shape::Begin => ("((", "))"),
        Shape::Stage => ("(", ")"),
        Shape::Every => ("[", "]"),
        Shape::Start => ("([", "])"),
        Shape::Step => ("[", "]"),
        Shape::Person => ("(", ")"),
        Shape::Check => ("{{", "}}"),
        Shape::Decision => ("{", "}"),
        Shape::Wait => ("[/", "/]"),
        Shape::Anchor => (">", "]"),
        Shape::End(_) => ("(((", ")))"),
    }
}

/// Text for inside a Mermaid `"…"` label. Mermaid reads `#name;` as an
/// entity and renders labels as HTML, so `#`, quotes, angle brackets and
/// `&` are written as entities; a backtick would start Markdown and `|`
/// would end an edge label.
fn text(text: &str) -> String {
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
fn id(prefix: &str, raw: &str, taken: &mut HashSet<String>) -> String {
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

    use super::{id, text};

    #[test]
    fn mermaid_text_uses_entities() {
        assert_eq!(
            text(r#"`forge` "ok" <b> a|b #2 &"#),
            "#96;forge#96; #quot;ok#quot; #lt;b#gt; a#124;b #35;2 #amp;"
        );
    }

    #[test]
    fn mermaid_ids_are_sanitised_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(id("n_", "smoke#2.version", &mut taken), "n_smoke_2_version");
        assert_eq!(
            id("n_", "smoke_2.version", &mut taken),
            "n_smoke_2_version_2"
        );
        assert_eq!(
            id("n_", "smoke.2_version", &mut taken),
            "n_smoke_2_version_3"
        );
        assert_eq!(id("n_", "end", &mut taken), "n_end");
    }
}
