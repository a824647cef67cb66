//! Hover: what a keyword means, and the resolved facts of the thing a
//! name stands for: a node's command, timeout, routes and worst-case time,
//! a stage's budget, an input's type.

use rbx_check::symbols::FINALLY;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::visit::EdgeRef as _;
use rbx_check::budget::{self, Reason, WorstCase};
use rbx_check::graph::{EdgeKind, Graph, NodeKind};
use rbx_check::symbols::Kind;
use rbx_syntax::ast::*;
use rbx_syntax::fmt::duration;

use crate::analysis::Analysis;
use crate::index::{Occurrence, Symbol};
use crate::keywords;
use crate::navigate::Cursor;

/// The hover text, as Markdown, for what is under the cursor.
pub fn hover(cursor: &Cursor) -> Option<String> {
    match cursor.occurrence() {
        Some(occurrence) => symbol(cursor.analysis, occurrence),
        None => keyword(cursor),
    }
}

fn keyword(cursor: &Cursor) -> Option<String> {
    if cursor.analysis.index.in_prose(cursor.source, cursor.offset) {
        return None;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let text = cursor.text;
    let at = cursor.offset.min(text.len());
    let start = text[..at].trim_end_matches(word).len();
    let end = text[at..]
        .find(|c: char| !word(c))
        .map_or(text.len(), |i| at + i);
    let keyword = keywords::find(text.get(start..end)?)?;
    Some(format!(
        "`{}`\n\n```runbook\n{}\n```\n\n{}",
        keyword.word, keyword.syntax, keyword.meaning
    ))
}

fn symbol(analysis: &Analysis, occurrence: &Occurrence) -> Option<String> {
    let definition = analysis
        .index
        .all(&occurrence.symbol)
        .find(|o| o.definition);
    let file = definition.and_then(|d| analysis.source(d.source)?.file.as_ref());
    let at = definition.map(|d| d.span.start);
    match &occurrence.symbol {
        Symbol::Named(kind, name) => {
            let found = file.zip(at).and_then(|(file, at)| find(file, at));
            Some(match found {
                Some(found) => describe(analysis, found),
                None if *kind == Kind::Outcome => implicit_outcome(analysis, name),
                None => format!("{} `{name}`, not defined in this procedure", kind.noun()),
            })
        }
        Symbol::Field { node, field } => Some(field_facts(analysis, node, field)),
        Symbol::Loop { name, .. } => Some(format!(
            "loop variable `{name}`: one item of the list at a time"
        )),
        Symbol::Include(path) => Some(format!("includes `{}`", path.display())),
    }
}

/// A definition found in a file's tree, by where its id starts.
enum Found<'f> {
    Stage(&'f Stage),
    Block(&'f str, &'f Block),
    Anchor(&'f str, &'f Anchor),
    Checklist(&'f str, &'f Checklist),
    Input(&'f Input),
    Role(&'f Role),
    Link(&'f Link),
    Outcome(&'f Outcome),
}

fn find(file: &File, at: usize) -> Option<Found<'_>> {
    fn in_stage<'f>(stage: &'f str, items: &'f [StageItem], at: usize) -> Option<Found<'f>> {
        items.iter().find_map(|item| match &item.kind {
            StageItemKind::Block(block) if block.id.span.start == at => {
                Some(Found::Block(stage, block))
            }
            StageItemKind::Anchor(anchor) if anchor.id.span.start == at => {
                Some(Found::Anchor(stage, anchor))
            }
            StageItemKind::Checklist(list) if list.id.span.start == at => {
                Some(Found::Checklist(stage, list))
            }
            StageItemKind::Checklist(list) => in_stage(stage, &list.items, at),
            StageItemKind::Foreach(foreach) => in_stage(stage, &foreach.items, at),
            StageItemKind::Parallel(parallel) => in_stage(stage, &parallel.items, at),
            StageItemKind::Repeat(repeat) => in_stage(stage, &repeat.items, at),
            StageItemKind::Every(every) => in_stage(stage, &every.items, at),
            StageItemKind::Finally(items) => in_stage(stage, items, at),
            _ => None,
        })
    }
    file.items.iter().find_map(|item| match &item.kind {
        ItemKind::Stage(stage) if stage.id.span.start == at => Some(Found::Stage(stage)),
        ItemKind::Stage(stage) => in_stage(&stage.id.name, &stage.items, at),
        ItemKind::Finally(items) => in_stage(FINALLY, items, at),
        ItemKind::Input(input) if input.name.span.start == at => Some(Found::Input(input)),
        ItemKind::Role(role) if role.id.span.start == at => Some(Found::Role(role)),
        ItemKind::Link(link) if link.id.span.start == at => Some(Found::Link(link)),
        ItemKind::Outcome(outcome) if outcome.name.span.start == at => {
            Some(Found::Outcome(outcome))
        }
        _ => None,
    })
}

fn describe(analysis: &Analysis, found: Found) -> String {
    match found {
        Found::Stage(stage) => stage_facts(analysis, stage),
        Found::Block(stage, block) => node_facts(analysis.report.graph.as_ref(), stage, block),
        Found::Anchor(stage, anchor) => format!(
            "**anchor** `{}` — {}\n\nin stage `{stage}`; records the time it is reached",
            anchor.id.name,
            anchor.title.source_form()
        ),
        Found::Checklist(stage, list) => {
            let items: Vec<&str> = list
                .items
                .iter()
                .filter_map(|item| match &item.kind {
                    StageItemKind::Block(block) => Some(block.id.name.as_str()),
                    _ => None,
                })
                .collect();
            let verdict = if list.fail_fast {
                "stops at the first item that fails"
            } else {
                "every item runs; fails after the last if any failed"
            };
            format!(
                "**checklist** `{}` — {}\n\nin stage `{stage}`; {verdict}; items: {}; \
                 `{}.failed` lists the items that failed",
                list.id.name,
                list.title.source_form(),
                items.join(", "),
                list.id.name
            )
        }
        Found::Input(input) => {
            let mut out = format!(
                "**input** `{}`: `{}`",
                input.name.name,
                input_type(&input.ty.kind)
            );
            if let Some(default) = &input.default {
                let _ = write!(out, " = `{}`", value(default));
            }
            if let Some(description) = &input.description {
                let _ = write!(out, "\n\n{}", description.source_form());
            }
            out
        }
        Found::Role(role) => {
            let mut out = format!("**role** `{}` — {}", role.id.name, role.title.source_form());
            for field in role.fields.iter().flatten() {
                let _ = write!(
                    out,
                    "\n\n{}: {}",
                    field.kind.keyword(),
                    field.value.source_form()
                );
            }
            if role.fields.is_none() {
                out.push_str("\n\nfilled at run time (`--fill`)");
            }
            out
        }
        Found::Link(link) => format!(
            "**link** `{}` — {}\n\n{}",
            link.id.name,
            link.title.source_form(),
            link.target
                .as_ref()
                .map_or("not set here".to_string(), |t| format!(
                    "→ {}",
                    t.source_form()
                ))
        ),
        Found::Outcome(outcome) => format!(
            "**outcome** `{}` ({}){}",
            outcome.name.name,
            if outcome.success {
                "success"
            } else {
                "failure"
            },
            outcome
                .description
                .as_ref()
                .map_or(String::new(), |d| format!("\n\n{}", d.source_form()))
        ),
    }
}

/// An outcome no `outcome` line declares: a success unless a failure or
/// cancel route leads to it.
fn implicit_outcome(analysis: &Analysis, name: &str) -> String {
    let class = analysis
        .report
        .graph
        .as_ref()
        .and_then(|graph| graph.outcomes.get(name));
    match class {
        Some(class) => format!(
            "**outcome** `{name}` ({}, by default: no `outcome` line declares it)",
            if class.success { "success" } else { "failure" }
        ),
        None => format!("**outcome** `{name}`"),
    }
}

fn stage_facts(analysis: &Analysis, stage: &Stage) -> String {
    let mut out = format!(
        "**stage** `{}` — {}",
        stage.id.name,
        stage.title.source_form()
    );
    if let Some(within) = &stage.within {
        let _ = write!(out, "\n\nwithin {}", duration(within.millis));
    }
    if let Some(graph) = &analysis.report.graph {
        let _ = write!(
            out,
            "\n\nworst case: {}",
            worst_case(&budget::worst_case(graph, &stage.id.name))
        );
    }
    out
}

fn worst_case(worst: &WorstCase) -> String {
    match worst {
        WorstCase::Bounded { millis, people, .. } => {
            let people = if *people {
                ", plus the time people take"
            } else {
                ""
            };
            format!("{}{people}", duration(*millis))
        }
        WorstCase::Unbounded { node, reason } => match reason {
            Reason::NoTimeout => format!("unbounded: `{node}` has no `timeout`"),
            Reason::ComputedTimeout => {
                format!("unbounded: the `timeout` of `{node}` is computed when it starts")
            }
            Reason::UnknownLength { list } => {
                format!("unbounded: `{node}` runs once per item of `{list}`")
            }
            Reason::ChildRun => {
                format!("unbounded: `{node}` runs a child run, bounded by its own runbook")
            }
        },
    }
}

fn node_facts(graph: Option<&Graph>, stage: &str, block: &Block) -> String {
    let mut out = format!(
        "**{}** `{}` — {}\n\nin stage `{stage}`",
        block.kind.keyword(),
        block.id.name,
        block.title.source_form()
    );
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Run(command) => {
                let _ = write!(out, "\n\n```sh\n{}\n```", command.source_form().trim());
            }
            StmtKind::Timeout(timeout) => {
                let _ = write!(out, "\n\ntimeout {}", duration(timeout.millis));
            }
            StmtKind::Retry(retry) => {
                let _ = write!(out, "\n\nretry {}", retry.count.value);
            }
            StmtKind::Idempotent => out.push_str("\n\nidempotent"),
            StmtKind::Irreversible(_) => out.push_str("\n\nirreversible"),
            StmtKind::Runbook(path) => {
                let _ = write!(out, "\n\nruns `{}` as a child run", path.source_form());
            }
            _ => {}
        }
    }
    // A node of the stage, or of its own clean-up.
    let Some((graph, index)) = graph.and_then(|g| {
        // A stage with parameters has only its calls' instances.
        g.node(&format!("{stage}.{}", block.id.name))
            .or_else(|| g.node(&format!("{stage}.finally.{}", block.id.name)))
            .or_else(|| g.node(&format!("{stage}#1.{}", block.id.name)))
            .map(|i| (g, i))
    }) else {
        return out;
    };
    for edge in graph.graph.edges_directed(index, Direction::Outgoing) {
        let on = match &edge.weight().kind {
            EdgeKind::Failure => "on failure".to_string(),
            EdgeKind::Tolerated => "on failure, counted against `tolerate`".to_string(),
            EdgeKind::Cancel => "on cancel".to_string(),
            EdgeKind::Branch(label) => format!("when {label}"),
            EdgeKind::Next => continue,
        };
        let target = &graph.graph[edge.target()];
        let to = match &target.kind {
            NodeKind::End { outcome } => format!("end {outcome}"),
            NodeKind::StageStart { stage, .. } => format!("stage {stage}"),
            NodeKind::Tally { tolerate, .. } => format!("tolerate {}", tolerate.source_form()),
            _ => target.id.clone(),
        };
        let _ = write!(out, "\n\n{on} → `{to}`");
    }
    let cost = budget::cost(&graph.graph[index]);
    let _ = write!(
        out,
        "\n\nworst case: {}",
        match cost.millis {
            Some(millis) if cost.people =>
                format!("{}, plus the time people take", duration(millis)),
            Some(millis) => duration(millis),
            None if block.kind == BlockKind::Child => {
                "its child run's, bounded by its own runbook".to_string()
            }
            None => "unbounded: no `timeout`".to_string(),
        }
    );
    out
}

fn field_facts(analysis: &Analysis, node: &str, field: &str) -> String {
    use rbx_check::symbols::FieldType;
    let what = analysis
        .table
        .nodes
        .get(node)
        .and_then(|info| info.fields.get(field))
        .map(|ty| match ty {
            FieldType::Capture(ty) => {
                format!("captured, {}", ty.map_or("string", CaptureType::keyword))
            }
            FieldType::Evidence(ty) => format!("evidence, {}", evidence_type(ty)),
            FieldType::Status => "the node's status: succeeded, failed or skipped".to_string(),
        });
    match what {
        Some(what) => format!("**field** `{node}.{field}`: {what}"),
        None => format!("`{node}` has no field `{field}`"),
    }
}

fn evidence_type(ty: &EvidenceType) -> String {
    match ty {
        EvidenceType::Text => "text".to_string(),
        EvidenceType::Url => "url".to_string(),
        EvidenceType::File => "file".to_string(),
        EvidenceType::Int => "int".to_string(),
        EvidenceType::Bool => "bool".to_string(),
        EvidenceType::Choice(options) => format!("choice({})", names(options)),
        EvidenceType::Choices(options) => format!("choices({})", names(options)),
    }
}

fn input_type(kind: &InputTypeKind) -> String {
    match kind {
        InputTypeKind::Scalar(ty) => ty.keyword().to_string(),
        InputTypeKind::Enum(values) => format!("enum({})", names(values)),
        InputTypeKind::List(ty) => format!("list({})", ty.keyword()),
    }
}

fn names(idents: &[Ident]) -> String {
    idents
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(text) => format!("\"{}\"", text.source_form()),
        ValueKind::Int(n) => n.to_string(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration(millis) => duration(*millis),
        ValueKind::Name(ident) => ident.name.clone(),
        ValueKind::List(items) => {
            format!(
                "[{}]",
                items.iter().map(self::value).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rbx_check::symbols::NodeKind as TableNodeKind;

    use super::*;
    use crate::testing::procedures;
    use crate::workspace::Workspace;

    /// Every name of every shipped procedure hovers with what it is, and
    /// every step with its timeout and worst-case time.
    #[test]
    fn every_name_hovers_with_its_kind_and_facts() {
        let (mut hovered, mut children) = (0, 0);
        for (files, entry) in procedures() {
            let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut workspace = Workspace::new(files.clone(), vec![root]);
            workspace.open(entry.clone(), files.0[&entry].clone());
            let (analysis, _) = workspace.analysis_for(&entry).expect("checked");
            for occurrence in &analysis.index.occurrences {
                let Symbol::Named(kind, name) = &occurrence.symbol else {
                    continue;
                };
                let cursor = Cursor {
                    analysis,
                    source: occurrence.source,
                    offset: occurrence.span.start,
                    text: &analysis.report.sources[occurrence.source].text,
                };
                let text = hover(&cursor).expect("a name hovers");
                let noun = match (kind, analysis.table.nodes.get(name)) {
                    (Kind::Node, Some(node)) => match node.kind {
                        TableNodeKind::Block(block) => block.keyword(),
                        TableNodeKind::Anchor => "anchor",
                        TableNodeKind::Checklist => "checklist",
                    },
                    (kind, _) => kind.noun(),
                };
                assert!(text.starts_with(&format!("**{noun}** `{name}`")), "{text}");
                if noun == "step" && text.contains("\n\ntimeout ") {
                    assert!(text.contains("worst case: "), "{text}");
                }
                if noun == "child" {
                    assert!(text.contains(".runbook` as a child run"), "{text}");
                    children += 1;
                }
                hovered += 1;
            }
        }
        assert!(hovered > 500, "{hovered} names hovered");
        assert!(children > 0, "no `child` node was hovered");
    }
}
