//! Expressions, as far as the property tests write them: names (and
//! strings with no interpolation) compared with `==` and `!=`, booleans,
//! numbers compared by size, `and`, `or`, `not` and parentheses; and the
//! width of `parallel EXPR`.
//! Any other form is refused as unsupported rather than guessed at.

use rbx_syntax::ast::{CompareOp, Expr, ExprKind};

use crate::{Inputs, ModelError, Value};

/// A value an expression can have here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// An enum member, an option, a status, an item, or a bare name that
    /// names nothing with a value ("What a node can read").
    Name(String),
    Bool(bool),
    /// A person's `int` evidence.
    Int(i64),
}

/// The value of a dotted path, if it has one: a loop item, an input, or a
/// field of a node that finished.
pub trait Env {
    fn path(&self, segments: &[&str]) -> Result<Option<Val>, ModelError>;
}

pub fn truth(expr: &Expr, env: &dyn Env) -> Result<bool, ModelError> {
    match value(expr, env)? {
        Val::Bool(b) => Ok(b),
        Val::Name(name) => Err(unsupported(&format!("`{name}` used as a condition"))),
        Val::Int(n) => Err(unsupported(&format!("`{n}` used as a condition"))),
    }
}

fn value(expr: &Expr, env: &dyn Env) -> Result<Val, ModelError> {
    Ok(match &expr.kind {
        ExprKind::Or(items) => {
            let mut any = false;
            for item in items {
                any |= truth(item, env)?;
            }
            Val::Bool(any)
        }
        ExprKind::And(items) => {
            let mut all = true;
            for item in items {
                all &= truth(item, env)?;
            }
            Val::Bool(all)
        }
        ExprKind::Not(inner) => Val::Bool(!truth(inner, env)?),
        ExprKind::Paren(inner) => value(inner, env)?,
        ExprKind::Bool(b) => Val::Bool(*b),
        ExprKind::Int(n) => Val::Int(*n),
        // A string with no `{{ }}` compares with a name by its text, as a
        // loop item (`v1 == "a"`) is compared.
        ExprKind::String(text) => match text.as_literal() {
            Some(literal) => Val::Name(literal),
            None => return Err(unsupported(&rbx_syntax::fmt::expr(expr))),
        },
        ExprKind::Path(path) => {
            let segments: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
            // A name with no value reads as the bare name it is written as.
            env.path(&segments)?
                .unwrap_or_else(|| Val::Name(path.dotted()))
        }
        ExprKind::Compare { lhs, op, rhs } => {
            let (lhs, rhs) = (value(lhs, env)?, value(rhs, env)?);
            let comparable = matches!(
                (&lhs, &rhs),
                (Val::Name(_), Val::Name(_))
                    | (Val::Bool(_), Val::Bool(_))
                    | (Val::Int(_), Val::Int(_))
            );
            match (op, &lhs, &rhs) {
                (CompareOp::Eq, _, _) if comparable => Val::Bool(lhs == rhs),
                (CompareOp::Ne, _, _) if comparable => Val::Bool(lhs != rhs),
                (CompareOp::Lt, Val::Int(a), Val::Int(b)) => Val::Bool(a < b),
                (CompareOp::Le, Val::Int(a), Val::Int(b)) => Val::Bool(a <= b),
                (CompareOp::Gt, Val::Int(a), Val::Int(b)) => Val::Bool(a > b),
                (CompareOp::Ge, Val::Int(a), Val::Int(b)) => Val::Bool(a >= b),
                _ => return Err(unsupported(&rbx_syntax::fmt::expr(expr))),
            }
        }
        _ => return Err(unsupported(&rbx_syntax::fmt::expr(expr))),
    })
}

/// How many at once `parallel EXPR` allows: an `int` input, a number, or
/// a product of them — what the inputs give when the run starts (R4).
pub fn width(expr: &Expr, inputs: &Inputs) -> Result<i64, ModelError> {
    match &expr.kind {
        ExprKind::Int(n) => Ok(*n),
        ExprKind::Paren(inner) => width(inner, inputs),
        ExprKind::Product(factors) => factors.iter().try_fold(1i64, |product, f| {
            Ok(product.saturating_mul(width(f, inputs)?))
        }),
        ExprKind::Path(path) if path.segments.len() == 1 => {
            match inputs.get(&path.segments[0].name) {
                Some(Value::Int(n)) => Ok(*n),
                _ => Err(unsupported(&rbx_syntax::fmt::expr(expr))),
            }
        }
        _ => Err(unsupported(&rbx_syntax::fmt::expr(expr))),
    }
}

fn unsupported(what: &str) -> ModelError {
    ModelError::Unsupported(format!("the expression `{what}`"))
}
