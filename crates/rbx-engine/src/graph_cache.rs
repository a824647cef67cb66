//! The checked procedure of a run's snapshot, kept so that a resume reads
//! it instead of parsing and checking the snapshot again.
//!
//! An entry is named by what it was built from: the snapshot's hash, the
//! entry file, the cache's format and this build of rbx (a fingerprint of
//! the sources of the crates whose types it holds, and of `Cargo.lock`).
//! It is the procedure encoded with `postcard`, preceded by an HMAC-SHA256
//! of the encoding under a key of 32 random bytes that only this account
//! reads (`key`, mode 0600, beside the entries). The encoding repeats the
//! name's parts, so an entry is used only for what it was built from.
//!
//! An entry that is missing, unreadable, of another build, damaged (its
//! MAC does not match), written without the key, moved from another name,
//! or that does not decode is passed over: the snapshot is checked as if
//! there were no cache, and the entry written again. So the cache can make
//! a resume faster, never different. Writes go to a temporary file renamed
//! into place; one cut short by a crash fails its MAC and is passed over.
//! See the store chapter of the book ("The cache of checked procedures").

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use rbx_check::graph::Graph;
use rbx_syntax::ast::{Budget, HookEvent, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{InputDecl, Procedure, procedure_from_snapshot};

/// The layout of an entry; a change of it is a change of build too, but
/// this says so where the layout is written.
const FORMAT: u32 = 1;

/// This build of rbx, as `build.rs` fingerprints it.
const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("RBX_CACHE_BUILD"));

const KEY_FILE: &str = "key";
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;

/// A directory of checked procedures.
#[derive(Debug, Clone)]
pub struct GraphCache {
    dir: PathBuf,
    build: String,
}

/// What an entry was built from.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Name {
    format: u32,
    build: String,
    entry: String,
    source_hash: String,
}

#[derive(Serialize)]
struct Written<'a> {
    name: &'a Name,
    procedure: Body<'a>,
}

/// A procedure as written: maps in key order, and each child procedure
/// once, however many `child` nodes run it.
#[derive(Serialize)]
struct Body<'a> {
    graph: &'a Graph,
    runbook_id: &'a str,
    title: &'a str,
    entry: &'a str,
    sources: &'a [(String, String)],
    inputs: &'a [InputDecl],
    roles_filled: BTreeMap<&'a str, bool>,
    identities: BTreeMap<&'a str, &'a Vec<String>>,
    links_set: BTreeMap<&'a str, bool>,
    hooks: &'a [(HookEvent, Text)],
    budgets: &'a [Budget],
    children: Vec<Body<'a>>,
    child_of: BTreeMap<&'a str, usize>,
}

#[derive(Deserialize)]
struct Kept {
    name: Name,
    procedure: KeptBody,
}

#[derive(Deserialize)]
struct KeptBody {
    graph: Graph,
    runbook_id: String,
    title: String,
    entry: String,
    sources: Vec<(String, String)>,
    inputs: Vec<InputDecl>,
    roles_filled: BTreeMap<String, bool>,
    identities: BTreeMap<String, Vec<String>>,
    links_set: BTreeMap<String, bool>,
    hooks: Vec<(HookEvent, Text)>,
    budgets: Vec<Budget>,
    children: Vec<KeptBody>,
    child_of: BTreeMap<String, usize>,
}

impl<'a> Body<'a> {
    fn of(procedure: &'a Procedure) -> Body<'a> {
        let mut distinct: Vec<&'a Arc<Procedure>> = Vec::new();
        let mut child_of = BTreeMap::new();
        for (node, child) in sorted(&procedure.children, |c| c) {
            let at = match distinct.iter().position(|d| Arc::ptr_eq(d, child)) {
                Some(at) => at,
                None => {
                    distinct.push(child);
                    distinct.len() - 1
                }
            };
            child_of.insert(node, at);
        }
        Body {
            graph: &procedure.graph,
            runbook_id: &procedure.runbook_id,
            title: &procedure.title,
            entry: &procedure.entry,
            sources: &procedure.sources,
            inputs: &procedure.inputs,
            roles_filled: sorted(&procedure.roles_filled, |&b| b),
            identities: sorted(&procedure.identities, |v| v),
            links_set: sorted(&procedure.links_set, |&b| b),
            hooks: &procedure.hooks,
            budgets: &procedure.budgets,
            children: distinct.into_iter().map(|c| Body::of(c)).collect(),
            child_of,
        }
    }
}

impl KeptBody {
    /// The procedure; `None` when a node names a child procedure the entry
    /// does not hold.
    fn procedure(self) -> Option<Procedure> {
        let children: Vec<Arc<Procedure>> = self
            .children
            .into_iter()
            .map(|c| c.procedure().map(Arc::new))
            .collect::<Option<_>>()?;
        let children = self
            .child_of
            .into_iter()
            .map(|(node, at)| Some((node, Arc::clone(children.get(at)?))))
            .collect::<Option<_>>()?;
        Some(Procedure {
            graph: Arc::new(self.graph),
            runbook_id: self.runbook_id,
            title: self.title,
            entry: self.entry,
            sources: self.sources,
            inputs: self.inputs,
            roles_filled: self.roles_filled.into_iter().collect(),
            identities: self.identities.into_iter().collect(),
            links_set: self.links_set.into_iter().collect(),
            hooks: self.hooks,
            budgets: self.budgets,
            children,
        })
    }
}

impl GraphCache {
    /// The cache in `dir`, created when first written.
    pub fn at(dir: PathBuf) -> GraphCache {
        GraphCache {
            dir,
            build: BUILD.to_string(),
        }
    }

    /// The procedure a run's snapshot checks to: the cached one when a
    /// sound entry is there, else the snapshot checked again (and kept for
    /// next time). `source_hash` must be the snapshot's, checked by the
    /// caller against what the run recorded.
    pub fn procedure(
        &self,
        entry: &str,
        sources: Vec<(String, String)>,
        source_hash: &str,
    ) -> Result<Procedure, String> {
        let name = self.name(entry, source_hash);
        if let Some(procedure) = self.read(&name) {
            return Ok(procedure);
        }
        let procedure = procedure_from_snapshot(entry, sources)?;
        self.write(&name, &procedure);
        Ok(procedure)
    }

    /// The entry of a new run's procedure, encoded now, to be written by
    /// [`Keeping::write`] while the run starts (on another thread), so that
    /// its first resume finds it; `None` when an entry is there already.
    /// `procedure` must be what the run's snapshot checks to: the run's
    /// own, checked from the files the snapshot copies
    /// (`tests/graph_cache.rs` compares the two, byte for byte).
    pub fn keep(&self, procedure: &Procedure) -> Option<Keeping> {
        let hash = rbx_store::hash_sources(&procedure.sources);
        let name = self.name(&procedure.entry, &hash);
        let path = self.path(&name);
        if path.is_file() {
            return None;
        }
        let body = encode(&name, procedure).ok()?;
        Some(Keeping {
            cache: self.clone(),
            path,
            body,
        })
    }

    fn name(&self, entry: &str, source_hash: &str) -> Name {
        Name {
            format: FORMAT,
            build: self.build.clone(),
            entry: entry.to_string(),
            source_hash: source_hash.to_string(),
        }
    }

    fn path(&self, name: &Name) -> PathBuf {
        let mut digest = Sha256::new();
        for part in [name.build.as_str(), &name.entry, &name.source_hash] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.update(name.format.to_le_bytes());
        let hex: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join("procedures").join(hex)
    }

    fn read(&self, name: &Name) -> Option<Procedure> {
        let bytes = std::fs::read(self.path(name)).ok()?;
        let key = self.key().ok()?;
        let (mac, body) = bytes.split_at_checked(MAC_LEN)?;
        mac_of(&key).chain_update(body).verify_slice(mac).ok()?;
        let kept: Kept = postcard::from_bytes(body).ok()?;
        if kept.name != *name {
            return None;
        }
        kept.procedure.procedure()
    }

    /// Keeps an entry; a cache that cannot be written is no cache, and
    /// nothing else.
    fn write(&self, name: &Name, procedure: &Procedure) {
        let _ = self.try_write(name, procedure);
    }

    fn try_write(&self, name: &Name, procedure: &Procedure) -> std::io::Result<()> {
        self.write_body(&self.path(name), &encode(name, procedure)?)
    }

    fn write_body(&self, path: &Path, body: &[u8]) -> std::io::Result<()> {
        let key = self.key()?;
        let mac = mac_of(&key).chain_update(body).finalize().into_bytes();
        let dir = path.parent().unwrap_or(&self.dir);
        private_dir(dir)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&mac)?;
        file.write_all(body)?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The cache's key, made the first time it is needed. Two processes
    /// making it at once agree: the first to link its file in wins, and
    /// the other reads that one.
    fn key(&self) -> std::io::Result<Vec<u8>> {
        let path = self.dir.join(KEY_FILE);
        match read_key(&path) {
            Ok(key) => return Ok(key),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        private_dir(&self.dir)?;
        let mut key = vec![0; KEY_LEN];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        // A temporary file is created readable by its owner only.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&key)?;
        match file.persist_noclobber(&path) {
            Ok(_) => Ok(key),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read_key(&path),
            Err(e) => Err(e.error),
        }
    }
}

/// An entry encoded and not yet written.
#[derive(Debug)]
pub struct Keeping {
    cache: GraphCache,
    path: PathBuf,
    body: Vec<u8>,
}

impl Keeping {
    /// Writes the entry; a cache that cannot be written is no cache.
    pub fn write(self) {
        let _ = self.cache.write_body(&self.path, &self.body);
    }
}

fn read_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let key = std::fs::read(path)?;
    if key.len() == KEY_LEN {
        Ok(key)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the cache's key is not 32 bytes",
        ))
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn mac_of(key: &[u8]) -> Hmac<Sha256> {
    // An HMAC takes a key of any length.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("an HMAC key of any length")
}

fn encode(name: &Name, procedure: &Procedure) -> std::io::Result<Vec<u8>> {
    let written = Written {
        name,
        procedure: Body::of(procedure),
    };
    postcard::to_stdvec(&written).map_err(std::io::Error::other)
}

fn sorted<'a, V, W>(
    map: &'a std::collections::HashMap<String, V>,
    value: impl Fn(&'a V) -> W,
) -> BTreeMap<&'a str, W> {
    map.iter().map(|(k, v)| (k.as_str(), value(v))).collect()
}

#[cfg(test)]
mod tests;
