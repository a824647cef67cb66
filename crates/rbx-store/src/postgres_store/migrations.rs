//! The PostgreSQL schema, as an append-only list of migrations keyed on the
//! version in `rbx_schema`, with the same rule as SQLite's: a released
//! migration is never edited; a change is a new entry at the end.
//!
//! The database enforces the record itself, for every role short of one
//! that can disable triggers (the tables' owner or a superuser), whose
//! edits `rbx verify` still finds:
//!
//! - events and sources are append-only (triggers refuse `UPDATE`,
//!   `DELETE` and `TRUNCATE`), and runs are never deleted;
//! - an event is inserted only as the next link of its run's chain: its
//!   sequence number follows the run's head, its `prev_hash` is the head's
//!   hash and its `hash` is the SHA-256 rbx computes (`rbx_event_hash`);
//! - the run's head moves only to the event just appended, and what a run
//!   was started with never changes;
//! - the group role `rbx_operator` may read everything and add to the
//!   record, and may change only a run's status, its lock, and the
//!   replaceable captures (outputs and attachments, which events vouch
//!   for by digest).

use postgres::Client;

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs, sources, events, locks, outputs and attachments; the
    // triggers that keep the record; the operators' grants.
    r#"
DO $$
BEGIN
    CREATE ROLE rbx_operator NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE TABLE runs (
    n           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id          text PRIMARY KEY,
    runbook_id  text NOT NULL,
    title       text NOT NULL,
    entry       text NOT NULL,
    source_hash text NOT NULL,
    inputs      text NOT NULL,
    started_at  text NOT NULL,
    started_by  text NOT NULL,
    host        text NOT NULL,
    status      text NOT NULL,
    next_due    text,
    head_seq    bigint NOT NULL CHECK (head_seq >= 0),
    head_hash   text NOT NULL
);
CREATE INDEX runs_by_start ON runs (started_at, n);

CREATE TABLE sources (
    run_id   text NOT NULL REFERENCES runs (id),
    position bigint NOT NULL,
    path     text NOT NULL,
    text     text NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE events (
    run_id    text NOT NULL REFERENCES runs (id),
    seq       bigint NOT NULL CHECK (seq >= 1),
    time      text NOT NULL,
    kind      text NOT NULL CHECK (kind ~ '^[a-z0-9_.-]+$'),
    payload   text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE locks (
    run_id     text PRIMARY KEY REFERENCES runs (id),
    pid        bigint NOT NULL,
    host       text NOT NULL,
    since      text NOT NULL,
    token      text NOT NULL,
    role       text NOT NULL DEFAULT session_user,
    expires_at timestamptz NOT NULL
);

CREATE TABLE outputs (
    run_id  text NOT NULL REFERENCES runs (id),
    node    text NOT NULL,
    attempt bigint NOT NULL,
    stream  text NOT NULL,
    head    bytea NOT NULL,
    tail    bytea NOT NULL,
    total   bigint NOT NULL CHECK (total >= 0),
    PRIMARY KEY (run_id, node, attempt, stream)
);

CREATE TABLE attachments (
    run_id text NOT NULL REFERENCES runs (id),
    node   text NOT NULL,
    name   text NOT NULL,
    file   text NOT NULL,
    sha256 text NOT NULL,
    bytes  bytea NOT NULL,
    PRIMARY KEY (run_id, node, name)
);

-- The hash of an event, as rbx computes it in Rust (`event_hash`).
CREATE FUNCTION rbx_event_hash(p_prev text, p_seq bigint, p_time text, p_kind text, p_payload text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $f$
    SELECT encode(sha256(convert_to(
        p_prev || '|' || p_seq::text || '|' || p_time || '|' || p_kind || '|' || p_payload,
        'UTF8')), 'hex')
$f$;

CREATE FUNCTION rbx_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION 'rbx: % is append-only: a row cannot be changed or removed', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$f$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION rbx_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION rbx_append_only();
CREATE TRIGGER sources_append_only BEFORE UPDATE OR DELETE ON sources
    FOR EACH ROW EXECUTE FUNCTION rbx_append_only();
CREATE TRIGGER sources_no_truncate BEFORE TRUNCATE ON sources
    FOR EACH STATEMENT EXECUTE FUNCTION rbx_append_only();
CREATE TRIGGER runs_kept BEFORE DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION rbx_append_only();
CREATE TRIGGER runs_no_truncate BEFORE TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION rbx_append_only();

-- An event is the next link of its run's chain, or it is refused.
CREATE FUNCTION rbx_event_chained() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $f$
DECLARE
    head record;
BEGIN
    SELECT head_seq, head_hash INTO head FROM runs WHERE id = NEW.run_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rbx: there is no run %', NEW.run_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.seq <> head.head_seq + 1 OR NEW.prev_hash <> head.head_hash THEN
        RAISE EXCEPTION 'rbx: event % of run % does not follow the journal''s last event (%)',
            NEW.seq, NEW.run_id, head.head_seq USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.hash <> rbx_event_hash(NEW.prev_hash, NEW.seq, NEW.time, NEW.kind, NEW.payload) THEN
        RAISE EXCEPTION 'rbx: event % of run % does not match its hash', NEW.seq, NEW.run_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER events_chained BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION rbx_event_chained();

-- The run's head follows its journal, and whoever waits for the run hears.
CREATE FUNCTION rbx_event_appended() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    UPDATE runs SET head_seq = NEW.seq, head_hash = NEW.hash WHERE id = NEW.run_id;
    PERFORM pg_notify('rbx_events', NEW.run_id);
    RETURN NULL;
END
$f$;
CREATE TRIGGER events_appended AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION rbx_event_appended();

-- What a run was started with never changes; its head moves one event at
-- a time, to an event that is there.
CREATE FUNCTION rbx_run_guarded() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF (NEW.id, NEW.runbook_id, NEW.title, NEW.entry, NEW.source_hash, NEW.inputs,
        NEW.started_at, NEW.started_by, NEW.host)
       IS DISTINCT FROM
       (OLD.id, OLD.runbook_id, OLD.title, OLD.entry, OLD.source_hash, OLD.inputs,
        OLD.started_at, OLD.started_by, OLD.host) THEN
        RAISE EXCEPTION 'rbx: what run % was started with cannot be changed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.head_seq, NEW.head_hash) IS DISTINCT FROM (OLD.head_seq, OLD.head_hash)
       AND NOT (NEW.head_seq = OLD.head_seq + 1 AND EXISTS (
           SELECT 1 FROM events WHERE run_id = NEW.id AND seq = NEW.head_seq AND hash = NEW.head_hash))
    THEN
        RAISE EXCEPTION 'rbx: the head of run % moves only with its journal', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER runs_guarded BEFORE UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION rbx_run_guarded();

REVOKE ALL ON runs, sources, events, locks, outputs, attachments, rbx_schema FROM PUBLIC;
GRANT SELECT ON runs, sources, events, locks, outputs, attachments, rbx_schema TO rbx_operator;
GRANT INSERT ON runs, sources, events, locks, outputs, attachments TO rbx_operator;
GRANT UPDATE (status, next_due) ON runs TO rbx_operator;
GRANT UPDATE, DELETE ON locks TO rbx_operator;
GRANT UPDATE (head, tail, total) ON outputs TO rbx_operator;
GRANT UPDATE (file, sha256, bytes) ON attachments TO rbx_operator;
REVOKE ALL ON FUNCTION rbx_event_chained(), rbx_event_appended() FROM PUBLIC;
"#,
    // 2: whoever waits for a run that no driver holds (a driver waiting
    // for a person releases it) hears of its new events; a driven run's
    // own events notify nobody. A NOTIFY serialises the commits of every
    // session that sends one, which made concurrent runs wait for each
    // other.
    r#"
CREATE OR REPLACE FUNCTION rbx_event_appended() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    UPDATE runs SET head_seq = NEW.seq, head_hash = NEW.hash WHERE id = NEW.run_id;
    IF NOT EXISTS (SELECT 1 FROM locks WHERE run_id = NEW.run_id) THEN
        PERFORM pg_notify('rbx_events', NEW.run_id);
    END IF;
    RETURN NULL;
END
$f$;
"#,
];

/// Why [`migrate`] stopped.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The database's version is newer than the last migration.
    TooNew { found: i64, supported: i64 },
    /// Migration to `version` failed; everything was rolled back.
    Failed {
        from: i64,
        version: i64,
        cause: postgres::Error,
    },
    /// Reading the version, or beginning or committing, failed.
    Postgres(postgres::Error),
}

impl From<postgres::Error> for MigrateError {
    fn from(cause: postgres::Error) -> MigrateError {
        MigrateError::Postgres(cause)
    }
}

/// The schema version the database records; 0 before rbx first used it.
pub(crate) fn version(client: &mut Client) -> Result<i64, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('rbx_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM rbx_schema", &[])?;
    Ok(row.map_or(0, |row| i64::from(row.get::<_, i32>(0))))
}

/// Brings the database to the last of `migrations` in one transaction,
/// holding a transaction-level advisory lock so that two rbx processes
/// opening a new database at once do not both migrate it.
pub(crate) fn migrate(client: &mut Client, migrations: &[&str]) -> Result<(), MigrateError> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let mut tx = client.transaction()?;
    // The key is arbitrary, fixed for rbx: "rbx" in ASCII.
    tx.execute("SELECT pg_advisory_xact_lock(7496312)", &[])?;
    // A database rbx never used has no version table; making it is part
    // of the first migration, and fails as that migration does.
    tx.batch_execute("CREATE TABLE IF NOT EXISTS rbx_schema (version integer NOT NULL)")
        .map_err(|cause| MigrateError::Failed {
            from: 0,
            version: 1,
            cause,
        })?;
    let found = tx
        .query_opt("SELECT version FROM rbx_schema", &[])?
        .map_or(0, |row| i64::from(row.get::<_, i32>(0)));
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, migration) in migrations.iter().enumerate().skip(start) {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        tx.batch_execute(migration)
            .map_err(|cause| MigrateError::Failed {
                from: found,
                version,
                cause,
            })?;
    }
    if found < supported {
        let version = i32::try_from(supported).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM rbx_schema", &[])?;
        tx.execute("INSERT INTO rbx_schema (version) VALUES ($1)", &[&version])?;
    }
    tx.commit()?;
    Ok(())
}
