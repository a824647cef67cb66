//! What a node can read: the expression environment over earlier results, and commands rendered from it.

use std::collections::{BTreeMap, HashMap};

use rbx_check::graph::{Graph, NodeKind};
use rbx_syntax::ast::{Expr, Require, StmtKind, Text, TextPart};

use crate::expand::Plan;
use crate::shell;
use crate::state::{NodeState, RunState, Status};
use crate::value::{self, Env, Value};

use super::Shared;

/// What is known of one finished node: status, captures, the branch it
/// took, and when it finished.
pub(crate) type Seen = (Status, BTreeMap<String, Value>, Option<String>, Option<i64>);

/// What a node can read of the run so far: finished nodes' captures,
/// statuses and branches, by checked node id.
#[derive(Clone, Default)]
pub struct View {
    /// Block id → fields, from the most relevant finished instance.
    pub(crate) fields: HashMap<String, Seen>,
    pub(crate) items: Vec<(String, Value)>,
    /// For a tally node, the failures it counts.
    pub(crate) tally: Option<super::tally::Tally>,
    /// Each loop item's place in its list, for `VAR.index`.
    pub(crate) positions: Vec<usize>,
    /// The `call` instances the node is in, outermost first.
    pub(crate) frames: Vec<super::call::Frame>,
    /// Each frame's parameters with their values, once `bind` read them.
    pub(crate) bound: Vec<Vec<(String, Value)>>,
    /// For a `child` node, the child run its record names (rule D7).
    pub(crate) child: Option<crate::state::ChildRun>,
}

impl View {
    /// What `node` can read: for each name its block mentions, the most
    /// relevant finished instance — one in the same loop items first, then
    /// the latest.
    pub(crate) fn of(
        state: &RunState,
        plan: &Plan,
        node: &crate::expand::XNode,
        graph: &Graph,
    ) -> View {
        let wanted = mentioned(graph, node.check);
        // Ranked by: of the same `call` instance (two instances may run
        // side by side), in the same loop items, ran rather than skipped,
        // then finished last. A skipped instance has nothing to read but its
        // status, and the journal orders skips as the drive wrote them, so
        // that a `repeat`'s iterations skipped after the one that held
        // never hide it — in the drive that ran it or after a resume.
        let instance = super::call::instance_of(graph, node.check);
        let mut best: HashMap<String, (Rank, &NodeState)> = HashMap::new();
        for name in &wanted {
            for &other in plan
                .by_name
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let other = &plan.nodes[other];
                let Some(ns) = state.nodes.get(&other.id) else {
                    continue;
                };
                let Some(seq) = ns.finished_seq else { continue };
                let same_instance = instance.is_none_or(|i| graph.graph[other.check].stage == i);
                let same_items =
                    other.items == node.items[..other.items.len().min(node.items.len())];
                let rank = (same_instance, same_items, ns.status != Status::Skipped, seq);
                if best.get(name).is_none_or(|(kept, _)| rank > *kept) {
                    best.insert(name.clone(), (rank, ns));
                }
            }
        }
        View {
            fields: best
                .into_iter()
                .map(|(name, (_, ns))| {
                    (
                        name,
                        (
                            ns.status,
                            ns.captures.clone(),
                            ns.branch.clone(),
                            ns.finished_at,
                        ),
                    )
                })
                .collect(),
            items: node
                .items
                .iter()
                .map(|(var, value)| (var.to_string(), value.clone()))
                .collect(),
            tally: None,
            positions: node.positions.clone(),
            frames: super::call::frames(graph, node.check),
            bound: Vec::new(),
            child: state.nodes.get(&node.id).and_then(|n| n.child.clone()),
        }
    }
}

/// How well a node of a name answers a read: of the same `call` instance,
/// in the same loop items, ran rather than skipped, the sequence it
/// finished at.
type Rank = (bool, bool, bool, u64);

/// The first segment of every path a node's statements mention.
pub(crate) fn mentioned(
    graph: &Graph,
    index: petgraph::graph::NodeIndex,
) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    match &graph.graph[index].kind {
        NodeKind::Checklist { items, .. } => names.extend(items.iter().cloned()),
        NodeKind::StageStart { requires, .. } => {
            for require in requires {
                if let Require::Expr(e) = require {
                    collect_paths(e, &mut names);
                }
            }
        }
        NodeKind::Block(block) => {
            for stmt in &block.body {
                match &stmt.kind {
                    StmtKind::Require(Require::Expr(e))
                    | StmtKind::When { condition: e, .. }
                    | StmtKind::Condition(e)
                    | StmtKind::Until(e)
                    | StmtKind::TimeoutExpr(e) => collect_paths(e, &mut names),
                    StmtKind::Run(t) | StmtKind::Verify(t) | StmtKind::Instructions(t) => {
                        for path in t.interpolations() {
                            if let Some(head) = path.segments.first() {
                                names.insert(head.name.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        NodeKind::Anchor(anchor) => {
            if let Some(at) = &anchor.at {
                collect_paths(at, &mut names);
            }
        }
        NodeKind::Until { until, .. } => collect_paths(until, &mut names),
        NodeKind::Tick { interval, .. } => collect_paths(interval, &mut names),
        NodeKind::Guard { condition } => collect_paths(condition, &mut names),
        NodeKind::End { .. } | NodeKind::Tally { .. } => {}
    }
    super::call::mentioned(graph, index, &mut names);
    names
}

pub(crate) fn collect_paths(e: &Expr, names: &mut std::collections::HashSet<String>) {
    use rbx_syntax::ast::ExprKind;
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => {
            items.iter().for_each(|i| collect_paths(i, names))
        }
        ExprKind::Not(inner) | ExprKind::Paren(inner) => collect_paths(inner, names),
        ExprKind::Compare { lhs, rhs, .. } => {
            collect_paths(lhs, names);
            collect_paths(rhs, names);
        }
        ExprKind::Sum { first, rest } => {
            collect_paths(first, names);
            rest.iter().for_each(|(_, r)| collect_paths(r, names));
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_paths(a, names)),
        ExprKind::Path(path) => {
            if let Some(head) = path.segments.first() {
                names.insert(head.name.clone());
            }
        }
        ExprKind::String(t) => {
            for path in t.interpolations() {
                if let Some(head) = path.segments.first() {
                    names.insert(head.name.clone());
                }
            }
        }
        ExprKind::List(items) | ExprKind::Default(items) | ExprKind::Product(items) => {
            items.iter().for_each(|i| collect_paths(i, names))
        }
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Regex(_) => {}
    }
}

/// `smoke#2.version[web-1]` → `version`.
pub fn base_name(id: &str) -> Option<String> {
    let without_items = id.split('[').next()?;
    let name = without_items.rsplit('.').next()?;
    Some(name.to_string())
}

pub(crate) struct NodeEnv<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) view: &'a View,
    /// What `count()` found while evaluating: (the rule, the runs that
    /// matched), so the operator and the record see the runs behind it.
    pub(crate) counted: std::sync::Mutex<Vec<(String, Vec<String>)>>,
    /// A past run's inputs, when evaluating a rule against that run.
    pub(crate) inputs: Option<&'a HashMap<String, Value>>,
    /// What `now()` read, once for the whole node: every `now()` the node
    /// evaluates is the same moment, and the record keeps it.
    pub(crate) now: std::sync::OnceLock<i64>,
}

impl NodeEnv<'_> {
    /// `extra`, the details of the node's finish, with what `now()` read
    /// when the node asked: the record keeps the moment a decision was
    /// made at, and a resumed run never reads it again.
    pub(crate) fn stamped(&self, mut extra: serde_json::Value) -> serde_json::Value {
        if let (Some(ms), Some(object)) = (self.now.get(), extra.as_object_mut()) {
            object.insert(
                "now".to_string(),
                serde_json::json!(rbx_syntax::time::format_timestamp(*ms)),
            );
        }
        extra
    }
}

/// The value of `path` for a node that sees `view`: a loop item, else an
/// input, else a field of another node ("What a node can read").
pub(crate) fn read(view: &View, inputs: &HashMap<String, Value>, path: &[&str]) -> Option<Value> {
    let head = *path.first()?;
    if !view.frames.is_empty() {
        let innermost = view.frames.len();
        return match super::call::lookup(view, innermost, view.items.len(), path) {
            Some(found) => found,
            None => outside(view, inputs, path),
        };
    }
    if let Some(at) = view.items.iter().rposition(|(var, _)| var == head) {
        return match path.get(1) {
            None => Some(view.items[at].1.clone()),
            Some(&"index") => {
                let index = view.positions.get(at)?;
                Some(Value::Int(i64::try_from(*index).ok()?))
            }
            Some(_) => None,
        };
    }
    outside(view, inputs, path)
}

/// An input, else a field of another node: what a name means past the
/// loop items and parameters in scope.
pub(crate) fn outside(
    view: &View,
    inputs: &HashMap<String, Value>,
    path: &[&str],
) -> Option<Value> {
    let head = *path.first()?;
    if let Some(v) = inputs.get(head) {
        return Some(v.clone());
    }
    let (status, captures, branch, finished_at) = view.fields.get(head)?;
    match path.get(1) {
        // A choice's option; an anchor's time (the one `at` gave, or when
        // it was reached).
        None => branch
            .clone()
            .map(Value::Name)
            .or_else(|| captures.get("time").cloned())
            .or_else(|| finished_at.map(Value::Timestamp)),
        Some(&"status") => Some(Value::Name(status.as_str().to_string())),
        Some(field) => captures.get(*field).cloned(),
    }
}

impl Env for NodeEnv<'_> {
    fn lookup(&self, path: &[&str]) -> Option<Value> {
        let inputs = self.inputs.unwrap_or(&self.shared.inputs);
        let in_scope = |name: &str| self.view.items.iter().any(|(v, _)| v == name);
        if rbx_check::symbols::is_run_field(path) && !in_scope("run") && !inputs.contains_key("run")
        {
            return Some(Value::Text(match path[1] {
                "id" => self.shared.run.to_string(),
                _ => self.shared.options.operator.clone(),
            }));
        }
        read(self.view, inputs, path)
    }

    fn role_filled(&self, role: &str) -> bool {
        self.shared
            .roles
            .read()
            .is_ok_and(|roles| roles.filled(role))
    }

    fn link_set(&self, link: &str) -> bool {
        self.shared.links_set.get(link).copied().unwrap_or(false)
    }

    fn count(&self, condition: &Expr, window: u64) -> Result<i64, String> {
        let since = self
            .shared
            .options
            .clock
            .now_ms()
            .saturating_sub(i64::try_from(window).unwrap_or(i64::MAX));
        let mut matched = Vec::new();
        for crate::Past {
            started,
            run,
            state: past,
            inputs,
        } in &self.shared.history
        {
            if *started < since {
                continue;
            }
            let view = View {
                fields: past
                    .nodes
                    .iter()
                    .filter_map(|(id, ns)| {
                        Some((
                            base_name(id)?,
                            (
                                ns.status,
                                ns.captures.clone(),
                                ns.branch.clone(),
                                ns.finished_at,
                            ),
                        ))
                    })
                    .collect(),
                ..View::default()
            };
            let env = NodeEnv {
                shared: self.shared,
                view: &view,
                counted: std::sync::Mutex::default(),
                inputs: Some(inputs),
                now: std::sync::OnceLock::new(),
            };
            if value::truth(condition, &env).unwrap_or(false) {
                matched.push(run.clone());
            }
        }
        // The run asking counts too, as the rule reads: "2+ in 24h".
        if value::truth(condition, self).unwrap_or(false) {
            matched.push(self.shared.run.to_string());
        }
        let count = i64::try_from(matched.len()).unwrap_or(i64::MAX);
        let rule = format!(
            "count({}, {})",
            rbx_syntax::fmt::expr(condition),
            rbx_syntax::fmt::duration(window)
        );
        if let Ok(mut counted) = self.counted.lock() {
            counted.push((rule, matched));
        }
        Ok(count)
    }

    fn now(&self) -> i64 {
        *self.now.get_or_init(|| self.shared.options.clock.now_ms())
    }
}

/// A command with its interpolations resolved: the text to run (values
/// as variable references), the text to show and record (values quoted in
/// place, secrets masked), the variables the command gets, and the
/// template it was rendered from.
pub(crate) struct Rendered {
    pub(crate) run: String,
    pub(crate) shown: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) template: String,
}

pub(crate) fn render(text: &Text, env: &NodeEnv<'_>) -> Result<Rendered, String> {
    let command = shell::command(text, |interpolation| {
        let path = &interpolation.path;
        let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        env.lookup(&names)
            .ok_or_else(|| format!("`{}` has no value yet", path.dotted()))
    })?;
    Ok(Rendered {
        run: command.run,
        shown: command.shown,
        env: command.env,
        template: text.source_form(),
    })
}

/// Text for a person to read (a title, instructions): each `{{ }}` as its
/// value as people see values — plain, not quoted for a shell, secrets
/// masked — or as written when it has no value yet.
pub(crate) fn for_people(text: &Text, env: &NodeEnv<'_>) -> String {
    let mut out = String::new();
    for part in &text.parts {
        match part {
            TextPart::Literal(literal) => out.push_str(literal),
            TextPart::Interpolation(interpolation) => {
                let path = &interpolation.path;
                let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
                match env.lookup(&names) {
                    Some(value) => out.push_str(&value.to_string()),
                    None => out.push_str(&interpolation.source_form()),
                }
            }
        }
    }
    out
}

/// Every secret of the run: each secret input, and each secret item of a
/// list input. Output is masked for all of them, whichever step printed it.
pub(crate) fn secrets(shared: &Shared) -> crate::mask::Secrets {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Secret(secret) => out.push(secret.clone()),
            Value::List(items) => items.iter().for_each(|item| collect(item, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    for value in shared.inputs.values() {
        collect(value, &mut values);
    }
    crate::mask::Secrets::new(values)
}
