//! What the unit tests share: files served from memory, and the seed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_check::{LoadError, Loader};

/// Files served from memory; nothing is on disk.
#[derive(Debug, Clone)]
pub struct Memory(pub HashMap<PathBuf, String>);

impl Loader for Memory {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        self.0
            .get(path)
            .map(|t| t.clone().into_bytes())
            .ok_or(LoadError::NotFound)
    }
}

/// The seed procedure (`runbooks/post-cutover.runbook` and its eight
/// fragments) under `/seed`, and the path of its entry.
pub fn seed() -> (Memory, PathBuf) {
    let runbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let mut files = HashMap::new();
    let mut pending = vec![PathBuf::from("post-cutover.runbook")];
    let dir = runbooks.join("post-cutover");
    for entry in std::fs::read_dir(&dir).expect("the seed's fragments") {
        let name = entry.expect("an entry").file_name();
        pending.push(Path::new("post-cutover").join(name));
    }
    for name in pending {
        let text = std::fs::read_to_string(runbooks.join(&name)).expect("a seed file");
        files.insert(Path::new("/seed").join(name), text);
    }
    (Memory(files), PathBuf::from("/seed/post-cutover.runbook"))
}

/// Every procedure the project ships: the seed, and each example under
/// `examples/` (one file each), with the path of its entry.
pub fn procedures() -> Vec<(Memory, PathBuf)> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut out = vec![seed()];
    let mut names: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("the examples")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "runbook"))
        .collect();
    names.sort();
    for path in names {
        let entry = Path::new("/examples").join(path.file_name().expect("a name"));
        let text = std::fs::read_to_string(&path).expect("an example");
        out.push((Memory(HashMap::from([(entry.clone(), text)])), entry));
    }
    out
}
