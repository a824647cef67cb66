//! The words every format shares: results, outcomes, who and when, and a
//! step's evidence as labelled pieces each format lays out its own way.

use serde_json::Value as Json;

use super::{Confirmed, Outcome, RoleInfo, Signer, StageInfo, StepInfo, Summary};

/// A result in words. Plain text, so that it reads the same in every
/// font and in a terminal.
pub(super) fn result_label(result: &str) -> &'static str {
    match result {
        "done" => "done",
        "failed" => "FAILED",
        "skipped" => "skipped",
        "waiting" => "waiting",
        "in_doubt" => "IN DOUBT",
        "running" => "running",
        "cancelled" => "cancelled",
        "not_reached" => "not reached",
        _ => "pending",
    }
}

/// The outcome in words: `ended: resolved (success)`, `FAILED at s.a: …`.
pub(super) fn outcome_label(outcome: &Outcome) -> String {
    let mut s = match outcome.status.as_str() {
        "ended" if outcome.success == Some(false) => format!(
            "ended: {} (failure)",
            outcome.outcome.as_deref().unwrap_or_default()
        ),
        "ended" => format!(
            "ended: {} (success)",
            outcome.outcome.as_deref().unwrap_or_default()
        ),
        "failed" => "FAILED".to_string(),
        "in_doubt" => "in doubt".to_string(),
        "broken" => "BROKEN".to_string(),
        other => other.to_string(),
    };
    if let Some(node) = &outcome.node {
        s.push_str(&format!(" at {node}"));
    }
    if let Some(reason) = &outcome.reason {
        s.push_str(&format!(": {reason}"));
    }
    if outcome.status == "running" {
        s.push_str(
            " (as the store last recorded; if no rbx process drives the run now, \
             it stopped without a record and `rbx resume` settles what is in doubt)",
        );
    }
    s
}

/// `cancelled by ops-carol: not today`.
pub(super) fn cancelled_text(by: Option<&str>, reason: Option<&str>) -> String {
    let mut s = "cancelled".to_string();
    if let Some(by) = by {
        s.push_str(&format!(" by {by}"));
    }
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        s.push_str(&format!(": {reason}"));
    }
    s
}

/// The result of a step in words: its label, then what qualifies it.
pub(super) fn step_result(step: &StepInfo) -> String {
    let mut s = match &step.signoff {
        Some(signoff) => signoff.verdict.clone(),
        None => result_label(step.result).to_string(),
    };
    if let Some(branch) = &step.branch {
        s.push_str(&format!(" → {branch}"));
    }
    let mut notes = Vec::new();
    if step.attempts > 1 {
        notes.push(format!("attempt {}", step.attempts));
    }
    if let Some(reason) = &step.reason {
        if step.signoff.is_none() || reason != "NO-GO" {
            // The label already says it waits, or was cancelled.
            let reason = match step.result {
                "waiting" => reason.trim_start_matches("waiting "),
                "cancelled" => reason.trim_start_matches("cancelled "),
                _ => reason,
            };
            notes.push(reason.to_string());
        }
    }
    if step.result == "running" {
        notes.push("or in doubt, if no rbx process drives the run now".to_string());
    }
    if !notes.is_empty() {
        s.push_str(&format!(" ({})", notes.join("; ")));
    }
    s
}

/// A value as a person reads it: text as written, a list with commas, a
/// map as `key: value` pairs; never JSON syntax.
pub(super) fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => "(none)".to_string(),
        Json::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(", "),
        Json::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", json_text(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

pub(super) fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        rbx_syntax::fmt::duration(ms / 1000 * 1000)
    }
}

/// Who, where, when and how long, in one line.
pub(super) fn meta(step: &StepInfo, roles: &[RoleInfo]) -> Vec<String> {
    let mut parts = vec![step.id.clone()];
    if let Some(owner) = &step.owner {
        let person = roles
            .iter()
            .find(|r| r.id == *owner && r.filled)
            .and_then(|r| r.person.as_deref());
        parts.push(match person {
            Some(person) => format!("owner {owner} ({person})"),
            None => format!("owner {owner}"),
        });
    }
    match (&step.operator, &step.host) {
        (Some(op), Some(host)) => parts.push(format!("{op} on {host}")),
        (Some(op), None) => parts.push(format!("by {op}")),
        (None, Some(host)) => parts.push(format!("on {host}")),
        (None, None) => {}
    }
    if let Some(via) = &step.via {
        parts.push(format!("via {via}"));
    }
    match (&step.started_at, &step.finished_at) {
        (Some(s), Some(f)) => parts.push(format!("{s} → {f}")),
        (Some(s), None) => parts.push(format!("started {s}")),
        (None, Some(f)) => parts.push(format!("at {f}")),
        (None, None) => {}
    }
    if let Some(ms) = step.duration_ms {
        parts.push(format!("took {}", duration_text(ms)));
    }
    if let Some(exit) = step.exit {
        parts.push(format!("exit {exit}"));
    }
    parts
}

/// A step's evidence as labelled pieces: (label, text, is code).
pub(super) fn evidence(step: &StepInfo) -> Vec<Piece> {
    let mut out = Vec::new();
    if let Some(command) = &step.command {
        out.push(Piece::Code(format!("$ {command}")));
    }
    if let Some(child) = &step.child {
        out.push(Piece::Pair("child run".to_string(), child.clone()));
    }
    // A person's evidence is also a value for later nodes (a capture of
    // the same name): it is shown once, as the answer.
    for (name, value) in &step.captures {
        if !step.answers.contains_key(name) {
            out.push(Piece::Pair(name.clone(), json_text(value)));
        }
    }
    for (name, value) in &step.answers {
        if name == "rationale" || name == "signoff" {
            continue;
        }
        out.push(Piece::Pair(name.clone(), json_text(value)));
    }
    if let Some(rationale) = &step.rationale {
        out.push(Piece::Pair("rationale".to_string(), rationale.clone()));
    }
    for signer in step.signoff.iter().flat_map(|s| &s.signers) {
        out.push(Piece::Pair("signed".to_string(), signer_text(signer)));
    }
    if let Some(confirmed) = &step.confirmed {
        out.push(Piece::Pair(
            "confirmed".to_string(),
            confirmation_text(confirmed),
        ));
    }
    if step.result == "done" {
        for condition in &step.conditions {
            out.push(Piece::Pair("held".to_string(), condition.clone()));
        }
    }
    if let Some(probes) = &step.probes {
        out.extend(probe_pieces(probes));
    }
    for earlier in &step.earlier_attempts {
        let mut s = format!("attempt {} {}", earlier.attempt, earlier.result);
        if let Some(exit) = earlier.exit {
            s.push_str(&format!(" (exit {exit})"));
        }
        if let Some(reason) = &earlier.reason {
            s.push_str(&format!(": {reason}"));
        }
        if let Some(retried) = &earlier.retried {
            s.push_str(&format!("; {retried}"));
        }
        if let Some(child) = &earlier.child {
            s.push_str(&format!("; child run {child}"));
        }
        out.push(Piece::Note(s));
    }
    for excerpt in &step.output {
        let mut head = format!("{} ({} bytes", excerpt.stream, excerpt.total_bytes);
        if excerpt.truncated {
            head.push_str(", middle not kept");
        }
        head.push_str("):");
        out.push(Piece::Note(head));
        for line in &excerpt.lines {
            out.push(Piece::Code(line.clone()));
        }
        if excerpt.more_lines > 0 {
            out.push(Piece::Note(format!(
                "… {} more line(s): rbx log RUN {}",
                excerpt.more_lines, step.id
            )));
        }
    }
    if step.kind == "again" {
        if let Some(instance) = &step.instance {
            out.push(Piece::Note(format!("see stage instance {instance} below")));
        }
    }
    out
}

/// `by ops-alice via terminal at 2026-…`.
pub(super) fn confirmation_text(confirmed: &Confirmed) -> String {
    let mut s = format!(
        "point of no return confirmed by {}",
        confirmed.by.as_deref().unwrap_or("an unrecorded operator")
    );
    if let Some(via) = &confirmed.via {
        s.push_str(&format!(" via {via}"));
    }
    s.push_str(&format!(" at {}", confirmed.at));
    s
}

/// `Dana Ruiz for release_owner: GO (comment)`.
pub(super) fn signer_text(signer: &Signer) -> String {
    let mut s = format!("{} for {}: {}", signer.by, signer.role, signer.decision);
    if let Some(comment) = &signer.comment {
        s.push_str(&format!(" ({comment})"));
    }
    s
}

pub(super) enum Piece {
    Pair(String, String),
    Code(String),
    Note(String),
}

/// A row of a stage's table: a step, or a run of steps that did not run
/// and stand alike (skipped, not reached, pending) folded into one.
pub(super) enum Row<'r> {
    Step(&'r StepInfo),
    Folded(&'static str, Vec<&'r StepInfo>),
}

/// Whether a result says the step did not run and does nothing to show.
pub(super) fn idle(result: &str) -> bool {
    matches!(result, "skipped" | "not_reached" | "pending")
}

/// A stage's rows, each run of two or more idle steps with the same result
/// folded into one.
pub(super) fn rows(steps: &[StepInfo]) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < steps.len() {
        let result = steps[at].result;
        // A step with a reason to show (a condition that skipped it) is
        // never folded away.
        let alike = steps[at..]
            .iter()
            .take_while(|s| s.result == result && s.reason.is_none())
            .count()
            .max(1);
        let run = &steps[at..at + alike];
        if idle(result) && alike >= 2 {
            out.push(Row::Folded(result, run.iter().collect()));
        } else {
            out.extend(run.iter().map(Row::Step));
        }
        at += alike;
    }
    out
}

/// What a folded row says: `3 items: A, B, C`.
pub(super) fn folded_titles(steps: &[&StepInfo]) -> String {
    let titles: Vec<&str> = steps.iter().map(|s| s.title.as_str()).collect();
    format!("{} items: {}", steps.len(), titles.join(", "))
}

/// Whether a whole stage instance stayed off the run's path: it and every
/// step idle. Such stages are listed together, one line each.
pub(super) fn off_path(stage: &StageInfo) -> bool {
    idle(stage.result) && stage.steps.iter().all(|s| idle(s.result))
}

/// Counts in words: `12 done, 3 FAILED, 40 skipped`.
pub(super) fn counts_text(counts: &std::collections::BTreeMap<&'static str, usize>) -> String {
    let order = [
        "done",
        "failed",
        "cancelled",
        "in_doubt",
        "running",
        "waiting",
        "skipped",
        "not_reached",
        "pending",
    ];
    order
        .iter()
        .filter_map(|r| Some(format!("{} {}", counts.get(r)?, result_label(r))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long the run took, in words.
pub(super) fn took(summary: &Summary) -> String {
    let mut s = match &summary.last_event_at {
        Some(last) => format!("{} to {last}", summary.started_at),
        None => summary.started_at.clone(),
    };
    if let Some(ms) = summary.duration_ms {
        s.push_str(&format!(", took {}", duration_text(ms)));
    }
    s
}

/// A polling wait's probes: how many, and what the last one found, with
/// the end of its output.
fn probe_pieces(probes: &super::Probes) -> Vec<Piece> {
    let last = &probes.last;
    let times = if probes.count == 1 { "once" } else { "times" };
    let count = if probes.count == 1 {
        String::new()
    } else {
        format!("{} ", probes.count)
    };
    let mut found = match last.exit {
        Some(exit) => format!("exit {exit}"),
        None => "no exit status".to_string(),
    };
    match (&last.reason, last.held) {
        (_, true) => found.push_str(", held"),
        (Some(reason), false) => found.push_str(&format!(", not yet: {reason}")),
        (None, false) => found.push_str(", not yet"),
    }
    let mut out = vec![Piece::Pair(
        "polled".to_string(),
        format!(
            "{count}{times}; last, poll {} at {}: {found}",
            last.poll, last.at
        ),
    )];
    for (stream, text) in [("stdout", &last.stdout), ("stderr", &last.stderr)] {
        if text.trim().is_empty() {
            continue;
        }
        out.push(Piece::Note(format!("last probe's {stream} (its end):")));
        out.extend(text.lines().map(|line| Piece::Code(line.to_string())));
    }
    out
}
