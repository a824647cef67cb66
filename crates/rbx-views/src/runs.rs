//! `rbx runs`: every run of a store, oldest first.

use rbx_store::RunSummary;
use serde::Serialize;

/// One run, as a listing shows it.
#[derive(Debug, Serialize)]
pub struct RunRow {
    pub id: String,
    pub runbook: String,
    pub title: String,
    /// `running`, `paused`, `waiting`, `failed`, `interrupted`, `ended`, …
    pub status: String,
    /// For an ended run, its outcome.
    pub outcome: Option<String>,
    pub started_at: String,
    pub started_by: String,
    pub host: String,
    pub next_due: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunsView {
    pub version: u32,
    pub runs: Vec<RunRow>,
}

impl RunsView {
    pub fn of(runs: &[RunSummary]) -> RunsView {
        let runs = runs
            .iter()
            .map(|run| {
                let (status, outcome) = match run.status.split_once(':') {
                    Some((status, outcome)) => (status.to_string(), Some(outcome.to_string())),
                    None => (run.status.clone(), None),
                };
                RunRow {
                    id: run.id.to_string(),
                    runbook: run.runbook_id.clone(),
                    title: run.title.clone(),
                    status,
                    outcome,
                    started_at: run.started_at.clone(),
                    started_by: run.started_by.clone(),
                    host: run.host.clone(),
                    next_due: run.next_due.clone(),
                }
            })
            .collect();
        RunsView {
            version: crate::JSON_VERSION,
            runs,
        }
    }

    /// A table, one run a line, for a person.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{:<22} {:<20} {:<24} {:<14} RUNBOOK\n",
            "RUN", "STATUS", "STARTED", "BY"
        );
        for run in &self.runs {
            let status = match &run.outcome {
                Some(outcome) => format!("{}:{outcome}", run.status),
                None => run.status.clone(),
            };
            let due = run
                .next_due
                .as_deref()
                .map_or(String::new(), |d| format!(" (due {d})"));
            out.push_str(&format!(
                "{:<22} {:<20} {:<24} {:<14} {}{due}\n",
                run.id, status, run.started_at, run.started_by, run.runbook
            ));
        }
        out
    }
}
