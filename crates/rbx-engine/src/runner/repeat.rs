//! The end of one iteration of a `repeat`: its `until` judged on what the
//! iteration recorded (rules U1-U3).

use rbx_check::graph::repeat::AGAIN;
use rbx_syntax::ast::Expr;
use serde_json::json;

use crate::observer::Tone;
use crate::state::Status;
use crate::value;

use super::env::NodeEnv;
use super::record::{fail, finish, settled};
use super::{Done, Shared};

/// Settles an until node: succeeded when the condition holds (the loop is
/// done), the branch `again` when it does not and iterations are left, and
/// failed on the last one. A condition that cannot be judged fails it.
pub(crate) async fn until(
    shared: &Shared,
    node: &crate::expand::XNode,
    condition: &Expr,
    at_most: i64,
    env: &NodeEnv<'_>,
) -> Done {
    let iteration = node.positions.last().map_or(1, |p| *p as i64 + 1);
    let held = match value::truth(condition, env) {
        Ok(held) => held,
        Err(why) => return fail(shared, &node.id, 0, why).await,
    };
    let written = rbx_syntax::fmt::expr(condition);
    let extra = env.stamped(json!({
        "until": written,
        "held": held,
        "iteration": iteration,
        "at_most": at_most,
    }));
    let (state, line, tone) = if held {
        let line = format!("  until {written}: holds after iteration {iteration} of {at_most}");
        (settled(Status::Succeeded, None), line, Tone::Good)
    } else if iteration < at_most {
        let mut state = settled(Status::Succeeded, None);
        state.branch = Some(AGAIN.to_string());
        let line = format!("  until {written}: not yet after iteration {iteration} of {at_most}");
        (state, line, Tone::Plain)
    } else {
        let why = format!(
            "`{written}` still not true after {at_most} {}",
            if at_most == 1 {
                "iteration"
            } else {
                "iterations"
            }
        );
        let line = format!("  until {written}: {why}");
        (settled(Status::Failed, Some(why)), line, Tone::Bad)
    };
    shared.options.observer.line(tone, &line);
    finish(shared, &node.id, 0, state, extra).await
}
