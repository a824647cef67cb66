//! `child` nodes through the real `rbx` binary: another runbook run as a
//! child run in every place a node stands — a stage, a `foreach` item, a
//! `parallel` branch, an `again` instance, a `call` instance, an included
//! fragment — one child run per node instance, named `{parent}/{node}`,
//! its outcome and captures read by the parent; `kill -9` after every
//! event of parent and child; a failing child taking its route; hostile
//! inputs reaching the child as data; lint's findings on the shape.

mod support;

use rbx_store::{SqliteStore, Store};
use support::bench::Bench;

/// The child every shape runs: a step that appends what it was given and
/// captures a number, and an outcome.
const DEPLOY: &str = r#"runbook deploy "Deploy one region" {
  input region "Where": string
  input version "What": string = "0.0.0"
  outcome deployed success

  stage roll "Roll out" {
    step push "Push" {
      run "printf 'push-%s-%s\n' {{ region }} {{ version }} >> ran.log; echo build=7"
      capture build: int = stdout ~ /build=(\d+)/
    }
    end deployed
  }
}
"#;

#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Call,
    Fragment,
    /// An iteration of `every` (beside a step that outlasts it).
    Every,
    /// A stage's own `finally`.
    Cleanup,
}

/// The parent runbook (and fragment) for `place`, the lines its run
/// appends, and the nodes whose child runs it makes.
fn shape(place: Place) -> (String, Option<String>, Vec<&'static str>, Vec<&'static str>) {
    let child = |id: &str, region: &str| {
        format!(
            "child {id} \"Deploy\" {{\n      runbook \"deploy.runbook\"\n      input region = {region}\n      input version = \"1.0\"\n    }}"
        )
    };
    let report = |id: &str| {
        format!(
            "step report_{id} \"Report\" {{\n      run \"echo read-{{{{ {id}.outcome }}}}-{{{{ {id}.build }}}} >> ran.log\"\n    }}"
        )
    };
    let head = "runbook p \"Parent\" {\n  input regions: list(string) = [\"eu\", \"us\"]\n  outcome done success\n";
    let (body, extra, fragment) = match place {
        Place::Stage => (
            format!("{}\n    {}", child("eu", "\"eu\""), report("eu")),
            String::new(),
            None,
        ),
        Place::Loop => (
            format!(
                "foreach r in regions {{\n    {}\n    }}",
                child("each", "r")
            ),
            String::new(),
            None,
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n    {}\n    {}\n    }}",
                child("eu", "\"eu\""),
                child("us", "\"us\"")
            ),
            String::new(),
            None,
        ),
        Place::Again => (
            "again twice\n    again twice".to_string(),
            format!(
                "  stage twice \"Twice\" {{\n    {}\n    end done\n  }}\n",
                child("eu", "\"eu\"")
            ),
            None,
        ),
        Place::Call => (
            "call region(name = \"eu\")\n    call region(name = \"us\")".to_string(),
            format!(
                "  stage region(name: string) \"Region\" {{\n    {}\n  }}\n",
                child("one", "name")
            ),
            None,
        ),
        Place::Every => (
            format!(
                "every 1s at most 1 {{\n    {}\n    }}\n    step outlast \"Outlast\" {{\n      run \"sleep 3\"\n    }}",
                child("tick", "\"eu\"")
            ),
            String::new(),
            None,
        ),
        Place::Cleanup => (
            format!("finally {{\n    {}\n    }}", child("undo", "\"eu\"")),
            String::new(),
            None,
        ),
        Place::Fragment => (
            String::new(),
            String::new(),
            Some(format!(
                "stage s \"S\" {{\n    {}\n    {}\n    end done\n  }}\n",
                child("eu", "\"eu\""),
                report("eu")
            )),
        ),
    };
    let main = match (&fragment, place) {
        (Some(_), _) => {
            "runbook p \"Parent\" {\n  outcome done success\n  include \"part.runbook\"\n}\n"
                .to_string()
        }
        (None, Place::Loop) => {
            format!("{head}  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{extra}}}\n")
        }
        (None, _) => format!(
            "runbook p \"Parent\" {{\n  outcome done success\n  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{extra}}}\n"
        ),
    };
    let (lines, nodes) = match place {
        Place::Stage | Place::Fragment => (vec!["push-eu-1.0", "read-deployed-7"], vec!["s.eu"]),
        Place::Loop => (
            vec!["push-eu-1.0", "push-us-1.0"],
            vec!["s.each[eu]", "s.each[us]"],
        ),
        Place::Parallel => (vec!["push-eu-1.0", "push-us-1.0"], vec!["s.eu", "s.us"]),
        Place::Again => (
            vec!["push-eu-1.0", "push-eu-1.0"],
            vec!["twice#2.eu", "twice#3.eu"],
        ),
        Place::Call => (
            vec!["push-eu-1.0", "push-us-1.0"],
            vec!["region#1.one", "region#2.one"],
        ),
        Place::Every => (vec!["push-eu-1.0"], vec!["s.tick[1]"]),
        Place::Cleanup => (vec!["push-eu-1.0"], vec!["s.finally.undo"]),
    };
    (main, fragment, lines, nodes)
}

/// One child run per node instance, named after its parent and node,
/// linked both ways, its outcome and captures read by the parent; both
/// records verify — in every place a node stands.
#[test]
fn a_child_runs_once_per_node_instance_everywhere() {
    for place in [
        Place::Stage,
        Place::Loop,
        Place::Parallel,
        Place::Again,
        Place::Call,
        Place::Fragment,
        Place::Every,
        Place::Cleanup,
    ] {
        let bench = Bench::new();
        let (main, fragment, lines, nodes) = shape(place);
        bench.write("deploy.runbook", DEPLOY);
        if let Some(fragment) = &fragment {
            bench.write("part.runbook", fragment);
        }
        bench.write("main.runbook", &main);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{place:?}\n{main}\n{}", run.transcript());
        let mut expected = lines.clone();
        expected.sort_unstable();
        assert_eq!(bench.ran_sorted(), expected, "{place:?}");
        let parent = bench.parent_run();
        let mut children: Vec<String> = bench
            .runs()
            .into_iter()
            .filter(|(id, _)| id.contains('/'))
            .map(|(id, status)| {
                assert_eq!(status, "ended:deployed", "{place:?}: {id}");
                id
            })
            .collect();
        children.sort();
        let mut want: Vec<String> = nodes.iter().map(|n| format!("{parent}/{n}")).collect();
        want.sort();
        assert_eq!(children, want, "{place:?}: one child run per node instance");
        let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
        for child in &children {
            let id = rbx_store::RunId::new(child.clone());
            let events = store.events(&id).expect("the child's journal");
            let started = &events[0].payload["parent"];
            assert_eq!(started["run"], parent.as_str(), "{place:?}");
            let node = child.rsplit_once('/').map(|(_, n)| n).unwrap_or_default();
            assert_eq!(started["node"], node, "{place:?}");
            let verify = bench.rbx(&["verify", child], &[]);
            assert_eq!(verify.status, 0, "{}", verify.transcript());
        }
        // The parent journalled each child's id with the node's start.
        let events = store
            .events(&rbx_store::RunId::new(parent.clone()))
            .expect("the parent's journal");
        for node in &nodes {
            assert!(
                events.iter().any(|e| e.kind == "node_started"
                    && e.payload["node"] == *node
                    && e.payload["child"] == format!("{parent}/{node}")),
                "{place:?}: {node}"
            );
        }
        let verify = bench.rbx(&["verify", &parent], &[]);
        assert_eq!(verify.status, 0, "{}", verify.transcript());
    }
}

/// A child that fails makes its node fail, and the node's route is taken
/// with the child's record kept.
#[test]
fn a_failing_child_takes_the_parents_route() {
    let bench = Bench::new();
    bench.write(
        "broken.runbook",
        r#"runbook broken "Fails" {
  input region: string
  stage s "S" {
    step boom "Boom" {
      run "echo boom-{{ region }} >> ran.log; exit 3"
    }
    end never
  }
}
"#,
    );
    bench.write(
        "main.runbook",
        r#"runbook p "Parent" {
  outcome done success
  outcome rolled_back failure
  stage s "S" {
    child eu "Deploy EU" {
      runbook "broken.runbook"
      input region = "eu"
      on failure -> back
    }
    end done
  }
  stage back "Roll back" {
    step undo "Undo" {
      run "echo undo-{{ eu.status }} >> ran.log"
    }
    end rolled_back
  }
}
"#,
    );
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_ne!(run.status, 0, "{}", run.transcript());
    assert_eq!(bench.ran(), ["boom-eu", "undo-failed"]);
    let all = bench.runs();
    assert!(
        all.iter()
            .any(|(id, s)| !id.contains('/') && s == "ended:rolled_back"),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|(id, s)| id.ends_with("/s.eu") && s == "failed"),
        "{all:?}"
    );
}

/// S1, S2 across two journals: `kill -9` after every event of parent and
/// child together, then `rbx resume` of the parent until it ends: no
/// child step ran twice, none was lost, and each node instance has one
/// child run.
#[test]
fn kill_nine_at_every_event_of_parent_and_child() {
    let main = r#"runbook p "Parent" {
  input regions: list(string) = ["eu", "us"]
  outcome done success
  stage s "S" {
    foreach r in regions {
      child each "Deploy" {
        runbook "deploy.runbook"
        input region = r
      }
    }
    step after "After" {
      run "echo after-{{ each.status }} >> ran.log"
    }
    end done
  }
}
"#;
    let expected = ["after-succeeded", "push-eu-0.0.0", "push-us-0.0.0"];
    let whole = {
        let bench = Bench::new();
        bench.write("deploy.runbook", DEPLOY);
        bench.write("main.runbook", main);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        assert_eq!(bench.ran_sorted(), expected);
        let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
        store
            .runs()
            .expect("runs")
            .iter()
            .map(|r| store.events(&r.id).expect("events").len())
            .sum::<usize>()
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("deploy.runbook", DEPLOY);
        bench.write("main.runbook", main);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(
            crashed.status, 0,
            "crash after {crash}: it should have died"
        );
        let parent = bench.parent_run();
        let mut last = None;
        for _ in 0..4 {
            let resumed = bench.rbx(&["resume", &parent, "--in-doubt", "skip"], &[]);
            let done = resumed.status == 0;
            last = Some(resumed);
            if done {
                break;
            }
        }
        let all = bench.runs();
        assert!(
            all.iter().any(|(id, s)| *id == parent && s == "ended:done"),
            "crash after {crash}: {all:?}\n{}",
            last.map(|o| o.transcript()).unwrap_or_default()
        );
        let mut children: Vec<&String> = all
            .iter()
            .filter(|(id, _)| id.contains('/'))
            .map(|(id, _)| id)
            .collect();
        children.sort();
        assert_eq!(
            children,
            [
                &format!("{parent}/s.each[eu]"),
                &format!("{parent}/s.each[us]")
            ],
            "crash after {crash}: one child run per item"
        );
        let ran = bench.ran_sorted();
        let mut unique = ran.clone();
        unique.dedup();
        assert_eq!(unique, ran, "crash after {crash}: a step ran twice");
        // A child step in doubt is taken as done (`--in-doubt skip`):
        // every line is there unless its step was in doubt.
        let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
        let doubted: usize = store
            .runs()
            .expect("runs")
            .iter()
            .flat_map(|r| store.events(&r.id).expect("events"))
            .filter(|e| e.kind == "in_doubt" && e.payload["decision"] == "done")
            .count();
        assert!(
            ran.len() + doubted >= expected.len(),
            "crash after {crash}: a step was lost: {ran:?}"
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

/// An input's value is data in the child as everywhere: a hostile string
/// reaches the child's command whole and runs nothing.
#[test]
fn hostile_inputs_reach_the_child_as_data() {
    let hostile = [
        "$(touch pwned)",
        "`touch pwned`",
        "a; touch pwned",
        "' \" \\ $HOME",
        "line\nbreak",
        "{{ region }}",
    ];
    let child = r#"runbook echo_it "Echo" {
  input region: string
  stage s "S" {
    step show "Show" {
      run "printf '%s|' {{ region }} >> ran.log"
    }
    end shown
  }
}
"#;
    let main = r#"runbook p "Parent" {
  input value: string
  outcome done success
  stage s "S" {
    child c "Child" {
      runbook "echo_it.runbook"
      input region = value
    }
    end done
  }
}
"#;
    for value in hostile {
        let bench = Bench::new();
        bench.write("echo_it.runbook", child);
        bench.write("main.runbook", main);
        let set = format!("value={value}");
        let run = bench.rbx(&["run", "main.runbook", "--set", &set], &[]);
        assert_eq!(run.status, 0, "{value:?}\n{}", run.transcript());
        assert!(
            !bench.path().join("pwned").exists(),
            "{value:?} ran as code"
        );
        let log = std::fs::read_to_string(bench.path().join("ran.log")).unwrap_or_default();
        assert_eq!(log, format!("{value}|"), "{value:?}");
    }
}

/// A secret given to a child reaches its command and neither journal.
#[test]
fn a_secret_input_stays_masked_in_both_journals() {
    const SECRET: &str = "s3cr3t-child-value";
    let bench = Bench::new();
    bench.write(
        "use.runbook",
        r#"runbook use_it "Use" {
  input token: secret
  stage s "S" {
    step call_api "Call" {
      run "test {{ token }} = \"$(cat expected)\" && echo ok >> ran.log; echo {{ token }}"
    }
    end used
  }
}
"#,
    );
    bench.write(
        "main.runbook",
        r#"runbook p "Parent" {
  input token: secret
  outcome done success
  stage s "S" {
    child c "Child" {
      runbook "use.runbook"
      input token = token
    }
    end done
  }
}
"#,
    );
    std::fs::write(bench.path().join("expected"), SECRET).expect("write");
    let run = bench.rbx(&["run", "main.runbook"], &[("RBX_SECRET_TOKEN", SECRET)]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    assert_eq!(bench.ran(), ["ok"]);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
    for summary in store.runs().expect("runs") {
        assert!(!summary.inputs.to_string().contains(SECRET));
        for event in store.events(&summary.id).expect("events") {
            assert!(!event.payload.to_string().contains(SECRET), "{event:?}");
        }
    }
}

/// Lint checks the child's inputs against the `child`'s lines and refuses
/// a runbook that starts itself, each with its code at the place to fix.
#[test]
fn lint_checks_the_childs_inputs_and_refuses_cycles() {
    let cases = [
        (
            "child c \"C\" {\n      runbook \"deploy.runbook\"\n    }",
            "rbx::lint::child_input_missing",
        ),
        (
            "child c \"C\" {\n      runbook \"deploy.runbook\"\n      input region = \"eu\"\n      input regoin = \"eu\"\n    }",
            "rbx::lint::child_input_unknown",
        ),
        (
            "child c \"C\" {\n      runbook \"deploy.runbook\"\n      input region = 3\n    }",
            "rbx::lint::type_mismatch",
        ),
        (
            "child c \"C\" {\n      runbook \"main.runbook\"\n    }",
            "rbx::lint::child_cycle",
        ),
        (
            "child c \"C\" {\n      runbook \"missing.runbook\"\n    }",
            "rbx::lint::include_not_found",
        ),
        (
            "child c \"C\" {\n      input region = \"eu\"\n    }",
            "rbx::lint::child_runbook",
        ),
    ];
    for (node, code) in cases {
        let bench = Bench::new();
        bench.write("deploy.runbook", DEPLOY);
        let main = format!(
            "runbook p \"Parent\" {{\n  outcome done success\n  stage s \"S\" {{\n    {node}\n    end done\n  }}\n}}\n"
        );
        std::fs::write(bench.path().join("main.runbook"), &main).expect("write");
        let lint = bench.rbx(&["lint", "main.runbook"], &[]);
        assert_ne!(lint.status, 0, "{main}");
        assert!(
            lint.stderr.contains(code) || lint.stdout.contains(code),
            "{code}:\n{main}\n{}",
            lint.transcript()
        );
    }
}

/// The child every person test runs: a manual step, a step after it, and
/// a clean-up that always runs.
const PERSON: &str = r#"runbook person "Needs a person" {
  outcome checked success
  stage s "S" {
    manual look "Look at the dashboard" {
      instructions "Check it"
      evidence ok "Is it fine?": bool
    }
    step after "After" {
      run "echo child-after-{{ look.ok }} >> ran.log"
    }
    end checked
  }
  finally {
    step undo "Undo" {
      run "echo child-finally >> ran.log"
    }
  }
}
"#;

const PARENT_OF_PERSON: &str = r#"runbook p "Parent of a person" {
  outcome done success
  stage s "S" {
    child c "Child" {
      runbook "person.runbook"
    }
    step after "After" {
      run "echo parent-after-{{ c.outcome }}-{{ c.ok }} >> ran.log"
    }
    end done
  }
}
"#;

/// D4: a child waiting for a person pauses its parent at the node; the
/// person answers the child (`rbx confirm CHILD`), and resuming the
/// parent resumes the child, then goes on with what it recorded.
#[test]
fn a_child_waiting_for_a_person_pauses_its_parent() {
    let bench = Bench::new();
    bench.write("person.runbook", PERSON);
    bench.write("main.runbook", PARENT_OF_PERSON);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let parent = bench.parent_run();
    let child = format!("{parent}/s.c");
    assert!(
        run.stderr
            .contains(&format!("rbx confirm {child} s.look --evidence ok=")),
        "{}",
        run.transcript()
    );
    let status = bench.rbx(&["status", &child], &[]);
    assert!(
        status
            .stdout
            .contains(&format!("child run of {parent} (node s.c)")),
        "{}",
        status.transcript()
    );
    let confirm = bench.rbx(&["confirm", &child, "s.look", "--evidence", "ok=true"], &[]);
    assert_eq!(confirm.status, 0, "{}", confirm.transcript());
    // Without a run named, `rbx resume` picks the parent, not its child.
    let resumed = bench.rbx(&["resume"], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.ran(),
        [
            "child-after-true",
            "child-finally",
            "parent-after-checked-true"
        ]
    );
    let status = bench.rbx(&["status", &parent], &[]);
    assert!(
        status.stdout.contains(&format!("child run {child}")),
        "{}",
        status.transcript()
    );
    let report = bench.rbx(&["report", &parent], &[]);
    assert!(
        report.stdout.contains(&format!("child run: {child}")),
        "{}",
        report.stdout
    );
    let report = bench.rbx(&["report", &child], &[]);
    assert!(report.stdout.contains("Child run of"), "{}", report.stdout);
}

/// D5: cancelling the parent cancels the child it waits in: the child's
/// clean-up runs, and both end cancelled.
#[test]
fn cancelling_the_parent_cancels_its_child() {
    let bench = Bench::new();
    bench.write("person.runbook", PERSON);
    bench.write("main.runbook", PARENT_OF_PERSON);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let cancel = bench.rbx(&["cancel", "--reason", "called off"], &[]);
    assert_ne!(cancel.status, 0, "{}", cancel.transcript());
    assert_eq!(bench.ran(), ["child-finally"]);
    let all = bench.runs();
    assert_eq!(all.len(), 2, "{all:?}");
    for (id, status) in &all {
        assert_eq!(status, "ended:cancelled", "{id}");
        let verify = bench.rbx(&["verify", id], &[]);
        assert_eq!(verify.status, 0, "{}", verify.transcript());
    }
}

/// D2: the child's text is the one the parent's snapshot took at its
/// start. A child file changed on disk while the run waits is named as a
/// change when the parent resumes; resumed anyway, the child runs the
/// text that was checked.
#[test]
fn a_resumed_child_runs_the_text_its_parent_snapshotted() {
    let bench = Bench::new();
    bench.write("person.runbook", PERSON);
    bench.write("main.runbook", PARENT_OF_PERSON);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let parent = bench.parent_run();
    let child = format!("{parent}/s.c");
    bench.write(
        "person.runbook",
        &PERSON.replace("child-after-", "edited-after-"),
    );
    let confirm = bench.rbx(&["confirm", &child, "s.look", "--evidence", "ok=true"], &[]);
    assert_eq!(confirm.status, 0, "{}", confirm.transcript());
    let refused = bench.rbx(&["resume", &parent], &[]);
    assert_ne!(refused.status, 0, "{}", refused.transcript());
    assert!(refused.stderr.contains("after"), "{}", refused.transcript());
    assert!(bench.ran().is_empty());
    let resumed = bench.rbx(&["resume", &parent, "--allow-changed"], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.ran(),
        [
            "child-after-true",
            "child-finally",
            "parent-after-checked-true"
        ]
    );
}

/// Plan and both graph languages show a `child` node with the runbook it
/// runs and the inputs it gives, in each of its places.
#[test]
fn plan_and_graph_show_the_child_and_its_runbook() {
    for place in [Place::Stage, Place::Loop, Place::Call] {
        let bench = Bench::new();
        let (main, _, _, _) = shape(place);
        bench.write("deploy.runbook", DEPLOY);
        bench.write("main.runbook", &main);
        let plan = bench.rbx(&["plan", "main.runbook"], &[]);
        assert_eq!(plan.status, 0, "{}", plan.transcript());
        assert!(
            plan.stdout.contains("child run deploy.runbook"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("input     version = \"1.0\""),
            "{}",
            plan.stdout
        );
        for format in ["dot", "mermaid"] {
            let graph = bench.rbx(
                &["graph", "main.runbook", "--detail", "--format", format],
                &[],
            );
            assert_eq!(graph.status, 0, "{}", graph.transcript());
            assert!(
                graph.stdout.contains("child: Deploy"),
                "{format}: {}",
                graph.stdout
            );
            assert!(
                graph.stdout.contains("runs deploy.runbook"),
                "{format}: {}",
                graph.stdout
            );
        }
    }
}

/// S5 through a child: a child that failed fails its parent at the node;
/// once the cause is fixed, resuming the parent resumes the same child
/// run, which runs its failed step again and nothing it had done.
#[test]
fn resuming_a_parent_failed_by_its_child_redrives_the_child() {
    let bench = Bench::new();
    bench.write(
        "flaky.runbook",
        r#"runbook flaky "Fails once" {
  outcome ok success
  stage s "S" {
    step first "First" {
      run "echo flaky-first >> ran.log"
    }
    step second "Second" {
      run "test -f flag && echo flaky-second >> ran.log"
    }
    end ok
  }
}
"#,
    );
    bench.write(
        "main.runbook",
        r#"runbook p "Parent" {
  outcome done success
  stage s "S" {
    child c "Child" {
      runbook "flaky.runbook"
    }
    step after "After" {
      run "echo parent-after >> ran.log"
    }
    end done
  }
}
"#,
    );
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_ne!(run.status, 0, "{}", run.transcript());
    assert!(
        run.stderr.contains("[s.c] ▶ s.first"),
        "{}",
        run.transcript()
    );
    let parent = bench.parent_run();
    assert_eq!(
        bench.runs(),
        [
            (parent.clone(), "failed".to_string()),
            (format!("{parent}/s.c"), "failed".to_string())
        ]
    );
    std::fs::write(bench.path().join("flag"), "").expect("write");
    let resumed = bench.rbx(&["resume"], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(bench.ran(), ["flaky-first", "flaky-second", "parent-after"]);
    assert_eq!(bench.runs().len(), 2);
}

/// A child run goes on only through its parent: `rbx resume` of the child
/// itself is refused, names the parent, and records nothing — here after
/// the parent tolerated the child's failure and ended, where resuming the
/// child alone could end it differently from what the parent recorded.
#[test]
fn a_child_run_is_resumed_only_through_its_parent() {
    let bench = Bench::new();
    bench.write(
        "kid.runbook",
        r#"runbook kid "Kid" {
  input region: string
  stage s "S" {
    step push "Push {{ region }}" {
      run "echo push-{{ region }} >> ran.log; test {{ region }} != us"
    }
    end ok
  }
}
"#,
    );
    bench.write(
        "main.runbook",
        r#"runbook p "Parent" {
  input regions: list(string) = ["eu", "us"]
  outcome done success
  stage s "S" {
    foreach r in regions tolerate 1 {
      child deploy "Deploy {{ r }}" {
        runbook "kid.runbook"
        input region = r
      }
    }
    end done
  }
}
"#,
    );
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let parent = bench.parent_run();
    let child = format!("{parent}/s.deploy[us]");
    let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
    let before = store
        .events(&rbx_store::RunId::new(child.clone()))
        .expect("events")
        .len();
    let refused = bench.rbx(&["resume", &child], &[]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused
            .stderr
            .contains(&format!("is a child run of `{parent}`")),
        "{}",
        refused.transcript()
    );
    let after = store
        .events(&rbx_store::RunId::new(child))
        .expect("events")
        .len();
    assert_eq!(before, after, "nothing recorded");
    assert_eq!(bench.ran_sorted(), ["push-eu", "push-us"]);
}
