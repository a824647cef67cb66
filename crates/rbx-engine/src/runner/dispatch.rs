//! The dispatcher: readiness, joins and skips, and how a run stops.

use std::collections::HashMap;
use std::sync::Arc;

use rbx_check::graph::{EdgeKind, NodeKind};
use rbx_store::{RunId, Store};
use rbx_syntax::ast::HookEvent;
use serde_json::json;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::expand::{Link, Plan};
use crate::journal::Journal;
use crate::state::{RunState, Status, kind};
use crate::value::Value;
use crate::{Exit, Options, Procedure};

use super::env::View;
use super::hooks::{budget, hook};
use super::node::execute;
use super::{Done, Shared};

/// Drives the run until it ends, fails, pauses or is interrupted.
#[expect(
    clippy::too_many_arguments,
    reason = "two call sites; a struct would only rename them"
)]
pub async fn drive(
    procedure: &Procedure,
    journal: Journal,
    run: RunId,
    mut state: RunState,
    plan: Plan,
    inputs: HashMap<String, Value>,
    options: Options,
    history: Vec<crate::Past>,
    started_by: &str,
    verify_first: std::collections::HashSet<String>,
) -> Exit {
    let (cancel_tx, cancel) = watch::channel(false);
    // Ctrl-C, a dropped SSH session (SIGHUP) and a polite kill (SIGTERM)
    // all stop the run the same way: the steps' groups are ended and the
    // run is left resumable.
    let interrupt = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut hangup), Ok(mut terminate)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            let _ = cancel_tx.send(true);
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = hangup.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = cancel_tx.send(true);
    });
    let shared = Arc::new(Shared {
        journal,
        run,
        graph: Arc::clone(&procedure.graph),
        options,
        inputs,
        roles_filled: procedure.roles_filled.clone(),
        links_set: procedure.links_set.clone(),
        cancel: cancel.clone(),
        person: Mutex::new(()),
        history,
        hooks: procedure.hooks.clone(),
        runbook_id: procedure.runbook_id.clone(),
        started_by: started_by.to_string(),
        verify_first,
        stage_started: std::sync::Mutex::new(
            state
                .nodes
                .iter()
                .filter_map(|(id, n)| Some((id.clone(), n.finished_at?)))
                .collect(),
        ),
    });
    let exit = dispatch(&shared, &plan, &mut state, cancel).await;
    interrupt.abort();
    exit
}

pub(crate) async fn dispatch(
    shared: &Arc<Shared>,
    plan: &Plan,
    state: &mut RunState,
    cancel: watch::Receiver<bool>,
) -> Exit {
    let mut running: JoinSet<(usize, Done)> = JoinSet::new();
    let mut paused: Option<(String, String)> = None;
    let mut waiting_until: Option<(String, i64)> = None;
    let mut ended: Option<String> = None;
    let mut overrun_reported: std::collections::HashSet<String> = std::collections::HashSet::new();
    // How many predecessors of each node have not settled yet, and the
    // nodes whose predecessors all have: readiness is tracked incrementally,
    // so a run costs the same per step however long it is.
    let settled_now = |state: &RunState, x: usize| status_of(state, &plan.nodes[x].id).settled();
    let mut waiting: Vec<usize> = (0..plan.nodes.len())
        .map(|x| {
            plan.incoming[x]
                .iter()
                .filter(|(from, _)| !settled_now(state, *from))
                .count()
        })
        .collect();
    let mut candidates: std::collections::BTreeSet<usize> = (0..plan.nodes.len())
        .filter(|&x| waiting[x] == 0 && status_of(state, &plan.nodes[x].id) == Status::Pending)
        .collect();
    let mut ready: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    // A node recorded as failed with nowhere to route its failure (a person
    // rejected it with `rbx confirm --reject`) fails the run as if it had
    // just failed; the next resume asks again.
    let mut failed: Option<String> = plan
        .nodes
        .iter()
        .enumerate()
        .find(|(x, n)| status_of(state, &n.id) == Status::Failed && !has_failure_route(plan, *x))
        .map(|(_, n)| n.id.clone());
    loop {
        if *cancel.borrow() {
            while running.join_next().await.is_some() {}
            let _ = shared
                .journal
                .call({
                    let run = shared.run.clone();
                    move |s: &mut dyn Store| s.append(&run, kind::RUN_INTERRUPTED, &json!({}))
                })
                .await;
            return Exit::Interrupted;
        }
        if ended.is_none() && failed.is_none() && paused.is_none() && waiting_until.is_none() {
            // Skips settle at once and may make more nodes candidates.
            while let Some(x) = candidates.pop_first() {
                let xnode = &plan.nodes[x];
                let active = Some(x) == plan.start
                    || plan.incoming[x]
                        .iter()
                        .any(|(from, link)| active_edge(state, plan, *from, link));
                if !active {
                    if let Err(e) = skip(shared, state, &xnode.id).await {
                        return Exit::Broken(e);
                    }
                    release(plan, x, &mut waiting, &mut candidates);
                    continue;
                }
                if let NodeKind::End { outcome } = &shared.graph.graph[xnode.check].kind {
                    ended = Some(outcome.clone());
                    break;
                }
                ready.push_back(x);
            }
            while ended.is_none() && running.len() < shared.options.jobs.max(1) {
                let Some(x) = ready.pop_front() else { break };
                let task_shared = Arc::clone(shared);
                let node = plan.nodes[x].clone();
                let view = View::of(state, plan, &node, &shared.graph);
                let attempts = state.nodes.get(&node.id).map_or(0, |n| n.attempts);
                running.spawn(async move {
                    let done = execute(&task_shared, &node, view, attempts).await;
                    (x, done)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let Ok((x, done)) = joined else { continue };
        let id = plan.nodes[x].id.clone();
        match done {
            Done::Settled(node_state) => {
                let failed_here = node_state.status == Status::Failed;
                if failed_here {
                    let reason = node_state.reason.clone().unwrap_or_default();
                    hook(
                        shared,
                        HookEvent::Failure,
                        &[("RBX_STEP", &id), ("RBX_REASON", &reason)],
                    )
                    .await;
                }
                state.nodes.insert(id.clone(), node_state);
                if let Err(e) = budget(shared, plan, state, x, &mut overrun_reported).await {
                    return Exit::Broken(e);
                }
                if failed_here && !has_failure_route(plan, x) && failed.is_none() {
                    failed = Some(id);
                } else {
                    release(plan, x, &mut waiting, &mut candidates);
                }
            }
            Done::Paused(hint) => paused = Some((id, hint)),
            Done::Waiting(due) => waiting_until = Some((id, due)),
            Done::Interrupted => {}
            Done::Broken(e) => return Exit::Broken(e),
        }
    }
    let append = |kind: &'static str, payload: serde_json::Value| {
        let run = shared.run.clone();
        shared
            .journal
            .call(move |s: &mut dyn Store| s.append(&run, kind, &payload))
    };
    if let Some(outcome) = ended {
        let recorded = append(kind::RUN_ENDED, json!({ "outcome": outcome })).await;
        hook(shared, HookEvent::End, &[("RBX_OUTCOME", &outcome)]).await;
        return match recorded {
            Ok(_) => Exit::Ended(outcome),
            Err(e) => Exit::Broken(e.to_string()),
        };
    }
    if let Some(node) = failed {
        let reason = state
            .nodes
            .get(&node)
            .and_then(|n| n.reason.clone())
            .unwrap_or_default();
        let recorded = append(kind::RUN_FAILED, json!({ "node": node, "reason": reason })).await;
        hook(
            shared,
            HookEvent::End,
            &[("RBX_OUTCOME", "failed"), ("RBX_STEP", &node)],
        )
        .await;
        return match recorded {
            Ok(_) => Exit::Failed { node, reason },
            Err(e) => Exit::Broken(e.to_string()),
        };
    }
    if let Some((node, hint)) = paused {
        let recorded = append(kind::RUN_PAUSED, json!({ "node": node, "needs": hint })).await;
        hook(shared, HookEvent::Pause, &[("RBX_STEP", &node)]).await;
        return match recorded {
            Ok(_) => Exit::Paused { node, hint },
            Err(e) => Exit::Broken(e.to_string()),
        };
    }
    if let Some((node, due)) = waiting_until {
        let recorded = append(kind::RUN_WAITING, json!({ "node": node, "due": due })).await;
        return match recorded {
            Ok(_) => Exit::Waiting { node, due },
            Err(e) => Exit::Broken(e.to_string()),
        };
    }
    if *cancel.borrow() {
        let _ = append(kind::RUN_INTERRUPTED, json!({})).await;
        return Exit::Interrupted;
    }
    let stuck: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| status_of(state, &n.id) == Status::Pending)
        .map(|n| n.id.clone())
        .collect();
    Exit::Broken(format!(
        "the run stopped without an outcome; nothing could run next (pending: {})",
        stuck.join(", ")
    ))
}

/// A node settled: its successors have one predecessor fewer to wait for.
pub(crate) fn release(
    plan: &Plan,
    x: usize,
    waiting: &mut [usize],
    candidates: &mut std::collections::BTreeSet<usize>,
) {
    for (to, _) in &plan.outgoing[x] {
        waiting[*to] = waiting[*to].saturating_sub(1);
        if waiting[*to] == 0 {
            candidates.insert(*to);
        }
    }
}

pub(crate) fn status_of(state: &RunState, id: &str) -> Status {
    state.nodes.get(id).map_or(Status::Pending, |n| n.status)
}

pub(crate) fn has_failure_route(plan: &Plan, x: usize) -> bool {
    plan.outgoing[x]
        .iter()
        .any(|(_, link)| *link == Link::Flow(EdgeKind::Failure))
}

/// Whether an edge from a settled node carries control.
pub(crate) fn active_edge(state: &RunState, plan: &Plan, from: usize, link: &Link) -> bool {
    let Some(source) = state.nodes.get(&plan.nodes[from].id) else {
        return false;
    };
    match link {
        Link::Order => false,
        Link::Flow(EdgeKind::Next) => source.status == Status::Succeeded,
        Link::Flow(EdgeKind::Failure) => source.status == Status::Failed,
        Link::Flow(EdgeKind::Cancel) => source.status == Status::Cancelled,
        Link::Flow(EdgeKind::Branch(label)) => {
            source.status == Status::Succeeded && source.branch.as_deref() == Some(label)
        }
    }
}

pub(crate) async fn skip(shared: &Shared, state: &mut RunState, id: &str) -> Result<(), String> {
    let run = shared.run.clone();
    let payload = json!({ "node": id });
    shared
        .journal
        .call(move |s: &mut dyn Store| s.append(&run, kind::NODE_SKIPPED, &payload))
        .await
        .map_err(|e| e.to_string())?;
    state.nodes.entry(id.to_string()).or_default().status = Status::Skipped;
    Ok(())
}
