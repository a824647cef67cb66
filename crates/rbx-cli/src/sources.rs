//! Finding and reading the runbook files named on the command line.

use std::io;
use std::path::{Path, PathBuf};

/// A path given on the command line that could not be used.
#[derive(Debug)]
pub struct SourceError {
    pub path: PathBuf,
    pub reason: String,
}

/// The files the paths name: each file as given, each directory expanded to
/// every `.runbook` file under it, in a stable order.
pub fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<SourceError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                let reason = match walk(path, &mut files) {
                    Err(error) => Some(describe(&error)),
                    Ok(()) if files.len() == before => {
                        Some("a directory with no `.runbook` file under it".to_string())
                    }
                    Ok(()) => None,
                };
                if let Some(reason) = reason {
                    errors.push(SourceError {
                        path: path.clone(),
                        reason,
                    });
                }
            }
            Ok(_) => files.push(path.clone()),
            Err(error) => errors.push(SourceError {
                path: path.clone(),
                reason: describe(&error),
            }),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if entry.extension().is_some_and(|ext| ext == "runbook") {
            files.push(entry);
        }
    }
    Ok(())
}

/// Reads a file's bytes, saying plainly why when it cannot.
pub fn read(path: &Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|error| SourceError {
        path: path.to_path_buf(),
        reason: describe(&error),
    })
}

fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => error.to_string().to_lowercase(),
    }
}

/// Reads runbook files from the file system for the checker.
#[derive(Debug)]
pub struct FileSystem;

impl rbx_check::Loader for FileSystem {
    fn load(&self, path: &Path) -> Result<Vec<u8>, String> {
        read(path).map_err(|error| error.reason)
    }
}
