//! `every INTERVAL { … }` (rules V1–V5 of the execution semantics)
//! through the real `rbx` binary. Timing is judged on `rbx test`'s
//! simulated clock, where a step that takes 100 minutes takes no time, in
//! every place a block can stand and for generated intervals and
//! durations; crashes, downtime and hostile inputs on real runs with a
//! one-second interval.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::bench::Bench;

/// Where the recurring block stands.
#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Call,
    Repeat,
    Fragment,
}

const PLACES: [Place; 7] = [
    Place::Stage,
    Place::Loop,
    Place::Parallel,
    Place::Again,
    Place::Call,
    Place::Repeat,
    Place::Fragment,
];

/// A recurring block beside a step `work`, at `place`; with the ids the
/// block's step `post` has in the run (without the iteration), one per
/// instance of the block, and an included fragment when there is one.
fn runbook(place: Place, every: &str) -> (String, Option<String>, Vec<&'static str>) {
    let block = format!(
        "every {every} at most 20 {{\n      step post \"Post a status update\" {{\n        run \"echo post\"\n      }}\n    }}\n\n    step work \"Work\" {{\n      run \"echo work\"\n    }}"
    );
    let stage = |name: &str, params: &str, end: &str| {
        format!("  stage {name}{params} \"{name}\" {{\n    {block}\n    {end}\n  }}\n")
    };
    let (body, extra, fragment, ids) = match place {
        Place::Stage => (block.clone(), String::new(), None, vec!["s.post"]),
        Place::Loop => (
            format!("foreach h in hosts {{\n    {block}\n    }}"),
            String::new(),
            None,
            vec!["s.post[a]", "s.post[b]"],
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n    foreach h in hosts {{\n    {block}\n    }}\n    step other \"Other\" {{\n      run \"echo other\"\n    }}\n    }}"
            ),
            String::new(),
            None,
            vec!["s.post[a]", "s.post[b]"],
        ),
        Place::Again => (
            "again t".to_string(),
            stage("t", "", "end t_done"),
            None,
            vec!["t#2.post"],
        ),
        Place::Call => (
            "call c(host = \"a\")\n    call c(host = \"b\")".to_string(),
            stage("c", "(host: string)", ""),
            None,
            vec!["c#1.post", "c#2.post"],
        ),
        Place::Repeat => (
            format!("repeat at most 2 until work.done {{\n    {block}\n    }}").replace(
                "run \"echo work\"",
                "run \"echo done=true\"\n        capture done: bool = stdout ~ /done=(true|false)/",
            ),
            String::new(),
            None,
            vec!["s.post[1]"],
        ),
        Place::Fragment => (
            "step first \"First\" {\n      run \"echo first\"\n    }".to_string(),
            String::new(),
            Some(format!(
                "stage f \"Fragment\" {{\n    {block}\n    then s\n  }}\n"
            )),
            vec!["f.post"],
        ),
    };
    let include = match place {
        Place::Fragment => {
            "  include \"part.runbook\"\n  stage start \"Start\" {\n    then f\n  }\n"
        }
        _ => "",
    };
    let uses_hosts = matches!(place, Place::Loop | Place::Parallel);
    let hosts = if uses_hosts {
        "  input hosts: list(string) = [\"a\", \"b\"]\n"
    } else {
        ""
    };
    let text = format!(
        "runbook r \"Every\" {{\n{hosts}{include}  stage s \"S\" {{\n    on failure -> end aborted\n    {body}\n    end done\n  }}\n{extra}}}\n"
    );
    (text, fragment, ids)
}

/// The `rbx test` scenario: every step takes a second, `work` takes
/// `work` minutes; each instance of the block ran iterations `1..=ran`
/// and not the next.
fn scenario(ids: &[&str], work: u64, ran: u64) -> String {
    let mut text = format!(
        "scenario timing \"iterations at their due times\" {{\n  default {{ exit 0 takes 1s }}\n  given work {{ takes {work}m stdout \"done=true\" }}\n  expect outcome done\n"
    );
    for id in ids {
        for k in 1..=ran {
            text.push_str(&format!("  expect ran \"{id}[{k}]\"\n"));
        }
        if ran < 20 {
            text.push_str(&format!("  expect not ran \"{id}[{}]\"\n", ran + 1));
        }
    }
    text.push_str("}\n");
    text
}

/// `count` generated pairs of an interval and the work's duration, in
/// minutes, from `seed`: intervals from 2 to 60 minutes, work from 1 to
/// 600, never a whole number of intervals (the iteration due as the work
/// ends would race it), always one case with no iteration and one with
/// many.
fn cases(seed: u64, count: usize) -> Vec<(u64, u64)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mut out = vec![(30, 10), (7, 200)];
    while out.len() < count {
        let every = 2 + next(59);
        let work = 1 + next(600);
        if work % every != 0 {
            out.push((every, work));
        }
    }
    out
}

/// V1, V2, V3: on the simulated clock, iteration `k` starts `k`
/// intervals after the block is reached, for as long as the work beside
/// it runs, and no iteration starts after it has settled — in every
/// place a block can stand, each instance on its own schedule, for
/// generated intervals and durations.
#[test]
fn iterations_run_at_their_due_times_while_the_work_beside_them_runs() {
    for place in PLACES {
        for (every, work) in cases(place as u64 + 1, 8) {
            let shape = format!("{place:?}, every {every}m beside {work}m");
            // At most 20 iterations (the block's bound), however long the
            // work beside it runs.
            let ran = (work / every).min(20);
            let bench = Bench::new();
            let (text, fragment, ids) = runbook(place, &format!("{every}m"));
            if let Some(fragment) = fragment {
                bench.write("part.runbook", &fragment);
            }
            bench.write("main.runbook", &text);
            bench.write("main.rbxtest", &scenario(&ids, work, ran));
            let test = bench.rbx(&["test", "main.rbxtest"], &[]);
            assert_eq!(test.status, 0, "{shape}\n{}\n{text}", test.transcript());
        }
    }
}

/// V5: a failing iteration takes its routes as any node's: here its
/// stage's `on failure`, which leaves the flow, so no later iteration
/// starts and the run ends `aborted` once the work beside it finished.
#[test]
fn a_failing_iteration_takes_the_stage_route() {
    let (text, _, _) = runbook(Place::Stage, "30m");
    let bench = Bench::new();
    bench.write("main.runbook", &text);
    bench.write(
        "main.rbxtest",
        "scenario fails \"the second status update fails\" {\n  default { exit 0 takes 1s }\n  given work { takes 100m }\n  given \"s.post[2]\" { exit 1 }\n  expect outcome aborted\n  expect ran \"s.post[1]\"\n  expect ran \"s.post[2]\"\n  expect not ran \"s.post[3]\"\n  expect ran work\n}\n",
    );
    let test = bench.rbx(&["test", "main.rbxtest"], &[]);
    assert_eq!(test.status, 0, "{}", test.transcript());
}

/// A real run whose block posts every second beside a step of about
/// three seconds: every post logs its iteration to `ran.log`.
const REAL: &str = r#"runbook r "Every" {
  input cadence: duration = 1s

  stage s "S" {
    every cadence at most 30 {
      step post "Post" {
        run "echo \"${RBX_RUN_STEP#*:}\" >> ran.log"
        idempotent
      }
    }

    step work "Work" {
      run "sleep 2.6"
      idempotent
    }

    end done
  }
}
"#;

/// How each tick of the run settled: `ran`, `missed` or `stopped`, and
/// how many times (the journal must say once).
fn ticks(events: &[(String, String, serde_json::Value)]) -> HashMap<String, Vec<&'static str>> {
    let mut out: HashMap<String, Vec<&'static str>> = HashMap::new();
    for (kind, node, payload) in events {
        match kind.as_str() {
            "node_finished" if node.contains(".every-") => {
                out.entry(node.clone()).or_default().push("ran");
            }
            "node_skipped" if node.contains(".every-") => {
                let how = if payload["missed"] == true {
                    "missed"
                } else {
                    "skipped"
                };
                out.entry(node.clone()).or_default().push(how);
            }
            "every_stopped" => {
                for id in payload["skipped"].as_array().into_iter().flatten() {
                    let id = id.as_str().unwrap_or_default();
                    if id.contains(".every-") {
                        out.entry(id.to_string()).or_default().push("stopped");
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// What a finished real run must say: it ended `done`; every tick
/// settled once; an iteration's post ran exactly when its tick ran (once,
/// or again only right after itself when it was in doubt); and the ticks
/// that ran, missed or stopped come in that order of iterations.
fn judge(bench: &Bench, shape: &str) {
    let (_, events) = bench.journal();
    assert!(
        events
            .iter()
            .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "done"),
        "{shape}: not ended\n{events:#?}"
    );
    let ticks = ticks(&events);
    let mut ran = bench.ran();
    ran.dedup();
    for k in 1..=30 {
        let tick = format!("s.every-post[{k}]");
        let how = ticks.get(&tick).cloned().unwrap_or_default();
        assert_eq!(how.len(), 1, "{shape}: {tick} settled {how:?}");
        let post = format!("s.post[{k}]");
        let times = ran.iter().filter(|l| **l == post).count();
        let expected = usize::from(how[0] == "ran");
        assert_eq!(times, expected, "{shape}: {post} {how:?} in {ran:?}");
    }
    let first_stopped = (1..=30).find(|k| ticks[&format!("s.every-post[{k}]")][0] == "stopped");
    assert!(first_stopped.is_some(), "{shape}: the block never stopped");
}

/// S1, S2 with V2: `kill -9` after every event of a run, then `rbx
/// resume` until it ends: no iteration is lost or run twice, and each
/// tick settles once.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_an_iteration() {
    let whole = {
        let bench = Bench::new();
        bench.write("main.runbook", REAL);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        judge(&bench, "without a crash");
        bench.journal().1.len()
    };
    for crash in 1..whole {
        let shape = format!("crash after {crash}");
        let bench = Bench::new();
        bench.write("main.runbook", REAL);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(crashed.status, 0, "{shape}: it should have died");
        for _ in 0..5 {
            let (run, _) = bench.journal();
            let resumed = bench.rbx(&["resume", &run], &[]);
            if resumed.status == 0 {
                break;
            }
            // A step of the killed run may still be running (S2).
            std::thread::sleep(Duration::from_millis(500));
        }
        judge(&bench, &shape);
    }
}

/// V4: the run is down for several intervals. At the resume, the
/// iterations whose interval passed are recorded as missed — none of
/// them runs — and the run goes on at the next due time; `rbx status`
/// and `rbx report` name the missed ones.
#[test]
fn iterations_due_while_the_run_was_down_are_missed_not_run_in_a_burst() {
    let bench = Bench::new();
    bench.write("main.runbook", REAL);
    // Killed once the first iteration's post finished and the second is
    // due: the work step is still sleeping.
    let (whole, index) = {
        let probe = Bench::new();
        probe.write("main.runbook", REAL);
        let run = probe.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        let (_, events) = probe.journal();
        let second = events
            .iter()
            .position(|(k, n, _)| k == "iteration_due" && n == "s.every-post[2]")
            .expect("the second iteration is due");
        (events.len(), second + 1)
    };
    assert!(index < whole);
    let after = index.to_string();
    let crashed = bench.rbx(
        &["run", "main.runbook"],
        &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
    );
    assert_ne!(crashed.status, 0, "{}", crashed.transcript());
    std::thread::sleep(Duration::from_millis(4500));
    let (run, _) = bench.journal();
    let resumed = bench.rbx(&["resume", &run], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    judge(&bench, "after a long downtime");
    let (_, events) = bench.journal();
    let ticks = ticks(&events);
    let missed: Vec<usize> = (1..=30)
        .filter(|k| ticks[&format!("s.every-post[{k}]")][0] == "missed")
        .collect();
    assert!(
        missed.len() >= 3 && missed[0] == 2,
        "iterations 2, 3, 4 at least were due while down: {missed:?}"
    );
    let resumed_at = events
        .iter()
        .position(|(k, _, _)| k == "run_resumed")
        .expect("resumed");
    let burst = events[resumed_at..]
        .iter()
        .filter(|(k, n, _)| k == "node_finished" && n.starts_with("s.every-"))
        .count();
    assert!(
        burst <= 4,
        "after the resume, the iterations run one per interval ({burst} ran)"
    );
    let status = bench.rbx(&["status", &run], &[]);
    assert!(
        status.stdout.contains("s.every-post[2]  missed, due"),
        "{}",
        status.stdout
    );
    let report = bench.rbx(&["report", &run], &[]);
    assert!(
        report
            .stdout
            .contains("| Every cadence (iteration 2) | skipped (missed: due"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("missed: iteration 2 was due"),
        "the timeline says which were missed\n{}",
        report.stdout
    );
}

/// Hostile intervals: one shorter than a second, zero, or not a
/// duration is refused before anything is recorded.
#[test]
fn an_interval_below_a_second_refuses_the_run() {
    for value in ["0s", "500ms", "999ms"] {
        let bench = Bench::new();
        bench.write("main.runbook", REAL);
        let set = format!("cadence={value}");
        let run = bench.rbx(&["run", "main.runbook", "--set", &set], &[]);
        assert_ne!(run.status, 0, "{value}: {}", run.transcript());
        assert!(
            run.stderr
                .contains("it needs an interval of a second or more"),
            "{value}: {}",
            run.transcript()
        );
        assert!(
            !bench.path().join(".rbx").join("rbx.db").exists() || {
                let store =
                    rbx_store::SqliteStore::open(&bench.path().join(".rbx")).expect("opens");
                rbx_store::Store::runs(&store).expect("runs").is_empty()
            }
        );
    }
}

/// What `rbx plan` and `rbx status` say of a block: its interval and
/// what it runs beside; each iteration's due time and the next one.
#[test]
fn plan_and_status_show_the_schedule() {
    let bench = Bench::new();
    bench.write("main.runbook", REAL);
    let plan = bench.rbx(&["plan", "main.runbook"], &[]);
    assert_eq!(plan.status, 0, "{}", plan.transcript());
    insta::assert_snapshot!("every_plan", plan.stdout);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let (id, _) = bench.journal();
    let status = bench.rbx(&["status", &id], &[]);
    assert!(
        status.stdout.contains("done        s.every-post[1]  due "),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("s.post[30]"),
        "iterations that never came are left out\n{}",
        status.stdout
    );
}

/// V3 with R2: a block on a branch not taken (here a `foreach` whose
/// `when` does not hold) is skipped whole, each instance's iterations in
/// one event, none of them shown by `rbx status`.
#[test]
fn a_block_no_control_reaches_is_skipped_in_one_event_per_instance() {
    let text = r#"runbook r "Not taken" {
  input hosts: list(string) = ["a", "b"]
  input on: bool = false

  stage s "S" {
    foreach h in hosts when on {
      every 1s {
        step post "Post" {
          run "echo post"
        }
      }

      step work "Work" {
        run "echo work"
      }
    }

    step after "After" {
      run "echo after"
    }

    end done
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let (id, events) = bench.journal();
    let stopped: Vec<&serde_json::Value> = events
        .iter()
        .filter(|(k, _, _)| k == "every_stopped")
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(stopped.len(), 2, "one event per host: {events:#?}");
    for payload in stopped {
        assert_eq!(
            payload["skipped"].as_array().map(Vec::len),
            Some(200),
            "100 iterations of a tick and a step: {payload}"
        );
    }
    assert!(
        !events
            .iter()
            .any(|(k, n, _)| k == "node_skipped" && n.contains("post")),
        "{events:#?}"
    );
    let status = bench.rbx(&["status", &id], &[]);
    assert!(!status.stdout.contains("s.post"), "{}", status.stdout);
}

/// A hostile but valid interval, the longest a duration holds: the first
/// iteration is due in some 292 million years, so none runs, the run
/// ends when the work does, and the views show the due time.
#[test]
fn the_longest_interval_runs_no_iteration_and_ends_with_the_work() {
    let bench = Bench::new();
    bench.write("main.runbook", REAL);
    let run = bench.rbx(
        &[
            "run",
            "main.runbook",
            "--set",
            "cadence=9223372036854775807ms",
        ],
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.transcript());
    assert!(bench.ran().is_empty(), "{:?}", bench.ran());
    let (id, events) = bench.journal();
    assert!(
        events.iter().any(|(k, n, p)| k == "iteration_due"
            && n == "s.every-post[1]"
            && p["due"] == i64::MAX),
        "{events:#?}"
    );
    let report = bench.rbx(&["report", &id], &[]);
    assert_eq!(report.status, 0, "{}", report.transcript());
    assert!(report.stdout.contains("292278994-"), "{}", report.stdout);
}

/// V3 with V4 and P1: a run paused for a person is not driven, so the
/// iterations due while it waited are missed; once the answer settled
/// the work beside the block, the later ones are stopped, and none runs.
#[test]
fn iterations_due_while_a_person_is_awaited_are_missed() {
    let text = r#"runbook r "Paused" {
  stage s "S" {
    every 1s at most 10 {
      step post "Post" {
        run "echo \"${RBX_RUN_STEP#*:}\" >> ran.log"
      }
    }

    manual cause "Find the cause" {
      evidence known "Is the cause known?": bool
    }

    end done
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook", "--non-interactive"], &[]);
    assert_eq!(run.status, 3, "it pauses\n{}", run.transcript());
    let (id, _) = bench.journal();
    let status = bench.rbx(&["status", &id], &[]);
    assert!(
        status
            .stdout
            .contains("next iteration: s.every-post[1] due"),
        "{}",
        status.stdout
    );
    std::thread::sleep(Duration::from_millis(3500));
    let confirm = bench.rbx(
        &["confirm", &id, "s.cause", "--evidence", "known=true"],
        &[],
    );
    assert_eq!(confirm.status, 0, "{}", confirm.transcript());
    let resumed = bench.rbx(&["resume", &id], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert!(bench.ran().is_empty(), "{:?}", bench.ran());
    let (_, events) = bench.journal();
    let ticks = ticks(&events);
    let how: Vec<&str> = (1..=10)
        .map(|k| ticks[&format!("s.every-post[{k}]")][0])
        .collect();
    let missed = how.iter().take_while(|h| **h == "missed").count();
    assert!(
        (3..=4).contains(&missed) && how[missed..].iter().all(|h| *h == "stopped"),
        "due while paused: missed; after the answer: stopped — {how:?}"
    );
}
