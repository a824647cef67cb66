//! Names: every definition once, every reference to something defined.

use std::collections::BTreeSet;

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::*;

use crate::regexes::{self, Reads};
use crate::symbols::{Definition, Kind, Table};
use crate::{Finding, Source};

const FUNCTIONS: [&str; 11] = [
    "contains",
    "count",
    "filled",
    "hour",
    "len",
    "minute",
    "now",
    "set",
    "timestamp",
    "version",
    "weekday",
];

pub fn resolve(sources: &[Source], table: &Table) -> Vec<Finding> {
    let mut resolver = Resolver {
        table,
        findings: Vec::new(),
        source: 0,
        scopes: Vec::new(),
        params: Vec::new(),
        used_params: BTreeSet::new(),
        used_inputs: BTreeSet::new(),
        used_fields: BTreeSet::new(),
        used_people: BTreeSet::new(),
        regexes: regexes::Checked::default(),
    };
    for (index, source) in sources.iter().enumerate() {
        if let Some(file) = &source.file {
            resolver.source = index;
            resolver.check_file(file);
        }
    }
    resolver.unused_inputs();
    resolver.unused_roles_and_links(sources);
    resolver.unused_captures();
    resolver.findings
}

struct Resolver<'t> {
    table: &'t Table,
    findings: Vec<Finding>,
    source: usize,
    /// Loop variables of the `foreach` blocks around the current node.
    scopes: Vec<String>,
    /// The parameters of the stage being resolved, when it has them.
    params: Vec<String>,
    /// The parameters of the current stage something reads.
    used_params: BTreeSet<String>,
    used_inputs: BTreeSet<String>,
    /// `(node, field)` pairs some path reads.
    used_fields: BTreeSet<(String, String)>,
    /// Roles and links something names: an owner, a signer, a `require`,
    /// `filled()` or `set()`.
    used_people: BTreeSet<(Kind, String)>,
    /// The regex literals read so far, each pattern parsed once.
    regexes: regexes::Checked,
}

impl Resolver<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
    }

    // -------------------------------------------------------- references --

    fn is_defined(&self, kind: Kind, name: &str) -> bool {
        self.table.is_defined(kind, name)
    }

    fn expect_defined(&mut self, kind: Kind, ident: &Ident) {
        if kind == Kind::Input {
            self.used_inputs.insert(ident.name.clone());
        }
        if matches!(kind, Kind::Role | Kind::Link) {
            self.used_people.insert((kind, ident.name.clone()));
        }
        if self.is_defined(kind, &ident.name) {
            return;
        }
        let candidates: Vec<String> = self.table.names(kind).map(str::to_string).collect();
        let mut diagnostic = Diagnostic::error(
            "rbx::lint::unknown_reference",
            format!("no {} named `{}`", kind.noun(), ident.name),
        )
        .primary(
            ident.span,
            format!("not a {} of this procedure", kind.noun()),
        );
        diagnostic = match closest(&ident.name, candidates.iter().map(String::as_str)) {
            Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
            None => diagnostic.help(format!(
                "define it with `{} {} ...`, or fix the name",
                kind.noun(),
                ident.name
            )),
        };
        self.report(diagnostic);
    }

    fn check_file(&mut self, file: &File) {
        if let Some(header) = &file.header {
            self.text(&header.title);
        }
        for item in &file.items {
            match &item.kind {
                ItemKind::Version(t) | ItemKind::Scope(t) | ItemKind::Policy(t) => self.text(t),
                ItemKind::Include(_) | ItemKind::Link(_) => {}
                ItemKind::Outcome(outcome) => {
                    if let Some(description) = &outcome.description {
                        self.text(description);
                    }
                }
                ItemKind::Input(input) => {
                    if let Some(description) = &input.description {
                        self.text(description);
                    }
                }
                ItemKind::Role(role) => self.text(&role.title),
                ItemKind::Hook(hook) => self.text(&hook.command),
                ItemKind::Require(require) => self.require(require),
                ItemKind::On(route) => self.target(&route.target),
                ItemKind::Budget(budget) => {
                    if let Limit::Deadline(e) = &budget.limit {
                        self.expr(e);
                    }
                    for stage in &budget.stages {
                        self.expect_defined(Kind::Stage, stage);
                    }
                }
                ItemKind::Stage(stage) => {
                    self.params = stage
                        .params
                        .iter()
                        .flatten()
                        .map(|p| p.name.name.clone())
                        .collect();
                    self.used_params.clear();
                    self.text(&stage.title);
                    self.stage_items(&stage.items);
                    self.unused_params(stage);
                    self.params.clear();
                }
                ItemKind::Finally(items) => self.stage_items(items),
            }
        }
    }

    fn stage_items(&mut self, items: &[StageItem]) {
        for item in items {
            match &item.kind {
                StageItemKind::Require(require) => self.require(require),
                StageItemKind::On(route) => self.target(&route.target),
                StageItemKind::Then(stage) => self.expect_defined(Kind::Stage, stage),
                StageItemKind::End(_) => {}
                StageItemKind::Anchor(anchor) => {
                    self.text(&anchor.title);
                    if let Some(at) = &anchor.at {
                        self.expr(at);
                    }
                }
                StageItemKind::Again(again) => {
                    self.expect_defined(Kind::Stage, &again.stage);
                    if let Some(condition) = &again.condition {
                        self.expr(condition);
                    }
                    for route in &again.routes {
                        self.target(&route.route.target);
                    }
                }
                StageItemKind::Parallel(parallel) => {
                    for e in parallel.condition.iter().chain(&parallel.at_once_expr) {
                        self.expr(e);
                    }
                    self.stage_items(&parallel.items);
                }
                StageItemKind::Repeat(repeat) => {
                    self.stage_items(&repeat.items);
                    self.expr(&repeat.until);
                }
                StageItemKind::Every(every) => {
                    self.expr(&every.interval);
                    self.stage_items(&every.items);
                }
                StageItemKind::Finally(items) => self.stage_items(items),
                StageItemKind::Call(call) => {
                    self.expect_defined(Kind::Stage, &call.stage);
                    for arg in &call.args {
                        // A bare name given to an enum parameter is one of
                        // its values; the type check says when it is not.
                        if !self.enum_value(&call.stage.name, arg) {
                            self.expr(&arg.value);
                        }
                    }
                    if let Some(condition) = &call.condition {
                        self.expr(condition);
                    }
                    for route in &call.routes {
                        self.target(&route.route.target);
                    }
                }
                StageItemKind::Checklist(list) => {
                    self.text(&list.title);
                    self.stage_items(&list.items);
                }
                StageItemKind::Foreach(foreach) => {
                    self.path(&foreach.list);
                    for e in foreach.condition.iter().chain(&foreach.parallel_expr) {
                        self.expr(e);
                    }
                    self.scopes.push(foreach.var.name.clone());
                    self.stage_items(&foreach.items);
                    self.scopes.pop();
                }
                StageItemKind::Block(block) => {
                    self.text(&block.title);
                    for stmt in &block.body {
                        self.stmt(&stmt.kind);
                    }
                }
            }
        }
    }

    fn stmt(&mut self, stmt: &StmtKind) {
        match stmt {
            StmtKind::Owner(role) | StmtKind::Assign { role, .. } => {
                self.expect_defined(Kind::Role, role)
            }
            StmtKind::Require(require) => self.require(require),
            StmtKind::On(route) => self.target(&route.target),
            StmtKind::Run(t) | StmtKind::Verify(t) | StmtKind::Instructions(t) => self.text(t),
            StmtKind::Irreversible(Some(t)) => self.text(t),
            StmtKind::Evidence(evidence) => self.text(&evidence.prompt),
            StmtKind::Attest { role, statement } => {
                self.expect_defined(Kind::Role, role);
                self.text(statement);
            }
            StmtKind::By(roles) => {
                for role in roles {
                    self.expect_defined(Kind::Role, role);
                }
            }
            StmtKind::When { condition, target } => {
                self.expr(condition);
                self.target(target);
            }
            StmtKind::Otherwise(target) => self.target(target),
            StmtKind::Option(option) => {
                self.text(&option.description);
                self.target(&option.target);
            }
            StmtKind::ChildInput(arg) => self.expr(&arg.value),
            StmtKind::Until(condition)
            | StmtKind::Condition(condition)
            | StmtKind::TimeoutExpr(condition) => self.expr(condition),
            StmtKind::ExpectStream(expect) => self.regex(&expect.regex, Reads::Stream),
            StmtKind::Capture(Capture {
                source: CaptureSource::Regex(re),
                ..
            }) => self.regex(re, Reads::Stream),
            StmtKind::Timeout(_)
            | StmtKind::Retry(_)
            | StmtKind::ExpectExit(_)
            | StmtKind::Capture(_)
            | StmtKind::Keep(_)
            | StmtKind::Idempotent
            | StmtKind::Acknowledge
            | StmtKind::Irreversible(None)
            | StmtKind::Approvers(_)
            | StmtKind::NoSelfApproval
            | StmtKind::Runbook(_)
            | StmtKind::Every(_) => {}
        }
    }

    fn require(&mut self, require: &Require) {
        match require {
            Require::Role(role) => self.expect_defined(Kind::Role, role),
            Require::Link(link) => self.expect_defined(Kind::Link, link),
            Require::Expr(e) => self.expr(e),
        }
    }

    fn target(&mut self, target: &Target) {
        if let TargetKind::Stage(stage) = &target.kind {
            self.expect_defined(Kind::Stage, stage);
        }
    }

    fn text(&mut self, text: &Text) {
        for path in text.interpolations() {
            self.path(path);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Or(operands) | ExprKind::And(operands) => {
                for operand in operands {
                    self.expr(operand);
                }
            }
            ExprKind::Not(inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Compare { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Sum { first, rest } => {
                self.expr(first);
                for (_, operand) in rest {
                    self.expr(operand);
                }
            }
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Path(path) => self.value_path(path),
            ExprKind::String(t) => self.text(t),
            ExprKind::List(items) | ExprKind::Default(items) | ExprKind::Product(items) => {
                for item in items {
                    self.expr(item);
                }
            }
            ExprKind::Regex(re) => self.regex(re, Reads::Value),
            ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) => {}
        }
    }

    /// A regex literal the engine could not compile, reported.
    fn regex(&mut self, re: &Regex, reads: Reads) {
        if let Some(diagnostic) = self.regexes.check(re, reads) {
            self.report(diagnostic);
        }
    }

    fn call(&mut self, name: &Ident, args: &[Expr]) {
        let single_name = |args: &[Expr]| match args {
            [
                Expr {
                    kind: ExprKind::Path(path),
                    ..
                },
            ] if path.segments.len() == 1 => Some(path.segments[0].clone()),
            _ => None,
        };
        match name.name.as_str() {
            "filled" | "set" => {
                let kind = if name.name == "filled" {
                    Kind::Role
                } else {
                    Kind::Link
                };
                match single_name(args) {
                    Some(ident) => self.expect_defined(kind, &ident),
                    None => self.report(
                        Diagnostic::error(
                            "rbx::lint::bad_call",
                            format!("`{}` takes the name of one {}", name.name, kind.noun()),
                        )
                        .primary(name.span, "called with something else")
                        .help(format!(
                            "write `{}(some_{})`",
                            name.name,
                            kind.noun()
                        )),
                    ),
                }
            }
            "count" => {
                if args.len() != 2 {
                    self.report(
                        Diagnostic::error(
                            "rbx::lint::bad_call",
                            "`count` takes a condition and a time window",
                        )
                        .primary(name.span, format!("called with {} argument(s)", args.len()))
                        .help("write `count(severity == SEV1, 24h)`"),
                    );
                }
                for arg in args {
                    self.expr(arg);
                }
            }
            "len" | "contains" | "version" | "now" | "timestamp" | "weekday" | "hour"
            | "minute" => {
                let (wanted, example) = match name.name.as_str() {
                    "len" => (1, "`len(hosts)`"),
                    "contains" => (2, "`contains([SEV0, SEV1], severity)`"),
                    "now" => (0, "`now() < release - 30m`"),
                    "timestamp" => (1, "`timestamp(\"2026-12-07T18:00:00Z\")`"),
                    "weekday" => (
                        2,
                        "`contains([sat, sun], weekday(now(), \"Europe/Berlin\"))`",
                    ),
                    "hour" => (2, "`hour(now(), \"Europe/Berlin\") < 17`"),
                    "minute" => (2, "`minute(now(), \"UTC\") < 30`"),
                    _ => (1, "`version(deploy.build) >= version(\"1.28\")`"),
                };
                if args.len() != wanted {
                    self.report(
                        Diagnostic::error(
                            "rbx::lint::bad_call",
                            format!(
                                "`{}` takes {wanted} argument{}",
                                name.name,
                                if wanted == 1 { "" } else { "s" }
                            ),
                        )
                        .primary(name.span, format!("called with {} argument(s)", args.len()))
                        .help(format!("write {example}")),
                    );
                }
                for arg in args {
                    self.expr(arg);
                }
            }
            _ => {
                let help = match closest(&name.name, FUNCTIONS.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the functions are {}", FUNCTIONS.join(", ")),
                };
                self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_function",
                        format!("no function named `{}`", name.name),
                    )
                    .primary(name.span, "not a function rbx knows")
                    .help(help),
                );
            }
        }
    }

    /// A path in an expression may also be a bare value: `SEV0`, `prod`.
    fn value_path(&mut self, path: &Path) {
        if let [single] = path.segments.as_slice() {
            if self.table.values.contains(&single.name) && !self.names_something(&single.name) {
                return;
            }
        }
        self.path(path);
    }

    /// Whether `arg` is a bare name, naming nothing else, given to an
    /// enum parameter of `stage`.
    fn enum_value(&self, stage: &str, arg: &Arg) -> bool {
        let ExprKind::Path(path) = &arg.value.kind else {
            return false;
        };
        let [single] = path.segments.as_slice() else {
            return false;
        };
        let is_enum = self.table.params.get(stage).is_some_and(|params| {
            params.iter().any(|p| {
                p.name.name == arg.name.name && matches!(p.ty.kind, InputTypeKind::Enum(_))
            })
        });
        is_enum && !self.names_something(&single.name)
    }

    fn names_something(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s == name)
            || self.params.iter().any(|p| p == name)
            || self.is_defined(Kind::Input, name)
            || self.is_defined(Kind::Node, name)
    }

    /// `input`, `loop_var`, `node` or `node.field`.
    fn path(&mut self, path: &Path) {
        let Some(head) = path.segments.first() else {
            return;
        };
        if self.scopes.contains(&head.name) {
            match path.segments.get(1) {
                None => {}
                Some(field) if field.name == "index" && path.segments.len() == 2 => {}
                Some(field) => self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_field",
                        format!(
                            "the loop variable `{}` has no field `{}`",
                            head.name, field.name
                        ),
                    )
                    .primary(field.span, "a loop variable has one field, `index`")
                    .help(format!(
                        "write `{}` for the item, or `{}.index` for its place in the list (from 0)",
                        head.name, head.name
                    )),
                ),
            }
            return;
        }
        if self.params.contains(&head.name) {
            self.used_params.insert(head.name.clone());
            if let Some(field) = path.segments.get(1) {
                self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_field",
                        format!("the parameter `{}` has no fields", head.name),
                    )
                    .primary(field.span, "a parameter is a plain value, as an input is")
                    .help(format!("write `{}` alone", head.name)),
                );
            }
            return;
        }
        let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        if crate::symbols::is_run_field(&names) && !self.is_defined(Kind::Input, "run") {
            return;
        }
        if self.is_defined(Kind::Input, &head.name) {
            self.used_inputs.insert(head.name.clone());
            if let Some(extra) = path.segments.get(1) {
                self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_field",
                        format!("the input `{}` has no fields", head.name),
                    )
                    .primary(extra.span, "inputs are plain values")
                    .help(format!("write `{}` alone", head.name)),
                );
            }
            return;
        }
        if self.is_defined(Kind::Node, &head.name) {
            let Some(field) = path.segments.get(1) else {
                return;
            };
            let known: Vec<String> = self
                .table
                .nodes
                .get(&head.name)
                .map(|node| node.fields.keys().cloned().collect())
                .unwrap_or_default();
            self.used_fields
                .insert((head.name.clone(), field.name.clone()));
            if !known.contains(&field.name) || path.segments.len() > 2 {
                let help = match closest(&field.name, known.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{}.{best}`?", head.name),
                    None => format!("`{}` has: {}", head.name, known.join(", ")),
                };
                self.report(
                    Diagnostic::error(
                        "rbx::lint::unknown_field",
                        format!("`{}` has no field `{}`", head.name, field.name),
                    )
                    .primary(field.span, "not captured or recorded by that node")
                    .help(help),
                );
            }
            return;
        }
        let mut candidates: Vec<String> = self
            .table
            .names(Kind::Input)
            .chain(self.table.names(Kind::Node))
            .map(str::to_string)
            .collect();
        candidates.extend(self.scopes.iter().cloned());
        candidates.extend(self.params.iter().cloned());
        if path.segments.len() == 1 {
            // A misspelt value (`SEV9` for `SEV0`) is as likely as a name.
            candidates.extend(self.table.values.iter().cloned());
        }
        let help = match closest(&head.name, candidates.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "names here are inputs, loop variables, ids of earlier nodes, or the \
                     values of an enum or a choice"
                .to_string(),
        };
        self.report(
            Diagnostic::error(
                "rbx::lint::unknown_reference",
                format!("nothing named `{}` is in scope", head.name),
            )
            .primary(head.span, "not an input, loop variable or node")
            .help(help),
        );
    }

    /// A parameter nothing in its stage reads: every call must still give
    /// it, for nothing.
    fn unused_params(&mut self, stage: &Stage) {
        for param in stage.params.iter().flatten() {
            if self.used_params.contains(&param.name.name) {
                continue;
            }
            self.report(
                Diagnostic::warning(
                    "rbx::lint::unused_param",
                    format!("the parameter `{}` is never used", param.name.name),
                )
                .primary(param.name.span, "nothing in the stage reads it")
                .help("use it in the stage (`{{ NAME }}` in a command, or in a condition), or remove it and its arguments"),
            );
        }
    }

    fn unused_captures(&mut self) {
        for ((node, name), def) in &self.table.captures {
            if self.used_fields.contains(&(node.clone(), name.clone())) {
                continue;
            }
            self.findings.push(Finding {
                source: def.source,
                diagnostic: Diagnostic::warning(
                    "rbx::lint::unused_capture",
                    format!("`{node}.{name}` is captured but never used"),
                )
                .primary(def.span, "captured here, read nowhere")
                .help(format!(
                    "use `{{{{ {node}.{name} }}}}` in a later command or condition, or keep the \
                     output as evidence with `keep stdout` instead"
                )),
            });
        }
    }

    /// A role nothing names (no owner, signer, attestation, `require role`
    /// or `filled()`), and a link that has no target and that nothing
    /// requires or tests with `set()`: each is written for nothing.
    fn unused_roles_and_links(&mut self, sources: &[Source]) {
        for (index, source) in sources.iter().enumerate() {
            for item in source.file.iter().flat_map(|f| &f.items) {
                let (kind, id, code, help) = match &item.kind {
                    ItemKind::Role(role) => (
                        Kind::Role,
                        &role.id,
                        "rbx::lint::unused_role",
                        "name it as a step's `owner`, in `by` or `attest`, or `require role` it; \
                         or remove it",
                    ),
                    ItemKind::Link(link) if link.target.is_none() => (
                        Kind::Link,
                        &link.id,
                        "rbx::lint::unused_link",
                        "give it a target (`= \"https://…\"`) to show in the report, or \
                         `require link` it so a run cannot start without one; or remove it",
                    ),
                    _ => continue,
                };
                if self.used_people.contains(&(kind, id.name.clone())) {
                    continue;
                }
                let what = if kind == Kind::Role {
                    format!("the role `{}` is never named", id.name)
                } else {
                    format!(
                        "the link `{}` has no target and nothing requires it",
                        id.name
                    )
                };
                self.findings.push(Finding {
                    source: index,
                    diagnostic: Diagnostic::warning(code, what)
                        .primary(id.span, "declared here, used nowhere")
                        .help(help),
                });
            }
        }
    }

    fn unused_inputs(&mut self) {
        let mut unused: Vec<(String, Definition)> = self
            .table
            .defined
            .iter()
            .filter(|((kind, name), _)| *kind == Kind::Input && !self.used_inputs.contains(name))
            .map(|((_, name), def)| (name.clone(), *def))
            .collect();
        unused.sort_by_key(|(_, def)| (def.source, def.span.start));
        for (name, def) in unused {
            self.findings.push(Finding {
                source: def.source,
                diagnostic: Diagnostic::warning(
                    "rbx::lint::unused_input",
                    format!("the input `{name}` is never used"),
                )
                .primary(def.span, "declared here, used nowhere")
                .help("use it in a command or condition, or remove it"),
            });
        }
    }
}

/// The candidate most like `name`, if any is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= 2.min(c.len() / 3).max(1))
        .min_by_key(|(distance, c)| (*distance, *c))
        .map(|(_, c)| c)
}
