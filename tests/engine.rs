//! The engine end to end, through the real `rbx` binary.
//!
//! Every step of every runbook here appends a line to a side-effect file
//! (`side`), so a test can prove what the engine promises: no completed step
//! runs twice and none is skipped — across failures, retries, timeouts,
//! `kill -9`, Ctrl-C, changed runbooks and damaged stores. Each test works in
//! a directory of its own, where `rbx` keeps its store in `.rbx`.
//!
//! `tests/engine_postgres.rs` compiles this file again: there every test
//! records its runs in a fresh database of a real PostgreSQL server
//! (`RBX_STORE`), except those about the SQLite file itself, which use
//! [`Bench::sqlite`] in both.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// How long any one wait for `rbx` or a step may take before the test gives
/// up: far more than any of them needs, so a slow CI machine is no failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// A test's working directory: its runbooks, the side-effect file `side`,
/// and the store: in `.rbx`, or a database of its own that rbx reaches as
/// the operator role `tester`.
struct Bench {
    dir: tempfile::TempDir,
    database: Option<(rbx_pgtest::Database, String)>,
}

/// A fresh database whose schema its owner made, and the URL that reaches
/// it as `tester`, a member of `rbx_operator`: as a team's operator.
fn operators_database() -> (rbx_pgtest::Database, String) {
    let database = rbx_pgtest::Cluster::shared().database();
    drop(rbx_store::PostgresStore::open(&database.url()).expect("the owner migrates"));
    let url = database.operator("tester");
    (database, url)
}

/// Whether this is the build of `tests/engine_postgres.rs`.
fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "engine_postgres"
}

impl Bench {
    /// A directory, and the store of this build: SQLite in `.rbx`, or a
    /// fresh PostgreSQL database in `engine_postgres`.
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
            database: on_postgres().then(operators_database),
        }
    }

    /// A directory whose store is SQLite's `.rbx`, for the tests about
    /// that file.
    fn sqlite() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
            database: None,
        }
    }

    /// Changes the record behind rbx's back, with its guards off: the
    /// SQLite file's triggers dropped, or PostgreSQL's disabled for the
    /// session of a superuser.
    fn tamper(&self, sql: &str) {
        match &self.database {
            Some((database, _)) => database
                .admin()
                .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
                .expect("the tampering applies"),
            None => {
                let status = Command::new("sqlite3")
                    .arg(self.file(".rbx/rbx.db"))
                    .arg(format!("DROP TRIGGER events_no_update; {sql}"))
                    .status()
                    .expect("sqlite3 runs");
                assert!(status.success());
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Writes a runbook and checks that `rbx lint` accepts it, so a test
    /// never passes because its runbook was refused.
    fn runbook(&self, name: &str, text: &str) {
        fs::write(self.file(name), text).expect("write the runbook");
        let lint = support::rbx(self.path(), &["lint", name]);
        assert_eq!(lint.status, 0, "{name} must lint:\n{}", lint.transcript());
    }

    /// `rbx` with `args` in this directory, stdin closed, no colour, and
    /// none of the caller's rbx settings.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RBX);
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .env("RBX_CACHE_DIR", self.file("cache"))
            .env_remove("RBX_SECRET_TOKEN")
            .stdin(Stdio::null());
        match &self.database {
            Some((_, url)) => command.env("RBX_STORE", url),
            None => command.env_remove("RBX_STORE"),
        };
        command
    }

    fn rbx(&self, args: &[&str]) -> Output {
        self.rbx_env(args, &[])
    }

    fn rbx_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        output(&mut command)
    }

    /// Starts `rbx` in the background; its standard output is thrown away
    /// and its standard error kept in a file.
    fn spawn(&self, args: &[&str]) -> Driver {
        let stderr = tempfile::NamedTempFile::new_in(self.path()).expect("a file for stderr");
        let (file, path) = stderr.keep().expect("keep the stderr file");
        let child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("rbx starts");
        Driver {
            child,
            stderr: path,
        }
    }

    /// The store rbx uses here, opened as another process would.
    fn store(&self) -> Box<dyn rbx_store::Store> {
        match &self.database {
            Some((_, url)) => Box::new(rbx_store::PostgresStore::open(url).expect("the store")),
            None => Box::new(rbx_store::SqliteStore::open(&self.file(".rbx")).expect("the store")),
        }
    }

    /// The lines of the side-effect file, in order.
    fn side(&self) -> Vec<String> {
        fs::read_to_string(self.file("side"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many times `line` appears in the side-effect file.
    fn count(&self, line: &str) -> usize {
        self.side().iter().filter(|l| *l == line).count()
    }

    /// Waits for a step to write its process group id (`echo $$ > NAME`)
    /// and returns it, as a guard that ends the group if the test fails.
    fn group_in(&self, name: &str) -> Group {
        let path = self.file(name);
        let pgid = poll(&format!("{name} to be written"), || {
            let text = fs::read_to_string(&path).ok()?;
            text.strip_suffix('\n')?.trim().parse::<i32>().ok()
        });
        Group(pgid)
    }

    fn touch(&self, name: &str) {
        fs::write(self.file(name), "").expect("touch");
    }

    /// Every byte of every file in the store directory; on PostgreSQL,
    /// every row of every table as text (bytes as they are, where
    /// printable).
    fn store_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        if let Some((database, _)) = &self.database {
            let mut admin = database.admin();
            return [
                "SELECT t::text FROM runs t",
                "SELECT t::text FROM sources t",
                "SELECT t::text FROM events t",
                "SELECT t::text FROM locks t",
                "SELECT encode(head, 'escape') || encode(tail, 'escape') FROM outputs",
                "SELECT encode(bytes, 'escape') FROM attachments",
            ]
            .into_iter()
            .map(|sql| {
                let rows = admin.query(sql, &[]).expect("the table reads");
                let text: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
                (PathBuf::from(sql), text.join("\n").into_bytes())
            })
            .collect();
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(self.file(".rbx")).expect("the store directory") {
            let path = entry.expect("a directory entry").path();
            let bytes = fs::read(&path).expect("read a store file");
            out.push((path, bytes));
        }
        out
    }
}

fn output(command: &mut Command) -> Output {
    let output = command.output().expect("rbx runs");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The run id `rbx run` announced (`run ID started (…)`).
fn started_run(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        let rest = line.strip_prefix("run ")?;
        let (id, after) = rest.split_once(' ')?;
        after.starts_with("started").then(|| id.to_string())
    })
}

/// Calls `check` until it gives a value, for at most [`PATIENCE`].
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An `rbx` process running in the background; killed if a test fails
/// while it still runs.
struct Driver {
    child: Child,
    stderr: PathBuf,
}

impl Driver {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits in i32")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The run it started, once it has said so.
    fn run_id(&self) -> String {
        poll("rbx to announce its run", || started_run(&self.stderr()))
    }

    /// SIGKILL to rbx alone (not to its steps, which have process groups
    /// of their own), and reaps it.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL rbx");
        self.child.wait().expect("reap rbx");
    }

    /// What Ctrl-C on a terminal sends rbx.
    fn interrupt(&self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGINT).expect("SIGINT rbx");
    }

    /// Waits for rbx to exit; returns its exit status.
    fn wait(&mut self) -> i32 {
        let status = poll("rbx to exit", || self.child.try_wait().expect("try_wait"));
        status.code().unwrap_or(-1)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A step's process group, as the step wrote it (`echo $$`: the shell rbx
/// starts leads a group of its own).
struct Group(i32);

impl Group {
    /// Members still alive (zombies waiting for init to reap them are dead).
    fn members(&self) -> Vec<i32> {
        processes()
            .into_iter()
            .filter(|p| p.pgrp == self.0)
            .map(|p| p.pid)
            .collect()
    }

    /// Ends the group, as nothing else will once rbx was killed with -9.
    fn kill(&self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
        self.wait_gone();
    }

    fn wait_gone(&self) {
        poll(&format!("process group {} to end", self.0), || {
            self.members().is_empty().then_some(())
        });
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.members().is_empty() {
            let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

/// One live process, from `/proc`.
struct Process {
    pid: i32,
    pgrp: i32,
    /// Its arguments, as `/proc/PID/cmdline` has them.
    args: Vec<String>,
    /// Its working directory, when it may be read.
    cwd: Option<PathBuf>,
}

/// Every live process (zombies excluded).
fn processes() -> Vec<Process> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parens.
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields
            .first()
            .is_none_or(|state| *state == "Z" || *state == "X")
        {
            continue;
        }
        let Some(pgrp) = fields.get(2).and_then(|f| f.parse().ok()) else {
            continue;
        };
        let args = fs::read(entry.path().join("cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let cwd = fs::read_link(entry.path().join("cwd")).ok();
        out.push(Process {
            pid,
            pgrp,
            args,
            cwd,
        });
    }
    out
}

/// Waits until no live process started in `dir` (where a test's steps
/// run) has the command line `args`: processes of other tests or other
/// programs on the machine do not count.
fn wait_none_running(dir: &Path, args: &[&str]) {
    let dir = dir.canonicalize().expect("the test directory");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<i32> = processes()
            .into_iter()
            .filter(|p| p.args == args && p.cwd.as_deref() == Some(dir.as_path()))
            .map(|p| p.pid)
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{}` still running as {left:?}: an orphan",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The status lines of `rbx status` (`  done      s.a  0.0s`), as
/// (status, node id).
fn statuses(status_stdout: &str) -> Vec<(String, String)> {
    status_stdout
        .lines()
        .skip_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let rest = l.trim_start();
            let (status, rest) = if let Some(r) = rest.strip_prefix("in doubt") {
                ("in doubt", r)
            } else {
                rest.split_once(' ').expect("a status line")
            };
            let id = rest.split_whitespace().next().unwrap_or_default();
            (status.to_string(), id.to_string())
        })
        .collect()
}

fn status_of(bench: &Bench, run: &str, node: &str) -> String {
    let out = bench.rbx(&["status", run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    statuses(&out.stdout)
        .into_iter()
        .find(|(_, id)| id == node)
        .map(|(status, _)| status)
        .unwrap_or_else(|| panic!("no {node} in:\n{}", out.stdout))
}

/// The line of `rbx status` for `node`, with its detail.
fn status_line(bench: &Bench, run: &str, node: &str) -> String {
    let out = bench.rbx(&["status", run]);
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == node))
        .unwrap_or_else(|| panic!("no {node} in:\n{}", out.stdout))
        .to_string()
}

fn assert_no_panic(out: &Output) {
    assert!(
        !out.stderr.contains("panicked") && out.status != 101,
        "rbx panicked:\n{}",
        out.transcript()
    );
}

// --------------------------------------------------------------- running --

const THREE_STEPS: &str = r#"runbook demo "Three steps" {
  stage prepare "Prepare" {
    step a "A" {
      run "echo a >> side"
    }
    step b "B" {
      run "echo b >> side"
      expect exit 0
    }
    then finish
  }
  stage finish "Finish" {
    step c "C" {
      run "echo c >> side"
    }
    end done
  }
}
"#;

#[test]
fn a_run_reaches_its_outcome_and_is_listed_with_every_node_done() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", THREE_STEPS);
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(out.stderr.contains("run ended: done"), "{}", out.stderr);
    assert_eq!(bench.side(), ["a", "b", "c"]);
    let run = started_run(&out.stderr).expect("the run id");

    let runs = bench.rbx(&["runs"]);
    assert_eq!(runs.status, 0, "{}", runs.transcript());
    let line = runs
        .stdout
        .lines()
        .find(|l| l.starts_with(&run))
        .unwrap_or_else(|| panic!("{run} not listed:\n{}", runs.stdout));
    assert!(line.contains("ended:done"), "{line}");
    assert!(line.contains("demo"), "{line}");
    assert!(line.contains("tester"), "{line}");

    let status = bench.rbx(&["status", &run]);
    assert_eq!(status.status, 0, "{}", status.transcript());
    let nodes = statuses(&status.stdout);
    let ids: Vec<&str> = nodes.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["prepare.a", "prepare.b", "finish.c"],
        "{}",
        status.stdout
    );
    for (state, id) in &nodes {
        assert_eq!(state, "done", "{id}:\n{}", status.stdout);
    }
    // The latest run is the default.
    assert_eq!(bench.rbx(&["status"]).stdout, status.stdout);
}

#[test]
fn a_failure_route_leads_to_triage_and_its_outcome() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Failure routing" {
  stage smoke "Smoke" {
    step check "Check" {
      run "echo check >> side; exit 4"
      on failure -> triage
    }
    step after "After" {
      run "echo after >> side"
    }
    end passed
  }
  stage triage "Triage" {
    step look "Look" {
      run "echo look >> side"
    }
    end triaged
  }
}
"#,
    );
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(out.stderr.contains("run ended: triaged"), "{}", out.stderr);
    assert_eq!(bench.side(), ["check", "look"]);
    let run = started_run(&out.stderr).expect("the run id");
    assert_eq!(status_of(&bench, &run, "smoke.check"), "failed");
    assert_eq!(status_of(&bench, &run, "smoke.after"), "skipped");
    assert_eq!(status_of(&bench, &run, "triage.look"), "done");
    let check = status_line(&bench, &run, "smoke.check");
    assert!(check.contains("exit status 4, expected 0"), "{check}");

    let log = bench.rbx(&["log", &run, "smoke.check"]);
    assert_eq!(log.status, 0, "{}", log.transcript());
    assert!(
        log.stdout.contains(r#""status":"failed""#),
        "{}",
        log.stdout
    );
    assert!(log.stdout.contains(r#""exit":4"#), "{}", log.stdout);
    let runs = bench.rbx(&["runs"]);
    assert!(runs.stdout.contains("ended:triaged"), "{}", runs.stdout);
}

#[test]
fn retries_with_backoff_run_until_success_and_stop_when_spent() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Retries" {
  stage s "S" {
    step flaky "Fails twice, then succeeds" {
      run """
        n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count
        echo "flaky $n" >> side
        test $n -ge 3
      """
      retry 2 backoff 100ms
    }
    step hopeless "Always fails" {
      run "echo hopeless >> side; exit 7"
      retry 1 backoff 50ms fixed
      on failure -> end gave_up
    }
    end done
  }
}
"#,
    );
    let started = Instant::now();
    let out = bench.rbx(&["run", "demo.runbook"]);
    let took = started.elapsed();
    assert_eq!(out.status, 4, "{}", out.transcript());
    assert!(out.stderr.contains("run ended: gave_up"), "{}", out.stderr);
    assert_eq!(
        bench.side(),
        ["flaky 1", "flaky 2", "flaky 3", "hopeless", "hopeless"]
    );
    // Two backoffs of at least 100ms before the third try, one of 50ms.
    assert!(took >= Duration::from_millis(250), "{took:?}");

    let run = started_run(&out.stderr).expect("the run id");
    let flaky = status_line(&bench, &run, "s.flaky");
    assert!(
        flaky.contains("done") && flaky.contains("3 attempts"),
        "{flaky}"
    );
    let hopeless = status_line(&bench, &run, "s.hopeless");
    assert!(
        hopeless.contains("failed") && hopeless.contains("2 attempts"),
        "{hopeless}"
    );
    let log = bench.rbx(&["log", &run, "s.flaky"]);
    assert_eq!(
        log.stdout.matches("attempt_failed").count(),
        2,
        "{}",
        log.stdout
    );
    assert_eq!(
        log.stdout.matches("node_started").count(),
        3,
        "{}",
        log.stdout
    );
}

#[test]
fn a_timeout_ends_the_whole_process_group() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Timeout" {
  stage s "S" {
    step slow "Leaves a background sleep" {
      run "echo slow >> side; echo $$ > slow.pid; sleep 300 & sleep 300"
      timeout 1s
    }
    step never "Never reached" {
      run "echo never >> side"
    }
    end done
  }
}
"#,
    );
    let started = Instant::now();
    let out = bench.rbx(&["run", "demo.runbook"]);
    let took = started.elapsed();
    assert_eq!(out.status, 1, "{}", out.transcript());
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(bench.side(), ["slow"]);

    let group = bench.group_in("slow.pid");
    group.wait_gone();
    wait_none_running(bench.path(), &["sleep", "300"]);

    let run = started_run(&out.stderr).expect("the run id");
    let slow = status_line(&bench, &run, "s.slow");
    assert!(
        slow.contains("failed") && slow.contains("timed out"),
        "{slow}"
    );
    assert_eq!(status_of(&bench, &run, "s.never"), "pending");
}

#[test]
fn a_step_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Stubborn" {
  stage s "S" {
    step stubborn "Ignores SIGTERM" {
      run "trap '' TERM; echo stubborn >> side; echo $$ > stubborn.pid; sleep 307 & sleep 307"
      timeout 1s
      on failure -> end timed_out
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 4, "{}", out.transcript());
    assert!(
        out.stderr.contains("run ended: timed_out"),
        "{}",
        out.stderr
    );
    bench.group_in("stubborn.pid").wait_gone();
    wait_none_running(bench.path(), &["sleep", "307"]);
    assert_eq!(bench.side(), ["stubborn"]);
}

#[test]
fn expectations_on_exit_status_stdout_and_stderr() {
    // (what the step runs, its expectation, the outcome, the reason shown)
    let cases = [
        ("exit 3", "expect exit 3", "met", ""),
        (
            "exit 0",
            "expect exit 3",
            "unmet",
            "exit status 0, expected 3",
        ),
        ("exit 3", "expect exit 0, 3", "met", ""),
        ("echo all ok", "expect stdout ~ /ok/", "met", ""),
        (
            "echo not good",
            "expect stdout ~ /ok/",
            "unmet",
            "stdout ~ /ok/ did not hold",
        ),
        ("echo fine >&2", "expect stderr !~ /panic/", "met", ""),
        (
            "echo thread main panicked >&2",
            "expect stderr !~ /panic/",
            "unmet",
            "stderr !~ /panic/ did not hold",
        ),
    ];
    for (index, (command, expect, outcome, reason)) in cases.into_iter().enumerate() {
        let bench = Bench::new();
        bench.runbook(
            "demo.runbook",
            &format!(
                r#"runbook demo "Expectations" {{
  stage s "S" {{
    step probe "Probe" {{
      run "echo probe >> side; {command}"
      {expect}
      on failure -> end unmet
    }}
    end met
  }}
}}
"#
            ),
        );
        let out = bench.rbx(&["run", "demo.runbook"]);
        let case = format!("case {index}: `{command}` with `{expect}`");
        // `unmet` is reached by a failure route: not a success (status 4).
        let status = if outcome == "met" { 0 } else { 4 };
        assert_eq!(out.status, status, "{case}: {}", out.transcript());
        assert!(
            out.stderr.contains(&format!("run ended: {outcome}")),
            "{case}: {}",
            out.stderr
        );
        assert_eq!(bench.side(), ["probe"], "{case}");
        let run = started_run(&out.stderr).expect("the run id");
        let line = status_line(&bench, &run, "s.probe");
        assert!(line.contains(reason), "{case}: {line}");
    }
}

#[test]
fn captured_outputs_are_used_by_later_commands() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Captures" {
  stage s "S" {
    step version "Version" {
      run "echo version >> side; echo 'forge version 1.42.7 (rust)'"
      capture number = stdout ~ /version (\d+\.\d+\.\d+)/
    }
    step info "Info" {
      run """echo info >> side; echo '{"a": {"b": "bee-9"}, "n": 4}'"""
      capture field = stdout json "a.b"
      capture n: int = stdout json "n"
    }
    step use "Use" {
      run "echo use {{ version.number }} {{ info.field }} {{ info.n }} >> side"
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.side(), ["version", "info", "use 1.42.7 bee-9 4"]);
    let run = started_run(&out.stderr).expect("the run id");
    let log = bench.rbx(&["log", &run, "s.version"]);
    let finished = log
        .stdout
        .lines()
        .find(|l| l.contains("node_finished"))
        .unwrap_or_else(|| panic!("no node_finished in:\n{}", log.stdout));
    assert!(
        finished.contains(r#""number""#) && finished.contains(r#""1.42.7""#),
        "the capture is recorded: {finished}"
    );
    let log = bench.rbx(&["log", &run, "s.use"]);
    assert!(
        log.stdout.contains("echo use 1.42.7 bee-9 4 >> side"),
        "the recorded command is the resolved one:\n{}",
        log.stdout
    );
}

#[test]
fn a_capture_that_finds_nothing_fails_the_step() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Missing capture" {
  stage s "S" {
    step version "Version" {
      run "echo version >> side; echo 'no numbers here'"
      capture number = stdout ~ /version (\d+)/
    }
    step use "Use" {
      run "echo use {{ version.number }} >> side"
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    assert!(out.stderr.contains("capture `number`"), "{}", out.stderr);
    assert_eq!(bench.side(), ["version"]);
}

const BRANCHES: &str = r#"runbook demo "Branches and a join" {
  input mode: enum(fast, slow) = fast
  stage choose "Choose" {
    decide path "Path" {
      when mode == fast -> fast
      otherwise -> slow
    }
  }
  stage fast "Fast" {
    step f "F" {
      run "echo fast >> side"
    }
    then join
  }
  stage slow "Slow" {
    step s "S" {
      run "echo slow >> side"
    }
    then join
  }
  stage join "Join" {
    step j "J" {
      run "echo join >> side"
    }
    end done
  }
}
"#;

#[test]
fn a_join_after_alternative_branches_runs_once_and_the_other_branch_is_skipped() {
    for (sets, taken, not_taken) in [
        (vec![], "fast", "slow"),
        (vec!["--set", "mode=slow"], "slow", "fast"),
    ] {
        let bench = Bench::new();
        bench.runbook("demo.runbook", BRANCHES);
        let mut args = vec!["run", "demo.runbook"];
        args.extend(sets);
        let out = bench.rbx(&args);
        assert_eq!(out.status, 0, "{}", out.transcript());
        assert!(out.stderr.contains("run ended: done"), "{}", out.stderr);
        assert_eq!(bench.side(), [taken, "join"]);
        let run = started_run(&out.stderr).expect("the run id");
        let taken_id = format!("{taken}.{}", &taken[..1]);
        let skipped_id = format!("{not_taken}.{}", &not_taken[..1]);
        assert_eq!(status_of(&bench, &run, &taken_id), "done");
        assert_eq!(status_of(&bench, &run, &skipped_id), "skipped");
        assert_eq!(status_of(&bench, &run, "join.j"), "done");
        let log = bench.rbx(&["log", &run]);
        assert!(
            log.stdout
                .contains(&format!(r#"node_skipped     {{"node":"{skipped_id}"}}"#)),
            "{}",
            log.stdout
        );
        assert_eq!(log.stdout.matches(r#""node":"join.j""#).count(), 2);
    }
}

// ------------------------------------------------------------ kill -9 --

/// A step that blocks (writing its group to `slow.pid`) until the file
/// `fast` exists, between two quick ones. `{policy}` is the slow step's
/// resume policy.
fn blocking_runbook(policy: &str, slow_command: &str) -> String {
    format!(
        r#"runbook demo "Blocking step" {{
  stage s "S" {{
    step first "First" {{
      run "echo first >> side"
    }}
    step slow "Slow" {{
      run "{slow_command}"
      {policy}
    }}
    step last "Last" {{
      run "echo last >> side"
    }}
    end done
  }}
}}
"#
    )
}

const BLOCK: &str = "echo slow >> side; test -f fast || { echo $$ > slow.pid; sleep 30; }";

/// Starts the run, waits until the slow step runs, and kills rbx with
/// SIGKILL (its step is left behind, as it would be, and ended here).
/// Returns the run id.
fn kill_during_slow_step(bench: &Bench) -> String {
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let run = driver.run_id();
    let group = bench.group_in("slow.pid");
    driver.kill9();
    group.kill();
    // Nothing the killed rbx meant to do after this can happen now.
    bench.touch("fast");
    let runs = bench.rbx(&["runs"]);
    assert_eq!(runs.status, 0, "{}", runs.transcript());
    run
}

#[test]
fn kill_9_in_a_step_without_policy_asks_then_reruns_when_told() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", &blocking_runbook("", BLOCK));
    let run = kill_during_slow_step(&bench);
    assert_eq!(bench.side(), ["first", "slow"]);

    let asked = bench.rbx(&["resume", &run]);
    assert_eq!(asked.status, 3, "{}", asked.transcript());
    assert!(asked.stderr.contains("s.slow"), "{}", asked.stderr);
    assert!(asked.stderr.contains("--in-doubt"), "{}", asked.stderr);
    assert_eq!(bench.side(), ["first", "slow"], "nothing ran");
    assert_eq!(status_of(&bench, &run, "s.slow"), "in doubt");

    let rerun = bench.rbx(&["resume", &run, "--in-doubt", "rerun"]);
    assert_eq!(rerun.status, 0, "{}", rerun.transcript());
    assert!(rerun.stderr.contains("run ended: done"), "{}", rerun.stderr);
    assert_eq!(bench.side(), ["first", "slow", "slow", "last"]);
    let slow = status_line(&bench, &run, "s.slow");
    assert!(
        slow.contains("done") && slow.contains("2 attempts"),
        "{slow}"
    );
    let log = bench.rbx(&["log", &run, "s.slow"]);
    assert!(
        log.stdout.contains(r#""decision":"rerun""#),
        "{}",
        log.stdout
    );
}

/// A loop over a list a step captured: the step lists `hosts`, the second
/// item blocks until `fast` exists.
const CAPTURED_LOOP: &str = r#"runbook demo "A loop over a captured list" {
  stage s "S" {
    step inventory "Inventory" {
      run "echo listed >> side; cat hosts"
      capture hosts: list = stdout lines
      idempotent
    }

    foreach host in inventory.hosts {
      step visit "Visit {{ host }}" {
        run "echo {{ host }}-{{ host.index }} >> side; test {{ host }} != b || test -f fast || { echo $$ > slow.pid; sleep 30; }"
        idempotent
      }
    }

    end done
  }
}
"#;

#[test]
fn kill_9_inside_a_loop_over_a_captured_list_resumes_over_the_same_items() {
    let bench = Bench::new();
    fs::write(bench.file("hosts"), "a\nb\n\nc\n").expect("write hosts");
    bench.runbook("demo.runbook", CAPTURED_LOOP);
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let run = driver.run_id();
    let group = bench.group_in("slow.pid");
    driver.kill9();
    group.kill();
    bench.touch("fast");
    // Were the list captured again, the loop would go over x and y.
    fs::write(bench.file("hosts"), "x\ny\n").expect("rewrite hosts");

    let resumed = bench.rbx(&["resume", &run]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert!(
        resumed.stderr.contains("run ended: done"),
        "{}",
        resumed.stderr
    );
    assert_eq!(bench.count("listed"), 1, "the list was captured once");
    assert_eq!(bench.side(), ["listed", "a-0", "b-1", "b-1", "c-2"]);
    assert_eq!(status_of(&bench, &run, "s.visit[c]"), "done");
}

#[test]
fn kill_9_in_a_step_then_skip_or_abort_as_the_operator_says() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", &blocking_runbook("", BLOCK));
    let run = kill_during_slow_step(&bench);
    let skip = bench.rbx(&["resume", &run, "--in-doubt", "skip"]);
    assert_eq!(skip.status, 0, "{}", skip.transcript());
    assert_eq!(bench.side(), ["first", "slow", "last"]);

    let bench = Bench::new();
    bench.runbook("demo.runbook", &blocking_runbook("", BLOCK));
    let run = kill_during_slow_step(&bench);
    let abort = bench.rbx(&["resume", &run, "--in-doubt", "abort"]);
    assert_eq!(abort.status, 1, "{}", abort.transcript());
    assert_eq!(bench.side(), ["first", "slow"]);
    let runs = bench.rbx(&["runs"]);
    assert!(runs.stdout.contains("failed"), "{}", runs.stdout);
}

#[test]
fn kill_9_in_an_idempotent_step_reruns_it_on_resume() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", &blocking_runbook("idempotent", BLOCK));
    let run = kill_during_slow_step(&bench);
    let out = bench.rbx(&["resume", &run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!out.stderr.contains("--in-doubt"), "{}", out.stderr);
    assert_eq!(bench.side(), ["first", "slow", "slow", "last"]);
    let log = bench.rbx(&["log", &run, "s.slow"]);
    assert!(
        log.stdout.contains(r#""why":"idempotent""#),
        "{}",
        log.stdout
    );
}

#[test]
fn kill_9_in_a_verified_step_whose_effect_happened_marks_it_done() {
    let bench = Bench::new();
    let command =
        "echo slow >> side; touch marker; test -f fast || { echo $$ > slow.pid; sleep 30; }";
    bench.runbook(
        "demo.runbook",
        &blocking_runbook(r#"verify "test -f marker""#, command),
    );
    let run = kill_during_slow_step(&bench);
    let out = bench.rbx(&["resume", &run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.side(), ["first", "slow", "last"], "not run again");
    assert_eq!(status_of(&bench, &run, "s.slow"), "done");
    let log = bench.rbx(&["log", &run, "s.slow"]);
    assert!(
        log.stdout.contains("the verify probe says it happened"),
        "{}",
        log.stdout
    );
}

#[test]
fn kill_9_in_a_verified_step_whose_effect_did_not_happen_reruns_it() {
    let bench = Bench::new();
    let command =
        "echo slow >> side; test -f fast || { echo $$ > slow.pid; sleep 30; }; touch marker";
    bench.runbook(
        "demo.runbook",
        &blocking_runbook(r#"verify "test -f marker""#, command),
    );
    let run = kill_during_slow_step(&bench);
    assert!(!bench.file("marker").exists());
    let out = bench.rbx(&["resume", &run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.side(), ["first", "slow", "slow", "last"]);
    assert!(bench.file("marker").exists());
}

#[test]
fn kill_9_between_steps_resumes_without_rerunning_anything() {
    let bench = Bench::new();
    // The wait holds the run between steps, with no command in flight.
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Between steps" {
  stage s "S" {
    step first "First" {
      run "echo first >> side"
    }
    step second "Second" {
      run "echo second >> side"
    }
    anchor mark "Mark"
    wait pause "Pause" {
      until mark + 2s
    }
    step third "Third" {
      run "echo third >> side"
    }
    end done
  }
}
"#,
    );
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let run = driver.run_id();
    // Poll the store until the second step is recorded finished.
    poll("s.second to be recorded finished", || {
        let log = bench.rbx(&["log", &run, "s.second"]);
        log.stdout.contains("node_finished").then_some(())
    });
    poll("the wait to begin", || {
        driver.stderr().contains("s.pause waits").then_some(())
    });
    driver.kill9();
    assert_eq!(bench.side(), ["first", "second"]);
    assert_eq!(status_of(&bench, &run, "s.second"), "done");

    let out = bench.rbx(&["resume", &run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!out.stderr.contains("in doubt"), "{}", out.stderr);
    assert_eq!(bench.side(), ["first", "second", "third"]);
    let log = bench.rbx(&["log", &run]);
    assert!(!log.stdout.contains("in_doubt"), "{}", log.stdout);
}

#[test]
fn kill_9_at_arbitrary_moments_never_reruns_a_finished_step_or_skips_one() {
    // Every step is idempotent, so resume never needs to ask: a step may
    // run twice only if the journal says it was in doubt.
    let steps = ["one", "two", "three", "four", "five"];
    let body: String = steps
        .iter()
        .map(|s| {
            format!(
                "    step {s} \"{s}\" {{\n      run \"echo {s} >> side; sleep 0.02\"\n      idempotent\n    }}\n"
            )
        })
        .collect();
    let runbook = format!(
        "runbook demo \"Arbitrary kills\" {{\n  stage s \"S\" {{\n{body}    end done\n  }}\n}}\n"
    );
    // Two kills while rbx starts (opening the store, creating the run),
    // then kills at moments after it announced its run.
    let moments = [(false, 0), (false, 15)]
        .into_iter()
        .chain([0, 2, 5, 9, 14, 20, 28, 38, 50, 65, 85, 110, 140, 180].map(|ms| (true, ms)));
    for (announced, delay_ms) in moments {
        let bench = Bench::new();
        bench.runbook("demo.runbook", &runbook);
        let mut driver = bench.spawn(&["run", "demo.runbook"]);
        if announced {
            driver.run_id();
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        driver.kill9();
        // Let a step the kill left behind finish its line.
        std::thread::sleep(Duration::from_millis(60));

        let runs = bench.rbx(&["runs"]);
        assert_eq!(runs.status, 0, "{delay_ms}ms: {}", runs.transcript());
        if runs.stdout.starts_with("no runs") {
            eprintln!("killed after {delay_ms}ms: before the run was created");
            assert!(
                bench.side().is_empty(),
                "{delay_ms}ms: a step ran with no run"
            );
            continue;
        }
        let out = bench.rbx(&["resume"]);
        if out.stderr.contains("no unfinished run") || out.stderr.contains("already ended") {
            // Killed after the outcome was recorded.
            eprintln!("killed after {delay_ms}ms: the run had ended");
            assert_eq!(bench.side(), steps, "{delay_ms}ms");
            continue;
        }
        assert_eq!(out.status, 0, "{delay_ms}ms: {}", out.transcript());
        let run = bench
            .rbx(&["runs"])
            .stdout
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .expect("a run");
        let log = bench.rbx(&["log", &run]).stdout;
        eprintln!(
            "killed after {delay_ms}ms: ran {:?}; {} step(s) in doubt",
            bench.side(),
            log.matches("in_doubt").count()
        );
        for step in steps {
            let reruns = log
                .lines()
                .filter(|l| l.contains("in_doubt") && l.contains(&format!("\"s.{step}\"")))
                .count();
            let ran = bench.count(step);
            assert!(
                ran >= 1 && ran <= 1 + reruns,
                "{delay_ms}ms: {step} ran {ran} times, {reruns} in doubt:\n{log}"
            );
        }
    }
}

/// Checkpoints after every event, so that every kill below falls just
/// before, on or just after one.
const EVERY_EVENT: (&str, &str) = ("RBX_CHECKPOINT_EVERY", "1");

/// `kill -9` right after each commit of a run that writes a checkpoint
/// after every event, the checkpoints' own commits included: each resume
/// reads the newest checkpoint and the events after it, no finished step
/// runs again (a step runs twice only when the journal says it was in
/// doubt), the run ends, and `rbx verify` finds every checkpoint equal to
/// the replay of the events before it.
#[test]
fn kill_9_at_every_commit_around_checkpoints_resumes_without_rerunning_a_finished_step() {
    let steps = ["one", "two", "three"];
    let body: String = steps
        .iter()
        .map(|s| format!("    step {s} \"{s}\" {{\n      run \"echo {s} >> side\"\n      idempotent\n    }}\n"))
        .collect();
    let runbook = format!(
        "runbook demo \"Checkpoints\" {{\n  stage s \"S\" {{\n{body}    end done\n  }}\n}}\n"
    );
    let whole = {
        let bench = Bench::new();
        bench.runbook("demo.runbook", &runbook);
        let out = bench.rbx_env(&["run", "demo.runbook"], &[EVERY_EVENT]);
        assert_eq!(out.status, 0, "{}", out.transcript());
        let log = bench.rbx(&["log"]).stdout;
        assert!(log.contains("checkpoint"), "{log}");
        log.lines().count()
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.runbook("demo.runbook", &runbook);
        let after = crash.to_string();
        let crashed = bench.rbx_env(
            &["run", "demo.runbook"],
            &[EVERY_EVENT, ("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_eq!(
            crashed.status,
            -1,
            "crash after {crash}: {}",
            crashed.transcript()
        );
        let resumed = bench.rbx_env(&["resume"], &[EVERY_EVENT]);
        assert_eq!(
            resumed.status,
            0,
            "crash after {crash}: {}",
            resumed.transcript()
        );
        let log = bench.rbx(&["log"]).stdout;
        for step in steps {
            let reruns = log
                .lines()
                .filter(|l| l.contains("in_doubt") && l.contains(&format!("\"s.{step}\"")))
                .count();
            let ran = bench.count(step);
            assert!(
                ran >= 1 && ran <= 1 + reruns,
                "crash after {crash}: {step} ran {ran} times, {reruns} in doubt:\n{log}"
            );
        }
        let verified = bench.rbx(&["verify"]);
        assert_eq!(
            verified.status,
            0,
            "crash after {crash}: {}",
            verified.transcript()
        );
    }
}

/// A checkpoint is chained like any event, so one forged through the
/// store's own door (as anyone who can append could) keeps the chain
/// intact: `rbx verify`, which replays the whole journal, reports it. A
/// checkpoint of a format this rbx does not read is passed over: the run
/// resumes from the whole journal, as a run recorded before checkpoints.
#[test]
fn verify_reports_a_forged_checkpoint_and_resume_passes_over_an_unknown_one() {
    let forged = |bench: &Bench, run: &str| {
        let mut store = bench.store();
        let id = rbx_store::RunId::new(run);
        let mut payload = store
            .events(&id)
            .expect("the journal")
            .into_iter()
            .rev()
            .find(|e| e.kind == "checkpoint")
            .expect("a checkpoint")
            .payload;
        payload["state"]["nodes"]["others"]["s.check"]["status"] = serde_json::json!("succeeded");
        store.append(&id, "checkpoint", &payload).expect("appended");
    };
    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx_env(&["run", "demo.runbook"], &[EVERY_EVENT]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");
    forged(&bench, &run);
    let verified = bench.rbx(&["verify", &run]);
    assert_eq!(verified.status, 1, "{}", verified.transcript());
    assert!(
        verified
            .stderr
            .contains("the checkpoint does not match the replay of the events before it"),
        "{}",
        verified.transcript()
    );

    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["run", "demo.runbook"]);
    let run = started_run(&out.stderr).expect("the run id");
    assert!(!bench.rbx(&["log", &run]).stdout.contains("checkpoint"));
    let later = serde_json::json!({ "format": 999, "state": "what a later rbx writes" });
    bench
        .store()
        .append(&rbx_store::RunId::new(&run), "checkpoint", &later)
        .expect("appended");
    let verified = bench.rbx(&["verify", &run]);
    assert_eq!(verified.status, 0, "{}", verified.transcript());
    fs::write(bench.file("fixed"), "").expect("fix it");
    let resumed = bench.rbx(&["resume", &run]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(bench.side(), ["first", "check", "check", "last"]);
}

// ---------------------------------------------------- changed runbooks --

const FAILS_UNTIL_FIXED: &str = r#"runbook demo "Fails until fixed" {
  stage s "S" {
    step first "First" {
      run "echo first >> side"
    }
    step check "Check" {
      run "echo check >> side; test -f fixed"
    }
    step last "Last" {
      run "echo last >> side"
    }
    end done
  }
}
"#;

#[test]
fn resume_refuses_a_changed_runbook_unless_allowed() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");
    bench.touch("fixed");

    // A step that has not run yet changes.
    bench.runbook(
        "demo.runbook",
        &FAILS_UNTIL_FIXED.replace("echo last >> side", "echo last; echo last >> side"),
    );
    let refused = bench.rbx(&["resume", &run]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(refused.stderr.contains("changed"), "{}", refused.stderr);
    assert!(refused.stderr.contains("step s.last"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("first"), "{}", refused.stderr);
    // What changed is shown, the snapshot's line and the file's.
    let shown = |sign: char, text: &str| {
        refused
            .stderr
            .lines()
            .any(|l| l.trim_start().starts_with(sign) && l.contains(text))
    };
    assert!(
        shown('-', r#"run "echo last >> side""#) && shown('+', "echo last; echo last >> side"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--allow-changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(bench.side(), ["first", "check"], "nothing ran");

    let allowed = bench.rbx(&["resume", &run, "--allow-changed"]);
    assert_eq!(allowed.status, 0, "{}", allowed.transcript());
    assert_eq!(bench.side(), ["first", "check", "check", "last"]);
}

/// Moving steps, re-indenting and comments change no step: the resume
/// goes on without `--allow-changed`.
#[test]
fn resume_goes_on_when_the_runbook_only_moved() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");
    bench.touch("fixed");
    let moved: String = format!("# Reviewed after the incident.\n\n{FAILS_UNTIL_FIXED}")
        .lines()
        .map(|line| format!("  {line}\n"))
        .collect();
    bench.runbook(
        "demo.runbook",
        &moved.replace("    step check", "    # flaky\n    step check"),
    );
    let resumed = bench.rbx(&["resume", &run]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(bench.side(), ["first", "check", "check", "last"]);
}

#[test]
fn resume_refuses_a_runbook_whose_finished_step_changed() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");
    bench.touch("fixed");

    bench.runbook(
        "demo.runbook",
        &FAILS_UNTIL_FIXED.replace("echo first >> side", "echo FIRST >> side"),
    );
    let refused = bench.rbx(&["resume", &run]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(refused.stderr.contains("first"), "{}", refused.stderr);
    // Not even when allowed: a step that succeeded ran the old text.
    let still_refused = bench.rbx(&["resume", &run, "--allow-changed"]);
    assert_eq!(still_refused.status, 2, "{}", still_refused.transcript());
    assert_eq!(bench.side(), ["first", "check"], "nothing ran");

    // Put back as it was, the file is the run's own again.
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["resume", &run]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.side(), ["first", "check", "check", "last"]);
}

// ------------------------------------------------------ one driver only --

#[test]
fn a_second_driver_is_refused_naming_the_holder() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        &blocking_runbook(
            "",
            "echo slow >> side; echo $$ > slow.pid; while [ ! -f release ]; do sleep 0.02; done",
        ),
    );
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let run = driver.run_id();
    let _group = bench.group_in("slow.pid");

    let holder = format!("process {}", driver.pid());
    for args in [vec!["resume", run.as_str()], vec!["resume"]] {
        let second = bench.rbx(&args);
        assert_eq!(second.status, 2, "{args:?}: {}", second.transcript());
        assert!(
            second.stderr.contains(&holder),
            "{args:?}: {}",
            second.stderr
        );
        assert!(second.stderr.contains(&run), "{args:?}: {}", second.stderr);
    }

    // The refusal took nothing from the driver: it goes on to the end.
    bench.touch("release");
    assert_eq!(driver.wait(), 0, "{}", driver.stderr());
    assert_eq!(bench.side(), ["first", "slow", "last"]);
    let again = bench.rbx(&["resume", &run]);
    assert_eq!(again.status, 2, "{}", again.transcript());
    assert!(again.stderr.contains("already ended"), "{}", again.stderr);
}

// ---------------------------------------------------------------- Ctrl-C --

#[test]
fn ctrl_c_ends_the_step_group_and_leaves_a_resumable_run() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        &blocking_runbook(
            "idempotent",
            "echo slow >> side; test -f fast && exit 0; echo $$ > slow.pid; sleep 31 & sleep 31",
        ),
    );
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let run = driver.run_id();
    let group = bench.group_in("slow.pid");
    assert!(!group.members().is_empty());

    let started = Instant::now();
    driver.interrupt();
    assert_eq!(driver.wait(), 130, "{}", driver.stderr());
    assert!(started.elapsed() < Duration::from_secs(10));
    group.wait_gone();
    wait_none_running(bench.path(), &["sleep", "31"]);
    assert_eq!(bench.side(), ["first", "slow"]);

    let stderr = driver.stderr();
    let command = stderr
        .lines()
        .find_map(|l| {
            l.split_once("go on with:")
                .map(|(_, c)| c.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no resume command in:\n{stderr}"));
    assert_eq!(command, format!("rbx resume {run}"), "{stderr}");
    let runs = bench.rbx(&["runs"]);
    assert!(runs.stdout.contains("interrupted"), "{}", runs.stdout);

    bench.touch("fast");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "rbx");
    let out = bench.rbx(&words[1..]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(bench.side(), ["first", "slow", "slow", "last"]);
}

// ----------------------------------------------------- failed runs again --

#[test]
fn a_failed_run_is_redriven_from_the_failed_step_as_a_new_attempt() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", FAILS_UNTIL_FIXED);
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    assert!(
        out.stderr.contains("run failed at s.check"),
        "{}",
        out.stderr
    );
    let run = started_run(&out.stderr).expect("the run id");
    assert!(
        out.stderr.contains(&format!("rbx resume {run}")),
        "{}",
        out.stderr
    );
    assert_eq!(bench.side(), ["first", "check"]);
    assert_eq!(status_of(&bench, &run, "s.check"), "failed");

    // Not fixed yet: it fails again, as attempt 2.
    let again = bench.rbx(&["resume", &run]);
    assert_eq!(again.status, 1, "{}", again.transcript());
    assert_eq!(bench.side(), ["first", "check", "check"]);

    bench.touch("fixed");
    let fixed = bench.rbx(&["resume", &run]);
    assert_eq!(fixed.status, 0, "{}", fixed.transcript());
    assert_eq!(bench.side(), ["first", "check", "check", "check", "last"]);
    let log = bench.rbx(&["log", &run, "s.check"]);
    for attempt in 1..=3 {
        let wanted = format!(r#""attempt":{attempt},"#);
        assert!(
            log.stdout
                .lines()
                .any(|l| l.contains(" node_started ") && l.contains(&wanted)),
            "attempt {attempt}:\n{}",
            log.stdout
        );
    }
    let check = status_line(&bench, &run, "s.check");
    assert!(
        check.contains("done") && check.contains("3 attempts"),
        "{check}"
    );
    assert_eq!(status_of(&bench, &run, "s.first"), "done");
}

#[test]
fn resume_from_a_step_reruns_it_and_records_the_reason() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "From" {
  stage s "S" {
    step first "First" {
      run "echo first >> side"
    }
    step prep "Prepare" {
      run "echo prep >> side"
    }
    step check "Check" {
      run "echo check >> side; test -f fixed"
    }
    step last "Last" {
      run "echo last >> side"
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx(&["run", "demo.runbook"]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");

    let no_reason = bench.rbx(&["resume", &run, "--from", "s.prep"]);
    assert_eq!(no_reason.status, 2, "{}", no_reason.transcript());
    let unknown = bench.rbx(&["resume", &run, "--from", "s.nope", "--reason", "x"]);
    assert_eq!(unknown.status, 2, "{}", unknown.transcript());
    assert!(unknown.stderr.contains("s.nope"), "{}", unknown.stderr);
    assert_eq!(bench.side(), ["first", "prep", "check"], "nothing ran");

    bench.touch("fixed");
    let reason = "prep read the stale config";
    let from = bench.rbx(&["resume", &run, "--from", "s.prep", "--reason", reason]);
    assert_eq!(from.status, 0, "{}", from.transcript());
    assert_eq!(
        bench.side(),
        ["first", "prep", "check", "prep", "check", "last"]
    );
    let log = bench.rbx(&["log", &run, "s.prep"]);
    assert!(log.stdout.contains("rerun_from"), "{}", log.stdout);
    assert!(log.stdout.contains(reason), "{}", log.stdout);
    assert!(
        log.stdout.contains(r#""operator":"tester""#),
        "{}",
        log.stdout
    );
}

// -------------------------------------------------------- store problems --

#[test]
fn a_garbage_store_file_is_a_clear_error_and_left_alone() {
    let bench = Bench::sqlite();
    bench.runbook("demo.runbook", THREE_STEPS);
    fs::create_dir(bench.file(".rbx")).expect("mkdir");
    let garbage = "this is not a database\n".repeat(300);
    fs::write(bench.file(".rbx/rbx.db"), &garbage).expect("write");
    for args in [
        vec!["run", "demo.runbook"],
        vec!["runs"],
        vec!["status"],
        vec!["resume"],
    ] {
        let out = bench.rbx(&args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.transcript());
        assert_no_panic(&out);
        assert!(
            out.stderr.contains(".rbx/rbx.db"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("move it aside"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(
        fs::read_to_string(bench.file(".rbx/rbx.db")).expect("read"),
        garbage
    );
    assert!(bench.side().is_empty(), "no step ran");
}

#[test]
fn a_truncated_store_is_a_clear_error_and_left_alone() {
    let bench = Bench::sqlite();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Output" {
  stage s "S" {
    step big "Prints 300 kB" {
      run "echo big >> side; head -c 300000 /dev/zero | tr '\\0' y"
    }
    end done
  }
}
"#,
    );
    for _ in 0..2 {
        let out = bench.rbx(&["run", "demo.runbook"]);
        assert_eq!(out.status, 0, "{}", out.transcript());
    }
    // A reader closes the store cleanly: everything is in the main file.
    assert_eq!(bench.rbx(&["runs"]).status, 0);
    assert!(!bench.file(".rbx/rbx.db-wal").exists());
    let whole = fs::read(bench.file(".rbx/rbx.db")).expect("read the store");
    assert!(whole.len() > 200_000, "{} bytes", whole.len());

    for length in [whole.len() / 2, 8192, 4096, 50] {
        let cut = &whole[..length];
        fs::write(bench.file(".rbx/rbx.db"), cut).expect("truncate");
        for args in [vec!["runs"], vec!["run", "demo.runbook"]] {
            let out = bench.rbx(&args);
            assert_eq!(
                out.status,
                2,
                "{length} bytes, {args:?}: {}",
                out.transcript()
            );
            assert_no_panic(&out);
            assert!(
                out.stderr.contains(".rbx/rbx.db"),
                "{length} bytes, {args:?}: {}",
                out.stderr
            );
        }
        assert_eq!(fs::read(bench.file(".rbx/rbx.db")).expect("read"), cut);
    }
    assert_eq!(bench.count("big"), 2, "no step ran on a damaged store");
}

#[test]
fn a_store_with_a_newer_schema_is_refused_and_unchanged() {
    let bench = Bench::sqlite();
    bench.runbook("demo.runbook", THREE_STEPS);
    assert_eq!(bench.rbx(&["run", "demo.runbook"]).status, 0);
    assert_eq!(bench.rbx(&["runs"]).status, 0);
    let db = bench.file(".rbx/rbx.db");
    let set = Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA user_version = 999;")
        .output();
    match set {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("note: skipped, the sqlite3 CLI could not set user_version: {other:?}");
            return;
        }
    }
    let before = fs::read(&db).expect("read the store");
    for args in [
        vec!["run", "demo.runbook"],
        vec!["runs"],
        vec!["status"],
        vec!["resume"],
    ] {
        let out = bench.rbx(&args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.transcript());
        assert_no_panic(&out);
        assert!(
            out.stderr.contains(".rbx/rbx.db"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("999"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("newer"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(fs::read(&db).expect("read the store"), before, "unchanged");
    assert_eq!(bench.side(), ["a", "b", "c"], "only the first run ran");
}

#[test]
fn a_read_only_store_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt as _;
    let bench = Bench::sqlite();
    bench.runbook("demo.runbook", THREE_STEPS);
    let mode = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    };

    // Root writes through permissions (CI runs as root): run rbx without
    // the capability that lets it, when setpriv can.
    let probe = bench.file("probe");
    fs::create_dir(&probe).expect("mkdir");
    mode(&probe, 0o555);
    let privileged = fs::write(probe.join("file"), "").is_ok();
    let mut prefix: Vec<&str> = Vec::new();
    if privileged {
        let setpriv = Command::new("setpriv")
            .args([
                "--bounding-set=-dac_override,-dac_read_search",
                "--",
                "true",
            ])
            .output();
        if !setpriv.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "note: skipped, this process ignores permissions and setpriv cannot drop that"
            );
            return;
        }
        prefix = vec!["--bounding-set=-dac_override,-dac_read_search", "--", RBX];
    }
    let rbx = |args: &[&str]| -> Output {
        if prefix.is_empty() {
            return bench.rbx(args);
        }
        let mut command = Command::new("setpriv");
        command
            .args(&prefix)
            .args(args)
            .current_dir(bench.path())
            .env("NO_COLOR", "1")
            .env_remove("RBX_STATE_DIR")
            .stdin(Stdio::null());
        output(&mut command)
    };

    // A state directory where nothing can be created.
    let locked = bench.file("locked");
    fs::create_dir(&locked).expect("mkdir");
    mode(&locked, 0o555);
    let locked_arg = locked.display().to_string();
    let nested = locked.join(".rbx").display().to_string();
    for dir in [&locked_arg, &nested] {
        let out = rbx(&["run", "demo.runbook", "--state-dir", dir]);
        assert_eq!(out.status, 2, "{dir}: {}", out.transcript());
        assert_no_panic(&out);
        assert!(out.stderr.contains(dir.as_str()), "{dir}: {}", out.stderr);
        assert!(out.stderr.contains("writable"), "{dir}: {}", out.stderr);
    }
    assert!(bench.side().is_empty(), "no step ran");

    // An existing store that cannot be written.
    let store = bench.file("store");
    let store_arg = store.display().to_string();
    let first = bench.rbx(&["run", "demo.runbook", "--state-dir", &store_arg]);
    assert_eq!(first.status, 0, "{}", first.transcript());
    assert_eq!(bench.rbx(&["runs", "--state-dir", &store_arg]).status, 0);
    let run = started_run(&first.stderr).expect("the run id");
    mode(&store.join("rbx.db"), 0o444);
    mode(&store, 0o555);
    for args in [
        vec!["run", "demo.runbook", "--state-dir", &store_arg],
        vec!["resume", &run, "--state-dir", &store_arg],
    ] {
        let out = rbx(&args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.transcript());
        assert_no_panic(&out);
        assert!(out.stderr.contains(&store_arg), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("read-only"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(bench.side(), ["a", "b", "c"], "only the first run ran");
    mode(&store, 0o755);
    mode(&store.join("rbx.db"), 0o644);
    mode(&locked, 0o755);
    mode(&probe, 0o755);
}

// ------------------------------------------------------------ big output --

/// The peak resident memory of a live process, in kB (`VmHWM`).
fn peak_kb(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn a_gigabyte_of_output_is_kept_bounded_head_and_tail() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Big output" {
  stage s "S" {
    step big "Prints 1 GB" {
      run "echo big >> side; printf H; head -c 999999998 /dev/zero | tr '\\0' x; printf T"
    }
    end done
  }
}
"#,
    );
    let mut driver = bench.spawn(&["run", "demo.runbook"]);
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(kb) = peak_kb(driver.pid()) {
            peak = peak.max(kb);
        }
        if let Some(status) = driver.child.try_wait().expect("try_wait") {
            break status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "1 GB took more than 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 0, "{}", driver.stderr());
    assert!(peak > 0, "VmHWM was never read");
    assert!(peak < 200 * 1024, "rbx peaked at {peak} kB");
    assert_eq!(bench.side(), ["big"]);

    let run = driver.run_id();
    let log = bench.rbx(&["log", &run, "s.big"]);
    assert_eq!(log.status, 0, "{}", log.transcript());
    assert!(log.stdout.len() < 1024 * 1024, "{} bytes", log.stdout.len());
    assert!(
        log.stdout
            .contains("--- stdout, attempt 1 (1000000000 bytes)"),
        "{}",
        &log.stdout[..log.stdout.len().min(2000)]
    );
    assert!(log.stdout.contains("bytes not kept"));
    let kept = log
        .stdout
        .split_once("(1000000000 bytes)\n")
        .expect("the output header")
        .1;
    assert!(kept.starts_with("Hxxx"), "the head is kept");
    assert!(kept.ends_with("xxxT"), "the tail is kept");
    let xs = kept.matches('x').count();
    assert!((1024..1024 * 1024).contains(&xs), "{xs} bytes kept");
}

// --------------------------------------------------------------- dry run --

#[test]
fn a_dry_run_shows_resolved_commands_and_records_nothing() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Dry run" {
  input name: string = "world"
  input token: secret
  stage s "S" {
    step hello "Hello" {
      run "echo hello {{ name }} >> side"
    }
    step auth "Auth" {
      run "echo {{ token }} > out"
    }
    end done
  }
}
"#,
    );
    let out = bench.rbx_env(
        &["run", "--dry-run", "demo.runbook", "--set", "name=planet"],
        &[("RBX_SECRET_TOKEN", "dry-s3cr3t")],
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(
        out.stdout.contains("echo hello planet >> side"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("> out"), "{}", out.stdout);
    assert!(!out.stdout.contains("dry-s3cr3t"), "{}", out.stdout);
    assert!(!out.stderr.contains("dry-s3cr3t"), "{}", out.stderr);
    assert!(!bench.file(".rbx").exists(), "a store was created");
    assert!(!bench.file("side").exists() && !bench.file("out").exists());

    let elsewhere = bench.file("state");
    let out = bench.rbx(&[
        "run",
        "--dry-run",
        "demo.runbook",
        "--state-dir",
        &elsewhere.display().to_string(),
    ]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!elsewhere.exists(), "a store was created");
}

// --------------------------------------------------------------- secrets --

const SECRET: &str = "s3cr3t-Zq8-hunter2";

const WITH_SECRET: &str = r#"runbook demo "Secrets" {
  input token: secret
  stage s "S" {
    step use "Use the token" {
      run "echo use >> side; echo {{ token }} > out"
    }
    step show "Print the token" {
      run "echo show >> side; echo token={{ token }}; echo token={{ token }} >&2"
    }
    step check "Check" {
      run "echo check >> side; test -f fixed"
    }
    step again "Use it again" {
      run "echo again >> side; echo {{ token }} > out2"
    }
    end done
  }
}
"#;

fn assert_secret_absent(bench: &Bench, run: &str) {
    for (path, bytes) in bench.store_bytes() {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
    for args in [
        vec!["log", run],
        vec!["log", run, "s.use"],
        vec!["log", run, "s.show"],
        vec!["status", run],
        vec!["runs"],
    ] {
        let out = bench.rbx(&args);
        assert!(!out.stdout.contains(SECRET), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn secrets_reach_commands_but_never_the_store_or_the_log() {
    let bench = Bench::sqlite();
    bench.runbook("demo.runbook", WITH_SECRET);
    bench.touch("fixed");
    let env = [("RBX_SECRET_TOKEN", SECRET)];
    let out = bench.rbx_env(&["run", "demo.runbook"], &env);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(bench.file("out")).expect("out").trim(),
        SECRET
    );
    let run = started_run(&out.stderr).expect("the run id");
    assert_secret_absent(&bench, &run);
    let log = bench.rbx(&["log", &run, "s.use"]);
    assert!(log.stdout.contains("echo '••••••' > out"), "{}", log.stdout);
    // What a command printed is kept with the secret masked.
    let log = bench.rbx(&["log", &run, "s.show"]);
    assert_eq!(
        log.stdout.matches("token=••••••").count(),
        2,
        "{}",
        log.stdout
    );
}

#[test]
fn a_resumed_run_reads_its_secret_from_the_environment_again() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", WITH_SECRET);
    let env = [("RBX_SECRET_TOKEN", SECRET)];
    let out = bench.rbx_env(&["run", "demo.runbook"], &env);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let run = started_run(&out.stderr).expect("the run id");
    bench.touch("fixed");

    let without = bench.rbx(&["resume", &run]);
    assert_eq!(without.status, 2, "{}", without.transcript());
    assert!(
        without.stderr.contains("RBX_SECRET_TOKEN"),
        "{}",
        without.stderr
    );
    assert_eq!(bench.side(), ["use", "show", "check"], "nothing ran");

    let with = bench.rbx_env(&["resume", &run], &env);
    assert_eq!(with.status, 0, "{}", with.transcript());
    assert_eq!(bench.side(), ["use", "show", "check", "check", "again"]);
    assert_eq!(
        fs::read_to_string(bench.file("out2")).expect("out2").trim(),
        SECRET
    );
    assert_secret_absent(&bench, &run);
}

// ------------------------------------------------------ regressions --

#[test]
fn a_verify_probe_on_resume_sees_captures_from_earlier_steps() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Verify with a capture" {
  stage s "S" {
    step before "Before" {
      run "echo id=abc123; echo before >> side"
      capture id = stdout ~ /id=(\w+)/
    }

    step apply "Apply" {
      run "echo $$ > apply.pid; echo {{ before.id }} > marker; echo apply >> side; test -f fast || sleep 30"
      verify "grep -qx {{ before.id }} marker"
    }

    end done
  }
}
"#,
    );
    let mut driver = bench.spawn(&["run", "demo.runbook", "--non-interactive"]);
    poll("apply to start", || {
        (bench.count("apply") == 1).then_some(())
    });
    let group = bench.group_in("apply.pid");
    driver.kill9();
    // A resume refuses to act while the step's processes live (rule S2).
    group.kill();
    let resumed = bench.rbx(&["resume", "--non-interactive"]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert!(
        resumed.stderr.contains("says it happened"),
        "{}",
        resumed.transcript()
    );
    assert_eq!(
        bench.count("apply"),
        1,
        "the probe saw the capture and apply did not run again"
    );
    assert_eq!(bench.count("before"), 1);
}

#[test]
fn ctrl_c_during_a_backoff_starts_no_new_attempt_and_resume_is_not_in_doubt() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Backoff" {
  stage s "S" {
    step flaky "Flaky" {
      run "echo try >> side; test -f fixed"
      retry 2 backoff 3s fixed
    }

    end done
  }
}
"#,
    );
    let mut driver = bench.spawn(&["run", "demo.runbook", "--non-interactive"]);
    poll("the first attempt", || {
        (bench.count("try") == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    driver.interrupt();
    assert_eq!(driver.wait(), 130, "{}", driver.stderr());
    assert_eq!(bench.count("try"), 1, "no attempt started after Ctrl-C");
    bench.touch("fixed");
    let resumed = bench.rbx(&["resume", "--non-interactive"]);
    assert_eq!(resumed.status, 0, "not in doubt: {}", resumed.transcript());
    assert_eq!(bench.count("try"), 2);
}

#[test]
fn status_after_kill_9_says_the_run_is_interrupted_and_the_step_in_doubt() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", &blocking_runbook("", BLOCK));
    let run = kill_during_slow_step(&bench);
    let status = bench.rbx(&["status", &run]);
    assert!(
        status
            .stdout
            .contains("interrupted: no process is driving it"),
        "{}",
        status.transcript()
    );
    assert!(
        status.stdout.contains("in doubt"),
        "{}",
        status.transcript()
    );
}

#[test]
fn a_hangup_or_terminate_signal_stops_the_run_like_ctrl_c() {
    for signal in [Signal::SIGHUP, Signal::SIGTERM] {
        let bench = Bench::new();
        bench.runbook("demo.runbook", &blocking_runbook("", BLOCK));
        let mut driver = bench.spawn(&["run", "demo.runbook"]);
        let group = bench.group_in("slow.pid");
        kill(Pid::from_raw(driver.pid()), signal).expect("signal rbx");
        assert_eq!(driver.wait(), 130, "{signal:?}: {}", driver.stderr());
        group.wait_gone();
        bench.touch("fast");
        let resumed = bench.rbx(&["resume", "--in-doubt", "rerun"]);
        assert_eq!(resumed.status, 0, "{signal:?}: {}", resumed.transcript());
        assert_eq!(bench.count("last"), 1);
    }
}

#[test]
fn cancelling_a_paused_run_runs_its_compensation_and_nothing_after_it() {
    let bench = Bench::new();
    bench.runbook(
        "demo.runbook",
        r#"runbook demo "Cancel" {
  stage work "Work" {
    on cancel -> restore

    step backup "Back up" {
      run "echo backup >> side"
    }

    manual check "Check the replica" {
      evidence notes "What you saw": text
    }

    step switch "Switch" {
      run "echo switch >> side"
    }

    end switched
  }

  stage restore "Restore what was backed up" {
    step restore_backup "Restore" {
      run "echo restore >> side"
    }

    end restored
  }
}
"#,
    );
    let paused = bench.rbx(&["run", "demo.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let run = started_run(&paused.stderr).expect("the run id");
    let cancelled = bench.rbx(&[
        "cancel",
        &run,
        "--reason",
        "replica looks wrong",
        "--non-interactive",
    ]);
    assert_eq!(cancelled.status, 0, "{}", cancelled.transcript());
    assert!(
        cancelled.stderr.contains("run ended: restored"),
        "{}",
        cancelled.transcript()
    );
    assert_eq!(bench.side(), ["backup", "restore"]);
    let log = bench.rbx(&["log", &run]);
    assert!(
        log.stdout.contains(r#""reason":"replica looks wrong""#),
        "{}",
        log.transcript()
    );
    let again = bench.rbx(&["cancel", &run, "--reason", "twice"]);
    assert_eq!(
        again.status,
        2,
        "an ended run cannot be cancelled: {}",
        again.transcript()
    );
}

#[test]
fn verify_says_whether_a_runs_record_was_altered() {
    let bench = Bench::new();
    bench.runbook("demo.runbook", THREE_STEPS);
    let out = bench.rbx(&["run", "demo.runbook"]);
    let run = started_run(&out.stderr).expect("the run id");
    let intact = bench.rbx(&["verify", &run]);
    assert_eq!(intact.status, 0, "{}", intact.transcript());
    assert!(
        intact.stdout.contains("hash chain intact"),
        "{}",
        intact.transcript()
    );
    // Alter one event behind rbx's back.
    bench.tamper("UPDATE events SET payload = '{\"node\":\"forged\"}' WHERE seq = 3;");
    let altered = bench.rbx(&["verify", &run]);
    assert_eq!(altered.status, 1, "{}", altered.transcript());
    assert!(
        altered.stderr.contains("event 3"),
        "{}",
        altered.transcript()
    );
    let resumed = bench.rbx(&["resume", &run]);
    assert_eq!(resumed.status, 2, "{}", resumed.transcript());
    assert!(
        resumed.stderr.contains("altered or damaged"),
        "an altered record is not driven on: {}",
        resumed.transcript()
    );
}

/// The flushes to disk (`fsync`, `fdatasync`) `rbx run` makes for a
/// sequence of `steps` steps, counted by strace.
fn flushes(bench: &Bench, steps: usize) -> usize {
    let mut text = String::from("runbook seq \"Sequence\" {\n  stage s \"S\" {\n");
    for n in 0..steps {
        text.push_str(&format!(
            "    step n{n} \"Step {n}\" {{\n      run \"true\"\n    }}\n"
        ));
    }
    text.push_str("    end done\n  }\n}\n");
    let name = format!("seq-{steps}.runbook");
    bench.runbook(&name, &text);
    let trace = bench.file(&format!("trace-{steps}.txt"));
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(RBX)
        // A store of its own, so both counts include creating one.
        .args(["run", &name, "--non-interactive", "--state-dir"])
        .arg(format!("state-{steps}"))
        .current_dir(bench.path())
        .env("NO_COLOR", "1")
        .env_remove("RBX_STATE_DIR")
        .stdin(Stdio::null());
    let out = output(&mut command);
    assert_eq!(out.status, 0, "strace runs rbx:\n{}", out.transcript());
    fs::read_to_string(&trace)
        .expect("strace wrote its trace")
        .lines()
        .filter(|line| line.contains("fsync(") || line.contains("fdatasync("))
        .count()
}

/// Each step's start is flushed before its command runs, and the finish
/// of the step before it rides on that same flush: a sequence costs one
/// flush per step, not two (book: Execution, "Durability").
#[test]
fn a_sequence_of_steps_costs_one_flush_to_disk_per_step() {
    let bench = Bench::new();
    let one = flushes(&bench, 1);
    let many = flushes(&bench, 41);
    let per_step = many - one;
    assert!(
        per_step >= 40,
        "every step's start must be flushed before its command: {per_step} flushes for 40 more steps"
    );
    assert!(
        per_step <= 44,
        "a step's finish must share its successor's flush: {per_step} flushes for 40 more steps"
    );
}

/// A resume's own writes before its first step — the lock, `run_resumed`,
/// the failed step made ready again, the run's status — are flushed by
/// that step's start, which must be durable before its command runs,
/// rather than each by a flush of its own: counted by strace, the flushes
/// before the step's line are those of the store's fresh write-ahead log
/// and the step's start (book: Performance, "Resuming").
#[test]
fn a_resume_flushes_its_own_writes_with_its_first_step() {
    let bench = Bench::new();
    bench.runbook(
        "last.runbook",
        "runbook last \"Last\" {\n  stage s \"S\" {\n    step first \"First\" {\n      \
         run \"true\"\n    }\n    step last \"Last\" {\n      run \"test -f go\"\n    }\n    \
         end done\n  }\n}\n",
    );
    let rbx = |args: &[&str]| {
        let mut command = Command::new(RBX);
        command
            .args(args)
            .args(["--non-interactive", "--state-dir", "state"])
            .current_dir(bench.path())
            .env("NO_COLOR", "1")
            .env("RBX_CACHE_DIR", bench.file("cache"))
            .env_remove("RBX_STATE_DIR")
            .stdin(Stdio::null());
        command
    };
    let failed = output(&mut rbx(&["run", "last.runbook"]));
    assert_eq!(failed.status, 1, "{}", failed.transcript());
    fs::write(bench.file("go"), "").expect("create go");
    let trace = bench.file("trace-resume.txt");
    let mut command = Command::new("strace");
    command
        .args([
            "-f",
            "-qq",
            "-s",
            "200",
            "-e",
            "trace=fsync,fdatasync,write",
            "-o",
        ])
        .arg(&trace);
    let resume = rbx(&["resume"]);
    command
        .arg(resume.get_program())
        .args(resume.get_args())
        .current_dir(bench.path())
        .env("NO_COLOR", "1")
        .env("RBX_CACHE_DIR", bench.file("cache"))
        .env_remove("RBX_STATE_DIR")
        .stdin(Stdio::null());
    let out = output(&mut command);
    assert_eq!(
        out.status,
        0,
        "strace runs rbx resume:\n{}",
        out.transcript()
    );
    let text = fs::read_to_string(&trace).expect("strace wrote its trace");
    let before: Vec<&str> = text
        .lines()
        .take_while(|line| !line.contains("last (attempt 2)"))
        .filter(|line| line.contains("fsync(") || line.contains("fdatasync("))
        .collect();
    assert!(
        text.contains("last (attempt 2)"),
        "the resume starts the failed step again:\n{text}"
    );
    assert!(
        before.len() <= 3,
        "a resume's writes before its first step must ride on that step's flush: {} \
         flushes before it:\n{}",
        before.len(),
        before.join("\n")
    );
}

/// A child run (rules D1, D2) in this build's store: `kill -9` after every
/// event of parent and child together, then resumes of the parent: one
/// child run under `{parent}/{node}`, no step run twice or lost, both
/// records intact.
#[test]
fn a_child_run_is_created_once_across_kill_nine() {
    let child = r#"runbook deploy "Deploy" {
  input region: string
  outcome deployed success
  stage roll "Roll" {
    step push "Push" {
      run "echo push-{{ region }} >> side"
    }
    end deployed
  }
}
"#;
    let parent = r#"runbook p "Parent" {
  outcome done success
  stage s "S" {
    child eu "Deploy eu" {
      runbook "deploy.runbook"
      input region = "eu"
    }
    step after "After" {
      run "echo after-{{ eu.outcome }} >> side"
    }
    end done
  }
}
"#;
    let events = |bench: &Bench| -> usize {
        let store = bench.store();
        let runs = store.runs().expect("runs");
        runs.iter()
            .map(|r| store.events(&r.id).expect("events").len())
            .sum()
    };
    let whole = {
        let bench = Bench::new();
        bench.runbook("deploy.runbook", child);
        bench.runbook("main.runbook", parent);
        let run = bench.rbx(&["run", "main.runbook"]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        assert_eq!(bench.side(), ["push-eu", "after-deployed"]);
        events(&bench)
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.runbook("deploy.runbook", child);
        bench.runbook("main.runbook", parent);
        let after = crash.to_string();
        let crashed = bench.rbx_env(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(crashed.status, 0, "crash after {crash}");
        let runs = bench.store().runs().expect("runs");
        let parent_id = runs
            .iter()
            .map(|r| r.id.to_string())
            .find(|id| !id.contains('/'))
            .expect("the parent run");
        for _ in 0..3 {
            if bench
                .rbx(&["resume", &parent_id, "--in-doubt", "skip"])
                .status
                == 0
            {
                break;
            }
        }
        let runs = bench.store().runs().expect("runs");
        let ids: Vec<String> = runs.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(
            ids.iter().filter(|id| id.contains('/')).collect::<Vec<_>>(),
            [&format!("{parent_id}/s.eu")],
            "crash after {crash}"
        );
        assert!(
            runs.iter().all(|r| r.status.starts_with("ended:")),
            "crash after {crash}: {runs:?}"
        );
        assert!(bench.count("push-eu") <= 1 && bench.count("after-deployed") <= 1);
        for id in &ids {
            let verify = bench.rbx(&["verify", id]);
            assert_eq!(verify.status, 0, "{}", verify.transcript());
        }
    }
}

/// `--set` on `rbx resume` may give a value the run has none for (a
/// secret) or repeat one it started with, in any spelling of the same
/// value; changing one is refused before anything is journalled, for
/// every type an input can have: the run's record names the inputs it
/// started with, and what it derived from them.
#[test]
fn resume_refuses_to_change_an_input_the_run_started_with() {
    let cases: [(&str, &str, &str, &str); 9] = [
        ("string", "a b", "a b", "a  b"),
        ("int", "3", "+3", "4"),
        ("bool", "true", "true", "false"),
        ("duration", "90s", "1m30s", "91s"),
        (
            "timestamp",
            "2026-12-08T10:00:00+01:00",
            "2026-12-08T09:00:00Z",
            "2026-12-08T10:00:00Z",
        ),
        ("host", "web-1", "web-1", "web-2"),
        ("enum(blue, green)", "blue", "blue", "green"),
        (
            "list(host)",
            r#"["a","b"]"#,
            r#"[ "a", "b" ]"#,
            r#"["b","a"]"#,
        ),
        ("list(int)", "[1]", "[1]", "[]"),
    ];
    for (ty, started, same, other) in cases {
        let bench = Bench::new();
        bench.runbook(
            "main.runbook",
            &format!(
                r#"runbook t "T" {{
  input x: {ty}
  outcome done success
  stage s "S" {{
    step a "A" {{ run "test -f go && echo ok >> side" }}
    step b "B" {{ run "echo {{{{ x }}}} > /dev/null" }}
    end done
  }}
}}
"#
            ),
        );
        let set = |value: &str| format!("x={value}");
        let run = bench.rbx(&["run", "main.runbook", "--set", &set(started)]);
        assert_ne!(run.status, 0, "{ty}: the step fails until `go` exists");
        let id = started_run(&run.stderr).expect("the run id");
        let journal = || {
            bench
                .store()
                .events(&rbx_store::RunId::new(&id))
                .expect("the journal")
        };
        let before = journal().len();
        let changed = bench.rbx(&["resume", &id, "--set", &set(other)]);
        assert_eq!(changed.status, 2, "{ty}: {}", changed.transcript());
        assert!(
            changed.stderr.contains("the run started with x =")
                && changed.stderr.contains("start a new run"),
            "{ty}: {}",
            changed.transcript()
        );
        assert_eq!(journal().len(), before, "{ty}: a refusal journals nothing");
        bench.touch("go");
        let resumed = bench.rbx(&["resume", &id, "--set", &set(same)]);
        assert_eq!(resumed.status, 0, "{ty}: {}", resumed.transcript());
        assert_eq!(bench.side(), ["ok"], "{ty}");
    }
}
