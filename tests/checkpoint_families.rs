//! Checkpoints of format 3, which write a loop's finished items as
//! families of numbers, on generated loop shapes: a list captured by a
//! step, a `foreach` over it (with `parallel 2` or not), maybe a second
//! `foreach` inside it over another captured list, steps in the body of
//! which one captures a value, and a step after the loop that reads it.
//! Each run writes a checkpoint after every event; it is killed (as by
//! `kill -9`) after each of its events in turn and resumed until it ends.
//! Each must end as the run never killed did, with the same record of
//! every node, no step run again unless the journal says it was in doubt,
//! and `rbx verify` must find every checkpoint equal to the replay of the
//! events before it.
//!
//! Cases: `RBX_FAMILY_CASES` (default 4).

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::bench::{Bench, Journal, settled};

/// A checkpoint after every event, so that every kill falls just before,
/// on or just after one.
const EVERY_EVENT: (&str, &str) = ("RBX_CHECKPOINT_EVERY", "1");

#[derive(Debug, Clone)]
struct Shape {
    hosts: usize,
    /// A second loop inside the first, over this many zones.
    zones: Option<usize>,
    parallel: bool,
    /// The body's steps, `true` for one that captures a value; the first
    /// never does, so that the loop's items make families.
    body: Vec<bool>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        2usize..6,
        prop::option::of(1usize..3),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 0..2),
    )
        .prop_map(|(hosts, zones, parallel, more)| Shape {
            hosts,
            zones,
            parallel,
            body: std::iter::once(false).chain(more).collect(),
        })
}

/// A step that captures the list `seq` writes: `0` to `count - 1`.
fn lister(id: &str, count: usize) -> String {
    format!(
        "    step {id} \"List {id}\" {{\n      run \"seq 0 {}\"\n      \
         capture list: list(int) = stdout lines\n      idempotent\n    }}\n",
        count - 1
    )
}

fn runbook(shape: &Shape) -> String {
    let mut vars = "{{ h }}".to_string();
    if shape.zones.is_some() {
        vars.push_str("-{{ z }}");
    }
    let mut body = String::new();
    for (i, captures) in shape.body.iter().enumerate() {
        let capture = if *captures {
            "\n        capture v: string = stdout ~ /(b.*)/"
        } else {
            ""
        };
        body.push_str(&format!(
            "      step b{i} \"Body {i} {vars}\" {{\n        run \"echo b{i}-{vars} | tee -a ran.log\"{capture}\n        idempotent\n      }}\n"
        ));
    }
    if shape.zones.is_some() {
        body = format!("      foreach z in zones.list {{\n{body}      }}\n");
    }
    let parallel = if shape.parallel { " parallel 2" } else { "" };
    let mut text = String::from("runbook fam \"Families\" {\n  stage s \"S\" {\n");
    text.push_str(&lister("hosts", shape.hosts));
    if let Some(zones) = shape.zones {
        text.push_str(&lister("zones", zones));
    }
    text.push_str(&format!(
        "    foreach h in hosts.list{parallel} {{\n{body}    }}\n    step after \"After\" {{\n      run \"echo after | tee -a ran.log\"\n      idempotent\n    }}\n    end done\n  }}\n}}\n"
    ));
    text
}

/// How many times the journal says each node was in doubt.
fn in_doubt(journal: &Journal) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for (kind, node, _) in journal {
        if kind == "in_doubt" {
            *count.entry(node.clone()).or_default() += 1;
        }
    }
    count
}

/// Whether a resume of the journal read a checkpoint with families: one
/// comes before its first `run_resumed`.
fn resumed_from_families(journal: &Journal) -> bool {
    journal
        .iter()
        .take_while(|(kind, _, _)| kind != "run_resumed")
        .any(|(kind, _, payload)| {
            kind == "checkpoint"
                && payload["format"] == 3
                && payload["state"]["nodes"]["families"]
                    .as_array()
                    .is_some_and(|families| !families.is_empty())
        })
}

/// Kills the run of `shape` after each of its events and resumes it;
/// returns how many of those resumes read a checkpoint with families.
fn check(shape: &Shape) -> usize {
    let text = runbook(shape);
    let whole = Bench::new();
    whole.write("main.runbook", &text);
    let run = whole.rbx(&["run", "main.runbook"], &[EVERY_EVENT]);
    assert_eq!(run.status, 0, "{shape:?}\n{}", run.transcript());
    let (_, journal) = whole.journal();
    let mut from_families = 0;
    let expected = settled(&journal);
    let mut lines = whole.ran_sorted();
    lines.dedup();
    for crash in 1..journal.len() {
        let bench = Bench::new();
        bench.write("main.runbook", &text);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[EVERY_EVENT, ("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(crashed.status, 0, "{shape:?}, crash after {crash}");
        for _ in 0..3 {
            let (run, _) = bench.journal();
            if bench.rbx(&["resume", &run], &[EVERY_EVENT]).status == 0 {
                break;
            }
        }
        let (run, events) = bench.journal();
        from_families += usize::from(resumed_from_families(&events));
        let at = format!("{shape:?}, crash after {crash}");
        assert_eq!(bench.status(), "ended:done", "{at}");
        assert_eq!(settled(&events), expected, "{at}: the record");
        let doubted = in_doubt(&events);
        let ran = bench.ran_sorted();
        for line in &lines {
            let times = ran.iter().filter(|l| *l == line).count();
            let node = line.split_once('-').map_or(line.as_str(), |(b, _)| b);
            let reruns: usize = doubted
                .iter()
                .filter(|(id, _)| id.contains(&format!(".{node}")))
                .map(|(_, n)| n)
                .sum();
            assert!(
                times >= 1 && times <= 1 + reruns,
                "{at}: `{line}` ran {times} times, {reruns} in doubt"
            );
        }
        let verified = bench.rbx(&["verify", &run], &[]);
        assert_eq!(verified.status, 0, "{at}: {}", verified.transcript());
    }
    from_families
}

#[test]
fn a_run_killed_anywhere_resumes_from_families_to_the_record_of_one_never_killed() {
    let cases = std::env::var("RBX_FAMILY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let from_families = std::cell::Cell::new(0);
    runner
        .run(&shape(), |shape| {
            from_families.set(from_families.get() + check(&shape));
            Ok(())
        })
        .expect("every shape resumes to the record of the run never killed");
    assert!(
        from_families.get() > 0,
        "no resume read a checkpoint with families"
    );
}
