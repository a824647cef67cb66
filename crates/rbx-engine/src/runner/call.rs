//! What the nodes of a `call` instance read for their stage's parameters.
//!
//! A node of `drain#1` sees the arguments `call drain(…)` gave, read in
//! the caller's scope (its loop items, its own parameters when calls
//! nest), each checked against the parameter's type before the node
//! does anything: a `host` that is not one fails the node, whatever
//! lint could see. The caller's loop items are not the called stage's,
//! so a node sees only the loop items of loops inside its own stage.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use petgraph::graph::NodeIndex;
use rbx_check::graph::{CallFrame, Graph};
use rbx_syntax::ast::{Expr, ExprKind, InputTypeKind, Param, ScalarType};

use crate::value::{self, Env, Value};

use super::env::{View, base_name, collect_paths, outside};

/// One frame of a node's calls, outermost first: the call's parameters
/// and arguments, and how many loop items are the caller's.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) stage: String,
    pub(crate) bindings: Vec<(Param, Option<Expr>)>,
    pub(crate) depth: usize,
    /// The names the arguments read that are nodes of the runbook: a
    /// bare name that is not one is an enum value or an option.
    pub(crate) nodes: HashSet<String>,
    /// The paths the arguments read with a default after them (`a.b ??
    /// …`): one with no value is what the default is for.
    pub(crate) defaulted: HashSet<String>,
}

/// The calls a node is inside, outermost first: its stage instance's
/// frame, its caller's when the caller is a `call` instance too, and so
/// on. Empty for a node of a primary or `again` instance.
pub(crate) fn frames(graph: &Graph, index: NodeIndex) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut instance = graph.graph[index].stage.as_str();
    while let Some(frame) = graph.call_of(instance) {
        out.push(of(graph, frame));
        instance = frame.caller.as_str();
    }
    out.reverse();
    out
}

fn of(graph: &Graph, frame: &CallFrame) -> Frame {
    let mut read = HashSet::new();
    let mut defaulted = HashSet::new();
    for expr in frame.bindings.iter().filter_map(|(_, arg)| arg.as_ref()) {
        collect_paths(expr, &mut read);
        defaults(expr, &mut defaulted);
    }
    let nodes = read
        .into_iter()
        .filter(|name| {
            graph
                .graph
                .node_weights()
                .any(|n| base_name(&n.id).as_deref() == Some(name.as_str()))
        })
        .collect();
    Frame {
        stage: frame.stage.clone(),
        bindings: frame.bindings.clone(),
        depth: frame.depth,
        nodes,
        defaulted,
    }
}

/// Every path that stands before another operand of a `??`.
fn defaults(e: &Expr, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Default(operands) => {
            let (_, before) = operands.split_last().unwrap_or((e, &[]));
            for operand in before {
                if let ExprKind::Path(path) = &operand.kind {
                    out.insert(path.dotted());
                }
            }
            operands.iter().for_each(|o| defaults(o, out));
        }
        ExprKind::Or(items)
        | ExprKind::And(items)
        | ExprKind::List(items)
        | ExprKind::Product(items) => items.iter().for_each(|i| defaults(i, out)),
        ExprKind::Call { args, .. } => args.iter().for_each(|a| defaults(a, out)),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => defaults(inner, out),
        ExprKind::Compare { lhs, rhs, .. } => {
            defaults(lhs, out);
            defaults(rhs, out);
        }
        ExprKind::Sum { first, rest } => {
            defaults(first, out);
            rest.iter().for_each(|(_, r)| defaults(r, out));
        }
        ExprKind::Path(_)
        | ExprKind::String(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Regex(_) => {}
    }
}

/// The first segment of every path the node's arguments read, so that
/// the view holds the nodes they name.
pub(crate) fn mentioned(graph: &Graph, index: NodeIndex, names: &mut HashSet<String>) {
    for frame in frames(graph, index) {
        for expr in frame.bindings.iter().filter_map(|(_, arg)| arg.as_ref()) {
            collect_paths(expr, names);
        }
    }
}

/// The stage instance of a `call` a node belongs to, when it belongs to
/// one: a name read there means the node of the same instance first.
pub(crate) fn instance_of(graph: &Graph, index: NodeIndex) -> Option<&str> {
    let stage = own_instance(graph, index);
    graph.calls.contains_key(stage).then_some(stage)
}

/// The stage instance a node is of: its stage's, or for a node of a
/// stage's own clean-up (`drain#1.finally`), the instance it cleans up —
/// whose parameters and nodes the clean-up reads as the instance does.
fn own_instance(graph: &Graph, index: NodeIndex) -> &str {
    let stage = graph.graph[index].stage.as_str();
    rbx_check::symbols::cleaned_instance(stage).unwrap_or(stage)
}

impl View {
    /// Evaluates every argument of the node's calls, outermost first, and
    /// checks each against its parameter's type. `Err` says which argument
    /// and why; the node fails with it.
    pub(crate) fn bind(&mut self, inputs: &HashMap<String, Value>) -> Result<(), String> {
        self.bound.clear();
        for level in 0..self.frames.len() {
            let frame = &self.frames[level];
            let mut values = Vec::new();
            for (param, arg) in &frame.bindings {
                let name = &param.name.name;
                let arg = arg.as_ref().ok_or_else(|| {
                    format!(
                        "`call {}` gives the parameter `{name}` no argument",
                        frame.stage
                    )
                })?;
                let scope = Scoped {
                    view: self,
                    level,
                    upto: frame.depth,
                    inputs,
                    misses: RefCell::new(Vec::new()),
                };
                let value = value::eval(arg, &scope).map_err(|why| {
                    format!("the argument `{name}` of `call {}`: {why}", frame.stage)
                })?;
                // An expression reads a name with no value as a bare name
                // (an enum value); an argument must not stand on a node
                // that did not run or did not record what it reads.
                let unset = scope.misses.borrow().iter().find_map(|path| {
                    let dotted = path.join(".");
                    let node = path.len() > 1 || frame.nodes.contains(&path[0]);
                    (node && !frame.defaulted.contains(&dotted)).then_some(dotted)
                });
                if let Some(path) = unset {
                    return Err(format!(
                        "the argument `{name}` of `call {}`: `{path}` has no value (its node \
                         did not run, or did not record it)",
                        frame.stage
                    ));
                }
                let value = conform(param, value).map_err(|why| {
                    format!("the argument `{name}` of `call {}`: {why}", frame.stage)
                })?;
                values.push((name.clone(), value));
            }
            self.bound.push(values);
        }
        Ok(())
    }
}

/// What a stage start records of its call: each argument's value as
/// people see values (a secret masked), under `arguments`; nothing for
/// an instance that is not a call's.
pub(crate) fn recorded(view: &View) -> serde_json::Value {
    let Some(bound) = view.bound.last() else {
        return serde_json::json!({});
    };
    let arguments: serde_json::Map<String, serde_json::Value> = bound
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::json!(value.to_string())))
        .collect();
    serde_json::json!({ "arguments": arguments })
}

/// The value of `path` as a node of the innermost call reads it: loop
/// items of its own stage, then its parameters. `None` when neither has
/// the name (an input or a node field is read next).
pub(crate) fn lookup(
    view: &View,
    level: usize,
    upto: usize,
    path: &[&str],
) -> Option<Option<Value>> {
    let head = *path.first()?;
    let from = match level {
        0 => 0,
        _ => view.frames[level - 1].depth.min(upto),
    };
    let upto = upto.min(view.items.len());
    if let Some(at) = view.items[from..upto]
        .iter()
        .rposition(|(var, _)| var == head)
    {
        let at = from + at;
        return Some(match path.get(1) {
            None => Some(view.items[at].1.clone()),
            Some(&"index") => view
                .positions
                .get(at)
                .and_then(|i| i64::try_from(*i).ok())
                .map(Value::Int),
            Some(_) => None,
        });
    }
    if level == 0 {
        return None;
    }
    let bound = view.bound.get(level - 1)?;
    let (_, value) = bound.iter().find(|(name, _)| name == head)?;
    Some(match path.get(1) {
        None => Some(value.clone()),
        Some(_) => None,
    })
}

/// The caller's scope, where a call's arguments are read.
struct Scoped<'a> {
    view: &'a View,
    level: usize,
    upto: usize,
    inputs: &'a HashMap<String, Value>,
    /// Every path read that had no value.
    misses: RefCell<Vec<Vec<String>>>,
}

impl Env for Scoped<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        let found = match lookup(self.view, self.level, self.upto, path) {
            Some(found) => found,
            None => outside(self.view, self.inputs, path),
        };
        if found.is_none() {
            let path = path.iter().map(|s| s.to_string()).collect();
            self.misses.borrow_mut().push(path);
        }
        found
    }

    // Lint refuses these in an argument: each node of the instance reads
    // its arguments again, and these would not read the same.
    fn role_filled(&self, _: &str) -> bool {
        false
    }

    fn link_set(&self, _: &str) -> bool {
        false
    }

    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("`count()` cannot be an argument".to_string())
    }

    fn now(&self) -> i64 {
        0
    }
}

/// `value` as the parameter's type holds it, or why it is not one.
fn conform(param: &Param, value: Value) -> Result<Value, String> {
    let fits = match (&param.ty.kind, &value) {
        (InputTypeKind::Scalar(ScalarType::Host), Value::Text(text) | Value::Name(text)) => {
            rbx_syntax::ast::check_host(text)?;
            return Ok(Value::Text(text.clone()));
        }
        (InputTypeKind::Scalar(ScalarType::String | ScalarType::Command), v) => {
            matches!(v, Value::Text(_) | Value::Name(_))
        }
        (InputTypeKind::Scalar(ScalarType::Secret), v) => matches!(v, Value::Secret(_)),
        (InputTypeKind::Scalar(ScalarType::Int), v) => matches!(v, Value::Int(_)),
        (InputTypeKind::Scalar(ScalarType::Bool), v) => matches!(v, Value::Bool(_)),
        (InputTypeKind::Scalar(ScalarType::Duration), v) => matches!(v, Value::Duration(_)),
        (InputTypeKind::Scalar(ScalarType::Timestamp), v) => matches!(v, Value::Timestamp(_)),
        (InputTypeKind::Enum(values), Value::Name(name) | Value::Text(name)) => {
            if values.iter().any(|v| v.name == *name) {
                return Ok(Value::Name(name.clone()));
            }
            false
        }
        (InputTypeKind::List(_), v) => matches!(v, Value::List(_)),
        _ => false,
    };
    if fits {
        Ok(value)
    } else {
        Err(format!(
            "{} is not what the parameter `{}` takes",
            shown(&value),
            param.name.name
        ))
    }
}

/// A value for a message: a secret masked.
fn shown(value: &Value) -> String {
    match value {
        Value::Secret(_) => "a secret".to_string(),
        other => format!("`{other}`"),
    }
}
