//! The shared store: one PostgreSQL database that every machine of a team
//! records its runs in.
//!
//! The same trait, the same hashes and the same chain check as SQLite; the
//! database itself refuses an event that does not continue its run's chain
//! and any change to what was recorded (see `migrations.rs`). Times are the
//! database's clock, so a journal written from several machines reads in
//! one time. One process drives a run through a lease with a heartbeat
//! (`lease.rs`); whoever waits for a run hears of its new events through
//! `LISTEN`/`NOTIFY`.

mod connect;
mod lease;
mod migrations;
mod portable;

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, Row, Statement};
use serde_json::Value;

use crate::chain::{self, EventRow, HeaderRow};
use crate::crash::CrashAfter;
use crate::hash::{RunHeader, file_digest, valid_kind};
use crate::lock::{Liveness, liveness};
use crate::utc::Utc;
use crate::{
    Event, Holder, LastEvent, LockOutcome, NewRun, Output, RunId, RunSummary, Store, StoreError,
    Tail, hash_sources, output_digest,
};

use connect::Target;
pub use lease::LEASE_SECONDS;
use lease::Lease;
use migrations::{MIGRATIONS, MigrateError};

/// The database's clock as the store writes times: RFC 3339 UTC with
/// milliseconds, as [`Utc::rfc3339_millis`] writes them.
const NOW: &str =
    r#"to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#;

/// The status of a run that nothing has been done with yet.
const CREATED: &str = "created";

/// How many fresh ids `create_run` tries before it gives up.
const ID_ATTEMPTS: usize = 16;

/// Appends one event as the next link of its run's chain, in one
/// statement: the run's row is locked, the time is the database's, the
/// hash is computed where it is stored, and the event is written only if
/// the caller's lease (`$4`, when it holds one) is still the run's.
const APPEND: &str = r#"
    WITH head AS (
        SELECT r.id, r.head_seq + 1 AS seq, r.head_hash AS prev_hash, l.token,
               to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time
        FROM runs AS r LEFT JOIN locks AS l ON l.run_id = r.id
        WHERE r.id = $1
        FOR UPDATE OF r
    )
    INSERT INTO events (run_id, seq, time, kind, payload, prev_hash, hash)
    SELECT id, seq, time, $2, $3, prev_hash, rbx_event_hash(prev_hash, seq, time, $2, $3)
    FROM head
    WHERE $4::text IS NULL OR token IS NOT DISTINCT FROM $4::text
    RETURNING seq"#;

/// The columns of a [`RunSummary`]: the run's row joined with its last
/// event.
const SUMMARY_SELECT: &str = "
    SELECT r.id, r.runbook_id, r.title, r.entry, r.source_hash, r.inputs, r.started_at,
           r.started_by, r.host, r.status, r.next_due, r.head_seq, e.kind, e.time
    FROM runs AS r
    LEFT JOIN events AS e ON e.run_id = r.id AND e.seq = r.head_seq";

/// How a waiting driver hears that a run has new events.
const CHANNEL: &str = "rbx_events";

/// A store in a PostgreSQL database, shared by every machine that points
/// at it.
///
/// Like [`SqliteStore`](crate::SqliteStore) it is [`Send`] and driven from
/// one thread; its connection is kept in a `RefCell` because the client
/// needs `&mut` to read.
pub struct PostgresStore {
    target: Target,
    client: RefCell<Client>,
    /// Statements prepared once per connection, by their text.
    statements: RefCell<HashMap<&'static str, Statement>>,
    /// The leases this store holds, by run.
    leases: HashMap<RunId, Lease>,
    /// A connection that listens for new events, opened on first wait.
    listener: RefCell<Option<Client>>,
    /// The role the database authenticated: the operator on this store.
    role: String,
    /// How long a lease this store takes lasts unless renewed, in seconds.
    lease_seconds: u32,
    /// The run of an event committed without waiting for the server's
    /// flush, when no durable commit has followed it yet.
    unsynced: Option<RunId>,
    crash: CrashAfter,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database `address` names (a `postgres://` URL or a
    /// `key=value` string, as `psql` takes them) and brings its schema up
    /// to date.
    ///
    /// A database with a newer schema is refused untouched. Migrating needs
    /// the rights of the tables' owner; an operator's role opens a
    /// database that is already current, and is told to ask the owner
    /// otherwise.
    pub fn open(address: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with_migrations(address, MIGRATIONS)
    }

    fn open_with_migrations(
        address: &str,
        migrations: &[&str],
    ) -> Result<PostgresStore, StoreError> {
        let target = Target::parse(address)?;
        let mut client = target.connect()?;
        let shown = PathBuf::from(&target.shown);
        let fail = |error: postgres::Error| classify(&target, &error);
        let encoding: String = client
            .query_one("SHOW server_encoding", &[])
            .map_err(fail)?
            .get(0);
        if encoding != "UTF8" {
            return Err(StoreError::BadAddress {
                store: target.shown.clone(),
                detail: format!(
                    "the database's encoding is {encoding}; rbx needs a UTF8 database \
                     (CREATE DATABASE … ENCODING 'UTF8')"
                ),
            });
        }
        let found = migrations::version(&mut client).map_err(fail)?;
        let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
        if found > supported {
            return Err(StoreError::TooNew {
                path: shown,
                found,
                supported,
            });
        }
        if found < supported {
            migrations::migrate(&mut client, migrations).map_err(|error| match error {
                MigrateError::TooNew { found, supported } => StoreError::TooNew {
                    path: shown.clone(),
                    found,
                    supported,
                },
                MigrateError::Failed {
                    from,
                    version,
                    cause,
                } => StoreError::Migration {
                    path: shown.clone(),
                    from,
                    version,
                    detail: format!(
                        "{}; the role that first opens a database, or opens it after an \
                         upgrade of rbx, must own its tables",
                        error_detail(&cause)
                    ),
                },
                MigrateError::Postgres(cause) => classify(&target, &cause),
            })?;
        }
        let role: String = client
            .query_one("SELECT session_user::text", &[])
            .map_err(fail)?
            .get(0);
        Ok(PostgresStore {
            target,
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            leases: HashMap::new(),
            listener: RefCell::new(None),
            role,
            lease_seconds: lease::seconds_from_env(),
            unsynced: None,
            crash: CrashAfter::from_env(),
        })
    }

    /// The store, its leases lasting `seconds` unless renewed (by default
    /// `RBX_LEASE_SECONDS`, else 30).
    #[must_use]
    pub fn with_lease_seconds(mut self, seconds: u32) -> PostgresStore {
        self.lease_seconds = seconds.max(1);
        self
    }

    /// The database role this store logged in as.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The connection, made again if the last one was lost (the server
    /// restarted): what was committed is in the database, and a call that
    /// failed with the old connection returned an error, so nothing is
    /// done twice.
    fn client(&self) -> Result<RefMut<'_, Client>, StoreError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            *client = self.target.connect()?;
            self.statements.borrow_mut().clear();
        }
        Ok(client)
    }

    /// The statement `sql`, prepared once per connection.
    fn statement(&self, client: &mut Client, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).map_err(self.fail())?;
        self.statements.borrow_mut().insert(sql, statement.clone());
        Ok(statement)
    }

    fn fail(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |error| classify(&self.target, &error)
    }

    fn append_row(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
        commit: Commit<'_>,
    ) -> Result<u64, StoreError> {
        if !valid_kind(kind) {
            return Err(StoreError::InvalidKind {
                kind: kind.to_owned(),
            });
        }
        let payload = payload.to_string();
        let token = self.leases.get(run).map(|lease| lease.token.clone());
        let seq = {
            let mut client = self.client()?;
            let append = self.statement(&mut client, APPEND)?;
            let row = match commit {
                Commit::Durable => client
                    .query_opt(&append, &[&run.as_str(), &kind, &payload, &token])
                    .map_err(self.fail())?,
                Commit::Deferred => {
                    // The server has the event when the commit returns
                    // (the end of this process cannot lose it); the next
                    // durable commit flushes the log up to it.
                    let mut tx = client.transaction().map_err(self.fail())?;
                    tx.batch_execute("SET LOCAL synchronous_commit = off")
                        .map_err(self.fail())?;
                    let row = tx
                        .query_opt(&append, &[&run.as_str(), &kind, &payload, &token])
                        .map_err(self.fail())?;
                    tx.commit().map_err(self.fail())?;
                    row
                }
                Commit::Stopping(status, next_due) => {
                    let mut tx = client.transaction().map_err(self.fail())?;
                    let row = tx
                        .query_opt(&append, &[&run.as_str(), &kind, &payload, &token])
                        .map_err(self.fail())?;
                    if row.is_some() {
                        tx.execute(
                            "UPDATE runs SET status = $2, next_due = $3 WHERE id = $1",
                            &[&run.as_str(), &status, &next_due],
                        )
                        .map_err(self.fail())?;
                    }
                    tx.commit().map_err(self.fail())?;
                    row
                }
            };
            row.map(|row| row.get::<_, i64>(0))
        };
        let Some(seq) = seq else {
            return Err(self.why_not_appended(run)?);
        };
        // A durable commit flushes the server's log up to itself, and so
        // every commit before it.
        self.unsynced = matches!(commit, Commit::Deferred).then(|| run.clone());
        self.crash.committed();
        count(&self.target, seq, "an event's sequence number")
    }

    /// Why an append wrote nothing: the run is not there, or its lease is
    /// no longer this process's (another took the run over).
    fn why_not_appended(&self, run: &RunId) -> Result<StoreError, StoreError> {
        if self.run(run)?.is_none() {
            return Ok(unknown(run));
        }
        Ok(match self.lock_row(run)? {
            Some((holder, _)) => StoreError::Locked {
                run: run.clone(),
                holder,
            },
            None => StoreError::Database {
                path: PathBuf::from(&self.target.shown),
                detail: format!(
                    "this process's lease on run {run} was released or taken over; \
                     it no longer drives the run"
                ),
            },
        })
    }

    /// The run's lock: its holder and whether its lease lapsed.
    fn lock_row(&self, run: &RunId) -> Result<Option<(Holder, bool)>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_opt(
                "SELECT pid, host, since, expires_at <= clock_timestamp() FROM locks
                 WHERE run_id = $1",
                &[&run.as_str()],
            )
            .map_err(self.fail())?;
        Ok(row.map(|row| {
            let pid = u32::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            (
                Holder {
                    pid,
                    host: row.get(1),
                    since: row.get(2),
                },
                row.get(3),
            )
        }))
    }

    fn summaries(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<RunSummary>, StoreError> {
        let rows = self.client()?.query(sql, params).map_err(self.fail())?;
        rows.iter()
            .map(|row| summary_from_row(&self.target, row))
            .collect()
    }

    /// The rows of the journal from its newest event of `kind`, checked
    /// as [`Store::journal_from_last`] says.
    fn tail_rows(&self, run: &RunId, kind: &str) -> Result<Option<Vec<EventRow>>, StoreError> {
        let fail = self.fail();
        let mut client = self.client()?;
        // The head and the events from one snapshot, even while a driver
        // appends.
        let mut tx = snapshot(&mut client).map_err(&fail)?;
        let head = tx
            .query_opt(
                "SELECT head_seq, head_hash FROM runs WHERE id = $1",
                &[&run.as_str()],
            )
            .map_err(&fail)?
            .ok_or_else(|| unknown(run))?;
        let (head_seq, head_hash): (i64, String) = (head.get(0), head.get(1));
        // The key is (run_id, seq): walked backwards, it stops at the newest.
        let found = tx
            .query_opt(
                "SELECT seq FROM events WHERE run_id = $1 AND kind = $2
                 ORDER BY seq DESC LIMIT 1",
                &[&run.as_str(), &kind],
            )
            .map_err(&fail)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let from = count(&self.target, found.get(0), "an event's sequence number")?;
        let after = i64::try_from(from.saturating_sub(2)).unwrap_or(i64::MAX);
        let rows = self.event_rows(&mut tx, run, after)?;
        tx.commit().map_err(&fail)?;
        let head = (
            count(&self.target, head_seq, "the run's event count")?,
            head_hash.as_str(),
        );
        chain::check_tail(run, from, head, rows).map(Some)
    }

    fn event_rows(
        &self,
        client: &mut impl postgres::GenericClient,
        run: &RunId,
        after: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = client
            .query(
                "SELECT seq, time, kind, payload, prev_hash, hash FROM events
                 WHERE run_id = $1 AND seq > $2 ORDER BY seq",
                &[&run.as_str(), &after],
            )
            .map_err(self.fail())?;
        rows.iter()
            .map(|row| {
                Ok(EventRow {
                    seq: count(&self.target, row.get(0), "an event's sequence number")?,
                    time: row.get(1),
                    kind: row.get(2),
                    payload: row.get(3),
                    prev_hash: row.get(4),
                    hash: row.get(5),
                })
            })
            .collect()
    }

    fn require_run(&self, run: &RunId) -> Result<(), StoreError> {
        let found = self
            .client()?
            .query_opt("SELECT 1 FROM runs WHERE id = $1", &[&run.as_str()])
            .map_err(self.fail())?;
        found.map(|_| ()).ok_or_else(|| unknown(run))
    }

    /// The connection that listens for new events, opened (and told to
    /// listen) on first use.
    fn listening(&self) -> Result<RefMut<'_, Client>, StoreError> {
        let mut listener = self.listener.borrow_mut();
        if listener.as_ref().is_none_or(Client::is_closed) {
            let mut client = self.target.connect()?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(self.fail())?;
            *listener = Some(client);
        }
        Ok(RefMut::map(listener, |l| {
            l.as_mut().unwrap_or_else(|| unreachable!("set just above"))
        }))
    }
}

impl PostgresStore {
    /// Creates a run under `chosen`, or under fresh ids until one is free
    /// when `chosen` is `None`. `Ok(None)`: a run with the chosen id
    /// exists already, and nothing was written.
    fn insert_run(
        &mut self,
        run: &NewRun,
        chosen: Option<&RunId>,
    ) -> Result<Option<RunId>, StoreError> {
        let source_hash = hash_sources(&run.sources);
        let inputs = run.inputs.to_string();
        let fail = self.fail();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&fail)?;
        let started_at: String = tx
            .query_one(&format!("SELECT {NOW}"), &[])
            .map_err(&fail)?
            .get(0);
        let mut attempts = 0;
        let id = loop {
            let id = chosen
                .cloned()
                .unwrap_or_else(|| RunId::generate(&Utc::now()));
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
            let inserted = tx
                .execute(
                    "INSERT INTO runs (id, runbook_id, title, entry, source_hash, inputs,
                                       started_at, started_by, host, status, next_due,
                                       head_seq, head_hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 0, $11)
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        &id.as_str(),
                        &run.runbook_id,
                        &run.title,
                        &run.entry,
                        &source_hash,
                        &inputs,
                        &started_at,
                        &run.started_by,
                        &run.host,
                        &CREATED,
                        &head_hash,
                    ],
                )
                .map_err(&fail)?;
            if inserted == 1 {
                break id;
            }
            if chosen.is_some() {
                return Ok(None);
            }
            attempts += 1;
            if attempts == ID_ATTEMPTS {
                return Err(StoreError::Database {
                    path: PathBuf::from(&self.target.shown),
                    detail: "no free run id was found".to_owned(),
                });
            }
        };
        let insert = tx
            .prepare("INSERT INTO sources (run_id, position, path, text) VALUES ($1, $2, $3, $4)")
            .map_err(&fail)?;
        for (position, (path, text)) in (0_i64..).zip(&run.sources) {
            tx.execute(&insert, &[&id.as_str(), &position, path, text])
                .map_err(&fail)?;
        }
        tx.commit().map_err(&fail)?;
        Ok(Some(id))
    }
}

impl Store for PostgresStore {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        self.insert_run(run, None)?
            .ok_or_else(|| StoreError::Database {
                path: PathBuf::from(&self.target.shown),
                detail: "no free run id was found".to_owned(),
            })
    }

    fn create_run_as(&mut self, id: &RunId, run: &NewRun) -> Result<bool, StoreError> {
        Ok(self.insert_run(run, Some(id))?.is_some())
    }

    fn append(&mut self, run: &RunId, kind: &str, payload: &Value) -> Result<u64, StoreError> {
        self.append_row(run, kind, payload, Commit::Durable)
    }

    fn append_deferred(
        &mut self,
        run: &RunId,
        kind: &str,
        payload: &Value,
    ) -> Result<u64, StoreError> {
        self.append_row(run, kind, payload, Commit::Deferred)
    }

    fn unsynced(&self) -> bool {
        self.unsynced.is_some()
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let Some(run) = self.unsynced.clone() else {
            return Ok(());
        };
        // Only a commit that wrote to the server's log waits for its
        // flush (a transaction that merely took an id does not): this
        // rewrites the run's status as it is, and its durable commit
        // flushes the log, the deferred commits before it included.
        self.client()?
            .execute(
                "UPDATE runs SET status = status WHERE id = $1",
                &[&run.as_str()],
            )
            .map_err(self.fail())?;
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
        self.append_row(run, kind, payload, Commit::Stopping(status, next_due))
    }

    fn events(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        self.events_since(run, 0)
    }

    fn events_since(&self, run: &RunId, seq: u64) -> Result<Vec<Event>, StoreError> {
        self.require_run(run)?;
        let Ok(after) = i64::try_from(seq) else {
            return Ok(Vec::new());
        };
        let shown = PathBuf::from(&self.target.shown);
        let rows = self.event_rows(&mut *self.client()?, run, after)?;
        rows.into_iter()
            .map(|row| row.into_event(&shown, run))
            .collect()
    }

    fn journal_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Vec<Event>>, StoreError> {
        let shown = PathBuf::from(&self.target.shown);
        self.tail_rows(run, kind)?
            .map(|rows| {
                rows.into_iter()
                    .map(|row| row.into_event(&shown, run))
                    .collect()
            })
            .transpose()
    }

    fn tail_from_last(&self, run: &RunId, kind: &str) -> Result<Option<Tail>, StoreError> {
        match self.tail_rows(run, kind)? {
            Some(rows) => chain::tail(rows, &PathBuf::from(&self.target.shown), run),
            None => Ok(None),
        }
    }

    fn verify(&self, run: &RunId) -> Result<(), StoreError> {
        let fail = self.fail();
        let mut client = self.client()?;
        // One snapshot for the run's head, its events and its captures,
        // even while its driver appends.
        let mut tx = snapshot(&mut client).map_err(&fail)?;
        let row = tx
            .query_opt(
                "SELECT runbook_id, title, entry, source_hash, inputs, started_at, started_by,
                        host, head_seq, head_hash
                 FROM runs WHERE id = $1",
                &[&run.as_str()],
            )
            .map_err(&fail)?
            .ok_or_else(|| unknown(run))?;
        let header = HeaderRow {
            runbook_id: row.get(0),
            title: row.get(1),
            entry: row.get(2),
            source_hash: row.get(3),
            inputs: row.get(4),
            started_at: row.get(5),
            started_by: row.get(6),
            host: row.get(7),
            head_seq: count(&self.target, row.get(8), "the run's event count")?,
            head_hash: row.get(9),
        };
        let sources: Vec<(String, String)> = tx
            .query(
                "SELECT path, text FROM sources WHERE run_id = $1 ORDER BY position",
                &[&run.as_str()],
            )
            .map_err(&fail)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let events = self.event_rows(&mut tx, run, 0)?;
        let kept = KeptRows {
            tx: RefCell::new(tx),
            store: self,
            run,
        };
        chain::check(run, &header, &sources, &events, &kept)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        // The database's own log is its business: a committed write is
        // already the whole record.
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.summaries(&format!("{SUMMARY_SELECT} ORDER BY r.started_at, r.n"), &[])
    }

    fn run(&self, id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        Ok(self
            .summaries(
                &format!("{SUMMARY_SELECT} WHERE r.id = $1"),
                &[&id.as_str()],
            )?
            .pop())
    }

    fn latest_with_status_in(&self, statuses: &[&str]) -> Result<Option<RunSummary>, StoreError> {
        let statuses: Vec<&str> = statuses.to_vec();
        Ok(self
            .summaries(
                &format!(
                    "{SUMMARY_SELECT} WHERE r.status = ANY($1)
                     ORDER BY r.started_at DESC, r.n DESC LIMIT 1"
                ),
                &[&statuses],
            )?
            .pop())
    }

    fn set_status(
        &mut self,
        run: &RunId,
        status: &str,
        next_due: Option<&str>,
    ) -> Result<(), StoreError> {
        let changed = self
            .client()?
            .execute(
                "UPDATE runs SET status = $2, next_due = $3 WHERE id = $1",
                &[&run.as_str(), &status, &next_due],
            )
            .map_err(self.fail())?;
        if changed == 0 {
            return Err(unknown(run));
        }
        Ok(())
    }

    fn sources(&self, run: &RunId) -> Result<Vec<(String, String)>, StoreError> {
        self.require_run(run)?;
        let rows = self
            .client()?
            .query(
                "SELECT path, text FROM sources WHERE run_id = $1 ORDER BY position",
                &[&run.as_str()],
            )
            .map_err(self.fail())?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn lock(&mut self, run: &RunId, holder: &Holder) -> Result<LockOutcome, StoreError> {
        let token = lease_token(holder);
        let length = f64::from(self.lease_seconds);
        let outcome = {
            let fail = self.fail();
            let mut client = self.client()?;
            let mut tx = client.transaction().map_err(&fail)?;
            // Locking the run's row makes finding the lock and taking it
            // one step: two machines cannot both find the run free.
            tx.query_opt(
                "SELECT 1 FROM runs WHERE id = $1 FOR UPDATE",
                &[&run.as_str()],
            )
            .map_err(&fail)?
            .ok_or_else(|| unknown(run))?;
            let current = tx
                .query_opt(
                    "SELECT pid, host, since, expires_at <= clock_timestamp() FROM locks
                     WHERE run_id = $1",
                    &[&run.as_str()],
                )
                .map_err(&fail)?;
            let outcome = match current {
                None => LockOutcome::Acquired,
                Some(row) => {
                    let previous = Holder {
                        pid: u32::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                        host: row.get(1),
                        since: row.get(2),
                    };
                    let lapsed: bool = row.get(3);
                    // As with SQLite, a holder on this host whose process
                    // is gone (or that had this process's pid) is seen to
                    // be gone; on another host only its lease can tell.
                    let gone_here = previous.host == holder.host
                        && (previous.pid == holder.pid || liveness(previous.pid) == Liveness::Gone);
                    if !lapsed && !gone_here {
                        return Err(StoreError::Locked {
                            run: run.clone(),
                            holder: previous,
                        });
                    }
                    LockOutcome::TookOver(previous)
                }
            };
            tx.execute(
                "INSERT INTO locks (run_id, pid, host, since, token, expires_at)
                 VALUES ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6))
                 ON CONFLICT (run_id) DO UPDATE SET
                     pid = excluded.pid, host = excluded.host, since = excluded.since,
                     token = excluded.token, role = session_user,
                     expires_at = excluded.expires_at",
                &[
                    &run.as_str(),
                    &i64::from(holder.pid),
                    &holder.host,
                    &holder.since,
                    &token,
                    &length,
                ],
            )
            .map_err(&fail)?;
            tx.commit().map_err(&fail)?;
            outcome
        };
        let lease = Lease::hold(&self.target, run.as_str(), token, self.lease_seconds);
        self.leases.insert(run.clone(), lease);
        Ok(outcome)
    }

    fn unlock(&mut self, run: &RunId, pid: u32) -> Result<(), StoreError> {
        // Only the lease this store took is released, and only by the
        // process that took it: a successor's lease is never touched.
        if pid != std::process::id() {
            return Ok(());
        }
        let Some(lease) = self.leases.remove(run) else {
            return Ok(());
        };
        self.client()?
            .execute(
                "DELETE FROM locks WHERE run_id = $1 AND token = $2",
                &[&run.as_str(), &lease.token],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    fn holder(&self, run: &RunId, here: &str) -> Result<Option<(Holder, bool)>, StoreError> {
        Ok(self.lock_row(run)?.map(|(holder, lapsed)| {
            let gone_here = holder.host == here && liveness(holder.pid) == Liveness::Gone;
            let alive = !lapsed && !gone_here;
            (holder, alive)
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
        let digest = output_digest(head, tail, total);
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.require_run(run)?;
        self.client()?
            .execute(
                "INSERT INTO outputs (run_id, node, attempt, stream, head, tail, total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (run_id, node, attempt, stream)
                 DO UPDATE SET head = excluded.head, tail = excluded.tail, total = excluded.total",
                &[
                    &run.as_str(),
                    &node,
                    &i64::from(attempt),
                    &stream,
                    &head,
                    &tail,
                    &total,
                ],
            )
            .map_err(self.fail())?;
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
        let hash = file_digest(bytes);
        self.require_run(run)?;
        self.client()?
            .execute(
                "INSERT INTO attachments (run_id, node, name, file, sha256, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (run_id, node, name)
                 DO UPDATE SET file = excluded.file, sha256 = excluded.sha256,
                               bytes = excluded.bytes",
                &[&run.as_str(), &node, &name, &file, &hash, &bytes],
            )
            .map_err(self.fail())?;
        Ok(hash)
    }

    fn attachment(
        &self,
        run: &RunId,
        node: &str,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT file, sha256, bytes FROM attachments
                 WHERE run_id = $1 AND node = $2 AND name = $3",
                &[&run.as_str(), &node, &name],
            )
            .map_err(self.fail())?;
        Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
    }

    fn output(
        &self,
        run: &RunId,
        node: &str,
        attempt: u32,
        stream: &str,
    ) -> Result<Option<Output>, StoreError> {
        self.require_run(run)?;
        let row = self
            .client()?
            .query_opt(
                "SELECT head, tail, total FROM outputs
                 WHERE run_id = $1 AND node = $2 AND attempt = $3 AND stream = $4",
                &[&run.as_str(), &node, &i64::from(attempt), &stream],
            )
            .map_err(self.fail())?;
        row.map(|row| {
            Ok(Output {
                head: row.get(0),
                tail: row.get(1),
                total: count(&self.target, row.get(2), "an output's byte count")?,
            })
        })
        .transpose()
    }

    fn identity(&self) -> Option<String> {
        Some(self.role.clone())
    }

    fn wait_for_events(
        &self,
        run: &RunId,
        after: u64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + timeout;
        // Listening starts before the journal is read, so an event
        // committed in between is heard, not missed.
        let mut listener = self.listening()?;
        if !self.events_since(run, after)?.is_empty() {
            return Ok(true);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let heard = listener
                .notifications()
                .timeout_iter(left)
                .next()
                .map_err(self.fail())?;
            match heard {
                None => return Ok(false),
                Some(note) if note.payload() == run.as_str() => {
                    if !self.events_since(run, after)?.is_empty() {
                        return Ok(true);
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// How an append is committed.
#[derive(Debug, Clone, Copy)]
enum Commit<'a> {
    /// Flushed by the server before the commit returns.
    Durable,
    /// Returned before the flush; made durable by the next durable commit
    /// or [`Store::sync`].
    Deferred,
    /// Durable, with the run's status and next due time in the same
    /// transaction.
    Stopping(&'a str, Option<&'a str>),
}

/// The outputs and files of one run, read in the check's snapshot.
struct KeptRows<'a, 't> {
    tx: RefCell<postgres::Transaction<'t>>,
    store: &'a PostgresStore,
    run: &'a RunId,
}

impl chain::Kept for KeptRows<'_, '_> {
    fn output(
        &self,
        node: &str,
        attempt: i64,
        stream: &str,
    ) -> Result<Option<chain::KeptCapture>, StoreError> {
        let row = self
            .tx
            .borrow_mut()
            .query_opt(
                "SELECT head, tail, total FROM outputs
                 WHERE run_id = $1 AND node = $2 AND attempt = $3 AND stream = $4",
                &[&self.run.as_str(), &node, &attempt, &stream],
            )
            .map_err(self.store.fail())?;
        row.map(|row| {
            Ok((
                row.get(0),
                row.get(1),
                count(&self.store.target, row.get(2), "an output's byte count")?,
            ))
        })
        .transpose()
    }

    fn file(&self, node: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .tx
            .borrow_mut()
            .query_opt(
                "SELECT bytes FROM attachments WHERE run_id = $1 AND node = $2 AND name = $3",
                &[&self.run.as_str(), &node, &name],
            )
            .map_err(self.store.fail())?;
        Ok(row.map(|row| row.get(0)))
    }
}

fn summary_from_row(target: &Target, row: &Row) -> Result<RunSummary, StoreError> {
    let id = RunId::new(row.get::<_, String>(0));
    let inputs_text: String = row.get(5);
    let inputs = serde_json::from_str(&inputs_text).map_err(|error| StoreError::Corrupt {
        path: PathBuf::from(&target.shown),
        detail: format!("the inputs of run {id} are not JSON: {error}"),
    })?;
    let seq = count(target, row.get(11), "the run's event count")?;
    let last_event = match (row.get::<_, Option<String>>(12), row.get(13)) {
        (Some(kind), Some(time)) => Some(LastEvent { seq, kind, time }),
        _ => None,
    };
    Ok(RunSummary {
        id,
        runbook_id: row.get(1),
        title: row.get(2),
        entry: row.get(3),
        source_hash: row.get(4),
        inputs,
        started_at: row.get(6),
        started_by: row.get(7),
        host: row.get(8),
        status: row.get(9),
        next_due: row.get(10),
        last_event,
    })
}

/// A token no other lease has: the holder, the time, and this process's
/// counter of ids, hashed.
fn lease_token(holder: &Holder) -> String {
    let salt = RunId::generate(&Utc::now());
    file_digest(format!("{}|{}|{}|{salt}", holder.host, holder.pid, holder.since).as_bytes())
}

/// A read-only transaction that sees one snapshot of the database, even
/// while a driver appends.
fn snapshot(client: &mut Client) -> Result<postgres::Transaction<'_>, postgres::Error> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
}

fn unknown(run: &RunId) -> StoreError {
    StoreError::UnknownRun { run: run.clone() }
}

/// A count read from the database, which rbx never writes negative.
fn count(target: &Target, value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        path: PathBuf::from(&target.shown),
        detail: format!("{what} is {value}"),
    })
}

/// A connection string as it may be shown: without its password.
pub(crate) fn shown(address: &str) -> String {
    connect::redact(address)
}

/// What a client error means for the operator.
fn classify(target: &Target, error: &postgres::Error) -> StoreError {
    let store = target.shown.clone();
    let detail = error_detail(error);
    match error.code() {
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            StoreError::Denied { store, detail }
        }
        Some(code) if code.code().starts_with("08") || *code == SqlState::ADMIN_SHUTDOWN => {
            StoreError::Unreachable { store, detail }
        }
        Some(_) => StoreError::Database {
            path: PathBuf::from(store),
            detail,
        },
        None if error.is_closed() || error.as_db_error().is_none() => {
            StoreError::Unreachable { store, detail }
        }
        None => StoreError::Database {
            path: PathBuf::from(store),
            detail,
        },
    }
}

/// The whole of what the client and the server said, causes included: the
/// client's own message is often only "error connecting to server".
fn error_detail(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(&format!(": {said}"));
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MIGRATIONS, PostgresStore};
    use crate::{NewRun, Store};

    #[test]
    fn a_database_of_an_earlier_schema_is_upgraded_in_place() {
        let db = rbx_pgtest::Cluster::shared().database();
        let mut old = PostgresStore::open_with_migrations(&db.url(), &MIGRATIONS[..1])
            .expect("the first schema");
        let run = old
            .create_run(&NewRun {
                runbook_id: "r".to_owned(),
                title: "R".to_owned(),
                entry: "r.runbook".to_owned(),
                sources: vec![("r.runbook".to_owned(), "runbook r \"R\" {}\n".to_owned())],
                inputs: json!({}),
                started_by: "alice".to_owned(),
                host: "laptop".to_owned(),
            })
            .expect("a run");
        old.append(&run, "run_started", &json!({}))
            .expect("appended");
        drop(old);

        let store = PostgresStore::open(&db.url()).expect("the upgrade");
        store.verify(&run).expect("the run survives the upgrade");
        let mut admin = db.admin();
        let version: i32 = admin
            .query_one("SELECT version FROM rbx_schema", &[])
            .expect("the version")
            .get(0);
        assert_eq!(usize::try_from(version).ok(), Some(MIGRATIONS.len()));
        let appended: String = admin
            .query_one(
                "SELECT pg_get_functiondef('rbx_event_appended'::regproc)",
                &[],
            )
            .expect("the function")
            .get(0);
        assert!(appended.contains("NOT EXISTS"), "{appended}");
    }
}
