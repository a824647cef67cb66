//! What changed in a runbook's files since a run started, read when
//! `rbx resume` compares the files on disk with the run's snapshot.
//!
//! The files are compared as syntax trees, not as text, so a step that
//! only moved (a line added above it), was re-indented or had a comment
//! changed is not a change. Every part of a file is compared: each node by
//! its stage and id, each stage's own lines (its routes, `require`, `then`,
//! `end`, loops and instances) apart from its nodes, the runbook's
//! `finally`, and what stands outside the stages (inputs, roles, links,
//! hooks, outcomes, budgets, the header).

use std::collections::BTreeMap;

use rbx_syntax::ast::{Block, File, Header, ItemKind, Stage, StageItem, StageItemKind};

/// The stage name the runbook's own `finally` block gives its nodes.
const RUNBOOK_FINALLY: &str = "finally";

/// One part of the procedure that differs between the snapshot and the
/// files on disk, or that one of them lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What it is, for people: `step smoke.version`, `stage smoke`,
    /// `main.runbook outside its stages`.
    pub what: String,
    /// For a node: its id in the runbook (`smoke.version`), which every
    /// instance of it shares.
    pub node: Option<String>,
    /// Its text in the snapshot, and on disk; `None` where it is absent.
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
    /// The lines that differ, `-` for the snapshot's and `+` for the
    /// file's, with the lines around them; at most `limit` lines, the last
    /// saying how many more there are.
    pub fn diff(&self, limit: usize) -> Vec<String> {
        let before = self.before.as_deref().unwrap_or("");
        let after = self.after.as_deref().unwrap_or("");
        let diff = similar::TextDiff::from_lines(before, after);
        let mut lines: Vec<String> = Vec::new();
        for group in diff.grouped_ops(1) {
            for op in group {
                for change in diff.iter_changes(&op) {
                    let sign = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    lines.push(format!("{sign} {}", change.value().trim_end()));
                }
            }
        }
        let limit = limit.max(1);
        if lines.len() > limit {
            let more = lines.len() - limit + 1;
            lines.truncate(limit - 1);
            lines.push(format!("  … {more} more lines"));
        }
        lines
    }
}

/// What differs between the snapshot's runbook files and the same files
/// as they are now (`current`; empty when they could not be read, and
/// nothing is compared), in the order of the pieces' names. A file that
/// does not parse is compared as a whole.
pub fn changes(snapshot: &[(String, String)], current: &[(String, String)]) -> Vec<Change> {
    let snapshot: Vec<(String, String)> = snapshot
        .iter()
        .filter(|(path, _)| crate::is_runbook_source(path))
        .cloned()
        .collect();
    if current.is_empty() || snapshot == current {
        return Vec::new();
    }
    let parsed = |sources: &[(String, String)]| -> Vec<(String, String, Option<File>)> {
        sources
            .iter()
            .map(|(path, text)| (path.clone(), text.clone(), rbx_syntax::parse(text).file))
            .collect()
    };
    let (snapshot, current) = (parsed(&snapshot), parsed(current));
    // A file that does not parse on either side is compared as a whole.
    let unparsed: Vec<&str> = snapshot
        .iter()
        .chain(&current)
        .filter(|(_, _, file)| file.is_none())
        .map(|(path, _, _)| path.as_str())
        .collect();
    let mut out = whole_files(&unparsed, &snapshot, &current);
    let before = pieces(&snapshot, &unparsed);
    let after = pieces(&current, &unparsed);
    for (key, was) in &before {
        match after.get(key) {
            Some(now) if now.shape == was.shape => {}
            now => out.push(change(key, Some(was), now)),
        }
    }
    for (key, now) in &after {
        if !before.contains_key(key) {
            out.push(change(key, None, Some(now)));
        }
    }
    out.sort_by(|a, b| a.what.cmp(&b.what));
    out
}

/// The changes named in one line: `step smoke.version, stage smoke …`.
pub fn named(changes: &[Change]) -> String {
    let names: Vec<&str> = changes.iter().map(|c| c.what.as_str()).collect();
    names.join(", ")
}

/// The id a node instance's node has in the runbook, as
/// [`Change::node`] names it: `smoke.version` for `smoke#2.version[web-1]`,
/// `drain.uncordon` for `drain#1.finally.uncordon`.
pub fn written_as(instance: &str) -> String {
    let without_items = instance.split('[').next().unwrap_or(instance);
    let Some((stage, node)) = without_items.split_once('.') else {
        return without_items.to_string();
    };
    let stage = stage.split('#').next().unwrap_or(stage);
    let node = node.rsplit('.').next().unwrap_or(node);
    format!("{stage}.{node}")
}

fn change(key: &Key, before: Option<&Piece>, after: Option<&Piece>) -> Change {
    let what = match key {
        Key::Node { kind, id } => format!("{kind} {id}"),
        Key::Stage(id) => format!("stage {id} (apart from its nodes)"),
        Key::Outside(path) => format!("{path} outside its stages"),
    };
    Change {
        what,
        node: match key {
            Key::Node { id, .. } => Some(id.clone()),
            _ => None,
        },
        before: before.map(|p| p.text.clone()),
        after: after.map(|p| p.text.clone()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Node { kind: &'static str, id: String },
    Stage(String),
    Outside(String),
}

/// A part of a file: its tree, compared without positions, and its text.
struct Piece {
    shape: Shape,
    text: String,
}

#[derive(PartialEq)]
enum Shape {
    Node(std::sync::Arc<Block>),
    Stage(Stage),
    Outside(Option<Header>, Vec<ItemKind>),
}

type Parsed = (String, String, Option<File>);

/// The files of `unparsed` whose text differs between the two sides.
fn whole_files(unparsed: &[&str], snapshot: &[Parsed], current: &[Parsed]) -> Vec<Change> {
    let text = |side: &[Parsed], path: &str| {
        side.iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, text, _)| text.clone())
    };
    let mut paths = unparsed.to_vec();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (before, after) = (text(snapshot, path), text(current, path));
            (before != after).then(|| Change {
                what: format!("{path} (it does not parse)"),
                node: None,
                before,
                after,
            })
        })
        .collect()
}

fn pieces(sources: &[Parsed], unparsed: &[&str]) -> BTreeMap<Key, Piece> {
    let mut out = BTreeMap::new();
    for (path, text, file) in sources {
        if let Some(file) = file.as_ref().filter(|_| !unparsed.contains(&path.as_str())) {
            file_pieces(path, text, file, &mut out);
        }
    }
    out
}

fn file_pieces(path: &str, text: &str, file: &File, out: &mut BTreeMap<Key, Piece>) {
    let mut outside = Vec::new();
    let mut outside_text = String::new();
    if let Some(header) = &file.header {
        push_line(&mut outside_text, &written(text, header.span.range()));
    }
    for item in &file.items {
        let lines = written(text, item.span.range());
        match &item.kind {
            ItemKind::Stage(stage) => {
                nodes(&stage.id.name, &stage.items, text, out);
                out.insert(
                    Key::Stage(stage.id.name.clone()),
                    Piece {
                        shape: Shape::Stage(skeleton(stage)),
                        text: written(text, item.span.range()),
                    },
                );
            }
            ItemKind::Finally(items) => {
                nodes(RUNBOOK_FINALLY, items, text, out);
                outside.push(ItemKind::Finally(items.iter().map(hollow).collect()));
                push_line(&mut outside_text, &lines);
            }
            kind => {
                outside.push(kind.clone());
                push_line(&mut outside_text, &lines);
            }
        }
    }
    out.insert(
        Key::Outside(path.to_string()),
        Piece {
            shape: Shape::Outside(file.header.clone(), outside),
            text: outside_text,
        },
    );
}

/// Every node written in `items`, at any depth, under its stage's name.
fn nodes(stage: &str, items: &[StageItem], text: &str, out: &mut BTreeMap<Key, Piece>) {
    for item in items {
        match &item.kind {
            StageItemKind::Block(block) => {
                let key = Key::Node {
                    kind: block.kind.keyword(),
                    id: format!("{stage}.{}", block.id.name),
                };
                let piece = Piece {
                    shape: Shape::Node(std::sync::Arc::clone(block)),
                    text: written(text, item.span.range()),
                };
                out.insert(key, piece);
            }
            kind => nodes(stage, kind.nested(), text, out),
        }
    }
}

/// A stage as its own lines say it: every node in it reduced to its kind
/// and id, whose bodies the nodes' own pieces compare.
fn skeleton(stage: &Stage) -> Stage {
    Stage {
        items: stage.items.iter().map(hollow).collect(),
        ..stage.clone()
    }
}

fn hollow(item: &StageItem) -> StageItem {
    let kind = match &item.kind {
        StageItemKind::Block(block) => StageItemKind::Block(std::sync::Arc::new(Block {
            kind: block.kind,
            id: block.id.clone(),
            title: rbx_syntax::ast::Text {
                parts: Vec::new(),
                block: false,
                span: block.title.span,
            },
            body: Vec::new(),
        })),
        kind => {
            let mut kind = kind.clone();
            for inner in kind.nested_mut() {
                *inner = hollow(inner);
            }
            kind
        }
    };
    StageItem {
        kind,
        span: item.span,
    }
}

/// The text of `range`, its lines after the first moved left by the
/// column the first begins at, so that it reads as written.
fn written(text: &str, range: std::ops::Range<usize>) -> String {
    let column = text.get(..range.start).map_or(0, |before| {
        before.len() - before.rfind('\n').map_or(0, |i| i + 1)
    });
    let piece = text.get(range).unwrap_or_default();
    let mut out = String::with_capacity(piece.len());
    for (n, line) in piece.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
            let indent = line.len() - line.trim_start_matches(' ').len();
            out.push_str(&line[indent.min(column)..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests;
