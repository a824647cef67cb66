//! `rbx graph` and `rbx plan` driven through the real binary: the DOT and
//! Mermaid they draw (DOT also checked by Graphviz itself), the plan of a
//! runbook with inputs set on the command line, and what they refuse.

mod support;

use std::fs;
use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{rbx, repo};

/// Labels full of what DOT and Mermaid treat specially, an `again`
/// instance, a fan-out, a decision and a choice.
const TRICKY: &str = r#"runbook tricky "Quotes \"and\" back\\slashes" {
  input mode "How to run": enum(fast, careful) = fast
  input hosts "Hosts": list(host) = ["a", "b", "c"]
  input label "Label": string = "x"

  role op "Operator"

  on cancel -> end cancelled

  stage check "Check <it> | \"now\" #1" within 10m {
    on failure -> end failed

    step version "Version is \"2.0\" \\ not C:\\old" {
      run "forge --version"
      timeout 30s
    }

    decide how "Fast or careful?" {
      when mode == fast and label != "say \"hi\"" -> continue
      otherwise -> careful
    }

    foreach host in hosts parallel 2 {
      step restart "Restart {{ host }}" {
        run "ssh {{ host }} restart"
        timeout 1m
      }
    }

    then finish
  }

  stage careful "Careful `path`" {
    choose go "Go on?" {
      owner op
      option yes "Yes" -> finish
      option no "No" -> end stopped
    }
  }

  stage finish "Finish" {
    again probe {
      on failure -> end escalated
    }

    end done
  }

  stage probe "Probe" {
    wait up "Service is up" {
      run "curl -fsS http://{{ label }}/healthz"
      every 5s
      timeout 1m
    }

    end probed
  }
}
"#;

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

/// Renders DOT with the real Graphviz, failing the test when it refuses.
fn dot_to_svg(source: &str) -> String {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz `dot` is installed (.ci/run installs it)");
    child
        .stdin
        .take()
        .expect("dot's standard input")
        .write_all(source.as_bytes())
        .expect("dot reads the graph");
    let output = child.wait_with_output().expect("dot finishes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "dot refused the graph: {stderr}");
    assert!(stderr.is_empty(), "dot warned: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn graph_draws_dot_that_graphviz_renders() {
    let dir = temp_with("tricky.runbook", TRICKY);
    let out = rbx(dir.path(), &["graph", "tricky.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!(out.stdout);
    let svg = dot_to_svg(&out.stdout);
    // Escaped labels come out of Graphviz as they were written.
    for text in [
        r"tricky: Quotes &quot;and&quot; back\slashes",
        r"step: Version is &quot;2.0&quot; \ not C:\old",
        "Check &lt;it&gt; | &quot;now&quot; #1",
        "foreach host in hosts (2 at a time)",
        "on failure",
    ] {
        assert!(svg.contains(text), "`{text}` is not in the SVG:\n{svg}");
    }
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
fn the_seed_runbook_is_drawn_and_graphviz_renders_it() {
    let out = rbx(&repo(), &["graph", "runbooks/post-cutover.runbook"]);
    // Roles and links the seed leaves to fill in get a note on standard
    // error, not a refusal: the graph is what people read while filling in.
    assert_eq!(out.status, 0, "{}", out.transcript());
    let svg = dot_to_svg(&out.stdout);
    assert!(
        svg.contains("cluster_smoke#2"),
        "the again instance is drawn"
    );
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
