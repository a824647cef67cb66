//! Reading an entry file and, transitively, every file it includes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_syntax::ast::ItemKind;
use rbx_syntax::{Diagnostic, Span};

use crate::{Finding, Report, Source};

/// Where the checker gets file contents from. The CLI reads the file
/// system; tests hand over strings.
pub trait Loader {
    /// The file's bytes, or a lowercase reason it cannot be read.
    fn load(&self, path: &Path) -> Result<Vec<u8>, String>;
}

/// A file still to load: its path, which source included it (where, and
/// as what it was written), and the chain of sources that led to it.
type Pending = (PathBuf, Option<(usize, Span, String)>, Vec<usize>);

/// Loads `entry` and every file it includes, depth first, each once.
pub fn load(entry: &Path, loader: &dyn Loader) -> Report {
    let mut report = Report {
        sources: Vec::new(),
        findings: Vec::new(),
        graph: None,
    };
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut pending: Vec<Pending> = vec![(entry.to_path_buf(), None, Vec::new())];
    while let Some((path, included_at, chain)) = pending.pop() {
        let key = normalise(&path);
        if let Some(&index) = seen.get(&key) {
            if let Some((from, span, written)) = included_at {
                if chain.contains(&index) {
                    report.findings.push(Finding {
                        source: from,
                        diagnostic: Diagnostic::error(
                            "rbx::lint::include_cycle",
                            format!("`{written}` is already being included: this makes a cycle"),
                        )
                        .primary(span, "this include closes a cycle")
                        .help("a file can be included once; move what both need into a third file"),
                    });
                }
            }
            continue;
        }
        let bytes = match loader.load(&path) {
            Ok(bytes) => bytes,
            Err(reason) => {
                if let Some((from, span, written)) = included_at {
                    report.findings.push(Finding {
                        source: from,
                        diagnostic: Diagnostic::error(
                            "rbx::lint::include_not_found",
                            format!("cannot read included file `{written}`: {reason}"),
                        )
                        .primary(span, "included here")
                        .help("include paths are relative to the file that holds the `include`"),
                    });
                }
                continue;
            }
        };
        let index = report.sources.len();
        seen.insert(key, index);
        let parsed = rbx_syntax::parse_bytes(&bytes);
        report
            .findings
            .extend(parsed.diagnostics.into_iter().map(|diagnostic| Finding {
                source: index,
                diagnostic,
            }));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut includes = Vec::new();
        if let Some(file) = &parsed.file {
            for item in &file.items {
                if let ItemKind::Include(target) = &item.kind {
                    if let Some(relative) = target.as_literal() {
                        includes.push((dir.join(&relative), target.span, relative));
                    }
                }
            }
        }
        let mut inner_chain = chain.clone();
        inner_chain.push(index);
        // Reverse so the first include is loaded first.
        for (target, span, written) in includes.into_iter().rev() {
            pending.push((target, Some((index, span, written)), inner_chain.clone()));
        }
        report.sources.push(Source {
            path,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            file: parsed.file,
        });
    }
    report
}

/// `a/./b/../c` as `a/c`, so one file reached two ways is loaded once.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
