//! Running a suite: each scenario on a runtime of its own whose clock is
//! paused, through `rbx_engine::start` with the simulated executor and a
//! journal in memory; then its expectations, and the suite's coverage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rbx_engine::executor::Clock;
use rbx_engine::{Exit, Options};
use rbx_store::{MemoryStore, Store};
use rbx_syntax::Diagnostic;
use rbx_syntax::ast::Scenario;
use serde_json::{Value as Json, json};
use tokio::sync::Notify;

use crate::coverage::Coverage;
use crate::earlier::record_earlier;
use crate::judge::{Miss, judge};
use crate::refusals::Refusals;
use crate::setup::{Setup, setup};
use crate::sim::Simulator;
use crate::trace::{Trace, trace};
use crate::{Suite, place};

/// How a suite is run.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// As `rbx run --jobs`: at most how many nodes run at once.
    pub jobs: Option<usize>,
    /// Durations of an earlier real run, by node id (`--durations-from`).
    pub durations: Arc<HashMap<String, u64>>,
    /// Only scenarios whose id contains this.
    pub filter: Option<String>,
}

/// One scenario's verdict.
#[derive(Debug)]
pub struct Outcome {
    pub id: String,
    pub title: String,
    /// Where the scenario is written (a byte offset in its file).
    pub at: usize,
    /// Names the runbook does not have, values it does not accept: the
    /// scenario was not run.
    pub problems: Vec<Diagnostic>,
    pub misses: Vec<Miss>,
    pub trace: Option<Trace>,
    /// Real time the simulation took.
    pub wall: Duration,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.misses.is_empty() && self.trace.is_some()
    }
}

/// A suite's verdicts and its coverage of the runbook.
#[derive(Debug)]
pub struct Report<'s> {
    pub suite: &'s Suite,
    pub outcomes: Vec<Outcome>,
    pub coverage: Coverage,
}

pub fn run_suite<'s>(suite: &'s Suite, settings: &Settings) -> Report<'s> {
    let mut coverage = Coverage::of(&suite.procedure.graph);
    let mut outcomes = Vec::new();
    for scenario in &suite.scenarios {
        if settings
            .filter
            .as_ref()
            .is_some_and(|f| !scenario.id.name.contains(f.as_str()))
        {
            continue;
        }
        let started = Instant::now();
        let mut outcome = Outcome {
            id: scenario.id.name.clone(),
            title: scenario.title.source_form(),
            at: scenario.span.start,
            problems: Vec::new(),
            misses: Vec::new(),
            trace: None,
            wall: Duration::ZERO,
        };
        match setup(
            &suite.procedure,
            scenario,
            &suite.path.display().to_string(),
        ) {
            Err(problems) => outcome.problems = problems,
            Ok(setup) => match simulate(suite, scenario, &setup, settings) {
                Ok(trace) => {
                    let nodes: HashMap<String, _> = setup.nodes.iter().cloned().collect();
                    coverage.add(&suite.procedure.graph, &nodes, &outcome.id, &trace);
                    outcome.misses = judge(&setup.checks, &trace, &setup.inputs);
                    if let Some(miss) = unexpected_stop(&setup, &trace) {
                        outcome.misses.insert(0, miss);
                    }
                    outcome.trace = Some(trace);
                }
                Err(why) => outcome.problems.push(
                    Diagnostic::error("rbx::test::runtime", why)
                        .primary(scenario.id.span, "this scenario"),
                ),
            },
        }
        outcome.wall = started.elapsed();
        outcomes.push(outcome);
    }
    Report {
        suite,
        outcomes,
        coverage,
    }
}

/// A run that stopped without an outcome — for want of a result or an
/// answer, or at a failure — fails a scenario that does not expect how it
/// ends: the scenario is incomplete, and this says where. A scenario with
/// `expect outcome` or `expect failed` is told by that expectation.
fn unexpected_stop(setup: &Setup, trace: &Trace) -> Option<Miss> {
    use rbx_syntax::ast::CheckKind;
    let says_how_it_ends = setup
        .checks
        .iter()
        .any(|c| matches!(c.kind, CheckKind::Failed(_) | CheckKind::Outcome(_)));
    if says_how_it_ends || matches!(trace.exit, Exit::Ended { .. }) {
        return None;
    }
    Some(Miss {
        at: None,
        message: format!("the run {}", crate::trace::describe(&trace.exit)),
    })
}

fn simulate(
    suite: &Suite,
    scenario: &Scenario,
    setup: &Setup,
    settings: &Settings,
) -> Result<Trace, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| {
            format!(
                "cannot start a runtime for scenario `{}`: {e}",
                scenario.id.name
            )
        })?;
    runtime.block_on(async {
        let clock = Clock::Simulated {
            epoch_ms: setup.start_ms,
            base: tokio::time::Instant::now(),
        };
        let store = MemoryStore::new(Arc::new(|| 0));
        for earlier in &setup.earlier {
            record_earlier(suite, setup, &store, earlier)?;
        }
        let reading = clock.clone();
        store.set_clock(Arc::new(move || reading.now_ms()));
        let driver = Driver {
            executor: Arc::new(simulator(suite, setup, settings, &clock)),
            refusals: Arc::new(Refusals::default()),
            clock,
            jobs: settings.jobs,
        };
        let mut run = None;
        let exit = rbx_engine::start(
            &suite.procedure,
            Box::new(store.clone()),
            setup.inputs.clone(),
            driver.options(&setup.operator, setup.answers.clone()),
            |id| run = Some(id.clone()),
        )
        .await;
        let run = run.ok_or_else(|| match &exit {
            Exit::Broken(why) => why.clone(),
            _ => "the simulated run was never created".to_string(),
        })?;
        let exit = driver.sign_offs(setup, &store, &run, exit).await;
        let exit = driver.cancel(setup, &store, &run, exit).await;
        let events = store.events(&run).map_err(|e| e.to_string())?;
        let mut trace = trace(&suite.procedure, exit, &events);
        trace.children = child_visits(&store, &run)?;
        Ok(trace)
    })
}

/// The nodes the run's child runs settled, at every depth, each named by
/// its path from the run: the child run's id after the run's and `/`
/// (`{run}/{node}`), then `/` and the node's id in it.
fn child_visits(
    store: &MemoryStore,
    run: &rbx_store::RunId,
) -> Result<Vec<crate::trace::Visit>, String> {
    let prefix = format!("{run}/");
    let mut out = Vec::new();
    for child in store.runs().map_err(|e| e.to_string())? {
        let Some(path) = child.id.as_str().strip_prefix(&prefix) else {
            continue;
        };
        let events = store.events(&child.id).map_err(|e| e.to_string())?;
        out.extend(
            crate::trace::visits(&events)
                .into_iter()
                .map(|visit| crate::trace::Visit {
                    id: format!("{path}/{}", visit.id),
                    stage: format!("{path}/{}", visit.stage),
                    ..visit
                }),
        );
    }
    Ok(out)
}

/// The simulated executor of a scenario.
fn simulator(suite: &Suite, setup: &Setup, settings: &Settings, clock: &Clock) -> Simulator {
    let places = setup
        .nodes
        .iter()
        .filter_map(|(id, x)| {
            let origin = suite.procedure.graph.graph[*x].origin;
            let (path, text) = suite.sources.get(origin.source)?;
            Some((id.clone(), place(path, text, origin.span.start)))
        })
        .collect();
    Simulator {
        givens: setup.givens.clone(),
        default: setup.default.clone(),
        attend: setup.attend.clone(),
        durations: Arc::clone(&settings.durations),
        places,
        clock: clock.clone(),
        cancel_at: setup.cancel_at.clone(),
        interrupted: AtomicBool::new(false),
        interrupt: Notify::new(),
    }
}

/// What every drive of one scenario's run shares.
struct Driver {
    executor: Arc<Simulator>,
    refusals: Arc<Refusals>,
    clock: Clock,
    jobs: Option<usize>,
}

impl Driver {
    fn options(&self, operator: &str, answers: BTreeMap<String, Json>) -> Options {
        Options {
            jobs: rbx_engine::Jobs::at_most(self.jobs),
            observer: Arc::clone(&self.refusals) as Arc<dyn rbx_engine::Observer>,
            in_doubt: None,
            operator: operator.to_string(),
            account: operator.to_string(),
            host: "rbx-test".to_string(),
            answers: rbx_engine::fills::Answers(answers),
            executor: Arc::clone(&self.executor) as Arc<dyn rbx_engine::executor::Executor>,
            clock: self.clock.clone(),
            // A scenario's store is in memory and checked once for the
            // whole suite: nothing to keep.
            graph_cache: None,
        }
    }

    /// `cancel at NODE`: where the run stopped there — interrupted as the
    /// step started, or paused for the person nobody answered — the
    /// operator cancels it as `rbx cancel` does (the cancel in the journal,
    /// then a resume), and its compensation runs.
    async fn cancel(
        &self,
        setup: &Setup,
        store: &MemoryStore,
        run: &rbx_store::RunId,
        exit: Exit,
    ) -> Exit {
        let Some(at) = &setup.cancel_at else {
            return exit;
        };
        let stopped_there = match &exit {
            Exit::Interrupted => true,
            Exit::Paused { node, .. } => crate::matching::closeness(at, node).is_some(),
            _ => false,
        };
        if !stopped_there {
            return exit;
        }
        let payload = json!({
            "reason": format!("the scenario cancels at `{}`", at.text),
            "operator": setup.operator,
            "account": setup.operator,
        });
        let mut writer = store.clone();
        if let Err(e) = writer.append(run, rbx_engine::state::kind::RUN_CANCELLED, &payload) {
            return Exit::Broken(e.to_string());
        }
        rbx_engine::resume(
            Box::new(store.clone()),
            run.clone(),
            rbx_engine::Resume::default(),
            &secrets(setup),
            self.options(&setup.operator, setup.answers.clone()),
        )
        .await
        .unwrap_or_else(|e| Exit::Broken(resume_error(&e)))
    }

    /// A sign-off by someone else is given in a session of their own: the
    /// run paused for it is resumed as that person, as `rbx resume
    /// --operator NAME` would. A pause that remains says why an answer was
    /// refused, when one was.
    async fn sign_offs(
        &self,
        setup: &Setup,
        store: &MemoryStore,
        run: &rbx_store::RunId,
        mut exit: Exit,
    ) -> Exit {
        let secrets = secrets(setup);
        for (signer, theirs) in &setup.sessions {
            if !matches!(exit, Exit::Paused { .. }) {
                break;
            }
            let mut answers = setup.answers.clone();
            answers.extend(theirs.clone());
            exit = rbx_engine::resume(
                Box::new(store.clone()),
                run.clone(),
                rbx_engine::Resume::default(),
                &secrets,
                self.options(signer, answers),
            )
            .await
            .unwrap_or_else(|e| Exit::Broken(resume_error(&e)));
        }
        match exit {
            Exit::Paused { node, hint } => {
                let mut hint = match self.refusals.of(&node) {
                    Some(why) => format!("{hint}; the answer given was refused: {why}"),
                    None => hint,
                };
                if let Some(place) = self.executor.places.get(&node) {
                    hint.push_str(&format!("; `{node}` is written at {place}"));
                }
                Exit::Paused { node, hint }
            }
            other => other,
        }
    }
}

/// The secret inputs, which a resume is given again (the store never
/// keeps them).
fn secrets(setup: &Setup) -> Vec<(String, String)> {
    setup
        .inputs
        .iter()
        .filter_map(|(k, v)| match v {
            rbx_engine::value::Value::Secret(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

fn resume_error(e: &rbx_engine::ResumeError) -> String {
    match e {
        rbx_engine::ResumeError::Store(why) | rbx_engine::ResumeError::Invalid(why) => why.clone(),
        rbx_engine::ResumeError::Held(holder) => format!("held by process {}", holder.pid),
        rbx_engine::ResumeError::Changed(nodes) => {
            format!("changed: {}", rbx_engine::changes::named(nodes))
        }
    }
}
