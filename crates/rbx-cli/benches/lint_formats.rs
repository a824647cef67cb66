//! What a finding costs: `rbx lint` of the generated 10,000-step runbook,
//! whose every step captures a value nothing reads (10,000
//! `unused_capture` warnings), in each output format, side by side with the
//! same file linted under a project that allows that lint (no findings).
//!
//! `cargo bench -p rbx-cli --bench lint_formats` drives the release `rbx`
//! binary, process start included, and prints a table of the best wall
//! time and the best processor time (user and system, from `getrusage`) of
//! each. The figures are recorded in the book (reference/performance.md),
//! never asserted. Run as a test (`cargo test --bench lint_formats`, as CI
//! does), it lints a 1,000-step runbook once in each format: a check that
//! the benchmark still runs and still finds what it measures.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

#[path = "../../rbx-syntax/benches/generate.rs"]
mod generate;

const RBX: &str = env!("CARGO_BIN_EXE_rbx");
const FILE: &str = "generated.runbook";

/// Each format, and how its output names one finding of the generated file.
const FORMATS: &[(&str, &str)] = &[
    ("human", "rbx::lint::unused_capture\n"),
    ("json", "\"code\": \"rbx::lint::unused_capture\""),
    ("sarif", "\"ruleId\": \"rbx::lint::unused_capture\""),
    ("github", "title=rbx%3A%3Alint%3A%3Aunused_capture"),
];

/// The processor time the children this process waited for have used.
fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage of children");
    let time = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    time(usage.user_time()) + time(usage.system_time())
}

/// One `rbx lint --format FORMAT` in `dir`: its wall and processor time,
/// and how many findings its output holds.
fn lint(dir: &Path, format: &str, needle: &str) -> (Duration, Duration, usize) {
    let cpu = children_cpu();
    let start = Instant::now();
    let output = Command::new(RBX)
        .args(["lint", "--format", format, FILE])
        .current_dir(dir)
        .env_remove("RBX_FILL")
        .output()
        .expect("run rbx");
    let wall = start.elapsed();
    let cpu = children_cpu() - cpu;
    assert!(
        output.status.success(),
        "`rbx lint --format {format}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    (wall, cpu, text.matches(needle).count())
}

/// The best of `rounds` lints, after checking each found `expected` findings.
fn measure(
    dir: &Path,
    format: &str,
    needle: &str,
    rounds: usize,
    expected: usize,
) -> (Duration, Duration) {
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let (wall, cpu, found) = lint(dir, format, needle);
        assert_eq!(
            found,
            expected,
            "findings in `rbx lint --format {format}` in {}",
            dir.display()
        );
        best = (best.0.min(wall), best.1.min(cpu));
    }
    best
}

/// A directory holding the generated runbook and an `rbx.toml` that gives
/// `unused_capture` the level `level`.
fn project(root: &Path, name: &str, source: &str, level: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    fs::create_dir(&dir).expect("create the project directory");
    fs::write(dir.join(FILE), source).expect("write the runbook");
    fs::write(
        dir.join("rbx.toml"),
        format!("[lint]\nunused_capture = \"{level}\"\n"),
    )
    .expect("write rbx.toml");
    dir
}

fn ms(time: Duration) -> String {
    format!("{:.0} ms", time.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; without it, the benchmark is being
    // run as a test.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let (stages, rounds) = if quick { (10, 1) } else { (100, 5) };
    let steps = stages * 100;
    let source = generate::generate(stages, 100);
    let root = tempfile::Builder::new()
        .prefix("lint-formats-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    let findings = project(root.path(), "findings", &source, "warn");
    let clean = project(root.path(), "clean", &source, "allow");
    println!(
        "`rbx lint` of {steps} steps ({} KiB), best of {rounds}: {steps} findings against none",
        source.len() / 1024
    );
    println!(
        "| format | wall, {steps} findings | wall, none | processor, {steps} findings | processor, none | per finding (processor) |"
    );
    println!("|---|---|---|---|---|---|");
    for (format, needle) in FORMATS {
        let (wall, cpu) = measure(&findings, format, needle, rounds, steps);
        let (clean_wall, clean_cpu) = measure(&clean, format, needle, rounds, 0);
        let per_finding = cpu.saturating_sub(clean_cpu) / u32::try_from(steps).unwrap_or(u32::MAX);
        println!(
            "| {format} | {} | {} | {} | {} | {:.1} µs |",
            ms(wall),
            ms(clean_wall),
            ms(cpu),
            ms(clean_cpu),
            per_finding.as_secs_f64() * 1e6
        );
    }
}
