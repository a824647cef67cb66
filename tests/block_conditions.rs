//! A `foreach` or `parallel` block's own condition (`foreach … when EXPR`,
//! `parallel … when EXPR`, rule W5) through the real `rbx` binary: in
//! every place a block can stand — a stage, inside a `foreach` reading its
//! item, inside a `parallel` branch, in an `again` instance, in an
//! included fragment — held and not held; after `kill -9` at every event;
//! and with `rbx confirm` of a node inside a block that is skipped.

mod support;

use support::bench::Bench;

#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Fragment,
}

#[derive(Debug, Clone, Copy)]
enum Block {
    Foreach,
    Parallel,
}

/// The guarded block: two steps that log their node id, in a loop over
/// `zones` or as two branches.
fn block(kind: Block, condition: &str) -> String {
    let step = |id: &str| {
        format!(
            "step {id} \"{id}\" {{\n        run \"echo ${{RBX_RUN_STEP#*:}} >> ran.log\"\n        idempotent\n      }}"
        )
    };
    match kind {
        Block::Foreach => format!(
            "foreach z in zones when {condition} {{\n      {}\n      {}\n    }}",
            step("one"),
            step("two")
        ),
        Block::Parallel => format!(
            "parallel when {condition} {{\n      {}\n      {}\n    }}",
            step("one"),
            step("two")
        ),
    }
}

/// A runbook with the guarded block at `place` and a step `after` that must
/// run either way; with the stage instance the block's nodes are in and
/// whether they hold (for each item around, in a loop).
fn runbook(place: Place, kind: Block, flag: bool) -> (String, Option<String>, Vec<(String, bool)>) {
    let after =
        "step after \"After\" {\n      run \"echo after >> ran.log\"\n      idempotent\n    }";
    let plain = block(kind, "flag");
    let (body, fragment, instances) = match place {
        Place::Stage => (
            format!("{plain}\n    {after}"),
            None,
            vec![("s".to_string(), flag)],
        ),
        Place::Loop => (
            format!(
                "foreach h in hosts {{\n    {}\n    }}\n    {after}",
                block(kind, "h == \"b\" or flag")
            ),
            None,
            vec![("s#a".to_string(), flag), ("s#b".to_string(), true)],
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n    {plain}\n    step other \"Other\" {{\n      run \"echo other >> ran.log\"\n    }}\n    }}\n    {after}"
            ),
            None,
            vec![("s".to_string(), flag)],
        ),
        Place::Again => (
            format!("again t\n    {after}"),
            None,
            vec![("t#2".to_string(), flag)],
        ),
        Place::Fragment => (
            after.to_string(),
            Some(format!(
                "stage f \"Fragment\" {{\n    {plain}\n    then s\n  }}\n"
            )),
            vec![("f".to_string(), flag)],
        ),
    };
    let include = match place {
        Place::Fragment => {
            "  include \"part.runbook\"\n  stage start \"Start\" {\n    then f\n  }\n"
        }
        _ => "",
    };
    let again_stage = match place {
        Place::Again => format!("\n  stage t \"Target\" {{\n    {plain}\n    end t_done\n  }}\n"),
        _ => String::new(),
    };
    let text = format!(
        "runbook c \"Block conditions\" {{\n  input flag: bool = {flag}\n  input hosts: list(string) = [\"a\", \"b\"]\n  input zones: list(string) = [\"x\", \"y\"]\n{include}  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{again_stage}}}\n"
    );
    (text, fragment, instances)
}

/// The ids the block's steps have in the run, for one instance (`s#a`:
/// stage `s` inside the loop's item `a`).
fn ids(kind: Block, instance: &str) -> Vec<String> {
    let (stage, item) = match instance.split_once('#') {
        Some((stage, item)) if !item.starts_with(char::is_numeric) => {
            (stage.to_string(), format!("[{item}]"))
        }
        _ => (instance.to_string(), String::new()),
    };
    let zones: &[&str] = match kind {
        Block::Foreach => &["[x]", "[y]"],
        Block::Parallel => &[""],
    };
    let mut out = Vec::new();
    for zone in zones {
        for step in ["one", "two"] {
            out.push(format!("{stage}.{step}{item}{zone}"));
        }
    }
    out
}

/// W5: a block whose condition does not hold is skipped whole — its guard
/// recorded as skipped with the condition, none of its nodes run — and
/// what follows it runs; one whose condition holds runs every node.
#[test]
fn a_block_skipped_by_its_condition_lets_its_flow_go_on_everywhere() {
    let places = [
        Place::Stage,
        Place::Loop,
        Place::Parallel,
        Place::Again,
        Place::Fragment,
    ];
    for place in places {
        for kind in [Block::Foreach, Block::Parallel] {
            for flag in [false, true] {
                let shape = format!("{place:?}, {kind:?}, flag {flag}");
                let bench = Bench::new();
                let (text, fragment, instances) = runbook(place, kind, flag);
                if let Some(fragment) = fragment {
                    bench.write("part.runbook", &fragment);
                }
                bench.write("main.runbook", &text);
                let run = bench.rbx(&["run", "main.runbook"], &[]);
                assert_eq!(run.status, 0, "{shape}\n{}\n{text}", run.transcript());
                let (_, events) = bench.journal();
                let ran = bench.ran();
                let guards_skipped: Vec<&serde_json::Value> = events
                    .iter()
                    .filter(|(k, n, p)| {
                        k == "node_skipped" && n.contains(".when-") && p["condition"].is_string()
                    })
                    .map(|(_, _, p)| p)
                    .collect();
                let not_held = instances.iter().filter(|(_, held)| !held).count();
                assert_eq!(guards_skipped.len(), not_held, "{shape}: {events:?}");
                for (instance, held) in &instances {
                    for id in ids(kind, instance) {
                        let times = ran.iter().filter(|l| **l == id).count();
                        assert_eq!(
                            times,
                            usize::from(*held),
                            "{shape}: {id} in {ran:?}\n{text}"
                        );
                        if !held {
                            assert!(
                                events
                                    .iter()
                                    .any(|(k, n, _)| k == "node_skipped" && *n == id),
                                "{shape}: {id} not recorded as skipped"
                            );
                        }
                    }
                }
                let after = ran.iter().filter(|l| *l == "after").count();
                assert_eq!(after, 1, "{shape}: {ran:?}");
            }
        }
    }
}

/// W5 with S1, S2: `kill -9` after every event of a run with a block that
/// runs and one that is skipped, then `rbx resume` until it ends: every
/// command of the block that holds ran, none of the skipped one's ever
/// did, and the skipped guard is recorded once.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_a_guarded_block() {
    let text = r#"runbook c "Blocks after a crash" {
  input flag: bool = false
  input zones: list(string) = ["x", "y"]
  stage s "S" {
    foreach z in zones when not flag {
      step each "Each {{ z }}" {
        run "echo each-{{ z }} >> ran.log"
      }
    }
    parallel when flag {
      step never "Never" {
        run "echo never >> ran.log"
      }
      step nor "Nor" {
        run "echo nor >> ran.log"
      }
    }
    step last "Last" {
      run "echo last >> ran.log"
    }
    end done
  }
}
"#;
    let expected = ["each-x", "each-y", "last"];
    let whole = Bench::whole_run(text, &expected);
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", text);
        let events = bench.crash_then_resume(crash, &["--in-doubt", "rerun"]);
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
        let skipped = events
            .iter()
            .filter(|(k, n, p)| {
                k == "node_skipped" && n == "s.when-parallel" && p["condition"] == "flag"
            })
            .count();
        assert_eq!(
            skipped, 1,
            "crash after {crash}: the guard skipped {skipped} times"
        );
    }
}

/// W5 with W4, P2: a person's node inside a block whose condition does not
/// hold is never waited for: `rbx confirm` refuses it and records
/// nothing, and the run ends without it.
#[test]
fn confirm_refuses_a_node_inside_a_skipped_block() {
    let text = r#"runbook c "A skipped block" {
  input flag: bool = false
  stage s "S" {
    manual first "First" {
      evidence note "Note": text
    }
    parallel when flag {
      manual inside "Inside" {
        evidence note "Note": text
      }
    }
    end done
  }
}
"#;
    let bench = Bench::new();
    bench.write("main.runbook", text);
    let run = bench.rbx(&["run", "main.runbook", "--non-interactive"], &[]);
    assert_eq!(run.status, 3, "{}", run.transcript());
    let (id, _) = bench.journal();
    let early = bench.rbx(&["confirm", &id, "s.inside", "--evidence", "note=x"], &[]);
    assert_eq!(early.status, 2, "{}", early.transcript());
    let first = bench.rbx(&["confirm", &id, "s.first", "--evidence", "note=x"], &[]);
    assert_eq!(first.status, 0, "{}", first.transcript());
    let inside = bench.rbx(&["confirm", &id, "s.inside", "--evidence", "note=x"], &[]);
    assert_eq!(inside.status, 2, "{}", inside.transcript());
    let (_, events) = bench.journal();
    assert!(
        !events
            .iter()
            .any(|(k, n, _)| k == "node_finished" && n == "s.inside"),
        "{events:?}"
    );
    let ended = bench.rbx(&["resume", &id, "--non-interactive"], &[]);
    assert_eq!(ended.status, 0, "{}", ended.transcript());
    let (_, events) = bench.journal();
    assert!(events.iter().any(|(k, n, p)| k == "node_skipped"
        && n == "s.when-parallel"
        && p["condition"] == "flag"));
    assert!(
        events
            .iter()
            .any(|(k, n, _)| k == "node_skipped" && n == "s.inside")
    );
}
