//! What running costs: the per-step overhead of `rbx run`, the time `rbx
//! resume` takes to reach its first new step after 10,000 finished ones,
//! and the peak memory of a 10,000-step run.
//!
//! `cargo bench -p rbx-cli --bench engine` drives the release `rbx` binary
//! the way a person would, on generated runbooks, and prints the figures.
//! They are recorded in the book (reference/performance.md), not asserted:
//! timing tests flake on shared machines.
//!
//! Everything is written under a temporary directory in Cargo's
//! `CARGO_TARGET_TMPDIR` (`target/tmp`), on the same disk as the sources.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const RBX: &str = env!("CARGO_BIN_EXE_rbx");
/// `rbx`'s exit status for a run that stopped at a failed step.
const FAILED: i32 = 1;
/// Rounds of each measurement; the best is reported.
const ROUNDS: usize = 3;

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

/// `rbx ARGS…` in `dir`, silent; `run` and `resume` never ask anyone.
fn rbx(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(RBX);
    command.args(args);
    if matches!(args.first(), Some(&"run" | &"resume")) {
        command.arg("--non-interactive");
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn timed(mut command: Command) -> (Duration, ExitStatus) {
    let start = Instant::now();
    let status = command.status().expect("the command starts");
    (start.elapsed(), status)
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

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for entry in fs::read_dir(from).expect("read the store") {
        let entry = entry.expect("a store entry");
        fs::copy(entry.path(), to.join(entry.file_name())).expect("copy the store");
    }
}

/// The floor under a step: two durable SQLite commits (WAL,
/// `synchronous=FULL`) around a spawn of `sh -c true`.
fn floor(db: &Path, steps: usize) -> Duration {
    let _ = fs::remove_file(db);
    let conn = rusqlite::Connection::open(db).expect("open the floor database");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous=FULL");
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT, payload TEXT)",
        [],
    )
    .expect("create the table");
    let start = Instant::now();
    for n in 0..steps {
        let payload = format!("{{\"node\":\"s0.n{n}\",\"attempt\":1}}");
        conn.execute(
            "INSERT INTO events (kind, payload) VALUES ('node-started', ?1)",
            [&payload],
        )
        .expect("insert");
        let status = Command::new("sh")
            .args(["-c", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn sh");
        assert!(status.success());
        conn.execute(
            "INSERT INTO events (kind, payload) VALUES ('node-finished', ?1)",
            [&payload],
        )
        .expect("insert");
    }
    start.elapsed()
}

fn ms_per_step(d: Duration, steps: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / steps as f64
}

fn best(times: &[Duration]) -> Duration {
    times.iter().copied().min().expect("at least one round")
}

fn per_step(dir: &Path) {
    const STEPS: usize = 1_000;
    let file = dir.join("steps-1000.runbook");
    fs::write(&file, runbook(STEPS, None)).expect("write the runbook");
    let file = file.to_str().expect("a UTF-8 path");
    let one = dir.join("steps-1.runbook");
    fs::write(&one, runbook(1, None)).expect("write the runbook");
    let one = one.to_str().expect("a UTF-8 path");
    let (mut engine, mut fixed, mut shell, mut floors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Rounds interleave the measurements, so that a slow moment of the
    // machine does not land on one of them only.
    for round in 0..ROUNDS {
        let state = dir.join(format!("state-1000-{round}"));
        let state = state.to_str().expect("a UTF-8 path");
        let (took, status) = timed(rbx(dir, &["run", file, "--state-dir", state]));
        assert!(status.success(), "the 1,000-step run must end: {status}");
        engine.push(took);
        let state = dir.join(format!("state-1-{round}"));
        let state = state.to_str().expect("a UTF-8 path");
        let (took, status) = timed(rbx(dir, &["run", one, "--state-dir", state]));
        assert!(status.success(), "the 1-step run must end: {status}");
        fixed.push(took);
        let mut sh = Command::new("sh");
        sh.args(["-c", "for i in $(seq 1000); do sh -c true; done"])
            .stdin(Stdio::null());
        let (took, status) = timed(sh);
        assert!(status.success());
        shell.push(took);
        floors.push(floor(&dir.join("floor.db"), STEPS));
    }
    let fixed = best(&fixed);
    // What each step adds, the cost of starting and ending a run aside.
    let marginal = ms_per_step(best(&engine).saturating_sub(fixed), STEPS - 1);
    let (engine, shell, floor) = (
        ms_per_step(best(&engine), STEPS),
        ms_per_step(best(&shell), STEPS),
        ms_per_step(best(&floors), STEPS),
    );
    println!("per step, 1,000 steps of `run \"true\"`, best of {ROUNDS}:");
    println!("  rbx run, whole run / 1,000:        {engine:.3} ms/step");
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

fn long_run_and_resume(dir: &Path) {
    const STEPS: usize = 10_000;
    let file = dir.join("steps-10000.runbook");
    fs::write(&file, runbook(STEPS, Some("test -f go"))).expect("write the runbook");
    let file = file.to_str().expect("a UTF-8 path");
    let _ = fs::remove_file(dir.join("go"));

    let (took, status) = timed(rbx(dir, &["lint", file]));
    assert!(status.success(), "the 10,001-step runbook must lint clean");
    let mut lint = vec![took];
    lint.extend((1..ROUNDS).map(|_| timed(rbx(dir, &["lint", file])).0));

    // The run: 10,000 steps, then a last one that fails until `go` exists.
    let state = dir.join("state-10000");
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
    println!("\n10,001-step run (10,000 `true` steps, then one that fails):");
    println!(
        "  rbx run: {:.2} s, {:.3} ms/step, peak RSS {:.1} MiB",
        took.as_secs_f64(),
        ms_per_step(took, STEPS + 1),
        peak as f64 / 1024.0
    );

    // Each resume starts from a copy of the failed run's store.
    let copies: Vec<PathBuf> = (0..ROUNDS)
        .map(|round| {
            let copy = dir.join(format!("state-10000-resume-{round}"));
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
    println!("rbx resume after 10,000 finished steps, best of {ROUNDS}:");
    println!(
        "  to the first new step: {:.1} ms",
        best(&first).as_secs_f64() * 1000.0
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

fn main() {
    let tmp = tempfile::Builder::new()
        .prefix("engine-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    println!("rbx: {RBX}");
    println!("working in {}\n", tmp.path().display());
    per_step(tmp.path());
    long_run_and_resume(tmp.path());
}
