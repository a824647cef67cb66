//! Lowering pest's parse tree into the typed AST: one function per grammar
//! rule, each starting from the pair of that rule.
//!
//! The grammar guarantees the shape of the tree, so a surprise here is a bug
//! in rbx, not in the runbook. It is still reported as a diagnostic rather
//! than a panic: no input may crash the tool.

mod call;
mod scenario;

use pest::iterators::{Pair, Pairs};

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::parser::fast::Rule;
use crate::span::Span;
use crate::template;

/// A tree shape the grammar should have ruled out.
#[derive(Debug)]
pub struct Bug {
    pub expected: Rule,
    pub span: Span,
}

impl Bug {
    pub fn into_diagnostic(self) -> Diagnostic {
        Diagnostic::error(
            "rbx::syntax::internal",
            format!(
                "rbx could not read this part of the file (expected {:?} in the parse tree)",
                self.expected
            ),
        )
        .primary(self.span, "here")
        .help("this is a bug in rbx; please report it with the file that caused it")
    }
}

type R<T> = Result<T, Bug>;

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// Keywords are in the tree only so errors can name them (punctuation is
/// not in the fast grammar's tree at all); lowering walks past them unless it
/// asks for one by name.
fn is_noise(rule: Rule) -> bool {
    rule.is_keyword()
}

/// Whether a rule of the named grammar is one of its `kw_` keyword rules.
pub fn is_keyword(rule: crate::parser::Rule) -> bool {
    use crate::parser::Rule::*;
    matches!(
        rule,
        kw_runbook
            | kw_version
            | kw_scope
            | kw_policy
            | kw_include
            | kw_input
            | kw_role
            | kw_link
            | kw_hook
            | kw_outcome
            | kw_stage
            | kw_within
            | kw_deadline
            | kw_for
            | kw_then
            | kw_end
            | kw_step
            | kw_manual
            | kw_gate
            | kw_signoff
            | kw_decide
            | kw_choose
            | kw_wait
            | kw_anchor
            | kw_foreach
            | kw_in
            | kw_parallel
            | kw_tolerate
            | kw_again
            | kw_repeat
            | kw_most
            | kw_call
            | kw_child
            | kw_owner
            | kw_require
            | kw_on
            | kw_run
            | kw_timeout
            | kw_retry
            | kw_backoff
            | kw_max
            | kw_jitter
            | kw_expect
            | kw_exit
            | kw_capture
            | kw_json
            | kw_keep
            | kw_idempotent
            | kw_verify
            | kw_irreversible
            | kw_instructions
            | kw_evidence
            | kw_optional
            | kw_attest
            | kw_by
            | kw_approvers
            | kw_no
            | kw_self_approval
            | kw_when
            | kw_otherwise
            | kw_option
            | kw_every
            | kw_until
            | kw_continue
            | kw_finally
            | kw_checklist
            | kw_fail_fast
            | kw_acknowledge
            | kw_assign
            | kw_enum
            | kw_list
            | kw_choice
            | kw_choices
            | kw_lines
            | kw_and
            | kw_or
            | kw_not
            | kw_scenario
            | kw_set
            | kw_operator
            | kw_start
            | kw_default
            | kw_given
            | kw_attempt
            | kw_attempts
            | kw_takes
            | kw_at
            | kw_answer
            | kw_rationale
            | kw_confirm
            | kw_reject
            | kw_earlier
            | kw_failed
            | kw_ran
            | kw_overrun
            | kw_cancel
    )
}

/// The children of one pair, consumed in order.
struct Children<'i> {
    pairs: std::iter::Peekable<Pairs<'i, Rule>>,
    parent: Span,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i, Rule>) -> Self {
        let parent = span_of(&pair);
        Self {
            pairs: pair.into_inner().peekable(),
            parent,
        }
    }

    fn skip_noise(&mut self, unless: Rule) {
        while let Some(next) = self.pairs.peek() {
            if next.as_rule() != unless && is_noise(next.as_rule()) {
                self.pairs.next();
            } else {
                break;
            }
        }
    }

    /// The next child if it is `rule`.
    fn take(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        self.skip_noise(rule);
        match self.pairs.peek() {
            Some(next) if next.as_rule() == rule => self.pairs.next(),
            _ => None,
        }
    }

    /// The next child, which the grammar says must be `rule`.
    fn expect(&mut self, rule: Rule) -> R<Pair<'i, Rule>> {
        self.take(rule).ok_or(Bug {
            expected: rule,
            span: self.parent,
        })
    }

    /// The next meaningful child, whatever it is.
    fn next(&mut self) -> Option<Pair<'i, Rule>> {
        self.skip_noise(Rule::EOI);
        self.pairs.next()
    }

    fn rest(mut self) -> impl Iterator<Item = Pair<'i, Rule>> {
        std::iter::from_fn(move || self.next())
    }
}

pub struct Lowerer<'s> {
    pub diagnostics: Vec<Diagnostic>,
    source: &'s str,
    /// Where each comment ends and starts, in the order of the text.
    comment_ends: Vec<(usize, usize)>,
}

impl<'s> Lowerer<'s> {
    pub fn new(source: &'s str, comments: &[Comment]) -> Self {
        Self {
            diagnostics: Vec::new(),
            source,
            comment_ends: comments
                .iter()
                .map(|c| (c.span.end, c.span.start))
                .collect(),
        }
    }

    /// A pair's span without the whitespace and comments pest lets a rule
    /// swallow when its last part is optional and absent.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let start = pair.as_span().start();
        let mut end = pair.as_span().end();
        loop {
            let trimmed = start + self.source[start..end].trim_end().len();
            let comment_start = self
                .comment_ends
                .binary_search_by_key(&trimmed, |(end, _)| *end)
                .ok()
                .map(|i| self.comment_ends[i].1);
            match comment_start {
                Some(comment_start) if comment_start >= start => end = comment_start,
                _ => return Span::new(start, trimmed),
            }
        }
    }

    /// The source text of a pair. Parsing read a copy in which bytes
    /// outside ASCII are masked (`parser::fast_text`): what a literal holds
    /// is read here instead.
    fn source_of(&self, pair: &Pair<'_, Rule>) -> &'s str {
        let span = pair.as_span();
        self.source
            .get(span.start()..span.end())
            .unwrap_or_default()
    }

    pub fn file(&mut self, pair: Pair<'_, Rule>, comments: Vec<Comment>) -> R<File> {
        debug_assert_eq!(pair.as_rule(), Rule::file);
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        if let Some(runbook) = children.take(Rule::runbook) {
            let header_span = self.span(&runbook);
            let mut inner = Children::of(runbook);
            let id = self.ident(inner.expect(Rule::ident)?);
            let title = self.string(inner.expect(Rule::string)?)?;
            let items = self.items(inner.rest())?;
            return Ok(File {
                header: Some(Header {
                    id,
                    title,
                    span: header_span,
                }),
                items,
                scenarios: Vec::new(),
                comments,
                span,
            });
        }
        if let Some(scenarios) = children.take(Rule::scenarios) {
            let scenarios = Children::of(scenarios)
                .rest()
                .map(|s| self.scenario(s))
                .collect::<R<_>>()?;
            return Ok(File {
                header: None,
                items: Vec::new(),
                scenarios,
                comments,
                span,
            });
        }
        let fragment = children.expect(Rule::fragment)?;
        let items = self.items(Children::of(fragment).rest())?;
        Ok(File {
            header: None,
            items,
            scenarios: Vec::new(),
            comments,
            span,
        })
    }

    fn items<'i>(&mut self, pairs: impl Iterator<Item = Pair<'i, Rule>>) -> R<Vec<Item>> {
        pairs.map(|pair| self.item(pair)).collect()
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> R<Item> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let kind = match rule {
            Rule::version_decl => ItemKind::Version(self.first_text(pair)?),
            Rule::scope_decl => ItemKind::Scope(self.first_text(pair)?),
            Rule::policy_decl => ItemKind::Policy(self.first_text(pair)?),
            Rule::include_decl => ItemKind::Include(self.first_text(pair)?),
            Rule::input_decl => ItemKind::Input(self.input(pair)?),
            Rule::role_decl => ItemKind::Role(self.role(pair)?),
            Rule::link_decl => ItemKind::Link(self.link(pair)?),
            Rule::outcome_decl => ItemKind::Outcome(self.outcome(pair)?),
            Rule::hook_decl => ItemKind::Hook(self.hook(pair)?),
            Rule::require_stmt => ItemKind::Require(self.require(pair)?),
            Rule::on_stmt => ItemKind::On(self.route(pair)?),
            Rule::within_decl | Rule::deadline_decl => ItemKind::Budget(self.budget(pair)?),
            Rule::stage_decl => ItemKind::Stage(self.stage(pair)?),
            Rule::finally_decl => ItemKind::Finally(self.stage_items(Children::of(pair).rest())?),
            _ => {
                return Err(Bug {
                    expected: Rule::stage_decl,
                    span,
                });
            }
        };
        Ok(Item { kind, span })
    }

    fn budget(&mut self, pair: Pair<'_, Rule>) -> R<Budget> {
        let within = pair.as_rule() == Rule::within_decl;
        let mut children = Children::of(pair);
        let limit = if within {
            Limit::Within(self.duration(children.expect(Rule::duration)?))
        } else {
            Limit::Deadline(self.expr(children.expect(Rule::expr)?)?)
        };
        let stages = children
            .take(Rule::budget_for)
            .map(|p| self.idents(p))
            .unwrap_or_default();
        Ok(Budget { limit, stages })
    }

    /// The one string or text block a declaration holds.
    fn first_text(&mut self, pair: Pair<'_, Rule>) -> R<Text> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        match children.next() {
            Some(text) => self.text(text),
            None => Err(Bug {
                expected: Rule::string,
                span,
            }),
        }
    }

    fn input(&mut self, pair: Pair<'_, Rule>) -> R<Input> {
        let mut children = Children::of(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = children
            .take(Rule::string)
            .map(|p| self.string(p))
            .transpose()?;
        let ty = self.input_type(children.expect(Rule::input_type)?)?;
        let default = children
            .take(Rule::value)
            .map(|p| self.value(p))
            .transpose()?;
        Ok(Input {
            name,
            description,
            ty,
            default,
        })
    }

    fn input_type(&mut self, pair: Pair<'_, Rule>) -> R<InputType> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let inner = children.next().ok_or(Bug {
            expected: Rule::scalar_type,
            span,
        })?;
        let kind = match inner.as_rule() {
            Rule::scalar_type => InputTypeKind::Scalar(self.scalar_type(&inner)),
            Rule::enum_type => InputTypeKind::Enum(self.idents(inner)),
            Rule::list_type => {
                let element = Children::of(inner).expect(Rule::scalar_type)?;
                InputTypeKind::List(self.scalar_type(&element))
            }
            _ => {
                return Err(Bug {
                    expected: Rule::scalar_type,
                    span,
                });
            }
        };
        Ok(InputType { kind, span })
    }

    fn scalar_type(&mut self, pair: &Pair<'_, Rule>) -> ScalarType {
        match pair.as_str() {
            "int" => ScalarType::Int,
            "bool" => ScalarType::Bool,
            "duration" => ScalarType::Duration,
            "timestamp" => ScalarType::Timestamp,
            "secret" => ScalarType::Secret,
            "host" => ScalarType::Host,
            "command" => ScalarType::Command,
            _ => ScalarType::String,
        }
    }

    /// Every identifier among a pair's children.
    fn idents(&mut self, pair: Pair<'_, Rule>) -> Vec<Ident> {
        pair.into_inner()
            .filter(|p| p.as_rule() == Rule::ident)
            .map(|p| self.ident(p))
            .collect()
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> R<Value> {
        let span = self.span(&pair);
        let inner = Children::of(pair).next().ok_or(Bug {
            expected: Rule::value,
            span,
        })?;
        let kind = match inner.as_rule() {
            Rule::list_value => ValueKind::List(
                Children::of(inner)
                    .rest()
                    .map(|p| self.value(p))
                    .collect::<R<_>>()?,
            ),
            Rule::duration => ValueKind::Duration(self.duration(inner).millis),
            Rule::int => ValueKind::Int(self.int(inner).value),
            Rule::boolean => ValueKind::Bool(inner.as_str() == "true"),
            Rule::string => ValueKind::String(self.string(inner)?),
            Rule::ident => ValueKind::Name(self.ident(inner)),
            _ => {
                return Err(Bug {
                    expected: Rule::value,
                    span,
                });
            }
        };
        Ok(Value { kind, span })
    }

    fn role(&mut self, pair: Pair<'_, Rule>) -> R<Role> {
        let mut children = Children::of(pair);
        let id = self.ident(children.expect(Rule::ident)?);
        let title = self.string(children.expect(Rule::string)?)?;
        let fields = match children.take(Rule::role_body) {
            Some(body) => Some(
                Children::of(body)
                    .rest()
                    .map(|field| self.role_field(field))
                    .collect::<R<_>>()?,
            ),
            None => None,
        };
        Ok(Role { id, title, fields })
    }

    fn role_field(&mut self, pair: Pair<'_, Rule>) -> R<RoleField> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let name = children.expect(Rule::role_field_name)?;
        let kind = match name.as_str() {
            "person" => RoleFieldKind::Person,
            "contact" => RoleFieldKind::Contact,
            "identity" => RoleFieldKind::Identity,
            _ => RoleFieldKind::Backup,
        };
        let value = self.string(children.expect(Rule::string)?)?;
        Ok(RoleField { kind, value, span })
    }

    fn link(&mut self, pair: Pair<'_, Rule>) -> R<Link> {
        let mut children = Children::of(pair);
        let id = self.ident(children.expect(Rule::ident)?);
        let title = self.string(children.expect(Rule::string)?)?;
        let target = children
            .take(Rule::string)
            .map(|p| self.string(p))
            .transpose()?;
        Ok(Link { id, title, target })
    }

    fn outcome(&mut self, pair: Pair<'_, Rule>) -> R<Outcome> {
        let mut children = Children::of(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = children
            .take(Rule::string)
            .map(|p| self.string(p))
            .transpose()?;
        let success = children.expect(Rule::outcome_class)?.as_str() == "success";
        Ok(Outcome {
            name,
            description,
            success,
        })
    }

    fn hook(&mut self, pair: Pair<'_, Rule>) -> R<Hook> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let event = match children.expect(Rule::hook_event)?.as_str() {
            "pause" => HookEvent::Pause,
            "overrun" => HookEvent::Overrun,
            "failure" => HookEvent::Failure,
            "start" => HookEvent::Start,
            "finish" => HookEvent::Finish,
            _ => HookEvent::End,
        };
        let command = match children.next() {
            Some(text) => self.text(text)?,
            None => {
                return Err(Bug {
                    expected: Rule::string,
                    span,
                });
            }
        };
        Ok(Hook { event, command })
    }

    fn require(&mut self, pair: Pair<'_, Rule>) -> R<Require> {
        let span = self.span(&pair);
        let inner = Children::of(pair).next().ok_or(Bug {
            expected: Rule::expr,
            span,
        })?;
        Ok(match inner.as_rule() {
            Rule::require_role => {
                Require::Role(self.ident(Children::of(inner).expect(Rule::ident)?))
            }
            Rule::require_link => {
                Require::Link(self.ident(Children::of(inner).expect(Rule::ident)?))
            }
            _ => Require::Expr(self.expr(inner)?),
        })
    }

    fn route(&mut self, pair: Pair<'_, Rule>) -> R<Route> {
        let mut children = Children::of(pair);
        let event = match children.expect(Rule::route_event)?.as_str() {
            "cancel" => RouteEvent::Cancel,
            _ => RouteEvent::Failure,
        };
        let target = self.target(children.expect(Rule::target)?)?;
        Ok(Route { event, target })
    }

    fn target(&mut self, pair: Pair<'_, Rule>) -> R<Target> {
        let span = self.span(&pair);
        let inner = Children::of(pair).next().ok_or(Bug {
            expected: Rule::target,
            span,
        })?;
        let kind = match inner.as_rule() {
            Rule::target_end => {
                TargetKind::End(self.ident(Children::of(inner).expect(Rule::ident)?))
            }
            Rule::target_continue => TargetKind::Continue,
            _ => TargetKind::Stage(self.ident(inner)),
        };
        Ok(Target { kind, span })
    }

    fn stage(&mut self, pair: Pair<'_, Rule>) -> R<Stage> {
        let mut children = Children::of(pair);
        let id = self.ident(children.expect(Rule::ident)?);
        let params = match children.take(Rule::stage_params) {
            Some(params) => Some(self.params(params)?),
            None => None,
        };
        let title = self.string(children.expect(Rule::string)?)?;
        let within = match children.take(Rule::within) {
            Some(within) => Some(self.duration(Children::of(within).expect(Rule::duration)?)),
            None => None,
        };
        let items = self.stage_items(children.rest())?;
        Ok(Stage {
            id,
            params,
            title,
            within,
            items,
        })
    }

    fn stage_items<'i>(
        &mut self,
        pairs: impl Iterator<Item = Pair<'i, Rule>>,
    ) -> R<Vec<StageItem>> {
        pairs.map(|pair| self.stage_item(pair)).collect()
    }

    fn stage_item(&mut self, pair: Pair<'_, Rule>) -> R<StageItem> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::require_stmt => StageItemKind::Require(self.require(pair)?),
            Rule::on_stmt => StageItemKind::On(self.route(pair)?),
            Rule::then_stmt => {
                StageItemKind::Then(self.ident(Children::of(pair).expect(Rule::ident)?))
            }
            Rule::end_stmt => {
                StageItemKind::End(self.ident(Children::of(pair).expect(Rule::ident)?))
            }
            Rule::step_decl => StageItemKind::Block(self.block(BlockKind::Step, pair)?),
            Rule::manual_decl => StageItemKind::Block(self.block(BlockKind::Manual, pair)?),
            Rule::gate_decl => StageItemKind::Block(self.block(BlockKind::Gate, pair)?),
            Rule::signoff_decl => StageItemKind::Block(self.block(BlockKind::Signoff, pair)?),
            Rule::decide_decl => StageItemKind::Block(self.block(BlockKind::Decide, pair)?),
            Rule::choose_decl => StageItemKind::Block(self.block(BlockKind::Choose, pair)?),
            Rule::wait_decl => StageItemKind::Block(self.block(BlockKind::Wait, pair)?),
            Rule::child_decl => StageItemKind::Block(self.block(BlockKind::Child, pair)?),
            Rule::anchor_decl => {
                let mut children = Children::of(pair);
                let id = self.ident(children.expect(Rule::ident)?);
                let title = self.string(children.expect(Rule::string)?)?;
                let at = match children.take(Rule::expr) {
                    Some(at) => Some(self.expr(at)?),
                    None => None,
                };
                StageItemKind::Anchor(Anchor { id, title, at })
            }
            Rule::checklist_decl => {
                let mut children = Children::of(pair);
                let id = self.ident(children.expect(Rule::ident)?);
                let title = self.string(children.expect(Rule::string)?)?;
                let fail_fast = children.take(Rule::kw_fail_fast).is_some();
                let items = self.stage_items(children.rest())?;
                StageItemKind::Checklist(Checklist {
                    id,
                    title,
                    fail_fast,
                    items,
                })
            }
            Rule::foreach_decl => StageItemKind::Foreach(self.foreach(pair)?),
            Rule::parallel_decl => StageItemKind::Parallel(self.parallel(pair)?),
            Rule::again_decl => StageItemKind::Again(self.again(pair)?),
            Rule::repeat_decl => StageItemKind::Repeat(self.repeat(pair)?),
            Rule::every_decl => StageItemKind::Every(self.every(pair)?),
            Rule::finally_decl => {
                StageItemKind::Finally(self.stage_items(Children::of(pair).rest())?)
            }
            Rule::call_decl => StageItemKind::Call(self.call_decl(pair)?),
            _ => {
                return Err(Bug {
                    expected: Rule::step_decl,
                    span,
                });
            }
        };
        Ok(StageItem { kind, span })
    }

    fn foreach(&mut self, pair: Pair<'_, Rule>) -> R<Foreach> {
        let mut children = Children::of(pair);
        let var = self.ident(children.expect(Rule::ident)?);
        let list = self.path(children.expect(Rule::path)?)?;
        let (parallel, parallel_expr) = self.at_once(&mut children)?;
        let tolerate = match children.take(Rule::tolerate) {
            Some(pair) => Some(self.tolerate(pair)?),
            None => None,
        };
        let condition = self.block_condition(&mut children)?;
        let items = self.stage_items(children.rest())?;
        Ok(Foreach {
            var,
            list,
            parallel,
            parallel_expr,
            tolerate,
            condition,
            items,
        })
    }

    fn parallel(&mut self, pair: Pair<'_, Rule>) -> R<Parallel> {
        let mut children = Children::of(pair);
        let (at_once, at_once_expr) = self.at_once(&mut children)?;
        let tolerate = match children.take(Rule::tolerate) {
            Some(pair) => Some(self.tolerate(pair)?),
            None => None,
        };
        let condition = self.block_condition(&mut children)?;
        let items = self.stage_items(children.rest())?;
        Ok(Parallel {
            at_once,
            at_once_expr,
            tolerate,
            condition,
            items,
        })
    }

    /// `parallel N`: a number, or an expression to judge when the run
    /// starts.
    fn at_once(&mut self, children: &mut Children<'_>) -> R<(Option<Int>, Option<Expr>)> {
        let Some(pair) = children.take(Rule::at_once) else {
            return Ok((None, None));
        };
        let mut inner = Children::of(pair);
        if let Some(int) = inner.take(Rule::int) {
            return Ok((Some(self.int(int)), None));
        }
        Ok((None, Some(self.expr(inner.expect(Rule::expr)?)?)))
    }

    /// A block's own `when EXPR`, written before its brace.
    fn block_condition(&mut self, children: &mut Children<'_>) -> R<Option<Expr>> {
        match children.take(Rule::condition_stmt) {
            Some(pair) => Ok(Some(self.expr(Children::of(pair).expect(Rule::expr)?)?)),
            None => Ok(None),
        }
    }

    fn repeat(&mut self, pair: Pair<'_, Rule>) -> R<Repeat> {
        let mut children = Children::of(pair);
        let at_most = match children.take(Rule::repeat_bound) {
            Some(bound) => Some(self.int(Children::of(bound).expect(Rule::int)?)),
            None => None,
        };
        let until = self.expr(children.expect(Rule::expr)?)?;
        let items = self.stage_items(children.rest())?;
        Ok(Repeat {
            at_most,
            until,
            items,
        })
    }

    fn every(&mut self, pair: Pair<'_, Rule>) -> R<Every> {
        let mut children = Children::of(pair);
        let interval = self.expr(children.expect(Rule::expr)?)?;
        let at_most = match children.take(Rule::repeat_bound) {
            Some(bound) => Some(self.int(Children::of(bound).expect(Rule::int)?)),
            None => None,
        };
        let items = self.stage_items(children.rest())?;
        Ok(Every {
            interval,
            at_most,
            items,
        })
    }

    fn tolerate(&mut self, pair: Pair<'_, Rule>) -> R<Tolerate> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        if let Some(int) = children.take(Rule::int) {
            let amount = self.int(int).value;
            return Ok(Tolerate {
                amount,
                percent: false,
                span,
            });
        }
        let percent = children.expect(Rule::percent)?;
        let digits = percent.as_str().trim_end_matches('%');
        let amount = digits.parse().unwrap_or_else(|_| {
            self.diagnostics.push(
                Diagnostic::error("rbx::syntax::number_too_large", "this number is too large")
                    .primary(span, "does not fit in a 64-bit integer")
                    .help("a percentage ranges from 0% to 100%"),
            );
            0
        });
        Ok(Tolerate {
            amount,
            percent: true,
            span,
        })
    }

    fn again(&mut self, pair: Pair<'_, Rule>) -> R<Again> {
        let mut children = Children::of(pair);
        let stage = self.ident(children.expect(Rule::ident)?);
        let condition = self.block_condition(&mut children)?;
        let routes = children
            .rest()
            .map(|route| {
                let span = self.span(&route);
                Ok(SpannedRoute {
                    route: self.route(route)?,
                    span,
                })
            })
            .collect::<R<_>>()?;
        Ok(Again {
            stage,
            condition,
            routes,
        })
    }

    fn block(&mut self, kind: BlockKind, pair: Pair<'_, Rule>) -> R<std::sync::Arc<Block>> {
        let mut children = Children::of(pair);
        let id = self.ident(children.expect(Rule::ident)?);
        let title = self.string(children.expect(Rule::string)?)?;
        let body = children
            .rest()
            .map(|stmt| self.stmt(stmt))
            .collect::<R<_>>()?;
        Ok(std::sync::Arc::new(Block {
            kind,
            id,
            title,
            body,
        }))
    }

    fn stmt(&mut self, pair: Pair<'_, Rule>) -> R<Stmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let kind = match rule {
            Rule::require_stmt => StmtKind::Require(self.require(pair)?),
            Rule::on_stmt => StmtKind::On(self.route(pair)?),
            Rule::idempotent_stmt => StmtKind::Idempotent,
            Rule::acknowledge_stmt => StmtKind::Acknowledge,
            Rule::no_self_stmt => StmtKind::NoSelfApproval,
            Rule::retry_stmt => StmtKind::Retry(self.retry(pair)?),
            Rule::expect_stmt => self.expect_stmt(pair)?,
            Rule::capture_stmt => StmtKind::Capture(self.capture(pair)?),
            Rule::evidence_stmt => StmtKind::Evidence(self.evidence(pair)?),
            Rule::by_stmt => StmtKind::By(self.idents(pair)),
            Rule::when_stmt => {
                let mut children = Children::of(pair);
                let condition = self.expr(children.expect(Rule::expr)?)?;
                let target = self.target(children.expect(Rule::target)?)?;
                StmtKind::When { condition, target }
            }
            Rule::condition_stmt => {
                StmtKind::Condition(self.expr(Children::of(pair).expect(Rule::expr)?)?)
            }
            Rule::option_stmt => {
                let mut children = Children::of(pair);
                let name = self.ident(children.expect(Rule::ident)?);
                let description = self.string(children.expect(Rule::string)?)?;
                let target = self.target(children.expect(Rule::target)?)?;
                StmtKind::Option(ChoiceOption {
                    name,
                    description,
                    target,
                })
            }
            Rule::child_input => {
                let mut children = Children::of(pair);
                let name = self.ident(children.expect(Rule::ident)?);
                let value = self.expr(children.expect(Rule::expr)?)?;
                StmtKind::ChildInput(Arg { name, value })
            }
            Rule::assign_stmt => {
                let mut children = Children::of(pair);
                let role = self.ident(children.expect(Rule::ident)?);
                let evidence = self.ident(children.expect(Rule::ident)?);
                StmtKind::Assign { role, evidence }
            }
            Rule::attest_stmt => {
                let mut children = Children::of(pair);
                let role = self.ident(children.expect(Rule::ident)?);
                let statement = self.string(children.expect(Rule::string)?)?;
                StmtKind::Attest { role, statement }
            }
            Rule::irreversible_stmt => StmtKind::Irreversible(
                Children::of(pair)
                    .take(Rule::string)
                    .map(|p| self.string(p))
                    .transpose()?,
            ),
            _ => self.simple_stmt(rule, pair, span)?,
        };
        Ok(Stmt { kind, span })
    }

    /// Statements that are a keyword and one operand.
    fn simple_stmt(&mut self, rule: Rule, pair: Pair<'_, Rule>, span: Span) -> R<StmtKind> {
        let operand = Children::of(pair).next().ok_or(Bug {
            expected: rule,
            span,
        })?;
        Ok(match rule {
            Rule::owner_stmt => StmtKind::Owner(self.ident(operand)),
            Rule::run_stmt => StmtKind::Run(self.text(operand)?),
            Rule::verify_stmt => StmtKind::Verify(self.text(operand)?),
            Rule::instructions_stmt => StmtKind::Instructions(self.text(operand)?),
            Rule::timeout_stmt => self.timeout(operand)?,
            Rule::every_stmt => StmtKind::Every(self.duration(operand)),
            Rule::approvers_stmt => StmtKind::Approvers(self.int(operand)),
            Rule::keep_stmt => StmtKind::Keep(stream(&operand)),
            Rule::until_stmt => StmtKind::Until(self.expr(operand)?),
            Rule::child_runbook => StmtKind::Runbook(self.string(operand)?),
            Rule::otherwise_stmt => StmtKind::Otherwise(self.target(operand)?),
            _ => {
                return Err(Bug {
                    expected: Rule::step_decl,
                    span,
                });
            }
        })
    }

    /// `timeout 5m`, or `timeout EXPR` computed when the node starts. A
    /// bare number (`timeout 30`) is the commonest slip: it is reported
    /// here, asking for a unit, as a duration without one is elsewhere.
    fn timeout(&mut self, operand: Pair<'_, Rule>) -> R<StmtKind> {
        Ok(match self.expr(operand)? {
            Expr {
                kind: ExprKind::Duration(millis),
                span,
            } => StmtKind::Timeout(Duration { millis, span }),
            Expr {
                kind: ExprKind::Int(n),
                span,
            } => {
                self.diagnostics.push(
                    Diagnostic::error("rbx::syntax::duration_unit", "a duration needs a unit")
                        .primary(span, "a bare number")
                        .help(format!(
                            "write `{n}s` for seconds; the units are ms, s, m, h and d"
                        )),
                );
                StmtKind::Timeout(Duration { millis: 0, span })
            }
            computed => StmtKind::TimeoutExpr(computed),
        })
    }

    fn retry(&mut self, pair: Pair<'_, Rule>) -> R<Retry> {
        // `jitter` is a keyword alone, which walking the children skips.
        let jitter = pair
            .clone()
            .into_inner()
            .any(|p| p.as_rule() == Rule::kw_jitter);
        let mut children = Children::of(pair);
        let count = self.int(children.expect(Rule::int)?);
        let backoff = match children.take(Rule::duration) {
            None => None,
            Some(delay) => {
                let delay = self.duration(delay);
                let kind = children
                    .take(Rule::backoff_kind)
                    .map(|kind| match kind.as_str() {
                        "fixed" => BackoffKind::Fixed,
                        _ => BackoffKind::Exponential,
                    });
                let max = match children.take(Rule::retry_max) {
                    Some(max) => Some(self.duration(Children::of(max).expect(Rule::duration)?)),
                    None => None,
                };
                Some(Backoff {
                    delay,
                    kind,
                    max,
                    jitter,
                })
            }
        };
        let on_exit = match children.take(Rule::retry_on) {
            Some(on) => Children::of(on)
                .rest()
                .filter(|p| p.as_rule() == Rule::int)
                .map(|p| self.int(p))
                .collect(),
            None => Vec::new(),
        };
        Ok(Retry {
            count,
            backoff,
            on_exit,
        })
    }

    fn expect_stmt(&mut self, pair: Pair<'_, Rule>) -> R<StmtKind> {
        let span = self.span(&pair);
        let inner = Children::of(pair).next().ok_or(Bug {
            expected: Rule::expect_exit,
            span,
        })?;
        if inner.as_rule() == Rule::expect_exit {
            let codes = inner
                .into_inner()
                .filter(|p| p.as_rule() == Rule::int)
                .map(|p| self.int(p))
                .collect();
            return Ok(StmtKind::ExpectExit(codes));
        }
        let mut children = Children::of(inner);
        let stream = stream(&children.expect(Rule::stream)?);
        let negated = children.expect(Rule::match_op)?.as_str() == "!~";
        let regex = self.regex(children.expect(Rule::regex)?)?;
        Ok(StmtKind::ExpectStream(ExpectStream {
            stream,
            negated,
            regex,
        }))
    }

    fn capture(&mut self, pair: Pair<'_, Rule>) -> R<Capture> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let ty = children.take(Rule::capture_type).map(capture_type);
        let stream = stream(&children.expect(Rule::stream)?);
        let source = if let Some(regex) = children.take(Rule::capture_regex) {
            CaptureSource::Regex(self.regex(Children::of(regex).expect(Rule::regex)?)?)
        } else if let Some(json) = children.take(Rule::capture_json) {
            CaptureSource::Json(self.string(Children::of(json).expect(Rule::string)?)?)
        } else if children.take(Rule::capture_lines).is_some() {
            CaptureSource::Lines
        } else {
            return Err(Bug {
                expected: Rule::capture_regex,
                span,
            });
        };
        Ok(Capture {
            name,
            ty,
            stream,
            source,
        })
    }

    fn evidence(&mut self, pair: Pair<'_, Rule>) -> R<Evidence> {
        let mut children = Children::of(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let prompt = self.string(children.expect(Rule::string)?)?;
        let ty_pair = children.expect(Rule::evidence_type)?;
        let span = self.span(&ty_pair);
        let inner = Children::of(ty_pair).next().ok_or(Bug {
            expected: Rule::evidence_kind,
            span,
        })?;
        let ty = match inner.as_rule() {
            Rule::choice_type => EvidenceType::Choice(self.idents(inner)),
            Rule::choices_type => EvidenceType::Choices(self.idents(inner)),
            _ => match inner.as_str() {
                "url" => EvidenceType::Url,
                "file" => EvidenceType::File,
                "int" => EvidenceType::Int,
                "bool" => EvidenceType::Bool,
                _ => EvidenceType::Text,
            },
        };
        let optional = children.take(Rule::kw_optional).is_some();
        Ok(Evidence {
            name,
            prompt,
            ty,
            optional,
        })
    }

    // ------------------------------------------------------- expressions --

    /// Operands joined by one operator (`a * b * c`, `a ?? b`): the one
    /// operand itself when there is no operator, else `make` of them all.
    fn chain(
        &mut self,
        pair: Pair<'_, Rule>,
        op: Rule,
        make: fn(Vec<Expr>) -> ExprKind,
    ) -> R<Expr> {
        let (rule, span) = (pair.as_rule(), self.span(&pair));
        let mut operands: Vec<Expr> = Children::of(pair)
            .rest()
            .filter(|p| p.as_rule() != op)
            .map(|p| self.expr(p))
            .collect::<R<_>>()?;
        if operands.len() == 1 {
            return operands.pop().ok_or(Bug {
                expected: rule,
                span,
            });
        }
        Ok(Expr {
            kind: make(operands),
            span,
        })
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> R<Expr> {
        let pair = innermost(pair);
        let span = self.span(&pair);
        let rule = pair.as_rule();
        match rule {
            Rule::expr => {
                let inner = Children::of(pair).next().ok_or(Bug {
                    expected: Rule::or_expr,
                    span,
                })?;
                self.expr(inner)
            }
            // The keywords between operands are not operands: `rest` leaves
            // them out.
            Rule::or_expr => self.chain(pair, Rule::kw_or, ExprKind::Or),
            Rule::and_expr => self.chain(pair, Rule::kw_and, ExprKind::And),
            Rule::not_expr => {
                let mut inner = pair.into_inner();
                let nots = inner
                    .clone()
                    .filter(|p| p.as_rule() == Rule::kw_not)
                    .count();
                let operand = inner.rfind(|p| p.as_rule() == Rule::cmp_expr).ok_or(Bug {
                    expected: Rule::cmp_expr,
                    span,
                })?;
                let mut expr = self.expr(operand)?;
                // `not not x` is `x`; keeping at most one `not` bounds the tree depth.
                if nots % 2 == 1 {
                    expr = Expr {
                        kind: ExprKind::Not(Box::new(expr)),
                        span,
                    };
                }
                Ok(expr)
            }
            Rule::cmp_expr => {
                let mut children = Children::of(pair);
                let lhs = self.expr(children.expect(Rule::dflt_expr)?)?;
                let Some(op) = children.next() else {
                    return Ok(lhs);
                };
                let op = compare_op(op.as_str());
                let rhs = self.expr(children.next().ok_or(Bug {
                    expected: Rule::dflt_expr,
                    span,
                })?)?;
                Ok(Expr {
                    kind: ExprKind::Compare {
                        lhs: Box::new(lhs),
                        op,
                        rhs: Box::new(rhs),
                    },
                    span,
                })
            }
            Rule::sum_expr => {
                let mut children = Children::of(pair);
                let first_pair = children.next().ok_or(Bug {
                    expected: Rule::sum_expr,
                    span,
                })?;
                let first = self.expr(first_pair)?;
                let mut rest = Vec::new();
                while let Some(op) = children.take(Rule::sum_op) {
                    let op = if op.as_str() == "-" {
                        SumOp::Sub
                    } else {
                        SumOp::Add
                    };
                    let operand = children.next().ok_or(Bug {
                        expected: Rule::sum_expr,
                        span,
                    })?;
                    rest.push((op, self.expr(operand)?));
                }
                if rest.is_empty() {
                    return Ok(first);
                }
                Ok(Expr {
                    kind: ExprKind::Sum {
                        first: Box::new(first),
                        rest,
                    },
                    span,
                })
            }
            Rule::prod_expr => self.chain(pair, Rule::mul_op, ExprKind::Product),
            Rule::dflt_expr => self.chain(pair, Rule::dflt_op, ExprKind::Default),
            Rule::list_expr => {
                let items = Children::of(pair)
                    .rest()
                    .map(|p| self.expr(p))
                    .collect::<R<_>>()?;
                Ok(Expr {
                    kind: ExprKind::List(items),
                    span,
                })
            }
            Rule::paren => {
                let inner = self.expr(Children::of(pair).expect(Rule::expr)?)?;
                Ok(Expr {
                    kind: ExprKind::Paren(Box::new(inner)),
                    span,
                })
            }
            Rule::call => {
                let mut children = Children::of(pair);
                let name = self.ident(children.expect(Rule::ident)?);
                let args = children.rest().map(|p| self.expr(p)).collect::<R<_>>()?;
                Ok(Expr {
                    kind: ExprKind::Call { name, args },
                    span,
                })
            }
            Rule::path => Ok(Expr {
                kind: ExprKind::Path(self.path(pair)?),
                span,
            }),
            Rule::string => Ok(Expr {
                kind: ExprKind::String(self.string(pair)?),
                span,
            }),
            Rule::int => Ok(Expr {
                kind: ExprKind::Int(self.int(pair).value),
                span,
            }),
            Rule::boolean => Ok(Expr {
                kind: ExprKind::Bool(pair.as_str() == "true"),
                span,
            }),
            Rule::duration => Ok(Expr {
                kind: ExprKind::Duration(self.duration(pair).millis),
                span,
            }),
            Rule::regex => Ok(Expr {
                kind: ExprKind::Regex(self.regex(pair)?),
                span,
            }),
            _ => Err(Bug {
                expected: Rule::expr,
                span,
            }),
        }
    }

    fn path(&mut self, pair: Pair<'_, Rule>) -> R<Path> {
        let span = self.span(&pair);
        let segments = self.idents(pair);
        if segments.is_empty() {
            return Err(Bug {
                expected: Rule::ident,
                span,
            });
        }
        Ok(Path { segments, span })
    }

    // ---------------------------------------------------------- lexical --

    fn ident(&mut self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn int(&mut self, pair: Pair<'_, Rule>) -> Int {
        let span = self.span(&pair);
        let value = pair.as_str().parse::<i64>().unwrap_or_else(|_| {
            self.diagnostics.push(
                Diagnostic::error("rbx::syntax::number_too_large", "this number is too large")
                    .primary(span, "does not fit in a 64-bit integer")
                    .help("numbers range from -9223372036854775808 to 9223372036854775807"),
            );
            0
        });
        Int { value, span }
    }

    fn duration(&mut self, pair: Pair<'_, Rule>) -> Duration {
        let span = self.span(&pair);
        let millis = parse_duration(pair.as_str()).unwrap_or_else(|| {
            self.diagnostics.push(
                Diagnostic::error(
                    "rbx::syntax::duration_too_long",
                    "this duration is too long",
                )
                .primary(span, "longer than rbx can count in milliseconds")
                .help(
                    "durations are measured in milliseconds and must stay under 500 million years",
                ),
            );
            0
        });
        Duration { millis, span }
    }

    fn regex(&mut self, pair: Pair<'_, Rule>) -> R<Regex> {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let body = children.expect(Rule::regex_body)?;
        let flags = children
            .take(Rule::regex_flags)
            .map(|f| self.source_of(&f).to_string())
            .unwrap_or_default();
        Ok(Regex {
            pattern: self.source_of(&body).replace("\\/", "/"),
            flags,
            span,
        })
    }

    /// A string or a text block.
    fn text(&mut self, pair: Pair<'_, Rule>) -> R<Text> {
        match pair.as_rule() {
            Rule::text_block => self.text_block(pair),
            _ => self.string(pair),
        }
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> R<Text> {
        let span = self.span(&pair);
        let body = Children::of(pair).expect(Rule::string_body)?;
        let start = body.as_span().start();
        let raw = self.source_of(&body);
        // Most strings hold neither an escape nor an interpolation: the
        // text as written is their one literal.
        if !raw.contains('\\') && !raw.contains("{{") {
            let parts = if raw.is_empty() {
                Vec::new()
            } else {
                vec![TextPart::Literal(raw.to_string())]
            };
            return Ok(Text {
                parts,
                block: false,
                span,
            });
        }
        let parts = template::split(raw, |offset| start + offset)
            .into_iter()
            .map(|segment| match segment {
                template::Segment::Literal { text, offset } => {
                    TextPart::Literal(self.unescape(text, start + offset))
                }
                template::Segment::Interpolation {
                    interpolation,
                    unknown,
                } => self.interpolation(interpolation, &unknown),
            })
            .collect();
        Ok(Text {
            parts: merge_literals(parts),
            block: false,
            span,
        })
    }

    fn text_block(&mut self, pair: Pair<'_, Rule>) -> R<Text> {
        let span = self.span(&pair);
        let body = Children::of(pair).expect(Rule::block_body)?;
        let dedented = template::dedent(self.source_of(&body), body.as_span().start());
        let parts = template::split(&dedented.text, |offset| dedented.source_offset(offset))
            .into_iter()
            .map(|segment| match segment {
                template::Segment::Literal { text, .. } => TextPart::Literal(text.to_string()),
                template::Segment::Interpolation {
                    interpolation,
                    unknown,
                } => self.interpolation(interpolation, &unknown),
            })
            .collect();
        Ok(Text {
            parts: merge_literals(parts),
            block: true,
            span,
        })
    }

    /// An interpolation, with each filter rbx does not know reported.
    fn interpolation(&mut self, interpolation: Interpolation, unknown: &[Ident]) -> TextPart {
        for filter in unknown {
            let known: Vec<String> = Filter::ALL
                .iter()
                .map(|f| format!("`{}`", f.keyword()))
                .collect();
            self.diagnostics.push(
                Diagnostic::error(
                    "rbx::syntax::unknown_filter",
                    format!("unknown filter `{}`", filter.name),
                )
                .primary(filter.span, "not a filter rbx knows")
                .help(format!(
                    "filters rbx knows: {}; `{{{{ {} | shell }}}}` quotes the value for a shell \
                     that parses the command again",
                    known.join(", "),
                    interpolation.path.dotted()
                )),
            );
        }
        TextPart::Interpolation(interpolation)
    }

    fn unescape(&mut self, raw: &str, offset: usize) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((j, other)) => {
                    let span = Span::new(offset + i, offset + j + other.len_utf8());
                    self.diagnostics.push(
                        Diagnostic::error(
                            "rbx::syntax::unknown_escape",
                            format!("unknown escape `\\{other}` in a string"),
                        )
                        .primary(span, "not one of \\n \\t \\r \\\" \\\\")
                        .help(
                            "write `\\\\` for a backslash, or use a text block (`\"\"\"` ... \
                             `\"\"\"`), where backslashes are kept as written",
                        ),
                    );
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }
}

/// The operand a chain of precedence levels with one operand each stands
/// for: `30s` is an `expr` holding an `or_expr` holding … a `duration`, and
/// each of those levels lowers to its one operand.
fn innermost(mut pair: Pair<'_, Rule>) -> Pair<'_, Rule> {
    while matches!(
        pair.as_rule(),
        Rule::expr
            | Rule::or_expr
            | Rule::and_expr
            | Rule::not_expr
            | Rule::cmp_expr
            | Rule::dflt_expr
            | Rule::sum_expr
            | Rule::prod_expr
    ) {
        let mut inner = pair.clone().into_inner();
        match (inner.next(), inner.next()) {
            (Some(only), None) if !is_noise(only.as_rule()) => pair = only,
            _ => break,
        }
    }
    pair
}

fn stream(pair: &Pair<'_, Rule>) -> Stream {
    if pair.as_str() == "stderr" {
        Stream::Stderr
    } else {
        Stream::Stdout
    }
}

fn compare_op(symbol: &str) -> CompareOp {
    match symbol {
        "==" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        "~" => CompareOp::Match,
        _ => CompareOp::NotMatch,
    }
}

fn merge_literals(parts: Vec<TextPart>) -> Vec<TextPart> {
    let mut out: Vec<TextPart> = Vec::with_capacity(parts.len());
    for part in parts {
        match (out.last_mut(), part) {
            (_, TextPart::Literal(text)) if text.is_empty() => {}
            (Some(TextPart::Literal(prev)), TextPart::Literal(text)) => prev.push_str(&text),
            (_, part) => out.push(part),
        }
    }
    out
}

/// Milliseconds in a duration literal such as `1h30m`, or `None` on
/// overflow. The grammar has already checked the shape.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number: u64 = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(digit) = c.to_digit(10) {
            number = number.checked_mul(10)?.checked_add(u64::from(digit))?;
            continue;
        }
        let unit: u64 = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            _ => 86_400_000,
        };
        total = total.checked_add(number.checked_mul(unit)?)?;
        number = 0;
    }
    Some(total)
}

/// `int`, `list`, `list(int)`: a capture's declared type.
fn capture_type(pair: Pair<'_, Rule>) -> CaptureType {
    let scalar = |text: &str| match text {
        "int" => ScalarType::Int,
        "bool" => ScalarType::Bool,
        "duration" => ScalarType::Duration,
        "timestamp" => ScalarType::Timestamp,
        _ => ScalarType::String,
    };
    let inner = pair.into_inner().next();
    match inner {
        Some(list) if list.as_rule() == Rule::capture_list => {
            let item = list
                .into_inner()
                .find(|p| p.as_rule() == Rule::capture_scalar)
                .map_or(ScalarType::String, |p| scalar(p.as_str()));
            CaptureType::List(item)
        }
        Some(single) => match scalar(single.as_str()) {
            ScalarType::Int => CaptureType::Int,
            ScalarType::Bool => CaptureType::Bool,
            ScalarType::Duration => CaptureType::Duration,
            ScalarType::Timestamp => CaptureType::Timestamp,
            _ => CaptureType::String,
        },
        None => CaptureType::String,
    }
}
