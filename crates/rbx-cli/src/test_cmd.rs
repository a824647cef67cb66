//! `rbx test`: run the scenarios beside runbooks (`NAME.rbxtest` beside
//! `NAME.runbook`) with the real engine on a simulated executor and clock,
//! and report them like `cargo test`, as JUnit XML or as JSON, with path
//! coverage and rehearsal timing. The logic is in `rbx-test`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use rbx_store::RunId;
use rbx_test::{Human, Settings, Suite};

use crate::{exit, render, sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// A summary like `cargo test`'s, failures with the path the run took.
    Human,
    /// JUnit XML, for CI systems.
    Junit,
    /// Versioned JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files (`.rbxtest`), runbooks (their `.rbxtest` beside
    /// them), or directories to search for `.rbxtest` files.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// How to report.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Report which branches, routes and outcomes the scenarios took, and
    /// where each one they did not is written.
    #[arg(long)]
    pub coverage: bool,
    /// Fail when a runbook's coverage is below PERCENT (implies --coverage).
    #[arg(long, value_name = "PERCENT")]
    pub min_coverage: Option<f64>,
    /// Show every scenario's path with the simulated time of each stage.
    #[arg(long)]
    pub timings: bool,
    /// Take each node's duration from this real run in the store, unless a
    /// scenario says how long it takes.
    #[arg(long, value_name = "RUN")]
    pub durations_from: Option<String>,
    /// The run store `--durations-from` reads.
    #[arg(
        long,
        value_name = "DIR",
        env = "RBX_STATE_DIR",
        default_value = ".rbx"
    )]
    pub state_dir: PathBuf,
    /// At most how many nodes run at once, as `rbx run --jobs`.
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Only scenarios whose id contains this text.
    #[arg(value_name = "FILTER", long)]
    pub filter: Option<String>,
}

pub fn run(args: &TestArgs) -> u8 {
    let (files, errors) = scenario_files(&args.paths);
    for (path, why) in &errors {
        errln!("error: {}: {why}", path.display());
    }
    if files.is_empty() {
        if errors.is_empty() {
            errln!(
                "error: no `.rbxtest` scenario file found; write one beside the runbook it tests"
            );
        }
        return exit::INVALID;
    }
    let durations = match &args.durations_from {
        Some(run) => match durations(&args.state_dir, run) {
            Ok(d) => d,
            Err(status) => return status,
        },
        None => HashMap::new(),
    };
    let settings = Settings {
        jobs: args.jobs.map(std::num::NonZeroUsize::get),
        durations: Arc::new(durations),
        filter: args.filter.clone(),
    };
    let mut suites: Vec<Suite> = Vec::new();
    let mut invalid = !errors.is_empty();
    for file in &files {
        match rbx_test::load(file, &sources::FileSystem, &crate::project::policy()) {
            Ok(suite) => suites.push(suite),
            Err(problems) => {
                invalid = true;
                for p in problems {
                    err!(
                        "{}",
                        render::diagnostic(&p.diagnostic, &p.path.display().to_string(), &p.text)
                    );
                }
            }
        }
    }
    let reports: Vec<_> = suites
        .iter()
        .map(|s| rbx_test::run_suite(s, &settings))
        .collect();
    let show_coverage = args.coverage || args.min_coverage.is_some();
    match args.format {
        TestFormat::Human => {
            let options = Human {
                timings: args.timings,
                coverage: show_coverage,
            };
            for report in &reports {
                let suite = report.suite;
                let shown = |d: &rbx_syntax::Diagnostic| {
                    render::diagnostic(d, &suite.path.display().to_string(), &suite.text)
                };
                outln!("{}", rbx_test::human(report, options, &shown));
            }
        }
        TestFormat::Junit => outln!("{}", rbx_test::junit(&reports, args.min_coverage)),
        TestFormat::Json => {
            let json = rbx_test::json(&reports);
            outln!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
        }
    }
    let failed = reports
        .iter()
        .any(|r| r.outcomes.iter().any(|o| !o.passed()));
    // A scenario that names what the runbook does not have is wrong, not
    // failing: it was not run.
    invalid |= reports
        .iter()
        .any(|r| r.outcomes.iter().any(|o| !o.problems.is_empty()));
    let below: Vec<String> = reports
        .iter()
        .filter(|r| {
            args.min_coverage
                .is_some_and(|min| r.coverage.percent() < min)
        })
        .map(|r| {
            format!(
                "{} ({:.1}%)",
                r.suite.runbook.display(),
                r.coverage.percent()
            )
        })
        .collect();
    if !below.is_empty() {
        errln!(
            "error: coverage below {}%: {}",
            args.min_coverage.unwrap_or_default(),
            below.join(", ")
        );
    }
    if invalid {
        exit::INVALID
    } else if failed || !below.is_empty() {
        exit::FAILED
    } else {
        exit::SUCCESS
    }
}

/// The scenario files the paths name: a `.rbxtest` file as given, a
/// runbook's own beside it, every `.rbxtest` under a directory (but not
/// under a hidden one).
fn scenario_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let is_dir = std::fs::metadata(path).map(|m| m.is_dir());
        match is_dir {
            Ok(true) => {
                let before = files.len();
                if let Err(e) = sources::walk_for(path, rbx_test::EXTENSION, &mut files) {
                    errors.push((path.clone(), e.to_string()));
                } else if files.len() == before {
                    errors.push((
                        path.clone(),
                        "no `.rbxtest` scenario file under it".to_string(),
                    ));
                }
            }
            Ok(false) if path.extension().is_some_and(|e| e == "runbook") => {
                let beside = path.with_extension(rbx_test::EXTENSION);
                if beside.is_file() {
                    files.push(beside);
                } else {
                    errors.push((
                        path.clone(),
                        format!("no scenarios for it: write them in {}", beside.display()),
                    ));
                }
            }
            Ok(false) => files.push(path.clone()),
            Err(e) => errors.push((path.clone(), e.to_string())),
        }
    }
    (files, errors)
}

/// Each node's duration in a real run of the store.
fn durations(dir: &Path, run: &str) -> Result<HashMap<String, u64>, u8> {
    let store = crate::run_cmd::open_store(&rbx_store::Location::Directory(dir.to_path_buf()))?;
    match store.events(&RunId::new(run)) {
        Ok(events) => Ok(rbx_test::durations_from(&events)),
        Err(e) => {
            errln!("error: --durations-from {run}: {e}");
            Err(exit::INVALID)
        }
    }
}
