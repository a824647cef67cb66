//! An `every` in the dispatcher: when each iteration's tick settles
//! (rules V1–V5). A tick whose turn has come (R4: the iteration before it
//! finished) is due at the block's first due time plus a whole number of
//! intervals, recorded before it is waited for; the dispatcher keeps it as
//! a timer until then, and starts it, skips it as missed, or skips it
//! because the work its block runs beside has settled.

use serde_json::json;

use rbx_check::graph::NodeKind;

use crate::observer::Tone;
use crate::readiness::{runs_kept, status_of};
use crate::state::{Status, kind};

use super::super::record::{finish, record, settled};
use super::Dispatcher;

impl Dispatcher<'_> {
    /// Whether `x` is a tick; if so, it is settled or kept as a timer.
    pub(super) async fn tick(&mut self, x: usize) -> Result<bool, String> {
        let Some((watched, gate)) = self.plan.watched.get(&x) else {
            return Ok(false);
        };
        let plan = self.plan;
        let done = |w: &usize| status_of(self.state, &plan.nodes[*w].id).settled();
        if watched.iter().all(done) {
            // Due before the work beside it settled, and not started: it
            // was missed (the run was stopped then); due after: stopped.
            let settled_at = watched
                .iter()
                .filter_map(|w| self.state.nodes.get(&plan.nodes[*w].id)?.finished_at)
                .max();
            let interval = self.interval(x)?;
            match (self.scheduled(x, *gate, interval), settled_at) {
                (Some(due), Some(at)) if due < at => {
                    let due = self.due(x, *gate, interval).await?;
                    self.miss(x, due).await?;
                }
                _ => self.stop(x, *gate).await?,
            }
            return Ok(true);
        }
        let interval = self.interval(x)?;
        let due = self.due(x, *gate, interval).await?;
        let now = self.shared.options.clock.now_ms();
        let iteration = self.plan.nodes[x].positions.last().map_or(1, |p| p + 1);
        let id = self.plan.nodes[x].id.clone();
        if now < due {
            self.timers.insert((due, x));
            return Ok(true);
        }
        if now >= due.saturating_add(interval) {
            self.miss(x, due).await?;
            return Ok(true);
        }
        let when = crate::format_time(due);
        let line = format!("  {id}: iteration {iteration} (due {when})");
        self.shared.options.observer.line(Tone::Start, &line);
        let when = rbx_syntax::time::format_timestamp(due);
        let extra = json!({ "due": when, "iteration": iteration });
        let started = settled(Status::Succeeded, None);
        let done = finish(self.shared, &id, 0, started, extra).await;
        self.settle(x, done).await.map(|()| true)
    }

    /// Skips the tick `x`, due at `due`, as missed (rule V4).
    async fn miss(&mut self, x: usize, due: i64) -> Result<(), String> {
        let id = &self.plan.nodes[x].id;
        let iteration = self.plan.nodes[x].positions.last().map_or(1, |p| p + 1);
        let when = crate::format_time(due);
        let line = format!("  {id}: iteration {iteration} missed (due {when})");
        self.shared.options.observer.line(Tone::Note, &line);
        let when = rbx_syntax::time::format_timestamp(due);
        let payload = json!({ "missed": true, "due": when, "iteration": iteration });
        self.skip_tick(x, payload).await
    }

    /// The tick's interval, from the inputs (judged when the run started).
    fn interval(&self, x: usize) -> Result<i64, String> {
        let check = &self.shared.graph.graph[self.plan.nodes[x].check];
        match &check.kind {
            NodeKind::Tick { interval, .. } => {
                crate::every::interval_ms(interval, &self.shared.inputs)
            }
            _ => Err(format!(
                "internal: {} is not the tick of an `every`",
                self.plan.nodes[x].id
            )),
        }
    }

    /// When the tick `x` is due, if the block's schedule is recorded: as
    /// recorded for it, or the first's due time plus a whole number of
    /// intervals.
    fn scheduled(&self, x: usize, gate: usize, interval: i64) -> Option<i64> {
        let id = &self.plan.nodes[x].id;
        if let Some(due) = self.state.dues.get(id) {
            return Some(*due);
        }
        let ticks = &self.plan.gates[gate].ticks;
        let place = ticks.iter().position(|t| *t == x)?;
        let first = self.state.dues.get(&self.plan.nodes[*ticks.first()?].id)?;
        let steps = i64::try_from(place).unwrap_or(i64::MAX);
        Some(first.saturating_add(interval.saturating_mul(steps)))
    }

    /// When the tick `x` is due: as recorded, or, the first time its turn
    /// comes, one interval after now for the first iteration and the
    /// first's due time plus a whole number of intervals for the others,
    /// recorded before anything waits for it (rule V2).
    async fn due(&mut self, x: usize, gate: usize, interval: i64) -> Result<i64, String> {
        let id = self.plan.nodes[x].id.clone();
        if let Some(due) = self.state.dues.get(&id) {
            return Ok(*due);
        }
        let now = self.shared.options.clock.now_ms();
        let due = self
            .scheduled(x, gate, interval)
            .unwrap_or_else(|| now.saturating_add(interval));
        let iteration = self.plan.nodes[x].positions.last().map_or(1, |p| p + 1);
        let payload = json!({ "node": id, "due": due, "iteration": iteration });
        record(self.shared, kind::ITERATION_DUE, payload).await?;
        self.state.dues.insert(id, due);
        Ok(due)
    }

    /// Settles a tick as skipped, saying why: its iteration's nodes are
    /// skipped after it (R3), and the next iteration's turn comes.
    async fn skip_tick(&mut self, x: usize, mut payload: serde_json::Value) -> Result<(), String> {
        let id = self.plan.nodes[x].id.clone();
        payload["node"] = json!(id);
        let seq = record(self.shared, kind::NODE_SKIPPED, payload).await?;
        let entry = self.state.nodes.entry(id).or_default();
        entry.status = Status::Skipped;
        entry.finished_seq = Some(seq);
        self.kept.settled(self.state, self.plan, x);
        self.release(x);
        self.reopen(x);
        Ok(())
    }

    /// Whether `x` is a tick that no control reaches (its flow was left,
    /// or the branch it is on was not taken): then none reaches a later
    /// one either, and they are all skipped at once, as V3 skips them.
    pub(super) async fn no_tick(&mut self, x: usize) -> Result<bool, String> {
        let Some((_, gate)) = self.plan.watched.get(&x) else {
            return Ok(false);
        };
        self.stop(x, *gate).await?;
        Ok(true)
    }

    /// The work beside the block has settled: the iteration of the tick
    /// `x` and every later one are skipped, in one event (rule V3).
    async fn stop(&mut self, x: usize, gate: usize) -> Result<(), String> {
        let from = self.plan.gates[gate]
            .ticks
            .iter()
            .position(|t| *t == x)
            .unwrap_or(0);
        let plan = self.plan;
        let skipped: Vec<usize> = plan.gates[gate].items[from..]
            .iter()
            .flat_map(|item| item.members.iter().copied())
            .filter(|&y| status_of(self.state, &plan.nodes[y].id) == Status::Pending)
            .collect();
        let ids: Vec<&str> = skipped.iter().map(|&y| plan.nodes[y].id.as_str()).collect();
        let payload = json!({ "node": plan.nodes[x].id, "skipped": ids });
        let seq = record(self.shared, kind::EVERY_STOPPED, payload).await?;
        for &y in &skipped {
            let entry = self
                .state
                .nodes
                .entry(plan.nodes[y].id.clone())
                .or_default();
            entry.status = Status::Skipped;
            entry.finished_seq = Some(seq);
            self.kept.settled(self.state, plan, y);
        }
        for &y in &skipped {
            self.release(y);
            self.reopen(y);
        }
        Ok(())
    }

    /// Every tick kept as a timer is looked at again: one may be due, or
    /// the work beside it may have settled.
    pub(super) fn wake_ticks(&mut self) {
        self.candidates
            .extend(std::mem::take(&mut self.timers).into_iter().map(|(_, x)| x));
    }

    /// Every tick kept as a timer whose beside set has settled since, or
    /// that no control reaches any more, is looked at again at once: it
    /// and the later iterations are skipped now (rule V3), not at its due
    /// time. Whether there was one.
    pub(super) fn wake_stopped_ticks(&mut self) -> bool {
        let (plan, state, kept) = (self.plan, &*self.state, &self.kept);
        let stopped: Vec<(i64, usize)> = self
            .timers
            .iter()
            .copied()
            .filter(|&(_, x)| {
                let settled = plan.watched.get(&x).is_some_and(|(watched, _)| {
                    watched
                        .iter()
                        .all(|w| status_of(state, &plan.nodes[*w].id).settled())
                });
                settled || !runs_kept(state, plan, x, Some(kept))
            })
            .collect();
        for timer in &stopped {
            self.timers.remove(timer);
            self.candidates.insert(timer.1);
        }
        !stopped.is_empty()
    }

    /// When the earliest timer is due, while the run may still start
    /// something.
    pub(super) fn next_tick(&self) -> Option<i64> {
        // Once the run's end is decided, no iteration starts (rules X2,
        // E1): its clean-ups do not wait for a tick's due time.
        if self.stops.any() || self.replan || self.state.finally.is_some() || self.ending {
            return None;
        }
        self.timers.first().map(|(due, _)| *due)
    }
}
