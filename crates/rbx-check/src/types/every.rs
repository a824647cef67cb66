//! `every INTERVAL`: how often a recurring block runs. Like `parallel
//! EXPR`, it is judged from the inputs when the run starts, so it may read
//! only inputs; it must be a duration; and one written as a constant must
//! be at least a second (`graph::every::MIN_INTERVAL_MS`).

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::Expr;

use super::at_once::constant;
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
        self.inputs_only(
            e,
            "rbx::lint::every_reads",
            "every",
            "an `every`'s schedule is fixed when the run starts: compute its \
             interval from inputs only (`every cadence`, `every cadence * 2`)",
        );
        if let Some(ms) = constant(e).filter(|ms| *ms < MIN_INTERVAL_MS) {
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
