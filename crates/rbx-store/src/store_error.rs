//! Everything that can go wrong with a store, in words an operator can act
//! on.

use std::io;
use std::path::PathBuf;

use crate::{Holder, RunId};

/// An error from a store. Each message says what is wrong and what to do;
/// the underlying cause, when there is one, is part of the message, since
/// the CLI prints errors without walking their sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's directory does not exist and could not be created.
    #[error(
        "cannot create the store directory {}: {cause}; point rbx at a writable directory",
        path.display()
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it could not be created.
        cause: io::Error,
    },

    /// The store's file or directory cannot be written.
    #[error(
        "the store {} is read-only ({cause}); make it writable or point rbx at a writable directory",
        path.display()
    )]
    ReadOnly {
        /// The file or directory that cannot be written.
        path: PathBuf,
        /// What the system said.
        cause: String,
    },

    /// The store's file is not a SQLite database.
    #[error(
        "{} is not an rbx store: it is not a SQLite database, or its header is damaged; \
         move it aside (for example to {}.bad) and run again to start a new store",
        path.display(),
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },

    /// The store's file is damaged: truncated, overwritten in part, or
    /// holding a value rbx never writes.
    #[error(
        "the store {} is damaged ({detail}) and was left as it is; move it aside and run again \
         to start a new store (`sqlite3 {} .recover` can salvage what it still holds)",
        path.display(),
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was found wrong.
        detail: String,
    },

    /// The store was written by a newer rbx whose schema this one does not
    /// know. The store is left untouched.
    #[error(
        "the store {} has schema version {found}, newer than version {supported} that this rbx \
         knows; use a newer rbx (the store was not changed)",
        path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this rbx knows.
        supported: i64,
    },

    /// A schema migration failed; it was rolled back, so the store is still
    /// at the version it had.
    #[error(
        "upgrading the store {} to schema version {version} failed and was rolled back \
         ({detail}); the store is unchanged, at version {from}",
        path.display()
    )]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version the store is still at.
        from: i64,
        /// The version whose migration failed.
        version: i64,
        /// What SQLite said.
        detail: String,
    },

    /// SQLite could not put the store in write-ahead-log mode, which the
    /// store needs for durable commits while others read.
    #[error(
        "the store {} cannot use write-ahead logging (its journal mode stayed `{mode}`); \
         put the store on a local filesystem",
        path.display()
    )]
    NoWal {
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },

    /// Another process kept the store locked for longer than the busy
    /// timeout (5 s).
    #[error(
        "the store {} stayed locked by another process for more than 5s; try again when it is done",
        path.display()
    )]
    Busy {
        /// The file.
        path: PathBuf,
    },

    /// Any other failure of the database.
    #[error("the store {} failed: {detail}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },

    /// The address of a PostgreSQL store cannot be used.
    #[error(
        "the store address `{store}` cannot be used: {detail}; write it as \
         `postgres://USER@HOST:PORT/DATABASE` (the password in PGPASSWORD or ~/.pgpass, \
         never in rbx.toml)"
    )]
    BadAddress {
        /// The address, without its password.
        store: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The PostgreSQL server cannot be reached, or the connection to it was
    /// lost. What was committed before is safe in the database.
    #[error(
        "cannot reach the store {store}: {detail}; check the address, the network and that \
         the server is up, then resume: every event committed before is kept"
    )]
    Unreachable {
        /// The address, without its password.
        store: String,
        /// What the client or the server said.
        detail: String,
    },

    /// The database refused what rbx asked because the role it logged in
    /// as may not do it: an operator may add to the record, never change
    /// or remove it.
    #[error(
        "the store {store} refused: {detail}; operators may add to a run's record but never \
         change or remove it (see \"rbx for a team\" in the book for the roles and grants)"
    )]
    Denied {
        /// The address, without its password.
        store: String,
        /// What the server said.
        detail: String,
    },

    /// The store holds no run with this id.
    #[error("no run `{run}` in this store; `rbx runs` lists the runs it holds")]
    UnknownRun {
        /// The id asked for.
        run: RunId,
    },

    /// An event kind with characters the journal does not allow; a bug in
    /// the caller.
    #[error("event kind `{kind}` is not valid: use lowercase letters, digits, `_`, `.` and `-`")]
    InvalidKind {
        /// The kind given.
        kind: String,
    },

    /// Another process drives the run.
    #[error(
        "run {run} is being driven by process {} on {} since {}; wait for it to finish, \
         or stop that process and try again",
        holder.pid,
        holder.host,
        holder.since
    )]
    Locked {
        /// The run.
        run: RunId,
        /// The process that holds the run's lock.
        holder: Holder,
    },

    /// The run's record does not match its hashes: it was altered or
    /// damaged.
    #[error(
        "the record of run {run} was altered or damaged at event {seq}: {reason}; \
         do not trust this run's journal from there on"
    )]
    ChainBroken {
        /// The run.
        run: RunId,
        /// The first event that does not check out; 0 means the run's own
        /// row (its source snapshot).
        seq: u64,
        /// What does not match.
        reason: String,
    },
}
