//! Finding and reading the runbook files named on the command line, and the
//! files they include.
//!
//! Every file rbx reads as a runbook, a fill file or an answers file is
//! read here, through [`read`]: only a regular file, at most
//! [`MAX_RUNBOOK_BYTES`], and nothing of one that is refused. A path is
//! untrusted input — CI lints pull requests — so the kind of file is known
//! before a byte of it is read, a FIFO is opened without waiting for a
//! writer, and a device is never read at all.

use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rbx_check::{LoadError, MAX_RUNBOOK_BYTES};
use rbx_syntax::Diagnostic;

/// A path given on the command line that could not be used.
#[derive(Debug)]
pub struct SourceError {
    pub path: PathBuf,
    pub error: LoadError,
}

impl SourceError {
    /// What to print: a plain line when the path is missing or unreadable,
    /// and a diagnostic with its code when rbx refused the file.
    pub fn render(&self) -> String {
        let path = self.path.display().to_string();
        match &self.error {
            LoadError::NotFound | LoadError::Unreadable(_) => {
                format!("error: cannot read `{path}`: {}\n", self.error)
            }
            refused => crate::render::diagnostic(
                &Diagnostic::error(refused.code(), format!("cannot read `{path}`: {refused}"))
                    .help(refused.help()),
                &path,
                "",
            ),
        }
    }
}

/// The files the paths name: each file as given, each directory expanded to
/// every `.runbook` file under it, in a stable order. A walk skips what
/// `.gitignore` (and `.ignore`) files and the project's `exclude` patterns
/// leave out, and hidden files and directories (the store, `.git`), as
/// `ripgrep` does; a file named on the command line is always read.
pub fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<SourceError>) {
    let excluded = crate::project::excluded();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut stdin = false;
    for path in paths {
        if path.as_os_str() == STDIN {
            if std::mem::replace(&mut stdin, true) {
                errors.push(SourceError {
                    path: path.clone(),
                    error: LoadError::Unreadable("standard input can be read only once".into()),
                });
            } else {
                files.push(path.clone());
            }
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                let reason = match walk(path, "runbook", excluded, &mut files) {
                    Err(error) => Some(error),
                    Ok(()) if files.len() == before => Some(LoadError::Unreadable(
                        "a directory with no `.runbook` file under it, or only ignored ones"
                            .to_string(),
                    )),
                    Ok(()) => None,
                };
                if let Some(error) = reason {
                    errors.push(SourceError {
                        path: path.clone(),
                        error,
                    });
                }
            }
            Ok(_) => files.push(path.clone()),
            Err(error) => errors.push(SourceError {
                path: path.clone(),
                error: describe(&error),
            }),
        }
    }
    (files, errors)
}

/// The files ending in `.EXTENSION` under `dir`, in a stable order, leaving
/// out what [`expand`] leaves out.
pub fn walk_for(dir: &Path, extension: &str, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    walk(dir, extension, crate::project::excluded(), files)
}

fn walk(
    dir: &Path,
    extension: &str,
    excluded: Option<&ignore::gitignore::Gitignore>,
    files: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let mut builder = ignore::WalkBuilder::new(dir);
    // A `.gitignore` counts whether or not the tree is a git checkout: a
    // repository copied without `.git` is linted the same.
    builder
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    if let Some(excluded) = excluded.cloned() {
        builder.filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let path = std::path::absolute(entry.path()).unwrap_or_else(|_| entry.path().into());
            !excluded.matched(&path, is_dir).is_ignore()
        });
    }
    for entry in builder.build() {
        let entry = entry.map_err(|error| match error.io_error() {
            Some(io) => describe(io),
            None => LoadError::Unreadable(error.to_string().to_lowercase()),
        })?;
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        if is_file && entry.path().extension().is_some_and(|ext| ext == extension) {
            files.push(entry.into_path());
        }
    }
    Ok(())
}

/// The path that names standard input, as `rbx lint -` and `rbx fmt -`
/// take it.
pub const STDIN: &str = "-";

/// Reads a runbook (or fill, or answers) file: a regular file of at most
/// [`MAX_RUNBOOK_BYTES`]. Anything else is refused before its content is
/// read, saying what it is. The path `-` is standard input, read to its
/// end (within the same limit).
pub fn read(path: &Path) -> Result<Vec<u8>, SourceError> {
    let read = if path.as_os_str() == STDIN {
        read_stdin()
    } else {
        read_file(path)
    };
    read.map_err(|error| SourceError {
        path: path.to_path_buf(),
        error,
    })
}

/// [`read`] for text: the file must also be UTF-8.
pub fn read_text(path: &Path) -> Result<String, SourceError> {
    String::from_utf8(read(path)?).map_err(|_| SourceError {
        path: path.to_path_buf(),
        error: LoadError::Unreadable("it is not UTF-8 text".to_string()),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    // The kind of file first, from its metadata: nothing is opened yet, so
    // a FIFO cannot block and a device is never read.
    let meta = std::fs::metadata(path).map_err(|e| describe(&e))?;
    not_regular(&meta)?;
    if meta.len() > MAX_RUNBOOK_BYTES {
        return Err(LoadError::TooLarge);
    }
    // The path may have been swapped for a FIFO since: opening without
    // blocking returns at once, and the open file is checked again.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| describe(&e))?;
    not_regular(&file.metadata().map_err(|e| describe(&e))?)?;
    // A file that grew since its size was read is still cut off at the
    // limit: one byte more than it says it is too large.
    let mut bytes = Vec::new();
    file.take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| describe(&e))?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(LoadError::TooLarge);
    }
    Ok(bytes)
}

fn read_stdin() -> Result<Vec<u8>, LoadError> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| describe(&e))?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(LoadError::TooLarge);
    }
    Ok(bytes)
}

/// Refuses whatever is not a regular file, naming what it is.
fn not_regular(meta: &std::fs::Metadata) -> Result<(), LoadError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(LoadError::NotAFile { kind: what })
}

/// What an error of the file system means for a file rbx meant to read.
fn describe(error: &io::Error) -> LoadError {
    match error.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound,
        io::ErrorKind::IsADirectory => LoadError::NotAFile {
            kind: "a directory",
        },
        io::ErrorKind::PermissionDenied => LoadError::Unreadable("permission denied".to_string()),
        _ => LoadError::Unreadable(error.to_string().to_lowercase()),
    }
}

/// Reads runbook files from the file system for the checker. An included
/// file must be inside the entry runbook's directory once symbolic links
/// are followed.
#[derive(Debug)]
pub struct FileSystem;

impl rbx_check::Loader for FileSystem {
    fn load(&self, path: &Path, root: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        let Some(root) = root else {
            return read_file(path);
        };
        let real = std::fs::canonicalize(path).map_err(|e| describe(&e))?;
        // The directory of an entry named as `demo.runbook` is the empty
        // path, which is the current directory.
        let root = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        let real_root = std::fs::canonicalize(root).map_err(|e| describe(&e))?;
        if !real.starts_with(&real_root) {
            return Err(LoadError::Outside);
        }
        // The resolved path, so that a link changed since it was checked
        // cannot lead elsewhere.
        read_file(&real)
    }
}

/// The file system, but with one file's content given: a runbook read from
/// standard input (or an editor's buffer), whose includes are on disk.
#[derive(Debug)]
pub struct Overlay<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
    /// The parse of `bytes`, handed over once.
    pub parsed: std::cell::RefCell<Option<rbx_syntax::Parsed>>,
}

impl rbx_check::Loader for Overlay<'_> {
    fn load(&self, path: &Path, root: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        if path == self.path {
            return Ok(self.bytes.to_vec());
        }
        FileSystem.load(path, root)
    }

    fn parsed(&self, path: &Path) -> Option<rbx_syntax::Parsed> {
        if path == self.path {
            return self.parsed.try_borrow_mut().ok()?.take();
        }
        None
    }
}
