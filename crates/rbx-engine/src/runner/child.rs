//! A `child` node's task: its inputs read in the parent's scope, its
//! start journalled naming the child run's id before that run exists,
//! then the child run created (or, after a crash, resumed) and driven
//! in-process. The node's outcome is the child's: its outcome's class,
//! its outcome's name as `ID.outcome`, and the captures it makes once as
//! `ID.NAME`.

use std::collections::{BTreeMap, HashMap};

use rbx_syntax::ast::{Block, InputTypeKind, ScalarType};
use serde_json::json;

use crate::child_run::{self, Driven, Parent};
use crate::observer::Tone;
use crate::state::{ChildRun, Status, kind};
use crate::value::{self, Value};
use crate::{Exit, Procedure};

use super::env::NodeEnv;
use super::record::{fail, finish, record, settled};
use super::{Done, Shared};

/// The prefix of the hint of a pause that a child run's person caused:
/// `(child run ID) NODE FLAGS`, what to give `rbx confirm` for the child.
pub const CHILD_PAUSE: &str = "(child run ";

pub(crate) async fn child(
    shared: &Shared,
    node: &crate::expand::XNode,
    block: &Block,
    env: &NodeEnv<'_>,
    attempts: u32,
    named: Option<&ChildRun>,
) -> Done {
    let attempt = attempts + 1;
    let Some(procedure) = shared.children.get(&block.id.name).cloned() else {
        let why = "no child runbook was checked for this node".to_string();
        return fail(shared, &node.id, attempt, why).await;
    };
    let inputs = match inputs(block, &procedure, env) {
        Ok(inputs) => inputs,
        Err(why) => return fail(shared, &node.id, attempt, why).await,
    };
    let mut parent = Parent {
        run: shared.run.clone(),
        node: node.id.clone(),
        previous: None,
    };
    let id = match parent.choose(&shared.journal, named).await {
        Ok(id) => id,
        Err(why) => return Done::Broken(why),
    };
    // Durable before the child run is created: a crash after it finds
    // the child's id here, and running the node again resumes that run.
    let started = json!({
        "node": node.id,
        "attempt": attempt,
        "child": id.as_str(),
        "runbook": procedure.entry,
        "host": shared.options.host,
        "operator": shared.options.operator,
    });
    if let Err(e) = record(shared, kind::NODE_STARTED, env.stamped(started)).await {
        return Done::Broken(e);
    }
    let observer = &shared.options.observer;
    observer.line(
        Tone::Start,
        &format!("▶ {} starts child run {id} ({})", node.id, procedure.entry),
    );
    let mut options = shared.options.clone();
    options.observer = std::sync::Arc::new(crate::observer::Nested::new(
        std::sync::Arc::clone(&shared.options.observer),
        &node.id,
    ));
    options.executor = std::sync::Arc::new(crate::executor::Nested::new(
        std::sync::Arc::clone(&shared.options.executor),
        &node.id,
    ));
    options.answers = shared.options.answers.nested(&node.id, &block.id.name);
    let driven = child_run::drive(
        &shared.journal,
        &procedure,
        &parent,
        id.clone(),
        inputs,
        options,
    )
    .await;
    match driven {
        Ok(driven) => settle(shared, node, attempt, &id, &procedure, driven).await,
        Err(why) => Done::Broken(why),
    }
}

/// The node as its child run ended, or the stop the child's stop is.
async fn settle(
    shared: &Shared,
    node: &crate::expand::XNode,
    attempt: u32,
    id: &rbx_store::RunId,
    procedure: &Procedure,
    driven: Driven,
) -> Done {
    let Driven { exit, state } = driven;
    let mut settled_state = match exit {
        Exit::Ended { outcome, success } => {
            let mut done = if success {
                settled(Status::Succeeded, None)
            } else {
                let why = format!("the child run {id} ended {outcome}");
                settled(Status::Failed, Some(why))
            };
            done.captures
                .insert("outcome".to_string(), Value::Name(outcome));
            done
        }
        Exit::Failed { node: at, reason } => {
            let why = format!("the child run {id} failed at {at}: {reason}");
            settled(Status::Failed, Some(why))
        }
        // A grandchild's person: the deepest run is the one to answer.
        Exit::Paused { hint, .. } if hint.starts_with(CHILD_PAUSE) => return Done::Paused(hint),
        Exit::Paused { node: at, hint } => {
            return Done::Paused(format!("{CHILD_PAUSE}{id}) {at} {hint}"));
        }
        Exit::NeedsDecision { node: at } => {
            return Done::Paused(format!(
                "{CHILD_PAUSE}{id}) {at} (in doubt: rbx resume {id} --in-doubt rerun|skip|abort)"
            ));
        }
        Exit::Waiting { due, .. } => return Done::Waiting(due),
        Exit::Interrupted => return Done::Interrupted,
        Exit::Broken(why) => return Done::Broken(format!("the child run {id}: {why}")),
    };
    settled_state.captures.extend(captures(procedure, &state));
    finish(
        shared,
        &node.id,
        attempt,
        settled_state,
        json!({ "child": id.as_str() }),
    )
    .await
}

/// Each `input NAME = EXPR` of the child read in the parent's scope, as
/// a value of the child input's type (a secret stays a secret, whatever
/// the input's type), then the child's defaults for the rest.
fn inputs(
    block: &Block,
    procedure: &Procedure,
    env: &NodeEnv<'_>,
) -> Result<HashMap<String, Value>, String> {
    let mut values = HashMap::new();
    for arg in block.child_inputs() {
        let Some(decl) = procedure.inputs.iter().find(|i| i.name == arg.name.name) else {
            continue;
        };
        let value = value::eval(&arg.value, env)?;
        let typed = match value {
            Value::Text(text) if decl.ty != InputTypeKind::Scalar(ScalarType::String) => {
                value::parse_input(&text, &decl.ty)
                    .map_err(|why| format!("the child's input `{}`: {why}", decl.name))?
            }
            other => other,
        };
        values.insert(decl.name.clone(), typed);
    }
    for decl in &procedure.inputs {
        if let (false, Some(default)) = (values.contains_key(&decl.name), &decl.default) {
            values.insert(decl.name.clone(), default.clone());
        }
    }
    if let Some(missing) = procedure
        .inputs
        .iter()
        .find(|i| !values.contains_key(&i.name))
    {
        return Err(format!("the child's input `{}` has no value", missing.name));
    }
    crate::at_once::check(&procedure.graph, &values)?;
    Ok(values)
}

/// The captures of the child's nodes that ran once (not in a loop or an
/// instance), each name taken only when one node made it.
fn captures(procedure: &Procedure, state: &crate::RunState) -> BTreeMap<String, Value> {
    let mut found: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for (id, node) in &state.nodes {
        let once = procedure.graph.node(id).is_some();
        if !once || node.status != Status::Succeeded {
            continue;
        }
        for (name, value) in &node.captures {
            found
                .entry(name.clone())
                .and_modify(|seen| *seen = None)
                .or_insert_with(|| Some(value.clone()));
        }
    }
    found
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
}
