//! Fan-out (book: Execution semantics, rules R4, R5 and R6), through the
//! real `rbx` binary: `parallel N` runs `N` items at once without `--jobs`,
//! as a semaphore, `--jobs` caps it, `tolerate` lets failed items pass up
//! to a count or a share, and a run killed in the middle of a fan-out
//! neither repeats nor loses an item. Each test generates its shapes.
//!
//! The commands synchronise through files in the test's directory, never
//! through time: a wrong engine makes a barrier wait out its timeout and
//! the test fail, a right one never waits.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rbx_store::{SqliteStore, Store};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

struct Bench {
    dir: tempfile::TempDir,
}

/// The latest run's journal: (kind, node, payload) per event.
struct Journal {
    events: Vec<(String, String, serde_json::Value)>,
    status: String,
}

impl Journal {
    fn count(&self, kind: &str, node: &str) -> usize {
        self.events
            .iter()
            .filter(|(k, n, _)| k == kind && n == node)
            .count()
    }

    fn finished(&self, node: &str) -> Option<&serde_json::Value> {
        self.events
            .iter()
            .rev()
            .find(|(k, n, _)| k == "node_finished" && n == node)
            .map(|(_, _, p)| p)
    }

    fn outcome(&self) -> Option<String> {
        self.events.iter().rev().find_map(|(kind, _, payload)| {
            (kind == "run_ended").then(|| payload["outcome"].as_str().unwrap_or("").to_string())
        })
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

    /// Writes a runbook, which must pass `rbx lint`.
    fn runbook(&self, text: &str) {
        fs::write(self.path().join("f.runbook"), text).expect("write the runbook");
        let lint = support::rbx(self.path(), &["lint", "f.runbook"]);
        assert_eq!(lint.status, 0, "{}\n{text}", lint.transcript());
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

    fn journal(&self) -> Journal {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
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

    /// The most items that were inside their command at once, as each
    /// item counted on entering (`seen`, one count a line).
    fn most_at_once(&self) -> usize {
        fs::read_to_string(self.path().join("seen"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .max()
            .unwrap_or(0)
    }
}

fn hosts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("h{i}")).collect()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The command of one item: it enters (a marker in `in/`), counts who is
/// inside, and — when it is one of the first `barrier` items — waits until
/// `barrier` items are inside together (at most 20 s); then it leaves.
fn counting(item: &str, barrier: usize, first: bool) -> String {
    let wait = if first {
        format!(
            "n=0; while [ \"$(ls in | wc -l)\" -lt {barrier} ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; "
        )
    } else {
        String::new()
    };
    format!("mkdir -p in; touch in/{item}; ls in | wc -l >> seen; {wait}sleep 0.1; rm in/{item}")
}

/// Rules R4, R5: `parallel N` on a loop or a block runs `N` items at once
/// without `--jobs`, never more; `--jobs J` caps it at `J`.
#[test]
fn parallel_n_runs_n_at_once_and_jobs_caps_it() {
    for items in [3usize, 5] {
        for at_once in 1..=3usize {
            for jobs in [None, Some(1usize), Some(2)] {
                for block in [false, true] {
                    let expected = jobs.map_or(at_once, |j| j.min(at_once)).min(items);
                    let names = hosts(items);
                    let body = if block {
                        let branches: String = names
                            .iter()
                            .enumerate()
                            .map(|(i, h)| {
                                let run = counting(h, expected, i < expected);
                                format!(
                                    "      step {h} \"Item {h}\" {{ run \"{}\" timeout 1m }}\n",
                                    run.replace('"', "\\\"")
                                )
                            })
                            .collect();
                        format!("    parallel {at_once} {{\n{branches}    }}\n")
                    } else {
                        // Every item of a loop runs the same command: the
                        // first ones wait at the barrier, chosen by name.
                        let first: Vec<String> = names[..expected].to_vec();
                        let run = format!(
                            "case {{{{ h }}}} in {}) {};; *) {};; esac",
                            first.join("|"),
                            counting("{{ h }}", expected, true),
                            counting("{{ h }}", expected, false)
                        );
                        format!(
                            "    foreach h in hosts parallel {at_once} {{\n      step item \"Item {{{{ h }}}}\" {{ run \"{}\" timeout 1m }}\n    }}\n",
                            run.replace('"', "\\\"")
                        )
                    };
                    let bench = Bench::new();
                    bench.runbook(&format!(
                        "runbook f \"Fan-out\" {{\n  input hosts \"Hosts\": list(string)\n  stage s \"S\" {{\n{body}    end done\n  }}\n}}\n"
                    ));
                    let set = format!("hosts={}", list(&names));
                    let mut args = vec!["run", "f.runbook", "--set", &set];
                    let cap = jobs.map(|j| j.to_string());
                    if let Some(cap) = &cap {
                        args.extend(["--jobs", cap]);
                    }
                    let run = bench.rbx(&args);
                    let shape =
                        format!("{items} items, parallel {at_once}, jobs {jobs:?}, block {block}");
                    assert_eq!(run.status, 0, "{shape}\n{}", run.transcript());
                    assert_eq!(bench.most_at_once(), expected, "{shape}");
                }
            }
        }
    }
}

/// Rule R4: a place is taken by an unfinished item, not by an item's
/// position: with `parallel 2`, the first item waits for the last one to
/// run, which it can only do if the items after the slow one go on.
#[test]
fn a_slow_item_does_not_hold_free_slots() {
    for items in 3..=5usize {
        for block in [false, true] {
            let names = hosts(items);
            let last = names[items - 1].clone();
            let slow = "n=0; while [ ! -f released ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; test -f released";
            let body = if block {
                let branches: String = names
                    .iter()
                    .map(|h| {
                        let run = match h.as_str() {
                            "h0" => slow.to_string(),
                            h if h == last => "touch released".to_string(),
                            _ => "true".to_string(),
                        };
                        format!("      step {h} \"Item {h}\" {{ run \"{run}\" timeout 1m }}\n")
                    })
                    .collect();
                format!("    parallel 2 {{\n{branches}    }}\n")
            } else {
                let run = format!(
                    "case {{{{ h }}}} in h0) {slow};; {last}) touch released;; *) true;; esac"
                );
                format!(
                    "    foreach h in hosts parallel 2 {{\n      step item \"Item {{{{ h }}}}\" {{ run \"{run}\" timeout 1m }}\n    }}\n"
                )
            };
            let bench = Bench::new();
            bench.runbook(&format!(
                "runbook f \"Fan-out\" {{\n  input hosts \"Hosts\": list(string)\n  stage s \"S\" {{\n{body}    end done\n  }}\n}}\n"
            ));
            let set = format!("hosts={}", list(&names));
            let run = bench.rbx(&["run", "f.runbook", "--set", &set]);
            let shape = format!("{items} items, block {block}");
            assert_eq!(run.status, 0, "{shape}\n{}", run.transcript());
            let journal = bench.journal();
            let slow_id = if block { "s.h0" } else { "s.item[h0]" };
            let finished = journal.finished(slow_id).expect("the slow item finished");
            assert_eq!(finished["status"], "succeeded", "{shape}: {finished}");
        }
    }
}

/// How much a generated loop tolerates.
#[derive(Debug, Clone, Copy)]
enum Tolerance {
    Count(usize),
    Percent(usize),
}

impl Tolerance {
    fn allows(self, failed: usize, items: usize) -> bool {
        match self {
            Tolerance::Count(n) => failed <= n,
            Tolerance::Percent(p) => failed * 100 <= p * items,
        }
    }

    fn written(self) -> String {
        match self {
            Tolerance::Count(n) => n.to_string(),
            Tolerance::Percent(p) => format!("{p}%"),
        }
    }
}

/// Rule R6, for every set of failing items, several tolerances and both
/// paces: within the tolerance the loop succeeds, the nodes after it run
/// and the tally names every failed item; beyond it the loop fails and
/// takes its stage's route, and no item starts once more items have failed
/// than the loop tolerates.
#[test]
fn tolerate_lets_failures_pass_up_to_a_count_or_a_share() {
    let tolerances = [
        Tolerance::Count(0),
        Tolerance::Count(1),
        Tolerance::Percent(50),
    ];
    for items in [3usize, 4] {
        for failing in 0..(1u32 << items) {
            for tolerance in tolerances {
                for parallel in ["", " parallel 2"] {
                    let names = hosts(items);
                    let bad: Vec<&String> = names
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| failing & (1 << i) != 0)
                        .map(|(_, h)| h)
                        .collect();
                    let bad_list = bad.iter().map(|h| h.as_str()).collect::<Vec<_>>().join("|");
                    let check = if bad.is_empty() {
                        "true".to_string()
                    } else {
                        format!("case {{{{ h }}}} in {bad_list}) exit 1;; esac")
                    };
                    let bench = Bench::new();
                    bench.runbook(&format!(
                        r#"runbook f "Fan-out" {{
  input hosts "Hosts": list(string)
  stage s "S" {{
    on failure -> end no_go
    foreach h in hosts{parallel} tolerate {tol} {{
      step check "Check {{{{ h }}}}" {{ run "{check}" }}
      step also "Also {{{{ h }}}}" {{ run "true" }}
    }}
    step after "After" {{ run "true" }}
    end go
  }}
}}
"#,
                        tol = tolerance.written()
                    ));
                    let set = format!("hosts={}", list(&names));
                    let run = bench.rbx(&["run", "f.runbook", "--set", &set]);
                    let shape = format!(
                        "{items} items, {bad:?} fail, tolerate {}, {parallel:?}",
                        tolerance.written()
                    );
                    let journal = bench.journal();
                    let tally = journal.finished("s.foreach-h").unwrap_or_else(|| {
                        panic!("{shape}: the tally settled\n{}", run.transcript())
                    });
                    let reason = tally["reason"].as_str().unwrap_or("");
                    let named: BTreeSet<String> = tally["failed_items"]
                        .as_array()
                        .expect("failed items")
                        .iter()
                        .map(|f| f["item"].as_str().unwrap_or("").to_string())
                        .collect();
                    for h in &named {
                        assert!(reason.contains(h.as_str()), "{shape}: {reason}");
                        assert!(bad.contains(&h), "{shape}: {h} did not fail");
                    }
                    assert_eq!(tally["items"], items, "{shape}");
                    // R6: once more items failed than tolerated, no item
                    // starts; every item that started and failed is named.
                    // Items run side by side settle while the run starts
                    // others: an item may start between a failure being
                    // written and the run acting on it, so with `parallel
                    // 2` one item may start late, never two.
                    let mut failed_so_far = 0;
                    let mut late = 0;
                    for (kind, node, payload) in &journal.events {
                        if !node.starts_with("s.check[") {
                            continue;
                        }
                        if kind == "node_started" && !tolerance.allows(failed_so_far, items) {
                            late += 1;
                        }
                        if kind == "node_finished" && payload["status"] == "failed" {
                            failed_so_far += 1;
                            let item = &node["s.check[".len()..node.len() - 1];
                            assert!(named.contains(item), "{shape}: {item} is not named");
                        }
                    }
                    let may_be_late = usize::from(!parallel.is_empty());
                    assert!(
                        late <= may_be_late,
                        "{shape}: {late} items started too late"
                    );
                    if tolerance.allows(bad.len(), items) {
                        assert_eq!(run.status, 0, "{shape}\n{}", run.transcript());
                        assert_eq!(journal.outcome().as_deref(), Some("go"), "{shape}");
                        assert_eq!(tally["status"], "succeeded", "{shape}");
                        assert_eq!(named.len(), bad.len(), "{shape}");
                        assert_eq!(journal.count("node_started", "s.after"), 1, "{shape}");
                        // The report lists each failure and says the loop
                        // tolerated it, beside a run that succeeded.
                        let report = bench.rbx(&["report", "--format", "md"]);
                        for h in &bad {
                            let line = report
                                .stdout
                                .lines()
                                .find(|l| {
                                    l.starts_with("- ") && l.contains(&format!("`s.check[{h}]`"))
                                })
                                .unwrap_or_else(|| panic!("{shape}: {h}\n{}", report.stdout));
                            assert!(
                                line.contains("tolerated, counted by s.foreach-h"),
                                "{shape}: {line}"
                            );
                        }
                    } else {
                        assert_eq!(run.status, 4, "{shape}\n{}", run.transcript());
                        assert_eq!(journal.outcome().as_deref(), Some("no_go"), "{shape}");
                        assert_eq!(tally["status"], "failed", "{shape}");
                        assert!(!tolerance.allows(named.len(), items), "{shape}");
                        assert_eq!(journal.count("node_started", "s.after"), 0, "{shape}");
                    }
                }
            }
        }
    }
}

/// Rules S1, S2, R4, R6: killed after any event of a fan-out with a
/// tolerated failure, the run resumes to the same end; every item's step
/// ran its effect exactly once (in-doubt steps are settled by their
/// `verify` probe, never run twice) and the tally names the failed item.
#[test]
fn kill_9_in_a_fan_out_neither_repeats_nor_loses_an_item() {
    let runbook = r#"runbook f "Fan-out" {
  input hosts "Hosts": list(string) = ["h0", "h1", "h2", "h3"]
  stage s "S" {
    on failure -> end no_go
    foreach h in hosts parallel 2 tolerate 1 {
      step apply "Apply {{ h }}" {
        run "echo {{ h }} >> applied; test {{ h }} != h2"
        verify "grep -qx {{ h }} applied && test {{ h }} != h2"
      }
    }
    step after "After" { run "true" idempotent }
    end go
  }
}
"#;
    let probe = Bench::new();
    probe.runbook(runbook);
    let first = probe.rbx(&["run", "f.runbook"]);
    assert_eq!(first.status, 0, "{}", first.transcript());
    let total = probe.journal().events.len();
    for n in 1..total {
        let bench = Bench::new();
        bench.runbook(runbook);
        let crashed = bench
            .command(&["run", "f.runbook"])
            .env(rbx_store::CRASH_AFTER_EVENTS, n.to_string())
            .output()
            .expect("rbx runs");
        assert!(crashed.status.code().is_none(), "killed after event {n}");
        let resumed = resume_once_nothing_runs(&bench);
        assert_eq!(
            resumed.status,
            0,
            "after event {n}: {}",
            resumed.transcript()
        );
        let journal = bench.journal();
        assert_eq!(journal.outcome().as_deref(), Some("go"), "after event {n}");
        assert_eq!(journal.status, "ended:go", "after event {n}");
        let applied = fs::read_to_string(bench.path().join("applied")).unwrap_or_default();
        let mut lines: Vec<&str> = applied.lines().collect();
        lines.sort_unstable();
        // h2 fails, so its probe says "not done" and it runs again: it may
        // be applied twice, the others exactly once.
        let others: Vec<&str> = lines.iter().copied().filter(|l| *l != "h2").collect();
        assert_eq!(others, ["h0", "h1", "h3"], "after event {n}: {applied}");
        assert!(lines.contains(&"h2"), "after event {n}: {applied}");
        for h in ["h0", "h1", "h3"] {
            let node = format!("s.apply[{h}]");
            let payload = journal.finished(&node).expect("every item settled");
            assert_eq!(payload["status"], "succeeded", "after event {n}: {node}");
        }
        let tally = journal.finished("s.foreach-h").expect("the tally settled");
        assert_eq!(tally["status"], "succeeded", "after event {n}");
        assert_eq!(tally["failed_items"][0]["item"], "h2", "after event {n}");
    }
}

/// `rbx resume`, once the killed run's commands have ended: a resume is
/// refused while a step's processes still run (rule S2).
fn resume_once_nothing_runs(bench: &Bench) -> Output {
    for _ in 0..100 {
        let resumed = bench.rbx(&["resume"]);
        if !(resumed.status == 2 && resumed.stderr.contains("still running")) {
            return resumed;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    bench.rbx(&["resume"])
}

/// Rule S5 for a loop that failed beyond its tolerance: `rbx resume`, once
/// the cause is fixed, retries the loop's failed and skipped nodes — not
/// only its tally, which would judge the same failures again — and keeps
/// every item that succeeded.
#[test]
fn resuming_a_loop_that_failed_too_many_items_retries_them() {
    for parallel in ["", " parallel 2"] {
        let bench = Bench::new();
        bench.runbook(&format!(
            r#"runbook f "Fan-out" {{
  input hosts "Hosts": list(string) = ["h0", "h1", "h2", "h3"]
  stage s "S" {{
    foreach h in hosts{parallel} tolerate 0 {{
      step check "Check {{{{ h }}}}" {{ run "echo {{{{ h }}}} >> ran; test {{{{ h }}}} != h1 || test -f fixed" }}
      step also "Also {{{{ h }}}}" {{ run "true" }}
    }}
    end go
  }}
}}
"#
        ));
        let failed = bench.rbx(&["run", "f.runbook"]);
        assert_eq!(failed.status, 1, "{parallel:?}: {}", failed.transcript());
        let before = fs::read_to_string(bench.path().join("ran")).expect("ran");
        fs::write(bench.path().join("fixed"), "").expect("the cause is fixed");
        let resumed = bench.rbx(&["resume"]);
        assert_eq!(resumed.status, 0, "{parallel:?}: {}", resumed.transcript());
        let journal = bench.journal();
        assert_eq!(journal.outcome().as_deref(), Some("go"), "{parallel:?}");
        let ran = fs::read_to_string(bench.path().join("ran")).expect("ran");
        let again: Vec<&str> = ran[before.len()..].lines().collect();
        // h1 runs again; an item that succeeded before the loop failed
        // never does.
        assert!(again.contains(&"h1"), "{parallel:?}: {ran}");
        for done in before.lines().filter(|h| *h != "h1") {
            assert!(
                !again.contains(&done),
                "{parallel:?}: {done} ran twice: {ran}"
            );
        }
        for h in ["h0", "h1", "h2", "h3"] {
            let also = journal.finished(&format!("s.also[{h}]")).expect("settled");
            assert_eq!(also["status"], "succeeded", "{parallel:?}: {h}");
        }
    }
}

/// `rbx status` lists a loop's items where the loop is written, item by
/// item in the order they settled: after what comes before the loop,
/// before the tally that judges them and before what follows the loop —
/// nested loops too.
#[test]
fn status_lists_a_loops_items_where_the_loop_is_written() {
    let bench = Bench::new();
    bench.runbook(
        r#"runbook f "Fan-out" {
  input hosts "Hosts": list(string) = ["b", "a", "c"]
  input disks "Disks": list(string) = ["z", "y"]
  stage s "S" {
    step before "Before" { run "true" }
    foreach h in hosts tolerate 1 {
      step check "Check {{ h }}" { run "test {{ h }} != a" }
      foreach d in disks {
        step disk "Disk {{ d }} of {{ h }}" { run "true" }
      }
    }
    step after "After" { run "true" }
    end go
  }
}
"#,
    );
    let run = bench.rbx(&["run", "f.runbook"]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let status = bench.rbx(&["status"]);
    let order: Vec<&str> = status
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|id| id.starts_with("s."))
        .collect();
    let at = |id: &str| {
        order
            .iter()
            .position(|o| *o == id)
            .unwrap_or_else(|| panic!("{id} missing from\n{}", status.stdout))
    };
    // Item by item, each item's nodes (its inner loop's too) in the order
    // they settled, not every item of one step before the next step's.
    let sequence = [
        "s.before",
        "s.check[b]",
        "s.disk[b][z]",
        "s.disk[b][y]",
        "s.check[a]",
        "s.check[c]",
        "s.disk[c][z]",
        "s.disk[c][y]",
        "s.foreach-h",
        "s.after",
    ];
    for pair in sequence.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?} in {order:?}");
    }
    assert_eq!(order.len(), 3 + 6 + 3, "{order:?}");
}
