//! `rbx report` driven through the real binary: a run with an automated
//! step that keeps its output, a retried step, a gate, a manual step, a
//! choice and a sign-off confirmed with `rbx confirm`, and a branch not
//! taken, reported as Markdown, JSON and HTML.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Output, rbx};

/// The secret the run is given; no report may contain it.
const SECRET: &str = "s3cr3t-t0ken-value";

/// Evidence a person typed that must stay text in every format.
const EVIDENCE: &str = "<script>alert(1)</script> graphs | all *green*";

const RUNBOOK: &str = r#"runbook report_demo "Report demo" {
  version "1.2.0"

  input greeting "what to print": string = "hello"
  input token "API token": secret

  role owner "Release owner" {
    person "Dana Ruiz"
    contact "@dana"
    backup "Sam Okafor"
  }

  # rbx: allow(unused_role) the report shows a role nobody filled
  role reviewer "Reviewer"

  stage checks "Checks" {
    step hello "Say hello" {
      run "echo {{ greeting }} from rbx; echo 'version 2.0.1'; test -n {{ token }}"
      timeout 10s
      expect exit 0
      capture version = stdout ~ /version (\d+\.\d+\.\d+)/
      keep stdout
    }

    step flaky "Probe until it answers" {
      run "test -f probed || { touch probed; echo 'not yet' >&2; exit 1; }"
      timeout 10s
      retry 1
      expect exit 0
    }

    gate reviewed "Output is as expected" {
      require hello.version == "2.0.1"
      attest owner "the output is as expected"
    }

    manual look "Look at the dashboard" {
      owner owner
      instructions "Open the dashboard and note what it shows."
      evidence seen "what you saw": text
    }

    choose verdict "Ship it?" {
      owner owner
      option ship "ship it" -> ship
      option hold "hold it" -> hold
    }
  }

  stage ship "Ship" {
    signoff go "GO / NO-GO" {
      by owner
      no self-approval
    }

    step deliver "Deliver" {
      run "echo shipped {{ hello.version }}"
      timeout 10s
      expect exit 0
    }

    end shipped
  }

  stage hold "Hold" {
    end held
  }
}
"#;

/// Runs `rbx` in `dir` with the secret in its environment, as an operator
/// would give it.
fn rbx_with_secret(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBX_SECRET_TOKEN", SECRET)
        .output()
        .expect("the rbx binary runs");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const STATE: [&str; 2] = ["--state-dir", "state"];

/// A finished run of the demo: returns its directory and run id.
fn finished_run() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::write(root.join("demo.runbook"), RUNBOOK).expect("the runbook is written");
    let lint = rbx(root, &["lint", "--deny", "warnings", "demo.runbook"]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());

    let drive = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(STATE);
        all.extend(["--non-interactive", "--operator", "ops-alice"]);
        rbx_with_secret(root, &all)
    };
    let started = drive(&["run", "demo.runbook"]);
    assert_eq!(started.status, 3, "{}", started.transcript());
    let run = started
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx run names the run")
        .to_string();

    let confirm_as = |operator: &str, extra: &[&str]| {
        let mut all = vec!["confirm", run.as_str()];
        all.extend(extra);
        all.extend(STATE);
        all.extend(["--operator", operator]);
        let out = rbx(root, &all);
        assert_eq!(out.status, 0, "{}", out.transcript());
    };
    let confirm = |extra: &[&str]| confirm_as("ops-bob", extra);
    confirm(&["checks.reviewed", "--attest"]);
    let resumed = drive(&["resume", &run]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    let seen = format!("seen={EVIDENCE}");
    confirm(&["checks.look", "--evidence", &seen]);
    let resumed = drive(&["resume", &run]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    confirm(&[
        "checks.verdict",
        "--choice",
        "ship",
        "--rationale",
        "all green, low risk",
    ]);
    let resumed = drive(&["resume", &run]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    // A sign-off is given by the person signing, as the operator.
    confirm_as(
        "Dana Ruiz",
        &[
            "ship.go",
            "--signoff",
            "owner=Dana Ruiz:GO:dashboards green",
        ],
    );
    let ended = drive(&["resume", &run]);
    assert_eq!(ended.status, 0, "{}", ended.transcript());
    (dir, run)
}

fn report(dir: &Path, format: &str) -> String {
    // No RUN: the latest run is reported.
    let out = rbx(dir, &["report", "--format", format, "--state-dir", "state"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
    out.stdout
}

/// Filters for what differs from one run to the next. The operators are
/// given with `--operator`, so they are the same every time and stay in
/// the snapshots: that shows who is recorded for what.
fn settings(host: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", "[run]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "[time]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[hash]");
    settings.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": "[ms]""#);
    settings.add_filter(r"took [0-9.]+m?s\b", "took [duration]");
    settings.add_filter(r#"pid( |": )\d+"#, "pid$1[pid]");
    // The OS account the tests run as, recorded beside each operator.
    settings.add_filter(r#""account": "[^"]*""#, r#""account": "[account]""#);
    let escaped: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect();
    settings.add_filter(&format!(r"\b{escaped}\b"), "[host]");
    settings
}

#[test]
fn a_finished_run_reports_every_step_with_its_evidence() {
    let (dir, run) = finished_run();
    let json = report(dir.path(), "json");
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("the report is JSON");
    assert_eq!(parsed["version"], 1);
    assert_eq!(parsed["run"]["id"], run.as_str());
    assert_eq!(parsed["chain"]["intact"], true);
    let host = parsed["run"]["host"].as_str().expect("a host").to_string();
    let markdown = report(dir.path(), "md");
    settings(&host).bind(|| {
        insta::assert_snapshot!("markdown", markdown);
        insta::assert_snapshot!("json", json);
    });
}

#[test]
fn html_is_one_page_with_every_text_escaped() {
    let (dir, _) = finished_run();
    let html = report(dir.path(), "html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; graphs | all *green*"),
        "{html}"
    );
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    // Self-contained: no stylesheet, script, image or font to fetch.
    for outside in ["<link", "src=", "@import", "url(", "http://", "https://"] {
        assert!(!html.contains(outside), "{outside} in {html}");
    }
    assert!(html.contains("<style>"), "{html}");
    assert!(html.contains(" events, chain intact"), "{html}");
}

#[test]
fn a_secret_input_never_appears_in_any_format() {
    let (dir, _) = finished_run();
    for format in ["md", "json", "html"] {
        let text = report(dir.path(), format);
        assert!(!text.contains(SECRET), "{format}: {text}");
        assert!(
            text.contains("••••••"),
            "{format} shows the secret masked: {text}"
        );
    }
}

#[test]
fn an_unknown_run_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = rbx(
        dir.path(),
        &["report", "no-such-run", "--state-dir", "state"],
    );
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(out.stderr.contains("no-such-run"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

/// Whether a character is one that needs an emoji font: pictographs,
/// dingbats, arrows-and-symbols blocks, and the media symbols (⏸, ⏭).
fn needs_an_emoji_font(c: char) -> bool {
    matches!(u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x23E9..=0x23FA | 0xFE0F)
}

/// Every format of a run's report, with the JSON parsed.
fn every_format(dir: &Path, run: Option<&str>) -> (String, String, serde_json::Value) {
    let format = |f: &str| {
        let mut args = vec!["report", "--format", f, "--state-dir", "state"];
        args.extend(run);
        let out = rbx(dir, &args);
        assert_eq!(out.status, 0, "{}", out.transcript());
        out.stdout
    };
    let json = serde_json::from_str(&format("json")).expect("the report is JSON");
    (format("md"), format("html"), json)
}

/// A decision whose branch not taken leads to a stage of `steps` steps,
/// and `tail` steps after the decision in its own stage that the route
/// leaves behind.
fn branching(steps: usize, tail: usize) -> String {
    let mut text = String::from(
        "runbook fold \"Fold\" {\n  input go: bool = true\n  stage pick \"Pick\" {\n    decide way \"Which way?\" {\n      when go -> done\n      otherwise -> other\n    }\n",
    );
    for n in 0..tail {
        text.push_str(&format!(
            "    step t{n} \"Tail {n}\" {{\n      run \"true\"\n      timeout 1m\n    }}\n"
        ));
    }
    text.push_str("    end picked\n  }\n  stage other \"Other\" {\n");
    for n in 0..steps {
        text.push_str(&format!(
            "    step o{n} \"Other {n}\" {{\n      run \"true\"\n      timeout 1m\n    }}\n"
        ));
    }
    text.push_str("    end othered\n  }\n  stage done \"Done\" {\n    step fin \"Finish\" {\n      run \"true\"\n      timeout 1m\n    }\n    end finished\n  }\n}\n");
    text
}

/// Over many shapes: what did not run is folded (one line per stage off
/// the path, one row per run of alike steps, one timeline line per run of
/// skips), an ended run shows nothing as `pending`, and the JSON keeps
/// every step.
#[test]
fn skipped_and_unreached_steps_are_folded_in_every_shape() {
    for steps in 1..=4 {
        for tail in 0..=3 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let root = dir.path();
            std::fs::write(root.join("fold.runbook"), branching(steps, tail)).expect("written");
            let ran = rbx(
                root,
                &[
                    "run",
                    "fold.runbook",
                    "--state-dir",
                    "state",
                    "--non-interactive",
                ],
            );
            assert_eq!(ran.status, 0, "{}", ran.transcript());
            let (md, html, json) = every_format(root, None);
            let other = md.lines().filter(|l| l.contains("Other (other)")).count();
            assert_eq!(other, 1, "one line, among the stages not run:\n{md}");
            assert!(md.contains("- Other (other): skipped"), "{md}");
            assert!(!md.contains("## Other"), "{md}");
            let skipped_rows = md
                .lines()
                .filter(|l| l.starts_with('|') && l.contains("| skipped |"))
                .count();
            // The tail left behind by the decision's route: one row at most.
            assert_eq!(skipped_rows, usize::from(tail >= 1), "{md}");
            if tail >= 2 {
                assert!(md.contains(&format!("| {tail} items: Tail 0, ")), "{md}");
            }
            let skip_lines = md.lines().filter(|l| l.contains("`node_skipped`")).count();
            let skip_runs = json["timeline"]
                .as_array()
                .expect("a timeline")
                .windows(2)
                .filter(|w| w[0]["kind"] != "node_skipped" && w[1]["kind"] == "node_skipped")
                .count();
            assert!(skip_lines <= skip_runs.max(1), "{md}");
            // The page's text, after its style sheet.
            let page = html.split("</style>").nth(1).unwrap_or_default();
            for text in [md.as_str(), page] {
                assert!(
                    !text.contains("pending"),
                    "an ended run has nothing pending:\n{text}"
                );
            }
            let listed: usize = json["stages"]
                .as_array()
                .expect("stages")
                .iter()
                .map(|s| s["steps"].as_array().map_or(0, Vec::len))
                .sum();
            assert_eq!(listed, 2 + steps + tail, "every node is in the JSON");
            assert_eq!(json["summary"]["class"], "success");
            assert_eq!(json["summary"]["counts"]["skipped"], steps + tail);
        }
    }
}

/// A run cancelled where it paused: the cancelled step, the summary and
/// the timeline say who cancelled it and why, in every format.
#[test]
fn a_cancelled_run_says_who_cancelled_it_and_why() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::write(
        root.join("c.runbook"),
        "runbook c \"Cancel\" {\n  on cancel -> end called_off\n  stage s \"S\" {\n    manual m \"Look\" {\n      evidence note \"Note\": text\n    }\n    end done\n  }\n}\n",
    )
    .expect("written");
    let ran = rbx(
        root,
        &[
            "run",
            "c.runbook",
            "--operator",
            "ops-alice",
            "--state-dir",
            "state",
            "--non-interactive",
        ],
    );
    assert_eq!(ran.status, 3, "{}", ran.transcript());
    let run = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .expect("rbx run names the run")
        .to_string();
    let cancel = rbx(
        root,
        &[
            "cancel",
            &run,
            "--reason",
            "change freeze <now>",
            "--operator",
            "ops-carol",
            "--state-dir",
            "state",
        ],
    );
    assert_ne!(
        cancel.status,
        0,
        "a cancelled run is not a success: {}",
        cancel.transcript()
    );
    let (md, html, json) = every_format(root, Some(&run));
    assert!(
        md.contains("cancelled by ops-carol: change freeze &lt;now&gt;"),
        "{md}"
    );
    assert!(
        html.contains("cancelled by ops-carol: change freeze &lt;now&gt;"),
        "{html}"
    );
    assert_eq!(json["summary"]["cancelled"]["by"], "ops-carol");
    assert_eq!(
        json["summary"]["cancelled"]["reason"],
        "change freeze <now>"
    );
    assert_eq!(json["summary"]["class"], "failure");
    let step = &json["stages"][0]["steps"][0];
    assert_eq!(step["result"], "cancelled");
    assert_eq!(
        step["reason"],
        "cancelled by ops-carol: change freeze <now>"
    );
    assert_eq!(json["summary"]["failed"][0]["node"], "s.m");
    let host = json["run"]["host"].as_str().expect("a host").to_string();
    settings(&host).bind(|| insta::assert_snapshot!("cancelled_markdown", md));
}

/// An irreversible step confirmed from an answers file, after a gate: who
/// confirmed it is in the summary and beside the step, in every format;
/// no format needs an emoji font.
#[test]
fn an_irreversible_confirmation_is_shown_with_who_confirmed_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::write(
        root.join("i.runbook"),
        "runbook i \"Irreversible\" {\n  link dash \"Dashboard\" = \"https://dash.example/switch?a=1&b=<2>\"\n  link notes \"Change notes\"\n  link trap \"Trap\" = \"javascript:alert(1)\"\n  stage s \"S\" {\n    gate ready \"Ready\" {\n      require true\n    }\n    step switch \"Switch over\" {\n      run \"true\"\n      timeout 1m\n      irreversible \"the old system is gone\"\n    }\n    end switched\n  }\n}\n",
    )
    .expect("written");
    std::fs::write(
        root.join("answers.toml"),
        "[switch]\nconfirm = \"switch\"\n",
    )
    .expect("written");
    let ran = rbx(
        root,
        &[
            "run",
            "i.runbook",
            "--answers",
            "answers.toml",
            "--operator",
            "ops-dana",
            "--state-dir",
            "state",
            "--non-interactive",
        ],
    );
    assert_eq!(ran.status, 0, "{}", ran.transcript());
    let (md, html, json) = every_format(root, None);
    // The links, in every format: one set, one without a target.
    assert_eq!(
        json["links"][0]["target"],
        "https://dash.example/switch?a=1&b=<2>"
    );
    assert_eq!(json["links"][1]["set"], false);
    assert!(
        md.contains("| Dashboard (`dash`) | https://dash.example/switch?a=1&amp;b=&lt;2&gt; |"),
        "{md}"
    );
    assert!(
        md.contains("| Change notes (`notes`) | **unset** |"),
        "{md}"
    );
    // A web address is a link to follow; anything else (a path, a
    // script) is text.
    assert!(!html.contains("href=\"javascript"), "{html}");
    assert!(
        html.contains("<a href=\"https://dash.example/switch?a=1&amp;b=&lt;2&gt;\" rel=\"noreferrer\"><code>https://dash.example/switch?a=1&amp;b=&lt;2&gt;</code></a>"),
        "{html}"
    );
    let confirmation = &json["summary"]["confirmations"][0];
    assert_eq!(confirmation["node"], "s.switch");
    assert_eq!(confirmation["by"], "ops-dana");
    let step = &json["stages"][0]["steps"][1];
    assert_eq!(step["irreversible"], true);
    assert_eq!(step["confirmed"]["by"], "ops-dana");
    assert_eq!(step["confirmed"]["via"], "answers file");
    for text in [&md, &html] {
        assert!(text.contains("confirmed via answers file"), "{text}");
        assert!(
            text.contains("point of no return confirmed by ops-dana via answers file"),
            "{text}"
        );
        assert!(
            !text.contains("irreversible_confirmed      {"),
            "no raw JSON: {text}"
        );
    }
    for (format, text) in [("md", &md), ("html", &html), ("json", &json.to_string())] {
        let emoji: Vec<char> = text.chars().filter(|c| needs_an_emoji_font(*c)).collect();
        assert!(
            emoji.is_empty(),
            "{format} needs an emoji font for {emoji:?}"
        );
    }
}
