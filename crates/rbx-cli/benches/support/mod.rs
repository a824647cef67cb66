//! What the benchmarks that drive the `rbx` binary share: starting it
//! quietly, timing a command, the peak memory of a process, and the floor
//! under a durable step.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// `rbx ARGS…` in `dir`, silent; `run` and `resume` never ask anyone.
pub fn rbx(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(RBX);
    command.args(args);
    if matches!(args.first(), Some(&"run" | &"resume")) {
        command.arg("--non-interactive");
    }
    command
        .current_dir(dir)
        .env_remove("RBX_FILL")
        // The cache of checked procedures of this bench's runs, its own.
        .env("RBX_CACHE_DIR", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

pub fn timed(mut command: Command) -> (Duration, ExitStatus) {
    let start = Instant::now();
    let status = command.status().expect("the command starts");
    (start.elapsed(), status)
}

pub fn best(times: &[Duration]) -> Duration {
    times.iter().copied().min().expect("at least one round")
}

pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The floor under a step: two durable SQLite commits (WAL,
/// `synchronous=FULL`) around a spawn of `sh -c true`, `steps` times.
pub fn floor(db: &Path, steps: usize) -> Duration {
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

/// Copies a run's store directory (the database and its write-ahead log).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for entry in fs::read_dir(from).expect("read the store") {
        let entry = entry.expect("a store entry");
        fs::copy(entry.path(), to.join(entry.file_name())).expect("copy the store");
    }
}
