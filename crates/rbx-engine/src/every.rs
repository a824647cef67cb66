//! `every INTERVAL`: how often a recurring block runs, from the run's
//! inputs. Lint lets the interval read only inputs, so it is known when
//! the run starts; one shorter than a second refuses the run before
//! anything runs, as `parallel 0` does.

use std::collections::HashMap;

use rbx_check::graph::every::MIN_INTERVAL_MS;
use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::Expr;

use crate::value::{self, Value};

/// The interval `expr` says, in milliseconds, from `inputs`: at least a
/// second, or why not.
pub(crate) fn interval_ms(expr: &Expr, inputs: &HashMap<String, Value>) -> Result<i64, String> {
    let written = rbx_syntax::fmt::expr(expr);
    match value::eval(expr, &crate::at_once::Inputs(inputs)) {
        Ok(Value::Duration(ms)) => match i64::try_from(ms) {
            Ok(ms) if ms >= MIN_INTERVAL_MS => Ok(ms),
            Ok(_) => Err(format!(
                "`every {written}` is {ms} ms: it needs an interval of a second or more"
            )),
            Err(_) => Err(format!("`every {written}` is too long an interval")),
        },
        Ok(other) => Err(format!("`every {written}` is {other}, not a duration")),
        Err(why) => Err(format!("`every {written}` cannot be computed: {why}")),
    }
}

/// Every `every` of the procedure, judged from the inputs: the first
/// whose interval is not one, as the reason to refuse the run.
pub fn check(graph: &Graph, inputs: &HashMap<String, Value>) -> Result<(), String> {
    for node in graph.graph.node_weights() {
        if let NodeKind::Tick { interval, .. } = &node.kind {
            interval_ms(interval, inputs)?;
        }
    }
    Ok(())
}

/// For each tick of the plan, the instances of the nodes its block runs
/// beside — those of the same items of the loops around the block — and
/// the gate of its iterations.
pub(crate) fn watched(
    graph: &Graph,
    plan: &crate::expand::Plan,
    instances: &crate::expand::Instances,
) -> HashMap<usize, (Vec<usize>, usize)> {
    let mut out = HashMap::new();
    for (x, node) in plan.nodes.iter().enumerate() {
        let checked = &graph.graph[node.check];
        let NodeKind::Tick { watched, .. } = &checked.kind else {
            continue;
        };
        let Some(gate) = plan.member_of[x]
            .iter()
            .map(|(gate, _)| *gate)
            .find(|gate| plan.gates[*gate].ticks.contains(&x))
        else {
            continue;
        };
        let depth = checked.fanout.len().saturating_sub(1);
        let around = &node.positions[..depth];
        let beside = watched
            .iter()
            .filter_map(|w| instances.get(w))
            .flatten()
            .filter(|&&y| plan.nodes[y].positions.get(..depth) == Some(around))
            .copied()
            .collect();
        out.insert(x, (beside, gate));
    }
    out
}
