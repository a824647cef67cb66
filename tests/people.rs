//! People's parts of a run through the real binary: rules that count
//! earlier runs, sign-offs, and files given as evidence.

mod support;

use std::fs;
use std::path::Path;

use support::rbx;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).expect("the temporary directory is writable");
}

fn latest_run(dir: &Path) -> String {
    let out = rbx(dir, &["runs"]);
    out.stdout
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .expect("a run is listed")
        .to_string()
}

const RULE: &str = r#"runbook rule "Counting earlier runs" {
  input sev: enum(SEV1, SEV2) = SEV1

  stage s "S" {
    decide rule "Two or more SEV1 in 24h" {
      when count(sev == SEV1, 24h) >= 2 -> end consider_rollback
      otherwise -> end watch
    }
  }
}
"#;

#[test]
fn a_rule_counts_matching_runs_in_its_window_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rule.runbook", RULE);
    let sev2 = rbx(dir.path(), &["run", "rule.runbook", "--set", "sev=SEV2"]);
    assert!(
        sev2.stderr.contains("run ended: watch"),
        "{}",
        sev2.transcript()
    );
    let first = rbx(dir.path(), &["run", "rule.runbook"]);
    assert!(
        first.stderr.contains("= 1 (runs: "),
        "{}",
        first.transcript()
    );
    assert!(
        first.stderr.contains("run ended: watch"),
        "{}",
        first.transcript()
    );
    let second = rbx(dir.path(), &["run", "rule.runbook"]);
    assert!(
        second.stderr.contains("count(sev == SEV1, 24h) = 2"),
        "{}",
        second.transcript()
    );
    assert!(
        second.stderr.contains("run ended: consider_rollback"),
        "{}",
        second.transcript()
    );
    let log = rbx(dir.path(), &["log", &latest_run(dir.path())]);
    assert!(
        log.stdout.contains(r#""counted":[{"count":2"#),
        "{}",
        log.transcript()
    );
}

const SIGNOFF: &str = r#"runbook release "Release" {
  role owner "Owner" {
    person "Ada"
  }

  role reviewer "Reviewer" {
    person "Bob"
  }

  stage s "S" {
    manual shot "Screenshot of the canary" {
      evidence shot "The screenshot": file
    }

    signoff go "GO / NO-GO" {
      by owner, reviewer
      approvers 2
      no self-approval
    }

    end shipped
  }
}
"#;

#[test]
fn a_signoff_needs_every_approver_and_refuses_the_starter() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "release.runbook", SIGNOFF);
    write(dir.path(), "canary.png", "not really a png");
    let paused = rbx(
        dir.path(),
        &[
            "run",
            "release.runbook",
            "--non-interactive",
            "--operator",
            "zed",
        ],
    );
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let run = latest_run(dir.path());

    let confirm = |args: &[&str]| {
        let mut all = vec!["confirm", run.as_str()];
        all.extend_from_slice(args);
        rbx(dir.path(), &all)
    };
    let missing = confirm(&["s.shot", "--evidence", "shot=missing.png"]);
    assert_eq!(missing.status, 2, "{}", missing.transcript());
    let shot = confirm(&["s.shot", "--evidence", "shot=canary.png"]);
    assert_eq!(shot.status, 0, "{}", shot.transcript());
    let resumed = rbx(dir.path(), &["resume", "--non-interactive"]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());

    // Each approver signs for themselves, as the operator recording it;
    // the sign-off waits until every role has two distinct people.
    let sign = |operator: &str, signoff: &str| {
        confirm(&["s.go", "--signoff", signoff, "--operator", operator])
    };
    let ada = sign("Ada", "owner=ada:GO");
    assert_eq!(ada.status, 0, "{}", ada.transcript());
    assert!(
        ada.stderr.contains("needs 2 distinct approver(s)"),
        "{}",
        ada.transcript()
    );
    // Ada written another way is still Ada.
    let twice = sign(" ADA", "owner= ADA:GO");
    assert_eq!(twice.status, 2, "{}", twice.transcript());
    assert!(
        twice.stderr.contains("already signed"),
        "{}",
        twice.transcript()
    );
    // One operator cannot enter GO for someone else.
    let for_bob = sign("ada", "reviewer=bob:GO");
    assert_eq!(for_bob.status, 2, "{}", for_bob.transcript());
    assert!(
        for_bob
            .stderr
            .contains("given by the operator who records it"),
        "{}",
        for_bob.transcript()
    );
    // Zed started the run, under any spelling of the name.
    let refused = sign("ZED", "owner=Zed:GO");
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("cannot approve it"),
        "{}",
        refused.transcript()
    );
    for (operator, signoff) in [("cy", "owner=cy:GO"), ("bob", "reviewer=bob:GO")] {
        let out = sign(operator, signoff);
        assert_eq!(out.status, 0, "{}", out.transcript());
        // Every name here was typed from one OS account, and rbx says so.
        assert!(
            out.stderr
                .contains("rbx cannot tell whether these are different people"),
            "{}",
            out.transcript()
        );
    }
    let short = rbx(dir.path(), &["resume", "--non-interactive"]);
    assert_eq!(short.status, 3, "{}", short.transcript());
    assert!(
        short.stderr.contains(
            "--signoff ROLE=YOUR_NAME:GO (each approver, as themselves; ROLE: owner, reviewer)"
        ),
        "{}",
        short.transcript()
    );
    let last = sign("dee", "reviewer=dee:GO");
    assert_eq!(last.status, 0, "{}", last.transcript());
    assert!(
        last.stderr.contains("recorded s.go"),
        "{}",
        last.transcript()
    );
    let done = rbx(dir.path(), &["resume", "--non-interactive"]);
    assert_eq!(done.status, 0, "{}", done.transcript());

    let log = rbx(dir.path(), &["log", &run, "s.go"]);
    let finished = log
        .stdout
        .lines()
        .find(|l| l.contains("node_finished"))
        .expect("the sign-off finished");
    for name in ["ada", "cy", "bob", "dee"] {
        assert!(
            finished.contains(&format!(r#""by":"{name}""#)),
            "{}",
            log.transcript()
        );
    }
    assert!(
        finished.contains(r#""account":"#),
        "every sign-off keeps the OS account that recorded it: {}",
        log.transcript()
    );

    let log = rbx(dir.path(), &["log", &run, "s.shot"]);
    // The sha256 of "not really a png", computed with sha256sum.
    let hash = "e90137d39de304eefbbe788bc535c7e82f27abbf8069505fbbd8a9dcdc4f2024";
    assert!(
        log.stdout.contains(r#""file":"canary.png""#),
        "{}",
        log.transcript()
    );
    assert!(log.stdout.contains(hash), "{}", log.transcript());
    let db = fs::read(dir.path().join(".rbx/rbx.db")).unwrap();
    let wal = fs::read(dir.path().join(".rbx/rbx.db-wal")).unwrap_or_default();
    let needle = b"not really a png";
    let kept = [db, wal]
        .iter()
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle));
    assert!(kept, "the file's bytes are in the store");
}

#[test]
fn a_required_role_is_filled_from_a_flag_and_the_run_remembers_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "owned.runbook",
        r#"runbook owned "Owned" {
  role owner "Owner"
  require role owner

  stage s "S" {
    gate present "The owner is present" {
      require filled(owner)
    }

    end done
  }
}
"#,
    );
    let refused = rbx(dir.path(), &["run", "owned.runbook"]);
    assert_eq!(refused.status, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("rbx::lint::unfilled_role"),
        "{}",
        refused.transcript()
    );
    let filled = rbx(
        dir.path(),
        &["run", "owned.runbook", "--role", "owner=Ada:@ada"],
    );
    assert_eq!(filled.status, 0, "{}", filled.transcript());
    let status = rbx(dir.path(), &["status"]);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["done", "s.present"])),
        "{}",
        status.transcript()
    );
}

#[test]
fn what_the_whole_runbook_requires_is_checked_before_its_first_stage() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "gated.runbook",
        r#"runbook gated "Gated" {
  role owner "Owner"
  require filled(owner)

  stage s "S" {
    step work "Work" {
      run "echo worked > worked"
    }

    end done
  }
}
"#,
    );
    let refused = rbx(dir.path(), &["run", "gated.runbook"]);
    assert_eq!(refused.status, 1, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("filled(owner)"),
        "{}",
        refused.transcript()
    );
    assert!(!dir.path().join("worked").exists());
    let filled = rbx(dir.path(), &["run", "gated.runbook", "--role", "owner=Ada"]);
    assert_eq!(filled.status, 0, "{}", filled.transcript());
}

#[test]
fn a_loop_over_an_empty_list_goes_on_past_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "loop.runbook",
        r#"runbook looped "Loop" {
  input hosts: list(string) = []

  stage s "S" {
    foreach host in hosts {
      step ping "Ping {{ host }}" {
        run "echo {{ host }} >> pinged"
      }
    }

    step after "After" {
      run "echo after > after"
    }

    end done
  }
}
"#,
    );
    let out = rbx(dir.path(), &["run", "loop.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(dir.path().join("after").exists());
    assert!(!dir.path().join("pinged").exists());
}

/// A sign-off confirmed by the short id of its node (`go` for `s.go`) is
/// recorded under the node's full id: the next approver's sign-off, by
/// either id, counts with it, and the same person signing again under the
/// other spelling is still one approver.
#[test]
fn a_signoff_given_by_a_short_id_counts_with_the_others() {
    const TWO: &str = r#"runbook release "Release" {
  role owner "Owner" {
    person "Ada"
  }

  stage s "S" {
    signoff go "GO / NO-GO" {
      by owner
      approvers 2
    }

    end shipped
  }
}
"#;
    for (first, second) in [("go", "s.go"), ("s.go", "go"), ("go", "go")] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "release.runbook", TWO);
        let paused = rbx(dir.path(), &["run", "release.runbook", "--non-interactive"]);
        assert_eq!(paused.status, 3, "{}", paused.transcript());
        let sign = |step: &str, who: &str| {
            rbx(
                dir.path(),
                &[
                    "confirm",
                    step,
                    "--signoff",
                    &format!("owner={who}:GO"),
                    "--operator",
                    who,
                ],
            )
        };
        let ada = sign(first, "Ada");
        assert_eq!(ada.status, 0, "{}", ada.transcript());
        assert!(
            ada.stderr.contains("sign-off for s.go"),
            "{}",
            ada.transcript()
        );
        let again = sign(second, "Ada");
        assert_eq!(again.status, 2, "{}", again.transcript());
        assert!(
            again.stderr.contains("Ada has already signed as `owner`"),
            "the same person twice is one approver: {}",
            again.transcript()
        );
        let bob = sign(second, "Bob");
        assert_eq!(bob.status, 0, "{}", bob.transcript());
        let done = rbx(dir.path(), &["resume", "--non-interactive"]);
        assert_eq!(
            done.status,
            0,
            "{first} then {second}: {}",
            done.transcript()
        );
        let log = rbx(dir.path(), &["log", "--format", "json"]);
        assert!(!log.stdout.contains(r#""node":"go""#), "{}", log.stdout);
    }
}

/// A manual step with `acknowledge` needs no evidence: lint accepts it, an
/// answers file or `rbx confirm` with nothing more settles it, and a
/// person who says it was not done fails it.
#[test]
fn a_manual_step_that_needs_only_an_acknowledgement() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = r#"runbook ack "Acknowledge" {
  stage s "S" {
    on failure -> end not_done
    manual announce "Announce the maintenance in #ops" {
      acknowledge
    }
    end done
  }
}
"#;
    write(dir.path(), "ack.runbook", text);
    let lint = rbx(dir.path(), &["lint", "--deny", "warnings", "ack.runbook"]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    for (answers, outcome) in [
        ("[announce]\n", "done"),
        ("[announce]\nreject = true\n", "not_done"),
    ] {
        write(dir.path(), "answers.toml", answers);
        let run = rbx(
            dir.path(),
            &[
                "run",
                "ack.runbook",
                "--non-interactive",
                "--answers",
                "answers.toml",
            ],
        );
        assert!(
            run.stderr.contains(&format!("run ended: {outcome}")),
            "{answers}: {}",
            run.transcript()
        );
    }
    let paused = rbx(dir.path(), &["run", "ack.runbook", "--non-interactive"]);
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let run = latest_run(dir.path());
    let confirmed = rbx(dir.path(), &["confirm", &run, "s.announce"]);
    assert_eq!(confirmed.status, 0, "{}", confirmed.transcript());
    let resumed = rbx(dir.path(), &["resume", &run]);
    assert!(
        resumed.stderr.contains("run ended: done"),
        "{}",
        resumed.transcript()
    );
}

/// A role bound to identities (`identity` in the runbook, or in a fill
/// file, which replaces the runbook's role whole) takes sign-offs from
/// those operators alone, in a sign-off inside a loop too; a role bound to
/// none takes anyone's. Nothing of a refused sign-off is recorded.
#[test]
fn a_role_bound_to_identities_takes_sign_offs_from_them_alone() {
    const BOUND: &str = r#"runbook release "Release" {
  input regions: list(string) = ["eu", "us"]

  role owner "Owner" {
    person "Ada"
    identity "ada"
  }

  role reviewer "Reviewer" {
    person "Bob"
  }

  stage s "S" {
    foreach region in regions {
      signoff go "GO / NO-GO" {
        by owner, reviewer
      }
    }

    end shipped
  }
}
"#;
    const FILL: &str = "[roles.owner]\nperson = \"Dee\"\nidentity = \"dee\"\n\n\
                        [roles.reviewer]\nperson = \"Bob\"\nidentity = [\"bob\", \"Cy\"]\n";
    for fill in [None, Some(FILL)] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "release.runbook", BOUND);
        let mut run = vec!["run", "release.runbook", "--non-interactive"];
        if let Some(text) = fill {
            write(dir.path(), "fill.toml", text);
            run.extend(["--fill", "fill.toml"]);
        }
        let paused = rbx(dir.path(), &run);
        assert_eq!(paused.status, 3, "{}", paused.transcript());
        let events = || {
            rbx(dir.path(), &["log", "--format", "json"])
                .stdout
                .lines()
                .count()
        };
        let sign = |step: &str, role: &str, who: &str| {
            rbx(
                dir.path(),
                &[
                    "confirm",
                    step,
                    "--signoff",
                    &format!("{role}={who}:GO"),
                    "--operator",
                    who,
                ],
            )
        };
        let before = events();
        let mallory = sign("s.go[eu]", "owner", "Mallory");
        assert_eq!(mallory.status, 2, "{}", mallory.transcript());
        let owners = if fill.is_some() {
            "only dee may"
        } else {
            "only ada may"
        };
        assert!(mallory.stderr.contains(owners), "{}", mallory.transcript());
        if fill.is_some() {
            // The fill's owner replaces the runbook's: Ada no longer signs.
            let ada = sign("s.go[eu]", "owner", "ada");
            assert_eq!(ada.status, 2, "{}", ada.transcript());
        }
        assert_eq!(events(), before, "a refused sign-off records nothing");
        let (owner, reviewer) = if fill.is_some() {
            ("DEE", "cy")
        } else {
            ("ADA", "Mallory")
        };
        for (role, who) in [("owner", owner), ("reviewer", reviewer)] {
            let out = sign("s.go[eu]", role, who);
            assert_eq!(out.status, 0, "{role} by {who}: {}", out.transcript());
        }
        if fill.is_some() {
            let outsider = sign("s.go[us]", "reviewer", "Mallory");
            assert_eq!(outsider.status, 2, "{}", outsider.transcript());
            assert!(
                outsider.stderr.contains("only bob, Cy may"),
                "{}",
                outsider.transcript()
            );
        }
    }
}

/// A manual step with `assign ROLE = EVIDENCE` fills the role with the
/// person its answer names, from then on: a `require role` after it holds,
/// a role bound to identities takes sign-offs from that person alone (the
/// assignment replaces who may sign, never adds to it), only the owner's
/// identities may answer the assigning step, and the report says who was
/// assigned and by which step. The assignment is replayed from the journal,
/// so it holds across `rbx confirm` and `rbx resume` from another process.
#[test]
fn a_role_assigned_during_the_run_fills_it_from_then_on() {
    const RUNBOOK: &str = r#"runbook incident "Incident" {
  input regions: list(string) = ["eu", "us"]

  role ic "Incident commander" {
    person "Ada"
    identity "ada"
  }

  role deputy "Deputy incident commander" {
    identity "nobody-yet"
  }

  stage s "S" {
    manual name_deputy "Name a deputy incident commander" {
      owner ic
      evidence who "The deputy's operator name": text
      assign deputy = who
    }

    foreach region in regions {
      signoff go "Deputy's GO for {{ region }}" {
        require role deputy
        by deputy
      }
    }

    end done
  }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "incident.runbook", RUNBOOK);
    let lint = rbx(
        dir.path(),
        &["lint", "--deny", "warnings", "incident.runbook"],
    );
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    let paused = rbx(
        dir.path(),
        &["run", "incident.runbook", "--non-interactive"],
    );
    assert_eq!(paused.status, 3, "{}", paused.transcript());
    let answer = |who: &str, operator: &str| {
        rbx(
            dir.path(),
            &[
                "confirm",
                "s.name_deputy",
                "--evidence",
                &format!("who={who}"),
                "--operator",
                operator,
            ],
        )
    };
    let mallory = answer("mallory", "mallory");
    assert_eq!(mallory.status, 2, "{}", mallory.transcript());
    assert!(
        mallory.stderr.contains("only ic may answer it (ada)"),
        "{}",
        mallory.transcript()
    );
    let ada = answer("dee", "ada");
    assert_eq!(ada.status, 0, "{}", ada.transcript());
    let resumed = rbx(dir.path(), &["resume", "--non-interactive"]);
    assert_eq!(resumed.status, 3, "{}", resumed.transcript());
    let sign = |region: &str, who: &str| {
        rbx(
            dir.path(),
            &[
                "confirm",
                &format!("s.go[{region}]"),
                "--signoff",
                &format!("deputy={who}:GO"),
                "--operator",
                who,
            ],
        )
    };
    for (who, refused) in [("mallory", true), ("nobody-yet", true), ("dee", false)] {
        let out = sign("eu", who);
        assert_eq!(
            out.status,
            if refused { 2 } else { 0 },
            "{who}: {}",
            out.transcript()
        );
        if refused {
            assert!(out.stderr.contains("only dee may"), "{}", out.transcript());
        }
    }
    assert_eq!(sign("us", "dee").status, 0);
    let status = rbx(dir.path(), &["status"]);
    assert!(
        status
            .stdout
            .contains("role deputy: dee (assigned by s.name_deputy)"),
        "{}",
        status.stdout
    );
    let ended = rbx(dir.path(), &["resume"]);
    assert!(
        ended.stderr.contains("run ended: done"),
        "{}",
        ended.transcript()
    );
    let report = rbx(dir.path(), &["report", "--format", "md"]);
    assert!(
        report
            .stdout
            .contains("assigned during the run by `s.name_deputy`"),
        "{}",
        report.stdout
    );
    assert!(report.stdout.contains("| dee |"), "{}", report.stdout);
}

/// Without the assigning step having run, the role stays unfilled and a
/// `require role` on it is a recorded failure taking its route — lint
/// accepts the requirement because a step assigns the role, but nothing
/// pretends it is filled before that step succeeds.
#[test]
fn a_role_not_yet_assigned_fails_its_requirement() {
    const RUNBOOK: &str = r#"runbook handover "Handover" {
  input name_one: bool = false

  role deputy "Deputy"

  stage s "S" {
    on failure -> end unstaffed
    manual name_deputy "Name a deputy" {
      when name_one
      evidence who "Who": text
      assign deputy = who
    }

    step brief "Brief the deputy" {
      require role deputy
      run "true"
    }

    end staffed
  }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "handover.runbook", RUNBOOK);
    let lint = rbx(dir.path(), &["lint", "handover.runbook"]);
    assert_eq!(lint.status, 0, "{}", lint.transcript());
    let skipped = rbx(
        dir.path(),
        &["run", "handover.runbook", "--non-interactive"],
    );
    assert!(
        skipped.stderr.contains("run ended: unstaffed"),
        "{}",
        skipped.transcript()
    );
    write(
        dir.path(),
        "answers.toml",
        "[name_deputy]\nevidence = { who = \"Sam\" }\n",
    );
    let named = rbx(
        dir.path(),
        &[
            "run",
            "handover.runbook",
            "--non-interactive",
            "--set",
            "name_one=true",
            "--answers",
            "answers.toml",
        ],
    );
    assert!(
        named.stderr.contains("run ended: staffed"),
        "{}",
        named.transcript()
    );
}

/// X2 with P2: once a run is cancelled — the cancel carried out and its
/// clean-up waiting for a person, or only recorded when rbx was killed —
/// a person's node of the procedure it was waiting for is waited for no
/// more: `rbx confirm` refuses it and records nothing, `rbx status` does
/// not list it, and the run ends cancelled once its clean-up is answered.
#[test]
fn after_a_cancel_no_answer_is_taken_for_the_procedure() {
    let text = r#"runbook c "Cancelled while waiting" {
  input hosts: list(string) = ["a", "b"]
  role op "Operator" { person "Ann" }
  stage s "S" {
    foreach h in hosts {
      manual check "Check {{ h }}" {
        owner op
        evidence ok "Fine?": bool
      }
    }
    end done
  }
  finally {
    manual undo "Undo" {
      owner op
      evidence ok "Undone?": bool
    }
  }
}
"#;
    for killed in [false, true] {
        let bench = support::bench::Bench::new();
        bench.write("main.runbook", text);
        let run = bench.rbx(&["run", "main.runbook", "--non-interactive"], &[]);
        assert_eq!(run.status, 3, "{}", run.transcript());
        let (id, _) = bench.journal();
        let env: &[(&str, &str)] = if killed {
            &[("RBX_CRASH_AFTER_EVENTS", "1")]
        } else {
            &[]
        };
        bench.rbx(
            &["cancel", &id, "--reason", "drill", "--non-interactive"],
            env,
        );
        let status = bench.rbx(&["status", &id], &[]);
        assert!(
            !status.stdout.contains("s.check[a]"),
            "killed {killed}: {}",
            status.stdout
        );
        assert_eq!(
            status.stdout.contains("(cancelled, not carried out yet"),
            killed,
            "{}",
            status.stdout
        );
        let late = bench.rbx(
            &["confirm", &id, "s.check[a]", "--evidence", "ok=true"],
            &[],
        );
        assert_eq!(late.status, 2, "killed {killed}: {}", late.transcript());
        bench.rbx(&["resume", &id, "--non-interactive"], &[]);
        let undo = bench.rbx(
            &["confirm", &id, "finally.undo", "--evidence", "ok=true"],
            &[],
        );
        assert_eq!(undo.status, 0, "killed {killed}: {}", undo.transcript());
        let ended = bench.rbx(&["resume", &id, "--non-interactive"], &[]);
        assert_ne!(ended.status, 0, "killed {killed}: {}", ended.transcript());
        let (_, events) = bench.journal();
        let answered: Vec<&String> = events
            .iter()
            .filter(|(k, _, p)| k == "node_finished" && p["via"] == "rbx confirm")
            .map(|(_, n, _)| n)
            .collect();
        assert_eq!(answered, ["finally.undo"], "killed {killed}: {events:?}");
        assert_eq!(
            bench.status(),
            "ended:cancelled",
            "killed {killed}: {events:?}"
        );
    }
}
