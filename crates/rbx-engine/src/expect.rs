//! A step's expectations (exit status, output patterns) and the values it
//! captures from its output, judged on each stream's whole output.

use std::collections::BTreeMap;
use std::ops::Range;

use rbx_syntax::ast::{Block, CaptureSource, CaptureType, Regex, StmtKind, Stream, TextPart};
use serde::Serialize;

use crate::process::{self, Captured, Finished};
use crate::value::{Value, parse_duration};
use crate::whole::{Pattern, Whole};

#[cfg(test)]
mod lint_agrees;

/// A runbook regex literal as a compiled regex, its flags applied.
pub fn compile(re: &Regex) -> Result<regex::Regex, String> {
    let mut builder = regex::RegexBuilder::new(&re.pattern);
    builder
        .case_insensitive(re.flags.contains('i'))
        .multi_line(re.flags.contains('m'))
        .dot_matches_new_line(re.flags.contains('s'))
        .ignore_whitespace(re.flags.contains('x'));
    builder
        .build()
        .map_err(|e| format!("the regex /{}/ is not valid: {e}", re.pattern))
}

/// The streams a step's expectations and captures read, which the command's
/// run must keep whole.
pub fn judged(block: &Block) -> Vec<process::Stream> {
    let mut streams = Vec::new();
    for stmt in &block.body {
        let stream = match &stmt.kind {
            StmtKind::ExpectStream(expect) => expect.stream,
            StmtKind::Capture(capture) => capture.stream,
            _ => continue,
        };
        let stream = match stream {
            Stream::Stdout => process::Stream::Stdout,
            Stream::Stderr => process::Stream::Stderr,
        };
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    streams
}

/// A match found in output that rbx did not keep: the stored head and tail
/// do not show it, so the attempt's record keeps where it was and what it
/// matched.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The statement that matched, as written (`expect stdout ~ /y/`).
    pub statement: String,
    /// Where the match starts, in bytes from the start of the stream.
    pub offset: u64,
    /// The match's length in bytes.
    pub length: u64,
    /// The matched text, its first [`crate::whole::EXCERPT`] bytes at most,
    /// secrets masked as in all output.
    pub excerpt: String,
}

/// What judging an attempt found: the values captured, or why it failed;
/// and every match found in output that was not kept.
#[derive(Debug)]
pub struct Verdict {
    pub outcome: Result<BTreeMap<String, Value>, String>,
    pub found: Vec<Found>,
}

impl Verdict {
    /// Adds the matches found in output that was not kept, if any, to an
    /// event's payload as `matches`.
    pub fn record(&self, payload: &mut serde_json::Value) {
        if self.found.is_empty() {
            return;
        }
        if let Some(fields) = payload.as_object_mut() {
            fields.insert("matches".to_string(), serde_json::json!(self.found));
        }
    }
}

/// Judges a finished command against its step: expectations, then
/// captures. Reading a long output back from its file takes time, so the
/// work runs on a blocking thread.
pub async fn judge(block: &Block, finished: &Finished) -> Verdict {
    let (block, finished) = (block.clone(), finished.clone());
    tokio::task::spawn_blocking(move || judge_now(&block, &finished))
        .await
        .unwrap_or_else(|e| Verdict {
            outcome: Err(format!("judging the output failed: {e}")),
            found: Vec::new(),
        })
}

fn judge_now(block: &Block, finished: &Finished) -> Verdict {
    let mut found = Vec::new();
    let outcome = match unmet(block, finished, &mut found) {
        Ok(None) => captures(block, finished, &mut found),
        Ok(Some(why)) | Err(why) => Err(why),
    };
    Verdict { outcome, found }
}

fn captured(finished: &Finished, stream: Stream) -> &Captured {
    match stream {
        Stream::Stdout => &finished.stdout,
        Stream::Stderr => &finished.stderr,
    }
}

fn whole(captured: &Captured, stream: Stream) -> Result<&Whole, String> {
    captured
        .whole
        .as_ref()
        .ok_or_else(|| format!("{} was not kept whole to be judged", stream.keyword()))
}

/// Notes a match as evidence when the kept output does not show it.
fn note(
    found: &mut Vec<Found>,
    statement: String,
    captured: &Captured,
    whole: &Whole,
    span: &Range<u64>,
) -> Result<(), String> {
    if captured.kept(span) {
        return Ok(());
    }
    found.push(Found {
        statement,
        offset: span.start,
        length: span.end - span.start,
        excerpt: whole.excerpt(span)?,
    });
    Ok(())
}

/// Why a finished command did not meet its step's expectations, if it did
/// not. Without `expect exit`, exit status 0 is expected. Each pattern is
/// judged on the stream's whole output.
fn unmet(
    block: &Block,
    finished: &Finished,
    found: &mut Vec<Found>,
) -> Result<Option<String>, String> {
    if finished.timed_out {
        return Ok(Some("timed out".to_string()));
    }
    if finished.cancelled {
        return Ok(Some("interrupted".to_string()));
    }
    let codes: Vec<i64> = block
        .body
        .iter()
        .filter_map(|stmt| match &stmt.kind {
            StmtKind::ExpectExit(codes) => Some(codes.iter().map(|c| c.value)),
            _ => None,
        })
        .flatten()
        .collect();
    let allowed = if codes.is_empty() { vec![0] } else { codes };
    match finished.exit {
        Some(code) if allowed.contains(&i64::from(code)) => {}
        Some(code) => {
            return Ok(Some(format!(
                "exit status {code}, expected {}",
                list(&allowed)
            )));
        }
        None => return Ok(Some("killed by a signal".to_string())),
    }
    for stmt in &block.body {
        if let StmtKind::ExpectStream(expect) = &stmt.kind {
            let op = if expect.negated { "!~" } else { "~" };
            let written = format!(
                "{} {op} /{}/",
                expect.stream.keyword(),
                expect.regex.pattern
            );
            let pattern = Pattern::new(&expect.regex)?;
            let captured = captured(finished, expect.stream);
            let whole = whole(captured, expect.stream)?;
            let span = whole
                .find(&pattern)
                .map_err(|why| format!("{written} could not be judged: {why}"))?;
            if let Some(span) = &span {
                let statement = format!("expect {written}{}", expect.regex.flags);
                note(found, statement, captured, whole, span)?;
            }
            if span.is_some() == expect.negated {
                return Ok(Some(format!("{written} did not hold")));
            }
        }
    }
    Ok(None)
}

fn list(codes: &[i64]) -> String {
    let codes: Vec<String> = codes.iter().map(i64::to_string).collect();
    codes.join(" or ")
}

/// The step's captures from its output; an error names the capture that
/// found nothing or could not be read as its type.
fn captures(
    block: &Block,
    finished: &Finished,
    found: &mut Vec<Found>,
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for stmt in &block.body {
        let StmtKind::Capture(capture) = &stmt.kind else {
            continue;
        };
        let name = &capture.name.name;
        let captured = captured(finished, capture.stream);
        let whole = whole(captured, capture.stream)?;
        if let Some(CaptureType::List(item)) = capture.ty {
            let items = list_items(whole, &capture.source)
                .map_err(|why| format!("capture `{name}`: {why}"))?;
            let values = items
                .iter()
                .map(|raw| {
                    typed(raw, Some(scalar_capture(item))).ok_or_else(|| {
                        format!(
                            "capture `{name}`: the item `{raw}` is not a {}",
                            item.keyword()
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(name.clone(), Value::List(values));
            continue;
        }
        let raw = match &capture.source {
            CaptureSource::Lines => {
                return Err(format!(
                    "capture `{name}`: `lines` reads a list; declare it `: list`"
                ));
            }
            CaptureSource::Regex(re) => {
                let pattern = Pattern::new(re)?;
                let got = whole
                    .capture(&pattern)
                    .map_err(|why| format!("capture `{name}`: {why}"))?
                    .ok_or_else(|| {
                        format!(
                            "capture `{name}`: /{}/ found nothing in {}",
                            re.pattern,
                            capture.stream.keyword()
                        )
                    })?;
                let statement = format!(
                    "capture {name} = {} ~ /{}/{}",
                    capture.stream.keyword(),
                    re.pattern,
                    re.flags
                );
                note(found, statement, captured, whole, &got.span)?;
                String::from_utf8_lossy(&got.text).into_owned()
            }
            CaptureSource::Json(path) => {
                let path = json_path(path);
                let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
                let at = whole
                    .json_at(&keys)
                    .map_err(|why| format!("capture `{name}`: {why}"))?
                    .ok_or_else(|| format!("capture `{name}`: no field `{path}` in the JSON"))?;
                match at {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }
            }
        };
        let value = typed(&raw, capture.ty).ok_or_else(|| {
            format!(
                "capture `{name}`: `{raw}` is not a {}",
                capture.ty.map_or("string", CaptureType::keyword)
            )
        })?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// The most items a `list` capture holds: each becomes a set of nodes when
/// a `foreach` goes over it.
pub const MAX_LIST_ITEMS: usize = 10_000;

/// The raw items of a `list` capture: a JSON array (each string item as
/// it is, any other item as JSON), or the stream's non-empty lines.
fn list_items(whole: &Whole, source: &CaptureSource) -> Result<Vec<String>, String> {
    match source {
        CaptureSource::Lines => whole.lines(MAX_LIST_ITEMS),
        CaptureSource::Json(path) => {
            let path = json_path(path);
            let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
            match whole.json_at(&keys)? {
                Some(serde_json::Value::Array(items)) if items.len() <= MAX_LIST_ITEMS => Ok(items
                    .into_iter()
                    .map(|item| match item {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect()),
                Some(serde_json::Value::Array(items)) => Err(format!(
                    "the array has {} items; a list capture holds at most {MAX_LIST_ITEMS}",
                    items.len()
                )),
                Some(other) => Err(format!("`{path}` is {other}, not a JSON array")),
                None => Err(format!("no field `{path}` in the JSON")),
            }
        }
        CaptureSource::Regex(_) => Err(
            "a list is captured from a JSON array (`json \"path\"`) or from `lines`".to_string(),
        ),
    }
}

fn json_path(path: &rbx_syntax::ast::Text) -> String {
    path.parts
        .iter()
        .filter_map(|p| match p {
            TextPart::Literal(l) => Some(l.as_str()),
            TextPart::Interpolation(_) => None,
        })
        .collect()
}

fn scalar_capture(item: rbx_syntax::ast::ScalarType) -> CaptureType {
    use rbx_syntax::ast::ScalarType;
    match item {
        ScalarType::Int => CaptureType::Int,
        ScalarType::Bool => CaptureType::Bool,
        ScalarType::Duration => CaptureType::Duration,
        ScalarType::Timestamp => CaptureType::Timestamp,
        _ => CaptureType::String,
    }
}

fn typed(raw: &str, ty: Option<CaptureType>) -> Option<Value> {
    let raw = raw.trim();
    Some(match ty {
        None | Some(CaptureType::String) => Value::Text(raw.to_string()),
        Some(CaptureType::Int) => Value::Int(raw.parse().ok()?),
        Some(CaptureType::Bool) => Value::Bool(raw.parse().ok()?),
        Some(CaptureType::Duration) => Value::Duration(parse_duration(raw)?),
        Some(CaptureType::Timestamp) => {
            Value::Timestamp(rbx_syntax::time::parse_timestamp(raw).ok()?)
        }
        Some(CaptureType::List(_)) => return None,
    })
}
