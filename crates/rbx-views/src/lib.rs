//! What rbx shows of its runs — the list of runs, one run's status, its
//! journal — built once from the store's records and the engine's replay,
//! and rendered as text for a person or as versioned JSON for a program.
//!
//! Architecture invariant: views read; they never write to a store, and
//! they print nothing (the CLI prints what they render).

mod log;
mod runs;
mod status;

pub use log::{LogEvent, LogOutput, LogView};
pub use runs::{RunRow, RunsView};
pub use status::{NodeRow, StatusView};

/// The version of every JSON document this crate writes. A field is added
/// without a new version; one removed or changed in meaning bumps it.
pub const JSON_VERSION: u32 = 1;
