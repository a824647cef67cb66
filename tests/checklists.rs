//! Checklists through the real `rbx` binary: for every number of items and
//! every set of failing items, with and without `fail-fast`, at a stage's
//! level and inside a `foreach` — which items ran, how the checklist
//! settled, and what its failure route's stage reads of `ID.failed`.
//! (`tests/model.rs` generates checklists too, with crashes, confirmations
//! and cancels, against the reference model.)

mod support;

use std::fs;
use std::process::{Command, Stdio};

/// A runbook with a checklist of `n` steps (`c0`, `c1`, …) where the steps
/// in `failing` fail, optionally inside a loop over two hosts; its failure
/// route writes what `checks.failed` holds.
fn runbook(n: usize, failing: &[usize], fail_fast: bool, in_loop: bool) -> String {
    let mode = if fail_fast { " fail-fast" } else { "" };
    let mut items = String::new();
    for i in 0..n {
        let code = if failing.contains(&i) { 1 } else { 0 };
        items.push_str(&format!(
            "        step c{i} \"Check {i}\" {{\n          run \"echo c{i}{{{{ suffix }}}} >> ran.log; exit {code}\"\n        }}\n"
        ));
    }
    let (open, close, suffix) = if in_loop {
        ("    foreach h in hosts {\n", "    }\n", "-{{ h }}")
    } else {
        ("", "", "")
    };
    let items = items.replace("{{ suffix }}", suffix);
    format!(
        r#"runbook c "Checklist" {{
  input hosts: list(string) = ["a", "b"]
  stage smoke "Smoke" {{
    on failure -> no_go
{open}      checklist checks "Checks"{mode} {{
{items}      }}
{close}    end go
  }}
  stage no_go "NO-GO" {{
    step tell "Tell" {{
      run "echo failed: {{{{ checks.failed }}}} >> ran.log"
    }}
    end no_go
  }}
}}
"#
    )
}

#[test]
fn a_checklist_runs_its_items_and_names_every_failure() {
    for n in 1..=4usize {
        for mask in 0..(1u32 << n) {
            let failing: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            for fail_fast in [false, true] {
                for in_loop in [false, true] {
                    check(n, &failing, fail_fast, in_loop);
                }
            }
        }
    }
}

fn check(n: usize, failing: &[usize], fail_fast: bool, in_loop: bool) {
    let shape = format!("{n} items, {failing:?} fail, fail-fast {fail_fast}, loop {in_loop}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = runbook(n, failing, fail_fast, in_loop);
    fs::write(dir.path().join("main.runbook"), &text).expect("write");
    let lint = support::rbx(dir.path(), &["lint", "main.runbook"]);
    assert_eq!(lint.status, 0, "{shape}\n{}\n{text}", lint.transcript());
    let run = Command::new(env!("CARGO_BIN_EXE_rbx"))
        .args(["run", "main.runbook"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RBX_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("rbx runs");
    assert_eq!(run.status.code(), Some(0), "{shape}");
    let ran: Vec<String> = fs::read_to_string(dir.path().join("ran.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    // Which items ran: all of them, or up to the first failure.
    let upto = match (fail_fast, failing.first()) {
        (true, Some(&first)) => first + 1,
        _ => n,
    };
    let suffixes: &[&str] = if in_loop { &["-a", "-b"] } else { &[""] };
    let mut expected = Vec::new();
    for (at, suffix) in suffixes.iter().enumerate() {
        // A failing checklist in the first item of the loop leaves the
        // flow: the second item does not start.
        if at > 0 && !failing.is_empty() {
            break;
        }
        expected.extend((0..upto).map(|i| format!("c{i}{suffix}")));
    }
    if !failing.is_empty() {
        let named: Vec<String> = failing
            .iter()
            .filter(|&&i| i < upto)
            .map(|i| format!("c{i}"))
            .collect();
        expected.push(format!("failed: {}", named.join(" ")));
    }
    assert_eq!(ran, expected, "{shape}\n{text}");
}
