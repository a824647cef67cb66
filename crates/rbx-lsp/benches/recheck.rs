//! Re-checking the seed after an edit, as `rbx lsp` does on every
//! keystroke: the edit applied to the open document, the whole procedure
//! (the entry and its eight fragments) loaded, parsed, checked and
//! indexed, and every file's diagnostics converted for the editor.
//!
//! It is measured twice: with every file in memory (rbx's own work), and
//! with only the edited fragment open and the rest read from disk, as in an
//! editor that has one file open.
//!
//! `cargo bench -p rbx-lsp` prints the best and median times; the figure
//! is recorded in the book (reference/performance.md), never asserted.
//! Run as a test (`cargo test --bench recheck`, as CI does), it measures a
//! few edits: a check that the benchmark still runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use rbx_check::{LoadError, Loader};
use rbx_lsp::Workspace;

/// The seed's files, served from memory so that the figure is rbx's
/// work and not the disk's.
struct Memory(HashMap<PathBuf, Vec<u8>>);

impl Loader for Memory {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        self.0.get(path).cloned().ok_or(LoadError::NotFound)
    }
}

/// The seed's files as they are on disk.
struct Disk;

impl Loader for Disk {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        std::fs::read(path).map_err(|e| LoadError::Unreadable(e.to_string()))
    }
}

const FILES: [&str; 9] = [
    "post-cutover.runbook",
    "post-cutover/roles.runbook",
    "post-cutover/links.runbook",
    "post-cutover/smoke.runbook",
    "post-cutover/triage.runbook",
    "post-cutover/playbooks.runbook",
    "post-cutover/severity.runbook",
    "post-cutover/rollback.runbook",
    "post-cutover/roll-forward.runbook",
];

fn main() {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let edits = if quick { 3 } else { 200 };
    let runbooks = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../runbooks")
        .canonicalize()
        .expect("the seed's directory");
    let smoke = runbooks.join("post-cutover/smoke.runbook");
    let read = |path: &Path| std::fs::read_to_string(path).expect("a seed file");

    let files: HashMap<PathBuf, Vec<u8>> = FILES
        .iter()
        .map(|name| (runbooks.join(name), read(&runbooks.join(name)).into_bytes()))
        .collect();
    let mut memory = Workspace::new(Memory(files), vec![runbooks.clone()]);
    for name in FILES {
        memory.open(runbooks.join(name), read(&runbooks.join(name)));
    }
    measure("every file open", &mut memory, &smoke, edits);

    let mut disk = Workspace::new(Disk, vec![runbooks.clone()]);
    disk.open(smoke.clone(), read(&smoke));
    measure("one file open, the rest on disk", &mut disk, &smoke, edits);
}

/// Types one letter into the smoke stage's title and takes it away,
/// `edits` times each: every change is a re-check of the whole procedure.
fn measure<L: Loader>(what: &str, workspace: &mut Workspace<L>, smoke: &Path, edits: usize) {
    let at = Position::new(7, 20);
    let mut times: Vec<Duration> = (0..edits * 2)
        .map(|i| {
            let (range, typed) = if i % 2 == 0 {
                (Range::new(at, at), "x")
            } else {
                (Range::new(at, Position::new(at.line, at.character + 1)), "")
            };
            let change = TextDocumentContentChangeEvent {
                range: Some(range),
                range_length: None,
                text: typed.to_string(),
            };
            let start = Instant::now();
            let published = workspace.change(smoke, vec![change]);
            let elapsed = start.elapsed();
            assert_eq!(
                published.len(),
                FILES.len(),
                "every file of the seed is published"
            );
            let shown: usize = published.iter().map(|p| p.diagnostics.len()).sum();
            assert!(shown >= 18, "the seed's placeholders are reported: {shown}");
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "re-check of the seed after an edit, {what}: best {:.2?}, median {:.2?} ({} edits)",
        times[0],
        times[times.len() / 2],
        times.len()
    );
}
