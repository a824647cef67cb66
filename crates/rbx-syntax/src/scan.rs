//! A lexical pass that runs before the grammar.
//!
//! It knows just enough of the language (comments, strings, text blocks,
//! regex literals and brackets) to do what a PEG parser does badly: keep
//! comments for the formatter, report an unterminated string or an unclosed
//! brace at the place the author has to fix, and refuse input nested so
//! deeply that a recursive parser would exhaust the stack.

use crate::ast::Comment;
use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// The deepest nesting of `{`, `(` and `[` together that rbx accepts.
/// Real runbooks stay under ten; the bound protects the recursive parser.
pub const MAX_DEPTH: usize = 64;

/// The bytes `Scanner::run` has something to do at.
const SIGNIFICANT: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(
            i as u8,
            b'#' | b'"' | b'/' | b'{' | b'(' | b'[' | b'}' | b')' | b']'
        );
        i += 1;
    }
    table
};

#[derive(Debug, Default)]
pub struct Scan {
    pub comments: Vec<Comment>,
    pub errors: Vec<Diagnostic>,
    /// The deepest nesting of brackets met.
    pub depth: usize,
    /// Where a line starts a `stage` block outside any bracket (depth 0,
    /// a fragment's) or inside one (depth 1, a runbook's): the offset of
    /// the word `stage`. A file may be parsed in pieces cut there
    /// (`parser::pieces`).
    pub stages: [Vec<usize>; 2],
}

/// An open bracket and the word that introduced its block (`step`,
/// `stage`, ...), for error messages.
#[derive(Debug, Clone)]
pub struct Open {
    pub bracket: u8,
    pub offset: usize,
    pub keyword: Option<String>,
    /// Indentation of the line the bracket is on.
    indent: usize,
}

/// Scans the whole source.
pub fn scan(source: &str) -> Scan {
    let mut scanner = Scanner::new(source);
    scanner.run(source.len());
    scanner.finish()
}

/// The blocks open at `offset`, outermost first.
pub fn open_blocks(source: &str, offset: usize) -> Vec<Open> {
    let mut scanner = Scanner::new(source);
    scanner.run(offset.min(source.len()));
    scanner.stack
}

struct Scanner<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    stack: Vec<Open>,
    /// The first opener whose closing bracket came at a smaller indentation
    /// than the opener's own line: the likeliest bracket to be unclosed.
    suspect: Option<Open>,
    too_deep_reported: bool,
    /// Where the last text block ended: a line that starts before it
    /// starts inside the block.
    block_end: usize,
    out: Scan,
}

impl<'s> Scanner<'s> {
    fn new(src: &'s str) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            stack: Vec::new(),
            suspect: None,
            too_deep_reported: false,
            block_end: 0,
            out: Scan::default(),
        }
    }

    fn run(&mut self, stop: usize) {
        while self.pos < stop {
            let b = self.bytes[self.pos];
            match b {
                b'#' => self.comment(),
                b'"' if self.src[self.pos..].starts_with("\"\"\"") => self.text_block(),
                b'"' => self.string(),
                b'/' if self.after_tilde() => self.regex(),
                b'{' | b'(' | b'[' => self.open(b),
                b'}' | b')' | b']' => self.close(b),
                // Most of a file is none of the above: step over the whole
                // run at once instead of going round the match per byte.
                _ => {
                    self.pos += 1;
                    self.pos += self.bytes[self.pos..stop]
                        .iter()
                        .position(|b| SIGNIFICANT[usize::from(*b)])
                        .unwrap_or(stop - self.pos);
                }
            }
        }
    }

    /// A regex literal is only ever written after `~` or `!~`, perhaps
    /// with blanks and comments between.
    fn after_tilde(&self) -> bool {
        let mut end = self.src[..self.pos].trim_end().len();
        for comment in self.out.comments.iter().rev() {
            if comment.span.start >= end || comment.span.end < end {
                break;
            }
            end = self.src[..comment.span.start].trim_end().len();
        }
        self.src[..end].ends_with('~')
    }

    fn line_end(&self, from: usize) -> usize {
        self.src[from..]
            .find('\n')
            .map_or(self.src.len(), |i| from + i)
    }

    fn line_start(&self, of: usize) -> usize {
        self.src[..of].rfind('\n').map_or(0, |i| i + 1)
    }

    fn indent_of_line(&self, of: usize) -> usize {
        let start = self.line_start(of);
        self.bytes[start..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count()
    }

    fn comment(&mut self) {
        let end = self.line_end(self.pos);
        let text = self.src[self.pos + 1..end].trim_end().to_string();
        self.out.comments.push(Comment {
            text,
            span: Span::new(self.pos, end),
        });
        self.pos = end;
    }

    fn string(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return;
                }
                b'\n' => break,
                _ => i += 1,
            }
        }
        let end = self.line_end(start);
        self.out.errors.push(
            Diagnostic::error(
                "rbx::syntax::unterminated_string",
                "this string is never closed",
            )
            .primary(Span::new(start, start + 1), "the string starts here")
            .help(
                "add the closing `\"` on the same line; for text over several lines \
                 use a text block: `\"\"\"` ... `\"\"\"`",
            ),
        );
        self.pos = end;
    }

    fn text_block(&mut self) {
        let start = self.pos;
        match self.src[start + 3..].find("\"\"\"") {
            Some(i) => {
                self.pos = start + 3 + i + 3;
                self.block_end = self.pos;
            }
            None => {
                self.out.errors.push(
                    Diagnostic::error(
                        "rbx::syntax::unterminated_text_block",
                        "this text block is never closed",
                    )
                    .primary(Span::new(start, start + 3), "the text block starts here")
                    .help("close it with `\"\"\"`"),
                );
                self.pos = self.src.len();
            }
        }
    }

    fn regex(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' => i += 2,
                b'/' => {
                    self.pos = i + 1;
                    return;
                }
                b'\n' => break,
                _ => i += 1,
            }
        }
        let end = self.line_end(start);
        self.out.errors.push(
            Diagnostic::error(
                "rbx::syntax::unterminated_regex",
                "this regular expression is never closed",
            )
            .primary(Span::new(start, start + 1), "the regex starts here")
            .help("end it with `/` on the same line; write `\\/` for a slash inside it"),
        );
        self.pos = end;
    }

    fn open(&mut self, bracket: u8) {
        let keyword = (bracket == b'{')
            .then(|| self.block_keyword(self.pos))
            .flatten();
        if keyword.as_deref() == Some("stage") && self.stack.len() < 2 {
            self.stage_at(self.stack.len());
        }
        self.stack.push(Open {
            bracket,
            offset: self.pos,
            keyword,
            indent: self.indent_of_line(self.pos),
        });
        self.out.depth = self.out.depth.max(self.stack.len());
        if self.stack.len() > MAX_DEPTH && !self.too_deep_reported {
            self.too_deep_reported = true;
            self.out.errors.push(
                Diagnostic::error(
                    "rbx::syntax::too_deep",
                    format!("nesting is deeper than {MAX_DEPTH} levels"),
                )
                .primary(Span::new(self.pos, self.pos + 1), "too deep from here on")
                .help("split the expression or the block into smaller named parts"),
            );
        }
        self.pos += 1;
    }

    fn close(&mut self, bracket: u8) {
        let want = match bracket {
            b'}' => b'{',
            b')' => b'(',
            _ => b'[',
        };
        let at = Span::new(self.pos, self.pos + 1);
        match self.stack.last() {
            Some(open) if open.bracket == want => {
                let open = self.stack.pop();
                if let Some(open) = open {
                    if self.suspect.is_none()
                        && bracket == b'}'
                        && self.indent_of_line(self.pos) < open.indent
                    {
                        self.suspect = Some(open);
                    }
                }
            }
            Some(open) => {
                let opened = Span::new(open.offset, open.offset + 1);
                let closer = match open.bracket {
                    b'{' => '}',
                    b'(' => ')',
                    _ => ']',
                };
                self.out.errors.push(
                    Diagnostic::error(
                        "rbx::syntax::mismatched_bracket",
                        format!(
                            "`{}` does not match the `{}` it would close",
                            bracket as char, open.bracket as char
                        ),
                    )
                    .primary(at, "unexpected closing bracket")
                    .secondary(opened, "this is the bracket still open")
                    .help(format!(
                        "close `{}` with `{closer}` first",
                        open.bracket as char
                    )),
                );
                // Give up on bracket structure: one mismatch makes the rest noise.
                self.stack.clear();
                self.pos = self.src.len();
                return;
            }
            None => {
                self.out.errors.push(
                    Diagnostic::error(
                        "rbx::syntax::unmatched_close",
                        format!("unexpected `{}`: nothing is open here", bracket as char),
                    )
                    .primary(at, "nothing to close")
                    .help("remove it, or look above for a block that was closed too early"),
                );
                self.pos = self.src.len();
                return;
            }
        }
        self.pos += 1;
    }

    /// Records the `stage` that starts the line of the `{` at `self.pos`,
    /// unless a text block was open where the line starts.
    fn stage_at(&mut self, depth: usize) {
        let start = self.line_start(self.pos);
        if start >= self.block_end {
            let line = &self.src[start..self.pos];
            let word = start + line.len() - line.trim_start().len();
            self.out.stages[depth].push(word);
        }
    }

    /// The first word of the line a `{` is on: `step`, `stage`, ...
    fn block_keyword(&self, brace: usize) -> Option<String> {
        let line = &self.src[self.line_start(brace)..brace];
        let word: String = line
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!word.is_empty()).then_some(word)
    }

    fn finish(mut self) -> Scan {
        // After another lexical error the bracket count is unreliable.
        if !self.out.errors.is_empty() {
            return self.out;
        }
        if let Some(innermost) = self.stack.last().cloned() {
            let suspect = self.suspect.take().filter(|_| innermost.bracket == b'{');
            let by_indent = suspect.is_some();
            let blamed = suspect.unwrap_or(innermost);
            let what = match &blamed.keyword {
                Some(word) if blamed.bracket == b'{' => format!("`{word}` block"),
                _ => format!("`{}`", blamed.bracket as char),
            };
            let closer = match blamed.bracket {
                b'{' => '}',
                b'(' => ')',
                _ => ']',
            };
            self.out.errors.push(
                Diagnostic::error(
                    "rbx::syntax::unclosed",
                    format!("this {what} is never closed"),
                )
                .primary(
                    Span::new(blamed.offset, blamed.offset + 1),
                    format!("opened here; no matching `{closer}`"),
                )
                .help(if by_indent {
                    format!(
                        "add `{closer}` where this block should end: the closing brackets \
                         after it are indented as if it already were"
                    )
                } else {
                    format!("add `{closer}` where this block should end")
                }),
            );
        }
        self.out
    }
}
