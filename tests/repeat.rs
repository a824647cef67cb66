//! `repeat at most N until EXPR` (rules U1-U3 of the execution semantics)
//! through the real `rbx` binary: in every place a loop can stand — a
//! stage, a `foreach` item, a `parallel` branch, an `again` instance, an
//! included fragment — for every iteration its condition first holds at,
//! and never; after `kill -9` at every event; and with people answering
//! iterations out of order through `rbx confirm`.

mod support;

use support::bench::Bench;

/// The bound every generated loop has.
const BOUND: usize = 3;

/// Where the loop stands.
#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Fragment,
}

/// The loop's probe: it logs its own node id and finds the cause in the
/// iteration `found` (never when 0), read from its id, so that running it
/// again after a crash finds the same.
fn probe(found: usize) -> String {
    format!(
        r#"step probe "Probe" {{
        run """
          id="${{RBX_RUN_STEP#*:}}"
          echo "$id" >> ran.log
          echo "at=$id"
          case "$id" in *"[{found}]") echo known=true ;; *) echo known=false ;; esac
          """
        capture known: bool = stdout ~ /known=(true|false)/
        capture at = stdout ~ /at=(\S+)/
        idempotent
      }}"#
    )
}

/// A runbook with the loop at `place`, the loop's stage going on to a step
/// `after` that logs which iteration it reads the probe of, and failing
/// to `end unresolved`; with the ids the loop's probe has in the run, one
/// per loop instance.
fn runbook(place: Place, found: usize) -> (String, Option<String>, Vec<String>) {
    let repeat = format!(
        "repeat at most {BOUND} until probe.known {{\n      {}\n    }}",
        probe(found)
    );
    let after = "step after \"After\" {\n      run \"echo after {{ probe.at }} >> ran.log\"\n      idempotent\n    }";
    let (body, fragment, prefixes) = match place {
        Place::Stage => (format!("{repeat}\n    {after}"), None, vec!["s.probe"]),
        Place::Loop => (
            format!("foreach h in hosts {{\n    {repeat}\n    }}\n    {after}"),
            None,
            vec!["s.probe[a]", "s.probe[b]"],
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n    {repeat}\n    step other \"Other\" {{\n      run \"echo other >> ran.log\"\n    }}\n    }}\n    {after}"
            ),
            None,
            vec!["s.probe"],
        ),
        Place::Again => (format!("again t\n    {after}"), None, vec!["t#2.probe"]),
        Place::Fragment => (
            after.to_string(),
            Some(format!(
                "stage f \"Fragment\" {{\n    on failure -> end unresolved\n    {repeat}\n    then s\n  }}\n"
            )),
            vec!["f.probe"],
        ),
    };
    let include = match place {
        Place::Fragment => {
            "  include \"part.runbook\"\n  stage start \"Start\" {\n    then f\n  }\n"
        }
        _ => "",
    };
    let again_stage = match place {
        Place::Again => format!(
            "\n  stage t \"Target\" {{\n    on failure -> end unresolved\n    {repeat}\n    end t_done\n  }}\n"
        ),
        _ => String::new(),
    };
    let text = format!(
        "runbook r \"Repeat\" {{\n  input hosts: list(string) = [\"a\", \"b\"]\n{include}  stage s \"S\" {{\n    on failure -> end unresolved\n    {body}\n    end done\n  }}\n{again_stage}}}\n"
    );
    let ids = prefixes.into_iter().map(str::to_string).collect();
    (text, fragment, ids)
}

/// The id of iteration `i` of a loop whose probe is `prefix`.
fn iteration(prefix: &str, i: usize) -> String {
    format!("{prefix}[{i}]")
}

/// U1, U2, U3: the body runs one iteration at a time until its condition
/// holds, and no further; the loop fails after the last iteration without
/// it — in every place a loop can stand, whichever iteration finds.
#[test]
fn a_repeat_runs_until_its_condition_holds_and_fails_at_its_bound() {
    let places = [
        Place::Stage,
        Place::Loop,
        Place::Parallel,
        Place::Again,
        Place::Fragment,
    ];
    for place in places {
        for found in 0..=BOUND {
            let shape = format!("{place:?}, found in iteration {found}");
            let bench = Bench::new();
            let (text, fragment, prefixes) = runbook(place, found);
            if let Some(fragment) = fragment {
                bench.write("part.runbook", &fragment);
            }
            bench.write("main.runbook", &text);
            let run = bench.rbx(&["run", "main.runbook"], &[]);
            let (_, events) = bench.journal();
            let ran = bench.ran();
            let until = |prefix: &str, i: usize| {
                let id = iteration(&prefix.replace(".probe", ".repeat-probe"), i);
                events
                    .iter()
                    .find(|(k, n, _)| n == &id && (k == "node_finished" || k == "node_skipped"))
                    .map(|(k, _, p)| (k.clone(), p.clone()))
            };
            // In a loop over hosts the first host's failing loop leaves the
            // flow, so the second never starts.
            let live = if found == 0 {
                &prefixes[..1]
            } else {
                &prefixes[..]
            };
            for prefix in live {
                let last = if found == 0 { BOUND } else { found };
                for i in 1..=BOUND {
                    let id = iteration(prefix, i);
                    let times = ran.iter().filter(|l| **l == id).count();
                    assert_eq!(
                        times,
                        usize::from(i <= last),
                        "{shape}: {id} in {ran:?}\n{text}"
                    );
                    let (kind, payload) = until(prefix, i)
                        .unwrap_or_else(|| panic!("{shape}: the end of {id} is not recorded"));
                    if i > last {
                        assert_eq!(kind, "node_skipped", "{shape}: {id}: {payload}");
                        continue;
                    }
                    assert_eq!(kind, "node_finished", "{shape}: {id}: {payload}");
                    assert_eq!(payload["iteration"], i, "{shape}: {payload}");
                    assert_eq!(payload["held"], i == found, "{shape}: {payload}");
                    let status = if found == 0 && i == BOUND {
                        "failed"
                    } else {
                        "succeeded"
                    };
                    assert_eq!(payload["status"], status, "{shape}: {payload}");
                }
            }
            let outcome = if found == 0 { "unresolved" } else { "done" };
            assert!(
                events
                    .iter()
                    .any(|(k, _, p)| k == "run_ended" && p["outcome"] == outcome),
                "{shape}: not ended {outcome}\n{}\n{text}",
                run.transcript()
            );
            // After the loop, the probe reads as the last iteration that
            // ran, not as one skipped after it.
            let after: Vec<&String> = ran.iter().filter(|l| l.starts_with("after")).collect();
            let read = prefixes
                .last()
                .map(|p| format!("after {}", iteration(p, found)));
            match found {
                0 => assert!(after.is_empty(), "{shape}: {ran:?}"),
                _ => assert_eq!(after, [&read.unwrap_or_default()], "{shape}: {ran:?}"),
            }
            if found == 0 {
                let failed = events
                    .iter()
                    .find(|(k, _, p)| k == "node_finished" && p["status"] == "failed")
                    .map(|(_, _, p)| p["reason"].as_str().unwrap_or("").to_string());
                assert_eq!(
                    failed.as_deref(),
                    Some("`probe.known` still not true after 3 iterations"),
                    "{shape}"
                );
            }
        }
    }
}

/// U1 with S1, S2: `kill -9` after every event of a run whose loop finds
/// in its second iteration, then `rbx resume` until it ends: each
/// iteration's probe ran (at most again, when it was in doubt), the third
/// never, the loop's end is judged once per iteration, and the run ends
/// as it does without a crash.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_an_iteration() {
    let (text, _, _) = runbook(Place::Loop, 2);
    let expected = [
        "s.probe[a][1]",
        "s.probe[a][2]",
        "s.probe[b][1]",
        "s.probe[b][2]",
        "after s.probe[b][2]",
    ];
    let whole = Bench::whole_run(&text, &expected);
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", &text);
        let events = bench.crash_then_resume(crash, &[]);
        assert!(
            events
                .iter()
                .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "done"),
            "crash after {crash}: {events:?}"
        );
        let mut ran = bench.ran();
        ran.dedup();
        assert_eq!(
            ran, expected,
            "crash after {crash}: lost or ran out of order"
        );
        for host in ["a", "b"] {
            for i in 1..=BOUND {
                let id = format!("s.repeat-probe[{host}][{i}]");
                let settled = events
                    .iter()
                    .filter(|(k, n, _)| n == &id && (k == "node_finished" || k == "node_skipped"))
                    .count();
                assert_eq!(
                    settled, 1,
                    "crash after {crash}: {id} settled {settled} times"
                );
            }
        }
    }
}

/// U1 with P2: a person answers whether the cause is known. `rbx confirm`
/// of an iteration the run has not reached is refused, one of the
/// iteration it waits for is taken, and once the cause is known the later
/// iterations are never waited for.
#[test]
fn people_answering_out_of_order_answer_only_the_iteration_waited_for() {
    let text = r#"runbook r "Investigate" {
  stage s "S" {
    on failure -> end unresolved
    repeat at most 3 until investigate.known {
      manual investigate "Investigate" {
        instructions "Look for the cause."
        evidence known "Is the cause known?": bool
      }
    }
    end resolved
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook", "--non-interactive"], &[]);
    assert_eq!(
        run.status,
        3,
        "it pauses for a person\n{}",
        run.transcript()
    );
    let (id, _) = bench.journal();
    let confirm = |node: &str, known: &str| {
        let evidence = format!("known={known}");
        bench.rbx(&["confirm", &id, node, "--evidence", &evidence], &[])
    };
    let early = confirm("s.investigate[2]", "true");
    assert_eq!(early.status, 2, "{}", early.transcript());
    assert!(
        early.stderr.contains("it is waiting for: s.investigate[1]"),
        "{}",
        early.transcript()
    );
    assert_eq!(confirm("s.investigate[1]", "false").status, 0);
    let again = confirm("s.investigate[1]", "true");
    assert_eq!(
        again.status,
        2,
        "an answered iteration is answered\n{}",
        again.transcript()
    );
    let resumed = bench.rbx(&["resume", &id, "--non-interactive"], &[]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    assert_eq!(confirm("s.investigate[2]", "true").status, 0);
    let skipped = confirm("s.investigate[3]", "true");
    assert_eq!(skipped.status, 2, "{}", skipped.transcript());
    let ended = bench.rbx(&["resume", &id, "--non-interactive"], &[]);
    assert_eq!(ended.status, 0, "{}", ended.transcript());
    let (_, events) = bench.journal();
    let answered: Vec<(&str, &serde_json::Value)> = events
        .iter()
        .filter(|(k, n, _)| k == "node_finished" && n.starts_with("s.investigate"))
        .map(|(_, n, p)| (n.as_str(), &p["captures"]["known"]))
        .collect();
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert!(
        events
            .iter()
            .any(|(k, n, _)| k == "node_skipped" && n == "s.investigate[3]"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "resolved")
    );
}

/// What `rbx plan`, `rbx graph` and `rbx report` say of a loop: the bound
/// and the condition on each of its nodes, the until node with where the
/// loop goes when the bound is reached, and each iteration's row; and
/// `rbx status`, iteration by iteration.
#[test]
fn plan_graph_and_report_show_the_loop_its_bound_and_each_iteration() {
    let (text, _, _) = runbook(Place::Stage, 2);
    let bench = Bench::new();
    bench.write("main.runbook", &text);
    let plan = bench.rbx(&["plan", "main.runbook"], &[]);
    assert_eq!(plan.status, 0, "{}", plan.transcript());
    insta::assert_snapshot!("repeat_plan", plan.stdout);
    let graph = bench.rbx(
        &["graph", "--detail", "--format", "mermaid", "main.runbook"],
        &[],
    );
    assert_eq!(graph.status, 0, "{}", graph.transcript());
    insta::assert_snapshot!("repeat_graph", graph.stdout);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let (id, _) = bench.journal();
    let report = bench.rbx(&["report", &id], &[]);
    assert_eq!(report.status, 0, "{}", report.transcript());
    // `rbx status` reads iteration by iteration, every node of one before
    // the next's.
    let status = bench.rbx(&["status", &id], &[]);
    let iterations: Vec<usize> = status
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|id| id.split_once('[')?.1.strip_suffix(']')?.parse().ok())
        .collect();
    assert!(iterations.len() >= 4, "{}", status.stdout);
    assert!(iterations.is_sorted(), "{iterations:?}\n{}", status.stdout);
    for row in [
        "| Until probe.known (iteration 1 of 3) | done → again |",
        "| Until probe.known (iteration 2 of 3) | done |",
        "| Until probe.known (iteration 3 of 3) | skipped |",
    ] {
        assert!(report.stdout.contains(row), "{row}\n{}", report.stdout);
    }
}
