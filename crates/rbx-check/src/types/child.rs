//! The types of the inputs a `child` gives its runbook: each must be a
//! value of the child input's type, as a `call`'s argument must be of its
//! parameter's (a `host`, `command` or `secret` input takes only a value
//! declared as one).

use rbx_syntax::ast::{Block, BlockKind, Param};

use super::Checker;

impl Checker<'_> {
    /// Each `input NAME = EXPR` of a `child` against the child's input;
    /// inputs the child lacks are the shape lint's.
    pub(super) fn child_inputs(&mut self, block: &Block) {
        if block.kind != BlockKind::Child {
            return;
        }
        let Some(info) = self.table.children.get(&block.id.name) else {
            return;
        };
        let inputs = info.inputs.clone();
        for arg in block.child_inputs() {
            if let Some(input) = inputs.iter().find(|i| i.name.name == arg.name.name) {
                let param = Param {
                    name: input.name.clone(),
                    ty: input.ty.clone(),
                };
                let before = self.findings.len();
                self.argument(&param, arg);
                // The call's wording, said of a child's input.
                for finding in &mut self.findings[before..] {
                    let diagnostic = &mut finding.diagnostic;
                    diagnostic.message = diagnostic
                        .message
                        .replace("the parameter", "the child's input");
                    for label in &mut diagnostic.labels {
                        label.message = label.message.replace("the parameter", "the child's input");
                    }
                }
            }
        }
    }
}
