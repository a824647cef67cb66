//! Parse-and-lower time of a generated 10,000-step runbook.
//!
//! `cargo bench -p rbx-syntax` prints the size of the file and the best and
//! median times over several runs. The figures are recorded in the book
//! (reference/performance.md), not asserted: timing tests flake on shared
//! machines. Run as a test (`cargo test --bench parse`, as CI does), it
//! measures a 100-step runbook once: a check that the benchmark still runs.

use std::time::{Duration, Instant};

mod generate;
use generate::generate;

fn time<T>(runs: usize, mut work: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[runs / 2])
}

fn main() {
    // `cargo bench` passes `--bench`; without it, the benchmark is being
    // run as a test.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let (stages, runs) = if quick { (10, 1) } else { (100, 15) };
    let source = generate(stages, 100);
    let parsed = rbx_syntax::parse(&source);
    assert!(
        parsed.diagnostics.is_empty(),
        "the generated runbook must parse"
    );
    let file = parsed.file.expect("parsed");

    println!(
        "generated runbook: {} steps, {:.1} KiB",
        stages * 100,
        source.len() as f64 / 1024.0
    );
    let (best, median) = time(runs, || rbx_syntax::parse(&source));
    println!("parse + lower: best {best:.2?}, median {median:.2?}");
    let (best, median) = time(runs, || rbx_syntax::fmt::format(&source, &file));
    println!("format:        best {best:.2?}, median {median:.2?}");
}
