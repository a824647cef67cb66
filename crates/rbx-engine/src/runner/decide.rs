//! Decisions by expression.

use rbx_syntax::ast::{Block, StmtKind};
use serde_json::json;

use crate::observer::Tone;
use crate::state::Status;
use crate::value::{self};

use super::env::NodeEnv;
use super::record::{fail, finish, settled};
use super::{Done, Shared};

pub(crate) async fn decide(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
) -> Done {
    for stmt in &block.body {
        let label = match &stmt.kind {
            StmtKind::When { condition, .. } => match value::truth(condition, env) {
                Ok(true) => rbx_syntax::fmt::expr(condition),
                Ok(false) => continue,
                Err(why) => {
                    return fail(shared, &node.id, 0, why).await;
                }
            },
            StmtKind::Otherwise(_) => "otherwise".to_string(),
            _ => continue,
        };
        let counted: Vec<serde_json::Value> = env
            .counted
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
            .iter()
            .map(|(rule, runs)| {
                shared.options.observer.line(
                    Tone::Plain,
                    &format!("  {rule} = {} (runs: {})", runs.len(), runs.join(", ")),
                );
                json!({ "rule": rule, "count": runs.len(), "runs": runs })
            })
            .collect();
        let mut state = settled(Status::Succeeded, None);
        state.branch = Some(label);
        let extra = env.stamped(json!({ "counted": counted }));
        return finish(shared, &node.id, 0, state, extra).await;
    }
    finish(
        shared,
        &node.id,
        0,
        settled(Status::Failed, Some("no branch applies".to_string())),
        json!({}),
    )
    .await
}
