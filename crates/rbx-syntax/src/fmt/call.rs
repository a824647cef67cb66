//! Printing a stage's parameters and a `call`.

use crate::ast::*;

use super::{expr, input_type};

/// `(host: host, phase: enum(pre, post))`, or nothing for a plain stage.
pub(super) fn params(params: Option<&[Param]>) -> String {
    let Some(params) = params else {
        return String::new();
    };
    let written: Vec<String> = params
        .iter()
        .map(|p| format!("{}: {}", p.name.name, input_type(&p.ty)))
        .collect();
    format!("({})", written.join(", "))
}

/// `call drain(host = "db-1", phase = pre)`, and its `when`.
pub(super) fn head(call: &Call) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|a| format!("{} = {}", a.name.name, expr(&a.value)))
        .collect();
    let head = format!("call {}({})", call.stage.name, args.join(", "));
    with_condition(head, call.condition.as_ref())
}

/// `again drain` and its `when`.
pub(super) fn again_head(again: &Again) -> String {
    with_condition(
        format!("again {}", again.stage.name),
        again.condition.as_ref(),
    )
}

fn with_condition(head: String, condition: Option<&Expr>) -> String {
    match condition {
        Some(condition) => format!("{head} when {}", expr(condition)),
        None => head,
    }
}
