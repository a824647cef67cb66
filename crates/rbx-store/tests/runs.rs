//! Runs as listings see them, their source snapshots and their captured
//! output.

mod support;

use rbx_store::{LastEvent, RunId, SqliteStore, Store, StoreError, hash_sources};
use serde_json::json;
use support::new_run;

#[test]
fn a_store_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<SqliteStore>();
    assert_send::<Box<dyn Store>>();
}

#[test]
fn a_new_run_is_listed_with_what_it_was_started_with() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let started = new_run();
    let run = store.create_run(&started).unwrap();

    let id = run.as_str();
    assert_eq!(id.len(), "20261128-083012-7f3a".len(), "{id}");
    assert!(id.chars().enumerate().all(|(i, c)| match i {
        8 | 15 => c == '-',
        16.. => c.is_ascii_hexdigit(),
        _ => c.is_ascii_digit(),
    }));

    let summary = store.run(&run).unwrap().unwrap();
    assert_eq!(summary.id, run);
    assert_eq!(summary.runbook_id, "post_cutover");
    assert_eq!(summary.title, started.title);
    assert_eq!(summary.entry, "cutover.runbook");
    assert_eq!(summary.source_hash, hash_sources(&started.sources));
    assert_eq!(summary.inputs, started.inputs);
    assert_eq!(summary.started_by, "alice");
    assert_eq!(summary.host, "laptop");
    assert_eq!(summary.status, "created");
    assert_eq!(summary.next_due, None);
    assert_eq!(summary.last_event, None);
    assert!(summary.started_at.ends_with('Z'));
    assert_eq!(store.sources(&run).unwrap(), started.sources);
    assert_eq!(store.runs().unwrap(), [summary]);
}

#[test]
fn listings_show_the_last_event_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let first = store.create_run(&new_run()).unwrap();
    let second = store.create_run(&new_run()).unwrap();
    store.append(&first, "run.started", &json!({})).unwrap();
    store.append(&first, "run.paused", &json!({})).unwrap();
    store
        .set_status(&first, "waiting", Some("2026-11-29T08:30:00Z"))
        .unwrap();
    store.set_status(&second, "succeeded", None).unwrap();

    let runs = store.runs().unwrap();
    assert_eq!(
        runs.iter().map(|run| run.id.clone()).collect::<Vec<_>>(),
        [first.clone(), second.clone()]
    );
    let last = runs[0].last_event.clone().unwrap();
    assert_eq!((last.seq, last.kind.as_str()), (2, "run.paused"));
    assert_eq!(
        Some(last),
        store.events(&first).unwrap().last().map(|event| LastEvent {
            seq: event.seq,
            kind: event.kind.clone(),
            time: event.time.clone(),
        })
    );
    assert_eq!(runs[0].status, "waiting");
    assert_eq!(runs[0].next_due.as_deref(), Some("2026-11-29T08:30:00Z"));
    assert_eq!(runs[1].status, "succeeded");

    let unfinished = ["created", "running", "waiting", "failed"];
    let latest = store.latest_with_status_in(&unfinished).unwrap().unwrap();
    assert_eq!(latest.id, first);
    let third = store.create_run(&new_run()).unwrap();
    let latest = store.latest_with_status_in(&unfinished).unwrap().unwrap();
    assert_eq!(latest.id, third);
    assert_eq!(
        store
            .latest_with_status_in(&["succeeded"])
            .unwrap()
            .unwrap()
            .id,
        second
    );
    assert_eq!(store.latest_with_status_in(&["cancelled"]).unwrap(), None);
    assert_eq!(store.latest_with_status_in(&[]).unwrap(), None);
}

#[test]
fn unknown_runs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let nobody = RunId::new("19990101-000000-dead");
    assert_eq!(store.run(&nobody).unwrap(), None);
    for error in [
        store.set_status(&nobody, "failed", None).unwrap_err(),
        store.sources(&nobody).unwrap_err(),
        store
            .put_output(&nobody, "smoke.version", 1, "stdout", b"", b"", 0)
            .unwrap_err(),
        store
            .output(&nobody, "smoke.version", 1, "stdout")
            .unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::UnknownRun { .. }), "{error:?}");
        assert!(
            error.to_string().contains("19990101-000000-dead"),
            "{error}"
        );
    }
}

#[test]
fn outputs_are_kept_per_attempt_and_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(tmp.path()).unwrap();
    let run = store.create_run(&new_run()).unwrap();
    assert_eq!(
        store.output(&run, "smoke.version", 1, "stdout").unwrap(),
        None
    );

    store
        .put_output(&run, "smoke.version", 1, "stdout", b"forge 2.0", b"", 9)
        .unwrap();
    store
        .put_output(
            &run,
            "smoke.version",
            1,
            "stderr",
            b"warn\xff",
            b"done",
            1 << 20,
        )
        .unwrap();
    store
        .put_output(&run, "smoke.version", 2, "stdout", b"retry", b"", 5)
        .unwrap();

    let stdout = store
        .output(&run, "smoke.version", 1, "stdout")
        .unwrap()
        .unwrap();
    assert_eq!(
        (stdout.head.as_slice(), stdout.total),
        (&b"forge 2.0"[..], 9)
    );
    assert!(!stdout.is_truncated());
    let stderr = store
        .output(&run, "smoke.version", 1, "stderr")
        .unwrap()
        .unwrap();
    assert_eq!(stderr.head, b"warn\xff");
    assert_eq!(stderr.tail, b"done");
    assert!(stderr.is_truncated());

    // A capture saved again as it grows replaces the earlier one.
    store
        .put_output(
            &run,
            "smoke.version",
            1,
            "stdout",
            b"forge 2.0",
            b"(rust)",
            4096,
        )
        .unwrap();
    let stdout = store
        .output(&run, "smoke.version", 1, "stdout")
        .unwrap()
        .unwrap();
    assert_eq!(
        (stdout.tail.as_slice(), stdout.total),
        (&b"(rust)"[..], 4096)
    );
    let retry = store
        .output(&run, "smoke.version", 2, "stdout")
        .unwrap()
        .unwrap();
    assert_eq!(retry.head, b"retry");
}
