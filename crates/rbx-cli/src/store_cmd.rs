//! Which store a command uses, waiting on it for a person's answer, and
//! `rbx store copy`.

use std::path::Path;
use std::time::Duration;

use rbx_store::{Location, RunId};

use crate::cli::{DriveArgs, ResumeArgs, StoreArgs, StoreCopyArgs};
use crate::exit;

/// The store the arguments name: `--store` (or `RBX_STORE`), else a
/// `--state-dir` (or `RBX_STATE_DIR`) other than the default, else `store`
/// in the project's `rbx.toml`, else `.rbx`.
pub fn location(args: &StoreArgs) -> Result<Location, u8> {
    if let Some(store) = args.store.as_deref().filter(|s| !s.trim().is_empty()) {
        return Ok(Location::parse(store.trim()));
    }
    if args.state_dir != Path::new(".rbx") {
        return Ok(Location::Directory(args.state_dir.clone()));
    }
    match crate::project::store() {
        Some(store) => {
            let location = Location::parse(store);
            if let Location::Postgres(address) = &location
                && location.to_string() != *address
            {
                errln!(
                    "error: `store` in rbx.toml holds a password; rbx.toml is shared with \
                     the repository, the password must not be"
                );
                errln!("help: remove it, and give it in PGPASSWORD or ~/.pgpass");
                return Err(exit::INVALID);
            }
            Ok(location)
        }
        None => Ok(Location::Directory(args.state_dir.clone())),
    }
}

/// How long one wait for an answer lasts before the driver looks again
/// (it wakes at once when the answer comes).
const WAIT_SLICE: Duration = Duration::from_secs(3600);

/// `--wait-for-people`: the run paused for a person; wait until its journal
/// grows (an answer was committed, from any machine), then resume it, and
/// again at each pause for a person, until it stops for another reason.
pub fn wait_then_resume(store: &StoreArgs, run: &RunId, drive: &DriveArgs) -> u8 {
    let location = match location(store) {
        Ok(location) => location,
        Err(status) => return status,
    };
    let opened = match crate::run_cmd::open_store(&location) {
        Ok(opened) => opened,
        Err(status) => return status,
    };
    let seen = match opened.run(run) {
        Ok(Some(summary)) => summary.last_event.map_or(0, |e| e.seq),
        Ok(None) => 0,
        Err(e) => {
            errln!("error: {e}");
            return exit::INVALID;
        }
    };
    errln!("… waiting for a person's answer (rbx confirm {run} …, from any machine)");
    loop {
        match opened.wait_for_events(run, seen, WAIT_SLICE) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                errln!("error: {e}");
                return exit::INVALID;
            }
        }
    }
    drop(opened);
    errln!("an answer came: going on");
    crate::run_cmd::resume(&ResumeArgs {
        run: Some(run.to_string()),
        due: false,
        from: None,
        reason: None,
        allow_changed: false,
        set: Vec::new(),
        store: store.clone(),
        drive: drive.clone(),
    })
}

/// `rbx store copy FROM TO`: every run (or those named) that `TO` does not
/// hold yet, each verified at the source before and at the destination
/// after.
pub fn copy(args: &StoreCopyArgs) -> u8 {
    let (from, to) = (Location::parse(&args.from), Location::parse(&args.to));
    if from == to {
        errln!("error: `{from}` is both the source and the destination");
        return exit::INVALID;
    }
    let open = |location: &Location| {
        location.open_portable().map_err(|error| {
            errln!("error: {error}");
            exit::INVALID
        })
    };
    let attempt = || -> Result<u8, u8> {
        let source = open(&from)?;
        let mut destination = open(&to)?;
        let runs: Vec<RunId> = if args.run.is_empty() {
            source
                .runs()
                .map_err(|e| {
                    errln!("error: {e}");
                    exit::INVALID
                })?
                .into_iter()
                .map(|summary| summary.id)
                .collect()
        } else {
            args.run.iter().map(RunId::new).collect()
        };
        let (mut copied, mut present, mut failed) = (0, 0, 0);
        for run in &runs {
            match rbx_store::copy_run(source.as_ref(), destination.as_mut(), run) {
                Ok(rbx_store::Copied::Copied { events }) => {
                    copied += 1;
                    outln!("{run}: copied, {events} events, hash chain intact at {to}");
                }
                Ok(rbx_store::Copied::AlreadyThere) => {
                    present += 1;
                    outln!("{run}: already in {to}, left as it is");
                }
                Err(e) => {
                    failed += 1;
                    errln!("error: {run}: {e}");
                }
            }
        }
        outln!("{copied} copied, {present} already there, {failed} failed");
        Ok(if failed > 0 {
            exit::FAILED
        } else {
            exit::SUCCESS
        })
    };
    attempt().unwrap_or_else(|status| status)
}
