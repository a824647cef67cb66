//! The model on small runbooks whose runs the rules fix, one rule or two
//! per test, each checked through one `check` helper: the events of each
//! operation, one line each.

use rbx_model::{Answer, Event, Inputs, InDoubt, Model, Op, Outcome, Script, Status, Value};

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
        Event::Settled { node, status, branch, .. } => match branch {
            Some(b) => format!("{node} {status:?} → {b}"),
            None => format!("{node} {status:?}"),
        },
        Event::Skipped(id) => format!("skip {id}"),
        Event::Left { flow, by } => format!("left {flow} by {by}"),
        other => format!("{other:?}"),
    }
}

fn list(name: &str, items: &[&str]) -> (String, Value) {
    (name.to_string(), Value::List(items.iter().map(|s| s.to_string()).collect()))
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
