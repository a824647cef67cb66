//! Reading an entry file and, transitively, every file it includes.
//!
//! Includes stay inside the project: an include path is relative, and it
//! must lead to a file inside the entry runbook's directory or below it.
//! Runbooks come from pull requests that CI lints, so an include must not
//! be a way to make rbx read (and quote in a diagnostic) `/etc/passwd`, or
//! hang on a FIFO, or fill memory from `/dev/zero`. What can be checked
//! without touching the disk is checked here; a [`Loader`] checks the rest
//! (where symbolic links lead, what kind of file it is, its size).

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use rbx_syntax::ast::ItemKind;
use rbx_syntax::{Diagnostic, Span};

use crate::{Finding, Report, Source};

/// The most bytes rbx reads as one runbook file (and as a fill or answers
/// file): 4 MiB, far above any procedure a person maintains, and small
/// enough that a file named by mistake cannot exhaust memory.
pub const MAX_RUNBOOK_BYTES: u64 = 4 * 1024 * 1024;

/// Where the checker gets file contents from. The CLI reads the file
/// system; tests hand over strings.
pub trait Loader {
    /// The bytes of the file at `path`. For an included file, `root` is the
    /// entry runbook's directory: a loader refuses a file that is not
    /// inside it once symbolic links are followed. Every loader refuses
    /// what is not a regular file and a file longer than
    /// [`MAX_RUNBOOK_BYTES`], without reading its content.
    fn load(&self, path: &Path, root: Option<&Path>) -> Result<Vec<u8>, LoadError>;

    /// The parse of the file at `path`, when the caller has one of the bytes
    /// `load` gives (`rbx lint` parses a file to see whether it is an
    /// entry), so that it is not parsed twice. Asked once per file loaded.
    fn parsed(&self, _path: &Path) -> Option<rbx_syntax::Parsed> {
        None
    }
}

/// Why a file could not be loaded. None of them carries the file's
/// content, so a refusal never shows any of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// There is no file at the path.
    NotFound,
    /// Something other than a regular file is there: `kind` says what ("a
    /// directory", "a FIFO", "a character device", …).
    NotAFile { kind: &'static str },
    /// The file is longer than [`MAX_RUNBOOK_BYTES`].
    TooLarge,
    /// The path leads outside the entry runbook's directory once symbolic
    /// links are followed.
    Outside,
    /// Any other reason, as a lowercase fragment ("permission denied").
    Unreadable(String),
}

impl LoadError {
    /// The diagnostic code a refusal is reported with.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::NotFound | LoadError::Unreadable(_) => "rbx::lint::include_not_found",
            LoadError::NotAFile { .. } => "rbx::load::not_a_file",
            LoadError::TooLarge => "rbx::load::too_large",
            LoadError::Outside => "rbx::load::outside_root",
        }
    }

    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            LoadError::NotFound | LoadError::Unreadable(_) => {
                "include paths are relative to the file that holds the `include`"
            }
            LoadError::NotAFile { .. } => {
                "name a regular `.runbook` file; rbx reads no directory, device, FIFO or socket"
            }
            LoadError::TooLarge => {
                "split the procedure into files that include one another, or check that the \
                 path names the file you meant"
            }
            LoadError::Outside => {
                "keep every included file inside the entry runbook's directory or below it; \
                 rbx follows no `..` and no symbolic link out of it"
            }
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound => f.write_str("no such file or directory"),
            LoadError::NotAFile { kind } => write!(f, "it is {kind}, not a regular file"),
            LoadError::TooLarge => write!(
                f,
                "it is larger than {} MiB, the most rbx reads as one file",
                MAX_RUNBOOK_BYTES / (1024 * 1024)
            ),
            LoadError::Outside => f.write_str(
                "it leads outside the entry runbook's directory through a symbolic link",
            ),
            LoadError::Unreadable(reason) => f.write_str(reason),
        }
    }
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
        children: Vec::new(),
    };
    // Includes stay inside the entry runbook's directory.
    let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
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
        let within = included_at.is_some().then_some(root.as_path());
        let bytes = match loader.load(&path, within) {
            Ok(bytes) => bytes,
            Err(error) => {
                if let Some((from, span, written)) = included_at {
                    report.findings.push(Finding {
                        source: from,
                        diagnostic: Diagnostic::error(
                            error.code(),
                            format!("cannot read included file `{written}`: {error}"),
                        )
                        .primary(span, "included here")
                        .help(error.help()),
                    });
                }
                continue;
            }
        };
        let index = report.sources.len();
        seen.insert(key, index);
        let parsed = loader
            .parsed(&path)
            .unwrap_or_else(|| rbx_syntax::parse_bytes(&bytes));
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
                        let joined = dir.join(&relative);
                        match outside(&root, &relative, &joined) {
                            Some(diagnostic) => report.findings.push(Finding {
                                source: index,
                                diagnostic: diagnostic.primary(target.span, "included here"),
                            }),
                            None => includes.push((joined, target.span, relative)),
                        }
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
            // Valid UTF-8 (what parsed without error is) becomes the text
            // without a copy.
            text: String::from_utf8(bytes)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
            file: parsed.file,
        });
    }
    report
}

/// Why an include written `written`, which leads to `joined`, is refused
/// before anything is read: an absolute path, or one whose `..` climb out
/// of `root`, the entry runbook's directory.
pub(crate) fn outside(root: &Path, written: &str, joined: &Path) -> Option<Diagnostic> {
    if Path::new(written).has_root() {
        return Some(
            Diagnostic::error(
                "rbx::load::absolute_include",
                format!(
                    "`{written}` is an absolute path: an include names a file inside the project"
                ),
            )
            .help(
                "write the path relative to the file that holds the `include`, to a file inside \
                 the entry runbook's directory",
            ),
        );
    }
    let (root, joined) = (normalise(root), normalise(joined));
    let inside = joined
        .strip_prefix(&root)
        .is_ok_and(|rest| !matches!(rest.components().next(), Some(Component::ParentDir)));
    (!inside).then(|| {
        let shown = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root.as_path()
        };
        Diagnostic::error(
            "rbx::load::outside_root",
            format!(
                "`{written}` leads outside `{}`, the entry runbook's directory",
                shown.display()
            ),
        )
        .help(LoadError::Outside.help())
    })
}

/// `a/./b/../c` as `a/c`, so one file reached two ways is loaded once.
pub(crate) fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
