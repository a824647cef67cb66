//! The execution semantics, rule by rule (book: Execution semantics, "The
//! rules"), through the real `rbx` binary. Each test names the rules it
//! checks and, where the rule is about a shape, generates the shapes —
//! item counts, the failing item, `parallel N`, `--jobs` — rather than
//! checking one example.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rbx_store::{SqliteStore, Store};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// One test's directory: runbooks, answers and the store in `.rbx`.
struct Bench {
    dir: tempfile::TempDir,
}

/// What a run's journal says, read from the store.
struct Journal {
    /// Every event: (kind, node, payload).
    events: Vec<(String, String, serde_json::Value)>,
    status: String,
}

impl Journal {
    fn started(&self, node: &str) -> usize {
        self.count("node_started", node)
    }

    fn count(&self, kind: &str, node: &str) -> usize {
        self.events
            .iter()
            .filter(|(k, n, _)| k == kind && n == node)
            .count()
    }

    /// The status a node's last settlement gave it, if any.
    fn settled(&self, node: &str) -> Option<String> {
        self.events.iter().rev().find_map(|(kind, n, payload)| {
            if n != node {
                return None;
            }
            match kind.as_str() {
                "node_skipped" => Some("skipped".to_string()),
                "node_finished" => payload["status"].as_str().map(str::to_string),
                _ => None,
            }
        })
    }

    fn outcome(&self) -> Option<String> {
        self.events.iter().rev().find_map(|(kind, _, payload)| {
            (kind == "run_ended").then(|| payload["outcome"].as_str().unwrap_or("").to_string())
        })
    }

    fn kinds(&self) -> Vec<&str> {
        self.events.iter().map(|(k, _, _)| k.as_str()).collect()
    }
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file; a runbook must pass `rbx lint` (rule: no lint-clean
    /// runbook breaks a run, so every runbook here is lint-clean).
    fn write(&self, name: &str, text: &str) {
        fs::write(self.path().join(name), text).expect("write a file");
        if name.ends_with(".runbook") {
            let lint = support::rbx(self.path(), &["lint", name]);
            assert_eq!(
                lint.status,
                0,
                "{name} must lint:\n{}\n{text}",
                lint.transcript()
            );
        }
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

    /// The latest run's journal and status.
    fn journal(&self) -> Journal {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store
            .runs()
            .expect("runs are listed")
            .pop()
            .expect("a run was recorded");
        let events = store
            .events(&run.id)
            .expect("the journal reads")
            .into_iter()
            .map(|e| {
                let node = e.payload["node"].as_str().unwrap_or("").to_string();
                (e.kind, node, e.payload)
            })
            .collect();
        Journal {
            events,
            status: run.status,
        }
    }

    fn run_id(&self) -> String {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
        run.id.to_string()
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Rules L2, L3, C2, G4: a step that fails inside a `foreach` item, with a
/// route out of the flow, stops the join — for every item count, failing
/// item, `parallel N` and `--jobs`: the route's stage runs, the nodes after
/// the loop never run, with `--jobs 1` no item more than N places after the
/// failing one starts, and the run ends with the route's outcome.
#[test]
fn a_failure_inside_a_loop_leaves_the_flow_for_every_shape() {
    for items in 1..=4usize {
        for failing in 0..items {
            for parallel in [None, Some(2), Some(items)] {
                for jobs in ["1", "3"] {
                    let bench = Bench::new();
                    let names: Vec<String> = (0..items).map(|i| format!("h{i}")).collect();
                    let pace = parallel.map_or(String::new(), |n| format!(" parallel {n}"));
                    let runbook = format!(
                        r#"runbook loops "Loops" {{
  input hosts "Hosts": list(string)
  stage s "S" {{
    on failure -> no_go
    step before "Before" {{ run "true" }}
    foreach h in hosts{pace} {{
      step check "Check {{{{ h }}}}" {{ run "test {{{{ h }}}} != h{failing}" }}
      step also "Also {{{{ h }}}}" {{ run "true" }}
    }}
    step after "After" {{ run "true" }}
    end go
  }}
  stage no_go "No go" {{
    step note "Note" {{ run "true" }}
    end no_go
  }}
}}
"#
                    );
                    bench.write("loops.runbook", &runbook);
                    let hosts = format!("hosts={}", list(&names));
                    let run = bench.rbx(&["run", "loops.runbook", "--set", &hosts, "--jobs", jobs]);
                    let shape = format!("{items} items, h{failing} fails, {pace:?}, jobs {jobs}");
                    assert_eq!(run.status, 0, "{shape}\n{}", run.transcript());
                    let journal = bench.journal();
                    assert_eq!(journal.outcome().as_deref(), Some("no_go"), "{shape}");
                    assert_eq!(journal.started("s.after"), 0, "{shape}");
                    assert_eq!(journal.settled("s.after").as_deref(), Some("skipped"));
                    assert_eq!(journal.started("no_go.note"), 1, "{shape}");
                    assert_eq!(
                        journal.settled(&format!("s.also[h{failing}]")).as_deref(),
                        Some("skipped")
                    );
                    // One node at a time, items are admitted in order
                    // (R4, R5); side by side, a place freed by a fast item
                    // may admit one more before the failure is acted on
                    // (tests/fan_out.rs checks the limit itself).
                    let at_once = parallel.unwrap_or(1);
                    if jobs == "1" {
                        for later in failing + at_once..items {
                            let id = format!("s.check[h{later}]");
                            assert_eq!(journal.started(&id), 0, "{shape}");
                        }
                    }
                    assert!(
                        journal.events.iter().any(|(k, n, p)| k == "flow_left"
                            && n == &format!("s.check[h{failing}]")
                            && p["flow"] == "s"),
                        "{shape}: {:?}",
                        journal.kinds()
                    );
                    assert!(journal.status.starts_with("ended:no_go"), "{shape}");
                }
            }
        }
    }
}

/// Rules L3, C2: the same for a `parallel` block of any width and any
/// failing branch, with a route to an outcome.
#[test]
fn a_failing_branch_of_a_parallel_block_stops_the_join() {
    for width in 2..=4usize {
        for failing in 0..width {
            for jobs in ["1", "4"] {
                let bench = Bench::new();
                let branches: String = (0..width)
                    .map(|b| {
                        let command = if b == failing { "false" } else { "true" };
                        format!("      step b{b} \"B{b}\" {{ run \"{command}\" }}\n")
                    })
                    .collect();
                let runbook = format!(
                    "runbook par \"Par\" {{\n  stage s \"S\" {{\n    on failure -> end no_go\n    parallel {{\n{branches}    }}\n    step after \"After\" {{ run \"true\" }}\n    end go\n  }}\n}}\n"
                );
                bench.write("par.runbook", &runbook);
                let run = bench.rbx(&["run", "par.runbook", "--jobs", jobs]);
                // `no_go` is reached by a failure route: not a success (status 4).
                assert_eq!(run.status, 4, "{}", run.transcript());
                let journal = bench.journal();
                let shape = format!("width {width}, b{failing} fails, jobs {jobs}");
                assert_eq!(journal.outcome().as_deref(), Some("no_go"), "{shape}");
                assert_eq!(journal.started("s.after"), 0, "{shape}");
            }
        }
    }
}

/// Rule P3: a manual step's evidence is a value for decisions, gates and
/// commands after it — answered from a file, and answered with
/// `rbx confirm` then resumed.
#[test]
fn evidence_is_read_by_decisions_gates_and_commands() {
    let runbook = r#"runbook ev "Evidence" {
  stage s "S" {
    manual check "Look at it" {
      evidence verdict "Verdict": choice(good, bad)
      evidence note "Note": text
    }
    gate noted "A note was given" {
      require check.note != ""
    }
    step echo "Echo" {
      run "echo note={{ check.note }} verdict={{ check.verdict }}"
      expect stdout ~ /note=seen it verdict=bad/
    }
    decide d "Which?" {
      when check.verdict == bad -> end bad
      otherwise -> end good
    }
  }
}
"#;
    for verdict in ["good", "bad"] {
        let bench = Bench::new();
        bench.write("ev.runbook", runbook);
        bench.write(
            "answers.toml",
            &format!("[check]\nevidence = {{ verdict = \"{verdict}\", note = \"seen it\" }}\n"),
        );
        let run = bench.rbx(&["run", "ev.runbook", "--answers", "answers.toml"]);
        let journal = bench.journal();
        if verdict == "bad" {
            assert_eq!(
                journal.outcome().as_deref(),
                Some("bad"),
                "{}",
                run.transcript()
            );
        } else {
            // The command expects `bad`: with `good` it fails, and with no
            // route the run fails there — the value was read.
            assert_eq!(run.status, 1, "{}", run.transcript());
            assert_eq!(journal.settled("s.echo").as_deref(), Some("failed"));
        }
    }
    let bench = Bench::new();
    bench.write("ev.runbook", runbook);
    let run = bench.rbx(&["run", "ev.runbook", "--non-interactive"]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let id = bench.run_id();
    let confirm = bench.rbx(&[
        "confirm",
        &id,
        "s.check",
        "--evidence",
        "verdict=bad",
        "--evidence",
        "note=seen it",
    ]);
    assert_eq!(confirm.status, 0, "{}", confirm.transcript());
    let resumed = bench.rbx(&["resume", &id]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(bench.journal().outcome().as_deref(), Some("bad"));
}

/// Rules G3, G4: loops with inherited routes, loops that open a stage, two
/// loops with the same variable over the same list, and `again` inside a
/// loop all run every item and reach their outcome.
#[test]
fn loops_with_routes_same_names_and_again_run_every_item() {
    let shapes = [
        (
            "opening",
            r#"runbook r "R" {
  input hosts "Hosts": list(string)
  on cancel -> end cancelled
  stage s "S" {
    on failure -> end failed
    foreach h in hosts {
      step one "One {{ h }}" { run "echo {{ h }}" }
    }
    step after "After" { run "true" }
    end go
  }
}
"#,
            vec!["s.one[a]", "s.one[b]", "s.one[c]", "s.after"],
        ),
        (
            "same loop names",
            r#"runbook r "R" {
  input hosts "Hosts": list(string)
  stage s "S" {
    foreach h in hosts {
      step one "One {{ h }}" { run "echo {{ h }}" }
    }
    then t
  }
  stage t "T" {
    foreach h in hosts {
      step two "Two {{ h }}" { run "echo {{ h }}" }
    }
    end go
  }
}
"#,
            vec!["s.one[a]", "s.one[c]", "t.two[a]", "t.two[b]", "t.two[c]"],
        ),
        (
            "again in a loop",
            r#"runbook r "R" {
  input hosts "Hosts": list(string)
  stage s "S" {
    foreach h in hosts {
      again t
    }
    end go
  }
  stage t "T" {
    on failure -> end t_failed
    step x "X" { run "echo again" }
    end t_done
  }
}
"#,
            vec!["t#2.x[a]", "t#2.x[b]", "t#2.x[c]"],
        ),
    ];
    for (name, runbook, must_run) in shapes {
        for parallel in ["", " parallel 2"] {
            let bench = Bench::new();
            let text = runbook.replace("in hosts {", &format!("in hosts{parallel} {{"));
            bench.write("r.runbook", &text);
            let run = bench.rbx(&["run", "r.runbook", "--set", r#"hosts=["a","b","c"]"#]);
            assert_eq!(run.status, 0, "{name}{parallel}: {}", run.transcript());
            let journal = bench.journal();
            assert_eq!(journal.outcome().as_deref(), Some("go"), "{name}{parallel}");
            for node in &must_run {
                assert_eq!(journal.started(node), 1, "{name}{parallel}: {node}");
            }
        }
    }
}

/// Rule F2: a stage's `require` that does not hold takes the stage's route,
/// and the runbook's `require` (checked by the entry stage) the runbook's.
#[test]
fn failed_requirements_take_the_routes_of_their_stage() {
    let bench = Bench::new();
    bench.write(
        "req.runbook",
        r#"runbook req "Req" {
  input go "Go?": bool = false
  on failure -> end runbook_route
  stage a "A" {
    step x "X" { run "true" }
    then b
  }
  stage b "B" {
    require go
    on failure -> end stage_route
    step y "Y" { run "true" }
    end done
  }
}
"#,
    );
    bench.rbx(&["run", "req.runbook"]);
    let journal = bench.journal();
    assert_eq!(journal.outcome().as_deref(), Some("stage_route"));
    assert_eq!(journal.started("b.y"), 0);

    let bench = Bench::new();
    bench.write(
        "req.runbook",
        r#"runbook req "Req" {
  input go "Go?": bool = false
  require go
  on failure -> end runbook_route
  stage a "A" {
    step x "X" { run "true" }
    end done
  }
}
"#,
    );
    bench.rbx(&["run", "req.runbook"]);
    let journal = bench.journal();
    assert_eq!(journal.outcome().as_deref(), Some("runbook_route"));
    assert_eq!(journal.started("a.x"), 0);
}

/// Rule P2: `rbx confirm` answers only what the run waits for, and says
/// what that is; the nodes before an early answer are never skipped.
#[test]
fn confirm_answers_only_the_node_the_run_waits_for() {
    let bench = Bench::new();
    bench.write(
        "p.runbook",
        r#"runbook p "People" {
  role owner "Owner" {
    person "Ann"
    contact "@ann"
  }
  stage s "S" {
    step pre "Pre" { run "true" }
    manual first "First" {
      evidence note "Note": text
    }
    signoff later "Later" {
      by owner
    }
    end done
  }
}
"#,
    );
    let run = bench.rbx(&["run", "p.runbook", "--non-interactive"]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let id = bench.run_id();
    let early = bench.rbx(&["confirm", &id, "s.later", "--signoff", "owner=bob:GO"]);
    assert_eq!(early.status, 2, "{}", early.transcript());
    assert!(
        early.stderr.contains("it is waiting for: s.first"),
        "{}",
        early.stderr
    );
    assert_eq!(bench.journal().settled("s.later"), None);
    // The short id names the one node the run waits for.
    let answer = bench.rbx(&["confirm", &id, "first", "--evidence", "note=ok"]);
    assert_eq!(answer.status, 0, "{}", answer.transcript());
    assert_eq!(
        bench.journal().settled("s.first").as_deref(),
        Some("succeeded")
    );
}

/// Rule S5: every node whose failure failed the run runs again in one
/// resume, whatever the width of the block and `--jobs`.
#[test]
fn every_failed_node_is_re_driven_in_one_resume() {
    for width in 2..=3usize {
        for jobs in ["1", "3"] {
            let bench = Bench::new();
            let branches: String = (0..width)
                .map(|b| format!("      step b{b} \"B{b}\" {{ run \"test -e ok\" }}\n"))
                .collect();
            bench.write(
                "r.runbook",
                &format!(
                    "runbook r \"R\" {{\n  stage s \"S\" {{\n    parallel {{\n{branches}    }}\n    step after \"After\" {{ run \"true\" }}\n    end done\n  }}\n}}\n"
                ),
            );
            let first = bench.rbx(&["run", "r.runbook", "--jobs", jobs]);
            assert_eq!(first.status, 1, "{}", first.transcript());
            fs::write(bench.path().join("ok"), "").expect("the fix");
            let id = bench.run_id();
            let resumed = bench.rbx(&["resume", &id, "--jobs", jobs]);
            assert_eq!(resumed.status, 0, "{}", resumed.transcript());
            let journal = bench.journal();
            assert_eq!(journal.outcome().as_deref(), Some("done"));
            assert_eq!(journal.started("s.after"), 1);
        }
    }
}

/// Rule S2: while the processes of a step in doubt still run, `rbx resume`
/// starts nothing; once they are gone, the policy applies.
#[test]
fn a_step_still_running_after_kill_9_is_not_started_twice() {
    let bench = Bench::new();
    bench.write(
        "o.runbook",
        r#"runbook o "Orphan" {
  stage s "S" {
    step slow "Slow" {
      run "echo $$ > started; sleep 2; echo once >> applied"
      idempotent
    }
    end done
  }
}
"#,
    );
    let mut driver = bench
        .command(&["run", "o.runbook"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rbx starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bench.path().join("started").exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    driver.kill().expect("kill -9");
    driver.wait().expect("reaped");
    let refused = bench.rbx(&["resume"]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("still running"),
        "{}",
        refused.stderr
    );
    while fs::read_to_string(bench.path().join("applied")).is_err() {
        assert!(Instant::now() < deadline, "the orphan never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let resumed = bench.rbx(&["resume"]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    let applied = fs::read_to_string(bench.path().join("applied")).expect("applied");
    // The orphan's one run, then the idempotent rerun — never two at once.
    assert_eq!(applied, "once\nonce\n");
}

/// Rule E4: killed right after any event, the run's status says what its
/// journal says — a run killed during its `end` hook is ended, not
/// running, and `rbx resume` refuses it.
#[test]
fn status_and_journal_agree_at_every_kill_point() {
    let runbook = r#"runbook k "Kill" {
  hook end "sleep 0.1"
  stage s "S" {
    step a "A" { run "true" idempotent }
    step b "B" { run "true" idempotent }
    end done
  }
}
"#;
    let probe = Bench::new();
    probe.write("k.runbook", runbook);
    probe.rbx(&["run", "k.runbook"]);
    let total = probe.journal().events.len();
    for n in 1..=total {
        let bench = Bench::new();
        bench.write("k.runbook", runbook);
        let crashed = bench
            .command(&["run", "k.runbook"])
            .env(rbx_store::CRASH_AFTER_EVENTS, n.to_string())
            .output()
            .expect("rbx runs");
        assert!(crashed.status.code().is_none(), "killed after event {n}");
        let journal = bench.journal();
        let last = journal
            .kinds()
            .last()
            .map(|k| (*k).to_string())
            .unwrap_or_default();
        match journal.outcome() {
            Some(_) => {
                assert_eq!(journal.status, "ended:done", "after event {n}");
                let again = bench.rbx(&["resume"]);
                assert_ne!(again.status, 0, "an ended run is not resumed");
            }
            None => {
                assert_eq!(journal.status, "running", "after event {n} ({last})");
                let resumed = bench.rbx(&["resume"]);
                assert_eq!(
                    resumed.status,
                    0,
                    "after event {n}: {}",
                    resumed.transcript()
                );
                let journal = bench.journal();
                assert_eq!(journal.outcome().as_deref(), Some("done"));
                assert_eq!(journal.count("node_finished", "s.a"), 1, "after event {n}");
                assert_eq!(journal.count("node_finished", "s.b"), 1, "after event {n}");
            }
        }
    }
}

/// Rule G5: an `include` written before the entry file's first stage does
/// not make the included stage the entry.
#[test]
fn the_entry_is_the_entry_files_first_stage() {
    let bench = Bench::new();
    bench.write(
        "part.runbook",
        "stage other \"Other\" {\n  step o \"O\" { run \"true\" }\n  end from_include\n}\n",
    );
    bench.write(
        "main.runbook",
        r#"runbook m "Main" {
  include "part.runbook"
  stage first "First" {
    step f "F" { run "true" }
    then other
  }
}
"#,
    );
    let run = bench.rbx(&["run", "main.runbook"]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let journal = bench.journal();
    assert_eq!(journal.started("first.f"), 1);
    assert_eq!(journal.outcome().as_deref(), Some("from_include"));
}

/// A step fails at its first failing command, pipelines included.
#[test]
fn a_step_fails_at_its_first_failing_command() {
    let commands = [
        "false\n        echo after",
        "false | tee /dev/null",
        "cat /nonexistent | wc -l",
        "true; false; true",
    ];
    for command in commands {
        let bench = Bench::new();
        bench.write(
            "s.runbook",
            &format!(
                "runbook s \"S\" {{\n  stage s \"S\" {{\n    on failure -> end failed\n    step x \"X\" {{\n      run \"\"\"\n        {command}\n      \"\"\"\n    }}\n    end passed\n  }}\n}}\n"
            ),
        );
        let run = bench.rbx(&["run", "s.runbook"]);
        assert_eq!(run.status, 4, "{}", run.transcript());
        assert_eq!(
            bench.journal().outcome().as_deref(),
            Some("failed"),
            "{command}"
        );
    }
}

/// Losing the terminal never changes a run: with standard error and output
/// closed, the run still reaches its outcome.
#[test]
fn a_closed_terminal_does_not_change_the_run() {
    let bench = Bench::new();
    bench.write(
        "t.runbook",
        "runbook t \"T\" {\n  stage s \"S\" {\n    step a \"A\" { run \"seq 1 2000\" }\n    step b \"B\" { run \"echo done\" }\n    end done\n  }\n}\n",
    );
    let mut child = bench
        .command(&["run", "t.runbook"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbx starts");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().expect("rbx ends");
    assert_eq!(status.code(), Some(0));
    assert_eq!(bench.journal().outcome().as_deref(), Some("done"));
}

/// Rule I1: an answers file confirms one instance of an irreversible step
/// in a loop by its full id; the step's runbook id confirms none of them.
#[test]
fn an_irreversible_step_in_a_loop_is_confirmed_per_instance() {
    let runbook = r#"runbook w "Wipe" {
  input disks "Disks": list(string)
  stage s "S" {
    gate ready "Ready" { require true }
    foreach d in disks {
      step wipe "Wipe {{ d }}" {
        run "echo {{ d }} >> wiped"
        irreversible "the data is gone"
      }
    }
    end done
  }
}
"#;
    let disks = r#"disks=["a","b"]"#;
    let bench = Bench::new();
    bench.write("w.runbook", runbook);
    bench.write("answers.toml", "[wipe]\nconfirm = \"wipe\"\n");
    let run = bench.rbx(&[
        "run",
        "w.runbook",
        "--set",
        disks,
        "--answers",
        "answers.toml",
    ]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    assert!(fs::read_to_string(bench.path().join("wiped")).is_err());

    let bench = Bench::new();
    bench.write("w.runbook", runbook);
    bench.write("answers.toml", "[\"s.wipe[a]\"]\nconfirm = \"s.wipe[a]\"\n");
    let run = bench.rbx(&[
        "run",
        "w.runbook",
        "--set",
        disks,
        "--answers",
        "answers.toml",
    ]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let wiped = fs::read_to_string(bench.path().join("wiped")).expect("one disk wiped");
    assert_eq!(wiped, "a\n");
    let mut by_node = BTreeMap::new();
    for (kind, node, _) in bench.journal().events {
        if kind == "irreversible_confirmed" {
            *by_node.entry(node).or_insert(0) += 1;
        }
    }
    assert_eq!(by_node, BTreeMap::from([("s.wipe[a]".to_string(), 1)]));
}

/// One vocabulary: an ended run's unreached nodes are `not reached` (not
/// `pending`) in `rbx status` and every report format, skipped ones
/// `skipped`, and a node settled by `rbx cancel` is `cancelled` in both.
#[test]
fn status_and_report_say_not_reached_skipped_and_cancelled_alike() {
    let bench = Bench::new();
    bench.write(
        "v.runbook",
        r#"runbook v "Vocabulary" {
  on cancel -> restore
  stage s "S" {
    on failure -> end stopped
    step a "A" { run "false" }
    step b "B" { run "true" }
    end done
  }
  stage restore "Restore" {
    step r "R" { run "true" }
    end restored
  }
}
"#,
    );
    bench.rbx(&["run", "v.runbook"]);
    let id = bench.run_id();
    let status = bench.rbx(&["status", &id]);
    let line = |id: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.contains(id))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(line("s.b").contains("skipped"), "{}", status.stdout);
    assert!(
        line("restore.r").contains("not reached"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("pending"), "{}", status.stdout);
    let report = bench.rbx(&["report", &id, "--format", "json"]);
    assert!(
        report.stdout.contains("\"not_reached\""),
        "{}",
        report.stdout
    );
    assert!(!report.stdout.contains("\"pending\""), "{}", report.stdout);

    // Cancelled where it paused: the person's step is `cancelled`.
    let bench = Bench::new();
    bench.write(
        "c.runbook",
        r#"runbook c "Cancel" {
  on cancel -> end cancelled
  stage s "S" {
    manual m "M" {
      evidence note "Note": text
    }
    end done
  }
}
"#,
    );
    bench.rbx(&["run", "c.runbook", "--non-interactive"]);
    let id = bench.run_id();
    let cancel = bench.rbx(&["cancel", &id, "--reason", "not today"]);
    assert_eq!(cancel.status, 4, "{}", cancel.transcript());
    let status = bench.rbx(&["status", &id]);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.contains("s.m") && l.contains("cancelled")),
        "{}",
        status.stdout
    );
    let report = bench.rbx(&["report", &id]);
    assert!(report.stdout.contains("cancelled"), "{}", report.stdout);
    assert!(!report.stdout.contains("pending"), "{}", report.stdout);
}

/// One rule for line endings: expectations and captures judge the output
/// less its one final line ending, so `^ok$` holds for `echo ok`.
#[test]
fn a_final_line_ending_is_not_part_of_what_is_judged() {
    for (command, expect, holds) in [
        ("echo ok", "expect stdout ~ /^ok$/", true),
        ("printf ok", "expect stdout ~ /^ok$/", true),
        ("printf 'ok\\r\\n'", "expect stdout ~ /^ok$/", true),
        ("printf 'ok\\n\\n'", "expect stdout ~ /^ok$/", false),
        ("echo ok", "expect stdout ~ /ok\\z/", true),
        ("echo ok >&2", "expect stderr ~ /^ok$/", true),
    ] {
        let bench = Bench::new();
        bench.write(
            "n.runbook",
            &format!(
                "runbook n \"N\" {{\n  stage s \"S\" {{\n    on failure -> end unmet\n    step x \"X\" {{\n      run \"{command}\"\n      {expect}\n    }}\n    end met\n  }}\n}}\n"
            ),
        );
        bench.rbx(&["run", "n.runbook"]);
        let outcome = if holds { "met" } else { "unmet" };
        assert_eq!(
            bench.journal().outcome().as_deref(),
            Some(outcome),
            "{command} with {expect}"
        );
    }
}
