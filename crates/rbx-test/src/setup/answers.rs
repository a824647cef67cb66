//! People's answers as the engine's answers file gives them, one for each
//! node a person settles, and the sessions of the other people who sign.

use std::collections::BTreeMap;

use rbx_check::graph::NodeKind;
use rbx_engine::Procedure;
use rbx_syntax::ast::{AnswerItem, AnswerKind, Block, BlockKind, NodePattern, StmtKind};
use serde_json::{Map, Value as Json, json};

use super::{Effect, Given, Setup, plain};
use crate::matching::closeness;

/// Each person's node (and irreversible step) gets the answer of the
/// closest `answer` that names it; a later one wins a tie. So does each
/// of a child run's, named by its path (`deploy_eu/approve`).
pub(super) fn people(
    procedure: &Procedure,
    setup: &mut Setup,
    answers: &[(&NodePattern, &[AnswerItem])],
    file: &str,
) {
    let own = setup
        .nodes
        .iter()
        .map(|(id, x)| (id.as_str(), id.clone(), &procedure.graph.graph[*x].kind));
    let children = setup
        .children
        .iter()
        .map(|c| (c.path.as_str(), c.answer_key(), c.kind()));
    for (id, key, kind) in own.chain(children) {
        let NodeKind::Block(block) = kind else {
            if let NodeKind::Anchor(_) = kind {
                if let Some(given) = best_given(&setup.givens, id) {
                    setup.attend.insert(id.to_string(), given);
                }
            }
            continue;
        };
        let best = answers
            .iter()
            .enumerate()
            .filter_map(|(order, (pattern, items))| {
                Some(((closeness(pattern, id)?, order), *items))
            })
            .max_by_key(|(key, _)| *key)
            .map(|(_, items)| items);
        let Some(items) = best else { continue };
        if let Some(takes) = items.iter().find_map(|i| match &i.kind {
            AnswerKind::Takes(d) => Some(d.millis),
            _ => None,
        }) {
            setup.attend.insert(
                id.to_string(),
                Effect {
                    takes: Some(takes),
                    ..Effect::default()
                },
            );
        }
        // An irreversible step is confirmed by its id in its own run.
        let own_id = crate::matching::parts(id).last().copied().unwrap_or(id);
        let mut given = answer(block, own_id, items, file);
        split_signoffs(&mut given, &key, &setup.operator, &mut setup.sessions);
        setup.answers.insert(key, given);
    }
}

/// Keeps in `given` only the sign-offs by `operator`, and gives each other
/// signer's to their own session: a sign-off is given by the person who
/// records it, each in a session of their own.
fn split_signoffs(
    given: &mut Json,
    id: &str,
    operator: &str,
    sessions: &mut Vec<(String, BTreeMap<String, Json>)>,
) {
    let Some(signoffs) = given.get_mut("signoffs").and_then(Json::as_array_mut) else {
        return;
    };
    let normal = |name: &str| rbx_engine::people::normalise(name);
    let (own, others): (Vec<Json>, Vec<Json>) = signoffs
        .drain(..)
        .partition(|s| normal(s["by"].as_str().unwrap_or_default()) == normal(operator));
    *signoffs = own;
    for signoff in others {
        let by = signoff["by"].as_str().unwrap_or_default().to_string();
        let at = match sessions
            .iter()
            .position(|(who, _)| normal(who) == normal(&by))
        {
            Some(at) => at,
            None => {
                sessions.push((by, BTreeMap::new()));
                sessions.len() - 1
            }
        };
        let entry = sessions[at]
            .1
            .entry(id.to_string())
            .or_insert_with(|| json!({ "signoffs": [] }));
        if let Some(list) = entry["signoffs"].as_array_mut() {
            list.push(signoff);
        }
    }
}

fn best_given(givens: &[Given], id: &str) -> Option<Effect> {
    givens
        .iter()
        .enumerate()
        .filter(|(_, g)| g.attempt.is_none())
        .filter_map(|(order, g)| Some(((closeness(&g.pattern, id)?, order), g.result.clone())))
        .max_by_key(|(key, _)| *key)
        .map(|(_, r)| r)
}

/// The answer as an answers file gives it (`rbx run --answers`), so the
/// engine's one rule set for people's answers judges it.
fn answer(block: &Block, id: &str, items: &[AnswerItem], file: &str) -> Json {
    let mut out = Map::new();
    let mut evidence = Map::new();
    let mut signoffs = Vec::new();
    for item in items {
        match &item.kind {
            AnswerKind::Choice(option) => {
                out.insert("choice".into(), json!(option.name));
            }
            AnswerKind::Rationale(why) => {
                out.insert("rationale".into(), json!(plain(why)));
            }
            AnswerKind::Evidence(name, given) => {
                evidence.insert(name.name.clone(), json!(plain(given)));
            }
            AnswerKind::Attest(yes) => {
                out.insert("attest".into(), json!(yes));
            }
            AnswerKind::Signoff { role, by, go } => signoffs.push(json!({
                "role": role.name,
                "by": plain(by),
                "decision": if *go { "GO" } else { "NO-GO" },
            })),
            AnswerKind::Confirm => {
                out.insert("confirm".into(), json!(id));
            }
            AnswerKind::Reject => {
                out.insert("reject".into(), json!(true));
            }
            AnswerKind::Takes(_) => {}
        }
    }
    // A choice is recorded with why it was made; a scenario need not say.
    if block.kind == BlockKind::Choose && !out.contains_key("rationale") {
        out.insert("rationale".into(), json!("a scenario's answer"));
    }
    // Evidence a scenario leaves out is given as its own name, so that a
    // manual step passes with `answer x {}`; a choice must be chosen.
    for stmt in &block.body {
        if let StmtKind::Evidence(e) = &stmt.kind {
            if !evidence.contains_key(&e.name.name)
                && !e.optional
                && !matches!(e.ty, rbx_syntax::ast::EvidenceType::Choice(_))
            {
                let filler = match e.ty {
                    rbx_syntax::ast::EvidenceType::Url => {
                        format!("https://example.invalid/{}", e.name.name)
                    }
                    rbx_syntax::ast::EvidenceType::File => file.to_string(),
                    _ => e.name.name.clone(),
                };
                evidence.insert(e.name.name.clone(), json!(filler));
            }
        }
    }
    // Likewise an attestation not refused is made.
    let attests = block
        .body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Attest { .. }));
    if attests && !out.contains_key("attest") {
        out.insert("attest".into(), json!(true));
    }
    if !evidence.is_empty() {
        out.insert("evidence".into(), Json::Object(evidence));
    }
    if !signoffs.is_empty() {
        out.insert("signoffs".into(), Json::Array(signoffs));
    }
    Json::Object(out)
}
