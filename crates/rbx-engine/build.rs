//! Fingerprints this build for the cache of checked procedures
//! (`src/graph_cache.rs`): a hash of every file under the `src` of the
//! crates whose types an entry holds or whose checks make it (rbx-syntax,
//! rbx-check and this one), and of `Cargo.lock`, which pins the encoder.
//! Any change to them gives another fingerprint, so an entry written by
//! another build of rbx is never read as if this one had written it. The
//! hash need only tell builds apart; it is no defence against anyone.

use std::env;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let crates = manifest.join("..");
    let mut files = Vec::new();
    for dir in ["rbx-syntax/src", "rbx-check/src", "rbx-engine/src"] {
        let dir = crates.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        collect(&dir, &mut files);
    }
    let lock = crates.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    files.push(lock);
    let grammar = crates.join("../grammar/runbook.pest");
    println!("cargo:rerun-if-changed={}", grammar.display());
    files.push(grammar);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in &files {
        let relative = file.strip_prefix(&crates).unwrap_or(file);
        for part in [
            relative.to_string_lossy().as_bytes(),
            &fs::read(file).unwrap_or_default(),
        ] {
            hasher.write_usize(part.len());
            hasher.write(part);
        }
    }
    println!("cargo:rustc-env=RBX_CACHE_BUILD={:016x}", hasher.finish());
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
