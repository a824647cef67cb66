//! A stage's own `finally` (rules Y1–Y4) on generated runbooks: stages
//! with and without a clean-up, run in place, again (`again`), per item
//! (`foreach`), as a called instance (`call`), with a condition of its own
//! or none; left by `then`, by a route, by a tolerated failure, by a
//! failure that fails the run and by a cancel while a person is waited
//! for; clean-ups that fail. For each, through the real `rbx` binary, the journal must
//! show what the rules promise:
//!
//! - every instance that started and has a clean-up cleans up exactly once
//!   (Y1, Y2), and one that never started never does;
//! - nothing of an instance starts after its clean-up began (Y2);
//! - while a clean-up runs, nothing but clean-ups starts (Y2, Y3: control
//!   leaving the instance waits for it; these runbooks run one thing at a
//!   time);
//! - every clean-up node runs, and the run ends only after them all (Y3);
//! - a clean-up that failed fails the run (X3);
//! - `kill -9` after any event, then `rbx resume` until the run ends,
//!   leaves the same record as the run that was never killed (S1, S2).
//!
//! Cases: `RBX_FINALLY_CASES` (default 40).

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::bench::{Bench, Journal, settled};

#[derive(Debug, Clone)]
enum Item {
    /// A step that succeeds or fails, with its own failure route or none.
    Step { fail: bool, route: Option<Route> },
    /// A manual step that needs an acknowledgement: the run pauses there,
    /// and is answered with `rbx confirm` (or cancelled, the first time,
    /// when the spec says so).
    Manual,
    /// `foreach h in hosts [tolerate N] { … }`.
    Foreach {
        tolerate: Option<u8>,
        body: Vec<Item>,
    },
    /// `again sK` of a stage this many before, with `when flag` or `when
    /// not flag` or no condition.
    Again {
        back: u8,
        route: Option<Route>,
        when: Option<bool>,
    },
    /// `call p(bad = …)`: an instance of the stage with parameters, which
    /// has a clean-up of its own.
    Call {
        bad: bool,
        route: Option<Route>,
        when: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Continue,
    End,
}

#[derive(Debug, Clone)]
struct Stage {
    items: Vec<Item>,
    /// The clean-up's steps, each failing or not.
    cleanup: Option<Vec<bool>>,
    /// `on failure -> end routed` on the stage.
    routed: bool,
}

#[derive(Debug, Clone)]
struct Spec {
    stages: Vec<Stage>,
    /// The runbook's own `finally`, one step.
    finally: bool,
    /// The input `flag` instances' conditions read.
    flag: bool,
    /// The first time the run pauses for a person, it is cancelled.
    cancel: bool,
}

fn route() -> impl Strategy<Value = Option<Route>> {
    prop::option::weighted(0.4, prop_oneof![Just(Route::Continue), Just(Route::End)])
}

fn when() -> impl Strategy<Value = Option<bool>> {
    prop::option::weighted(0.3, any::<bool>())
}

fn leaf() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (prop::bool::weighted(0.3), route()).prop_map(|(fail, route)| Item::Step { fail, route }),
        2 => Just(Item::Manual),
        2 => (1..3u8, route(), when())
            .prop_map(|(back, route, when)| Item::Again { back, route, when }),
        2 => (prop::bool::weighted(0.3), route(), when())
            .prop_map(|(bad, route, when)| Item::Call { bad, route, when }),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            3 => leaf(),
            1 => (prop::option::weighted(0.4, 0..2u8), prop::collection::vec(inner, 1..3))
                .prop_map(|(tolerate, body)| Item::Foreach { tolerate, body }),
        ]
    })
}

fn spec() -> impl Strategy<Value = Spec> {
    let stage = (
        prop::collection::vec(item(), 1..4),
        prop::option::weighted(0.7, prop::collection::vec(prop::bool::weighted(0.15), 1..3)),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(items, cleanup, routed)| Stage {
            items,
            cleanup,
            routed,
        });
    (
        prop::collection::vec(stage, 1..4),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.4),
    )
        .prop_map(|(stages, finally, flag, cancel)| Spec {
            stages,
            finally,
            flag,
            cancel,
        })
}

/// A step that logs its own node id, and fails when told to.
fn step(t: &mut String, pad: &str, id: &str, fail: bool, route: Option<Route>) {
    let exit = if fail { "; exit 1" } else { "" };
    let _ = writeln!(t, "{pad}step {id} \"{id}\" {{");
    let _ = writeln!(
        t,
        "{pad}  run \"echo ${{RBX_RUN_STEP#*:}} >> ran.log{exit}\""
    );
    match route {
        Some(Route::Continue) => {
            let _ = writeln!(t, "{pad}  on failure -> continue");
        }
        Some(Route::End) => {
            let _ = writeln!(t, "{pad}  on failure -> end routed");
        }
        None => {}
    }
    let _ = writeln!(t, "{pad}}}");
}

fn condition(when: Option<bool>) -> &'static str {
    match when {
        Some(true) => " when flag",
        Some(false) => " when not flag",
        None => "",
    }
}

fn routes(route: Option<Route>, pad: &str) -> String {
    match route {
        Some(Route::Continue) => format!(" {{\n{pad}  on failure -> continue\n{pad}}}"),
        Some(Route::End) => format!(" {{\n{pad}  on failure -> end routed\n{pad}}}"),
        None => String::new(),
    }
}

struct Writer {
    next: usize,
}

impl Writer {
    fn items(&mut self, t: &mut String, pad: &str, stage: usize, items: &[Item]) {
        for item in items {
            match item {
                Item::Step { fail, route } => {
                    self.next += 1;
                    step(t, pad, &format!("x{}", self.next), *fail, *route);
                }
                Item::Manual => {
                    self.next += 1;
                    let id = format!("m{}", self.next);
                    let _ = writeln!(
                        t,
                        "{pad}manual {id} \"{id}\" {{\n{pad}  acknowledge\n{pad}}}"
                    );
                }
                Item::Foreach { tolerate, body } => {
                    let tolerate = tolerate.map_or(String::new(), |n| format!(" tolerate {n}"));
                    let _ = writeln!(t, "{pad}foreach h in hosts{tolerate} {{");
                    self.items(t, &format!("{pad}  "), stage, body);
                    let _ = writeln!(t, "{pad}}}");
                }
                Item::Again { back, route, when } => match stage.checked_sub(usize::from(*back)) {
                    Some(to) => {
                        let (when, routes) = (condition(*when), routes(*route, pad));
                        let _ = writeln!(t, "{pad}again s{to}{when}{routes}");
                    }
                    None => {
                        self.next += 1;
                        step(t, pad, &format!("x{}", self.next), false, *route);
                    }
                },
                Item::Call { bad, route, when } => {
                    let (when, routes) = (condition(*when), routes(*route, pad));
                    let _ = writeln!(t, "{pad}call p(bad = {bad}){when}{routes}");
                }
            }
        }
    }
}

fn render(spec: &Spec) -> String {
    let mut t = String::from(
        "runbook g \"Generated clean-ups\" {\n  input hosts: list(string) = [\"a\", \"b\"]\n",
    );
    let _ = writeln!(t, "  input flag: bool = {}", spec.flag);
    let mut w = Writer { next: 0 };
    let n = spec.stages.len();
    for (i, stage) in spec.stages.iter().enumerate() {
        let _ = writeln!(t, "\n  stage s{i} \"Stage {i}\" {{");
        if stage.routed {
            t.push_str("    on failure -> end routed\n");
        }
        w.items(&mut t, "    ", i, &stage.items);
        if let Some(cleanup) = &stage.cleanup {
            t.push_str("    finally {\n");
            for (k, fail) in cleanup.iter().enumerate() {
                step(&mut t, "      ", &format!("c{i}_{k}"), *fail, None);
            }
            t.push_str("    }\n");
        }
        if i + 1 < n {
            let _ = writeln!(t, "    then s{}", i + 1);
        } else {
            t.push_str("    end done\n");
        }
        t.push_str("  }\n");
    }
    t.push_str("\n  stage p(bad: bool) \"Called\" {\n");
    t.push_str("    step w \"Work\" {\n      run \"echo ${RBX_RUN_STEP#*:} >> ran.log; test {{ bad }} = false\"\n    }\n");
    t.push_str("    finally {\n");
    // The clean-up reads the instance's parameter and its work's record,
    // as the instance's own nodes do.
    t.push_str(
        "      step pc \"pc\" {\n        run \"echo ${RBX_RUN_STEP#*:} {{ bad }} {{ w.status }} >> ran.log\"\n      }\n",
    );
    t.push_str("    }\n  }\n");
    if spec.finally {
        t.push_str("\n  finally {\n");
        step(&mut t, "    ", "rc", false, None);
        t.push_str("  }\n");
    }
    t.push_str("}\n");
    t
}

/// Drives the run to its end: `rbx run`, then, while it was cut short,
/// `rbx resume` (a step in doubt runs again); while it waits for a person,
/// `rbx confirm` of the node it waits for and `rbx resume` — or, the first
/// time when `cancel` says so, `rbx cancel`.
fn drive(bench: &Bench, crash: Option<usize>, cancel: bool) -> (String, Journal) {
    bench.start(crash);
    let mut cancelled = false;
    for _ in 0..60 {
        let status = bench.status();
        if status.starts_with("ended") || status == "failed" {
            break;
        }
        let (run, events) = bench.journal();
        if status == "paused" {
            if cancel && !cancelled {
                cancelled = true;
                bench.rbx(
                    &["cancel", &run, "--reason", "drill", "--non-interactive"],
                    &[],
                );
                continue;
            }
            let waited = events
                .iter()
                .rev()
                .find(|(k, _, _)| k == "run_paused")
                .map(|(_, n, _)| n.clone())
                .unwrap_or_default();
            bench.rbx(&["confirm", &run, &waited], &[]);
        }
        bench.rbx(
            &["resume", &run, "--in-doubt", "rerun", "--non-interactive"],
            &[],
        );
    }
    let (_, events) = bench.journal();
    (bench.status(), events)
}

/// `s0#2` and `[a]` from an instance as `cleanup_started` names it
/// (`s0#2[a]`).
fn split(instance: &str) -> (&str, &str) {
    match instance.find('[') {
        Some(at) => instance.split_at(at),
        None => (instance, ""),
    }
}

/// Whether node `id` is one of the instance's own nodes (not its
/// clean-up's), and whether it is one of its clean-up's.
fn belongs(id: &str, instance: &str) -> (bool, bool) {
    let (base, items) = split(instance);
    let Some(rest) = id.strip_prefix(base).and_then(|r| r.strip_prefix('.')) else {
        return (false, false);
    };
    let Some(name) = rest.strip_suffix(items) else {
        return (false, false);
    };
    if name.contains('[') {
        return (false, false);
    }
    match name.strip_prefix("finally.") {
        Some(_) => (false, true),
        None => (true, false),
    }
}

/// The instances that started (their start node succeeded) and whose
/// stage has a clean-up.
fn started_with_cleanup(spec: &Spec, events: &Journal) -> Vec<String> {
    events
        .iter()
        .filter(|(k, _, p)| k == "node_finished" && p["status"] == "succeeded")
        .map(|(_, n, _)| n.clone())
        .filter(|n| !n.contains('.'))
        .filter(|n| {
            let stage = n.split(['#', '[']).next().unwrap_or(n);
            match stage
                .strip_prefix('s')
                .and_then(|i| i.parse::<usize>().ok())
            {
                Some(i) => spec.stages[i].cleanup.is_some(),
                None => stage == "p",
            }
        })
        .collect()
}

fn check(spec: &Spec, status: &str, events: &Journal) -> Result<(), String> {
    if !(status.starts_with("ended") || status == "failed") {
        return Err(format!("the run did not end: {status}"));
    }
    let started = started_with_cleanup(spec, events);
    let mut cleaned: BTreeMap<String, usize> = BTreeMap::new();
    for (at, (kind, _, payload)) in events.iter().enumerate() {
        if kind != "cleanup_started" {
            continue;
        }
        let instance = payload["stage"].as_str().unwrap_or_default().to_string();
        *cleaned.entry(instance.clone()).or_default() += 1;
        // Y2: nothing of the instance starts once its clean-up began.
        if let Some((_, late, _)) = events[at..]
            .iter()
            .find(|(k, n, _)| k == "node_started" && belongs(n, &instance).0)
        {
            return Err(format!("{late} started after {instance}'s clean-up began"));
        }
        // Every clean-up node runs after it began; until the last has
        // finished, only clean-ups start.
        let own: Vec<usize> = events[at..]
            .iter()
            .enumerate()
            .filter(|(_, (k, n, _))| k == "node_finished" && belongs(n, &instance).1)
            .map(|(i, _)| at + i)
            .collect();
        let Some(&last) = own.last() else {
            return Err(format!("{instance}'s clean-up began but none of it ran"));
        };
        if let Some((_, other, _)) = events[at..last].iter().find(|(k, n, _)| {
            k == "node_started" && !n.contains(".finally.") && !n.starts_with("finally.")
        }) {
            return Err(format!("{other} started while {instance} cleaned up"));
        }
        if let Some(end) = events
            .iter()
            .position(|(k, _, _)| k == "run_ended" || k == "run_failed")
        {
            if end < last {
                return Err(format!("the run ended before {instance}'s clean-up"));
            }
        }
    }
    for instance in &started {
        match cleaned.get(instance) {
            Some(1) => {}
            Some(n) => return Err(format!("{instance} cleaned up {n} times")),
            None => return Err(format!("{instance} started and never cleaned up")),
        }
    }
    if let Some(extra) = cleaned.keys().find(|i| !started.contains(i)) {
        return Err(format!("{extra} cleaned up without having started"));
    }
    // Only the clean-up steps written to fail fail: `cI_K` when its flag
    // says so, never the called stage's `pc`.
    for (_, node, _) in events.iter().filter(|(k, n, p)| {
        k == "node_finished" && n.contains(".finally.") && p["status"] == "failed"
    }) {
        let name = node.rsplit('.').next().unwrap_or_default();
        let name = name.split('[').next().unwrap_or_default();
        let written_to_fail = name
            .strip_prefix('c')
            .and_then(|ik| ik.split_once('_'))
            .and_then(|(i, k)| Some((i.parse::<usize>().ok()?, k.parse::<usize>().ok()?)))
            .and_then(|(i, k)| spec.stages.get(i)?.cleanup.as_ref()?.get(k).copied())
            .unwrap_or(false);
        if !written_to_fail {
            return Err(format!("the clean-up step {node} failed"));
        }
    }
    let cleanup_failed = events.iter().any(|(k, n, p)| {
        k == "node_finished"
            && (n.contains(".finally.") || n.starts_with("finally."))
            && p["status"] == "failed"
    });
    if cleanup_failed && status != "failed" {
        return Err(format!("a clean-up failed and the run is `{status}`"));
    }
    let cancelled = events.iter().any(|(k, _, _)| k == "run_cancelled");
    if cancelled && !(status == "ended:cancelled" || status == "failed") {
        return Err(format!("a cancelled run is `{status}`"));
    }
    Ok(())
}

/// What a run's record says of each node at its end, and how it ended.
fn record(status: &str, events: &Journal) -> (String, BTreeMap<String, String>) {
    (status.to_string(), settled(events))
}

/// One case: the run never killed follows the rules, and so does the run
/// killed after event `crash_at` (modulo its length) and resumed, which
/// ends with the same record.
fn play(spec: &Spec, crash_at: usize) -> Result<(), TestCaseError> {
    let text = render(spec);
    let whole = Bench::new();
    whole.write("main.runbook", &text);
    let (status, events) = drive(&whole, None, spec.cancel);
    check(spec, &status, &events)
        .map_err(|why| TestCaseError::fail(format!("{why}\n{text}\n{events:#?}")))?;
    let crash = 1 + crash_at % events.len().max(1);
    let killed = Bench::new();
    killed.write("main.runbook", &text);
    let (status_k, events_k) = drive(&killed, Some(crash), spec.cancel);
    check(spec, &status_k, &events_k).map_err(|why| {
        TestCaseError::fail(format!(
            "after kill -9 at {crash}: {why}\n{text}\n{events_k:#?}"
        ))
    })?;
    prop_assert_eq!(
        record(&status, &events),
        record(&status_k, &events_k),
        "kill -9 after event {} changed the record\n{}",
        crash,
        text
    );
    Ok(())
}

#[test]
fn generated_clean_ups_follow_the_rules_and_survive_kill_nine() {
    let cases = std::env::var("RBX_FINALLY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(spec(), 1..60usize), |(spec, crash_at)| {
        play(&spec, crash_at)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn stage(items: Vec<Item>, cleanup: Option<Vec<bool>>, routed: bool) -> Stage {
    Stage {
        items,
        cleanup,
        routed,
    }
}

/// Found by the generator: the last item of a stage with a clean-up is an
/// `again` instance, so the edge out of that instance's last node leaves
/// the stage too. The next stage waited for the instance's clean-up (it
/// has none) but not for the stage's, and ran beside it.
#[test]
fn leaving_a_stage_from_inside_an_instance_it_runs_waits_for_its_clean_up() {
    let spec = Spec {
        stages: vec![
            stage(
                vec![Item::Step {
                    fail: false,
                    route: None,
                }],
                None,
                false,
            ),
            stage(
                vec![Item::Again {
                    back: 1,
                    route: None,
                    when: None,
                }],
                Some(vec![false]),
                false,
            ),
            stage(
                vec![Item::Step {
                    fail: false,
                    route: None,
                }],
                None,
                false,
            ),
        ],
        finally: false,
        flag: false,
        cancel: false,
    };
    for crash_at in [3, 8, 11] {
        play(&spec, crash_at).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Found by the generator: a called stage with a clean-up inside a loop
/// that its flow left before the loop. The first item's instance never
/// started, so its clean-up never runs; the loop counted that item
/// unfinished for ever, no later item was ever skipped, and the run stuck
/// with its outcome unreached.
#[test]
fn a_clean_up_that_never_runs_does_not_hold_up_its_loop() {
    for tolerate in [None, Some(0)] {
        let spec = Spec {
            stages: vec![stage(
                vec![
                    Item::Step {
                        fail: true,
                        route: None,
                    },
                    Item::Foreach {
                        tolerate,
                        body: vec![Item::Call {
                            bad: false,
                            route: None,
                            when: None,
                        }],
                    },
                ],
                None,
                true,
            )],
            finally: false,
            flag: false,
            cancel: false,
        };
        for crash_at in [2, 4] {
            play(&spec, crash_at).unwrap_or_else(|e| panic!("{tolerate:?}: {e}"));
        }
    }
}

/// Found by the generator: a stage's clean-up failed when the stage was
/// left, and the run was cancelled later, with no clean-up left to run.
/// The cancel ended the run `cancelled` at once, forgetting the failure;
/// it fails the run, as a clean-up failing after the cancel does (Y3, X3).
#[test]
fn a_clean_up_that_failed_before_a_cancel_fails_the_run() {
    let spec = Spec {
        stages: vec![
            stage(
                vec![Item::Step {
                    fail: false,
                    route: None,
                }],
                Some(vec![true]),
                false,
            ),
            stage(vec![Item::Manual], None, false),
        ],
        finally: false,
        flag: false,
        cancel: true,
    };
    for crash_at in [1, 5] {
        play(&spec, crash_at).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Found by hand: a called stage's clean-up could not read the
/// parameters of the instance it cleans up (`host` has no value yet), so
/// it failed and failed the run — in a loop item too.
#[test]
fn a_called_stages_clean_up_reads_its_parameters() {
    let call = Item::Call {
        bad: false,
        route: None,
        when: None,
    };
    let spec = Spec {
        stages: vec![stage(
            vec![
                call.clone(),
                Item::Foreach {
                    tolerate: None,
                    body: vec![call],
                },
            ],
            None,
            false,
        )],
        finally: false,
        flag: false,
        cancel: false,
    };
    play(&spec, 3).unwrap_or_else(|e| panic!("{e}"));
}
