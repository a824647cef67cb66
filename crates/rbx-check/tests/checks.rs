//! Each check, on a fixture that passes and fixtures that fail, with the
//! rendered findings snapshotted.

use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use rbx_check::{LoadError, Loader, Report, check};

struct Files;

impl Loader for Files {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        std::fs::read(path).map_err(|_| LoadError::NotFound)
    }
}

fn render(report: &Report, root: &Path) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for finding in &report.findings {
        let source = &report.sources[finding.source];
        let name = source.path.strip_prefix(root).unwrap_or(&source.path);
        let report = miette::Report::new(finding.diagnostic.clone()).with_source_code(
            NamedSource::new(name.display().to_string(), source.text.clone()),
        );
        handler
            .render_report(&mut out, report.as_ref())
            .expect("rendering to a string cannot fail");
    }
    out
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

#[test]
fn resolvable_references_pass() {
    let report = check(&fixtures().join("pass/references.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
}

#[test]
fn well_typed_expressions_pass() {
    let report = check(&fixtures().join("pass/types.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
}

#[test]
fn well_typed_time_passes() {
    let report = check(&fixtures().join("pass/time.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
}

#[test]
fn guarded_conditions_pass() {
    let report = check(&fixtures().join("pass/conditions.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
}

#[test]
fn each_mistake_is_reported_where_it_is() {
    insta::glob!("fixtures/fail/*.runbook", |path| {
        let report = check(path, &Files);
        assert!(!report.findings.is_empty(), "{} passed", path.display());
        insta::assert_snapshot!(render(&report, fixtures()));
    });
}

#[test]
fn include_problems_point_at_the_include() {
    for case in ["include-cycle", "include-missing"] {
        let report = check(
            &fixtures().join(format!("fail/{case}/main.runbook")),
            &Files,
        );
        assert!(report.has_errors(), "{case} passed");
        insta::assert_snapshot!(case, render(&report, fixtures()));
    }
}

/// A child runbook's problems are reported at the `child` that names it:
/// inputs missing, unknown or of the wrong type, a runbook that starts
/// its parent, one that is not there, a field the child does not expose.
#[test]
fn child_problems_point_at_the_child() {
    let report = check(&fixtures().join("fail/child/main.runbook"), &Files);
    assert!(report.has_errors(), "the children passed");
    insta::assert_snapshot!("child", render(&report, fixtures()));
}

/// A parent reads its children's outcomes and captures, in conditions and
/// commands, inside a loop too; the child is checked once for both nodes.
#[test]
fn children_pass_and_expose_their_outcome_and_captures() {
    let report = check(&fixtures().join("pass/child/main.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
    assert_eq!(report.children.len(), 1);
    assert_eq!(report.children[0].nodes, ["first", "each"]);
    assert!(report.children[0].report.graph.is_some());
}

#[test]
fn a_file_included_twice_is_loaded_once() {
    // Loaded twice, its stage and step would be duplicate ids.
    let report = check(&fixtures().join("pass/diamond/main.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
    assert_eq!(report.sources.len(), 2);
}

#[test]
fn the_seed_lowers_to_a_graph_with_a_second_smoke_instance() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let report = check(&root.join("runbooks/post-cutover.runbook"), &Files);
    let graph = report.graph.expect("the seed lowers");
    let start = graph.start.expect("the seed has a first stage");
    assert_eq!(graph.graph[start].id, "start");
    // `again smoke` in the rollback makes a fresh instance with its own ids.
    let first = graph.node("smoke.forge_version").expect("first smoke run");
    let second = graph
        .node("smoke#2.forge_version")
        .expect("second smoke run");
    assert_ne!(first, second);
    assert_eq!(graph.graph[second].host, "rollback");
    assert!(!petgraph::algo::is_cyclic_directed(&graph.graph));
}

/// Serves a generated entry file from memory.
struct Generated(String);

impl Loader for Generated {
    fn load(&self, _: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        Ok(self.0.clone().into_bytes())
    }
}

/// A long run of steps in sequence, with a cycle at its end, is checked on
/// a thread whose stack is far smaller than a process's main thread: no
/// pass may recurse once per step, or a procedure of 100,000 steps would
/// overflow a real one.
#[test]
fn a_long_sequence_is_checked_without_recursing_per_step() {
    let steps = 20_000;
    let mut text = String::from("runbook long \"Long\" {\n  stage s \"S\" {\n");
    for n in 0..steps {
        text.push_str(&format!(
            "    step n{n} \"N\" {{\n      run \"true\"\n    }}\n"
        ));
    }
    text.push_str("    then t\n  }\n  stage t \"T\" {\n    step back \"Back\" {\n      run \"true\"\n    }\n    then s\n  }\n}\n");
    let report = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || check(Path::new("long.runbook"), &Generated(text)))
        .expect("the thread starts")
        .join()
        .expect("the check finishes without overflowing its stack");
    let cycles: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.diagnostic.code == "rbx::lint::cycle")
        .map(|f| f.diagnostic.message.as_str())
        .collect();
    assert_eq!(cycles.len(), 1, "the one cycle is found");
    let head: String = cycles[0].chars().take(60).collect();
    assert!(
        head.starts_with("these steps form a cycle: s → s.n0 → s.n1"),
        "{head}"
    );
    assert!(cycles[0].ends_with("s.n19999 → t → t.back → s"));
}

#[test]
fn calls_pass_and_lower_to_instances_bound_to_their_callers() {
    let report = check(&fixtures().join("pass/calls.runbook"), &Files);
    assert!(
        report.findings.is_empty(),
        "{}",
        render(&report, fixtures())
    );
    let graph = report.graph.expect("the procedure lowers");
    let callers: Vec<(String, String, usize)> = graph
        .calls
        .iter()
        .map(|(instance, frame)| (instance.clone(), frame.caller.clone(), frame.depth))
        .collect();
    let expect = |instance: &str, caller: &str, depth: usize| {
        assert!(
            callers.contains(&(instance.to_string(), caller.to_string(), depth)),
            "{instance} called from {caller} at depth {depth}: {callers:?}"
        );
    };
    // Numbered in the order the calls are lowered: main's, its loop's,
    // its parallel block's two, the `again side` instance's, then the
    // primary `side`'s.
    expect("drain#1", "main", 0);
    expect("drain#2", "main", 1);
    expect("drain#3", "main", 0);
    expect("drain#4", "main", 0);
    expect("drain#5", "side#2", 0);
    expect("drain#6", "side", 0);
    for n in 1..=6 {
        expect(
            &format!("undrain#{n}"),
            &format!("drain#{n}"),
            usize::from(n == 2),
        );
    }
    assert_eq!(callers.len(), 12);
    // A stage with parameters has no instance of its own.
    assert!(graph.node("drain").is_none());
    assert!(graph.node("drain#2.cordon").is_some());
    assert!(graph.node("undrain#2.uncordon").is_some());
}
