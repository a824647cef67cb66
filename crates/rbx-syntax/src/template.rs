//! Text inside strings and text blocks: `{{ name }}` interpolations (with
//! their `| filter`s) and the indentation a text block sheds.

use crate::ast::{Filter, Ident, Interpolation, Path};
use crate::span::Span;

#[derive(Debug)]
pub enum Segment<'t> {
    Literal {
        text: &'t str,
        offset: usize,
    },
    Interpolation {
        interpolation: Interpolation,
        /// Filters written that rbx does not know, left out of
        /// `interpolation` for the caller to report.
        unknown: Vec<Ident>,
    },
}

/// Splits `text` into literal runs and interpolations. `to_source` maps an
/// offset in `text` to an offset in the file, for spans.
///
/// Only `{{ name }}` and `{{ name.field }}`, each optionally followed by
/// `| filter`s, are interpolations; any other `{{` (a Go template in a
/// `docker inspect` command, say) is literal text, so commands never need
/// escaping.
pub fn split(text: &str, to_source: impl Fn(usize) -> usize) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut search = 0;
    let ident = |(start, end): (usize, usize)| Ident {
        name: text[start..end].to_string(),
        span: Span::new(to_source(start), to_source(end)),
    };
    while let Some(found) = text[search..].find("{{") {
        let open = search + found;
        match interpolation_at(text, open) {
            Some(Found {
                names,
                filters,
                close,
            }) => {
                if open > literal_start {
                    segments.push(Segment::Literal {
                        text: &text[literal_start..open],
                        offset: literal_start,
                    });
                }
                let path = Path {
                    segments: names.into_iter().map(ident).collect(),
                    span: Span::new(to_source(open), to_source(close)),
                };
                let mut known = Vec::new();
                let mut unknown = Vec::new();
                for range in filters {
                    match Filter::from_keyword(&text[range.0..range.1]) {
                        Some(filter) => known.push(filter),
                        None => unknown.push(ident(range)),
                    }
                }
                segments.push(Segment::Interpolation {
                    interpolation: Interpolation {
                        path,
                        filters: known,
                    },
                    unknown,
                });
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

/// An interpolation found in text: the ranges of its dotted names and of
/// its filters, and the offset just past its `}}`.
struct Found {
    names: Vec<(usize, usize)>,
    filters: Vec<(usize, usize)>,
    close: usize,
}

/// If an interpolation starts at `open`, where its parts are.
fn interpolation_at(text: &str, open: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        i
    };
    // The end of a name starting at `i`, if one does.
    let name = |mut i: usize| {
        if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Some(i)
        } else {
            None
        }
    };
    let mut i = skip_spaces(open + 2);
    let mut names = Vec::new();
    loop {
        let start = i;
        i = name(i)?;
        names.push((start, i));
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    i = skip_spaces(i);
    let mut filters = Vec::new();
    while i < bytes.len() && bytes[i] == b'|' {
        let start = skip_spaces(i + 1);
        let end = name(start)?;
        filters.push((start, end));
        i = skip_spaces(end);
    }
    text[i..].starts_with("}}").then_some(Found {
        names,
        filters,
        close: i + 2,
    })
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
                Segment::Interpolation { interpolation, .. } => Some(interpolation.path.dotted()),
                Segment::Literal { .. } => None,
            })
            .collect();
        assert_eq!(paths, ["x.y"]);
    }

    #[test]
    fn filters_follow_a_bar_and_unknown_ones_are_set_apart() {
        let parts = split(
            "{{ x | shell }} {{x|shell|shell}} {{ y | upper }} {{ z | }} {{ .A | b }}",
            |o| o,
        );
        let found: Vec<(String, usize, Vec<String>)> = parts
            .iter()
            .filter_map(|s| match s {
                Segment::Interpolation {
                    interpolation,
                    unknown,
                } => Some((
                    interpolation.path.dotted(),
                    interpolation.shell_quotes(),
                    unknown.iter().map(|u| u.name.clone()).collect(),
                )),
                Segment::Literal { .. } => None,
            })
            .collect();
        assert_eq!(
            found,
            [
                ("x".to_string(), 1, vec![]),
                ("x".to_string(), 2, vec![]),
                ("y".to_string(), 0, vec!["upper".to_string()]),
            ]
        );
    }
}
