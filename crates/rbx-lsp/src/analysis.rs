//! One checked procedure, as the editor sees it: the report of
//! `rbx_check::check_with` (or the syntax check alone, for a fragment no
//! entry runbook includes), its symbol table and its index of names.

use std::path::{Path, PathBuf};

use rbx_check::symbols::{self, Table};
use rbx_check::{Fills, Finding, Loader, Report, Source};

use crate::index::Index;
use crate::uri::normalise;

#[derive(Debug)]
pub struct Analysis {
    /// The entry runbook checked, or `None` for a fragment checked alone.
    pub entry: Option<PathBuf>,
    pub report: Report,
    /// Each source's path, normalised, in the report's order.
    pub paths: Vec<PathBuf>,
    pub table: Table,
    pub index: Index,
}

impl Analysis {
    /// Checks the procedure whose entry file is `entry`, exactly as
    /// `rbx lint` does.
    pub fn entry(entry: &Path, loader: &dyn Loader, fills: &Fills) -> Analysis {
        let report = rbx_check::check_with(entry, loader, fills);
        Analysis::new(Some(entry.to_path_buf()), report)
    }

    /// A fragment that no entry runbook includes gets the syntax check
    /// alone, as `rbx lint` gives it: its names may be defined in files
    /// it cannot know.
    pub fn fragment(path: &Path, text: &str) -> Analysis {
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
        };
        Analysis::new(None, report)
    }

    fn new(entry: Option<PathBuf>, report: Report) -> Analysis {
        let (table, _) = symbols::build(&report.sources);
        let index = Index::build(&report.sources, &table);
        let paths = report.sources.iter().map(|s| normalise(&s.path)).collect();
        Analysis {
            entry,
            report,
            paths,
            table,
            index,
        }
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
    rest.strip_prefix("runbook").is_some_and(|after| {
        !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
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
