//! `--jobs` is one cap for a run and all its child runs (rule D6):
//! generated trees of child runs — one to three levels deep, each level a
//! `foreach … parallel N` of `child` nodes, each leaf a `parallel` block of
//! two steps — run with `--jobs 1..4`. Every command counts the commands
//! running beside it (a marker file each, in one directory); the most ever
//! counted never exceeds `--jobs`, the run ends, and every command ran
//! once. The same after `kill -9` at a generated event and resumes.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rbx_store::{SqliteStore, Store};
use support::bench::Bench;

/// A tree of child runs: `depth` levels of `child` nodes, each level a
/// loop over `width` items running `at_once` of them at once.
#[derive(Debug, Clone, Copy)]
struct Shape {
    depth: usize,
    width: usize,
    at_once: usize,
    jobs: usize,
}

/// A command that marks itself running in `in/` for a moment, writing how
/// many were marked then to `seen`, and its run and name to `ran.log`.
fn counting(name: &str) -> String {
    format!(
        "mkdir -p in; touch in/$$; ls in | wc -l >> seen; echo {{{{ run.id }}}}:{name} >> ran.log; sleep 0.3; rm in/$$"
    )
}

fn step(name: &str) -> String {
    format!(
        "step {name} \"{name}\" {{\n      run \"{}\"\n    }}",
        counting(name)
    )
}

/// The runbook of each level, `l0.runbook` (the parent) to the leaf.
fn runbooks(shape: Shape) -> Vec<(String, String)> {
    let items: Vec<String> = (0..shape.width).map(|i| format!("\"i{i}\"")).collect();
    let mut files = Vec::new();
    for level in 0..shape.depth {
        let text = format!(
            "runbook l{level} \"Level {level}\" {{\n  input items: list(string) = [{}]\n  outcome done success\n  stage s \"S\" {{\n    {}\n    foreach r in items parallel {} {{\n      child c \"Child {{{{ r }}}}\" {{\n        runbook \"l{}.runbook\"\n      }}\n    }}\n    end done\n  }}\n}}\n",
            items.join(", "),
            step("own"),
            shape.at_once,
            level + 1
        );
        files.push((format!("l{level}.runbook"), text));
    }
    let leaf = format!(
        "runbook l{} \"Leaf\" {{\n  outcome done success\n  stage s \"S\" {{\n    parallel {{\n      {}\n      {}\n    }}\n    end done\n  }}\n}}\n",
        shape.depth,
        step("a"),
        step("b")
    );
    files.push((format!("l{}.runbook", shape.depth), leaf));
    files
}

/// Every line the run's commands append, its parent's id left out: each
/// level's own step, then each leaf's two.
fn expected(shape: Shape) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    let mut runs = vec![String::new()];
    for _ in 0..shape.depth {
        let mut next = Vec::new();
        for run in &runs {
            lines.insert(format!("{run}:own"));
            for i in 0..shape.width {
                next.push(format!("{run}/s.c[i{i}]"));
            }
        }
        runs = next;
    }
    for run in runs {
        lines.insert(format!("{run}:a"));
        lines.insert(format!("{run}:b"));
    }
    lines
}

/// How many child runs the `depth`-th level has.
fn leaves(width: usize, depth: usize) -> usize {
    (0..depth).fold(1, |n, _| n * width)
}

fn bench(shape: Shape) -> Bench {
    let bench = Bench::new();
    for (name, text) in runbooks(shape).into_iter().rev() {
        bench.write(&name, &text);
    }
    let lint = bench.rbx(&["lint", "l0.runbook"], &[]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    bench
}

/// The most commands ever counted running at once.
fn most_at_once(bench: &Bench) -> usize {
    fs::read_to_string(bench.path().join("seen"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// Waits until no command a killed `rbx` left behind still runs. A
/// command it forked an instant before it died may not have marked itself
/// in `in/` yet (nor carry its marker for the resume to see, before its
/// `exec`): the wait begins once such a command has had time to start.
fn orphans_gone(bench: &Bench) {
    std::thread::sleep(Duration::from_millis(100));
    let begun = Instant::now();
    while fs::read_dir(bench.path().join("in")).is_ok_and(|mut d| d.next().is_some())
        && begun.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the run left: each run ended, what ran, within the cap.
fn check(bench: &Bench, shape: Shape, killed: bool) -> Result<(), TestCaseError> {
    let all = bench.runs();
    let parent = all
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| !id.contains('/'))
        .ok_or_else(|| TestCaseError::fail("no parent run"))?;
    for (id, status) in &all {
        prop_assert_eq!(status.as_str(), "ended:done", "{} {:?}", id, shape);
    }
    let children: usize = (1..=shape.depth).map(|k| leaves(shape.width, k)).sum();
    prop_assert_eq!(all.len(), children + 1, "one run per child node: {:?}", all);
    let ran: Vec<String> = bench
        .ran()
        .into_iter()
        .map(|l| l.strip_prefix(&parent).unwrap_or(&l).to_string())
        .collect();
    let unique: BTreeSet<String> = ran.iter().cloned().collect();
    prop_assert_eq!(unique.len(), ran.len(), "a command ran twice: {:?}", ran);
    let expected = expected(shape);
    prop_assert!(
        unique.is_subset(&expected),
        "{:?} not in {:?}",
        unique,
        expected
    );
    if !killed {
        prop_assert_eq!(&unique, &expected);
    }
    let most = most_at_once(bench);
    prop_assert!(
        most <= shape.jobs,
        "{} commands ran at once under --jobs {}: {:?}",
        most,
        shape.jobs,
        shape
    );
    if !killed && shape.jobs >= 2 {
        prop_assert!(most >= 2, "nothing ran side by side: {:?}", shape);
    }
    Ok(())
}

fn play(shape: Shape, crash_at: usize) -> Result<(), TestCaseError> {
    let jobs = shape.jobs.to_string();
    let whole = bench(shape);
    let run = whole.rbx(&["run", "l0.runbook", "--jobs", &jobs], &[]);
    prop_assert_eq!(run.status, 0, "{}", run.transcript());
    check(&whole, shape, false)?;
    let store = SqliteStore::open(&whole.path().join(".rbx")).expect("the store opens");
    let events: usize = store
        .runs()
        .expect("runs")
        .iter()
        .map(|r| store.events(&r.id).expect("events").len())
        .sum();
    let crash = (1 + crash_at % events).to_string();
    let killed = bench(shape);
    let crashed = killed.rbx(
        &["run", "l0.runbook", "--jobs", &jobs],
        &[("RBX_CRASH_AFTER_EVENTS", crash.as_str())],
    );
    prop_assert_ne!(crashed.status, 0, "crash after {}: it lived", crash);
    let mut last = None;
    for _ in 0..6 {
        orphans_gone(&killed);
        let resumed = killed.rbx(&["resume", "--jobs", &jobs, "--in-doubt", "skip"], &[]);
        let done = resumed.status == 0;
        last = Some(resumed);
        if done {
            break;
        }
    }
    check(&killed, shape, true).map_err(|e| {
        TestCaseError::fail(format!(
            "after kill -9 at {crash}: {e}\n{}",
            last.map(|o| o.transcript()).unwrap_or_default()
        ))
    })
}

fn shapes() -> impl Strategy<Value = (Shape, usize)> {
    (1..=3usize, 1..=3usize, 1..=4usize, 0..1000usize)
        .prop_filter("at most eight leaves", |(depth, width, _, _)| {
            leaves(*width, *depth) <= 8
        })
        .prop_flat_map(|(depth, width, jobs, crash_at)| {
            (1..=width).prop_map(move |at_once| {
                (
                    Shape {
                        depth,
                        width,
                        at_once,
                        jobs,
                    },
                    crash_at,
                )
            })
        })
}

#[test]
fn jobs_caps_the_commands_of_a_run_and_all_its_children() {
    let cases = std::env::var("RBX_CHILD_JOBS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&shapes(), |(shape, crash_at)| play(shape, crash_at)) {
        panic!("{e}");
    }
}

/// `--jobs 1` with children side by side: a `child` node holds no place
/// while its child runs, or the child would wait for it forever.
#[test]
fn jobs_one_with_children_side_by_side_ends() {
    let shape = Shape {
        depth: 2,
        width: 2,
        at_once: 2,
        jobs: 1,
    };
    play(shape, 17).expect("the run ends, one command at a time");
}
