//! The documents the editor has open: their text as the author is typing
//! it, which is what rbx checks in place of the file on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::TextDocumentContentChangeEvent;
use rbx_check::{LoadError, Loader};

use crate::position::LineIndex;

#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<PathBuf, String>,
}

impl Documents {
    pub fn open(&mut self, path: PathBuf, text: String) {
        self.open.insert(path, text);
    }

    pub fn close(&mut self, path: &Path) {
        self.open.remove(path);
    }

    pub fn get(&self, path: &Path) -> Option<&str> {
        self.open.get(path).map(String::as_str)
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.open.keys().map(PathBuf::as_path)
    }

    /// Applies the editor's changes in order: a change with a range
    /// replaces that range (positions in UTF-16 units, as the protocol
    /// counts), one without replaces the whole text. `false` when the
    /// document is not open.
    pub fn change(&mut self, path: &Path, changes: Vec<TextDocumentContentChangeEvent>) -> bool {
        let Some(text) = self.open.get_mut(path) else {
            return false;
        };
        for change in changes {
            match change.range {
                Some(range) => {
                    let span = LineIndex::new(text).span(range);
                    text.replace_range(span.range(), &change.text);
                }
                None => *text = change.text,
            }
        }
        true
    }
}

/// Reads the open documents first and the disk for every other file, so a
/// procedure is checked as the author sees it in the editor.
#[derive(Debug)]
pub struct Overlay<'a, L: ?Sized> {
    pub documents: &'a Documents,
    pub disk: &'a L,
}

impl<L: Loader + ?Sized> Loader for Overlay<'_, L> {
    fn load(&self, path: &Path, root: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        match self.documents.get(&crate::uri::normalise(path)) {
            Some(text) => Ok(text.as_bytes().to_vec()),
            None => self.disk.load(path, root),
        }
    }
}

#[cfg(test)]
mod tests {
    use lsp_types::{Position, Range};

    use super::*;

    fn edit(range: ((u32, u32), (u32, u32)), text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(
                Position::new(range.0.0, range.0.1),
                Position::new(range.1.0, range.1.1),
            )),
            range_length: None,
            text: text.to_string(),
        }
    }

    #[test]
    fn incremental_changes_count_utf16_units() {
        let mut documents = Documents::default();
        let path = PathBuf::from("/r/a.runbook");
        documents.open(path.clone(), "stage s \"🚀 go\" {\n}\n".to_string());
        // Replace `go` (after a two-unit rocket and a space) with `ok`.
        assert!(documents.change(&path, vec![edit(((0, 12), (0, 14)), "ok")]));
        assert_eq!(documents.get(&path), Some("stage s \"🚀 ok\" {\n}\n"));
        // A backwards range and one past the end are clamped, not refused.
        assert!(documents.change(
            &path,
            vec![edit(((1, 1), (1, 0)), ""), edit(((9, 0), (9, 0)), "#")]
        ));
        assert_eq!(documents.get(&path), Some("stage s \"🚀 ok\" {\n\n#"));
        assert!(!documents.change(Path::new("/r/closed.runbook"), Vec::new()));
    }
}
