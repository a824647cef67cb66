//! A `call` instance's parameters in the plan: the value an argument has
//! when it reads only inputs and literals; otherwise (a loop item, a
//! capture) it is known only during the run.

use rbx_check::graph::{Graph, Node};
use rbx_engine::value::{self, Env, Value as Val};
use rbx_syntax::ast::{Expr, ExprKind};

use super::Inputs;

/// `None` when `name` is not a parameter of the node's call instance;
/// `Some(None)` when it is one whose value only the run knows.
pub(super) fn param_value(
    graph: &Graph,
    node: &Node,
    name: &str,
    inputs: &Inputs<'_>,
) -> Option<Option<Val>> {
    let frame = graph.call_of(&node.stage)?;
    let (_, arg) = frame.argument(name)?;
    let Some(arg) = arg else {
        return Some(None);
    };
    // The caller's own parameters and loop items are not inputs.
    let caller_names: Vec<&str> = node.fanout[..frame.depth.min(node.fanout.len())]
        .iter()
        .map(|f| f.var.as_str())
        .collect();
    let nested = graph.calls.contains_key(&frame.caller);
    if nested || reads_any(arg, &caller_names) {
        return Some(None);
    }
    Some(value::eval(arg, &Literal { inputs }).ok())
}

/// Whether `e` reads one of `names` (a bare name the engine would
/// otherwise take for an enum value).
fn reads_any(e: &Expr, names: &[&str]) -> bool {
    match &e.kind {
        ExprKind::Path(path) => path
            .segments
            .first()
            .is_some_and(|head| names.contains(&head.name.as_str())),
        ExprKind::String(text) => text.interpolations().any(|p| {
            p.segments
                .first()
                .is_some_and(|h| names.contains(&h.name.as_str()))
        }),
        ExprKind::Or(items)
        | ExprKind::And(items)
        | ExprKind::List(items)
        | ExprKind::Default(items)
        | ExprKind::Product(items) => items.iter().any(|i| reads_any(i, names)),
        ExprKind::Call { args: items, .. } => items.iter().any(|i| reads_any(i, names)),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => reads_any(inner, names),
        ExprKind::Compare { lhs, rhs, .. } => reads_any(lhs, names) || reads_any(rhs, names),
        ExprKind::Sum { first, rest } => {
            reads_any(first, names) || rest.iter().any(|(_, r)| reads_any(r, names))
        }
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Regex(_) => false,
    }
}

/// Reads inputs only.
struct Literal<'a, 'i> {
    inputs: &'a Inputs<'i>,
}

impl Env for Literal<'_, '_> {
    fn lookup(&self, path: &[&str]) -> Option<Val> {
        let [name] = path else { return None };
        self.inputs.get(name)?.value.clone()
    }

    fn role_filled(&self, _: &str) -> bool {
        false
    }

    fn link_set(&self, _: &str) -> bool {
        false
    }

    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("known only during the run".to_string())
    }

    fn now(&self) -> i64 {
        0
    }
}
