//! `parallel EXPR`: how many items or branches run at once, computed from
//! the run's inputs. Lint lets the expression read only inputs, so its
//! value is known when the run starts; a value that is not a number of
//! places (0, a negative number) refuses the run before anything runs.

use std::collections::HashMap;

use rbx_check::graph::Graph;
use rbx_syntax::ast::Expr;

use crate::value::{self, Env, Value};

/// What an expression of the inputs reads: the inputs, and nothing else.
pub(crate) struct Inputs<'a>(pub(crate) &'a HashMap<String, Value>);

impl Env for Inputs<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        match path {
            [name] => self.0.get(*name).cloned(),
            _ => None,
        }
    }

    fn role_filled(&self, _: &str) -> bool {
        false
    }

    fn link_set(&self, _: &str) -> bool {
        false
    }

    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("`count()` cannot say how many run at once".to_string())
    }

    fn now(&self) -> i64 {
        0
    }
}

/// How many at once `expr` says, from `inputs`: a number of places, 1 or
/// more, or why not.
pub(crate) fn width(expr: &Expr, inputs: &HashMap<String, Value>) -> Result<usize, String> {
    let written = rbx_syntax::fmt::expr(expr);
    match value::eval(expr, &Inputs(inputs)) {
        Ok(Value::Int(n)) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Ok(Value::Int(n)) => Err(format!(
            "`parallel {written}` is {n}: it needs 1 or more places"
        )),
        Ok(other) => Err(format!(
            "`parallel {written}` is {other}, not a number of places"
        )),
        Err(why) => Err(format!("`parallel {written}` cannot be computed: {why}")),
    }
}

/// Every `parallel EXPR` and `every` interval of the procedure, judged
/// from the inputs: the first that is not a number of places or an
/// interval, as the reason to refuse the run.
pub fn check(graph: &Graph, inputs: &HashMap<String, Value>) -> Result<(), String> {
    crate::every::check(graph, inputs)?;
    for node in graph.graph.node_weights() {
        let loops = node.fanout.iter().filter_map(|f| f.parallel_expr.as_ref());
        let blocks = node.lanes.iter().filter_map(|l| l.at_once_expr.as_ref());
        for expr in loops.chain(blocks) {
            width(expr, inputs)?;
        }
    }
    Ok(())
}
