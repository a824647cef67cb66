//! A scenario's expectations, judged on what the simulated run did.

use std::collections::{BTreeSet, HashMap};

use rbx_engine::value::{self, Env, Value};
use rbx_engine::{Exit, RunState, Status};
use rbx_syntax::ast::{Check, CheckKind, Expr};

use crate::matching::{closeness, names_stage, parts};
use crate::trace::{Trace, describe};

/// An expectation that did not hold: where it is written (a byte offset in
/// the scenarios file, or none for the stage budgets every run keeps) and
/// what happened instead.
#[derive(Debug, Clone)]
pub struct Miss {
    pub at: Option<usize>,
    pub message: String,
}

pub fn judge(checks: &[Check], trace: &Trace, inputs: &HashMap<String, Value>) -> Vec<Miss> {
    let mut misses: Vec<Miss> = checks
        .iter()
        .flat_map(|check| {
            one(check, trace, inputs).into_iter().map(|message| Miss {
                at: Some(check.span.start),
                message,
            })
        })
        .collect();
    let overrun_expected: BTreeSet<&str> = checks
        .iter()
        .filter_map(|c| match &c.kind {
            CheckKind::Overrun(stage) => Some(stage.name.as_str()),
            _ => None,
        })
        .collect();
    misses.extend(budgets(trace, &overrun_expected));
    misses
}

/// What one expectation found wrong, if anything.
fn one(check: &Check, trace: &Trace, inputs: &HashMap<String, Value>) -> Vec<String> {
    match &check.kind {
        CheckKind::Holds(condition) => holds(condition, &trace.state, inputs).into_iter().collect(),
        kind @ (CheckKind::Within(..) | CheckKind::Overrun(_)) => timing(kind, trace),
        kind => path(kind, trace),
    }
}

/// What an expectation about the path found wrong: where the run went.
fn path(kind: &CheckKind, trace: &Trace) -> Vec<String> {
    let mut out = Vec::new();
    let ran = |pattern| {
        trace
            .visits
            .iter()
            .chain(&trace.children)
            .filter(move |v| closeness(pattern, &v.id).is_some())
    };
    match kind {
        CheckKind::Outcome(outcome) => {
            if !matches!(&trace.exit, Exit::Ended { outcome: o, .. } if *o == outcome.name) {
                out.push(format!(
                    "expected the run to end `{}`; it {}",
                    outcome.name,
                    describe(&trace.exit)
                ));
            }
        }
        // A child run's node failed: the parent may have taken a route.
        CheckKind::Failed(pattern) if parts(&pattern.text).len() > 1 => {
            if !ran(pattern).any(|v| v.status == "failed") {
                out.push(format!("expected `{}` to fail; it did not", pattern.text));
            }
        }
        CheckKind::Failed(pattern) => {
            let failed_there = matches!(&trace.exit, Exit::Failed { node, .. } if closeness(pattern, node).is_some());
            if !failed_there {
                out.push(format!(
                    "expected the run to fail at `{}`; it {}",
                    pattern.text,
                    describe(&trace.exit)
                ));
            }
        }
        CheckKind::Ran(pattern) => {
            if ran(pattern).next().is_none() {
                out.push(format!("expected `{}` to run; it did not", pattern.text));
            }
        }
        CheckKind::NotRan(pattern) => {
            let ids: Vec<String> = ran(pattern).map(|v| format!("`{}`", v.id)).collect();
            if !ids.is_empty() {
                out.push(format!(
                    "expected `{}` not to run; {} ran",
                    pattern.text,
                    ids.join(", ")
                ));
            }
        }
        CheckKind::Attempts(pattern, n) => {
            let counts: Vec<(String, u32)> =
                ran(pattern).map(|v| (v.id.clone(), v.attempts)).collect();
            let wanted = u32::try_from(n.value).unwrap_or(0);
            if counts.is_empty() {
                out.push(format!(
                    "expected `{}` to run {wanted} attempt(s); it did not run",
                    pattern.text
                ));
            }
            for (id, count) in counts.iter().filter(|(_, c)| *c != wanted) {
                out.push(format!(
                    "expected `{id}` to run {wanted} attempt(s); it ran {count}"
                ));
            }
        }
        CheckKind::Within(..) | CheckKind::Overrun(_) | CheckKind::Holds(_) => {}
    }
    out
}

/// What an expectation about simulated time found wrong.
fn timing(kind: &CheckKind, trace: &Trace) -> Vec<String> {
    let mut out = Vec::new();
    match kind {
        CheckKind::Within(None, budget) if trace.elapsed > budget.millis => {
            out.push(format!(
                "expected the whole path within {}; it took {}",
                rbx_syntax::fmt::duration(budget.millis),
                rbx_syntax::fmt::duration(trace.elapsed)
            ));
        }
        CheckKind::Within(Some(pattern), budget) => {
            let times: Vec<_> = trace
                .stages
                .iter()
                .filter(|s| names_stage(pattern, &s.stage))
                .collect();
            if times.is_empty() {
                out.push(format!(
                    "expected stage `{}` within {}; it did not run",
                    pattern.text,
                    rbx_syntax::fmt::duration(budget.millis)
                ));
            }
            for stage in times.iter().filter(|s| s.elapsed > budget.millis) {
                out.push(format!(
                    "expected stage `{}` within {}; it took {}",
                    stage.stage,
                    rbx_syntax::fmt::duration(budget.millis),
                    rbx_syntax::fmt::duration(stage.elapsed)
                ));
            }
        }
        CheckKind::Overrun(stage)
            if !trace
                .overruns
                .iter()
                .any(|s| s.split('#').next() == Some(&stage.name)) =>
        {
            let what = match stage.name.as_str() {
                "run" => "the run".to_string(),
                name if name.contains('+') => format!("the budget of `{name}`"),
                name => format!("stage `{name}`"),
            };
            out.push(format!("expected {what} to overrun its budget; it did not"));
        }
        _ => {}
    }
    out
}

/// Every stage's own `within` budget is an expectation of every scenario:
/// the rehearsal timing check.
fn budgets(trace: &Trace, overrun_expected: &BTreeSet<&str>) -> Vec<Miss> {
    let mut misses = Vec::new();
    for stage in &trace.overruns {
        let name = stage.split('#').next().unwrap_or(stage);
        if overrun_expected.contains(name) {
            continue;
        }
        let Some(time) = trace.stages.iter().find(|s| s.stage == *stage) else {
            // A budget over the run or several stages (`run`,
            // `ship+watch`): overrunning it is a miss as well.
            misses.push(Miss {
                at: None,
                message: format!("the budget of `{stage}` was overrun"),
            });
            continue;
        };
        misses.push(Miss {
            at: None,
            message: format!(
                "stage `{stage}` took {}, over its `within` budget of {}",
                rbx_syntax::fmt::duration(time.elapsed),
                rbx_syntax::fmt::duration(time.budget.unwrap_or(0))
            ),
        });
    }
    misses
}

/// `None` when `condition` holds over the finished run, else why not.
fn holds(condition: &Expr, state: &RunState, inputs: &HashMap<String, Value>) -> Option<String> {
    let env = Finished { state, inputs };
    match value::truth(condition, &env) {
        Ok(true) => None,
        Ok(false) => {
            let mut why = format!(
                "expected `{}`; it does not hold",
                rbx_syntax::fmt::expr(condition)
            );
            if let rbx_syntax::ast::ExprKind::Compare { lhs, .. } = &condition.kind {
                if let Ok(actual) = value::eval(lhs, &env) {
                    why.push_str(&format!(" (`{}` is {actual})", rbx_syntax::fmt::expr(lhs)));
                }
            }
            Some(why)
        }
        Err(e) => Some(format!(
            "expected `{}`; it cannot be evaluated: {e}",
            rbx_syntax::fmt::expr(condition)
        )),
    }
}

/// What an expectation reads: the inputs, and each node's last instance
/// that ran (its status, branch and captures).
struct Finished<'a> {
    state: &'a RunState,
    inputs: &'a HashMap<String, Value>,
}

impl Env for Finished<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        let head = *path.first()?;
        if let Some(v) = self.inputs.get(head) {
            return Some(v.clone());
        }
        let node = self
            .state
            .nodes
            .iter()
            .filter(|(id, n)| {
                rbx_engine::base_name(id).as_deref() == Some(head) && n.finished_seq.is_some()
            })
            // The last instance that ran; one skipped only if none ran.
            .max_by_key(|(_, n)| (n.status != Status::Skipped, n.finished_seq))?
            .1;
        match path.get(1) {
            None => node
                .branch
                .clone()
                .map(Value::Name)
                .or_else(|| node.captures.get("time").cloned())
                .or_else(|| node.finished_at.map(Value::Timestamp)),
            Some(&"status") => Some(Value::Name(node.status.as_str().to_string())),
            Some(field) => node.captures.get(*field).cloned(),
        }
    }

    fn role_filled(&self, _: &str) -> bool {
        false
    }

    fn link_set(&self, _: &str) -> bool {
        false
    }

    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("`count()` reads earlier runs; an expectation reads only this one".to_string())
    }

    /// The simulated time when the run's last node finished: an
    /// expectation is judged over the run as it ended.
    fn now(&self) -> i64 {
        self.state
            .nodes
            .values()
            .filter_map(|n| n.finished_at)
            .max()
            .unwrap_or(0)
    }
}
