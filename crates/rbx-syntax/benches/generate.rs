//! The generated runbook every benchmark measures, shared by the parse and
//! lint benchmarks.

/// The worst case of one generated step, in seconds: three attempts of
/// `timeout 30s`, and the backoffs between them, 5 s then 10 s.
const STEP_WORST: usize = 3 * 30 + 5 + 10;

/// A runbook of `stages` stages with `steps` automated steps each, every
/// step using the statements a real one would. Each stage's `within` is
/// its steps' worst case, so the runbook lints clean at any size.
pub fn generate(stages: usize, steps: usize) -> String {
    let mut out = String::from("runbook generated \"Generated benchmark runbook\" {\n");
    out.push_str("  input target: string = \"web\"\n  role oncall \"On-call\"\n\n");
    let budget = duration(steps * STEP_WORST);
    for s in 0..stages {
        out.push_str(&format!("  stage s{s} \"Stage {s}\" within {budget} {{\n"));
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

/// `seconds` as a runbook duration: `2h55m`, `45s`.
fn duration(seconds: usize) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}
