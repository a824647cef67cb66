//! The types of a stage's parameters and of the arguments a `call` gives
//! them: each argument must be a value of its parameter's type, and a
//! parameter that decides what a command may hold (`host`, `command`,
//! `secret`) takes only a value declared with that type.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{
    Arg, Call, Expr, ExprKind, InputTypeKind, Param, ScalarType, Stage, check_host,
};

use super::{Checker, TYPE_MISMATCH, Type, UNKNOWN_VALUE, input_type};

/// An argument whose value would differ between the nodes of one instance.
const CALL_ARGUMENT: &str = "rbx::lint::call_argument";

impl Checker<'_> {
    /// Checks `stage`'s items with its parameters in scope.
    pub(super) fn stage(&mut self, stage: &Stage) {
        let params = stage.params.as_deref().unwrap_or_default();
        for param in params {
            self.scopes.push((
                param.name.name.clone(),
                input_type(&param.name.name, &param.ty.kind),
            ));
            self.declared
                .push((param.name.name.clone(), declared(&param.ty.kind)));
        }
        self.stage_items(&stage.items);
        for _ in params {
            self.scopes.pop();
            self.declared.pop();
        }
    }

    /// Each argument of `call` against its parameter; arguments that name
    /// no parameter are the arity lint's.
    pub(super) fn stage_call(&mut self, call: &Call) {
        let Some(params) = self.table.params.get(&call.stage.name) else {
            return;
        };
        for arg in &call.args {
            self.fixed_argument(&arg.value);
            if let Some(param) = params.iter().find(|p| p.name.name == arg.name.name) {
                self.argument(param, arg);
            }
        }
    }

    pub(super) fn argument(&mut self, param: &Param, arg: &Arg) {
        let name = &param.name.name;
        match &param.ty.kind {
            InputTypeKind::Scalar(
                ty @ (ScalarType::Secret | ScalarType::Host | ScalarType::Command),
            ) => {
                self.declared_argument(name, *ty, &arg.value);
            }
            kind => {
                let want = input_type(name, kind);
                let got = match (&want, &arg.value.kind) {
                    // A bare name resolve let through as one of the enum's
                    // values.
                    (Type::Set(_), ExprKind::Path(path))
                        if path.segments.len() == 1
                            && matches!(self.lookup(path, true), Type::Unknown) =>
                    {
                        Type::Name(path.dotted())
                    }
                    _ => self.infer(&arg.value),
                };
                if let (Type::Name(value), Type::Set(set)) = (&got, &want) {
                    if !set.values.contains(value) {
                        self.report(
                            Diagnostic::error(
                                UNKNOWN_VALUE,
                                format!("`{value}` is not {}", set.member),
                            )
                            .primary(
                                arg.value.span,
                                format!("the parameter `{name}` takes one of them"),
                            )
                            .help(set.help_for(value)),
                        );
                    }
                } else if !got.fits(&want) {
                    self.report(
                        Diagnostic::error(
                            TYPE_MISMATCH,
                            format!(
                                "the parameter `{name}` is {}, but this argument is {}",
                                want.noun(),
                                got.noun()
                            ),
                        )
                        .primary(arg.value.span, format!("{} here", got.noun()))
                        .help(format!("pass {} as `{name}`", want.noun())),
                    );
                }
            }
        }
    }

    /// A `host`, `command` or `secret` parameter: lint trusts what it
    /// holds (a host cannot hold shell syntax, a secret is masked, a
    /// command is code), so its argument is a literal that is one, or a
    /// value declared as one.
    fn declared_argument(&mut self, name: &str, ty: ScalarType, value: &Expr) {
        let keyword = ty.keyword();
        let problem = match &value.kind {
            ExprKind::String(text) if ty != ScalarType::Secret => match text.as_literal() {
                Some(literal) if ty == ScalarType::Host => check_host(&literal).err(),
                Some(_) => None,
                None => Some(format!(
                    "a string with `{{{{ }}}}` in it is not a {keyword}"
                )),
            },
            ExprKind::Path(path) => {
                let head = path.segments.first().map(|s| s.name.as_str());
                let found = head.and_then(|head| self.declared_type(head));
                match found {
                    Some(found) if found == ty && path.segments.len() == 1 => None,
                    _ => Some(format!(
                        "`{}` is not declared as a {keyword}",
                        path.dotted()
                    )),
                }
            }
            _ => Some(format!("this is not a {keyword}")),
        };
        if let Some(problem) = problem {
            let help = match ty {
                ScalarType::Secret => "pass a secret input or parameter: a secret written here \
                                       would be stored and shown"
                    .to_string(),
                ScalarType::Host => "pass a host literal such as \"db-1\", or an input, \
                                     parameter or loop item declared `host`"
                    .to_string(),
                _ => {
                    format!("pass a literal command, or an input or parameter declared `{keyword}`")
                }
            };
            self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("the parameter `{name}` is a {keyword}: {problem}"),
                )
                .primary(value.span, format!("not a {keyword}"))
                .help(help),
            );
        }
    }

    /// The scalar type a name was declared with: a parameter, a loop item
    /// of a typed list, or an input.
    fn declared_type(&self, name: &str) -> Option<ScalarType> {
        if let Some((_, ty)) = self.declared.iter().rev().find(|(n, _)| n == name) {
            return *ty;
        }
        match self.table.inputs.get(name)? {
            InputTypeKind::Scalar(ty) => Some(*ty),
            _ => None,
        }
    }

    /// `now()` and `count()` read the moment and the store, which differ
    /// between the nodes of one instance; `filled()` and `set()` are read
    /// where a node runs. An argument is read by every node of the
    /// instance, so it may use none of them.
    fn fixed_argument(&mut self, e: &Expr) {
        let mut calls = Vec::new();
        functions(e, &mut calls);
        for (name, span) in calls {
            if !matches!(name.as_str(), "now" | "count" | "filled" | "set") {
                continue;
            }
            self.report(
                Diagnostic::error(CALL_ARGUMENT, format!("`{name}()` cannot be an argument"))
                    .primary(span, "each node of the instance reads its arguments again")
                    .help(
                        "record the moment or the judgement first (an `anchor`, a `decide`), \
                     and pass what it recorded",
                    ),
            );
        }
    }
}

/// The scalar type a parameter declares; `None` for an enum or a list.
fn declared(kind: &InputTypeKind) -> Option<ScalarType> {
    match kind {
        InputTypeKind::Scalar(ty) => Some(*ty),
        _ => None,
    }
}

fn functions(e: &Expr, out: &mut Vec<(String, rbx_syntax::Span)>) {
    match &e.kind {
        ExprKind::Call { name, args } => {
            out.push((name.name.clone(), name.span));
            args.iter().for_each(|a| functions(a, out));
        }
        ExprKind::Or(items)
        | ExprKind::And(items)
        | ExprKind::List(items)
        | ExprKind::Default(items)
        | ExprKind::Product(items) => items.iter().for_each(|i| functions(i, out)),
        ExprKind::Not(inner) | ExprKind::Paren(inner) => functions(inner, out),
        ExprKind::Compare { lhs, rhs, .. } => {
            functions(lhs, out);
            functions(rhs, out);
        }
        ExprKind::Sum { first, rest } => {
            functions(first, out);
            rest.iter().for_each(|(_, r)| functions(r, out));
        }
        ExprKind::Path(_)
        | ExprKind::String(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Regex(_) => {}
    }
}
