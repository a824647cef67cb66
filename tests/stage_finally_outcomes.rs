//! An outcome reached from inside a stage instance that has a `finally`
//! waits for the instance's clean-up (rule Y2), whatever kills rbx when.
//! For every shape — the instance run in place, by `again`, per item of a
//! `foreach`, beside a step in a `parallel` block, in each iteration of a
//! `repeat`, and as a called stage (alone and per item) — and every way
//! its work comes to an outcome (a failure taking the stage's route to an
//! outcome, a failure taking its own, or success going on to the entry
//! stage's), the run is killed (as by `kill -9`) after each event of its
//! journal in turn and resumed until it stops. Each must end with the
//! outcome the run never killed ends with, every started instance must
//! clean up exactly once with each clean-up node settled once, and the
//! record must be the one the run never killed leaves (S1, S3).

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use support::bench::{Bench, Journal, settled as record};

/// Where the stage with a clean-up runs.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The stage itself, run in place (`then w`).
    Own,
    Again,
    Foreach,
    Parallel,
    Repeat,
    Call,
    CallPerItem,
}

/// How the instance's work comes to an outcome.
#[derive(Debug, Clone, Copy)]
enum Way {
    /// Its second step fails and takes the stage's `on failure -> end
    /// aborted`.
    StageRoute,
    /// Its second step fails and takes its own `on failure -> end aborted`.
    OwnRoute,
    /// Its steps succeed: the run goes on to the entry stage's `end done`.
    Success,
}

const PLACES: [Place; 7] = [
    Place::Own,
    Place::Again,
    Place::Foreach,
    Place::Parallel,
    Place::Repeat,
    Place::Call,
    Place::CallPerItem,
];

const WAYS: [Way; 3] = [Way::StageRoute, Way::OwnRoute, Way::Success];

fn step(t: &mut String, pad: &str, id: &str, fail: bool, route: bool) {
    let exit = if fail { "; exit 1" } else { "" };
    let _ = writeln!(t, "{pad}step {id} \"{id}\" {{");
    let _ = writeln!(
        t,
        "{pad}  run \"echo ${{RBX_RUN_STEP#*:}} >> ran.log{exit}\""
    );
    if route {
        let _ = writeln!(t, "{pad}  on failure -> end aborted");
    }
    let _ = writeln!(t, "{pad}}}");
}

/// The body of a stage with a clean-up: three steps, the second failing
/// unless the way is success (the third is then skipped, the instance's
/// last node to settle), and a clean-up of two steps.
fn worker(t: &mut String, header: &str, way: Way) {
    let _ = writeln!(t, "\n  {header} {{");
    if let Way::StageRoute = way {
        t.push_str("    on failure -> end aborted\n");
    }
    let fail = !matches!(way, Way::Success);
    step(t, "    ", "w1", false, false);
    step(t, "    ", "w2", fail, matches!(way, Way::OwnRoute));
    step(t, "    ", "w3", false, false);
    t.push_str("    finally {\n");
    step(t, "      ", "c1", false, false);
    step(t, "      ", "c2", false, false);
    // Run in place, the stage ends the run; an instance of it comes back
    // to the item after it.
    t.push_str("    }\n    end done\n  }\n");
}

fn render(place: Place, way: Way) -> String {
    let mut t = String::from(
        "runbook g \"Outcomes reached from stages with a clean-up\" {\n  input hosts: list(string) = [\"a\", \"b\"]\n\n  stage s0 \"Entry\" {\n",
    );
    step(&mut t, "    ", "first", false, false);
    match place {
        Place::Own => t.push_str("    then w\n"),
        Place::Again => t.push_str("    again w\n"),
        Place::Foreach => t.push_str("    foreach h in hosts {\n      again w\n    }\n"),
        Place::Parallel => {
            t.push_str("    parallel {\n      again w\n");
            step(&mut t, "      ", "side", false, false);
            t.push_str("    }\n");
        }
        Place::Repeat => {
            t.push_str("    repeat at most 2 until r.status == succeeded {\n      again w\n");
            step(&mut t, "      ", "r", false, false);
            t.push_str("    }\n");
        }
        Place::Call => t.push_str("    call w(host = \"a\")\n"),
        Place::CallPerItem => {
            t.push_str("    foreach h in hosts {\n      call w(host = h)\n    }\n");
        }
    }
    if !matches!(place, Place::Own) {
        step(&mut t, "    ", "after", false, false);
        t.push_str("    end done\n");
    }
    t.push_str("  }\n");
    let header = match place {
        Place::Call | Place::CallPerItem => "stage w(host: string) \"Work on {{ host }}\"",
        _ => "stage w \"Work\"",
    };
    worker(&mut t, header, way);
    t.push_str("}\n");
    t
}

/// `rbx run`, killed after event `crash` when given, then `rbx resume`
/// (a step in doubt runs again) while the run has not stopped.
fn drive(bench: &Bench, crash: Option<usize>) -> (String, Journal) {
    bench.start(crash);
    for _ in 0..5 {
        let status = bench.status();
        if status.starts_with("ended") || status == "failed" || status == "broken" {
            break;
        }
        let (run, _) = bench.journal();
        bench.rbx(
            &["resume", &run, "--in-doubt", "rerun", "--non-interactive"],
            &[],
        );
    }
    let (_, events) = bench.journal();
    (bench.status(), events)
}

/// The instances of `w` whose start succeeded.
fn started(events: &Journal) -> Vec<String> {
    events
        .iter()
        .filter(|(k, n, p)| k == "node_finished" && p["status"] == "succeeded" && !n.contains('.'))
        .map(|(_, n, _)| n.clone())
        .filter(|n| n.starts_with('w'))
        .collect()
}

/// Every started instance cleaned up once, each clean-up node settled
/// once and succeeded, and the run ended only after them.
fn check(events: &Journal) -> Result<(), String> {
    let instances = started(events);
    if instances.is_empty() {
        return Err("no instance of `w` started".to_string());
    }
    let mut cleaned: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, p) in events.iter().filter(|(k, _, _)| k == "cleanup_started") {
        *cleaned
            .entry(p["stage"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = instances.iter().map(|i| (i.clone(), 1)).collect();
    if cleaned != expected {
        return Err(format!(
            "clean-ups begun {cleaned:?}; started {instances:?}"
        ));
    }
    let mut settled: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, n, p) in events
        .iter()
        .filter(|(k, n, _)| k == "node_finished" && n.contains(".finally."))
    {
        settled
            .entry(n.as_str())
            .or_default()
            .push(p["status"].as_str().unwrap_or_default());
    }
    let nodes = 2 * instances.len();
    if settled.len() != nodes || settled.values().any(|s| *s != ["succeeded"]) {
        return Err(format!(
            "{nodes} clean-up nodes should each succeed once: {settled:?}"
        ));
    }
    let last = events
        .iter()
        .rposition(|(k, n, _)| k == "node_finished" && n.contains(".finally."));
    let end = events.iter().position(|(k, _, _)| k == "run_ended");
    if end < last {
        return Err("the run ended before its clean-ups were over".to_string());
    }
    Ok(())
}

fn play(place: Place, way: Way) {
    let text = render(place, way);
    let whole = Bench::new();
    whole.write("main.runbook", &text);
    let (status, events) = drive(&whole, None);
    let outcome = match way {
        Way::Success => "ended:done",
        Way::StageRoute | Way::OwnRoute => "ended:aborted",
    };
    assert_eq!(status, outcome, "{place:?}, {way:?}, never killed\n{text}");
    if let Err(why) = check(&events) {
        panic!("{place:?}, {way:?}, never killed: {why}\n{text}\n{events:#?}");
    }
    for crash in 1..events.len() {
        let killed = Bench::new();
        killed.write("main.runbook", &text);
        let (status_k, events_k) = drive(&killed, Some(crash));
        let context = format!("{place:?}, {way:?}, killed after event {crash}");
        assert_eq!(status_k, outcome, "{context}\n{text}\n{events_k:#?}");
        if let Err(why) = check(&events_k) {
            panic!("{context}: {why}\n{text}\n{events_k:#?}");
        }
        assert_eq!(record(&events), record(&events_k), "{context}\n{text}");
    }
}

#[test]
fn an_outcome_reached_from_an_instance_with_a_clean_up_survives_kill_nine() {
    for place in PLACES {
        for way in WAYS {
            play(place, way);
        }
    }
}
