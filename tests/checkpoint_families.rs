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
    /// The body's steps; `true` for the one that captures a value.
    body: Vec<bool>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        1usize..4,
        prop::option::of(1usize..3),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 1..3),
    )
        .prop_map(|(hosts, zones, parallel, body)| Shape {
            hosts,
            zones,
            parallel,
            body,
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

/// Whether some checkpoint of the journal holds a family with items.
fn has_families(journal: &Journal) -> bool {
    journal.iter().any(|(kind, _, payload)| {
        kind == "checkpoint"
            && payload["format"] == 3
            && payload["state"]["nodes"]["families"]
                .as_array()
                .is_some_and(|families| !families.is_empty())
    })
}

fn check(shape: &Shape) {
    let text = runbook(shape);
    let whole = Bench::new();
    whole.write("main.runbook", &text);
    let run = whole.rbx(&["run", "main.runbook"], &[EVERY_EVENT]);
    assert_eq!(run.status, 0, "{shape:?}\n{}", run.transcript());
    let (_, journal) = whole.journal();
    assert!(has_families(&journal), "{shape:?}: no families written");
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
    runner
        .run(&shape(), |shape| {
            check(&shape);
            Ok(())
        })
        .expect("every shape resumes to the record of the run never killed");
}
