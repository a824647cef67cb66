//! The report as Markdown: GitHub-flavoured tables, no emoji, nothing a
//! renderer could read as markup in what people or commands wrote.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::timeline::{Line, lines, skipped_summary};
use super::words::{
    Piece, Row, counts_text, evidence, folded_titles, json_text, meta, off_path, result_label,
    rows, step_result, took,
};
use super::{Mention, Record, StageInfo};

/// Text for a Markdown table cell: shown exactly as written, never read as
/// Markdown or HTML.
pub(super) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span for a table cell; one span per line.
pub(super) fn md_code(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('|', "\\|");
            if line.trim().is_empty() {
                return "` `".to_string();
            }
            // A fence longer than any run of backticks in the line.
            let longest = line.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest + 1);
            let pad = if line.starts_with('`') || line.ends_with('`') {
                " "
            } else {
                ""
            };
            format!("{fence}{pad}{line}{pad}{fence}")
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A GitHub heading anchor: lower case, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// A stage's heading as written (without Markdown).
fn stage_heading(stage: &StageInfo) -> String {
    match &stage.again_in {
        Some(host) => format!("{} ({}, again in {host})", stage.title, stage.instance),
        None => format!("{} ({})", stage.title, stage.instance),
    }
}

pub(super) fn write(r: &Record) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Run report: {}
",
        md(&r.run.title)
    );
    summary(&mut o, r);
    contents(&mut o, r);
    roles(&mut o, r);
    links(&mut o, r);
    inputs(&mut o, r);
    let (off, on): (Vec<&StageInfo>, Vec<&StageInfo>) = r.stages.iter().partition(|s| off_path(s));
    for stage in on {
        stage_section(&mut o, r, stage);
    }
    if !off.is_empty() {
        o.push_str("\n## Stages not run\n\n");
        for stage in off {
            let _ = writeln!(
                o,
                "- {}: {}",
                md(&stage_heading(stage)),
                result_label(stage.result)
            );
        }
    }
    timeline(&mut o, r);
    o
}

fn summary(o: &mut String, r: &Record) {
    let s = &r.summary;
    let run = &r.run;
    o.push_str("## Summary\n\n| | |\n|---|---|\n");
    let mut runbook = md_code(&run.runbook_id);
    if let Some(version) = &run.runbook_version {
        runbook.push_str(&format!(", version {}", md(version)));
    }
    let class = s.class.map_or("NOT ENDED".to_string(), str::to_uppercase);
    let rows = [
        ("Outcome", format!("**{class}**: {}", md(&s.outcome))),
        ("Runbook", runbook),
        ("Run", md_code(&run.id)),
        (
            "Started",
            md(&format!("by {} on {}", s.started_by, run.host)),
        ),
        ("When", md(&took(s))),
        ("People", md(&s.people.join(", "))),
        ("Steps", md(&counts_text(&s.counts))),
        ("Journal", md(&r.chain.summary)),
    ];
    for (key, value) in rows {
        let _ = writeln!(o, "| {key} | {value} |");
    }
    if let Some(parent) = &run.parent {
        let _ = writeln!(
            o,
            "| Child run of | {} (node {}) |",
            md_code(&parent.run),
            md_code(&parent.node)
        );
    }
    if let Some(cancelled) = &s.cancelled {
        let _ = writeln!(
            o,
            "| Cancelled | {} |",
            md(&format!(
                "{} at {}",
                super::words::cancelled_text(cancelled.by.as_deref(), cancelled.reason.as_deref()),
                cancelled.at
            ))
        );
    }
    for (title, list, none) in [
        ("What failed", &s.failed, "Nothing failed."),
        ("Decisions", &s.decisions, "No decision was taken."),
        ("Sign-offs", &s.signoffs, "No sign-off was given."),
        (
            "Irreversible steps confirmed",
            &s.confirmations,
            "No irreversible step was confirmed.",
        ),
    ] {
        let _ = writeln!(o, "\n**{title}**\n");
        mentions(o, list, none);
    }
}

fn mentions(o: &mut String, list: &[Mention], none: &str) {
    if list.is_empty() {
        let _ = writeln!(o, "{none}");
    }
    for m in list {
        let mut line = format!("- {} ({}): {}", md(&m.title), md_code(&m.node), md(&m.text));
        if let Some(by) = &m.by {
            line.push_str(&format!(", by {}", md(by)));
        }
        if let Some(at) = &m.at {
            line.push_str(&format!(" at {}", md(at)));
        }
        let _ = writeln!(o, "{line}");
    }
}

fn contents(o: &mut String, r: &Record) {
    o.push_str("\n## Contents\n\n");
    let mut entries = vec![
        "Roles".to_string(),
        "Links".to_string(),
        "Inputs".to_string(),
    ];
    entries.extend(r.stages.iter().filter(|s| !off_path(s)).map(stage_heading));
    if r.stages.iter().any(off_path) {
        entries.push("Stages not run".to_string());
    }
    entries.push("Timeline".to_string());
    for entry in entries {
        let _ = writeln!(o, "- [{}](#{})", md(&entry), slug(&entry));
    }
}

fn roles(o: &mut String, r: &Record) {
    o.push_str("\n## Roles\n\n");
    if r.roles.is_empty() {
        o.push_str("The runbook declares no roles.\n");
        return;
    }
    o.push_str("| Role | Person | Contact | Backup |\n|---|---|---|---|\n");
    for role in &r.roles {
        let person = if role.filled {
            md(role.person.as_deref().unwrap_or_default())
        } else {
            format!(
                "**unfilled**{}",
                role.person
                    .as_deref()
                    .map_or(String::new(), |p| format!(" ({})", md(p)))
            )
        };
        let mut name = format!("{} ({})", md(&role.title), md_code(&role.id));
        if let Some(node) = &role.assigned_by {
            name.push_str(&format!(", assigned during the run by {}", md_code(node)));
        } else if role.source != "runbook" {
            name.push_str(&format!(", from the {}", role.source));
        }
        let _ = writeln!(
            o,
            "| {name} | {person} | {} | {} |",
            md(role.contact.as_deref().unwrap_or_default()),
            md(role.backup.as_deref().unwrap_or_default()),
        );
    }
}

fn links(o: &mut String, r: &Record) {
    o.push_str("\n## Links\n\n");
    if r.links.is_empty() {
        o.push_str("The runbook declares no links.\n");
        return;
    }
    o.push_str("| Link | Target |\n|---|---|\n");
    for link in &r.links {
        let target = match (&link.target, link.set) {
            (Some(target), true) => md(target),
            (Some(target), false) => format!("**unset** ({})", md(target)),
            (None, _) => "**unset**".to_string(),
        };
        let mut name = format!("{} ({})", md(&link.title), md_code(&link.id));
        if link.source != "runbook" {
            name.push_str(&format!(", from the {}", link.source));
        }
        let _ = writeln!(o, "| {name} | {target} |");
    }
}

fn inputs(o: &mut String, r: &Record) {
    o.push_str("\n## Inputs\n\n");
    if r.inputs.0.is_empty() {
        o.push_str("The runbook has no inputs.\n");
        return;
    }
    o.push_str("| Input | Type | Value |\n|---|---|---|\n");
    for (name, input) in &r.inputs.0 {
        let value = match &input.value {
            Json::Null => "(none)".to_string(),
            v if input.secret => md(&json_text(v)),
            v => md_code(&json_text(v)),
        };
        let _ = writeln!(o, "| {} | {} | {value} |", md_code(name), md(&input.ty));
    }
}

fn stage_section(o: &mut String, r: &Record, stage: &StageInfo) {
    let _ = write!(o, "\n## {} ({}", md(&stage.title), md_code(&stage.instance));
    if let Some(host) = &stage.again_in {
        let _ = write!(o, ", again in {}", md_code(host));
    }
    o.push_str(")\n\n");
    match stage.result {
        "failed" => {
            let _ = writeln!(
                o,
                "Stage requirements: **FAILED**{}\n",
                stage
                    .reason
                    .as_deref()
                    .map_or(String::new(), |r| format!(" ({})", md(r)))
            );
        }
        r if super::words::idle(r) => {
            let _ = writeln!(o, "Stage: {}\n", result_label(r));
        }
        _ if !stage.conditions.is_empty() => {
            let held: Vec<String> = stage.conditions.iter().map(|c| md_code(c)).collect();
            let _ = writeln!(o, "Stage requirements held: {}\n", held.join(", "));
        }
        _ => {}
    }
    if stage.steps.is_empty() {
        o.push_str("No steps.\n");
        return;
    }
    o.push_str("| Item | Result | Evidence |\n|---|---|---|\n");
    for row in rows(&stage.steps) {
        let step = match row {
            Row::Folded(result, steps) => {
                let ids: Vec<String> = steps.iter().map(|s| md_code(&s.id)).collect();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    md(&folded_titles(&steps)),
                    result_label(result),
                    ids.join(" ")
                );
                continue;
            }
            Row::Step(step) => step,
        };
        let mut title = md(&step.title);
        if !step.items.iter().all(|i| step.title.contains(i.as_str())) {
            title.push_str(&format!(" [{}]", md(&step.items.join(", "))));
        }
        if step.irreversible {
            title.push_str(" (**irreversible**)");
        }
        let mut cell: Vec<String> = evidence(step)
            .into_iter()
            .map(|piece| match piece {
                Piece::Pair(k, v) => format!("{}: {}", md(&k), md(&v)),
                Piece::Code(c) => md_code(&c),
                Piece::Note(n) => md(&n),
            })
            .collect();
        if step.kind != "again" {
            cell.push(format!(
                "<sub>{}</sub>",
                md(&meta(step, &r.roles).join(" · "))
            ));
        }
        let _ = writeln!(
            o,
            "| {title} | {} | {} |",
            md(&step_result(step)),
            cell.join("<br>")
        );
    }
}

fn timeline(o: &mut String, r: &Record) {
    o.push_str("\n## Timeline\n\n| # | Time | Event | Node | Details |\n|---|---|---|---|---|\n");
    for line in lines(&r.timeline) {
        match line {
            Line::Event(e) => {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    e.seq,
                    md(&e.time),
                    md_code(&e.kind),
                    e.node.as_deref().map_or(String::new(), md_code),
                    md(&e.summary)
                );
            }
            Line::Skipped(events) => {
                let (first, last) = (&events[0], &events[events.len() - 1]);
                let _ = writeln!(
                    o,
                    "| {}–{} | {} | {} |  | {} |",
                    first.seq,
                    last.seq,
                    md(&first.time),
                    md_code(&first.kind),
                    md(&skipped_summary(events))
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{md, md_code, slug};

    #[test]
    fn markdown_cells_stay_one_cell_and_show_text_as_written() {
        assert_eq!(md("a|b\n<i>_x_</i>"), "a\\|b<br>&lt;i&gt;\\_x\\_&lt;/i&gt;");
        assert_eq!(md_code("x | y"), "`x \\| y`");
        assert_eq!(md_code("a `b` c"), "``a `b` c``");
        assert_eq!(md_code("`b`"), "`` `b` ``");
        assert_eq!(md_code("one\ntwo"), "`one`<br>`two`");
    }

    #[test]
    fn slugs_are_github_anchors() {
        assert_eq!(slug("Checks (checks)"), "checks-checks");
        assert_eq!(
            slug("Smoke check (smoke#2, again in smoke)"),
            "smoke-check-smoke2-again-in-smoke"
        );
    }
}
