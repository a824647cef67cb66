//! The exit statuses of `rbx`, one constant each, documented in the README
//! and the book's CLI reference.

/// Everything asked for was done and nothing was wrong.
pub const SUCCESS: u8 = 0;
/// The check or the run ran and failed: `rbx fmt --check` found files to
/// reformat, or a run stopped at a failed step with nowhere to route it.
pub const FAILED: u8 = 1;
/// The input is wrong: a usage error, an unreadable file, or a lint error.
pub const INVALID: u8 = 2;
/// A run is waiting for a person (a manual step, a choice, a sign-off) or
/// for a decision about a step left in doubt.
pub const PAUSED: u8 = 3;
/// A run ended with an outcome its runbook does not count as a success
/// (`rolled_back`, `escalated`, an outcome a failure route leads to).
pub const UNSUCCESSFUL: u8 = 4;
/// A run was interrupted (Ctrl-C); `rbx resume` goes on with it.
pub const INTERRUPTED: u8 = 130;
