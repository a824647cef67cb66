//! Byte offsets (how rbx spans count) to LSP positions (lines and UTF-16
//! code units, how editors count) and back.
//!
//! Every conversion clamps: a position past the end of a line means its
//! end, an offset inside a multi-byte character means that character's
//! start. Editors send stale or odd positions, and none may panic.

use lsp_types::{Position, Range};
use rbx_syntax::Span;

/// Where each line of one text starts, for repeated conversions.
#[derive(Debug, Clone)]
pub struct LineIndex<'t> {
    text: &'t str,
    /// The byte offset of every line's first character; the first is 0.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self { text, starts }
    }

    /// The position of byte `offset`.
    pub fn position(&self, offset: usize) -> Position {
        let offset = floor_char_boundary(self.text, offset);
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let start = self.starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position::new(to_u32(line), to_u32(character))
    }

    /// The byte offset of `position`, clamped to its line and the text.
    pub fn offset(&self, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        let content = self.text[start..end]
            .strip_suffix('\r')
            .unwrap_or(&self.text[start..end]);
        let mut units = 0usize;
        for (at, c) in content.char_indices() {
            units += c.len_utf16();
            if units > position.character as usize {
                return start + at;
            }
        }
        start + content.len()
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(self.position(span.start), self.position(span.end))
    }

    /// The byte range of `range`, start before end whatever was sent.
    pub fn span(&self, range: Range) -> Span {
        let (a, b) = (self.offset(range.start), self.offset(range.end));
        Span::new(a.min(b), a.max(b))
    }

    /// The range covering the whole text.
    pub fn whole(&self) -> Range {
        self.range(Span::new(0, self.text.len()))
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_utf16_units_not_bytes() {
        // `é` is two bytes and one unit; `🚀` four bytes and two units.
        let text = "step a \"é🚀\" {\n  run \"x\"\n}";
        let index = LineIndex::new(text);
        let brace = text.find('{').expect("a brace");
        assert_eq!(index.position(brace), Position::new(0, 13));
        assert_eq!(index.offset(Position::new(0, 13)), brace);
        let run = text.find("run").expect("run");
        assert_eq!(index.position(run), Position::new(1, 2));
        assert_eq!(index.offset(Position::new(1, 2)), run);
    }

    #[test]
    fn clamps_what_is_out_of_range() {
        let text = "ab\r\n🚀c";
        let index = LineIndex::new(text);
        assert_eq!(
            index.offset(Position::new(0, 99)),
            2,
            "the end of the line, before \\r\\n"
        );
        assert_eq!(index.offset(Position::new(9, 0)), text.len());
        // Half of a surrogate pair is the character's start.
        assert_eq!(index.offset(Position::new(1, 1)), 4);
        // Inside a multi-byte character is its start.
        assert_eq!(index.position(5), Position::new(1, 0));
        assert_eq!(index.position(999), Position::new(1, 3));
    }

    proptest::proptest! {
        #[test]
        fn every_character_boundary_round_trips(text in "\\PC{0,40}(\n\\PC{0,20}){0,4}") {
            let index = LineIndex::new(&text);
            for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
                proptest::prop_assert_eq!(index.offset(index.position(offset)), offset);
            }
        }
    }
}
