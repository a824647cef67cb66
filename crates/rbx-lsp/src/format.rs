//! Formatting a document with rbx's one formatter, `rbx_syntax::fmt`.

use lsp_types::TextEdit;

use crate::position::LineIndex;

/// The edit that puts `text` in the canonical layout: none when it is
/// already, and an error when it does not parse, since the formatter
/// prints trees and a broken file has none.
pub fn format(text: &str) -> Result<Vec<TextEdit>, String> {
    let parsed = rbx_syntax::parse(text);
    let Some(file) = parsed.file else {
        return Err(format!(
            "cannot format: the file has {} syntax error(s); fix them first",
            parsed.diagnostics.iter().filter(|d| d.is_error()).count()
        ));
    };
    let formatted = rbx_syntax::fmt::format(text, &file);
    if formatted == text {
        return Ok(Vec::new());
    }
    Ok(vec![TextEdit::new(LineIndex::new(text).whole(), formatted)])
}
