//! Regex literals read as the engine will compile them, so that a pattern
//! the regex engine refuses is reported by `rbx lint` instead of failing
//! its step in the middle of a run.
//!
//! A regex an expression matches a value against (`x ~ /re/`) is compiled
//! for UTF-8 text; one an `expect` or a `capture` matches a stream against
//! reads bytes, which may be anything (`(?-u:\xFF)` is allowed there). Only
//! the syntax is checked here; a pattern too large to compile is still
//! refused when its step runs.

use std::collections::HashMap;

use rbx_syntax::ast::Regex;
use rbx_syntax::{Diagnostic, Span};
use regex_syntax::ParserBuilder;

pub const INVALID: &str = "rbx::lint::invalid_regex";

/// What a regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reads {
    /// A value in an expression: UTF-8 text.
    Value,
    /// A command's output: bytes.
    Stream,
}

/// Why a pattern does not compile: the parser's words, and the bytes of
/// the pattern they are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub why: String,
    pub at: std::ops::Range<usize>,
}

/// What the regex engine says of `re` read as `reads`: `None` when it
/// parses. The flags are those rbx passes to the engine.
pub fn problem(re: &Regex, reads: Reads) -> Option<Problem> {
    let flag = |f| re.flags.contains(f);
    let parsed = ParserBuilder::new()
        .case_insensitive(flag('i'))
        .multi_line(flag('m'))
        .dot_matches_new_line(flag('s'))
        .ignore_whitespace(flag('x'))
        .utf8(reads == Reads::Value)
        .build()
        .parse(&re.pattern);
    let error = parsed.err()?;
    let (why, at) = match &error {
        regex_syntax::Error::Parse(e) => (
            e.kind().to_string(),
            e.span().start.offset..e.span().end.offset,
        ),
        regex_syntax::Error::Translate(e) => (
            e.kind().to_string(),
            e.span().start.offset..e.span().end.offset,
        ),
        // A kind of error this version of the parser does not have: the
        // whole literal is pointed at.
        other => (other.to_string(), 0..0),
    };
    Some(Problem { why, at })
}

/// The diagnostic for a regex literal whose pattern has `problem`, pointing
/// at the part of the literal it is about.
pub fn diagnostic(re: &Regex, problem: &Problem) -> Diagnostic {
    let within = written(re, problem.at.start)..written(re, problem.at.end);
    let span = if within.is_empty() {
        re.span
    } else {
        Span {
            start: within.start,
            end: within.end,
        }
    };
    Diagnostic::error(
        INVALID,
        format!("the regex /{}/ is not valid: {}", re.pattern, problem.why),
    )
    .primary(span, problem.why.clone())
    .help(
        "rbx's regexes are those of the Rust `regex` crate: no look-around and no \
         back-references; escape a literal `(`, `[`, `{`, `*`, `+`, `?` or `\\` with `\\`",
    )
}

/// Where the pattern's byte `offset` is in the file: after the opening `/`,
/// each `/` of the pattern before it written `\/`.
fn written(re: &Regex, offset: usize) -> usize {
    let offset = offset.min(re.pattern.len());
    let escapes = re.pattern.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'/')
        .count();
    re.span.start + 1 + offset + escapes
}

/// The problems of the patterns checked so far: a procedure repeats the
/// same few patterns, which are parsed once each.
#[derive(Debug, Default)]
pub struct Checked {
    seen: HashMap<(String, String, Reads), Option<Problem>>,
}

impl Checked {
    /// `re`'s diagnostic, if its pattern does not parse.
    pub fn check(&mut self, re: &Regex, reads: Reads) -> Option<Diagnostic> {
        let key = (re.pattern.clone(), re.flags.clone(), reads);
        let problem = self.seen.entry(key).or_insert_with(|| problem(re, reads));
        problem.as_ref().map(|p| diagnostic(re, p))
    }
}
