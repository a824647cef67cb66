//! Tests that need programs from the system that `cargo test` alone does
//! not: Graphviz reads what `rbx graph` draws. They build only with the
//! `system-tests` feature, and `.ci/run` installs what they need and runs
//! them: `cargo test -p rbx-cli --features system-tests --test system`.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{rbx, repo};

/// Labels full of what DOT treats specially, an `again` instance, a
/// fan-out, a decision and a choice.
const TRICKY: &str = include_str!("fixtures/tricky.runbook");

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
fn graphviz_renders_tricky_labels_as_written() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("tricky.runbook"), TRICKY).expect("write the runbook");
    let out = rbx(dir.path(), &["graph", "tricky.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
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
fn graphviz_renders_the_seed_runbook() {
    let out = rbx(&repo(), &["graph", "runbooks/post-cutover.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let svg = dot_to_svg(&out.stdout);
    assert!(
        svg.contains("cluster_smoke#2"),
        "the again instance is drawn"
    );
}
