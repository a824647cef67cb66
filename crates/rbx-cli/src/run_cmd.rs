//! `rbx run` and `rbx resume`: drive a run, and say how it stopped and what
//! to do next.

use std::io::IsTerminal as _;
use std::path::Path;

use rbx_engine::{Exit, InDoubt, Options, Procedure, Resume, ResumeError};
use rbx_store::{Location, RunId, Store};

use crate::cli::{DriveArgs, InDoubtPolicy, ResumeArgs, RunArgs};
use crate::{exit, plan, render, sources};

/// Opens the store, saying plainly why when it cannot.
pub fn open_store(location: &Location) -> Result<Box<dyn Store>, u8> {
    location.open().map_err(|error| {
        errln!("error: {error}");
        exit::INVALID
    })
}

fn options(drive: &DriveArgs, store: &dyn Store) -> Result<Options, u8> {
    let answers = match &drive.answers {
        Some(path) => {
            let text = read_text(path)?;
            rbx_engine::fills::parse_answers(&text).map_err(|why| {
                errln!("error: `{}`: {why}", path.display());
                exit::INVALID
            })?
        }
        None => rbx_engine::fills::Answers::default(),
    };
    Ok(Options {
        jobs: rbx_engine::Jobs::at_most(drive.jobs.map(std::num::NonZeroUsize::get)),
        observer: std::sync::Arc::new(crate::terminal::Terminal::new(!drive.non_interactive)),
        in_doubt: drive.in_doubt.map(|p| match p {
            InDoubtPolicy::Rerun => InDoubt::Rerun,
            InDoubtPolicy::Skip => InDoubt::Skip,
            InDoubtPolicy::Abort => InDoubt::Abort,
        }),
        operator: crate::identity::operator_on(store, drive.operator.as_deref())?,
        account: crate::identity::account(),
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string()),
        answers,
        executor: std::sync::Arc::new(rbx_engine::executor::Processes),
        clock: rbx_engine::executor::Clock::System,
        graph_cache: crate::cache_dir::graph_cache(),
    })
}

/// A fill or answers file, read with the same care as a runbook.
fn read_text(path: &Path) -> Result<String, u8> {
    sources::read_text(path).map_err(|error| {
        err!("{}", error.render());
        exit::INVALID
    })
}

/// The fill file's path and text, and what it fills, when one is given.
pub fn fill(path: Option<&Path>) -> Result<Option<(String, String, rbx_check::Fills)>, u8> {
    let Some(path) = path else { return Ok(None) };
    let text = read_text(path)?;
    let fills = rbx_engine::fills::parse_fills(&text).map_err(|why| {
        errln!("error: `{}`: {why}", path.display());
        exit::INVALID
    })?;
    Ok(Some((path.display().to_string(), text, fills)))
}

/// The diagnostic for a fill value that is still `_TBD_` or empty, in the
/// same family as the runbook's own placeholders. `origin` says where it
/// came from ("the fill file `staging.toml`", "`--role owner=…`").
pub fn unfilled_diagnostic(
    unfilled: &rbx_engine::fills::Unfilled,
    origin: &str,
) -> rbx_syntax::Diagnostic {
    let diagnostic =
        rbx_syntax::Diagnostic::error("rbx::lint::placeholder", unfilled.describe(origin));
    match &unfilled.span {
        Some(span) => diagnostic
            .primary(
                rbx_syntax::Span::new(span.start, span.end),
                "fill in before the procedure is used",
            )
            .help("write the real value, or remove the key so the runbook's own value applies"),
        None => diagnostic.help("give the real person (and contact): `--role ID=NAME:CONTACT`"),
    }
}

fn split_sets(sets: &[String]) -> Result<Vec<(String, String)>, u8> {
    sets.iter()
        .map(|set| {
            set.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    errln!("error: `--set {set}`: expected KEY=VALUE");
                    exit::INVALID
                })
        })
        .collect()
}

/// Checks the entry file the way `rbx lint` does; any error refuses the run.
fn checked(file: &Path, fill_path: Option<&Path>, roles: &[String]) -> Result<Procedure, u8> {
    if let Err(error) = sources::read(file) {
        err!("{}", error.render());
        return Err(exit::INVALID);
    }
    let mut fill = fill(fill_path)?;
    // A role or link filled with `_TBD_` would silence the runbook's own
    // placeholder lint; the run is refused as lint reports it.
    let mut unfilled = 0;
    if let Some((path, text, _)) = &fill {
        for value in rbx_engine::fills::unfilled(text) {
            let origin = format!("the fill file `{path}`");
            err!(
                "{}",
                render::diagnostic(&unfilled_diagnostic(&value, &origin), path, text)
            );
            unfilled += 1;
        }
    }
    if !roles.is_empty() {
        // Roles from flags go over the file's; the snapshot keeps the
        // result as one fill file, so a resumed run fills the same.
        let (path, mut fills) = match fill.take() {
            Some((path, _, fills)) => (format!("{path} + --role"), fills),
            None => ("--role".to_string(), rbx_check::Fills::default()),
        };
        for flag in roles {
            let (id, role) = rbx_engine::fills::parse_role_flag(flag).map_err(|why| {
                errln!("error: {why}");
                exit::INVALID
            })?;
            for value in rbx_engine::fills::unfilled_role(&id, &role) {
                let origin = format!("`--role {flag}`");
                err!(
                    "{}",
                    render::diagnostic(&unfilled_diagnostic(&value, &origin), "--role", "")
                );
                unfilled += 1;
            }
            fills.roles.insert(id, role);
        }
        fill = Some((path, rbx_engine::fills::to_toml(&fills), fills));
    }
    if unfilled > 0 {
        errln!(
            "error: {unfilled} role or link value(s) are still `_TBD_` or empty; fill them in \
             before running"
        );
        return Err(exit::INVALID);
    }
    let fills = fill.as_ref().map(|(_, _, f)| f.clone()).unwrap_or_default();
    let mut report = rbx_check::check_with(file, &sources::FileSystem, &fills);
    rbx_check::project::apply(&mut report, &crate::project::policy());
    if report.has_errors() {
        let findings = render::Findings::new(&report);
        for finding in &report.findings {
            err!("{}", findings.render(finding));
        }
        errln!(
            "error: `{}` has errors; fix them (see `rbx lint`) before running it",
            file.display()
        );
        return Err(exit::INVALID);
    }
    let fill_text = fill
        .as_ref()
        .map(|(path, text, _)| (path.as_str(), text.as_str()));
    let procedure = Procedure::from_report_with(report, fill_text).ok_or_else(|| {
        errln!(
            "error: `{}` is not an entry runbook (it has no `runbook` header): give the \
             entry file, not a fragment it includes",
            file.display()
        );
        exit::INVALID
    })?;
    Ok(match crate::project::text() {
        Some(text) => procedure.with_project(text),
        None => procedure,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Runtime::new().map_err(|e| {
        errln!("error: cannot start the executor: {e}");
        exit::INVALID
    })
}

pub fn run(args: &RunArgs) -> u8 {
    if args.dry_run {
        return plan::run(&crate::cli::PlanArgs {
            file: args.file.clone(),
            set: args.set.clone(),
            fill: args.fill.clone(),
        });
    }
    let attempt = || -> Result<u8, u8> {
        let procedure = checked(&args.file, args.fill.as_deref(), &args.role)?;
        warn_unknown_answers(&procedure, &args.drive);
        let mut sets = split_sets(&args.set)?;
        if !args.drive.non_interactive {
            crate::terminal::ask_missing_secrets(&procedure, &mut sets);
        }
        let inputs = rbx_engine::resolve_inputs(&procedure, &sets, None).map_err(|why| {
            errln!("error: {why}");
            exit::INVALID
        })?;
        let location = crate::store_cmd::location(&args.store)?;
        let store = open_store(&location)?;
        let options = options(&args.drive, store.as_ref())?;
        let mut started = None;
        let exit = runtime()?.block_on(rbx_engine::start(
            &procedure,
            store,
            inputs,
            options,
            |run| {
                errln!("run {run} started ({})", procedure.title);
                started = Some(run.clone());
            },
        ));
        let status = report(&exit, started.as_ref(), &location);
        match started {
            Some(run) if args.drive.wait_for_people && waits_for_a_person(&exit) => Ok(
                crate::store_cmd::wait_then_resume(&args.store, &run, &args.drive),
            ),
            _ => Ok(status),
        }
    };
    attempt().unwrap_or_else(|status| status)
}

pub fn resume(args: &ResumeArgs) -> u8 {
    if args.due {
        return resume_due(args);
    }
    let attempt = || -> Result<u8, u8> {
        let (store, summary) = crate::pick::open(
            &args.store,
            args.run.as_deref(),
            crate::pick::Default::Unfinished,
        )?;
        let location = crate::store_cmd::location(&args.store)?;
        let run = summary.id.clone();
        let snapshot = store.sources(&run).map_err(|e| {
            errln!("error: {e}");
            exit::INVALID
        })?;
        let current = current_sources(&summary.entry, &snapshot);
        let mut sets = split_sets(&args.set)?;
        // Secrets are never stored: a resumed run at a terminal asks again
        // for those the environment does not give.
        if !args.drive.non_interactive && std::io::stdin().is_terminal() {
            if let Ok(procedure) = snapshot_procedure(&summary, &snapshot) {
                crate::terminal::ask_missing_secrets(&procedure, &mut sets);
            }
        }
        let request = Resume {
            from: args.from.clone().zip(args.reason.clone()),
            allow_changed: args.allow_changed,
            current,
        };
        let options = options(&args.drive, store.as_ref())?;
        let result = runtime()?.block_on(rbx_engine::resume(
            store,
            run.clone(),
            request,
            &sets,
            options,
        ));
        match result {
            Ok(exit) if args.drive.wait_for_people && waits_for_a_person(&exit) => {
                report(&exit, Some(&run), &location);
                Ok(crate::store_cmd::wait_then_resume(
                    &args.store,
                    &run,
                    &args.drive,
                ))
            }
            Ok(exit) => Ok(report(&exit, Some(&run), &location)),
            Err(ResumeError::Held(holder)) => {
                errln!(
                    "error: run {run} is being driven by process {} on {} since {}; \
                     wait for it, or stop it and resume again",
                    holder.pid,
                    holder.host,
                    holder.since
                );
                Err(exit::INVALID)
            }
            Err(ResumeError::Changed(changes)) => {
                errln!(
                    "error: the runbook changed since run {run} started: {}",
                    rbx_engine::changes::named(&changes)
                );
                for change in &changes {
                    errln!("  {}:", change.what);
                    for line in change.diff(CHANGE_LINES) {
                        errln!("    {line}");
                    }
                }
                errln!(
                    "help: a resumed run runs what it started with, never the edited files; \
                     put the files back, or pass `--allow-changed` to go on with what it \
                     started with (refused while a changed step has finished)"
                );
                Err(exit::INVALID)
            }
            Err(ResumeError::Store(why) | ResumeError::Invalid(why)) => {
                errln!("error: {why}");
                Err(exit::INVALID)
            }
        }
    };
    attempt().unwrap_or_else(|status| status)
}

/// How many lines of each change a refused resume shows.
const CHANGE_LINES: usize = 12;

/// The procedure of a run's snapshot, from the cache of checked
/// procedures when it holds it (as the engine's resume reads it next), so
/// that a resume at a terminal does not check the snapshot twice.
fn snapshot_procedure(
    summary: &rbx_store::RunSummary,
    snapshot: &[(String, String)],
) -> Result<rbx_engine::Procedure, String> {
    let recorded = rbx_store::hash_sources(snapshot) == summary.source_hash;
    match crate::cache_dir::graph_cache() {
        Some(cache) if recorded => {
            cache.procedure(&summary.entry, snapshot.to_vec(), &summary.source_hash)
        }
        _ => rbx_engine::procedure_from_snapshot(&summary.entry, snapshot.to_vec()),
    }
}

/// `rbx resume --due`: every waiting run whose time has come, one after
/// the other; the status is the worst of theirs.
fn resume_due(args: &ResumeArgs) -> u8 {
    let store = match crate::store_cmd::location(&args.store).and_then(|l| open_store(&l)) {
        Ok(store) => store,
        Err(status) => return status,
    };
    let now = rbx_engine::format_time(rbx_engine::now_ms());
    let due: Vec<RunId> = match store.runs() {
        Ok(runs) => runs
            .into_iter()
            .filter(|r| {
                r.status == "waiting" && r.next_due.as_deref().is_some_and(|d| d <= now.as_str())
            })
            .map(|r| r.id)
            .collect(),
        Err(e) => {
            errln!("error: {e}");
            return exit::INVALID;
        }
    };
    drop(store);
    if due.is_empty() {
        errln!("no waiting run is due");
        return exit::SUCCESS;
    }
    let mut worst = exit::SUCCESS;
    for run in due {
        errln!("resuming {run}");
        let one = ResumeArgs {
            run: Some(run.to_string()),
            due: false,
            from: None,
            reason: None,
            allow_changed: false,
            set: args.set.clone(),
            store: args.store.clone(),
            drive: crate::cli::DriveArgs {
                non_interactive: true,
                wait_for_people: false,
                ..args.drive.clone()
            },
        };
        worst = worst.max(resume(&one));
    }
    worst
}

/// The entry file and its includes as they are on disk now, to compare
/// with the run's snapshot; empty when the entry cannot be read. When every
/// file the snapshot names reads the same on disk, the snapshot is the
/// answer: the includes are found from the text, so the same bytes mean the
/// same files, and nothing needs checking again.
fn current_sources(entry: &str, snapshot: &[(String, String)]) -> Vec<(String, String)> {
    let runbooks: Vec<&(String, String)> = snapshot
        .iter()
        .filter(|(path, _)| rbx_engine::is_runbook_source(path))
        .collect();
    let unchanged = runbooks
        .iter()
        .all(|(path, text)| sources::read_text(Path::new(path)).is_ok_and(|now| now == *text));
    if unchanged {
        return runbooks.into_iter().cloned().collect();
    }
    let report = rbx_check::check(Path::new(entry), &sources::FileSystem);
    report
        .every_source()
        .into_iter()
        .map(|s| (s.path.display().to_string(), s.text.clone()))
        .collect()
}

/// Says how the drive ended and what to do next; returns the exit status.
fn report(exit: &Exit, run: Option<&RunId>, location: &Location) -> u8 {
    let run_hint = run.map_or_else(String::new, |r| format!(" {r}"));
    // The hints name a store of their own only when it is a directory
    // other than the default; a shared store is named by `RBX_STORE` or
    // `rbx.toml`, and its address may hold what must not be printed.
    let dir = match location {
        Location::Directory(dir) if dir != Path::new(".rbx") => {
            format!(" --state-dir {}", dir.display())
        }
        _ => String::new(),
    };
    match exit {
        Exit::Ended {
            outcome,
            success: true,
        } => {
            errln!("✓ run ended: {outcome}");
            exit::SUCCESS
        }
        Exit::Ended {
            outcome,
            success: false,
        } => {
            errln!("✗ run ended: {outcome} (not a success)");
            exit::UNSUCCESSFUL
        }
        Exit::Failed { node, reason } => {
            errln!("✗ run failed at {node}: {reason}");
            errln!("  fix the cause, then: rbx resume{run_hint}{dir}");
            exit::FAILED
        }
        Exit::Paused { node, hint } if hint.starts_with("(irreversible") => {
            errln!("⏸ run paused: {node} waits for its confirmation {hint}");
            errln!("  then:       rbx resume{run_hint}{dir}");
            exit::PAUSED
        }
        Exit::Paused { node, hint } if hint.starts_with(rbx_engine::CHILD_PAUSE) => {
            let rest = &hint[rbx_engine::CHILD_PAUSE.len()..];
            let (child, answer) = rest.split_once(") ").unwrap_or((rest, ""));
            errln!("⏸ run paused: {node} waits for its child run {child}, which needs a person");
            errln!("  supply it:  rbx confirm {child} {answer}{dir}");
            errln!("  then:       rbx resume{run_hint}{dir}");
            exit::PAUSED
        }
        Exit::Paused { node, hint } => {
            errln!("⏸ run paused: {node} needs a person");
            let run = run.map_or_else(|| "RUN".to_string(), ToString::to_string);
            errln!("  supply it:  rbx confirm {run} {node} {hint}{dir}");
            errln!("  then:       rbx resume{run_hint}{dir}");
            exit::PAUSED
        }
        Exit::NeedsDecision { node } => {
            errln!(
                "? {node} was running when rbx stopped, and it is not marked idempotent and has no verify probe"
            );
            errln!("  decide:  rbx resume{run_hint}{dir} --in-doubt rerun|skip|abort");
            exit::PAUSED
        }
        Exit::Waiting { node, due } => {
            errln!(
                "⏳ run waiting: {node} is due at {}",
                rbx_engine::format_time(*due)
            );
            errln!("  then:  rbx resume{run_hint}{dir}   (or `rbx resume --due{dir}` from cron)");
            exit::PAUSED
        }
        Exit::Interrupted => {
            errln!("⏹ run interrupted; nothing is lost");
            errln!("  go on with:  rbx resume{run_hint}{dir}");
            exit::INTERRUPTED
        }
        Exit::Broken(why) => {
            errln!("error: {why}");
            exit::INVALID
        }
    }
}

/// Whether the drive stopped for a person's answer that `rbx confirm` can
/// give (not an irreversible step's confirmation, given at a terminal).
fn waits_for_a_person(exit: &Exit) -> bool {
    matches!(exit, Exit::Paused { hint, .. } if !hint.starts_with("(irreversible"))
}

/// `rbx cancel`: records the operator's abort, then resumes the run, which
/// runs its compensation.
pub fn cancel(args: &crate::cli::CancelArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let (mut store, summary) = crate::pick::open(
            &args.store,
            args.run.as_deref(),
            crate::pick::Default::Unfinished,
        )?;
        let run = summary.id.clone();
        if summary.status.starts_with("ended") {
            errln!("error: run {run} has already ended ({})", summary.status);
            return Err(exit::INVALID);
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        if let Ok(Some((holder, true))) = store.holder(&run, &host) {
            errln!(
                "error: run {run} is being driven by process {} on {}; stop it (Ctrl-C) and cancel again",
                holder.pid,
                holder.host
            );
            return Err(exit::INVALID);
        }
        let operator =
            crate::identity::operator_on(store.as_ref(), args.drive.operator.as_deref())?;
        let payload = serde_json::json!({
            "reason": args.reason,
            "operator": operator,
            "account": crate::identity::account(),
        });
        store
            .append(&run, rbx_engine::state::kind::RUN_CANCELLED, &payload)
            .map_err(|e| {
                errln!("error: {e}");
                exit::INVALID
            })?;
        drop(store);
        errln!("run {run} cancelled: running its compensation");
        Ok(resume(&ResumeArgs {
            run: Some(run.to_string()),
            due: false,
            from: None,
            reason: None,
            allow_changed: false,
            set: Vec::new(),
            store: args.store.clone(),
            drive: args.drive.clone(),
        }))
    };
    attempt().unwrap_or_else(|status| status)
}

/// Warns about tables of the answers file that name no step of the
/// procedure: a typo there would otherwise leave a step waiting for a
/// person with no word of why.
fn warn_unknown_answers(procedure: &Procedure, drive: &DriveArgs) {
    let Some(path) = &drive.answers else { return };
    let Ok(text) = sources::read_text(path) else {
        return;
    };
    let Ok(answers) = rbx_engine::fills::parse_answers(&text) else {
        return;
    };
    let graph = &procedure.graph.graph;
    let known: std::collections::HashSet<String> = graph
        .node_indices()
        .flat_map(|i| {
            let id = graph[i].id.clone();
            let base = id.rsplit('.').next().unwrap_or(&id).to_string();
            [id, base]
        })
        .collect();
    for node in answers.0.keys().filter(|k| !known.contains(*k)) {
        errln!(
            "warning: `{}` answers `{node}`, which is no step of this runbook",
            path.display()
        );
    }
}
