//! Parsing: the lexical pre-scan, the pest grammar with error recovery, and
//! lowering to the AST.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use pest::Parser as _;

use crate::ast::File;
use crate::diagnostic::{self, Diagnostic};
use crate::expected;
use crate::lower::Lowerer;
use crate::scan;
use crate::span::Span;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/runbook.pest"]
pub(crate) struct Grammar;

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

    let mut diagnostics = Vec::new();
    // Recovery blanks lines of a copy; a file without errors is never copied.
    let mut text = Cow::Borrowed(source);
    let mut last_error_line_end = None;
    let mut last_error_pos = None;
    loop {
        match parse_tree(&text) {
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
    call_limit: bool,
}

impl Failure {
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
        if self.call_limit {
            return Diagnostic::error(
                "rbx::syntax::too_complex",
                "this file is too complex to parse",
            )
            .primary(Span::at(self.pos), "the parser gave up here")
            .help("split the runbook into smaller files joined with `include`");
        }
        expected::diagnostic(source, self.pos, &self.positives)
    }
}

fn parse_tree(text: &str) -> Result<pest::iterators::Pairs<'_, Rule>, Failure> {
    // The pre-scan bounds nesting depth; the call limit bounds total work, so
    // no input can make the parser run away. It scales with the input so a
    // large but ordinary runbook is never refused.
    let limit = NonZeroUsize::new(text.len().saturating_mul(200).max(1_000_000));
    pest::set_call_limit(limit);
    Grammar::parse(Rule::file, text).map_err(|error| {
        let pos = match error.location {
            pest::error::InputLocation::Pos(pos) => pos,
            pest::error::InputLocation::Span((start, _)) => start,
        };
        let (positives, call_limit) = match &error.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => (positives.clone(), false),
            pest::error::ErrorVariant::CustomError { message } => {
                (Vec::new(), message.contains("call limit"))
            }
        };
        Failure {
            pos,
            at_end: text[pos.min(text.len())..].trim().is_empty(),
            positives,
            call_limit,
        }
    })
}
