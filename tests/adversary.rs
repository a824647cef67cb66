//! The adversary's tests: constructs combined the way an author (or an
//! attacker) would, each shape generated, asserting that what rbx records
//! and how it exits tell the truth about what ran.

mod support;

use support::bench::Bench;

const HOSTS: [&str; 3] = ["a", "b", "c"];

/// Where a tolerating fan-out holds the checklists it judges.
#[derive(Debug, Clone, Copy)]
enum Fan {
    /// `foreach h in hosts tolerate T { checklist … }`
    Loop,
    /// `foreach h in hosts parallel 2 tolerate T { checklist … }`
    LoopTwoAtOnce,
    /// `parallel tolerate T { checklist ca … checklist cb … checklist cc … }`
    Block,
    /// `foreach h in hosts tolerate T { call check(h = h) }`, the
    /// checklist in the called stage.
    Call,
}

/// A checklist of two steps for host `h`; the first fails on the hosts in
/// `failing`. `suffix` tells one checklist's ids from another's.
fn checklist(id: &str, h: &str, failing: &[&str], fail_fast: bool) -> String {
    let mode = if fail_fast { " fail-fast" } else { "" };
    let fails: Vec<String> = failing.iter().map(|f| format!("-e {f}")).collect();
    let test = if fails.is_empty() {
        "true".to_string()
    } else {
        format!("! echo {h} | grep -qx {}", fails.join(" "))
    };
    format!(
        r#"      checklist {id} "Checks"{mode} {{
        step one_{id} "One" {{
          run "echo one-{h} >> ran.log; {test}"
          timeout 5s
        }}
        step two_{id} "Two" {{
          run "echo two-{h} >> ran.log"
          timeout 5s
        }}
      }}
"#
    )
}

/// A runbook whose fan-out over `HOSTS` tolerates `tolerate` failed
/// items, each item a checklist whose first step fails on `failing`; the
/// stage's failure route ends the run `bad`.
fn runbook(fan: Fan, tolerate: usize, failing: &[&str], fail_fast: bool) -> String {
    let h = "{{ h }}";
    let (body, extra) = match fan {
        Fan::Loop | Fan::LoopTwoAtOnce => {
            let width = if matches!(fan, Fan::LoopTwoAtOnce) {
                " parallel 2"
            } else {
                ""
            };
            let list = checklist("checks", h, failing, fail_fast);
            (
                format!("    foreach h in hosts{width} tolerate {tolerate} {{\n{list}    }}\n"),
                String::new(),
            )
        }
        Fan::Block => {
            let lists: String = HOSTS
                .iter()
                .map(|host| checklist(&format!("c{host}"), host, failing, fail_fast))
                .collect();
            (
                format!("    parallel tolerate {tolerate} {{\n{lists}    }}\n"),
                String::new(),
            )
        }
        Fan::Call => {
            let list = checklist("checks", h, failing, fail_fast);
            (
                format!(
                    "    foreach h in hosts tolerate {tolerate} {{\n      call check(h = h)\n    }}\n"
                ),
                format!("  stage check(h: string) \"Check {h}\" {{\n{list}  }}\n"),
            )
        }
    };
    format!(
        r#"runbook adv "Checklists in a tolerating fan-out" {{
  input hosts: list(string) = ["a", "b", "c"]
  outcome done success
  outcome bad failure
  stage s "S" {{
    on failure -> end bad
{body}    end done
  }}
{extra}}}
"#
    )
}

/// Every subset of the hosts, as the hosts whose checks fail.
fn subsets() -> Vec<Vec<&'static str>> {
    (0..1u8 << HOSTS.len())
        .map(|bits| {
            HOSTS
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, h)| *h)
                .collect()
        })
        .collect()
}

/// A checklist that fails inside a tolerating loop or block is one failed
/// item of it: the fan-out tolerates it up to its bound and then fails by
/// its stage's route — never failing the run past the route, never
/// succeeding when more failed than it tolerates. (A checklist's verdict
/// took its failure route by hand and forgot the tally: the run failed
/// with no outcome at the first failed checklist, whatever the bound.)
#[test]
fn a_failed_checklist_counts_against_the_fan_out_that_tolerates_it() {
    for fan in [Fan::Loop, Fan::LoopTwoAtOnce, Fan::Block, Fan::Call] {
        for fail_fast in [false, true] {
            for tolerate in 0..2 {
                for failing in subsets() {
                    let shape = format!(
                        "{fan:?}, tolerate {tolerate}, fail-fast {fail_fast}, failing {failing:?}"
                    );
                    let text = runbook(fan, tolerate, &failing, fail_fast);
                    let bench = Bench::new();
                    bench.write("main.runbook", &text);
                    let run = bench.rbx(&["run", "main.runbook"], &[]);
                    let (_, events) = bench.journal();
                    let ended = events
                        .iter()
                        .find(|(k, _, _)| k == "run_ended")
                        .map(|(_, _, p)| p["outcome"].as_str().unwrap_or("").to_string());
                    let (outcome, status) = if failing.len() > tolerate {
                        ("bad", 4)
                    } else {
                        ("done", 0)
                    };
                    assert_eq!(
                        (ended.as_deref(), run.status),
                        (Some(outcome), status),
                        "{shape}\n{}\n{text}",
                        run.transcript()
                    );
                    let verdict = |n: &str| {
                        n.contains(".checks") || HOSTS.iter().any(|h| n == format!("s.c{h}"))
                    };
                    let judged_failed = events.iter().any(|(k, n, p)| {
                        k == "node_finished" && p["status"] == "failed" && verdict(n)
                    });
                    assert_eq!(
                        judged_failed,
                        !failing.is_empty(),
                        "{shape}: a failed checklist is recorded failed"
                    );
                }
            }
        }
    }
}

/// A parent whose child runs — at the stage's level, in a loop, or
/// through a grandchild — wait for a person: `rbx confirm` of each
/// answers it and names the command that goes on, which must be one rbx
/// takes: `rbx resume` of the top run (a child run's own resume is
/// refused). It named the child run.
#[test]
fn a_confirm_in_a_child_run_says_to_resume_the_run_that_goes_on() {
    let leaf = r#"runbook leaf "Leaf" {
  outcome fine success
  stage k "K" {
    manual ok "Ok" {
      evidence note "Note": text
    }
    end fine
  }
}
"#;
    let middle = r#"runbook middle "Middle" {
  outcome fine success
  stage m "M" {
    child grand "Grandchild" {
      runbook "leaf.runbook"
    }
    end fine
  }
}
"#;
    let shapes = [
        ("leaf.runbook", "", ""),
        ("leaf.runbook", "    foreach h in hosts {\n", "    }\n"),
        ("middle.runbook", "", ""),
        ("middle.runbook", "    foreach h in hosts {\n", "    }\n"),
    ];
    for (child, open, close) in shapes {
        let text = format!(
            r#"runbook p "Parent" {{
  input hosts: list(string) = ["a", "b"]
  outcome done success
  stage s "S" {{
{open}      child kid "Kid" {{
        runbook "{child}"
      }}
{close}    end done
  }}
}}
"#
        );
        let bench = Bench::new();
        bench.write("leaf.runbook", leaf);
        bench.write("middle.runbook", middle);
        bench.write("main.runbook", &text);
        let mut out = bench.rbx(&["run", "main.runbook"], &[]);
        let (top, _) = top_run(&bench);
        for _ in 0..4 {
            if out.status != 3 {
                break;
            }
            let waiting = paused_child(&bench, &top);
            let confirm = bench.rbx(&["confirm", &waiting, "k.ok", "--evidence", "note=x"], &[]);
            assert_eq!(confirm.status, 0, "{child}{open}: {}", confirm.transcript());
            let said = format!("go on with: rbx resume {top}\n");
            assert!(
                confirm.stderr.ends_with(&said),
                "{child}{open}: {}",
                confirm.transcript()
            );
            out = bench.rbx(&["resume", &top], &[]);
        }
        assert_eq!(out.status, 0, "{child}{open}: {}", out.transcript());
    }
}

/// The id of the run that is no child run, and every run's status.
fn top_run(bench: &Bench) -> (String, Vec<(String, String)>) {
    use rbx_store::{SqliteStore, Store};
    let store = SqliteStore::open(&bench.path().join(".rbx")).expect("the store opens");
    let runs: Vec<(String, String)> = store
        .runs()
        .expect("runs")
        .into_iter()
        .map(|r| (r.id.to_string(), r.status))
        .collect();
    let top = runs
        .iter()
        .find(|(id, _)| !id.contains('/'))
        .map(|(id, _)| id.clone())
        .expect("a top run");
    (top, runs)
}

/// A child run of `top`, at any depth, paused for a person at a leaf.
fn paused_child(bench: &Bench, top: &str) -> String {
    let (_, runs) = top_run(bench);
    runs.into_iter()
        .filter(|(id, status)| id.starts_with(top) && status == "paused")
        .map(|(id, _)| id)
        .max_by_key(|id| id.matches('/').count())
        .expect("a paused child run")
}

/// Where a checklist that fails the run stands.
#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    TolerantLoop,
    Call,
}

/// A runbook whose checklist of `n` steps fails, with no route, on host
/// `a` at the steps in `failing` until the file `fixed` exists.
fn fixable(place: Place, n: usize, failing: &[usize], fail_fast: bool) -> String {
    let mode = if fail_fast { " fail-fast" } else { "" };
    let h = match place {
        Place::Stage => "a",
        _ => "{{ h }}",
    };
    let mut items = String::new();
    for i in 0..n {
        let test = if failing.contains(&i) {
            format!("test {h} != a -o -f fixed")
        } else {
            "true".to_string()
        };
        items.push_str(&format!(
            "        step c{i} \"Check {i}\" {{\n          run \"echo c{i}-{h} >> ran.log; {test}\"\n          timeout 5s\n        }}\n"
        ));
    }
    let list = format!("      checklist checks \"Checks\"{mode} {{\n{items}      }}\n");
    let (body, extra) = match place {
        Place::Stage => (list, String::new()),
        Place::Loop => (
            format!("    foreach h in hosts {{\n{list}    }}\n"),
            String::new(),
        ),
        Place::TolerantLoop => (
            format!("    foreach h in hosts parallel 2 tolerate 0 {{\n{list}    }}\n"),
            String::new(),
        ),
        Place::Call => (
            "    foreach h in hosts {\n      call check(h = h)\n    }\n".to_string(),
            format!("  stage check(h: string) \"Check\" {{\n{list}  }}\n"),
        ),
    };
    format!(
        r#"runbook adv "A checklist fixed, then resumed" {{
  input hosts: list(string) = ["a", "b"]
  outcome done success
  stage s "S" {{
{body}    end done
  }}
{extra}}}
"#
    )
}

/// `rbx resume` of a run a checklist failed runs the checklist's failed
/// items again (rule S5) — from the first that failed to its last — so
/// that "fix the cause, then: rbx resume" can end well, and a resume
/// before the fix fails again: the verdict is never judged before an item
/// it reads ran again. (It judged the same failures again and failed for
/// ever; and in a tolerating loop, whose tally re-ran only the failed
/// item, the verdict was judged beside it and the run ended `done` while
/// that item failed again.)
#[test]
fn a_checklist_that_failed_the_run_runs_its_failed_items_again_on_resume() {
    for place in [Place::Stage, Place::Loop, Place::TolerantLoop, Place::Call] {
        for fail_fast in [false, true] {
            for n in 1..=3 {
                for bits in 1..1u8 << n {
                    let failing: Vec<usize> = (0..n).filter(|i| bits & (1 << i) != 0).collect();
                    let shape =
                        format!("{place:?}, n {n}, fail-fast {fail_fast}, failing {failing:?}");
                    let text = fixable(place, n, &failing, fail_fast);
                    let bench = Bench::new();
                    bench.write("main.runbook", &text);
                    let first = bench.rbx(&["run", "main.runbook"], &[]);
                    assert_eq!(first.status, 1, "{shape}: {}", first.transcript());
                    let (run, _) = bench.journal();
                    let unfixed = bench.rbx(&["resume", &run], &[]);
                    assert_eq!(
                        unfixed.status,
                        1,
                        "{shape}: resumed before the fix\n{}\n{text}",
                        unfixed.transcript()
                    );
                    std::fs::write(bench.path().join("fixed"), "").expect("the fix");
                    let before = bench.ran().len();
                    let fixed = bench.rbx(&["resume", &run], &[]);
                    assert_eq!(
                        fixed.status,
                        0,
                        "{shape}: resumed after the fix\n{}\n{text}",
                        fixed.transcript()
                    );
                    let again = &bench.ran()[before..];
                    let first_failed = failing[0];
                    for i in first_failed..n {
                        let line = format!("c{i}-a");
                        assert!(
                            again.contains(&line),
                            "{shape}: {line} ran again: {again:?}"
                        );
                    }
                    for i in 0..first_failed {
                        let line = format!("c{i}-a");
                        assert!(
                            !again.contains(&line),
                            "{shape}: {line} ran once: {again:?}"
                        );
                    }
                }
            }
        }
    }
}

/// A called stage with its own clean-up, whose work fails on host `a`
/// until the file `fixed` exists: called per host in `fan`.
fn cleaned(fan: &str) -> String {
    let body = match fan {
        "loop" => "    foreach h in hosts {\n      call w(h = h)\n    }\n",
        "tolerant loop" => {
            "    foreach h in hosts parallel 2 tolerate 0 {\n      call w(h = h)\n    }\n"
        }
        _ => "    parallel tolerate 0 {\n      call w(h = \"a\")\n      call w(h = \"b\")\n    }\n",
    };
    format!(
        r#"runbook y "A clean-up re-entered" {{
  input hosts: list(string) = ["a", "b"]
  outcome done success
  stage s "S" {{
{body}    end done
  }}
  stage w(h: string) "W" {{
    step drain "Drain" {{
      run "echo drain-{{{{ h }}}} >> ran.log"
      timeout 5s
    }}
    step work "Work" {{
      run "echo work-{{{{ h }}}} >> ran.log; test {{{{ h }}}} != a -o -f fixed"
      timeout 5s
    }}
    finally {{
      step undrain "Undrain" {{
        run "echo undrain-{{{{ h }}}} >> ran.log"
        timeout 5s
      }}
    }}
  }}
}}
"#
    )
}

/// `rbx resume` of a failed run that runs a node of a called stage again
/// re-enters the instance, which cleans up again when it is left (rule
/// Y4, as after `--from`): the last thing done on the host is its
/// clean-up, and the journal still replays to the checkpoint. (The
/// instance's clean-up, begun when the instance settled, was not reset:
/// the work ran again after its clean-up, which never ran after it.)
#[test]
fn a_node_run_again_by_resume_inside_an_instance_is_cleaned_up_after() {
    for fan in ["loop", "tolerant loop", "block"] {
        let text = cleaned(fan);
        let bench = Bench::new();
        bench.write("main.runbook", &text);
        let first = bench.rbx(&["run", "main.runbook"], &[]);
        assert_eq!(first.status, 1, "{fan}: {}", first.transcript());
        std::fs::write(bench.path().join("fixed"), "").expect("the fix");
        let (run, _) = bench.journal();
        let fixed = bench.rbx(&["resume", &run], &[]);
        assert_eq!(fixed.status, 0, "{fan}: {}", fixed.transcript());
        let ran = bench.ran();
        for host in ["a", "b"] {
            let last = |what: &str| ran.iter().rposition(|l| *l == format!("{what}-{host}"));
            let (work, undrain) = (last("work"), last("undrain"));
            assert!(
                work.is_some() && undrain > work,
                "{fan}: {host} is cleaned up after its last work: {ran:?}"
            );
        }
        let verify = bench.rbx(&["verify", &run], &[]);
        assert_eq!(verify.status, 0, "{fan}: {}", verify.transcript());
    }
}

/// A resume of a failed run, after the fix, killed (as by `kill -9`)
/// after each event it records: the next resume re-drives what failed
/// and ends well, whichever event was the last. (Killed right after its
/// `run_resumed`, before its `retry`, the run replayed as running, so the
/// next resume re-drove nothing and failed again with the same failure,
/// untried.)
#[test]
fn a_resume_killed_at_any_event_leaves_the_re_drive_to_the_next() {
    for fan in ["loop", "tolerant loop", "block"] {
        let text = cleaned(fan);
        let whole = {
            let bench = Bench::new();
            bench.write("main.runbook", &text);
            bench.rbx(&["run", "main.runbook"], &[]);
            let before = bench.journal().1.len();
            std::fs::write(bench.path().join("fixed"), "").expect("the fix");
            let (run, _) = bench.journal();
            assert_eq!(bench.rbx(&["resume", &run], &[]).status, 0, "{fan}");
            bench.journal().1.len() - before
        };
        for crash in 1..whole {
            let bench = Bench::new();
            bench.write("main.runbook", &text);
            bench.rbx(&["run", "main.runbook"], &[]);
            std::fs::write(bench.path().join("fixed"), "").expect("the fix");
            let (run, _) = bench.journal();
            let after = crash.to_string();
            let killed = bench.rbx(
                &["resume", &run],
                &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
            );
            assert_ne!(
                killed.status, 0,
                "{fan}, crash after {crash}: it should have died"
            );
            let next = bench.rbx(&["resume", &run, "--in-doubt", "rerun"], &[]);
            assert_eq!(
                next.status,
                0,
                "{fan}, crash after {crash}: {}",
                next.transcript()
            );
            let ran = bench.ran();
            let work = ran.iter().rposition(|l| l == "work-a");
            let undrain = ran.iter().rposition(|l| l == "undrain-a");
            assert!(undrain > work, "{fan}, crash after {crash}: {ran:?}");
        }
    }
}
