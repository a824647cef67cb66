//! The whole pipeline in one table: `rbx lint`, `plan`, `graph`, `run` and
//! `resume` of generated runbooks of 1,000, 10,000 and 100,000 steps — the
//! wall time and peak memory of each, process start included; the resume
//! also without the cache of checked procedures, and of the same run
//! journalled without checkpoints, as before both, up to 10,000 steps —;
//! the run and resume of a runbook of four steps whose loops make as many
//! finished steps (how a resume grows with history alone); `rbx lint` of
//! the same generated runbooks with a finding in every step, in each
//! output format, against none (what a finding costs); then how long `rbx`
//! takes to start, then 1,000 commands run by rbx next to the same
//! commands run by a shell loop, by `make -j1`, by `just`, and the floor of
//! two durable commits and a spawn per step.
//!
//! `cargo bench -p rbx-cli --bench pipeline` measures the release binary
//! and prints the tables; the figures are recorded in the book
//! (reference/performance.md), never asserted. Words after `--` choose the
//! tables (`pipeline`, `history`, `findings`, `startup`, `baselines`) and
//! numbers the sizes: `-- findings 10000`. Run as a test (`cargo test
//! --bench pipeline`, as CI does), it goes through every row once at a
//! small scale. Peak memory is read by GNU `time` (`/usr/bin/time`), and
//! processor time by `getrusage` of the children.
//!
//! A runbook over 4 MiB is refused by the loader, so the generated stages
//! are spread over fragments of ten stages each, which the entry includes.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

mod support;

use support::{RBX, best, copy_dir, floor, median, ms, rbx, timed};

/// `rbx`'s exit status for a run that stopped at a failed step.
const FAILED: i32 = 1;
/// Stages in one generated fragment.
const STAGES_PER_FILE: usize = 10;
/// How many events at least separate two checkpoints of a run.
const CHECKPOINT_EVERY: &str = "RBX_CHECKPOINT_EVERY";

struct Scale {
    /// Steps of each generated runbook.
    sizes: &'static [usize],
    /// Rounds of each pipeline measurement; the best is reported.
    rounds: usize,
    /// Rounds of each start-up measurement.
    starts: usize,
    /// Steps in one generated stage.
    stage: usize,
    /// Up to how many steps the resume of a journal without checkpoint
    /// (the baseline) is measured too: it needs a run of its own.
    whole_up_to: usize,
}

const FULL: Scale = Scale {
    sizes: &[1_000, 10_000, 100_000],
    rounds: 3,
    starts: 50,
    stage: 1_000,
    whole_up_to: 10_000,
};

const QUICK: Scale = Scale {
    sizes: &[100, 300],
    rounds: 1,
    starts: 3,
    // Stages of 20 steps: the larger runbook spans two fragments, as the
    // full-size ones do.
    stage: 20,
    whole_up_to: 300,
};

/// One measured process: wall time, exit status and peak resident memory.
struct Sample {
    took: Duration,
    status: ExitStatus,
    peak_kib: u64,
}

/// `command` under GNU `time`, which writes the peak resident set of the
/// process to `report`.
fn sampled(command: &Command, report: &Path) -> Sample {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(report)
        .arg(command.get_program())
        .args(command.get_args())
        .current_dir(command.get_current_dir().unwrap_or(Path::new(".")))
        .env_remove("RBX_FILL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (took, status) = timed(wrapped);
    Sample {
        took,
        status,
        peak_kib: read_peak(report),
    }
}

fn read_peak(report: &Path) -> u64 {
    let text = fs::read_to_string(report).expect("GNU time wrote its report");
    text.lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .expect("the report ends with the peak in KiB")
}

/// The generated runbook: `steps` steps in stages of at most `stage`, each
/// step `run "true"` with the statements a real one has, then a last step
/// that fails until the file `go` exists. Returns the entry's path.
fn generate(dir: &Path, steps: usize, stage: usize) -> PathBuf {
    generate_with(dir, steps, stage, "")
}

/// `generate`, with `extra` (statements) in every step but the last.
fn generate_with(dir: &Path, steps: usize, stage: usize, extra: &str) -> PathBuf {
    let per_stage = steps.min(stage);
    let stages = steps.div_ceil(per_stage);
    let mut fragments = Vec::new();
    let mut text = String::new();
    for s in 0..stages {
        text.push_str(&format!("stage s{s} \"Stage {s}\" {{\n"));
        let count = per_stage.min(steps - s * per_stage);
        for n in 0..count {
            text.push_str(&format!(
                "  step s{s}_n{n} \"Step {n} of stage {s}\" {{\n    owner oncall\n    \
                 run \"true\"\n    timeout 30s\n    retry 2 backoff 5s\n    \
                 expect exit 0\n    idempotent\n{extra}  }}\n\n"
            ));
        }
        if s + 1 < stages {
            text.push_str(&format!("  then s{}\n}}\n\n", s + 1));
        } else {
            text.push_str(
                "  step last \"Last\" {\n    owner oncall\n    run \"test -f go\"\n    \
                 timeout 30s\n  }\n\n  end done\n}\n",
            );
        }
        if (s + 1) % STAGES_PER_FILE == 0 || s + 1 == stages {
            let name = format!("part{}.runbook", fragments.len());
            fs::write(dir.join(&name), std::mem::take(&mut text)).expect("write a fragment");
            fragments.push(name);
        }
    }
    let mut entry = String::from(
        "runbook generated \"Generated pipeline benchmark\" {\n  role oncall \"On-call\"\n\n",
    );
    for name in &fragments {
        entry.push_str(&format!("  include \"{name}\"\n"));
    }
    entry.push_str("}\n");
    let path = dir.join("entry.runbook");
    fs::write(&path, entry).expect("write the entry");
    path
}

/// A runbook that stays small while its run's history grows: a step that
/// lists the rounds, one that lists the items, a step per item of each
/// round (a `foreach` in a `foreach`), then a last step that fails until
/// `go` exists — `steps` finished step instances from four steps written.
fn generate_history(dir: &Path, steps: usize) -> PathBuf {
    let items = steps.min(1_000);
    let rounds = steps / items;
    let step = |id: &str, title: &str, run: &str, extra: &str| {
        format!(
            "    step {id} \"{title}\" {{\n      owner oncall\n      run \"{run}\"\n{extra}    }}\n\n"
        )
    };
    let text = format!(
        "runbook history \"A short runbook with a long history\" {{\n  role oncall \"On-call\"\n\n  \
         stage s \"Loop\" {{\n{}{}    foreach round in rounds.list {{\n      \
         foreach item in items.list {{\n  {}      }}\n    }}\n\n{}    end done\n  }}\n}}\n",
        step(
            "rounds",
            "List the rounds",
            &format!("seq {rounds}"),
            "      capture list: list(int) = stdout lines\n      idempotent\n",
        ),
        step(
            "items",
            "List the items",
            &format!("seq {items}"),
            "      capture list: list(int) = stdout lines\n      idempotent\n",
        ),
        step(
            "work",
            "Round {{ round }}, item {{ item }}",
            "true",
            "      timeout 30s\n      expect exit 0\n      idempotent\n",
        )
        .replace("\n    ", "\n        "),
        step("last", "Last", "test -f go", "      timeout 30s\n"),
    );
    let path = dir.join("entry.runbook");
    fs::write(&path, text).expect("write the runbook");
    path
}

/// One row of the pipeline table.
struct Row {
    what: &'static str,
    took: Duration,
    peak_kib: u64,
}

/// The best of `rounds` runs of `rbx ARGS` in `dir`, and the highest peak.
fn best_of(dir: &Path, args: &[&str], rounds: usize, ok: &[i32]) -> (Duration, u64) {
    let report = dir.join("time.txt");
    let samples: Vec<Sample> = (0..rounds)
        .map(|_| sampled(&rbx(dir, args), &report))
        .collect();
    for sample in &samples {
        let code = sample.status.code().unwrap_or(-1);
        assert!(ok.contains(&code), "`rbx {}` ended {code}", args.join(" "));
    }
    let took = best(&samples.iter().map(|s| s.took).collect::<Vec<_>>());
    let peak = samples.iter().map(|s| s.peak_kib).max().unwrap_or(0);
    (took, peak)
}

/// `rbx resume` of a copy of the failed run's store: the time to its first
/// new step (printed once that step's start is durable) and the peak. With
/// `cached`, the checked procedure the run's start kept is read from the
/// bench's cache; without, the snapshot is checked again, as before the
/// cache.
fn resume(dir: &Path, state: &Path, last: &str, cached: bool) -> (Duration, u64) {
    let report = dir.join("time-resume.txt");
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .args([RBX, "resume", "--non-interactive", "--state-dir"])
        .arg(state)
        .current_dir(dir)
        .env(
            "RBX_CACHE_DIR",
            if cached {
                dir.join("cache")
            } else {
                PathBuf::new()
            },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn().expect("start rbx resume");
    let stderr = child.stderr.take().expect("piped stderr");
    let marker = format!("{last} (attempt 2)");
    let first = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains(&marker))
        .map(|_| start.elapsed());
    let status = child.wait().expect("wait for rbx resume");
    assert!(status.success(), "the resumed run must end: {status}");
    let first = first.expect("the last step started again");
    (first, read_peak(&report))
}

/// Every row at one size.
fn pipeline(root: &Path, steps: usize, scale: &Scale) -> Vec<Row> {
    let rounds = scale.rounds;
    let dir = root.join(format!("pipeline-{steps}"));
    fs::create_dir_all(&dir).expect("create the size's directory");
    let entry = generate(&dir, steps, scale.stage);
    let entry = entry.to_str().expect("a UTF-8 path");
    let mut rows = Vec::new();
    for (what, args) in [
        ("lint", vec!["lint", entry]),
        ("plan", vec!["plan", entry]),
        ("graph (stages)", vec!["graph", entry]),
    ] {
        let (took, peak_kib) = best_of(&dir, &args, rounds, &[0]);
        rows.push(Row {
            what,
            took,
            peak_kib,
        });
    }
    let state = dir.join("state");
    let state_arg = state.to_str().expect("a UTF-8 path");
    let (took, peak_kib) = best_of(
        &dir,
        &["run", entry, "--state-dir", state_arg],
        1,
        &[FAILED],
    );
    rows.push(Row {
        what: "run (to the failing last step)",
        took,
        peak_kib,
    });
    // The baseline: the same run journalled with no checkpoint, as rbx
    // wrote journals before them, so that its resume replays them all.
    let whole = dir.join("state-whole");
    if steps <= scale.whole_up_to {
        let whole_arg = whole.to_str().expect("a UTF-8 path");
        let mut run = rbx(&dir, &["run", entry, "--state-dir", whole_arg]);
        run.env(CHECKPOINT_EVERY, u64::MAX.to_string());
        let (_, status) = timed(run);
        assert_eq!(status.code(), Some(FAILED), "the baseline run fails last");
    }
    fs::write(dir.join("go"), "").expect("create go");
    let last = format!("s{}.last", steps.div_ceil(steps.min(scale.stage)) - 1);
    for (what, from, cached) in [
        ("resume, to its first new step", &state, true),
        ("resume without the cache (before it)", &state, false),
        (
            "resume of a journal without checkpoint, without the cache (before both)",
            &whole,
            false,
        ),
    ] {
        if !from.exists() {
            continue;
        }
        let mut firsts = Vec::new();
        let mut peak_kib = 0;
        for round in 0..rounds {
            let copy = dir.join(format!("resume-{round}"));
            let _ = fs::remove_dir_all(&copy);
            copy_dir(from, &copy);
            let (first, peak) = resume(&dir, &copy, &last, cached);
            firsts.push(first);
            peak_kib = peak_kib.max(peak);
        }
        rows.push(Row {
            what,
            took: best(&firsts),
            peak_kib,
        });
    }
    rows
}

/// The run of the runbook with a long history (`generate_history`) to its
/// failing last step, then its resume: how a resume grows with the run's
/// history when the runbook does not.
fn history(root: &Path, steps: usize, scale: &Scale) -> Vec<Row> {
    let dir = root.join(format!("history-{steps}"));
    fs::create_dir_all(&dir).expect("create the size's directory");
    let entry = generate_history(&dir, steps);
    let entry = entry.to_str().expect("a UTF-8 path");
    let state = dir.join("state");
    let state_arg = state.to_str().expect("a UTF-8 path");
    let (took, peak_kib) = best_of(
        &dir,
        &["run", entry, "--state-dir", state_arg],
        1,
        &[FAILED],
    );
    let mut rows = vec![Row {
        what: "history: run (to the failing last step)",
        took,
        peak_kib,
    }];
    fs::write(dir.join("go"), "").expect("create go");
    let mut firsts = Vec::new();
    let mut peak_kib = 0;
    for round in 0..scale.rounds {
        let copy = dir.join(format!("resume-{round}"));
        let _ = fs::remove_dir_all(&copy);
        copy_dir(&state, &copy);
        let (first, peak) = resume(&dir, &copy, "s.last", true);
        firsts.push(first);
        peak_kib = peak_kib.max(peak);
    }
    rows.push(Row {
        what: "history: resume, to its first new step",
        took: best(&firsts),
        peak_kib,
    });
    rows
}

/// Each output format of `rbx lint`, and how its output names one finding
/// of `findings`' runbooks.
const FORMATS: &[(&str, &str)] = &[
    ("human", "rbx::lint::unused_capture\n"),
    ("json", "\"code\": \"rbx::lint::unused_capture\""),
    ("sarif", "\"ruleId\": \"rbx::lint::unused_capture\""),
    ("github", "title=rbx%3A%3Alint%3A%3Aunused_capture"),
];

/// The processor time (user and system) of the children this process has
/// waited for.
fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage of children");
    let time = |t: TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    time(usage.user_time()) + time(usage.system_time())
}

/// The generated runbook with a capture nothing reads in every step, in a
/// project whose `rbx.toml` gives that lint `level`.
fn findings_project(root: &Path, steps: usize, scale: &Scale, level: &str) -> PathBuf {
    let dir = root.join(format!("findings-{steps}-{level}"));
    fs::create_dir_all(&dir).expect("create the project directory");
    generate_with(
        &dir,
        steps,
        scale.stage,
        "    capture code = stdout ~ /code=(\\S+)/\n",
    );
    fs::write(
        dir.join("rbx.toml"),
        format!("[lint]\nunused_capture = \"{level}\"\n"),
    )
    .expect("write rbx.toml");
    dir
}

/// The best wall and processor time of `rounds` lints in `format`, each
/// required to report `expected` findings.
fn lint_format(dir: &Path, format: &str, rounds: usize, expected: usize) -> (Duration, Duration) {
    let needle = FORMATS
        .iter()
        .find(|(name, _)| *name == format)
        .map(|(_, needle)| *needle)
        .expect("a known format");
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let cpu = children_cpu();
        let start = Instant::now();
        let output = Command::new(RBX)
            .args(["lint", "--format", format, "entry.runbook"])
            .current_dir(dir)
            .env_remove("RBX_FILL")
            .output()
            .expect("run rbx lint");
        let wall = start.elapsed();
        let cpu = children_cpu() - cpu;
        assert!(
            output.status.success(),
            "`rbx lint --format {format}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text =
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            text.matches(needle).count(),
            expected,
            "findings of `rbx lint --format {format}` in {}",
            dir.display()
        );
        best = (best.0.min(wall), best.1.min(cpu));
    }
    best
}

/// What a finding costs: `rbx lint` in each format of the generated runbook
/// whose every step (but the extra last one) reports an unused capture, side by side
/// with the same runbook in a project that allows that lint.
fn findings(root: &Path, steps: usize, scale: &Scale) {
    // Every generated step captures; the last one, `test -f go`, is extra.
    let reported = steps;
    let warned = findings_project(root, steps, scale, "warn");
    let allowed = findings_project(root, steps, scale, "allow");
    for (format, _) in FORMATS {
        let (wall, cpu) = lint_format(&warned, format, scale.rounds, reported);
        let (clean_wall, clean_cpu) = lint_format(&allowed, format, scale.rounds, 0);
        let per_finding = cpu.saturating_sub(clean_cpu).as_secs_f64() * 1e6 / reported as f64;
        println!(
            "| {steps} | {format} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {per_finding:.1} µs |",
            ms(wall),
            ms(clean_wall),
            ms(cpu),
            ms(clean_cpu),
        );
    }
}

/// `rbx --version` and `rbx lint` of the seed procedure, process start
/// included: best and median.
fn startup(rounds: usize) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!("\nStart-up, {rounds} rounds:");
    println!("| command | best | median |\n|---|---|---|");
    let cases: [(&str, Vec<&str>); 2] = [
        ("rbx --version", vec!["--version"]),
        (
            "rbx lint runbooks/post-cutover.runbook (with its fill)",
            vec![
                "lint",
                "runbooks/post-cutover.runbook",
                "--fill",
                "examples/forge-sim/fill.toml",
            ],
        ),
    ];
    for (what, args) in cases {
        let times: Vec<Duration> = (0..rounds)
            .map(|_| {
                let (took, status) = timed(rbx(&workspace, &args));
                assert!(status.success(), "`{what}` failed: {status}");
                took
            })
            .collect();
        println!(
            "| {what} | {:.1} ms | {:.1} ms |",
            ms(best(&times)),
            ms(median(&times))
        );
    }
}

/// `text` in a file of `dir`, for a baseline tool to read.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a baseline file");
    path
}

/// The same `commands` commands (`true`) run by each tool; `None` when the
/// tool is not installed.
fn baselines(root: &Path, commands: usize) -> Vec<(&'static str, Option<Duration>)> {
    let dir = root.join("baselines");
    fs::create_dir_all(&dir).expect("create the baselines' directory");
    // rbx runs the same commands here, beside the others, rather than in
    // the pipeline's rows: the disk's speed moves over a long benchmark.
    let entry = generate(&dir, commands, commands);
    fs::write(dir.join("go"), "").expect("create go");
    let mut engine = Command::new(RBX);
    engine
        .arg("run")
        .arg(&entry)
        .args(["--non-interactive", "--state-dir"])
        .arg(dir.join("state"));
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("for i in $(seq {commands}); do sh -c true; done"),
    ]);
    let lines = "\ttrue\n".repeat(commands);
    let makefile = write(&dir, "Makefile", &format!(".PHONY: all\nall:\n{lines}"));
    let mut make = Command::new("make");
    make.args(["-j1", "-s", "-f"]).arg(&makefile);
    let justfile = write(
        &dir,
        "justfile",
        &format!("all:\n{}", "    true\n".repeat(commands)),
    );
    let mut just = Command::new("just");
    just.args(["--quiet", "--justfile"])
        .arg(&justfile)
        .arg("--working-directory")
        .arg(&dir);
    let mut rows = Vec::new();
    for (what, mut command) in [
        ("rbx run (one more step: `test -f go`)", engine),
        ("shell loop of `sh -c true`", shell),
        ("make -j1", make),
        ("just", just),
    ] {
        command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let took = match command.status() {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => panic!("{what} cannot start: {error}"),
            Ok(status) => {
                assert!(status.success(), "{what} failed: {status}");
                Some(start.elapsed())
            }
        };
        rows.push((what, took));
    }
    rows.push((
        "floor: 2 durable commits + spawn per step",
        Some(floor(&dir.join("floor.db"), commands)),
    ));
    rows
}

/// Which tables to print, and at which sizes: `cargo bench --bench pipeline
/// -- [PART…] [STEPS…]`, where a part is one of `PARTS` and a number a size.
/// Without parts, all of them; without sizes, the scale's.
struct Selection {
    parts: Vec<String>,
    sizes: Vec<usize>,
}

const PARTS: &[&str] = &["pipeline", "history", "findings", "startup", "baselines"];

impl Selection {
    fn from_args(scale: &Scale) -> Self {
        let mut parts = Vec::new();
        let mut sizes = Vec::new();
        for arg in std::env::args().skip(1).filter(|arg| !arg.starts_with('-')) {
            match arg.parse::<usize>() {
                Ok(steps) if steps >= 2 => sizes.push(steps),
                _ if PARTS.contains(&arg.as_str()) => parts.push(arg),
                _ => panic!("`{arg}` is neither a size (2 steps or more) nor one of {PARTS:?}"),
            }
        }
        if sizes.is_empty() {
            sizes = scale.sizes.to_vec();
        }
        Selection { parts, sizes }
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.is_empty() || self.parts.iter().any(|p| p == part)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; without it, the benchmark is being
    // run as a test.
    let scale = if std::env::args().any(|arg| arg == "--bench") {
        FULL
    } else {
        QUICK
    };
    let selection = Selection::from_args(&scale);
    let tmp = tempfile::Builder::new()
        .prefix("pipeline-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    println!("rbx: {RBX}\nworking in {}\n", tmp.path().display());
    if selection.wants("pipeline") || selection.wants("history") {
        println!(
            "Pipeline, best of {} (run: one round), peak resident memory:",
            scale.rounds
        );
        println!("| steps | command | wall | per step | peak memory |\n|---|---|---|---|---|");
    }
    for &steps in &selection.sizes {
        let mut rows = Vec::new();
        if selection.wants("pipeline") {
            rows.extend(pipeline(tmp.path(), steps, &scale));
        }
        if selection.wants("history") {
            rows.extend(history(tmp.path(), steps, &scale));
        }
        for row in rows {
            println!(
                "| {steps} | {} | {:.1} ms | {:.1} µs | {:.1} MiB |",
                row.what,
                ms(row.took),
                row.took.as_secs_f64() * 1e6 / steps as f64,
                row.peak_kib as f64 / 1024.0
            );
        }
    }
    if selection.wants("findings") {
        println!(
            "\n`rbx lint` with a finding in every step against none, best of {}:",
            scale.rounds
        );
        println!(
            "| steps | format | wall, findings | wall, none | processor, findings | processor, none | per finding (processor) |"
        );
        println!("|---|---|---|---|---|---|---|");
        for &steps in &selection.sizes {
            findings(tmp.path(), steps, &scale);
        }
    }
    if selection.wants("startup") {
        startup(scale.starts);
    }
    if selection.wants("baselines") {
        // As many commands as the smallest runbook has steps.
        let commands = selection.sizes.iter().copied().min().unwrap_or(1_000);
        println!("\n{commands} commands (`true`), one round each:");
        println!("| runner | wall | per command |\n|---|---|---|");
        for (what, took) in baselines(tmp.path(), commands) {
            match took {
                Some(took) => println!(
                    "| {what} | {:.1} ms | {:.3} ms |",
                    ms(took),
                    ms(took) / commands as f64
                ),
                None => println!("| {what} | not installed | |"),
            }
        }
    }
}
