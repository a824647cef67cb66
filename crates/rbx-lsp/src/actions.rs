//! Code actions: the fixes a lint's finding makes obvious, applied as
//! edits — a name for the one it was likely meant to be, an
//! interpolation quoted for the shell that parses it again, an unused
//! input removed.

use std::collections::HashMap;

use lsp_types::{CodeAction, CodeActionKind, Range, TextEdit, WorkspaceEdit};
use rbx_syntax::Span;
use rbx_syntax::ast::{File, ItemKind};

use crate::diagnostics;
use crate::navigate::Cursor;
use crate::position::LineIndex;

/// The fixes for the findings of the cursor's file that touch `range`.
pub fn actions(cursor: &Cursor, range: Range) -> Vec<CodeAction> {
    let Some(uri) = crate::uri::from_path(cursor.path()) else {
        return Vec::new();
    };
    let lines = LineIndex::new(cursor.text);
    let wanted = lines.span(range);
    let file = cursor
        .analysis
        .source(cursor.source)
        .and_then(|s| s.file.as_ref());
    let mut out = Vec::new();
    for finding in diagnostics::routed(&cursor.analysis.report) {
        let diagnostic = &finding.diagnostic;
        let Some(span) = diagnostic.span() else {
            continue;
        };
        if finding.source != cursor.source || span.end < wanted.start || span.start > wanted.end {
            continue;
        }
        let Some((title, edit)) = fix(cursor.text, file, diagnostic, span) else {
            continue;
        };
        let edit = TextEdit::new(lines.range(edit.0), edit.1);
        out.push(CodeAction {
            title,
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![diagnostics::to_lsp(diagnostic, &lines, Some(&uri))]),
            edit: Some(WorkspaceEdit::new(HashMap::from([(
                uri.clone(),
                vec![edit],
            )]))),
            is_preferred: Some(true),
            ..CodeAction::default()
        });
    }
    out
}

type Edit = (Span, String);

fn fix(
    text: &str,
    file: Option<&File>,
    diagnostic: &rbx_syntax::Diagnostic,
    span: Span,
) -> Option<(String, Edit)> {
    let written = text.get(span.range())?;
    let help = diagnostic.help.as_deref().unwrap_or_default();
    if diagnostic.code == "rbx::lint::unused_input" {
        let line = whole_lines(text, item_span(file?, span)?)?;
        return Some((
            format!("Remove the unused input `{written}`"),
            (line, String::new()),
        ));
    }
    if diagnostic.code == "rbx::lint::reparsed_interpolation" {
        let quoted = between(help, "quote it for that shell: `", "`")?;
        return Some((
            format!("Quote for the shell: `{quoted}`"),
            (span, quoted.to_string()),
        ));
    }
    let meant = between(help, "did you mean `", "`?")?;
    // Only a single word is replaced, so that a fix never swallows more
    // than the name it corrects.
    if written.is_empty() || written.contains(char::is_whitespace) {
        return None;
    }
    let meant = match meant.rsplit_once('.') {
        Some((_, field)) if !written.contains('.') => field,
        _ => meant,
    };
    Some((
        format!("Change `{written}` to `{meant}`"),
        (span, meant.to_string()),
    ))
}

fn between<'h>(help: &'h str, open: &str, close: &str) -> Option<&'h str> {
    let start = help.find(open)? + open.len();
    let len = help[start..].find(close)?;
    Some(&help[start..start + len])
}

/// The span of the `input` item whose name is at `name`.
fn item_span(file: &File, name: Span) -> Option<Span> {
    file.items.iter().find_map(|item| match &item.kind {
        ItemKind::Input(input) if input.name.span.start == name.start => Some(item.span),
        _ => None,
    })
}

/// `span` grown to whole lines, newline included, when nothing else shares
/// those lines.
fn whole_lines(text: &str, span: Span) -> Option<Span> {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i + 1);
    let alone = text[start..span.start].trim().is_empty() && text[span.end..end].trim().is_empty();
    alone.then_some(Span::new(start, end))
}
