//! One checked procedure, as the editor sees it: the report of
//! `rbx_check::check_with` (or the syntax check alone, for a fragment no
//! entry runbook includes), its symbol table and its index of names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_check::symbols::{self, Table};
use rbx_check::{Fills, Finding, Loader, Report, Source};
use rbx_syntax::ast::File;

use crate::index::Index;
use crate::uri::normalise;

#[derive(Debug)]
pub struct Analysis {
    /// The entry runbook checked, or `None` for a fragment checked alone.
    pub entry: Option<PathBuf>,
    pub report: Report,
    /// Each source's path, normalised, in the report's order.
    pub paths: Vec<PathBuf>,
    /// The names of the procedure. A file that does not parse now (the
    /// author is typing) lends the definitions it had when it last did,
    /// so that completion still knows them.
    pub table: Table,
    pub index: Index,
    /// The last tree of each source that does not parse now.
    last_good: HashMap<PathBuf, File>,
}

impl Analysis {
    /// Checks the procedure whose entry file is `entry`, exactly as
    /// `rbx lint` does: with the lint levels of the project's `rbx.toml`
    /// (the nearest one above the entry) and the suppressions written in
    /// the files.
    pub fn entry(
        entry: &Path,
        loader: &dyn Loader,
        fills: &Fills,
        previous: Option<&Analysis>,
    ) -> Analysis {
        let mut report = rbx_check::check_with(entry, loader, fills);
        let dir = entry.parent().unwrap_or(Path::new(""));
        // A broken `rbx.toml` is `rbx lint`'s to report; the editor still
        // shows the runbook's own findings.
        let policy = rbx_check::project::discover(dir, loader)
            .ok()
            .flatten()
            .map(|project| project.policy)
            .unwrap_or_default();
        rbx_check::project::apply(&mut report, &policy);
        Analysis::new(Some(entry.to_path_buf()), report, previous)
    }

    /// A fragment that no entry runbook includes gets the syntax check
    /// alone, as `rbx lint` gives it: its names may be defined in files
    /// it cannot know.
    pub fn fragment(path: &Path, text: &str, previous: Option<&Analysis>) -> Analysis {
        let parsed = rbx_syntax::parse(text);
        let report = Report {
            findings: parsed
                .diagnostics
                .into_iter()
                .map(|diagnostic| Finding {
                    source: 0,
                    diagnostic,
                })
                .collect(),
            sources: vec![Source {
                path: path.to_path_buf(),
                text: text.to_string(),
                file: parsed.file,
            }],
            graph: None,
            children: Vec::new(),
        };
        Analysis::new(None, report, previous)
    }

    fn new(entry: Option<PathBuf>, report: Report, previous: Option<&Analysis>) -> Analysis {
        let paths: Vec<PathBuf> = report.sources.iter().map(|s| normalise(&s.path)).collect();
        let last_good: HashMap<PathBuf, File> = report
            .sources
            .iter()
            .zip(&paths)
            .filter(|(source, _)| source.file.is_none())
            .filter_map(|(_, path)| Some((path.clone(), previous?.tree(path)?.clone())))
            .collect();
        let table = if last_good.is_empty() {
            symbols::build(&report.sources).0
        } else {
            let lent: Vec<Source> = report
                .sources
                .iter()
                .zip(&paths)
                .map(|(source, path)| Source {
                    path: source.path.clone(),
                    text: String::new(),
                    file: source.file.clone().or_else(|| last_good.get(path).cloned()),
                })
                .collect();
            symbols::build(&lent).0
        };
        let index = Index::build(&report.sources, &table);
        Analysis {
            entry,
            report,
            paths,
            table,
            index,
            last_good,
        }
    }

    /// The tree of `path`: as it parses now, or as it last parsed.
    fn tree(&self, path: &Path) -> Option<&File> {
        let now = self
            .source_of(path)
            .and_then(|i| self.report.sources[i].file.as_ref());
        now.or_else(|| self.last_good.get(path))
    }

    /// The index of the source read from `path`.
    pub fn source_of(&self, path: &Path) -> Option<usize> {
        self.paths.iter().position(|p| p == path)
    }

    pub fn source(&self, index: usize) -> Option<&Source> {
        self.report.sources.get(index)
    }
}

/// Whether `text` is an entry runbook: its first word, past blanks and
/// comments, is `runbook`. Cheaper than a parse, and right for any file
/// that parses.
pub fn is_entry(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix('#') {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, after)| after),
            None => break,
        }
    }
    rest.strip_prefix("runbook")
        .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_told_by_its_first_word() {
        assert!(is_entry("# intro\n\n  runbook x \"X\" {}"));
        assert!(is_entry("runbook{"));
        assert!(!is_entry("runbooks x"));
        assert!(!is_entry("stage s \"S\" {}\n# runbook"));
        assert!(!is_entry("# only a comment"));
    }
}
