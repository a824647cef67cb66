//! The rules at work: readiness (R), control (C), leaving a flow (L),
//! ending (E), the clean-up (X), failure (F), people (P) and resuming (S),
//! one node at a time. Each function cites the rule it follows.

use std::collections::{BTreeMap, VecDeque};

use rbx_check::graph::{EdgeKind, NodeKind};
use rbx_check::symbols::{FINALLY, is_cleanup};
use rbx_syntax::ast::{Block, BlockKind, EvidenceType, Expr, Require, StmtKind, Tolerate};

use crate::eval::{self, Env, Val};
use crate::evidence::{answer_fits, typed};
use crate::plan::Link;
use crate::{
    Answer, By, Done, Event, InDoubt, Kind, Model, ModelError, Op, Outcome, Run, Script, Status,
    Stop, Value,
};

/// How a node settles: status, branch, evidence.
pub(crate) type Settlement = (Status, Option<String>, BTreeMap<String, String>);

impl Model<'_> {
    /// Performs `op` from the state the model is in, and says what it did.
    pub fn perform(&mut self, op: &Op, script: &Script) -> Result<Done, ModelError> {
        let mut events = Vec::new();
        let outcome = match op {
            Op::Run => self.drive(script, &mut events)?,
            Op::Resume { in_doubt, from } => self.resume(script, *in_doubt, from, &mut events)?,
            Op::Confirm { node, answer } => self.confirm(node, answer, script, &mut events)?,
            Op::Cancel { in_doubt } => self.cancel(script, *in_doubt, &mut events)?,
        };
        Ok(Done { events, outcome })
    }

    pub(crate) fn emit(&mut self, events: &mut Vec<Event>, event: Event) {
        self.apply(&event);
        events.push(event);
    }

    pub(crate) fn id(&self, x: usize) -> String {
        self.plan.nodes[x].id.clone()
    }

    // ------------------------------------------------------------ rules --

    /// C1: whether `link` carries control from its settled source.
    fn takes(&self, from: usize, link: &Link) -> bool {
        let source = &self.nodes[from];
        match &link.kind {
            // A decision or choice that took a branch goes only there; a
            // node skipped by its own condition lets its flow go on.
            EdgeKind::Next => {
                (source.status == Status::Succeeded && source.branch.is_none())
                    || (source.status == Status::Skipped && source.bypassed)
            }
            EdgeKind::Failure | EdgeKind::Tolerated => source.status == Status::Failed,
            EdgeKind::Cancel => source.status == Status::Cancelled,
            EdgeKind::Branch(label) => {
                source.status == Status::Succeeded
                    && source.branch.as_deref() == Some(label)
                    && link.first
            }
        }
    }

    /// C2: once a flow is left, only the route it was left by carries.
    /// X2, X5: a clean-up node the operator cancelled goes on to the rest
    /// of the clean-up, as a failed one does.
    pub(crate) fn carries(&self, from: usize, link: &Link) -> bool {
        let cancelled = self.nodes[from].status == Status::Cancelled
            && is_cleanup(&self.plan.nodes[from].flow)
            && link.kind == EdgeKind::Failure
            && !link.route;
        match self.left.get(&self.plan.nodes[from].flow) {
            Some(&by) if by != from || !link.route => false,
            _ => self.takes(from, link) || cancelled,
        }
    }

    /// R1: every predecessor settled; and R4: its item's turn has come.
    pub(crate) fn considered(&self, x: usize) -> bool {
        let settled = |y: &usize| self.nodes[*y].status.settled();
        self.plan.preds[x].iter().all(|(p, _)| settled(p)) && !self.waits_its_turn(x)
    }

    /// R2: a considered node runs if an edge into it carries control; R6:
    /// unless it starts an item that its closed loop never admitted. The
    /// start of a clean-up that began runs (X1, Y2).
    pub(crate) fn runs(&self, x: usize) -> bool {
        let reached = self.plan.start == Some(x)
            || (self.plan.finally == Some(x) && self.finally.is_some())
            || self.cleanup_reached(x)
            || self.plan.preds[x].iter().any(|(p, l)| self.carries(*p, l));
        reached && !self.shut_out(x)
    }

    /// R4: `x` starts an item not admitted yet (none of its nodes started
    /// or settled) while `N` items before it are unfinished. A clean-up
    /// that never runs counts as finished (Y1).
    fn waits_its_turn(&self, x: usize) -> bool {
        !self.shut_out(x)
            && self.plan.starts(x).into_iter().any(|(group, item)| {
                let g = &self.plan.groups[group];
                let unfinished = g.items[..item]
                    .iter()
                    .filter(|nodes| {
                        nodes
                            .iter()
                            .any(|&m| !self.nodes[m].status.settled() && !self.never_cleans(m))
                    })
                    .count();
                !self.admitted(group, item) && unfinished >= g.at_once
            })
    }

    /// R6: `x` starts an item not admitted yet in a loop that has more
    /// failed items than it tolerates; U2: or in a `repeat` whose `until`
    /// held after an iteration.
    fn shut_out(&self, x: usize) -> bool {
        self.plan.starts(x).into_iter().any(|(group, item)| {
            let g = &self.plan.groups[group];
            let too_many = g
                .tolerate
                .as_ref()
                .is_some_and(|t| !t.allows(self.failed_items(group), g.items.len()));
            let done = g.until.iter().any(|&u| {
                self.nodes[u].status == Status::Succeeded && self.nodes[u].branch.is_none()
            });
            !self.admitted(group, item) && (too_many || done)
        })
    }

    fn admitted(&self, group: usize, item: usize) -> bool {
        self.plan.groups[group].items[item]
            .iter()
            .any(|&m| self.nodes[m].status != Status::Pending)
    }

    /// R6: how many items of a group have a failure that carries control
    /// to its tally.
    fn failed_items(&self, group: usize) -> usize {
        let g = &self.plan.groups[group];
        let Some(tally) = g.tally else { return 0 };
        g.items
            .iter()
            .filter(|nodes| {
                self.plan.preds[tally].iter().any(|(p, link)| {
                    link.kind == EdgeKind::Tolerated && nodes.contains(p) && self.carries(*p, link)
                })
            })
            .count()
    }

    /// L2: a flow is left by the first settlement, in the order they
    /// happened, that takes a route out of it.
    pub(crate) fn derive_left(&mut self) {
        let mut settled: Vec<usize> = (0..self.nodes.len())
            .filter(|&x| self.nodes[x].status.settled())
            .collect();
        settled.sort_by_key(|&x| self.nodes[x].seq);
        let mut left = BTreeMap::new();
        for x in settled {
            if self.leaves(x) {
                left.entry(self.plan.nodes[x].flow.clone()).or_insert(x);
            }
        }
        self.left = left;
    }

    /// L2: whether a route out of the settled node `x` carries control.
    fn leaves(&self, x: usize) -> bool {
        self.plan.succs[x]
            .iter()
            .any(|(_, link)| link.route && self.takes(x, link))
    }

    fn has_edge(&self, x: usize, kind: &EdgeKind) -> bool {
        self.plan.succs[x]
            .iter()
            .any(|(_, link)| link.kind == *kind)
    }

    fn would_run(&self, x: usize) -> bool {
        self.nodes[x].pending() && !self.held(x) && self.considered(x) && self.runs(x)
    }

    /// Whether `x` is in the runbook's `finally` block.
    fn in_finally(&self, x: usize) -> bool {
        self.plan.nodes[x].flow == FINALLY
    }

    /// Neither run nor skipped for now. X1: the block's start waits for
    /// the run's end to be decided; X2: once it is, nothing outside a
    /// clean-up starts. Y2: a node control reaches by leaving an instance
    /// waits for its clean-up, and a clean-up's start for it to begin;
    /// while an outcome waits so, nothing but clean-ups starts (E1).
    fn held(&self, x: usize) -> bool {
        let cleaning = is_cleanup(&self.plan.nodes[x].flow);
        let decided = match self.finally {
            None => self.plan.finally == Some(x),
            Some(_) => !cleaning,
        };
        decided
            || self.tick_waits(x)
            || self.cleanup_waits(x)
            || self.leaving(x).is_some()
            || (!cleaning && self.ending())
    }

    /// X1, Y3: the run's end is decided as `end`; with a `finally` block
    /// not begun since, or a stage's clean-up to run or that failed, the
    /// clean-ups begin, and `None` says the drive goes on.
    fn decided(
        &mut self,
        end: Stop,
        ready: &mut VecDeque<usize>,
        events: &mut Vec<Event>,
    ) -> Option<Stop> {
        let cleans = self.plan.finally.is_some() || self.cleans_up_at_end();
        if !cleans || self.finally.is_some() || matches!(end, Stop::Paused(_)) {
            self.emit(events, Event::Stopped(end.clone()));
            return Some(end);
        }
        self.emit(events, Event::FinallyStarted(end));
        self.begin_at_end(events);
        self.keep_cleanups(ready);
        None
    }

    /// X3: the clean-up is over: the run stops as it was decided, except
    /// that a clean-up node that failed fails a run that would have ended.
    fn concluded(&mut self, events: &mut Vec<Event>) -> Option<Stop> {
        let end = self.finally.clone()?;
        let first_failure = (0..self.nodes.len())
            .filter(|&x| self.cleanup_failed(x))
            .min_by_key(|&x| self.nodes[x].seq);
        let stop = match (end, first_failure) {
            (Stop::Ended(_), Some(x)) => Stop::Failed(self.id(x)),
            (end, _) => end,
        };
        self.emit(events, Event::Stopped(stop.clone()));
        Some(stop)
    }

    /// P2: the nodes the run is waiting for: people's nodes that would run
    /// and whose own condition does not skip them.
    pub fn waiting(&self) -> Vec<String> {
        (0..self.plan.nodes.len())
            .filter(|&x| matches!(self.view(x).kind, Kind::Person(_)) && self.would_run(x))
            .filter(|&x| !matches!(self.unmet_condition(x), Ok(Some(_))))
            .map(|x| self.id(x))
            .collect()
    }

    /// The node's own `when` condition, as written, when it does not hold:
    /// a node control reaches runs only if it holds.
    fn unmet_condition(&self, x: usize) -> Result<Option<String>, ModelError> {
        let condition = match &self.graph.graph[self.plan.nodes[x].check].kind {
            NodeKind::Block(block) => block.condition(),
            NodeKind::Guard { condition } => Some(condition),
            _ => None,
        };
        let Some(condition) = condition else {
            return Ok(None);
        };
        let holds = eval::truth(condition, &Reader { model: self, x })?;
        Ok((!holds).then(|| rbx_syntax::fmt::expr(condition)))
    }

    // ------------------------------------------------------------ drive --

    /// Drives the run until it ends, fails or pauses.
    fn drive(&mut self, script: &Script, events: &mut Vec<Event>) -> Result<Outcome, ModelError> {
        // Settlements no drive has acted on yet (a confirmation, or one a
        // crash cut short), in the order they settled: the first to take a
        // route out of its flow leaves it (L2); a failure with nowhere to
        // go fails the run (E2).
        let mut settled: Vec<usize> = (0..self.nodes.len())
            .filter(|&x| self.nodes[x].status.settled())
            .collect();
        settled.sort_by_key(|&x| self.nodes[x].seq);
        let mut failing = None;
        for x in settled {
            if let Some(stop) = self.after_settling(x, events) {
                failing.get_or_insert(stop);
            }
        }
        let mut ready = VecDeque::new();
        // X1: a failure that decided the run's end is in `finally_started`
        // already; the clean-up goes on.
        if let Some(stop) = failing.filter(|_| self.finally.is_none()) {
            if let Some(stop) = self.decided(stop, &mut ready, events) {
                return Ok(Outcome::Stopped(stop));
            }
        }
        // Y3: clean-ups the end decided before a crash and not begun yet.
        if self.finally.is_some() {
            self.begin_at_end(events);
        }
        loop {
            if let Some(stop) = self.consider(&mut ready, events) {
                return Ok(Outcome::Stopped(stop));
            }
            let Some(x) = ready.pop_front() else {
                if self.wait_for_a_tick() {
                    continue;
                }
                if let Some(stop) = self.concluded(events) {
                    return Ok(Outcome::Stopped(stop));
                }
                let pending: Vec<String> = (0..self.nodes.len())
                    .filter(|&x| !self.nodes[x].status.settled())
                    .map(|x| self.id(x))
                    .collect();
                return Err(ModelError::Broken(format!(
                    "nothing can run and no outcome was reached; pending: {}",
                    pending.join(", ")
                )));
            };
            // E1 with Y2: an outcome that became ready to wait for a
            // clean-up since keeps the rest from starting.
            if self.held(x) {
                continue;
            }
            // L3: its flow may have been left since it became ready.
            if !self.runs(x) {
                self.emit(events, Event::Skipped(self.id(x)));
                continue;
            }
            if let Some(condition) = self.unmet_condition(x)? {
                let node = self.id(x);
                self.emit(events, Event::Bypassed { node, condition });
                continue;
            }
            if let Some(stop) = self.execute(x, script, &mut ready, events)? {
                if let Some(stop) = self.decided(stop, &mut ready, events) {
                    return Ok(Outcome::Stopped(stop));
                }
            }
        }
    }

    /// Looks at every node whose predecessors have all settled, the one
    /// written first first: skipped (R2, R3), the run's end (E1), or ready
    /// to run, in the order it became ready (R5).
    pub(crate) fn consider(
        &mut self,
        ready: &mut VecDeque<usize>,
        events: &mut Vec<Event>,
    ) -> Option<Stop> {
        loop {
            let found = (0..self.nodes.len()).find(|&x| {
                self.nodes[x].pending()
                    && !ready.contains(&x)
                    && !self.held(x)
                    && self.considered(x)
            });
            // Y2: once nothing more is to be looked at, the clean-ups that
            // may begin do, and their starts are looked at.
            let Some(x) = found else {
                if self.begin_cleanups(events) {
                    continue;
                }
                return None;
            };
            if self.tick(x, events) {
                continue;
            }
            if !self.runs(x) {
                self.emit(events, Event::Skipped(self.id(x)));
                continue;
            }
            if let NodeKind::End { outcome } = &self.graph.graph[self.plan.nodes[x].check].kind {
                let stop = self.decided(Stop::Ended(outcome.clone()), ready, events);
                if stop.is_some() {
                    return stop;
                }
                continue;
            }
            ready.push_back(x);
        }
    }

    /// Runs one node. Returns how the run stops, if it does.
    fn execute(
        &mut self,
        x: usize,
        script: &Script,
        ready: &mut VecDeque<usize>,
        events: &mut Vec<Event>,
    ) -> Result<Option<Stop>, ModelError> {
        let graph = self.graph;
        let id = self.id(x);
        let settlement = match &graph.graph[self.plan.nodes[x].check].kind {
            // A stage's start checks its `require` lines (and, for the
            // entry stage, the runbook's).
            NodeKind::StageStart { requires, .. } => {
                (self.holds(x, requires)?, None, BTreeMap::new())
            }
            NodeKind::Anchor(_) => (Status::Succeeded, None, BTreeMap::new()),
            NodeKind::Checklist { items, .. } => (self.checklist(x, items), None, BTreeMap::new()),
            NodeKind::Tally { tolerate, .. } => (self.tally(x, tolerate), None, BTreeMap::new()),
            // W5: a block's guard whose condition held leads into it.
            NodeKind::Guard { .. } => {
                let held = rbx_check::graph::guard::HELD.to_string();
                (Status::Succeeded, Some(held), BTreeMap::new())
            }
            NodeKind::Until { until, at_most } => self.until(x, until, *at_most)?,
            NodeKind::End { .. } => {
                return Err(ModelError::Unsupported(format!("the outcome `{id}` ran")));
            }
            // V2: a tick settles when it is considered (see `every`).
            NodeKind::Tick { .. } => {
                return Err(ModelError::Unsupported(format!(
                    "the tick `{id}` was run as a node"
                )));
            }
            NodeKind::Block(block) => return self.block(x, block, script, ready, events),
        };
        Ok(self.settle(x, settlement, By::Rbx, events))
    }

    /// A checklist's verdict: failed when one of its items failed (the
    /// instance of each that this node reads).
    fn checklist(&self, x: usize, items: &[String]) -> Status {
        let reader = Reader { model: self, x };
        let failed = items.iter().any(|item| {
            reader
                .instance(item)
                .is_some_and(|y| self.nodes[y].status == Status::Failed)
        });
        if failed {
            Status::Failed
        } else {
            Status::Succeeded
        }
    }

    /// R6: the tally succeeds when the failed items stay within what its
    /// loop tolerates.
    fn tally(&self, x: usize, tolerate: &Tolerate) -> Status {
        let group = self.plan.groups.iter().position(|g| g.tally == Some(x));
        let (failed, total) = group.map_or((0, 0), |g| {
            (self.failed_items(g), self.plan.groups[g].items.len())
        });
        if tolerate.allows(failed, total) {
            Status::Succeeded
        } else {
            Status::Failed
        }
    }

    /// U1: the end of an iteration holds, goes round again, or, on the
    /// last iteration, fails.
    fn until(&self, x: usize, until: &Expr, at_most: i64) -> Result<Settlement, ModelError> {
        let iteration = self.plan.nodes[x].positions.last().map_or(1, |p| p + 1);
        Ok(if eval::truth(until, &Reader { model: self, x })? {
            (Status::Succeeded, None, BTreeMap::new())
        } else if i64::try_from(iteration).is_ok_and(|i| i < at_most) {
            let again = rbx_check::graph::repeat::AGAIN.to_string();
            (Status::Succeeded, Some(again), BTreeMap::new())
        } else {
            (Status::Failed, None, BTreeMap::new())
        })
    }

    /// A block of the runbook: F1 (a requirement that does not hold fails
    /// it before it does anything else), then the work of its kind.
    fn block(
        &mut self,
        x: usize,
        block: &Block,
        script: &Script,
        ready: &mut VecDeque<usize>,
        events: &mut Vec<Event>,
    ) -> Result<Option<Stop>, ModelError> {
        let requires: Vec<Require> = block
            .body
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Require(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        if self.holds(x, &requires)? == Status::Failed {
            let failed = (Status::Failed, None, BTreeMap::new());
            return Ok(self.settle(x, failed, By::Rbx, events));
        }
        let id = self.id(x);
        let settlement = match self.view(x).kind {
            Kind::Step => {
                self.emit(events, Event::Started(id.clone()));
                self.run_a_step(ready, events);
                let status = if script.fails.contains(&id) {
                    Status::Failed
                } else {
                    Status::Succeeded
                };
                (status, None, BTreeMap::new())
            }
            Kind::Person(_) => {
                let view = self.view(x);
                let given = script
                    .answers
                    .get(&view.id)
                    .or_else(|| script.answers.get(&view.name));
                let settled = match given {
                    Some(answer) => answer_fits(block, answer, &script.files)?,
                    None => None,
                };
                // P1: no answer (or one that breaks a rule) pauses.
                let Some(settlement) = settled else {
                    return Ok(Some(Stop::Paused(id)));
                };
                return Ok(self.settle(x, settlement, By::Person, events));
            }
            _ if block.kind == BlockKind::Decide => (
                Status::Succeeded,
                Some(self.decide(x, block)?),
                BTreeMap::new(),
            ),
            _ if block.kind == BlockKind::Wait => {
                return Err(ModelError::Unsupported("waits".to_string()));
            }
            // A gate of `require` lines alone, checked above.
            _ => (Status::Succeeded, None, BTreeMap::new()),
        };
        Ok(self.settle(x, settlement, By::Rbx, events))
    }

    /// Records a settlement and what follows from it at once.
    fn settle(
        &mut self,
        x: usize,
        (status, branch, answers): Settlement,
        by: By,
        events: &mut Vec<Event>,
    ) -> Option<Stop> {
        let node = self.id(x);
        let settled = Event::Settled {
            node,
            status,
            by,
            branch,
            answers,
        };
        self.emit(events, settled);
        self.after_settling(x, events)
    }

    /// L2 and E2 for a node that just settled: it leaves its flow if a
    /// route out of it carries control and the flow was not left before;
    /// a failure with no edge to take, in a flow not left, fails the run.
    /// A failure in a flow already left takes no route (L4).
    fn after_settling(&mut self, x: usize, events: &mut Vec<Event>) -> Option<Stop> {
        if self.left_before(x) {
            return None;
        }
        // The journal records the leaving once, when a drive acts on it.
        let flow = self.plan.nodes[x].flow.clone();
        if self.left.get(&flow) == Some(&x) && !self.recorded.contains_key(&flow) {
            let by = self.id(x);
            self.emit(events, Event::Left { flow, by });
        }
        self.failed_the_run(x).then(|| Stop::Failed(self.id(x)))
    }

    /// Whether `x`'s flow was left by a settlement before `x`'s own.
    fn left_before(&self, x: usize) -> bool {
        let flow = &self.plan.nodes[x].flow;
        self.left
            .get(flow)
            .is_some_and(|&by| by != x && self.nodes[by].seq < self.nodes[x].seq)
    }

    /// E2: `x` failed with no edge to take, in a flow no route had left.
    /// A clean-up node's failure goes on to the rest of the clean-up (X2).
    fn failed_the_run(&self, x: usize) -> bool {
        self.nodes[x].status == Status::Failed
            && !is_cleanup(&self.plan.nodes[x].flow)
            && !self.has_edge(x, &EdgeKind::Failure)
            && !self.has_edge(x, &EdgeKind::Tolerated)
            && !self.left_before(x)
    }

    /// Whether every requirement holds, as a node's status.
    fn holds(&self, x: usize, requires: &[Require]) -> Result<Status, ModelError> {
        for require in requires {
            let Require::Expr(expr) = require else {
                return Err(ModelError::Unsupported(
                    "`require role` and `require link`".into(),
                ));
            };
            if !eval::truth(expr, &Reader { model: self, x })? {
                return Ok(Status::Failed);
            }
        }
        Ok(Status::Succeeded)
    }

    /// A decision takes the first `when` that holds, else `otherwise`; the
    /// branch is named as the graph's edge is.
    fn decide(&self, x: usize, block: &Block) -> Result<String, ModelError> {
        for stmt in &block.body {
            if let StmtKind::When { condition, .. } = &stmt.kind {
                if eval::truth(condition, &Reader { model: self, x })? {
                    return Ok(rbx_syntax::fmt::expr(condition));
                }
            }
        }
        if block
            .body
            .iter()
            .any(|s| matches!(s.kind, StmtKind::Otherwise(_)))
        {
            Ok("otherwise".to_string())
        } else {
            Err(ModelError::Unsupported(
                "a decision with no `otherwise`".into(),
            ))
        }
    }

    // ------------------------------------------------------- operations --

    /// `rbx resume`, in the order the resume chapter gives.
    fn resume(
        &mut self,
        script: &Script,
        policy: Option<InDoubt>,
        from: &Option<String>,
        events: &mut Vec<Event>,
    ) -> Result<Outcome, ModelError> {
        let before = self.run.clone();
        if let Run::Stopped(Stop::Ended(_)) = before {
            return Ok(Outcome::Refused("already ended".into()));
        }
        self.emit(events, Event::Resumed);
        match before {
            Run::Stopped(Stop::Failed(_)) => self.redrive(events),
            Run::Cancelled => {
                if let Some(stop) = self.compensate(events) {
                    return Ok(Outcome::Stopped(stop));
                }
            }
            Run::Going | Run::Stopped(_) => {}
        }
        if let Some(from) = from {
            let Some(x) = self.plan.index(from) else {
                return Ok(Outcome::Refused(format!("no node `{from}`")));
            };
            self.rerun_from(x, events);
        }
        if let Some(outcome) = self.settle_in_doubt(policy, events) {
            return Ok(outcome);
        }
        self.drive(script, events)
    }

    /// S5: a failed run runs every node whose failure failed it again. A
    /// step the operator aborted in doubt is not among them: it is still in
    /// doubt, and S2 asks about it again.
    fn redrive(&mut self, events: &mut Vec<Event>) {
        let failed: Vec<usize> = (0..self.nodes.len())
            .filter(|&x| self.failed_the_run(x))
            .collect();
        // S5: a tally among them retries its items: every node of its
        // group that failed or was skipped.
        let mut reset: Vec<usize> = failed.clone();
        for group in &self.plan.groups {
            if !group.tally.is_some_and(|t| failed.contains(&t)) {
                continue;
            }
            for &m in group.items.iter().flatten() {
                let status = self.nodes[m].status;
                if matches!(status, Status::Failed | Status::Skipped) && !reset.contains(&m) {
                    reset.push(m);
                }
            }
        }
        self.skipped_after(failed.len(), &mut reset);
        self.checklist_items(&mut reset);
        // X4: a run that failed only in its clean-up runs the failed
        // clean-up nodes again and ends as decided; one that failed before
        // it runs the whole clean-up again at its new end, and (Y4) the
        // clean-ups of the stages that end began.
        let again = self.finally.is_some() && !reset.is_empty();
        if self.finally.is_some() && reset.is_empty() {
            reset = (0..self.nodes.len())
                .filter(|&x| self.cleanup_failed(x))
                .collect();
        } else if again {
            reset.extend(
                (0..self.nodes.len())
                    .filter(|&x| self.in_finally(x) && self.nodes[x].status != Status::Pending),
            );
            for x in self.begun_at_end() {
                if !reset.contains(&x) {
                    reset.push(x);
                }
            }
        }
        // Y4: an instance a node run again is inside cleans up again.
        let (instances, cleanups) = self.reentered(&reset);
        for y in cleanups {
            if !reset.contains(&y) {
                reset.push(y);
            }
        }
        let reset = reset.into_iter().map(|x| self.id(x)).collect();
        self.emit(events, Event::Reset(reset));
        if again {
            self.emit(events, Event::FinallyCleared);
        }
        if !instances.is_empty() {
            let instances = instances.into_iter().map(|s| self.id(s)).collect();
            self.emit(events, Event::CleanupsReset(instances));
        }
    }

    /// S5: a checklist among the nodes run again runs its items again
    /// from the first that failed or was skipped to its last.
    fn checklist_items(&self, reset: &mut Vec<usize>) {
        let checklists = reset.clone();
        for x in checklists {
            let NodeKind::Checklist { items, .. } =
                &self.graph.graph[self.plan.nodes[x].check].kind
            else {
                continue;
            };
            let reader = Reader { model: self, x };
            let mut again = false;
            for y in items.iter().filter_map(|item| reader.instance(item)) {
                again |= matches!(self.nodes[y].status, Status::Failed | Status::Skipped);
                if again && !reset.contains(&y) {
                    reset.push(y);
                }
            }
        }
    }

    /// `--from x`: the node and everything after it run again; Y4: an
    /// instance run again from inside cleans up again.
    fn rerun_from(&mut self, x: usize, events: &mut Vec<Event>) {
        let mut reset = self.plan.descendants(x);
        let (instances, cleanups) = self.reentered(&reset);
        for y in cleanups {
            if !reset.contains(&y) {
                reset.push(y);
            }
        }
        let reset = reset.into_iter().map(|y| self.id(y)).collect();
        self.emit(events, Event::Reset(reset));
        if !instances.is_empty() {
            let instances = instances.into_iter().map(|s| self.id(s)).collect();
            self.emit(events, Event::CleanupsReset(instances));
        }
    }

    /// S5: what no control reached because of the items a tally runs
    /// again (an outcome the route of an item shut out leads to) is looked
    /// at again with them: the nodes skipped after `reset[from..]`, not by
    /// their own condition.
    fn skipped_after(&self, from: usize, reset: &mut Vec<usize>) {
        let mut at = from;
        while at < reset.len() {
            for (to, _) in &self.plan.succs[reset[at]] {
                let node = &self.nodes[*to];
                if node.status == Status::Skipped && !node.bypassed && !reset.contains(to) {
                    reset.push(*to);
                }
            }
            at += 1;
        }
    }

    /// S2: each step started and not finished is run again if it is
    /// `idempotent`, else as the operator's policy says.
    fn settle_in_doubt(
        &mut self,
        policy: Option<InDoubt>,
        events: &mut Vec<Event>,
    ) -> Option<Outcome> {
        for x in 0..self.nodes.len() {
            if self.nodes[x].status != Status::Running || self.nodes[x].rerun {
                continue;
            }
            let node = self.id(x);
            // A `child` node run again resumes its child run, never starts
            // a second (D2): it is run again whatever the policy.
            let idempotent = match &self.graph.graph[self.plan.nodes[x].check].kind {
                NodeKind::Block(block) => {
                    block.kind == BlockKind::Child
                        || block
                            .body
                            .iter()
                            .any(|s| matches!(s.kind, StmtKind::Idempotent))
                }
                _ => false,
            };
            match (idempotent, policy) {
                (true, _) | (false, Some(InDoubt::Rerun)) => {
                    self.emit(events, Event::InDoubt { node, rerun: true });
                }
                (false, Some(InDoubt::Skip)) => {
                    self.emit(events, Event::InDoubt { node, rerun: false });
                    let done = (Status::Succeeded, None, BTreeMap::new());
                    let _ = self.settle(x, done, By::Operator, events);
                }
                (false, Some(InDoubt::Abort)) => {
                    let stop = Stop::Failed(node);
                    self.emit(events, Event::Stopped(stop.clone()));
                    return Some(Outcome::Stopped(stop));
                }
                (false, None) => return Some(Outcome::NeedsDecision(node)),
            }
        }
        None
    }

    /// `rbx confirm`: only for a node the run is waiting for (P2).
    fn confirm(
        &mut self,
        node: &str,
        answer: &Answer,
        script: &Script,
        events: &mut Vec<Event>,
    ) -> Result<Outcome, ModelError> {
        let waiting = self.plan.index(node).filter(|&x| {
            !matches!(self.run, Run::Stopped(Stop::Ended(_)))
                && self.waiting().contains(&self.id(x))
        });
        let Some(x) = waiting else {
            return Ok(Outcome::Refused(format!(
                "the run is not waiting for `{node}`"
            )));
        };
        let NodeKind::Block(block) = &self.graph.graph[self.plan.nodes[x].check].kind else {
            return Ok(Outcome::Refused(format!("`{node}` is not a person's")));
        };
        let Some(settlement) = answer_fits(block, answer, &script.files)? else {
            return Ok(Outcome::Refused(format!(
                "the answer does not settle `{node}`"
            )));
        };
        // An answer that takes a route out of its flow leaves it now (L2);
        // a failure with nowhere to go fails the run when it is next
        // driven (E2).
        let _ = self.settle(x, settlement, By::Person, events);
        Ok(Outcome::Recorded)
    }

    /// `rbx cancel`: records the operator's abort, then resumes, which
    /// runs the compensation.
    fn cancel(
        &mut self,
        script: &Script,
        policy: Option<InDoubt>,
        events: &mut Vec<Event>,
    ) -> Result<Outcome, ModelError> {
        match &self.run {
            Run::Stopped(Stop::Ended(_)) => return Ok(Outcome::Refused("already ended".into())),
            Run::Stopped(Stop::Failed(_)) => {
                return Err(ModelError::Unsupported(
                    "cancelling a failed run: the rules do not say where it stopped".into(),
                ));
            }
            Run::Going | Run::Cancelled | Run::Stopped(Stop::Paused(_)) => {}
        }
        self.emit(events, Event::Cancelled);
        self.resume(script, policy, &None, events)
    }

    /// A cancelled run's compensation, as "Not there yet" describes it:
    /// each node where the run stopped (in doubt, or waiting to run) that
    /// has an `on cancel` route settles as cancelled, which carries control
    /// down that route; everything else is skipped. With no such route the
    /// run ends `cancelled`.
    fn compensate(&mut self, events: &mut Vec<Event>) -> Option<Stop> {
        // X5: once the clean-up began, only the people it waits for are
        // cancelled, and the clean-up goes on.
        if self.finally.is_some() {
            let waited: Vec<usize> = (0..self.nodes.len())
                .filter(|&x| is_cleanup(&self.plan.nodes[x].flow))
                .filter(|&x| self.waiting().contains(&self.id(x)))
                .collect();
            for x in waited {
                self.cancelled(x, events);
            }
            return None;
        }
        let stopped: Vec<usize> = (0..self.nodes.len())
            .filter(|&x| self.nodes[x].status == Status::Running || self.would_run(x))
            .collect();
        let routed = stopped.iter().any(|&x| self.has_edge(x, &EdgeKind::Cancel));
        let cleans = self.plan.finally.is_some() || self.cleans_up_at_end();
        if !routed && cleans && self.finally.is_none() {
            // X1, Y3: the run ends cancelled once its clean-ups have run;
            // what was in doubt was cancelled, but a clean-up in doubt is
            // what the cancel asks for: it goes on by the in-doubt rules.
            let in_doubt: Vec<usize> = stopped
                .iter()
                .copied()
                .filter(|&x| self.nodes[x].status == Status::Running)
                .filter(|&x| !is_cleanup(&self.plan.nodes[x].flow))
                .collect();
            for x in in_doubt {
                self.cancelled(x, events);
            }
            let end = Stop::Ended("cancelled".to_string());
            self.emit(events, Event::FinallyStarted(end));
            self.begin_at_end(events);
            return None;
        }
        if !routed {
            let stop = Stop::Ended("cancelled".to_string());
            self.emit(events, Event::Stopped(stop.clone()));
            return Some(stop);
        }
        for x in stopped {
            if self.has_edge(x, &EdgeKind::Cancel) {
                self.cancelled(x, events);
            } else if self.nodes[x].status == Status::Running {
                self.emit(events, Event::Skipped(self.id(x)));
            }
        }
        None
    }

    /// The operator's cancel settles `x` as cancelled.
    fn cancelled(&mut self, x: usize, events: &mut Vec<Event>) {
        let settled = Event::Settled {
            node: self.id(x),
            status: Status::Cancelled,
            by: By::Operator,
            branch: None,
            answers: BTreeMap::new(),
        };
        self.emit(events, settled);
    }
}

/// What node `x` reads ("What a node can read"): its loop items, the
/// inputs, then other nodes by the id written in the runbook.
struct Reader<'m, 'g> {
    model: &'m Model<'g>,
    x: usize,
}

impl Reader<'_, '_> {
    /// The type of the evidence `field` of node `y`, when it has one.
    fn evidence_type(&self, y: usize, field: &str) -> Option<&EvidenceType> {
        let m = self.model;
        let NodeKind::Block(block) = &m.graph.graph[m.plan.nodes[y].check].kind else {
            return None;
        };
        block.body.iter().find_map(|stmt| match &stmt.kind {
            StmtKind::Evidence(e) if e.name.name == field => Some(&e.ty),
            _ => None,
        })
    }

    /// The instance of the node written `name` that `x` reads: one in the
    /// same loop items if there is one, else, of those that ran rather
    /// than being skipped, the one that settled last ("What a node can
    /// read").
    fn instance(&self, name: &str) -> Option<usize> {
        let m = self.model;
        let items = &m.plan.nodes[self.x].items;
        (0..m.nodes.len())
            .filter(|&y| {
                let node = &m.graph.graph[m.plan.nodes[y].check].kind;
                matches!(node, NodeKind::Block(b) if b.id.name == name)
                    && m.nodes[y].status.settled()
            })
            .max_by_key(|&y| {
                let ran = m.nodes[y].status != Status::Skipped;
                (
                    items.starts_with(&m.plan.nodes[y].items),
                    ran,
                    m.nodes[y].seq,
                )
            })
    }
}

impl Env for Reader<'_, '_> {
    fn path(&self, segments: &[&str]) -> Result<Option<Val>, ModelError> {
        let m = self.model;
        let unsupported = || ModelError::Unsupported(format!("reading `{}`", segments.join(".")));
        match segments {
            [name] => {
                let items = &m.plan.nodes[self.x].items;
                if let Some((_, item)) = items.iter().rev().find(|(var, _)| var == name) {
                    return Ok(Some(Val::Name(item.clone())));
                }
                match m.inputs.get(*name) {
                    Some(Value::Name(value)) => return Ok(Some(Val::Name(value.clone()))),
                    Some(Value::Bool(value)) => return Ok(Some(Val::Bool(*value))),
                    Some(Value::List(_) | Value::Int(_)) => return Err(unsupported()),
                    None => {}
                }
                match self.instance(name) {
                    None => Ok(None),
                    Some(y) => m.nodes[y]
                        .branch
                        .clone()
                        .map(|b| Some(Val::Name(b)))
                        .ok_or_else(unsupported),
                }
            }
            [name, field] => {
                let Some(y) = self.instance(name) else {
                    return Ok(None);
                };
                let node = &m.nodes[y];
                Ok(match *field {
                    "status" => Some(Val::Name(
                        match node.status {
                            Status::Succeeded => "succeeded",
                            Status::Failed => "failed",
                            Status::Skipped => "skipped",
                            _ => return Err(unsupported()),
                        }
                        .to_string(),
                    )),
                    // P3: a manual step's evidence is its value, of the
                    // evidence's type.
                    field => match node.answers.get(field) {
                        Some(answer) => Some(typed(self.evidence_type(y, field), answer)?),
                        None => None,
                    },
                })
            }
            _ => Err(unsupported()),
        }
    }
}
