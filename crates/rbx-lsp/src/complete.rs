//! Completion, read from the text before the cursor rather than from the
//! tree: while the author types, the file seldom parses. The names come
//! from the procedure's symbol table, which keeps the last definitions
//! of a file that does not parse at the moment.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};
use rbx_check::symbols::{FieldType, Kind};

use crate::analysis::Analysis;
use crate::index::Symbol;
use crate::keywords::{self, Context};
use crate::navigate::Cursor;

pub fn complete(cursor: &Cursor) -> Vec<CompletionItem> {
    let before = &cursor.text[..cursor.offset.min(cursor.text.len())];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let head = line.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let names = Names(cursor.analysis);
    if let Some(node) = head.strip_suffix('.') {
        let node = node
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default();
        return names.fields(node);
    }
    if in_interpolation(head) {
        return names.values_in_text(cursor);
    }
    let Some(context) = context(before) else {
        return Vec::new();
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    match words.as_slice() {
        // Before anything but comments, a file may still become an entry.
        [] if before
            .lines()
            .all(|l| l.trim().is_empty() || l.trim().starts_with('#')) =>
        {
            let mut items = vec![keyword("runbook")];
            items.extend(statements(context));
            items
        }
        [] => statements(context),
        [.., "->"] => {
            let mut items = names.of(Kind::Stage);
            items.push(keyword("end"));
            items.push(keyword("continue"));
            items
        }
        [.., "->", "end"] | ["end"] => names.of(Kind::Outcome),
        [.., "then" | "again"] => names.of(Kind::Stage),
        ["owner" | "attest" | "by"] | ["by", ..] | ["require", "role"] => names.of(Kind::Role),
        ["require", "link"] => names.of(Kind::Link),
        ["require"] => {
            let mut items = vec![keyword("role"), keyword("link")];
            items.extend(names.expression());
            items
        }
        ["on"] | ["again", _, "{", "on"] => words_of(&["failure", "cancel"]),
        ["hook"] => words_of(&["pause", "overrun", "failure", "end"]),
        ["keep"] => words_of(&["stdout", "stderr"]),
        ["expect"] => words_of(&["exit", "stdout", "stderr"]),
        ["foreach", _, "in"] => names.of(Kind::Input),
        ["input", ..] if head.trim_end().ends_with(':') => words_of(&[
            "string",
            "int",
            "bool",
            "duration",
            "timestamp",
            "secret",
            "host",
            "command",
            "enum",
            "list",
        ]),
        ["when" | "until" | "require", ..] => names.expression(),
        _ => Vec::new(),
    }
}

/// Whether the cursor is inside `{{ … ` on its line.
fn in_interpolation(head: &str) -> bool {
    head.rfind("{{")
        .is_some_and(|open| !head[open..].contains("}}"))
}

fn statements(context: Context) -> Vec<CompletionItem> {
    keywords::starting(context)
        .map(|k| CompletionItem {
            label: k.word.to_string(),
            kind: Some(CompletionItemKind::KEYWORD),
            detail: Some(k.syntax.to_string()),
            documentation: Some(Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: k.meaning.to_string(),
            })),
            ..CompletionItem::default()
        })
        .collect()
}

fn keyword(word: &str) -> CompletionItem {
    item(word, CompletionItemKind::KEYWORD, None)
}

fn words_of(words: &[&str]) -> Vec<CompletionItem> {
    words.iter().map(|w| keyword(w)).collect()
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        ..CompletionItem::default()
    }
}

struct Names<'a>(&'a Analysis);

impl Names<'_> {
    fn of(&self, kind: Kind) -> Vec<CompletionItem> {
        let completion_kind = match kind {
            Kind::Stage => CompletionItemKind::MODULE,
            Kind::Node => CompletionItemKind::FUNCTION,
            Kind::Input => CompletionItemKind::VARIABLE,
            Kind::Role | Kind::Link => CompletionItemKind::REFERENCE,
            Kind::Outcome => CompletionItemKind::ENUM_MEMBER,
        };
        let mut names: Vec<&str> = self.0.table.names(kind).collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|name| item(name, completion_kind, Some(kind.noun().to_string())))
            .collect()
    }

    fn fields(&self, node: &str) -> Vec<CompletionItem> {
        let Some(info) = self.0.table.nodes.get(node) else {
            return Vec::new();
        };
        info.fields
            .iter()
            .map(|(name, ty)| {
                let detail = match ty {
                    FieldType::Capture(_) => "capture",
                    FieldType::Evidence(_) => "evidence",
                    FieldType::Status => "status",
                };
                item(name, CompletionItemKind::FIELD, Some(detail.to_string()))
            })
            .collect()
    }

    /// Inputs, nodes and loop variables: what `{{ }}` can name.
    fn values_in_text(&self, cursor: &Cursor) -> Vec<CompletionItem> {
        let mut items = self.of(Kind::Input);
        items.extend(self.of(Kind::Node));
        let mut loops: Vec<&str> = cursor
            .analysis
            .index
            .occurrences
            .iter()
            .filter(|o| o.definition && o.source == cursor.source)
            .filter_map(|o| match &o.symbol {
                Symbol::Loop { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        loops.sort_unstable();
        loops.dedup();
        items.extend(loops.into_iter().map(|name| {
            item(
                name,
                CompletionItemKind::VARIABLE,
                Some("loop variable".into()),
            )
        }));
        items
    }

    /// What an expression can name: inputs, nodes, bare values and
    /// functions.
    fn expression(&self) -> Vec<CompletionItem> {
        let mut items = self.of(Kind::Input);
        items.extend(self.of(Kind::Node));
        // Enum values, choice options and the statuses a node ends with.
        items.extend(
            self.0
                .table
                .values
                .iter()
                .map(|v| item(v, CompletionItemKind::ENUM_MEMBER, Some("value".into()))),
        );
        items.extend(
            [
                "contains",
                "count",
                "filled",
                "hour",
                "len",
                "minute",
                "now",
                "set",
                "timestamp",
                "version",
                "weekday",
            ]
            .into_iter()
            .map(|f| item(f, CompletionItemKind::FUNCTION, Some("function".into()))),
        );
        items
    }
}

/// The block the end of `before` is in: the keyword that opens each `{`
/// still open, skipping strings, text blocks, regexes and comments; `None`
/// when `before` ends inside one of those, where no statement starts.
pub fn context(before: &str) -> Option<Context> {
    // Every delimiter is ASCII, and an ASCII byte is never part of a wider
    // character, so the scan steps through bytes and slices the text only
    // at a delimiter.
    let bytes = before.as_bytes();
    let find = |from: usize, wanted: &[u8]| -> Option<usize> {
        bytes
            .get(from..)?
            .windows(wanted.len())
            .position(|w| w == wanted)
            .map(|i| from + i)
    };
    let mut open: Vec<Option<Context>> = Vec::new();
    let mut line_start = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at = find(at + 3, b"\"\"\"")? + 3;
                continue;
            }
            b'"' => at = string_end(bytes, at)?,
            b'#' => {
                at = find(at, b"\n")?;
                continue;
            }
            b'\n' => line_start = at + 1,
            b'~' => {
                let mut next = at + 1;
                while bytes.get(next) == Some(&b' ') {
                    next += 1;
                }
                if bytes.get(next) == Some(&b'/') {
                    // The regex runs to its closing slash, or is cut short
                    // by the line end; `\/` is a slash inside it.
                    at = next + 1;
                    loop {
                        match bytes.get(at)? {
                            b'\\' => at += 2,
                            b'/' | b'\n' => break,
                            _ => at += 1,
                        }
                    }
                    continue;
                }
            }
            b'{' => {
                let first = before[line_start..at].split_whitespace().next();
                open.push(first.and_then(Context::opened_by));
            }
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        at += 1;
    }
    Some(open.last().copied().flatten().unwrap_or(Context::Top))
}

/// Where the string opened by the quote at `open` ends: its closing quote,
/// or the byte before the line end that cuts it short; `None` when it runs
/// to the end of `bytes`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut escaped = false;
    for (at, byte) in bytes.iter().enumerate().skip(open + 1) {
        match byte {
            b'\\' if !escaped => escaped = true,
            b'\n' => return Some(at - 1),
            b'"' if !escaped => return Some(at),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_block_decides_the_context() {
        let cases = [
            ("", Context::Top),
            ("runbook r \"R\" {\n  ", Context::Top),
            ("stage s \"S\" {\n  ", Context::Stage),
            ("stage s \"S { x\" {\n  step a \"A\" {\n    ", Context::Step),
            (
                "stage s \"S\" {\n  step a \"A\" {\n    run \"x\"\n  }\n  ",
                Context::Stage,
            ),
            (
                "stage s \"S\" {\n  foreach h in hosts {\n    ",
                Context::Stage,
            ),
            (
                "stage s \"S\" {\n  wait w \"W\" {\n    expect stdout ~ /a{2}/\n    ",
                Context::Wait,
            ),
            ("stage s \"S\" { # {\n  manual m \"M\" {\n", Context::Manual),
            ("role r \"R\" {\n  ", Context::Role),
            (
                "stage s \"Ü 🚀 {\" {\n  # é {\n  gate g \"G\" {\n    ",
                Context::Gate,
            ),
            (
                "stage s \"S\" {\n  wait w \"W\" {\n    expect stdout ~ /a\\/{/\n  }\n  ",
                Context::Stage,
            ),
            (
                "stage s \"S\" {\n  step a \"A\" {\n    run \"\"\"\n  { }\n  }\n\"\"\"\n",
                Context::Step,
            ),
        ];
        for (before, expected) in cases {
            assert_eq!(context(before), Some(expected), "{before:?}");
        }
        for inside in [
            "stage s \"S\" {\n  step a \"A\" {\n    instructions \"\"\"\n      ",
            "stage s \"S\" {\n  step a \"A\" {\n    run \"echo ",
            "stage s \"S\" { # a comment ",
            "stage s \"S\" {\n  step a \"A\" {\n    expect stdout ~ /ab",
            "stage s \"S\" {\n  step a \"A\" {\n    expect stdout ~ /a\\/{",
        ] {
            assert_eq!(context(inside), None, "{inside:?}");
        }
    }

    /// The labels offered at the end of `text`, a fragment checked alone.
    fn labels(text: &str) -> Vec<String> {
        use std::path::PathBuf;

        let path = PathBuf::from("/t/part.runbook");
        let files = crate::testing::Memory(std::collections::HashMap::new());
        let mut workspace = crate::workspace::Workspace::new(files, vec![PathBuf::from("/t")]);
        workspace.open(path.clone(), text.to_string());
        let end = crate::position::LineIndex::new(text).position(text.len());
        let cursor = Cursor::new(workspace.analysis_for(&path), end).expect("checked");
        complete(&cursor).into_iter().map(|i| i.label).collect()
    }

    #[test]
    fn a_file_can_start_with_runbook_and_only_a_file() {
        for start in ["", "# Rollback for forge.\n\n"] {
            let offered = labels(start);
            assert!(
                offered.contains(&"runbook".to_string()),
                "{start:?}: {offered:?}"
            );
            assert!(
                offered.contains(&"stage".to_string()),
                "{start:?}: {offered:?}"
            );
        }
        let inside = labels("stage s \"S\" {\n  ");
        assert!(inside.contains(&"step".to_string()), "{inside:?}");
        assert!(!inside.contains(&"runbook".to_string()), "{inside:?}");
        assert!(labels("stage s \"S\" {\n  step a \"A\" {\n    run \"\"\"\n    ").is_empty());
    }

    #[test]
    fn interpolations_are_told_by_an_open_pair_of_braces() {
        assert!(in_interpolation("  run \"echo {{ "));
        assert!(in_interpolation("  run \"echo {{ a }} {{"));
        assert!(!in_interpolation("  run \"echo {{ a }} "));
    }
}
