//! A retry that can never happen: `retry … on exit N` where the step
//! counts exit `N` as success, so no attempt that exits `N` ever fails.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Block, StmtKind};

use super::Checker;

const RETRY_ON_SUCCESS: &str = "rbx::lint::retry_on_success";

impl Checker<'_> {
    pub(super) fn retry(&mut self, block: &Block) {
        let Some(retry) = block.body.iter().find_map(|s| match &s.kind {
            StmtKind::Retry(retry) => Some(retry),
            _ => None,
        }) else {
            return;
        };
        let expected: Vec<i64> = block
            .body
            .iter()
            .find_map(|s| match &s.kind {
                StmtKind::ExpectExit(codes) => Some(codes.iter().map(|c| c.value).collect()),
                _ => None,
            })
            .unwrap_or_else(|| vec![0]);
        let shown: Vec<String> = expected.iter().map(ToString::to_string).collect();
        for code in retry.on_exit.iter().filter(|c| expected.contains(&c.value)) {
            self.report(
                Diagnostic::warning(
                    RETRY_ON_SUCCESS,
                    format!("exit {} is never retried: the step counts it as success", code.value),
                )
                .primary(code.span, "an attempt that exits with this has succeeded")
                .help(format!(
                    "list only the statuses of failures worth another attempt; this step succeeds on exit {}",
                    shown.join(", ")
                )),
            );
        }
    }
}
