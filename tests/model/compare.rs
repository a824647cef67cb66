//! The comparison: a journal in the model's vocabulary, the facts of an
//! operation that do not depend on order, and the engine bugs already
//! known, recognised so that a long run goes on past them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rbx_model::{By, Event, Outcome, Status, Stop};

use crate::case::Action;
use crate::play::Ran;

/// Engine bugs the property test found that are not fixed yet: the fixture
/// that shows each, and how to recognise it, so that the property test
/// goes on past it (counting it) rather than stopping at it every time.
/// When the engine is fixed, remove the entry and add its fixture to
/// `REPLAYED`.
pub(crate) const KNOWN: &[Known] = &[Known {
    fixture: "p1-an-answer-after-a-cancel-cut-short-by-a-crash",
    seen: refuses_an_answer_the_model_records,
}];

/// `rbx confirm` after a cancel that a crash cut short, in a run with
/// child runs: the engine refuses the answer (the cancel is pending) where
/// the model records it. Replayed alone the two agree: which event the
/// crash follows depends on the order the child runs' journals are
/// written in.
fn refuses_an_answer_the_model_records(engine: &Facts, model: &Facts) -> bool {
    engine.outcome.as_deref() == Some("refused")
        && model.outcome.as_deref() == Some("recorded")
        && engine.settled.is_empty()
        && model.settled.len() == 1
        && model
            .settled
            .values()
            .flatten()
            .all(|s| s.contains("by Person"))
}

pub(crate) struct Known {
    pub(crate) fixture: &'static str,
    /// Whether an operation's disagreement (what the engine did, what the
    /// model did) is this bug.
    pub(crate) seen: fn(&Facts, &Facts) -> bool,
}

/// A journal event in the model's vocabulary; bookkeeping (hooks,
/// `run_started`) has none.
pub(crate) fn observe(event: &rbx_store::Event) -> Vec<Event> {
    let p = &event.payload;
    let text = |key: &str| p.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let node = text("node").unwrap_or_default();
    let ids = |key: &str| -> Vec<String> {
        p.get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let flag = |key: &str| p.get(key).and_then(|v| v.as_bool()) == Some(true);
    vec![match event.kind.as_str() {
        "node_started" => Event::Started(node),
        "node_finished" => {
            let status = match text("status").as_deref() {
                Some("succeeded") => Status::Succeeded,
                Some("cancelled") => Status::Cancelled,
                _ => Status::Failed,
            };
            let by = match text("via").as_deref() {
                Some("resume") => By::Operator,
                Some(_) => By::Person,
                None if status == Status::Cancelled => By::Operator,
                None => By::Rbx,
            };
            let answers = p
                .get("answers")
                .and_then(|a| a.as_object())
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| {
                            // A file given as evidence is recorded as kept
                            // in the store: the path the person gave.
                            let given = v.as_str().or_else(|| v.get("file")?.as_str())?;
                            Some((k.clone(), given.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Event::Settled {
                node,
                status,
                by,
                branch: text("branch"),
                answers,
            }
        }
        "node_skipped" if flag("missed") => Event::Missed {
            due: text("due")
                .and_then(|due| rbx_syntax::time::parse_timestamp(&due).ok())
                .unwrap_or_default(),
            tick: node,
        },
        "node_skipped" => match text("condition") {
            Some(condition) => Event::Bypassed { node, condition },
            None => Event::Skipped(node),
        },
        "flow_left" => Event::Left {
            flow: text("flow").unwrap_or_default(),
            by: node,
        },
        // X4: a re-driven run that failed before its clean-up runs the
        // clean-up again at its new end; Y4: instances it re-enters clean
        // up again.
        "retry" if flag("finally") || !ids("cleanups").is_empty() => {
            let mut events = vec![Event::Reset(ids("reset"))];
            if flag("finally") {
                events.push(Event::FinallyCleared);
            }
            if !ids("cleanups").is_empty() {
                events.push(Event::CleanupsReset(ids("cleanups")));
            }
            return events;
        }
        // Y4: instances run again from inside clean up again.
        "rerun_from" if !ids("cleanups").is_empty() => {
            return vec![
                Event::Reset(ids("reset")),
                Event::CleanupsReset(ids("cleanups")),
            ];
        }
        "retry" | "rerun_from" => Event::Reset(ids("reset")),
        "iteration_due" => Event::Due {
            due: p.get("due").and_then(|v| v.as_i64()).unwrap_or_default(),
            tick: node,
        },
        "every_stopped" => Event::EveryStopped {
            tick: node,
            skipped: ids("skipped"),
        },
        "cleanup_started" => Event::CleanupStarted {
            instance: text("stage").unwrap_or_default(),
            at_end: flag("at_end"),
        },
        "finally_started" => Event::FinallyStarted(match text("outcome") {
            Some(outcome) => Stop::Ended(outcome),
            None => Stop::Failed(text("failed").unwrap_or_default()),
        }),
        "in_doubt" => Event::InDoubt {
            node,
            rerun: text("decision").as_deref() == Some("rerun"),
        },
        "run_resumed" => Event::Resumed,
        "run_cancelled" => Event::Cancelled,
        "run_ended" => Event::Stopped(Stop::Ended(text("outcome").unwrap_or_default())),
        "run_failed" => Event::Stopped(Stop::Failed(node)),
        "run_paused" => Event::Stopped(Stop::Paused(node)),
        _ => return Vec::new(),
    }]
}

/// What an operation did, leaving out the order of nodes ready together
/// and which nodes were recorded as skipped on a way no control took.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) outcome: Option<String>,
    pub(crate) started: BTreeMap<String, usize>,
    pub(crate) settled: BTreeMap<String, Vec<String>>,
    pub(crate) left: BTreeSet<(String, String)>,
    pub(crate) reset: Vec<BTreeSet<String>>,
    pub(crate) in_doubt: BTreeSet<(String, bool)>,
    pub(crate) resumed: usize,
    pub(crate) cancelled: usize,
    /// X1, X4: each time the clean-up began (with how the run would end)
    /// or was to begin again, in order.
    pub(crate) finally: Vec<String>,
    /// Y2–Y4: each stage instance whose clean-up began (and whether the
    /// run's end began it), or whose clean-up `--from` reset, sorted.
    pub(crate) cleanups: Vec<String>,
    /// V2: the ticks whose due time was recorded, with it, sorted.
    pub(crate) dues: Vec<String>,
}

impl Facts {
    pub(crate) fn of(events: &[Event], outcome: Option<String>) -> Facts {
        let mut facts = Facts {
            outcome,
            ..Facts::default()
        };
        for event in events {
            match event {
                Event::Started(id) => *facts.started.entry(id.clone()).or_default() += 1,
                Event::Settled {
                    node,
                    status,
                    by,
                    branch,
                    answers,
                } => {
                    let answers: Vec<String> =
                        answers.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    facts.settled.entry(node.clone()).or_default().push(format!(
                        "{status:?} by {by:?}{}{}",
                        branch.as_ref().map_or(String::new(), |b| format!(" → {b}")),
                        if answers.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", answers.join(", "))
                        }
                    ));
                }
                // Unlike a skip on a way no control takes, a node skipped
                // by its own condition is a settlement of the rules: it is
                // compared like any other.
                Event::Bypassed { node, condition } => {
                    facts
                        .settled
                        .entry(node.clone())
                        .or_default()
                        .push(format!("Skipped: when {condition} did not hold"));
                }
                Event::Left { flow, by } => {
                    facts.left.insert((flow.clone(), by.clone()));
                }
                Event::Reset(ids) => facts.reset.push(ids.iter().cloned().collect()),
                Event::InDoubt { node, rerun } => {
                    facts.in_doubt.insert((node.clone(), *rerun));
                }
                Event::Resumed => facts.resumed += 1,
                Event::Cancelled => facts.cancelled += 1,
                Event::FinallyStarted(end) => facts.finally.push(stop_name(end)),
                Event::FinallyCleared => facts.finally.push("cleared".to_string()),
                Event::CleanupStarted { instance, at_end } => facts.cleanups.push(format!(
                    "{instance} began{}",
                    if *at_end { " at the end" } else { "" }
                )),
                Event::Due { tick, due } => facts.dues.push(format!("{tick} due {}", when(*due))),
                // V4: a tick skipped as missed is a settlement of the
                // rules, with the due time it missed.
                Event::Missed { tick, due } => facts
                    .settled
                    .entry(tick.clone())
                    .or_default()
                    .push(format!("Missed (due {})", when(*due))),
                Event::CleanupsReset(instances) => facts
                    .cleanups
                    .extend(instances.iter().map(|i| format!("{i} reset"))),
                Event::Skipped(_) | Event::EveryStopped { .. } | Event::Stopped(_) => {}
            }
        }
        facts.reset.sort();
        facts.cleanups.sort();
        facts.dues.sort();
        facts
    }

    /// Whether an operation cut short did nothing `full` would not have.
    pub(crate) fn within(&self, full: &Facts) -> Result<(), String> {
        for (id, n) in &self.started {
            if full.started.get(id).copied().unwrap_or(0) < *n {
                return Err(format!(
                    "`{id}` started {n} time(s); the model starts it fewer times"
                ));
            }
        }
        for (id, how) in &self.settled {
            let expected = full.settled.get(id).cloned().unwrap_or_default();
            if !how.iter().all(|h| expected.contains(h)) {
                return Err(format!(
                    "`{id}` settled {how:?}; the model says {expected:?}"
                ));
            }
        }
        if !self.left.is_subset(&full.left) || !self.in_doubt.is_subset(&full.in_doubt) {
            return Err(format!(
                "left {:?} / in doubt {:?}; the model: {:?} / {:?}",
                self.left, self.in_doubt, full.left, full.in_doubt
            ));
        }
        if !full.finally.starts_with(&self.finally) {
            return Err(format!(
                "clean-up {:?}; the model: {:?}",
                self.finally, full.finally
            ));
        }
        if self.dues.iter().any(|d| !full.dues.contains(d)) {
            return Err(format!("due {:?}; the model: {:?}", self.dues, full.dues));
        }
        if self.cleanups.iter().any(|c| !full.cleanups.contains(c)) {
            return Err(format!(
                "clean-ups {:?}; the model: {:?}",
                self.cleanups, full.cleanups
            ));
        }
        if self.reset.iter().any(|r| !full.reset.contains(r)) {
            return Err(format!(
                "reset {:?}; the model resets {:?}",
                self.reset, full.reset
            ));
        }
        Ok(())
    }
}

/// A time on the simulated clock, as the journal writes it.
fn when(ms: i64) -> String {
    rbx_syntax::time::format_timestamp(ms)
}

/// What the engine's events of one operation say, and how they differ from
/// the model's (`None` when they agree). A flow the rules say was left
/// already (`left_already`) may be recorded only now, after a crash. An
/// operation cut short by a crash did part of what the model did
/// (`Facts::within`), and skipped nothing the model runs.
pub(crate) fn judge(
    model_facts: &Facts,
    events: &[Event],
    outcome: Option<String>,
    crashed: bool,
    left_already: &BTreeSet<(String, String)>,
) -> (Facts, Option<String>) {
    let mut engine_facts = Facts::of(events, outcome);
    engine_facts
        .left
        .retain(|left| !left_already.contains(left) || model_facts.left.contains(left));
    let problem = if crashed {
        let wrongly_skipped: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Skipped(node) => Some(node),
                _ => None,
            })
            .filter(|id| {
                model_facts.started.contains_key(*id) || model_facts.settled.contains_key(*id)
            })
            .collect();
        let within = engine_facts.within(model_facts).err();
        within.or_else(|| {
            (!wrongly_skipped.is_empty())
                .then(|| format!("skipped {wrongly_skipped:?}, which the model runs"))
        })
    } else {
        (engine_facts != *model_facts).then(|| diff(&engine_facts, model_facts))
    };
    (engine_facts, problem)
}

pub(crate) fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Stopped(stop) => stop_name(stop),
        Outcome::NeedsDecision(node) => format!("needs a decision: {node}"),
        Outcome::Refused(_) => "refused".to_string(),
        Outcome::Recorded => "recorded".to_string(),
    }
}

pub(crate) fn stop_name(stop: &Stop) -> String {
    match stop {
        Stop::Ended(outcome) => format!("ended: {outcome}"),
        Stop::Failed(node) => format!("failed: {node}"),
        Stop::Paused(node) => format!("paused: {node}"),
    }
}

/// How the engine's operation ended, from its journal and its exit.
pub(crate) fn engine_outcome(action: &Action, ran: &Ran, events: &[Event]) -> String {
    if let Some(Event::Stopped(stop)) = events.iter().rev().find(|e| matches!(e, Event::Stopped(_)))
    {
        return stop_name(stop);
    }
    if let Action::Confirm { .. } = action {
        return if ran.code == Some(0) {
            "recorded"
        } else {
            "refused"
        }
        .to_string();
    }
    if ran.code == Some(3) {
        if let Some(node) = ran
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("? ")?.split(' ').next())
        {
            return format!("needs a decision: {node}");
        }
    }
    if ran.code == Some(2) && !ran.stderr.contains("stopped without an outcome") {
        return "refused".to_string();
    }
    format!("exit {:?}: {}", ran.code, ran.stderr.trim())
}

pub(crate) fn lines(events: &[Event]) -> String {
    events.iter().map(|e| format!("  {e:?}\n")).collect()
}

pub(crate) fn diff(engine: &Facts, model: &Facts) -> String {
    let mut out = String::new();
    let rows = [
        (
            "outcome",
            format!("{:?}", engine.outcome),
            format!("{:?}", model.outcome),
        ),
        (
            "started",
            format!("{:?}", engine.started),
            format!("{:?}", model.started),
        ),
        (
            "settled",
            format!("{:?}", engine.settled),
            format!("{:?}", model.settled),
        ),
        (
            "left",
            format!("{:?}", engine.left),
            format!("{:?}", model.left),
        ),
        (
            "reset",
            format!("{:?}", engine.reset),
            format!("{:?}", model.reset),
        ),
        (
            "in doubt",
            format!("{:?}", engine.in_doubt),
            format!("{:?}", model.in_doubt),
        ),
        (
            "clean-ups",
            format!("{:?}", engine.cleanups),
            format!("{:?}", model.cleanups),
        ),
        (
            "due",
            format!("{:?}", engine.dues),
            format!("{:?}", model.dues),
        ),
        (
            "finally",
            format!("{:?}", engine.finally),
            format!("{:?}", model.finally),
        ),
        (
            "resumed",
            format!("{:?}", engine.resumed),
            format!("{:?}", model.resumed),
        ),
        (
            "cancelled",
            format!("{:?}", engine.cancelled),
            format!("{:?}", model.cancelled),
        ),
    ];
    for (what, e, m) in rows {
        if e != m {
            let _ = writeln!(out, "{what}:\n  engine: {e}\n  model:  {m}");
        }
    }
    out
}
