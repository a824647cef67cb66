//! `rbx cancel` while a clean-up waits for a person (rule X5): in the
//! runbook's `finally` and in a stage's own — run in place, by `again`,
//! per item of a `foreach` and as a called stage — reached by an outcome
//! or by a failure. A cancel there cancels only the person's node the
//! clean-up waits for; every clean-up step runs, exactly once, and the run
//! fails naming the cancelled node. The same holds with `rbx` killed (as
//! by `kill -9`) after each event of the run before the pause, and after
//! each event of the cancel, then resumed: the record is the one never
//! killed.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use support::bench::{Bench, Journal, settled as record};

/// Where the clean-up that waits for a person stands.
#[derive(Debug, Clone, Copy)]
enum Place {
    Runbook,
    /// The entry stage's own clean-up.
    Own,
    Again,
    Foreach,
    Call,
}

const PLACES: [Place; 5] = [
    Place::Runbook,
    Place::Own,
    Place::Again,
    Place::Foreach,
    Place::Call,
];

/// A clean-up: a step, a manual step a person must acknowledge, a step.
fn cleanup(t: &mut String, pad: &str) {
    let _ = writeln!(t, "{pad}finally {{");
    for (id, person) in [("c1", false), ("m", true), ("c2", false)] {
        if person {
            let _ = writeln!(
                t,
                "{pad}  manual {id} \"{id}\" {{\n{pad}    owner op\n{pad}    acknowledge\n{pad}  }}"
            );
        } else {
            let _ = writeln!(
                t,
                "{pad}  step {id} \"{id}\" {{\n{pad}    run \"echo ${{RBX_RUN_STEP#*:}} >> ran.log\"\n{pad}  }}"
            );
        }
    }
    let _ = writeln!(t, "{pad}}}");
}

fn render(place: Place, fail: bool) -> String {
    let mut t = String::from(
        "runbook g \"Cancel in a clean-up\" {\n  input hosts: list(string) = [\"a\", \"b\"]\n  role op \"Operator\" { person \"Ann\" }\n\n  stage s0 \"Entry\" {\n",
    );
    let exit = if fail { "; exit 1" } else { "" };
    let work = format!("    step w \"w\" {{\n      run \"echo w >> ran.log{exit}\"\n    }}\n");
    match place {
        Place::Runbook | Place::Own => t.push_str(&work),
        Place::Again => t.push_str("    again k\n"),
        Place::Foreach => t.push_str("    foreach h in hosts {\n      again k\n    }\n"),
        Place::Call => t.push_str("    call k(host = \"a\")\n"),
    }
    if let Place::Own = place {
        cleanup(&mut t, "    ");
    }
    t.push_str("    end done\n  }\n");
    match place {
        Place::Again | Place::Foreach => {
            t.push_str("\n  stage k \"Kept\" {\n");
            t.push_str(&work);
            cleanup(&mut t, "    ");
            t.push_str("    end done\n  }\n");
        }
        Place::Call => {
            t.push_str("\n  stage k(host: string) \"Kept on {{ host }}\" {\n");
            t.push_str(&work);
            cleanup(&mut t, "    ");
            t.push_str("    end done\n  }\n");
        }
        Place::Runbook | Place::Own => {}
    }
    if let Place::Runbook = place {
        t.push('\n');
        cleanup(&mut t, "  ");
    }
    t.push_str("}\n");
    t
}

fn crash_env(crash: Option<usize>) -> Vec<(&'static str, String)> {
    crash
        .map(|n| ("RBX_CRASH_AFTER_EVENTS", n.to_string()))
        .into_iter()
        .collect()
}

fn with<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Runs the runbook, killed after event `run_crash` when given, and
/// resumes it until it pauses for a person; then cancels it — the first
/// cancel killed after its event `cancel_crash` when given — and cancels
/// or resumes it until it stops for good.
fn drive(
    bench: &Bench,
    run_crash: Option<usize>,
    cancel_crash: Option<usize>,
) -> (String, Journal) {
    let env = crash_env(run_crash);
    bench.rbx(&["run", "main.runbook", "--non-interactive"], &with(&env));
    let mut cancel_env = crash_env(cancel_crash);
    for _ in 0..12 {
        let status = bench.status();
        if status.starts_with("ended") || status == "failed" {
            break;
        }
        let (run, _) = bench.journal();
        if status == "paused" {
            bench.rbx(
                &["cancel", &run, "--reason", "drill", "--non-interactive"],
                &with(&cancel_env),
            );
            cancel_env.clear();
        } else {
            bench.rbx(
                &["resume", &run, "--in-doubt", "rerun", "--non-interactive"],
                &[],
            );
        }
    }
    let (_, events) = bench.journal();
    (bench.status(), events)
}

/// Every clean-up step ran once and succeeded, every person's node of a
/// clean-up was cancelled once, and the run failed naming one of them.
fn check(status: &str, events: &Journal) -> Result<(), String> {
    if status != "failed" {
        return Err(format!("the run is `{status}`, not failed"));
    }
    let mut settled: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, n, p) in events.iter().filter(|(k, n, _)| {
        k == "node_finished" && (n.contains(".finally.") || n.starts_with("finally."))
    }) {
        settled
            .entry(n.as_str())
            .or_default()
            .push(p["status"].as_str().unwrap_or_default());
    }
    if settled.is_empty() {
        return Err("no clean-up node settled".to_string());
    }
    for (node, statuses) in &settled {
        let person = node.rsplit('.').next().is_some_and(|n| n.starts_with('m'));
        let expected = if person { "cancelled" } else { "succeeded" };
        if *statuses != [expected] {
            return Err(format!("{node} settled {statuses:?}, not once {expected}"));
        }
    }
    // X3: the cancelled nodes are the clean-up's failures: the run fails
    // naming the first, or, had it failed already, lists them beside its
    // own failure.
    let Some((_, node, failed)) = events.iter().rev().find(|(k, _, _)| k == "run_failed") else {
        return Err("no run_failed".to_string());
    };
    let listed: Vec<&str> = failed["cleanup_failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let cancelled: Vec<&str> = settled
        .iter()
        .filter(|(_, s)| **s == ["cancelled"])
        .map(|(n, _)| *n)
        .collect();
    let own = node == "s0.w" || node.ends_with(".w") || node.contains(".w[");
    if cancelled.iter().any(|c| !listed.contains(c)) || !(own || cancelled.contains(&node.as_str()))
    {
        return Err(format!("the run failed with {failed}"));
    }
    Ok(())
}

fn play(place: Place, fail: bool) {
    let text = render(place, fail);
    let whole = Bench::new();
    whole.write("main.runbook", &text);
    let (status, events) = drive(&whole, None, None);
    if let Err(why) = check(&status, &events) {
        panic!("{place:?}, failing {fail}: {why}\n{text}\n{events:#?}");
    }
    let paused_at = events
        .iter()
        .position(|(k, _, _)| k == "run_paused")
        .unwrap_or(events.len());
    let kills = (1..paused_at)
        .map(|n| (Some(n), None))
        .chain((1..events.len() - paused_at).map(|n| (None, Some(n))));
    for (run_crash, cancel_crash) in kills {
        let killed = Bench::new();
        killed.write("main.runbook", &text);
        let (status_k, events_k) = drive(&killed, run_crash, cancel_crash);
        let context = format!(
            "{place:?}, failing {fail}, killed after event {run_crash:?} of the run / {cancel_crash:?} of the cancel"
        );
        if let Err(why) = check(&status_k, &events_k) {
            panic!("{context}: {why}\n{text}\n{events_k:#?}");
        }
        assert_eq!(record(&events), record(&events_k), "{context}\n{text}");
    }
}

#[test]
fn a_cancel_in_a_clean_up_cancels_only_the_person_it_waits_for() {
    for place in PLACES {
        for fail in [false, true] {
            play(place, fail);
        }
    }
}
