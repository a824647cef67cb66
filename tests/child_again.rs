//! A `child` node run again (rule D7): `rbx resume --from` at the node,
//! before it, and at a loop item's instance of it runs the child runbook
//! again as a fresh child run (`{parent}/{node}~N`, naming the run before
//! it), leaving the earlier child run's journal as it was; a failed run
//! re-driven (S5) resumes a child run that failed and runs again one that
//! ended with a failure outcome; `kill -9` after every event of the run
//! again neither loses nor repeats a child's step.

mod support;

use rbx_store::{RunId, SqliteStore, Store};
use support::bench::Bench;

/// The child: one step that appends its region and counts its runs.
const DEPLOY: &str = r#"runbook deploy "Deploy one region" {
  input region "Where": string
  outcome deployed success

  stage roll "Roll out" {
    step push "Push" {
      run "echo push-{{ region }} >> ran.log; echo build=$(wc -l < ran.log)"
      capture build: int = stdout ~ /build=(\d+)/
    }
    end deployed
  }
}
"#;

/// The parent: a step, a loop of children, a child, and a step that fails
/// until `flag` exists, so that the run can be resumed `--from`.
const MAIN: &str = r#"runbook p "Parent" {
  input regions: list(string) = ["eu", "us"]
  outcome done success
  stage s "S" {
    step before "Before" {
      run "echo before >> ran.log"
    }
    foreach r in regions {
      child each "Deploy {{ r }}" {
        runbook "deploy.runbook"
        input region = r
      }
    }
    child one "Deploy ap" {
      runbook "deploy.runbook"
      input region = "ap"
    }
    step after "After" {
      run "echo after-{{ one.outcome }} >> ran.log; test -f flag"
    }
    end done
  }
}
"#;

fn store(bench: &Bench) -> SqliteStore {
    SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens")
}

/// Each run's events as (kind, payload), by run id.
fn journals(bench: &Bench) -> Vec<(String, Vec<(String, serde_json::Value)>)> {
    let store = store(bench);
    bench
        .runs()
        .into_iter()
        .map(|(id, _)| {
            let events = store
                .events(&RunId::new(id.clone()))
                .expect("events")
                .into_iter()
                .map(|e| (e.kind, e.payload))
                .collect();
            (id, events)
        })
        .collect()
}

fn bench() -> Bench {
    let bench = Bench::new();
    bench.write("deploy.runbook", DEPLOY);
    bench.write("main.runbook", MAIN);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_ne!(run.status, 0, "`after` fails until the flag exists");
    bench
}

fn from(bench: &Bench, node: &str) -> support::Output {
    let parent = bench.parent_run();
    bench.rbx(
        &["resume", &parent, "--from", node, "--reason", "again"],
        &[],
    )
}

/// Where `--from` starts, the child runs it runs again, and the lines the
/// run again appends.
fn cases() -> [(&'static str, Vec<&'static str>, Vec<&'static str>); 3] {
    [
        ("s.one", vec!["s.one~2"], vec!["push-ap", "after-deployed"]),
        (
            "s.before",
            vec!["s.each[eu]~2", "s.each[us]~2", "s.one~2"],
            vec!["before", "push-eu", "push-us", "push-ap", "after-deployed"],
        ),
        (
            "s.each[us]",
            vec!["s.each[us]~2", "s.one~2"],
            vec!["push-us", "push-ap", "after-deployed"],
        ),
    ]
}

#[test]
fn from_at_before_and_inside_a_loop_runs_the_child_again_as_a_fresh_run() {
    for (at, again, lines) in cases() {
        let bench = bench();
        let first = bench.ran();
        let before = journals(&bench);
        std::fs::write(bench.path().join("flag"), "").expect("write");
        let resumed = from(&bench, at);
        assert_eq!(resumed.status, 0, "--from {at}: {}", resumed.transcript());
        let parent = bench.parent_run();
        assert_eq!(bench.ran()[..first.len()], first[..], "--from {at}");
        assert_eq!(bench.ran()[first.len()..], lines[..], "--from {at}");
        let all = bench.runs();
        for fresh in &again {
            let id = format!("{parent}/{fresh}");
            let status = all.iter().find(|(r, _)| *r == id).map(|(_, s)| s.as_str());
            assert_eq!(status, Some("ended:deployed"), "--from {at}: {all:?}");
            let (_, events) = journals(&bench)
                .into_iter()
                .find(|(r, _)| *r == id)
                .expect("the fresh child's journal");
            let previous = id.trim_end_matches("~2");
            assert_eq!(events[0].1["previous"], previous, "--from {at}");
            assert_eq!(events[0].1["parent"]["run"], parent.as_str());
        }
        assert_eq!(all.len(), 1 + 3 + again.len(), "--from {at}: {all:?}");
        // The earlier child runs are history: their journals unchanged.
        let after = journals(&bench);
        for (id, events) in before.iter().filter(|(id, _)| id.contains('/')) {
            let now = after.iter().find(|(r, _)| r == id).map(|(_, e)| e);
            assert_eq!(now, Some(events), "--from {at}: {id} changed");
        }
        // The parent's record names the fresh run at the node's start.
        let (_, parent_events) = after
            .iter()
            .find(|(r, _)| *r == parent)
            .expect("the parent");
        let named: Vec<&str> = parent_events
            .iter()
            .filter(|(kind, _)| kind == "node_started")
            .filter_map(|(_, p)| p["child"].as_str())
            .collect();
        for fresh in &again {
            assert!(
                named.contains(&format!("{parent}/{fresh}").as_str()),
                "--from {at}: {named:?}"
            );
        }
        for (id, _) in &all {
            let verify = bench.rbx(&["verify", id], &[]);
            assert_eq!(verify.status, 0, "{}", verify.transcript());
        }
        let status = bench.rbx(&["status", &parent], &[]);
        assert!(
            status
                .stdout
                .contains(&format!("child run {parent}/s.one~2")),
            "--from {at}: {}",
            status.transcript()
        );
    }
}

/// Each `--from` runs the child again once more: `~2`, then `~3`, each
/// naming the one before.
#[test]
fn from_twice_numbers_the_child_runs_in_order() {
    let bench = bench();
    let once = from(&bench, "s.one");
    assert_ne!(once.status, 0, "`after` still fails: {}", once.transcript());
    std::fs::write(bench.path().join("flag"), "").expect("write");
    let twice = from(&bench, "s.one");
    assert_eq!(twice.status, 0, "{}", twice.transcript());
    let parent = bench.parent_run();
    let journals = journals(&bench);
    let previous = |child: &str| {
        journals
            .iter()
            .find(|(id, _)| *id == format!("{parent}/{child}"))
            .map(|(_, events)| events[0].1["previous"].clone())
    };
    assert_eq!(previous("s.one"), Some(serde_json::Value::Null));
    assert_eq!(
        previous("s.one~2"),
        Some(serde_json::json!(format!("{parent}/s.one")))
    );
    assert_eq!(
        previous("s.one~3"),
        Some(serde_json::json!(format!("{parent}/s.one~2")))
    );
    let pushes = bench.ran().iter().filter(|l| *l == "push-ap").count();
    assert_eq!(pushes, 3);
    // The parent's status and report name every child run the node
    // started, not only the latest.
    let runs = |n: &str| format!("{parent}/s.one{n}");
    let status = bench.rbx(&["status", &parent, "--format", "json"], &[]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    let row = status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == "s.one"))
        .expect("s.one in status");
    assert_eq!(row["child"], runs("~3").as_str());
    assert_eq!(
        row["earlier_children"],
        serde_json::json!([runs(""), runs("~2")])
    );
    let text = bench.rbx(&["status", &parent], &[]);
    assert!(
        text.stdout.contains(&format!(
            "child run {}, earlier {}, {}",
            runs("~3"),
            runs(""),
            runs("~2")
        )),
        "{}",
        text.transcript()
    );
    let report = bench.rbx(&["report", &parent, "--format", "json"], &[]);
    let report: serde_json::Value = serde_json::from_str(&report.stdout).expect("report json");
    let step = report["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|stage| stage["steps"].as_array())
        .flatten()
        .find(|s| s["id"] == "s.one")
        .expect("s.one in the report");
    let earlier: Vec<&str> = step["earlier_attempts"]
        .as_array()
        .expect("earlier attempts")
        .iter()
        .filter_map(|e| e["child"].as_str())
        .collect();
    assert_eq!(earlier, [runs(""), runs("~2")]);
}

/// Re-driven by S5: a child run that ended with a failure outcome runs
/// again as a fresh run (a failed child run is resumed: `child_runs.rs`).
#[test]
fn a_redriven_child_that_ended_badly_runs_again_fresh() {
    let bench = Bench::new();
    bench.write(
        "gate.runbook",
        r#"runbook gate "Gate" {
  outcome open success
  outcome shut failure
  stage s "S" {
    step look "Look" {
      run "echo look >> ran.log; test -f flag"
      on failure -> end shut
    }
    end open
  }
}
"#,
    );
    bench.write(
        "main.runbook",
        r#"runbook p "Parent" {
  outcome done success
  stage s "S" {
    child g "Gate" {
      runbook "gate.runbook"
    }
    end done
  }
}
"#,
    );
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_ne!(run.status, 0, "{}", run.transcript());
    let parent = bench.parent_run();
    std::fs::write(bench.path().join("flag"), "").expect("write");
    let resumed = bench.rbx(&["resume", &parent], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.runs(),
        [
            (parent.clone(), "ended:done".to_string()),
            (format!("{parent}/s.g"), "ended:shut".to_string()),
            (format!("{parent}/s.g~2"), "ended:open".to_string()),
        ]
    );
    assert_eq!(bench.ran(), ["look", "look"]);
}

/// `kill -9` after every event of a `--from` run again: resumed, the run
/// ends, the fresh child run is one (`~2`), and no child step ran twice or
/// was lost.
#[test]
fn kill_nine_at_every_event_of_the_run_again() {
    let whole = {
        let bench = bench();
        let before: usize = journals(&bench).iter().map(|(_, e)| e.len()).sum();
        std::fs::write(bench.path().join("flag"), "").expect("write");
        assert_eq!(from(&bench, "s.each[us]").status, 0);
        let after: usize = journals(&bench).iter().map(|(_, e)| e.len()).sum();
        after - before
    };
    for crash in 1..whole {
        let bench = bench();
        let first = bench.ran().len();
        std::fs::write(bench.path().join("flag"), "").expect("write");
        let parent = bench.parent_run();
        let after = crash.to_string();
        let crashed = bench.rbx(
            &[
                "resume",
                &parent,
                "--from",
                "s.each[us]",
                "--reason",
                "again",
            ],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(crashed.status, 0, "crash after {crash}: it lived");
        let mut last = None;
        for _ in 0..4 {
            // A crash before `rerun_from` was recorded: it was never asked.
            let asked = journals(&bench)
                .iter()
                .any(|(_, events)| events.iter().any(|(kind, _)| kind == "rerun_from"));
            let mut args = vec!["resume", parent.as_str(), "--in-doubt", "skip"];
            if !asked {
                args.extend(["--from", "s.each[us]", "--reason", "again"]);
            }
            let resumed = bench.rbx(&args, &[]);
            let done = resumed.status == 0;
            last = Some(resumed);
            if done {
                break;
            }
        }
        let transcript = last.map(|o| o.transcript()).unwrap_or_default();
        let all = bench.runs();
        let ids: Vec<&str> = all
            .iter()
            .map(|(id, _)| id.strip_prefix(&parent).unwrap_or(id))
            .collect();
        assert_eq!(
            ids,
            [
                "",
                "/s.each[eu]",
                "/s.each[us]",
                "/s.each[us]~2",
                "/s.one",
                "/s.one~2"
            ],
            "crash after {crash}\n{transcript}"
        );
        assert!(
            all.iter().all(|(_, s)| s.starts_with("ended:")),
            "crash after {crash}: {all:?}\n{transcript}"
        );
        let again = &bench.ran()[first..];
        let mut unique = again.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), again.len(), "crash after {crash}: {again:?}");
        let doubted = journals(&bench)
            .iter()
            .flat_map(|(_, events)| events.iter())
            .filter(|(kind, p)| kind == "in_doubt" && p["decision"] == "done")
            .count();
        assert!(
            again.len() + doubted >= 3,
            "crash after {crash}: a step was lost: {again:?}"
        );
        for (id, _) in &all {
            let verify = bench.rbx(&["verify", id], &[]);
            assert_eq!(
                verify.status,
                0,
                "crash after {crash}: {}",
                verify.transcript()
            );
        }
    }
}
