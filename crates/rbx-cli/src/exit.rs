//! The exit statuses of `rbx`, one constant each, documented in the README
//! and the book's CLI reference.

/// Everything asked for was done and nothing was wrong.
pub const SUCCESS: u8 = 0;
/// The check ran and failed: `rbx fmt --check` found files to reformat.
pub const FAILED: u8 = 1;
/// The input is wrong: a usage error, an unreadable file, or a lint error.
pub const INVALID: u8 = 2;
