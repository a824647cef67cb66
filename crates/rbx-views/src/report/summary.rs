//! The summary at the top of a report: what a reviewer reads first.

use std::collections::BTreeMap;

use rbx_engine::RunState;
use rbx_store::RunSummary;

use super::words::{outcome_label, signer_text, step_result};
use super::{Cancelled, Mention, Outcome, StageInfo, StepInfo, Summary};

pub(super) fn summarise(
    run: &RunSummary,
    state: &RunState,
    stages: &[StageInfo],
    outcome: &Outcome,
    tolerated: &BTreeMap<String, String>,
) -> Summary {
    let history = &state.history;
    let steps: Vec<&StepInfo> = stages
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.kind != "again")
        .collect();
    let mut counts = BTreeMap::new();
    for step in &steps {
        *counts.entry(step.result).or_default() += 1;
    }
    let cancelled = history.cancellation.as_ref().map(|c| Cancelled {
        by: c.operator.clone(),
        reason: c.reason.clone(),
        at: rbx_engine::format_time(c.at),
    });
    Summary {
        class: match outcome.status.as_str() {
            "ended" if outcome.success == Some(false) => Some("failure"),
            "ended" => Some("success"),
            "failed" | "broken" => Some("failure"),
            _ => None,
        },
        outcome: outcome_label(outcome),
        started_at: run.started_at.clone(),
        started_by: run.started_by.clone(),
        last_event_at: history.last_at.map(rbx_engine::format_time),
        duration_ms: history
            .first_at
            .zip(history.last_at)
            .and_then(|(first, last)| u64::try_from(last - first).ok()),
        people: people(state, &steps, cancelled.as_ref()),
        counts,
        // A failure a `tolerate` let pass still failed: it is listed, and
        // said to be tolerated, beside a run that succeeded.
        failed: mentions(&steps, |s| {
            let result =
                matches!(s.result, "failed" | "cancelled" | "in_doubt").then(|| step_result(s))?;
            Some(match tolerated.get(&s.id) {
                Some(tally) => format!("{result} (tolerated, counted by {tally})"),
                None => result,
            })
        }),
        decisions: mentions(&steps, |s| {
            let branch = s
                .branch
                .as_ref()
                .filter(|_| matches!(s.kind, "decide" | "choose"))?;
            let mut text = format!("took {branch}");
            if let Some(rationale) = &s.rationale {
                text.push_str(&format!(": {rationale}"));
            }
            Some(text)
        }),
        signoffs: mentions(&steps, |s| {
            let signoff = s.signoff.as_ref()?;
            let signers: Vec<String> = signoff.signers.iter().map(signer_text).collect();
            Some(if signers.is_empty() {
                signoff.verdict.clone()
            } else {
                format!("{}: {}", signoff.verdict, signers.join("; "))
            })
        }),
        confirmations: steps
            .iter()
            .filter_map(|s| {
                let confirmed = s.confirmed.as_ref()?;
                Some(Mention {
                    node: s.id.clone(),
                    title: s.title.clone(),
                    text: match &confirmed.via {
                        Some(via) => format!("confirmed via {via}"),
                        None => "confirmed".to_string(),
                    },
                    by: confirmed.by.clone(),
                    at: Some(confirmed.at.clone()),
                })
            })
            .collect(),
        cancelled,
    }
}

/// The steps `say` has something to say about, with what it says.
fn mentions(steps: &[&StepInfo], say: impl Fn(&StepInfo) -> Option<String>) -> Vec<Mention> {
    steps
        .iter()
        .filter_map(|s| {
            Some(Mention {
                node: s.id.clone(),
                title: s.title.clone(),
                text: say(s)?,
                by: s.operator.clone(),
                at: s.finished_at.clone(),
            })
        })
        .collect()
}

/// Everyone recorded as acting: who drove the run, then who acted on its
/// steps (operators, signers, confirmers), then who cancelled it.
fn people(state: &RunState, steps: &[&StepInfo], cancelled: Option<&Cancelled>) -> Vec<String> {
    let mut people: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !name.is_empty() && !people.iter().any(|p| p == name) {
            people.push(name.to_string());
        }
    };
    state.history.drivers.iter().for_each(|d| add(d));
    for step in steps {
        step.operator.iter().for_each(|o| add(o));
        let signers = step.signoff.iter().flat_map(|s| &s.signers);
        signers.for_each(|s| add(&s.by));
        step.confirmed
            .iter()
            .flat_map(|c| &c.by)
            .for_each(|b| add(b));
    }
    cancelled
        .and_then(|c| c.by.as_deref())
        .into_iter()
        .for_each(add);
    people
}
