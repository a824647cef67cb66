//! Tests that need programs from the system that `cargo test` alone does
//! not: Graphviz reads what `rbx graph` draws, and headless Chromium shows
//! the report a reviewer reads. They build only with the `system-tests`
//! feature, and `.ci/run` installs what they need and runs them:
//! `cargo test -p rbx-cli --features system-tests --test system`.

mod support;

use std::fs;
use std::io::Write as _;
use std::path::Path;
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
    let detail = rbx(dir.path(), &["graph", "--detail", "tricky.runbook"]);
    assert_eq!(detail.status, 0, "{}", detail.transcript());
    let stages = rbx(dir.path(), &["graph", "tricky.runbook"]);
    assert_eq!(stages.status, 0, "{}", stages.transcript());
    // Escaped labels come out of Graphviz as they were written.
    for (out, texts) in [
        (
            &detail,
            &[
                r"tricky: Quotes &quot;and&quot; back\slashes",
                r"step: Version is &quot;2.0&quot; \ not C:\old",
                "Check &lt;it&gt; | &quot;now&quot; #1",
                "foreach host in hosts (2 at a time)",
                "on failure",
            ][..],
        ),
        (
            &stages,
            &[
                r"tricky: Quotes &quot;and&quot; back\slashes",
                "Check &lt;it&gt; | &quot;now&quot; #1",
                "Careful `path`",
                "again: probe",
                "on failure",
            ][..],
        ),
    ] {
        let svg = dot_to_svg(&out.stdout);
        for text in texts {
            assert!(svg.contains(text), "`{text}` is not in the SVG:\n{svg}");
        }
    }
}

/// The size a Graphviz SVG renders at, in pixels at 96 dpi (its `width`
/// and `height` are in points, 72 to the inch).
fn svg_pixels(svg: &str) -> (f64, f64) {
    let size = |name: &str| -> f64 {
        let start = svg.find(&format!("{name}=\"")).expect("the SVG has a size") + name.len() + 2;
        let value = &svg[start..];
        let value = &value[..value.find("pt\"").expect("the size is in points")];
        value.parse::<f64>().expect("the size is a number") * 96.0 / 72.0
    };
    (size("width"), size("height"))
}

#[test]
fn the_seeds_stage_graph_fits_one_screen_and_its_detail_renders() {
    let out = rbx(&repo(), &["graph", "runbooks/post-cutover.runbook"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
    let (width, height) = svg_pixels(&dot_to_svg(&out.stdout));
    assert!(
        width < 2000.0 && height < 2000.0,
        "the stage-level picture is {width:.0} x {height:.0} px"
    );
    let detail = rbx(
        &repo(),
        &["graph", "--detail", "runbooks/post-cutover.runbook"],
    );
    assert_eq!(detail.status, 0, "{}", detail.transcript());
    let svg = dot_to_svg(&detail.stdout);
    assert!(
        svg.contains("cluster_smoke#2"),
        "the again instance is drawn"
    );
    assert!(svg.contains("IRREVERSIBLE"), "the switch is marked");
}

/// The seed procedure driven to its end on the forge SIMULATOR
/// (`examples/forge-sim/`, shell scripts standing in for forge), on its
/// broken path: the smoke check fails, triage, an irreversible switch
/// confirmed, the smoke check again, `rolled_back`. Returns the directory
/// holding its store (`rbx`).
fn seed_run_to_its_end() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = repo();
    let bin = |name: &str| root.join("examples/forge-sim/bin").join(name);
    let example = |name: &str| root.join("examples/forge-sim").join(name);
    let sim = dir.path().join("sim");
    let init = Command::new(bin("forge-sim"))
        .args(["init", "broken"])
        .env("FORGE_SIM_STATE", &sim)
        .output()
        .expect("the simulator starts");
    assert!(init.status.success(), "{init:?}");
    let path = |p: std::path::PathBuf| p.display().to_string();
    let sets = [
        format!("forge={}", path(bin("forge"))),
        format!("fmail={}", path(bin("fmail"))),
        "rust_version=2.0.0".to_string(),
        "go_version=1.9.4".to_string(),
        format!("freeze_cmd={} freeze", path(bin("forge-sim"))),
        format!("switch_to_go_cmd={} switch go", path(bin("forge-sim"))),
    ];
    let mut run = Command::new(env!("CARGO_BIN_EXE_rbx"));
    run.current_dir(&root)
        .env("FORGE_SIM_STATE", &sim)
        .env("FORGE_SIM_TMUX", "0")
        .env("NO_COLOR", "1")
        .env("RBX_OPERATOR", "system-test")
        .args(["run", "runbooks/post-cutover.runbook", "--non-interactive"])
        .arg("--fill")
        .arg(example("fill.toml"))
        .arg("--answers")
        .arg(example("answers-broken.toml"))
        .arg("--state-dir")
        .arg(dir.path().join("rbx"));
    for set in &sets {
        run.args(["--set", set]);
    }
    let ran = run.output().expect("rbx runs");
    // `rolled_back` is a failure outcome: exit status 4.
    assert_eq!(ran.status.code(), Some(4), "{ran:?}");
    dir
}

/// Runs headless Chromium with `args` on `page`, failing the test when it
/// cannot; returns what it printed.
fn chromium(args: &[&str], page: &Path) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("Chromium is installed (.ci/run installs it)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The width and height a PNG file says it is.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

/// What a reviewer sees: the report of the seed's run in a real browser.
/// The summary must fit the first screen (1280 x 1000), and the page must
/// stay far from the 17,000 pixels it was before skips were folded. The
/// screenshot is kept under the target directory for a person to look at.
#[test]
fn chromium_shows_the_seeds_report_with_its_summary_on_the_first_screen() {
    let dir = seed_run_to_its_end();
    let report = rbx(
        dir.path(),
        &["report", "--format", "html", "--state-dir", "rbx"],
    );
    assert_eq!(report.status, 0, "{}", report.transcript());
    let page = dir.path().join("report.html");
    fs::write(&page, &report.stdout).expect("the page is written");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-report.png");
    let _ = fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    chromium(&[&screenshot, "--window-size=1280,1000"], &page);
    let png = fs::read(&shot).expect("Chromium wrote the screenshot");
    assert_eq!(png_size(&png), (1280, 1000));
    // A blank page compresses to a few kilobytes; a page of text does not.
    assert!(png.len() > 50_000, "the screenshot has {} bytes", png.len());

    // The layout, measured by the browser: a copy of the page with a
    // script that writes it into the document, which `--dump-dom` prints.
    let measured = dir.path().join("measured.html");
    let script = "<script>const s=document.getElementById('summary').getBoundingClientRect();\
        document.body.dataset.measure=[Math.round(s.top),Math.round(s.bottom),\
        document.documentElement.scrollHeight].join(' ');</script></body>";
    fs::write(&measured, report.stdout.replace("</body>", script)).expect("the copy is written");
    let dom = chromium(&["--window-size=1280,1000", "--dump-dom"], &measured);
    let start = dom
        .find("data-measure=\"")
        .expect("the script measured the page")
        + 14;
    let numbers: Vec<u32> = dom[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(|n| n.parse().expect("a measure in pixels"))
        .collect();
    let [top, bottom, height] = numbers[..] else {
        panic!("three measures: {numbers:?}");
    };
    assert!(top < 150, "the summary starts at {top} px, under the title");
    assert!(
        bottom <= 1000,
        "the summary ends at {bottom} px, past the first screen"
    );
    assert!(height < 12_000, "the page is {height} px high");
}
