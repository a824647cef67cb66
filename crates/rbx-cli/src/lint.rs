//! `rbx lint`: report every problem in the given runbooks.
//!
//! An entry file (one with a `runbook` header) is checked as a whole
//! procedure, with the files it includes. A fragment named on the command
//! line that no entry file includes gets the syntax check alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rbx_syntax::Diagnostic;

use crate::cli::LintArgs;
use crate::{exit, render, sources};

/// Reads included files from the file system for the checker.
struct FileSystem;

impl rbx_check::Loader for FileSystem {
    fn load(&self, path: &Path) -> Result<Vec<u8>, String> {
        sources::read(path).map_err(|error| error.reason)
    }
}

#[derive(Default)]
struct Tally {
    errors: usize,
    warnings: usize,
}

impl Tally {
    fn print(&mut self, diagnostic: &Diagnostic, path: &Path, source: &str) {
        if diagnostic.is_error() {
            self.errors += 1;
        } else {
            self.warnings += 1;
        }
        eprint!(
            "{}",
            render::diagnostic(diagnostic, &path.display().to_string(), source)
        );
    }
}

pub fn run(args: &LintArgs) -> u8 {
    let (files, errors) = sources::expand(&args.paths);
    let mut failed = !errors.is_empty();
    for error in errors {
        eprintln!(
            "error: cannot read `{}`: {}",
            error.path.display(),
            error.reason
        );
    }
    let mut tally = Tally::default();
    let mut fragments = Vec::new();
    let mut covered: HashSet<PathBuf> = HashSet::new();
    for path in &files {
        let bytes = match sources::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!(
                    "error: cannot read `{}`: {}",
                    error.path.display(),
                    error.reason
                );
                failed = true;
                continue;
            }
        };
        let parsed = rbx_syntax::parse_bytes(&bytes);
        let is_entry = parsed.file.as_ref().is_some_and(|f| f.header.is_some());
        if !is_entry {
            fragments.push((path.clone(), bytes, parsed));
            continue;
        }
        let report = rbx_check::check(path, &FileSystem);
        for source in &report.sources {
            covered.insert(canonical(&source.path));
        }
        for finding in &report.findings {
            let source = &report.sources[finding.source];
            tally.print(&finding.diagnostic, &source.path, &source.text);
        }
    }
    for (path, bytes, parsed) in fragments {
        if covered.contains(&canonical(&path)) {
            continue;
        }
        let source = String::from_utf8_lossy(&bytes);
        for diagnostic in &parsed.diagnostics {
            tally.print(diagnostic, &path, &source);
        }
    }
    if tally.errors + tally.warnings > 0 {
        eprintln!(
            "{} file(s) checked: {} error(s), {} warning(s)",
            files.len(),
            tally.errors,
            tally.warnings
        );
    }
    if failed || tally.errors > 0 {
        exit::INVALID
    } else {
        exit::SUCCESS
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
