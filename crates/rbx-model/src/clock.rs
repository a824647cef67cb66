//! The model's simulated clock: what time it is, in milliseconds since the
//! epoch. An operation starts when the caller says (`set_clock`: the time
//! between operations — a person's pause, a crash's downtime — is theirs
//! to choose), each step's command takes a known time (`steps_take`), and
//! a drive with nothing to do but wait for an `every`'s due time reaches it
//! at once (V2). Nothing else takes time. Replaying a journal, the caller
//! sets the clock to each event's time before applying it, so that the
//! model knows when each node settled.

use std::collections::VecDeque;

use rbx_check::graph::NodeKind;
use rbx_syntax::ast::ExprKind;

use crate::{Event, Model};

impl Model<'_> {
    /// Sets the clock: an operation starts at `ms`, or a journal event
    /// about to be applied was recorded then.
    pub fn set_clock(&mut self, ms: i64) {
        self.now = ms;
    }

    /// What time it is on the model's clock.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Each step's command takes `ms` from now on.
    pub fn steps_take(&mut self, ms: i64) {
        self.step_ms = ms;
    }

    /// The interval of the `every` whose tick is `x`, as written.
    pub(crate) fn interval(&self, x: usize) -> i64 {
        match &self.graph.graph[self.plan.nodes[x].check].kind {
            NodeKind::Tick { interval, .. } => match interval.kind {
                ExprKind::Duration(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
                _ => i64::MAX,
            },
            _ => i64::MAX,
        }
    }

    /// A step's command runs: the clock moves on by a step's time, and each
    /// tick that comes due meanwhile runs at its due time, its iteration's
    /// nodes ready before whatever the step's end makes ready (R5).
    pub(crate) fn run_a_step(&mut self, ready: &mut VecDeque<usize>, events: &mut Vec<Event>) {
        let end = self.now + self.step_ms;
        while let Some(due) = self.next_due().filter(|&due| due <= end) {
            self.now = self.now.max(due);
            if self.consider(ready, events).is_some() {
                break;
            }
        }
        self.now = end;
    }

    /// Nothing is ready and a tick waits for its due time: the run waits
    /// for it (V2). Whether there was one.
    pub(crate) fn wait_for_a_tick(&mut self) -> bool {
        let Some(due) = self.next_due() else {
            return false;
        };
        self.now = self.now.max(due);
        true
    }
}
