//! What running costs: the per-step overhead of `rbx run`, the time `rbx
//! resume` takes to reach its first new step after 10,000 finished ones,
//! the peak memory of a 10,000-step run, and the time and peak memory of
//! judging expectations and captures over 1 GiB of output.
//!
//! `cargo bench -p rbx-cli --bench engine` drives the release `rbx` binary
//! the way a person would, on generated runbooks, and prints the figures.
//! They are recorded in the book (reference/performance.md), not asserted:
//! timing tests flake on shared machines. Run as a test (`cargo test
//! --bench engine`, as CI does), it measures everything once at a small
//! scale: a check that the benchmark still runs. Words after `--` run only
//! the parts they name: `steps`, `resume`, `whole` (`cargo bench -p rbx-cli
//! --bench engine -- whole`).
//!
//! Everything is written under a temporary directory in Cargo's
//! `CARGO_TARGET_TMPDIR` (`target/tmp`), on the same disk as the sources.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{RBX, best, copy_dir, floor, median, ms, rbx, timed};

/// `rbx`'s exit status for a run that stopped at a failed step.
const FAILED: i32 = 1;

/// How much the benchmark measures.
struct Scale {
    /// Rounds of each measurement; the best is reported.
    rounds: usize,
    /// Steps of the run that measures the cost of a step.
    steps: usize,
    /// Steps of the long run that is resumed.
    long: usize,
    /// Bytes of output judged whole.
    output: u64,
}

/// What `cargo bench` measures.
const FULL: Scale = Scale {
    rounds: 3,
    steps: 1_000,
    long: 10_000,
    output: 1 << 30,
};

/// What a run as a test measures: enough to go through every path once.
const QUICK: Scale = Scale {
    rounds: 1,
    steps: 20,
    long: 50,
    output: 4 << 20,
};

/// One stage of `steps` steps in sequence, each `run "true"`, then an
/// optional last step running `last`, then `end done`.
fn runbook(steps: usize, last: Option<&str>) -> String {
    let mut out = String::from("runbook bench \"Engine benchmark\" {\n  stage s0 \"Steps\" {\n");
    for n in 0..steps {
        out.push_str(&format!(
            "    step n{n} \"Step {n}\" {{\n      run \"true\"\n      timeout 10s\n    }}\n\n"
        ));
    }
    if let Some(command) = last {
        out.push_str(&format!(
            "    step last \"Last\" {{\n      run \"{command}\"\n      timeout 10s\n    }}\n\n"
        ));
    }
    out.push_str("    end done\n  }\n}\n");
    out
}

/// The peak resident set (`VmHWM`) of a running process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child`, reading its peak memory every `every` while it runs;
/// the peak only grows, so the last reading is the run's peak up to the
/// final `every`.
fn wait_watching(child: &mut Child, every: Duration) -> (ExitStatus, u64) {
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return (status, peak);
        }
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        std::thread::sleep(every);
    }
}

/// The processor time a running process has used, its own (user and
/// system), without that of its children.
fn cpu(pid: u32, tick: f64) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, in parentheses: state is field 3, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / tick))
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s times.
fn clock_tick() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

fn ms_per_step(d: Duration, steps: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / steps as f64
}

fn per_step(dir: &Path, scale: &Scale) {
    let (steps, rounds) = (scale.steps, scale.rounds);
    let file = dir.join(format!("steps-{steps}.runbook"));
    fs::write(&file, runbook(steps, None)).expect("write the runbook");
    let file = file.to_str().expect("a UTF-8 path");
    let one = dir.join("steps-1.runbook");
    fs::write(&one, runbook(1, None)).expect("write the runbook");
    let one = one.to_str().expect("a UTF-8 path");
    let (mut engine, mut fixed, mut shell, mut floors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Rounds interleave the measurements, so that a slow moment of the
    // machine does not land on one of them only.
    for round in 0..rounds {
        let state = dir.join(format!("state-{steps}-{round}"));
        let state = state.to_str().expect("a UTF-8 path");
        let (took, status) = timed(rbx(dir, &["run", file, "--state-dir", state]));
        assert!(status.success(), "the {steps}-step run must end: {status}");
        engine.push(took);
        let state = dir.join(format!("state-1-{round}"));
        let state = state.to_str().expect("a UTF-8 path");
        let (took, status) = timed(rbx(dir, &["run", one, "--state-dir", state]));
        assert!(status.success(), "the 1-step run must end: {status}");
        fixed.push(took);
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            &format!("for i in $(seq {steps}); do sh -c true; done"),
        ])
        .stdin(Stdio::null());
        let (took, status) = timed(sh);
        assert!(status.success());
        shell.push(took);
        floors.push(floor(&dir.join("floor.db"), steps));
    }
    let fixed = best(&fixed);
    // What each step adds, the cost of starting and ending a run aside.
    let marginal = ms_per_step(best(&engine).saturating_sub(fixed), steps - 1);
    let (engine, shell, floor) = (
        ms_per_step(best(&engine), steps),
        ms_per_step(best(&shell), steps),
        ms_per_step(best(&floors), steps),
    );
    println!("per step, {steps} steps of `run \"true\"`, best of {rounds}:");
    println!("  rbx run, whole run / {steps}:        {engine:.3} ms/step");
    println!(
        "  rbx run of 1 step (fixed cost):    {:.1} ms",
        fixed.as_secs_f64() * 1000.0
    );
    println!("  rbx run, each further step:        {marginal:.3} ms/step");
    println!("  shell loop of `sh -c true`:        {shell:.3} ms/step");
    println!("  floor (2 durable commits + spawn): {floor:.3} ms/step");
    println!("  rbx / shell loop: {:.2}×", engine / shell);
    println!(
        "  rbx / floor:      {:.2}× (each further step: {:.2}×)",
        engine / floor,
        marginal / floor
    );
}

fn long_run_and_resume(dir: &Path, scale: &Scale) {
    let (steps, rounds) = (scale.long, scale.rounds);
    let file = dir.join(format!("steps-{steps}.runbook"));
    fs::write(&file, runbook(steps, Some("test -f go"))).expect("write the runbook");
    let file = file.to_str().expect("a UTF-8 path");
    let _ = fs::remove_file(dir.join("go"));

    let (took, status) = timed(rbx(dir, &["lint", file]));
    assert!(status.success(), "the long runbook must lint clean");
    let mut lint = vec![took];
    lint.extend((1..rounds).map(|_| timed(rbx(dir, &["lint", file])).0));

    // The run: its steps, then a last one that fails until `go` exists.
    let state = dir.join(format!("state-{steps}"));
    let start = Instant::now();
    let mut child = rbx(
        dir,
        &["run", file, "--state-dir", state.to_str().expect("UTF-8")],
    )
    .spawn()
    .expect("start rbx run");
    let (status, peak) = wait_watching(&mut child, Duration::from_millis(10));
    let took = start.elapsed();
    assert_eq!(
        status.code(),
        Some(FAILED),
        "the run must fail at its last step"
    );
    println!(
        "\n{}-step run ({steps} `true` steps, then one that fails):",
        steps + 1
    );
    println!(
        "  rbx run: {:.2} s, {:.3} ms/step, peak RSS {:.1} MiB",
        took.as_secs_f64(),
        ms_per_step(took, steps + 1),
        peak as f64 / 1024.0
    );

    // Each resume starts from a copy of the failed run's store.
    let copies: Vec<PathBuf> = (0..rounds)
        .map(|round| {
            let copy = dir.join(format!("state-{steps}-resume-{round}"));
            copy_dir(&state, &copy);
            copy
        })
        .collect();
    fs::write(dir.join("go"), "").expect("create go");
    let (mut first, mut whole, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for copy in &copies {
        let mut command = rbx(
            dir,
            &["resume", "--state-dir", copy.to_str().expect("UTF-8")],
        );
        command.stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = command.spawn().expect("start rbx resume");
        let stderr = child.stderr.take().expect("piped stderr");
        // `▶ s0.last (attempt 2)` is printed once the step's start is
        // durable, just before its command is spawned.
        let reader = std::thread::spawn(move || {
            let mut seen = None;
            for line in BufReader::new(stderr).lines() {
                let line = line.expect("stderr is text");
                if seen.is_none() && line.contains("s0.last (attempt 2)") {
                    seen = Some(Instant::now());
                }
            }
            seen
        });
        let (status, peak) = wait_watching(&mut child, Duration::from_millis(1));
        let took = start.elapsed();
        let started = reader.join().expect("the reader ends");
        assert!(status.success(), "the resumed run must end: {status}");
        first.push(started.expect("the last step started again") - start);
        whole.push(took);
        peaks.push(peak);
    }
    println!("rbx resume after {steps} finished steps, best of {rounds}:");
    println!(
        "  to the first new step: {:.1} ms (median {:.1} ms)",
        ms(best(&first)),
        ms(median(&first))
    );
    println!(
        "  whole resume (one cheap step, then the run ends): {:.1} ms",
        best(&whole).as_secs_f64() * 1000.0
    );
    println!(
        "  peak RSS: {:.1} MiB",
        peaks.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    );
    println!(
        "  for comparison, rbx lint of the same runbook (one parse and check): {:.1} ms",
        best(&lint).as_secs_f64() * 1000.0
    );
}

/// Shell text printing `n` bytes of `x`.
fn xs(n: u64) -> String {
    format!("head -c {n} /dev/zero | tr '\\\\0' x")
}

/// A one-step runbook whose step runs `command` and says `judge`.
fn judging(command: &str, judge: &str) -> String {
    format!(
        "runbook bench \"Whole output\" {{\n  stage s \"S\" {{\n    step big \"Big\" {{\n      \
         run \"{command}\"\n      {judge}\n    }}\n    end done\n  }}\n}}\n"
    )
}

/// The time, processor time and peak memory of expectations and captures
/// judged over the whole of a long output, against the same output judged
/// by nothing (so kept only as head and tail) and the command alone. The
/// processor time is `rbx`'s own, not its command's: it moves less than
/// the wall-clock time when the machine is busy.
fn whole_output(dir: &Path, scale: &Scale) {
    let (size, half) = (scale.output, scale.output / 2);
    let middle = |text: &str| format!("{}; printf '{text}'; {}", xs(half), xs(half));
    let cases = [
        ("nothing judged", xs(size), "keep stdout", 0),
        (
            "`~ /y/`, never there (fails)",
            xs(size),
            "expect stdout ~ /y/",
            FAILED,
        ),
        (
            "`~ /needle/`, in the middle",
            middle("needle"),
            "expect stdout ~ /needle/",
            0,
        ),
        (
            "capture `/version=(\\S+)/`, in the middle",
            middle("\\\\nversion=1.2.3\\\\n"),
            "capture version = stdout ~ /version=(\\S+)/",
            0,
        ),
        (
            "`!~ /panic/`, in the middle (fails)",
            middle("panic: boom"),
            "expect stdout !~ /panic/",
            FAILED,
        ),
        (
            "`~ /[0-9]+/`, never there: no literal to skip to (fails)",
            xs(size),
            "expect stdout ~ /[0-9]+/",
            FAILED,
        ),
    ];
    println!(
        "\n{} of output, judged whole, best of {}:",
        bytes(size),
        scale.rounds
    );
    let alone: Vec<Duration> = (0..scale.rounds)
        .map(|_| {
            let mut sh = Command::new("sh");
            sh.args([
                "-c",
                &format!("{} > /dev/null", xs(size).replace("\\\\", "\\")),
            ]);
            let (took, status) = timed(sh);
            assert!(status.success(), "the command alone: {status}");
            took
        })
        .collect();
    println!(
        "  {:<58} {:>7.2} s",
        "the command alone, to /dev/null",
        best(&alone).as_secs_f64()
    );
    let tick = clock_tick();
    for (n, (name, command, judge, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("whole-{n}.runbook"));
        fs::write(&file, judging(command, judge)).expect("write the runbook");
        let file = file.to_str().expect("a UTF-8 path");
        let (mut times, mut cpus, mut peak) = (Vec::new(), Vec::new(), 0);
        for round in 0..scale.rounds {
            let state = dir.join(format!("state-whole-{n}-{round}"));
            let state = state.to_str().expect("a UTF-8 path");
            let start = Instant::now();
            let mut child = rbx(dir, &["run", file, "--state-dir", state])
                .spawn()
                .expect("start rbx run");
            let mut used = Duration::ZERO;
            let status = loop {
                if let Some(status) = child.try_wait().expect("the child can be waited for") {
                    break status;
                }
                peak = peak.max(peak_kib(child.id()).unwrap_or(0));
                used = used.max(cpu(child.id(), tick).unwrap_or(used));
                std::thread::sleep(Duration::from_millis(1));
            };
            times.push(start.elapsed());
            cpus.push(used);
            assert_eq!(status.code(), Some(*expected), "{name}: {status}");
        }
        println!(
            "  {name:<58} {:>7.2} s, rbx's processor time {:>5.2} s, peak RSS {:.1} MiB",
            best(&times).as_secs_f64(),
            best(&cpus).as_secs_f64(),
            peak as f64 / 1024.0
        );
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{} GiB", n >> 30),
        n => format!("{} MiB", n >> 20),
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
    // Other words name the parts to run (`-- whole`): all of them when
    // there are none.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| part.contains(p.as_str()));
    let tmp = tempfile::Builder::new()
        .prefix("engine-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    println!("rbx: {RBX}");
    println!("working in {}\n", tmp.path().display());
    if wanted("steps") {
        per_step(tmp.path(), &scale);
    }
    if wanted("resume") {
        long_run_and_resume(tmp.path(), &scale);
    }
    if wanted("whole") {
        whole_output(tmp.path(), &scale);
    }
}
