//! The server's state, free of any transport: the open documents, the
//! procedures checked for them, and what each file's diagnostics are.
//!
//! Which procedure a file belongs to: an entry runbook is its own; a
//! fragment belongs to every checked procedure that includes it, and when
//! none does yet, to the entry runbooks in its directory or above it (up
//! to the workspace root) that include it. A fragment that nothing
//! includes is checked alone, as `rbx lint` checks it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lsp_types::TextDocumentContentChangeEvent;
use rbx_check::{Fills, Loader};

use crate::analysis::{Analysis, is_entry};
use crate::diagnostics;
use crate::documents::{Documents, Overlay};
use crate::position::LineIndex;

/// How many directories above a fragment are searched for the entry
/// runbook that includes it when the editor named no workspace root.
const SEARCH_DEPTH: usize = 4;

/// The diagnostics of one file, all of them: an empty list clears what
/// was shown before.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub path: PathBuf,
    pub diagnostics: Vec<lsp_types::Diagnostic>,
}

#[derive(Debug)]
pub struct Workspace<L> {
    documents: Documents,
    disk: L,
    roots: Vec<PathBuf>,
    fills: Fills,
    analyses: Vec<Analysis>,
}

impl<L: Loader> Workspace<L> {
    /// A workspace reading files that are not open through `disk`, and
    /// searching for entry runbooks no higher than `roots`.
    pub fn new(disk: L, roots: Vec<PathBuf>) -> Self {
        Self {
            documents: Documents::default(),
            disk,
            roots,
            fills: Fills::default(),
            analyses: Vec::new(),
        }
    }

    pub fn open(&mut self, path: PathBuf, text: String) -> Vec<Publish> {
        self.documents.open(path.clone(), text);
        self.refresh(&path)
    }

    pub fn change(
        &mut self,
        path: &Path,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Vec<Publish> {
        if !self.documents.change(path, changes) {
            return Vec::new();
        }
        self.refresh(path)
    }

    /// The file goes back to what the disk holds. Procedures no open
    /// document belongs to are forgotten, and their diagnostics cleared.
    pub fn close(&mut self, path: &Path) -> Vec<Publish> {
        self.documents.close(path);
        let mut publishes = self.refresh(path);
        let (kept, dropped): (Vec<Analysis>, Vec<Analysis>) = std::mem::take(&mut self.analyses)
            .into_iter()
            .partition(|a| a.paths.iter().any(|p| self.documents.get(p).is_some()));
        self.analyses = kept;
        let cleared: BTreeSet<PathBuf> = dropped.into_iter().flat_map(|a| a.paths).collect();
        publishes.retain(|p| !cleared.contains(&p.path));
        publishes.extend(cleared.into_iter().map(|path| Publish {
            path,
            diagnostics: Vec::new(),
        }));
        publishes
    }

    /// The checked procedure `path` belongs to (its own, for an entry),
    /// and the index of the file among its sources.
    pub fn analysis_for(&self, path: &Path) -> Option<(&Analysis, usize)> {
        let own = self
            .analyses
            .iter()
            .find(|a| a.entry.as_deref() == Some(path));
        own.into_iter()
            .chain(&self.analyses)
            .find_map(|a| a.source_of(path).map(|source| (a, source)))
    }

    /// The text of `path` as the author sees it.
    pub fn text(&self, path: &Path) -> Option<String> {
        if let Some(text) = self.documents.get(path) {
            return Some(text.to_string());
        }
        let bytes = self.disk.load(path, None).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Checks again every procedure `path` belongs to, and says what the
    /// diagnostics of every file they cover (before and after) now are.
    fn refresh(&mut self, path: &Path) -> Vec<Publish> {
        let text = self.text(path).unwrap_or_default();
        let entry_here = is_entry(&text);
        let mut entries: Vec<PathBuf> = self
            .analyses
            .iter()
            .filter_map(|a| a.entry.clone().filter(|_| a.source_of(path).is_some()))
            .filter(|entry| entry != path || entry_here)
            .collect();
        if entry_here && !entries.iter().any(|e| e == path) {
            entries.push(path.to_path_buf());
        }
        let mut fresh: Vec<Analysis> = entries.iter().map(|e| self.check(e)).collect();
        // A fragment already known to be alone is not searched for again
        // on every keystroke; an entry that comes to include it takes it
        // over when that entry is checked.
        let alone = self
            .analyses
            .iter()
            .any(|a| a.entry.is_none() && a.source_of(path).is_some());
        if fresh.is_empty() && !alone {
            fresh = self.discover(path);
        }
        if !fresh.iter().any(|a| a.source_of(path).is_some()) {
            let previous = self
                .analyses
                .iter()
                .find(|a| a.entry.is_none() && a.source_of(path).is_some());
            fresh.push(Analysis::fragment(path, &text, previous));
        }
        // Every procedure replaced, and every fragment checked alone that
        // a procedure now covers, goes.
        let covered: BTreeSet<&PathBuf> = fresh.iter().flat_map(|a| &a.paths).collect();
        let mut touched: BTreeSet<PathBuf> = covered.iter().map(|p| (*p).clone()).collect();
        let (stale, kept): (Vec<Analysis>, Vec<Analysis>) = std::mem::take(&mut self.analyses)
            .into_iter()
            .partition(|a| {
                a.entry.as_ref().is_some_and(|e| entries.contains(e))
                    || a.entry == Some(path.to_path_buf())
                    || (a.entry.is_none() && a.paths.iter().any(|p| covered.contains(p)))
            });
        touched.extend(stale.into_iter().flat_map(|a| a.paths));
        self.analyses = kept;
        self.analyses.extend(fresh);
        touched.extend(self.adopt_orphans());
        touched.into_iter().map(|path| self.publish(path)).collect()
    }

    /// Open documents that no procedure covers any more (an entry stopped
    /// including them) are checked alone, so that every open document
    /// keeps its diagnostics, navigation and outline.
    fn adopt_orphans(&mut self) -> Vec<PathBuf> {
        let orphans: Vec<PathBuf> = self
            .documents
            .paths()
            .filter(|p| !self.analyses.iter().any(|a| a.source_of(p).is_some()))
            .map(Path::to_path_buf)
            .collect();
        for path in &orphans {
            let text = self.documents.get(path).unwrap_or_default().to_string();
            self.analyses.push(Analysis::fragment(path, &text, None));
        }
        orphans
    }

    fn check(&self, entry: &Path) -> Analysis {
        let overlay = Overlay {
            documents: &self.documents,
            disk: &self.disk,
        };
        let previous = self
            .analyses
            .iter()
            .find(|a| a.entry.as_deref() == Some(entry));
        Analysis::entry(entry, &overlay, &self.fills, previous)
    }

    /// The entry runbooks, nearest directory first, that include `path`.
    fn discover(&self, path: &Path) -> Vec<Analysis> {
        let root = self
            .roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.components().count());
        let dirs = path.ancestors().skip(1);
        let dirs: Vec<&Path> = match root {
            Some(root) => dirs.take_while(|dir| dir.starts_with(root)).collect(),
            None => dirs.take(SEARCH_DEPTH).collect(),
        };
        for dir in dirs {
            let found: Vec<Analysis> = runbooks_in(dir)
                .into_iter()
                .filter(|candidate| candidate != path)
                .filter(|candidate| self.text(candidate).is_some_and(|t| is_entry(&t)))
                .map(|candidate| self.check(&candidate))
                .filter(|analysis| analysis.source_of(path).is_some())
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    /// The diagnostics of `path` from every procedure that covers it, each
    /// once.
    fn publish(&self, path: PathBuf) -> Publish {
        let uri = crate::uri::from_path(&path);
        let mut out: Vec<lsp_types::Diagnostic> = Vec::new();
        for analysis in &self.analyses {
            let Some(source) = analysis.source_of(&path) else {
                continue;
            };
            let Some(text) = analysis.source(source).map(|s| s.text.as_str()) else {
                continue;
            };
            let lines = LineIndex::new(text);
            for finding in diagnostics::routed(&analysis.report) {
                if finding.source != source {
                    continue;
                }
                let diagnostic = diagnostics::to_lsp(&finding.diagnostic, &lines, uri.as_ref());
                if !out.contains(&diagnostic) {
                    out.push(diagnostic);
                }
            }
        }
        Publish {
            path,
            diagnostics: out,
        }
    }
}

/// The `.runbook` files directly in `dir`, in a stable order.
fn runbooks_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "runbook") && p.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use lsp_types::Range;

    use super::*;
    use crate::testing::Memory;

    const ENTRY: &str = "runbook r \"R\" {\n  include \"part.runbook\"\n  stage a \"A\" {\n    then b\n  }\n  stage c \"C\" {\n    end gave_up\n  }\n}\n";
    const PART: &str = "stage b \"B\" {\n  on failure -> c\n  end done\n}\n";

    fn workspace(files: &[(&str, &str)]) -> Workspace<Memory> {
        let files = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        Workspace::new(Memory(files), vec![PathBuf::from("/w")])
    }

    fn codes(publishes: &[Publish], path: &str) -> Option<Vec<String>> {
        publishes
            .iter()
            .find(|p| p.path == Path::new(path))
            .map(|p| {
                p.diagnostics
                    .iter()
                    .filter_map(|d| match &d.code {
                        Some(lsp_types::NumberOrString::String(code)) => Some(code.clone()),
                        _ => None,
                    })
                    .collect()
            })
    }

    fn replace(text: &str, old: &str, new: &str) -> TextDocumentContentChangeEvent {
        let start = text.find(old).expect("the text to replace");
        let lines = LineIndex::new(text);
        TextDocumentContentChangeEvent {
            range: Some(Range::new(
                lines.position(start),
                lines.position(start + old.len()),
            )),
            range_length: None,
            text: new.to_string(),
        }
    }

    #[test]
    fn a_fragment_left_out_by_its_entry_is_checked_alone_until_included_again() {
        let mut ws = workspace(&[("/w/r.runbook", ENTRY), ("/w/part.runbook", PART)]);
        ws.open(PathBuf::from("/w/part.runbook"), PART.to_string());
        let published = ws.open(PathBuf::from("/w/r.runbook"), ENTRY.to_string());
        assert_eq!(codes(&published, "/w/part.runbook"), Some(vec![]));

        // The include goes: `then b` is unknown in the entry, and the
        // fragment, alone, knows no stage `c` but is only syntax-checked.
        let entry = Path::new("/w/r.runbook");
        let edit = replace(ENTRY, "include \"part.runbook\"", "");
        let published = ws.change(entry, vec![edit]);
        let found = codes(&published, "/w/r.runbook").expect("the entry is published");
        assert!(
            found.contains(&"rbx::lint::unknown_reference".to_string()),
            "{found:?}"
        );
        assert_eq!(codes(&published, "/w/part.runbook"), Some(vec![]));
        let (analysis, _) = ws
            .analysis_for(Path::new("/w/part.runbook"))
            .expect("an analysis");
        assert_eq!(analysis.entry, None, "the fragment is checked alone");

        // Included again, the fragment is part of the procedure: a wrong
        // route in it is reported in it.
        let without = ENTRY.replace("include \"part.runbook\"", "");
        let published = ws.change(
            entry,
            vec![replace(
                &without,
                "\n  stage a",
                "\n  include \"part.runbook\"\n  stage a",
            )],
        );
        assert_eq!(codes(&published, "/w/r.runbook"), Some(vec![]));
        let part = Path::new("/w/part.runbook");
        let published = ws.change(part, vec![replace(PART, "-> c", "-> x")]);
        assert_eq!(
            codes(&published, "/w/part.runbook"),
            Some(vec!["rbx::lint::unknown_reference".to_string()])
        );
        let (analysis, _) = ws.analysis_for(part).expect("an analysis");
        assert_eq!(analysis.entry.as_deref(), Some(entry));
    }

    #[test]
    fn a_fragment_of_two_procedures_is_reported_once_and_rechecks_both() {
        let second = ENTRY.replace("runbook r ", "runbook s ");
        let mut ws = workspace(&[
            ("/w/r.runbook", ENTRY),
            ("/w/s.runbook", &second),
            ("/w/part.runbook", PART),
        ]);
        ws.open(PathBuf::from("/w/r.runbook"), ENTRY.to_string());
        ws.open(PathBuf::from("/w/s.runbook"), second.clone());
        ws.open(PathBuf::from("/w/part.runbook"), PART.to_string());
        let edit = replace(PART, "end done", "end done\n  then nowhere");
        let published = ws.change(Path::new("/w/part.runbook"), vec![edit]);
        let part = codes(&published, "/w/part.runbook").expect("the fragment is published");
        assert_eq!(
            part.iter()
                .filter(|c| *c == "rbx::lint::unknown_reference")
                .count(),
            1,
            "{part:?}"
        );
        assert!(codes(&published, "/w/r.runbook").is_some());
        assert!(codes(&published, "/w/s.runbook").is_some());
    }

    #[test]
    fn closing_the_last_document_of_a_procedure_clears_its_files() {
        let mut ws = workspace(&[("/w/r.runbook", ENTRY), ("/w/part.runbook", PART)]);
        let broken = PART.replace("-> c", "-> x");
        ws.open(PathBuf::from("/w/r.runbook"), ENTRY.to_string());
        let published = ws.open(PathBuf::from("/w/part.runbook"), broken);
        assert_eq!(
            codes(&published, "/w/part.runbook").map(|c| c.len()),
            Some(1)
        );
        // Closed, the fragment is the disk's again (which is clean); the
        // entry is still open, so its procedure stays.
        let published = ws.close(Path::new("/w/part.runbook"));
        assert_eq!(codes(&published, "/w/part.runbook"), Some(vec![]));
        assert!(ws.analysis_for(Path::new("/w/r.runbook")).is_some());
        let published = ws.close(Path::new("/w/r.runbook"));
        assert_eq!(codes(&published, "/w/r.runbook"), Some(vec![]));
        assert!(ws.analysis_for(Path::new("/w/r.runbook")).is_none());
    }
}
