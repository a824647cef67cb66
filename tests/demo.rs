//! The seed procedure (`runbooks/post-cutover.runbook`) run end to end by
//! the real binary against the forge SIMULATOR in `examples/forge-sim/`
//! (shell scripts that stand in for `forge` and `fmail`; not forge): the
//! healthy path, the broken path through triage and rollback, and rbx
//! killed in the middle of the rollback, then resumed.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{Output, rbx, repo};

/// One sandbox: the simulator's state and the rbx store in a tempdir.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    /// A fresh simulator state, `healthy` or `broken`.
    fn new(mode: &str) -> Demo {
        let demo = Demo {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        let out = demo.sh(&sim_bin("forge-sim"), &["init", mode]);
        assert_eq!(out.status, 0, "forge-sim init: {}", out.transcript());
        demo
    }

    fn sim_state(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    fn state_dir(&self) -> String {
        self.dir.path().join("rbx").display().to_string()
    }

    /// The environment every command of a test runs in: the repository
    /// root (the answers file names a `file` evidence relative to it), the
    /// simulator's state, no colour, a fixed operator, no tmux (nothing
    /// here spawns agents; the sandbox must not depend on a tmux server).
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(repo())
            .env("FORGE_SIM_STATE", self.sim_state())
            .env("FORGE_SIM_TMUX", "0")
            .env_remove("FORGE_SIM_SLOW")
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "demo-test");
        command
    }

    fn sh(&self, program: &Path, args: &[&str]) -> Output {
        output(self.command(program).args(args).output().expect("it runs"))
    }

    /// `rbx` reading the store (`runs`, `log`, `status`): it runs nothing.
    fn rbx(&self, args: &[&str]) -> Output {
        rbx(self.dir.path(), args)
    }

    /// `rbx run` of the seed with the simulator's fill and answers.
    fn run_command(&self, mode: &str) -> Command {
        let mut command = self.command(Path::new(env!("CARGO_BIN_EXE_rbx")));
        let root = repo();
        let forge = sim_bin("forge").display().to_string();
        let fmail = sim_bin("fmail").display().to_string();
        let control = sim_bin("forge-sim").display().to_string();
        command.args([
            "run",
            &root
                .join("runbooks/post-cutover.runbook")
                .display()
                .to_string(),
            "--fill",
            &example("fill.toml"),
            "--answers",
            &example(&format!("answers-{mode}.toml")),
            "--non-interactive",
            "--state-dir",
            &self.state_dir(),
            "--set",
            &format!("forge={forge}"),
            "--set",
            &format!("fmail={fmail}"),
            "--set",
            "rust_version=2.0.0",
            "--set",
            "go_version=1.9.4",
            "--set",
            &format!("freeze_cmd={control} freeze"),
            "--set",
            &format!("switch_to_go_cmd={control} switch go"),
        ]);
        command
    }

    fn run(&self, mode: &str) -> Output {
        output(self.run_command(mode).output().expect("rbx runs"))
    }

    /// The id of the only run in the store, once there is one.
    fn run_id(&self) -> Option<String> {
        let out = self.rbx(&["runs", "--state-dir", &self.state_dir()]);
        out.stdout
            .lines()
            .nth(1)
            .and_then(|line| line.split_whitespace().next())
            .map(str::to_string)
    }

    fn journal(&self, run: &str) -> String {
        let out = self.rbx(&["log", run, "--state-dir", &self.state_dir()]);
        assert_eq!(out.status, 0, "{}", out.transcript());
        out.stdout
    }

    /// The simulator's side effects so far, one per line.
    fn events(&self) -> String {
        fs::read_to_string(self.sim_state().join("events.log")).unwrap_or_default()
    }

    fn switches(&self) -> usize {
        self.events()
            .lines()
            .filter(|l| l.contains("switch go: begin"))
            .count()
    }
}

fn output(output: std::process::Output) -> Output {
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn sim_bin(name: &str) -> PathBuf {
    repo().join("examples/forge-sim/bin").join(name)
}

fn example(name: &str) -> String {
    repo()
        .join("examples/forge-sim")
        .join(name)
        .display()
        .to_string()
}

/// The smoke stage's nodes, in order.
const SMOKE: [&str; 11] = [
    "forge_version",
    "version_expected",
    "doctor",
    "doctor_reviewed",
    "migrations",
    "loops_list",
    "loop_iteration",
    "agent_spawn_stop",
    "fmail_send",
    "fmail_log",
    "loop_tui",
];

/// The journal line recording how `node` settled.
fn finished<'a>(journal: &'a str, node: &str) -> Vec<&'a str> {
    let needle = format!("\"node\":\"{node}\"");
    journal
        .lines()
        .filter(|l| l.contains("node_finished") && l.contains(&needle))
        .collect()
}

fn assert_succeeded(journal: &str, node: &str) {
    let lines = finished(journal, node);
    assert!(
        lines.len() == 1 && lines[0].contains("\"status\":\"succeeded\""),
        "{node} should have succeeded once: {lines:#?}"
    );
}

/// `rbx status` of the run, each smoke node of `instance` done.
fn assert_status_smoke_done(demo: &Demo, run: &str, instance: &str) -> String {
    let status = demo.rbx(&["status", run, "--state-dir", &demo.state_dir()]);
    assert_eq!(status.status, 0, "rbx status: {}", status.transcript());
    for node in SMOKE {
        let id = format!("{instance}.{node}");
        assert!(
            status
                .stdout
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["done", id.as_str()])),
            "`{id}` is not done in rbx status:\n{}",
            status.stdout
        );
    }
    status.stdout
}

#[test]
fn healthy_forge_passes_smoke_and_the_run_ends_resolved() {
    let demo = Demo::new("healthy");
    let out = demo.run("healthy");
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(
        out.stderr.contains("run ended: resolved"),
        "{}",
        out.transcript()
    );

    let run = demo.run_id().expect("a run in the store");
    let journal = demo.journal(&run);
    for node in SMOKE {
        assert_succeeded(&journal, &format!("smoke.{node}"));
    }
    assert!(!journal.contains("\"node\":\"triage."), "{journal}");
    assert!(journal.contains(r#"run_ended        {"outcome":"resolved","success":true}"#));
    assert_eq!(demo.switches(), 0, "{}", demo.events());
    assert!(!demo.sim_state().join("frozen").exists());

    let runs = demo.rbx(&["runs", "--state-dir", &demo.state_dir()]);
    assert!(runs.stdout.contains("ended:resolved"), "{}", runs.stdout);
    assert_status_smoke_done(&demo, &run, "smoke");
}

#[test]
fn broken_forge_is_triaged_rolled_back_to_go_and_smoked_again() {
    let demo = Demo::new("broken");
    let out = demo.run("broken");
    // A rollback is the procedure working, and not a success (status 4).
    assert_eq!(out.status, 4, "{}", out.transcript());
    assert!(
        out.stderr.contains("run ended: rolled_back"),
        "{}",
        out.transcript()
    );

    let run = demo.run_id().expect("a run in the store");
    let journal = demo.journal(&run);
    // The first smoke fails where the simulator is broken, and only there.
    let migrations = finished(&journal, "smoke.migrations");
    assert!(
        migrations.len() == 1 && migrations[0].contains("\"status\":\"failed\""),
        "{migrations:#?}"
    );
    for node in [
        "triage.incident_kind",
        "migration_db.db_migrate_status",
        "migration_db.schema_state",
        "rollback.freeze_deploys",
        "rollback.switch_to_go",
        "rollback.go_build_live",
        "post_rollback.roll_forward_plan",
    ] {
        assert_succeeded(&journal, node);
    }
    // The second smoke, on the Go build, ran every item and passed.
    for node in SMOKE {
        assert_succeeded(&journal, &format!("smoke#2.{node}"));
    }
    assert!(
        finished(&journal, "smoke#2.forge_version")[0].contains(r#""version":{"text":"1.9.4"}"#),
        "{journal}"
    );
    assert!(journal.contains(r#"run_ended        {"outcome":"rolled_back","success":false}"#));

    // Side effects: frozen, switched to Go exactly once.
    assert_eq!(demo.switches(), 1, "{}", demo.events());
    assert_eq!(
        fs::read_to_string(demo.sim_state().join("runtime")).unwrap(),
        "go\n"
    );
    assert!(demo.sim_state().join("frozen").exists());

    let runs = demo.rbx(&["runs", "--state-dir", &demo.state_dir()]);
    assert!(runs.stdout.contains("ended:rolled_back"), "{}", runs.stdout);
    let status = assert_status_smoke_done(&demo, &run, "smoke#2");
    assert!(
        status.lines().any(|l| l
            .split_whitespace()
            .take(2)
            .eq(["failed", "smoke.migrations"])),
        "{status}"
    );
}

/// Kills the process group the slow switch left behind when rbx was killed
/// (it runs in a group of its own), as a crashed host would have.
fn kill_orphaned_switch(demo: &Demo) {
    let Ok(pids) = fs::read_to_string(demo.sim_state().join("switch.pid")) else {
        return;
    };
    if let Some(group) = pids
        .split_whitespace()
        .nth(1)
        .and_then(|g| g.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Wait until the group is gone: a resume refuses to start a step
        // whose processes still run.
        let deadline = Instant::now() + Duration::from_secs(10);
        while nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), None).is_ok()
            && Instant::now() < deadline
        {
            sleep(Duration::from_millis(20));
        }
    }
}

fn wait_for(what: &str, child: &mut Child, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(
            child.try_wait().expect("rbx can be waited for").is_none(),
            "rbx ended before {what}"
        );
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn rbx_killed_mid_rollback_resumes_and_the_verify_probe_settles_the_switch() {
    let demo = Demo::new("broken");
    let log = |name: &str| fs::File::create(demo.dir.path().join(name)).unwrap();
    let mut child = demo
        .run_command("broken")
        .env("FORGE_SIM_SLOW", "3")
        .stdout(Stdio::from(log("run.stdout")))
        .stderr(Stdio::from(log("run.stderr")))
        .spawn()
        .expect("rbx starts");

    // The switch has taken effect and is still running (it sleeps 3 s
    // before it returns), and rbx has journalled its start.
    let pid_file = demo.sim_state().join("switch.pid");
    wait_for("the switch to take effect", &mut child, || {
        pid_file.exists() && demo.events().contains("switch go: applied")
    });
    let run = demo.run_id().expect("a run in the store");
    wait_for("the journal to show the switch started", &mut child, || {
        demo.rbx(&[
            "log",
            &run,
            "rollback.switch_to_go",
            "--state-dir",
            &demo.state_dir(),
        ])
        .stdout
        .contains("node_started")
    });
    child.kill().expect("rbx can be killed");
    child.wait().expect("rbx is reaped");
    kill_orphaned_switch(&demo);

    let journal = demo.journal(&run);
    assert!(!journal.contains("run_ended"), "{journal}");
    assert!(
        finished(&journal, "rollback.switch_to_go").is_empty(),
        "{journal}"
    );

    // `switch_to_go` has a verify probe, so no `--in-doubt` is needed.
    let resumed = demo.sh(
        Path::new(env!("CARGO_BIN_EXE_rbx")),
        &[
            "resume",
            &run,
            "--state-dir",
            &demo.state_dir(),
            "--non-interactive",
            "--answers",
            &example("answers-broken.toml"),
        ],
    );
    let journal = demo.journal(&run);

    // Settled by the probe, not run again.
    assert!(
        journal.lines().any(|l| l.contains("in_doubt")
            && l.contains(r#""node":"rollback.switch_to_go""#)
            && l.contains(r#""decision":"done""#)
            && l.contains("verify probe")),
        "{}\n{journal}",
        resumed.transcript()
    );
    let starts = journal
        .lines()
        .filter(|l| l.contains("node_started") && l.contains(r#""node":"rollback.switch_to_go""#))
        .count();
    assert_eq!(starts, 1, "{journal}");
    assert_eq!(demo.switches(), 1, "{}", demo.events());
    assert_succeeded(&journal, "rollback.switch_to_go");

    // And the run goes on to the end: smoke again on Go, rolled back.
    assert_eq!(resumed.status, 4, "{}\n{journal}", resumed.transcript());
    assert!(
        resumed.stderr.contains("run ended: rolled_back"),
        "{}\n{journal}",
        resumed.transcript()
    );
    for node in SMOKE {
        assert_succeeded(&journal, &format!("smoke#2.{node}"));
    }
}

#[test]
fn simulated_agents_are_tmux_sessions_when_tmux_is_installed() {
    let has_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tmux {
        eprintln!("tmux is not installed: skipped");
        return;
    }
    let demo = Demo::new("healthy");
    // A tmux server of this test's own, its socket in the tempdir, so no
    // user session is touched and nothing is left behind.
    let socket = demo.dir.path().join("tmux.sock").display().to_string();
    let forge = |args: &[&str]| {
        output(
            demo.command(&sim_bin("forge"))
                .env("FORGE_SIM_TMUX", "1")
                .env("FORGE_SIM_TMUX_SOCKET", &socket)
                .args(args)
                .output()
                .expect("forge-sim runs"),
        )
    };
    let has_session = || {
        Command::new("tmux")
            .args(["-S", &socket, "has-session", "-t", "forge-sim-probe"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let spawn = forge(&["agent", "spawn", "probe"]);
    assert_eq!(spawn.status, 0, "{}", spawn.transcript());
    assert!(has_session(), "no tmux session after spawn");
    let stop = forge(&["agent", "stop", "probe"]);
    assert_eq!(stop.status, 0, "{}", stop.transcript());
    assert!(!has_session(), "the tmux session is still there after stop");
}
