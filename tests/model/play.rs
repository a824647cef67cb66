//! Playing a case: each operation through `rbx` and through the model,
//! compared, then the checks over the whole journal and the report.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rbx_model::{By, Event, InDoubt, Kind, Model, ModelError, Script, Status, Stop};
use rbx_store::{SqliteStore, Store as _};
use rbx_syntax::ast::BlockKind;

use crate::case::{
    Action, Actions, Concrete, PROOF_FILES, Played, confirm_flags, downtime, policy_name,
};
use crate::compare::{
    Facts, KNOWN, engine_outcome, judge, lines, observe, outcome_name, stop_name,
};
use crate::generate::{Crash, OpSpec, Person, START_MS, STEP_MS, person_of};

const RBX: &str = env!("CARGO_BIN_EXE_rbx");

/// A case's directory: `case.runbook`, `answers.toml`, the store in `.rbx`.
pub(crate) struct Bench {
    pub(crate) dir: tempfile::TempDir,
    /// `RBX_CHECKPOINT_EVERY`, if the case sets it.
    checkpoint_every: Option<u32>,
    /// When the next command starts on the simulated clock.
    clock: std::cell::Cell<i64>,
}

pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) killed: bool,
    pub(crate) stderr: String,
}

impl Bench {
    pub(crate) fn new(concrete: &Concrete) -> Bench {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("case.runbook"), &concrete.text).expect("write the runbook");
        for (name, text) in rbx_model::CHILDREN {
            std::fs::write(dir.path().join(name), text).expect("write a child runbook");
        }
        std::fs::write(dir.path().join("answers.toml"), concrete.answers_file())
            .expect("write the answers");
        for file in PROOF_FILES {
            std::fs::write(dir.path().join(file), "proof\n").expect("write a proof file");
        }
        Bench {
            dir,
            checkpoint_every: concrete.checkpoint_every,
            clock: std::cell::Cell::new(START_MS),
        }
    }

    pub(crate) fn rbx(&self, args: &[String], crash: Option<u32>) -> Ran {
        let mut command = Command::new(RBX);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("RBX_OPERATOR", "tester")
            .env_remove("RBX_CHECKPOINT_EVERY")
            .env_remove("RBX_STATE_DIR")
            .env_remove(rbx_store::CRASH_AFTER_EVENTS)
            .env(
                rbx_engine::executor::TEST_CLOCK,
                format!("{}:{STEP_MS}", self.clock.get()),
            )
            .stdin(Stdio::null());
        if let Some(every) = self.checkpoint_every {
            command.env("RBX_CHECKPOINT_EVERY", every.to_string());
        }
        if let Some(n) = crash {
            command.env(rbx_store::CRASH_AFTER_EVENTS, n.to_string());
        }
        // After a crash, a step's processes may outlive rbx for a moment,
        // and rbx refuses to act while they run (S2): wait, as an
        // operator would, and ask again.
        let mut output = command.output().expect("rbx runs");
        for _ in 0..100 {
            if !String::from_utf8_lossy(&output.stderr)
                .contains("is still running from the last drive")
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            output = command.output().expect("rbx runs");
        }
        Ran {
            code: output.status.code(),
            killed: output.status.signal() == Some(9),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub(crate) fn store(&self) -> PathBuf {
        self.dir.path().join(".rbx")
    }

    /// The case's one run and its journal, once it exists.
    pub(crate) fn journal(&self) -> Option<(String, Vec<rbx_store::Event>)> {
        if !self.store().join("rbx.db").exists() {
            return None;
        }
        let store = SqliteStore::open(&self.store()).expect("the store opens");
        let run = store.runs().expect("the runs").into_iter().next()?;
        let events = store.events(&run.id).expect("the journal");
        Some((run.id.to_string(), events))
    }

    /// The command line of an action on the run `run`.
    pub(crate) fn args(action: &Action, run: &str) -> Vec<String> {
        let drive = |mut args: Vec<String>, policy: &Option<InDoubt>| {
            args.extend(
                [
                    "--non-interactive",
                    "--answers",
                    "answers.toml",
                    "--state-dir",
                    ".rbx",
                    "--jobs",
                    "1",
                ]
                .map(String::from),
            );
            if let Some(p) = policy {
                args.extend(["--in-doubt".to_string(), policy_name(*p).to_string()]);
            }
            args
        };
        match action {
            Action::Run { .. } => drive(vec!["run".into(), "case.runbook".into()], &None),
            Action::Resume { in_doubt, from, .. } => {
                let mut args = drive(vec!["resume".into(), run.into()], in_doubt);
                if let Some(from) = from {
                    args.extend([
                        "--from".into(),
                        from.clone(),
                        "--reason".into(),
                        "again".into(),
                    ]);
                }
                args
            }
            Action::Confirm { node, answer } => {
                let mut args: Vec<String> = vec![
                    "confirm".into(),
                    run.into(),
                    node.clone(),
                    "--state-dir".into(),
                    ".rbx".into(),
                ];
                args.extend(confirm_flags(answer));
                args
            }
            Action::Cancel { in_doubt, .. } => drive(
                vec![
                    "cancel".into(),
                    run.into(),
                    "--reason".into(),
                    "stop".into(),
                ],
                in_doubt,
            ),
        }
    }
}

/// One case, end to end.
pub(crate) struct Play {
    pub(crate) script: Script,
    /// The minutes that pass before each operation (`case::downtime`).
    pub(crate) downtimes: Vec<u32>,
    pub(crate) bench: Bench,
    pub(crate) log: Vec<Action>,
    /// The known engine bugs this case ran into.
    pub(crate) known: BTreeSet<&'static str>,
    /// What the actions came to (`resume: ended`, `run: crashed`, …).
    pub(crate) seen: BTreeSet<String>,
}

impl Play {
    /// Does `action` with rbx and with the model, compares, and brings the
    /// model to the journal's state. `Ok(false)` ends the case: the model
    /// does not cover the action (it is then not done at all), or the
    /// engine ran into a known bug.
    pub(crate) fn act(&mut self, model: &mut Model<'_>, action: Action) -> Result<bool, String> {
        // The time that passes before it: a pause for a person, downtime.
        model.set_clock(model.now() + downtime(&self.downtimes, self.log.len()));
        self.bench.clock.set(model.now());
        let expected = match model.clone().perform(&action.op(), &self.script) {
            Ok(done) => done,
            Err(ModelError::Unsupported(_)) => return Ok(false),
            Err(broken) => {
                return Err(format!(
                    "{action:?}: {broken}: a lint-clean runbook breaks (E3)"
                ));
            }
        };
        // Flows the rules say were left already (L2: when the leaving node
        // settled): the engine may record one only now, when a crash kept
        // its `flow_left` from the journal of an earlier operation.
        let left_already: BTreeSet<(String, String)> = model.left().into_iter().collect();
        let before = self.bench.journal().map_or(0, |(_, events)| events.len());
        let run = self.bench.journal().map(|(run, _)| run).unwrap_or_default();
        let ran = self.bench.rbx(&Bench::args(&action, &run), action.crash());
        self.log.push(action.clone());
        let recorded: Vec<rbx_store::Event> = self
            .bench
            .journal()
            .map(|(_, events)| events[before.min(events.len())..].to_vec())
            .unwrap_or_default();
        let events: Vec<Event> = recorded.iter().flat_map(observe).collect();
        self.note_coverage(&action, ran.killed, &events, &expected);
        let crashed = ran.killed && action.crash().is_some();
        let outcome = (!crashed).then(|| engine_outcome(&action, &ran, &events));
        let model_facts = Facts::of(&expected.events, Some(outcome_name(&expected.outcome)));
        let (engine_facts, problem) = judge(&model_facts, &events, outcome, crashed, &left_already);
        if let Some(problem) = problem {
            if let Some(known) = KNOWN.iter().find(|k| (k.seen)(&engine_facts, &model_facts)) {
                // The engine's state is now one the rules never reach:
                // nothing after it can be compared.
                self.known.insert(known.fixture);
                return Ok(false);
            }
            let short = if crashed {
                ", cut short by a crash"
            } else {
                ""
            };
            return Err(format!(
                "{action:?}{short}: the engine and the model disagree\n{problem}\nengine events:\n{}\nmodel events:\n{}",
                lines(&events),
                lines(&expected.events)
            ));
        }
        // Each event applied at the time the journal says it happened.
        for event in &recorded {
            if let Ok(at) = rbx_syntax::time::parse_timestamp(&event.time) {
                model.set_clock(at);
            }
            for seen in observe(event) {
                model.apply(&seen);
            }
        }
        Ok(true)
    }

    /// Notes what the action covered: its kind and how it ended, and each
    /// kind of event the rules say it makes that a case may never reach.
    fn note_coverage(
        &mut self,
        action: &Action,
        killed: bool,
        events: &[Event],
        expected: &rbx_model::Done,
    ) {
        let kind = format!("{:?}", action.op());
        let kind = kind
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let how = if killed {
            "crashed".to_string()
        } else {
            outcome_name(&expected.outcome)
        };
        let how = how.split(':').next().unwrap_or_default().to_string();
        self.seen.insert(format!("{kind}: {how}"));
        if let (true, Some(Event::Started(_))) = (killed, events.last()) {
            self.seen.insert("killed with a step in doubt".to_string());
        }
        if let Action::Resume { from: Some(_), .. } = action {
            self.seen.insert("resume --from".to_string());
        }
        for event in &expected.events {
            let what = match event {
                Event::InDoubt { rerun: true, .. } => "in doubt: rerun",
                Event::InDoubt { rerun: false, .. } => "in doubt: done",
                Event::Left { .. } => "a flow left",
                Event::Bypassed { .. } => "a node skipped by its condition",
                Event::Settled {
                    status: Status::Cancelled,
                    ..
                } => "a node cancelled",
                Event::CleanupStarted { at_end: false, .. } => "a stage's clean-up began",
                Event::CleanupStarted { at_end: true, .. } => {
                    "a stage's clean-up began at the run's end"
                }
                Event::CleanupsReset(_) => "a stage's clean-up reset by --from or a re-drive",
                Event::Due { .. } => "an every's iteration waited for",
                Event::Missed { .. } => "an every's iteration missed",
                Event::Settled { node, .. } if node.contains(".every-") => {
                    "an every's iteration ran"
                }
                Event::EveryStopped { .. } => "an every stopped",
                _ => continue,
            };
            self.seen.insert(what.to_string());
        }
    }

    /// Drives the run to its end: answers what it pauses for, decides what
    /// is in doubt, re-drives a failed run once.
    pub(crate) fn finish(&mut self, model: &mut Model<'_>) -> Result<bool, String> {
        let views = model.nodes();
        let mut failed_once = false;
        for _ in 0..16 {
            let action = match model.stopped().cloned() {
                Some(Stop::Ended(_)) => return Ok(true),
                Some(Stop::Failed(_)) if failed_once => return Ok(true),
                Some(Stop::Failed(_)) => {
                    failed_once = true;
                    Action::Resume {
                        crash: None,
                        in_doubt: Some(InDoubt::Rerun),
                        from: None,
                    }
                }
                Some(Stop::Paused(node)) => {
                    let view = views.iter().find(|v| v.id == node);
                    let answer = match view.map(|v| (v.kind, v.options.first())) {
                        Some((Kind::Person(BlockKind::Gate), _)) => "attest".to_string(),
                        Some((Kind::Person(BlockKind::Signoff), _)) => "go".to_string(),
                        Some((Kind::Person(BlockKind::Choose), Some(option))) => {
                            format!("choice:{option}")
                        }
                        _ => Person::manual(&node).answer(0),
                    };
                    if !self.act(model, Action::Confirm { node, answer })? {
                        return Ok(false);
                    }
                    Action::Resume {
                        crash: None,
                        in_doubt: Some(InDoubt::Rerun),
                        from: None,
                    }
                }
                None => Action::Resume {
                    crash: None,
                    in_doubt: Some(InDoubt::Rerun),
                    from: None,
                },
            };
            if !self.act(model, action)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The checks over the whole journal, and the report against it.
    pub(crate) fn check_journal(&self, model: &Model<'_>) -> Result<(), String> {
        let Some((run, events)) = self.bench.journal() else {
            return Ok(());
        };
        let mut settled: BTreeMap<String, Status> = BTreeMap::new();
        let mut running: BTreeSet<String> = BTreeSet::new();
        for event in &events {
            for seen in observe(event) {
                let unsettled = |id: &str| -> Vec<String> {
                    model
                        .waits_for(id)
                        .into_iter()
                        .filter(|p| !settled.contains_key(p))
                        .collect()
                };
                let at = format!("event {} ({} {})", event.seq, event.kind, event.payload);
                // R4: the first node of an item not admitted yet starts only
                // while fewer than `N` items before it are unfinished.
                let crowded = |id: &str| -> Option<usize> {
                    model.items_it_starts(id).into_iter().find_map(|turn| {
                        let admitted = turn
                            .own
                            .iter()
                            .any(|m| settled.contains_key(m) || running.contains(m));
                        // Y1: the clean-up of an instance that did not
                        // start never runs, and counts as finished.
                        let finished = |m: &String| {
                            settled.contains_key(m)
                                || turn.cleaning.get(m).is_some_and(|s| {
                                    settled.get(s).is_some_and(|&st| st != Status::Succeeded)
                                })
                        };
                        let unfinished = turn
                            .before
                            .iter()
                            .filter(|item| !item.iter().all(finished))
                            .count();
                        (!admitted && unfinished >= turn.at_once).then_some(unfinished)
                    })
                };
                match &seen {
                    Event::Started(id) => {
                        let waiting = unsettled(id);
                        if !waiting.is_empty() {
                            return Err(format!("{at}: started before {waiting:?} settled (R1)"));
                        }
                        if let Some(unfinished) = crowded(id) {
                            return Err(format!(
                                "{at}: started its item with {unfinished} items before it unfinished (R4)"
                            ));
                        }
                        if settled.contains_key(id) {
                            return Err(format!("{at}: started again after it settled (S1)"));
                        }
                        if !running.insert(id.clone()) {
                            return Err(format!(
                                "{at}: started again while in doubt, with no decision to rerun it"
                            ));
                        }
                    }
                    Event::Settled {
                        node, status, by, ..
                    } => {
                        let waiting = unsettled(node);
                        if !waiting.is_empty() && *by != By::Operator {
                            return Err(format!(
                                "{at}: settled before {waiting:?} settled (R1, P2)"
                            ));
                        }
                        if let Some(unfinished) = crowded(node).filter(|_| *by != By::Operator) {
                            return Err(format!(
                                "{at}: settled its item with {unfinished} items before it unfinished (R4)"
                            ));
                        }
                        if settled.insert(node.clone(), *status).is_some() {
                            return Err(format!("{at}: settled twice (S1)"));
                        }
                        running.remove(node);
                    }
                    Event::Skipped(id)
                    | Event::Bypassed { node: id, .. }
                    | Event::Missed { tick: id, .. } => {
                        let waiting = unsettled(id);
                        if !waiting.is_empty() {
                            return Err(format!("{at}: skipped before {waiting:?} settled (R1)"));
                        }
                        if settled.insert(id.clone(), Status::Skipped).is_some() {
                            return Err(format!("{at}: skipped after it settled"));
                        }
                        running.remove(id);
                    }
                    Event::InDoubt { node, rerun: true } => {
                        running.remove(node);
                    }
                    // V3: the iterations skipped in one event.
                    Event::EveryStopped { skipped, .. } => {
                        for id in skipped {
                            if settled.insert(id.clone(), Status::Skipped).is_some() {
                                return Err(format!("{at}: `{id}` skipped after it settled"));
                            }
                        }
                    }
                    Event::Reset(ids) => {
                        for id in ids {
                            settled.remove(id);
                            running.remove(id);
                        }
                    }
                    _ => {}
                }
            }
        }
        check_checkpoints(&events)?;
        self.check_report(&run, model)
    }

    /// `rbx report --format json` says what the journal says.
    pub(crate) fn check_report(&self, run: &str, model: &Model<'_>) -> Result<(), String> {
        let ran = Command::new(RBX)
            .args(["report", "--format", "json", "--state-dir", ".rbx", run])
            .current_dir(self.bench.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("rbx report runs");
        let report: serde_json::Value = serde_json::from_slice(&ran.stdout)
            .map_err(|e| format!("rbx report --format json: {e}"))?;
        let said = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|s| s.as_str()).map(str::to_string)
        };
        let outcome = &report["outcome"];
        let expected = match model.stopped() {
            Some(Stop::Ended(o)) => Some(("ended", Some(o.clone()), None)),
            Some(Stop::Failed(n)) => Some(("failed", None, Some(n.clone()))),
            Some(Stop::Paused(n)) => Some(("paused", None, Some(n.clone()))),
            None => None,
        };
        if let Some((status, o, node)) = expected {
            let got = (
                said(outcome, "status"),
                said(outcome, "outcome"),
                said(outcome, "node"),
            );
            if got != (Some(status.to_string()), o.clone(), node.clone()) {
                return Err(format!(
                    "the report's outcome is {got:?}; the journal says {status} {o:?} {node:?}"
                ));
            }
        }
        let paused = match model.stopped() {
            Some(Stop::Paused(n)) => Some(n.clone()),
            _ => None,
        };
        let result = |id: &str| match model.status(id) {
            Status::Succeeded => "done",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
            Status::Running => "in_doubt",
            Status::Pending if paused.as_deref() == Some(id) => "waiting",
            Status::Pending if matches!(model.stopped(), Some(Stop::Ended(_))) => "not_reached",
            Status::Pending => "pending",
        };
        // Rows for a checked node with many instances (a loop never
        // reached, an `again` inside a loop) stand for several nodes of
        // the run and are not checked.
        let ids: BTreeSet<String> = model.nodes().into_iter().map(|v| v.id).collect();
        let stages = report["stages"].as_array().cloned().unwrap_or_default();
        for stage in &stages {
            let mut entries = vec![(said(stage, "instance"), said(stage, "result"))];
            // An `again` row sums up its instance, which has a section of
            // its own.
            let steps = stage["steps"].as_array().into_iter().flatten();
            for step in steps.filter(|s| said(s, "kind").as_deref() != Some("again")) {
                entries.push((said(step, "id"), said(step, "result")));
            }
            for (id, got) in entries {
                let id = id.unwrap_or_default();
                if !ids.contains(&id) {
                    continue;
                }
                if got.as_deref() != Some(result(&id)) {
                    return Err(format!(
                        "the report says `{id}` is {got:?}; the journal says {}",
                        result(&id)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Plays one case: lint, then every action through rbx and the model.
pub(crate) fn play(
    concrete: &Concrete,
    actions: Actions<'_>,
) -> Result<Played, (String, Vec<Action>)> {
    let bench = Bench::new(concrete);
    let lint = bench.rbx(&["lint".into(), "case.runbook".into()], None);
    if lint.code != Some(0) {
        return Err((
            format!("rbx lint refuses the runbook:\n{}", lint.stderr),
            Vec::new(),
        ));
    }
    let report = rbx_model::check_text(&concrete.text);
    let Some(graph) = report.graph.as_ref() else {
        return Err(("the runbook has no graph".to_string(), Vec::new()));
    };
    let mut model = match Model::new(graph, concrete.inputs.clone()) {
        Ok(model) => model,
        Err(e) => return Err((format!("the model refuses the runbook: {e}"), Vec::new())),
    };
    model.set_clock(START_MS);
    model.steps_take(STEP_MS);
    let mut play = Play {
        script: concrete.script(),
        downtimes: concrete.downtimes.clone(),
        bench,
        log: Vec::new(),
        known: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    let result = play.steps(&mut model, actions).and_then(|covered| {
        // A case cut short left the engine where the rules never go.
        if covered {
            play.check_journal(&model)?;
        }
        Ok(covered)
    });
    let end = model.stopped().map_or("going".to_string(), stop_name);
    match result {
        Ok(covered) => Ok(Played {
            end,
            covered,
            known: play.known,
            seen: play.seen,
        }),
        Err(why) => Err((why, play.log)),
    }
}

impl Play {
    /// The model as the next operation finds it, once the time before it
    /// has passed.
    fn later<'g>(&self, model: &Model<'g>) -> Model<'g> {
        let mut later = model.clone();
        later.set_clock(model.now() + downtime(&self.downtimes, self.log.len()));
        later
    }

    /// The action with its crash as a number of events. A crash in a step
    /// counts, in the events the model expects, up to the `node_started`
    /// of the step at that position: the journal holds the same events in
    /// the same order, after `run_started` for a run. (`rbx cancel` writes
    /// `run_cancelled` with a store of its own, then resumes with another:
    /// the count starts again there.)
    pub(crate) fn aim(
        &self,
        model: &Model<'_>,
        mut action: Action,
        crash: Option<Crash>,
    ) -> Action {
        let n = match crash {
            None => None,
            Some(Crash::After(n)) => Some(n),
            Some(Crash::InStep(k)) => self
                .later(model)
                .perform(&action.op(), &self.script)
                .ok()
                .and_then(|done| {
                    let starts: Vec<usize> = (0..done.events.len())
                        .filter(|&i| matches!(done.events[i], Event::Started(_)))
                        .collect();
                    let i = *starts.get(usize::from(k) % starts.len().max(1))?;
                    let before = match action {
                        Action::Run { .. } => i + 2,
                        Action::Cancel { .. } => i,
                        Action::Resume { .. } | Action::Confirm { .. } => i + 1,
                    };
                    u32::try_from(before).ok()
                }),
        };
        match &mut action {
            Action::Run { crash } | Action::Resume { crash, .. } | Action::Cancel { crash, .. } => {
                *crash = n
            }
            Action::Confirm { .. } => {}
        }
        action
    }

    pub(crate) fn steps(
        &mut self,
        model: &mut Model<'_>,
        actions: Actions<'_>,
    ) -> Result<bool, String> {
        match actions {
            Actions::Listed(list) => {
                for action in list {
                    if !self.act(model, action)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Actions::Generated(case) => {
                let run = self.aim(model, Action::Run { crash: None }, case.crash);
                if !self.act(model, run)? {
                    return Ok(false);
                }
                let views = model.nodes();
                let people: Vec<&rbx_model::NodeView> = views
                    .iter()
                    .filter(|v| matches!(v.kind, Kind::Person(_)))
                    .collect();
                for op in &case.ops {
                    let action = match op {
                        OpSpec::Resume {
                            crash,
                            policy,
                            from,
                        } => {
                            let resume = Action::Resume {
                                crash: None,
                                in_doubt: *policy,
                                from: from.map(|i| {
                                    views
                                        .get(usize::from(i) % (views.len() + 1))
                                        .map_or("nowhere".to_string(), |v| v.id.clone())
                                }),
                            };
                            self.aim(model, resume, *crash)
                        }
                        OpSpec::Confirm {
                            waiting,
                            pick,
                            answer,
                        } => {
                            let waiting_now = model.waiting();
                            let node = if *waiting && !waiting_now.is_empty() {
                                waiting_now[usize::from(*pick) % waiting_now.len()].clone()
                            } else if let Some(v) =
                                people.get(usize::from(*pick) % people.len().max(1))
                            {
                                v.id.clone()
                            } else {
                                continue;
                            };
                            let person = person_of(&views, &node);
                            let answer = person.answer(*answer);
                            // `rbx confirm` cannot say an attestation was not made.
                            let answer = if answer == "attest:no" {
                                "reject".to_string()
                            } else {
                                answer
                            };
                            Action::Confirm { node, answer }
                        }
                        OpSpec::Cancel { crash, policy } => {
                            let cancel = Action::Cancel {
                                crash: None,
                                in_doubt: *policy,
                            };
                            self.aim(model, cancel, *crash)
                        }
                    };
                    if !self.act(model, action)? {
                        return Ok(false);
                    }
                }
                self.finish(model)
            }
        }
    }
}

/// Every checkpoint in the journal is the state of the events before it,
/// and the state read from it and the events after it is the state of the
/// whole journal: what a resume reads is what a full replay says.
fn check_checkpoints(events: &[rbx_store::Event]) -> Result<(), String> {
    rbx_engine::checkpoint::check(events).map_err(|m| format!("event {}: {}", m.seq, m.reason))?;
    let whole = rbx_engine::replay(events);
    for (at, event) in events.iter().enumerate() {
        if event.kind != rbx_engine::state::kind::CHECKPOINT {
            continue;
        }
        let read = rbx_engine::checkpoint::replay_from(&events[at..]);
        if !read.is_some_and(|state| state.same_for_executor(&whole)) {
            return Err(format!(
                "the checkpoint at event {} and the events after it do not replay to the \
                 state of the whole journal",
                event.seq
            ));
        }
    }
    Ok(())
}
