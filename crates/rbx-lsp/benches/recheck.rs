//! Re-checking the seed after an edit, as `rbx lsp` does on every
//! keystroke: the edit applied to the open document, the whole procedure
//! (the entry and its eight fragments) loaded, parsed, checked and
//! indexed, and every file's diagnostics converted for the editor.
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
    let runs = if quick { 3 } else { 200 };
    let runbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let root = PathBuf::from("/seed");
    let files: HashMap<PathBuf, Vec<u8>> = FILES
        .iter()
        .map(|name| {
            let bytes = std::fs::read(runbooks.join(name)).expect("a seed file");
            (root.join(name), bytes)
        })
        .collect();
    let smoke = root.join("post-cutover/smoke.runbook");
    let entry = root.join("post-cutover.runbook");
    let text = |path: &Path| String::from_utf8(files[path].clone()).expect("UTF-8");
    let (entry_text, smoke_text) = (text(&entry), text(&smoke));
    let mut workspace = Workspace::new(Memory(files), vec![root]);
    workspace.open(entry, entry_text);
    let published = workspace.open(smoke.clone(), smoke_text);
    let shown: usize = published.iter().map(|p| p.diagnostics.len()).sum();
    assert_eq!(
        published.len(),
        FILES.len(),
        "every file of the seed is published"
    );
    assert!(shown >= 18, "the seed's placeholders are reported: {shown}");

    // Type one letter into the smoke stage's title, then take it away:
    // each is an edit and a re-check of the whole procedure.
    let at = Position::new(7, 20);
    let mut times: Vec<Duration> = (0..runs * 2)
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
            let published = workspace.change(&smoke, vec![change]);
            let elapsed = start.elapsed();
            assert_eq!(published.len(), FILES.len());
            std::hint::black_box(published);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "re-check of the seed after an edit: best {:.2?}, median {:.2?} ({} edits)",
        times[0],
        times[times.len() / 2],
        times.len()
    );
}
