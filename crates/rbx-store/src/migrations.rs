//! The store's schema, as an append-only list of migrations keyed on
//! `PRAGMA user_version`.
//!
//! Migration `i` (from 0) takes a store from version `i` to `i + 1`. A
//! released migration is never edited or removed: stores in the field were
//! built by it. A change of schema is a new entry at the end.

use rusqlite::{Connection, TransactionBehavior};

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: runs, their sources, the journal, locks and outputs.
    //
    // Tables are STRICT so that SQLite refuses a value of the wrong type
    // instead of storing it. `runs.head_seq` and `runs.head_hash` repeat the
    // journal's last event: the hash chain alone cannot show that events
    // were removed from its end, the head can.
    r"
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY NOT NULL,
        runbook_id  TEXT NOT NULL,
        title       TEXT NOT NULL,
        entry       TEXT NOT NULL,
        source_hash TEXT NOT NULL,
        inputs      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        started_by  TEXT NOT NULL,
        host        TEXT NOT NULL,
        status      TEXT NOT NULL,
        next_due    TEXT,
        head_seq    INTEGER NOT NULL CHECK (head_seq >= 0),
        head_hash   TEXT NOT NULL
    ) STRICT;

    CREATE INDEX runs_by_start ON runs (started_at);

    CREATE TABLE sources (
        run_id   TEXT NOT NULL REFERENCES runs (id),
        position INTEGER NOT NULL,
        path     TEXT NOT NULL,
        text     TEXT NOT NULL,
        PRIMARY KEY (run_id, position)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE events (
        run_id    TEXT NOT NULL REFERENCES runs (id),
        seq       INTEGER NOT NULL CHECK (seq >= 1),
        time      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        payload   TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) STRICT, WITHOUT ROWID;

    -- The journal is append-only. No statement in rbx changes or removes an
    -- event; these triggers make that hold for anything else that opens the
    -- file, short of dropping them (which `verify` then catches).
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN
        SELECT RAISE(ABORT, 'events are append-only: an event cannot be changed');
    END;

    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN
        SELECT RAISE(ABORT, 'events are append-only: an event cannot be deleted');
    END;

    CREATE TABLE locks (
        run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs (id),
        pid    INTEGER NOT NULL,
        host   TEXT NOT NULL,
        since  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE outputs (
        run_id  TEXT NOT NULL REFERENCES runs (id),
        node    TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        stream  TEXT NOT NULL,
        head    BLOB NOT NULL,
        tail    BLOB NOT NULL,
        total   INTEGER NOT NULL CHECK (total >= 0),
        PRIMARY KEY (run_id, node, attempt, stream)
    ) STRICT, WITHOUT ROWID;
    ",
    // 2: files a person gave as evidence, copied in whole with their hash.
    r"
    CREATE TABLE attachments (
        run_id TEXT NOT NULL REFERENCES runs (id),
        node   TEXT NOT NULL,
        name   TEXT NOT NULL,
        file   TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        bytes  BLOB NOT NULL,
        PRIMARY KEY (run_id, node, name)
    ) STRICT, WITHOUT ROWID;
    ",
];

/// Why [`migrate`] stopped.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The store's version is newer than the last migration.
    TooNew { found: i64, supported: i64 },
    /// The store's version is negative, which no rbx writes.
    Foreign { found: i64 },
    /// Migration to `version` failed; everything was rolled back.
    Failed {
        from: i64,
        version: i64,
        cause: rusqlite::Error,
    },
    /// Reading the version, or beginning or committing the transaction,
    /// failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(cause: rusqlite::Error) -> MigrateError {
        MigrateError::Sqlite(cause)
    }
}

/// The schema version recorded in the file.
pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT user_version FROM pragma_user_version", [], |row| {
        row.get(0)
    })
}

/// Brings the store to the last version of `migrations`, applying the
/// missing ones in one exclusive transaction: either all of them take
/// effect, with the new version, or none does.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), MigrateError> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    // Exclusive, so that two processes opening a new store at once do not
    // both migrate it: the second waits (busy_timeout), then finds the
    // version current. The version is read again inside the transaction
    // for the same reason.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let found = user_version(&tx)?;
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    let start = usize::try_from(found).map_err(|_| MigrateError::Foreign { found })?;
    for (index, migration) in migrations.iter().enumerate().skip(start) {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        tx.execute_batch(migration)
            .map_err(|cause| MigrateError::Failed {
                from: found,
                version,
                cause,
            })?;
    }
    if found < supported {
        tx.pragma_update(None, "user_version", supported)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{MIGRATIONS, MigrateError, migrate, user_version};

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
            [name],
            |row| row.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn a_failed_first_migration_leaves_an_empty_store() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            "CREATE TABLE first (x INTEGER);",
            "CREATE TABLE second (x INTEGER); INSERT INTO missing VALUES (1);",
        ];
        let error = migrate(&mut conn, &broken).unwrap_err();
        assert!(
            matches!(
                error,
                MigrateError::Failed {
                    from: 0,
                    version: 2,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(user_version(&conn).unwrap(), 0);
        assert!(!table_exists(&conn, "first"));
        assert!(!table_exists(&conn, "second"));
    }

    #[test]
    fn a_failed_upgrade_keeps_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rbx.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, MIGRATIONS).unwrap();
        conn.execute_batch(
            "INSERT INTO runs VALUES ('r', 'b', 't', 'e', 'h', '{}', 's', 'o', 'h', 'created', NULL, 0, 'h')",
        )
        .unwrap();
        drop(conn);

        let mut upgraded = MIGRATIONS.to_vec();
        upgraded.push("ALTER TABLE runs ADD COLUMN extra TEXT; DROP TABLE runs; SELECT nonsense(;");
        let mut conn = Connection::open(&path).unwrap();
        let error = migrate(&mut conn, &upgraded).unwrap_err();
        assert!(
            matches!(
                error,
                MigrateError::Failed { from, version, .. }
                    if from == MIGRATIONS.len() as i64 && version == from + 1
            ),
            "{error:?}"
        );
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len() as i64);
        let kept: String = conn
            .query_row("SELECT id FROM runs", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, "r");
        let columns: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'extra'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(columns, 0);
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, MIGRATIONS).unwrap();
        migrate(&mut conn, MIGRATIONS).unwrap();
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len() as i64);
    }
}
