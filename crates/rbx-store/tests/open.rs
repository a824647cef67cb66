//! Opening a store: creating it, migrating it, and refusing what it must
//! not touch.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use rbx_store::{SqliteStore, Store, StoreError};
use rusqlite::Connection;
use serde_json::json;
use support::new_run;

/// The schema version this build writes.
const VERSION: i64 = 2;

fn schema(path: &Path) -> Vec<(String, String)> {
    let conn = Connection::open(path).expect("the store opens");
    let mut select = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
        .expect("the schema query prepares");
    select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect())
        .expect("the schema reads")
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .and_then(|conn| conn.query_row("PRAGMA user_version", [], |row| row.get(0)))
        .expect("the version reads")
}

#[test]
fn a_new_store_is_created_with_every_migration() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work").join(".rbx");
    let store = SqliteStore::open(&dir).unwrap();
    assert_eq!(store.path(), dir.join("rbx.db"));
    let journal_mode: String = Connection::open(store.path())
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal_mode, "wal");
    assert_eq!(user_version(store.path()), VERSION);
    let names: Vec<String> = schema(store.path())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for expected in [
        "attachments",
        "events",
        "events_no_delete",
        "events_no_update",
        "locks",
        "outputs",
        "runs",
        "sources",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(store.runs().unwrap().is_empty());
}

#[test]
fn reopening_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    store.append(&run, "run.started", &json!({})).unwrap();
    let path = store.path().to_owned();
    drop(store);
    let before = schema(&path);

    for _ in 0..3 {
        let store = SqliteStore::open(tmp.path()).unwrap();
        assert_eq!(store.events(&run).unwrap().len(), 1);
        store.verify(&run).unwrap();
    }
    assert_eq!(schema(&path), before);
    assert_eq!(user_version(&path), VERSION);
}

#[test]
fn a_newer_store_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = SqliteStore::open(tmp.path()).unwrap().path().to_owned();
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 7)
        .unwrap();
    let before = fs::read(&path).unwrap();

    let error = SqliteStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::TooNew {
                found: 7,
                supported: VERSION,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("schema version 7"), "{message}");
    assert!(message.contains(&format!("version {VERSION}")), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn a_newer_store_in_another_journal_mode_is_not_switched_to_wal() {
    // Switching to WAL writes the file's header, so it must come after the
    // version check.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rbx.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; CREATE TABLE future (x); PRAGMA user_version = 9;",
        )
        .unwrap();
    }
    let before = fs::read(&path).unwrap();
    let error = SqliteStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 9, .. }),
        "{error:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert!(!tmp.path().join("rbx.db-wal").exists());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rbx.db");
    let garbage: Vec<u8> = (0..8192_u32).map(|i| (i * 7 + 13) as u8).collect();
    fs::write(&path, &garbage).unwrap();

    let error = SqliteStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(error, StoreError::NotADatabase { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("move it aside"), "{message}");
    assert_eq!(fs::read(&path).unwrap(), garbage);
}

/// What a truncated store can promise: the loss is never silent. Either
/// opening it fails, naming the file and leaving it as it was for salvage,
/// or every run it still lists either verifies with all its events or
/// reports where its record breaks. What the cut-off part held cannot be
/// recovered by rbx; a backup can.
#[test]
fn a_truncated_store_is_refused_or_its_loss_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, run, recorded) = {
        let mut store = SqliteStore::open(tmp.path()).unwrap();
        let run = store.create_run(&new_run()).unwrap();
        // Enough events, with payloads large enough, that the file spans
        // many pages.
        for i in 0..200 {
            store
                .append(
                    &run,
                    "step.finished",
                    &json!({ "step": i, "output": "x".repeat(300) }),
                )
                .unwrap();
        }
        (store.path().to_owned(), run, 200)
    };
    let whole = fs::read(&path).unwrap();
    assert!(whole.len() > 64 * 1024, "{} bytes", whole.len());

    for length in [whole.len() / 2, whole.len() - 1000, 4096, 50] {
        fs::write(&path, &whole[..length]).unwrap();
        match SqliteStore::open(tmp.path()) {
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
                    ),
                    "{length} bytes: {error:?}"
                );
                let message = error.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(message.contains("move it aside"), "{message}");
                assert_eq!(fs::read(&path).unwrap(), &whole[..length], "{length} bytes");
            }
            Ok(store) => {
                let complete = store.verify(&run).is_ok()
                    && store.events(&run).map(|events| events.len()).ok() == Some(recorded);
                let reported = store.verify(&run).is_err() || store.events(&run).is_err();
                assert!(
                    complete || reported,
                    "{length} bytes: the loss went unreported"
                );
            }
        }
    }

    // The untouched file still holds everything.
    fs::write(&path, &whole).unwrap();
    let store = SqliteStore::open(tmp.path()).unwrap();
    store.verify(&run).unwrap();
    assert_eq!(store.events(&run).unwrap().len(), recorded);
}

/// Set in the environment of the copy of this test that runs without the
/// privilege to write where permissions forbid it.
const UNPRIVILEGED: &str = "RBX_STORE_TEST_UNPRIVILEGED";

#[test]
fn a_read_only_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    fs::create_dir(&probe).unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = fs::write(probe.join("file"), "").is_ok();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();

    if privileged && std::env::var_os(UNPRIVILEGED).is_none() {
        // Root writes through permissions (CI runs as root): run this test
        // again in a process without CAP_DAC_OVERRIDE, where they hold.
        let run = Command::new("setpriv")
            .args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_read_only_store_is_a_clear_error",
                "--test-threads=1",
            ])
            .env(UNPRIVILEGED, "1")
            .output()
            .expect(
                "setpriv (util-linux) runs this test without the privilege to ignore permissions",
            );
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success() && stdout.contains("1 passed"),
            "the unprivileged run failed ({}):\n{stdout}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        return;
    }
    assert!(!privileged, "permissions must hold in this process");
    read_only_cases(tmp.path());
}

fn read_only_cases(root: &Path) {
    let mode = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let refused = |dir: &Path| match SqliteStore::open(dir) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(error) => error,
    };

    // A directory where the store cannot be created.
    let locked = root.join("locked");
    fs::create_dir(&locked).expect("mkdir");
    mode(&locked, 0o555);
    let error = refused(&locked.join(".rbx"));
    assert!(matches!(error, StoreError::CreateDir { .. }), "{error:?}");
    assert!(error.to_string().contains("writable directory"), "{error}");

    // A directory that exists but where no file can be created.
    let error = refused(&locked);
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
    assert!(error.to_string().contains("read-only"), "{error}");
    assert!(!locked.join("rbx.db").exists());
    mode(&locked, 0o755);

    // An existing store whose file cannot be written.
    let store_dir = root.join("store");
    drop(SqliteStore::open(&store_dir).expect("a writable store opens"));
    let file = store_dir.join("rbx.db");
    mode(&file, 0o444);
    let error = refused(&store_dir);
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&file.display().to_string()),
        "{error}"
    );
    mode(&file, 0o644);

    // An existing store in a directory where its write-ahead log cannot be
    // created.
    mode(&store_dir, 0o555);
    let error = refused(&store_dir);
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
    mode(&store_dir, 0o755);

    SqliteStore::open(&store_dir).expect("the store opens once writable again");
}

#[test]
fn an_attached_file_is_kept_whole_with_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    let bytes = b"screenshot bytes \x00\xff";
    let hash = store
        .put_attachment(&run, "s.look", "shot", "shot.png", bytes)
        .unwrap();
    // sha256 of the bytes above, computed independently with sha256sum.
    assert_eq!(
        hash,
        "43edcc1d6bb37c4982ea3a7dea2fb8efca8a5ac2de541ca60ec2c88b473dde39"
    );
    let (file, kept_hash, kept) = store.attachment(&run, "s.look", "shot").unwrap().unwrap();
    assert_eq!(
        (file.as_str(), kept_hash, kept.as_slice()),
        ("shot.png", hash, &bytes[..])
    );
    assert!(store.attachment(&run, "s.look", "other").unwrap().is_none());
}
