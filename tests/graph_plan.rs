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
    let out = rbx(dir.path(), &["graph", "tricky.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
    // Graphviz's own reading of it is checked by tests/system.rs.
    insta::assert_snapshot!("graph_draws_dot_that_graphviz_renders", out.stdout);
}

#[test]
fn graph_draws_mermaid_with_safe_ids_and_labels() {
    let dir = temp_with("tricky.runbook", TRICKY);
    let out = rbx(
        dir.path(),
        &["graph", "--format", "mermaid", "tricky.runbook"],
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    insta::assert_snapshot!(out.stdout);
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
