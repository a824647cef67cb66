//! `rbx lint --format json|sarif|github` and `--deny warnings`, driven
//! through the real binary.
//!
//! Each test runs `rbx` inside a temporary directory and names files
//! relative to it, so the snapshots hold no temporary paths. Snapshots take
//! standard output alone: it is the whole of a machine format, and standard
//! error is the human format's business.

mod support;

use std::fs;

use serde_json::Value;
use support::{rbx, repo};

/// An entry file with an unused input (a warning) that includes a fragment
/// with an unknown stage (an error) on a line with multibyte characters
/// before the mistake.
const MAIN: &str =
    "runbook m \"Main\" {\n  input x: string = \"a\"\n  include \"stages/smoke.runbook\"\n}\n";
const SMOKE: &str = "stage smoke \"Smoke → café\" { on failure -> triag\n  end ok\n}\n";

/// A fragment no entry file includes, with a syntax error.
const LOOSE: &str = "stage loose \"Loose\" {\n  stpe\n}\n";

/// A runbook whose only finding is the warning `rbx::lint::unused_input`.
const WARNS: &str = r#"runbook demo "Demo" {
  input x: string = "a"

  stage only "Only stage" {
    step hello "Say hello" {
      run "echo hello"
      expect exit 0
    }

    end done
  }
}
"#;

/// A runbook that defines the input `x` twice: an error with a secondary
/// label at the first definition (and a warning that `x` is unused).
const DUPLICATE: &str = r#"runbook d "Dup" {
  input x: string = "a"
  input x: string = "b"
}
"#;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Lays out `main.runbook`, `stages/smoke.runbook` and `loose.runbook`.
fn project() -> tempfile::TempDir {
    let dir = temp();
    fs::create_dir(dir.path().join("stages")).expect("a stages directory");
    for (path, text) in [
        ("main.runbook", MAIN),
        ("stages/smoke.runbook", SMOKE),
        ("loose.runbook", LOOSE),
    ] {
        fs::write(dir.path().join(path), text).expect("a runbook written");
    }
    dir
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn json_reports_every_file_with_positions_in_characters() {
    let dir = project();
    let out = rbx(dir.path(), &["lint", "--format", "json", "."]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    insta::assert_snapshot!(out.stdout);

    let report = parse_json(&out.stdout);
    assert_eq!(report["version"], 1);
    assert_eq!(report["files_checked"], 3);
    assert_eq!(report["summary"]["errors"], 2);
    assert_eq!(report["summary"]["warnings"], 1);
    let triag = &report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "rbx::lint::unknown_reference")
        .unwrap();
    // `→` is 3 bytes and `é` 2: the byte offset and the column differ by 3.
    let start = SMOKE.find("triag").unwrap();
    assert_eq!(triag["span"]["start"], start);
    assert_eq!(triag["column"], start + 1 - 3);
    // The summary line still goes to standard error, for the CI log.
    assert!(
        out.stderr
            .contains("3 file(s) checked: 2 error(s), 1 warning(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn json_of_a_clean_run_is_an_empty_report() {
    let dir = temp();
    fs::write(
        dir.path().join("ok.runbook"),
        WARNS.replace("  input x: string = \"a\"\n", ""),
    )
    .unwrap();
    let out = rbx(dir.path(), &["lint", "--format", "json", "ok.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let report = parse_json(&out.stdout);
    assert_eq!(report["files_checked"], 1);
    assert_eq!(report["diagnostics"], Value::Array(Vec::new()));
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["warnings"], 0);
}

#[test]
fn absolute_paths_under_the_current_directory_are_made_relative() {
    let dir = project();
    let absolute = dir.path().join("main.runbook");
    let out = rbx(
        dir.path(),
        &["lint", "--format", "json", absolute.to_str().unwrap()],
    );
    let report = parse_json(&out.stdout);
    let files: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["main.runbook", "stages/smoke.runbook"]);
}

/// The SARIF 2.1.0 schema as OASIS publishes it (errata 01), kept in the
/// repository so that the test needs no network.
fn sarif_schema() -> Value {
    let path = repo().join("tests/schemas/sarif-schema-2.1.0.json");
    parse_json(&fs::read_to_string(path).expect("the SARIF schema is in the repository"))
}

/// A validator for the schema that also checks formats such as `uri`, which
/// draft 4 leaves optional.
fn sarif_validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid_sarif(validator: &jsonschema::Validator, log: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}\n{log:#}", errors.join("\n"));
}

#[test]
fn sarif_output_is_valid_against_the_sarif_2_1_0_schema() {
    let schema = sarif_schema();
    let validator = sarif_validator(&schema);
    let dir = project();
    fs::write(dir.path().join("a b,c.runbook"), LOOSE).unwrap();
    let out = rbx(dir.path(), &["lint", "--format", "sarif", "."]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    let log = parse_json(&out.stdout);
    assert_valid_sarif(&validator, &log);
    // The log names the very schema it was checked against.
    assert_eq!(log["$schema"], schema["id"]);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{log:#}");
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        uris,
        // Entry files with what they include come first, as in the human
        // format, then the fragments no entry file includes.
        [
            "main.runbook",
            "stages/smoke.runbook",
            "a%20b,c.runbook",
            "loose.runbook",
        ]
    );

    // A secondary label becomes a related location, and a file name
    // outside ASCII is percent-encoded as UTF-8.
    fs::write(dir.path().join("café.runbook"), DUPLICATE).unwrap();
    let out = rbx(dir.path(), &["lint", "--format", "sarif", "café.runbook"]);
    let log = parse_json(&out.stdout);
    assert_valid_sarif(&validator, &log);
    let result = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["ruleId"] == "rbx::lint::duplicate_id")
        .unwrap_or_else(|| panic!("no duplicate_id result: {log:#}"));
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "caf%C3%A9.runbook");
    assert_eq!(location["region"]["startLine"], 3);
    let related = &result["relatedLocations"][0];
    assert_eq!(related["physicalLocation"]["region"]["startLine"], 2);
    assert!(related["message"]["text"].is_string(), "{log:#}");

    // A clean run is a valid log too, with no results.
    let clean = rbx(dir.path(), &["lint", "--format", "sarif", "main.runbook"]);
    let log = parse_json(&clean.stdout);
    assert_valid_sarif(&validator, &log);

    // And the validator does reject what the schema forbids, so the checks
    // above mean something.
    let mut broken = log.clone();
    broken["runs"][0]["results"] = serde_json::json!([{ "level": "fatal", "message": {} }]);
    assert!(!validator.is_valid(&broken));
}

#[test]
fn sarif_names_one_rule_per_code_and_points_at_the_mistake() {
    let dir = project();
    let out = rbx(dir.path(), &["lint", "--format", "sarif", "main.runbook"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    // The base URI is the temporary directory, which differs on every run.
    let base = format!(
        "file://{}/",
        fs::canonicalize(dir.path()).unwrap().display()
    );
    let stdout = out.stdout.replace(&base, "file:///[cwd]/");
    insta::assert_snapshot!(stdout);
}

#[test]
fn github_writes_one_escaped_workflow_command_per_diagnostic() {
    let dir = project();
    let out = rbx(
        dir.path(),
        &[
            "lint",
            "--format",
            "github",
            "main.runbook",
            "loose.runbook",
        ],
    );
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn github_escapes_separators_in_file_names() {
    let dir = temp();
    fs::write(dir.path().join("a,b:c.runbook"), LOOSE).unwrap();
    let out = rbx(dir.path(), &["lint", "--format", "github", "a,b:c.runbook"]);
    assert!(
        out.stdout
            .starts_with("::error file=a%2Cb%3Ac.runbook,line=2,col=3,"),
        "{}",
        out.stdout
    );
}

#[test]
fn deny_warnings_makes_a_warning_fail_the_check() {
    let dir = temp();
    fs::write(dir.path().join("warns.runbook"), WARNS).unwrap();

    let allowed = rbx(dir.path(), &["lint", "warns.runbook"]);
    assert_eq!(allowed.status, 0, "{}", allowed.transcript());
    assert!(
        allowed.stderr.contains("rbx::lint::unused_input"),
        "{}",
        allowed.stderr
    );

    let denied = rbx(dir.path(), &["lint", "--deny", "warnings", "warns.runbook"]);
    assert_eq!(denied.status, 2, "{}", denied.transcript());
    assert!(
        denied
            .stderr
            .contains("error: warnings are denied by `--deny warnings`"),
        "{}",
        denied.stderr
    );

    // Denying changes the exit status, not what is reported.
    for format in ["json", "sarif", "github"] {
        let allowed = rbx(dir.path(), &["lint", "--format", format, "warns.runbook"]);
        let denied = rbx(
            dir.path(),
            &[
                "lint",
                "--format",
                format,
                "--deny",
                "warnings",
                "warns.runbook",
            ],
        );
        assert_eq!(allowed.status, 0, "{format}: {}", allowed.transcript());
        assert_eq!(denied.status, 2, "{format}: {}", denied.transcript());
        assert_eq!(allowed.stdout, denied.stdout, "{format}");
    }
}

#[test]
fn deny_warnings_leaves_a_clean_run_clean() {
    let dir = temp();
    let clean = WARNS.replace("  input x: string = \"a\"\n", "");
    fs::write(dir.path().join("ok.runbook"), clean).unwrap();
    let out = rbx(dir.path(), &["lint", "--deny", "warnings", "ok.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
}

#[test]
fn unreadable_paths_fail_machine_formats_without_spoiling_stdout() {
    let dir = temp();
    fs::write(dir.path().join("warns.runbook"), WARNS).unwrap();
    let out = rbx(
        dir.path(),
        &[
            "lint",
            "--format",
            "json",
            "missing.runbook",
            "warns.runbook",
        ],
    );
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(
        out.stderr
            .contains("error: cannot read `missing.runbook`: no such file or directory"),
        "{}",
        out.stderr
    );
    let report = parse_json(&out.stdout);
    assert_eq!(report["files_checked"], 1);
    assert_eq!(report["summary"]["warnings"], 1);
}

#[test]
fn unknown_formats_and_lint_levels_are_usage_errors() {
    let dir = temp();
    fs::write(dir.path().join("warns.runbook"), WARNS).unwrap();
    for args in [
        ["lint", "--format", "xml", "warns.runbook"],
        ["lint", "--deny", "errors", "warns.runbook"],
    ] {
        let out = rbx(dir.path(), &args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.transcript());
        assert_eq!(out.stdout, "", "{args:?}");
    }
}
