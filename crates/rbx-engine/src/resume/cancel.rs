//! A cancelled run resumed to carry out its cancel (rules C1–C3, X5):
//! where it stopped, each node with an `on cancel` route is settled as
//! cancelled, which carries control down that route; everything else is
//! skipped. Without any such route the run ends cancelled, once its
//! clean-ups have run.

use rbx_store::{RunSummary, Store};
use serde_json::json;

use super::Resuming;
use crate::state::{self, Status};
use crate::{Exit, Procedure, ResumeError, RunState, child_run, cleanup, expand, readiness};

/// Carries out the cancel; `Some` when the run ended there.
pub(super) async fn carry_out(
    r: &Resuming<'_>,
    procedure: &Procedure,
    summary: &RunSummary,
    plan: &expand::Plan,
    state: &mut RunState,
) -> Result<Option<Exit>, ResumeError> {
    child_run::cancel_children(r.journal, procedure, r.run, state, r.options).await;
    let stopped_at = stopped_at(procedure, summary, plan, state);
    if stopped_at.is_empty() && state.finally.is_none() {
        if !cleans_up(plan, state) {
            return end(r).await.map(Some);
        }
        begin_clean_up(r, plan, state).await?;
    }
    skip_in_doubt(r, plan, state, &stopped_at).await?;
    for x in stopped_at {
        cancel_node(r, state, plan.nodes[x].id.clone()).await?;
    }
    Ok(None)
}

/// Where the run stopped: the nodes it would run next, or was running,
/// that have an `on cancel` route (rules R1, R2, C2) — never a node control
/// does not reach. Once the clean-up began, a cancel stops only the
/// waiting for people in it (rule X5): the clean-up's steps run on.
fn stopped_at(
    procedure: &Procedure,
    summary: &RunSummary,
    plan: &expand::Plan,
    state: &RunState,
) -> Vec<usize> {
    if state.finally.is_some() {
        return cleanup::waited_for(procedure, &summary.inputs, state, plan);
    }
    readiness::next(state, plan)
        .into_iter()
        .filter(|&x| {
            plan.outgoing[x]
                .iter()
                .any(|(_, link)| *link == expand::Link::Route(rbx_check::graph::EdgeKind::Cancel))
        })
        .collect()
}

/// Whether the run has a clean-up to run before it ends: the runbook's, a
/// stage's not run yet, or a stage's that failed before the cancel, which
/// fails the run at its end (rules Y3, X3) as one failing after it would.
fn cleans_up(plan: &expand::Plan, state: &RunState) -> bool {
    plan.finally.is_some()
        || !cleanup::pending(state, plan).is_empty()
        || !crate::runner::finally::failures(plan, state).is_empty()
}

/// Ends the run cancelled, and its status with it in one transaction
/// (rule E4).
async fn end(r: &Resuming<'_>) -> Result<Exit, ResumeError> {
    let id = r.run.clone();
    r.journal
        .call(move |s: &mut dyn Store| {
            let payload = json!({ "outcome": "cancelled", "success": false });
            s.append_stopping(
                &id,
                state::kind::RUN_ENDED,
                &payload,
                "ended:cancelled",
                None,
            )
        })
        .await
        .map_err(|e| ResumeError::Store(e.to_string()))?;
    Ok(Exit::Ended {
        outcome: "cancelled".to_string(),
        success: false,
    })
}

/// The run ends cancelled once its clean-ups have run (rules X1, Y3): what
/// was in doubt is cancelled, nothing else starts, and the clean-ups
/// begin.
async fn begin_clean_up(
    r: &Resuming<'_>,
    plan: &expand::Plan,
    state: &mut RunState,
) -> Result<(), ResumeError> {
    for x in readiness::next(state, plan) {
        let id = plan.nodes[x].id.clone();
        // A clean-up in doubt is not cancelled: it is the clean-up the
        // cancel asks for, and runs on by the in-doubt rules.
        let cleaning = rbx_check::symbols::is_cleanup(&plan.nodes[x].flow);
        if readiness::status_of(state, &id) == Status::Running && !cleaning {
            cancel_node(r, state, id).await?;
        }
    }
    let payload = json!({ "outcome": "cancelled", "success": false });
    r.append(state::kind::FINALLY_STARTED, payload.clone())
        .await?;
    state.finally = Some(payload);
    for s in cleanup::pending(state, plan) {
        if cleanup::begun(state, plan, s) {
            continue;
        }
        let stage = plan.nodes[s].id.clone();
        r.append(
            state::kind::CLEANUP_STARTED,
            json!({ "stage": stage, "at_end": true }),
        )
        .await?;
        state.cleanups.insert(stage, true);
    }
    Ok(())
}

/// A step in doubt where it stopped with no `on cancel` route is skipped,
/// undecided: the cancel settles where the run goes, and no in-doubt
/// decision is asked for or recorded for it (rule S2).
async fn skip_in_doubt(
    r: &Resuming<'_>,
    plan: &expand::Plan,
    state: &mut RunState,
    stopped_at: &[usize],
) -> Result<(), ResumeError> {
    if state.finally.is_some() {
        return Ok(());
    }
    let in_doubt: Vec<usize> = readiness::next(state, plan)
        .into_iter()
        .filter(|x| !stopped_at.contains(x))
        .filter(|&x| readiness::status_of(state, &plan.nodes[x].id) == Status::Running)
        .collect();
    for x in in_doubt {
        let id = plan.nodes[x].id.clone();
        let seq = r
            .append(state::kind::NODE_SKIPPED, json!({ "node": id }))
            .await?;
        let entry = state.nodes.entry(id).or_default();
        entry.status = Status::Skipped;
        entry.finished_seq = Some(seq);
    }
    Ok(())
}

/// Settles a node as cancelled by the operator.
async fn cancel_node(
    r: &Resuming<'_>,
    state: &mut RunState,
    id: String,
) -> Result<(), ResumeError> {
    let reason = "cancelled by the operator";
    let payload = json!({
        "node": id, "status": "cancelled", "reason": reason,
        "captures": {}, "operator": r.options.operator,
    });
    let seq = r.append(state::kind::NODE_FINISHED, payload).await?;
    let entry = state.nodes.entry(id).or_default();
    entry.status = Status::Cancelled;
    entry.reason = Some(reason.to_string());
    entry.finished_seq = Some(seq);
    Ok(())
}
