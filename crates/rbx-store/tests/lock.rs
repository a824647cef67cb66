//! One process drives a run at a time.

mod support;

use std::process::Command;

use rbx_store::{Holder, LockOutcome, RunId, SqliteStore, Store, StoreError};
use support::new_run;

fn store_with_run() -> (tempfile::TempDir, SqliteStore, RunId) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut store = SqliteStore::open(tmp.path()).expect("the store opens");
    let run = store.create_run(&new_run()).expect("the run is created");
    (tmp, store, run)
}

fn holder(pid: u32, host: &str) -> Holder {
    Holder {
        pid,
        host: host.to_owned(),
        since: "2026-11-28T08:30:12.345Z".to_owned(),
    }
}

/// The pid of a process that has ended and been reaped, so that no process
/// has it (until the system hands it out again, which takes a while).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("`true` starts");
    let pid = child.id();
    child.wait().expect("`true` ends");
    pid
}

#[test]
fn a_free_run_is_acquired_and_a_live_holder_keeps_it() {
    let (_tmp, mut store, run) = store_with_run();
    let me = holder(std::process::id(), "laptop");
    assert_eq!(store.lock(&run, &me).unwrap(), LockOutcome::Acquired);

    let other = holder(dead_pid(), "laptop");
    let error = store.lock(&run, &other).unwrap_err();
    match &error {
        StoreError::Locked { holder, .. } => assert_eq!(*holder, me),
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&format!("process {} on laptop", std::process::id())),
        "{message}"
    );
}

#[test]
fn a_dead_holder_on_this_host_is_taken_over() {
    let (_tmp, mut store, run) = store_with_run();
    let gone = holder(dead_pid(), "laptop");
    store.lock(&run, &gone).unwrap();

    let me = Holder::this_process("laptop");
    assert_eq!(
        store.lock(&run, &me).unwrap(),
        LockOutcome::TookOver(gone.clone())
    );
    // The lock is now this process's: the dead one cannot release it.
    store.unlock(&run, gone.pid).unwrap();
    assert!(matches!(
        store.lock(&run, &holder(dead_pid(), "laptop")),
        Err(StoreError::Locked { holder, .. }) if holder == me
    ));
}

#[test]
fn a_holder_on_another_host_is_never_taken_over() {
    let (_tmp, mut store, run) = store_with_run();
    let remote = holder(dead_pid(), "build-server");
    store.lock(&run, &remote).unwrap();
    let error = store
        .lock(&run, &Holder::this_process("laptop"))
        .unwrap_err();
    assert!(matches!(error, StoreError::Locked { holder, .. } if holder == remote));
}

#[test]
fn a_holder_with_this_pid_is_an_earlier_process() {
    let (_tmp, mut store, run) = store_with_run();
    let earlier = holder(std::process::id(), "laptop");
    store.lock(&run, &earlier).unwrap();
    let me = Holder::this_process("laptop");
    assert_eq!(
        store.lock(&run, &me).unwrap(),
        LockOutcome::TookOver(earlier)
    );
}

#[test]
fn unlocking_frees_the_run_for_the_next_process() {
    let (tmp, mut store, run) = store_with_run();
    let me = Holder::this_process("laptop");
    store.lock(&run, &me).unwrap();
    store.unlock(&run, me.pid + 1).unwrap();
    assert!(matches!(
        store.lock(&run, &holder(dead_pid(), "laptop")),
        Err(StoreError::Locked { .. })
    ));
    store.unlock(&run, me.pid).unwrap();

    // Another connection, as another process would have, finds it free.
    let mut other = SqliteStore::open(tmp.path()).unwrap();
    let next = holder(dead_pid(), "laptop");
    assert_eq!(other.lock(&run, &next).unwrap(), LockOutcome::Acquired);
    // And when that process dies, this one takes the run back.
    assert_eq!(store.lock(&run, &me).unwrap(), LockOutcome::TookOver(next));
}

#[test]
fn locking_an_unknown_run_is_refused() {
    let (_tmp, mut store, _run) = store_with_run();
    let error = store
        .lock(&RunId::new("nope"), &Holder::this_process("laptop"))
        .unwrap_err();
    assert!(matches!(error, StoreError::UnknownRun { .. }), "{error:?}");
}
