//! The first stage of rbx: `.runbook` text to a typed syntax tree, with
//! diagnostics for everything that is not the language.
//!
//! Architecture invariant: this crate does no IO and knows nothing of
//! checking, graphs or execution. It never prints; diagnostics carry spans
//! and the caller renders them.

// pest's derived parsers name `alloc::boxed::Box` when pest is built
// without `std` (see the workspace manifest).
extern crate alloc;

pub mod ast;
pub mod diagnostic;
mod expected;
pub mod fmt;
mod lower;
mod parser;
mod scan;
pub mod span;
mod template;
pub mod time;
pub mod version;

pub use diagnostic::{Diagnostic, Label, Severity};
pub use lower::parse_duration;
pub use parser::{Parsed, parse};
pub use span::Span;
pub use version::Version;

/// Parses raw file contents, reporting bytes that are not UTF-8 as a
/// diagnostic rather than failing.
pub fn parse_bytes(bytes: &[u8]) -> Parsed {
    match std::str::from_utf8(bytes) {
        Ok(source) => parse(source),
        Err(error) => {
            let at = error.valid_up_to();
            let bad = error.error_len().unwrap_or(1);
            Parsed {
                file: None,
                diagnostics: vec![
                    Diagnostic::error("rbx::syntax::not_utf8", "this file is not valid UTF-8")
                        .primary(
                            Span::new(at, at),
                            format!("invalid byte sequence at byte {at} ({bad} byte(s))"),
                        )
                        .help("save the file as UTF-8; runbooks are text"),
                ],
            }
        }
    }
}
