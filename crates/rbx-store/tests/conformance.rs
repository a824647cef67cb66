//! One suite, two backends: what every store promises, checked against
//! SQLite in a temporary directory and against a real PostgreSQL server
//! (a throwaway cluster this test binary starts, a fresh database per
//! test). Each case below runs once per backend (`sqlite::…`,
//! `postgres::…`).
#![expect(
    clippy::unwrap_used,
    reason = "every case is a test, which the macro below runs once per backend"
)]

mod support;

use std::time::{Duration, Instant};

use rbx_pgtest::{Cluster, Database};
use rbx_store::{Holder, LockOutcome, PostgresStore, RunId, SqliteStore, Store, StoreError};
use serde_json::json;
use support::new_run;

/// A backend's store, and what a test needs to open it again or to edit it
/// behind rbx's back.
enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(Database),
}

impl Fixture {
    fn sqlite() -> Fixture {
        Fixture::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    fn postgres() -> Fixture {
        Fixture::Postgres(Cluster::shared().database())
    }

    /// A new connection to the store, as another process would open it.
    fn open(&self) -> Box<dyn Store> {
        match self {
            Fixture::Sqlite(dir) => Box::new(SqliteStore::open(dir.path()).expect("the store")),
            Fixture::Postgres(db) => Box::new(PostgresStore::open(&db.url()).expect("the store")),
        }
    }

    /// Runs `sql` with the journal's guards off, as someone with full
    /// rights editing the database by hand.
    fn tamper(&self, sql: &str) {
        match self {
            Fixture::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("rbx.db")).unwrap();
                conn.execute_batch(
                    "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
                )
                .unwrap();
                conn.execute_batch(sql).expect("the tampering applies");
            }
            Fixture::Postgres(db) => {
                db.admin()
                    .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
                    .expect("the tampering applies");
            }
        }
    }
}

/// Each case, once against each backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(&super::Fixture::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::$case(&super::Fixture::postgres()) } )*
        }
    };
}

conformance!(
    appended_events_come_back_chained,
    the_journal_survives_another_connection,
    runs_have_separate_journals,
    bad_kinds_and_unknown_runs_are_refused,
    an_edited_event_breaks_the_chain,
    a_journal_cut_short_is_reported,
    an_inserted_event_is_found,
    outputs_and_files_are_bound_to_the_journal,
    listings_show_status_and_last_event,
    a_stopping_event_sets_the_status_with_it,
    a_deferred_event_is_written_at_once_and_synced_by_the_next_durable_write,
    one_driver_per_run,
    a_dead_driver_on_this_host_is_taken_over,
    a_driver_on_another_host_keeps_its_run,
    a_waiter_hears_of_an_event_another_process_commits,
    concurrent_appenders_lose_nothing,
    the_journal_from_the_last_event_of_a_kind_is_its_checked_end,
    the_end_of_a_journal_read_from_a_kind_reports_damage,
    a_run_under_a_chosen_id_is_created_once,
);

/// A store with one run of three events.
fn journal(fixture: &Fixture) -> (Box<dyn Store>, RunId) {
    let mut store = fixture.open();
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
        store.append(&run, kind, &payload).expect("appended");
    }
    (store, run)
}

fn broken_at(store: &dyn Store, run: &RunId) -> (u64, String) {
    match store.verify(run) {
        Err(StoreError::ChainBroken { seq, reason, .. }) => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

fn appended_events_come_back_chained(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let events = store.events(&run).unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        events[1].payload,
        json!({ "node": "smoke.version", "attempt": 1 })
    );
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[0].time <= pair[1].time);
    }
    for event in &events {
        assert_eq!(event.hash.len(), 64);
        assert_eq!(event.time.len(), 24, "{}", event.time);
        assert!(event.time.ends_with('Z') && event.time.as_bytes()[19] == b'.');
    }
    store.verify(&run).unwrap();
    let later = store.events_since(&run, 1).unwrap();
    assert_eq!(later.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(store.events_since(&run, u64::MAX).unwrap().is_empty());
    assert_eq!(store.append(&run, "run.paused", &json!(null)).unwrap(), 4);
    store.verify(&run).unwrap();
}

fn the_journal_survives_another_connection(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    let before = store.events(&run).unwrap();
    drop(store);
    let mut store = fixture.open();
    assert_eq!(store.events(&run).unwrap(), before);
    assert_eq!(store.append(&run, "run.resumed", &json!({})).unwrap(), 4);
    store.verify(&run).unwrap();
    assert_eq!(store.sources(&run).unwrap(), new_run().sources);
}

fn runs_have_separate_journals(fixture: &Fixture) {
    let (mut store, first) = journal(fixture);
    let second = store.create_run(&new_run()).unwrap();
    assert_ne!(first, second);
    assert_eq!(store.append(&second, "run.started", &json!({})).unwrap(), 1);
    store.verify(&first).unwrap();
    store.verify(&second).unwrap();
}

/// A child run's id is chosen by its parent before the run exists; asking
/// again after a crash finds the first run and writes nothing, in this
/// process or another.
fn a_run_under_a_chosen_id_is_created_once(fixture: &Fixture) {
    let (mut store, parent) = journal(fixture);
    let child = RunId::new(format!("{parent}/deploy.eu[#1]"));
    assert!(store.create_run_as(&child, &new_run()).unwrap());
    assert_eq!(store.append(&child, "run.started", &json!({})).unwrap(), 1);
    let mut other = new_run();
    other.title = "another title".to_string();
    assert!(!store.create_run_as(&child, &other).unwrap());
    drop(store);
    let mut store = fixture.open();
    assert!(!store.create_run_as(&child, &other).unwrap());
    let summary = store.run(&child).unwrap().expect("the child run is kept");
    assert_eq!(summary.title, new_run().title);
    assert_eq!(store.events(&child).unwrap().len(), 1);
    assert_eq!(store.sources(&child).unwrap(), new_run().sources);
    store.verify(&child).unwrap();
    store.verify(&parent).unwrap();
    let ids: Vec<RunId> = store.runs().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.iter().filter(|id| **id == child).count(), 1);
}

fn bad_kinds_and_unknown_runs_are_refused(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let error = store.append(&run, "Step Started", &json!({})).unwrap_err();
    assert!(matches!(error, StoreError::InvalidKind { .. }), "{error:?}");
    let nobody = RunId::new("20000101-000000-0000");
    for error in [
        store
            .append(&nobody, "run.started", &json!({}))
            .unwrap_err(),
        store.events(&nobody).unwrap_err(),
        store.verify(&nobody).unwrap_err(),
        store.set_status(&nobody, "running", None).unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::UnknownRun { .. }), "{error:?}");
    }
    assert!(store.run(&nobody).unwrap().is_none());
    // Nothing of the refused appends was written.
    assert_eq!(store.events(&run).unwrap().len(), 3);
}

fn an_edited_event_breaks_the_chain(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    fixture.tamper(&format!(
        "UPDATE events SET payload = '{{\"node\":\"smoke.version\",\"attempt\":2}}' \
         WHERE run_id = '{run}' AND seq = 2"
    ));
    let (seq, reason) = broken_at(store.as_ref(), &run);
    assert_eq!(seq, 2);
    assert!(reason.contains("does not match its hash"), "{reason}");
}

fn a_journal_cut_short_is_reported(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    fixture.tamper(&format!(
        "DELETE FROM events WHERE run_id = '{run}' AND seq = 3"
    ));
    let (seq, reason) = broken_at(store.as_ref(), &run);
    assert_eq!(seq, 3);
    assert!(reason.contains("cut short"), "{reason}");
}

fn an_inserted_event_is_found(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    let last = store.events(&run).unwrap().pop().unwrap();
    fixture.tamper(&format!(
        "INSERT INTO events (run_id, seq, time, kind, payload, prev_hash, hash) \
         VALUES ('{run}', 4, '{}', 'run.ended', '{{}}', '{}', '{}')",
        last.time, last.hash, last.hash
    ));
    let (seq, _) = broken_at(store.as_ref(), &run);
    assert_eq!(seq, 4);
}

/// [`journal`] with two more events of kind `mark` among others: 4 `mark`,
/// 5, 6 `mark`, 7.
fn marked_journal(fixture: &Fixture) -> (Box<dyn Store>, RunId) {
    let (mut store, run) = journal(fixture);
    for kind in ["mark", "step.started", "mark", "step.finished"] {
        store.append(&run, kind, &json!({ "kind": kind })).unwrap();
    }
    (store, run)
}

fn the_journal_from_the_last_event_of_a_kind_is_its_checked_end(fixture: &Fixture) {
    let (mut store, run) = marked_journal(fixture);
    let whole = store.events(&run).unwrap();
    let end = store.journal_from_last(&run, "mark").unwrap().unwrap();
    assert_eq!(end, whole[5..], "from event 6, the newest `mark`");
    assert_eq!(store.journal_from_last(&run, "nothing").unwrap(), None);
    // The same end with the first payload as the text that was hashed.
    let tail = store.tail_from_last(&run, "mark").unwrap().unwrap();
    assert_eq!(tail.seq, whole[5].seq);
    let text: serde_json::Value = serde_json::from_str(&tail.payload).unwrap();
    assert_eq!(text, whole[5].payload);
    assert_eq!(tail.rest, whole[6..]);
    assert_eq!(store.tail_from_last(&run, "nothing").unwrap(), None);
    // The newest event of the kind may be the journal's last.
    let seq = store.append(&run, "mark", &json!({})).unwrap();
    let end = store.journal_from_last(&run, "mark").unwrap().unwrap();
    assert_eq!(end.iter().map(|e| e.seq).collect::<Vec<_>>(), [seq]);
    // The first event may be of the kind, linked to the run's header.
    let other = store.create_run(&new_run()).unwrap();
    store.append(&other, "mark", &json!({})).unwrap();
    let end = store.journal_from_last(&other, "mark").unwrap().unwrap();
    assert_eq!(end.len(), 1);
    assert!(matches!(
        store.journal_from_last(&RunId::new("nope"), "mark"),
        Err(StoreError::UnknownRun { .. })
    ));
}

fn the_end_of_a_journal_read_from_a_kind_reports_damage(fixture: &Fixture) {
    let tail_broken_at = |store: &dyn Store, run: &RunId| match store.journal_from_last(run, "mark")
    {
        Err(StoreError::ChainBroken { seq, reason, .. }) => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    };
    // The newest `mark` itself, the event before it (its link), an event
    // after it, and the end of the journal.
    for (edit, at) in [
        (
            "UPDATE events SET payload = '{}' WHERE run_id = '{run}' AND seq = 6",
            6,
        ),
        (
            "UPDATE events SET payload = '{}' WHERE run_id = '{run}' AND seq = 5",
            5,
        ),
        (
            "UPDATE events SET payload = '{}' WHERE run_id = '{run}' AND seq = 7",
            7,
        ),
        ("DELETE FROM events WHERE run_id = '{run}' AND seq = 7", 7),
    ] {
        let (store, run) = marked_journal(fixture);
        fixture.tamper(&edit.replace("{run}", run.as_str()));
        let (seq, reason) = tail_broken_at(store.as_ref(), &run);
        assert_eq!(seq, at, "{edit}: {reason}");
        assert!(
            matches!(
                store.tail_from_last(&run, "mark"),
                Err(StoreError::ChainBroken { seq, .. }) if seq == at
            ),
            "{edit}: the tail with its payload as text is checked alike"
        );
        if edit.starts_with("DELETE") {
            assert!(reason.contains("cut short"), "{reason}");
        }
    }
    // An event before the link is not read: `verify` reports it.
    let (store, run) = marked_journal(fixture);
    fixture.tamper(&format!(
        "UPDATE events SET payload = '{{}}' WHERE run_id = '{run}' AND seq = 2"
    ));
    assert!(store.journal_from_last(&run, "mark").is_ok());
    assert_eq!(broken_at(store.as_ref(), &run).0, 2);
}

fn outputs_and_files_are_bound_to_the_journal(fixture: &Fixture) {
    let mut store = fixture.open();
    let run = store.create_run(&new_run()).unwrap();
    let digest = store
        .put_output(&run, "smoke.version", 1, "stdout", b"forge 2.0", b"", 9)
        .unwrap();
    let file = store
        .put_attachment(&run, "smoke.tui", "shot", "screen.png", &[0, 159, 146, 150])
        .unwrap();
    store
        .append(
            &run,
            "node_finished",
            &json!({ "node": "smoke.version", "attempt": 1, "outputs": { "stdout": digest } }),
        )
        .unwrap();
    store
        .append(
            &run,
            "node_finished",
            &json!({ "node": "smoke.tui", "attachments": { "shot": file } }),
        )
        .unwrap();
    store.verify(&run).unwrap();
    let kept = store
        .output(&run, "smoke.version", 1, "stdout")
        .unwrap()
        .unwrap();
    assert_eq!((kept.head.as_slice(), kept.total), (&b"forge 2.0"[..], 9));
    assert!(
        store
            .output(&run, "smoke.version", 2, "stdout")
            .unwrap()
            .is_none()
    );
    let (name, hash, bytes) = store
        .attachment(&run, "smoke.tui", "shot")
        .unwrap()
        .unwrap();
    assert_eq!(
        (name.as_str(), hash.as_str(), bytes.as_slice()),
        ("screen.png", file.as_str(), &[0, 159, 146, 150][..])
    );

    fixture.tamper(&format!(
        "UPDATE outputs SET total = 10 WHERE run_id = '{run}'"
    ));
    let (seq, reason) = broken_at(store.as_ref(), &run);
    assert_eq!(seq, 1);
    assert!(reason.contains("the output was changed"), "{reason}");
}

fn listings_show_status_and_last_event(fixture: &Fixture) {
    let (mut store, first) = journal(fixture);
    let second = store.create_run(&new_run()).unwrap();
    store.set_status(&first, "paused", None).unwrap();
    store
        .set_status(&second, "waiting", Some("2026-11-28T10:00:00.000Z"))
        .unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(
        runs.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&first, &second]
    );
    let one = &runs[0];
    assert_eq!(
        (
            one.status.as_str(),
            one.started_by.as_str(),
            one.host.as_str()
        ),
        ("paused", "alice", "laptop")
    );
    assert_eq!(one.inputs, new_run().inputs);
    let last = one.last_event.as_ref().unwrap();
    assert_eq!((last.seq, last.kind.as_str()), (3, "step.finished"));
    assert!(runs[1].last_event.is_none());
    assert_eq!(
        runs[1].next_due.as_deref(),
        Some("2026-11-28T10:00:00.000Z")
    );
    let latest = store.latest_with_status_in(&["paused", "waiting"]).unwrap();
    assert_eq!(latest.map(|r| r.id), Some(second.clone()));
    let paused = store.latest_with_status_in(&["paused"]).unwrap();
    assert_eq!(paused.map(|r| r.id), Some(first));
    assert!(store.latest_with_status_in(&[]).unwrap().is_none());
}

fn a_stopping_event_sets_the_status_with_it(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let seq = store
        .append_stopping(
            &run,
            "run_waiting",
            &json!({}),
            "waiting",
            Some("2030-01-01T00:00:00.000Z"),
        )
        .unwrap();
    assert_eq!(seq, 4);
    let summary = store.run(&run).unwrap().unwrap();
    assert_eq!(summary.status, "waiting");
    assert_eq!(
        summary.next_due.as_deref(),
        Some("2030-01-01T00:00:00.000Z")
    );
    assert_eq!(summary.last_event.unwrap().kind, "run_waiting");
}

fn a_deferred_event_is_written_at_once_and_synced_by_the_next_durable_write(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    assert!(!store.unsynced());
    let seq = store
        .append_deferred(&run, "node_finished", &json!({ "node": "a" }))
        .unwrap();
    assert_eq!(seq, 4);
    assert!(store.unsynced());
    // Another process reads it at once: it is written, only not flushed.
    assert_eq!(fixture.open().events(&run).unwrap().len(), 4);
    store
        .append(&run, "node_started", &json!({ "node": "b" }))
        .unwrap();
    assert!(!store.unsynced(), "a durable write covers it");
    store
        .append_deferred(&run, "node_finished", &json!({ "node": "b" }))
        .unwrap();
    store.sync().unwrap();
    assert!(!store.unsynced());
    store.verify(&run).unwrap();
}

fn holder(pid: u32, host: &str) -> Holder {
    Holder {
        pid,
        host: host.to_owned(),
        since: "2026-11-28T08:30:12.345Z".to_owned(),
    }
}

/// The pid of a process that has ended and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn one_driver_per_run(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let me = Holder::this_process("laptop");
    assert_eq!(store.lock(&run, &me).unwrap(), LockOutcome::Acquired);
    let mut other = fixture.open();
    let error = other.lock(&run, &holder(dead_pid(), "desk")).unwrap_err();
    assert!(
        matches!(&error, StoreError::Locked { holder, .. } if *holder == me),
        "{error:?}"
    );
    let (seen, alive) = other.holder(&run, "desk").unwrap().unwrap();
    assert_eq!((seen, alive), (me.clone(), true));
    // The holder appends; a release frees the run for the next.
    store.append(&run, "run.resumed", &json!({})).unwrap();
    store.unlock(&run, me.pid).unwrap();
    assert!(other.holder(&run, "desk").unwrap().is_none());
    let next = Holder::this_process("desk");
    assert_eq!(other.lock(&run, &next).unwrap(), LockOutcome::Acquired);
}

fn a_dead_driver_on_this_host_is_taken_over(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let gone = holder(dead_pid(), "laptop");
    store.lock(&run, &gone).unwrap();
    let mut other = fixture.open();
    assert!(!other.holder(&run, "laptop").unwrap().unwrap().1);
    let me = Holder::this_process("laptop");
    assert_eq!(other.lock(&run, &me).unwrap(), LockOutcome::TookOver(gone));
}

fn a_driver_on_another_host_keeps_its_run(fixture: &Fixture) {
    let (mut store, run) = journal(fixture);
    let remote = holder(dead_pid(), "build-server");
    store.lock(&run, &remote).unwrap();
    let mut other = fixture.open();
    let error = other
        .lock(&run, &Holder::this_process("laptop"))
        .unwrap_err();
    assert!(matches!(error, StoreError::Locked { holder, .. } if holder == remote));
}

fn a_waiter_hears_of_an_event_another_process_commits(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    // Nothing new: the wait ends at its timeout, saying so.
    let started = Instant::now();
    assert!(
        !store
            .wait_for_events(&run, 3, Duration::from_millis(300))
            .unwrap()
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    // An event already there ends the wait at once.
    assert!(
        store
            .wait_for_events(&run, 2, Duration::from_secs(60))
            .unwrap()
    );

    let mut writer = fixture.open();
    let id = run.clone();
    let answer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        writer
            .append(&id, "person.answered", &json!({ "node": "smoke.tui" }))
            .unwrap()
    });
    assert!(
        store
            .wait_for_events(&run, 3, Duration::from_secs(60))
            .unwrap()
    );
    assert_eq!(answer.join().unwrap(), 4);
    assert_eq!(
        store.events_since(&run, 3).unwrap()[0].kind,
        "person.answered"
    );
}

fn concurrent_appenders_lose_nothing(fixture: &Fixture) {
    let (store, run) = journal(fixture);
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let mut store = fixture.open();
            let run = run.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|n| {
                        store
                            .append(&run, "note", &json!({ "writer": writer, "n": n }))
                            .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (4..=103).collect::<Vec<u64>>());
    assert_eq!(store.events(&run).unwrap().len(), 103);
    store.verify(&run).unwrap();
}
