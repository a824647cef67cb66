//! What a team's store costs: many runs writing their journals at once
//! into one PostgreSQL server, against SQLite's single file.
//!
//! Each run is a thread with a store of its own (its own connection, as a
//! driver on its own machine has) that writes what the engine writes for
//! each step of a run: `node_started` (durable before the step acts), the
//! step's captured stdout (`put_output`), then `node_finished` vouching
//! for it (deferred: the next step's durable `node_started` flushes it, as
//! the engine does). The benchmark
//! reports the time per step of each run, every journal commit's latency
//! (median and 99th percentile), and the events lost: journals that do not
//! hold every event a run was told was committed, or do not verify. Lost
//! must be 0.
//!
//! `cargo bench -p rbx-store --bench concurrent` measures 50 runs of 1,000
//! steps on PostgreSQL (a throwaway cluster with its durable defaults:
//! `fsync` and `synchronous_commit` on), one run of 1,000 steps alone on
//! the same server, and one run of 1,000 steps on SQLite
//! (`synchronous=FULL`) as the baseline. Run as
//! a test (`cargo test --bench concurrent`, as CI does) it measures 4 runs
//! of 20 steps: a check that the benchmark still runs.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rbx_pgtest::Cluster;
use rbx_store::{Holder, NewRun, PostgresStore, RunId, SqliteStore, Store};
use serde_json::json;

/// How much is measured.
struct Scale {
    runs: usize,
    steps: usize,
}

const FULL: Scale = Scale {
    runs: 50,
    steps: 1_000,
};

const QUICK: Scale = Scale { runs: 4, steps: 20 };

/// What one run's thread saw.
struct Drive {
    run: RunId,
    committed: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
    failures: u64,
}

fn new_run(n: usize) -> NewRun {
    NewRun {
        runbook_id: "bench".to_owned(),
        title: format!("Concurrent run {n}"),
        entry: "bench.runbook".to_owned(),
        sources: vec![(
            "bench.runbook".to_owned(),
            "runbook bench \"Bench\" {}\n".to_owned(),
        )],
        inputs: json!({}),
        started_by: "bench".to_owned(),
        host: format!("machine-{n}"),
    }
}

/// One run, as its driver writes it.
fn drive(mut store: Box<dyn Store>, n: usize, steps: usize, start: &Barrier) -> Drive {
    let run = store.create_run(&new_run(n)).expect("the run is created");
    store
        .lock(&run, &Holder::this_process(format!("machine-{n}")))
        .expect("the run is locked");
    start.wait();
    let mut latencies = Vec::with_capacity(steps * 2 + 2);
    let (mut committed, mut failures) = (0, 0);
    let began = Instant::now();
    let mut append =
        |store: &mut Box<dyn Store>, kind: &str, payload: serde_json::Value, deferred: bool| {
            let at = Instant::now();
            let appended = if deferred {
                store.append_deferred(&run, kind, &payload)
            } else {
                store.append(&run, kind, &payload)
            };
            match appended {
                Ok(_) => {
                    latencies.push(at.elapsed());
                    committed += 1;
                }
                Err(error) => {
                    eprintln!("run {n}: {error}");
                    failures += 1;
                }
            }
        };
    append(
        &mut store,
        "run_started",
        json!({ "pid": std::process::id() }),
        false,
    );
    for step in 0..steps {
        let node = format!("s.step{step}");
        append(
            &mut store,
            "node_started",
            json!({ "node": node, "attempt": 1 }),
            false,
        );
        let line = format!("step {step} of run {n}\n");
        let digest = store
            .put_output(
                &run,
                &node,
                1,
                "stdout",
                line.as_bytes(),
                b"",
                line.len() as u64,
            )
            .expect("the output is kept");
        append(
            &mut store,
            "node_finished",
            json!({ "node": node, "attempt": 1, "status": "succeeded",
                    "outputs": { "stdout": digest } }),
            true,
        );
    }
    append(&mut store, "run_ended", json!({ "outcome": "done" }), false);
    let elapsed = began.elapsed();
    store
        .unlock(&run, std::process::id())
        .expect("the run is unlocked");
    Drive {
        run,
        committed,
        latencies,
        elapsed,
        failures,
    }
}

/// Drives `runs` runs at once, each with a store `open` gives, and prints
/// what they cost; `check` is a store to count and verify with.
fn measure(label: &str, scale: &Scale, runs: usize, open: &(dyn Fn() -> Box<dyn Store> + Sync)) {
    let start = Arc::new(Barrier::new(runs));
    let drives: Vec<Drive> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..runs)
            .map(|n| {
                let store = open();
                let start = Arc::clone(&start);
                scope.spawn(move || drive(store, n, scale.steps, &start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a run's thread"))
            .collect()
    });
    let check = open();
    let mut lost = 0_u64;
    for drive in &drives {
        let held = check.events(&drive.run).map_or(0, |e| e.len() as u64);
        lost += drive.committed.saturating_sub(held) + drive.failures;
        if let Err(error) = check.verify(&drive.run) {
            eprintln!("{error}");
            lost += drive.committed;
        }
    }
    let mut latencies: Vec<Duration> = drives.iter().flat_map(|d| d.latencies.clone()).collect();
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let per_step: Vec<f64> = drives
        .iter()
        .map(|d| d.elapsed.as_secs_f64() * 1000.0 / scale.steps as f64)
        .collect();
    let mean_step = per_step.iter().sum::<f64>() / per_step.len() as f64;
    let wall = drives.iter().map(|d| d.elapsed).max().unwrap_or_default();
    let events: u64 = drives.iter().map(|d| d.committed).sum();
    println!(
        "{label}: {runs} run(s) x {} steps: {:.2} ms per step per run, commit median {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms; {events} events in {:.1} s ({:.0}/s); lost {lost}",
        scale.steps,
        mean_step,
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        at(1.0).as_secs_f64() * 1000.0,
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64().max(1e-9),
    );
    assert_eq!(lost, 0, "{label}: events were lost");
}

fn main() {
    let scale = if std::env::args().any(|arg| arg == "--bench") {
        FULL
    } else {
        QUICK
    };
    let database = Cluster::durable().database();
    let url = database.url();
    // The first open migrates; the runs' stores then find it current.
    drop(PostgresStore::open(&url).expect("the store opens"));
    let open =
        || -> Box<dyn Store> { Box::new(PostgresStore::open(&url).expect("the store opens")) };
    measure("postgresql", &scale, 1, &open);
    measure("postgresql", &scale, scale.runs, &open);

    let tmp = tempfile::Builder::new()
        .prefix("store-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    let one = tmp.path().join("one");
    measure("sqlite", &scale, 1, &|| {
        Box::new(SqliteStore::open(&one).expect("the store opens"))
    });
}
