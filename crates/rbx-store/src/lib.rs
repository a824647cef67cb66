//! The durable record of rbx runs: for each run, the snapshot of its
//! runbook sources, its non-secret inputs, an append-only journal of events
//! chained by hashes, the lock that lets one process drive it, and the
//! bounded output of its steps.
//!
//! The engine derives a run's state from its journal, so the journal is the
//! promise that an interrupted run resumes where it stopped: every write
//! here is one transaction, committed (and, with `synchronous=FULL`,
//! fsynced) before the call returns.
//!
//! Architecture invariant: this is the only crate of rbx's product that
//! contains SQL, and [`Location::open`] (through [`SqliteStore`] or
//! [`PostgresStore`]) is the only door to a database. The crate is
//! synchronous; the engine runs a store on a thread of its own, so a
//! connection never crosses an `.await`.
//!
//! Architecture invariant: the store never sees a secret. Callers pass only
//! non-secret inputs and masked commands.
//!
//! # What the SQLite store guarantees
//!
//! - A write that returned `Ok` survives a crash of the process or a power
//!   loss (write-ahead log, `synchronous=FULL`), and a write cut short by
//!   one leaves no trace: SQLite commits a transaction whole or not at all.
//! - No statement in rbx changes or removes an event, and triggers refuse
//!   it to anything else that opens the file. Event 1 chains to a hash of
//!   the run's own row, each event to the one before, and the run's row
//!   keeps the journal's length and last hash: [`Store::verify`] finds an
//!   event changed, inserted or removed (at its end too: a journal cut
//!   short), a changed source snapshot or input, and a kept output or file
//!   that no longer matches the digest its event recorded. The hashes carry
//!   no secret key: this shows accidents and edits by hand, not a forger
//!   who rewrites the whole chain and the run's row together, nor a copy of
//!   the whole store restored from before its last events.
//! - After [`Store::checkpoint`], `rbx.db` alone holds every committed
//!   write: a copy of that one file is a copy of the record.
//! - A store directory this crate creates is readable by its owner alone
//!   (0700), and so are the database files of a store it creates (0600).
//! - A file that is not a database, is damaged where opening reads it, or
//!   has a newer schema is refused with an error naming it, and left byte
//!   for byte as it was; a failed migration is rolled back whole.
//! - A truncated file is refused when opened if it lost a whole page or
//!   more (SQLite compares the file with the size its header records);
//!   otherwise reading the damaged part fails with
//!   [`StoreError::Corrupt`]. Either way the loss is reported, never
//!   papered over, but what was cut off is gone: only a copy of the file
//!   brings it back.
//!
//! It cannot promise durability on a network filesystem (the write-ahead
//! log needs memory shared on one host), nor see whether the holder of a
//! run's lock on another host is alive.
//!
//! # What the PostgreSQL store adds
//!
//! The same promises for a team on many machines: the database keeps the
//! journal append-only and chained for every role short of one that can
//! disable its triggers; a run's lock is a lease that lapses when its
//! driver's machine vanishes, and fences that driver out once another took
//! over; the operator is the role the database authenticated; a waiter
//! hears of a new event the moment it is committed.

mod chain;
mod crash;
mod event;
mod hash;
mod location;
mod lock;
mod memory_store;
mod migrations;
mod output;
mod portable;
mod postgres_store;
mod run;
mod run_id;
mod sqlite_store;
mod store;
mod store_error;
mod test_clock;
mod utc;

pub use crash::CRASH_AFTER_EVENTS;
pub use event::{Event, Tail};
pub use hash::{hash_sources, output_digest};
pub use location::Location;
pub use lock::{Holder, LockOutcome};
pub use memory_store::{MemoryClock, MemoryStore};
pub use output::Output;
pub use portable::{Copied, Portable, RunRecord, copy_run};
pub use postgres_store::{LEASE_SECONDS, PostgresStore};
pub use run::{LastEvent, NewRun, RunSummary};
pub use run_id::RunId;
pub use sqlite_store::SqliteStore;
pub use store::{POLL_INTERVAL, Store};
pub use store_error::StoreError;
pub use test_clock::{TestClock, set_test_clock};
