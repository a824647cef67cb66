//! Lowering a stage's parameters and a `call` of such a stage.

use pest::iterators::Pair;

use crate::ast::*;
use crate::parser::Rule;
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
        let mut children = Children::of(pair);
        let stage = self.ident(children.expect(Rule::ident)?);
        let mut args = Vec::new();
        let mut routes = Vec::new();
        let mut end = stage.span.end;
        for child in children.pairs {
            match child.as_rule() {
                Rule::call_arg => {
                    let mut parts = Children::of(child);
                    let name = self.ident(parts.expect(Rule::ident)?);
                    let value = self.expr(parts.expect(Rule::expr)?)?;
                    args.push(Arg { name, value });
                }
                Rule::rparen => end = child.as_span().end(),
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
        Ok(Call {
            span: Span::new(stage.span.start, end),
            stage,
            args,
            routes,
        })
    }
}
