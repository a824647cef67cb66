//! Lowering a stage's parameters and a `call` of such a stage.

use pest::iterators::Pair;

use crate::ast::*;
use crate::parser::fast::Rule;
use crate::span::Span;

use super::{Children, Lowerer, R};

impl Lowerer<'_> {
    /// `(NAME: TYPE, …)` after a stage's id.
    pub(super) fn params(&mut self, pair: Pair<'_, Rule>) -> R<Vec<Param>> {
        Children::of(pair)
            .rest()
            .map(|param| {
                let mut children = Children::of(param);
                let name = self.ident(children.expect(Rule::ident)?);
                let ty = self.input_type(children.expect(Rule::input_type)?)?;
                Ok(Param { name, ty })
            })
            .collect()
    }

    /// `call STAGE(NAME = EXPR, …) { on … }`.
    pub(super) fn call_decl(&mut self, pair: Pair<'_, Rule>) -> R<Call> {
        let (text, base) = (pair.as_str(), self.range(&pair).0);
        let mut children = Children::of(pair);
        let stage = self.ident(children.expect(Rule::ident)?);
        let mut args = Vec::new();
        let mut routes = Vec::new();
        let mut condition = None;
        // Where the arguments end: the fast grammar keeps no pair for the
        // closing parenthesis, so it is found after the last argument.
        let mut after = stage.span.end;
        for child in children.pairs {
            match child.as_rule() {
                Rule::call_arg => {
                    after = self.range(&child).1;
                    let mut parts = Children::of(child);
                    let name = self.ident(parts.expect(Rule::ident)?);
                    let value = self.expr(parts.expect(Rule::expr)?)?;
                    args.push(Arg { name, value });
                }
                Rule::condition_stmt => {
                    condition = Some(self.expr(Children::of(child).expect(Rule::expr)?)?);
                }
                Rule::on_stmt => {
                    let span = self.span(&child);
                    routes.push(SpannedRoute {
                        route: self.route(child)?,
                        span,
                    });
                }
                _ => {}
            }
        }
        let end = closing_paren(&text[after - base..]).map_or(after, |at| after + at + 1);
        Ok(Call {
            span: Span::new(stage.span.start, end),
            stage,
            args,
            condition,
            routes,
        })
    }
}

/// The offset of the first `)` in `gap`, the text after a call's last
/// argument: only blanks, a comma and comments come before it.
fn closing_paren(gap: &str) -> Option<usize> {
    let mut in_comment = false;
    for (at, c) in gap.char_indices() {
        match c {
            '\n' => in_comment = false,
            '#' => in_comment = true,
            ')' if !in_comment => return Some(at),
            _ => {}
        }
    }
    None
}
