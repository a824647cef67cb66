//! The embedded store: one SQLite file, `rbx.db`, in the store directory.

mod portable;

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, ffi, params,
    params_from_iter,
};
use serde_json::Value;

use crate::chain::{self, EventRow, HeaderRow};
use crate::crash::CrashAfter;
use crate::hash::{RunHeader, event_hash, file_digest, valid_kind};
use crate::lock::{Liveness, liveness};
use crate::migrations::{MIGRATIONS, MigrateError, migrate, user_version};
use crate::utc::Utc;
use crate::{
    Event, Holder, LastEvent, LockOutcome, NewRun, Output, RunId, RunSummary, Store, StoreError,
    Tail, hash_sources, output_digest,
};

/// The name of the database file inside the store directory.
const FILE_NAME: &str = "rbx.db";

/// How long a statement waits for another process's write lock before it
/// fails with [`StoreError::Busy`].
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// The mode of a store directory rbx creates: the record holds commands,
/// output and evidence, which are nobody else's to read.
const DIR_MODE: u32 = 0o700;

/// The mode of the database files of a store rbx creates.
const FILE_MODE: u32 = 0o600;

/// The files SQLite keeps beside the database in write-ahead-log mode.
const SIDE_FILES: [&str; 2] = ["-wal", "-shm"];

/// The status of a run that nothing has been done with yet.
const CREATED: &str = "created";

/// How many fresh ids [`SqliteStore::create_run`] tries before it gives up;
/// a collision needs two runs created in the same second with the same
/// four hex digits, so a second try practically always succeeds.
const ID_ATTEMPTS: usize = 16;

/// The columns of a [`RunSummary`], read by [`summary_from_row`]: the run's
/// row joined with its last event.
const SUMMARY_SELECT: &str = "
    SELECT r.id, r.runbook_id, r.title, r.entry, r.source_hash, r.inputs, r.started_at,
           r.started_by, r.host, r.status, r.next_due, r.head_seq, e.kind, e.time
    FROM runs AS r
    LEFT JOIN events AS e ON e.run_id = r.id AND e.seq = r.head_seq";

/// A store in one SQLite file, in write-ahead-log mode with
/// `synchronous=FULL`: a commit is on disk when it returns, and readers
/// (`rbx runs` in another terminal) never block the process driving a run.
///
/// It owns its connection and is [`Send`], so the engine can move it to a
/// thread of its own; it is not meant to be shared between threads.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Crash testing: the process kills itself right after committing this
    /// many events (`RBX_CRASH_AFTER_EVENTS`), as `kill -9` at that moment.
    crash: CrashAfter,
    /// The run of the last event appended without a flush to the disk,
    /// until a durable commit covers it.
    unsynced: Option<RunId>,
}

impl SqliteStore {
    /// Opens the store in `dir`, creating the directory and `dir/rbx.db` if
    /// they are missing, and brings its schema up to date.
    ///
    /// A directory rbx creates is readable by its owner alone (0700), and
    /// so are the database files of a store it creates (0600), whatever the
    /// umask. An existing directory or database keeps the modes it has:
    /// a team may share one on purpose.
    ///
    /// Nothing is written to an existing file before it is known to be a
    /// database whose schema this rbx knows: a newer store, a file that is
    /// not a database, or a damaged one is refused with an error naming the
    /// file, and left byte for byte as it was.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_migrations(dir, MIGRATIONS)
    }

    /// [`SqliteStore::open`] with a list of migrations of the caller's
    /// choosing, so that tests can make one fail.
    pub(crate) fn open_with_migrations(
        dir: &Path,
        migrations: &[&str],
    ) -> Result<SqliteStore, StoreError> {
        create_private_dir(dir).map_err(|cause| StoreError::CreateDir {
            path: dir.to_owned(),
            cause,
        })?;
        let path = dir.join(FILE_NAME);
        let created = create_private_file(&path).map_err(|cause| StoreError::ReadOnly {
            path: dir.to_owned(),
            cause: cause.to_string().to_lowercase(),
        })?;
        let opening = |cause| opening_error(dir, &path, cause);
        let mut conn = Connection::open(&path).map_err(opening)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        // SQLite opens a file it may not write read-only without a word;
        // every write would then fail later, in the middle of a run.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(opening)? {
            return Err(StoreError::ReadOnly {
                path,
                cause: "the file is not writable".to_owned(),
            });
        }
        // The first read of the file: it fails here, before anything was
        // written, on a file that is not a database or is damaged, and a
        // newer schema is refused before switching the journal mode (which
        // writes to the file's header).
        let found = user_version(&conn).map_err(opening)?;
        let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
        if found > supported {
            return Err(StoreError::TooNew {
                path,
                found,
                supported,
            });
        }
        // These pragmas go outside any transaction: the journal mode cannot
        // change inside one, and `foreign_keys` is silently ignored there.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal { path, mode });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(opening)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(opening)?;
        migrate(&mut conn, migrations).map_err(|error| match error {
            MigrateError::TooNew { found, supported } => StoreError::TooNew {
                path: path.clone(),
                found,
                supported,
            },
            MigrateError::Foreign { found } => StoreError::Corrupt {
                path: path.clone(),
                detail: format!("its schema version is {found}, which no rbx writes"),
            },
            MigrateError::Failed {
                from,
                version,
                cause,
            } => match classify(&path, cause) {
                StoreError::Database { detail, .. } => StoreError::Migration {
                    path: path.clone(),
                    from,
                    version,
                    detail,
                },
                other => other,
            },
            MigrateError::Sqlite(cause) => opening_error(dir, &path, cause),
        })?;
        if created {
            // SQLite gives the files beside the database the database's
            // own mode; this says so whatever SQLite version is linked.
            for suffix in SIDE_FILES {
                let mut side = path.clone().into_os_string();
                side.push(suffix);
                match fs::set_permissions(&side, fs::Permissions::from_mode(FILE_MODE)) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => {
                        return Err(StoreError::ReadOnly {
                            path: PathBuf::from(side),
                            cause: error.to_string().to_lowercase(),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(SqliteStore {
            conn,
            path,
            crash: CrashAfter::from_env(),
            unsynced: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn set_synchronous(&self, level: &str) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "synchronous", level)
            .map_err(on_error(&self.path))
    }

    /// Appends one event and, for an event that stops the run, sets the
    /// run's status in the same transaction.
    fn append_in_tx(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
        status: Option<(&str, Option<&str>)>,
    ) -> Result<u64, StoreError> {
        if !valid_kind(kind) {
            return Err(StoreError::InvalidKind {
                kind: kind.to_owned(),
            });
        }
        let path = &self.path;
        let payload = payload.to_string();
        // Immediate, so the write lock is taken before the head is read: a
        // deferred transaction that reads and then writes fails at once,
        // without waiting, if another writer committed in between.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        // Cached statements: a run appends thousands of events, and
        // compiling the same SQL each time was a third of a step's CPU.
        let head = tx
            .prepare_cached("SELECT head_seq, head_hash FROM runs WHERE id = ?1")
            .and_then(|mut select| {
                select
                    .query_row([run.as_str()], |row| {
                        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                    })
                    .optional()
            })
            .map_err(on_error(path))?;
        let Some((head_seq, prev_hash)) = head else {
            return Err(unknown(run));
        };
        let seq = count(path, head_seq, "the run's event count")? + 1;
        let time = Utc::now().rfc3339_millis();
        let hash = event_hash(&prev_hash, seq, &time, kind, &payload);
        tx.prepare_cached(
            "INSERT INTO events (run_id, seq, time, kind, payload, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                run.as_str(),
                head_seq + 1,
                time,
                kind,
                payload,
                prev_hash,
                hash
            ])
        })
        .map_err(on_error(path))?;
        tx.prepare_cached("UPDATE runs SET head_seq = ?2, head_hash = ?3 WHERE id = ?1")
            .and_then(|mut update| update.execute(params![run.as_str(), head_seq + 1, hash]))
            .map_err(on_error(path))?;
        if let Some((status, next_due)) = status {
            tx.prepare_cached("UPDATE runs SET status = ?2, next_due = ?3 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![run.as_str(), status, next_due]))
                .map_err(on_error(path))?;
        }
        tx.commit().map_err(on_error(path))?;
        // A commit made with `synchronous=FULL` flushed the log, and so
        // every deferred commit before it.
        self.unsynced = None;
        self.crash.committed();
        Ok(seq)
    }
}

impl SqliteStore {
    /// The rows of the journal from its newest event of `kind`, checked
    /// as [`Store::journal_from_last`] says.
    fn tail_rows(&self, run: &RunId, kind: &str) -> Result<Option<Vec<EventRow>>, StoreError> {
        let path = &self.path;
        // One read transaction: the head and the events from one snapshot.
        let tx = self.conn.unchecked_transaction().map_err(on_error(path))?;
        let (head_seq, head_hash) = tx
            .query_row(
                "SELECT head_seq, head_hash FROM runs WHERE id = ?1",
                [run.as_str()],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(on_error(path))?
            .ok_or_else(|| unknown(run))?;
        // The key is (run, seq): walked backwards, it stops at the newest.
        let found: Option<i64> = tx
            .query_row(
                "SELECT seq FROM events WHERE run_id = ?1 AND kind = ?2
                 ORDER BY seq DESC LIMIT 1",
                params![run.as_str(), kind],
                |row| row.get(0),
            )
            .optional()
            .map_err(on_error(path))?;
        let Some(from) = found else {
            return Ok(None);
        };
        let from = count(path, from, "an event's sequence number")?;
        let after = i64::try_from(from.saturating_sub(2)).unwrap_or(i64::MAX);
        let rows = event_rows(&tx, path, run, after)?;
        let head = (
            count(path, head_seq, "the run's event count")?,
            head_hash.as_str(),
        );
        chain::check_tail(run, from, head, rows).map(Some)
    }

    /// The lock taken in one transaction, as [`Store::lock`] says.
    fn lock_in_tx(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError> {
        let path = &self.path;
        // Immediate: reading the lock row and writing it must be one step,
        // or two processes could both find the run free.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        require_run(&tx, path, run)?;
        let current = tx
            .query_row(
                "SELECT pid, host, since FROM locks WHERE run_id = ?1",
                [run.as_str()],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(on_error(path))?;
        let outcome = match current {
            None => {
                tx.execute(
                    "INSERT INTO locks (run_id, pid, host, since) VALUES (?1, ?2, ?3, ?4)",
                    params![run.as_str(), holder.pid, holder.host, holder.since],
                )
                .map_err(on_error(path))?;
                LockOutcome::Acquired
            }
            Some((pid, host, since)) => {
                let pid = u32::try_from(pid).map_err(|_| StoreError::Corrupt {
                    path: path.clone(),
                    detail: format!("the lock of run {run} names process {pid}"),
                })?;
                let previous = Holder { pid, host, since };
                // Only a holder on this host can be seen to be gone. One
                // with the caller's own pid is a previous process that had
                // the same pid (pids are reused, and in a container rbx may
                // well get the same one each time): a process locks a run
                // once, so it cannot be this one.
                let stale = previous.host == holder.host
                    && (previous.pid == holder.pid || liveness(previous.pid) == Liveness::Gone);
                if !stale {
                    return Err(StoreError::Locked {
                        run: run.clone(),
                        holder: previous,
                    });
                }
                tx.execute(
                    "UPDATE locks SET pid = ?2, host = ?3, since = ?4 WHERE run_id = ?1",
                    params![run.as_str(), holder.pid, holder.host, holder.since],
                )
                .map_err(on_error(path))?;
                LockOutcome::TookOver(previous)
            }
        };
        tx.commit().map_err(on_error(path))?;
        Ok(outcome)
    }

    /// Creates a run under `chosen`, or under fresh ids until one is free
    /// when `chosen` is `None`. `Ok(None)`: a run with the chosen id
    /// exists already, and nothing was written.
    fn insert_run(
        &mut self,
        run: &NewRun,
        chosen: Option<&RunId>,
    ) -> Result<Option<RunId>, StoreError> {
        let path = &self.path;
        let source_hash = hash_sources(&run.sources);
        let inputs = run.inputs.to_string();
        let now = Utc::now();
        let started_at = now.rfc3339_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        let mut attempts = 0;
        let id = loop {
            let id = chosen.cloned().unwrap_or_else(|| RunId::generate(&now));
            let head_hash = RunHeader {
                id: id.as_str(),
                runbook_id: &run.runbook_id,
                title: &run.title,
                entry: &run.entry,
                source_hash: &source_hash,
                inputs: &inputs,
                started_at: &started_at,
                started_by: &run.started_by,
                host: &run.host,
            }
            .hash();
            let inserted = tx.execute(
                "INSERT INTO runs (id, runbook_id, title, entry, source_hash, inputs, started_at,
                                   started_by, host, status, next_due, head_seq, head_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, ?11)",
                params![
                    id.as_str(),
                    run.runbook_id,
                    run.title,
                    run.entry,
                    source_hash,
                    inputs,
                    started_at,
                    run.started_by,
                    run.host,
                    CREATED,
                    head_hash,
                ],
            );
            match inserted {
                Ok(_) => break id,
                Err(error) if is_duplicate_key(&error) && chosen.is_some() => return Ok(None),
                Err(error) if is_duplicate_key(&error) && attempts + 1 < ID_ATTEMPTS => {
                    attempts += 1;
                }
                Err(error) => return Err(classify(path, error)),
            }
        };
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO sources (run_id, position, path, text) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(on_error(path))?;
            for (position, (source_path, text)) in (0_i64..).zip(&run.sources) {
                insert
                    .execute(params![id.as_str(), position, source_path, text])
                    .map_err(on_error(path))?;
            }
        }
        tx.commit().map_err(on_error(path))?;
        Ok(Some(id))
    }
}

impl Store for SqliteStore {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        self.insert_run(run, None)?
            .ok_or_else(|| StoreError::Database {
                path: self.path.clone(),
                detail: "no free run id was found".to_owned(),
            })
    }

    fn create_run_as(&mut self, id: &RunId, run: &NewRun) -> Result<bool, StoreError> {
        Ok(self.insert_run(run, Some(id))?.is_some())
    }

    fn append(&mut self, run: &RunId, kind: &str, payload: &Value) -> Result<u64, StoreError> {
        self.append_in_tx(run, kind, payload, None)
    }

    fn append_deferred(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
    ) -> Result<u64, StoreError> {
        // In write-ahead-log mode, `synchronous=NORMAL` writes the commit
        // to the log without flushing it; the next commit made with
        // `FULL` flushes the log, and with it every commit before.
        self.set_synchronous("NORMAL")?;
        let appended = self.append_in_tx(run, kind, payload, None);
        self.set_synchronous("FULL")?;
        let seq = appended?;
        self.unsynced = Some(run.clone());
        Ok(seq)
    }

    fn unsynced(&self) -> bool {
        self.unsynced.is_some()
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let Some(run) = self.unsynced.clone() else {
            return Ok(());
        };
        // A durable commit that changes nothing: rewriting the run's head
        // appends its page to the log, and the commit flushes the log.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(&self.path))?;
        tx.execute(
            "UPDATE runs SET head_seq = head_seq WHERE id = ?1",
            [run.as_str()],
        )
        .map_err(on_error(&self.path))?;
        tx.commit().map_err(on_error(&self.path))?;
        self.unsynced = None;
        Ok(())
    }

    fn append_stopping(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.append_in_tx(run, kind, payload, Some((status, next_due)))
    }

    fn events(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.events_since(run, 0)
    }

    fn events_since(&self, run: &RunId, seq: u64) -> Result<Vec<Event>, StoreError> {
        let path = &self.path;
        require_run(&self.conn, path, run)?;
        // Past the largest sequence number SQLite can hold, there is
        // nothing to return.
        let Ok(after) = i64::try_from(seq) else {
            return Ok(Vec::new());
        };
        event_rows(&self.conn, path, run, after)?
            .into_iter()
            .map(|row| row.into_event(path, run))
            .collect()
    }

    fn journal_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Vec<Event>>, StoreError> {
        self.tail_rows(run, kind)?
            .map(|rows| {
                rows.into_iter()
                    .map(|row| row.into_event(&self.path, run))
                    .collect()
            })
            .transpose()
    }

    fn tail_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Tail>, StoreError> {
        match self.tail_rows(run, kind)? {
            Some(rows) => chain::tail(rows, &self.path, run),
            None => Ok(None),
        }
    }

    fn verify(&self, run: &RunId) -> Result<(), StoreError> {
        let path = &self.path;
        // One read transaction, so that the run's head and its events come
        // from the same snapshot even while another process appends.
        let tx = self.conn.unchecked_transaction().map_err(on_error(path))?;
        let header = tx
            .query_row(
                "SELECT runbook_id, title, entry, source_hash, inputs, started_at, started_by,
                        host, head_seq, head_hash
                 FROM runs WHERE id = ?1",
                [run.as_str()],
                |row| {
                    Ok((
                        HeaderRow {
                            runbook_id: row.get(0)?,
                            title: row.get(1)?,
                            entry: row.get(2)?,
                            source_hash: row.get(3)?,
                            inputs: row.get(4)?,
                            started_at: row.get(5)?,
                            started_by: row.get(6)?,
                            host: row.get(7)?,
                            head_seq: 0,
                            head_hash: row.get(9)?,
                        },
                        row.get::<_, i64>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(on_error(path))?
            .ok_or_else(|| unknown(run))?;
        let (mut header, head_seq) = header;
        header.head_seq = count(path, head_seq, "the run's event count")?;
        let sources = source_rows(&tx, path, run)?;
        let events = event_rows(&tx, path, run, 0)?;
        let kept = KeptRows {
            conn: &tx,
            path,
            run,
        };
        chain::check(run, &header, &sources, &events, &kept)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        // TRUNCATE waits (busy_timeout) for readers to move on, copies every
        // committed page into `rbx.db` and empties the log: `rbx.db` alone
        // then holds the record.
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(on_error(&self.path))?;
        if busy != 0 {
            return Err(StoreError::Busy {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        let path = &self.path;
        let sql = format!("{SUMMARY_SELECT} ORDER BY r.started_at, r.rowid");
        summaries(&self.conn, path, &sql, params![])
    }

    fn run(&self, id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let path = &self.path;
        let sql = format!("{SUMMARY_SELECT} WHERE r.id = ?1");
        Ok(summaries(&self.conn, path, &sql, [id.as_str()])?.pop())
    }

    fn latest_with_status_in(&self, statuses: &[&str]) -> Result<Option<RunSummary>, StoreError> {
        if statuses.is_empty() {
            return Ok(None);
        }
        let path = &self.path;
        let placeholders = vec!["?"; statuses.len()].join(", ");
        let sql = format!(
            "{SUMMARY_SELECT} WHERE r.status IN ({placeholders})
             ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1"
        );
        Ok(summaries(&self.conn, path, &sql, params_from_iter(statuses))?.pop())
    }

    fn set_status(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2, next_due = ?3 WHERE id = ?1",
                params![run.as_str(), status, next_due],
            )
            .map_err(on_error(&self.path))?;
        if changed == 0 {
            return Err(unknown(run));
        }
        Ok(())
    }

    fn set_status_deferred(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        // As `append_deferred`: written to the log, flushed with the next
        // durable commit.
        self.set_synchronous("NORMAL")?;
        let set = self.set_status(run, status, next_due);
        self.set_synchronous("FULL")?;
        set?;
        self.unsynced = Some(run.clone());
        Ok(())
    }

    fn sources(&self, run: &RunId) -> Result<Vec<(String, String)>, StoreError> {
        require_run(&self.conn, &self.path, run)?;
        source_rows(&self.conn, &self.path, run)
    }

    fn lock(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError> {
        // Not flushed (see `Store::lock`): other processes see the commit at
        // once, and the next durable write (the run's first event) flushes
        // it with everything before.
        self.set_synchronous("NORMAL")?;
        let locked = self.lock_in_tx(run, holder);
        self.set_synchronous("FULL")?;
        if locked.is_ok() {
            self.unsynced = Some(run.clone());
        }
        locked
    }

    fn unlock(&mut self, run: &RunId, pid: u32) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM locks WHERE run_id = ?1 AND pid = ?2",
                params![run.as_str(), pid],
            )
            .map_err(on_error(&self.path))?;
        Ok(())
    }

    fn holder(&self, run: &RunId, here: &str) -> Result<Option<(Holder, bool)>, StoreError> {
        let found: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT pid, host, since FROM locks WHERE run_id = ?1",
                params![run.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(on_error(&self.path))?;
        Ok(found.map(|(pid, host, since)| {
            let pid = u32::try_from(pid).unwrap_or(0);
            // A holder on another host cannot be checked: assume it lives.
            let alive = host != here || liveness(pid) != Liveness::Gone;
            (Holder { pid, host, since }, alive)
        }))
    }

    fn put_output(
        &mut self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
        head: &[u8],
        tail: &[u8],
        total: u64,
    ) -> Result<String, StoreError> {
        let path = &self.path;
        let digest = output_digest(head, tail, total);
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        require_run(&tx, path, run)?;
        tx.execute(
            "INSERT INTO outputs (run_id, node, attempt, stream, head, tail, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (run_id, node, attempt, stream)
             DO UPDATE SET head = excluded.head, tail = excluded.tail, total = excluded.total",
            params![run.as_str(), node, attempt, stream, head, tail, total],
        )
        .map_err(on_error(path))?;
        tx.commit().map_err(on_error(path))?;
        Ok(digest)
    }

    fn put_attachment(
        &mut self,
        run: &RunId,
        node: &str,
        name: &str,
        file: &str,
        bytes: &[u8],
    ) -> Result<String, StoreError> {
        let path = &self.path;
        let hash = file_digest(bytes);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        require_run(&tx, path, run)?;
        tx.execute(
            "INSERT INTO attachments (run_id, node, name, file, sha256, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_id, node, name)
             DO UPDATE SET file = excluded.file, sha256 = excluded.sha256, bytes = excluded.bytes",
            params![run.as_str(), node, name, file, hash, bytes],
        )
        .map_err(on_error(path))?;
        tx.commit().map_err(on_error(path))?;
        Ok(hash)
    }

    fn attachment(
        &self,
        run: &RunId,
        node: &str,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
        let path = &self.path;
        self.conn
            .query_row(
                "SELECT file, sha256, bytes FROM attachments
                 WHERE run_id = ?1 AND node = ?2 AND name = ?3",
                params![run.as_str(), node, name],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(on_error(path))
    }

    fn output(
        &self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
    ) -> Result<Option<Output>, StoreError> {
        let path = &self.path;
        require_run(&self.conn, path, run)?;
        let row = output_row(&self.conn, path, run, node, i64::from(attempt), stream)?;
        row.map(|(head, tail, total)| {
            Ok(Output {
                head,
                tail,
                total: count(path, total, "an output's byte count")?,
            })
        })
        .transpose()
    }
}

/// The outputs and files of one run, as the chain check reads them.
struct KeptRows<'a> {
    conn: &'a Connection,
    path: &'a Path,
    run: &'a RunId,
}

impl chain::Kept for KeptRows<'_> {
    fn output(
        &self,
        node: &str,
        attempt: i64,
        stream: &str,
    ) -> Result<Option<chain::KeptCapture>, StoreError> {
        output_row(self.conn, self.path, self.run, node, attempt, stream)?
            .map(|(head, tail, total)| {
                Ok((
                    head,
                    tail,
                    count(self.path, total, "an output's byte count")?,
                ))
            })
            .transpose()
    }

    fn file(&self, node: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT bytes FROM attachments WHERE run_id = ?1 AND node = ?2 AND name = ?3",
                params![self.run.as_str(), node, name],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(on_error(self.path))
    }
}

/// Creates `dir` (and any missing parent) readable by its owner alone; an
/// existing directory is left as it is.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // The mode given at creation is masked by the umask; this is not.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

/// Creates the empty database file readable by its owner alone, unless it
/// exists; says whether it created it. SQLite takes an empty file for a new
/// database.
fn create_private_file(path: &Path) -> io::Result<bool> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => {
            fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))?;
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// The run's events after `after`, in order.
fn event_rows(
    conn: &Connection,
    path: &Path,
    run: &RunId,
    after: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let rows: Vec<(i64, EventRow)> = {
        let mut select = conn
            .prepare_cached(
                "SELECT seq, time, kind, payload, prev_hash, hash FROM events
             WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(on_error(path))?;
        select
            .query_map(params![run.as_str(), after], |row| {
                Ok((
                    row.get(0)?,
                    EventRow {
                        seq: 0,
                        time: row.get(1)?,
                        kind: row.get(2)?,
                        payload: row.get(3)?,
                        prev_hash: row.get(4)?,
                        hash: row.get(5)?,
                    },
                ))
            })
            .map_err(on_error(path))?
            .collect::<Result<_, _>>()
            .map_err(on_error(path))?
    };
    rows.into_iter()
        .map(|(seq, row)| {
            Ok(EventRow {
                seq: count(path, seq, "an event's sequence number")?,
                ..row
            })
        })
        .collect()
}

/// The run's source snapshot, in order.
fn source_rows(
    conn: &Connection,
    path: &Path,
    run: &RunId,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut select = conn
        .prepare_cached("SELECT path, text FROM sources WHERE run_id = ?1 ORDER BY position")
        .map_err(on_error(path))?;
    select
        .query_map([run.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(on_error(path))?
        .collect::<Result<_, _>>()
        .map_err(on_error(path))
}

/// The runs that `sql`, a [`SUMMARY_SELECT`] with more clauses, returns.
fn summaries(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RunSummary>, StoreError> {
    let mut select = conn.prepare_cached(sql).map_err(on_error(path))?;
    let rows = select
        .query_map(params, SummaryRow::read)
        .map_err(on_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(on_error(path))?;
    rows.into_iter().map(|row| row.into_summary(path)).collect()
}

/// A [`SUMMARY_SELECT`] row as stored.
struct SummaryRow {
    id: String,
    runbook_id: String,
    title: String,
    entry: String,
    source_hash: String,
    inputs: String,
    started_at: String,
    started_by: String,
    host: String,
    status: String,
    next_due: Option<String>,
    head_seq: i64,
    last_kind: Option<String>,
    last_time: Option<String>,
}

impl SummaryRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<SummaryRow> {
        Ok(SummaryRow {
            id: row.get(0)?,
            runbook_id: row.get(1)?,
            title: row.get(2)?,
            entry: row.get(3)?,
            source_hash: row.get(4)?,
            inputs: row.get(5)?,
            started_at: row.get(6)?,
            started_by: row.get(7)?,
            host: row.get(8)?,
            status: row.get(9)?,
            next_due: row.get(10)?,
            head_seq: row.get(11)?,
            last_kind: row.get(12)?,
            last_time: row.get(13)?,
        })
    }

    fn into_summary(self, path: &Path) -> Result<RunSummary, StoreError> {
        let id = RunId::new(self.id);
        let inputs = serde_json::from_str(&self.inputs).map_err(|error| StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!("the inputs of run {id} are not JSON: {error}"),
        })?;
        let seq = count(path, self.head_seq, "the run's event count")?;
        // The join finds no event when the journal is empty, or when its
        // last event went missing, which `verify` reports.
        let last_event = match (self.last_kind, self.last_time) {
            (Some(kind), Some(time)) => Some(LastEvent { seq, kind, time }),
            _ => None,
        };
        Ok(RunSummary {
            id,
            runbook_id: self.runbook_id,
            title: self.title,
            entry: self.entry,
            source_hash: self.source_hash,
            inputs,
            started_at: self.started_at,
            started_by: self.started_by,
            host: self.host,
            status: self.status,
            next_due: self.next_due,
            last_event,
        })
    }
}

/// Fails with [`StoreError::UnknownRun`] unless the store holds `run`.
fn require_run(conn: &Connection, path: &Path, run: &RunId) -> Result<(), StoreError> {
    let exists = conn
        .query_row("SELECT 1 FROM runs WHERE id = ?1", [run.as_str()], |_| {
            Ok(())
        })
        .optional()
        .map_err(on_error(path))?;
    exists.ok_or_else(|| unknown(run))
}

fn unknown(run: &RunId) -> StoreError {
    StoreError::UnknownRun { run: run.clone() }
}

/// A count read from the database, which rbx never writes negative.
fn count(path: &Path, value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        path: path.to_owned(),
        detail: format!("{what} is {value}"),
    })
}

/// Whether `error` is a write refused for repeating a primary key.
fn is_duplicate_key(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Turns SQLite errors from a store at `path` into [`StoreError`]s.
fn on_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| classify(path, error)
}

/// What a SQLite error means for the operator.
fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            detail: error.to_string(),
        },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
            path,
            cause: error.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
        _ => match error {
            // A value of a type or range rbx never writes.
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt {
                path,
                detail: error.to_string(),
            },
            _ => StoreError::Database {
                path,
                detail: error.to_string(),
            },
        },
    }
}

/// What a failure while opening the store at `path` in `dir` means. SQLite
/// says only "unable to open database file" when the directory cannot be
/// written (for the file itself, or for the `-wal` and `-shm` files beside
/// it), so on that answer rbx tries to write in the directory itself to be
/// able to say so.
fn opening_error(dir: &Path, path: &Path, error: rusqlite::Error) -> StoreError {
    let unwritable = match error.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly) => directory_write_error(dir),
        _ => None,
    };
    match unwritable {
        Some(cause) => StoreError::ReadOnly {
            path: dir.to_owned(),
            cause: cause.to_string(),
        },
        None => classify(path, error),
    }
}

/// Why a file cannot be created in `dir`, if it cannot.
fn directory_write_error(dir: &Path) -> Option<io::Error> {
    let probe = dir.join(format!(".rbx-write-check-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            // The directory is writable, which is all this wanted to know;
            // a probe left behind is an empty file and harmless.
            let _ = fs::remove_file(&probe);
            None
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => None,
        Err(error) => Some(error),
    }
}

/// A kept output as stored: head, tail, and the stream's byte count.
type OutputRow = (Vec<u8>, Vec<u8>, i64);

/// One kept output's head, tail and byte count as stored, if it is there.
fn output_row(
    conn: &Connection,
    path: &Path,
    run: &RunId,
    node: &str,
    attempt: i64,
    stream: &str,
) -> Result<Option<OutputRow>, StoreError> {
    conn.query_row(
        "SELECT head, tail, total FROM outputs
         WHERE run_id = ?1 AND node = ?2 AND attempt = ?3 AND stream = ?4",
        params![run.as_str(), node, attempt, stream],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .optional()
    .map_err(on_error(path))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::SqliteStore;
    use crate::migrations::MIGRATIONS;
    use crate::{Store, StoreError};

    #[test]
    fn a_failed_migration_is_rolled_back_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let path = dir.path().join("rbx.db");

        let mut next = MIGRATIONS.to_vec();
        next.push("CREATE TABLE notes (text TEXT) STRICT; INSERT INTO notes VALUES (1, 2);");
        let error = SqliteStore::open_with_migrations(dir.path(), &next).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Migration { from, version, .. }
                    if from == MIGRATIONS.len() as i64 && version == from + 1
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("rolled back"), "{message}");
        let current = MIGRATIONS.len();
        assert!(
            message.contains(&format!("unchanged, at version {current}")),
            "{message}"
        );

        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let notes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(notes, 0);
        // The store still opens with the migrations it had.
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(store.runs().unwrap().is_empty());
    }
}
