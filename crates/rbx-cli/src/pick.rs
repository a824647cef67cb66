//! Which run a command means: the one named (in full, or by a prefix of its
//! id that only it has), or by default the latest — of all runs, or of the
//! unfinished ones for commands that go on with a run. Every command that
//! takes a run picks it here, so a run that is not there is said one way.

use rbx_store::{Location, RunId, RunSummary, Store};

use crate::exit;

/// What the default run is when none is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// The latest run (`status`, `log`, `verify`, `report`).
    Latest,
    /// The latest run that has not ended (`resume`, `confirm`, `cancel`).
    Unfinished,
}

/// The statuses of a run that has not ended.
pub const UNFINISHED: [&str; 8] = [
    "created",
    "running",
    "paused",
    "waiting",
    "interrupted",
    "failed",
    "in-doubt",
    "broken",
];

/// The run `given` names, or the default one; the error is said on
/// standard error and the exit status returned.
pub fn run(
    store: &dyn Store,
    given: Option<&str>,
    default: Default,
    location: &Location,
) -> Result<RunSummary, u8> {
    let fail = |message: String| {
        errln!("error: {message}");
        exit::INVALID
    };
    let Some(given) = given else {
        let latest = match default {
            Default::Latest => store.runs().map(|runs| runs.into_iter().next_back()),
            Default::Unfinished => store.latest_with_status_in(&UNFINISHED),
        };
        return match latest.map_err(|e| fail(e.to_string()))? {
            // A child run is picked through the run that started it: the
            // latest run is the whole procedure, not a part of it.
            Some(summary) if summary.id.as_str().contains('/') => {
                let root = summary.id.as_str().split('/').next().unwrap_or_default();
                let parent = store
                    .run(&RunId::new(root))
                    .map_err(|e| fail(e.to_string()))?;
                Ok(parent.unwrap_or(summary))
            }
            Some(summary) => Ok(summary),
            None if default == Default::Unfinished => Err(fail(format!(
                "no unfinished run in {location}: name one (`rbx runs` lists them)"
            ))),
            None => Err(fail(format!("no run in {location} yet"))),
        };
    };
    if let Some(summary) = store
        .run(&RunId::new(given))
        .map_err(|e| fail(e.to_string()))?
    {
        return Ok(summary);
    }
    let runs = store.runs().map_err(|e| fail(e.to_string()))?;
    let mut matching: Vec<&RunSummary> = runs
        .iter()
        .filter(|r| r.id.as_str().starts_with(given))
        .collect();
    // A prefix of a run's id is also one of its child runs' ids: it names
    // the run that started them.
    if !given.contains('/') {
        let roots: Vec<&RunSummary> = matching
            .iter()
            .copied()
            .filter(|r| !r.id.as_str().contains('/'))
            .collect();
        if roots.len() == 1 {
            matching = roots;
        }
    }
    match matching.as_slice() {
        [one] if !given.is_empty() => Ok((*one).clone()),
        [] | [_] => Err(fail(format!(
            "no run `{given}` in {location}{}",
            suggestion(given, &runs)
        ))),
        many => Err(fail(format!(
            "`{given}` is the start of {} runs' ids ({}): give more of it",
            many.len(),
            many.iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Opens the store the arguments name and picks the run `given` names, or
/// the default one, as [`run`] does.
pub fn open(
    args: &crate::cli::StoreArgs,
    given: Option<&str>,
    default: Default,
) -> Result<(Box<dyn Store>, RunSummary), u8> {
    let location = crate::store_cmd::location(args)?;
    let store = crate::run_cmd::open_store(&location)?;
    let summary = run(store.as_ref(), given, default, &location)?;
    Ok((store, summary))
}

/// Whether `given` names a run of the store, in full or by a unique prefix.
pub fn names_a_run(store: &dyn Store, given: &str) -> bool {
    if matches!(store.run(&RunId::new(given)), Ok(Some(_))) {
        return true;
    }
    store.runs().is_ok_and(|runs| {
        !given.is_empty()
            && runs
                .iter()
                .filter(|r| r.id.as_str().starts_with(given))
                .count()
                == 1
    })
}

fn suggestion(given: &str, runs: &[RunSummary]) -> String {
    let closest = runs
        .iter()
        .map(|r| (strsim::levenshtein(given, r.id.as_str()), r.id.as_str()))
        .min();
    match closest {
        Some((distance, id)) if distance <= 3 => format!(": did you mean `{id}`?"),
        _ => ": `rbx runs` lists them".to_string(),
    }
}
