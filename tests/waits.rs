//! Waits you can see (book: Execution semantics, "Waits"), through the
//! real `rbx` binary: every probe of a polling `wait` is journalled with
//! its exit status, whether it held and the end of its output (bounded,
//! secrets masked); the report says how often it probed and what the last
//! probe found; and a run killed at any moment of a wait is polled again on
//! resume without asking the operator about it. At a real terminal (rbx
//! inside tmux), the running wait shows its last probe.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rbx_store::{SqliteStore, Store};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(runbook: &str) -> Bench {
        let bench = Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        fs::write(bench.path().join("w.runbook"), runbook).expect("write the runbook");
        let lint = support::rbx(bench.path(), &["lint", "w.runbook"]);
        assert_eq!(lint.status, 0, "{}\n{runbook}", lint.transcript());
        bench
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RBX);
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .stdin(Stdio::null());
        command
    }

    fn rbx(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("rbx runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every event of the latest run: (kind, payload).
    fn events(&self) -> Vec<(String, serde_json::Value)> {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
        store
            .events(&run.id)
            .expect("the journal")
            .into_iter()
            .map(|e| (e.kind, e.payload))
            .collect()
    }

    fn probes(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|(kind, _)| kind == "wait_polled")
            .map(|(_, payload)| payload)
            .collect()
    }

    /// The report's record of the wait `s.ready`.
    fn reported(&self) -> serde_json::Value {
        let report = self.rbx(&["report", "--format", "json"]);
        assert_eq!(report.status, 0, "{}", report.transcript());
        let json: serde_json::Value = serde_json::from_str(&report.stdout).expect("JSON");
        json["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|stage| stage["steps"].as_array().cloned().unwrap_or_default())
            .find(|step| step["id"] == "s.ready")
            .expect("the wait is in the report")
    }
}

/// A wait that holds at its probe number `holds_at` (never when `None`):
/// each probe counts itself in `polls`, prints `lines` lines and a secret.
fn runbook(holds_at: Option<u32>, lines: usize) -> String {
    let holds = holds_at.map_or("false".to_string(), |n| format!("test $n -ge {n}"));
    format!(
        r#"runbook w "Wait" {{
  input token "A secret": secret
  stage s "S" {{
    wait ready "Ready" {{
      run "n=$(( $(cat polls 2>/dev/null || echo 0) + 1 )); echo $n > polls; seq {lines}; echo probe $n {{{{ token }}}}; {holds}"
      every 1s
      timeout 6s
    }}
    end done
  }}
}}
"#
    )
}

/// Every probe is journalled in order with its exit status, whether it
/// held, and at most 512 bytes of the end of each stream, with secrets
/// masked; the report counts them and shows the last.
#[test]
fn every_probe_is_recorded_and_the_last_is_reported() {
    for holds_at in [Some(1), Some(3), None] {
        for lines in [1usize, 2000] {
            let bench = Bench::new(&runbook(holds_at, lines));
            let run = bench
                .command(&["run", "w.runbook"])
                .env("RBX_SECRET_TOKEN", "hunter2-very-secret")
                .output()
                .expect("rbx runs");
            let shape = format!("holds at {holds_at:?}, {lines} lines");
            let probes = bench.probes();
            let expected = holds_at.unwrap_or(probes.len() as u32);
            assert_eq!(probes.len() as u32, expected, "{shape}: {probes:?}");
            assert!(expected >= 1, "{shape}");
            for (i, probe) in probes.iter().enumerate() {
                let poll = i as u64 + 1;
                let last = poll == u64::from(expected);
                let held = last && holds_at.is_some();
                assert_eq!(probe["poll"], poll, "{shape}");
                assert_eq!(probe["held"], held, "{shape}: {probe}");
                assert_eq!(probe["exit"], if held { 0 } else { 1 }, "{shape}: {probe}");
                let stdout = probe["stdout"].as_str().expect("stdout");
                assert!(stdout.len() <= 512, "{shape}: {} bytes", stdout.len());
                assert!(
                    stdout.contains(&format!("probe {poll}")),
                    "{shape}: {stdout}"
                );
                assert!(!stdout.contains("hunter2"), "{shape}: a secret in {stdout}");
                assert_eq!(probe["reason"].is_null(), held, "{shape}: {probe}");
            }
            let step = bench.reported();
            assert_eq!(step["probes"]["count"], expected, "{shape}: {step}");
            let last = &step["probes"]["last"];
            assert_eq!(last["poll"], expected, "{shape}");
            assert_eq!(last["held"], holds_at.is_some(), "{shape}");
            match holds_at {
                Some(_) => {
                    assert_eq!(run.status.code(), Some(0), "{shape}");
                    assert_eq!(step["result"], "done", "{shape}");
                }
                None => {
                    assert_eq!(run.status.code(), Some(1), "{shape}");
                    assert_eq!(step["result"], "failed", "{shape}");
                    assert!(expected >= 2, "{shape}: a 6s timeout polls more than once");
                }
            }
        }
    }
}

/// Rule S2 for waits: killed after any event of a run that polls, the
/// wait is polled again on resume — no `--in-doubt` needed, nobody asked —
/// and the run ends as it would have; the probes of both drives are
/// counted together.
#[test]
fn a_wait_killed_at_any_moment_is_polled_again_on_resume() {
    let runbook = runbook(Some(3), 1);
    let probe = Bench::new(&runbook);
    let first = probe
        .command(&["run", "w.runbook"])
        .env("RBX_SECRET_TOKEN", "hunter2")
        .output()
        .expect("rbx runs");
    assert_eq!(first.status.code(), Some(0));
    let total = probe.events().len();
    let mut reran = 0;
    for n in 1..total {
        let bench = Bench::new(&runbook);
        let crashed = bench
            .command(&["run", "w.runbook"])
            .env("RBX_SECRET_TOKEN", "hunter2")
            .env(rbx_store::CRASH_AFTER_EVENTS, n.to_string())
            .output()
            .expect("rbx runs");
        assert!(crashed.status.code().is_none(), "killed after event {n}");
        let resumed = bench
            .command(&["resume", "--non-interactive"])
            .env("RBX_SECRET_TOKEN", "hunter2")
            .output()
            .expect("rbx resumes");
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "after event {n}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        let events = bench.events();
        assert!(
            events
                .iter()
                .any(|(k, p)| k == "run_ended" && p["outcome"] == "done"),
            "after event {n}"
        );
        let doubts: Vec<&serde_json::Value> = events
            .iter()
            .filter(|(k, _)| k == "in_doubt")
            .map(|(_, p)| p)
            .collect();
        for doubt in doubts {
            assert_eq!(doubt["decision"], "rerun", "after event {n}: {doubt}");
            reran += 1;
        }
        let step = bench.reported();
        let counted = events.iter().filter(|(k, _)| k == "wait_polled").count();
        assert_eq!(step["probes"]["count"], counted, "after event {n}");
        assert_eq!(step["probes"]["last"]["held"], true, "after event {n}");
    }
    assert!(reran > 0, "no kill point left the wait in doubt");
}

/// A tmux session running one command, read with `capture-pane`. (Its own
/// test binary, apart from tests/terminal.rs: a wait polling in a session
/// of its own would only load the machine under their typing.)
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(dir: &Path, command: &str) -> Tmux {
        let session = format!("rbx-waits-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "160",
                "-y",
                "50",
                "-c",
            ])
            .arg(dir)
            .arg(command)
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux could not start a session");
        Tmux { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

/// A polling wait shows its last probe where a step shows its spinner:
/// the probe's number, its exit status and the last line it printed, as
/// each probe ends; the operator sees why the run is still waiting.
#[test]
fn a_polling_wait_shows_its_last_probe() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.runbook"),
        r#"runbook w "Wait" {
  stage s "S" {
    wait ready "The flag is up" {
      run "test -f flag && echo up || { echo still down >&2; exit 3; }"
      every 1s
      timeout 1m
    }
    end done
  }
}
"#,
    )
    .unwrap();
    let command = format!(
        "{} run w.runbook; echo rbx-exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_rbx")
    );
    let tmux = Tmux::start(dir.path(), &command);
    // The spinner shows once the wait has run two seconds, by which time
    // it has probed twice or more.
    tmux.wait_for("exit 3: still down");
    let screen = tmux.screen();
    let shown = screen
        .lines()
        .find(|l| l.contains("exit 3: still down"))
        .unwrap_or_default();
    let poll: u32 = shown
        .split("s.ready: poll ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no probe number in {shown:?}"));
    assert!(poll >= 2, "{shown}");
    std::fs::write(dir.path().join("flag"), "").unwrap();
    tmux.wait_for("rbx-exit=0");
}
