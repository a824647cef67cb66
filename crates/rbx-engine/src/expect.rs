//! A step's expectations (exit status, output patterns) and the values it
//! captures from its output.

use std::collections::BTreeMap;

use rbx_syntax::ast::{Block, CaptureSource, CaptureType, Regex, StmtKind, Stream, TextPart};

use crate::process::Finished;
use crate::value::{Value, parse_duration};

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

fn stream_text(finished: &Finished, stream: Stream) -> String {
    match stream {
        Stream::Stdout => finished.stdout.text(),
        Stream::Stderr => finished.stderr.text(),
    }
}

/// Why a finished command did not meet its step's expectations, if it did
/// not. Without `expect exit`, exit status 0 is expected.
pub fn unmet(block: &Block, finished: &Finished) -> Result<Option<String>, String> {
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
            let regex = compile(&expect.regex)?;
            let matched = regex.is_match(&stream_text(finished, expect.stream));
            if matched == expect.negated {
                let op = if expect.negated { "!~" } else { "~" };
                return Ok(Some(format!(
                    "{} {op} /{}/ did not hold",
                    expect.stream.keyword(),
                    expect.regex.pattern
                )));
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
pub fn captures(block: &Block, finished: &Finished) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for stmt in &block.body {
        let StmtKind::Capture(capture) = &stmt.kind else {
            continue;
        };
        let text = stream_text(finished, capture.stream);
        let raw = match &capture.source {
            CaptureSource::Regex(re) => {
                let regex = compile(re)?;
                let found = regex.captures(&text).ok_or_else(|| {
                    format!(
                        "capture `{}`: /{}/ found nothing in {}",
                        capture.name.name,
                        re.pattern,
                        capture.stream.keyword()
                    )
                })?;
                found
                    .get(1)
                    .or_else(|| found.get(0))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default()
            }
            CaptureSource::Json(path) => {
                let path: String = path
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        TextPart::Literal(l) => Some(l.as_str()),
                        TextPart::Interpolation(_) => None,
                    })
                    .collect();
                let json: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
                    format!("capture `{}`: output is not JSON ({e})", capture.name.name)
                })?;
                let mut at = &json;
                for key in path.split('.').filter(|k| !k.is_empty()) {
                    at = match at {
                        serde_json::Value::Array(items) => {
                            key.parse::<usize>().ok().and_then(|i| items.get(i))
                        }
                        other => other.get(key),
                    }
                    .ok_or_else(|| {
                        format!(
                            "capture `{}`: no field `{path}` in the JSON",
                            capture.name.name
                        )
                    })?;
                }
                match at {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            }
        };
        let value = typed(&raw, capture.ty).ok_or_else(|| {
            format!(
                "capture `{}`: `{raw}` is not a {}",
                capture.name.name,
                capture.ty.map_or("string", CaptureType::keyword)
            )
        })?;
        out.insert(capture.name.name.clone(), value);
    }
    Ok(out)
}

fn typed(raw: &str, ty: Option<CaptureType>) -> Option<Value> {
    let raw = raw.trim();
    Some(match ty {
        None | Some(CaptureType::String) => Value::Text(raw.to_string()),
        Some(CaptureType::Int) => Value::Int(raw.parse().ok()?),
        Some(CaptureType::Bool) => Value::Bool(raw.parse().ok()?),
        Some(CaptureType::Duration) => Value::Duration(parse_duration(raw)?),
    })
}
