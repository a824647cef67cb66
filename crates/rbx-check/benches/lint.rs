//! `rbx lint` end to end on a generated 10,000-step runbook: parse, name
//! resolution, every lint, lowering to the DAG and the graph checks.
//!
//! `cargo bench -p rbx-check` prints the best and median times; the figures
//! are recorded in the book (reference/performance.md), never asserted. Run
//! as a test (`cargo test --bench lint`, as CI does), it lints a 1,000-step
//! runbook once: a check that the benchmark still runs.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../../rbx-syntax/benches/generate.rs"]
mod generate;

/// Serves the one generated file from memory.
struct Memory(Vec<u8>);

impl rbx_check::Loader for Memory {
    fn load(&self, _: &Path, _: Option<&Path>) -> Result<Vec<u8>, rbx_check::LoadError> {
        Ok(self.0.clone())
    }
}

fn main() {
    // `cargo bench` passes `--bench`; without it, the benchmark is being
    // run as a test.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let (stages, runs) = if quick { (10, 1) } else { (100, 15) };
    let source = generate::generate(stages, 100);
    let loader = Memory(source.clone().into_bytes());
    let entry = Path::new("generated.runbook");
    let report = rbx_check::check(entry, &loader);
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.diagnostic.is_error())
        .collect();
    assert!(
        errors.is_empty(),
        "the generated runbook must lint clean: {errors:?}"
    );
    let nodes = report.graph.as_ref().map_or(0, |g| g.graph.node_count());
    println!(
        "generated runbook: {} steps, {nodes} graph nodes",
        stages * 100
    );

    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(rbx_check::check(entry, &loader));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "lint end to end: best {:.2?}, median {:.2?}",
        times[0],
        times[runs / 2]
    );
}
