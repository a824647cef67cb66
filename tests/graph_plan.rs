//! `rbx graph` and `rbx plan` driven through the real binary: the DOT and
//! Mermaid they draw (Graphviz itself reads the DOT in tests/system.rs), the plan of a
//! runbook with inputs set on the command line, and what they refuse.

mod support;

use std::fs;

use support::rbx;

/// Labels full of what DOT and Mermaid treat specially, an `again`
/// instance, a fan-out, a decision and a choice.
const TRICKY: &str = include_str!("fixtures/tricky.runbook");

/// A deployment with every kind of input: defaults, values to set, one
/// left unset, and a secret.
const DEPLOY: &str = r#"runbook deploy "Deploy the API" {
  version "2.1.0"

  input service "Service to deploy": string = "api"
  input message "Announcement": string = "it's live"
  input hosts "Hosts, in order": list(string) = ["web-01", "web-02", "web-03"]
  input environment: enum(staging, production) = staging
  input token "Deploy API token": secret
  input release "Release tag": string
  input notes "Release notes URL": string

  role operator "Operator"

  on cancel -> end abandoned

  stage prepare "Prepare" within 10m {
    on failure -> end aborted

    step build "Find the build of {{ release }}" {
      owner operator
      run "deployctl latest {{ service }} --release {{ release }}"
      timeout 30s
      retry 2 backoff 5s
      expect stdout ~ /build \S+/
      capture id = stdout ~ /build (\S+)/
      idempotent
    }

    decide where "Which environment?" {
      when environment == production -> approve
      otherwise -> continue
    }

    then rollout
  }

  stage approve "Approve a production deploy" {
    signoff go "GO for production" {
      by operator
      no self-approval
    }

    then rollout
  }

  stage rollout "Roll out" within 20m {
    on failure -> end failed

    foreach host in hosts parallel 2 {
      step push "Push {{ build.id }} to {{ host }}" {
        run "deployctl push --token {{ token }} --build {{ build.id }} {{ host }}"
        timeout 2m
        retry 1 backoff 10s fixed
        verify "deployctl status {{ host }} | grep -q {{ build.id }}"
      }
    }

    step migrate "Drop the old tables" {
      run "deployctl migrate --drop-old {{ service }}"
      timeout 5m
      irreversible "the old release cannot start without them"
    }

    step announce "Announce {{ release }}" {
      run "chat post --text {{ message }} --link {{ notes }}"
      timeout 10s
      on failure -> end deployed_quietly
    }

    manual check "Check the dashboards" {
      owner operator
      evidence seen "What the dashboards show": text
    }

    again smoke {
      on failure -> end smoke_failed
    }

    end deployed
  }

  stage smoke "Smoke" within 1m {
    step ping "Ping {{ service }}" {
      run "curl -fsS https://{{ service }}.internal/healthz"
      timeout 10s
      expect exit 0
    }

    end smoked
  }
}
"#;

const SECRET: &str = "hunter2-do-not-print";

fn temp_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join(name), text).expect("the runbook is written");
    dir
}

#[test]
fn graph_draws_dot() {
    let dir = temp_with("tricky.runbook", TRICKY);
    // Graphviz's own reading of both is checked by tests/system.rs.
    let out = rbx(dir.path(), &["graph", "--detail", "tricky.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!("graph_draws_dot_that_graphviz_renders", out.stdout);
    let out = rbx(dir.path(), &["graph", "tricky.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    insta::assert_snapshot!("graph_draws_stages_in_dot", out.stdout);
}

#[test]
fn graph_draws_mermaid_with_safe_ids_and_labels() {
    let dir = temp_with("tricky.runbook", TRICKY);
    for (detail, name) in [
        (
            &["--detail"][..],
            "graph_draws_mermaid_with_safe_ids_and_labels",
        ),
        (&[][..], "graph_draws_stages_in_mermaid"),
    ] {
        let mut args = vec!["graph", "--format", "mermaid", "tricky.runbook"];
        args.extend(detail);
        let out = rbx(dir.path(), &args);
        assert_eq!(out.status, 0, "{}", out.transcript());
        insta::assert_snapshot!(name, out.stdout);
        let ids_with_dots_or_hashes = out
            .stdout
            .lines()
            .filter(|line| !line.starts_with("%%"))
            .filter_map(|line| line.split_whitespace().next())
            .filter(|word| word.starts_with("n_") || word.starts_with("s_"))
            .filter(|word| {
                let id = word.split(['[', '(', '{', '>']).next().unwrap_or(word);
                id.contains('.') || id.contains('#')
            })
            .count();
        assert_eq!(ids_with_dots_or_hashes, 0, "{}", out.stdout);
    }
}

/// A runbook of `stages` stages of `steps` steps each, under a runbook-wide
/// `on failure` route. Every third stage has a route of its own, the
/// second step of every stage one of its own, and the last step of the
/// last stage is irreversible (behind a gate).
fn shaped(stages: usize, steps: usize) -> String {
    let mut text = String::from(
        "runbook shaped \"Shaped\" {\n  input sure: bool = false\n  on failure -> end escalated\n",
    );
    for s in 0..stages {
        text.push_str(&format!("  stage s{s} \"Stage {s}\" {{\n"));
        if s % 3 == 2 {
            text.push_str("    on failure -> end contained\n");
        }
        for n in 0..steps {
            let last = s + 1 == stages && n + 1 == steps;
            if last {
                text.push_str("    gate ready \"Ready?\" {\n      require sure\n    }\n");
            }
            text.push_str(&format!(
                "    step s{s}n{n} \"Step {n}\" {{\n      run \"echo yes\"\n      timeout 1m\n"
            ));
            if n == 1 {
                text.push_str("      on failure -> end mended\n");
            }
            if last {
                text.push_str("      irreversible \"no way back\"\n");
            }
            text.push_str("    }\n");
        }
        if s + 1 < stages {
            text.push_str(&format!("    then s{}\n", s + 1));
        } else {
            text.push_str("    end done\n");
        }
        text.push_str("  }\n");
    }
    text.push_str("}\n");
    text
}

/// Over many shapes: the stage-level picture has one box per stage and
/// one arrow per route, the runbook-wide route once in all, a stage's own
/// route once from it, a node's own named; the irreversible step is marked
/// at both levels.
#[test]
fn the_stage_level_graph_draws_each_route_once() {
    for stages in 1..=5 {
        for steps in 1..=3 {
            let dir = temp_with("shaped.runbook", &shaped(stages, steps));
            let lint = rbx(
                dir.path(),
                &["lint", "--deny", "warnings", "shaped.runbook"],
            );
            assert_eq!(lint.status, 0, "{}", lint.transcript());
            let out = rbx(dir.path(), &["graph", "shaped.runbook"]);
            assert_eq!(out.status, 0, "{}", out.transcript());
            let dot = &out.stdout;
            let arrows: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
            let to = |target: &str| {
                arrows
                    .iter()
                    .filter(|l| l.contains(&format!("-> \"{target}\"")))
                    .count()
            };
            let boxes = dot
                .lines()
                .filter(|l| l.contains("shape=box, style=rounded"))
                .count();
            assert_eq!(boxes, stages, "{dot}");
            let inheriting = (0..stages).filter(|s| s % 3 != 2).count();
            let owning = stages - inheriting;
            // The runbook's route: from any stage when two or more take it.
            let wide = arrows
                .iter()
                .filter(|l| l.starts_with("  \"any stage\" -> "))
                .count();
            assert_eq!(wide, usize::from(inheriting >= 2), "{dot}");
            assert_eq!(
                to("outcome escalated"),
                usize::from(inheriting >= 1),
                "{dot}"
            );
            assert_eq!(to("outcome contained"), owning, "{dot}");
            // A node's own route: from its stage, naming it.
            for k in (0..stages).filter(|_| steps >= 2) {
                let own = format!("\"s{k}\" -> \"outcome mended\" [label=\"on failure of s{k}n1\"");
                assert!(dot.contains(&own), "{own} in {dot}");
            }
            assert_eq!(
                to("outcome mended"),
                if steps >= 2 { stages } else { 0 },
                "{dot}"
            );
            // The last stage is reached once: by `then`, or from the start.
            assert_eq!(to(&format!("s{}", stages - 1)), 1, "{dot}");
            assert_eq!(dot.matches("IRREVERSIBLE: Step").count(), 1, "{dot}");
            let detail = rbx(dir.path(), &["graph", "--detail", "shaped.runbook"]);
            let marked: Vec<&str> = detail
                .stdout
                .lines()
                .filter(|l| l.contains("IRREVERSIBLE"))
                .collect();
            assert_eq!(marked.len(), 1, "{}", detail.stdout);
            assert!(marked[0].contains("penwidth"), "{}", detail.stdout);
            let failures = detail.stdout.matches("label=\"on failure\"").count();
            assert!(
                failures >= stages * steps,
                "every node's route is drawn at node level"
            );
        }
    }
}

#[test]
fn a_runbook_with_errors_is_neither_drawn_nor_planned() {
    let broken = TRICKY.replace("-> careful", "-> carful");
    let dir = temp_with("broken.runbook", &broken);
    for args in [
        &["graph", "broken.runbook"][..],
        &["plan", "broken.runbook"][..],
    ] {
        let out = rbx(dir.path(), args);
        assert_eq!(out.status, 2, "{}", out.transcript());
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr.contains("rbx::lint::unknown_reference"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn plan_resolves_inputs_and_never_shows_a_secret() {
    let dir = temp_with("deploy.runbook", DEPLOY);
    let token = format!("token={SECRET}");
    let out = rbx(
        dir.path(),
        &[
            "plan",
            "deploy.runbook",
            "--set",
            "release=v2.1.0",
            "--set",
            &token,
            "--set",
            "hosts=[\"web-01\", \"web 02\"]",
        ],
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn plan_refuses_an_unknown_or_malformed_set() {
    let dir = temp_with("deploy.runbook", DEPLOY);
    let typo = format!("tokne={SECRET}");
    let out = rbx(dir.path(), &["plan", "deploy.runbook", "--set", &typo]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert_eq!(out.stdout, "");
    // A mistyped secret's value is not echoed back.
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
    insta::assert_snapshot!(out.stderr, @"error: `--set tokne=…`: this runbook has no input `tokne`; its inputs are service, message, hosts, environment, token, release, notes");

    for (set, why) in [
        ("release", "expected KEY=VALUE"),
        (
            "environment=prod",
            "`prod` is not one of staging, production",
        ),
        ("hosts=web-01,web-02", "a list is written as a JSON array"),
    ] {
        let out = rbx(dir.path(), &["plan", "deploy.runbook", "--set", set]);
        assert_eq!(out.status, 2, "{}", out.transcript());
        assert!(out.stderr.contains(why), "{set}: {}", out.stderr);
    }
}

#[test]
fn plan_of_a_fragment_asks_for_the_entry_file() {
    let dir = temp_with("stage.runbook", "stage s \"S\" {\n  end done\n}\n");
    let out = rbx(dir.path(), &["plan", "stage.runbook"]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    assert!(out.stderr.contains("no `runbook` header"), "{}", out.stderr);
}

/// Rules R4 and R6 in the pictures and the plan, for loops and blocks,
/// with and without a limit, tolerating a count or a share: each limited
/// node says how many run at once, the tally is drawn with the tolerated
/// failures that lead to it, and the plan says where each failure is
/// counted and where a failure beyond the tolerance goes.
#[test]
fn fan_out_limits_and_tallies_are_drawn_and_planned() {
    for block in [false, true] {
        for limit in [None, Some(2)] {
            for tolerate in ["1", "50%"] {
                let pace = limit.map_or(String::new(), |n| format!(" parallel {n}"));
                let (head, tally) = if block {
                    (
                        format!(
                            "parallel{} tolerate {tolerate}",
                            limit.map_or(String::new(), |n| format!(" {n}"))
                        ),
                        "s.parallel-block",
                    )
                } else {
                    (
                        format!("foreach h in hosts{pace} tolerate {tolerate}"),
                        "s.foreach-h",
                    )
                };
                let runbook = format!(
                    r#"runbook f "Fan-out" {{
  input hosts "Hosts": list(string) = ["a", "b", "c"]
  stage s "S" {{
    on failure -> end no_go
    {head} {{
      step one "One" {{ run "true" timeout 1m }}
      step two "Two" {{ run "true" timeout 1m }}
      step three "Three" {{ run "true" timeout 1m }}
    }}
    end go
  }}
}}
"#
                );
                let shape = format!("block {block}, limit {limit:?}, tolerate {tolerate}");
                let dir = temp_with("f.runbook", &runbook);
                let dot = rbx(dir.path(), &["graph", "--detail", "f.runbook"]);
                assert_eq!(dot.status, 0, "{shape}: {}", dot.transcript());
                assert!(
                    dot.stdout.contains(&format!("tally: tolerate {tolerate}")),
                    "{shape}: {}",
                    dot.stdout
                );
                let tolerated = dot
                    .stdout
                    .lines()
                    .filter(|l| l.contains("label=\"tolerated\""))
                    .count();
                assert_eq!(tolerated, 3, "{shape}: {}", dot.stdout);
                let pace_word = match (block, limit) {
                    (_, Some(n)) => format!("{n} at a time"),
                    (true, None) => "all at once".to_string(),
                    (false, None) => "one at a time".to_string(),
                };
                assert!(dot.stdout.contains(&pace_word), "{shape}: {}", dot.stdout);
                let mermaid = rbx(
                    dir.path(),
                    &["graph", "--detail", "--format", "mermaid", "f.runbook"],
                );
                assert_eq!(mermaid.status, 0, "{shape}: {}", mermaid.transcript());
                assert!(
                    mermaid
                        .stdout
                        .contains(&format!("tally: tolerate {tolerate}")),
                    "{shape}"
                );
                let plan = rbx(dir.path(), &["plan", "f.runbook"]);
                assert_eq!(plan.status, 0, "{shape}: {}", plan.transcript());
                assert!(
                    plan.stdout.contains(&format!("tally    {tally}")),
                    "{shape}: {}",
                    plan.stdout
                );
                let counted = format!("counted by {tally}");
                assert_eq!(
                    plan.stdout.matches(&counted).count(),
                    3,
                    "{shape}: {}",
                    plan.stdout
                );
                assert!(
                    plan.stdout.contains("→ end no_go"),
                    "{shape}: {}",
                    plan.stdout
                );
            }
        }
    }
}
