//! `rbx runs`, `rbx status`, `rbx log` and `rbx confirm`: reading the store,
//! and giving a paused run what it waits for.

use rbx_check::graph::NodeKind;
use rbx_engine::Procedure;
use rbx_engine::people::confirm::{Answer, Confirmed, Who};
use rbx_engine::people::{Response, Signoff};
use rbx_store::{RunSummary, Store, StoreError};
use rbx_syntax::ast::{Block, BlockKind};
use serde_json::json;

use crate::cli::{ConfirmArgs, LogArgs, RunsArgs, StatusArgs, ViewFormat};
use crate::run_cmd::open_store;
use crate::{exit, pick};

/// A line on standard output; a closed pipe (`rbx status | head`) ends the
/// output quietly rather than with a panic.
/// Bytes on standard output as they are, with the same care for a closed
/// pipe.
fn out(bytes: &[u8]) {
    use std::io::Write as _;
    let _ = std::io::stdout()
        .lock()
        .write_all(String::from_utf8_lossy(bytes).as_bytes());
}

fn fail(message: impl std::fmt::Display) -> u8 {
    errln!("error: {message}");
    exit::INVALID
}

pub fn runs(args: &RunsArgs) -> u8 {
    let location = match crate::store_cmd::location(&args.store) {
        Ok(location) => location,
        Err(status) => return status,
    };
    let store = match open_store(&location) {
        Ok(store) => store,
        Err(status) => return status,
    };
    let runs = match store.runs() {
        Ok(runs) => runs,
        Err(e) => return fail(e),
    };
    let view = rbx_views::RunsView::of(&runs);
    match args.format {
        ViewFormat::Json => print_json(&view),
        ViewFormat::Text if runs.is_empty() => {
            outln!("no runs in {location}");
        }
        ViewFormat::Text => out(view.text().as_bytes()),
    }
    exit::SUCCESS
}

/// A view as one line of JSON on standard output.
fn print_json(view: &impl serde::Serialize) {
    match serde_json::to_string(view) {
        Ok(json) => outln!("{json}"),
        Err(e) => errln!("error: cannot write JSON: {e}"),
    }
}

fn procedure_of(store: &dyn Store, summary: &RunSummary) -> Result<Procedure, u8> {
    let sources = store.sources(&summary.id).map_err(fail)?;
    rbx_engine::procedure_from_snapshot(&summary.entry, sources).map_err(fail)
}

pub fn status(args: &StatusArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let (store, summary) = crate::pick::open(
            &args.store,
            args.run.as_deref(),
            crate::pick::Default::Latest,
        )?;
        let events = store.events(&summary.id).map_err(fail)?;
        let state = rbx_engine::replay(&events);
        let procedure = procedure_of(store.as_ref(), &summary)?;
        // A run recorded as running whose driver is gone was interrupted
        // (kill -9, a reboot): its running steps are in doubt.
        let driven = matches!(store.holder(&summary.id, &this_host()), Ok(Some((_, true))));
        let view = rbx_views::StatusView::of(&summary, &state, &procedure, driven);
        match args.format {
            ViewFormat::Json => print_json(&view),
            ViewFormat::Text => out(view.text().as_bytes()),
        }
        Ok(exit::SUCCESS)
    };
    attempt().unwrap_or_else(|status| status)
}

fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

pub fn log(args: &LogArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let location = crate::store_cmd::location(&args.store)?;
        let store = open_store(&location)?;
        // `rbx log STEP` (one argument naming no run) is a step of the
        // latest run.
        let (run, step) = match (&args.run, &args.step) {
            (Some(one), None) if !pick::names_a_run(store.as_ref(), one) => {
                (None, Some(one.clone()))
            }
            (run, step) => (run.clone(), step.clone()),
        };
        let summary = pick::run(
            store.as_ref(),
            run.as_deref(),
            pick::Default::Latest,
            &location,
        )?;
        let events = store.events(&summary.id).map_err(fail)?;
        let state = rbx_engine::replay(&events);
        let step = match step {
            Some(step) => Some(known_step(store.as_ref(), &summary, &state, &step)?),
            None => None,
        };
        let mut outputs = Vec::new();
        if let Some(step) = &step {
            let attempts = state.nodes.get(step).map_or(0, |n| n.attempts);
            for attempt in 1..=attempts {
                for stream in ["stdout", "stderr"] {
                    if let Ok(Some(output)) = store.output(&summary.id, step, attempt, stream) {
                        outputs.push((attempt, stream, output));
                    }
                }
            }
        }
        if args.format == ViewFormat::Json {
            let view =
                rbx_views::LogView::of(summary.id.as_str(), step.as_deref(), &events, outputs);
            print_json(&view);
            return Ok(exit::SUCCESS);
        }
        let view =
            rbx_views::LogView::of(summary.id.as_str(), step.as_deref(), &events, Vec::new());
        out(view.events_text().as_bytes());
        // Kept output byte for byte, as the command wrote it.
        for (attempt, stream, output) in outputs {
            outln!("--- {stream}, attempt {attempt} ({} bytes)", output.total);
            out(&output.head);
            let kept = (output.head.len() + output.tail.len()) as u64;
            if output.total > kept {
                outln!("\n[… {} bytes not kept …]", output.total - kept);
            }
            out(&output.tail);
        }
        Ok(exit::SUCCESS)
    };
    attempt().unwrap_or_else(|status| status)
}

/// The full id of a step of the run: as given, or the one instance whose
/// id in the runbook it is; otherwise an error naming the closest ids.
fn known_step(
    store: &dyn Store,
    summary: &RunSummary,
    state: &rbx_engine::RunState,
    asked: &str,
) -> Result<String, u8> {
    let procedure = procedure_of(store, summary)?;
    let graph = &procedure.graph.graph;
    let mut ids: Vec<String> = graph.node_indices().map(|i| graph[i].id.clone()).collect();
    ids.extend(state.nodes.keys().cloned());
    ids.sort();
    ids.dedup();
    if ids.iter().any(|id| id == asked) {
        return Ok(asked.to_string());
    }
    let short: Vec<&String> = state
        .nodes
        .keys()
        .filter(|id| rbx_engine::base_name(id).as_deref() == Some(asked))
        .collect();
    if let [only] = short.as_slice() {
        return Ok((*only).clone());
    }
    let mut close: Vec<&String> = ids
        .iter()
        .filter(|id| {
            rbx_engine::base_name(id)
                .is_some_and(|b| strsim::levenshtein(&b, asked) <= 2 || b == asked)
        })
        .collect();
    close.truncate(5);
    let hint = if close.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = close.iter().map(|s| s.as_str()).collect();
        format!("; did you mean {}?", names.join(", "))
    };
    Err(fail(format!(
        "run {} has no step `{asked}`{hint}",
        summary.id
    )))
}

pub fn confirm(args: &ConfirmArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        // `rbx confirm STEP` is a step of the latest unfinished run.
        let (run, step) = match (&args.first, &args.step) {
            (Some(run), Some(step)) => (Some(run.as_str()), step.as_str()),
            (Some(step), None) => (None, step.as_str()),
            _ => return Err(fail("give the step to confirm: `rbx confirm [RUN] STEP`")),
        };
        let location = crate::store_cmd::location(&args.store)?;
        let mut store = open_store(&location)?;
        let summary = pick::run(store.as_ref(), run, pick::Default::Unfinished, &location)?;
        // A run being driven writes its own journal; an answer given beside
        // it could cross what it is doing.
        if let Ok(Some((holder, true))) = store.holder(&summary.id, &this_host()) {
            return Err(fail(format!(
                "run {} is being driven by process {} on {}: answer at its terminal, or stop it first",
                summary.id, holder.pid, holder.host
            )));
        }
        let procedure = procedure_of(store.as_ref(), &summary)?;
        let events = store.events(&summary.id).map_err(fail)?;
        let state = rbx_engine::replay(&events);
        if let rbx_engine::RunStatus::Ended { outcome } = &state.status {
            return Err(fail(format!(
                "run {} has already ended ({outcome}); nothing can be confirmed",
                summary.id
            )));
        }
        let step = waited_for(&procedure, &summary, &state, step)?;
        let block = persons_block(&procedure, &step)?;
        let answer = Answer::new(&procedure, &summary, &events, &state, &step, block);
        let response = response_of(args)?;
        let operator = crate::identity::operator_on(store.as_ref(), args.operator.as_deref())?;
        let account = crate::identity::account();
        let who = Who {
            operator: &operator,
            account: &account,
        };
        let settlement = answer.settle(&response, who).map_err(|problems| {
            fail(format!(
                "`{step}` is not settled by this: {}",
                problems.join("; ")
            ))
        })?;
        say_who_answers(&answer, &response, who);
        let confirmed = answer
            .record(store.as_mut(), response, settlement, who)
            .map_err(fail)?;
        match confirmed {
            Confirmed::Waiting(waiting) => errln!(
                "recorded {operator}'s sign-off for {step} in run {}; it still waits: {}",
                summary.id,
                waiting.join("; ")
            ),
            Confirmed::Settled => {
                // A child run (`PARENT/NODE`) goes on only through its top
                // run.
                let top = summary.id.as_str().split('/').next().unwrap_or_default();
                errln!(
                    "recorded {step} for run {}; go on with: rbx resume {top}",
                    summary.id
                );
            }
        }
        Ok(exit::SUCCESS)
    };
    attempt().unwrap_or_else(|status| status)
}

/// The person's node `step` stands for. Only people's steps are confirmed:
/// a command runs when the run is resumed, and an irreversible one is
/// confirmed at the terminal or with `confirm = "ID"` in an answers file.
fn persons_block<'a>(procedure: &'a Procedure, step: &str) -> Result<&'a Block, u8> {
    let base = step.split('[').next().unwrap_or(step);
    let Some(index) = procedure.graph.node(base) else {
        return Err(fail(format!("the run has no step `{step}`")));
    };
    let NodeKind::Block(block) = &procedure.graph.graph[index].kind else {
        return Err(fail(format!("`{step}` does not wait for a person")));
    };
    if matches!(
        block.kind,
        BlockKind::Step | BlockKind::Wait | BlockKind::Decide
    ) {
        return Err(fail(format!(
            "`{step}` is not a person's step: resume the run to go on with it \
             (an irreversible step is confirmed at the terminal, or with \
             `confirm = \"{}\"` in an `--answers` file)",
            block.id.name
        )));
    }
    Ok(block)
}

/// The answer `rbx confirm`'s flags give.
fn response_of(args: &ConfirmArgs) -> Result<Response, u8> {
    let mut response = Response {
        choice: args.choice.clone(),
        rationale: args.rationale.clone(),
        reject: args.reject,
        attest: args.attest.then_some(true),
        ..Default::default()
    };
    for pair in &args.evidence {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(fail(format!("`--evidence {pair}`: expected KEY=VALUE")));
        };
        response.evidence.insert(key.to_string(), json!(value));
    }
    for given in &args.signoff {
        let parsed = given.split_once('=').and_then(|(role, rest)| {
            let mut parts = rest.splitn(3, ':');
            let by = parts.next()?.to_string();
            let decision = parts.next()?;
            Some(Signoff {
                role: role.to_string(),
                by,
                go: decision.eq_ignore_ascii_case("GO"),
                comment: parts.next().map(str::to_string),
                account: None,
            })
        });
        let Some(signoff) = parsed else {
            return Err(fail(format!(
                "`--signoff {given}`: expected ROLE=NAME:GO or ROLE=NAME:NO-GO[:comment]"
            )));
        };
        response.signoffs.push(signoff);
    }
    Ok(response)
}

/// Notes who the record names when the operator is not the OS account,
/// and warns when one account recorded sign-offs under several names:
/// distinct names are not distinct people when one account typed them all.
fn say_who_answers(answer: &Answer<'_>, response: &Response, who: Who<'_>) {
    let (operator, account) = (who.operator, who.account);
    if rbx_engine::people::normalise(operator) != rbx_engine::people::normalise(account) {
        errln!(
            "note: recording as operator `{operator}` from the OS account `{account}`; \
             the journal keeps both"
        );
    }
    if let Some(other) = answer.same_account(response, who) {
        errln!(
            "warning: the OS account `{account}` also recorded {}'s sign-off for `{}`; \
             rbx cannot tell whether these are different people",
            other.by,
            answer.step
        );
    }
}

/// The node `rbx confirm` is asked to answer, if the run is waiting for it
/// (rule P2): its full id, or its id in the runbook when exactly one node
/// the run waits for has it. Anything else is refused, naming what the run
/// waits for.
fn waited_for(
    procedure: &Procedure,
    summary: &RunSummary,
    state: &rbx_engine::RunState,
    asked: &str,
) -> Result<String, u8> {
    let waiting = rbx_engine::waiting_for(procedure, &summary.inputs, state);
    let people: Vec<&str> = waiting
        .iter()
        .filter(|(_, person)| *person)
        .map(|(id, _)| id.as_str())
        .collect();
    if people.contains(&asked) {
        return Ok(asked.to_string());
    }
    let short: Vec<&str> = people
        .iter()
        .copied()
        .filter(|id| rbx_engine::base_name(id).as_deref() == Some(asked))
        .collect();
    if let [only] = short.as_slice() {
        return Ok((*only).to_string());
    }
    let settled = state.nodes.get(asked).is_some_and(|n| n.status.settled());
    let automated = waiting.iter().any(|(id, person)| {
        !person && (id == asked || rbx_engine::base_name(id).as_deref() == Some(asked))
    });
    if automated {
        return Err(fail(format!(
            "`{asked}` is not a person's step: resume the run to go on with it (an \
             irreversible step is confirmed at the terminal, or with `confirm = \"ID\"` \
             in an `--answers` file)"
        )));
    }
    let why = if settled {
        format!("`{asked}` is already settled in run {}", summary.id)
    } else if short.len() > 1 {
        format!("`{asked}` names several nodes the run waits for: say which")
    } else {
        format!("run {} is not waiting for `{asked}`", summary.id)
    };
    let waits = if people.is_empty() {
        "it is not waiting for a person: resume it to go on".to_string()
    } else {
        format!("it is waiting for: {}", people.join(", "))
    };
    Err(fail(format!("{why}; {waits}")))
}

/// `rbx verify`: recomputes the run's hash chain. Exit 0 when it holds,
/// 1 when the record was altered or damaged (the event is named).
pub fn verify(args: &StatusArgs) -> u8 {
    let attempt = || -> Result<u8, u8> {
        let (store, summary) = crate::pick::open(
            &args.store,
            args.run.as_deref(),
            crate::pick::Default::Latest,
        )?;
        let events = store.events(&summary.id).map_err(fail)?;
        // Beyond the chain: each checkpoint must be the state its events
        // replay to, since a resume reads it instead of them.
        let checked = store.verify(&summary.id).and_then(|()| {
            rbx_engine::checkpoint::check(&events).map_err(|m| StoreError::ChainBroken {
                run: summary.id.clone(),
                seq: m.seq,
                reason: m.reason,
            })
        });
        match checked {
            Ok(_) => {
                // The head hash, to keep somewhere else: only a witness
                // outside the store shows a record cut short as a whole.
                let head = events
                    .last()
                    .map_or(String::new(), |e| format!("; head {}", e.hash));
                outln!(
                    "run {}: {} events, hash chain intact{head}",
                    summary.id,
                    events.len()
                );
                Ok(exit::SUCCESS)
            }
            Err(e) => {
                errln!("error: {e}");
                Ok(exit::FAILED)
            }
        }
    };
    attempt().unwrap_or_else(|status| status)
}
