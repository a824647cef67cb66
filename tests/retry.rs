//! Retries in real runs of the `rbx` binary: only the listed exit
//! statuses earn another attempt, each delay is capped and recorded with
//! its reason, and `rbx log` and `rbx report` show both.

mod support;

use std::fs;
use std::process::{Command, Stdio};

use support::Output;

fn rbx(dir: &std::path::Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBX_OPERATOR", "tester")
        .env_remove("RBX_STATE_DIR")
        .env_remove("RBX_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("rbx runs");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A step that exits with the next status of `statuses` (one per line)
/// each time it runs, and 0 when they are used up.
fn runbook(retry: &str) -> String {
    format!(
        r#"runbook flaky "Flaky" {{
  stage s "S" {{
    step push "Push" {{
      run "n=$(wc -l < tries); echo try >> tries; code=$(sed -n \"$((n + 1))p\" statuses); exit ${{code:-0}}"
      timeout 10s
      {retry}
    }}
    end done
  }}
}}
"#
    )
}

fn bench(statuses: &str, retry: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("statuses"), statuses).expect("write statuses");
    fs::write(dir.path().join("tries"), "").expect("write tries");
    fs::write(dir.path().join("flaky.runbook"), runbook(retry)).expect("write the runbook");
    let lint = support::rbx(dir.path(), &["lint", "flaky.runbook"]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    dir
}

fn tries(dir: &tempfile::TempDir) -> usize {
    fs::read_to_string(dir.path().join("tries"))
        .expect("tries")
        .lines()
        .count()
}

#[test]
fn listed_statuses_are_retried_with_capped_delays_recorded_and_shown() {
    let dir = bench(
        "75\n111\n",
        "retry 4 backoff 100ms max 150ms jitter on exit 75, 111",
    );
    let run = rbx(dir.path(), &["run", "flaky.runbook"]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    assert_eq!(tries(&dir), 3);
    assert!(
        run.stderr.contains("exit 75 is retried (on exit 75, 111)"),
        "{}",
        run.stderr
    );

    let log = rbx(dir.path(), &["log"]);
    assert_eq!(log.status, 0, "{}", log.transcript());
    let retried: Vec<&str> = log
        .stdout
        .lines()
        .filter(|l| l.contains("attempt_failed"))
        .collect();
    assert_eq!(retried.len(), 2, "{}", log.stdout);
    assert!(retried[0].contains("exit 75 is retried"), "{}", retried[0]);
    assert!(retried[1].contains("exit 111 is retried"), "{}", retried[1]);
    // The first delay is drawn between 50ms and 100ms, the second between
    // 75ms and the cap of 150ms (not the 200ms doubling would give).
    for (line, low, high) in [(retried[0], 50, 100), (retried[1], 75, 150)] {
        let after = line
            .split("\"retry_after_ms\":")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|ms| ms.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a delay in ms: {line}"));
        assert!((low..=high).contains(&after), "{line}");
    }

    let markdown = rbx(dir.path(), &["report"]);
    assert_eq!(markdown.status, 0, "{}", markdown.transcript());
    assert!(
        markdown.stdout.contains("; retried after")
            && markdown.stdout.contains("exit 111 is retried"),
        "{}",
        markdown.stdout
    );
    let report = rbx(dir.path(), &["report", "--format", "json"]);
    assert_eq!(report.status, 0, "{}", report.transcript());
    assert_eq!(
        report
            .stdout
            .matches("\"retried\": \"retried after")
            .count(),
        2
    );
}

#[test]
fn an_unlisted_status_fails_the_step_at_once_saying_why() {
    let dir = bench("1\n", "retry 4 backoff 100ms on exit 75");
    let run = rbx(dir.path(), &["run", "flaky.runbook"]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    assert_eq!(tries(&dir), 1);
    assert!(
        run.stderr
            .contains("exit 1 is not retried (only on exit 75)"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_on_exit_any_failure_is_retried_until_the_attempts_run_out() {
    let dir = bench("1\n2\n3\n", "retry 2 backoff 10ms fixed");
    let run = rbx(dir.path(), &["run", "flaky.runbook"]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    assert_eq!(tries(&dir), 3);
}
