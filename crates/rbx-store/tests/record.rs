//! The record is self-contained: `rbx.db` alone holds it after a
//! checkpoint, only its owner can read it, and the outputs and files the
//! journal vouches for are covered by their digests.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use rbx_store::{RunId, SqliteStore, Store, StoreError, output_digest};
use rusqlite::Connection;
use serde_json::json;
use support::new_run;

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Copies `rbx.db` alone, as someone backing up the store would, into a
/// fresh directory, and opens the copy.
fn copy_of_db(store: &SqliteStore) -> (tempfile::TempDir, SqliteStore) {
    let copy = tempfile::tempdir().expect("a temporary directory");
    fs::copy(store.path(), copy.path().join("rbx.db")).expect("rbx.db copies");
    let opened = SqliteStore::open(copy.path()).expect("the copy opens");
    (copy, opened)
}

#[test]
fn after_a_checkpoint_rbx_db_alone_holds_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    for n in 1..=3 {
        store.append(&run, "step.done", &json!({ "n": n })).unwrap();
    }
    // Before the checkpoint the record is in the write-ahead log: the
    // main file alone does not even hold the run.
    let (_before, early) = copy_of_db(&store);
    assert!(early.runs().unwrap().is_empty());

    store.checkpoint().unwrap();
    let wal = tmp.path().join("rbx.db-wal");
    assert_eq!(fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    let (_after, copy) = copy_of_db(&store);
    assert_eq!(copy.events(&run).unwrap(), store.events(&run).unwrap());
    copy.verify(&run).unwrap();
}

#[test]
fn a_new_store_is_readable_by_its_owner_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/.rbx");
    let mut store = SqliteStore::open(&dir).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    store.append(&run, "run.started", &json!({})).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["rbx.db", "rbx.db-wal", "rbx.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }

    // A directory the operator made keeps its mode; the database rbx
    // creates in it is still private.
    let shared = tmp.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o750)).unwrap();
    drop(SqliteStore::open(&shared).unwrap());
    assert_eq!(mode(&shared), 0o750);
    assert_eq!(mode(&shared.join("rbx.db")), 0o600);
}

/// A store with one run whose step kept its output, and the event
/// vouching for it as the engine writes it.
fn run_with_output() -> (tempfile::TempDir, SqliteStore, RunId) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut store = SqliteStore::open(tmp.path()).expect("the store opens");
    let run = store.create_run(&new_run()).expect("the run is created");
    store
        .append(
            &run,
            "node_started",
            &json!({ "node": "s.a", "attempt": 1 }),
        )
        .expect("the store writes");
    let digest = store
        .put_output(&run, "s.a", 1, "stdout", b"head ", b"tail", 9)
        .expect("the store writes");
    assert_eq!(digest, output_digest(b"head ", b"tail", 9));
    let finished = json!({ "node": "s.a", "attempt": 1, "outputs": { "stdout": digest } });
    store
        .append(&run, "node_finished", &finished)
        .expect("the store writes");
    (tmp, store, run)
}

fn broken_at(store: &SqliteStore, run: &RunId) -> (u64, String) {
    match store.verify(run) {
        Err(StoreError::ChainBroken { seq, reason, .. }) => (seq, reason),
        other => panic!("expected a broken record, got {other:?}"),
    }
}

#[test]
fn an_output_changed_after_it_was_kept_breaks_the_record() {
    let (_tmp, store, run) = run_with_output();
    store.verify(&run).unwrap();
    let conn = Connection::open(store.path()).unwrap();
    conn.execute("UPDATE outputs SET tail = CAST('TAIL' AS BLOB)", [])
        .unwrap();
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 2);
    assert!(
        reason.contains("the stdout of `s.a` (attempt 1)"),
        "{reason}"
    );
    assert!(reason.contains("changed after it was kept"), "{reason}");

    conn.execute("DELETE FROM outputs", []).unwrap();
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 2);
    assert!(reason.contains("is missing"), "{reason}");
}

#[test]
fn a_later_capture_vouched_for_again_verifies() {
    let (_tmp, mut store, run) = run_with_output();
    // The same stream kept again (the engine may save it as it grows) and
    // vouched for by a later event.
    let digest = store
        .put_output(&run, "s.a", 1, "stdout", b"more", b"", 4)
        .unwrap();
    let again = json!({ "node": "s.a", "attempt": 1, "outputs": { "stdout": digest } });
    store.append(&run, "node_finished", &again).unwrap();
    store.verify(&run).unwrap();
}

#[test]
fn a_kept_file_changed_after_it_was_kept_breaks_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    let hash = store
        .put_attachment(&run, "s.look", "shot", "shot.png", b"pixels")
        .unwrap();
    let answered = json!({ "node": "s.look", "attachments": { "shot": hash } });
    store.append(&run, "node_finished", &answered).unwrap();
    store.verify(&run).unwrap();
    let conn = Connection::open(store.path()).unwrap();
    // Changing the stored hash with the bytes does not help: the digest
    // that counts is the one in the journal.
    conn.execute(
        "UPDATE attachments SET bytes = CAST('forged' AS BLOB), sha256 = 'x'",
        [],
    )
    .unwrap();
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 1);
    assert!(reason.contains("`shot` given for `s.look`"), "{reason}");
}

#[test]
fn a_journal_cut_short_is_reported_as_such() {
    let (_tmp, store, run) = run_with_output();
    let conn = Connection::open(store.path()).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2;")
        .unwrap();
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 2);
    assert!(reason.contains("cut short"), "{reason}");
    assert!(reason.contains("recorded 2 events"), "{reason}");
}
