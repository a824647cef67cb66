//! Resuming a run whose lock this process holds: its procedure and state
//! read back, the files on disk compared with its snapshot, then what the
//! journal says is left to settle — a flow left, a cancel, a failure to
//! re-drive, `--from`, steps in doubt — before the run is driven on.

mod cancel;
mod in_doubt;
mod redrive;

use std::collections::HashMap;

use rbx_store::{RunId, RunSummary, Store};
use serde_json::json;

use crate::state::{self, Status};
use crate::value::Value;
use crate::{
    Exit, Journal, Options, Procedure, Resume, ResumeError, RunState, RunStatus, changes,
    checkpoint, cleanup, expand, people, readiness, runner,
};

/// A resume as asked, and the driver it took the run over from, if any.
pub(crate) struct Resumed {
    pub(crate) request: Resume,
    pub(crate) took_over: serde_json::Value,
    /// The inputs, when the caller has them: a child run's, which its
    /// parent gives (secrets included) rather than the store.
    pub(crate) inputs: Option<HashMap<String, Value>>,
}

/// A resume under way: the run, its journal and how it is driven.
pub(crate) struct Resuming<'a> {
    journal: &'a Journal,
    run: &'a RunId,
    options: &'a Options,
}

impl Resuming<'_> {
    /// Appends an event to the run's journal, with the OS account of whoever
    /// it names; its sequence number. The event is written at once and made
    /// durable by the next durable write, which comes before anything acts
    /// on it: a node's start before its command or question, the run's
    /// status when the resume stops (`finish`). So a resume's own events
    /// cost no flush of their own.
    async fn append(
        &self,
        kind: &'static str,
        mut payload: serde_json::Value,
    ) -> Result<u64, ResumeError> {
        people::with_account(&mut payload, &self.options.account);
        let run = self.run.clone();
        self.journal
            .call(move |s: &mut dyn Store| s.append_deferred(&run, kind, &payload))
            .await
            .map_err(|e| ResumeError::Store(e.to_string()))
    }
}

pub(crate) async fn resume_locked(
    journal: &Journal,
    run: &RunId,
    summary: &RunSummary,
    sources: Vec<(String, String)>,
    resumed: Resumed,
    sets: &[(String, String)],
    options: Options,
) -> Result<Exit, ResumeError> {
    let Resumed {
        request,
        took_over,
        inputs: given,
    } = resumed;
    let (procedure, mut state) = read(journal, run, summary, &sources, &options).await?;
    if matches!(state.status, RunStatus::Ended { .. }) {
        return Err(ResumeError::Invalid(format!(
            "the run `{run}` has already ended"
        )));
    }
    refuse_changes(&sources, &request, &state)?;
    let inputs = match given {
        Some(inputs) => inputs,
        None => crate::resolve_inputs(&procedure, sets, Some(&summary.inputs))
            .map_err(ResumeError::Invalid)?,
    };
    let plan = expand::expand(&procedure.graph, &crate::list_values(&inputs, &state));
    let r = Resuming {
        journal,
        run,
        options: &options,
    };
    let mut resumed =
        json!({ "pid": std::process::id(), "host": options.host, "operator": options.operator });
    if !took_over.is_null() {
        resumed["took_over"] = took_over;
    }
    r.append(state::kind::RUN_RESUMED, resumed).await?;
    if let Some(exit) =
        settle_before_driving(&r, &procedure, summary, &plan, &mut state, &request).await?
    {
        return Ok(exit);
    }
    let verify_first = match in_doubt::settle(&r, &procedure, &plan, &mut state).await? {
        Ok(verify_first) => verify_first,
        Err(exit) => return Ok(exit),
    };
    state.status = RunStatus::Running;
    let (id, status) = (run.clone(), "running");
    journal
        .call(move |s: &mut dyn Store| s.set_status_deferred(&id, status, None))
        .await
        .map_err(|e| ResumeError::Store(e.to_string()))?;
    let past = crate::history(journal, &procedure, run).await;
    Ok(runner::drive(
        &procedure,
        journal.clone(),
        run.clone(),
        state,
        plan,
        inputs,
        options,
        past,
        &summary.started_by,
        verify_first,
    )
    .await)
}

/// What the journal says is left to settle before the run is driven on, in
/// order: a flow left, a cancel, a failure to re-drive, `--from`. `Some`
/// when the run ended there.
async fn settle_before_driving(
    r: &Resuming<'_>,
    procedure: &Procedure,
    summary: &RunSummary,
    plan: &expand::Plan,
    state: &mut RunState,
    request: &Resume,
) -> Result<Option<Exit>, ResumeError> {
    record_lefts(r, plan, state).await?;
    if state.status == RunStatus::Cancelled {
        if let Some(exit) = cancel::carry_out(r, procedure, summary, plan, state).await? {
            return Ok(Some(exit));
        }
    }
    if let RunStatus::Failed { node } = &state.status {
        let node = node.clone();
        redrive::redrive(r, &procedure.graph, plan, state, &node).await?;
    }
    if let RunStatus::Paused { node } = &state.status {
        if state.nodes.get(node).is_none_or(|n| !n.status.settled()) {
            let node = node.clone();
            state.nodes.remove(&node);
        }
    }
    if let Some((from, reason)) = &request.from {
        rerun_from(r, plan, state, from, reason).await?;
    }
    Ok(None)
}

/// The run's procedure, from its snapshot (or the cache of checked
/// procedures), and its state, from its newest checkpoint and the events
/// after it. The store reads and verifies the journal while the snapshot
/// is checked on another thread: the two are independent and each is a
/// good part of a long run's resume.
async fn read(
    journal: &Journal,
    run: &RunId,
    summary: &RunSummary,
    sources: &[(String, String)],
    options: &Options,
) -> Result<(Procedure, RunState), ResumeError> {
    let (entry, snapshot) = (summary.entry.clone(), sources.to_vec());
    let recorded = summary.source_hash.clone();
    let cache = options.graph_cache.clone();
    let checking = tokio::task::spawn_blocking(move || {
        // The snapshot is what the run recorded, or nothing is driven.
        if rbx_store::hash_sources(&snapshot) != recorded {
            return Err(
                "the run's source snapshot does not match the hash it was recorded \
                        with; `rbx verify` says more"
                    .to_string(),
            );
        }
        match cache {
            Some(cache) => cache.procedure(&entry, snapshot, &recorded),
            None => crate::procedure_from_snapshot(&entry, snapshot),
        }
    });
    let id = run.clone();
    let reading = journal.call(move |s: &mut dyn Store| {
        // A record that was altered is not driven on: what it says
        // happened may not have. From a checkpoint, the store checks the
        // chain from it to the head; without one, the whole record.
        if let Some(state) = checkpoint::latest(s, &id)? {
            return Ok(state);
        }
        s.verify(&id)?;
        Ok(crate::replay(&s.events(&id)?))
    });
    let (checked, state) = tokio::join!(checking, reading);
    let state = state.map_err(|e| ResumeError::Invalid(e.to_string()))?;
    let procedure = checked
        .map_err(|e| ResumeError::Invalid(e.to_string()))?
        .map_err(ResumeError::Invalid)?;
    Ok((procedure, state))
}

/// Refuses a resume whose files changed since the run started, unless
/// `--allow-changed` and no changed node has an instance that succeeded or
/// was skipped; a failed one is what the change may be fixing.
fn refuse_changes(
    sources: &[(String, String)],
    request: &Resume,
    state: &RunState,
) -> Result<(), ResumeError> {
    let changed = changes::changes(sources, &request.current);
    if changed.is_empty() {
        return Ok(());
    }
    let finished = changed
        .iter()
        .filter_map(|c| c.node.as_deref())
        .any(|node| {
            state.nodes.iter().any(|(id, s)| {
                changes::written_as(id) == node
                    && matches!(s.status, Status::Succeeded | Status::Skipped)
            })
        });
    if !request.allow_changed || finished {
        return Err(ResumeError::Changed(changed));
    }
    Ok(())
}

/// A flow left by a settlement whose `flow_left` a crash kept from the
/// journal is recorded now, before anything reads what the run waits for
/// (rule L2).
async fn record_lefts(
    r: &Resuming<'_>,
    plan: &expand::Plan,
    state: &mut RunState,
) -> Result<(), ResumeError> {
    for (flow, node) in readiness::unrecorded_lefts(state, plan) {
        let seq = r
            .append(
                state::kind::FLOW_LEFT,
                json!({ "flow": flow, "node": node }),
            )
            .await?;
        state.left.insert(flow, state::Left { by: node, seq });
    }
    Ok(())
}

/// `--from STEP`: the step and every node reachable from it run again, and
/// a stage run again from inside cleans up again when it is left (rule
/// Y4).
async fn rerun_from(
    r: &Resuming<'_>,
    plan: &expand::Plan,
    state: &mut RunState,
    from: &str,
    reason: &str,
) -> Result<(), ResumeError> {
    let Some(&start) = plan.by_id.get(from) else {
        return Err(ResumeError::Invalid(format!(
            "there is no step `{from}` in this run"
        )));
    };
    let mut reset = descendants(plan, start);
    let cleanups = cleanup::reset_reentered(state, plan, &mut reset, |_| true);
    r.append(
        state::kind::RERUN_FROM,
        json!({
            "node": from, "reason": reason, "reset": reset, "cleanups": cleanups,
            "operator": r.options.operator,
        }),
    )
    .await?;
    for stage in &cleanups {
        state.cleanups.remove(stage);
    }
    // Reset as the journal's replay resets them: attempts are kept, so the
    // next attempt is numbered after the last and keeps its output.
    for id in &reset {
        if let Some(entry) = state.nodes.get_mut(id) {
            entry.reset(state::Again::From);
        }
        // A tick run again is due anew (rule V2), as the replay says.
        state.dues.remove(id);
    }
    // A flow left by a node run again is open again, as the replay says.
    state.left.retain(|_, left| !reset.contains(&left.by));
    Ok(())
}

fn descendants(plan: &expand::Plan, start: usize) -> Vec<String> {
    let mut seen = vec![false; plan.nodes.len()];
    let mut stack = vec![start];
    let mut out = Vec::new();
    while let Some(x) = stack.pop() {
        if std::mem::replace(&mut seen[x], true) {
            continue;
        }
        out.push(plan.nodes[x].id.clone());
        stack.extend(plan.outgoing[x].iter().map(|(to, _)| *to));
    }
    out
}
