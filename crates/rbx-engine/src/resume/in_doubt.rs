//! Steps that were running when the last driver stopped (rule S2): each is
//! run again, checked by its `verify` probe, recorded as done, or left for
//! the operator to decide.

use std::collections::HashSet;

use rbx_check::graph::NodeKind;
use rbx_syntax::ast::{Block, StmtKind};
use serde_json::json;

use super::Resuming;
use crate::state::{self, Status};
use crate::{Exit, InDoubt, Procedure, ResumeError, RunState, expand, people, process};

/// Settles every step in doubt. `Ok(Err(exit))` when the resume stops
/// there (a decision to ask for without a terminal, or an abort); else the
/// steps whose `verify` probe runs before them.
pub(super) async fn settle(
    r: &Resuming<'_>,
    procedure: &Procedure,
    plan: &expand::Plan,
    state: &mut RunState,
) -> Result<Result<HashSet<String>, Exit>, ResumeError> {
    let in_doubt: Vec<String> = state
        .nodes
        .iter()
        .filter(|(_, n)| n.status == Status::Running)
        .map(|(id, _)| id.clone())
        .collect();
    still_running(r, &in_doubt)?;
    let mut verify_first = HashSet::new();
    for id in in_doubt {
        let Some(&x) = plan.by_id.get(&id) else {
            continue;
        };
        let block = match &procedure.graph.graph[plan.nodes[x].check].kind {
            NodeKind::Block(block) => Some(block.as_ref()),
            _ => None,
        };
        let decision = decide(r, &id, block);
        if let Some(exit) = carry_out(r, state, &mut verify_first, id, decision).await? {
            return Ok(Err(exit));
        }
    }
    Ok(Ok(verify_first))
}

/// A step whose processes still run on this machine is not in doubt but
/// running: nothing may start it again while they live (rule S2).
fn still_running(r: &Resuming<'_>, in_doubt: &[String]) -> Result<(), ResumeError> {
    for id in in_doubt {
        let alive = process::marked(&process::marker(r.run.as_str(), id));
        if !alive.is_empty() {
            let pids: Vec<String> = alive
                .iter()
                .map(|(pid, cmd)| format!("{pid} ({cmd})"))
                .collect();
            return Err(ResumeError::Invalid(format!(
                "`{id}` is still running from the last drive: process {}; wait for it to end, \
                 or end it (`kill -TERM PID`), then resume",
                pids.join(", ")
            )));
        }
    }
    Ok(())
}

/// The step's own policy, else the operator's; on a terminal, the operator
/// says now what happened.
fn decide(r: &Resuming<'_>, id: &str, block: Option<&Block>) -> Decision {
    let decision = settle_in_doubt(block, r.options.in_doubt);
    if !matches!(decision, Decision::Ask) || !r.options.observer.can_ask() {
        return decision;
    }
    let prompt = format!(
        "{id} was running when rbx stopped and may or may not have taken \
         effect: rerun, skip (it happened) or abort"
    );
    let answer = people::ask_until(r.options.observer.as_ref(), &prompt, |answer| match answer
        .to_lowercase()
        .as_str()
    {
        "rerun" => Ok(Decision::Rerun("the operator chose to run it again".into())),
        "skip" => Ok(Decision::Done("the operator says it happened".into())),
        "abort" => Ok(Decision::Abort),
        _ => Err("answer rerun, skip or abort".to_string()),
    });
    // No answer can come (the input ended): stop, as without a terminal,
    // and let the next resume ask.
    answer.unwrap_or(Decision::Ask)
}

/// Journals the decision and applies it to the state; `Some` when the
/// resume stops there.
async fn carry_out(
    r: &Resuming<'_>,
    state: &mut RunState,
    verify_first: &mut HashSet<String>,
    id: String,
    decision: Decision,
) -> Result<Option<Exit>, ResumeError> {
    let attempt = state.nodes.get(&id).map_or(0, |n| n.attempts);
    match decision {
        Decision::VerifyFirst => {
            if let Some(entry) = state.nodes.get_mut(&id) {
                entry.status = Status::Pending;
                entry.rerun = true;
            }
            verify_first.insert(id);
        }
        Decision::Rerun(why) => {
            r.append(
                state::kind::IN_DOUBT,
                json!({ "node": id, "attempt": attempt, "decision": "rerun", "why": why }),
            )
            .await?;
            if let Some(entry) = state.nodes.get_mut(&id) {
                entry.status = Status::Pending;
                entry.rerun = true;
            }
        }
        Decision::Done(why) => happened(r, state, &id, attempt, &why).await?,
        Decision::Ask => return Ok(Some(Exit::NeedsDecision { node: id })),
        Decision::Abort => {
            r.append(
                state::kind::RUN_FAILED,
                json!({ "node": id, "reason": "in doubt; the operator aborted" }),
            )
            .await?;
            return Ok(Some(Exit::Failed {
                node: id,
                reason: "in doubt; aborted".to_string(),
            }));
        }
    }
    Ok(None)
}

/// A step in doubt whose effect happened: settled as done, as any finished
/// node is, so later expressions see it.
async fn happened(
    r: &Resuming<'_>,
    state: &mut RunState,
    id: &str,
    attempt: u32,
    why: &str,
) -> Result<(), ResumeError> {
    r.append(
        state::kind::IN_DOUBT,
        json!({ "node": id, "attempt": attempt, "decision": "done", "why": why }),
    )
    .await?;
    let seq = r
        .append(
            state::kind::NODE_FINISHED,
            json!({
                "node": id,
                "attempt": attempt,
                "status": "succeeded",
                "reason": why,
                "captures": {},
                "operator": r.options.operator,
                "host": r.options.host,
                "via": "resume",
            }),
        )
        .await?;
    if let Some(entry) = state.nodes.get_mut(id) {
        entry.status = Status::Succeeded;
        entry.finished_seq = Some(seq);
        entry.finished_at = Some(r.options.clock.now_ms());
    }
    Ok(())
}

enum Decision {
    Rerun(String),
    /// Run the step's verify probe first; run the step only if it fails.
    VerifyFirst,
    Done(String),
    Ask,
    Abort,
}

/// What to do with a step left in doubt: its own resume policy first,
/// then the operator's.
fn settle_in_doubt(block: Option<&Block>, policy: Option<InDoubt>) -> Decision {
    let Some(block) = block else {
        return Decision::Rerun("not a step: nothing to repeat".to_string());
    };
    // A child run is never started twice: its id is its parent's and its
    // node's, so running the node again resumes it where it stopped.
    if block.kind == rbx_syntax::ast::BlockKind::Child {
        return Decision::Rerun("a child run is resumed where it stopped".to_string());
    }
    // A wait only probes: probing again changes nothing.
    if block.kind == rbx_syntax::ast::BlockKind::Wait {
        return Decision::Rerun("a wait only probes; it is polled again".to_string());
    }
    if block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Idempotent))
    {
        return Decision::Rerun("idempotent".to_string());
    }
    // The probe runs in the runner, where captures and loop variables
    // have their values, before the step is run again.
    if block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Verify(_)))
    {
        return Decision::VerifyFirst;
    }
    match policy {
        Some(InDoubt::Rerun) => Decision::Rerun("the operator chose to run it again".to_string()),
        Some(InDoubt::Skip) => Decision::Done("the operator says it happened".to_string()),
        Some(InDoubt::Abort) => Decision::Abort,
        None => Decision::Ask,
    }
}
