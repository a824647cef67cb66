//! What rbx shows — the list of runs, one run's status, its journal, its
//! report, the plan and the picture of a procedure — built once from the
//! store's records, the engine's replay and the checked graph, and
//! rendered as text, Markdown or HTML for a person or as versioned JSON
//! for a program.
//!
//! Architecture invariant: views read; they never write to a store, and
//! they print nothing (the CLI prints what they render).

pub mod graph;
mod log;
pub mod plan;
pub mod report;
mod runs;
mod status;

pub use log::{LogEvent, LogOutput, LogView};
pub use runs::{RunRow, RunsView};
pub use status::{NodeRow, StatusView};

/// The version of every JSON document this crate writes. A field is added
/// without a new version; one removed or changed in meaning bumps it.
pub const JSON_VERSION: u32 = 1;

/// A checked entry runbook with its graph: what the plan and the picture
/// are made of.
#[derive(Debug)]
pub struct Procedure {
    pub report: rbx_check::Report,
    pub graph: rbx_check::graph::Graph,
}
