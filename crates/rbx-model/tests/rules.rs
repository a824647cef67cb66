//! The model on small runbooks whose runs the rules fix, one rule or two
//! per test, each checked through one `check` helper: the events of each
//! operation, one line each.

use rbx_model::{Answer, Event, InDoubt, Inputs, Model, Op, Outcome, Script, Status, Value};

/// Runs `ops` on the runbook `body` (the inside of a `runbook` block) and
/// compares what each did with `expected`.
fn check(body: &str, inputs: Inputs, script: &Script, ops: &[Op], expected: &str) {
    let text = format!(
        "runbook t \"T\" {{\n  version \"1\"\n  role op \"Op\" {{ person \"Ann\" }}\n{body}\n}}\n"
    );
    let report = rbx_model::check_text(&text);
    assert!(!report.has_errors(), "{text}: {:?}", report.findings);
    let graph = report.graph.expect("a graph");
    let mut model = Model::new(&graph, inputs).expect("a model");
    let mut out = String::new();
    for op in ops {
        let done = model.perform(op, script).expect("the model covers it");
        out.push_str(&format!("{op:?}\n"));
        for event in &done.events {
            out.push_str(&format!("  {}\n", line(event)));
        }
        out.push_str(&format!("  => {:?}\n", done.outcome));
    }
    assert_eq!(out.trim(), expected.trim(), "\n{out}");
}

fn line(event: &Event) -> String {
    match event {
        Event::Started(id) => format!("start {id}"),
        Event::Settled {
            node,
            status,
            branch,
            ..
        } => match branch {
            Some(b) => format!("{node} {status:?} → {b}"),
            None => format!("{node} {status:?}"),
        },
        Event::Skipped(id) => format!("skip {id}"),
        Event::Left { flow, by } => format!("left {flow} by {by}"),
        other => format!("{other:?}"),
    }
}

fn list(name: &str, items: &[&str]) -> (String, Value) {
    (
        name.to_string(),
        Value::List(items.iter().map(|s| s.to_string()).collect()),
    )
}

#[test]
fn a_failure_in_a_loop_leaves_the_flow_and_the_other_items_never_start() {
    // L3: drain[b] fails; c never starts; check is skipped; the run ends
    // aborted (E1), before the nodes of `check` written after the outcome
    // are looked at.
    let body = r#"
  input hosts: list(string) = ["a", "b", "c"]
  stage restart "Restart" {
    on failure -> end aborted
    foreach h in hosts {
      step drain "Drain" { run "case {{ h }} in b) exit 1;; esac" }
    }
    then check
  }
  stage check "Check" {
    step smoke "Smoke" { run "exit 0" }
    end restarted
  }"#;
    let script = Script {
        fails: ["restart.drain[b]".to_string()].into(),
        ..Script::default()
    };
    check(
        body,
        Inputs::from([list("hosts", &["a", "b", "c"])]),
        &script,
        &[Op::Run],
        r#"
Run
  restart Succeeded
  start restart.drain[a]
  restart.drain[a] Succeeded
  start restart.drain[b]
  restart.drain[b] Failed
  left restart by restart.drain[b]
  skip restart.drain[c]
  skip check
  Stopped(Ended("aborted"))
  => Stopped(Ended("aborted"))
"#,
    );
}

/// The example of "The rules": with `all_at_once`, the decision takes the
/// branch to `bounce`, every node of the loop is skipped (C2), and `check`
/// still runs, because `bounce.all` succeeded (R3).
#[test]
fn a_branch_out_of_a_flow_skips_the_rest_and_the_join_still_runs() {
    let body = r#"
  input hosts: list(string) = ["web-1", "web-2"]
  input mode: enum(rolling, all_at_once) = rolling
  stage restart "Restart" {
    on failure -> end aborted
    decide how "How?" {
      when mode == all_at_once -> bounce
      otherwise -> continue
    }
    foreach host in hosts parallel 2 {
      step drain "Drain" { run "exit 0" }
    }
    then check
  }
  stage bounce "Bounce" {
    step all "All" { run "exit 0" }
    then check
  }
  stage check "Check" {
    end restarted
  }"#;
    check(
        body,
        Inputs::from([
            list("hosts", &["web-1", "web-2"]),
            ("mode".to_string(), Value::Name("all_at_once".into())),
        ]),
        &Script::default(),
        &[Op::Run],
        r#"
Run
  restart Succeeded
  restart.how Succeeded → mode == all_at_once
  left restart by restart.how
  skip restart.drain[web-1]
  skip restart.drain[web-2]
  skip restart.end.aborted
  bounce Succeeded
  start bounce.all
  bounce.all Succeeded
  check Succeeded
  Stopped(Ended("restarted"))
  => Stopped(Ended("restarted"))
"#,
    );
}

/// R4: with `parallel 2`, the third item waits for the first; a serial
/// loop runs its items in list order, each after the one before.
#[test]
fn parallel_n_lets_n_items_run_at_once() {
    let body = r#"
  input hosts: list(string) = ["a", "b", "c"]
  stage s "S" {
    foreach h in hosts parallel 2 {
      step x "X" { run "exit 0" }
      step y "Y" { run "exit 0" }
    }
    end done
  }"#;
    check(
        body,
        Inputs::from([list("hosts", &["a", "b", "c"])]),
        &Script::default(),
        &[Op::Run],
        r#"
Run
  s Succeeded
  start s.x[a]
  s.x[a] Succeeded
  start s.x[b]
  s.x[b] Succeeded
  start s.y[a]
  s.y[a] Succeeded
  start s.y[b]
  s.y[b] Succeeded
  start s.x[c]
  s.x[c] Succeeded
  start s.y[c]
  s.y[c] Succeeded
  Stopped(Ended("done"))
  => Stopped(Ended("done"))
"#,
    );
}

/// P1, P2, P3: a manual step with no answer pauses the run; `rbx confirm`
/// answers only the node the run waits for; its evidence is a value for
/// the decision after it.
#[test]
fn a_person_answers_only_what_the_run_waits_for() {
    let body = r#"
  stage s "S" {
    manual check "Check" {
      owner op
      evidence verdict "Verdict": choice(good, bad)
    }
    manual later "Later" {
      owner op
      evidence verdict "Verdict": choice(good, bad)
    }
    decide d "D" {
      when check.verdict == bad -> end badly
      otherwise -> continue
    }
    end fine
  }"#;
    let bad = Answer::Evidence([("verdict".to_string(), "bad".to_string())].into());
    let script = Script {
        answers: [("later".to_string(), bad.clone())].into(),
        ..Script::default()
    };
    check(
        body,
        Inputs::new(),
        &script,
        &[
            Op::Run,
            Op::Confirm {
                node: "s.later".into(),
                answer: bad.clone(),
            },
            Op::Confirm {
                node: "s.check".into(),
                answer: bad,
            },
            Op::Resume {
                in_doubt: None,
                from: None,
            },
        ],
        r#"
Run
  s Succeeded
  Stopped(Paused("s.check"))
  => Stopped(Paused("s.check"))
Confirm { node: "s.later", answer: Evidence({"verdict": "bad"}) }
  => Refused("the run is not waiting for `s.later`")
Confirm { node: "s.check", answer: Evidence({"verdict": "bad"}) }
  s.check Succeeded
  => Recorded
Resume { in_doubt: None, from: None }
  Resumed
  s.later Succeeded
  s.d Succeeded → check.verdict == bad
  left s by s.d
  Stopped(Ended("badly"))
  => Stopped(Ended("badly"))
"#,
    );
}

/// S2: a step started and not finished is in doubt; `idempotent` runs it
/// again, otherwise the operator's policy decides, and without one the
/// resume stops to ask. E2 and S5: a failure with no route fails the run,
/// and resuming runs it again.
#[test]
fn in_doubt_steps_follow_their_policy_and_a_failed_run_is_driven_again() {
    let body = r#"
  stage s "S" {
    step a "A" { run "exit 0" }
    step b "B" { run "exit 1" }
    end done
  }"#;
    let text = format!("runbook t \"T\" {{\n  version \"1\"\n{body}\n}}\n");
    let report = rbx_model::check_text(&text);
    let graph = report.graph.expect("a graph");
    let script = Script {
        fails: ["s.b".to_string()].into(),
        ..Script::default()
    };
    // As if rbx had been killed while `a` ran.
    let crashed = || {
        let mut model = Model::new(&graph, Inputs::new()).expect("a model");
        let settled = Event::Settled {
            node: "s".into(),
            status: Status::Succeeded,
            by: rbx_model::By::Rbx,
            branch: None,
            answers: Default::default(),
        };
        model.apply(&settled);
        model.apply(&Event::Started("s.a".into()));
        model
    };
    let resume = |in_doubt| Op::Resume {
        in_doubt,
        from: None,
    };
    let outcome =
        |model: &mut Model<'_>, op: &Op| model.perform(op, &script).expect("covered").outcome;

    let mut model = crashed();
    assert_eq!(
        outcome(&mut model, &resume(None)),
        Outcome::NeedsDecision("s.a".into())
    );
    let done = model
        .perform(&resume(Some(InDoubt::Skip)), &script)
        .expect("covered");
    assert!(
        !done.events.contains(&Event::Started("s.a".into())),
        "skip: `a` is done"
    );
    assert_eq!(
        done.outcome,
        Outcome::Stopped(rbx_model::Stop::Failed("s.b".into()))
    );
    let again = model.perform(&resume(None), &script).expect("covered");
    assert_eq!(again.events[1], Event::Reset(vec!["s.b".into()]));
    assert_eq!(
        again.outcome,
        Outcome::Stopped(rbx_model::Stop::Failed("s.b".into()))
    );

    let mut model = crashed();
    let done = model
        .perform(&resume(Some(InDoubt::Rerun)), &script)
        .expect("covered");
    assert!(
        done.events.contains(&Event::Started("s.a".into())),
        "rerun: `a` runs again"
    );

    let mut model = crashed();
    let stop = outcome(&mut model, &resume(Some(InDoubt::Abort)));
    assert_eq!(
        stop,
        Outcome::Stopped(rbx_model::Stop::Failed("s.a".into()))
    );
    // S5, S2: aborted in doubt, `a` is still in doubt, not re-driven: the
    // next resume asks about it again (with no policy it stops to ask).
    let again = model.perform(&resume(None), &script).expect("covered");
    assert_eq!(
        again.events[1],
        Event::Reset(Vec::new()),
        "an aborted step is not run again without a decision"
    );
    assert!(
        !again.events.contains(&Event::Started("s.a".into())),
        "an aborted step is not run again without a decision"
    );
}

/// `rbx cancel` of a paused run: the node it waits for has a cancel route,
/// settles as cancelled and leaves the flow for the compensation.
#[test]
fn a_cancelled_run_runs_its_compensation() {
    let body = r#"
  stage s "S" {
    on cancel -> undo
    manual check "Check" {
      owner op
      evidence verdict "Verdict": choice(good, bad)
    }
    end fine
  }
  stage undo "Undo" {
    step back "Back" { run "exit 0" }
    end undone
  }"#;
    check(
        body,
        Inputs::new(),
        &Script::default(),
        &[
            Op::Run,
            Op::Cancel { in_doubt: None },
            Op::Resume {
                in_doubt: None,
                from: None,
            },
        ],
        r#"
Run
  s Succeeded
  Stopped(Paused("s.check"))
  => Stopped(Paused("s.check"))
Cancel { in_doubt: None }
  Cancelled
  Resumed
  s.check Cancelled
  left s by s.check
  skip s.end.fine
  undo Succeeded
  start undo.back
  undo.back Succeeded
  Stopped(Ended("undone"))
  => Stopped(Ended("undone"))
Resume { in_doubt: None, from: None }
  => Refused("already ended")
"#,
    );
}

/// `again` runs a fresh instance with ids of its own, whose failure takes
/// the `again`'s route; `--from` resets a node and everything after it.
#[test]
fn again_makes_instances_and_from_runs_again() {
    let body = r#"
  stage smoke "Smoke" {
    step version "Version" { run "exit 0" }
    then roll
  }
  stage roll "Roll" {
    again smoke {
      on failure -> end escalated
    }
    manual check "Check" {
      owner op
      evidence verdict "Verdict": choice(good, bad)
    }
    end rolled
  }"#;
    let script = Script {
        fails: ["smoke#2.version".to_string()].into(),
        ..Script::default()
    };
    check(
        body,
        Inputs::new(),
        &Script::default(),
        &[
            Op::Run,
            Op::Resume {
                in_doubt: None,
                from: Some("smoke.version".into()),
            },
        ],
        r#"
Run
  smoke Succeeded
  start smoke.version
  smoke.version Succeeded
  roll Succeeded
  smoke#2 Succeeded
  start smoke#2.version
  smoke#2.version Succeeded
  skip smoke#2.end.escalated
  Stopped(Paused("roll.check"))
  => Stopped(Paused("roll.check"))
Resume { in_doubt: None, from: Some("smoke.version") }
  Resumed
  Reset(["roll", "smoke.version", "smoke#2", "smoke#2.end.escalated", "smoke#2.version", "roll.check", "roll.end.rolled"])
  start smoke.version
  smoke.version Succeeded
  roll Succeeded
  smoke#2 Succeeded
  start smoke#2.version
  smoke#2.version Succeeded
  skip smoke#2.end.escalated
  Stopped(Paused("roll.check"))
  => Stopped(Paused("roll.check"))
"#,
    );
    check(
        body,
        Inputs::new(),
        &script,
        &[Op::Run],
        r#"
Run
  smoke Succeeded
  start smoke.version
  smoke.version Succeeded
  roll Succeeded
  smoke#2 Succeeded
  start smoke#2.version
  smoke#2.version Failed
  left roll by smoke#2.version
  Stopped(Ended("escalated"))
  => Stopped(Ended("escalated"))
"#,
    );
}

/// What the model computes for a script: the outcome, the nodes that
/// executed, how each settled and the flows left.
#[test]
fn the_summary_says_where_the_run_stands() {
    let text = r#"runbook t "T" {
  version "1"
  input hosts: list(string) = ["a", "b"]
  stage s "S" {
    on failure -> u
    foreach h in hosts {
      step x "X" { run "exit 0" }
    }
    then u
  }
  stage u "U" {
    end done
  }
}
"#;
    let report = rbx_model::check_text(text);
    let graph = report.graph.expect("a graph");
    let mut model =
        Model::new(&graph, Inputs::from([list("hosts", &["a", "b"])])).expect("a model");
    let script = Script {
        fails: ["s.x[a]".to_string()].into(),
        ..Script::default()
    };
    model.perform(&Op::Run, &script).expect("covered");
    let summary = model.summary();
    assert_eq!(summary.stop, Some(rbx_model::Stop::Ended("done".into())));
    assert_eq!(summary.executed, ["s.x[a]".to_string()].into());
    assert_eq!(summary.settled.get("s.x[a]"), Some(&Status::Failed));
    assert_eq!(summary.settled.get("s.x[b]"), Some(&Status::Skipped));
    assert_eq!(
        summary.left,
        [("s".to_string(), "s.x[a]".to_string())].into()
    );
}

/// The events of each of `ops` on the runbook `text`, each operation
/// starting `after` minutes after the last event of the one before, on a
/// clock whose steps take twenty minutes; times in minutes from the start.
fn timed(text: &str, script: &Script, ops: &[(i64, Op)]) -> String {
    let report = rbx_model::check_text(text);
    assert!(!report.has_errors(), "{text}: {:?}", report.findings);
    let graph = report.graph.expect("a graph");
    let mut model = Model::new(&graph, Inputs::new()).expect("a model");
    model.steps_take(20 * 60_000);
    let mut out = String::new();
    for (after, op) in ops {
        model.set_clock(model.now() + after * 60_000);
        out.push_str(&format!("{op:?} at {}\n", model.now() / 60_000));
        let done = model.perform(op, script).expect("the model covers it");
        for event in &done.events {
            let shown = match event {
                Event::Due { tick, due } => format!("{tick} due at {}", due / 60_000),
                Event::Missed { tick, due } => format!("{tick} missed (due at {})", due / 60_000),
                other => line(other),
            };
            out.push_str(&format!("  {shown}\n"));
        }
    }
    out
}

#[test]
fn an_every_runs_each_iteration_at_its_due_time_beside_the_work() {
    // V2: the first tick is due one interval after its turn came; a tick
    // that comes due while a step runs starts its iteration then, ready
    // before what the step's end makes ready (R5); V3: once the work
    // beside it settled, the later iterations are skipped in one event.
    let text = r#"runbook t "T" {
  outcome ok success
  stage s "S" {
    every 30m at most 5 {
      step post "Post" { run "exit 0" }
    }
    step a "A" { run "exit 0" }
    step b "B" { run "exit 0" }
    step c "C" { run "exit 0" }
    end ok
  }
}
"#;
    let out = timed(text, &Script::default(), &[(0, Op::Run)]);
    let expected = "\
Run at 0
  s Succeeded
  s.every-post[1] due at 30
  start s.a
  s.a Succeeded
  start s.b
  s.every-post[1] Succeeded
  s.b Succeeded
  start s.post[1]
  s.post[1] Succeeded
  s.every-post[2] due at 60
  s.every-post[2] Succeeded
  start s.c
  s.c Succeeded
  start s.post[2]
  s.post[2] Succeeded
  EveryStopped { tick: \"s.every-post[3]\", skipped: [\"s.every-post[3]\", \"s.post[3]\", \"s.every-post[4]\", \"s.post[4]\", \"s.every-post[5]\", \"s.post[5]\"] }
  Stopped(Ended(\"ok\"))
";
    assert_eq!(out, expected, "\n{out}");
}

#[test]
fn iterations_whose_period_passed_while_nobody_drove_the_run_are_missed() {
    // V4: the run pauses for a person with the first tick due at 30; the
    // answer comes 100 minutes later and the run is resumed then: the
    // iterations due at 30 and 60 are missed, the one due at 90 runs late
    // (its period lasts until 120), and the next ones run when their turn
    // comes — never several at once. V3: the work beside it settled at 180
    // (`b`), when the sixth was due and not after: it was not missed, and
    // it stops. (The engine's journal of this run says the same.)
    let text = r#"runbook t "T" {
  role op "Op" { person "Ann" }
  outcome ok success
  stage s "S" {
    every 30m at most 6 {
      step post "Post" { run "exit 0" }
    }
    manual look "Look" {
      owner op
      evidence note "Note": text
    }
    step a "A" { run "exit 0" }
    step b "B" { run "exit 0" }
    end ok
  }
}
"#;
    let note = Answer::Evidence([("note".to_string(), "seen".to_string())].into());
    let ops = [
        (0, Op::Run),
        (
            100,
            Op::Confirm {
                node: "s.look".to_string(),
                answer: note,
            },
        ),
        (
            0,
            Op::Resume {
                in_doubt: None,
                from: None,
            },
        ),
    ];
    let out = timed(text, &Script::default(), &ops);
    let expected = "\
Run at 0
  s Succeeded
  s.every-post[1] due at 30
  Stopped(Paused(\"s.look\"))
Confirm { node: \"s.look\", answer: Evidence({\"note\": \"seen\"}) } at 100
  s.look Succeeded
Resume { in_doubt: None, from: None } at 100
  Resumed
  s.every-post[1] missed (due at 30)
  skip s.post[1]
  s.every-post[2] due at 60
  s.every-post[2] missed (due at 60)
  skip s.post[2]
  s.every-post[3] due at 90
  s.every-post[3] Succeeded
  start s.post[3]
  s.post[3] Succeeded
  s.every-post[4] due at 120
  s.every-post[4] Succeeded
  start s.a
  s.a Succeeded
  start s.post[4]
  s.post[4] Succeeded
  s.every-post[5] due at 150
  s.every-post[5] Succeeded
  start s.b
  s.b Succeeded
  start s.post[5]
  s.post[5] Succeeded
  EveryStopped { tick: \"s.every-post[6]\", skipped: [\"s.every-post[6]\", \"s.post[6]\"] }
  Stopped(Ended(\"ok\"))
";
    assert_eq!(out, expected, "\n{out}");
}
