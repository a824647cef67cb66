//! A stage's own `finally` block (rules Y1–Y4 of the execution semantics),
//! through the real `rbx` binary, in every place a stage instance stands:
//! the stage itself, an `again` instance, one per item of a `foreach`, a
//! branch of a `parallel` block, and a stage from an included fragment.
//! Whichever way the instance is left — on to the next stage, a failure
//! route, a failure that fails the run, a cancel — its clean-up runs once
//! per instance that started, after the instance's own work and before
//! anything control leaves it for; after `kill -9` at every event, and
//! when a failed run is re-driven, each clean-up command still runs once
//! per time the instance is left.

mod support;

use std::fs;

use support::bench::Bench;

/// A bench with `main.runbook` (and `drain.runbook` when the drain stage
/// is a fragment's), which must pass `rbx lint`.
fn bench(shape: &Shape) -> Bench {
    let bench = Bench::new();
    let (main, fragment) = shape.render();
    if let Some(fragment) = fragment {
        bench.write("drain.runbook", &fragment);
    }
    bench.write("main.runbook", &main);
    if shape.leaving != Leaving::Done {
        bench.write("fail-work", "");
    }
    bench
}

/// Where the stage with the clean-up stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// The stage itself, left with `then`.
    Stage,
    /// `again drain`, once.
    Again,
    /// `foreach h in hosts { again drain }`, two hosts.
    Loop,
    /// `parallel { again drain  step side }`.
    Branch,
    /// The drain stage comes from an included fragment.
    Fragment,
}

/// How the instance is left when its work fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaving {
    /// The work succeeds: the instance goes on.
    Done,
    /// The work fails and the runbook's route ends the run `failed_out`.
    Routed,
    /// The work fails with no route: the run fails.
    Unrouted,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    place: Place,
    leaving: Leaving,
}

const DRAIN: &str = r#"  stage drain "Drain" {
    step d "Drain" {
      run "echo drain >> ran.log"
    }
    step w "Work" {
      run "echo work >> ran.log; test ! -e fail-work"
    }
    finally {
      step undrain "Undrain" {
        run "echo undrain >> ran.log"
      }
      step tell "Tell" {
        run "echo tell >> ran.log"
      }
    }
    then after
  }
"#;

impl Shape {
    /// How many instances of the drain stage start.
    fn instances(&self) -> usize {
        match (self.place, self.leaving) {
            (Place::Loop, Leaving::Done) => 2,
            _ => 1,
        }
    }

    /// The entry runbook and, for a fragment, the fragment.
    fn render(&self) -> (String, Option<String>) {
        let route = match self.leaving {
            Leaving::Routed => "  on failure -> end failed_out\n",
            _ => "",
        };
        let call = match self.place {
            Place::Stage | Place::Fragment => "    then drain\n  }\n".to_string(),
            Place::Again => "    again drain\n    then after\n  }\n".to_string(),
            Place::Loop => {
                "    foreach h in hosts {\n      again drain\n    }\n    then after\n  }\n"
                    .to_string()
            }
            Place::Branch => {
                "    parallel {\n      again drain\n      step side \"Side\" {\n        \
                 run \"echo side >> ran.log\"\n      }\n    }\n    then after\n  }\n"
                    .to_string()
            }
        };
        let drain = match self.place {
            // Run by `again`, the stage is not on the way to `after`.
            Place::Again | Place::Loop | Place::Branch => {
                DRAIN.replace("    then after\n", "    end unused\n")
            }
            Place::Stage | Place::Fragment => DRAIN.to_string(),
        };
        let (include, inline, fragment) = match self.place {
            Place::Fragment => ("  include \"drain.runbook\"\n", String::new(), Some(drain)),
            _ => ("", drain, None),
        };
        let main = format!(
            r#"runbook sf "Stage clean-up" {{
  input hosts: list(string) = ["a", "b"]
{include}{route}
  stage main "Main" {{
    step before "Before" {{
      run "echo before >> ran.log"
    }}
{call}
{inline}
  stage after "After" {{
    step after "After" {{
      run "echo after >> ran.log"
    }}
    end done
  }}
}}
"#
        );
        (main, fragment)
    }

    /// What the run ends as.
    fn ends(&self) -> &'static str {
        match self.leaving {
            Leaving::Done => "ended:done",
            Leaving::Routed => "ended:failed_out",
            Leaving::Unrouted => "failed",
        }
    }
}

fn shapes() -> Vec<Shape> {
    let places = [
        Place::Stage,
        Place::Again,
        Place::Loop,
        Place::Branch,
        Place::Fragment,
    ];
    let leavings = [Leaving::Done, Leaving::Routed, Leaving::Unrouted];
    places
        .iter()
        .flat_map(|&place| {
            leavings
                .iter()
                .map(move |&leaving| Shape { place, leaving })
        })
        .collect()
}

/// Y2, Y3: each instance that started cleans up once, after its own work
/// and before what follows it; the run ends as its work says.
fn check(shape: &Shape, ran: &[String], status: &str) {
    let count = |line: &str| ran.iter().filter(|l| *l == line).count();
    let n = shape.instances();
    assert_eq!(count("drain"), n, "{shape:?}: {ran:?}");
    assert_eq!(count("undrain"), n, "{shape:?}: {ran:?}");
    assert_eq!(count("tell"), n, "{shape:?}: {ran:?}");
    // Each instance's clean-up follows its work, in order.
    let mut open = 0usize;
    for line in ran {
        match line.as_str() {
            "drain" => open += 1,
            "tell" => open -= 1,
            "after" => assert_eq!(open, 0, "{shape:?}: after ran before a clean-up: {ran:?}"),
            _ => {}
        }
    }
    let after = usize::from(shape.leaving == Leaving::Done);
    assert_eq!(count("after"), after, "{shape:?}: {ran:?}");
    assert_eq!(status, shape.ends(), "{shape:?}: {ran:?}");
}

#[test]
fn every_instance_cleans_up_once_whichever_way_it_is_left() {
    for shape in shapes() {
        let bench = bench(&shape);
        let run = bench.rbx(&["run", "main.runbook"], &[]);
        let (_, events) = bench.journal();
        check(&shape, &bench.ran(), &bench.status());
        let started: Vec<&serde_json::Value> = events
            .iter()
            .filter(|(k, _, _)| k == "cleanup_started")
            .map(|(_, _, p)| p)
            .collect();
        assert_eq!(
            started.len(),
            shape.instances(),
            "{shape:?}: {}",
            run.transcript()
        );
        // Left by a route or `then`, the instance cleans up as it is left;
        // failing the run, as the run's end is decided.
        let at_end = shape.leaving == Leaving::Unrouted;
        assert!(
            started.iter().all(|p| p["at_end"] == at_end),
            "{shape:?}: {started:?}"
        );
    }
}

/// S1, S2 with Y2: `kill -9` after every event, then `rbx resume` until
/// the run stops: every clean-up command ran exactly once per instance.
#[test]
fn kill_nine_at_every_event_cleans_up_exactly_once() {
    for shape in [
        Shape {
            place: Place::Loop,
            leaving: Leaving::Done,
        },
        Shape {
            place: Place::Stage,
            leaving: Leaving::Unrouted,
        },
    ] {
        let whole = {
            let bench = bench(&shape);
            bench.rbx(&["run", "main.runbook"], &[]);
            bench.journal().1.len()
        };
        for crash in 1..whole {
            let bench = bench(&shape);
            let after = crash.to_string();
            bench.rbx(
                &["run", "main.runbook"],
                &[("RBX_CRASH_AFTER_EVENTS", after.as_str())],
            );
            let (id, _) = bench.journal();
            let resumed = bench.rbx(&["resume", &id, "--in-doubt", "rerun"], &[]);
            let status = bench.status();
            // A command killed in flight runs again when rerun: count the
            // clean-up's, which are idempotent here, by their effect once.
            let mut ran = bench.ran();
            ran.dedup();
            check(&shape, &ran, &status);
            assert!(
                resumed.status == 0 || resumed.status == 1,
                "{shape:?}, crash after {crash}: {}",
                resumed.transcript()
            );
        }
    }
}

/// Y4: a run that failed in an instance is re-driven after a fix: the
/// failed step runs again and the instance cleans up again when it is
/// left, once more; a cancelled run cleans up every started instance.
#[test]
fn a_re_driven_run_cleans_up_again_and_a_cancel_cleans_up() {
    let shape = Shape {
        place: Place::Again,
        leaving: Leaving::Unrouted,
    };
    let bench = bench(&shape);
    let run = bench.rbx(&["run", "main.runbook"], &[]);
    assert_eq!(run.status, 1, "{}", run.transcript());
    fs::remove_file(bench.path().join("fail-work")).expect("fix it");
    let (id, _) = bench.journal();
    let resumed = bench.rbx(&["resume", &id], &[]);
    assert_eq!(resumed.status, 0, "{}", resumed.transcript());
    assert_eq!(
        bench.ran(),
        [
            "before", "drain", "work", "undrain", "tell", "work", "undrain", "tell", "after"
        ]
    );

    let text = r#"runbook c "Cancel" {
  stage s "Work" {
    step drain "Drain" {
      run "echo drain >> ran.log"
    }
    manual look "Look" {
      evidence note "Note": text
    }
    finally {
      step undrain "Undrain" {
        run "echo undrain >> ran.log"
      }
    }
    end done
  }
}
"#;
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("c.runbook"), text).expect("write");
    let paused = support::rbx(dir.path(), &["run", "c.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let cancelled = support::rbx(dir.path(), &["cancel", "--reason", "not today"]);
    let ran = fs::read_to_string(dir.path().join("ran.log")).unwrap_or_default();
    assert_eq!(ran, "drain\nundrain\n", "{}", cancelled.transcript());
    let status = support::rbx(dir.path(), &["status", "--format", "json"]);
    assert!(
        status.stdout.contains("\"outcome\": \"cancelled\"")
            || status.stdout.contains("\"outcome\":\"cancelled\""),
        "{}",
        status.stdout
    );
}

/// A cancel while a stage's clean-up waits for a person does not cut the
/// clean-up short: it still asks, and once answered the rest of it runs
/// and the run ends cancelled.
#[test]
fn a_cancel_during_a_stage_clean_up_lets_it_finish() {
    let text = r#"runbook c "Cancel in the clean-up" {
  stage s "Work" {
    step drain "Drain" {
      run "echo drain >> ran.log"
    }
    finally {
      manual check "Check the host by hand" {
        acknowledge
      }
      step undrain "Undrain" {
        run "echo undrain >> ran.log"
      }
    }
    then t
  }
  stage t "Next" {
    step next "Next" {
      run "echo next >> ran.log"
    }
    end done
  }
}
"#;
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("c.runbook"), text).expect("write");
    let paused = support::rbx(dir.path(), &["run", "c.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let cancelled = support::rbx(dir.path(), &["cancel", "--reason", "not today"]);
    assert_eq!(cancelled.status, 3, "{}", cancelled.transcript());
    let confirmed = support::rbx(dir.path(), &["confirm", "s.finally.check"]);
    assert_eq!(confirmed.status, 0, "{}", confirmed.transcript());
    let resumed = support::rbx(dir.path(), &["resume"]);
    let ran = fs::read_to_string(dir.path().join("ran.log")).unwrap_or_default();
    assert_eq!(ran, "drain\nundrain\n", "{}", resumed.transcript());
    assert!(
        resumed.stderr.contains("cancelled"),
        "{}",
        resumed.transcript()
    );
}
