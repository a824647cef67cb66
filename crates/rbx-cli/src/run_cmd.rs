//! `rbx run` and `rbx resume`: drive a run, and say how it stopped and what
//! to do next.

use std::path::Path;

use rbx_engine::{Exit, InDoubt, Options, Procedure, Resume, ResumeError};
use rbx_store::{RunId, SqliteStore, Store};

use crate::cli::{DriveArgs, InDoubtPolicy, ResumeArgs, RunArgs};
use crate::{exit, plan, render, sources};

/// Opens the store, saying plainly why when it cannot.
pub fn open_store(dir: &Path) -> Result<SqliteStore, u8> {
    SqliteStore::open(dir).map_err(|error| {
        eprintln!("error: {error}");
        exit::INVALID
    })
}

fn options(drive: &DriveArgs) -> Options {
    Options {
        jobs: drive.jobs.max(1),
        interactive: !drive.non_interactive,
        in_doubt: drive.in_doubt.map(|p| match p {
            InDoubtPolicy::Rerun => InDoubt::Rerun,
            InDoubtPolicy::Skip => InDoubt::Skip,
            InDoubtPolicy::Abort => InDoubt::Abort,
        }),
        operator: drive.operator.clone().unwrap_or_else(login_name),
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string()),
    }
}

fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn split_sets(sets: &[String]) -> Result<Vec<(String, String)>, u8> {
    sets.iter()
        .map(|set| {
            set.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    eprintln!("error: `--set {set}`: expected KEY=VALUE");
                    exit::INVALID
                })
        })
        .collect()
}

/// Checks the entry file the way `rbx lint` does; any error refuses the run.
fn checked(file: &Path) -> Result<Procedure, u8> {
    let report = rbx_check::check(file, &sources::FileSystem);
    if report.has_errors() {
        for finding in &report.findings {
            let source = &report.sources[finding.source];
            eprint!(
                "{}",
                render::diagnostic(
                    &finding.diagnostic,
                    &source.path.display().to_string(),
                    &source.text
                )
            );
        }
        eprintln!(
            "error: `{}` has errors; fix them (see `rbx lint`) before running it",
            file.display()
        );
        return Err(exit::INVALID);
    }
    Procedure::from_report(report).ok_or_else(|| {
        eprintln!(
            "error: `{}` is not an entry runbook (it has no `runbook` header)",
            file.display()
        );
        exit::INVALID
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the executor: {e}");
        exit::INVALID
    })
}

pub fn run(args: &RunArgs) -> u8 {
    if args.dry_run {
        return plan::run(&crate::cli::PlanArgs {
            file: args.file.clone(),
            set: args.set.clone(),
        });
    }
    let attempt = || -> Result<u8, u8> {
        let procedure = checked(&args.file)?;
        let sets = split_sets(&args.set)?;
        let inputs = rbx_engine::resolve_inputs(&procedure, &sets, None).map_err(|why| {
            eprintln!("error: {why}");
            exit::INVALID
        })?;
        let store = open_store(&args.store.state_dir)?;
        let options = options(&args.drive);
        let state_dir = args.store.state_dir.clone();
        let exit = runtime()?.block_on(rbx_engine::start(
            &procedure,
            Box::new(store),
            inputs,
            options,
            |run| eprintln!("run {run} started ({})", procedure.title),
        ));
        Ok(report(&exit, None, &state_dir))
    };
    attempt().unwrap_or_else(|status| status)
}

pub fn resume(args: &ResumeArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let store = open_store(&args.store.state_dir)?;
        let run = match &args.run {
            Some(id) => RunId::new(id.clone()),
            None => latest_unfinished(&store)?,
        };
        let summary = store
            .run(&run)
            .map_err(|e| {
                eprintln!("error: {e}");
                exit::INVALID
            })?
            .ok_or_else(|| {
                eprintln!(
                    "error: there is no run `{run}` in {}",
                    args.store.state_dir.display()
                );
                exit::INVALID
            })?;
        let current = current_sources(&summary.entry);
        let sets = split_sets(&args.set)?;
        let request = Resume {
            from: args.from.clone().zip(args.reason.clone()),
            allow_changed: args.allow_changed,
            current,
        };
        let options = options(&args.drive);
        let result = runtime()?.block_on(rbx_engine::resume(
            Box::new(store),
            run.clone(),
            request,
            &sets,
            options,
        ));
        match result {
            Ok(exit) => Ok(report(&exit, Some(&run), &args.store.state_dir)),
            Err(ResumeError::Held(holder)) => {
                eprintln!(
                    "error: run {run} is being driven by process {} on {} since {}; \
                     wait for it, or stop it and resume again",
                    holder.pid, holder.host, holder.since
                );
                Err(exit::INVALID)
            }
            Err(ResumeError::Changed(nodes)) => {
                eprintln!(
                    "error: the runbook changed since run {run} started; changed steps: {}",
                    nodes.join(", ")
                );
                eprintln!(
                    "help: put the file back, or pass `--allow-changed` if no finished step changed"
                );
                Err(exit::INVALID)
            }
            Err(ResumeError::Store(why) | ResumeError::Invalid(why)) => {
                eprintln!("error: {why}");
                Err(exit::INVALID)
            }
        }
    };
    attempt().unwrap_or_else(|status| status)
}

fn latest_unfinished(store: &SqliteStore) -> Result<RunId, u8> {
    let unfinished = [
        "created",
        "running",
        "paused",
        "interrupted",
        "failed",
        "in-doubt",
        "broken",
    ];
    match store.latest_with_status_in(&unfinished) {
        Ok(Some(run)) => Ok(run.id),
        Ok(None) => {
            eprintln!("error: there is no unfinished run to resume");
            Err(exit::INVALID)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::INVALID)
        }
    }
}

/// The entry file and its includes as they are on disk now, to compare
/// with the run's snapshot; empty when the entry cannot be read.
fn current_sources(entry: &str) -> Vec<(String, String)> {
    let report = rbx_check::check(Path::new(entry), &sources::FileSystem);
    report
        .sources
        .iter()
        .map(|s| (s.path.display().to_string(), s.text.clone()))
        .collect()
}

/// Says how the drive ended and what to do next; returns the exit status.
fn report(exit: &Exit, run: Option<&RunId>, state_dir: &Path) -> u8 {
    let run_hint = run.map_or_else(String::new, |r| format!(" {r}"));
    let dir = if state_dir == Path::new(".rbx") {
        String::new()
    } else {
        format!(" --state-dir {}", state_dir.display())
    };
    match exit {
        Exit::Ended(outcome) => {
            eprintln!("✓ run ended: {outcome}");
            exit::SUCCESS
        }
        Exit::Failed { node, reason } => {
            eprintln!("✗ run failed at {node}: {reason}");
            eprintln!("  fix the cause, then: rbx resume{run_hint}{dir}");
            exit::FAILED
        }
        Exit::Paused { node } => {
            eprintln!("⏸ run paused: {node} needs a person");
            eprintln!("  supply it:  rbx confirm RUN {node} --evidence KEY=VALUE …{dir}");
            eprintln!("  then:       rbx resume{run_hint}{dir}");
            exit::PAUSED
        }
        Exit::NeedsDecision { node } => {
            eprintln!(
                "? {node} was running when rbx stopped, and it is not marked idempotent and has no verify probe"
            );
            eprintln!("  decide:  rbx resume{run_hint}{dir} --in-doubt rerun|skip|abort");
            exit::PAUSED
        }
        Exit::Interrupted => {
            eprintln!("⏹ run interrupted; nothing is lost");
            eprintln!("  go on with:  rbx resume{run_hint}{dir}");
            exit::INTERRUPTED
        }
        Exit::Broken(why) => {
            eprintln!("error: {why}");
            exit::INVALID
        }
    }
}
