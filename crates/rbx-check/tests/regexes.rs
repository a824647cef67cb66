//! A regex literal the regex engine cannot parse is reported where it is
//! written, wherever it stands: an expectation or a capture of a step or a
//! wait, a node's condition, a decision, a `repeat`'s `until`, a `foreach`
//! body, a `parallel` branch, a stage run again by `again`, an included
//! fragment. One that parses is not reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_check::check;

const CODE: &str = "rbx::lint::invalid_regex";

mod support;

use support::Files;

/// A place a regex literal can stand, as the lines of a stage's body that
/// hold `LIT`, and whether the stage goes into an included fragment.
const PLACES: &[(&str, &str, bool)] = &[
    (
        "an expectation",
        "step a \"A\" {\n  run \"true\"\n  expect stdout ~ LIT\n}",
        false,
    ),
    (
        "a negated expectation",
        "step a \"A\" {\n  run \"true\"\n  expect stderr !~ LIT\n}",
        false,
    ),
    (
        "a capture",
        "step a \"A\" {\n  run \"true\"\n  capture v = stdout ~ LIT\n}",
        false,
    ),
    (
        "a wait's expectation",
        "wait a \"A\" {\n  run \"true\"\n  expect stdout ~ LIT\n  every 10s\n  timeout 1m\n}",
        false,
    ),
    (
        "a node's condition",
        "step a \"A\" {\n  when name ~ LIT\n  run \"true\"\n}",
        false,
    ),
    (
        "a decision",
        "decide a \"A\" {\n  when name !~ LIT -> end other\n  otherwise -> end done\n}",
        false,
    ),
    (
        "a repeat's until",
        "repeat at most 3 until name ~ LIT {\n  step a \"A\" {\n    run \"true\"\n  }\n}",
        false,
    ),
    (
        "a foreach body",
        "foreach h in hosts {\n  step a \"A\" {\n    run \"true\"\n    expect stdout ~ LIT\n  }\n}",
        false,
    ),
    (
        "a parallel branch",
        "parallel {\n  step a \"A\" {\n    run \"true\"\n    capture v = stdout ~ LIT\n  }\n  step b \"B\" {\n    run \"true\"\n  }\n}",
        false,
    ),
    (
        "an included fragment",
        "step a \"A\" {\n  run \"true\"\n  expect stdout ~ LIT\n}",
        true,
    ),
];

/// Patterns the engine refuses.
const INVALID: &[&str] = &[
    "(unclosed",
    "[a-",
    "a{2,1}",
    "\\q",
    "*a",
    "(?z)x",
    "\\p{Nope}",
    "a\\/(b",
    "(?=look)",
    "x\\1",
];

const VALID: &[&str] = &[
    "ok",
    "a\\/b",
    "^v(\\d+)\\.(\\d+)$",
    "[[:alpha:]]+",
    "(?i)rust",
    "é+",
];

/// The runbook with `body` in stage `s`, as files: the entry, and the
/// fragment that holds `s` when `included`.
fn procedure(body: &str, included: bool) -> Files {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    let stage = format!("  stage s \"S\" {{\n{body}    end done\n  }}\n");
    let head = "runbook r \"R\" {\n  input name: string = \"web\"\n  input hosts: list(string) = [\"a\", \"b\"]\n";
    let again = "  stage t \"T\" {\n    again s\n    end finished\n  }\n";
    let mut files = HashMap::new();
    let entry = if included {
        files.insert(PathBuf::from("/p/part.runbook"), stage);
        format!("{head}  include \"part.runbook\"\n{again}}}\n")
    } else {
        format!("{head}{stage}{again}}}\n")
    };
    files.insert(PathBuf::from("/p/main.runbook"), entry);
    Files(files)
}

fn literal(pattern: &str) -> String {
    format!("/{pattern}/")
}

#[test]
fn an_invalid_regex_is_reported_where_it_is_written_in_every_place() {
    for (place, body, included) in PLACES {
        for pattern in INVALID {
            let files = procedure(&body.replace("LIT", &literal(pattern)), *included);
            let report = check(Path::new("/p/main.runbook"), &files);
            let found: Vec<_> = report
                .findings
                .iter()
                .filter(|f| f.diagnostic.code == CODE)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{place}, /{pattern}/: {:#?}",
                report.findings
            );
            let finding = found[0];
            let source = &report.sources[finding.source];
            let expected_file = if *included {
                "part.runbook"
            } else {
                "main.runbook"
            };
            assert!(
                source.path.ends_with(expected_file),
                "{place}: {:?}",
                source.path
            );
            // It points into the literal as written.
            let written = literal(pattern);
            let start = source
                .text
                .find(&written)
                .expect("the literal is in its file");
            let span = finding.diagnostic.span().expect("a place");
            assert!(
                start <= span.start && span.end <= start + written.len() && span.start < span.end,
                "{place}, /{pattern}/: points at {span:?}, the literal is at {start}"
            );
            assert!(finding.diagnostic.is_error());
        }
        for pattern in VALID {
            let files = procedure(&body.replace("LIT", &literal(pattern)), *included);
            let report = check(Path::new("/p/main.runbook"), &files);
            assert!(
                report.findings.iter().all(|f| f.diagnostic.code != CODE),
                "{place}, /{pattern}/ is valid: {:#?}",
                report.findings
            );
        }
    }
}

#[test]
fn the_diagnostic_points_past_escaped_slashes() {
    let body = "step a \"A\" {\n  run \"true\"\n  expect stdout ~ /a\\/b\\/(c/\n}";
    let files = procedure(body, false);
    let report = check(Path::new("/p/main.runbook"), &files);
    let finding = report
        .findings
        .iter()
        .find(|f| f.diagnostic.code == CODE)
        .expect("the unclosed group is reported");
    let span = finding.diagnostic.span().expect("a place");
    let text = &report.sources[finding.source].text;
    assert_eq!(&text[span.start..span.end], "(");
}

#[test]
fn a_regex_in_an_expression_must_match_text() {
    let body = "step a \"A\" {\n  when name ~ /(?-u:\\xFF)/\n  run \"true\"\n}";
    let report = check(Path::new("/p/main.runbook"), &procedure(body, false));
    assert!(report.findings.iter().any(|f| f.diagnostic.code == CODE));
    let body = "step a \"A\" {\n  run \"true\"\n  expect stdout ~ /(?-u:\\xFF)/\n}";
    let report = check(Path::new("/p/main.runbook"), &procedure(body, false));
    assert!(report.findings.iter().all(|f| f.diagnostic.code != CODE));
}
