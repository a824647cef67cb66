//! Types: every condition is a bool, every comparison and sum puts like with
//! like, a bare value belongs to the set it is compared with, secrets stay
//! out of expressions, and every input default fits its declared type.
//!
//! Names are resolve's business. A name resolve could not find has the type
//! `Unknown` here, which fits everywhere, so one mistake is reported once.
//! The same goes for an operand that already had a type error: its result is
//! `Unknown`, so the expression around it does not report it again.

use std::collections::BTreeSet;

use rbx_syntax::ast::*;
use rbx_syntax::{Diagnostic, Span};

use crate::resolve::closest;
use crate::symbols::{FieldType, NodeKind, STATUSES, Table};
use crate::{Finding, Source};

mod at_once;
mod call;
mod child;
mod data;
mod every;
mod retry;
mod time;

const TYPE_MISMATCH: &str = "rbx::lint::type_mismatch";
const NOT_BOOLEAN: &str = "rbx::lint::not_boolean";
const UNKNOWN_VALUE: &str = "rbx::lint::unknown_value";
const SECRET_IN_EXPRESSION: &str = "rbx::lint::secret_in_expression";

/// Checks the type of every expression and input default in `sources`.
pub fn check(sources: &[Source], table: &Table) -> Vec<Finding> {
    let mut checker = Checker {
        table,
        findings: Vec::new(),
        source: 0,
        text: "",
        scopes: Vec::new(),
        declared: Vec::new(),
    };
    for (index, source) in sources.iter().enumerate() {
        if let Some(file) = &source.file {
            checker.source = index;
            checker.text = &source.text;
            checker.file(file);
        }
    }
    checker.findings
}

/// The type of an expression.
#[derive(Debug, Clone)]
enum Type {
    String,
    Int,
    Bool,
    Duration,
    /// The time an anchor was reached.
    Timestamp,
    /// One of a closed set of names: an enum input's values, a choice's
    /// options, a node's statuses.
    Set(Set),
    /// A list whose items have the type inside; `Unknown` for `[]`.
    List(Box<Type>),
    /// `version("1.28.3")`: ordered as a version, not as text.
    Version,
    /// Only ever seen while looking a name up: using a secret in an
    /// expression is reported, and the expression goes on as `Unknown`.
    Secret,
    /// A bare name that stands for itself, such as `SEV0`. Which set it
    /// belongs to depends on what it is compared with.
    Name(String),
    /// The bare id of a node that has no value of its own (a step, a gate).
    /// Like `Secret`, it is reported where it is used and goes no further.
    Node {
        kind: &'static str,
        id: String,
    },
    /// Not known: see the module documentation.
    Unknown,
}

#[derive(Debug, Clone)]
struct Set {
    /// One member, for messages: "an option of `severity`".
    member: String,
    /// All of them, for help that lists them: "the options of `severity`".
    members: String,
    values: Vec<String>,
}

impl Set {
    fn of(noun: &str, plural: &str, owner: &str, values: Vec<String>) -> Self {
        let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        Set {
            member: format!("{article} {noun} of `{owner}`"),
            members: format!("the {plural} of `{owner}`"),
            values,
        }
    }

    fn status() -> Self {
        Set {
            member: "a status".to_string(),
            members: "the statuses".to_string(),
            values: STATUSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// "the options of `severity` are SEV0, SEV1, SEV2".
    fn listing(&self) -> String {
        if self.values.is_empty() {
            format!("{} are not declared", self.members)
        } else {
            format!("{} are {}", self.members, self.values.join(", "))
        }
    }

    /// The listing, after "did you mean `SEV1`?" when `name` looks like a
    /// typo of a member.
    fn help_for(&self, name: &str) -> String {
        match closest(name, self.values.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`? {}", self.listing()),
            None => self.listing(),
        }
    }
}

impl Type {
    fn noun(&self) -> String {
        match self {
            Type::String => "a string".to_string(),
            Type::Int => "an int".to_string(),
            Type::Bool => "a bool".to_string(),
            Type::Duration => "a duration".to_string(),
            Type::Timestamp => "a timestamp".to_string(),
            Type::Set(set) => set.member.clone(),
            Type::List(item) => format!("a list of {}", item.plural()),
            Type::Version => "a version".to_string(),
            Type::Secret => "a secret".to_string(),
            Type::Name(name) => format!("the bare name `{name}`"),
            Type::Node { kind, id } => format!("the {kind} `{id}`"),
            Type::Unknown => "a value of unknown type".to_string(),
        }
    }

    /// The items of a list of these, for "a list of ints".
    fn plural(&self) -> String {
        match self {
            Type::String => "strings".to_string(),
            Type::Int => "ints".to_string(),
            Type::Bool => "bools".to_string(),
            Type::Duration => "durations".to_string(),
            Type::Timestamp => "timestamps".to_string(),
            Type::Version => "versions".to_string(),
            Type::Set(set) => set.members.clone(),
            Type::Name(name) => format!("names such as `{name}`"),
            Type::List(item) => format!("lists of {}", item.plural()),
            Type::Secret | Type::Node { .. } | Type::Unknown => "values".to_string(),
        }
    }

    /// Whether `<`, `<=`, `>` and `>=` can compare two of these.
    fn is_ordered(&self) -> bool {
        matches!(
            self,
            Type::Int | Type::Duration | Type::Timestamp | Type::Version
        )
    }

    /// Whether two values can be compared with `==`. Sets are the same type
    /// when they hold the same names, wherever they were declared: an enum
    /// input and a choice with the same options can be compared.
    fn same_as(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Set(a), Type::Set(b)) => {
                a.values.iter().collect::<BTreeSet<_>>() == b.values.iter().collect()
            }
            (Type::List(a), Type::List(b)) => a.fits(b),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Type {
    /// Whether values of the two types can stand in one list, one default
    /// chain or one comparison: `same_as`, where an unknown type or a bare
    /// name (`[SEV0, SEV1]`, whose set is known only from what it meets)
    /// fits a set or another name.
    fn fits(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (Type::Name(_), Type::Name(_) | Type::Set(_)) | (Type::Set(_), Type::Name(_)) => true,
            _ => self.same_as(other),
        }
    }
}

fn scalar(ty: ScalarType) -> Type {
    match ty {
        ScalarType::String | ScalarType::Host | ScalarType::Command => Type::String,
        ScalarType::Int => Type::Int,
        ScalarType::Bool => Type::Bool,
        ScalarType::Duration => Type::Duration,
        ScalarType::Timestamp => Type::Timestamp,
        ScalarType::Secret => Type::Secret,
    }
}

fn input_type(name: &str, ty: &InputTypeKind) -> Type {
    match ty {
        InputTypeKind::Scalar(ty) => scalar(*ty),
        InputTypeKind::Enum(values) => Type::Set(Set::of(
            "value",
            "values",
            name,
            values.iter().map(|v| v.name.clone()).collect(),
        )),
        InputTypeKind::List(item) => Type::List(Box::new(scalar(*item))),
    }
}

/// A literal or a bare name: when it meets a typed operand that does not
/// fit, the literal is the likelier mistake.
fn is_literal(e: &Expr, ty: &Type) -> bool {
    matches!(
        e.kind,
        ExprKind::String(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(_)
    ) || matches!(ty, Type::Name(_))
}

struct Checker<'t> {
    table: &'t Table,
    findings: Vec<Finding>,
    source: usize,
    /// The text of the current source, quoted back in help.
    text: &'t str,
    /// Loop variables of the `foreach` blocks around the current node, each
    /// with the type of its list's items.
    scopes: Vec<(String, Type)>,
    /// The scalar type each loop variable and parameter in scope was
    /// declared with, when it has one (for `host`, `command`, `secret`).
    declared: Vec<(String, Option<ScalarType>)>,
}

impl Checker<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.findings.push(Finding {
            source: self.source,
            diagnostic,
        });
    }

    /// Something a bare value can be compared with, for examples in help:
    /// the first (by name) enum input, choice or evidence choice that has
    /// it, or a status. The table keeps the names of values but not which
    /// sets they came from, so this looks through the inputs and nodes.
    fn holder_of(&self, value: &str) -> String {
        let has = |values: &[Ident]| values.iter().any(|v| v.name == value);
        let inputs = self.table.inputs.iter().filter_map(|(name, ty)| match ty {
            InputTypeKind::Enum(values) if has(values) => Some(name.clone()),
            _ => None,
        });
        let nodes = self.table.nodes.iter().flat_map(|(id, node)| {
            let option = node.options.iter().any(|o| o == value).then(|| id.clone());
            let evidence = node.fields.iter().filter_map(move |(field, ty)| match ty {
                FieldType::Evidence(EvidenceType::Choice(values)) if has(values) => {
                    Some(format!("{id}.{field}"))
                }
                _ => None,
            });
            option.into_iter().chain(evidence)
        });
        inputs
            .chain(nodes)
            .min()
            .unwrap_or_else(|| "some_step.status".to_string())
    }

    /// The source text of `span` on one line, for examples in help.
    fn code(&self, span: Span) -> String {
        match self.text.get(span.range()) {
            Some(text) => text.split_whitespace().collect::<Vec<_>>().join(" "),
            None => "it".to_string(),
        }
    }

    // ------------------------------------------------------------ places --

    fn file(&mut self, file: &File) {
        for item in &file.items {
            match &item.kind {
                ItemKind::Input(input) => self.input_default(input),
                ItemKind::Require(require) => self.require(require),
                ItemKind::Stage(stage) => self.stage(stage),
                ItemKind::Budget(budget) => self.deadline(budget),
                ItemKind::Finally(items) => self.stage_items(items),
                ItemKind::Version(_)
                | ItemKind::Scope(_)
                | ItemKind::Policy(_)
                | ItemKind::Include(_)
                | ItemKind::Role(_)
                | ItemKind::Link(_)
                | ItemKind::Outcome(_)
                | ItemKind::Hook(_)
                | ItemKind::On(_) => {}
            }
        }
    }

    fn stage_items(&mut self, items: &[StageItem]) {
        for item in items {
            match &item.kind {
                StageItemKind::Require(require) => self.require(require),
                StageItemKind::Block(block) => {
                    self.retry(block);
                    self.child_inputs(block);
                    for stmt in &block.body {
                        if let StmtKind::Capture(capture) = &stmt.kind {
                            self.capture(capture, stmt.span);
                        }
                        self.stmt(&stmt.kind);
                    }
                }
                StageItemKind::Parallel(parallel) => {
                    if let Some(condition) = &parallel.condition {
                        self.condition(condition, "`when`");
                    }
                    if let Some(at_once) = &parallel.at_once_expr {
                        self.at_once(at_once);
                    }
                    self.stage_items(&parallel.items);
                }
                StageItemKind::Every(every) => {
                    self.every_interval(&every.interval);
                    self.stage_items(&every.items);
                }
                StageItemKind::Repeat(repeat) => {
                    self.stage_items(&repeat.items);
                    self.condition(&repeat.until, "`repeat … until`");
                }
                StageItemKind::Finally(items) => self.stage_items(items),
                StageItemKind::Checklist(list) => self.stage_items(&list.items),
                StageItemKind::Foreach(foreach) => {
                    if let Some(condition) = &foreach.condition {
                        self.condition(condition, "`when`");
                    }
                    if let Some(at_once) = &foreach.parallel_expr {
                        self.at_once(at_once);
                    }
                    let item = self.foreach_item(&foreach.list);
                    self.scopes.push((foreach.var.name.clone(), item));
                    let declared = self.table.list_item(&foreach.list);
                    self.declared.push((foreach.var.name.clone(), declared));
                    self.stage_items(&foreach.items);
                    self.scopes.pop();
                    self.declared.pop();
                }
                StageItemKind::Call(call) => {
                    if let Some(condition) = &call.condition {
                        self.condition(condition, "`when`");
                    }
                    self.stage_call(call);
                }
                StageItemKind::Again(again) => {
                    if let Some(condition) = &again.condition {
                        self.condition(condition, "`when`");
                    }
                }
                StageItemKind::On(_) | StageItemKind::Then(_) | StageItemKind::End(_) => {}
                StageItemKind::Anchor(anchor) => self.anchor_at(anchor),
            }
        }
    }

    fn stmt(&mut self, stmt: &StmtKind) {
        match stmt {
            StmtKind::Require(require) => self.require(require),
            StmtKind::When { condition, .. } | StmtKind::Condition(condition) => {
                self.condition(condition, "`when`")
            }
            StmtKind::Until(e) => self.until(e),
            StmtKind::TimeoutExpr(e) => self.timeout(e),
            StmtKind::Owner(_)
            | StmtKind::On(_)
            | StmtKind::Run(_)
            | StmtKind::Timeout(_)
            | StmtKind::Retry(_)
            | StmtKind::ExpectExit(_)
            | StmtKind::ExpectStream(_)
            | StmtKind::Capture(_)
            | StmtKind::Keep(_)
            | StmtKind::Idempotent
            | StmtKind::Acknowledge
            | StmtKind::Assign { .. }
            | StmtKind::Verify(_)
            | StmtKind::Irreversible(_)
            | StmtKind::Instructions(_)
            | StmtKind::Evidence(_)
            | StmtKind::Attest { .. }
            | StmtKind::By(_)
            | StmtKind::Approvers(_)
            | StmtKind::NoSelfApproval
            | StmtKind::Otherwise(_)
            | StmtKind::Option(_)
            | StmtKind::Runbook(_)
            | StmtKind::ChildInput(_)
            | StmtKind::Every(_) => {}
        }
    }

    fn require(&mut self, require: &Require) {
        if let Require::Expr(e) = require {
            self.condition(e, "`require`");
        }
    }

    /// An expression that must be true or false; `place` names what needs
    /// it, such as "`when`".
    fn condition(&mut self, e: &Expr, place: &str) {
        let ty = self.infer(e);
        if matches!(ty, Type::Bool | Type::Unknown) {
            return;
        }
        let code = self.code(e.span);
        let help = match &ty {
            Type::Set(set) => match set.values.first() {
                Some(first) => format!(
                    "compare it with one of {}, such as `{code} == {first}`",
                    set.members
                ),
                None => format!("compare it with one of {}", set.members),
            },
            Type::String => format!(
                "compare it, such as `{code} == \"...\"`, or match it, such as `{code} ~ /.../`"
            ),
            Type::Int => format!("compare it with a number, such as `{code} > 0`"),
            Type::Duration => format!("compare it with another duration, such as `{code} > 5m`"),
            Type::Timestamp => {
                "a time is not a condition: wait for it with `until`, or compare it with another time"
                    .to_string()
            }
            Type::List(_) => format!(
                "a list is not a condition: test `contains({code}, ...)` or `len({code}) > 0`, or go over its items with `foreach`"
            ),
            Type::Version => format!(
                "compare it with another version, such as `{code} >= version(\"1.2.0\")`"
            ),
            Type::Name(name) => format!(
                "compare something with it, such as `{} == {name}`",
                self.holder_of(name)
            ),
            _ => "write a comparison, such as `a == b`".to_string(),
        };
        self.report(
            Diagnostic::error(
                NOT_BOOLEAN,
                format!("{place} needs a condition, not {}", ty.noun()),
            )
            .primary(e.span, "never true or false by itself")
            .help(help),
        );
    }

    /// `until` waits for a time, or for a condition to hold.
    fn until(&mut self, e: &Expr) {
        let ty = self.infer(e);
        if matches!(ty, Type::Timestamp | Type::Bool | Type::Unknown) {
            return;
        }
        let help = match ty {
            Type::Duration => {
                let anchor = self
                    .table
                    .nodes
                    .iter()
                    .filter(|(_, node)| node.kind == NodeKind::Anchor)
                    .map(|(id, _)| id.as_str())
                    .min();
                match anchor {
                    Some(anchor) => format!(
                        "a duration is not a point in time: wait for an anchor plus it, such as `until {anchor} + {}`",
                        self.code(e.span)
                    ),
                    None => "a duration is not a point in time: record one with `anchor` and wait for it plus the duration".to_string(),
                }
            }
            _ => {
                "wait for a time, such as an anchor plus a duration, or for a condition".to_string()
            }
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("`until` needs a time or a condition, not {}", ty.noun()),
            )
            .primary(e.span, format!("this is {}", ty.noun()))
            .help(help),
        );
    }

    /// The type of the items of the list a `foreach` goes over.
    fn foreach_item(&mut self, list: &Path) -> Type {
        match self.lookup(list, false) {
            Type::List(item) => *item,
            Type::Unknown => Type::Unknown,
            other => {
                self.report(
                    Diagnostic::error(
                        TYPE_MISMATCH,
                        format!("`foreach` goes over a list, not {}", other.noun()),
                    )
                    .primary(list.span, format!("this is {}", other.noun()))
                    .help("go over a list: an input declared as `list(string)`, or a capture declared as `list`"),
                );
                Type::Unknown
            }
        }
    }

    // ------------------------------------------------------ expressions --

    fn infer(&mut self, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Or(operands) => {
                for operand in operands {
                    self.condition(operand, "`or`");
                }
                Type::Bool
            }
            ExprKind::And(operands) => {
                for operand in operands {
                    self.condition(operand, "`and`");
                }
                Type::Bool
            }
            ExprKind::Not(inner) => {
                self.condition(inner, "`not`");
                Type::Bool
            }
            ExprKind::Paren(inner) => self.infer(inner),
            ExprKind::Product(operands) => self.product(operands),
            ExprKind::Compare { lhs, op, rhs } => {
                self.compare(lhs, *op, rhs);
                Type::Bool
            }
            ExprKind::Sum { first, rest } => {
                let mut total = self.infer(first);
                let mut span = first.span;
                for (op, operand) in rest {
                    let ty = self.infer(operand);
                    total = self.sum(&total, span, *op, operand, &ty);
                    span = span.to(operand.span);
                }
                total
            }
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Path(path) => self.path(path),
            ExprKind::String(_) => Type::String,
            ExprKind::Int(_) => Type::Int,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Duration(_) => Type::Duration,
            // The grammar puts a regex only after `~` or `!~`, and `compare`
            // handles it there; it has no type of its own.
            ExprKind::Regex(_) => Type::Unknown,
            ExprKind::List(items) => self.list(items),
            ExprKind::Default(operands) => self.default(operands),
        }
    }

    fn compare(&mut self, lhs: &Expr, op: CompareOp, rhs: &Expr) {
        let left = self.infer(lhs);
        let right = self.infer(rhs);
        if matches!(left, Type::Unknown) {
            return;
        }
        match op {
            CompareOp::Match | CompareOp::NotMatch => self.matches(lhs, &left, op),
            CompareOp::Eq | CompareOp::Ne => {
                if matches!(right, Type::Unknown) {
                    return;
                }
                self.equality(lhs, &left, rhs, &right);
            }
            CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
                if matches!(right, Type::Unknown) {
                    return;
                }
                self.ordering(lhs, &left, op, rhs, &right);
            }
        }
    }

    fn matches(&mut self, lhs: &Expr, left: &Type, op: CompareOp) {
        if matches!(left, Type::String) {
            return;
        }
        let help = match left {
            Type::Set(_) | Type::Name(_) => "compare it with `==` and a bare name instead",
            Type::Int | Type::Duration => "compare it with `==`, `<` or `>` instead",
            _ => "match a string, such as a capture declared without a type",
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("`{}` matches text, not {}", op.symbol(), left.noun()),
            )
            .primary(lhs.span, format!("this is {}", left.noun()))
            .help(help),
        );
    }

    fn equality(&mut self, lhs: &Expr, left: &Type, rhs: &Expr, right: &Type) {
        match (left, right) {
            // Two bare names are not typed by anything; there is nothing to
            // check them against.
            (Type::Name(_), Type::Name(_)) => {}
            (Type::Name(name), Type::Set(set)) => self.member(lhs, name, set, rhs),
            (Type::Set(set), Type::Name(name)) => self.member(rhs, name, set, lhs),
            _ if left.same_as(right) => {}
            _ => self.mismatch(lhs, left, rhs, right),
        }
    }

    /// `name` written where a member of `set` is expected.
    fn member(&mut self, name_expr: &Expr, name: &str, set: &Set, other: &Expr) {
        if set.values.iter().any(|v| v == name) {
            return;
        }
        self.report(
            Diagnostic::error(UNKNOWN_VALUE, format!("`{name}` is not {}", set.member))
                .primary(name_expr.span, format!("not one of {}", set.members))
                .secondary(other.span, format!("this is {}", set.member))
                .help(set.help_for(name)),
        );
    }

    fn ordering(&mut self, lhs: &Expr, left: &Type, op: CompareOp, rhs: &Expr, right: &Type) {
        let unordered = if !left.is_ordered() {
            Some((lhs, left))
        } else if !right.is_ordered() {
            Some((rhs, right))
        } else {
            None
        };
        if let Some((operand, ty)) = unordered {
            let versions = matches!(left, Type::Version) || matches!(right, Type::Version);
            let help = match ty {
                Type::String if versions => format!(
                    "read the text as a version too: `version({})`",
                    self.code(operand.span)
                ),
                Type::String => {
                    "text has no order: compare it with `==`, `!=` or `~`, or read it as a version with `version(...)`".to_string()
                }
                _ => "compare it with `==` or `!=` instead".to_string(),
            };
            self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!(
                        "`{}` compares ints, durations, timestamps or versions, not {}",
                        op.symbol(),
                        ty.noun()
                    ),
                )
                .primary(operand.span, format!("this is {}", ty.noun()))
                .help(help),
            );
            return;
        }
        if !left.same_as(right) {
            self.mismatch(lhs, left, rhs, right);
        }
    }

    /// Two operands of a comparison whose types differ.
    fn mismatch(&mut self, lhs: &Expr, left: &Type, rhs: &Expr, right: &Type) {
        let ((bad, bad_ty), (good, good_ty)) = if is_literal(lhs, left) && !is_literal(rhs, right) {
            ((lhs, left), (rhs, right))
        } else {
            ((rhs, right), (lhs, left))
        };
        let help = match (&bad.kind, bad_ty, good_ty) {
            (ExprKind::Int(n), _, Type::Duration) => {
                format!("a duration needs a unit, such as `{n}s` or `{n}m`")
            }
            (ExprKind::String(text), _, Type::Set(set)) => match text.as_literal() {
                Some(literal) if set.values.contains(&literal) => {
                    format!("write `{literal}` without quotes: values are bare names")
                }
                _ => set.listing(),
            },
            (ExprKind::String(_), _, Type::Version) => format!(
                "read the text as a version too: `version({})`",
                self.code(bad.span)
            ),
            (_, Type::Name(name), Type::String) => {
                format!("to compare with text, quote it: `\"{name}\"`")
            }
            (_, Type::Name(name), _) => format!(
                "a bare name is compared with an enum input, a choice or a status, such as `{} == {name}`",
                self.holder_of(name)
            ),
            _ => "both sides of a comparison must have the same type".to_string(),
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("cannot compare {} with {}", left.noun(), right.noun()),
            )
            .primary(bad.span, format!("this is {}", bad_ty.noun()))
            .secondary(good.span, format!("this is {}", good_ty.noun()))
            .help(help),
        );
    }

    /// One step of a `+`/`-` chain: `total` (written at `total_span`) and
    /// then `op operand`.
    fn sum(
        &mut self,
        total: &Type,
        total_span: Span,
        op: SumOp,
        operand: &Expr,
        ty: &Type,
    ) -> Type {
        match (total, op, ty) {
            (Type::Unknown, _, _) | (_, _, Type::Unknown) => return Type::Unknown,
            (Type::Int, _, Type::Int) => return Type::Int,
            (Type::Duration, _, Type::Duration) => return Type::Duration,
            (Type::Timestamp, _, Type::Duration)
            | (Type::Duration, SumOp::Add, Type::Timestamp) => {
                return Type::Timestamp;
            }
            (Type::Timestamp, SumOp::Sub, Type::Timestamp) => return Type::Duration,
            (Type::List(a), SumOp::Add, Type::List(b)) if a.fits(b) => {
                return Type::List(if matches!(**a, Type::Unknown | Type::Name(_)) {
                    b.clone()
                } else {
                    a.clone()
                });
            }
            _ => {}
        }
        let message = match op {
            SumOp::Add => format!("cannot add {} to {}", ty.noun(), total.noun()),
            SumOp::Sub => format!("cannot subtract {} from {}", ty.noun(), total.noun()),
        };
        let help = match (total, op, &operand.kind) {
            (Type::Duration | Type::Timestamp, _, ExprKind::Int(n)) => {
                format!("a duration needs a unit, such as `{n}m` or `{n}h`")
            }
            (Type::Timestamp, SumOp::Add, _) => {
                "two times do not add up: add a duration to a time, or subtract one time from another to get a duration".to_string()
            }
            (Type::Duration, SumOp::Sub, _) => {
                "write the time first: a timestamp minus a duration is a timestamp".to_string()
            }
            (Type::List(_), SumOp::Sub, _) => {
                "lists are joined with `+`; nothing is taken away from a list".to_string()
            }
            _ if matches!(total, Type::List(_)) || matches!(ty, Type::List(_)) => {
                "`+` joins two lists of the same type; to add one item, write it in brackets: `list + [item]`".to_string()
            }
            _ => "`+` and `-` work on two ints, two durations, two lists, or a timestamp and a duration"
                .to_string(),
        };
        // Blame the side that cannot take part in a sum at all, else the
        // operand that does not fit the total so far.
        let adds_up = matches!(
            total,
            Type::Int | Type::Duration | Type::Timestamp | Type::List(_)
        );
        let (bad, bad_ty, good, good_ty) = if adds_up {
            (operand.span, ty, total_span, total)
        } else {
            (total_span, total, operand.span, ty)
        };
        self.report(
            Diagnostic::error(TYPE_MISMATCH, message)
                .primary(bad, format!("this is {}", bad_ty.noun()))
                .secondary(good, format!("this is {}", good_ty.noun()))
                .help(help),
        );
        Type::Unknown
    }

    fn call(&mut self, name: &Ident, args: &[Expr]) -> Type {
        match name.name.as_str() {
            "count" => {
                if let [condition, window] = args {
                    self.condition(condition, "`count`");
                    let ty = self.infer(window);
                    if !matches!(ty, Type::Duration | Type::Unknown) {
                        let help = match &window.kind {
                            ExprKind::Int(n) => format!("give it a unit, such as `{n}h` or `{n}d`"),
                            _ => "write a time window, such as `24h` or `7d`".to_string(),
                        };
                        self.report(
                            Diagnostic::error(
                                TYPE_MISMATCH,
                                format!("the window of `count` is a duration, not {}", ty.noun()),
                            )
                            .primary(window.span, format!("this is {}", ty.noun()))
                            .help(help),
                        );
                    }
                } else {
                    // Resolve reported the number of arguments; what they
                    // mean is unclear, but a secret among them is not.
                    for arg in args {
                        self.infer(arg);
                    }
                }
                Type::Int
            }
            // Their argument is the name of a role or a link, which resolve
            // checks; it is not a value.
            "filled" | "set" => Type::Bool,
            "len" => self.len(args),
            "contains" => self.contains(args),
            "version" => self.version(args),
            "now" => self.now(args),
            "timestamp" => self.timestamp(args),
            "weekday" | "hour" | "minute" => self.calendar(&name.name, args),
            // Resolve reported the unknown function.
            _ => Type::Unknown,
        }
    }

    /// The type of a path used as a value, reporting what cannot be one.
    fn path(&mut self, path: &Path) -> Type {
        match self.lookup(path, true) {
            Type::Secret => {
                let name = path.dotted();
                self.report(
                    Diagnostic::error(
                        SECRET_IN_EXPRESSION,
                        format!("the secret `{name}` is used in an expression"),
                    )
                    .primary(path.span, "a secret is never compared, shown or stored")
                    .help(format!(
                        "pass it only to a command, as `{{{{ {name} }}}}`, and check what the command did instead"
                    )),
                );
                Type::Unknown
            }
            Type::Node { kind, id } => {
                let fields: Vec<String> = self
                    .table
                    .nodes
                    .get(&id)
                    .map(|node| node.fields.keys().map(|f| format!("`{id}.{f}`")).collect())
                    .unwrap_or_default();
                self.report(
                    Diagnostic::error(
                        TYPE_MISMATCH,
                        format!("the {kind} `{id}` has no value of its own"),
                    )
                    .primary(path.span, "used as a value here")
                    .help(format!("use one of its fields: {}", fields.join(", "))),
                );
                Type::Unknown
            }
            ty => ty,
        }
    }

    /// What a path names, in resolve's order: a loop variable, an input, a
    /// node or one of its fields, and (when `values` allows) a bare value.
    fn lookup(&self, path: &Path, values: bool) -> Type {
        let Some((head, rest)) = path.segments.split_first() else {
            return Type::Unknown;
        };
        if let Some((_, ty)) = self.scopes.iter().rev().find(|(var, _)| *var == head.name) {
            return match rest {
                [] => ty.clone(),
                // `VAR.index`; resolve reports any other field.
                _ => Type::Int,
            };
        }
        if let Some(input) = self.table.inputs.get(&head.name) {
            // Resolve reports a field of an input.
            return match rest {
                [] => input_type(&head.name, input),
                _ => Type::Unknown,
            };
        }
        let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        if crate::symbols::is_run_field(&names) {
            return Type::String;
        }
        if let Some(node) = self.table.nodes.get(&head.name) {
            let id = &head.name;
            return match rest {
                [] => match node.kind {
                    NodeKind::Anchor => Type::Timestamp,
                    NodeKind::Block(BlockKind::Choose) => {
                        Type::Set(Set::of("option", "options", id, node.options.clone()))
                    }
                    NodeKind::Block(kind) => Type::Node {
                        kind: kind.keyword(),
                        id: id.clone(),
                    },
                    NodeKind::Checklist => Type::Node {
                        kind: "checklist",
                        id: id.clone(),
                    },
                },
                [field] => match node.fields.get(&field.name) {
                    Some(FieldType::Status) => Type::Set(Set::status()),
                    Some(FieldType::Capture(None)) => Type::String,
                    Some(FieldType::Capture(Some(ty))) => match ty {
                        CaptureType::List(item) => Type::List(Box::new(scalar(*item))),
                        single => scalar(single.item()),
                    },
                    Some(FieldType::Evidence(EvidenceType::Choice(choices))) => Type::Set(Set::of(
                        "choice",
                        "choices",
                        &format!("{id}.{}", field.name),
                        choices.iter().map(|c| c.name.clone()).collect(),
                    )),
                    Some(FieldType::Evidence(EvidenceType::Choices(choices))) => {
                        Type::List(Box::new(Type::Set(Set::of(
                            "choice",
                            "choices",
                            &format!("{id}.{}", field.name),
                            choices.iter().map(|c| c.name.clone()).collect(),
                        ))))
                    }
                    Some(FieldType::Evidence(EvidenceType::Int)) => Type::Int,
                    Some(FieldType::Evidence(EvidenceType::Bool)) => Type::Bool,
                    Some(FieldType::Evidence(_)) => Type::String,
                    // Resolve reports the unknown field.
                    None => Type::Unknown,
                },
                // Resolve reports the extra segments.
                _ => Type::Unknown,
            };
        }
        if values && rest.is_empty() && self.table.values.contains(&head.name) {
            return Type::Name(head.name.clone());
        }
        Type::Unknown
    }

    // ---------------------------------------------------------- defaults --

    fn input_default(&mut self, input: &Input) {
        let Some(default) = &input.default else {
            return;
        };
        let name = &input.name.name;
        match &input.ty.kind {
            InputTypeKind::Scalar(ScalarType::Secret) | InputTypeKind::List(ScalarType::Secret) => {
                self.report(
                    Diagnostic::error(TYPE_MISMATCH, format!("the secret `{name}` has a default"))
                        .primary(default.span, "a secret is never written in the runbook")
                        .secondary(input.ty.span, "declared secret here")
                        .help("remove the default: rbx asks for a secret when the run starts, or reads it from the environment"),
                );
            }
            InputTypeKind::Scalar(ty) => {
                self.scalar_default(default, *ty, input, format!("the default of `{name}`"));
            }
            InputTypeKind::List(item) => match &default.kind {
                ValueKind::List(values) => {
                    for value in values {
                        self.scalar_default(value, *item, input, format!("an item of `{name}`"));
                    }
                }
                _ => {
                    let code = self.code(default.span);
                    self.report(
                        Diagnostic::error(
                            TYPE_MISMATCH,
                            format!(
                                "the default of `{name}` must be a list, not {}",
                                value_noun(default)
                            ),
                        )
                        .primary(default.span, format!("this is {}", value_noun(default)))
                        .secondary(input.ty.span, "declared as a list here")
                        .help(format!("write it in brackets: `[{code}]`")),
                    );
                }
            },
            InputTypeKind::Enum(values) => self.enum_default(default, values, input),
        }
    }

    /// `value` written where a value of `ty` is expected; `what` says what
    /// it is ("the default of `port`").
    fn scalar_default(&mut self, value: &Value, ty: ScalarType, input: &Input, what: String) {
        if let (ValueKind::String(text), ScalarType::Host) = (&value.kind, ty) {
            if let Err(why) = rbx_syntax::ast::check_host(&text.source_form()) {
                self.report(
                    Diagnostic::error(TYPE_MISMATCH, format!("{what} is not a host"))
                        .primary(value.span, why)
                        .secondary(input.ty.span, "declared a host here")
                        .help("give a host name or address, such as `\"web-1.example.com\"`"),
                );
            }
            return;
        }
        let fits = matches!(
            (&value.kind, ty),
            (
                ValueKind::String(_),
                ScalarType::String | ScalarType::Command
            ) | (ValueKind::Int(_), ScalarType::Int)
                | (ValueKind::Bool(_), ScalarType::Bool)
                | (ValueKind::Duration(_), ScalarType::Duration)
        );
        if fits {
            return;
        }
        if let (ValueKind::String(text), ScalarType::Timestamp) = (&value.kind, ty) {
            self.timestamp_default(value, text, input, &what);
            return;
        }
        let expected = scalar(ty).noun();
        let unquoted = match &value.kind {
            ValueKind::String(text) => text.as_literal(),
            _ => None,
        };
        let help = match (&value.kind, ty, unquoted) {
            (ValueKind::Int(n), ScalarType::Duration, _) => {
                format!("a duration needs a unit, such as `{n}s` or `{n}m`")
            }
            (
                ValueKind::Name(_)
                | ValueKind::Int(_)
                | ValueKind::Bool(_)
                | ValueKind::Duration(_),
                ScalarType::String | ScalarType::Host | ScalarType::Command | ScalarType::Timestamp,
                _,
            ) => {
                format!("write text in quotes: `\"{}\"`", self.code(value.span))
            }
            (_, ScalarType::Int, Some(text)) if text.trim().parse::<i64>().is_ok() => {
                format!("write the number without quotes: `{}`", text.trim())
            }
            (_, ScalarType::Duration, Some(text))
                if rbx_syntax::parse_duration(text.trim()).is_some() =>
            {
                format!("write the duration without quotes: `{}`", text.trim())
            }
            (_, ScalarType::Bool, Some(text)) if matches!(text.trim(), "true" | "false") => {
                format!("write `{}` without quotes", text.trim())
            }
            _ => {
                let example = match ty {
                    ScalarType::String => "`\"text\"`",
                    ScalarType::Int => "`3`",
                    ScalarType::Bool => "`true` or `false`",
                    ScalarType::Duration => "`30m`",
                    ScalarType::Timestamp => "`\"2026-12-07T18:00:00Z\"`",
                    ScalarType::Secret => "nothing",
                    ScalarType::Host => "`\"web-1.example.com\"`",
                    ScalarType::Command => "`\"scripts/freeze --all\"`",
                };
                format!("write {expected}, such as {example}")
            }
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("{what} must be {expected}, not {}", value_noun(value)),
            )
            .primary(value.span, format!("this is {}", value_noun(value)))
            .secondary(input.ty.span, "the declared type")
            .help(help),
        );
    }

    fn enum_default(&mut self, default: &Value, values: &[Ident], input: &Input) {
        let name = &input.name.name;
        let set = Set::of(
            "value",
            "values",
            name,
            values.iter().map(|v| v.name.clone()).collect(),
        );
        match &default.kind {
            ValueKind::Name(value) if set.values.contains(&value.name) => {}
            ValueKind::Name(value) => self.report(
                Diagnostic::error(
                    UNKNOWN_VALUE,
                    format!("`{}` is not {}", value.name, set.member),
                )
                .primary(default.span, format!("not one of {}", set.members))
                .secondary(input.ty.span, "the values it may take")
                .help(set.help_for(&value.name)),
            ),
            _ => {
                let help = match &default.kind {
                    ValueKind::String(text) => match text.as_literal() {
                        Some(literal) if set.values.contains(&literal) => {
                            format!("write `{literal}` without quotes: enum values are bare names")
                        }
                        _ => set.listing(),
                    },
                    _ => set.listing(),
                };
                self.report(
                    Diagnostic::error(
                        TYPE_MISMATCH,
                        format!(
                            "the default of `{name}` must be one of its values, not {}",
                            value_noun(default)
                        ),
                    )
                    .primary(default.span, format!("this is {}", value_noun(default)))
                    .secondary(input.ty.span, "the values it may take")
                    .help(help),
                );
            }
        }
    }
}

fn value_noun(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(_) => "a string".to_string(),
        ValueKind::Int(_) => "an int".to_string(),
        ValueKind::Bool(_) => "a bool".to_string(),
        ValueKind::Duration(_) => "a duration".to_string(),
        ValueKind::Name(name) => format!("the bare name `{}`", name.name),
        ValueKind::List(_) => "a list".to_string(),
    }
}
