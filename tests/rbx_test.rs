//! `rbx test`: scenarios run by the real engine with a simulated executor
//! and clock. The seed's own suite passes at full coverage; a scenario that
//! expects the wrong thing fails and shows the path the run took; coverage
//! names what was missed and where; and, for generated shapes (loops,
//! `parallel`, `again`, included fragments, retries, choices, routes), a scenario
//! agrees with a real run of the same runbook whose steps really exit with
//! the statuses the scenario gives — the proof that the simulated engine is
//! the real one.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value as Json;

/// `rbx test` in `dir`.
fn rbx_test(dir: &Path, args: &[&str]) -> support::Output {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    support::rbx(dir, &all)
}

fn json(out: &support::Output) -> Json {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}):\n{}", out.transcript()))
}

/// A copy of the seed's runbooks in a temporary directory, its scenarios
/// replaced by `scenarios`.
fn seed_with(scenarios: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let from = support::repo().join("runbooks");
    fs::create_dir_all(dir.path().join("post-cutover")).expect("mkdir");
    for entry in fs::read_dir(from.join("post-cutover")).expect("the seed's fragments") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a name");
        fs::copy(&path, dir.path().join("post-cutover").join(name)).expect("copy");
    }
    fs::copy(
        from.join("post-cutover.runbook"),
        dir.path().join("post-cutover.runbook"),
    )
    .expect("copy");
    fs::write(dir.path().join("post-cutover.rbxtest"), scenarios).expect("write");
    dir
}

const SEED_INPUTS: &str = r#"
  set rust_version = "2.0.0"
  set go_version = "1.9.4"
  set freeze_cmd = "deploy freeze"
  set switch_to_go_cmd = "deploy switch go"
"#;

#[test]
fn the_seed_suite_passes_with_every_branch_route_and_outcome_covered() {
    let out = rbx_test(
        &support::repo(),
        &["runbooks/", "--format", "json", "--min-coverage", "100"],
    );
    assert_eq!(out.status, 0, "{}", out.transcript());
    let report = json(&out);
    let suite = &report["suites"][0];
    assert_eq!(suite["runbook"], "runbooks/post-cutover.runbook");
    let scenarios = suite["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() >= 30, "{} scenarios", scenarios.len());
    assert!(scenarios.iter().all(|s| s["passed"] == true));
    let coverage = &suite["coverage"];
    assert_eq!(coverage["percent"], 100.0);
    for kind in ["branches", "routes", "outcomes"] {
        assert_eq!(coverage[kind]["covered"], coverage[kind]["total"], "{kind}");
        assert!(coverage[kind]["total"].as_u64().unwrap_or(0) > 0, "{kind}");
    }
    // Every outcome the runbook declares is reached by some scenario.
    let ended: BTreeSet<&str> = scenarios
        .iter()
        .filter_map(|s| s["stopped"]["ended"].as_str())
        .collect();
    for outcome in [
        "resolved",
        "fixed_forward",
        "rolled_back",
        "rolled_forward",
        "escalated",
    ] {
        assert!(
            ended.contains(outcome),
            "no scenario ends {outcome}: {ended:?}"
        );
    }
}

#[test]
fn a_scenario_expecting_the_wrong_outcome_fails_and_shows_the_path_taken() {
    let dir = seed_with(&format!(
        r#"scenario doctor_fails "doctor fails; wrongly expected to resolve" {{
{SEED_INPUTS}
  default {{ exit 0 }}
  given forge_version {{ stdout "forge 2.0.0" }}
  given doctor {{ exit 1 stderr "config invalid" }}
  answer "*" {{}}
  answer surface_owner {{ evidence surface = "cli" }}
  answer repro {{ evidence isolated_to = "cli" }}
  answer incident_kind {{ choice other }}
  answer severity {{ choice SEV2 }}
  expect outcome resolved
  expect not ran triage
}}
"#
    ));
    let out = rbx_test(dir.path(), &["."]);
    assert_eq!(out.status, 1, "{}", out.transcript());
    let text = &out.stdout;
    assert!(text.contains("test doctor_fails ... FAILED"), "{text}");
    assert!(
        text.contains("post-cutover.rbxtest:16:10: expected the run to end `resolved`; it ended `fixed_forward`"),
        "{text}"
    );
    assert!(
        text.contains("expected `triage` not to run; `triage` ran"),
        "{text}"
    );
    // The path, stage by stage: where it went wrong and where it went.
    let path: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("the path the run took"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    let stages: Vec<&str> = path
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        stages,
        ["start", "smoke", "triage", "classify", "fix_forward", "end"],
        "{text}"
    );
    assert!(
        path[1].contains("doctor ✗ (exit status 1, expected 0)"),
        "{}",
        path[1]
    );
    assert!(path[2].contains("incident_kind ✓ → other"), "{}", path[2]);
    assert!(
        text.contains("test result: FAILED. 0 passed; 1 failed"),
        "{text}"
    );
}

#[test]
fn missed_branches_routes_and_outcomes_are_listed_where_they_are_written() {
    let dir = seed_with(&format!(
        r#"scenario healthy "all pass" {{
{SEED_INPUTS}
  default {{ exit 0 }}
  given forge_version {{ stdout "forge 2.0.0" }}
  given fmail_log {{ stdout "post-cutover smoke: ok" }}
  answer "*" {{}}
  expect outcome resolved
}}
"#
    ));
    let out = rbx_test(dir.path(), &[".", "--format", "json"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let coverage = json(&out)["suites"][0]["coverage"].clone();
    let units = coverage["units"].as_array().expect("units");
    let missed: Vec<&Json> = units
        .iter()
        .filter(|u| u["taken_by"].as_array().is_some_and(Vec::is_empty))
        .collect();
    assert!(coverage["percent"].as_f64().unwrap_or(100.0) < 20.0);
    // Each unit points at the text that makes it, in the file it is in.
    for unit in units {
        let file = unit["file"].as_str().expect("a file");
        let text = fs::read_to_string(dir.path().join(file)).expect("the unit's file");
        let start = unit["span"]["start"].as_u64().expect("a span") as usize;
        let written = &text[start..];
        let expected = match unit["kind"].as_str() {
            Some("branch") => ["when", "otherwise", "option"]
                .iter()
                .any(|k| written.starts_with(k)),
            Some("route") => written.starts_with("on "),
            _ => {
                written.starts_with("end ")
                    || written.starts_with("on ")
                    || written.starts_with("option")
                    || written.starts_with("when")
                    || written.starts_with("otherwise")
            }
        };
        assert!(
            expected,
            "{unit} points at {:?}",
            &written[..written.len().min(30)]
        );
        let line = text[..start].matches('\n').count() + 1;
        assert_eq!(unit["line"], line, "{unit}");
    }
    let sev0 = missed
        .iter()
        .find(|u| u["label"] == "`SEV0` of `severity`")
        .expect("SEV0 is missed");
    assert_eq!(sev0["file"], "./post-cutover/severity.runbook");
    // And the human report says so, with the place.
    let human = rbx_test(dir.path(), &[".", "--coverage", "--min-coverage", "50"]);
    assert_eq!(human.status, 1, "{}", human.transcript());
    let line = sev0["line"].as_u64().unwrap_or(0);
    assert!(
        human.stdout.contains(&format!(
            "not taken: branch `SEV0` of `severity` at ./post-cutover/severity.runbook:{line}:5"
        )),
        "{}",
        human.stdout
    );
    assert!(
        human.stderr.contains("coverage below 50%"),
        "{}",
        human.stderr
    );
}

#[test]
fn a_scenario_that_does_not_say_what_a_step_does_names_the_step_and_where_it_is() {
    let dir = seed_with(&format!(
        r#"scenario incomplete "only the first step is given" {{
{SEED_INPUTS}
  given forge_version {{ stdout "forge 2.0.0" }}
  answer "*" {{}}
  expect outcome resolved
}}

scenario unanswered "nobody answers the review gate" {{
{SEED_INPUTS}
  default {{ exit 0 }}
  given forge_version {{ stdout "forge 2.0.0" }}
  expect outcome resolved
}}

scenario misnamed "a name the runbook does not have" {{
{SEED_INPUTS}
  given docter {{ exit 1 }}
}}
"#
    ));
    let out = rbx_test(dir.path(), &["."]);
    // A scenario naming what the runbook does not have is wrong (2), not
    // merely failing (1).
    assert_eq!(out.status, 2, "{}", out.transcript());
    let text = &out.stdout;
    assert!(
        text.contains(
            "the scenario gives no result for step `smoke.doctor` (written at ./post-cutover/smoke.runbook:"
        ),
        "{text}"
    );
    assert!(
        text.contains("add `given doctor { exit 0 }` or a `default { exit 0 }`"),
        "{text}"
    );
    assert!(
        text.contains("paused at `smoke.doctor_reviewed`, waiting for a person"),
        "{text}"
    );
    assert!(
        text.contains("no node of the runbook is named `docter`"),
        "{text}"
    );
    assert!(text.contains("did you mean `doctor`?"), "{text}");
}

#[test]
fn junit_names_each_scenario_and_carries_the_failure_and_coverage() {
    let dir = seed_with(&format!(
        r#"scenario passes "all pass" {{
{SEED_INPUTS}
  default {{ exit 0 }}
  given forge_version {{ stdout "forge 2.0.0" }}
  given fmail_log {{ stdout "post-cutover smoke: ok" }}
  answer "*" {{}}
  expect outcome resolved
}}

scenario fails "expects <rolled_back> & more" {{
{SEED_INPUTS}
  default {{ exit 0 }}
  given forge_version {{ stdout "forge 2.0.0" }}
  given fmail_log {{ stdout "post-cutover smoke: ok" }}
  answer "*" {{}}
  expect outcome rolled_back
}}
"#
    ));
    let out = rbx_test(
        dir.path(),
        &[".", "--format", "junit", "--min-coverage", "90"],
    );
    assert_eq!(out.status, 1, "{}", out.transcript());
    let xml = &out.stdout;
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rbx test\" tests=\"2\" failures=\"1\">"), "{xml}");
    assert!(
        xml.contains("<testsuite name=\"./post-cutover.rbxtest\" tests=\"3\" failures=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"post_cutover\" name=\"passes\""),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<failure message=\"expected the run to end `rolled_back`; it ended `resolved`\">"
        ),
        "{xml}"
    );
    assert!(xml.contains("name=\"coverage\""), "{xml}");
    assert!(
        xml.contains("coverage 4.3% is below 90%") || xml.contains("is below 90%"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase").count(), 3, "{xml}");
    assert_eq!(xml.matches("</testsuite>").count(), 1, "{xml}");
}

#[test]
fn a_path_over_a_stage_budget_fails_unless_the_overrun_is_expected() {
    let scenario = |name: &str, takes: &str, expect: &str| {
        format!(
            r#"scenario {name} "smoke at {takes} a person" {{
{SEED_INPUTS}
  default {{ exit 0 takes 10s }}
  given forge_version {{ stdout "forge 2.0.0" }}
  given fmail_log {{ stdout "post-cutover smoke: ok" }}
  answer "*" {{ takes {takes} }}
  expect outcome resolved
{expect}}}
"#
        )
    };
    let dir = seed_with(
        &[
            scenario("quick", "5m", ""),
            scenario("slow", "9m", ""),
            scenario("slow_expected", "9m", "  expect overrun smoke\n"),
            scenario(
                "quick_path",
                "5m",
                "  expect within 20m\n  expect stage smoke within 20m\n",
            ),
        ]
        .join("\n"),
    );
    let out = rbx_test(dir.path(), &[".", "--format", "json"]);
    let report = json(&out);
    let scenarios = report["suites"][0]["scenarios"]
        .as_array()
        .expect("scenarios")
        .clone();
    let by = |id: &str| {
        scenarios
            .iter()
            .find(|s| s["id"] == id)
            .expect("the scenario")
            .clone()
    };
    // 4 people at 5m and 6 steps at 10s: 21m of a 30m budget.
    let quick = by("quick");
    assert_eq!(quick["passed"], true, "{quick}");
    assert_eq!(quick["elapsed_ms"], 21 * 60_000);
    let smoke = quick["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == "smoke")
        .expect("smoke")
        .clone();
    assert_eq!(smoke["budget_ms"], 30 * 60_000);
    assert_eq!(smoke["elapsed_ms"], 21 * 60_000);
    let slow = by("slow");
    assert_eq!(slow["passed"], false);
    assert_eq!(
        slow["misses"][0]["message"],
        "stage `smoke` took 37m, over its `within` budget of 30m"
    );
    assert_eq!(by("slow_expected")["passed"], true);
    let quick_path = by("quick_path");
    assert_eq!(quick_path["passed"], false);
    let messages: Vec<&str> = quick_path["misses"]
        .as_array()
        .expect("misses")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "expected the whole path within 20m; it took 21m",
            "expected stage `smoke` within 20m; it took 21m"
        ]
    );
}

#[test]
fn every_example_has_scenarios_and_they_pass() {
    let examples = support::repo().join("examples");
    let mut runbooks = 0;
    for entry in fs::read_dir(&examples).expect("the examples") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "runbook") {
            runbooks += 1;
            assert!(
                path.with_extension("rbxtest").is_file(),
                "{} has no scenarios beside it",
                path.display()
            );
        }
    }
    let out = rbx_test(&support::repo(), &["examples/", "--format", "json"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let report = json(&out);
    assert!(runbooks >= 4, "the examples went missing");
    assert_eq!(report["suites"].as_array().map(Vec::len), Some(runbooks));
    assert_eq!(report["summary"]["failed"], 0);
}

#[test]
fn scenario_files_format_to_a_fixed_point_with_the_same_tree() {
    for file in [
        "runbooks/post-cutover.rbxtest",
        "examples/cert-rotation.rbxtest",
        "examples/fleet-patch.rbxtest",
        "examples/release-gate.rbxtest",
        "examples/replica-replacement.rbxtest",
        "examples/rolling-restart.rbxtest",
    ] {
        let text = fs::read_to_string(support::repo().join(file)).expect("a scenarios file");
        let parsed = rbx_syntax::parse(&text);
        let tree = parsed
            .file
            .unwrap_or_else(|| panic!("{file} parses: {:?}", parsed.diagnostics));
        assert!(!tree.scenarios.is_empty());
        let formatted = rbx_syntax::fmt::format(&text, &tree);
        assert_eq!(formatted, text, "{file} is formatted");
        let again = rbx_syntax::parse(&formatted)
            .file
            .expect("the formatted text parses");
        assert_eq!(again, tree);
    }
}

/// A small deterministic generator, so that a failing shape can be found
/// again from its case number.
struct Shapes(u64);

impl Shapes {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    fn exit(&mut self) -> u64 {
        // Mostly success, so that runs get deep into the shape.
        u64::from(self.next(9) == 0)
    }
}

/// One generated runbook (with an included fragment) whose steps really
/// exit with chosen statuses, and the scenario that gives the same ones.
struct Shape {
    runbook: String,
    fragment: String,
    scenario: String,
    /// The person's answer, for the real run (`--answers`).
    answers: String,
}

fn shape(case: u64) -> Shape {
    let mut g = Shapes(0x9E37_79B9_7F4A_7C15 ^ (case + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let hosts: Vec<String> = (0..=g.next(3)).map(|i| format!("h{i}")).collect();
    let failing_host = (g.next(4) == 0).then(|| hosts[g.next(hosts.len() as u64) as usize].clone());
    let limit = match g.next(3) {
        0 => String::new(),
        n => format!(" parallel {n}"),
    };
    let (s1, p1, p2, t, fix) = (g.exit(), g.exit(), g.exit(), g.exit(), g.exit());
    let measured = g.next(7);
    let retries = g.next(3);
    // Mostly within what the retries allow; sometimes one attempt more.
    let failing_attempts = g.next(retries + 2).min(g.next(retries + 2));
    let again = g.next(2) == 0;
    let pick = if g.next(4) == 0 { "stop" } else { "go" };
    let host_list: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let again_line = if again {
        "    again side { on failure -> end side_failed }\n"
    } else {
        ""
    };
    let runbook = format!(
        r#"runbook gen "A generated shape" {{
  input hosts "hosts": list(string) = [{hosts}]

  on failure -> end gave_up

  include "side.runbook"

  stage main "Main" {{
    on failure -> recovery

    step s1 "S1" {{ run "exit {s1}" }}

    parallel {{
      step p1 "P1" {{ run "exit {p1}" }}
      step p2 "P2" {{ run "exit {p2}" }}
    }}

    foreach host in hosts{limit} {{
      step h "H" {{ run "test {{{{ host }}}} != {failing}" }}
    }}

    step measure "Measure" {{
      run "echo n={measured}"
      capture n: int = stdout ~ /n=(\d+)/
    }}

    decide size "Size" {{
      when measure.n >= 5 -> end big
      otherwise -> continue
    }}

    step r "Retried" {{
      retry {retries}
      run "c=$(cat count 2>/dev/null || echo 0); echo $((c + 1)) > count; test $c -ge {failing_attempts}"
    }}

    choose pick "Go on?" {{
      option go "go on" -> continue
      option stop "stop here" -> end stopped
    }}
{again_line}
    then side
  }}

  stage recovery "Recovery" {{
    step fix "Fix" {{ run "exit {fix}" }}

    end recovered
  }}
}}
"#,
        hosts = host_list.join(", "),
        failing = failing_host.as_deref().unwrap_or("none"),
    );
    let fragment = format!(
        "stage side \"Side\" {{\n  step t \"T\" {{ run \"exit {t}\" }}\n\n  end done\n}}\n"
    );
    let mut givens = vec![
        format!("  given s1 {{ exit {s1} }}"),
        format!("  given p1 {{ exit {p1} }}"),
        format!("  given p2 {{ exit {p2} }}"),
        format!("  given measure {{ stdout \"n={measured}\" }}"),
        format!("  given t {{ exit {t} }}"),
        format!("  given fix {{ exit {fix} }}"),
    ];
    if let Some(host) = &failing_host {
        givens.push(format!("  given \"main.h[{host}]\" {{ exit 1 }}"));
    }
    for attempt in 1..=failing_attempts {
        givens.push(format!("  given r attempt {attempt} {{ exit 1 }}"));
    }
    let scenario = format!(
        "scenario shape \"case {case}\" {{\n  default {{ exit 0 }}\n{}\n  answer pick {{ choice {pick} }}\n}}\n",
        givens.join("\n")
    );
    let answers = format!("[pick]\nchoice = \"{pick}\"\nrationale = \"a scenario's answer\"\n");
    Shape {
        runbook,
        fragment,
        scenario,
        answers,
    }
}

/// Each settled node's last status and attempt, and how the run stopped.
type Record = (Vec<(String, String, u64)>, String);

fn real_run(dir: &Path) -> Record {
    let out = support::rbx(
        dir,
        &[
            "run",
            "gen.runbook",
            "--non-interactive",
            "--answers",
            "answers.toml",
        ],
    );
    assert!(
        [0, 1, 4].contains(&out.status),
        "the real run: {}",
        out.transcript()
    );
    real_record(dir)
}

/// What the latest run in `dir`'s store settled, and how it stopped.
fn real_record(dir: &Path) -> Record {
    let store = rbx_store::SqliteStore::open(&dir.join(".rbx")).expect("the store opens");
    let run = rbx_store::Store::runs(&store)
        .expect("runs")
        .pop()
        .expect("a run");
    let events = rbx_store::Store::events(&store, &run.id).expect("events");
    let mut settled = std::collections::BTreeMap::new();
    let mut stopped = String::new();
    for e in events {
        let p = &e.payload;
        match e.kind.as_str() {
            "node_finished" => {
                let node = p["node"].as_str().unwrap_or("").to_string();
                let status = p["status"].as_str().unwrap_or("").to_string();
                settled.insert(node, (status, p["attempt"].as_u64().unwrap_or(0)));
            }
            "run_ended" => stopped = format!("ended {}", p["outcome"].as_str().unwrap_or("")),
            "run_failed" => stopped = format!("failed at {}", p["node"].as_str().unwrap_or("")),
            _ => {}
        }
    }
    let nodes = settled.into_iter().map(|(n, (s, a))| (n, s, a)).collect();
    (nodes, stopped)
}

fn simulated_run(dir: &Path) -> Record {
    let out = rbx_test(dir, &["gen.rbxtest", "--format", "json"]);
    let report = json(&out);
    let scenario = &report["suites"][0]["scenarios"][0];
    assert!(
        scenario["problems"].as_array().is_some_and(Vec::is_empty),
        "{scenario}"
    );
    let mut settled = std::collections::BTreeMap::new();
    for visit in scenario["path"].as_array().expect("a path") {
        settled.insert(
            visit["node"].as_str().unwrap_or("").to_string(),
            (
                visit["status"].as_str().unwrap_or("").to_string(),
                visit["attempts"].as_u64().unwrap_or(0),
            ),
        );
    }
    let stopped = &scenario["stopped"];
    let stopped = match (stopped["ended"].as_str(), stopped["failed"].as_str()) {
        (Some(outcome), _) => format!("ended {outcome}"),
        (_, Some(node)) => format!("failed at {node}"),
        _ => format!("{stopped}"),
    };
    let nodes = settled.into_iter().map(|(n, (s, a))| (n, s, a)).collect();
    (nodes, stopped)
}

/// For generated shapes — loops with and without `parallel N`, a
/// `parallel` block, an `again` instance, an included fragment, a retried
/// step, a decision on a capture, a person's choice, failure routes at two
/// levels — a real run whose steps really exit with given statuses (and
/// whose person answers from a file) and a scenario giving the same
/// statuses and answer settle the same nodes the same way, with the same
/// attempts, and stop the same way.
#[test]
fn scenarios_agree_with_real_runs_of_the_same_shapes() {
    let mut stops = BTreeSet::new();
    for case in 0..32 {
        let shape = shape(case);
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("gen.runbook"), &shape.runbook).expect("write");
        fs::write(dir.path().join("side.runbook"), &shape.fragment).expect("write");
        fs::write(dir.path().join("gen.rbxtest"), &shape.scenario).expect("write");
        fs::write(dir.path().join("answers.toml"), &shape.answers).expect("write");
        let lint = support::rbx(dir.path(), &["lint", "gen.runbook"]);
        assert_eq!(
            lint.status,
            0,
            "case {case} lints:\n{}\n{}",
            lint.transcript(),
            shape.runbook
        );
        let simulated = simulated_run(dir.path());
        let real = real_run(dir.path());
        assert_eq!(
            simulated, real,
            "case {case}: the scenario and the real run differ\n{}\n{}",
            shape.runbook, shape.scenario
        );
        stops.insert(real.1);
    }
    // The cases reach more than one way of stopping.
    assert!(stops.len() >= 3, "{stops:?}");
}

/// `--durations-from RUN`: a scenario with no durations of its own is a
/// rehearsal at the speed of a real run: each stage takes what the real
/// one's steps took, and a budget the real run would miss fails.
#[test]
fn durations_from_a_real_run_time_the_rehearsal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(
        dir.path().join("timed.runbook"),
        r#"runbook timed "Timed" {
  stage first "First" {
    step slow "Slow" { run "sleep 0.3" }
    step quick "Quick" { run "true" }

    then second
  }

  stage second "Second" {
    step slower "Slower" { run "sleep 0.4" }

    end done
  }
}
"#,
    )
    .expect("write");
    fs::write(
        dir.path().join("timed.rbxtest"),
        r#"scenario as_run "as fast as the real run" {
  default { exit 0 }
  expect stage first within 2s
}

scenario too_slow "a budget the real run misses" {
  default { exit 0 }
  expect stage second within 100ms
}
"#,
    )
    .expect("write");
    let run = support::rbx(dir.path(), &["run", "timed.runbook", "--non-interactive"]);
    assert_eq!(run.status, 0, "{}", run.transcript());
    let store = rbx_store::SqliteStore::open(&dir.path().join(".rbx")).expect("the store opens");
    let summary = rbx_store::Store::runs(&store)
        .expect("runs")
        .pop()
        .expect("a run");
    let events = rbx_store::Store::events(&store, &summary.id).expect("events");
    let took = |node: &str| {
        events
            .iter()
            .find(|e| e.kind == "node_finished" && e.payload["node"] == node)
            .and_then(|e| e.payload["duration_ms"].as_u64())
            .expect("a duration")
    };
    let (slow, quick, slower) = (
        took("first.slow"),
        took("first.quick"),
        took("second.slower"),
    );
    assert!(slow >= 300 && slower >= 400, "{slow} {slower}");
    let out = rbx_test(
        dir.path(),
        &[
            "timed.rbxtest",
            "--format",
            "json",
            "--durations-from",
            summary.id.as_str(),
        ],
    );
    assert_eq!(out.status, 1, "{}", out.transcript());
    let report = json(&out);
    let scenarios = report["suites"][0]["scenarios"]
        .as_array()
        .expect("scenarios")
        .clone();
    let stage = |s: &Json, name: &str| {
        s["stages"]
            .as_array()
            .and_then(|stages| stages.iter().find(|t| t["stage"] == name))
            .map(|t| t["elapsed_ms"].as_u64().unwrap_or(0))
            .expect("the stage")
    };
    assert_eq!(scenarios[0]["passed"], true, "{}", scenarios[0]);
    assert_eq!(stage(&scenarios[0], "first"), slow + quick);
    assert_eq!(stage(&scenarios[0], "second"), slower);
    assert_eq!(scenarios[0]["elapsed_ms"], slow + quick + slower);
    assert_eq!(scenarios[1]["passed"], false);
    assert_eq!(
        scenarios[1]["misses"][0]["message"],
        format!(
            "expected stage `second` within 100ms; it took {}",
            rbx_syntax::fmt::duration(slower)
        )
    );
}

/// The clock: a scenario starts when it says, an anchor is reached at a
/// chosen time, and a wait until a time after it passes at once in
/// simulated time — the run's times are the simulated ones.
#[test]
fn anchors_at_chosen_times_and_waits_pass_in_simulated_time() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(
        dir.path().join("clock.runbook"),
        r#"runbook clock "Clock" {
  stage window "Maintenance window" {
    anchor opened "The window opens"

    wait settle "Let caches settle for an hour" {
      until opened + 1h
    }

    step work "Work" { run "true" }

    end done
  }
}
"#,
    )
    .expect("write");
    fs::write(
        dir.path().join("clock.rbxtest"),
        r#"scenario at_two "the window opens at 02:00 and the work starts an hour later" {
  start "2026-06-01T01:30:00Z"

  default { exit 0 takes 5m }
  given opened { at "2026-06-01T02:00:00Z" }

  expect outcome done
  expect within 1h40m
}
"#,
    )
    .expect("write");
    let out = rbx_test(dir.path(), &["clock.rbxtest", "--format", "json"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let scenario = json(&out)["suites"][0]["scenarios"][0].clone();
    let at = |node: &str| {
        scenario["path"]
            .as_array()
            .and_then(|p| p.iter().find(|v| v["node"] == node))
            .and_then(|v| v["at_ms"].as_u64())
            .expect("the node ran")
    };
    // 30 minutes to the anchor, an hour's wait, five minutes of work.
    assert_eq!(at("window.opened"), 30 * 60_000);
    assert_eq!(at("window.settle"), 90 * 60_000);
    assert_eq!(at("window.work"), 95 * 60_000);
    assert_eq!(scenario["elapsed_ms"], 95 * 60_000);
}

/// A scenario that is wrong — an input the runbook does not have, a value
/// its type refuses, an input left without a value, a time that is not
/// one, an outcome or a stage the runbook does not have — is reported at
/// its place, with what would be right, and is not run.
#[test]
fn a_wrong_scenario_is_reported_where_it_is_wrong_and_not_run() {
    let dir = seed_with(
        r#"scenario wrong "everything wrong at once" {
  set rust_verson = "2.0.0"
  set trigger = sometimes
  set freeze_cmd = "deploy freeze"
  set switch_to_go_cmd = "deploy switch go"
  start "yesterday"

  expect outcome resolvd
  expect stage smok within 1h
}
"#,
    );
    let out = rbx_test(dir.path(), &["."]);
    assert_eq!(out.status, 2, "{}", out.transcript());
    let text = &out.stdout;
    for expected in [
        "the runbook has no input `rust_verson`",
        "did you mean `rust_version`?",
        "`trigger`: `sometimes` is not one of cutover_smoke, incident",
        "scenario `wrong` gives no value for `rust_version`, `go_version`",
        "`yesterday` is not a UTC time",
        "no route of the runbook ends `resolvd`",
        "did you mean `resolved`?",
        "no stage of the runbook is named `smok`",
        "did you mean `smoke`?",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("the path the run took"), "{text}");
}

/// What a scenario says a step printed goes through the engine's own
/// output handling: a secret in it is masked before a capture or an
/// expectation sees it, as in a real run.
#[test]
fn simulated_output_is_masked_judged_and_captured_as_real_output_is() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(
        dir.path().join("masked.runbook"),
        r#"runbook masked "Masked" {
  input token "API token": secret

  stage s "S" {
    step login "Log in" {
      run "login --token {{ token }}"
      expect stdout ~ /logged in/
      capture said = stdout ~ /said=(\S+)/
    }

    end done
  }
}
"#,
    )
    .expect("write");
    fs::write(
        dir.path().join("masked.rbxtest"),
        r#"scenario echoes_the_token "the command prints the token it was given" {
  set token = "s3cr3t-Zq8"

  given login { stdout "logged in; said=s3cr3t-Zq8" }

  expect outcome done
  expect login.said == "••••••"
}

scenario not_logged_in "the expectation on stdout is judged" {
  set token = "s3cr3t-Zq8"

  given login { stdout "denied" }

  expect failed login
}
"#,
    )
    .expect("write");
    let out = rbx_test(dir.path(), &["masked.rbxtest"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
}

/// Nothing a scenario's runbook says to run is executed, no hook runs, and
/// no store is written: the commands would leave files behind.
#[test]
fn nothing_is_executed_and_no_store_is_written() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(
        dir.path().join("effects.runbook"),
        r#"runbook effects "Effects" {
  hook end "touch hook-ran"

  stage s "S" {
    step touch "Touch" { run "touch step-ran" }

    wait poll "Poll" {
      run "touch poll-ran"
      every 10s
      timeout 1m
    }

    end done
  }
}
"#,
    )
    .expect("write");
    fs::write(
        dir.path().join("effects.rbxtest"),
        "scenario all \"every effect simulated\" {\n  default { exit 0 }\n\n  expect outcome done\n}\n",
    )
    .expect("write");
    let out = rbx_test(dir.path(), &["."]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let mut left: Vec<String> = fs::read_dir(dir.path())
        .expect("the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    left.sort();
    assert_eq!(left, ["effects.rbxtest", "effects.runbook"]);
}

/// `cancel at NODE` is what an operator does with `rbx cancel` on a run
/// paused there, and the compensation runs the same: for each place in a
/// generated procedure (a person's node before, inside and after a loop),
/// the scenario and a real run cancelled with `rbx cancel` settle the same
/// nodes the same way and end the same.
#[test]
fn a_scenario_cancel_agrees_with_rbx_cancel_on_a_real_run() {
    for (place, items) in [("before", 2), ("inside", 3), ("after", 1)] {
        let person = |here: &str| {
            if here == place {
                "    manual check \"Check\" { evidence note \"note\": text }\n"
            } else {
                ""
            }
        };
        let runbook = format!(
            r#"runbook cancel "Cancel" {{
  input hosts "hosts": list(string) = [{hosts}]

  on cancel -> undo

  stage work "Work" {{
    step a "A" {{ run "true" }}
{before}
    foreach host in hosts {{
      step h "H" {{ run "true" }}
{inside}    }}
{after}
    step b "B" {{ run "true" }}

    end done
  }}

  stage undo "Undo" {{
    step u "U" {{ run "true" }}

    end undone
  }}
}}
"#,
            hosts = (0..items)
                .map(|i| format!("\"h{i}\""))
                .collect::<Vec<_>>()
                .join(", "),
            before = person("before"),
            inside = person("inside").replace("    manual", "      manual"),
            after = person("after"),
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("gen.runbook"), &runbook).expect("write");
        fs::write(
            dir.path().join("gen.rbxtest"),
            "scenario shape \"cancelled at the person\" {\n  default { exit 0 }\n\n  cancel at check\n}\n",
        )
        .expect("write");
        let lint = support::rbx(dir.path(), &["lint", "gen.runbook"]);
        assert_eq!(lint.status, 0, "{place}:\n{}\n{runbook}", lint.transcript());
        let simulated = simulated_run(dir.path());
        let paused = support::rbx(dir.path(), &["run", "gen.runbook", "--non-interactive"]);
        assert_eq!(paused.status, 3, "{}", paused.transcript());
        let store = rbx_store::SqliteStore::open(&dir.path().join(".rbx")).expect("the store");
        let run = rbx_store::Store::runs(&store)
            .expect("runs")
            .pop()
            .expect("a run");
        drop(store);
        let cancel = support::rbx(
            dir.path(),
            &[
                "cancel",
                run.id.as_str(),
                "--reason",
                "test",
                "--non-interactive",
            ],
        );
        assert_eq!(cancel.status, 0, "{}", cancel.transcript());
        let real = real_record(dir.path());
        assert_eq!(simulated, real, "{place}:\n{runbook}");
        assert_eq!(real.1, "ended undone", "{place}");
    }
}
