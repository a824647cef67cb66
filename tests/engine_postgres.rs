//! The end-to-end engine tests of `tests/engine.rs` — runs, failures,
//! retries, `kill -9` and resume, Ctrl-C, changed runbooks, cancels — every
//! one again with its runs recorded in PostgreSQL: a throwaway cluster this
//! binary starts, a fresh database per test, reached as an operator's role.

#[path = "engine.rs"]
mod engine;
