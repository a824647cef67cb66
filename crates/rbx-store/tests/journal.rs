//! The journal: appending, reading back, and telling when it was altered.

mod support;

use rbx_store::{RunId, SqliteStore, Store, StoreError};
use rusqlite::Connection;
use serde_json::json;
use sha2::{Digest, Sha256};
use support::new_run;

/// A store with one run of three events.
fn journal() -> (tempfile::TempDir, SqliteStore, RunId) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut store = SqliteStore::open(tmp.path()).expect("the store opens");
    let run = store.create_run(&new_run()).expect("the run is created");
    for (kind, payload) in [
        ("run.started", json!({ "jobs": 1 })),
        (
            "step.started",
            json!({ "node": "smoke.version", "attempt": 1 }),
        ),
        (
            "step.finished",
            json!({ "node": "smoke.version", "outcome": "succeeded" }),
        ),
    ] {
        store
            .append(&run, kind, &payload)
            .expect("the event is appended");
    }
    (tmp, store, run)
}

/// A raw connection to the store's file, as someone editing it by hand.
fn tamper(store: &SqliteStore, sql: &str) {
    let conn = Connection::open(store.path()).expect("the store opens");
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
    )
    .expect("the triggers drop");
    conn.execute_batch(sql).expect("the tampering applies");
}

fn broken_at(store: &SqliteStore, run: &RunId) -> (u64, String) {
    match store.verify(run) {
        Err(StoreError::ChainBroken { seq, reason, .. }) => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn appended_events_come_back_chained() {
    let (_tmp, mut store, run) = journal();
    let events = store.events(&run).unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[1].kind, "step.started");
    assert_eq!(
        events[1].payload,
        json!({ "node": "smoke.version", "attempt": 1 })
    );
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    for event in &events {
        assert_eq!(event.hash.len(), 64);
        // 2026-11-28T08:30:12.345Z
        assert_eq!(event.time.len(), 24, "{}", event.time);
        assert!(event.time.ends_with('Z') && event.time.as_bytes()[19] == b'.');
    }
    store.verify(&run).unwrap();

    let later = store.events_since(&run, 1).unwrap();
    assert_eq!(later.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(store.events_since(&run, 3).unwrap().is_empty());
    assert!(store.events_since(&run, u64::MAX).unwrap().is_empty());

    assert_eq!(store.append(&run, "run.paused", &json!(null)).unwrap(), 4);
    store.verify(&run).unwrap();
}

#[test]
fn the_journal_survives_reopening() {
    let (tmp, store, run) = journal();
    let before = store.events(&run).unwrap();
    drop(store);
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    assert_eq!(store.events(&run).unwrap(), before);
    assert_eq!(store.append(&run, "run.resumed", &json!({})).unwrap(), 4);
    store.verify(&run).unwrap();
}

#[test]
fn a_run_with_no_events_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    store.verify(&run).unwrap();
    assert!(store.events(&run).unwrap().is_empty());
}

#[test]
fn runs_have_separate_journals() {
    let (_tmp, mut store, first) = journal();
    let second = store.create_run(&new_run()).unwrap();
    assert_ne!(first, second);
    assert_eq!(store.append(&second, "run.started", &json!({})).unwrap(), 1);
    store.verify(&first).unwrap();
    store.verify(&second).unwrap();
}

#[test]
fn bad_kinds_and_unknown_runs_are_refused() {
    let (_tmp, mut store, run) = journal();
    let error = store.append(&run, "Step Started", &json!({})).unwrap_err();
    assert!(matches!(error, StoreError::InvalidKind { .. }), "{error:?}");
    assert!(error.to_string().contains("lowercase letters"), "{error}");

    let nobody = RunId::new("20000101-000000-0000");
    let error = store
        .append(&nobody, "run.started", &json!({}))
        .unwrap_err();
    assert!(matches!(error, StoreError::UnknownRun { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "no run `20000101-000000-0000` in this store; `rbx runs` lists the runs it holds"
    );
    assert!(matches!(
        store.events(&nobody),
        Err(StoreError::UnknownRun { .. })
    ));
    assert!(matches!(
        store.verify(&nobody),
        Err(StoreError::UnknownRun { .. })
    ));
    assert_eq!(store.events(&run).unwrap().len(), 3);
}

#[test]
fn events_cannot_be_changed_or_deleted() {
    let (_tmp, store, run) = journal();
    let conn = Connection::open(store.path()).unwrap();
    let update = conn
        .execute("UPDATE events SET payload = '{}' WHERE seq = 2", [])
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    store.verify(&run).unwrap();
}

#[test]
fn a_changed_payload_is_reported_at_its_event() {
    let (_tmp, store, run) = journal();
    tamper(
        &store,
        r#"UPDATE events SET payload = '{"node":"smoke.version","outcome":"failed"}' WHERE seq = 3"#,
    );
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 3);
    assert!(reason.contains("does not match its hash"), "{reason}");
    let message = store.verify(&run).unwrap_err().to_string();
    assert!(message.contains(&format!("run {run}")), "{message}");
    assert!(message.contains("event 3"), "{message}");
}

/// The hash of an event as [`rbx_store::Event::hash`] documents it.
fn documented_hash(prev_hash: &str, seq: u64, time: &str, kind: &str, payload: &str) -> String {
    let digest = Sha256::digest(format!("{prev_hash}|{seq}|{time}|{kind}|{payload}"));
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn event_hashes_are_as_documented() {
    let (_tmp, store, run) = journal();
    for event in store.events(&run).unwrap() {
        let payload = event.payload.to_string();
        let hash = documented_hash(
            &event.prev_hash,
            event.seq,
            &event.time,
            &event.kind,
            &payload,
        );
        assert_eq!(hash, event.hash, "event {}", event.seq);
    }
}

#[test]
fn a_rehashed_event_is_reported_at_the_one_after_it() {
    let (_tmp, store, run) = journal();
    // Changing an event together with its own hash moves the break to the
    // event that chains to it.
    let second = store.events(&run).unwrap().remove(1);
    let payload = second.payload.to_string();
    let forged = documented_hash(&second.prev_hash, 2, &second.time, "step.skipped", &payload);
    tamper(
        &store,
        &format!("UPDATE events SET kind = 'step.skipped', hash = '{forged}' WHERE seq = 2"),
    );
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 3);
    assert!(reason.contains("not the hash of event 2"), "{reason}");
}

#[test]
fn removed_events_are_reported() {
    let (_tmp, store, run) = journal();
    tamper(&store, "DELETE FROM events WHERE seq = 2");
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 2);
    assert!(reason.contains("missing"), "{reason}");

    let (_tmp, store, run) = journal();
    tamper(&store, "DELETE FROM events WHERE seq = 3");
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 3);
    assert!(reason.contains("removed"), "{reason}");
}

#[test]
fn changed_inputs_or_sources_are_reported() {
    let (_tmp, store, run) = journal();
    tamper(&store, r#"UPDATE runs SET inputs = '{"forge":"evil"}'"#);
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 1);
    assert!(reason.contains("header"), "{reason}");

    let (_tmp, store, run) = journal();
    tamper(
        &store,
        "UPDATE sources SET text = 'stage smoke \"Smoke\" { }' WHERE position = 1",
    );
    let (seq, reason) = broken_at(&store, &run);
    assert_eq!(seq, 0);
    assert!(reason.contains("source snapshot"), "{reason}");
}

#[test]
fn a_deferred_event_is_in_the_chain_at_once_and_durable_with_the_next_commit() {
    let (tmp, mut store, run) = journal();
    assert!(!store.unsynced());
    let seq = store
        .append_deferred(&run, "node_finished", &json!({ "node": "s.a" }))
        .expect("the deferred event is appended");
    assert_eq!(seq, 4);
    assert!(store.unsynced(), "a deferred event waits for a flush");
    // Written, so another process reads it before any flush.
    let other = SqliteStore::open(tmp.path()).expect("a second handle opens");
    assert_eq!(other.events(&run).unwrap()[3].kind, "node_finished");
    // The next durable append covers it; so does `sync` alone.
    store
        .append(&run, "node_started", &json!({ "node": "s.b" }))
        .expect("the durable event is appended");
    assert!(
        !store.unsynced(),
        "a durable commit flushes what came before"
    );
    store
        .append_deferred(&run, "node_finished", &json!({ "node": "s.b" }))
        .expect("appended");
    store.sync().expect("the flush succeeds");
    assert!(!store.unsynced());
    store.verify(&run).expect("the chain holds every event");
    assert_eq!(
        other
            .events(&run)
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        [
            "run.started",
            "step.started",
            "step.finished",
            "node_finished",
            "node_started",
            "node_finished"
        ]
    );
}

#[test]
fn a_refused_deferred_event_writes_nothing_and_leaves_nothing_to_flush() {
    let (_tmp, mut store, run) = journal();
    let refused = store.append_deferred(&run, "Bad Kind!", &json!({}));
    assert!(matches!(refused, Err(StoreError::InvalidKind { .. })));
    assert!(!store.unsynced(), "nothing was written, nothing waits");
    assert_eq!(store.events(&run).unwrap().len(), 3);
}
