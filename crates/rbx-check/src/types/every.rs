//! `every INTERVAL`: how often a recurring block runs. Like `parallel
//! EXPR`, it is judged from the inputs when the run starts, so it may read
//! only inputs; it must be a duration; and one written as a constant must
//! be at least a second (`graph::every::MIN_INTERVAL_MS`).

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Expr, ExprKind, SumOp};

use super::{Checker, Type};
use crate::graph::every::MIN_INTERVAL_MS;

impl Checker<'_> {
    pub(super) fn every_interval(&mut self, e: &Expr) {
        let ty = self.infer(e);
        if !matches!(ty, Type::Duration | Type::Unknown) {
            self.report(
                Diagnostic::error(
                    "rbx::lint::type_mismatch",
                    format!("`every` needs a duration, not {}", ty.noun()),
                )
                .primary(e.span, "not a duration")
                .help("write a duration such as `every 30m`, or a `duration` input"),
            );
            return;
        }
        let mut paths = Vec::new();
        crate::conditions::collect_paths(e, &mut paths);
        for path in paths {
            let input =
                path.segments.len() == 1 && self.table.inputs.contains_key(&path.segments[0].name);
            if !input {
                self.report(
                    Diagnostic::error(
                        "rbx::lint::every_reads",
                        format!("`every` reads `{}`, which is not an input", path.dotted()),
                    )
                    .primary(path.span, "not known when the run starts")
                    .help(
                        "an `every`'s schedule is fixed when the run starts: compute its \
                         interval from inputs only (`every cadence`, `every cadence * 2`)",
                    ),
                );
            }
        }
        if let Some(ms) = constant_ms(e).filter(|ms| *ms < MIN_INTERVAL_MS) {
            self.report(
                Diagnostic::error(
                    "rbx::lint::every_interval",
                    format!("`every` runs every {ms} ms, more often than once a second"),
                )
                .primary(e.span, "too short")
                .help(
                    "an `every` is for a recurring task (a status update, a probe): give it \
                     an interval of a second or more",
                ),
            );
        }
    }
}

/// The value of a duration written with constants only, in milliseconds.
fn constant_ms(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Duration(ms) => i64::try_from(*ms).ok(),
        ExprKind::Int(n) => Some(*n),
        ExprKind::Paren(inner) => constant_ms(inner),
        ExprKind::Product(items) => items
            .iter()
            .try_fold(1i64, |acc, item| acc.checked_mul(constant_ms(item)?)),
        ExprKind::Sum { first, rest } => {
            rest.iter()
                .try_fold(constant_ms(first)?, |acc, (op, item)| {
                    let item = constant_ms(item)?;
                    match op {
                        SumOp::Add => acc.checked_add(item),
                        SumOp::Sub => acc.checked_sub(item),
                    }
                })
        }
        _ => None,
    }
}
