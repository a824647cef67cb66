//! `rbx test` scenarios that name a child run's nodes by a path through
//! the `child` node (`eu/s.push`, `"s.each[us]/s.check"`, at any depth):
//! a child's step made to fail, its person's nodes — a manual step, a
//! gate, a choice — answered, its nodes' statuses and its outcome
//! expected; each expectation fails when what it says did not happen; a
//! parent's node and a child's of the same id are answered apart; an
//! unknown child or child node is reported where it is written.

mod support;

use std::fs;
use std::path::Path;

/// The grandchild: one step.
const LEAF: &str = r#"runbook leaf "Leaf" {
  outcome done success
  stage s "S" {
    step push "Push" {
      run "echo push"
    }
    end done
  }
}
"#;

/// The child: a step, a manual step, a gate, a choice, and a grandchild.
const KID: &str = r#"runbook kid "Kid" {
  input region "Where": string
  outcome done success
  outcome held failure
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    step check "Check {{ region }}" {
      run "echo check {{ region }}"
      on failure -> end held
    }
    manual look "Look at {{ region }}" {
      owner owner
      evidence note "What it shows": text
    }
    gate go "Go on" {
      owner owner
      attest owner "It looks right"
    }
    choose how "How" {
      owner owner
      option fast "Fast" -> continue
      option hold "Hold" -> end held
    }
    child deeper "Deeper" {
      runbook "leaf.runbook"
    }
    end done
  }
}
"#;

const MAIN: &str = r#"runbook main "Parent" {
  input regions: list(string) = ["eu", "us"]
  outcome done success
  outcome partial failure
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    manual look "Look" {
      owner owner
      evidence note "What it shows": text
    }
    foreach r in regions {
      child each "Deploy {{ r }}" {
        runbook "kid.runbook"
        input region = r
        on failure -> end partial
      }
    }
    end done
  }
}
"#;

fn dir(scenarios: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, text) in [
        ("leaf.runbook", LEAF),
        ("kid.runbook", KID),
        ("main.runbook", MAIN),
        ("main.rbxtest", scenarios),
    ] {
        fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn rbx_test(dir: &Path) -> support::Output {
    support::rbx(dir, &["test", "main.rbxtest"])
}

/// Every child's person answers, each child's choice its own.
const ANSWERED: &str = r#"
  default { exit 0 }
  answer look { evidence note = "parent" }
  answer "s.each[eu]/look" { evidence note = "eu" }
  answer "each/look" {}
  answer "each/go" {}
  answer "s.each[eu]/how" { choice fast }
  answer "s.each[us]/s.how" { choice hold }
"#;

/// The scenarios, each with its expectations, all of which hold.
fn passing() -> String {
    format!(
        r#"scenario answered "each child's people answer; us holds" {{{ANSWERED}
  expect outcome partial
  expect ran "s.each[eu]/s.deeper/push"
  expect not ran "s.each[us]/deeper"
  expect attempts "each/check" 1
  expect ran "s.each[us]/s.how"
  expect not ran "s.each[us]/s.deeper/push"
  expect each.outcome == held
}}

scenario failing_child_step "a child's step fails: its route ends it held" {{{ANSWERED}
  given "s.each[eu]/check" {{ exit 1 }}

  expect outcome partial
  expect failed "s.each[eu]/check"
  expect not ran "s.each[eu]/look"
  expect ran "s.each[eu]/check"
}}
"#
    )
}

#[test]
fn scenarios_fail_answer_and_expect_a_child_runs_nodes() {
    let dir = dir(&passing());
    let out = rbx_test(dir.path());
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(out.stdout.contains("2 passed"), "{}", out.transcript());
}

/// Each expectation about a child, turned around, fails the scenario —
/// so none holds whatever happens.
#[test]
fn each_expectation_on_a_child_fails_when_it_does_not_hold() {
    let wrong = [
        r#"expect not ran "s.each[eu]/s.deeper/push""#,
        r#"expect ran "s.each[us]/deeper""#,
        r#"expect attempts "each/check" 2"#,
        r#"expect failed "s.each[eu]/s.how""#,
        r#"expect each.outcome == done"#,
        r#"expect not ran "s.each[us]/look""#,
    ];
    for expectation in wrong {
        let dir = dir(&format!(
            "scenario wrong \"{}\" {{{ANSWERED}\n  {expectation}\n}}\n",
            expectation.replace('"', "'")
        ));
        let out = rbx_test(dir.path());
        assert_eq!(out.status, 1, "{expectation}: {}", out.transcript());
        assert!(out.stdout.contains("0 passed"), "{}", out.transcript());
    }
}

/// The parent's `look` and each child's are answered apart: without the
/// children's own answers, the children's `look` waits for a person.
#[test]
fn a_parents_answer_is_not_a_childs() {
    let dir = dir(r#"scenario apart "only the parent answers look" {
  default { exit 0 }
  answer look { evidence note = "parent" }
  answer "each/go" {}
  answer "each/how" { choice fast }
}
"#);
    let out = rbx_test(dir.path());
    assert_eq!(out.status, 1, "{}", out.transcript());
    assert!(
        out.stdout.contains("s.each[eu]") && out.stdout.contains("s.look"),
        "the child's look is named as waiting: {}",
        out.transcript()
    );
}

#[test]
fn an_unknown_child_or_child_node_is_reported_where_it_is_written() {
    let dir = dir(r#"scenario wrong "names nothing" {
  default { exit 0 }
  given "eahc/check" { exit 1 }
  answer "each/lok" {}
  expect ran "s.each[eu]/deeper/psh"
  cancel at "each/check"
}
"#);
    let out = rbx_test(dir.path());
    assert_eq!(out.status, 2, "{}", out.transcript());
    let text = &out.stdout;
    for expected in [
        "no `child` node of the runbook is named `eahc`",
        "did you mean `each`?",
        "the child runbook kid.runbook that `each` runs has no node `lok`",
        "did you mean `look`?",
        "the child runbook leaf.runbook that `s.each[eu]/deeper` runs has no node `psh`",
        "did you mean `push`?",
        "`cancel at` names a node of the run the scenario drives, not of a child run",
        "main.rbxtest:3:",
        "main.rbxtest:4:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
