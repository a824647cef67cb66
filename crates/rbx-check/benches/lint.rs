//! `rbx lint` end to end on a generated 10,000-step runbook: parse, name
//! resolution, every lint, lowering to the DAG and the graph checks.
//!
//! `cargo bench -p rbx-check` prints the best and median times; the figures
//! are recorded in the book (reference/performance.md), never asserted.

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
    let source = generate::generate(100, 100);
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
    println!("generated runbook: 10,000 steps, {nodes} graph nodes");

    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(rbx_check::check(entry, &loader));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "lint end to end: best {:.2?}, median {:.2?}",
        times[0], times[7]
    );
}
