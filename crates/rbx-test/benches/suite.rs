//! What `rbx test` costs: the seed's whole scenario suite
//! (runbooks/post-cutover.rbxtest), and 1,000 generated scenarios of the
//! same runbook — random paths through its choices, failing steps and
//! earlier runs.
//!
//! `cargo bench -p rbx-test` prints the best and median times. The figures
//! are recorded in the book (reference/performance.md), not asserted:
//! timing tests flake on shared machines. Run as a test (`cargo test
//! --bench suite`, as CI does), it runs the suite once and 20 generated
//! scenarios: a check that the benchmark still runs.

use std::path::Path;
use std::time::{Duration, Instant};

use rbx_check::{LoadError, Loader};

/// Files straight from the disk: the benchmark reads only the seed.
struct Disk;

impl Loader for Disk {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        std::fs::read(path).map_err(|e| LoadError::Unreadable(e.to_string()))
    }
}

fn time(runs: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[runs / 2])
}

/// A small deterministic generator.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len())]
    }
}

/// Every choice of the seed and its options.
const CHOICES: &[(&str, &[&str])] = &[
    (
        "incident_kind",
        &[
            "parity_regression",
            "migration_db",
            "loop_stuck",
            "daemon_interop",
            "fmail_broken",
            "other",
        ],
    ),
    ("regression_real", &["real", "baseline_drift"]),
    ("parity_impact", &["in_scope_high_impact", "contained"]),
    ("parity_call", &["rollback", "fix_forward"]),
    ("schema_state", &["schema_ok", "schema_broken"]),
    ("spawn_kill_reliable", &["reliable", "unreliable"]),
    ("severity", &["SEV0", "SEV1", "SEV2"]),
    ("sev0_call", &["rollback", "fix_forward"]),
    ("sev1_call", &["rollback", "fix_forward"]),
    ("sev1_repeated_call", &["rollback", "fix_forward"]),
    ("roll_forward_plan", &["later", "when_ready"]),
];

/// Steps that may fail in a generated scenario.
const STEPS: &[&str] = &[
    "forge_version",
    "doctor",
    "migrations",
    "loops_list",
    "fmail_send",
    "env_host",
    "freeze_deploys",
    "\"smoke#2.doctor\"",
    "go_build_version",
];

fn scenario(n: usize, random: &mut Random) -> String {
    let trigger = random.pick(&["cutover_smoke", "incident"]);
    let mut out = format!(
        "scenario generated_{n} \"generated path {n}\" {{\n  set trigger = {trigger}\n  \
         set rust_version = \"2.0.0\"\n  set go_version = \"1.9.4\"\n  \
         set freeze_cmd = \"deploy freeze\"\n  set switch_to_go_cmd = \"deploy switch go\"\n\n  \
         default {{ exit 0 takes {}s }}\n  given forge_version {{ stdout \"forge 2.0.0\" }}\n  \
         given \"smoke#2.forge_version\" {{ stdout \"forge 1.9.4\" }}\n  \
         given go_build_version {{ stdout \"forge 1.9.4\" }}\n  \
         given fmail_log {{ stdout \"post-cutover smoke: ok\" }}\n",
        1 + random.below(60)
    );
    if random.below(3) == 0 {
        out.push_str(&format!("  given {} {{ exit 1 }}\n", random.pick(STEPS)));
    }
    for _ in 0..random.below(3) {
        out.push_str(&format!(
            "  earlier {}h {{ severity = {} }}\n",
            1 + random.below(30),
            random.pick(&["SEV0", "SEV1", "SEV2"])
        ));
    }
    out.push_str("\n  answer \"*\" { takes 3m }\n  answer switch_to_go { confirm }\n");
    out.push_str("  answer surface_owner { evidence surface = \"cli\" }\n");
    out.push_str("  answer repro { evidence isolated_to = \"cli\" }\n");
    out.push_str("  answer runner_liveness { evidence liveness = \"alive\" }\n");
    out.push_str("  answer progress_scope { evidence progress = \"one_environment\" }\n");
    for (node, options) in CHOICES {
        out.push_str(&format!(
            "  answer {node} {{ choice {} }}\n",
            random.pick(options)
        ));
    }
    out.push_str("}\n\n");
    out
}

fn main() {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("runbooks/post-cutover.rbxtest");
    let mut suite = rbx_test::load(&path, &Disk, &rbx_check::project::Policy::default())
        .expect("the seed's scenarios load");
    let settings = rbx_test::Settings::default();
    let runs = if quick { 1 } else { 15 };

    let count = suite.scenarios.len();
    let (best, median) = time(runs, || {
        let report = rbx_test::run_suite(&suite, &settings);
        assert!(report.outcomes.iter().all(rbx_test::Outcome::passed));
    });
    println!("the seed's suite ({count} scenarios): best {best:.2?}, median {median:.2?}");

    let generated = if quick { 20 } else { 1_000 };
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let text: String = (0..generated).map(|n| scenario(n, &mut random)).collect();
    let parsed = rbx_syntax::parse(&text);
    suite.scenarios = parsed
        .file
        .expect("the generated scenarios parse")
        .scenarios;
    let mut ended = 0;
    let (best, median) = time(runs.min(5), || {
        let report = rbx_test::run_suite(&suite, &settings);
        ended = report.outcomes.iter().filter(|o| o.trace.is_some()).count();
    });
    assert_eq!(ended, generated, "every generated scenario ran");
    println!(
        "{generated} generated scenarios: best {best:.2?}, median {median:.2?} ({:.2?} a scenario)",
        best / u32::try_from(generated).unwrap_or(1)
    );
}
