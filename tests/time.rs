//! Time in real runs of the `rbx` binary: a timestamp input reaches a
//! command as RFC 3339 data (and a value that is not a time never reaches
//! it); `now()` read by a settled decision is recorded and never read
//! again after `kill -9`; a wait the run stopped for keeps its due time on
//! resume; timestamps, computed timeouts and anchors at a time inside
//! `foreach`, `parallel`, an `again` instance and an included fragment.

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a runbook (or a fragment) and, for an entry runbook, checks
    /// that `rbx lint` accepts it.
    fn write(&self, name: &str, text: &str) {
        fs::write(self.file(name), text).expect("write the file");
    }

    fn runbook(&self, name: &str, text: &str) {
        self.write(name, text);
        let lint = support::rbx(self.dir.path(), &["lint", name]);
        assert_eq!(lint.status, 0, "{name} must lint:\n{}", lint.transcript());
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RBX);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .env_remove("RBX_STORE")
            .stdin(Stdio::null());
        command
    }

    fn rbx(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("rbx runs");
        Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn side(&self) -> Vec<String> {
        fs::read_to_string(self.file("side"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every event of the store, as text.
    fn journal(&self) -> String {
        let out = Command::new("sqlite3")
            .arg(self.file(".rbx/rbx.db"))
            .arg("SELECT kind || ' ' || payload FROM events ORDER BY seq")
            .output()
            .expect("sqlite3 runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Calls `check` until it gives a value, for at most a minute.
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The due time `rbx run` or `rbx resume` printed when the run stopped to
/// wait (`⏳ run waiting: NODE is due at TIME`).
fn due(output: &Output) -> String {
    output
        .stderr
        .lines()
        .find_map(|line| line.split_once(" is due at ").map(|(_, at)| at.to_string()))
        .unwrap_or_else(|| panic!("the run should wait:\n{}", output.transcript()))
}

const DECIDED_THEN_KILLED: &str = r#"runbook clock "Clock" {
  stage s "S" {
    anchor t0 "Start"

    decide early "Read the clock" {
      when now() < t0 + 1s -> continue
      otherwise -> end late
    }

    step slow "Slow" {
      run "echo slow >> side; test -f fast || { echo $$ > slow.pid; sleep 30; }"
      idempotent
    }

    wait later "An hour after it was first reached" {
      until now() + 1h
    }

    end done
  }
}
"#;

#[test]
fn kill_9_after_a_decision_read_now_keeps_what_it_read_and_a_wait_keeps_its_due() {
    let bench = Bench::new();
    bench.runbook("clock.runbook", DECIDED_THEN_KILLED);
    let stderr = bench.file("driver.err");
    let mut driver: Child = bench
        .command(&["run", "clock.runbook"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).expect("a file for stderr"))
        .spawn()
        .expect("rbx starts");
    let group: i32 = poll("the slow step to start", || {
        fs::read_to_string(bench.file("slow.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    driver.kill().expect("SIGKILL rbx");
    driver.wait().expect("reap rbx");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("end the step's group");
    fs::write(bench.file("fast"), "").expect("touch fast");

    // Read again now, the clock would send the run to `late`.
    std::thread::sleep(Duration::from_millis(1200));
    let resumed = bench.rbx(&["resume"]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    let first_due = due(&resumed);
    assert_eq!(bench.side(), ["slow", "slow"], "the decision was kept");

    let journal = bench.journal();
    let decided = journal
        .lines()
        .find(|line| line.starts_with("node_finished") && line.contains("\"s.early\""))
        .expect("the decision finished");
    assert!(decided.contains("\"now\":\"20"), "{decided}");
    assert!(decided.contains("now() < t0 + 1s"), "{decided}");

    std::thread::sleep(Duration::from_millis(1100));
    let again = bench.rbx(&["resume"]);
    assert_eq!(again.status, 3, "{}", again.transcript());
    assert_eq!(due(&again), first_due, "the wait keeps the time it was due");
}

#[test]
fn a_timestamp_input_reaches_the_command_as_utc_data_and_nothing_else_does() {
    let bench = Bench::new();
    bench.runbook(
        "at.runbook",
        r#"runbook at "At" {
  input at: timestamp
  stage s "S" {
    step show "Show" {
      run "echo {{ at }} >> side; sh -c \"echo {{ at }} >> side\""
    }
    end done
  }
}
"#,
    );
    let ok = bench.rbx(&["run", "at.runbook", "--set", "at=2026-12-08T10:00:00+01:00"]);
    assert_eq!(ok.status, 0, "{}", ok.transcript());
    assert_eq!(
        bench.side(),
        ["2026-12-08T09:00:00Z", "2026-12-08T09:00:00Z"]
    );
    for hostile in [
        "$(touch pwned)",
        "2026-12-08T10:00:00Z; touch pwned",
        "2026-12-08T10:00:00",
        "`touch pwned`",
    ] {
        let refused = bench.rbx(&["run", "at.runbook", "--set", &format!("at={hostile}")]);
        assert_eq!(refused.status, 2, "{hostile}: {}", refused.transcript());
        assert!(
            refused.stderr.contains("not a timestamp"),
            "{hostile}: {}",
            refused.stderr
        );
    }
    assert!(!bench.file("pwned").exists());
}

#[test]
fn time_inside_foreach_parallel_again_and_a_fragment() {
    let bench = Bench::new();
    bench.write(
        "announce.runbook",
        r#"stage announce "Announce" {
  anchor go "Go time" at release_at + 1h

  step tell "Tell" {
    run "echo go {{ go }} >> side"
    timeout budget * 2
  }

  end announced
}
"#,
    );
    bench.runbook(
        "timeline.runbook",
        r#"runbook timeline "Timeline" {
  input release_at: timestamp = "2026-12-08T10:00:00+01:00"
  input slots: list(timestamp) = ["2026-12-08T09:00:00Z", "2026-12-08T10:30:00+01:00"]
  input budget: duration = 5s

  stage s "S" {
    anchor release "Release" at release_at

    parallel {
      foreach slot in slots {
        step slot_step "Slot {{ slot }}" {
          run "echo slot {{ slot }} {{ slot.index }} >> side"
          timeout budget * (slot.index + 1)
          idempotent
        }
      }

      step lead "Lead" {
        run "echo lead >> side"
        timeout budget
        idempotent
      }
    }

    decide same "Is the first slot the release?" {
      when timestamp("2026-12-08T09:00:00Z") == release and weekday(release, "Europe/Berlin") == tue -> continue
      otherwise -> end wrong
    }

    again announce

    end done
  }

  include "announce.runbook"
}
"#,
    );
    let out = bench.rbx(&["run", "timeline.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(out.stderr.contains("run ended: done"), "{}", out.stderr);
    let mut side = bench.side();
    side.sort();
    assert_eq!(
        side,
        [
            "go 2026-12-08T10:00:00Z",
            "lead",
            "slot 2026-12-08T09:00:00Z 0",
            "slot 2026-12-08T09:30:00Z 1",
        ]
    );
}

#[test]
fn a_computed_timeout_ends_the_step() {
    let bench = Bench::new();
    bench.runbook(
        "slow.runbook",
        r#"runbook slow "Slow" {
  input budget: duration = 200ms
  input factor: int = 2
  stage s "S" {
    step slow "Slow" {
      run "sleep 20"
      timeout budget * factor
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx(&["run", "slow.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    let negative = bench.rbx(&["run", "slow.runbook", "--set", "factor=-1"]);
    assert_eq!(negative.status, 1, "{}", negative.transcript());
    assert!(negative.stderr.contains("negative"), "{}", negative.stderr);
}

/// Every decision a node makes on the clock keeps the moment it read:
/// a stage's `require`, a node's `when` that holds (in the step's
/// `node_started`) or does not (in its `node_skipped`), and a node's
/// `require` that fails — inside a `foreach`, each instance its own.
#[test]
fn conditions_and_requirements_on_the_clock_record_the_moment_they_read() {
    const PAST: &str = r#"timestamp("2000-01-01T00:00:00Z")"#;
    let text = r#"runbook clocked "Clocked" {
  input hosts: list(string) = ["a", "b"]

  stage s "S" {
    on failure -> end too_late
    require now() > PAST

    foreach host in hosts {
      step past "Runs: the clock is past 2000" {
        when now() > PAST
        run "echo {{ host }}"
      }

      step never "Skipped: the clock is not before 2000" {
        when now() < PAST
        run "echo never"
      }
    }

    step late "Fails: it needs a time before 2000" {
      require now() < PAST
      run "true"
    }

    end done
  }
}
"#
    .replace("PAST", PAST);
    let bench = Bench::new();
    bench.runbook("clocked.runbook", &text);
    let run = bench.rbx(&["run", "clocked.runbook"]);
    assert!(
        run.stderr.contains("run ended: too_late"),
        "{}",
        run.transcript()
    );
    let journal = bench.journal();
    let event = |kind: &str, node: &str| {
        journal
            .lines()
            .find(|line| line.starts_with(kind) && line.contains(&format!("\"node\":\"{node}\"")))
            .unwrap_or_else(|| panic!("no {kind} of {node} in\n{journal}"))
            .to_string()
    };
    let mut recorded = vec![
        event("node_finished", "s"),
        event("node_finished", "s.late"),
    ];
    for host in ["a", "b"] {
        recorded.push(event("node_started", &format!("s.past[{host}]")));
        recorded.push(event("node_skipped", &format!("s.never[{host}]")));
    }
    for line in recorded {
        assert!(line.contains("\"now\":\"20"), "the moment is kept: {line}");
    }
}
