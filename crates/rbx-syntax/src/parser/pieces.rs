//! A large file parsed in pieces, side by side.
//!
//! The scan found where lines start a `stage` block at the top level of the
//! file. A file large enough is cut before such stages into one piece per
//! processor, and each piece is parsed by the fast grammar (`piece_head`,
//! `piece_items`, `piece_tail`: each reads its piece as `file` reads the
//! whole) and lowered on a thread of its own; the items are then put
//! together in order. Only a clean file is read this way: when any piece
//! fails to parse, holds a reserved word or leaves lowering with a
//! diagnostic, the whole file is parsed again the one way that reports, so
//! that every diagnostic is what it always was. `tests.rs` checks that the
//! pieces make the same tree as the whole.

use std::iter::once;
use std::num::NonZeroUsize;
use std::thread;

use pest::Parser as _;

use super::fast::{FastGrammar, Rule};
use crate::ast::{Comment, File, Header};
use crate::lower::{Lowerer, Piece};
use crate::scan::Scan;

/// The least text worth a thread of its own: below it the thread costs
/// about as much as it saves.
const MIN_PIECE: usize = 64 * 1024;

/// `source` (whose scan is `scanned`) parsed and lowered in pieces, or the
/// scan back when the file is small, has no place to cut or is not clean.
pub(super) fn parse(source: &str, scanned: Scan) -> Result<File, Scan> {
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    parse_with(source, scanned, threads, MIN_PIECE)
}

/// `parse` with at most `threads` pieces of at least `least` bytes.
fn parse_with(source: &str, scanned: Scan, threads: usize, least: usize) -> Result<File, Scan> {
    if scanned.depth > super::SHALLOW || source.len() < 2 * least || threads < 2 {
        return Err(scanned);
    }
    let fast = super::fast_text(source, &scanned.comments);
    let runbook = starts_runbook(&fast);
    let stages = &scanned.stages[usize::from(runbook)];
    let cuts = cuts(&fast, stages, threads.min(fast.len() / least), least);
    if cuts.is_empty() {
        return Err(scanned);
    }
    let Some(pieces) = parse_pieces(source, &scanned.comments, &fast, &cuts, runbook) else {
        return Err(scanned);
    };
    let lowerer = Lowerer::new(source, &scanned.comments);
    let mut name = None;
    let mut items = Vec::new();
    for piece in pieces {
        name = name.or(piece.name);
        items.extend(piece.items);
    }
    let header = match (runbook, name) {
        (true, Some((id, title))) => {
            // The runbook's pair: from its first word to its closing brace
            // (comments are blanks in the fast text).
            let start = fast.len() - fast.trim_start().len();
            let span = lowerer.trimmed(start, fast.trim_end().len());
            Some(Header { id, title, span })
        }
        (false, None) => None,
        _ => return Err(scanned),
    };
    let span = lowerer.trimmed(0, source.len());
    Ok(File {
        header,
        items,
        scenarios: Vec::new(),
        comments: scanned.comments,
        span,
    })
}

/// Every piece parsed and lowered, the first on this thread and each other
/// on one of its own; `None` when any of them is not clean.
fn parse_pieces(
    source: &str,
    comments: &[Comment],
    fast: &str,
    cuts: &[usize],
    runbook: bool,
) -> Option<Vec<Piece>> {
    let starts = once(0).chain(cuts.iter().copied());
    let ends = cuts.iter().copied().chain(once(fast.len()));
    let bounds: Vec<(usize, usize)> = starts.zip(ends).collect();
    let (first, rest) = bounds.split_first()?;
    let last = rest.len();
    // One call limit for every piece, the whole file's: set for the
    // process, it is read as each piece's parse starts.
    let _limit = super::limited(super::call_limit(fast).saturating_mul(2));
    thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                let rule = if runbook && i + 1 == last {
                    Rule::piece_tail
                } else {
                    Rule::piece_items
                };
                scope.spawn(move || piece(source, comments, fast, (start, end), rule))
            })
            .collect();
        let rule = if runbook {
            Rule::piece_head
        } else {
            Rule::piece_items
        };
        let first = piece(source, comments, fast, *first, rule);
        let others = others.into_iter().map(|other| other.join().ok().flatten());
        once(first).chain(others).collect()
    })
}

/// The piece `start..end` of the fast text parsed by `rule` and lowered;
/// `None` unless clean.
fn piece(
    source: &str,
    comments: &[Comment],
    fast: &str,
    (start, end): (usize, usize),
    rule: Rule,
) -> Option<Piece> {
    let pairs = FastGrammar::parse(rule, fast.get(start..end)?).ok()?;
    if super::holds_reserved(&pairs) {
        return None;
    }
    let mut lowerer = Lowerer::at(source, comments, start);
    let lowered = lowerer.piece(pairs.into_iter().next()?).ok()?;
    lowerer.diagnostics.is_empty().then_some(lowered)
}

/// Whether the fast text starts with the word `runbook`. A file that only
/// seems to is refused by `piece_head`, and parsed whole.
fn starts_runbook(fast: &str) -> bool {
    fast.trim_start()
        .strip_prefix("runbook")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace()))
}

/// Where to cut the file into at most `pieces`: at most `pieces - 1` of the
/// `stages`, each the one nearest an equal share of the text, each piece at
/// least `least` bytes long. A stage is a place to cut only when the text
/// before it ends with a closing brace (an item that can take nothing after
/// it); the fast text has its comments blanked.
fn cuts(fast: &str, stages: &[usize], pieces: usize, least: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::with_capacity(pieces);
    let candidates: Vec<usize> = stages
        .iter()
        .copied()
        .filter(|&at| fast.get(..at).is_some_and(|t| t.trim_end().ends_with('}')))
        .collect();
    for share in 1..pieces {
        let target = fast.len() / pieces * share;
        let after = cuts.last().map_or(least, |last| last + least);
        let nearest = candidates
            .iter()
            .copied()
            .filter(|&at| at >= after && fast.len() - at >= least)
            .min_by_key(|&at| at.abs_diff(target));
        cuts.extend(nearest);
    }
    cuts
}

#[cfg(test)]
mod tests;
