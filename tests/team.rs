//! rbx for a team: one PostgreSQL store shared by several "machines".
//!
//! Each machine is an `rbx` process in a UTS namespace of its own
//! (`unshare --uts`), so it has its own host name, as a teammate's laptop
//! has; they reach the test's throwaway PostgreSQL cluster over TCP, each
//! as a database role of its own (alice, bob, carol: members of
//! `rbx_operator`). The tests need root for the namespaces, as CI has.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rbx_pgtest::{Cluster, Database};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// How long a test waits for anything before it gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// A team's store, its operators, and a working directory with runbooks.
struct Team {
    dir: tempfile::TempDir,
    database: Database,
}

impl Team {
    fn new() -> Team {
        Team::on(Cluster::shared())
    }

    /// A team whose store is a fresh database of `cluster`.
    fn on(cluster: &Cluster) -> Team {
        let database = cluster.database();
        // The owner creates the schema; the operators only use it.
        drop(rbx_store::PostgresStore::open(&database.url()).expect("the owner migrates"));
        for role in ["alice", "bob", "carol"] {
            database.operator(role);
        }
        Team {
            dir: tempfile::tempdir().expect("a temporary directory"),
            database,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.file(name), text).expect("the file is written");
    }

    /// `rbx ARGS` as `role` on the machine `host`, with the team's store.
    fn command(&self, role: &str, host: &str, args: &[&str]) -> Command {
        let mut command = Command::new("unshare");
        command
            .args([
                "--uts",
                "--",
                "sh",
                "-c",
                r#"hostname "$0" && exec "$@""#,
                host,
                RBX,
            ])
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_STORE", self.database.url_as(role))
            .env_remove("RBX_OPERATOR")
            .env_remove("RBX_STATE_DIR")
            .stdin(Stdio::null());
        command
    }

    fn rbx(&self, role: &str, host: &str, args: &[&str]) -> Output {
        let output = self
            .command(role, host, args)
            .output()
            .expect("unshare runs");
        let output = Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !output.stderr.contains("unshare failed"),
            "these tests need to make UTS namespaces (root): {}",
            output.stderr
        );
        output
    }

    /// `rbx` in the background; its standard error kept in a file.
    fn spawn(&self, role: &str, host: &str, args: &[&str], env: &[(&str, &str)]) -> Driver {
        let stderr = self.file(&format!("stderr-{host}-{}", args.join("-").len()));
        let child = self
            .command(role, host, args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("a file for stderr"))
            .spawn()
            .expect("rbx starts");
        Driver { child, stderr }
    }

    fn side(&self) -> Vec<String> {
        fs::read_to_string(self.file("side"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The journal of `run`, one event per line, as `rbx log` prints it.
    fn log(&self, run: &str) -> String {
        let log = self.rbx("carol", "auditor", &["log", run, "--format", "json"]);
        assert_eq!(log.status, 0, "{}", log.transcript());
        log.stdout
    }
}

/// An `rbx` process running in the background.
struct Driver {
    child: Child,
    stderr: PathBuf,
}

impl Driver {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn run_id(&self) -> String {
        poll("rbx to announce its run", || {
            self.stderr().lines().find_map(|line| {
                let (id, after) = line.strip_prefix("run ")?.split_once(' ')?;
                after.starts_with("started").then(|| id.to_owned())
            })
        })
    }

    fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .expect("try_wait")
            .map(|status| status.code().unwrap_or(-1))
    }

    fn wait(&mut self) -> i32 {
        poll("rbx to exit", || self.exited())
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

fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const HOLD: &str = r#"runbook race "Two machines" {
  stage s "S" {
    step hold "Hold until told" {
      run "echo $$ > group; echo started >> side; while [ ! -f go ]; do sleep 0.05; done; echo held >> side"
    }
    end done
  }
}
"#;

#[test]
fn a_vanished_driver_is_taken_over_by_exactly_one_machine_when_its_lease_lapses() {
    let team = Team::new();
    team.write("race.runbook", HOLD);
    let mut first = team.spawn(
        "alice",
        "laptop-a",
        &["run", "race.runbook", "--non-interactive"],
        &[("RBX_LEASE_SECONDS", "4")],
    );
    let run = first.run_id();
    poll("the step to start", || {
        team.side().contains(&"started".to_owned()).then_some(())
    });
    // The laptop dies: rbx and its step are gone at once.
    first.child.kill().expect("SIGKILL rbx");
    first.child.wait().expect("reap rbx");
    let group: i32 = fs::read_to_string(team.file("group"))
        .expect("the step wrote its group")
        .trim()
        .parse()
        .expect("a process group id");
    let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);

    // Until its lease lapses, nobody on another machine may take the run:
    // from there, a live driver and a dead one look alike.
    let early = team.rbx("bob", "laptop-b", &["resume", &run, "--non-interactive"]);
    assert_eq!(early.status, 2, "{}", early.transcript());
    assert!(
        early.stderr.contains("on laptop-a"),
        "the holder is named: {}",
        early.transcript()
    );
    let status = team.rbx("bob", "laptop-b", &["status", &run]);
    assert!(
        status.stdout.contains("(running)"),
        "{}",
        status.transcript()
    );
    let mut admin = team.database.admin();
    poll("the lease to lapse", || {
        let lapsed: bool = admin
            .query_one(
                "SELECT expires_at < clock_timestamp() FROM locks WHERE run_id = $1",
                &[&run],
            )
            .expect("the lock is there")
            .get(0);
        lapsed.then_some(())
    });
    let status = team.rbx("bob", "laptop-b", &["status", &run]);
    assert!(
        status
            .stdout
            .contains("interrupted: no process is driving it"),
        "a lapsed lease is a driver gone: {}",
        status.transcript()
    );

    // Two machines race to take it over: one drives, the other is refused.
    let resume = [
        "resume",
        run.as_str(),
        "--non-interactive",
        "--in-doubt",
        "rerun",
    ];
    let mut b = team.spawn("bob", "laptop-b", &resume, &[]);
    let mut c = team.spawn("carol", "laptop-c", &resume, &[]);
    let (loser, b_won) = poll("one of the two to be refused", || {
        match (b.exited(), c.exited()) {
            (Some(status), None) => Some((status, false)),
            (None, Some(status)) => Some((status, true)),
            (Some(x), Some(y)) => panic!("both ended ({x}, {y}): two drivers, or none"),
            (None, None) => None,
        }
    });
    let (winner, loser_driver, winner_host) = if b_won {
        (&mut b, &c, "laptop-b")
    } else {
        (&mut c, &b, "laptop-c")
    };
    assert_eq!(loser, 2, "the loser is refused: {}", loser_driver.stderr());
    assert!(
        loser_driver.stderr().contains(&format!("on {winner_host}")),
        "the loser names the winner: {}",
        loser_driver.stderr()
    );
    let holder: String = admin
        .query_one("SELECT host FROM locks WHERE run_id = $1", &[&run])
        .unwrap()
        .get(0);
    assert_eq!(holder, winner_host);
    team.write("go", "");
    assert_eq!(winner.wait(), 0, "{}", winner.stderr());

    let log = team.log(&run);
    let resumed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"run_resumed\""))
        .collect();
    assert_eq!(resumed.len(), 1, "exactly one driver took over:\n{log}");
    assert!(
        resumed[0].contains("\"took_over\"") && resumed[0].contains("laptop-a"),
        "the takeover names the vanished driver: {}",
        resumed[0]
    );
    assert!(resumed[0].contains(winner_host), "{}", resumed[0]);
    assert_eq!(team.side(), ["started", "started", "held"]);
    let verify = team.rbx("carol", "auditor", &["verify", &run]);
    assert_eq!(verify.status, 0, "{}", verify.transcript());
}

const ASK: &str = r#"runbook ask "A person's check" {
  stage s "S" {
    manual check "Check the dashboard" {
      evidence notes "What you saw": text
    }
    step after "After the check" {
      run "echo after >> side"
    }
    end done
  }
}
"#;

#[test]
fn a_waiting_driver_goes_on_as_soon_as_another_machine_answers() {
    let team = Team::new();
    team.write("ask.runbook", ASK);
    let mut driver = team.spawn(
        "alice",
        "laptop-a",
        &[
            "run",
            "ask.runbook",
            "--non-interactive",
            "--wait-for-people",
        ],
        &[],
    );
    let run = driver.run_id();
    poll("the driver to wait for a person", || {
        driver
            .stderr()
            .contains("waiting for a person's answer")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(driver.exited().is_none(), "it waits: {}", driver.stderr());
    assert!(team.side().is_empty());

    let answered = team.rbx(
        "bob",
        "laptop-b",
        &["confirm", &run, "s.check", "--evidence", "notes=all green"],
    );
    assert_eq!(answered.status, 0, "{}", answered.transcript());
    let answered_at = Instant::now();
    assert_eq!(driver.wait(), 0, "{}", driver.stderr());
    eprintln!(
        "the driver went on {:?} after the answer was committed",
        answered_at.elapsed()
    );
    assert_eq!(team.side(), ["after"]);
    let log = team.log(&run);
    assert!(
        log.lines()
            .any(|l| l.contains("all green") && l.contains("\"operator\":\"bob\"")),
        "the answer is bob's:\n{log}"
    );
}

const SIGNOFF: &str = r#"runbook release "Release" {
  role owner "Owner" {
    person "alice"
  }

  role reviewer "Reviewer" {
    person "carol"
  }

  stage s "S" {
    signoff go "GO / NO-GO" {
      by owner, reviewer
      no self-approval
    }
    end shipped
  }
}
"#;

#[test]
fn the_operator_is_the_database_role_for_runs_and_sign_offs() {
    let team = Team::new();
    team.write("release.runbook", SIGNOFF);
    let posing = team.rbx(
        "alice",
        "laptop-a",
        &[
            "run",
            "release.runbook",
            "--non-interactive",
            "--operator",
            "mallory",
        ],
    );
    assert_eq!(posing.status, 2, "{}", posing.transcript());
    assert!(
        posing.stderr.contains("authenticated you as `alice`"),
        "{}",
        posing.transcript()
    );

    let paused = team.rbx(
        "alice",
        "laptop-a",
        &["run", "release.runbook", "--non-interactive"],
    );
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let runs = team.rbx("bob", "laptop-b", &["runs"]);
    let line = runs.stdout.lines().nth(1).expect("the run is listed");
    assert!(line.contains("alice"), "started by the role: {line}");
    let run = line.split_whitespace().next().expect("an id").to_owned();

    let sign = |role: &str, host: &str, signoff: &str| {
        team.rbx(role, host, &["confirm", &run, "s.go", "--signoff", signoff])
    };
    // The starter cannot approve; nobody signs for someone else.
    let own = sign("alice", "laptop-a", "owner=alice:GO");
    assert_eq!(own.status, 2, "{}", own.transcript());
    assert!(own.stderr.contains("self-approval"), "{}", own.transcript());
    let forged = sign("bob", "laptop-b", "reviewer=carol:GO");
    assert_eq!(forged.status, 2, "{}", forged.transcript());
    assert!(
        forged
            .stderr
            .contains("given by the operator who records it"),
        "{}",
        forged.transcript()
    );
    let bob = sign("bob", "laptop-b", "owner=bob:GO");
    assert_eq!(bob.status, 0, "{}", bob.transcript());
    let carol = sign("carol", "laptop-c", "reviewer=carol:GO");
    assert_eq!(carol.status, 0, "{}", carol.transcript());
    let done = team.rbx("bob", "laptop-b", &["resume", &run, "--non-interactive"]);
    assert_eq!(done.status, 0, "{}", done.transcript());
    assert!(
        done.stderr.contains("run ended: shipped"),
        "{}",
        done.transcript()
    );
}

const RULE: &str = r#"runbook rule "Counting the team's runs" {
  input sev: enum(SEV1, SEV2) = SEV1

  stage s "S" {
    decide rule "Two or more SEV1 in 24h" {
      when count(sev == SEV1, 24h) >= 2 -> end consider_rollback
      otherwise -> end watch
    }
  }
}
"#;

#[test]
fn history_moves_between_stores_and_rules_count_the_whole_team() {
    let team = Team::new();
    team.write("rule.runbook", RULE);
    // A run recorded on a laptop, in its own SQLite store.
    let local = support::rbx(team.path(), &["run", "rule.runbook"]);
    assert!(
        local.stderr.contains("run ended: watch"),
        "{}",
        local.transcript()
    );
    let url = team.database.url_as("alice");
    let copy = support::rbx(team.path(), &["store", "copy", ".rbx", &url]);
    assert_eq!(copy.status, 0, "{}", copy.transcript());
    assert!(copy.stdout.contains("1 copied"), "{}", copy.transcript());
    let again = support::rbx(team.path(), &["store", "copy", ".rbx", &url]);
    assert!(
        again.stdout.contains("1 already there"),
        "{}",
        again.transcript()
    );

    // Another machine's rule sees the copied run.
    let second = team.rbx("bob", "laptop-b", &["run", "rule.runbook"]);
    assert!(
        second.stderr.contains("count(sev == SEV1, 24h) = 2"),
        "{}",
        second.transcript()
    );
    assert!(
        second.stderr.contains("run ended: consider_rollback"),
        "{}",
        second.transcript()
    );

    // And back: every run of the team into a fresh SQLite store, verified.
    let back = support::rbx(team.path(), &["store", "copy", &url, "archive"]);
    assert_eq!(back.status, 0, "{}", back.transcript());
    assert!(back.stdout.contains("2 copied"), "{}", back.transcript());
    let runs = support::rbx(team.path(), &["runs", "--state-dir", "archive"]);
    for run in runs
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
    {
        let there = support::rbx(team.path(), &["log", run, "--state-dir", "archive"]);
        let here = team.rbx("carol", "auditor", &["log", run]);
        assert_eq!(there.stdout, here.stdout, "the journals are the same");
        let verify = support::rbx(team.path(), &["verify", run, "--state-dir", "archive"]);
        assert_eq!(verify.status, 0, "{}", verify.transcript());
    }
}

const THREE: &str = r#"runbook outage "The database goes away" {
  stage s "S" {
    step one "One" {
      run "echo one >> side"
    }
    step hold "Hold until told" {
      run "echo hold >> side; while [ ! -f go ]; do sleep 0.05; done"
      idempotent
    }
    step three "Three" {
      run "echo three >> side"
    }
    end done
  }
}
"#;

#[test]
fn the_database_going_away_mid_run_stops_the_driver_and_the_run_resumes_when_it_is_back() {
    let cluster = Cluster::private();
    let team = Team::on(&cluster);
    team.write("outage.runbook", THREE);
    let mut driver = team.spawn(
        "alice",
        "laptop-a",
        &["run", "outage.runbook", "--non-interactive"],
        &[],
    );
    let run = driver.run_id();
    poll("the second step to start", || {
        team.side().contains(&"hold".to_owned()).then_some(())
    });
    // The server crashes while the step runs; the step then finishes, and
    // its finish cannot be recorded.
    cluster.stop();
    team.write("go", "");
    let status = driver.wait();
    assert_ne!(status, 0, "{}", driver.stderr());
    assert!(
        driver.stderr().contains("cannot reach the store"),
        "the driver says why it stopped: {}",
        driver.stderr()
    );
    let refused = team.rbx("alice", "laptop-a", &["runs"]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("cannot reach the store"),
        "{}",
        refused.transcript()
    );

    // Back up: the run goes on from its journal; the step whose finish was
    // lost is in doubt and, idempotent, runs again; nothing else does.
    cluster.start_server();
    let resumed = team.rbx("alice", "laptop-a", &["resume", &run, "--non-interactive"]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(team.side(), ["one", "hold", "hold", "three"]);
    let log = team.log(&run);
    assert!(log.contains("\"in_doubt\""), "{log}");
    let verify = team.rbx("carol", "auditor", &["verify", &run]);
    assert_eq!(verify.status, 0, "{}", verify.transcript());
}
