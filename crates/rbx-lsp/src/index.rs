//! Every place a name is defined or used in a procedure: what go to
//! definition, find references, rename and hover read.
//!
//! Names resolve as `rbx-check` resolves them: one namespace each for
//! stages, nodes, inputs, roles, links and outcomes; a path's first segment
//! is a loop variable in scope, else an input, else a node, and its second
//! segment a field (capture or evidence) of that node. A bare name that is
//! none of those is a value (`SEV0`, `failed`) and not indexed.

use std::path::PathBuf;

use rbx_check::Source;
use rbx_check::symbols::{Kind, Table};
use rbx_syntax::Span;
use rbx_syntax::ast::*;

/// What a name stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// A stage, node, input, role, link or outcome.
    Named(Kind, String),
    /// A field of a node: a capture of a step or the evidence of a manual
    /// step, as `node.field`.
    Field { node: String, field: String },
    /// A `foreach` variable, known only inside its loop (which `scope`, the
    /// start of the `foreach` in `source`, names).
    Loop {
        source: usize,
        scope: usize,
        name: String,
    },
    /// The file an `include` names.
    Include(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Occurrence {
    pub symbol: Symbol,
    pub source: usize,
    /// The name itself, never more, so that a rename replaces exactly it.
    pub span: Span,
    pub definition: bool,
}

/// The occurrences of one procedure, and where text and comments are, so
/// that a keyword's hover is not offered inside a command.
#[derive(Debug, Default)]
pub struct Index {
    pub occurrences: Vec<Occurrence>,
    /// Per source, the spans of its strings, text blocks and comments.
    pub prose: Vec<Vec<Span>>,
}

impl Index {
    pub fn build(sources: &[Source], table: &Table) -> Index {
        let mut walker = Walker {
            table,
            index: Index::default(),
            source: 0,
            scopes: Vec::new(),
            dir: PathBuf::new(),
        };
        for (source, file) in sources.iter().enumerate() {
            walker.index.prose.push(Vec::new());
            let Some(parsed) = &file.file else { continue };
            walker.source = source;
            walker.dir = file.path.parent().map(PathBuf::from).unwrap_or_default();
            walker.file(parsed);
        }
        walker.index
    }

    /// The occurrence whose name covers `offset` in `source` (its end
    /// included, where a cursor after the last letter sits).
    pub fn at(&self, source: usize, offset: usize) -> Option<&Occurrence> {
        self.occurrences
            .iter()
            .filter(|o| o.source == source && o.span.start <= offset && offset <= o.span.end)
            .min_by_key(|o| o.span.len())
    }

    pub fn all<'a>(&'a self, symbol: &'a Symbol) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.occurrences.iter().filter(move |o| &o.symbol == symbol)
    }

    pub fn in_prose(&self, source: usize, offset: usize) -> bool {
        self.prose.get(source).is_some_and(|spans| {
            spans
                .iter()
                .any(|span| span.start < offset && offset < span.end)
        })
    }
}

struct Walker<'t> {
    table: &'t Table,
    index: Index,
    source: usize,
    /// The `foreach` loops around the current item: (start, variable).
    scopes: Vec<(usize, String)>,
    /// The directory of the current source, which its includes are
    /// relative to.
    dir: PathBuf,
}

impl Walker<'_> {
    fn push(&mut self, symbol: Symbol, span: Span, definition: bool) {
        self.index.occurrences.push(Occurrence {
            symbol,
            source: self.source,
            span,
            definition,
        });
    }

    fn named(&mut self, kind: Kind, ident: &Ident, definition: bool) {
        self.push(
            Symbol::Named(kind, ident.name.clone()),
            ident.span,
            definition,
        );
    }

    fn prose(&mut self, span: Span) {
        if let Some(spans) = self.index.prose.get_mut(self.source) {
            spans.push(span);
        }
    }

    fn file(&mut self, file: &File) {
        for comment in &file.comments {
            self.prose(comment.span);
        }
        if let Some(header) = &file.header {
            self.text(&header.title);
        }
        for item in &file.items {
            self.item(&item.kind);
        }
    }

    fn item(&mut self, item: &ItemKind) {
        match item {
            ItemKind::Version(t) | ItemKind::Scope(t) | ItemKind::Policy(t) => self.text(t),
            ItemKind::Include(target) => {
                self.prose(target.span);
                if let Some(relative) = target.as_literal() {
                    let path = crate::uri::normalise(&self.dir.join(relative));
                    self.push(Symbol::Include(path), target.span, false);
                }
            }
            ItemKind::Input(input) => {
                self.named(Kind::Input, &input.name, true);
                self.optional_text(input.description.as_ref());
            }
            ItemKind::Role(role) => {
                self.named(Kind::Role, &role.id, true);
                self.text(&role.title);
                for field in role.fields.iter().flatten() {
                    self.text(&field.value);
                }
            }
            ItemKind::Link(link) => {
                self.named(Kind::Link, &link.id, true);
                self.text(&link.title);
                self.optional_text(link.target.as_ref());
            }
            ItemKind::Outcome(outcome) => {
                self.named(Kind::Outcome, &outcome.name, true);
                self.optional_text(outcome.description.as_ref());
            }
            ItemKind::Hook(hook) => self.text(&hook.command),
            ItemKind::Require(require) => self.require(require),
            ItemKind::On(route) => self.target(&route.target),
            ItemKind::Budget(budget) => {
                if let Limit::Deadline(e) = &budget.limit {
                    self.expr(e);
                }
                for stage in &budget.stages {
                    self.named(Kind::Stage, stage, false);
                }
            }
            ItemKind::Stage(stage) => {
                self.named(Kind::Stage, &stage.id, true);
                // A parameter is a name scoped to its stage, as a loop
                // variable is to its loop.
                let params = stage.params.as_deref().unwrap_or_default();
                for param in params {
                    let scope = (stage.id.span.start, param.name.name.clone());
                    self.push(self.loop_symbol(&scope), param.name.span, true);
                    self.scopes.push(scope);
                }
                self.text(&stage.title);
                self.stage_items(&stage.items);
                self.scopes.truncate(self.scopes.len() - params.len());
            }
            ItemKind::Finally(items) => self.stage_items(items),
        }
    }

    fn stage_items(&mut self, items: &[StageItem]) {
        for item in items {
            match &item.kind {
                StageItemKind::Require(require) => self.require(require),
                StageItemKind::On(route) => self.target(&route.target),
                StageItemKind::Then(stage) => self.named(Kind::Stage, stage, false),
                StageItemKind::End(outcome) => self.named(Kind::Outcome, outcome, false),
                StageItemKind::Block(block) => self.block(block),
                StageItemKind::Anchor(anchor) => {
                    self.named(Kind::Node, &anchor.id, true);
                    self.text(&anchor.title);
                    if let Some(at) = &anchor.at {
                        self.expr(at);
                    }
                }
                StageItemKind::Foreach(foreach) => {
                    self.path(&foreach.list);
                    for e in foreach.condition.iter().chain(&foreach.parallel_expr) {
                        self.expr(e);
                    }
                    let scope = (item.span.start, foreach.var.name.clone());
                    self.push(self.loop_symbol(&scope), foreach.var.span, true);
                    self.scopes.push(scope);
                    self.stage_items(&foreach.items);
                    self.scopes.pop();
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
                StageItemKind::Checklist(list) => {
                    self.named(Kind::Node, &list.id, true);
                    self.text(&list.title);
                    self.stage_items(&list.items);
                }
                StageItemKind::Again(again) => {
                    self.named(Kind::Stage, &again.stage, false);
                    if let Some(condition) = &again.condition {
                        self.expr(condition);
                    }
                    for route in &again.routes {
                        self.target(&route.route.target);
                    }
                }
                StageItemKind::Call(call) => {
                    self.named(Kind::Stage, &call.stage, false);
                    for arg in &call.args {
                        self.argument(&call.stage.name, &arg.name);
                        self.expr(&arg.value);
                    }
                    if let Some(condition) = &call.condition {
                        self.expr(condition);
                    }
                    for route in &call.routes {
                        self.target(&route.route.target);
                    }
                }
            }
        }
    }

    /// An argument's name is a use of the parameter it gives: the name
    /// scoped to the called stage, where the stage is defined.
    fn argument(&mut self, stage: &str, name: &Ident) {
        let Some(def) = self.table.defined.get(&(Kind::Stage, stage.to_string())) else {
            return;
        };
        let declared = self
            .table
            .params
            .get(stage)
            .is_some_and(|params| params.iter().any(|p| p.name.name == name.name));
        if declared {
            let symbol = Symbol::Loop {
                source: def.source,
                scope: def.span.start,
                name: name.name.clone(),
            };
            self.push(symbol, name.span, false);
        }
    }

    fn loop_symbol(&self, (scope, name): &(usize, String)) -> Symbol {
        Symbol::Loop {
            source: self.source,
            scope: *scope,
            name: name.clone(),
        }
    }

    fn block(&mut self, block: &Block) {
        self.named(Kind::Node, &block.id, true);
        self.text(&block.title);
        for stmt in &block.body {
            self.stmt(&block.id.name, &stmt.kind);
        }
    }

    fn field(&mut self, node: &str, name: &Ident) {
        let symbol = Symbol::Field {
            node: node.to_string(),
            field: name.name.clone(),
        };
        self.push(symbol, name.span, true);
    }

    fn stmt(&mut self, node: &str, stmt: &StmtKind) {
        match stmt {
            StmtKind::Owner(role) => self.named(Kind::Role, role, false),
            StmtKind::Assign { role, evidence } => {
                self.named(Kind::Role, role, false);
                let symbol = Symbol::Field {
                    node: node.to_string(),
                    field: evidence.name.clone(),
                };
                self.push(symbol, evidence.span, false);
            }
            StmtKind::Require(require) => self.require(require),
            StmtKind::On(route) => self.target(&route.target),
            StmtKind::Run(t) | StmtKind::Verify(t) | StmtKind::Instructions(t) => self.text(t),
            StmtKind::Irreversible(reason) => self.optional_text(reason.as_ref()),
            StmtKind::Capture(capture) => {
                self.field(node, &capture.name);
                if let CaptureSource::Json(path) = &capture.source {
                    self.text(path);
                }
            }
            StmtKind::Evidence(evidence) => {
                self.field(node, &evidence.name);
                self.text(&evidence.prompt);
            }
            StmtKind::Attest { role, statement } => {
                self.named(Kind::Role, role, false);
                self.text(statement);
            }
            StmtKind::By(roles) => {
                for role in roles {
                    self.named(Kind::Role, role, false);
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
            StmtKind::Until(condition)
            | StmtKind::Condition(condition)
            | StmtKind::TimeoutExpr(condition) => self.expr(condition),
            StmtKind::ChildInput(arg) => self.expr(&arg.value),
            StmtKind::Runbook(path) => self.prose(path.span),
            StmtKind::ExpectStream(expect) => self.prose(expect.regex.span),
            StmtKind::Timeout(_)
            | StmtKind::Retry(_)
            | StmtKind::ExpectExit(_)
            | StmtKind::Keep(_)
            | StmtKind::Idempotent
            | StmtKind::Acknowledge
            | StmtKind::Approvers(_)
            | StmtKind::NoSelfApproval
            | StmtKind::Every(_) => {}
        }
    }

    fn require(&mut self, require: &Require) {
        match require {
            Require::Role(role) => self.named(Kind::Role, role, false),
            Require::Link(link) => self.named(Kind::Link, link, false),
            Require::Expr(e) => self.expr(e),
        }
    }

    fn target(&mut self, target: &Target) {
        match &target.kind {
            TargetKind::Stage(stage) => self.named(Kind::Stage, stage, false),
            TargetKind::End(outcome) => self.named(Kind::Outcome, outcome, false),
            TargetKind::Continue => {}
        }
    }

    fn optional_text(&mut self, text: Option<&Text>) {
        if let Some(text) = text {
            self.text(text);
        }
    }

    fn text(&mut self, text: &Text) {
        self.prose(text.span);
        for path in text.interpolations() {
            self.path(path);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Or(operands) | ExprKind::And(operands) => {
                operands.iter().for_each(|operand| self.expr(operand));
            }
            ExprKind::Not(inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Compare { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Sum { first, rest } => {
                self.expr(first);
                rest.iter().for_each(|(_, operand)| self.expr(operand));
            }
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Path(path) => self.path(path),
            ExprKind::String(t) => self.text(t),
            ExprKind::Regex(regex) => self.prose(regex.span),
            ExprKind::List(items) | ExprKind::Default(items) | ExprKind::Product(items) => {
                items.iter().for_each(|item| self.expr(item));
            }
            ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_) => {}
        }
    }

    /// `filled(role)` and `set(link)` name a role and a link.
    fn call(&mut self, name: &Ident, args: &[Expr]) {
        let kind = match name.name.as_str() {
            "filled" => Some(Kind::Role),
            "set" => Some(Kind::Link),
            _ => None,
        };
        for arg in args {
            match (&arg.kind, kind) {
                (ExprKind::Path(path), Some(kind)) if path.segments.len() == 1 => {
                    self.named(kind, &path.segments[0], false);
                }
                _ => self.expr(arg),
            }
        }
    }

    fn path(&mut self, path: &Path) {
        let Some(head) = path.segments.first() else {
            return;
        };
        if let Some(scope) = self
            .scopes
            .iter()
            .rev()
            .find(|(_, name)| *name == head.name)
        {
            let symbol = self.loop_symbol(&scope.clone());
            self.push(symbol, head.span, false);
        } else if self.table.is_defined(Kind::Input, &head.name) {
            self.named(Kind::Input, head, false);
        } else if self.table.is_defined(Kind::Node, &head.name) {
            self.named(Kind::Node, head, false);
            if let Some(field) = path.segments.get(1) {
                let symbol = Symbol::Field {
                    node: head.name.clone(),
                    field: field.name.clone(),
                };
                self.push(symbol, field.span, false);
            }
        }
    }
}
