//! Text inside strings and text blocks: `{{ name }}` interpolations and the
//! indentation a text block sheds.

use crate::ast::{Ident, Path};
use crate::span::Span;

#[derive(Debug)]
pub enum Segment<'t> {
    Literal { text: &'t str, offset: usize },
    Interpolation(Path),
}

/// Splits `text` into literal runs and interpolations. `to_source` maps an
/// offset in `text` to an offset in the file, for spans.
///
/// Only `{{ name }}` and `{{ name.field }}` are interpolations; any other
/// `{{` (a Go template in a `docker inspect` command, say) is literal text,
/// so commands never need escaping.
pub fn split(text: &str, to_source: impl Fn(usize) -> usize) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("{{") {
        let open = search + found;
        match interpolation_at(text, open) {
            Some((names, close)) => {
                if open > literal_start {
                    segments.push(Segment::Literal {
                        text: &text[literal_start..open],
                        offset: literal_start,
                    });
                }
                let segments_of_path = names
                    .into_iter()
                    .map(|(start, end)| Ident {
                        name: text[start..end].to_string(),
                        span: Span::new(to_source(start), to_source(end)),
                    })
                    .collect();
                segments.push(Segment::Interpolation(Path {
                    segments: segments_of_path,
                    span: Span::new(to_source(open), to_source(close)),
                }));
                literal_start = close;
                search = close;
            }
            None => search = open + 2,
        }
    }
    if literal_start < text.len() {
        segments.push(Segment::Literal {
            text: &text[literal_start..],
            offset: literal_start,
        });
    }
    segments
}

/// If an interpolation starts at `open`, the ranges of its dotted names and
/// the offset just past its `}}`.
fn interpolation_at(text: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let bytes = text.as_bytes();
    let mut i = open + 2;
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        i
    };
    i = skip_spaces(i);
    let mut names = Vec::new();
    loop {
        let start = i;
        if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
        } else {
            return None;
        }
        names.push((start, i));
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    i = skip_spaces(i);
    text[i..].starts_with("}}").then_some((names, i + 2))
}

/// A text block's body with its common indentation removed, remembering
/// where each kept line came from.
#[derive(Debug)]
pub struct Dedented {
    pub text: String,
    /// `(offset in text, offset in source)` of each line's start.
    lines: Vec<(usize, usize)>,
}

impl Dedented {
    pub fn source_offset(&self, offset: usize) -> usize {
        let index = self.lines.partition_point(|(start, _)| *start <= offset);
        match index.checked_sub(1).and_then(|i| self.lines.get(i)) {
            Some((start, source)) => source + (offset - start),
            None => offset,
        }
    }
}

/// Removes a text block's framing: the line break right after the opening
/// `"""`, the whitespace-only last line before the closing one, and the
/// indentation common to all non-blank lines.
pub fn dedent(body: &str, body_offset: usize) -> Dedented {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    for line in body.split('\n') {
        lines.push((start, line));
        start += line.len() + 1;
    }
    if lines.len() > 1 && lines.first().is_some_and(|(_, l)| l.trim().is_empty()) {
        lines.remove(0);
    }
    if lines.len() > 1 && lines.last().is_some_and(|(_, l)| l.trim().is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(_, line)| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut text = String::with_capacity(body.len());
    let mut map = Vec::with_capacity(lines.len());
    for (n, (offset, line)) in lines.iter().enumerate() {
        if n > 0 {
            text.push('\n');
        }
        let cut = indent.min(line.len() - line.trim_start_matches([' ', '\t']).len());
        map.push((text.len(), body_offset + offset + cut));
        // Whitespace-only lines are blank in the value, so the formatter's
        // indentation never leaks into it.
        let kept = line[cut..].trim_end_matches('\r');
        if !kept.trim().is_empty() {
            text.push_str(kept);
        }
    }
    Dedented { text, lines: map }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: &str) {
        assert_eq!(dedent(body, 0).text, expected);
    }

    #[test]
    fn dedent_strips_framing_and_common_indent() {
        check("\n    set -e\n      echo hi\n    ", "set -e\n  echo hi");
        check("one line", "one line");
        check("\n  a\n\n  b\n", "a\n\nb");
    }

    #[test]
    fn dedent_maps_offsets_back_to_source() {
        let d = dedent("\n    echo {{ x }}\n", 100);
        let at = d.text.find("{{").unwrap_or_default();
        assert_eq!(d.source_offset(at), 100 + "\n    echo ".len());
    }

    #[test]
    fn only_dotted_names_are_interpolations() {
        let parts = split("a {{ x.y }} b {{.State}} {{ 1 }}", |o| o);
        let paths: Vec<String> = parts
            .iter()
            .filter_map(|s| match s {
                Segment::Interpolation(p) => Some(p.dotted()),
                Segment::Literal { .. } => None,
            })
            .collect();
        assert_eq!(paths, ["x.y"]);
    }
}
