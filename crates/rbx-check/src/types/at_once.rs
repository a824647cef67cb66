//! `parallel EXPR`: how many items or branches run at once, from the
//! inputs. It is judged once, when the run starts, so it may read only
//! inputs; it must be a number; and, when it reads nothing, it must be 1
//! or more.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Expr, ExprKind, SumOp};

use super::{Checker, Type};

const READS: &str = "rbx::lint::at_once_reads";
const RANGE: &str = "rbx::lint::at_once_range";

impl Checker<'_> {
    pub(super) fn at_once(&mut self, e: &Expr) {
        let ty = self.infer(e);
        if !matches!(ty, Type::Int | Type::Unknown) {
            self.report(
                Diagnostic::error(
                    "rbx::lint::type_mismatch",
                    format!("`parallel` needs a number of places, not {}", ty.noun()),
                )
                .primary(e.span, "not a number")
                .help("write a number, or an `int` input (`parallel width`)"),
            );
            return;
        }
        self.inputs_only(
            e,
            READS,
            "parallel",
            "how many run at once is decided when the run starts: compute it from \
             inputs only (`parallel width`, `parallel width * 2`)",
        );
        if let Some(value) = constant(e).filter(|v| *v < 1) {
            self.report(
                Diagnostic::error(RANGE, format!("`parallel` is {value}, not 1 or more"))
                    .primary(e.span, "fewer than one place")
                    .help("run at least one at a time, or leave `parallel` out"),
            );
        }
    }
}

impl Checker<'_> {
    /// Reports each name `e` reads that is not an input: what is judged
    /// once, when the run starts (`parallel EXPR`, `every EXPR`), can read
    /// nothing else.
    pub(super) fn inputs_only(&mut self, e: &Expr, code: &'static str, keyword: &str, help: &str) {
        let mut paths = Vec::new();
        crate::conditions::collect_paths(e, &mut paths);
        for path in paths {
            let input =
                path.segments.len() == 1 && self.table.inputs.contains_key(&path.segments[0].name);
            if !input {
                self.report(
                    Diagnostic::error(
                        code,
                        format!(
                            "`{keyword}` reads `{}`, which is not an input",
                            path.dotted()
                        ),
                    )
                    .primary(path.span, "not known when the run starts")
                    .help(help.to_string()),
                );
            }
        }
    }
}

/// The value of an expression that reads nothing: a number, or a
/// duration in milliseconds.
pub(super) fn constant(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(n) => Some(*n),
        ExprKind::Duration(ms) => i64::try_from(*ms).ok(),
        ExprKind::Paren(inner) => constant(inner),
        ExprKind::Product(items) => items
            .iter()
            .try_fold(1i64, |acc, item| acc.checked_mul(constant(item)?)),
        ExprKind::Sum { first, rest } => {
            rest.iter().try_fold(constant(first)?, |acc, (op, item)| {
                let item = constant(item)?;
                match op {
                    SumOp::Add => acc.checked_add(item),
                    SumOp::Sub => acc.checked_sub(item),
                }
            })
        }
        _ => None,
    }
}
