//! `rbx lint` refuses exactly the regexes whose syntax the engine refuses
//! when it compiles them: generated patterns, every flag, both the engine
//! that matches values and the one that matches streams.

use proptest::prelude::*;
use rbx_check::regexes::{Reads, problem};
use rbx_syntax::Span;
use rbx_syntax::ast::Regex;

use super::compile;
use crate::whole::Pattern;

/// Pieces of patterns, valid and not, that a generated pattern is made of.
const PIECES: &[&str] = &[
    "a",
    "é",
    ".",
    "^",
    "$",
    "|",
    " ",
    "#",
    "/",
    "\\d",
    "\\w+",
    "[a-z]",
    "[^/]",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "{2}",
    "{2,1}",
    "{,3}",
    "*",
    "+",
    "?",
    "*?",
    "\\",
    "\\q",
    "\\/",
    "(?i)",
    "(?z)",
    "(?x)",
    "(?-u:\\xFF)",
    "\\xFF",
    "(?P<n>a)",
    "(?<n>",
    "(?<1>a)",
    "\\p{Greek}",
    "\\p{Nope}",
    "(?=a)",
    "\\1",
    "\\b",
    "\\B",
    "\\A",
    "\\z",
    "[[:alpha:]]",
    "[[:nope:]]",
    "[a-",
    "[z-a]",
    "\\u{110000}",
    "\\x{41}",
];

fn regex(pattern: String, flags: String) -> Regex {
    Regex {
        pattern,
        flags,
        span: Span { start: 0, end: 0 },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn lint_refuses_what_the_engine_cannot_parse(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 1..6),
        flags in proptest::sample::subsequence(vec!['i', 'm', 's', 'x'], 0..=4),
    ) {
        let re = regex(pieces.concat(), flags.into_iter().collect());
        // A value's regex: what `~` compiles.
        let lint = problem(&re, Reads::Value);
        match compile(&re) {
            Ok(_) => prop_assert!(lint.is_none(), "lint refuses {re:?}, which compiles: {lint:?}"),
            Err(why) if why.contains("exceeds size limit") => {}
            Err(why) => prop_assert!(lint.is_some(), "lint passes {re:?}, which fails: {why}"),
        }
        // A stream's regex: what `expect` and `capture` compile.
        let lint = problem(&re, Reads::Stream);
        match Pattern::new(&re) {
            Ok(_) => prop_assert!(lint.is_none(), "lint refuses {re:?} on a stream, which compiles: {lint:?}"),
            Err(why) if why.contains("size limit") => {}
            Err(why) => prop_assert!(lint.is_some(), "lint passes {re:?} on a stream, which fails: {why}"),
        }
    }
}

#[test]
fn a_pattern_that_only_a_stream_can_match_is_refused_in_an_expression() {
    let bytes = regex("(?-u:\\xFF)".to_string(), String::new());
    assert!(problem(&bytes, Reads::Stream).is_none());
    assert!(Pattern::new(&bytes).is_ok());
    assert!(problem(&bytes, Reads::Value).is_some());
    assert!(compile(&bytes).is_err());
}
