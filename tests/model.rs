//! The engine against the reference model (`crates/rbx-model`): random
//! well-formed runbooks and random operations on their runs — run, `kill -9`
//! at a random journal event, `rbx confirm`, `rbx resume` with in-doubt
//! policies and `--from`, `rbx cancel` — done by the real `rbx` and by the
//! model, compared after every operation.
//!
//! What is compared, for every operation that was not cut short by a
//! crash, are the facts that do not depend on the order in which nodes
//! that were ready together ran: how the operation ended, which nodes
//! started a command and how often, each node's settlement (status, who
//! settled it, branch, evidence), the flows left and by whom, the nodes
//! reset and the in-doubt decisions. Which nodes were recorded as skipped
//! is not compared: a run that stops leaves some nodes never looked at,
//! and which depends on that order. An operation a crash cut short must
//! have done nothing the model's would not have. After each operation the
//! model is brought to the state the journal replays to, so the next
//! operation starts from the same place in both (rule S3).
//!
//! Over the whole journal: no node starts, settles or is skipped before
//! every node it waits for has settled (R1, R4); no finished node runs
//! again (S1) unless `--from` or a failed run's retry reset it, and no
//! node starts twice unless it was in doubt and run again; and
//! `rbx report --format json` says what the journal says.
//!
//! Cases: `RBX_MODEL_CASES` (default 64, from a fixed seed, so that CI
//! checks the same cases every time; with `RBX_MODEL_CASES` the seed is
//! random, or `RBX_MODEL_SEED`). A failing case is shrunk and
//! printed as a fixture: keep it under `tests/model-fixtures/`, where
//! `fixtures_replay` replays every one named in `REPLAYED`. One that shows
//! an engine bug not fixed yet is named in `compare::KNOWN` instead, with
//! how to recognise it, so that a long run counts it and goes on.

// The crate's root is this file, so its modules are found by path.
#[path = "model/case.rs"]
mod case;
#[path = "model/compare.rs"]
mod compare;
#[path = "model/generate.rs"]
mod generate;
#[path = "model/play.rs"]
mod play;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use case::{Actions, load};
use compare::KNOWN;
use generate::{CONSTRUCTS, case, concrete};
use play::play;

/// The fixtures `fixtures_replay` runs: each a case the property test once
/// found (or a regression kept), with its `.runbook` and `.toml`. A fixture
/// whose engine bug is not fixed yet stays out of this list until it is
/// (see `compare::KNOWN`).
const REPLAYED: &[&str] = &[
    "c1-only-the-branch-taken-carries",
    "e1-nothing-starts-after-an-outcome",
    "e3-an-empty-parallel-block",
    "e4-a-cancelled-run-ends-in-one-transaction",
    "l2-a-crash-between-a-settlement-and-its-flow-left",
    "l2-confirm-after-a-crash-between-a-settlement-and-its-flow-left",
    "l2-a-flow-is-left-when-its-node-settles",
    "p2-confirm-only-what-the-run-waits-for",
    "p3-evidence-decides-after-a-crash",
    "r4-an-item-waits-in-two-loops",
    "s1-a-retry-never-undoes-a-settled-node",
    "s2-an-in-doubt-step-rerun-keeps-its-item-admitted",
    "s3-from-reopens-a-left-flow",
    "s5-a-step-aborted-in-doubt-stays-in-doubt",
    "s5-retry-resets-what-failed-the-run",
    "x2-nothing-starts-once-the-clean-up-began",
    "x2-no-person-is-waited-for-once-the-clean-up-began",
    "s2-a-cancel-killed-after-its-resume-began-is-carried-out",
    "r5-a-list-no-loop-reads-keeps-the-ready-order",
    "y2-an-outcome-waiting-for-a-clean-up-ends-the-run",
    "s5-a-retried-tally-looks-again-at-what-its-items-skipped",
    "v3-a-tick-waiting-is-stopped-when-its-work-settles",
    "v2-a-tick-run-again-by-from-is-due-anew",
    "y4-from-an-outcome-runs-no-clean-up-again",
    "x4-a-redrive-lists-the-clean-up-nodes-it-resets",
    "y2-an-outcome-reached-from-a-called-stage-waits-for-the-clean-up",
    "y2-a-resumed-outcome-waits-for-a-clean-up-that-never-begins",
    "y3-from-leaves-a-stage-clean-up-begun-at-the-end-unstarted",
    "y2-an-instance-beside-an-outcome-cleans-up-though-none-of-its-work-began",
    "s2-a-cancel-decides-no-step-its-route-skips",
    "v3-a-tick-after-a-confirmed-choice",
];

/// Runbooks the model calls an error (a run of them breaks, E3) that
/// `rbx lint` accepts: each fixture expects lint to refuse it. The
/// generator does not write these shapes; when lint refuses one, move its
/// fixture to `REPLAYED`.
const KNOWN_LINT_GAPS: &[&str] = &[];

fn cases() -> u32 {
    std::env::var("RBX_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

/// The seed: `RBX_MODEL_SEED` when given; else a fixed one for the
/// default run, so that `cargo test` (and CI) checks the same cases every
/// time, while a run with `RBX_MODEL_CASES` explores from a random one.
fn seed() -> RngSeed {
    match std::env::var("RBX_MODEL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(seed) => RngSeed::Fixed(seed),
        None if std::env::var_os("RBX_MODEL_CASES").is_none() => RngSeed::Fixed(20_261_207),
        None => RngSeed::Random,
    }
}

#[test]
fn the_engine_follows_the_rules() {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 400,
        rng_seed: seed(),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let covered = Cell::new(0);
    let endings = RefCell::new(BTreeMap::<String, usize>::new());
    let known = RefCell::new(BTreeMap::<&str, usize>::new());
    // How many cases wrote each construct, and saw each kind of action end
    // each way: the generator's coverage.
    let constructs = RefCell::new(BTreeMap::<String, usize>::new());
    let result = runner.run(&case(), |case| {
        let concrete = concrete(&case);
        match play(&concrete, Actions::Generated(&case)) {
            Ok(played) => {
                covered.set(covered.get() + usize::from(played.covered));
                let kind = played.end.split(':').next().unwrap_or_default().to_string();
                *endings.borrow_mut().entry(kind).or_default() += 1;
                for bug in played.known {
                    *known.borrow_mut().entry(bug).or_default() += 1;
                }
                let mut constructs = constructs.borrow_mut();
                for construct in CONSTRUCTS.iter().filter(|c| concrete.text.contains(**c)) {
                    *constructs.entry(construct.trim().to_string()).or_default() += 1;
                }
                for seen in played.seen {
                    *constructs.entry(seen).or_default() += 1;
                }
                Ok(())
            }
            Err((why, log)) => {
                let fixture = concrete.fixture(&log, "?", &why);
                Err(TestCaseError::fail(format!(
                    "{why}\n\n--- case.runbook\n{}\n--- case.toml\n{fixture}",
                    concrete.text
                )))
            }
        }
    });
    match result {
        Err(TestError::Fail(why, _)) => panic!("{why}"),
        Err(e) => panic!("{e}"),
        Ok(()) => {}
    }
    eprintln!(
        "{} cases, {} covered to their end; runs ended as {:?}; known engine bugs met: {:?}",
        cases(),
        covered.get(),
        endings.borrow(),
        known.borrow()
    );
    for (what, n) in constructs.borrow().iter() {
        eprintln!("  {n:>5}  {what}");
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/model-fixtures")
}

#[test]
fn fixtures_replay() {
    for name in REPLAYED {
        let (concrete, actions, expected) = load(name);
        match play(&concrete, Actions::Listed(actions)) {
            Ok(played) => {
                assert!(
                    played.covered && played.known.is_empty(),
                    "{name}: {:?}",
                    played.known
                );
                assert_eq!(played.end, expected, "{name}: the run ends differently");
            }
            // What the model calls an error, lint must refuse.
            Err((why, _)) if expected == "refused by lint" => {
                assert!(why.starts_with("rbx lint refuses"), "{name}: {why}");
            }
            Err((why, _)) => panic!("{name}: {why}"),
        }
    }
}

#[test]
fn every_fixture_is_replayed_or_a_known_engine_bug() {
    let mut named: BTreeSet<&str> = REPLAYED.iter().copied().collect();
    named.extend(KNOWN.iter().map(|k| k.fixture));
    named.extend(KNOWN_LINT_GAPS);
    for entry in std::fs::read_dir(fixtures()).expect("the fixtures") {
        let path = entry.expect("a fixture").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            named.contains(stem.as_str()),
            "{}: neither replayed nor a known engine bug",
            path.display()
        );
    }
    for name in &named {
        let (concrete, actions, expected) = load(name);
        assert!(
            !actions.is_empty() && !expected.is_empty(),
            "{name}: a fixture needs actions and an end"
        );
        let report = rbx_model::check_text(&concrete.text);
        assert!(report.graph.is_some(), "{name}: the runbook must parse");
    }
}
