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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;
    use crate::testing::Memory;
    use crate::workspace::Workspace;

    /// `source` with every quick fix offered for it applied, and the codes
    /// of the findings it had.
    fn fixed(source: &str) -> (String, Vec<&'static str>) {
        let path = PathBuf::from("/t/main.runbook");
        let files = Memory(HashMap::from([(path.clone(), source.to_string())]));
        let mut workspace = Workspace::new(files, vec![PathBuf::from("/t")]);
        workspace.open(path.clone(), source.to_string());
        let cursor = Cursor::new(
            workspace.analysis_for(&path),
            lsp_types::Position::default(),
        )
        .expect("checked");
        let codes = cursor
            .analysis
            .report
            .findings
            .iter()
            .map(|f| f.diagnostic.code)
            .collect();
        let whole = LineIndex::new(source).whole();
        let mut spans: Vec<(Span, String)> = actions(&cursor, whole)
            .into_iter()
            .flat_map(|action| action.edit.and_then(|e| e.changes).unwrap_or_default())
            .flat_map(|(_, edits)| edits)
            .map(|edit| (LineIndex::new(source).span(edit.range), edit.new_text))
            .collect();
        spans.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
        let mut out = source.to_string();
        for (span, text) in spans {
            out.replace_range(span.range(), &text);
        }
        (out, codes)
    }

    fn check(source: &str, expected: &str) {
        let (out, codes) = fixed(source);
        assert!(!codes.is_empty(), "nothing to fix in {source:?}");
        assert_eq!(out, expected, "fixing {source:?}");
        if out != source {
            assert_eq!(
                fixed(&out).1,
                Vec::<&str>::new(),
                "the fix leaves a finding"
            );
        }
    }

    #[test]
    fn findings_whose_help_says_what_to_write_are_fixed() {
        // A misspelt keyword, a misspelt stage and a misspelt field.
        check(
            "stage s \"S\" {\n  step a \"A\" {\n    run \"x\"\n    tiemout 5m\n  }\n  end ok\n}\n",
            "stage s \"S\" {\n  step a \"A\" {\n    run \"x\"\n    timeout 5m\n  }\n  end ok\n}\n",
        );
        let entry = "runbook r \"R\" {\n  stage smoke \"S\" {\n    step v \"V\" {\n      run \"x\"\n      capture build = stdout ~ /(.*)/\n    }\n    step w \"W\" {\n      run \"echo {{ v.build }}\"\n    }\n    then triage\n  }\n  stage triage \"T\" {\n    end ok\n  }\n}\n";
        check(&entry.replace("then triage", "then triag"), entry);
        check(&entry.replace("v.build }}", "v.biuld }}"), entry);
    }

    #[test]
    fn an_unused_input_goes_with_its_line_and_only_then() {
        let with = |extra: &str| {
            format!(
                "runbook r \"R\" {{\n  input used: int = 1\n{extra}  stage s \"S\" {{\n    step a \"A\" {{\n      run \"echo {{{{ used }}}}\"\n    }}\n    end ok\n  }}\n}}\n"
            )
        };
        check(&with("  input spare: int = 2\n"), &with(""));
        // Sharing its line with a comment, it is left to the author.
        let commented = with("  input spare: int = 2  # for later\n");
        check(&commented, &commented);
    }

    #[test]
    fn nothing_is_offered_where_the_fix_is_not_mechanical() {
        // A decision without `otherwise`: where to go is the author's call.
        let source = "runbook r \"R\" {\n  input n: int = 1\n  stage s \"S\" {\n    decide d \"D\" {\n      when n > 1 -> end big\n    }\n    end small\n  }\n}\n";
        let (out, codes) = fixed(source);
        assert!(codes.contains(&"rbx::lint::non_exhaustive"), "{codes:?}");
        assert_eq!(out, source);
    }
}
