//! An instance's own condition (`call STAGE(…) when EXPR`, `again STAGE
//! when EXPR`, rule W5) through the real `rbx` binary: in every place an
//! instance can stand — a stage, a `foreach` reading its item, a
//! `parallel` branch, an `again` instance, a `call` instance, an included
//! fragment — held and not held; and after `kill -9` at every event.

mod support;

use support::bench::Bench;

#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Again,
    Call,
    Fragment,
}

const PLACES: [Place; 6] = [
    Place::Stage,
    Place::Loop,
    Place::Parallel,
    Place::Again,
    Place::Call,
    Place::Fragment,
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Call,
    Again,
}

/// A step that logs `guarded-ID` (its node id without the stage instance)
/// or `ID` to `ran.log`.
fn step(id: &str, guarded: bool) -> String {
    let tag = if guarded { "guarded-" } else { "" };
    format!(
        "step {id} \"{id}\" {{\n      run \"echo {tag}${{RBX_RUN_STEP#*.}} >> ran.log\"\n      idempotent\n    }}"
    )
}

/// The stages the guarded instance runs: `d` with a parameter for `call`,
/// `t` for `again`; each two steps.
fn targets() -> String {
    format!(
        "  stage d(p: string) \"D {{{{ p }}}}\" {{\n    {}\n    {}\n  }}\n\n  stage t \"T\" {{\n    {}\n    {}\n    end t_done\n  }}\n",
        step("one", true),
        step("two", true),
        step("three", true),
        step("four", true),
    )
}

fn instance(kind: Kind, condition: &str) -> String {
    match kind {
        Kind::Call => format!("call d(p = \"x\") when {condition}"),
        Kind::Again => format!("again t when {condition}"),
    }
}

/// A runbook with a guarded instance at `place` and a step `after` that
/// runs either way; the fragment it includes, if any; and how many of the
/// guarded instances hold and how many do not.
fn runbook(place: Place, kind: Kind, flag: bool) -> (String, Option<String>, usize, usize) {
    let after = step("after", false);
    let plain = instance(kind, "flag");
    let (held, not) = if flag { (1, 0) } else { (0, 1) };
    let (body, extra, fragment, held, not) = match place {
        Place::Stage => (
            format!("{plain}\n    {after}"),
            String::new(),
            None,
            held,
            not,
        ),
        Place::Loop => (
            format!(
                "foreach h in hosts {{\n      {}\n    }}\n    {after}",
                instance(kind, "h == \"b\" or flag")
            ),
            String::new(),
            None,
            held + 1,
            not,
        ),
        Place::Parallel => (
            format!(
                "parallel {{\n      {plain}\n      {}\n    }}\n    {after}",
                step("other", false)
            ),
            String::new(),
            None,
            held,
            not,
        ),
        Place::Again => (
            format!("again u\n    {after}"),
            format!("  stage u \"U\" {{\n    {plain}\n    end u_done\n  }}\n"),
            None,
            held,
            not,
        ),
        Place::Call => (
            format!("call w(q = \"y\")\n    {after}"),
            format!("  stage w(q: string) \"W {{{{ q }}}}\" {{\n    {plain}\n  }}\n"),
            None,
            held,
            not,
        ),
        Place::Fragment => (
            after.clone(),
            String::new(),
            Some(format!(
                "stage f \"Fragment\" {{\n    {plain}\n    then s\n  }}\n"
            )),
            held,
            not,
        ),
    };
    let (include, first) = match place {
        Place::Fragment => (
            "  include \"part.runbook\"\n",
            "  stage start \"Start\" {\n    then f\n  }\n",
        ),
        _ => ("", ""),
    };
    let text = format!(
        "runbook c \"Instance conditions\" {{\n  input flag: bool = {flag}\n  input hosts: list(string) = [\"a\", \"b\"]\n{include}{first}  stage s \"S\" {{\n    {body}\n    end done\n  }}\n{extra}{}}}\n",
        targets()
    );
    (text, fragment, held, not)
}

/// The steps of the instance a guard guards: `s.when-d#1[a]` guards
/// `d#1.one[a]` and `d#1.two[a]`.
fn guarded_nodes(guard: &str) -> Vec<String> {
    let (_, guarded) = guard.split_once(".when-").expect("a guard's id");
    let (instance, item) = match guarded.find('[') {
        Some(at) => guarded.split_at(at),
        None => (guarded, ""),
    };
    let steps: &[&str] = if instance.starts_with("d#") {
        &["one", "two"]
    } else {
        &["three", "four"]
    };
    steps
        .iter()
        .map(|s| format!("{instance}.{s}{item}"))
        .collect()
}

/// W5: an instance whose condition does not hold is skipped whole — its
/// guard recorded as skipped with the condition, none of its nodes run —
/// and what follows it runs; one whose condition holds runs every node.
#[test]
fn an_instance_skipped_by_its_condition_lets_its_flow_go_on_everywhere() {
    for place in PLACES {
        for kind in [Kind::Call, Kind::Again] {
            for flag in [false, true] {
                let shape = format!("{place:?}, {kind:?}, flag {flag}");
                let bench = Bench::new();
                let (text, fragment, held, not) = runbook(place, kind, flag);
                if let Some(fragment) = fragment {
                    bench.write("part.runbook", &fragment);
                }
                bench.write("main.runbook", &text);
                let run = bench.rbx(&["run", "main.runbook"], &[]);
                assert_eq!(run.status, 0, "{shape}\n{}\n{text}", run.transcript());
                let (_, events) = bench.journal();
                let ran = bench.ran();
                // A stage reached only by `again` or `call` has a primary
                // instance that never runs: its guard is skipped with no
                // condition judged.
                let judged: Vec<&String> = events
                    .iter()
                    .filter(|(k, n, p)| {
                        k == "node_skipped" && n.contains(".when-") && p["condition"].is_string()
                    })
                    .map(|(_, n, _)| n)
                    .collect();
                assert_eq!(judged.len(), not, "{shape}: {events:?}");
                let guarded = ran.iter().filter(|l| l.starts_with("guarded-")).count();
                assert_eq!(guarded, 2 * held, "{shape}: {ran:?}\n{text}");
                assert_eq!(
                    ran.iter().filter(|l| *l == "after").count(),
                    1,
                    "{shape}: {ran:?}"
                );
                // Every node of a skipped instance is recorded as skipped,
                // never left as if it might still run.
                for guard in judged {
                    for node in guarded_nodes(guard) {
                        assert!(
                            events
                                .iter()
                                .any(|(k, n, _)| k == "node_skipped" && *n == node),
                            "{shape}: {node} not recorded as skipped: {events:?}"
                        );
                    }
                }
            }
        }
    }
}

/// W5 with S1, S2: `kill -9` after every event of a run with instances
/// that run and instances that are skipped, in a loop, then `rbx resume`
/// until it ends: every command of an instance that holds ran once, none
/// of a skipped one's ever did, and each guard is judged once.
#[test]
fn kill_nine_at_every_event_neither_loses_nor_repeats_a_guarded_instance() {
    let text = format!(
        r#"runbook c "Instances after a crash" {{
  input flag: bool = false
  input hosts: list(string) = ["a", "b"]
  stage s "S" {{
    foreach h in hosts {{
      call d(p = h) when h == "b"
    }}
    again t when not flag
    call d(p = "z") when flag
    {}
    end done
  }}
{}}}
"#,
        step("last", false),
        targets()
    );
    let expected = [
        "guarded-one[b]",
        "guarded-two[b]",
        "guarded-three",
        "guarded-four",
        "last",
    ];
    let whole = Bench::whole_run(&text, &expected);
    for crash in 1..whole {
        let bench = Bench::new();
        bench.write("main.runbook", &text);
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
        for guard in ["s.when-d#1[a]", "s.when-d#2"] {
            let judged = events
                .iter()
                .filter(|(k, n, _)| k == "node_skipped" && n == guard)
                .count();
            assert_eq!(
                judged, 1,
                "crash after {crash}: {guard} skipped {judged} times"
            );
        }
    }
}

/// `rbx plan` names the instance a guard guards, with its condition, and
/// says what happens either way.
#[test]
fn plan_names_the_instance_a_condition_guards() {
    let (text, _, _, _) = runbook(Place::Loop, Kind::Call, false);
    let bench = Bench::new();
    bench.write("main.runbook", &text);
    let plan = bench.rbx(&["plan", "main.runbook"], &[]);
    assert_eq!(plan.status, 0, "{}", plan.transcript());
    for line in [
        "s.when-d#1 — the instance d#1 after it runs only when h == \"b\" or flag",
        "every node of the instance d#1 runs as written",
        "the instance d#1 is skipped whole; what follows it runs",
    ] {
        assert!(plan.stdout.contains(line), "{line}\n{}", plan.stdout);
    }
}
