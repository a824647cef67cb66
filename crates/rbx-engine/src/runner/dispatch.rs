//! The dispatcher: readiness, joins and skips, and how a run stops.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rbx_check::graph::NodeKind;
use rbx_check::symbols::is_cleanup;
use rbx_store::{RunId, Store};
use rbx_syntax::ast::{BlockKind, HookEvent};
use serde_json::json;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::cleanup;
use crate::expand::Plan;
use crate::jobs::Place;
use crate::journal::Journal;
use crate::readiness::{
    Kept, Turn, awaits_the_end, gate_turn, has_failure_route, leaves, runs_kept, status_of, turn,
};
use crate::state::{Left, RunState, Status, kind};
use crate::value::Value;
use crate::{Exit, Options, Procedure};

use super::budgets::run_budgets;
use super::condition::{Judged, judge_driven};
use super::env::View;
use super::finally;
use super::hooks::{budget, hook};
use super::node::execute;
use super::record::{finish, record, settled};
use super::tally::Tally;
use super::{Done, Shared};

mod every;

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
    mut plan: Plan,
    inputs: HashMap<String, Value>,
    options: Options,
    history: Vec<crate::Past>,
    started_by: &str,
    verify_first: std::collections::HashSet<String>,
) -> Exit {
    let (cancel_tx, cancel) = watch::channel(false);
    let cancel_tx = Arc::new(cancel_tx);
    let interrupt_tx = Arc::clone(&cancel_tx);
    // Ctrl-C, a dropped SSH session (SIGHUP) and a polite kill (SIGTERM)
    // all stop the run the same way: the steps' groups are ended and the
    // run is left resumable. A simulated run has no processes to end:
    // a signal stops `rbx test` as it stops any program, and the run is
    // interrupted when its executor says (a scenario's `cancel at`).
    let simulated = options.clock.is_simulated();
    let executor = Arc::clone(&options.executor);
    let interrupt = tokio::spawn(async move {
        if simulated {
            executor.interruption().await;
            let _ = cancel_tx.send(true);
            return;
        }
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
        roles: std::sync::RwLock::new(crate::roles::Roles::of(procedure, &state)),
        links_set: procedure.links_set.clone(),
        cancel: cancel.clone(),
        interrupt: interrupt_tx,
        person: Mutex::new(()),
        history,
        hooks: procedure.hooks.clone(),
        budgets: procedure.budgets.clone(),
        runbook_id: procedure.runbook_id.clone(),
        started_by: started_by.to_string(),
        verify_first,
        dues: state.dues.clone(),
        instances: std::sync::Mutex::new(instances(&plan)),
        children: procedure.children.clone(),
        stage_started: std::sync::Mutex::new(stages_started(procedure, &plan, &state)),
    });
    let exit = loop {
        match dispatch(&shared, &plan, &mut state, cancel.clone()).await {
            Some(exit) => break exit,
            // A list a loop goes over was captured: the loop expands now,
            // from the items the journal holds.
            None => {
                plan = crate::expand::expand(
                    &procedure.graph,
                    &crate::list_values(&shared.inputs, &state),
                );
                if let Ok(mut counts) = shared.instances.lock() {
                    *counts = instances(&plan);
                }
            }
        }
    };
    interrupt.abort();
    exit
}

/// When each stage instance of `plan` that started did: its start node's
/// finish. Only stage starts are looked up, not the run's every node.
fn stages_started(procedure: &Procedure, plan: &Plan, state: &RunState) -> HashMap<String, i64> {
    plan.nodes
        .iter()
        .filter(|node| {
            matches!(
                procedure.graph.graph[node.check].kind,
                NodeKind::StageStart { .. }
            )
        })
        .filter_map(|node| Some((node.id.clone(), state.nodes.get(&node.id)?.finished_at?)))
        .collect()
}

/// How many instances each node has in `plan`, by its id in the runbook.
fn instances(plan: &Plan) -> HashMap<String, usize> {
    plan.by_name
        .iter()
        .map(|(name, xs)| (name.clone(), xs.len()))
        .collect()
}

/// How the run is stopping, once something has stopped it: nothing new
/// starts, and nodes already running finish first.
#[derive(Default)]
struct Stops {
    ended: Option<String>,
    failed: Option<String>,
    paused: Option<(String, String)>,
    waiting: Option<(String, i64)>,
}

impl Stops {
    fn any(&self) -> bool {
        self.ended.is_some()
            || self.failed.is_some()
            || self.paused.is_some()
            || self.waiting.is_some()
    }
}

/// The dispatcher's working state over one drive of the run.
struct Dispatcher<'a> {
    shared: &'a Arc<Shared>,
    plan: &'a Plan,
    state: &'a mut RunState,
    running: JoinSet<(usize, Done)>,
    /// How many predecessors of each node have not settled yet: readiness
    /// is tracked incrementally, so a step costs the same however long the
    /// run is.
    unsettled: Vec<usize>,
    /// Nodes whose predecessors have all settled, not yet looked at.
    candidates: BTreeSet<usize>,
    /// Nodes that will run, in the order they became ready (rule R5).
    ready: VecDeque<usize>,
    /// For each gate, the first nodes of items waiting for their turn
    /// (rule R4), by item.
    held: Vec<BTreeSet<(usize, usize)>>,
    /// What readiness needs of each gate, kept as nodes settle.
    kept: Kept,
    stops: Stops,
    overruns: HashSet<String>,
    /// A settled node captured a list: once nothing runs, the plan is
    /// expanded again, since a loop may go over it.
    replan: bool,
    /// Nodes control reaches by leaving a stage instance whose own
    /// clean-up is not over: they wait for it (rule Y2).
    exits: BTreeSet<usize>,
    /// The stage instances such nodes wait for.
    waited: BTreeSet<usize>,
    /// An outcome waits for a stage's clean-up: the run's end is decided
    /// (rule E1), so nothing but clean-ups starts meanwhile (Y2).
    ending: bool,
    /// The ticks of `every` blocks waiting for their due time, by it
    /// (rule V2).
    timers: BTreeSet<(i64, usize)>,
    /// A place of `--jobs` given to this drive while it waited for one,
    /// used by the next launch or given back (rule D6).
    spare: Option<Place>,
}

/// Drives the run on `plan` until it stops (`Some`), or until a list was
/// captured and the plan must be expanded again (`None`).
pub(crate) async fn dispatch(
    shared: &Arc<Shared>,
    plan: &Plan,
    state: &mut RunState,
    cancel: watch::Receiver<bool>,
) -> Option<Exit> {
    // Each node's status looked up once, by its place in the plan.
    let statuses: Vec<Status> = plan.nodes.iter().map(|n| status_of(state, &n.id)).collect();
    let unsettled: Vec<usize> = (0..plan.nodes.len())
        .map(|x| {
            plan.incoming[x]
                .iter()
                .filter(|(from, _)| !statuses[*from].settled())
                .count()
        })
        .collect();
    let candidates = (0..plan.nodes.len())
        .filter(|&x| unsettled[x] == 0 && statuses[x] == Status::Pending)
        .collect();
    let kept = Kept::new(state, plan, &statuses);
    let mut dispatcher = Dispatcher {
        shared,
        plan,
        state,
        running: JoinSet::new(),
        unsettled,
        candidates,
        ready: VecDeque::new(),
        held: vec![BTreeSet::new(); plan.gates.len()],
        kept,
        stops: Stops::default(),
        overruns: HashSet::new(),
        replan: false,
        exits: BTreeSet::new(),
        waited: BTreeSet::new(),
        ending: false,
        timers: BTreeSet::new(),
        spare: None,
    };
    if let Err(e) = dispatcher.recover().await {
        return Some(Exit::Broken(e));
    }
    // A run whose end was decided begins the stages' clean-ups that are
    // not begun before anything else is looked at, so that they go first,
    // before the runbook's (rule Y3).
    if dispatcher.state.finally.is_some() {
        let pending = cleanup::pending(dispatcher.state, plan);
        if let Err(e) = dispatcher.begin_at_end(pending).await {
            return Some(Exit::Broken(e));
        }
    }
    loop {
        if let Some(exit) = dispatcher.run_until_stopped(&cancel).await {
            return Some(exit);
        }
        if *cancel.borrow() {
            return Some(interrupted(shared).await);
        }
        if dispatcher.replan && !dispatcher.stops.any() {
            return None;
        }
        // The run's end is decided: its clean-up runs first (rule X1).
        match dispatcher.begin_finally().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Some(Exit::Broken(e)),
        }
    }
    Some(dispatcher.conclude().await)
}

impl Dispatcher<'_> {
    /// Starts what is ready and settles what finishes until nothing runs
    /// and nothing more can start; `Some` when the run stops at once
    /// (interrupted, or the journal broke).
    async fn run_until_stopped(&mut self, cancel: &watch::Receiver<bool>) -> Option<Exit> {
        loop {
            if *cancel.borrow() {
                while self.running.join_next().await.is_some() {}
                return Some(interrupted(self.shared).await);
            }
            if !self.stops.any() && !self.replan {
                if let Err(e) = self.consider().await {
                    return Some(Exit::Broken(e));
                }
                if let Err(e) = self.launch().await {
                    return Some(Exit::Broken(e));
                }
            }
            let next_tick = self.next_tick();
            let wants_place = self.wants_place();
            if self.running.is_empty() && next_tick.is_none() && !wants_place {
                return None;
            }
            let mut interrupted = cancel.clone();
            let jobs = self.shared.options.jobs.clone();
            let joined = tokio::select! {
                Some(joined) = self.running.join_next() => joined,
                Ok(()) = interrupted.changed() => continue,
                place = jobs.take(), if wants_place => {
                    self.spare = Some(place);
                    continue;
                }
                () = until(&self.shared.options.clock, next_tick) => {
                    self.wake_ticks();
                    continue;
                }
            };
            let Ok((x, done)) = joined else { continue };
            if let Err(e) = self.settle(x, done).await {
                return Some(Exit::Broken(e));
            }
        }
    }

    /// Once the run's end is decided and the runbook has a `finally` block
    /// not yet begun, records how the run would end and starts the block
    /// (rule X1); `false` when there is none to begin.
    async fn begin_finally(&mut self) -> Result<bool, String> {
        // The stages started and not cleaned up clean up first (rule Y3);
        // a stage's clean-up that failed fails a run that would end (X3).
        let pending = cleanup::pending(self.state, self.plan);
        let decided = self.state.finally.is_none();
        if decided {
            let payload = match (&self.stops.ended, &self.stops.failed) {
                (Some(outcome), _) => finally::ended(self.shared, outcome),
                (None, Some(node)) => finally::failed(self.state, node),
                (None, None) => return Ok(false),
            };
            let cleanup_failed = !finally::failures(self.plan, self.state).is_empty();
            if self.plan.finally.is_none() && pending.is_empty() && !cleanup_failed {
                return Ok(false);
            }
            record(self.shared, kind::FINALLY_STARTED, payload.clone()).await?;
            self.state.finally = Some(payload);
            self.stops = Stops::default();
            // Nodes that were ready when the end was decided never start
            // (rule X2): they stay pending, as a run without clean-up
            // leaves them.
            let plan = self.plan;
            self.ready.retain(|&x| is_cleanup(&plan.nodes[x].flow));
            self.candidates.extend(self.plan.finally);
        }
        let begun = self.begin_at_end(pending).await?;
        Ok(decided || begun)
    }

    /// Begins, as the run's end decided, each of the clean-ups `pending`
    /// not begun yet (rule Y3): begun here, or not yet when rbx was killed
    /// after deciding, or reset since by `--from`. `true` when it began
    /// one.
    async fn begin_at_end(&mut self, pending: Vec<usize>) -> Result<bool, String> {
        let mut begun = false;
        for s in pending {
            if !cleanup::begun(self.state, self.plan, s) {
                self.begin_cleanup(s, true).await?;
                begun = true;
            }
        }
        Ok(begun)
    }

    /// Records that the clean-up of the stage instance `s` starts, once it
    /// was left (`at_end` false) or at the run's end, and looks at its
    /// start (rule Y2).
    async fn begin_cleanup(&mut self, s: usize, at_end: bool) -> Result<(), String> {
        let stage = self.plan.nodes[s].id.clone();
        let payload = json!({ "stage": stage, "at_end": at_end });
        record(self.shared, kind::CLEANUP_STARTED, payload).await?;
        self.state.cleanups.insert(stage, at_end);
        self.candidates.extend(self.plan.scopes.start_of_cleanup(s));
        Ok(())
    }

    /// Begins the clean-up of every started instance that is done (rule
    /// Y2), unless the run's end is decided: then the end begins them.
    /// `true` when it began one.
    async fn begin_done_cleanups(&mut self) -> Result<bool, String> {
        if self.state.finally.is_some() || self.stops.any() {
            return Ok(false);
        }
        let done = cleanup::done(self.state, self.plan, &self.waited, self.ending);
        for &s in &done {
            self.begin_cleanup(s, false).await?;
        }
        Ok(!done.is_empty())
    }

    /// What waits for a clean-up is looked at again: the nodes that leave
    /// a stage instance, the start of a begun clean-up that waited for one
    /// inside it, and the runbook's `finally` after the stages' (rule Y3).
    fn reconsider_cleanups(&mut self) {
        self.candidates.extend(std::mem::take(&mut self.exits));
        let pending = |x: &usize| status_of(self.state, &self.plan.nodes[*x].id) == Status::Pending;
        let starts = self
            .plan
            .scopes
            .with_cleanup()
            .filter(|&s| cleanup::begun(self.state, self.plan, s))
            .filter_map(|s| self.plan.scopes.start_of_cleanup(s));
        let mut waiting: Vec<usize> = starts.filter(pending).collect();
        if self.state.finally.is_some() {
            waiting.extend(self.plan.finally.filter(pending));
        }
        self.candidates.extend(waiting);
    }

    /// What the journal says happened but this drive has not acted on yet:
    /// a flow left by a node whose `flow_left` was never written (rbx was
    /// killed in between), and a node that failed with nowhere to go (a
    /// person rejected it with `rbx confirm --reject`), which fails the run
    /// as if it had just failed.
    async fn recover(&mut self) -> Result<(), String> {
        // Only a node that failed, or has a route out to leave its flow
        // by, has anything to recover.
        let mut settled: Vec<(u64, usize)> = (0..self.plan.nodes.len())
            .filter_map(|x| {
                let node = self.state.nodes.get(&self.plan.nodes[x].id)?;
                let relevant = node.status == Status::Failed || self.plan.routes_out(x);
                Some((node.finished_seq?, x)).filter(|_| relevant)
            })
            .collect();
        settled.sort_unstable();
        for (seq, x) in settled {
            // Whether the flow was left before this node settled: a flow
            // left later (recorded after it) does not excuse its failure.
            let left_before = self
                .state
                .left
                .get(&self.plan.nodes[x].flow)
                .is_some_and(|left| left.seq < seq);
            self.note_leaving(x).await?;
            let failed = status_of(self.state, &self.plan.nodes[x].id) == Status::Failed;
            // A failure that decided the run's end is in `finally_started`.
            let decided = self.state.finally.is_some();
            if failed && !left_before && !decided && !has_failure_route(self.plan, x) {
                self.stops
                    .failed
                    .get_or_insert(self.plan.nodes[x].id.clone());
            }
        }
        Ok(())
    }

    /// Looks at every candidate: a node no control reaches is skipped at
    /// once (which may make more candidates), an outcome ends the run, and
    /// any other node is ready to run.
    async fn consider(&mut self) -> Result<(), String> {
        self.reconsider_cleanups();
        self.wake_ticks();
        self.begin_done_cleanups().await?;
        // A tick kept as a timer before the work beside it settled in this
        // pass is looked at again now, not at its due time (rule V3); an
        // instance whose last nodes were skipped in this pass cleans up
        // now (Y2), not never: its clean-up may be what the loop's next
        // item, or an outcome after it, waits for.
        loop {
            while self.look_at_candidates().await? && self.wake_stopped_ticks() {}
            if !self.begin_done_cleanups().await? {
                return Ok(());
            }
        }
    }

    /// Looks at every candidate (see `consider`); `false` once the run's
    /// end is reached.
    async fn look_at_candidates(&mut self) -> Result<bool, String> {
        while let Some(x) = self.candidates.pop_first() {
            // A node settled already (answered with `rbx confirm`, or
            // before a retry reset what came before it) keeps its record.
            // Once the clean-up has begun, nothing else starts (rule X2).
            // While an outcome waits for a clean-up, nothing but outcomes
            // and clean-ups goes on (rules E1, Y2). A node already ready is
            // not made ready twice.
            let check = self.plan.nodes[x].check;
            let outcome = matches!(self.shared.graph.graph[check].kind, NodeKind::End { .. });
            let after_the_end = (self.state.finally.is_some() || (self.ending && !outcome))
                && !is_cleanup(&self.plan.nodes[x].flow);
            if status_of(self.state, &self.plan.nodes[x].id) != Status::Pending
                || self.ready.contains(&x)
                || awaits_the_end(self.state, self.plan, x)
                || after_the_end
            {
                continue;
            }
            if turn(self.state, self.plan, x, Some(&self.kept)) == Turn::Wait {
                for &(gate, item) in &self.plan.entry_of[x] {
                    self.held[gate].insert((item, x));
                }
                continue;
            }
            if !runs_kept(self.state, self.plan, x, Some(&self.kept)) {
                if !self.no_tick(x).await? {
                    self.skip(x).await?;
                }
                continue;
            }
            // A node control reaches by leaving an instance waits for its
            // clean-up (rule Y2) — a tick too, before its due time is set.
            if let Some(s) = cleanup::leaving(self.state, self.plan, x) {
                self.ending |= outcome;
                self.exits.insert(x);
                if self.waited.insert(s) {
                    self.begin_done_cleanups().await?;
                }
                continue;
            }
            if self.tick(x).await? {
                continue;
            }
            if let NodeKind::End { outcome } = &self.shared.graph.graph[check].kind {
                self.stops.ended = Some(outcome.clone());
                return Ok(false);
            }
            self.ready.push_back(x);
        }
        Ok(true)
    }

    /// Starts ready nodes, at most `--jobs` of this run at once (rule R5),
    /// each but a `child` node with a place of `--jobs` shared with the
    /// run's child runs and its parent's (rule D6); the places left unused
    /// are given back. A node whose flow was left since
    /// it became ready no longer has control reaching it: it is skipped
    /// instead (rule L3).
    async fn launch(&mut self) -> Result<(), String> {
        let launched = self.launch_in_place().await;
        self.spare = None;
        launched
    }

    /// Whether the next ready node waits for a place of `--jobs` that this
    /// drive has not got.
    fn wants_place(&self) -> bool {
        !self.stops.any()
            && !self.replan
            && self.spare.is_none()
            && self.running.len() < self.shared.options.jobs.cap()
            && self.ready.front().is_some_and(|&x| self.needs_place(x))
    }

    /// Every node task holds a place while it runs, but a `child` node:
    /// its child run's nodes take theirs.
    fn needs_place(&self, x: usize) -> bool {
        let check = self.plan.nodes[x].check;
        !matches!(
            &self.shared.graph.graph[check].kind,
            NodeKind::Block(block) if block.kind == BlockKind::Child
        )
    }

    async fn launch_in_place(&mut self) -> Result<(), String> {
        // Once the run ends, fails or pauses, nothing new starts (rule E1).
        while !self.stops.any() && self.running.len() < self.shared.options.jobs.cap() {
            let Some(&x) = self.ready.front() else {
                break;
            };
            // An outcome waits for a clean-up: the run ends with it, and
            // nothing but clean-ups starts (rules E1, Y2).
            if self.ending && !is_cleanup(&self.plan.nodes[x].flow) {
                self.ready.pop_front();
                continue;
            }
            let needs_place = self.needs_place(x);
            if needs_place && self.spare.is_none() {
                match self.shared.options.jobs.try_take() {
                    Some(place) => self.spare = Some(place),
                    None => break,
                }
            }
            self.ready.pop_front();
            if !runs_kept(self.state, self.plan, x, Some(&self.kept)) {
                self.skip(x).await?;
                self.consider().await?;
                if self.stops.any() {
                    break;
                }
                continue;
            }
            let shared = Arc::clone(self.shared);
            let node = self.plan.nodes[x].clone();
            let mut view = View::of(self.state, self.plan, &node, &self.shared.graph);
            view.tally = Tally::of(self.state, self.plan, &self.shared.graph, x);
            let attempts = self.state.nodes.get(&node.id).map_or(0, |n| n.attempts);
            // A `call`'s arguments, read and checked before anything of
            // the node: one that is not what its parameter takes fails it.
            if let Err(why) = view.bind(&self.shared.inputs) {
                let failed = settled(Status::Failed, Some(why));
                let done = finish(self.shared, &node.id, attempts, failed, json!({})).await;
                self.settle(x, done).await?;
                self.consider().await?;
                continue;
            }
            // The node's own condition, judged now that control reaches it.
            let (judged, now) = judge_driven(self.shared, &node, &view);
            match judged {
                Judged::Runs => {}
                Judged::Skipped(condition) => {
                    self.skip_by_condition(x, condition, now).await?;
                    self.consider().await?;
                    continue;
                }
                Judged::Failed(why) => {
                    let failed = settled(Status::Failed, Some(why));
                    let stamp = now.map_or_else(
                        || json!({}),
                        |ms| json!({ "now": rbx_syntax::time::format_timestamp(ms) }),
                    );
                    let done = finish(self.shared, &node.id, attempts, failed, stamp).await;
                    self.settle(x, done).await?;
                    self.consider().await?;
                    continue;
                }
            }
            // The node's item is admitted now: the item's other first
            // nodes need not wait for a place (rule R4).
            self.state.nodes.entry(node.id.clone()).or_default().status = Status::Running;
            self.reopen(x);
            // A node settled above, without a task, left its place here.
            let place = if needs_place { self.spare.take() } else { None };
            self.running.spawn(async move {
                let done = execute(&shared, &node, view, attempts, now).await;
                drop(place);
                (x, done)
            });
        }
        Ok(())
    }

    /// A node of a gate started or settled: the items waiting in its gates
    /// whose turn has come (or whose loop failed more items than it
    /// tolerates) are looked at again, in item order (rules R4, R6).
    fn reopen(&mut self, x: usize) {
        for &(gate, _) in &self.plan.member_of[x] {
            while let Some(&(item, y)) = self.held[gate].first() {
                if gate_turn(self.state, self.plan, gate, item, Some(&self.kept)) == Turn::Wait {
                    break;
                }
                // Held in every gate it waits in; looked at once.
                for &(other, at) in &self.plan.entry_of[y] {
                    self.held[other].remove(&(at, y));
                }
                self.candidates.insert(y);
            }
        }
    }

    /// A node task returned: its settlement is recorded already; act on it.
    async fn settle(&mut self, x: usize, done: Done) -> Result<(), String> {
        let id = self.plan.nodes[x].id.clone();
        match done {
            Done::Settled(node_state) => {
                let failed = node_state.status == Status::Failed;
                if let Ok(mut roles) = self.shared.roles.write() {
                    roles.settled(&self.shared.graph, &id, &node_state);
                }
                // Only a list a loop goes over expands the plan again: a
                // new plan starts its readiness afresh, so an unneeded one
                // would reorder what was ready before it (rule R5).
                let base = super::base_name(&id).unwrap_or_default();
                self.replan |= node_state.captures.iter().any(|(name, v)| {
                    matches!(v, Value::List(_))
                        && self.plan.loop_lists.contains(&format!("{base}.{name}"))
                });
                if failed {
                    let reason = node_state.reason.clone().unwrap_or_default();
                    let details = [("RBX_STEP", id.as_str()), ("RBX_REASON", reason.as_str())];
                    hook(self.shared, HookEvent::Failure, &details).await;
                }
                let check = &self.shared.graph.graph[self.plan.nodes[x].check];
                if matches!(&check.kind, NodeKind::Block(b) if b.kind == BlockKind::Step) {
                    let status = node_state.status.as_str();
                    let reason = node_state.reason.clone().unwrap_or_default();
                    let details = [
                        ("RBX_STEP", id.as_str()),
                        ("RBX_STATUS", status),
                        ("RBX_REASON", reason.as_str()),
                    ];
                    hook(self.shared, HookEvent::Finish, &details).await;
                }
                self.state.nodes.insert(id.clone(), node_state);
                self.kept.settled(self.state, self.plan, x);
                self.reopen(x);
                budget(self.shared, self.plan, self.state, x, &mut self.overruns).await?;
                run_budgets(self.shared, self.plan, self.state, x, &mut self.overruns).await?;
                let left_before = self.state.left.contains_key(&self.plan.nodes[x].flow);
                self.note_leaving(x).await?;
                // A failure in a flow already left takes no route and does
                // not fail the run (rule L4); one with no route fails it (E2).
                if failed && !left_before && !has_failure_route(self.plan, x) {
                    self.stops.failed.get_or_insert(id);
                } else {
                    self.release(x);
                }
            }
            Done::Paused(hint) => self.stops.paused = Some((id, hint)),
            Done::Waiting(due) => self.stops.waiting = Some((id, due)),
            Done::Interrupted => {}
            Done::Broken(e) => return Err(e),
        }
        Ok(())
    }

    /// Records that the settled node `x` left its flow, if a route out of it
    /// carries control and the flow was not left already (rule L2).
    async fn note_leaving(&mut self, x: usize) -> Result<(), String> {
        let node = &self.plan.nodes[x];
        if self.state.left.contains_key(&node.flow) || !leaves(self.state, self.plan, x) {
            return Ok(());
        }
        let payload = json!({ "flow": node.flow, "node": node.id });
        let seq = record(self.shared, kind::FLOW_LEFT, payload).await?;
        let left = Left {
            by: node.id.clone(),
            seq,
        };
        self.state.left.insert(node.flow.clone(), left);
        Ok(())
    }

    /// A node settled: its successors have one predecessor fewer to wait for.
    fn release(&mut self, x: usize) {
        for (to, _) in &self.plan.outgoing[x] {
            self.unsettled[*to] = self.unsettled[*to].saturating_sub(1);
            if self.unsettled[*to] == 0 {
                self.candidates.insert(*to);
            }
        }
    }

    async fn skip(&mut self, x: usize) -> Result<(), String> {
        let id = self.plan.nodes[x].id.clone();
        record(self.shared, kind::NODE_SKIPPED, json!({ "node": id })).await?;
        self.state.nodes.entry(id).or_default().status = Status::Skipped;
        self.kept.settled(self.state, self.plan, x);
        self.release(x);
        self.reopen(x);
        Ok(())
    }

    /// Settles `x` as skipped because its own condition does not hold: its
    /// flow goes on past it (rule C1), so its successors run.
    async fn skip_by_condition(
        &mut self,
        x: usize,
        condition: String,
        now: Option<i64>,
    ) -> Result<(), String> {
        let id = self.plan.nodes[x].id.clone();
        let mut payload = json!({ "node": id, "condition": condition });
        if let Some(ms) = now {
            payload["now"] = json!(rbx_syntax::time::format_timestamp(ms));
        }
        let seq = record(self.shared, kind::NODE_SKIPPED, payload).await?;
        let entry = self.state.nodes.entry(id).or_default();
        entry.status = Status::Skipped;
        entry.finished_seq = Some(seq);
        entry.condition = Some(condition);
        // Settled: its loop or block lets the next item in (rule R4).
        self.kept.settled(self.state, self.plan, x);
        self.release(x);
        self.reopen(x);
        Ok(())
    }

    /// Records how the run stopped, status and event in one transaction
    /// (rule E4), then runs the hooks.
    async fn conclude(mut self) -> Exit {
        let shared = self.shared;
        // Once the clean-up has begun, the run's end was decided before it;
        // only a person or a due time it waits for stops it first.
        if let Some(end) = self.state.finally.clone() {
            if self.stops.paused.is_none() && self.stops.waiting.is_none() {
                return finally::conclude(shared, self.plan, self.state, &end).await;
            }
            self.stops.ended = None;
            self.stops.failed = None;
        }
        if let Some(outcome) = self.stops.ended {
            let success = shared
                .graph
                .outcomes
                .get(&outcome)
                .is_none_or(|c| c.success);
            let status = format!("ended:{outcome}");
            let payload = json!({ "outcome": outcome, "success": success });
            let recorded = stopping(shared, kind::RUN_ENDED, payload, status, None).await;
            let class = if success { "success" } else { "failure" };
            let details = [
                ("RBX_OUTCOME", outcome.as_str()),
                ("RBX_OUTCOME_CLASS", class),
            ];
            hook(shared, HookEvent::End, &details).await;
            return recorded.map_or_else(Exit::Broken, |()| Exit::Ended { outcome, success });
        }
        if let Some(node) = self.stops.failed {
            let reason = self
                .state
                .nodes
                .get(&node)
                .and_then(|n| n.reason.clone())
                .unwrap_or_default();
            let payload = json!({ "node": node, "reason": reason });
            let recorded = stopping(shared, kind::RUN_FAILED, payload, "failed".into(), None).await;
            let details = [("RBX_OUTCOME", "failed"), ("RBX_STEP", node.as_str())];
            hook(shared, HookEvent::End, &details).await;
            return recorded.map_or_else(Exit::Broken, |()| Exit::Failed { node, reason });
        }
        if let Some((node, hint)) = self.stops.paused {
            let payload = json!({ "node": node, "needs": hint });
            let recorded = stopping(shared, kind::RUN_PAUSED, payload, "paused".into(), None).await;
            hook(shared, HookEvent::Pause, &[("RBX_STEP", &node)]).await;
            return recorded.map_or_else(Exit::Broken, |()| Exit::Paused { node, hint });
        }
        if let Some((node, due)) = self.stops.waiting {
            let payload = json!({ "node": node, "due": due });
            let when = Some(crate::format_time(due));
            let recorded =
                stopping(shared, kind::RUN_WAITING, payload, "waiting".into(), when).await;
            return recorded.map_or_else(Exit::Broken, |()| Exit::Waiting { node, due });
        }
        let stuck: Vec<String> = self
            .plan
            .nodes
            .iter()
            .filter(|n| status_of(self.state, &n.id) == Status::Pending)
            .map(|n| n.id.clone())
            .collect();
        Exit::Broken(format!(
            "the run stopped without an outcome; nothing could run next (pending: {})",
            stuck.join(", ")
        ))
    }
}

/// Sleeps until `due` (milliseconds since the epoch) on the run's clock;
/// for ever without one.
async fn until(clock: &crate::executor::Clock, due: Option<i64>) {
    let Some(due) = due else {
        return std::future::pending().await;
    };
    let wait = u64::try_from(due.saturating_sub(clock.now_ms())).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

/// Ctrl-C, SIGTERM or SIGHUP: recorded, and the run is left resumable.
async fn interrupted(shared: &Shared) -> Exit {
    let payload = json!({});
    let _ = stopping(
        shared,
        kind::RUN_INTERRUPTED,
        payload,
        "interrupted".into(),
        None,
    )
    .await;
    Exit::Interrupted
}

/// Appends an event that stops the run, with the run's status.
pub(super) async fn stopping(
    shared: &Shared,
    kind: &'static str,
    payload: serde_json::Value,
    status: String,
    next_due: Option<String>,
) -> Result<(), String> {
    let run = shared.run.clone();
    shared
        .journal
        .call(move |s: &mut dyn Store| {
            s.append_stopping(&run, kind, &payload, &status, next_due.as_deref())
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
