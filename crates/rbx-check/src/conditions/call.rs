//! A `call`'s arguments read like a condition: one that reads what a node
//! with a condition records has no value when that node was skipped, and
//! then fails the instance's start (rule A1) — unless a `??` default
//! follows it.

use rbx_syntax::Diagnostic;

use super::{Checker, MAYBE_SKIPPED, collect_paths};
use crate::Finding;

impl Checker<'_> {
    pub(super) fn arguments(&mut self) {
        let graph = self.graph;
        for (instance, frame) in &graph.calls {
            let Some(at) = graph.node(instance) else {
                continue;
            };
            for (param, arg) in &frame.bindings {
                let Some(arg) = arg else { continue };
                let mut paths = Vec::new();
                collect_paths(arg, &mut paths);
                for path in paths {
                    if path.segments.get(1).is_some_and(|s| s.name == "status") {
                        continue;
                    }
                    let Some(name) = self.node_read(at, path) else {
                        continue;
                    };
                    let Some(theirs) = self.condition_of(name) else {
                        continue;
                    };
                    let source = frame.origin.source;
                    if !self
                        .reported
                        .insert((source, path.span.start, MAYBE_SKIPPED))
                    {
                        continue;
                    }
                    let theirs = rbx_syntax::fmt::expr(theirs);
                    let diagnostic = Diagnostic::warning(
                        MAYBE_SKIPPED,
                        format!("`{}` has no value when `{name}` is skipped", path.dotted()),
                    )
                    .primary(
                        path.span,
                        format!("`{name}` runs only when `{theirs}`; the call would then fail"),
                    )
                    .help(format!(
                        "give `{}` a default: `{} ?? VALUE`",
                        param.name.name,
                        path.dotted()
                    ));
                    self.findings.push(Finding { source, diagnostic });
                }
            }
        }
    }
}
