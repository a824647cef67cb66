//! The machine-readable forms of `rbx lint`'s diagnostics: JSON, SARIF 2.1.0
//! and GitHub Actions workflow commands.
//!
//! Spans are byte offsets everywhere else in rbx; this module is where they
//! become lines and columns, once, so that every machine format agrees on
//! them. The JSON schema is documented field by field in
//! `book/src/reference/lint-output.md`: a change that could break a reader
//! of it must bump [`JSON_VERSION`] and be recorded there.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path};

use clap::ValueEnum;
use rbx_syntax::{Diagnostic, Severity, Span};
use serde::Serialize;

/// How `rbx lint` reports what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rendered for people, with source excerpts, on standard error.
    Human,
    /// One JSON document on standard output (schema version 1).
    Json,
    /// A SARIF 2.1.0 log on standard output, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands on standard output, one per line.
    Github,
}

/// The version of the JSON document's schema.
pub const JSON_VERSION: u32 = 1;

const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where SARIF readers learn more about rbx. It repeats the workspace's
/// `repository` key: `rbx-cli` does not inherit that key, so
/// `CARGO_PKG_REPOSITORY` is empty here. Change both together.
const INFORMATION_URI: &str = "https://example.invalid/rbx";

/// The base that relative SARIF URIs are resolved against: the directory
/// `rbx` ran in, conventionally the root of the checkout.
const SRCROOT: &str = "%SRCROOT%";

/// A place in a source text as people and tools count it: lines and columns
/// from 1, columns in Unicode scalar values (Rust `char`s), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where the lines of a text start, found once, so that the line and
/// column of any number of offsets cost a search and the length of one line
/// each.
///
/// Only `\n` ends a line, so `\r\n` counts once and its `\r` is the last
/// character of the line.
pub struct LineIndex<'a> {
    text: &'a str,
    /// The offset just after each `\n`.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = memchr::memchr_iter(b'\n', text.as_bytes())
            .map(|newline| newline + 1)
            .collect();
        Self { text, starts }
    }

    /// The line and column of byte `offset`.
    ///
    /// Spans come from the parser and always fall on a character boundary
    /// within the text, but an offset past the end is taken as the end and
    /// one inside a character as that character's start, because a slightly
    /// wrong position is better than a panic on a user's file.
    pub fn position(&self, offset: usize) -> Position {
        let text = self.text;
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = line.checked_sub(1).map_or(0, |i| self.starts[i]);
        Position {
            line: line + 1,
            column: text[line_start..offset].chars().count() + 1,
        }
    }

    /// Where a span starts and ends, as lines and columns; the end is the
    /// place just after the span's last character.
    fn region(&self, span: Span) -> (Position, Position) {
        (self.position(span.start), self.position(span.end))
    }
}

/// How a file is named in machine output: relative to `cwd` when it lies
/// under it, otherwise as given; with `/` between components and without
/// `.` components, so that the same file is spelled the same way however it
/// was reached and on whichever platform.
pub fn display_path(path: &Path, cwd: Option<&Path>) -> String {
    let relative = match cwd {
        Some(cwd) if path.is_absolute() => path
            .strip_prefix(cwd)
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| {
                // A directory reached through a symbolic link (a temporary
                // directory on macOS, say) has two spellings; the real ones
                // compare.
                let real = std::fs::canonicalize(path).ok()?;
                let real_cwd = std::fs::canonicalize(cwd).ok()?;
                real.strip_prefix(real_cwd).ok().map(Path::to_path_buf)
            }),
        _ => None,
    };
    let path = relative.as_deref().unwrap_or(path);
    let mut root = String::new();
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(prefix) => root.push_str(&prefix.as_os_str().to_string_lossy()),
            Component::RootDir => root.push('/'),
            Component::CurDir => {}
            Component::ParentDir => parts.push("..".into()),
            Component::Normal(part) => parts.push(part.to_string_lossy()),
        }
    }
    root + &parts.join("/")
}

/// A byte range in the JSON output.
#[derive(Debug, Serialize)]
struct ByteSpan {
    start: usize,
    end: usize,
}

/// One label of a [`Record`], with its place worked out.
#[derive(Debug, Serialize)]
struct LabelRecord {
    message: String,
    primary: bool,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    span: ByteSpan,
}

/// One diagnostic with its file and places worked out: an element of the
/// JSON output's `diagnostics`, and what the other machine formats are
/// written from.
#[derive(Debug, Serialize)]
pub struct Record {
    code: &'static str,
    /// `error` or `warning`, which are also the words SARIF and GitHub use.
    #[serde(serialize_with = "severity_word")]
    severity: Severity,
    message: String,
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    span: ByteSpan,
    help: Option<String>,
    labels: Vec<LabelRecord>,
}

fn severity_word<S: serde::Serializer>(
    severity: &Severity,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(severity.as_str())
}

impl Record {
    /// Locates `diagnostic` in `lines`, the source of the file named
    /// `file`.
    ///
    /// A diagnostic points where its primary label does. One without labels
    /// points at the start of its file, the place rbx sorts it to as well.
    pub fn new(diagnostic: &Diagnostic, file: String, lines: &LineIndex<'_>) -> Self {
        let span = diagnostic.span().unwrap_or_default();
        let (start, end) = lines.region(span);
        let labels = diagnostic
            .labels
            .iter()
            .map(|label| {
                let (start, end) = lines.region(label.span);
                LabelRecord {
                    message: label.message.clone(),
                    primary: label.primary,
                    line: start.line,
                    column: start.column,
                    end_line: end.line,
                    end_column: end.column,
                    span: ByteSpan {
                        start: label.span.start,
                        end: label.span.end,
                    },
                }
            })
            .collect();
        Record {
            code: diagnostic.code,
            severity: diagnostic.severity,
            message: diagnostic.message.clone(),
            file,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            span: ByteSpan {
                start: span.start,
                end: span.end,
            },
            help: diagnostic.help.clone(),
            labels,
        }
    }

    /// The message with its help, for formats that have one text field.
    fn full_message(&self) -> String {
        match &self.help {
            Some(help) => format!("{}\nhelp: {help}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Writes `records` in a machine `format` to `out`. `files_checked` counts
/// the files named on the command line, directories expanded.
pub fn write(
    format: Format,
    records: &[Record],
    files_checked: usize,
    cwd: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        // The human format is rendered as diagnostics are found; there is
        // nothing left to write at the end.
        Format::Human => Ok(()),
        Format::Json => write_json(records, files_checked, out),
        Format::Sarif => write_sarif(records, cwd, out),
        Format::Github => write_github(records, out),
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    version: u32,
    files_checked: usize,
    diagnostics: &'a [Record],
    summary: Summary,
}

fn write_json(records: &[Record], files_checked: usize, out: &mut dyn Write) -> io::Result<()> {
    let errors = records
        .iter()
        .filter(|record| record.severity == Severity::Error)
        .count();
    let report = JsonReport {
        version: JSON_VERSION,
        files_checked,
        diagnostics: records,
        summary: Summary {
            errors,
            warnings: records.len() - errors,
        },
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

// SARIF 2.1.0, as little of it as a complete log needs. Field names follow
// the specification's camelCase; `Option` fields are left out when empty
// because the schema forbids `null` for them.

#[derive(Debug, Serialize)]
struct SarifLog<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [SarifRun<'a>; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRun<'a> {
    tool: SarifTool<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    original_uri_base_ids: BTreeMap<&'static str, SarifArtifactLocation>,
    /// Said explicitly because SARIF's default is UTF-16 code units, and
    /// rbx counts characters.
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Debug, Serialize)]
struct SarifTool<'a> {
    driver: SarifDriver<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifDriver<'a> {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<SarifRule<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule<'a> {
    id: &'a str,
    short_description: SarifMessage,
}

#[derive(Debug, Serialize)]
struct SarifMessage {
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: SarifMessage,
    locations: [SarifLocation; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<SarifLocation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: SarifPhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<SarifMessage>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifPhysicalLocation {
    artifact_location: SarifArtifactLocation,
    region: SarifRegion,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRegion {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// Percent-encodes a `/`-separated path for a URI: everything but the
/// characters RFC 3986 allows in a path segment, and `:` too, which in the
/// first segment of a relative reference would read as a scheme.
fn uri_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A `file:` URI for an absolute path in `display_path`'s spelling.
fn file_uri(path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("file://{slash}{}", uri_path(path))
}

/// Where a file is, for SARIF: a relative reference against [`SRCROOT`]
/// when `display_path` made it relative, a `file:` URI otherwise.
fn artifact_location(file: &str) -> SarifArtifactLocation {
    if Path::new(file).is_absolute() {
        SarifArtifactLocation {
            uri: file_uri(file),
            uri_base_id: None,
        }
    } else {
        SarifArtifactLocation {
            uri: uri_path(file),
            uri_base_id: Some(SRCROOT),
        }
    }
}

/// A rule's short description, made from the last segment of its code:
/// `rbx::lint::unused_input` is "unused input". Each result's message says
/// what exactly is wrong.
fn describe_code(code: &str) -> String {
    code.rsplit("::").next().unwrap_or(code).replace('_', " ")
}

fn write_sarif(records: &[Record], cwd: Option<&Path>, out: &mut dyn Write) -> io::Result<()> {
    let mut rules: Vec<SarifRule<'_>> = Vec::new();
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let rule_index = match rules.iter().position(|rule| rule.id == record.code) {
            Some(index) => index,
            None => {
                rules.push(SarifRule {
                    id: record.code,
                    short_description: SarifMessage {
                        text: describe_code(record.code),
                    },
                });
                rules.len() - 1
            }
        };
        let location = |line, column, end_line, end_column| SarifPhysicalLocation {
            artifact_location: artifact_location(&record.file),
            region: SarifRegion {
                start_line: line,
                start_column: column,
                end_line,
                end_column,
            },
        };
        let related_locations = record
            .labels
            .iter()
            .filter(|label| !label.primary)
            .enumerate()
            .map(|(id, label)| SarifLocation {
                id: Some(id),
                physical_location: location(
                    label.line,
                    label.column,
                    label.end_line,
                    label.end_column,
                ),
                message: (!label.message.is_empty()).then(|| SarifMessage {
                    text: label.message.clone(),
                }),
            })
            .collect();
        results.push(SarifResult {
            rule_id: record.code,
            rule_index,
            level: record.severity.as_str(),
            message: SarifMessage {
                text: record.full_message(),
            },
            locations: [SarifLocation {
                id: None,
                physical_location: location(
                    record.line,
                    record.column,
                    record.end_line,
                    record.end_column,
                ),
                message: None,
            }],
            related_locations,
        });
    }
    let mut original_uri_base_ids = BTreeMap::new();
    // The base's own URI must be absolute and end in `/`; without a current
    // directory there is none to give, and readers ask for it instead.
    if let Some(cwd) = cwd.filter(|cwd| cwd.is_absolute()) {
        let mut uri = file_uri(&display_path(cwd, None));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        original_uri_base_ids.insert(
            SRCROOT,
            SarifArtifactLocation {
                uri,
                uri_base_id: None,
            },
        );
    }
    let log = SarifLog {
        schema: SARIF_SCHEMA,
        version: "2.1.0",
        runs: [SarifRun {
            tool: SarifTool {
                driver: SarifDriver {
                    name: "rbx",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: INFORMATION_URI,
                    rules,
                },
            },
            original_uri_base_ids,
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// Escapes the message of a workflow command as GitHub's runner decodes it.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command (`file=…`, `title=…`), where
/// `:` and `,` are separators too.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn write_github(records: &[Record], out: &mut dyn Write) -> io::Result<()> {
    for record in records {
        writeln!(
            out,
            "::{} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            record.severity.as_str(),
            escape_property(&record.file),
            record.line,
            record.column,
            record.end_line,
            record.end_column,
            escape_property(record.code),
            escape_data(&record.full_message()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    fn position(text: &str, offset: usize) -> Position {
        LineIndex::new(text).position(offset)
    }

    /// Counts from the start of the text, as positions were once found.
    fn counted(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    proptest::proptest! {
        #[test]
        fn an_index_finds_what_counting_from_the_start_finds(
            text in "[a\u{e9}\u{1f980} \r\n]{0,40}",
            offsets in proptest::collection::vec(0usize..200, 1..20),
        ) {
            let lines = LineIndex::new(&text);
            for offset in offsets {
                proptest::prop_assert_eq!(lines.position(offset), counted(&text, offset));
            }
        }
    }

    #[test]
    fn positions_count_lines_from_one_and_columns_in_characters() {
        let text = "ab\ncd";
        assert_eq!(position(text, 0), at(1, 1));
        assert_eq!(position(text, 2), at(1, 3), "the newline itself");
        assert_eq!(position(text, 3), at(2, 1));
        assert_eq!(position(text, 5), at(2, 3), "the end of the text");
    }

    #[test]
    fn multibyte_characters_count_once() {
        // `é` is 2 bytes, `→` 3 and `🦀` 4: each is one column.
        let text = "é→🦀x\n  🦀y";
        assert_eq!(position(text, "é".len()), at(1, 2));
        assert_eq!(position(text, "é→".len()), at(1, 3));
        assert_eq!(position(text, "é→🦀".len()), at(1, 4));
        let y = text.find('y').unwrap();
        assert_eq!(position(text, y), at(2, 4));
    }

    #[test]
    fn crlf_ends_a_line_once() {
        let text = "a\r\nb";
        assert_eq!(position(text, 1), at(1, 2));
        assert_eq!(position(text, 3), at(2, 1));
    }

    #[test]
    fn offsets_out_of_range_or_inside_a_character_do_not_panic() {
        let text = "é\n🦀";
        assert_eq!(position(text, 1), at(1, 1), "inside `é`");
        assert_eq!(position(text, 5), at(2, 1), "inside the crab");
        assert_eq!(position(text, 1000), at(2, 2), "past the end");
        assert_eq!(position("", 3), at(1, 1));
    }

    #[test]
    fn paths_are_relative_to_the_current_directory_with_forward_slashes() {
        let cwd = Path::new("/work/repo");
        assert_eq!(
            display_path(Path::new("/work/repo/a/b.runbook"), Some(cwd)),
            "a/b.runbook"
        );
        assert_eq!(
            display_path(Path::new("./a/./b.runbook"), Some(cwd)),
            "a/b.runbook"
        );
        assert_eq!(
            display_path(Path::new("../x.runbook"), Some(cwd)),
            "../x.runbook"
        );
        assert_eq!(
            display_path(Path::new("/elsewhere/x.runbook"), Some(cwd)),
            "/elsewhere/x.runbook"
        );
        assert_eq!(
            display_path(Path::new("/work/repo/x.runbook"), None),
            "/work/repo/x.runbook"
        );
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri_path("a b/ü:1.runbook"), "a%20b/%C3%BC%3A1.runbook");
        assert_eq!(uri_path("100%.runbook"), "100%25.runbook");
        assert_eq!(file_uri("/tmp/a b"), "file:///tmp/a%20b");
    }

    #[test]
    fn workflow_commands_are_escaped_as_github_decodes_them() {
        assert_eq!(
            escape_data("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext: a,b"
        );
        assert_eq!(
            escape_property("rbx::lint::x,y%\n"),
            "rbx%3A%3Alint%3A%3Ax%2Cy%25%0A"
        );
    }

    #[test]
    fn rules_are_described_by_their_code() {
        assert_eq!(describe_code("rbx::lint::unused_input"), "unused input");
        assert_eq!(describe_code("plain"), "plain");
    }
}
