//! The plan (`rbx plan`): what a run of an entry runbook would do, as plain text to
//! read before starting it (or at 3 a.m., while it runs).
//!
//! The plan lists the inputs with the values a run would get, then every
//! stage instance in the order the procedure was lowered, each node with
//! the command it runs (shown exactly as the engine shows it when it runs:
//! each value quoted in place), its limits and where control goes next, and finally every
//! way the run can end. Nothing is executed and nothing is recorded.
//! Secret values are never printed: a secret shows as a mask.

use rbx_check::symbols::{FINALLY, is_cleanup};
use std::collections::HashMap;
use std::fmt::Write as _;

mod call;

use rbx_check::budget::{self, Reason, WorstCase};
use rbx_check::graph::{EdgeKind, Node, NodeKind};
use rbx_syntax::ast::{
    Anchor, BackoffKind, Block, BlockKind, Capture, CaptureSource, EvidenceType, Ident, Input,
    InputTypeKind, Interpolation, ItemKind, ScalarType, StmtKind, Target, TargetKind, Text,
    TextPart, Value,
};
use rbx_syntax::fmt::{duration, expr};

use crate::Procedure;
use crate::graph;
use rbx_engine::shell;
use rbx_engine::value::MASK;

/// Width of the key column of a node's details (`owner`, `run`, …).
const KEY: usize = 10;

/// The plan of `procedure` with inputs given as `--set KEY=VALUE`
/// arguments, or what is wrong with an argument.
pub fn render(procedure: &Procedure, sets: &[String]) -> Result<String, String> {
    let inputs = Inputs::new(procedure, sets)?;
    Ok(Plan::new(procedure, &inputs).render())
}

// ---------------------------------------------------------------- inputs --

/// A value an input has for the run: the engine's own values, so a plan
/// shows exactly what a run would get. A secret's value is never printed.
use rbx_engine::value::Value as Val;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Default,
    Set,
    Environment,
    Unset,
}

struct Entry<'a> {
    input: &'a Input,
    value: Option<Val>,
    origin: Origin,
}

/// Every input of the procedure, in the order written, with its value.
struct Inputs<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Inputs<'a> {
    /// The inputs with their defaults, overridden by `--set KEY=VALUE`
    /// arguments; a usage error names what is wrong with an argument.
    fn new(procedure: &'a Procedure, sets: &[String]) -> Result<Inputs<'a>, String> {
        let mut entries: Vec<Entry<'a>> = Vec::new();
        for file in procedure
            .report
            .sources
            .iter()
            .filter_map(|s| s.file.as_ref())
        {
            for item in &file.items {
                let ItemKind::Input(input) = &item.kind else {
                    continue;
                };
                if entries.iter().any(|e| e.input.name.name == input.name.name) {
                    continue;
                }
                let mut value = input.default.as_ref().map(|v| default(v, &input.ty.kind));
                let mut origin = if value.is_some() {
                    Origin::Default
                } else {
                    Origin::Unset
                };
                // A secret comes from the environment, as a run takes it.
                let secret = input.ty.kind == InputTypeKind::Scalar(ScalarType::Secret);
                let var = format!("RBX_SECRET_{}", input.name.name.to_uppercase());
                if secret && value.is_none() && std::env::var_os(&var).is_some() {
                    value = Some(Val::Secret(String::new()));
                    origin = Origin::Environment;
                }
                entries.push(Entry {
                    input,
                    value,
                    origin,
                });
            }
        }
        for set in sets {
            let Some((key, text)) = set.split_once('=') else {
                return Err(format!("`--set {set}`: expected KEY=VALUE"));
            };
            let Some(entry) = entries.iter_mut().find(|e| e.input.name.name == key) else {
                let known: Vec<&str> = entries.iter().map(|e| e.input.name.name.as_str()).collect();
                return Err(if known.is_empty() {
                    format!("`--set {key}=…`: this runbook has no inputs")
                } else {
                    format!(
                        "`--set {key}=…`: this runbook has no input `{key}`; its inputs are {}",
                        known.join(", ")
                    )
                });
            };
            let value = rbx_engine::value::parse_input(text, &entry.input.ty.kind)
                .map_err(|why| format!("`--set {key}=…`: {why}"))?;
            entry.value = Some(value);
            entry.origin = Origin::Set;
        }
        Ok(Inputs { entries })
    }

    fn get(&self, name: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.input.name.name == name)
    }

    /// How many items a list input has, when it has a value.
    fn length(&self, name: &str) -> Option<u64> {
        match self.get(name)?.value.as_ref()? {
            Val::List(items) => u64::try_from(items.len()).ok(),
            _ => None,
        }
    }
}

/// An input's default as a value; a secret never shows its default (the
/// language gives secrets none, but a plan must not leak one regardless).
fn default(value: &Value, ty: &InputTypeKind) -> Val {
    if *ty == InputTypeKind::Scalar(ScalarType::Secret) {
        return Val::Secret(String::new());
    }
    rbx_engine::default_value(value, ty)
}

/// The value as the runbook would write it.
fn display(value: &Val) -> String {
    match value {
        Val::Text(text) => format!("{text:?}"),
        Val::List(items) => {
            let items: Vec<String> = items.iter().map(display).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The value spliced into text for people, such as a title.
fn plain(value: &Val) -> String {
    match value {
        Val::Text(text) => text.clone(),
        Val::List(items) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            items.join(", ")
        }
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------ plan --

/// How an interpolated value is written into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Splice {
    /// Into a shell command, shown as the engine shows it.
    Shell,
    /// Into text for people.
    Plain,
}

struct Plan<'a> {
    procedure: &'a Procedure,
    inputs: &'a Inputs<'a>,
    nodes: Vec<&'a Node>,
    /// Edges leaving each node: (target, kind).
    outgoing: Vec<Vec<(usize, &'a EdgeKind)>>,
    /// Edges entering each node: (source, kind).
    incoming: Vec<Vec<(usize, &'a EdgeKind)>>,
    /// Whether a path from the first stage leads to each node.
    reached: Vec<bool>,
    /// Each primary stage instance's nodes, its `again` and `call`
    /// instances' included, in the order they were lowered: looked up
    /// once, so that the plan is linear in the graph.
    hosted: HashMap<&'a str, Vec<usize>>,
    out: String,
}

impl<'a> Plan<'a> {
    fn new(procedure: &'a Procedure, inputs: &'a Inputs<'a>) -> Plan<'a> {
        let graph = &procedure.graph.graph;
        let nodes: Vec<&Node> = graph.raw_nodes().iter().map(|n| &n.weight).collect();
        let mut outgoing = vec![Vec::new(); nodes.len()];
        let mut incoming = vec![Vec::new(); nodes.len()];
        for edge in graph.raw_edges() {
            let (from, to) = (edge.source().index(), edge.target().index());
            outgoing[from].push((to, &edge.weight.kind));
            incoming[to].push((from, &edge.weight.kind));
        }
        let mut reached = vec![false; nodes.len()];
        let mut queue: Vec<usize> = procedure
            .graph
            .start
            .map(|s| s.index())
            .into_iter()
            .collect();
        while let Some(index) = queue.pop() {
            if !std::mem::replace(&mut reached[index], true) {
                queue.extend(outgoing[index].iter().map(|(to, _)| *to));
            }
        }
        let mut hosted: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, node) in nodes.iter().enumerate() {
            hosted.entry(node.host.as_str()).or_default().push(index);
        }
        Plan {
            procedure,
            inputs,
            nodes,
            outgoing,
            incoming,
            reached,
            hosted,
            out: String::new(),
        }
    }

    fn render(mut self) -> String {
        self.header();
        self.inputs();
        self.budgets();
        let primaries: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let node = self.nodes[i];
                matches!(node.kind, NodeKind::StageStart { .. }) && node.stage == node.host
            })
            .collect();
        for start in primaries {
            self.stage(start);
        }
        self.outcomes();
        self.out
    }

    fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.out, "{:indent$}{}", "", text.trim_end());
    }

    fn header(&mut self) {
        let mut title = String::new();
        let mut version = None;
        for (index, file) in self
            .procedure
            .report
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.file.as_ref().map(|f| (i, f)))
        {
            if let (0, Some(header)) = (index, &file.header) {
                title = format!(
                    "{} (runbook {})",
                    header.title.source_form(),
                    header.id.name
                );
            }
            for item in &file.items {
                if let (ItemKind::Version(text), None) = (&item.kind, &version) {
                    version = Some(text.source_form());
                }
            }
        }
        self.line(0, &format!("Plan: {title}"));
        if let Some(version) = version {
            self.line(0, &format!("Version {version}"));
        }
        self.line(0, "Nothing has been run: this is what `rbx run` would do.");
    }

    /// The budgets over the run or several stages; nothing when there are
    /// none, as before they existed.
    fn budgets(&mut self) {
        let budgets: Vec<String> = self
            .procedure
            .report
            .sources
            .iter()
            .filter_map(|s| s.file.as_ref())
            .flat_map(|f| &f.items)
            .filter_map(|item| match &item.kind {
                ItemKind::Budget(budget) => Some(rbx_syntax::fmt::budget_text(budget)),
                _ => None,
            })
            .collect();
        if budgets.is_empty() {
            return;
        }
        self.out.push('\n');
        self.line(
            0,
            "Budgets (checked as the run goes; past one, `hook overrun` fires)",
        );
        for budget in budgets {
            self.line(2, &budget);
        }
    }

    fn inputs(&mut self) {
        self.out.push('\n');
        if self.inputs.entries.is_empty() {
            self.line(0, "Inputs: none");
            return;
        }
        self.line(0, "Inputs");
        let rows: Vec<(String, String, String)> = self
            .inputs
            .entries
            .iter()
            .map(|entry| {
                let name = entry.input.name.name.clone();
                let secret = entry.input.ty.kind == InputTypeKind::Scalar(ScalarType::Secret);
                let value = match &entry.value {
                    Some(value) => display(value),
                    None => "<unset>".to_string(),
                };
                let origin = match entry.origin {
                    Origin::Default => "default",
                    Origin::Set => "--set",
                    Origin::Environment => "from RBX_SECRET_*",
                    Origin::Unset if secret => "required: set RBX_SECRET_* in the environment",
                    Origin::Unset => "required: a run needs --set",
                };
                let origin = if secret {
                    format!("{origin} (secret)")
                } else {
                    origin.to_string()
                };
                (name, value, origin)
            })
            .collect();
        let name_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let value_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        for (name, value, origin) in rows {
            self.line(
                2,
                &format!("{name:<name_width$}  {value:<value_width$}  {origin}"),
            );
        }
    }

    /// A primary stage instance, with the `again` instances it holds where
    /// they occur.
    fn stage(&mut self, start: usize) {
        let node = self.nodes[start];
        let NodeKind::StageStart { title, .. } = &node.kind else {
            return;
        };
        self.out.push('\n');
        self.line(0, &format!("Stage {} — {title}", node.stage));
        if node.stage == FINALLY {
            self.line(
                2,
                "runs once whenever the run ends: with an outcome, failed or cancelled",
            );
        } else if let Some(cleaned) = rbx_check::symbols::cleaned_instance(&node.stage) {
            self.line(
                2,
                &format!(
                    "runs once each time `{cleaned}` is left, before what comes after it, \
                     or when the run ends with `{cleaned}` started"
                ),
            );
        } else if !self.reached[start] {
            self.line(
                2,
                "not reached from the first stage: it runs only as an `again` instance, if at all",
            );
        }
        self.stage_facts(start, 2);
        let host = node.host.as_str();
        let members = self.hosted.get(host).cloned().unwrap_or_default();
        for &index in members.iter().filter(|&&index| index > start) {
            let member = self.nodes[index];
            let indent = if member.stage == host { 2 } else { 6 };
            match &member.kind {
                NodeKind::StageStart { stage, title, .. } => {
                    self.out.push('\n');
                    let line = match self.procedure.graph.call_of(&member.stage) {
                        Some(frame) => format!(
                            "call     {stage}({}), as instance {} — {title}",
                            frame.arguments_written(),
                            member.stage
                        ),
                        None => format!("again    {stage}, as instance {} — {title}", member.stage),
                    };
                    self.line(2, &line);
                    self.stage_facts(index, 11);
                }
                NodeKind::End { .. } => {}
                NodeKind::Block(_)
                | NodeKind::Anchor(_)
                | NodeKind::Checklist { .. }
                | NodeKind::Until { .. }
                | NodeKind::Tick { .. }
                | NodeKind::Guard { .. }
                | NodeKind::Tally { .. } => self.node(index, indent),
            }
        }
        // The stage's own `then` or `end`: the last item of an `again`
        // instance can lead there too.
        let mut finish: Vec<String> = Vec::new();
        for &index in &members {
            for &(to, kind) in &self.outgoing[index] {
                let target = self.nodes[to];
                let leaves = target.host != host
                    || matches!(target.kind, NodeKind::End { .. }) && target.stage == host;
                if *kind == EdgeKind::Next && leaves {
                    let text = self.target_of(to);
                    if !finish.contains(&text) {
                        finish.push(text);
                    }
                }
            }
        }
        if !finish.is_empty() {
            self.out.push('\n');
            self.line(2, &format!("{:<9}→ {}", "finish", finish.join(" or ")));
        }
    }

    /// A stage instance's budget, worst-case time and requirements.
    fn stage_facts(&mut self, start: usize, indent: usize) {
        let node = self.nodes[start];
        let NodeKind::StageStart {
            within, requires, ..
        } = &node.kind
        else {
            return;
        };
        let length = |list: &str| self.inputs.length(list);
        let worst = budget::worst_case_with(&self.procedure.graph, &node.stage, &length);
        let worst = match worst {
            WorstCase::Bounded { millis, people, .. } => {
                let mut text = duration(millis);
                if people {
                    text.push_str(" + people");
                }
                if within.is_some_and(|budget| millis > budget) {
                    text.push_str(", over budget");
                }
                text
            }
            WorstCase::Unbounded {
                node,
                reason: Reason::NoTimeout,
            } => format!("unbounded: {node} has no timeout"),
            WorstCase::Unbounded {
                node,
                reason: Reason::ComputedTimeout,
            } => format!("unbounded: the timeout of {node} is computed when it starts"),
            WorstCase::Unbounded {
                node,
                reason: Reason::ChildRun,
            } => format!("unbounded: {node} runs a child run, bounded by its own runbook"),
            WorstCase::Unbounded {
                reason: Reason::UnknownLength { list },
                ..
            } => format!("unknown until `{list}` is set"),
        };
        let budget = match within {
            Some(millis) => format!("budget {}", duration(*millis)),
            None => "no budget".to_string(),
        };
        self.line(indent, &format!("{budget}, worst case {worst}"));
        for require in requires {
            self.line(indent, &format!("requires {}", graph::require(require)));
        }
    }

    fn node(&mut self, index: usize, indent: usize) {
        let node = self.nodes[index];
        let (kind, title) = match &node.kind {
            NodeKind::Block(block) => (block.kind.keyword(), &block.title),
            NodeKind::Anchor(anchor) => ("anchor", &anchor.title),
            NodeKind::Checklist { title, .. } => ("checklist", title),
            NodeKind::Tally { tolerate, .. } => return self.tally(index, indent, tolerate),
            NodeKind::Until { until, at_most } => {
                return self.until(index, indent, until, *at_most);
            }
            NodeKind::Guard { condition } => return self.guard(index, indent, condition),
            NodeKind::Tick {
                interval, watched, ..
            } => {
                let graph = &self.procedure.graph.graph;
                let beside: Vec<String> = watched.iter().map(|w| graph[*w].id.clone()).collect();
                return self.tick(index, indent, interval, &beside);
            }
            NodeKind::StageStart { .. } | NodeKind::End { .. } => return,
        };
        // A title is one line of the plan even if it holds a `\n` escape.
        let title = self.resolve(title, node, Splice::Plain).replace('\n', " ");
        self.out.push('\n');
        self.line(indent, &format!("{kind:<9}{} — {title}", node.id));
        let mut details: Vec<(&str, String)> = Vec::new();
        for fanout in &node.fanout {
            if fanout.repeat.is_some() {
                let text = graph::fanout(fanout);
                details.push(("repeat", text.trim_start_matches("repeat ").to_string()));
                continue;
            }
            if fanout.every.is_some() {
                let text = graph::fanout(fanout);
                details.push(("every", text.trim_start_matches("every ").to_string()));
                continue;
            }
            let mut text = graph::fanout(fanout)
                .trim_start_matches("foreach ")
                .to_string();
            if let Some(items) = self.inputs.length(&fanout.list) {
                text.push_str(&format!(", {items} item(s)"));
            }
            details.push(("foreach", text));
        }
        if let NodeKind::Anchor(Anchor { at: Some(at), .. }) = &node.kind {
            details.push(("at", format!("{}, a time given, not waited for", expr(at))));
        }
        for lane in &node.lanes {
            let text = graph::lane(lane);
            details.push(("parallel", text.trim_start_matches("parallel ").to_string()));
        }
        if let NodeKind::Block(block) = &node.kind {
            self.block_details(block, node, &mut details);
            if block.kind != BlockKind::Decide {
                details.extend(self.routes(index));
            }
        }
        if let NodeKind::Checklist {
            items, fail_fast, ..
        } = &node.kind
        {
            let verdict = if *fail_fast {
                "fail-fast: stops at the first item that fails, and fails"
            } else {
                "every item runs; fails after the last if any failed, naming each"
            };
            details.push(("verdict", verdict.to_string()));
            details.push(("items", items.join(", ")));
            details.extend(self.routes(index));
        }
        let pad = indent + 9;
        for (key, value) in details {
            let mut lines = value.lines();
            let first = lines.next().unwrap_or("");
            self.line(pad, &format!("{key:<KEY$}{first}"));
            for more in lines {
                self.line(pad + KEY, more);
            }
        }
    }

    /// A tolerating loop's or block's tally: what it lets pass, and where
    /// a failure beyond it leads.
    fn tally(&mut self, index: usize, indent: usize, tolerate: &rbx_syntax::ast::Tolerate) {
        let node = self.nodes[index];
        self.out.push('\n');
        let what = format!(
            "the items' failures, at most {} of them tolerated",
            tolerate.source_form()
        );
        self.line(indent, &format!("{:<9}{} — {what}", "tally", node.id));
        let pad = indent + 9;
        for (key, value) in self.routes(index) {
            self.line(pad, &format!("{key:<KEY$}{value}"));
        }
    }

    /// The end of each iteration of a `repeat`: what it judges, and where
    /// the loop goes when the last iteration leaves it false.
    fn until(&mut self, index: usize, indent: usize, until: &rbx_syntax::ast::Expr, at_most: i64) {
        let node = self.nodes[index];
        self.out.push('\n');
        let what = format!("after each iteration, until {}", expr(until));
        self.line(indent, &format!("{:<9}{} — {what}", "until", node.id));
        let pad = indent + 9;
        let details = [
            (
                "holds",
                "the loop is done; no later iteration runs".to_string(),
            ),
            ("not yet", "the next iteration runs".to_string()),
            (
                "bound",
                format!("still false after iteration {at_most}: the loop fails"),
            ),
        ];
        for (key, value) in details.into_iter().chain(self.routes(index)) {
            self.line(pad, &format!("{key:<KEY$}{value}"));
        }
    }

    /// The start of each iteration of an `every` (rules V1–V5).
    fn tick(
        &mut self,
        index: usize,
        indent: usize,
        interval: &rbx_syntax::ast::Expr,
        beside: &[String],
    ) {
        let node = self.nodes[index];
        self.out.push('\n');
        let what = format!("an iteration every {}", expr(interval));
        self.line(indent, &format!("{:<9}{} — {what}", "every", node.id));
        let beside = if beside.is_empty() {
            "nothing: it never runs".to_string()
        } else {
            beside.join(", ")
        };
        let pad = indent + 9;
        let details = [
            (
                "due",
                format!(
                    "iteration k at {} × k after the block is reached",
                    expr(interval)
                ),
            ),
            ("beside", beside),
            (
                "stops",
                "once those have settled; an iteration started finishes first".to_string(),
            ),
            (
                "missed",
                "an iteration not started within its interval is skipped as missed".to_string(),
            ),
        ];
        for (key, value) in details {
            self.line(pad, &format!("{key:<KEY$}{value}"));
        }
    }

    /// A block's own condition, judged once before it.
    fn guard(&mut self, index: usize, indent: usize, condition: &rbx_syntax::ast::Expr) {
        let node = self.nodes[index];
        self.out.push('\n');
        // `s.when-foreach-host` and `s.when-parallel` guard a block;
        // `s.when-drain#2` the instance `drain#2` of an `again` or `call`.
        let guarded = match node.id.rsplit_once(".when-") {
            Some((_, w)) if !w.starts_with("foreach-") && !w.starts_with("parallel") => {
                format!("the instance {w}")
            }
            _ => "the block".to_string(),
        };
        let what = format!("{guarded} after it runs only when {}", expr(condition));
        self.line(indent, &format!("{:<9}{} — {what}", "when", node.id));
        let pad = indent + 9;
        let details = [
            ("holds", format!("every node of {guarded} runs as written")),
            (
                "not",
                format!("{guarded} is skipped whole; what follows it runs"),
            ),
        ];
        for (key, value) in details {
            self.line(pad, &format!("{key:<KEY$}{value}"));
        }
    }

    fn block_details(&self, block: &Block, node: &Node, details: &mut Vec<(&'static str, String)>) {
        let mut expects = Vec::new();
        let mut captures = Vec::new();
        let mut every = None;
        for stmt in &block.body {
            match &stmt.kind {
                StmtKind::Every(interval) => every = Some(interval.millis),
                StmtKind::ExpectExit(codes) => {
                    let codes: Vec<String> = codes.iter().map(|c| c.value.to_string()).collect();
                    expects.push(format!("exit {}", codes.join(", ")));
                }
                StmtKind::ExpectStream(expect) => expects.push(format!(
                    "{} {} /{}/{}",
                    expect.stream.keyword(),
                    if expect.negated { "!~" } else { "~" },
                    expect.regex.pattern,
                    expect.regex.flags
                )),
                StmtKind::Capture(capture) => captures.push(capture_text(capture)),
                StmtKind::Irreversible(why) => {
                    // First, so that nobody reads past it.
                    let text = match why {
                        Some(why) => format!(
                            "irreversible, asks for confirmation: {}",
                            self.resolve(why, node, Splice::Plain)
                        ),
                        None => "irreversible, asks for confirmation".to_string(),
                    };
                    details.insert(0, ("danger", text));
                }
                kind => details.extend(self.detail(kind, node)),
            }
        }
        if !expects.is_empty() {
            details.push(("expect", expects.join("\n")));
        }
        if !captures.is_empty() {
            details.push(("captures", captures.join("\n")));
        }
        if matches!(block.kind, BlockKind::Step | BlockKind::Wait) {
            details.push(("timeout", limits(block, node, every)));
        }
    }

    /// The line a statement of a node's body adds to its details, if any.
    fn detail(&self, kind: &StmtKind, node: &Node) -> Option<(&'static str, String)> {
        let plain = |text: &Text| self.resolve(text, node, Splice::Plain);
        Some(match kind {
            StmtKind::Owner(role) => ("owner", role.name.clone()),
            StmtKind::Require(require) => ("require", graph::require(require)),
            StmtKind::Run(command) => ("run", self.resolve(command, node, Splice::Shell)),
            StmtKind::Verify(probe) => ("verify", self.resolve(probe, node, Splice::Shell)),
            StmtKind::Until(time) => ("until", expr(time)),
            StmtKind::Evidence(evidence) => {
                let optional = if evidence.optional { ", optional" } else { "" };
                let ty = evidence_type(&evidence.ty);
                let prompt = plain(&evidence.prompt);
                let name = &evidence.name.name;
                ("evidence", format!("{name}: {prompt} ({ty}{optional})"))
            }
            StmtKind::Attest { role, statement } => {
                ("attest", format!("{}: {}", role.name, plain(statement)))
            }
            StmtKind::By(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
                ("by", names.join(", "))
            }
            StmtKind::Assign { role, evidence } => (
                "assign",
                format!("{}: the person named in `{}`", role.name, evidence.name),
            ),
            StmtKind::Approvers(n) => ("approvers", format!("{} per role", n.value)),
            StmtKind::NoSelfApproval => (
                "approval",
                "not by the person who started the run".to_string(),
            ),
            StmtKind::When { condition, target } => (
                "when",
                format!("{} → {}", expr(condition), target_text(target)),
            ),
            StmtKind::Acknowledge => ("evidence", "a person's word that it was done".to_string()),
            StmtKind::Condition(condition) => {
                ("only when", format!("{}, else skipped", expr(condition)))
            }
            StmtKind::Otherwise(target) => ("otherwise", format!("→ {}", target_text(target))),
            StmtKind::Option(option) => (
                "option",
                format!(
                    "{} → {}  ({})",
                    option.name.name,
                    target_text(&option.target),
                    plain(&option.description)
                ),
            ),
            StmtKind::Runbook(path) => ("child run", path.source_form()),
            StmtKind::ChildInput(arg) => {
                ("input", format!("{} = {}", arg.name.name, expr(&arg.value)))
            }
            // What `block_details` gathers itself, and what the plan
            // shows elsewhere (routes, limits) or not at all.
            StmtKind::Every(_)
            | StmtKind::ExpectExit(_)
            | StmtKind::ExpectStream(_)
            | StmtKind::Capture(_)
            | StmtKind::Irreversible(_)
            | StmtKind::On(_)
            | StmtKind::Timeout(_)
            | StmtKind::TimeoutExpr(_)
            | StmtKind::Retry(_)
            | StmtKind::Keep(_)
            | StmtKind::Idempotent
            | StmtKind::Instructions(_) => return None,
        })
    }

    /// Where failure and cancel lead from a node, as the graph has them.
    fn routes(&self, index: usize) -> Vec<(&'static str, String)> {
        let mut failure = None;
        let mut cancel = None;
        for &(to, kind) in &self.outgoing[index] {
            match kind {
                EdgeKind::Failure => failure = Some(self.target_of(to)),
                EdgeKind::Tolerated => {
                    failure = Some(format!("counted by {}", self.nodes[to].id));
                }
                EdgeKind::Cancel => cancel = Some(self.target_of(to)),
                EdgeKind::Next | EdgeKind::Branch(_) => {}
            }
        }
        let unrouted = if is_cleanup(&self.nodes[index].host) {
            "the rest of the clean-up; the run fails after it"
        } else {
            "none: the run stops, failed"
        };
        let mut out = vec![(
            "failure",
            format!("→ {}", failure.unwrap_or_else(|| unrouted.to_string())),
        )];
        if let Some(cancel) = cancel {
            out.push(("cancel", format!("→ {cancel}")));
        }
        out
    }

    /// Where an edge into node `to` leads, in words.
    fn target_of(&self, to: usize) -> String {
        let target = self.nodes[to];
        match &target.kind {
            NodeKind::StageStart { stage, .. } => format!("stage {stage}"),
            NodeKind::End { outcome } => format!("end {outcome}"),
            NodeKind::Block(_)
            | NodeKind::Anchor(_)
            | NodeKind::Checklist { .. }
            | NodeKind::Until { .. }
            | NodeKind::Tick { .. }
            | NodeKind::Guard { .. }
            | NodeKind::Tally { .. } => {
                format!("continue with {}", target.id)
            }
        }
    }

    /// Text with its `{{ name }}` interpolations resolved from the inputs.
    /// What is only known during the run (a capture, a `foreach` item, an
    /// input still unset) stays a `<name>` placeholder; a secret is masked.
    /// A command shows as the engine shows it when it runs.
    fn resolve(&self, text: &Text, node: &Node, splice: Splice) -> String {
        let value_of = |interpolation: &Interpolation| {
            let name = interpolation.path.dotted();
            if let Some(value) = call::param_value(&self.procedure.graph, node, &name, self.inputs)
            {
                return value;
            }
            let item = node.fanout.iter().any(|f| f.var == name);
            self.inputs
                .get(&name)
                .filter(|_| !item)
                .and_then(|entry| entry.value.clone())
        };
        if splice == Splice::Shell {
            return shell::shown(text, value_of);
        }
        let mut out = String::new();
        for part in &text.parts {
            match part {
                TextPart::Literal(literal) => out.push_str(literal),
                TextPart::Interpolation(interpolation) => match value_of(interpolation) {
                    Some(Val::Secret(_)) => out.push_str(MASK),
                    Some(value) => {
                        out.push_str(&shell::quoted(plain(&value), interpolation.shell_quotes()))
                    }
                    None => {
                        let _ = write!(out, "<{}>", interpolation.path.dotted());
                    }
                },
            }
        }
        out
    }

    /// Every way the run can end, with what leads there.
    fn outcomes(&mut self) {
        let mut outcomes: Vec<(String, Vec<(String, usize)>)> = Vec::new();
        for index in 0..self.nodes.len() {
            let NodeKind::End { outcome } = &self.nodes[index].kind else {
                continue;
            };
            if !self.reached[index] {
                continue;
            }
            let at = match outcomes.iter().position(|(name, _)| name == outcome) {
                Some(at) => at,
                None => {
                    outcomes.push((outcome.clone(), Vec::new()));
                    outcomes.len() - 1
                }
            };
            for &(from, kind) in &self.incoming[index] {
                let source = self.nodes[from];
                if !self.reached[from] {
                    continue;
                }
                let why = match kind {
                    EdgeKind::Next => format!("end of stage {}", self.nodes[index].stage),
                    EdgeKind::Failure | EdgeKind::Tolerated => {
                        format!("on failure in {}", source.stage)
                    }
                    EdgeKind::Cancel => format!("on cancel in {}", source.stage),
                    EdgeKind::Branch(label) => format!("{}: {label}", source.id),
                };
                let reasons = &mut outcomes[at].1;
                match reasons.iter_mut().find(|(text, _)| *text == why) {
                    Some((_, count)) => *count += 1,
                    None => reasons.push((why, 1)),
                }
            }
        }
        self.out.push('\n');
        if outcomes.is_empty() {
            self.line(0, "Outcomes: none");
            return;
        }
        self.line(0, "Outcomes");
        let width = outcomes
            .iter()
            .map(|(o, _)| o.chars().count())
            .max()
            .unwrap_or(0);
        for (outcome, reasons) in outcomes {
            for (n, (why, count)) in reasons.iter().enumerate() {
                let name = if n == 0 { outcome.as_str() } else { "" };
                let why = if *count > 1 {
                    format!("{why} ({count} nodes)")
                } else {
                    why.clone()
                };
                self.line(2, &format!("{name:<width$}  {why}"));
            }
        }
    }
}

/// A step's or wait's limits: its timeout, retries and backoff, and with
/// retries the longest all attempts can take.
fn limits(block: &Block, node: &Node, every: Option<u64>) -> String {
    let timeout = block.body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Timeout(d) => Some(duration(d.millis)),
        StmtKind::TimeoutExpr(e) => Some(format!("{}, computed when it starts", expr(e))),
        _ => None,
    });
    let Some(mut text) = timeout else {
        return "none: can run for ever".to_string();
    };
    if let Some(every) = every {
        let _ = write!(text, ", polling every {}", duration(every));
    }
    let retry = block.body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Retry(retry) => Some(retry),
        _ => None,
    });
    if let Some(retry) = retry.filter(|r| r.count.value > 0) {
        let _ = write!(text, ", retry {}", retry.count.value);
        if let Some(backoff) = &retry.backoff {
            let kind = backoff.kind.unwrap_or(BackoffKind::Exponential);
            let _ = write!(
                text,
                " with {} {} backoff",
                duration(backoff.delay.millis),
                kind.keyword()
            );
            if let Some(max) = &backoff.max {
                let _ = write!(text, " up to {}", duration(max.millis));
            }
            if backoff.jitter {
                text.push_str(", jittered");
            }
        }
        if !retry.on_exit.is_empty() {
            let codes: Vec<String> = retry.on_exit.iter().map(|c| c.value.to_string()).collect();
            let _ = write!(text, ", only on exit {}", codes.join(", "));
        }
        if let Some(millis) = budget::cost(node).millis {
            let _ = write!(text, ": at most {}", duration(millis));
            if !node.fanout.is_empty() {
                text.push_str(" per item");
            }
        }
    }
    text
}

fn target_text(target: &Target) -> String {
    match &target.kind {
        TargetKind::Stage(stage) => format!("stage {}", stage.name),
        TargetKind::End(outcome) => format!("end {}", outcome.name),
        TargetKind::Continue => "continue".to_string(),
    }
}

/// What a capture reads, for the plan.
fn capture_text(capture: &Capture) -> String {
    let (name, stream) = (&capture.name.name, capture.stream.keyword());
    match &capture.source {
        CaptureSource::Regex(_) => format!("{name} from {stream}"),
        CaptureSource::Json(path) => format!("{name} from {stream} json {:?}", path.source_form()),
        CaptureSource::Lines => format!("{name} from the lines of {stream}"),
    }
}

/// What kind of answer a piece of evidence takes, for people.
fn evidence_type(ty: &EvidenceType) -> String {
    let names = |options: &[Ident]| -> String {
        let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
        names.join(", ")
    };
    match ty {
        EvidenceType::Text => "text".to_string(),
        EvidenceType::Url => "url".to_string(),
        EvidenceType::File => "file".to_string(),
        EvidenceType::Int => "a whole number".to_string(),
        EvidenceType::Bool => "yes or no".to_string(),
        EvidenceType::Choice(options) => format!("one of {}", names(options)),
        EvidenceType::Choices(options) => format!("any of {}", names(options)),
    }
}
