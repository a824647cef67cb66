//! Lowering a scenarios file: one function per scenario rule.

use pest::iterators::Pair;

use crate::ast::*;
use crate::parser::fast::Rule;

use super::{Bug, Children, Lowerer, R, stream};

impl Lowerer<'_> {
    pub(super) fn scenario(&mut self, pair: Pair<'_, Rule>) -> R<Scenario> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let id = self.ident(children.expect(Rule::ident)?);
        let title = self.string(children.expect(Rule::string)?)?;
        let body = children
            .rest()
            .map(|stmt| self.scenario_stmt(stmt))
            .collect::<R<_>>()?;
        Ok(Scenario {
            id,
            title,
            body,
            span,
        })
    }

    fn scenario_stmt(&mut self, pair: Pair<'_, Rule>) -> R<ScenarioStmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        let kind = match rule {
            Rule::set_stmt => ScenarioStmtKind::Set {
                name: self.ident(children.expect(Rule::ident)?),
                value: self.value(children.expect(Rule::value)?)?,
            },
            Rule::operator_stmt => {
                ScenarioStmtKind::Operator(self.string(children.expect(Rule::string)?)?)
            }
            Rule::start_stmt => {
                ScenarioStmtKind::Start(self.string(children.expect(Rule::string)?)?)
            }
            Rule::default_stmt => ScenarioStmtKind::Default(
                children
                    .rest()
                    .map(|r| self.result_stmt(r))
                    .collect::<R<_>>()?,
            ),
            Rule::given_stmt => {
                let pattern = self.node_pattern(children.expect(Rule::node_pattern)?)?;
                let attempt = children.take(Rule::int).map(|p| self.int(p));
                let results = children
                    .rest()
                    .map(|r| self.result_stmt(r))
                    .collect::<R<_>>()?;
                ScenarioStmtKind::Given {
                    pattern,
                    attempt,
                    results,
                }
            }
            Rule::answer_stmt => {
                let pattern = self.node_pattern(children.expect(Rule::node_pattern)?)?;
                let items = children
                    .rest()
                    .map(|a| self.answer_item(a))
                    .collect::<R<_>>()?;
                ScenarioStmtKind::Answer { pattern, items }
            }
            Rule::earlier_stmt => {
                let ago = self.duration(children.expect(Rule::duration)?);
                let facts = children
                    .rest()
                    .map(|fact| {
                        let mut inner = Children::of(fact);
                        let path = self.path(inner.expect(Rule::path)?)?;
                        let value = self.value(inner.expect(Rule::value)?)?;
                        Ok((path, value))
                    })
                    .collect::<R<_>>()?;
                ScenarioStmtKind::Earlier { ago, facts }
            }
            Rule::cancel_stmt => {
                ScenarioStmtKind::Cancel(self.node_pattern(children.expect(Rule::node_pattern)?)?)
            }
            Rule::check_stmt => {
                let check = children.next().ok_or(Bug {
                    expected: Rule::check_stmt,
                    span,
                })?;
                ScenarioStmtKind::Expect(self.check(check)?)
            }
            _ => {
                return Err(Bug {
                    expected: Rule::scenario_decl,
                    span,
                });
            }
        };
        Ok(ScenarioStmt { kind, span })
    }

    fn node_pattern(&mut self, pair: Pair<'_, Rule>) -> R<NodePattern> {
        let span = self.span(&pair);
        let inner = Children::of(pair).next().ok_or(Bug {
            expected: Rule::node_pattern,
            span,
        })?;
        let (text, quoted) = match inner.as_rule() {
            Rule::string => (self.string(inner)?.source_form(), true),
            _ => (self.path(inner)?.dotted(), false),
        };
        Ok(NodePattern { text, quoted, span })
    }

    fn result_stmt(&mut self, pair: Pair<'_, Rule>) -> R<ResultStmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        let kind = match rule {
            Rule::exit_result => ResultKind::Exit(self.int(children.expect(Rule::int)?)),
            Rule::output_result => {
                let which = stream(&children.expect(Rule::stream)?);
                let text = children.next().ok_or(Bug {
                    expected: Rule::string,
                    span,
                })?;
                ResultKind::Output(which, self.text(text)?)
            }
            Rule::takes_result => {
                ResultKind::Takes(self.duration(children.expect(Rule::duration)?))
            }
            Rule::at_result => ResultKind::At(self.string(children.expect(Rule::string)?)?),
            _ => {
                return Err(Bug {
                    expected: Rule::exit_result,
                    span,
                });
            }
        };
        Ok(ResultStmt { kind, span })
    }

    fn answer_item(&mut self, pair: Pair<'_, Rule>) -> R<AnswerItem> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        let kind = match rule {
            Rule::choice_answer => AnswerKind::Choice(self.ident(children.expect(Rule::ident)?)),
            Rule::rationale_answer => {
                AnswerKind::Rationale(self.string(children.expect(Rule::string)?)?)
            }
            Rule::evidence_answer => {
                let name = self.ident(children.expect(Rule::ident)?);
                AnswerKind::Evidence(name, self.string(children.expect(Rule::string)?)?)
            }
            Rule::attest_answer => {
                AnswerKind::Attest(children.expect(Rule::boolean)?.as_str() == "true")
            }
            Rule::signoff_answer => {
                let role = self.ident(children.expect(Rule::ident)?);
                let by = self.string(children.expect(Rule::string)?)?;
                let go = children
                    .take(Rule::verdict)
                    .is_none_or(|v| v.as_str() == "go");
                AnswerKind::Signoff { role, by, go }
            }
            Rule::confirm_answer => AnswerKind::Confirm,
            Rule::reject_answer => AnswerKind::Reject,
            Rule::takes_result => {
                AnswerKind::Takes(self.duration(children.expect(Rule::duration)?))
            }
            _ => {
                return Err(Bug {
                    expected: Rule::choice_answer,
                    span,
                });
            }
        };
        Ok(AnswerItem { kind, span })
    }

    fn check(&mut self, pair: Pair<'_, Rule>) -> R<Check> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        if matches!(rule, Rule::expr) {
            return Ok(Check {
                kind: CheckKind::Holds(self.expr(pair)?),
                span,
            });
        }
        let mut children = Children::of(pair);
        let kind = match rule {
            Rule::check_outcome => CheckKind::Outcome(self.ident(children.expect(Rule::ident)?)),
            Rule::check_failed => {
                CheckKind::Failed(self.node_pattern(children.expect(Rule::node_pattern)?)?)
            }
            Rule::check_ran => {
                CheckKind::Ran(self.node_pattern(children.expect(Rule::node_pattern)?)?)
            }
            Rule::check_not_ran => {
                CheckKind::NotRan(self.node_pattern(children.expect(Rule::node_pattern)?)?)
            }
            Rule::check_attempts => {
                let pattern = self.node_pattern(children.expect(Rule::node_pattern)?)?;
                CheckKind::Attempts(pattern, self.int(children.expect(Rule::int)?))
            }
            Rule::check_within => {
                let stage = children
                    .take(Rule::node_pattern)
                    .map(|p| self.node_pattern(p))
                    .transpose()?;
                CheckKind::Within(stage, self.duration(children.expect(Rule::duration)?))
            }
            Rule::check_overrun => match children.take(Rule::string) {
                Some(quoted) => {
                    let text = self.string(quoted)?;
                    CheckKind::Overrun(Ident {
                        name: text.source_form(),
                        span: text.span,
                    })
                }
                None => CheckKind::Overrun(self.ident(children.expect(Rule::ident)?)),
            },
            _ => {
                return Err(Bug {
                    expected: Rule::check_stmt,
                    span,
                });
            }
        };
        Ok(Check { kind, span })
    }
}
