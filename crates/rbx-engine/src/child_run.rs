//! Driving a child run in-process: created under the id its parent chose
//! (and journalled) for it, or, when a run with that id exists already,
//! resumed — never created twice. The child shares its parent's store,
//! operator and executor; its journal is its own.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rbx_store::{Holder, NewRun, RunId, Store};
use serde_json::json;

use crate::journal::{Journal, JournalError};
use crate::state::{self, Again, ChildRun, RunStatus};
use crate::value::Value;
use crate::{Exit, Options, Procedure, Resume, ResumeError, RunState};

/// Who started a child run: the parent's run and the node (its id in the
/// parent's run, loop items and instances included), and the child run
/// this one runs again, if any (rule D7).
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub(crate) run: RunId,
    pub(crate) node: String,
    pub(crate) previous: Option<RunId>,
}

impl Parent {
    /// The id of the node's first child run: its parent's run and node
    /// (rule D1); the N-th run again of it is this id and `~N`.
    fn first_id(&self) -> String {
        format!("{}/{}", self.run, self.node)
    }

    /// The child run a start of the node drives (rules D1, D7): the one its
    /// record names — so that a node run again after a crash names the
    /// same child — unless a reset since runs the child again and it can
    /// only run again as a fresh run: after `--from`, always; re-driven
    /// (S5), once the child run has ended (one that failed is resumed).
    /// A fresh run is the next `~N` after the one the record names, which
    /// this sets as `previous`.
    pub(crate) async fn choose(
        &mut self,
        journal: &Journal,
        record: Option<&ChildRun>,
    ) -> Result<RunId, String> {
        let Some(record) = record else {
            return Ok(RunId::new(self.first_id()));
        };
        let last = RunId::new(record.id.clone());
        let fresh = match record.again {
            None => false,
            Some(Again::From) => true,
            Some(Again::Redrive) => matches!(
                replayed(journal, &last).await?.status,
                RunStatus::Ended { .. }
            ),
        };
        if !fresh {
            return Ok(last);
        }
        let first = self.first_id();
        let number = match record.id.strip_prefix(&first) {
            Some(rest) => rest
                .strip_prefix('~')
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(1),
            None => 1,
        };
        self.previous = Some(last);
        Ok(RunId::new(format!("{first}~{}", number.saturating_add(1))))
    }
}

/// What a child's drive ended with, and its state then (for its outcome
/// and captures).
pub(crate) struct Driven {
    pub(crate) exit: Exit,
    pub(crate) state: RunState,
}

/// Creates the child run, or resumes it if it exists, and drives it.
///
/// The future is boxed as `Send`: a child's drive runs nodes that may
/// start children, and the compiler can prove a recursive future `Send`
/// only where the recursion passes through a named type.
pub(crate) fn drive<'a>(
    journal: &'a Journal,
    procedure: &'a Procedure,
    parent: &'a Parent,
    id: RunId,
    inputs: HashMap<String, Value>,
    options: Options,
) -> Pin<Box<dyn Future<Output = Result<Driven, String>> + Send + 'a>> {
    Box::pin(drive_child(journal, procedure, parent, id, inputs, options))
}

async fn drive_child(
    journal: &Journal,
    procedure: &Procedure,
    parent: &Parent,
    id: RunId,
    inputs: HashMap<String, Value>,
    options: Options,
) -> Result<Driven, String> {
    let new = NewRun {
        runbook_id: procedure.runbook_id.clone(),
        title: procedure.title.clone(),
        entry: procedure.entry.clone(),
        sources: procedure.sources.clone(),
        inputs: crate::non_secret_json(&inputs),
        started_by: options.operator.clone(),
        host: options.host.clone(),
    };
    let created = {
        let id = id.clone();
        journal
            .call(move |s: &mut dyn Store| {
                s.create_run_as(&id, &new)?;
                Ok(s.events(&id)?.is_empty())
            })
            .await
            .map_err(|e| e.to_string())?
    };
    let exit = if created {
        start(journal, procedure, parent, &id, inputs, options).await?
    } else if let Some(exit) = ended(journal, procedure, &id).await? {
        exit
    } else {
        let request = Resume {
            current: procedure.sources.clone(),
            ..Resume::default()
        };
        match crate::resume_with(journal, id.clone(), request, &[], Some(inputs), options).await {
            Ok(exit) => exit,
            Err(ResumeError::Held(holder)) => {
                return Err(format!(
                    "the child run {id} is driven by process {} on {}",
                    holder.pid, holder.host
                ));
            }
            Err(ResumeError::Store(why) | ResumeError::Invalid(why)) => return Err(why),
            Err(ResumeError::Changed(nodes)) => {
                return Err(format!(
                    "the child run {id} changed: {}",
                    crate::changes::named(&nodes)
                ));
            }
        }
    };
    let state = replayed(journal, &id).await?;
    Ok(Driven { exit, state })
}

/// The child's first drive: locked, running, its parent named in its
/// `run_started` (and the child run it runs again), then driven as any
/// new run.
async fn start(
    journal: &Journal,
    procedure: &Procedure,
    parent: &Parent,
    id: &RunId,
    inputs: HashMap<String, Value>,
    options: Options,
) -> Result<Exit, String> {
    let holder = Holder::this_process(options.host.clone());
    let mut started = json!({
        "pid": std::process::id(),
        "operator": options.operator,
        "account": options.account,
        "parent": { "run": parent.run.as_str(), "node": parent.node },
    });
    if let Some(previous) = &parent.previous {
        started["previous"] = json!(previous.as_str());
    }
    let run = id.clone();
    journal
        .call(move |s: &mut dyn Store| {
            s.lock(&run, &holder)?;
            s.set_status(&run, "running", None)?;
            s.append(&run, state::kind::RUN_STARTED, &started)
        })
        .await
        .map_err(|e: JournalError| e.to_string())?;
    let plan = crate::expand::expand(
        &procedure.graph,
        &crate::list_values(&inputs, &RunState::new()),
    );
    let past = crate::history(journal, procedure, id).await;
    let started_by = options.operator.clone();
    let observer = Arc::clone(&options.observer);
    let exit = crate::runner::drive(
        procedure,
        journal.clone(),
        id.clone(),
        RunState::new(),
        plan,
        inputs,
        options,
        past,
        &started_by,
        std::collections::HashSet::new(),
    )
    .await;
    crate::finish(journal, id, &exit, &observer).await;
    Ok(exit)
}

/// How a child run that has already ended ended (a resume of the parent
/// after `rbx resume` or `rbx confirm` drove the child on its own).
async fn ended(
    journal: &Journal,
    procedure: &Procedure,
    id: &RunId,
) -> Result<Option<Exit>, String> {
    let state = replayed(journal, id).await?;
    Ok(match state.status {
        RunStatus::Ended { outcome } => {
            let success = procedure
                .graph
                .outcomes
                .get(&outcome)
                .is_none_or(|class| class.success);
            Some(Exit::Ended { outcome, success })
        }
        _ => None,
    })
}

async fn replayed(journal: &Journal, id: &RunId) -> Result<RunState, String> {
    let run = id.clone();
    let events = journal
        .call(move |s: &mut dyn Store| s.events(&run))
        .await
        .map_err(|e| e.to_string())?;
    Ok(crate::replay(&events))
}

/// Cancels the child runs a cancelled run was waiting in (rule D5): each
/// `child` node still running has its child run cancelled as `rbx cancel`
/// does — `run_cancelled` journalled, then the child resumed, which runs
/// its compensation and its clean-ups — before the parent's own.
pub(crate) async fn cancel_children(
    journal: &Journal,
    procedure: &Procedure,
    run: &RunId,
    state: &RunState,
    options: &Options,
) {
    for (node, history) in &state.history.nodes {
        let Some(child) = &history.child else {
            continue;
        };
        let running = state
            .nodes
            .get(node)
            .is_some_and(|n| n.status == state::Status::Running);
        let child_procedure =
            crate::runner::base_name(node).and_then(|name| procedure.children.get(&name).cloned());
        let (true, Some(child_procedure)) = (running, child_procedure) else {
            continue;
        };
        let id = RunId::new(child.clone());
        if let Err(why) = cancel_child(journal, &child_procedure, run, &id, options).await {
            options.observer.line(
                crate::Tone::Note,
                &format!("note: the child run {id} was not cancelled ({why}); `rbx cancel {id}`"),
            );
        }
    }
}

async fn cancel_child(
    journal: &Journal,
    procedure: &Procedure,
    parent: &RunId,
    id: &RunId,
    options: &Options,
) -> Result<(), String> {
    let state = replayed(journal, id).await?;
    if matches!(state.status, RunStatus::Ended { .. }) || state.history.first_at.is_none() {
        return Ok(());
    }
    let payload = json!({
        "reason": format!("its parent run {parent} was cancelled"),
        "operator": options.operator,
        "account": options.account,
    });
    let run = id.clone();
    journal
        .call(move |s: &mut dyn Store| s.append(&run, state::kind::RUN_CANCELLED, &payload))
        .await
        .map_err(|e| e.to_string())?;
    let request = Resume {
        current: procedure.sources.clone(),
        ..Resume::default()
    };
    resume_boxed(journal, id.clone(), request, options.clone())
        .await
        .map(|_| ())
        .map_err(|e| match e {
            ResumeError::Held(holder) => format!("driven by process {}", holder.pid),
            ResumeError::Store(why) | ResumeError::Invalid(why) => why,
            ResumeError::Changed(nodes) => format!("changed: {}", crate::changes::named(&nodes)),
        })
}

/// A child's resume for its cancel, boxed as `Send` for the reason
/// [`drive`] is. Its inputs are the ones it stored (secrets from the
/// environment, as `rbx resume` reads them).
fn resume_boxed<'a>(
    journal: &'a Journal,
    id: RunId,
    request: Resume,
    options: Options,
) -> Pin<Box<dyn Future<Output = Result<Exit, ResumeError>> + Send + 'a>> {
    Box::pin(async move { crate::resume_with(journal, id, request, &[], None, options).await })
}
