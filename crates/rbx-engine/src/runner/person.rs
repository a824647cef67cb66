//! Nodes that need a person: answers from a file, a terminal or `rbx confirm`.

use rbx_store::Store;
use rbx_syntax::ast::{Block, BlockKind, Evidence, EvidenceType, StmtKind};
use serde_json::json;

use crate::observer::Tone;
use crate::people;
use crate::state::{Status, kind};

use super::env::{NodeEnv, base_name, for_people};
use super::record::{finish, record, settled};
use super::step::confirm_irreversible;
use super::{Done, Shared};

/// A node that needs a person: answered from the answers file if it has
/// an entry, else asked on the terminal, else the run pauses for
/// `rbx confirm`. Every answer meets the same rules (`people::settle`).
pub(crate) async fn person(
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
    let earlier = match people::earlier(&shared.journal, &shared.run, &node.id, block).await {
        Ok(earlier) => earlier,
        Err(e) => return Done::Broken(e),
    };
    let (response, via) = match gather(shared, node, block, env, &earlier) {
        Ok(answer) => answer,
        Err(done) => return *done,
    };
    // The time the person takes (a simulated run's clock moves by it).
    shared.options.executor.attend(&node.id).await;
    let identities = shared
        .roles
        .read()
        .map(|roles| roles.identities().clone())
        .unwrap_or_default();
    let who = people::Answering {
        started_by: &shared.started_by,
        operator: &shared.options.operator,
        account: &shared.options.account,
        earlier: &earlier,
        identities: &identities,
    };
    match people::settle(block, &response, &who) {
        Ok(settlement) if settlement.status == Status::Pending => {
            for signoff in &response.signoffs {
                let payload =
                    people::recorded_json(&node.id, signoff, &shared.options.operator, via);
                if let Err(e) = record(shared, kind::SIGNOFF_RECORDED, payload).await {
                    return Done::Broken(e);
                }
            }
            let waiting = settlement.waiting.join("; ");
            shared.options.observer.line(
                Tone::Note,
                &format!("⏸ {} waits for more sign-offs: {waiting}", node.id),
            );
            Done::Paused(confirm_hint(block))
        }
        Ok(settlement) => answered(shared, node, block, env, settlement, response, via).await,
        Err(problems) => {
            shared.options.observer.line(
                Tone::Bad,
                &format!("✗ {}: {}", node.id, problems.join("; ")),
            );
            Done::Paused(confirm_hint(block))
        }
    }
}

/// The person's answer and how it came: from the answers file, else the
/// terminal, else none (the run pauses for `rbx confirm`, or stops on an
/// interrupt).
fn gather(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    earlier: &[people::Signoff],
) -> Result<(people::Response, &'static str), Box<Done>> {
    let base = base_name(&node.id).unwrap_or_default();
    if let Some(given) = shared.options.answers.for_node(&node.id, &base) {
        return Ok((people::Response::from_json(given), "answers file"));
    }
    if !shared.options.observer.can_ask() {
        shared.options.observer.line(
            Tone::Note,
            &format!(
                "⏸ {} needs a person: {}",
                node.id,
                for_people(&block.title, env)
            ),
        );
        return Err(Box::new(Done::Paused(confirm_hint(block))));
    }
    match ask_person(shared, node, block, env, earlier) {
        Some(response) => Ok((response, "terminal")),
        // Ctrl-C at a prompt: the run stops as on any interrupt, and
        // nothing of the answer is recorded.
        None if shared.options.observer.interrupted() => {
            shared.interrupt.send_replace(true);
            Err(Box::new(Done::Interrupted))
        }
        // The input ended before every question had an answer: nothing
        // half-given is recorded, and the run pauses for it.
        None => Err(Box::new(Done::Paused(confirm_hint(block)))),
    }
}

/// A settled answer: its files kept in the store, then the node finished
/// with what the person gave.
async fn answered(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    settlement: people::Settlement,
    mut response: people::Response,
    via: &str,
) -> Done {
    if let Err(done) = keep_files(shared, node, block, &mut response).await {
        return *done;
    }
    shared
        .options
        .observer
        .line(Tone::Good, &format!("● {} answered ({via})", node.id));
    let mut state = settled(settlement.status, settlement.reason);
    state.branch = settlement.branch;
    state.captures = people::values(block, &response);
    response.signoffs = settlement.signoffs;
    let mut extra = response.to_json();
    extra["operator"] = json!(shared.options.operator);
    extra["via"] = json!(via);
    finish(shared, &node.id, 1, state, env.stamped(extra)).await
}

/// Reads each file the answer names and keeps it in the store, noting its
/// hash and size in the answer. A file that cannot be read pauses the node.
async fn keep_files(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    response: &mut people::Response,
) -> Result<(), Box<Done>> {
    for (name, path) in people::files(block, response) {
        let bytes = shared.options.executor.attachment(&path).map_err(|e| {
            shared.options.observer.line(
                Tone::Bad,
                &format!("✗ {}: cannot read `{path}`: {e}", node.id),
            );
            Box::new(Done::Paused(confirm_hint(block)))
        })?;
        let (run, id, name_c, path_c, size) = (
            shared.run.clone(),
            node.id.clone(),
            name.clone(),
            path.clone(),
            bytes.len(),
        );
        let hash = shared
            .journal
            .call(move |s: &mut dyn Store| s.put_attachment(&run, &id, &name_c, &path_c, &bytes))
            .await
            .map_err(|e| Box::new(Done::Broken(e.to_string())))?;
        people::kept(response, &name, &path, &hash, size);
    }
    Ok(())
}

/// Asks a person on the terminal, checking each answer as it is given.
pub(crate) fn ask_person(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    earlier: &[people::Signoff],
) -> Option<people::Response> {
    let observer = &shared.options.observer;
    let mut response = people::Response::default();
    // Plain, not a progress line: `-q` still shows what is being asked.
    shared.options.observer.line(
        Tone::Plain,
        &format!("\n● {} — {}", node.id, for_people(&block.title, env)),
    );
    let mut attested = true;
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Owner(role) => shared
                .options
                .observer
                .line(Tone::Plain, &format!("  owner: {}", role.name)),
            StmtKind::Instructions(text) => {
                shared
                    .options
                    .observer
                    .line(Tone::Plain, &for_people(text, env));
            }
            StmtKind::Evidence(evidence) => {
                if let Some(answer) = ask_evidence(shared, evidence)? {
                    response
                        .evidence
                        .insert(evidence.name.name.clone(), json!(answer));
                }
            }
            // The person's word: yes settles it, no records that it was
            // not done, as `--reject` does.
            StmtKind::Acknowledge => {
                let prompt = format!("done: {}? [yes/no]", block.title.source_form());
                let done = people::ask_until(observer.as_ref(), &prompt, people::yes_or_no)?;
                response.reject = !done;
            }
            StmtKind::Attest { role, statement } => {
                let prompt = format!(
                    "{} confirms: {} [yes/no]",
                    role.name,
                    statement.source_form()
                );
                attested &= people::ask_until(observer.as_ref(), &prompt, people::yes_or_no)?;
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
        let (choice, rationale) = ask_choice(shared, block)?;
        response.choice = Some(choice);
        response.rationale = Some(rationale);
    }
    response.signoffs = people::ask_signoffs(
        observer.as_ref(),
        block,
        &shared.started_by,
        &shared.options.operator,
        earlier,
    )?;
    Some(response)
}

/// Asks for one piece of evidence until the answer fits its type: `None`
/// when the input ends, `Some(None)` when an optional one is left empty.
fn ask_evidence(shared: &Shared, evidence: &Evidence) -> Option<Option<String>> {
    let observer = &shared.options.observer;
    let hint = evidence_hint(&evidence.ty);
    loop {
        let mut answer = observer.ask(&format!("{}{hint}", evidence.prompt.source_form()))?;
        if answer.is_empty() && matches!(evidence.ty, EvidenceType::Text) {
            answer = observer.long_text().unwrap_or_default();
        }
        if answer.is_empty() && evidence.optional {
            return Some(None);
        }
        match people::invalid(&evidence.ty, &answer) {
            None if !answer.is_empty() => return Some(Some(answer)),
            None => observer.line(Tone::Plain, "  this evidence is required"),
            Some(problem) => observer.line(Tone::Plain, &format!("  {problem}")),
        }
    }
}

/// What the prompt for evidence of type `ty` adds to say what it takes.
fn evidence_hint(ty: &EvidenceType) -> String {
    match ty {
        EvidenceType::Choice(options) => {
            let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
            format!(" [{}]", names.join("/"))
        }
        EvidenceType::Choices(options) => {
            let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
            format!(" [any of {}, separated by commas]", names.join(", "))
        }
        EvidenceType::Int => " (a whole number)".to_string(),
        EvidenceType::Bool => " [yes/no]".to_string(),
        EvidenceType::Url => " (URL)".to_string(),
        EvidenceType::File => " (path to a file)".to_string(),
        EvidenceType::Text => " (empty line: open $EDITOR)".to_string(),
    }
}

/// A decision's choice, asked until it names an option, and the reason
/// recorded with it.
fn ask_choice(shared: &Shared, block: &Block) -> Option<(String, String)> {
    let observer = &shared.options.observer;
    let options = people::options(block);
    let prompt = format!("your choice [{}]", options.join("/"));
    let choice = people::ask_until(observer.as_ref(), &prompt, |answer| {
        options
            .iter()
            .find(|o| **o == answer.trim())
            .map(|o| (*o).to_string())
            .ok_or_else(|| format!("`{answer}` is not one of {}", options.join(", ")))
    })?;
    let rationale = observer.ask("why (recorded with the choice)")?;
    Some((choice, rationale))
}

/// The `rbx confirm` flags a people's node needs, for the pause message.
pub(crate) fn confirm_hint(block: &Block) -> String {
    let mut flags = Vec::new();
    for stmt in &block.body {
        match &stmt.kind {
            StmtKind::Evidence(e) if !e.optional => {
                flags.push(format!("--evidence {}=…", e.name.name));
            }
            StmtKind::Attest { .. } if !flags.iter().any(|f| f == "--attest") => {
                flags.push("--attest".to_string());
            }
            StmtKind::By(roles) => flags.push(people::signoff_hint(roles)),
            _ => {}
        }
    }
    if block.kind == BlockKind::Choose {
        let options = people::options(block).join("|");
        flags.push(format!("--choice {options} --rationale \"…\""));
    }
    flags.join(" ")
}
