//! A source text that miette reads excerpts of without reading the text
//! from its start each time.
//!
//! miette's `SourceCode` for a string finds the lines around a span by
//! walking the string from its first byte, so rendering n diagnostics of a
//! long file costs n times the file. [`Excerpts`] keeps where each line
//! starts, hands miette's own reading only the text from a little before the
//! span on, and shifts what it found by the lines it skipped: the same
//! excerpt, line and column as a read of the whole text, at the cost of the
//! excerpt.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

pub struct Excerpts<'a> {
    name: String,
    text: &'a str,
    /// Where each line but the first starts. Lines end as miette ends them:
    /// at `\n`, `\r\n` (once) or a `\r` alone.
    starts: Vec<usize>,
}

impl<'a> Excerpts<'a> {
    pub fn new(name: String, text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let starts = memchr::memchr2_iter(b'\n', b'\r', bytes)
            .filter(|&at| !(bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n')))
            .map(|at| at + 1)
            .collect();
        Self { name, text, starts }
    }
}

impl SourceCode for Excerpts<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        // A span past the end of the text (miette's own reading panics on
        // one) is cut to the text.
        let offset = span.offset().min(self.text.len());
        let span = SourceSpan::new(offset.into(), span.len().min(self.text.len() - offset));
        // The line the span starts on, from 0.
        let line = self.starts.partition_point(|&start| start <= span.offset());
        // One line more than the context asked for: miette's reading of an
        // empty span at the start of a line looks at the line break before
        // it, which must then be in the window.
        let first = line.saturating_sub(context_lines_before + 1);
        let base = first.checked_sub(1).map_or(0, |i| self.starts[i]);
        let window = &self.text.as_bytes()[base..];
        let inner = window.read_span(
            &SourceSpan::new((span.offset() - base).into(), span.len()),
            context_lines_before,
            context_lines_after,
        )?;
        let found = inner.span();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new((found.offset() + base).into(), found.len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a read of the excerpt says, to compare two reads.
    fn read(
        source: &dyn SourceCode,
        span: SourceSpan,
        before: usize,
        after: usize,
    ) -> Option<(Vec<u8>, SourceSpan, usize, usize, usize)> {
        let contents = source.read_span(&span, before, after).ok()?;
        Some((
            contents.data().to_vec(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        ))
    }

    /// Texts with every kind of line end, empty lines and multibyte
    /// characters, made of pieces so that line ends cluster.
    fn texts() -> impl Strategy<Value = String> {
        let piece =
            prop::sample::select(vec!["a", "bc", "é", "🦀", " ", "\n", "\r\n", "\r", "\n\n"]);
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn excerpts_read_as_the_whole_text_reads(
            text in texts(),
            start in 0usize..200,
            len in 0usize..12,
            before in 0usize..4,
            after in 0usize..4,
        ) {
            // Spans within the text, as the parser makes them (miette's own
            // reading panics on some that run past the end).
            let start = start % (text.len() + 1);
            let span = SourceSpan::new(start.into(), len.min(text.len() - start));
            let excerpts = Excerpts::new(String::new(), &text);
            let whole = read(&text.as_str(), span, before, after);
            prop_assert_eq!(read(&excerpts, span, before, after), whole);
        }
    }

    #[test]
    fn a_span_past_the_end_is_cut_to_the_text() {
        let excerpts = Excerpts::new(String::new(), "x\ny\n");
        for (offset, len) in [(4, 10), (9, 0), (2, 99)] {
            let contents = excerpts
                .read_span(&SourceSpan::new(offset.into(), len), 1, 1)
                .expect("a span past the end is read as the end");
            assert!(contents.span().offset() + contents.span().len() <= 4);
        }
    }

    #[test]
    fn the_excerpt_is_named() {
        let excerpts = Excerpts::new("a.runbook".to_string(), "x\ny\n");
        let contents = excerpts
            .read_span(&SourceSpan::new(2.into(), 1), 1, 1)
            .expect("in bounds");
        assert_eq!(contents.name(), Some("a.runbook"));
    }
}
