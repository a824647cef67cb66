//! Parsing: the lexical pre-scan, the pest grammar with error recovery, and
//! lowering to the AST.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use pest::Parser as _;

use crate::ast::{Comment, File};
use crate::diagnostic::{self, Diagnostic};
use crate::expected;
use crate::lower::Lowerer;
use crate::scan;
use crate::span::Span;

/// The named grammar: every keyword and bracket a pair, so that a syntax
/// error can say which were expected. Only a file that fails is parsed with it.
#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/runbook.pest"]
pub(crate) struct Grammar;

/// The fast grammar `build.rs` derives from the same file: the same
/// language, and a tree without keywords and punctuation. Lowering reads it.
pub(crate) mod fast {
    include!(concat!(env!("OUT_DIR"), "/fast_grammar.rs"));
}

/// How many syntax errors one file reports before giving up.
const MAX_ERRORS: usize = 20;

/// The result of parsing one source text: the tree when there were no
/// errors, and every diagnostic found either way.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: Option<File>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Nesting up to this depth parses on the caller's stack, whatever thread
/// it is (a debug build needs about 32 KiB a level, a release build far less).
const SHALLOW: usize = 16;

/// The stack a deeper file is parsed on.
const DEEP_STACK: usize = 64 * 1024 * 1024;

/// Parses a `.runbook` source text. Never panics, whatever the input.
pub fn parse(source: &str) -> Parsed {
    let scanned = scan::scan(source);
    if !scanned.errors.is_empty() {
        let mut diagnostics = scanned.errors;
        diagnostic::sort(&mut diagnostics);
        return Parsed {
            file: None,
            diagnostics,
        };
    }
    if scanned.depth <= SHALLOW {
        return parse_scanned(source, scanned);
    }
    // pest recurses once or more per bracket and checks no stack of its own
    // (see the workspace manifest): a deeply nested file gets a thread with
    // a stack for the deepest nesting the scan lets through.
    let spawned = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, || parse_scanned(source, scanned))
            .map(|parsing| parsing.join())
    });
    match spawned {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Parsed {
            file: None,
            diagnostics: vec![Failure::gave_up().diagnostic(source)],
        },
    }
}

/// Parses a source text whose lexical scan found no error.
fn parse_scanned(source: &str, scanned: scan::Scan) -> Parsed {
    match pieces::parse(source, scanned) {
        Ok(file) => Parsed {
            file: Some(file),
            diagnostics: Vec::new(),
        },
        Err(scanned) => parse_whole(source, scanned),
    }
}

/// Parses a source text whose lexical scan found no error in one piece.
fn parse_whole(source: &str, scanned: scan::Scan) -> Parsed {
    let mut diagnostics = Vec::new();
    // Recovery blanks lines of a copy; a file without errors is never copied.
    let mut text = Cow::Borrowed(source);
    let mut last_error_line_end = None;
    let mut last_error_pos = None;
    loop {
        let fast = fast_text(&text, &scanned.comments);
        match parse_fast(&fast).map_err(|()| parse_named(&text)) {
            Ok(pairs) if diagnostics.is_empty() => {
                let mut lowerer = Lowerer::new(source, &scanned.comments);
                let lowered = pairs
                    .into_iter()
                    .next()
                    .map(|file| lowerer.file(file, scanned.comments));
                let mut diagnostics = lowerer.diagnostics;
                let file = match lowered {
                    Some(Ok(file)) => Some(file),
                    Some(Err(bug)) => {
                        diagnostics.push(bug.into_diagnostic());
                        None
                    }
                    None => None,
                };
                diagnostic::sort(&mut diagnostics);
                let file = file.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
                return Parsed { file, diagnostics };
            }
            // The rest parses once the broken lines are blanked: what
            // lowering alone can tell (`timeout 30` wants a unit) is a
            // syntax error too, and is reported with the others.
            Ok(pairs) => {
                let mut lowerer = Lowerer::new(source, &scanned.comments);
                if let Some(file) = pairs.into_iter().next() {
                    let _ = lowerer.file(file, scanned.comments);
                }
                diagnostics.extend(
                    lowerer
                        .diagnostics
                        .into_iter()
                        .filter(|d| d.code == "rbx::syntax::duration_unit"),
                );
                break;
            }
            Err(failure) => {
                let pos = failure.pos.min(source.len());
                if last_error_line_end.is_some_and(|end| pos <= end) {
                    break;
                }
                // The same place failing again after the line before it was
                // blanked: that line was not the unfinished one; this one is
                // blanked instead, and reported once.
                let again = last_error_pos == Some(pos);
                if !again {
                    diagnostics.push(failure.diagnostic(source));
                }
                last_error_pos = Some(pos);
                // Recover by blanking the offending line and parsing again, as
                // long as the line holds no bracket whose loss would cascade.
                // An error on a line's first token that did not expect a new
                // statement means the previous line was left unfinished.
                let (mut start, mut end) = line_bounds(&text, pos);
                if !again && text[start..pos].trim().is_empty() && !failure.expects_statement() {
                    // The unfinished line is the last one with anything on
                    // it: blank lines (and lines blanked already) between
                    // are skipped, or the same error would come back.
                    while start > 0 {
                        (start, end) = line_bounds(&text, start - 1);
                        if !text[start..end].trim().is_empty() {
                            break;
                        }
                    }
                }
                let line = &text[start..end];
                if diagnostics.len() >= MAX_ERRORS
                    || failure.at_end
                    || line.contains(['{', '}'])
                    || pos >= source.len()
                {
                    break;
                }
                drop(fast);
                // Spaces of the same byte length keep every later offset in place.
                text.to_mut()
                    .replace_range(start..end, &" ".repeat(end - start));
                last_error_line_end = Some(end);
            }
        }
    }
    diagnostic::sort(&mut diagnostics);
    Parsed {
        file: None,
        diagnostics,
    }
}

fn line_bounds(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    (start, end)
}

struct Failure {
    pos: usize,
    at_end: bool,
    positives: Vec<Rule>,
    cause: Cause,
}

/// Why a parse failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The text is not the language: `positives` were expected at `pos`.
    Expected,
    /// The parser gave up: the call limit was reached.
    CallLimit,
    /// The fast grammar refused what the named grammar accepts: a bug.
    Disagreement,
}

impl Failure {
    /// The parser could not start: no stack deep enough could be had.
    fn gave_up() -> Self {
        Failure {
            pos: 0,
            at_end: true,
            positives: Vec::new(),
            cause: Cause::CallLimit,
        }
    }

    /// Whether the parser was looking for the start of a statement, where
    /// it tries every keyword the block allows.
    fn expects_statement(&self) -> bool {
        self.positives
            .iter()
            .filter(|rule| crate::lower::is_keyword(**rule))
            .count()
            > 3
    }

    fn diagnostic(&self, source: &str) -> Diagnostic {
        match self.cause {
            Cause::Expected => expected::diagnostic(source, self.pos, &self.positives),
            Cause::CallLimit => Diagnostic::error(
                "rbx::syntax::too_complex",
                "this file is too complex to parse",
            )
            .primary(Span::at(self.pos), "the parser gave up here")
            .help("split the runbook into smaller files joined with `include`"),
            Cause::Disagreement => Diagnostic::error(
                "rbx::syntax::internal",
                "rbx could not read this file (its two grammars disagree about it)",
            )
            .primary(Span::at(self.pos), "here")
            .help("this is a bug in rbx; please report it with the file that caused it"),
        }
    }
}

/// The call limit of the named grammar for `text`. The pre-scan bounds
/// nesting depth; the call limit bounds total work, so no input can make the
/// parser run away. It scales with the input so a large but ordinary
/// runbook is never refused.
fn call_limit(text: &str) -> usize {
    text.len().saturating_mul(200).max(1_000_000)
}

/// The text the fast grammar reads (see `build.rs`, `ascii_classes`):
/// `text` with every comment the scan found blanked, and every byte outside
/// ASCII, vertical tab and form feed replaced by a control character that
/// neither grammar accepts outside a literal. Byte offsets stay where they
/// were. Lowering reads the bodies of strings, text blocks and regexes from
/// the source, not from this copy.
pub(crate) fn fast_text<'t>(text: &'t str, comments: &[Comment]) -> Cow<'t, str> {
    let unlike = |b: &u8| !b.is_ascii() || *b == 0x0b || *b == 0x0c;
    if comments.is_empty()
        && text.is_ascii()
        && memchr::memchr2(0x0b, 0x0c, text.as_bytes()).is_none()
    {
        return Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for comment in comments {
        let end = comment.span.end.min(bytes.len());
        bytes[comment.span.start.min(end)..end].fill(b' ');
    }
    for byte in bytes.iter_mut().filter(|b| unlike(b)) {
        *byte = 0x01;
    }
    Cow::Owned(String::from_utf8(bytes).unwrap_or_default())
}

/// The fast grammar's tree of `text` (from `fast_text`), or `Err` when the
/// named grammar would refuse the source. Its call limit is twice the named
/// grammar's: a keyword costs it a few more calls (and nothing else more),
/// so whatever the named grammar parses within its limit, the fast one
/// parses within its own. The fast grammar takes a reserved word for an
/// identifier; a tree with one is refused here, and the named grammar,
/// which refuses it where it stands, says why.
fn parse_fast(text: &str) -> Result<pest::iterators::Pairs<'_, fast::Rule>, ()> {
    let _limit = limited(call_limit(text).saturating_mul(2));
    let pairs = fast::FastGrammar::parse(fast::Rule::file, text).map_err(|_| ())?;
    if holds_reserved(&pairs) {
        Err(())
    } else {
        Ok(pairs)
    }
}

/// Whether a tree of the fast grammar takes a reserved word for an identifier.
fn holds_reserved(pairs: &pest::iterators::Pairs<'_, fast::Rule>) -> bool {
    pairs
        .clone()
        .flatten()
        .any(|pair| pair.as_rule() == fast::Rule::ident && is_reserved(pair.as_str()))
}

/// The words the named grammar never takes for an identifier.
pub(crate) fn is_reserved(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "true" | "false")
}

/// Why `text`, which the fast grammar refused, is not the language: parsed
/// again with the named grammar, for the rules it expected.
fn parse_named(text: &str) -> Failure {
    let _limit = limited(call_limit(text));
    match Grammar::parse(Rule::file, text) {
        Ok(_) => Failure {
            pos: 0,
            at_end: true,
            positives: Vec::new(),
            cause: Cause::Disagreement,
        },
        Err(error) => failure(text, &error),
    }
}

/// pest's call limit is one setting for the whole process, read when a parse
/// starts: parses on other threads wait until this one is done, so that each
/// runs with its own limit.
fn limited(limit: usize) -> std::sync::MutexGuard<'static, ()> {
    static PARSING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = PARSING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pest::set_call_limit(NonZeroUsize::new(limit));
    guard
}

fn failure(text: &str, error: &pest::error::Error<Rule>) -> Failure {
    let pos = match error.location {
        pest::error::InputLocation::Pos(pos) => pos,
        pest::error::InputLocation::Span((start, _)) => start,
    };
    let (positives, cause) = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            (positives.clone(), Cause::Expected)
        }
        pest::error::ErrorVariant::CustomError { message } if message.contains("call limit") => {
            (Vec::new(), Cause::CallLimit)
        }
        pest::error::ErrorVariant::CustomError { .. } => (Vec::new(), Cause::Expected),
    };
    Failure {
        pos,
        at_end: text[pos.min(text.len())..].trim().is_empty(),
        positives,
        cause,
    }
}

mod pieces;
#[cfg(test)]
mod tests;
