//! Go to definition, find references and rename: every feature that
//! starts from the name under the cursor and goes to where else it is.

use std::collections::HashMap;
use std::path::Path;

use lsp_types::{Location, Position, Range, TextEdit, Uri, WorkspaceEdit};
use rbx_check::symbols::Kind;
use rbx_syntax::Span;

use crate::analysis::Analysis;
use crate::index::{Occurrence, Symbol};
use crate::position::LineIndex;

/// The procedure, source and name under `position` in `path`.
pub struct Cursor<'a> {
    pub analysis: &'a Analysis,
    pub source: usize,
    pub offset: usize,
    pub text: &'a str,
}

impl<'a> Cursor<'a> {
    pub fn new(found: Option<(&'a Analysis, usize)>, position: Position) -> Option<Self> {
        let (analysis, source) = found?;
        let text = analysis.source(source)?.text.as_str();
        let offset = LineIndex::new(text).offset(position);
        Some(Cursor {
            analysis,
            source,
            offset,
            text,
        })
    }

    pub fn occurrence(&self) -> Option<&'a Occurrence> {
        self.analysis.index.at(self.source, self.offset)
    }

    pub fn path(&self) -> &'a Path {
        &self.analysis.paths[self.source]
    }
}

/// Where `span` of source `source` is, for the editor.
pub fn location(analysis: &Analysis, source: usize, span: Span) -> Option<Location> {
    let text = &analysis.source(source)?.text;
    let uri = crate::uri::from_path(analysis.paths.get(source)?)?;
    Some(Location::new(uri, LineIndex::new(text).range(span)))
}

pub fn definition(cursor: &Cursor) -> Vec<Location> {
    let Some(occurrence) = cursor.occurrence() else {
        return Vec::new();
    };
    if let Symbol::Include(path) = &occurrence.symbol {
        return crate::uri::from_path(path)
            .map(|uri| Location::new(uri, Range::default()))
            .into_iter()
            .collect();
    }
    cursor
        .analysis
        .index
        .all(&occurrence.symbol)
        .filter(|o| o.definition)
        .filter_map(|o| location(cursor.analysis, o.source, o.span))
        .collect()
}

pub fn references(cursor: &Cursor, include_declaration: bool) -> Vec<Location> {
    let Some(occurrence) = cursor.occurrence() else {
        return Vec::new();
    };
    cursor
        .analysis
        .index
        .all(&occurrence.symbol)
        .filter(|o| include_declaration || !o.definition)
        .filter_map(|o| location(cursor.analysis, o.source, o.span))
        .collect()
}

/// The range of the name a rename would change, or why it cannot be
/// renamed.
pub fn prepare_rename(cursor: &Cursor) -> Result<Range, String> {
    let occurrence = renamable(cursor)?;
    Ok(LineIndex::new(cursor.text).range(occurrence.span))
}

/// Renames the symbol under the cursor in every file of the procedure.
#[expect(
    clippy::mutable_key_type,
    reason = "the protocol's WorkspaceEdit is keyed by Uri, which hashes its text and only caches \
              a parse in a Cell"
)]
pub fn rename(cursor: &Cursor, new_name: &str) -> Result<WorkspaceEdit, String> {
    let occurrence = renamable(cursor)?;
    check_new_name(cursor.analysis, &occurrence.symbol, new_name)?;
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for o in cursor.analysis.index.all(&occurrence.symbol) {
        if let Some(location) = location(cursor.analysis, o.source, o.span) {
            changes
                .entry(location.uri)
                .or_default()
                .push(TextEdit::new(location.range, new_name.to_string()));
        }
    }
    Ok(WorkspaceEdit::new(changes))
}

fn renamable<'a>(cursor: &Cursor<'a>) -> Result<&'a Occurrence, String> {
    let occurrence = cursor
        .occurrence()
        .ok_or("no stage, node, input, role, link, outcome, field or loop variable here")?;
    match &occurrence.symbol {
        Symbol::Include(_) => Err("an include names a file; rename the file instead".into()),
        symbol if !cursor.analysis.index.all(symbol).any(|o| o.definition) => Err(format!(
            "`{}` is not defined in this procedure, so there is nothing to rename",
            cursor.text.get(occurrence.span.range()).unwrap_or_default()
        )),
        _ => Ok(occurrence),
    }
}

/// A new name must be an identifier, and not one its namespace already has.
fn check_new_name(analysis: &Analysis, symbol: &Symbol, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident || ["and", "or", "not", "true", "false"].contains(&name) {
        return Err(format!(
            "`{name}` is not an id: an id is a letter or `_` followed by letters, digits and `_`, \
             and not `and`, `or`, `not`, `true` or `false`"
        ));
    }
    let taken = match symbol {
        Symbol::Named(kind, _) => analysis.table.is_defined(*kind, name).then(|| kind.noun()),
        Symbol::Field { node, .. } => analysis
            .table
            .nodes
            .get(node)
            .is_some_and(|info| info.fields.contains_key(name))
            .then_some("field of this node"),
        Symbol::Loop { .. } => (analysis.table.is_defined(Kind::Input, name)
            || analysis.table.is_defined(Kind::Node, name))
        .then_some("input or node"),
        Symbol::Include(_) => None,
    };
    match taken {
        Some(noun) => Err(format!("there is already a {noun} named `{name}`")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::position::LineIndex;
    use crate::testing::{Memory, procedures};
    use crate::workspace::Workspace;

    fn checked(files: &Memory, entry: &Path) -> Workspace<Memory> {
        let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut workspace = Workspace::new(files.clone(), vec![root]);
        let text = files.0[entry].clone();
        workspace.open(entry.to_path_buf(), text);
        workspace
    }

    /// The codes `rbx lint` reports for the procedure, counted.
    fn codes(workspace: &Workspace<Memory>, entry: &Path) -> BTreeMap<&'static str, usize> {
        let (analysis, _) = workspace.analysis_for(entry).expect("checked");
        let mut out = BTreeMap::new();
        for finding in &analysis.report.findings {
            *out.entry(finding.diagnostic.code).or_default() += 1;
        }
        out
    }

    fn text_at(files: &Memory, location: &Location) -> String {
        let path = crate::uri::to_path(&location.uri).expect("a file URI");
        let text = &files.0[&path];
        text[LineIndex::new(text).span(location.range).range()].to_string()
    }

    /// Every name each shipped procedure defines, renamed in turn: the
    /// edits reach every file that uses it, and the procedure lints exactly
    /// as before. Every use of every name leads back to a definition spelt
    /// the same.
    #[test]
    fn every_name_of_every_procedure_renames_and_resolves() {
        let mut renamed = 0;
        let mut kinds = HashSet::new();
        for (files, entry) in procedures() {
            renamed += rename_each(&files, &entry, &mut kinds);
        }
        assert!(renamed > 300, "{renamed} names");
        assert_eq!(kinds.len(), 3, "named ids, fields and loop variables");
    }

    /// Renames each name of the procedure, returning how many there were.
    fn rename_each(
        files: &Memory,
        entry: &Path,
        kinds: &mut HashSet<std::mem::Discriminant<Symbol>>,
    ) -> usize {
        let workspace = checked(files, entry);
        let before = codes(&workspace, entry);
        let (analysis, _) = workspace.analysis_for(entry).expect("checked");
        let mut renamed = HashSet::new();
        for (n, occurrence) in analysis.index.occurrences.iter().enumerate() {
            let text = &analysis.report.sources[occurrence.source].text;
            let cursor = Cursor {
                analysis,
                source: occurrence.source,
                offset: occurrence.span.start,
                text,
            };
            let name = &text[occurrence.span.range()];
            if !matches!(occurrence.symbol, Symbol::Include(_)) {
                for found in definition(&cursor) {
                    assert_eq!(text_at(files, &found), name, "{:?}", occurrence.symbol);
                }
            }
            if !occurrence.definition || !renamed.insert(occurrence.symbol.clone()) {
                continue;
            }
            kinds.insert(std::mem::discriminant(&occurrence.symbol));
            let new_name = format!("renamed_{n}");
            let edit = rename(&cursor, &new_name).expect("a name the seed defines renames");
            let mut changed = files.clone();
            let mut count = 0;
            for (uri, edits) in edit.changes.expect("changes") {
                let path = crate::uri::to_path(&uri).expect("a file URI");
                let old = changed.0[&path].clone();
                let lines = LineIndex::new(&old);
                let mut spans: Vec<_> = edits.iter().map(|e| lines.span(e.range)).collect();
                spans.sort_by_key(|s| std::cmp::Reverse(s.start));
                let mut new = old.clone();
                for span in spans {
                    assert_eq!(&old[span.range()], name);
                    new.replace_range(span.range(), &new_name);
                    count += 1;
                }
                changed.0.insert(path, new);
            }
            assert_eq!(count, analysis.index.all(&occurrence.symbol).count());
            let after = checked(&changed, entry);
            assert_eq!(
                codes(&after, entry),
                before,
                "after renaming `{name}` in {entry:?}"
            );
        }
        renamed.len()
    }
}
