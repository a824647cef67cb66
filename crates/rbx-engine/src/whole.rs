//! A stream's whole output, kept for the step's expectations and captures,
//! and the searches over it: in memory up to [`MEMORY`] bytes, beyond that
//! in an unnamed temporary file that is read back a chunk at a time, so that
//! judging sees every byte the command printed while memory stays bounded.
//!
//! A search finds the same match whether the output is in memory or in a
//! file. In memory it is one search by `regex`'s own engines. In a file a
//! lazy DFA walks the bytes forward to the end of the leftmost-first match,
//! then a reverse DFA walks back from there to its start, exactly as `regex`
//! does within a slice; a capture's groups are then taken from the match
//! alone, read into memory with a few bytes of context on each side.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::{LazyStateID, StartError};
use regex_automata::nfa::thompson;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, Input, MatchKind, Span, meta};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tokio::io::AsyncWriteExt as _;

/// How much of a stream is kept in memory; beyond it, the stream goes to a
/// file.
pub const MEMORY: usize = 1 << 20;

/// How much of a file is read at a time.
const CHUNK: usize = 256 * 1024;

/// The longest match a capture takes its groups from: the match is read
/// into memory to find them.
pub const MATCH_LIMIT: u64 = MEMORY as u64;

/// How much of a matched text is recorded as evidence of where it matched.
pub const EXCERPT: usize = 256;

/// Bytes read on each side of a match, so that look-around (`\b`, `^`,
/// `$`) sees the text around it; four bytes hold any UTF-8 character.
const CONTEXT: u64 = 4;

/// Keeps a stream whole as it is read: in memory up to a bound, then in an
/// unnamed temporary file (created with mode 0600 and unlinked at once, so
/// nothing else can open it and it goes away with its last handle, even if
/// rbx is killed).
#[derive(Debug)]
pub struct Keeper {
    limit: usize,
    memory: Vec<u8>,
    file: Option<tokio::fs::File>,
    len: u64,
    /// The stream's last two bytes, for its final line ending.
    last: [u8; 2],
    /// Why the stream could not be kept whole, once it could not.
    broken: Option<String>,
}

impl Keeper {
    pub fn new() -> Keeper {
        Keeper::with_limit(MEMORY)
    }

    fn with_limit(limit: usize) -> Keeper {
        Keeper {
            limit,
            memory: Vec::new(),
            file: None,
            len: 0,
            last: [0; 2],
            broken: None,
        }
    }

    pub async fn push(&mut self, bytes: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        self.len += bytes.len() as u64;
        for &byte in bytes.iter().rev().take(2).rev() {
            self.last = [self.last[1], byte];
        }
        self.memory.extend_from_slice(bytes);
        // Once the stream is longer than the bound, memory is only a buffer
        // in front of the file, written out a bound's worth at a time.
        if self.memory.len() > self.limit {
            self.write_out().await;
        }
    }

    async fn write_out(&mut self) {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(file) => self.file = Some(tokio::fs::File::from_std(file)),
                Err(e) => return self.break_off(format!("no temporary file for it: {e}")),
            }
        }
        let Some(file) = &mut self.file else { return };
        if let Err(e) = file.write_all(&self.memory).await {
            return self.break_off(format!("its temporary file could not be written: {e}"));
        }
        self.memory.clear();
    }

    fn break_off(&mut self, why: String) {
        self.broken = Some(why);
        self.memory = Vec::new();
        self.file = None;
    }

    /// The stream as kept, once it has ended, less its one final line
    /// ending (`\n` or `\r\n`): what expectations and captures judge, so
    /// that `/^ok$/` holds for what `echo ok` prints, as `grep` would say.
    pub async fn finish(mut self) -> Whole {
        if self.file.is_some() && self.broken.is_none() {
            self.write_out().await;
        }
        let ending = match self.last {
            _ if self.len == 0 => 0,
            [b'\r', b'\n'] if self.len >= 2 => 2,
            [_, b'\n'] => 1,
            _ => 0,
        };
        self.len -= ending;
        if self.file.is_none() {
            self.memory
                .truncate(usize::try_from(self.len).unwrap_or(usize::MAX));
        }
        let body = match (self.broken, self.file) {
            (Some(why), _) => Body::Broken(why),
            (None, None) => Body::Memory(Arc::from(self.memory)),
            (None, Some(mut file)) => match file.flush().await {
                Ok(()) => Body::File(Arc::new(file.into_std().await)),
                Err(e) => Body::Broken(format!("its temporary file could not be written: {e}")),
            },
        };
        Whole {
            len: self.len,
            body,
        }
    }
}

/// A stream's whole output, as kept. Clones share the memory or the file.
#[derive(Debug, Clone)]
pub struct Whole {
    len: u64,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Memory(Arc<[u8]>),
    File(Arc<File>),
    Broken(String),
}

/// A runbook regex compiled to judge output. It matches bytes, with the
/// same syntax and flags as everywhere else in a runbook.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    syntax: syntax::Config,
    regex: meta::Regex,
}

/// What a capture's regex found: where its whole match is, and the text of
/// its first group (or of the whole match, when it has no group or the
/// group took no part).
#[derive(Debug)]
pub struct CaptureFound {
    pub span: Range<u64>,
    pub text: Vec<u8>,
}

impl Pattern {
    pub fn new(re: &rbx_syntax::ast::Regex) -> Result<Pattern, String> {
        let flag = |f| re.flags.contains(f);
        let syntax = syntax::Config::new()
            .case_insensitive(flag('i'))
            .multi_line(flag('m'))
            .dot_matches_new_line(flag('s'))
            .ignore_whitespace(flag('x'))
            .utf8(false);
        let regex = meta::Regex::builder()
            .configure(meta::Regex::config().utf8_empty(false))
            .syntax(syntax)
            .build(&re.pattern)
            .map_err(|e| {
                let why = match (e.syntax_error(), std::error::Error::source(&e)) {
                    (Some(syntax), _) => syntax.to_string(),
                    (None, Some(source)) => format!("{e}: {source}"),
                    (None, None) => e.to_string(),
                };
                format!("the regex /{}/ is not valid: {why}", re.pattern)
            })?;
        Ok(Pattern {
            source: re.pattern.clone(),
            syntax,
            regex,
        })
    }

    /// The forward DFA (leftmost-first, unanchored, its start states
    /// tagged so that a prefilter can skip ahead from them) and the reverse
    /// one (every match, anchored at a match's end), as `regex` builds them.
    fn dfas(&self) -> Result<(DFA, DFA), String> {
        let build = |config, thompson| {
            DFA::builder()
                .configure(config)
                .syntax(self.syntax)
                .thompson(thompson)
                .build(&self.source)
                .map_err(|e| format!("the regex cannot be searched for in a file ({e})"))
        };
        // A Unicode word boundary makes the DFA give up at the first byte
        // that is not ASCII; then the search says so rather than guess.
        let forward = build(
            DFA::config()
                .unicode_word_boundary(true)
                .specialize_start_states(true),
            thompson::Config::new().utf8(false),
        )?;
        let reverse = build(
            DFA::config()
                .unicode_word_boundary(true)
                .match_kind(MatchKind::All),
            thompson::Config::new().utf8(false).reverse(true),
        )?;
        Ok((forward, reverse))
    }

    /// A fast search for where a match can start (a literal every match
    /// begins with), when the pattern has one.
    fn prefilter(&self) -> Option<Prefilter> {
        let hir = syntax::parse_with(&self.source, &self.syntax).ok()?;
        Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &hir).filter(Prefilter::is_fast)
    }
}

impl Whole {
    /// The leftmost-first match of `pattern`, as a byte range.
    pub fn find(&self, pattern: &Pattern) -> Result<Option<Range<u64>>, String> {
        self.find_chunked(pattern, CHUNK)
    }

    fn find_chunked(&self, pattern: &Pattern, chunk: usize) -> Result<Option<Range<u64>>, String> {
        match &self.body {
            Body::Memory(bytes) => Ok(pattern
                .regex
                .find(Input::new(&bytes[..]))
                .map(|m| m.start() as u64..m.end() as u64)),
            Body::File(file) => {
                let (forward, reverse) = pattern.dfas()?;
                let mut cache = forward.create_cache();
                let prefilter = pattern.prefilter();
                let walk = Walk {
                    dfa: &forward,
                    prefilter: prefilter.as_ref(),
                };
                let Some(end) = self.forward_end(file, &walk, &mut cache, chunk)? else {
                    return Ok(None);
                };
                let mut cache = reverse.create_cache();
                let start = self.reverse_start(file, &reverse, &mut cache, end, chunk)?;
                Ok(Some(start..end))
            }
            Body::Broken(why) => Err(format!("the output could not be kept whole: {why}")),
        }
    }

    /// The leftmost-first match of `pattern` and the text of its first
    /// group. A match longer than [`MATCH_LIMIT`] in a file is refused.
    pub fn capture(&self, pattern: &Pattern) -> Result<Option<CaptureFound>, String> {
        self.capture_chunked(pattern, CHUNK)
    }

    fn capture_chunked(
        &self,
        pattern: &Pattern,
        chunk: usize,
    ) -> Result<Option<CaptureFound>, String> {
        let (window, from, span) = match &self.body {
            Body::Memory(bytes) => (Cow::Borrowed(&bytes[..]), 0, 0..self.len),
            _ => {
                let Some(span) = self.find_chunked(pattern, chunk)? else {
                    return Ok(None);
                };
                if span.end - span.start > MATCH_LIMIT {
                    return Err(format!(
                        "the match at byte {} is {} bytes long; rbx takes a capture from a \
                         match of at most {} MiB",
                        span.start,
                        span.end - span.start,
                        MATCH_LIMIT >> 20
                    ));
                }
                let from = span.start.saturating_sub(CONTEXT);
                let to = (span.end + CONTEXT).min(self.len);
                let window = self.read(from..to).map_err(unreadable)?;
                (Cow::Owned(window), from, span)
            }
        };
        // Within the window, a search anchored at the match's start and
        // ending by its end finds that very match: look-around sees the
        // real bytes around it, and `\A` and `\z` hold only where the
        // stream itself starts and ends.
        let mut input =
            Input::new(&window).range(offset(span.start - from)..offset(span.end - from));
        if !matches!(self.body, Body::Memory(_)) {
            input = input.anchored(Anchored::Yes);
        }
        let mut groups = pattern.regex.create_captures();
        pattern.regex.search_captures(&input, &mut groups);
        let Some(whole) = groups.get_group(0) else {
            return if matches!(self.body, Body::Memory(_)) {
                Ok(None)
            } else {
                Err(format!(
                    "the regex /{}/ matched at byte {} but could not be read there again",
                    pattern.source, span.start
                ))
            };
        };
        let group = groups.get_group(1).unwrap_or(whole);
        Ok(Some(CaptureFound {
            span: from + whole.start as u64..from + whole.end as u64,
            text: window[group.range()].to_vec(),
        }))
    }

    /// Up to [`EXCERPT`] bytes from the start of `span`, as text.
    pub fn excerpt(&self, span: &Range<u64>) -> Result<String, String> {
        let end = span.end.min(span.start + EXCERPT as u64);
        let bytes = self.read(span.start..end).map_err(unreadable)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The value at `path` in the stream read as one JSON document; `None`
    /// when the document has no such value. The document is read as it
    /// streams past: memory holds the value the path names, not the whole
    /// document.
    pub fn json_at(&self, path: &[&str]) -> Result<Option<serde_json::Value>, String> {
        if let Body::Broken(why) = &self.body {
            return Err(format!("the output could not be kept whole: {why}"));
        }
        let reader = BufReader::with_capacity(CHUNK, Reader { whole: self, at: 0 });
        let mut json = serde_json::Deserializer::from_reader(reader);
        let found = Seek { path }
            .deserialize(&mut json)
            .and_then(|found| json.end().map(|()| found))
            .map_err(|e| format!("output is not JSON ({e})"))?;
        Ok(found)
    }

    /// Every non-empty line of the stream, trimmed, for a `list` capture
    /// read with `lines`. At most `max_items` lines and [`MATCH_LIMIT`]
    /// bytes of them are read into memory; more is an error, never a list
    /// cut short.
    pub fn lines(&self, max_items: usize) -> Result<Vec<String>, String> {
        if let Body::Broken(why) = &self.body {
            return Err(format!("the output could not be kept whole: {why}"));
        }
        let reader = BufReader::with_capacity(CHUNK, Reader { whole: self, at: 0 });
        let mut lines = Vec::new();
        let mut bytes = 0u64;
        for line in io::BufRead::split(reader, b'\n') {
            let line = line.map_err(unreadable)?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            bytes += text.len() as u64;
            if lines.len() == max_items || bytes > MATCH_LIMIT {
                return Err(format!(
                    "more than {max_items} lines or {MATCH_LIMIT} bytes of them; a list capture holds at most that"
                ));
            }
            lines.push(text.to_string());
        }
        Ok(lines)
    }

    /// The bytes in `range`, which must lie within the stream.
    fn read(&self, range: Range<u64>) -> io::Result<Vec<u8>> {
        let mut out = vec![0; offset(range.end - range.start)];
        let got = self.read_at(range.start, &mut out)?;
        out.truncate(got);
        Ok(out)
    }

    /// Fills as much of `buf` as the stream has from `at`; the count read.
    fn read_at(&self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(offset(self.len.saturating_sub(at)));
        match &self.body {
            Body::Memory(bytes) => {
                let from = offset(at);
                buf[..want].copy_from_slice(&bytes[from..from + want]);
            }
            Body::File(file) => file.read_exact_at(&mut buf[..want], at)?,
            Body::Broken(why) => return Err(io::Error::other(why.clone())),
        }
        Ok(want)
    }

    /// Where the leftmost-first match ends, walking the file forward.
    fn forward_end(
        &self,
        file: &File,
        walk: &Walk<'_>,
        cache: &mut Cache,
        chunk: usize,
    ) -> Result<Option<u64>, String> {
        let dfa = walk.dfa;
        let unanchored = start::Config::new().anchored(Anchored::No);
        let mut state = dfa
            .start_state(cache, &unanchored)
            .map_err(|e| start_error(e, 0))?;
        let mut end = None;
        let mut buf = vec![0; chunk];
        let mut at = 0u64;
        while at < self.len {
            let n = offset((chunk as u64).min(self.len - at));
            file.read_exact_at(&mut buf[..n], at).map_err(unreadable)?;
            let mut i = 0;
            while i < n {
                // The common case first: a run of bytes between states
                // with nothing to note (no match, no start, nothing new).
                while i < n && !state.is_tagged() {
                    let next = dfa.next_state_untagged(cache, state, buf[i]);
                    if next.is_tagged() {
                        break;
                    }
                    state = next;
                    i += 1;
                }
                if i == n {
                    break;
                }
                // In a start state no match is under way, so the next one
                // starts where the prefilter says one can.
                if let (true, None, Some(prefilter)) = (state.is_start(), end, walk.prefilter) {
                    let jump = skip(prefilter, &buf[..n], i);
                    if jump > i {
                        i = jump;
                        let config = unanchored.clone().look_behind(Some(buf[i - 1]));
                        state = dfa
                            .start_state(cache, &config)
                            .map_err(|e| start_error(e, at + i as u64 - 1))?;
                        continue;
                    }
                }
                let byte = buf[i];
                let here = at + i as u64;
                state = dfa
                    .next_state(cache, state, byte)
                    .map_err(|_| gave_up(here))?;
                // Matches show one byte late: a match state reached on the
                // byte at `here` means a match ended just before it.
                if state.is_tagged() {
                    if state.is_match() {
                        end = Some(here);
                    } else if state.is_dead() {
                        return Ok(end);
                    } else if state.is_quit() {
                        return Err(quit(byte, here));
                    }
                }
                i += 1;
            }
            at += n as u64;
        }
        state = dfa.next_eoi_state(cache, state).map_err(|_| gave_up(at))?;
        if state.is_match() {
            end = Some(self.len);
        }
        Ok(end)
    }

    /// Where the match ending at `end` starts, walking the file backward:
    /// the earliest start of any match ending there, which is the
    /// leftmost-first match's start.
    fn reverse_start(
        &self,
        file: &File,
        dfa: &DFA,
        cache: &mut Cache,
        end: u64,
        chunk: usize,
    ) -> Result<u64, String> {
        let mut after = [0u8];
        let after = match self.read_at(end, &mut after).map_err(unreadable)? {
            1 => Some(after[0]),
            _ => None,
        };
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(after);
        let mut state: LazyStateID = dfa
            .start_state(cache, &config)
            .map_err(|e| start_error(e, end))?;
        let mut start = None;
        let mut buf = vec![0; chunk];
        let mut at = end;
        while at > 0 {
            let from = at.saturating_sub(chunk as u64);
            let n = (at - from) as usize;
            file.read_exact_at(&mut buf[..n], from)
                .map_err(unreadable)?;
            for &byte in buf[..n].iter().rev() {
                at -= 1;
                state = dfa
                    .next_state(cache, state, byte)
                    .map_err(|_| gave_up(at))?;
                if state.is_tagged() {
                    if state.is_match() {
                        start = Some(at + 1);
                    } else if state.is_dead() {
                        return start.ok_or_else(no_start);
                    } else if state.is_quit() {
                        return Err(quit(byte, at));
                    }
                }
            }
        }
        state = dfa.next_eoi_state(cache, state).map_err(|_| gave_up(0))?;
        if state.is_match() {
            start = Some(0);
        }
        start.ok_or_else(no_start)
    }
}

/// The forward walk over a file: its DFA and, when the pattern has one,
/// its prefilter.
struct Walk<'a> {
    dfa: &'a DFA,
    prefilter: Option<&'a Prefilter>,
}

/// How far a forward walk in a start state can jump from `from` within
/// `chunk`: to the first place the prefilter says a match can start, but
/// never past the last bytes, where a literal cut by the end of the chunk
/// would go unseen.
fn skip(prefilter: &Prefilter, chunk: &[u8], from: usize) -> usize {
    let limit = chunk
        .len()
        .saturating_sub(prefilter.max_needle_len().saturating_sub(1))
        .max(from);
    match prefilter.find(chunk, Span::from(from..chunk.len())) {
        Some(candidate) if candidate.start < limit => candidate.start,
        _ => limit,
    }
}

/// A byte count or position that fits in memory as a `usize`: every one
/// this module converts is bounded by a buffer it holds.
fn offset(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn unreadable(e: io::Error) -> String {
    format!("the output kept for judging could not be read: {e}")
}

fn quit(byte: u8, at: u64) -> String {
    format!(
        "byte {at} (0x{byte:02x}) is not ASCII, and over output longer than {} MiB a Unicode \
         word boundary (\\b, \\B) is matched on ASCII text only; write (?-u:\\b) for an \
         ASCII word boundary",
        MEMORY >> 20
    )
}

/// A start state could not be had, looking at the byte at `at`.
fn start_error(e: StartError, at: u64) -> String {
    match e {
        StartError::Quit { byte } => quit(byte, at),
        other => format!("the search could not start: {other}"),
    }
}

fn gave_up(at: u64) -> String {
    format!("the search gave up at byte {at}")
}

fn no_start() -> String {
    "the search found where a match ends but not where it starts".to_string()
}

/// The stream as an `io::Read`, from its start.
struct Reader<'a> {
    whole: &'a Whole,
    at: u64,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.whole.read_at(self.at, buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Deserializes the value at `path`, skipping everything else unread into
/// memory. Keys are matched as `serde_json::Value` would: the last of two
/// equal keys wins; a number indexes an array.
struct Seek<'p> {
    path: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, json: D) -> Result<Self::Value, D::Error> {
        match self.path.split_first() {
            None => serde::Deserialize::deserialize(json).map(Some),
            Some((key, rest)) => json.deserialize_any(Step { key, rest }),
        }
    }
}

/// One segment of a path, applied to whatever value comes.
struct Step<'p> {
    key: &'p str,
    rest: &'p [&'p str],
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.key {
                found = map.next_value_seed(Seek { path: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let index = self.key.parse::<usize>().ok();
        let mut found = None;
        let mut i = 0;
        loop {
            if index == Some(i) {
                match seq.next_element_seed(Seek { path: self.rest })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // A scalar has no fields.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Keeper, Pattern, Whole};

    fn pattern(source: &str, flags: &str) -> Pattern {
        Pattern::new(&rbx_syntax::ast::Regex {
            pattern: source.to_string(),
            flags: flags.to_string(),
            span: rbx_syntax::Span::default(),
        })
        .expect("a valid regex")
    }

    /// `bytes` kept the way a long stream is: in a temporary file.
    fn spilled(bytes: &[u8]) -> Whole {
        kept(bytes, 0)
    }

    /// `bytes` kept the way a short stream is: in memory.
    fn in_memory(bytes: &[u8]) -> Whole {
        kept(bytes, usize::MAX)
    }

    fn kept(bytes: &[u8], limit: usize) -> Whole {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let mut keeper = Keeper::with_limit(limit);
            for piece in bytes.chunks(1000) {
                keeper.push(piece).await;
            }
            keeper.finish().await
        })
    }

    #[test]
    fn one_final_line_ending_is_not_judged() {
        let pattern = pattern("^ok$", "");
        for (printed, holds) in [
            (&b"ok\n"[..], true),
            (b"ok", true),
            (b"ok\r\n", true),
            (b"ok\n\n", false),
            (b"not ok\n", false),
        ] {
            for whole in [in_memory(printed), spilled(printed)] {
                assert_eq!(
                    whole.find(&pattern).expect("searched").is_some(),
                    holds,
                    "{printed:?}"
                );
            }
        }
    }

    /// Every search over a file agrees with the same search over the same
    /// bytes in memory, whatever the size of the chunks read.
    fn agree(source: &str, flags: &str, hay: &[u8]) {
        let pattern = pattern(source, flags);
        let memory = in_memory(hay);
        let file = spilled(hay);
        for chunk in [1, 3, 64, 1 << 16] {
            assert_eq!(
                memory.find_chunked(&pattern, chunk),
                file.find_chunked(&pattern, chunk),
                "find /{source}/{flags} in {:?}",
                String::from_utf8_lossy(hay)
            );
            let text = |w: &Whole| {
                w.capture_chunked(&pattern, chunk)
                    .map(|c| c.map(|c| (c.span, c.text)))
            };
            assert_eq!(
                text(&memory),
                text(&file),
                "capture /{source}/{flags} in {:?}",
                String::from_utf8_lossy(hay)
            );
        }
    }

    #[test]
    fn searches_over_a_file_find_what_searches_in_memory_find() {
        let hay = b"start\nab ok\nvalue=42 version 1.2.3\n\xffxy end\nok\n";
        for (source, flags) in [
            ("ok", ""),
            ("^ok$", ""),
            ("^ok$", "m"),
            (r"\Astart", ""),
            (r"end\z", ""),
            (r"ok\n\z", ""),
            (r"value=(\d+)", ""),
            (r"version (\S+)", ""),
            (r"start.*end", "s"),
            (r"start.*end", ""),
            (r"(?-u:\b)ok(?-u:\b)", ""),
            (r"OK", "i"),
            (r"x*", ""),
            (r"$", ""),
            (r"(a|ab)(c|bcd)?", ""),
            (r"missing", ""),
            (r"(?-u:\xff)x", ""),
            (r"[a-z]+", ""),
            (r"ok(\s*)", "m"),
        ] {
            agree(source, flags, hay);
        }
    }

    #[test]
    fn a_unicode_word_boundary_over_text_that_is_not_ascii_is_refused() {
        let file = spilled("é ok".as_bytes());
        let found = file.find(&pattern(r"\bok\b", ""));
        let why = found.expect_err("refused");
        assert!(why.contains("not ASCII"), "{why}");
        assert!(why.contains("(?-u:\\b)"), "{why}");
        // Over ASCII text it is judged.
        let file = spilled(b"an ok here");
        assert_eq!(file.find(&pattern(r"\bok\b", "")), Ok(Some(3..5)));
    }

    #[test]
    fn a_json_path_is_found_in_a_document_in_a_file() {
        let doc =
            br#" {"a": {"b": [10, {"c": "deep"}], "b2": null}, "a": {"b": [1, {"c": "last"}]}} "#;
        for whole in [in_memory(doc), spilled(doc)] {
            let at = |path: &[&str]| whole.json_at(path);
            assert_eq!(
                at(&["a", "b", "1", "c"]),
                Ok(Some(serde_json::json!("last")))
            );
            assert_eq!(at(&["a", "b", "0"]), Ok(Some(serde_json::json!(1))));
            assert_eq!(at(&["a", "b2"]), Ok(None));
            assert_eq!(at(&["a", "b", "x"]), Ok(None));
            assert_eq!(at(&["a", "b", "0", "c"]), Ok(None));
        }
        let broken = spilled(br#"{"a": 1} trailing"#);
        let why = broken.json_at(&["a"]).expect_err("not JSON");
        assert!(why.starts_with("output is not JSON"), "{why}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_pattern_finds_the_same_match_in_a_file(
            hay in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b' '), Just(0xce)],
                0..200,
            ),
            source in prop_oneof![
                Just("a+b"), Just("(a|b)*a"), Just("^b"), Just("a$"), Just("(?-u:\\b)ab"),
                Just("b\\s+a"), Just("(a)(b)?"), Just("\\Aa"), Just("b\\z"), Just(".a"),
                Just("ab"), Just("aab|bba"), Just("(?-u:\\b)ba"), Just("b\na"), Just("ab(a*)"),
            ],
            flags in prop_oneof![Just(""), Just("m"), Just("s"), Just("ms")],
        ) {
            agree(source, flags, &hay);
        }
    }
}
