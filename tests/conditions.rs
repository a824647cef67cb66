//! A node's own condition (`when EXPR`, rules W1–W4 of the execution
//! semantics), through the real `rbx` binary: in every place a node can
//! stand — a stage, a `foreach` reading its item, a `parallel` branch, an
//! `again` instance, an included fragment — held and not held; after
//! `kill -9` at every event; and with `rbx confirm` of a node whose
//! condition does not hold.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rbx_store::{SqliteStore, Store};
use support::Output;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file; a runbook must pass `rbx lint`.
    fn write(&self, name: &str, text: &str) {
        fs::write(self.path().join(name), text).expect("write a file");
        if name == "main.runbook" {
            let lint = support::rbx(self.path(), &["lint", name]);
            assert_eq!(lint.status, 0, "{}\n{text}", lint.transcript());
        }
    }

    fn rbx(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(RBX)
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_STATE_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("rbx runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The latest run's id and journal: (kind, node, payload).
    fn journal(&self) -> (String, Vec<(String, String, serde_json::Value)>) {
        let store = SqliteStore::open(&self.path().join(".rbx")).expect("the store opens");
        let run = store.runs().expect("runs").pop().expect("a run");
        let events = store
            .events(&run.id)
            .expect("the journal reads")
            .into_iter()
            .map(|e| {
                let node = e.payload["node"].as_str().unwrap_or("").to_string();
                (e.kind, node, e.payload)
            })
            .collect();
        (run.id.to_string(), events)
    }

    /// The lines the steps appended to `ran.log`: one per command run.
    fn ran(&self) -> Vec<String> {
        fs::read_to_string(self.path().join("ran.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Where the conditional node stands, and what its condition reads there.
#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Fragment,
}

/// A runbook whose node `maybe` (a step, or a choice) has the condition
/// `when` at `place`, with a step `after` that must run either way, and
/// the id `maybe` has in the run.
fn runbook(place: Place, choice: bool, flag: bool) -> (String, Option<String>, Vec<String>) {
    let node = if choice {
        "choose maybe \"Maybe\" {\n      when COND\n      option stop \"Stop\" -> end stopped\n    }"
    } else {
        "step maybe \"Maybe\" {\n      when COND\n      run \"echo maybe-ITEM >> ran.log\"\n      idempotent\n    }"
    };
    let after =
        "step after \"After\" {\n      run \"echo after >> ran.log\"\n      idempotent\n    }";
    let flag_cond = "flag";
    let (body, fragment, ids) = match place {
        Place::Stage => (
            format!(
                "{}\n    {after}",
                node.replace("COND", flag_cond).replace("-ITEM", "")
            ),
            None,
            vec!["s.maybe".to_string()],
        ),
        Place::Loop => (
            format!(
                "foreach h in hosts {{\n    {}\n    }}\n    {after}",
                node.replace("COND", "h == \"b\" or flag")
                    .replace("-ITEM", "-{{ h }}")
            ),
            None,
            vec!["s.maybe[a]".to_string(), "s.maybe[b]".to_string()],
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n    {}\n    step other \"Other\" {{ run \"echo other >> ran.log\" }}\n    }}\n    {after}",
                node.replace("COND", flag_cond).replace("-ITEM", "")
            ),
            None,
            vec!["s.maybe".to_string()],
        ),
        Place::Again => (
            format!("again t\n    {after}"),
            None,
            vec!["t#2.maybe".to_string()],
        ),
        Place::Fragment => (
            after.to_string(),
            Some(format!(
                "stage f \"Fragment\" {{\n    {}\n    then s\n  }}\n",
                node.replace("COND", flag_cond).replace("-ITEM", "")
            )),
            vec!["f.maybe".to_string()],
        ),
    };
    let (first, include) = match place {
        Place::Fragment => ("  include \"part.runbook\"\n", "then_f"),
        _ => ("", ""),
    };
    let again_stage = match place {
        Place::Again => format!(
            "\n  stage t \"Target\" {{\n    {}\n    end t_done\n  }}\n",
            node.replace("COND", flag_cond).replace("-ITEM", "")
        ),
        _ => String::new(),
    };
    let entry = if include == "then_f" {
        "  stage start \"Start\" {\n    then f\n  }\n".to_string()
    } else {
        String::new()
    };
    let text = format!(
        "runbook c \"Conditions\" {{\n{first}  input flag: bool = {flag}\n  input hosts: list(string) = [\"a\", \"b\"]\n{entry}  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{again_stage}}}\n"
    );
    (text, fragment, ids)
}

/// W1, W2: a node whose condition does not hold is skipped with its
/// condition recorded, and what follows it runs; one whose condition holds
/// runs — in every place a node can stand, for a step and a choice.
#[test]
fn a_node_skipped_by_its_condition_lets_its_flow_go_on_everywhere() {
    let places = [
        Place::Stage,
        Place::Loop,
        Place::Parallel,
        Place::Again,
        Place::Fragment,
    ];
    for place in places {
        for choice in [false, true] {
            for flag in [false, true] {
                let shape = format!("{place:?}, choice {choice}, flag {flag}");
                let bench = Bench::new();
                let (text, fragment, ids) = runbook(place, choice, flag);
                if let Some(fragment) = fragment {
                    bench.write("part.runbook", &fragment);
                }
                bench.write("main.runbook", &text);
                let answers = "[maybe]\nchoice = \"stop\"\nrationale = \"asked to\"\n";
                bench.write("answers.toml", answers);
                let run = bench.rbx(
                    &[
                        "run",
                        "main.runbook",
                        "--non-interactive",
                        "--answers",
                        "answers.toml",
                    ],
                    &[],
                );
                let (_, events) = bench.journal();
                let ran = bench.ran();
                let line = |id: &str| match id.split_once('[') {
                    Some((_, item)) => format!("maybe-{}", item.trim_end_matches(']')),
                    None => "maybe".to_string(),
                };
                let held: Vec<&String> = ids
                    .iter()
                    .filter(|id| flag || id.ends_with("[b]"))
                    .collect();
                for id in &ids {
                    let skipped = events
                        .iter()
                        .find(|(k, n, _)| k == "node_skipped" && n == id);
                    if held.contains(&id) {
                        // Held: never skipped by its condition (a choice in
                        // a loop that ended the run skips later items as a
                        // way no control takes, with no condition).
                        let by_condition =
                            skipped.is_some_and(|(_, _, p)| !p["condition"].is_null());
                        assert!(!by_condition, "{shape}: {id} was skipped\n{text}");
                        assert!(choice || skipped.is_none(), "{shape}: {id} was skipped");
                        continue;
                    }
                    let payload = &skipped
                        .unwrap_or_else(|| panic!("{shape}: {id} not skipped\n{text}"))
                        .2;
                    assert!(payload["condition"].is_string(), "{shape}: {payload}");
                    assert!(!ran.contains(&line(id)), "{shape}: {id} ran: {ran:?}");
                }
                if choice && !held.is_empty() {
                    // The choice took its option and ended the run there.
                    assert!(!ran.contains(&"after".to_string()), "{shape}: {ran:?}");
                    assert!(
                        events
                            .iter()
                            .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "stopped"),
                        "{shape}\n{}",
                        run.transcript()
                    );
                    continue;
                }
                assert_eq!(run.status, 0, "{shape}\n{}\n{text}", run.transcript());
                let after = ran.iter().filter(|l| *l == "after").count();
                assert_eq!(after, 1, "{shape}: {ran:?}");
                let steps = ran.iter().filter(|l| l.starts_with("maybe")).count();
                let expected = if choice { 0 } else { held.len() };
                assert_eq!(steps, expected, "{shape}: {ran:?}");
            }
        }
    }
}

/// W1 with S1, S2: `kill -9` after every event of a run with conditional
/// nodes, then `rbx resume` until it ends: every command that should run
/// ran, none whose condition does not hold ever ran, and each skip by a
/// condition is recorded once.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_a_conditional_node() {
    let text = r#"runbook c "Conditions after a crash" {
  input flag: bool = false
  input hosts: list(string) = ["a", "b", "c"]
  stage s "S" {
    step first "First" {
      run "echo first >> ran.log"
    }
    foreach h in hosts {
      step each "Each {{ h }}" {
        when h != "b" and not flag
        run "echo each-{{ h }} >> ran.log"
      }
    }
    step never "Never" {
      when flag
      run "echo never >> ran.log"
    }
    step last "Last" {
      when first.status == succeeded
      run "echo last >> ran.log"
    }
    end done
  }
}
"#;
    let whole = {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(run.status, 0, "{}", run.transcript());
        assert_eq!(
            bench.ran(),
            ["first", "each-a", "each-c", "last"],
            "the run without a crash"
        );
        bench.journal().1.len()
    };
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let after = crash.to_string();
        let crashed = bench.rbx(
            &["run", "main.runbook"],
            &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
        );
        assert_ne!(
            crashed.status, 0,
            "crash after {crash}: it should have died"
        );
        for _ in 0..3 {
            let (run, _) = bench.journal();
            let resumed = bench.rbx(&["resume", &run, "--in-doubt", "rerun"], &[]);
            if resumed.status == 0 {
                break;
            }
        }
        let (_, events) = bench.journal();
        assert!(
            events
                .iter()
                .any(|(k, _, p)| k == "run_ended" && p["outcome"] == "done"),
            "crash after {crash}: {events:?}"
        );
        let mut ran = bench.ran();
        ran.dedup();
        assert_eq!(
            ran,
            ["first", "each-a", "each-c", "last"],
            "crash after {crash}: lost or ran out of order"
        );
        for skipped in ["s.each[b]", "s.never"] {
            let count = events
                .iter()
                .filter(|(k, n, p)| {
                    k == "node_skipped" && n == skipped && p["condition"].is_string()
                })
                .count();
            assert_eq!(
                count, 1,
                "crash after {crash}: {skipped} skipped {count} times"
            );
        }
    }
}

/// W4, P2: a person's node whose condition does not hold is not what the
/// run waits for: `rbx confirm` refuses it and records nothing, `rbx
/// status` does not list it, and the run skips it when resumed.
#[test]
fn confirm_refuses_a_node_whose_condition_does_not_hold() {
    let text = r#"runbook c "Confirm" {
  input flag: bool = false
  stage s "S" {
    parallel {
      manual first "First" {
        evidence note "Note": text
      }
      manual second "Second" {
        when flag
        evidence note "Note": text
      }
    }
    end done
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    // One at a time, so the run pauses at the first manual step before it
    // looks at the second: `rbx confirm` then meets a node not settled yet.
    let run = bench.rbx(
        &["run", "main.runbook", "--non-interactive", "--jobs", "1"],
        &[],
    );
    assert_eq!(run.status, 3, "{}", run.transcript());
    let (id, before) = bench.journal();
    let status = bench.rbx(&["status", &id, "--format", "json"], &[]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(status["waiting_for"], serde_json::json!(["s.first"]));
    let refused = bench.rbx(&["confirm", &id, "s.second", "--evidence", "note=hi"], &[]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("not waiting for"),
        "{}",
        refused.stderr
    );
    assert_eq!(bench.journal().1.len(), before.len(), "nothing recorded");
    let given = bench.rbx(&["confirm", &id, "s.first", "--evidence", "note=ok"], &[]);
    assert_eq!(given.status, 0, "{}", given.transcript());
    let resumed = bench.rbx(&["resume", &id, "--non-interactive"], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    let text_status = bench.rbx(&["status", &id], &[]);
    assert!(
        text_status
            .stdout
            .contains("s.second  its condition `when flag` did not hold"),
        "{}",
        text_status.stdout
    );
    let report = bench.rbx(&["report", &id, "--format", "json"], &[]);
    assert!(
        report
            .stdout
            .contains("its condition `when flag` did not hold"),
        "{}",
        report.stdout
    );
}

/// A node reads the run's id and the operator driving it, in a condition
/// and in a command, as values passed to the shell as data.
#[test]
fn a_node_reads_the_run_id_and_operator() {
    let text = r#"runbook c "The run itself" {
  stage s "S" {
    step who "Who" {
      when run.operator == "tester"
      run "echo {{ run.id }} {{ run.operator }} >> ran.log"
    }
    step nobody "Nobody" {
      when run.operator == "nobody" or who.status == cancelled
      run "echo nobody >> ran.log"
    }
    end done
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let (id, _) = bench.journal();
    assert_eq!(bench.ran(), [format!("{id} tester")]);
}
