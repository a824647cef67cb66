//! What `rbx test` shows: a summary like `cargo test`'s, JUnit XML for CI
//! systems, and versioned JSON. Text only; the CLI prints it.

use std::fmt::Write as _;
use std::path::Path;

use rbx_engine::Exit;
use rbx_syntax::Diagnostic;
use serde_json::{Value as Json, json};

use crate::coverage::{Coverage, UnitKind};
use crate::drive::{Outcome, Report};
use crate::place;

/// The version of the JSON `rbx test --format json` writes.
pub const JSON_VERSION: u32 = 1;

/// Options of the human summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Human {
    /// Show every scenario's path with its stage times, not only failures'.
    pub timings: bool,
    pub coverage: bool,
}

/// One suite as `cargo test` would show it. `render` shows a diagnostic
/// against the scenarios file.
pub fn human(
    report: &Report<'_>,
    options: Human,
    render: &dyn Fn(&Diagnostic) -> String,
) -> String {
    let suite = report.suite;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nrunning {} scenario{} of {} ({})",
        report.outcomes.len(),
        if report.outcomes.len() == 1 { "" } else { "s" },
        suite.runbook.display(),
        suite.path.display()
    );
    for outcome in &report.outcomes {
        let verdict = if outcome.passed() { "ok" } else { "FAILED" };
        let time = outcome
            .trace
            .as_ref()
            .map(|t| format!(" ({} simulated)", rbx_syntax::fmt::duration(t.elapsed)))
            .unwrap_or_default();
        let _ = writeln!(out, "test {} ... {verdict}{time}", outcome.id);
        if options.timings && outcome.passed() {
            for line in outcome.trace.iter().flat_map(|t| t.path()) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let failed: Vec<&Outcome> = report.outcomes.iter().filter(|o| !o.passed()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for outcome in &failed {
            let _ = writeln!(
                out,
                "\n---- {} ({}) ----\n{}",
                outcome.id,
                place(&suite.path, &suite.text, outcome.at),
                outcome.title
            );
            for problem in &outcome.problems {
                out.push_str(&render(problem));
            }
            for miss in &outcome.misses {
                let at = miss
                    .at
                    .map(|at| format!("{}: ", place(&suite.path, &suite.text, at)))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {at}{}", miss.message);
            }
            if let Some(trace) = &outcome.trace {
                let _ = writeln!(
                    out,
                    "  the path the run took (stage, started, took, nodes):"
                );
                for line in trace.path() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        let _ = writeln!(out, "\nfailures:");
        for outcome in &failed {
            let _ = writeln!(out, "    {}", outcome.id);
        }
    }
    let passed = report.outcomes.len() - failed.len();
    let wall: std::time::Duration = report.outcomes.iter().map(|o| o.wall).sum();
    let _ = writeln!(
        out,
        "\ntest result: {}. {passed} passed; {} failed; finished in {:.2}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        wall.as_secs_f64()
    );
    if options.coverage {
        out.push_str(&coverage_text(&report.coverage, suite));
    }
    out
}

fn coverage_text(coverage: &Coverage, suite: &crate::Suite) -> String {
    let mut out = String::new();
    let (covered, total) = coverage.count(None);
    let kinds: Vec<String> = [UnitKind::Branch, UnitKind::Route, UnitKind::Outcome]
        .into_iter()
        .map(|k| {
            let (c, t) = coverage.count(Some(k));
            format!("{} {c}/{t}", k.plural())
        })
        .collect();
    let _ = writeln!(
        out,
        "\ncoverage of {}: {covered}/{total} ({:.1}%): {}",
        suite.runbook.display(),
        coverage.percent(),
        kinds.join(", ")
    );
    for unit in coverage.units().filter(|u| u.by.is_empty()) {
        let _ = writeln!(
            out,
            "  not taken: {} {} at {}",
            unit.kind.word(),
            unit.label,
            unit_place(suite, unit)
        );
    }
    out
}

fn unit_place(suite: &crate::Suite, unit: &crate::Unit) -> String {
    suite
        .sources
        .get(unit.origin.source)
        .map(|(path, text)| place(path, text, unit.origin.span.start))
        .unwrap_or_default()
}

/// Line and column (from 1) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Every suite as one JSON document.
pub fn json(reports: &[Report<'_>]) -> Json {
    let suites: Vec<Json> = reports.iter().map(suite_json).collect();
    let (passed, failed) = totals(reports);
    json!({
        "version": JSON_VERSION,
        "suites": suites,
        "summary": { "passed": passed, "failed": failed },
    })
}

fn totals(reports: &[Report<'_>]) -> (usize, usize) {
    let all = reports.iter().flat_map(|r| &r.outcomes);
    let passed = all.clone().filter(|o| o.passed()).count();
    (passed, all.count() - passed)
}

fn suite_json(report: &Report<'_>) -> Json {
    let suite = report.suite;
    let scenarios: Vec<Json> = report
        .outcomes
        .iter()
        .map(|o| {
            let trace = o.trace.as_ref();
            json!({
                "id": o.id,
                "title": o.title,
                "passed": o.passed(),
                "problems": o.problems.iter().map(|d| d.message.clone()).collect::<Vec<_>>(),
                "misses": o.misses.iter().map(|m| json!({
                    "at": m.at.map(|at| place(&suite.path, &suite.text, at)),
                    "message": m.message,
                })).collect::<Vec<_>>(),
                "stopped": trace.map(|t| exit_json(&t.exit)),
                "elapsed_ms": trace.map(|t| t.elapsed),
                "stages": trace.map(|t| t.stages.iter().map(|s| json!({
                    "stage": s.stage,
                    "from_ms": s.from,
                    "elapsed_ms": s.elapsed,
                    "budget_ms": s.budget,
                })).collect::<Vec<_>>()),
                "path": trace.map(|t| t.visits.iter().map(|v| json!({
                    "node": v.id,
                    "status": v.status,
                    "branch": v.branch,
                    "attempts": v.attempts,
                    "at_ms": v.finished,
                })).collect::<Vec<_>>()),
            })
        })
        .collect();
    json!({
        "file": suite.path.display().to_string(),
        "runbook": suite.runbook.display().to_string(),
        "scenarios": scenarios,
        "coverage": coverage_json(&report.coverage, suite),
    })
}

fn exit_json(exit: &Exit) -> Json {
    match exit {
        Exit::Ended { outcome, success } => json!({ "ended": outcome, "success": success }),
        Exit::Failed { node, reason } => json!({ "failed": node, "reason": reason }),
        Exit::Paused { node, hint } => json!({ "paused": node, "needs": hint }),
        other => json!({ "stopped": crate::trace::describe(other) }),
    }
}

/// Coverage as JSON: the counts, and every unit with where it is written
/// and the scenarios that took it.
pub fn coverage_json(coverage: &Coverage, suite: &crate::Suite) -> Json {
    let count = |k| {
        let (covered, total) = coverage.count(k);
        json!({ "covered": covered, "total": total })
    };
    let units: Vec<Json> = coverage
        .units()
        .map(|u| {
            let (path, text) = suite
                .sources
                .get(u.origin.source)
                .map(|(p, t)| (p.display().to_string(), t.as_str()))
                .unwrap_or_default();
            let (line, column) = line_col(text, u.origin.span.start);
            json!({
                "kind": u.kind.word(),
                "label": u.label,
                "file": path,
                "line": line,
                "column": column,
                "span": { "start": u.origin.span.start, "end": u.origin.span.end },
                "taken_by": u.by,
            })
        })
        .collect();
    json!({
        "percent": coverage.percent(),
        "all": count(None),
        "branches": count(Some(UnitKind::Branch)),
        "routes": count(Some(UnitKind::Route)),
        "outcomes": count(Some(UnitKind::Outcome)),
        "units": units,
    })
}

/// Every suite as JUnit XML: a `testsuite` per scenarios file, a
/// `testcase` per scenario, and one for coverage when a minimum is set.
pub fn junit(reports: &[Report<'_>], min_coverage: Option<f64>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (passed, failed) = totals(reports);
    let _ = writeln!(
        out,
        "<testsuites name=\"rbx test\" tests=\"{}\" failures=\"{failed}\">",
        passed + failed
    );
    for report in reports {
        let suite = report.suite;
        let below = min_coverage.filter(|min| report.coverage.percent() < *min);
        let cases = report.outcomes.len() + usize::from(min_coverage.is_some());
        let failures =
            report.outcomes.iter().filter(|o| !o.passed()).count() + usize::from(below.is_some());
        let wall: f64 = report.outcomes.iter().map(|o| o.wall.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{cases}\" failures=\"{failures}\" time=\"{wall:.3}\">",
            xml(&suite.path.display().to_string())
        );
        let class = xml(&class_name(&suite.runbook));
        for outcome in &report.outcomes {
            let _ = write!(
                out,
                "    <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\"",
                xml(&outcome.id),
                outcome.wall.as_secs_f64()
            );
            if outcome.passed() {
                out.push_str("/>\n");
                continue;
            }
            let mut detail = String::new();
            for problem in &outcome.problems {
                let _ = writeln!(detail, "{}", problem.message);
            }
            for miss in &outcome.misses {
                let _ = writeln!(detail, "{}", miss.message);
            }
            let first = detail.lines().next().unwrap_or("failed").to_string();
            if let Some(trace) = &outcome.trace {
                detail.push_str("the path the run took:\n");
                for line in trace.path() {
                    let _ = writeln!(detail, "  {line}");
                }
            }
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml(&first),
                xml(&detail)
            );
        }
        if let Some(min) = min_coverage {
            let _ = write!(
                out,
                "    <testcase classname=\"{class}\" name=\"coverage\" time=\"0.000\""
            );
            match below {
                None => out.push_str("/>\n"),
                Some(_) => {
                    let text = coverage_text(&report.coverage, suite);
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"coverage {:.1}% is below {min}%\">{}</failure>\n    </testcase>",
                        report.coverage.percent(),
                        xml(&text)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn class_name(runbook: &Path) -> String {
    runbook
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['-', '.'], "_"))
        .unwrap_or_default()
}

/// Text escaped for XML, with characters XML 1.0 cannot hold dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn xml_text_is_escaped_and_control_characters_dropped() {
        assert_eq!(xml("a<b & \"c\"\u{1}\n"), "a&lt;b &amp; &quot;c&quot;\n");
    }
}
