//! Parse-and-lower time of a generated 10,000-step runbook.
//!
//! `cargo bench -p rbx-syntax` prints the size of the file and the best and
//! median times over several runs. The figures are recorded in the book
//! (reference/performance.md), not asserted: timing tests flake on shared
//! machines.

use std::time::{Duration, Instant};

/// A runbook of `stages` stages with `steps` automated steps each, every
/// step using the statements a real one would.
fn generate(stages: usize, steps: usize) -> String {
    let mut out = String::from("runbook generated \"Generated benchmark runbook\" {\n");
    out.push_str("  input target: string = \"web\"\n  role oncall \"On-call\"\n\n");
    for s in 0..stages {
        out.push_str(&format!("  stage s{s} \"Stage {s}\" within 2h {{\n"));
        out.push_str("    on failure -> end failed\n\n");
        for n in 0..steps {
            out.push_str(&format!(
                "    step s{s}_n{n} \"Check item {n} of stage {s}\" {{\n\
                 \x20     owner oncall\n\
                 \x20     run \"check --target {{{{ target }}}} --item {n}\"\n\
                 \x20     timeout 30s\n\
                 \x20     retry 2 backoff 5s\n\
                 \x20     expect exit 0\n\
                 \x20     expect stdout ~ /ok/\n\
                 \x20     capture value: int = stdout ~ /value=(\\d+)/\n\
                 \x20     idempotent\n\
                 \x20   }}\n\n"
            ));
        }
        let next = if s + 1 < stages {
            format!("then s{}", s + 1)
        } else {
            "end done".to_string()
        };
        out.push_str(&format!("    {next}\n  }}\n\n"));
    }
    out.push_str("}\n");
    out
}

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
    let source = generate(100, 100);
    let parsed = rbx_syntax::parse(&source);
    assert!(
        parsed.diagnostics.is_empty(),
        "the generated runbook must parse"
    );
    let file = parsed.file.expect("parsed");

    println!(
        "generated runbook: 10,000 steps, {:.1} KiB",
        source.len() as f64 / 1024.0
    );
    let (best, median) = time(15, || rbx_syntax::parse(&source));
    println!("parse + lower: best {best:.2?}, median {median:.2?}");
    let (best, median) = time(15, || rbx_syntax::fmt::format(&source, &file));
    println!("format:        best {best:.2?}, median {median:.2?}");
}
