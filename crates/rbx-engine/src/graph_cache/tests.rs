use super::*;

/// A runbook whose second step's command tells which procedure ran.
fn runbook(second: &str) -> Vec<(String, String)> {
    let text = format!(
        "runbook demo \"Cache\" {{\n  role oncall \"On-call\"\n  input region: enum(eu, us) = eu\n  \
         input hosts: list(string) = [\"a\", \"b\"]\n\
         \n  stage s \"S\" {{\n    step one \"One\" {{\n      owner oncall\n      run \"echo one {{{{ region }}}}\"\n    }}\n\
         \n    step two \"Two\" {{\n      owner oncall\n      run \"{second}\"\n      timeout 30s\n      \
         retry 2 backoff 5s\n      expect exit 0\n    }}\n\n    foreach r in hosts parallel 2 {{\n      \
         step each \"Each {{{{ r }}}}\" {{\n        run \"echo {{{{ r }}}}\"\n      }}\n    }}\n\n    \
         end done\n  }}\n}}\n"
    );
    vec![("demo.runbook".to_string(), text)]
}

fn checked(sources: &[(String, String)]) -> Procedure {
    procedure_from_snapshot("demo.runbook", sources.to_vec()).expect("the runbook checks")
}

/// The procedure as bytes: maps in key order, spans included, so two
/// procedures encode alike only when they are the same to the last span.
fn bytes(procedure: &Procedure) -> Vec<u8> {
    let name = Name {
        format: FORMAT,
        build: String::new(),
        entry: String::new(),
        source_hash: String::new(),
    };
    encode(&name, procedure).expect("encodes")
}

struct Case {
    _dir: tempfile::TempDir,
    cache: GraphCache,
    sources: Vec<(String, String)>,
    hash: String,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().expect("a directory");
        let sources = runbook("echo two");
        Case {
            cache: GraphCache::at(dir.path().join("cache")),
            _dir: dir,
            hash: rbx_store::hash_sources(&sources),
            sources,
        }
    }

    fn entry(&self) -> PathBuf {
        self.cache
            .path(&self.cache.name("demo.runbook", &self.hash))
    }

    /// What a resume gets from the cache in its state now.
    fn resumed(&self) -> Procedure {
        self.cache
            .procedure("demo.runbook", self.sources.clone(), &self.hash)
            .expect("the snapshot checks")
    }

    /// Whether the cache answers for the snapshot without checking it:
    /// asked with no sources at all, only a hit can give a procedure.
    fn hits(&self) -> bool {
        self.cache
            .procedure("demo.runbook", Vec::new(), &self.hash)
            .is_ok()
    }

    /// Whatever the cache held, the resume got the snapshot's procedure,
    /// and the entry is sound again for the next one.
    fn assert_same_as_no_cache(&self) {
        assert_eq!(bytes(&self.resumed()), bytes(&checked(&self.sources)));
        assert!(self.hits(), "the entry was written again");
    }
}

#[test]
fn an_entry_gives_back_the_procedure_the_snapshot_checks_to() {
    let case = Case::new();
    assert!(!case.hits(), "an empty cache has nothing");
    let first = case.resumed();
    assert!(case.entry().is_file(), "a miss keeps the procedure");
    assert!(case.hits());
    let again = case.resumed();
    assert_eq!(bytes(&again), bytes(&first));
    assert_eq!(bytes(&again), bytes(&checked(&case.sources)));
    // Indexes, edges and ids survive: the graph finds its nodes by id.
    for index in again.graph.graph.node_indices() {
        let id = &again.graph.graph[index].id;
        assert_eq!(again.graph.node(id), Some(index));
    }
    assert_eq!(
        format!("{:?}", again.graph.graph.raw_edges()),
        format!("{:?}", first.graph.graph.raw_edges())
    );
}

#[test]
fn keep_writes_the_entry_a_resume_reads() {
    let case = Case::new();
    case.cache
        .keep(&checked(&case.sources))
        .expect("no entry yet")
        .write();
    assert!(case.hits());
    assert!(case.cache.keep(&checked(&case.sources)).is_none());
    case.assert_same_as_no_cache();
}

/// Every runbook of the repository (its examples and the seed, each with
/// the fragments it includes) reads back from the cache as the procedure
/// its snapshot checks to, to the last span.
#[test]
fn every_runbook_of_the_repository_reads_back_as_it_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["runbooks", "examples"] {
        collect(&root, &root.join(dir), &mut files);
    }
    let entries: Vec<&String> = files
        .iter()
        .filter(|(path, text)| path.matches('/').count() == 1 && text.contains("runbook "))
        .map(|(path, _)| path)
        .collect();
    assert!(entries.len() >= 10, "found {entries:?}");
    let dir = tempfile::tempdir().expect("a directory");
    let cache = GraphCache::at(dir.path().to_path_buf());
    let mut read_back = 0;
    for entry in entries {
        let hash = rbx_store::hash_sources(&files);
        let Ok(expected) = procedure_from_snapshot(entry, files.clone()) else {
            continue;
        };
        cache.write(&cache.name(entry, &hash), &expected);
        let read = cache
            .procedure(entry, Vec::new(), &hash)
            .unwrap_or_else(|e| panic!("{entry} is a hit: {e}"));
        assert_eq!(bytes(&read), bytes(&expected), "{entry}");
        assert_eq!(
            read.graph.graph.edge_count(),
            expected.graph.graph.edge_count()
        );
        read_back += 1;
    }
    assert!(read_back >= 10, "only {read_back} runbooks checked");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir)
        .expect("read the directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "runbook") {
            let relative = path.strip_prefix(root).expect("under the root");
            let text = std::fs::read_to_string(&path).expect("read the runbook");
            files.push((relative.display().to_string(), text));
        }
    }
}

#[test]
fn a_damaged_entry_is_passed_over_whatever_byte_changed() {
    let case = Case::new();
    case.resumed();
    let sound = fs_read(&case.entry());
    // Every byte of the MAC, and a spread of the body's.
    let step = (sound.len() / 97).max(1);
    for at in (0..MAC_LEN).chain((MAC_LEN..sound.len()).step_by(step)) {
        let mut damaged = sound.clone();
        damaged[at] ^= 0x01;
        std::fs::write(case.entry(), &damaged).expect("damage the entry");
        assert!(!case.hits(), "byte {at} flipped is not a hit");
        case.assert_same_as_no_cache();
    }
}

#[test]
fn a_cut_short_or_empty_entry_is_passed_over() {
    let case = Case::new();
    case.resumed();
    let sound = fs_read(&case.entry());
    for len in [
        0,
        1,
        MAC_LEN - 1,
        MAC_LEN,
        MAC_LEN + 1,
        sound.len() / 2,
        sound.len() - 1,
    ] {
        std::fs::write(case.entry(), &sound[..len]).expect("cut the entry");
        assert!(!case.hits(), "{len} bytes of {} are not a hit", sound.len());
        case.assert_same_as_no_cache();
    }
}

#[test]
fn an_entry_forged_without_the_key_is_passed_over() {
    let case = Case::new();
    case.resumed();
    // Another procedure, under this snapshot's name, as well formed as
    // rbx writes it, with a MAC under a key other than the cache's.
    let other = checked(&runbook("echo forged"));
    let name = case.cache.name("demo.runbook", &case.hash);
    let body = encode(&name, &other).expect("encodes");
    for key in [vec![0; KEY_LEN], b"guessed".to_vec(), Vec::new()] {
        let mac = mac_of(&key).chain_update(&body).finalize().into_bytes();
        std::fs::write(case.entry(), [mac.as_slice(), &body].concat()).expect("forge");
        assert!(!case.hits());
        case.assert_same_as_no_cache();
    }
    // The same body with its plain SHA-256 in the MAC's place.
    let digest = Sha256::digest(&body);
    std::fs::write(case.entry(), [digest.as_slice(), &body].concat()).expect("forge");
    assert!(!case.hits());
    case.assert_same_as_no_cache();
}

#[test]
fn an_entry_moved_from_another_snapshot_is_passed_over() {
    let case = Case::new();
    let other = runbook("echo forged");
    let other_hash = rbx_store::hash_sources(&other);
    case.cache
        .procedure("demo.runbook", other.clone(), &other_hash)
        .expect("checks");
    let other_entry = case
        .cache
        .path(&case.cache.name("demo.runbook", &other_hash));
    // Sound in itself, MAC'd with this cache's key, but built from another
    // snapshot, or for another entry file.
    std::fs::copy(&other_entry, case.entry()).expect("move the entry");
    assert!(!case.hits());
    case.assert_same_as_no_cache();
    let renamed = case
        .cache
        .path(&case.cache.name("other.runbook", &case.hash));
    std::fs::copy(case.entry(), &renamed).expect("copy the entry");
    assert!(
        case.cache
            .procedure("other.runbook", Vec::new(), &case.hash)
            .is_err(),
        "an entry names its entry file"
    );
}

#[test]
fn an_entry_of_another_build_is_not_read() {
    let case = Case::new();
    let older = GraphCache {
        dir: case.cache.dir.clone(),
        build: "0.0.9+0123456789abcdef".to_string(),
    };
    older
        .procedure("demo.runbook", case.sources.clone(), &case.hash)
        .expect("checks");
    assert!(!case.hits(), "another build's entry has another name");
    // Even put where this build's entry goes, it names its build.
    let theirs = older.path(&older.name("demo.runbook", &case.hash));
    std::fs::copy(&theirs, case.entry()).expect("move the entry");
    assert!(!case.hits());
    case.assert_same_as_no_cache();
}

#[test]
fn a_changed_or_missing_key_makes_every_entry_a_miss() {
    let case = Case::new();
    case.resumed();
    let key = case.cache.dir.join(KEY_FILE);
    std::fs::write(&key, [7; KEY_LEN]).expect("change the key");
    assert!(!case.hits());
    case.assert_same_as_no_cache();
    std::fs::remove_file(&key).expect("remove the key");
    assert!(!case.hits(), "a new key reads no old entry");
    case.assert_same_as_no_cache();
    std::fs::write(&key, b"short").expect("damage the key");
    assert!(!case.hits());
    // With a key it cannot use, the cache keeps nothing and a resume
    // checks its snapshot every time.
    assert_eq!(bytes(&case.resumed()), bytes(&checked(&case.sources)));
    assert!(!case.hits());
}

#[test]
fn an_unwritable_cache_is_no_cache() {
    let dir = tempfile::tempdir().expect("a directory");
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "not a directory").expect("write");
    let cache = GraphCache::at(blocked.join("cache"));
    let sources = runbook("echo two");
    let hash = rbx_store::hash_sources(&sources);
    let procedure = cache
        .procedure("demo.runbook", sources.clone(), &hash)
        .expect("checks");
    assert_eq!(bytes(&procedure), bytes(&checked(&sources)));
    assert!(cache.procedure("demo.runbook", Vec::new(), &hash).is_err());
}

fn fs_read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the entry")
}
