//! The runbook's `finally` block (rules X1–X4 of the execution semantics),
//! through the real `rbx` binary: it runs once on success, on a failure
//! and on a cancel; a failure in it fails a run that would have succeeded
//! and never hides the failure that ended a run; after `kill -9` at every
//! event, resuming runs each clean-up command exactly once.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rbx_store::{SqliteStore, Store};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    /// A bench with `main.runbook`, which must pass `rbx lint`.
    fn with(text: &str) -> Bench {
        let bench = Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        fs::write(bench.path().join("main.runbook"), text).expect("write the runbook");
        let lint = support::rbx(bench.path(), &["lint", "main.runbook"]);
        assert_eq!(lint.status, 0, "{}\n{text}", lint.transcript());
        bench
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn rbx(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(RBX)
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("rbx runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn journal(&self) -> (String, String, Vec<(String, serde_json::Value)>) {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
        let events = store
            .events(&run.id)
            .expect("the journal reads")
            .into_iter()
            .map(|e| (e.kind, e.payload))
            .collect();
        (run.id.to_string(), run.status, events)
    }

    fn ran(&self) -> Vec<String> {
        fs::read_to_string(self.path().join("ran.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A runbook whose work step runs `work`, with a two-step clean-up whose
/// second step runs `undo`.
fn runbook(work: &str, undo: &str) -> String {
    format!(
        r#"runbook f "Clean-up" {{
  outcome done "done" success
  stage s "Work" {{
    step drain "Drain" {{
      run "echo drain >> ran.log"
    }}
    step work "Work" {{
      run "echo work >> ran.log; {work}"
    }}
    end done
  }}
  finally {{
    step undrain "Undrain" {{
      run "echo undrain >> ran.log"
    }}
    step protect "Re-enable branch protection" {{
      run "echo protect >> ran.log; {undo}"
    }}
  }}
}}
"#
    )
}

/// X1, X3: on success and on a failure, the clean-up runs once, every
/// step of it, after the work; the run ends as the work decided.
#[test]
fn the_clean_up_runs_on_success_and_on_failure() {
    for (work, status, ended) in [("true", 0, "ended:done"), ("false", 1, "failed")] {
        let bench = Bench::with(&runbook(work, "true"));
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, status, "{}", run.transcript());
        assert_eq!(bench.ran(), ["drain", "work", "undrain", "protect"]);
        let (_, recorded, events) = bench.journal();
        assert_eq!(recorded, ended);
        let started = events
            .iter()
            .filter(|(k, _)| k == "finally_started")
            .count();
        assert_eq!(started, 1);
        if status == 1 {
            // The failure that ended the run is the one reported.
            let failed = events
                .iter()
                .find(|(k, _)| k == "run_failed")
                .expect("failed");
            assert_eq!(failed.1["node"], "s.work");
        }
    }
}

/// X3: a clean-up step that fails fails a run that would have ended well,
/// saying so; after a fix, a resume runs only that step again and the run
/// ends as decided. A clean-up failure after a failed run is listed beside
/// the run's own failure, which stays the reason.
#[test]
fn a_failing_clean_up_is_told_and_never_hides_or_is_hidden() {
    let bench = Bench::with(&runbook("true", "test -e fixed"));
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    let (id, recorded, events) = bench.journal();
    assert_eq!(recorded, "failed");
    let failed = events
        .iter()
        .find(|(k, _)| k == "run_failed")
        .expect("failed");
    assert_eq!(failed.1["node"], "finally.protect");
    assert_eq!(failed.1["outcome"], "done");
    let reason = failed.1["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("clean-up failed after the run reached `done`"),
        "{reason}"
    );
    fs::write(bench.path().join("fixed"), "").expect("fix it");
    let resumed = bench.rbx(&["resume", &id], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.ran(),
        ["drain", "work", "undrain", "protect", "protect"],
        "only the failed clean-up step runs again"
    );
    assert_eq!(bench.journal().1, "ended:done");

    let both = Bench::with(&runbook("false", "false"));
    let run = both.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    let (_, _, events) = both.journal();
    let failed = events
        .iter()
        .find(|(k, _)| k == "run_failed")
        .expect("failed");
    assert_eq!(failed.1["node"], "s.work");
    assert_eq!(
        failed.1["cleanup_failed"],
        serde_json::json!(["finally.protect"])
    );
}

/// X1: a run paused for a person and cancelled runs its clean-up, then
/// ends `cancelled`.
#[test]
fn a_cancelled_run_cleans_up() {
    let text = r#"runbook f "Cancel" {
  stage s "Work" {
    step drain "Drain" {
      run "echo drain >> ran.log"
    }
    manual look "Look" {
      evidence note "Note": text
    }
    end done
  }
  finally {
    step undrain "Undrain" {
      run "echo undrain >> ran.log"
    }
  }
}
"#;
    let bench = Bench::with(text);
    let run = bench.rbx(&["run", "main.runbook", "--non-interactive"], &[]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let (id, _, _) = bench.journal();
    let cancelled = bench.rbx(&["cancel", &id, "--reason", "not today"], &[]);
    assert_eq!(
        bench.ran(),
        ["drain", "undrain"],
        "{}",
        cancelled.transcript()
    );
    assert_eq!(bench.journal().1, "ended:cancelled");
}

/// X1 with S1, S2: `kill -9` after every event of a run that fails and
/// cleans up, then `rbx resume` until it stops: every clean-up command ran
/// exactly once and the run's failure is the work's.
#[test]
fn kill_nine_at_every_event_runs_the_clean_up_exactly_once() {
    let text = runbook("false", "true");
    let whole = {
        let bench = Bench::with(&text);
        bench.rbx(&["run", "main.runbook"], &[]);
        bench.journal().2.len()
    };
    for crash in 1..whole {
        let bench = Bench::with(&text);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(
            crashed.status, 1,
            "crash after {crash}: it should have died"
        );
        let (id, _, _) = bench.journal();
        let resumed = bench.rbx(&["resume", &id, "--in-doubt", "rerun"], &[]);
        assert_eq!(
            resumed.status,
            1,
            "crash after {crash}: {}",
            resumed.transcript()
        );
        let ran = bench.ran();
        for line in ["undrain", "protect"] {
            let n = ran.iter().filter(|l| *l == line).count();
            assert_eq!(n, 1, "crash after {crash}: {line} ran {n} times: {ran:?}");
        }
        let (_, recorded, events) = bench.journal();
        assert_eq!(recorded, "failed", "crash after {crash}");
        let failed = events
            .iter()
            .rev()
            .find(|(k, _)| k == "run_failed")
            .expect("failed");
        assert_eq!(failed.1["node"], "s.work", "crash after {crash}");
    }
}

/// X4: a failed run re-driven after a fix runs the failed step again and,
/// at its new end, all of its clean-up again.
#[test]
fn a_failed_run_re_driven_cleans_up_again_at_its_new_end() {
    let bench = Bench::with(&runbook("test -e fixed", "true"));
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    let (id, _, _) = bench.journal();
    fs::write(bench.path().join("fixed"), "").expect("fix it");
    let resumed = bench.rbx(&["resume", &id], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.ran(),
        [
            "drain", "work", "undrain", "protect", "work", "undrain", "protect"
        ]
    );
    let (_, recorded, events) = bench.journal();
    assert_eq!(recorded, "ended:done");
    let started = events
        .iter()
        .filter(|(k, _)| k == "finally_started")
        .count();
    assert_eq!(started, 2, "one clean-up per end");
}

/// Hooks on a step's start and finish run for each attempt started and
/// each step settled, with the step, attempt and status in the
/// environment — the clean-up's steps included.
#[test]
fn hooks_run_when_a_step_starts_and_finishes() {
    let text = r#"runbook h "Hooks" {
  hook start "echo start $RBX_STEP $RBX_ATTEMPT >> hooks.log"
  hook finish "echo finish $RBX_STEP $RBX_STATUS >> hooks.log"
  stage s "Work" {
    step flaky "Flaky" {
      run "test -e tried || { touch tried; exit 1; }"
      retry 1
    }
    step broken "Broken" {
      run "false"
      on failure -> continue
    }
    end done
  }
  finally {
    step undrain "Undrain" {
      run "true"
    }
  }
}
"#;
    let bench = Bench::with(text);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let log = fs::read_to_string(bench.path().join("hooks.log")).expect("the hooks wrote");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "start s.flaky 1",
            "start s.flaky 2",
            "finish s.flaky succeeded",
            "start s.broken 1",
            "finish s.broken failed",
            "start finally.undrain 1",
            "finish finally.undrain succeeded",
        ]
    );
}
