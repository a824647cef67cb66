//! The executor: one dispatcher that walks the run's graph, launching each
//! node once every predecessor has settled, journal first.
//!
//! Every node's start is durable before its command is spawned and its end
//! before any successor starts: the tasks that run nodes write both events
//! themselves, and the dispatcher only looks at successors once a task has
//! returned. A branch not taken settles as skipped, and skipping propagates,
//! so joins after alternative branches work.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rbx_check::graph::{EdgeKind, Graph, NodeKind};
use rbx_store::{RunId, Store};
use rbx_syntax::ast::{
    BackoffKind, Block, BlockKind, EvidenceType, Expr, HookEvent, Require, StmtKind, Text, TextPart,
};
use serde_json::json;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::expand::{Link, Plan};
use crate::journal::Journal;
use crate::observer::Tone;
use crate::process::{self, Spec, cancelled_signal};
use crate::state::{self, NodeState, RunState, Status, kind};
use crate::value::{self, Env, Value};
use crate::{Exit, Options, Procedure, people, shell};

/// Everything a node task needs, shared.
struct Shared {
    journal: Journal,
    run: RunId,
    graph: Arc<Graph>,
    options: Options,
    inputs: HashMap<String, Value>,
    roles_filled: HashMap<String, bool>,
    links_set: HashMap<String, bool>,
    cancel: watch::Receiver<bool>,
    /// Only one prompt to a person at a time.
    person: Mutex<()>,
    /// Past runs of the same runbook for `count()`.
    history: Vec<crate::Past>,
    hooks: Vec<(HookEvent, Text)>,
    runbook_id: String,
    /// Who started the run, for `no self-approval`.
    started_by: String,
    /// Steps left in doubt whose verify probe decides whether they run.
    verify_first: std::collections::HashSet<String>,
    /// When each stage instance started, for "elapsed / budget".
    stage_started: std::sync::Mutex<HashMap<String, i64>>,
}

/// What a node task reports back to the dispatcher.
enum Done {
    Settled(NodeState),
    /// A person is needed and there is no terminal: the run pauses. The
    /// text says how to give what is needed (`rbx confirm` flags).
    Paused(String),
    /// The node was interrupted; it stays in doubt.
    Interrupted,
    /// The node waits for a time too far off to sit through: the run stops
    /// and is due again then (milliseconds since the epoch).
    Waiting(i64),
    /// The journal could not be written: stop at once.
    Broken(String),
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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

async fn dispatch(
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
fn release(
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

fn status_of(state: &RunState, id: &str) -> Status {
    state.nodes.get(id).map_or(Status::Pending, |n| n.status)
}

fn has_failure_route(plan: &Plan, x: usize) -> bool {
    plan.outgoing[x]
        .iter()
        .any(|(_, link)| *link == Link::Flow(EdgeKind::Failure))
}

/// Whether an edge from a settled node carries control.
fn active_edge(state: &RunState, plan: &Plan, from: usize, link: &Link) -> bool {
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

async fn skip(shared: &Shared, state: &mut RunState, id: &str) -> Result<(), String> {
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

/// What is known of one finished node: status, captures, the branch it
/// took, and when it finished.
type Seen = (Status, BTreeMap<String, Value>, Option<String>, Option<i64>);

/// What a node can read of the run so far: finished nodes' captures,
/// statuses and branches, by checked node id.
#[derive(Clone, Default)]
pub struct View {
    /// Block id → fields, from the most relevant finished instance.
    fields: HashMap<String, Seen>,
    items: Vec<(String, Value)>,
}

impl View {
    /// What `node` can read: for each name its block mentions, the most
    /// relevant finished instance — one in the same loop items first, then
    /// the latest.
    fn of(state: &RunState, plan: &Plan, node: &crate::expand::XNode, graph: &Graph) -> View {
        let wanted = mentioned(graph, node.check);
        let mut best: HashMap<String, (u64, bool, &NodeState)> = HashMap::new();
        for name in &wanted {
            for &other in plan
                .by_name
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let other = &plan.nodes[other];
                let Some(ns) = state.nodes.get(&other.id) else {
                    continue;
                };
                let Some(seq) = ns.finished_seq else { continue };
                let same_items =
                    other.items == node.items[..other.items.len().min(node.items.len())];
                let better = match best.get(name) {
                    None => true,
                    Some((s, same, _)) => (same_items, seq) > (*same, *s),
                };
                if better {
                    best.insert(name.clone(), (seq, same_items, ns));
                }
            }
        }
        View {
            fields: best
                .into_iter()
                .map(|(name, (_, _, ns))| {
                    (
                        name,
                        (
                            ns.status,
                            ns.captures.clone(),
                            ns.branch.clone(),
                            ns.finished_at,
                        ),
                    )
                })
                .collect(),
            items: node.items.clone(),
        }
    }
}

/// The first segment of every path a node's statements mention.
fn mentioned(
    graph: &Graph,
    index: petgraph::graph::NodeIndex,
) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    match &graph.graph[index].kind {
        NodeKind::StageStart { requires, .. } => {
            for require in requires {
                if let Require::Expr(e) = require {
                    collect_paths(e, &mut names);
                }
            }
        }
        NodeKind::Block(block) => {
            for stmt in &block.body {
                match &stmt.kind {
                    StmtKind::Require(Require::Expr(e))
                    | StmtKind::When { condition: e, .. }
                    | StmtKind::Until(e) => collect_paths(e, &mut names),
                    StmtKind::Run(t) | StmtKind::Verify(t) | StmtKind::Instructions(t) => {
                        for path in t.interpolations() {
                            if let Some(head) = path.segments.first() {
                                names.insert(head.name.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        NodeKind::Anchor(_) | NodeKind::End { .. } => {}
    }
    names
}

fn collect_paths(e: &Expr, names: &mut std::collections::HashSet<String>) {
    use rbx_syntax::ast::ExprKind;
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => {
            items.iter().for_each(|i| collect_paths(i, names))
        }
        ExprKind::Not(inner) | ExprKind::Paren(inner) => collect_paths(inner, names),
        ExprKind::Compare { lhs, rhs, .. } => {
            collect_paths(lhs, names);
            collect_paths(rhs, names);
        }
        ExprKind::Sum { first, rest } => {
            collect_paths(first, names);
            rest.iter().for_each(|(_, r)| collect_paths(r, names));
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_paths(a, names)),
        ExprKind::Path(path) => {
            if let Some(head) = path.segments.first() {
                names.insert(head.name.clone());
            }
        }
        ExprKind::String(t) => {
            for path in t.interpolations() {
                if let Some(head) = path.segments.first() {
                    names.insert(head.name.clone());
                }
            }
        }
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Regex(_) => {}
    }
}

/// `smoke#2.version[web-1]` → `version`.
pub fn base_name(id: &str) -> Option<String> {
    let without_items = id.split('[').next()?;
    let name = without_items.rsplit('.').next()?;
    Some(name.to_string())
}

struct NodeEnv<'a> {
    shared: &'a Shared,
    view: &'a View,
    /// What `count()` found while evaluating: (the rule, the runs that
    /// matched), so the operator and the record see the runs behind it.
    counted: std::sync::Mutex<Vec<(String, Vec<String>)>>,
    /// A past run's inputs, when evaluating a rule against that run.
    inputs: Option<&'a HashMap<String, Value>>,
}

impl Env for NodeEnv<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        let head = *path.first()?;
        if let Some((_, v)) = self.view.items.iter().rev().find(|(var, _)| var == head) {
            return Some(v.clone());
        }
        if let Some(v) = self.inputs.unwrap_or(&self.shared.inputs).get(head) {
            return Some(v.clone());
        }
        let (status, captures, branch, finished_at) = self.view.fields.get(head)?;
        match path.get(1) {
            None => branch
                .clone()
                .map(Value::Name)
                .or_else(|| finished_at.map(Value::Timestamp)),
            Some(&"status") => Some(Value::Name(status.as_str().to_string())),
            Some(field) => captures.get(*field).cloned(),
        }
    }

    fn role_filled(&self, role: &str) -> bool {
        self.shared.roles_filled.get(role).copied().unwrap_or(false)
    }

    fn link_set(&self, link: &str) -> bool {
        self.shared.links_set.get(link).copied().unwrap_or(false)
    }

    fn count(&self, condition: &Expr, window: u64) -> Result<i64, String> {
        let since = now_ms().saturating_sub(i64::try_from(window).unwrap_or(i64::MAX));
        let mut matched = Vec::new();
        for crate::Past {
            started,
            run,
            state: past,
            inputs,
        } in &self.shared.history
        {
            if *started < since {
                continue;
            }
            let view = View {
                fields: past
                    .nodes
                    .iter()
                    .filter_map(|(id, ns)| {
                        Some((
                            base_name(id)?,
                            (
                                ns.status,
                                ns.captures.clone(),
                                ns.branch.clone(),
                                ns.finished_at,
                            ),
                        ))
                    })
                    .collect(),
                items: Vec::new(),
            };
            let env = NodeEnv {
                shared: self.shared,
                view: &view,
                counted: std::sync::Mutex::default(),
                inputs: Some(inputs),
            };
            if value::truth(condition, &env).unwrap_or(false) {
                matched.push(run.clone());
            }
        }
        // The run asking counts too, as the rule reads: "2+ in 24h".
        if value::truth(condition, self).unwrap_or(false) {
            matched.push(self.shared.run.to_string());
        }
        let count = i64::try_from(matched.len()).unwrap_or(i64::MAX);
        let rule = format!(
            "count({}, {})",
            rbx_syntax::fmt::expr(condition),
            rbx_syntax::fmt::duration(window)
        );
        if let Ok(mut counted) = self.counted.lock() {
            counted.push((rule, matched));
        }
        Ok(count)
    }
}

/// A command with its interpolations resolved: the text to run, the text
/// to show and record (secrets masked), and secret values passed in the
/// environment rather than on the command line.
struct Rendered {
    run: String,
    shown: String,
    env: Vec<(String, String)>,
}

fn render(text: &Text, env: &NodeEnv<'_>) -> Result<Rendered, String> {
    let mut rendered = Rendered {
        run: String::new(),
        shown: String::new(),
        env: Vec::new(),
    };
    for part in &text.parts {
        match part {
            TextPart::Literal(literal) => {
                rendered.run.push_str(literal);
                rendered.shown.push_str(literal);
            }
            TextPart::Interpolation(path) => {
                let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
                let value = env
                    .lookup(&names)
                    .ok_or_else(|| format!("`{}` has no value yet", path.dotted()))?;
                match value {
                    Value::Secret(secret) => {
                        let var = format!(
                            "RBX_SECRET_{}",
                            path.dotted().to_uppercase().replace('.', "_")
                        );
                        rendered.run.push_str(&format!("\"${{{var}}}\""));
                        rendered.shown.push_str(&shell::quote(value::MASK));
                        rendered.env.push((var, secret));
                    }
                    other => {
                        let quoted = shell::words(&other);
                        rendered.run.push_str(&quoted);
                        rendered.shown.push_str(&quoted);
                    }
                }
            }
        }
    }
    Ok(rendered)
}

async fn record(
    shared: &Shared,
    kind: &'static str,
    payload: serde_json::Value,
) -> Result<u64, String> {
    let run = shared.run.clone();
    shared
        .journal
        .call(move |s: &mut dyn Store| s.append(&run, kind, &payload))
        .await
        .map_err(|e| e.to_string())
}

async fn finish(
    shared: &Shared,
    id: &str,
    attempt: u32,
    mut node: NodeState,
    extra: serde_json::Value,
) -> Done {
    let mut payload = json!({
        "node": id,
        "attempt": attempt,
        "status": node.status.as_str(),
        "captures": state::captures_json(&node.captures),
    });
    if let (Some(obj), Some(more)) = (payload.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    if let Some(branch) = &node.branch {
        payload["branch"] = json!(branch);
    }
    if let Some(reason) = &node.reason {
        payload["reason"] = json!(reason);
    }
    if let Some(ms) = node.duration_ms {
        payload["duration_ms"] = json!(ms);
    }
    match record(shared, kind::NODE_FINISHED, payload).await {
        Ok(seq) => {
            node.attempts = attempt;
            node.finished_seq = Some(seq);
            node.finished_at = Some(now_ms());
            Done::Settled(node)
        }
        Err(e) => Done::Broken(e),
    }
}

fn settled(status: Status, reason: Option<String>) -> NodeState {
    NodeState {
        status,
        reason,
        ..NodeState::default()
    }
}

async fn execute(shared: &Shared, node: &crate::expand::XNode, view: View, attempts: u32) -> Done {
    let env = NodeEnv {
        shared,
        view: &view,
        counted: std::sync::Mutex::default(),
        inputs: None,
    };
    let check = &shared.graph.graph[node.check];
    match &check.kind {
        NodeKind::StageStart { requires, .. } => {
            if let Ok(mut started) = shared.stage_started.lock() {
                started.insert(node.id.clone(), now_ms());
            }
            if let Ok(mut started) = shared.stage_started.lock() {
                started.insert(node.id.clone(), now_ms());
            }
            let state = match requirements(requires, &env) {
                Ok(()) => settled(Status::Succeeded, None),
                Err(why) => settled(Status::Failed, Some(why)),
            };
            finish(shared, &node.id, 0, state, json!({})).await
        }
        NodeKind::Anchor(_) => {
            let mut state = settled(Status::Succeeded, None);
            state
                .captures
                .insert("time".to_string(), Value::Timestamp(now_ms()));
            finish(shared, &node.id, 0, state, json!({})).await
        }
        NodeKind::End { .. } => {
            finish(
                shared,
                &node.id,
                0,
                settled(Status::Succeeded, None),
                json!({}),
            )
            .await
        }
        NodeKind::Block(block) => {
            let requires: Vec<Require> = block
                .body
                .iter()
                .filter_map(|s| match &s.kind {
                    StmtKind::Require(r) => Some(r.clone()),
                    _ => None,
                })
                .collect();
            if let Err(why) = requirements(&requires, &env) {
                return fail(shared, &node.id, attempts, why).await;
            }
            match block.kind {
                BlockKind::Step => step(shared, node, block, &env, attempts).await,
                BlockKind::Wait => wait(shared, node, block, &env, attempts).await,
                BlockKind::Decide => decide(shared, node, block, &env).await,
                // A gate of `require` lines alone is checked by rbx, above;
                // one with `attest` lines waits for people.
                BlockKind::Gate
                    if !block
                        .body
                        .iter()
                        .any(|s| matches!(s.kind, StmtKind::Attest { .. })) =>
                {
                    finish(
                        shared,
                        &node.id,
                        attempts,
                        settled(Status::Succeeded, None),
                        json!({}),
                    )
                    .await
                }
                BlockKind::Manual | BlockKind::Choose | BlockKind::Gate | BlockKind::Signoff => {
                    person(shared, node, block, &env).await
                }
            }
        }
    }
}

fn requirements(requires: &[Require], env: &NodeEnv<'_>) -> Result<(), String> {
    for require in requires {
        match require {
            Require::Role(role) if !env.role_filled(&role.name) => {
                return Err(format!("the role `{}` is not filled", role.name));
            }
            Require::Link(link) if !env.link_set(&link.name) => {
                return Err(format!("the link `{}` is not set", link.name));
            }
            Require::Expr(expr) if !value::truth(expr, env)? => {
                return Err(format!("`{}` does not hold", rbx_syntax::fmt::expr(expr)));
            }
            _ => {}
        }
    }
    Ok(())
}

fn text_of(block: &Block, pick: fn(&StmtKind) -> Option<&Text>) -> Option<&Text> {
    block.body.iter().find_map(|s| pick(&s.kind))
}

fn timeout_of(block: &Block) -> Option<Duration> {
    block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Timeout(d) => Some(Duration::from_millis(d.millis)),
        _ => None,
    })
}

/// The node's `run` command rendered; `Err` with the node settled when it
/// has none (nothing to do) or a value it needs is missing.
async fn command(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempt: u32,
) -> Result<Rendered, Done> {
    let Some(text) = text_of(block, |k| match k {
        StmtKind::Run(t) => Some(t),
        _ => None,
    }) else {
        let done = settled(Status::Succeeded, None);
        return Err(finish(shared, &node.id, attempt, done, json!({})).await);
    };
    match render(text, env) {
        Ok(rendered) => Ok(rendered),
        Err(why) => Err(fail(shared, &node.id, attempt, why).await),
    }
}

/// Settles a node as failed for `why`.
async fn fail(shared: &Shared, id: &str, attempt: u32, why: String) -> Done {
    finish(
        shared,
        id,
        attempt,
        settled(Status::Failed, Some(why)),
        json!({}),
    )
    .await
}

/// Forwards a command's output to the observer as it arrives (its secrets
/// already masked).
fn live(observer: Arc<dyn crate::Observer>) -> process::Live {
    Arc::new(move |stream, bytes| observer.output(stream, bytes))
}

async fn step(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    previous: u32,
) -> Done {
    let rendered = match command(shared, node, block, env, previous).await {
        Ok(rendered) => rendered,
        Err(done) => return done,
    };
    let (retries, backoff, exponential) = block
        .body
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Retry(retry) => Some((
                u32::try_from(retry.count.value).unwrap_or(0),
                retry.backoff.as_ref().map_or(0, |b| b.delay.millis),
                retry
                    .backoff
                    .as_ref()
                    .is_none_or(|b| b.kind != Some(BackoffKind::Fixed)),
            )),
            _ => None,
        })
        .unwrap_or((0, 0, true));
    let spec = Spec {
        command: rendered.run.clone(),
        env: rendered.env.clone(),
        timeout: timeout_of(block),
        secrets: rendered.env.iter().map(|(_, v)| v.clone()).collect(),
        whole: crate::expect::judged(block),
    };
    if shared.verify_first.contains(&node.id) {
        if let Some(done) = verify_in_doubt(shared, node, block, env, previous).await {
            return done;
        }
    }
    if let Some(done) = confirm_irreversible(shared, node, block).await {
        return done;
    }
    let mut delay = backoff;
    for round in 0..=retries {
        let attempt = previous + round + 1;
        let started = json!({
            "node": node.id,
            "attempt": attempt,
            "command": rendered.shown,
            "host": shared.options.host,
            "operator": shared.options.operator,
        });
        if let Err(e) = record(shared, kind::NODE_STARTED, started).await {
            return Done::Broken(e);
        }
        let observer = &shared.options.observer;
        observer.line(
            Tone::Start,
            &format!(
                "▶ {} (attempt {attempt}){}: {}",
                node.id,
                stage_clock(shared, node),
                rendered.shown
            ),
        );
        observer.running(&node.id);
        let finished = process::run(&spec, live(Arc::clone(observer)), shared.cancel.clone()).await;
        observer.stopped();
        let finished = match finished {
            Ok(f) => f,
            Err(e) => {
                let why = format!("could not start `sh`: {e}");
                return fail(shared, &node.id, attempt, why).await;
            }
        };
        if finished.cancelled {
            return Done::Interrupted;
        }
        // A command may print a secret it was given: the output was masked
        // as it was read, so none reaches the store, a capture or a report.
        let outputs = [("stdout", &finished.stdout), ("stderr", &finished.stderr)];
        // A stream that printed nothing has nothing to keep: no write.
        for (stream, captured) in outputs.into_iter().filter(|(_, c)| c.total > 0) {
            let (run, id, head, tail, total) = (
                shared.run.clone(),
                node.id.clone(),
                captured.head.clone(),
                captured.tail(),
                captured.total,
            );
            let stored = shared
                .journal
                .call(move |s: &mut dyn Store| {
                    s.put_output(&run, &id, attempt, stream, &head, &tail, total)
                })
                .await;
            if let Err(e) = stored {
                return Done::Broken(e.to_string());
            }
        }
        let duration_ms = u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX);
        let verdict = crate::expect::judge(block, &finished).await;
        let mut exit = json!({ "exit": finished.exit });
        verdict.record(&mut exit);
        if let Err(problem) = &verdict.outcome {
            shared.options.observer.line(
                Tone::Bad,
                &format!("✗ {} attempt {attempt}: {problem}", node.id),
            );
            if round < retries {
                let mut payload = json!({ "node": node.id, "attempt": attempt, "reason": problem, "exit": finished.exit });
                verdict.record(&mut payload);
                if let Err(e) = record(shared, kind::ATTEMPT_FAILED, payload).await {
                    return Done::Broken(e);
                }
                let mut cancel = shared.cancel.clone();
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(delay)) => {}
                    () = cancelled_signal(&mut cancel) => return Done::Interrupted,
                }
                if exponential {
                    delay = delay.saturating_mul(2);
                }
                continue;
            }
        }
        let mut state = match verdict.outcome {
            Ok(captures) => NodeState {
                captures,
                ..settled(Status::Succeeded, None)
            },
            Err(problem) => settled(Status::Failed, Some(problem)),
        };
        state.duration_ms = Some(duration_ms);
        return finish(shared, &node.id, attempt, state, exit).await;
    }
    Done::Broken("a step ran no attempt".to_string())
}

async fn wait(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    previous: u32,
) -> Done {
    if let Some(until) = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Until(e) => Some(e),
        _ => None,
    }) {
        let due = match value::eval(until, env) {
            Ok(Value::Timestamp(due)) => due,
            Ok(Value::Bool(true)) => now_ms(),
            Ok(other) => {
                let why = format!("`until` gave {other}, not a time");
                return fail(shared, &node.id, previous, why).await;
            }
            Err(why) => {
                return fail(shared, &node.id, previous, why).await;
            }
        };
        let left = due - now_ms();
        // Longer than this, the run stops and is due again at `due`: an
        // operator need not keep a terminal open for hours.
        if left > 60_000 {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "⏳ {} is due in {}; the run stops until then",
                    node.id,
                    rbx_syntax::fmt::duration(u64::try_from(left).unwrap_or(0))
                ),
            );
            return Done::Waiting(due);
        }
        if left > 0 {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "⏳ {} waits {}",
                    node.id,
                    rbx_syntax::fmt::duration(u64::try_from(left).unwrap_or(0))
                ),
            );
            let mut cancel = shared.cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(0))) => {}
                _ = cancelled_signal(&mut cancel) => return Done::Interrupted,
            }
        }
        return finish(
            shared,
            &node.id,
            previous,
            settled(Status::Succeeded, None),
            json!({}),
        )
        .await;
    }
    let every = block
        .body
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Every(d) => Some(d.millis),
            _ => None,
        })
        .unwrap_or(10_000);
    let deadline = timeout_of(block).map(|t| tokio::time::Instant::now() + t);
    let rendered = match command(shared, node, block, env, previous).await {
        Ok(rendered) => rendered,
        Err(done) => return done,
    };
    let attempt = previous + 1;
    if let Err(e) = record(
        shared,
        kind::NODE_STARTED,
        json!({ "node": node.id, "attempt": attempt, "command": rendered.shown }),
    )
    .await
    {
        return Done::Broken(e);
    }
    let mut polls = 0u32;
    loop {
        polls += 1;
        let spec = Spec {
            command: rendered.run.clone(),
            env: rendered.env.clone(),
            timeout: Some(Duration::from_millis(every.max(1000))),
            secrets: rendered.env.iter().map(|(_, v)| v.clone()).collect(),
            whole: crate::expect::judged(block),
        };
        let finished = match process::run(&spec, Arc::new(|_, _| {}), shared.cancel.clone()).await {
            Ok(f) => f,
            Err(e) => {
                let why = format!("could not start `sh`: {e}");
                return fail(shared, &node.id, attempt, why).await;
            }
        };
        if finished.cancelled {
            return Done::Interrupted;
        }
        if crate::expect::judge(block, &finished).await.outcome.is_ok() {
            return finish(
                shared,
                &node.id,
                attempt,
                settled(Status::Succeeded, None),
                json!({ "polls": polls }),
            )
            .await;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            let why = format!("still not true after {polls} polls");
            return finish(
                shared,
                &node.id,
                attempt,
                settled(Status::Failed, Some(why)),
                json!({ "polls": polls }),
            )
            .await;
        }
        let mut cancel = shared.cancel.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(every)) => {}
            _ = cancelled_signal(&mut cancel) => return Done::Interrupted,
        }
    }
}

async fn decide(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
) -> Done {
    for stmt in &block.body {
        let label = match &stmt.kind {
            StmtKind::When { condition, .. } => match value::truth(condition, env) {
                Ok(true) => rbx_syntax::fmt::expr(condition),
                Ok(false) => continue,
                Err(why) => {
                    return fail(shared, &node.id, 0, why).await;
                }
            },
            StmtKind::Otherwise(_) => "otherwise".to_string(),
            _ => continue,
        };
        let counted: Vec<serde_json::Value> = env
            .counted
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
            .iter()
            .map(|(rule, runs)| {
                shared.options.observer.line(
                    Tone::Plain,
                    &format!("  {rule} = {} (runs: {})", runs.len(), runs.join(", ")),
                );
                json!({ "rule": rule, "count": runs.len(), "runs": runs })
            })
            .collect();
        let mut state = settled(Status::Succeeded, None);
        state.branch = Some(label);
        return finish(shared, &node.id, 0, state, json!({ "counted": counted })).await;
    }
    finish(
        shared,
        &node.id,
        0,
        settled(Status::Failed, Some("no branch applies".to_string())),
        json!({}),
    )
    .await
}

/// A node that needs a person: answered from the answers file if it has
/// an entry, else asked on the terminal, else the run pauses for
/// `rbx confirm`. Every answer meets the same rules (`people::settle`).
async fn person(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
) -> Done {
    // A manual step can be a point of no return too: confirmed first.
    if let Some(done) = confirm_irreversible(shared, node, block).await {
        return done;
    }
    let _turn = shared.person.lock().await;
    let base = base_name(&node.id).unwrap_or_default();
    let (mut response, via) = if let Some(given) = shared.options.answers.for_node(&node.id, &base)
    {
        (people::Response::from_json(given), "answers file")
    } else if shared.options.observer.can_ask() {
        (ask_person(shared, node, block, env), "terminal")
    } else {
        shared.options.observer.line(
            Tone::Note,
            &format!(
                "⏸ {} needs a person: {}",
                node.id,
                block.title.source_form()
            ),
        );
        return Done::Paused(confirm_hint(block));
    };
    match people::settle(block, &response, &shared.started_by) {
        Ok(settlement) => {
            for (name, path) in people::files(block, &response) {
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        shared.options.observer.line(
                            Tone::Bad,
                            &format!("✗ {}: cannot read `{path}`: {e}", node.id),
                        );
                        return Done::Paused(confirm_hint(block));
                    }
                };
                let (run, id, name_c, path_c, size) = (
                    shared.run.clone(),
                    node.id.clone(),
                    name.clone(),
                    path.clone(),
                    bytes.len(),
                );
                let stored = shared
                    .journal
                    .call(move |s: &mut dyn Store| {
                        s.put_attachment(&run, &id, &name_c, &path_c, &bytes)
                    })
                    .await;
                match stored {
                    Ok(hash) => people::kept(&mut response, &name, &path, &hash, size),
                    Err(e) => return Done::Broken(e.to_string()),
                }
            }
            shared
                .options
                .observer
                .line(Tone::Good, &format!("● {} answered ({via})", node.id));
            let mut state = settled(settlement.status, settlement.reason);
            state.branch = settlement.branch;
            let mut extra = response.to_json();
            extra["operator"] = json!(shared.options.operator);
            extra["via"] = json!(via);
            finish(shared, &node.id, 1, state, extra).await
        }
        Err(problems) => {
            shared.options.observer.line(
                Tone::Bad,
                &format!("✗ {}: {}", node.id, problems.join("; ")),
            );
            Done::Paused(confirm_hint(block))
        }
    }
}

/// Asks a person on the terminal, checking each answer as it is given.
fn ask_person(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
) -> people::Response {
    let observer = &shared.options.observer;
    let mut response = people::Response::default();
    shared.options.observer.line(
        Tone::Start,
        &format!("\n● {} — {}", node.id, block.title.source_form()),
    );
    let mut attested = true;
    let mut roles = Vec::new();
    let mut approvers = 1;
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Owner(role) => shared
                .options
                .observer
                .line(Tone::Plain, &format!("  owner: {}", role.name)),
            StmtKind::Instructions(text) => {
                shared.options.observer.line(
                    Tone::Plain,
                    &render(text, env).map(|r| r.shown).unwrap_or_default(),
                );
            }
            StmtKind::Evidence(evidence) => {
                let hint = match &evidence.ty {
                    EvidenceType::Choice(options) => {
                        let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
                        format!(" [{}]", names.join("/"))
                    }
                    EvidenceType::Url => " (URL)".to_string(),
                    EvidenceType::File => " (path to a file)".to_string(),
                    EvidenceType::Text => " (empty line: open $EDITOR)".to_string(),
                };
                loop {
                    let mut answer =
                        observer.ask(&format!("{}{hint}", evidence.prompt.source_form()));
                    if answer.is_empty() && matches!(evidence.ty, EvidenceType::Text) {
                        answer = observer.long_text().unwrap_or_default();
                    }
                    if answer.is_empty() && evidence.optional {
                        break;
                    }
                    match people::invalid(&evidence.ty, &answer) {
                        None if !answer.is_empty() => {
                            response
                                .evidence
                                .insert(evidence.name.name.clone(), json!(answer));
                            break;
                        }
                        None => shared
                            .options
                            .observer
                            .line(Tone::Plain, "  this evidence is required"),
                        Some(problem) => shared
                            .options
                            .observer
                            .line(Tone::Plain, &format!("  {problem}")),
                    }
                }
            }
            StmtKind::Attest { role, statement } => {
                let answer = shared.options.observer.ask(&format!(
                    "{} confirms: {} [yes/no]",
                    role.name,
                    statement.source_form()
                ));
                attested &= answer.eq_ignore_ascii_case("yes");
            }
            StmtKind::Option(option) => {
                shared.options.observer.line(
                    Tone::Plain,
                    &format!(
                        "  {:<12} {}",
                        option.name.name,
                        option.description.source_form()
                    ),
                );
            }
            StmtKind::By(by) => roles.extend(by.iter().map(|r| r.name.clone())),
            StmtKind::Approvers(n) => approvers = usize::try_from(n.value).unwrap_or(1).max(1),
            _ => {}
        }
    }
    if block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Attest { .. }))
    {
        response.attest = Some(attested);
    }
    if block.kind == BlockKind::Choose {
        response.choice = Some(observer.ask("your choice"));
        response.rationale = Some(observer.ask("why (recorded with the choice)"));
    }
    for role in &roles {
        for n in 1..=approvers {
            let by = shared
                .options
                .observer
                .ask(&format!("{role}: approver {n} of {approvers}, your name"));
            let decision = observer.ask("GO or NO-GO");
            let comment = observer.ask("comment (optional)");
            response.signoffs.push(people::Signoff {
                role: role.clone(),
                by,
                go: decision.eq_ignore_ascii_case("GO"),
                comment: (!comment.is_empty()).then_some(comment),
            });
        }
    }
    response
}

/// Runs the runbook's hook for `event`, with the event in environment
/// variables. A hook that fails is recorded and never stops the run.
async fn hook(shared: &Shared, event: HookEvent, details: &[(&str, &str)]) {
    for (on, command) in &shared.hooks {
        if *on != event {
            continue;
        }
        let mut env: Vec<(String, String)> = vec![
            ("RBX_EVENT".to_string(), event.keyword().to_string()),
            ("RBX_RUN".to_string(), shared.run.to_string()),
            ("RBX_RUNBOOK".to_string(), shared.runbook_id.clone()),
            ("RBX_OPERATOR".to_string(), shared.options.operator.clone()),
        ];
        env.extend(details.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let spec = Spec {
            command: command.source_form(),
            env,
            timeout: Some(Duration::from_secs(30)),
            secrets: Vec::new(),
            whole: Vec::new(),
        };
        let (_never, cancel) = watch::channel(false);
        let outcome = process::run(&spec, Arc::new(|_, _| {}), cancel).await;
        let (ok, detail) = match &outcome {
            Ok(f) if f.exit == Some(0) => (true, "exit 0".to_string()),
            Ok(f) if f.timed_out => (false, "timed out after 30s".to_string()),
            Ok(f) => (
                false,
                format!("exit {:?}: {}", f.exit, f.stderr.text().trim()),
            ),
            Err(e) => (false, e.to_string()),
        };
        let kind = if ok {
            kind::HOOK_RAN
        } else {
            kind::HOOK_FAILED
        };
        if !ok {
            shared.options.observer.line(
                Tone::Note,
                &format!(
                    "warning: the {} hook failed ({detail}); the run goes on",
                    event.keyword()
                ),
            );
        }
        let _ = record(
            shared,
            kind,
            json!({ "event": event.keyword(), "detail": detail }),
        )
        .await;
    }
}

/// Before an irreversible step's first attempt: the operator types the
/// step's id (or the answers file says `confirm = "ID"`), and the journal
/// records who. `Some` when the step must not run now.
async fn confirm_irreversible(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
) -> Option<Done> {
    let why = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Irreversible(why) => {
            Some(why.as_ref().map(Text::source_form).unwrap_or_default())
        }
        _ => None,
    })?;
    let base = base_name(&node.id).unwrap_or_default();
    let from_file = shared
        .options
        .answers
        .for_node(&node.id, &base)
        .and_then(|a| a.get("confirm"))
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let (confirmed, via) =
        match from_file {
            Some(typed) => (typed == base || typed == node.id, "answers file"),
            None if shared.options.observer.can_ask() => {
                let _turn = shared.person.lock().await;
                shared.options.observer.line(
                    Tone::Note,
                    &format!("\n⚠ {} is a point of no return. {why}", node.id),
                );
                let typed = shared
                    .options
                    .observer
                    .ask(&format!("type `{base}` to go on"));
                (typed == base || typed == node.id, "terminal")
            }
            None => {
                shared.options.observer.line(Tone::Note, &format!(
                "⏸ {} is irreversible and needs confirmation: resume at a terminal and type \
                 its id, or give `confirm = \"{base}\"` for it in an --answers file",
                node.id
            ));
                return Some(Done::Paused(irreversible_hint(&base)));
            }
        };
    if !confirmed {
        shared
            .options
            .observer
            .line(Tone::Bad, &format!("✗ {} was not confirmed", node.id));
        return Some(Done::Paused(irreversible_hint(&base)));
    }
    let payload = json!({ "node": node.id, "operator": shared.options.operator, "via": via });
    match record(shared, kind::CONFIRMED, payload).await {
        Ok(_) => None,
        Err(e) => Some(Done::Broken(e)),
    }
}

/// After a node settles: if its stage instance has run past its `within`
/// budget, say so once, record it, and run the `overrun` hook.
async fn budget(
    shared: &Shared,
    plan: &Plan,
    state: &RunState,
    x: usize,
    reported: &mut std::collections::HashSet<String>,
) -> Result<(), String> {
    let graph = &shared.graph.graph;
    let stage = &graph[plan.nodes[x].check].stage;
    if reported.contains(stage) {
        return Ok(());
    }
    let Some(start) = shared.graph.node(stage) else {
        return Ok(());
    };
    let NodeKind::StageStart {
        within: Some(within),
        ..
    } = &graph[start].kind
    else {
        return Ok(());
    };
    let Some(started) = state.nodes.get(stage).and_then(|n| n.finished_at) else {
        return Ok(());
    };
    let elapsed = u64::try_from(now_ms() - started).unwrap_or(0);
    if elapsed <= *within {
        return Ok(());
    }
    reported.insert(stage.clone());
    let (spent, budget) = (
        rbx_syntax::fmt::duration(elapsed),
        rbx_syntax::fmt::duration(*within),
    );
    shared.options.observer.line(
        Tone::Note,
        &format!("warning: stage {stage} has taken {spent}, over its budget of {budget}"),
    );
    record(
        shared,
        kind::STAGE_OVERRUN,
        json!({ "stage": stage, "elapsed_ms": elapsed, "budget_ms": within }),
    )
    .await?;
    hook(
        shared,
        HookEvent::Overrun,
        &[
            ("RBX_STAGE", stage),
            ("RBX_ELAPSED", &spent),
            ("RBX_BUDGET", &budget),
        ],
    )
    .await;
    Ok(())
}

/// A step left in doubt with a `verify` probe: the probe, with every value
/// the step itself would see, says whether its effect already happened.
/// `Some` when it did (the step is settled without running again).
async fn verify_in_doubt(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempt: u32,
) -> Option<Done> {
    let probe = text_of(block, |k| match k {
        StmtKind::Verify(t) => Some(t),
        _ => None,
    })?;
    let rendered = render(probe, env).ok()?;
    let spec = Spec {
        command: rendered.run,
        secrets: rendered.env.iter().map(|(_, v)| v.clone()).collect(),
        env: rendered.env,
        timeout: Some(Duration::from_secs(60)),
        whole: Vec::new(),
    };
    let finished = process::run(&spec, Arc::new(|_, _| {}), shared.cancel.clone())
        .await
        .ok()?;
    let happened = finished.exit == Some(0);
    let why = if happened {
        "the verify probe says it happened"
    } else {
        "the verify probe says it did not happen"
    };
    let decision = if happened { "done" } else { "rerun" };
    let payload = json!({
        "node": node.id,
        "attempt": attempt,
        "decision": decision,
        "why": why,
        "probe": rendered.shown,
        "operator": shared.options.operator,
    });
    if let Err(e) = record(shared, kind::IN_DOUBT, payload).await {
        return Some(Done::Broken(e));
    }
    shared
        .options
        .observer
        .line(Tone::Note, &format!("? {}: {why}", node.id));
    if !happened {
        return None;
    }
    let state = settled(Status::Succeeded, Some(why.to_string()));
    Some(
        finish(
            shared,
            &node.id,
            attempt,
            state,
            json!({ "via": "verify probe" }),
        )
        .await,
    )
}

/// ` [smoke 4m12s of 30m]` for a node of a stage with a budget, else empty.
fn stage_clock(shared: &Shared, node: &crate::expand::XNode) -> String {
    let graph = &shared.graph.graph;
    let stage = &graph[node.check].stage;
    let Some(start) = shared.graph.node(stage) else {
        return String::new();
    };
    let NodeKind::StageStart {
        within: Some(within),
        ..
    } = &graph[start].kind
    else {
        return String::new();
    };
    let started = shared
        .stage_started
        .lock()
        .ok()
        .and_then(|s| s.get(stage).copied());
    let Some(started) = started else {
        return String::new();
    };
    let elapsed = u64::try_from(now_ms() - started).unwrap_or(0);
    format!(
        " [{stage} {} of {}]",
        rbx_syntax::fmt::duration(elapsed / 1000 * 1000),
        rbx_syntax::fmt::duration(*within)
    )
}

/// The `rbx confirm` flags a people's node needs, for the pause message.
fn confirm_hint(block: &Block) -> String {
    let mut flags = Vec::new();
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Evidence(e) if !e.optional => {
                flags.push(format!("--evidence {}=…", e.name.name));
            }
            StmtKind::Attest { .. } if !flags.iter().any(|f| f == "--attest") => {
                flags.push("--attest".to_string());
            }
            StmtKind::By(roles) => {
                for role in roles {
                    flags.push(format!("--signoff {}=NAME:GO", role.name));
                }
            }
            _ => {}
        }
    }
    if block.kind == BlockKind::Choose {
        let options = people::options(block).join("|");
        flags.push(format!("--choice {options} --rationale \"…\""));
    }
    flags.join(" ")
}

fn irreversible_hint(base: &str) -> String {
    format!(
        "(irreversible: resume at a terminal and type its id, or give `confirm = \"{base}\"` in an --answers file)"
    )
}
