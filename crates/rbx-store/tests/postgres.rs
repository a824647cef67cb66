//! What only the shared store does: the database itself keeps the record
//! append-only and chained, for operators and owners alike; roles and
//! their grants; TLS; leases that lapse and fence.

mod support;

use std::time::Duration;

use rbx_pgtest::{Cluster, Database};
use rbx_store::{Holder, LockOutcome, PostgresStore, RunId, Store, StoreError};
use serde_json::json;
use support::new_run;

/// A database whose schema the owner (the superuser) made, with one run of
/// two events.
fn database_with_run() -> (Database, RunId) {
    let db = Cluster::shared().database();
    let mut owner = PostgresStore::open(&db.url()).expect("the owner opens the store");
    let run = owner.create_run(&new_run()).expect("the run is created");
    owner
        .append(&run, "run.started", &json!({}))
        .expect("appended");
    owner
        .append(&run, "node_started", &json!({ "node": "a" }))
        .expect("appended");
    (db, run)
}

/// The message of a statement the database refused.
fn refused(client: &mut postgres::Client, sql: &str) -> String {
    match client.batch_execute(sql) {
        Ok(()) => panic!("`{sql}` was allowed"),
        Err(error) => error
            .as_db_error()
            .map_or_else(|| error.to_string(), |db| db.message().to_owned()),
    }
}

#[test]
fn an_operator_drives_runs_but_cannot_change_or_remove_the_record() {
    let (db, run) = database_with_run();
    let url = db.operator("olivia");
    let mut operator = PostgresStore::open(&url).expect("an operator opens a current store");
    assert_eq!(operator.identity().as_deref(), Some("olivia"));
    // Everything a driver does is allowed.
    let own = operator.create_run(&new_run()).unwrap();
    operator
        .lock(&own, &Holder::this_process("laptop"))
        .unwrap();
    operator.append(&own, "run.started", &json!({})).unwrap();
    operator
        .put_output(&own, "a", 1, "stdout", b"ok", b"", 2)
        .unwrap();
    operator
        .put_output(&own, "a", 1, "stdout", b"ok!", b"", 3)
        .unwrap();
    operator
        .put_attachment(&own, "a", "shot", "s.png", b"png")
        .unwrap();
    operator
        .append_stopping(&own, "run.ended", &json!({}), "ended:done", None)
        .unwrap();
    operator.unlock(&own, std::process::id()).unwrap();
    operator.verify(&own).unwrap();

    // Nothing recorded can be changed or removed with the operator's role.
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for sql in [
        format!("UPDATE events SET payload = '{{}}' WHERE run_id = '{run}'"),
        format!("DELETE FROM events WHERE run_id = '{run}'"),
        "TRUNCATE events".to_owned(),
        format!("DELETE FROM runs WHERE id = '{run}'"),
        format!("UPDATE sources SET text = '' WHERE run_id = '{run}'"),
        format!("UPDATE runs SET inputs = '{{}}' WHERE id = '{run}'"),
        format!("UPDATE runs SET head_seq = 1 WHERE id = '{run}'"),
        "DROP TABLE events".to_owned(),
        "ALTER TABLE events DISABLE TRIGGER events_append_only".to_owned(),
    ] {
        let message = refused(&mut raw, &sql);
        assert!(
            message.contains("permission denied") || message.contains("must be owner"),
            "{sql}: {message}"
        );
    }
    operator.verify(&run).unwrap();
}

#[test]
fn even_the_owner_cannot_edit_events_or_break_the_chain() {
    let (db, run) = database_with_run();
    let mut owner = db.admin();
    for sql in [
        format!("UPDATE events SET kind = 'x' WHERE run_id = '{run}' AND seq = 2"),
        format!("DELETE FROM events WHERE run_id = '{run}' AND seq = 2"),
        "TRUNCATE events CASCADE".to_owned(),
    ] {
        assert!(refused(&mut owner, &sql).contains("append-only"), "{sql}");
    }
    let head: String = owner
        .query_one("SELECT head_hash FROM runs WHERE id = $1", &[&run.as_str()])
        .unwrap()
        .get(0);
    // An event out of sequence, or not following the head, or with a
    // hash that is not its own, is refused as it is inserted.
    for (seq, prev, hash) in [
        (5, head.as_str(), "0"),
        (3, "f00d", "0"),
        (3, head.as_str(), "0"),
    ] {
        let message = refused(
            &mut owner,
            &format!(
                "INSERT INTO events VALUES ('{run}', {seq}, '2026-01-01T00:00:00.000Z', \
                 'run.ended', '{{}}', '{prev}', '{hash}')"
            ),
        );
        assert!(
            message.contains("does not follow") || message.contains("does not match its hash"),
            "{message}"
        );
    }
    let message = refused(
        &mut owner,
        &format!("UPDATE runs SET head_seq = 7 WHERE id = '{run}'"),
    );
    assert!(message.contains("moves only with its journal"), "{message}");
    let message = refused(
        &mut owner,
        &format!("UPDATE runs SET started_by = 'mallory' WHERE id = '{run}'"),
    );
    assert!(message.contains("cannot be changed"), "{message}");
    // A hand-made event that is the right next link is accepted, and is
    // indistinguishable from rbx's own: the database computes the same hash.
    owner
        .batch_execute(&format!(
            "INSERT INTO events SELECT '{run}', 3, '2026-01-01T00:00:00.000Z', 'note', '{{}}', \
             '{head}', rbx_event_hash('{head}', 3, '2026-01-01T00:00:00.000Z', 'note', '{{}}')"
        ))
        .unwrap();
    let store = PostgresStore::open(&db.url()).unwrap();
    store.verify(&run).unwrap();
    assert_eq!(store.events(&run).unwrap().len(), 3);
}

#[test]
fn an_operator_cannot_create_or_upgrade_the_schema() {
    let db = Cluster::shared().database();
    let url = db.operator("oscar");
    let error = PostgresStore::open(&url).unwrap_err();
    assert!(matches!(error, StoreError::Migration { .. }), "{error:?}");
    assert!(error.to_string().contains("must own its tables"), "{error}");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let db = Cluster::shared().database();
    drop(PostgresStore::open(&db.url()).unwrap());
    db.admin()
        .batch_execute("UPDATE rbx_schema SET version = 99")
        .unwrap();
    let error = PostgresStore::open(&db.url()).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 99, .. }),
        "{error:?}"
    );
}

#[test]
fn tls_is_used_and_the_server_is_verified() {
    let db = Cluster::shared().database();
    let mut store = PostgresStore::open(&db.tls_url()).expect("a TLS connection");
    store.create_run(&new_run()).unwrap();
    let encrypted: i64 = db
        .admin()
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND datname = $1 AND application_name = 'rbx'",
            &[&db.name],
        )
        .unwrap()
        .get(0);
    assert!(encrypted >= 1);

    // Without the authority among its roots, rbx refuses the server.
    let untrusted = db
        .tls_url()
        .replace("&sslrootcert=", "&ignored=")
        .split("&ignored=")
        .next()
        .unwrap()
        .to_owned();
    let error = PostgresStore::open(&untrusted).unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
}

#[test]
fn an_unreachable_server_and_a_bad_address_are_clear() {
    let error =
        PostgresStore::open("postgres://nobody:pw@127.0.0.1:1/rbx?sslmode=disable").unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    assert!(!message.contains("pw@"), "{message}");
    assert!(message.contains("nobody:***@"), "{message}");
    let error = PostgresStore::open("postgres://db/rbx?sslmode=sometimes").unwrap_err();
    assert!(matches!(error, StoreError::BadAddress { .. }), "{error:?}");
}

#[test]
fn a_lapsed_lease_is_taken_over_and_its_old_holder_is_fenced() {
    let (db, run) = database_with_run();
    // A driver on another machine, frozen: its lease is not renewed.
    let mut frozen = PostgresStore::open(&db.url())
        .unwrap()
        .with_lease_seconds(1);
    let far = Holder::this_process("far-away");
    frozen.lock(&run, &far).unwrap();
    db.admin()
        .batch_execute(&format!(
            "UPDATE locks SET expires_at = now() - interval '1 second' WHERE run_id = '{run}'"
        ))
        .unwrap();
    let mut here = PostgresStore::open(&db.url()).unwrap();
    let (_, alive) = here.holder(&run, "laptop").unwrap().unwrap();
    assert!(!alive, "a lapsed lease is a driver gone");
    let me = Holder::this_process("laptop");
    assert_eq!(here.lock(&run, &me).unwrap(), LockOutcome::TookOver(far));
    // The frozen driver wakes up: it cannot write one more event.
    let error = frozen
        .append(&run, "node_finished", &json!({}))
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Locked { holder, .. } if *holder == me),
        "{error:?}"
    );
    assert_eq!(here.append(&run, "run.resumed", &json!({})).unwrap(), 3);
    here.verify(&run).unwrap();
}

#[test]
fn a_lease_renewed_by_its_heartbeat_does_not_lapse() {
    let (db, run) = database_with_run();
    let mut driver = PostgresStore::open(&db.url())
        .unwrap()
        .with_lease_seconds(1);
    driver
        .lock(&run, &Holder::this_process("far-away"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let mut other = PostgresStore::open(&db.url()).unwrap();
    let error = other
        .lock(&run, &Holder::this_process("laptop"))
        .unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    // Once released, the lease is gone at once.
    driver.unlock(&run, std::process::id()).unwrap();
    assert_eq!(
        other.lock(&run, &Holder::this_process("laptop")).unwrap(),
        LockOutcome::Acquired
    );
}

#[test]
fn a_deferred_event_is_durable_once_a_durable_commit_or_a_sync_follows() {
    // A cluster of its own, with the durable defaults, crashed on purpose.
    let cluster = Cluster::private();
    let db = cluster.database();
    let mut store = PostgresStore::open(&db.url()).expect("the store opens");
    let run = store.create_run(&new_run()).expect("the run is created");
    store
        .append(&run, "run_started", &json!({}))
        .expect("appended");
    store
        .append_deferred(&run, "node_finished", &json!({ "node": "a" }))
        .expect("appended");
    assert!(store.unsynced());
    store
        .append(&run, "node_started", &json!({ "node": "b" }))
        .expect("appended");
    assert!(
        !store.unsynced(),
        "a durable commit covers the deferred one"
    );
    store
        .append_deferred(&run, "node_finished", &json!({ "node": "b" }))
        .expect("appended");
    store.sync().expect("synced");
    assert!(!store.unsynced());
    drop(store);

    cluster.stop();
    cluster.start_server();
    let store = PostgresStore::open(&db.url()).expect("the store opens again");
    let kinds: Vec<String> = store
        .events(&run)
        .expect("the journal")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "node_finished",
            "node_started",
            "node_finished"
        ]
    );
    store.verify(&run).expect("the record verifies");
}
