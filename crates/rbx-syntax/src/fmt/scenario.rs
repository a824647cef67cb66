//! The canonical layout of a scenarios file: the same rules as a runbook's
//! (two spaces, one statement a line, comments kept), and a block of short
//! statements on the line that opens it: `given doctor { exit 1 takes 2m }`.

use crate::ast::*;

use super::{Printer, duration, expr, pad, text, value};

impl Printer<'_> {
    pub(super) fn scenarios(&mut self, scenarios: &[Scenario]) {
        self.sequence(
            scenarios,
            0,
            |s| s.span,
            |_| "scenario",
            |printer, scenario, level| {
                printer.out.push_str(&format!(
                    "scenario {} {} {{",
                    scenario.id.name,
                    text(&scenario.title, level)
                ));
                printer.end_line(scenario.title.span.end);
                printer.scenario_body(&scenario.body, level + 1);
                printer.close(scenario.span.end, level);
            },
        );
    }

    fn scenario_body(&mut self, body: &[ScenarioStmt], level: usize) {
        self.sequence(
            body,
            level,
            |s| s.span,
            |s| match &s.kind {
                ScenarioStmtKind::Set { .. } => "set",
                ScenarioStmtKind::Operator(_) | ScenarioStmtKind::Start(_) => "clock",
                ScenarioStmtKind::Default(_) | ScenarioStmtKind::Given { .. } => "result",
                ScenarioStmtKind::Answer { .. } => "answer",
                ScenarioStmtKind::Earlier { .. } => "earlier",
                ScenarioStmtKind::Cancel(_) => "cancel",
                ScenarioStmtKind::Expect(_) => "expect",
            },
            |printer, stmt, level| printer.scenario_stmt(stmt, level),
        );
    }

    fn scenario_stmt(&mut self, stmt: &ScenarioStmt, level: usize) {
        let end = stmt.span.end;
        match &stmt.kind {
            ScenarioStmtKind::Set { name, value: v } => self.line(
                level,
                &format!("set {} = {}", name.name, value(v, level)),
                end,
            ),
            ScenarioStmtKind::Operator(name) => {
                self.line(level, &format!("operator {}", text(name, level)), end);
            }
            ScenarioStmtKind::Start(at) => {
                self.line(level, &format!("start {}", text(at, level)), end);
            }
            ScenarioStmtKind::Default(results) => {
                let lines: Vec<(String, usize)> = results
                    .iter()
                    .map(|r| (result_text(&r.kind, level + 1), r.span.start))
                    .collect();
                self.block("default".to_string(), &lines, stmt.span, level);
            }
            ScenarioStmtKind::Given {
                pattern,
                attempt,
                results,
            } => {
                let mut head = format!("given {}", pattern_text(pattern));
                if let Some(attempt) = attempt {
                    head.push_str(&format!(" attempt {}", attempt.value));
                }
                let lines: Vec<(String, usize)> = results
                    .iter()
                    .map(|r| (result_text(&r.kind, level + 1), r.span.start))
                    .collect();
                self.block(head, &lines, stmt.span, level);
            }
            ScenarioStmtKind::Answer { pattern, items } => {
                let lines: Vec<(String, usize)> = items
                    .iter()
                    .map(|a| (answer_text(&a.kind, level + 1), a.span.start))
                    .collect();
                self.block(
                    format!("answer {}", pattern_text(pattern)),
                    &lines,
                    stmt.span,
                    level,
                );
            }
            ScenarioStmtKind::Earlier { ago, facts } => {
                let lines: Vec<(String, usize)> = facts
                    .iter()
                    .map(|(path, v)| {
                        (
                            format!("{} = {}", path.dotted(), value(v, level + 1)),
                            path.span.start,
                        )
                    })
                    .collect();
                self.block(
                    format!("earlier {}", duration(ago.millis)),
                    &lines,
                    stmt.span,
                    level,
                );
            }
            ScenarioStmtKind::Cancel(node) => {
                self.line(level, &format!("cancel at {}", pattern_text(node)), end);
            }
            ScenarioStmtKind::Expect(check) => {
                self.line(level, &format!("expect {}", check_text(&check.kind)), end);
            }
        }
    }

    /// `HEAD { … }`: on one line when its statements are short and hold
    /// no comment, else one statement a line.
    fn block(&mut self, head: String, lines: &[(String, usize)], span: crate::Span, level: usize) {
        let comment_inside = self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < span.end);
        if !lines.is_empty() && !comment_inside && lines.iter().all(|(l, _)| !l.contains('\n')) {
            let inner: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
            let one = format!("{head} {{ {} }}", inner.join(" "));
            if pad(level).len() + one.len() <= 100 {
                self.line(level, &one, span.end);
                return;
            }
        }
        if lines.is_empty() && !comment_inside {
            self.line(level, &format!("{head} {{}}"), span.end);
            return;
        }
        self.out.push_str(&pad(level));
        self.out.push_str(&head);
        self.out.push_str(" {\n");
        for (line, start) in lines {
            self.leading_comments(*start, level + 1);
            self.out.push_str(&pad(level + 1));
            self.out.push_str(line);
            self.out.push('\n');
        }
        self.close(span.end, level);
    }
}

fn pattern_text(pattern: &NodePattern) -> String {
    if pattern.quoted {
        format!(
            "\"{}\"",
            pattern.text.replace('\\', "\\\\").replace('"', "\\\"")
        )
    } else {
        pattern.text.clone()
    }
}

fn result_text(kind: &ResultKind, level: usize) -> String {
    match kind {
        ResultKind::Exit(status) => format!("exit {}", status.value),
        ResultKind::Output(stream, body) => format!("{} {}", stream.keyword(), text(body, level)),
        ResultKind::Takes(d) => format!("takes {}", duration(d.millis)),
        ResultKind::At(at) => format!("at {}", text(at, level)),
    }
}

fn answer_text(kind: &AnswerKind, level: usize) -> String {
    match kind {
        AnswerKind::Choice(option) => format!("choice {}", option.name),
        AnswerKind::Rationale(why) => format!("rationale {}", text(why, level)),
        AnswerKind::Evidence(name, given) => {
            format!("evidence {} = {}", name.name, text(given, level))
        }
        AnswerKind::Attest(yes) => format!("attest {yes}"),
        AnswerKind::Signoff { role, by, go } => {
            let verdict = if *go { "" } else { " no_go" };
            format!("signoff {} by {}{verdict}", role.name, text(by, level))
        }
        AnswerKind::Confirm => "confirm".to_string(),
        AnswerKind::Reject => "reject".to_string(),
        AnswerKind::Takes(d) => format!("takes {}", duration(d.millis)),
    }
}

fn check_text(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Outcome(outcome) => format!("outcome {}", outcome.name),
        CheckKind::Failed(node) => format!("failed {}", pattern_text(node)),
        CheckKind::Ran(node) => format!("ran {}", pattern_text(node)),
        CheckKind::NotRan(node) => format!("not ran {}", pattern_text(node)),
        CheckKind::Attempts(node, n) => format!("attempts {} {}", pattern_text(node), n.value),
        CheckKind::Within(None, budget) => format!("within {}", duration(budget.millis)),
        CheckKind::Within(Some(stage), budget) => format!(
            "stage {} within {}",
            pattern_text(stage),
            duration(budget.millis)
        ),
        // A budget over several stages (`ship+watch`) is not a name: quoted.
        CheckKind::Overrun(stage) if stage.name.contains('+') => {
            format!("overrun {:?}", stage.name)
        }
        CheckKind::Overrun(stage) => format!("overrun {}", stage.name),
        CheckKind::Holds(condition) => expr(condition),
    }
}
