//! The types of the data expressions: list literals, `??`, `len`,
//! `contains` and `version`.

use rbx_syntax::ast::{Capture, CaptureSource, CaptureType, Expr, ExprKind};
use rbx_syntax::{Diagnostic, Span};

use super::{Checker, TYPE_MISMATCH, Type};

const BAD_VERSION: &str = "rbx::lint::bad_version";

impl Checker<'_> {
    /// `[a, b, c]`: every item of one type. The list's item type is the
    /// first item's that says more than a bare name does.
    pub(super) fn list(&mut self, items: &[Expr]) -> Type {
        let mut item_ty = Type::Unknown;
        let mut first: Option<&Expr> = None;
        for item in items {
            let ty = self.infer(item);
            if !item_ty.fits(&ty) {
                let (first, first_ty) = (first.unwrap_or(item), item_ty.clone());
                self.report(
                    Diagnostic::error(
                        TYPE_MISMATCH,
                        format!(
                            "a list holds values of one type, not {} and {}",
                            first_ty.noun(),
                            ty.noun()
                        ),
                    )
                    .primary(item.span, format!("this is {}", ty.noun()))
                    .secondary(first.span, format!("this is {}", first_ty.noun()))
                    .help("write every item as the same type, or make two lists"),
                );
                return Type::Unknown;
            }
            if matches!(item_ty, Type::Unknown | Type::Name(_)) && !matches!(ty, Type::Unknown) {
                item_ty = ty;
                first = Some(item);
            }
        }
        Type::List(Box::new(item_ty))
    }

    /// `a ?? b ?? c`: the operands have one type, which is the result's.
    pub(super) fn default(&mut self, operands: &[Expr]) -> Type {
        let mut result = Type::Unknown;
        let mut first: Option<&Expr> = None;
        for operand in operands {
            let ty = self.infer(operand);
            if !result.fits(&ty) {
                let (first, first_ty) = (first.unwrap_or(operand), result.clone());
                self.report(
                    Diagnostic::error(
                        TYPE_MISMATCH,
                        format!(
                            "the default must be the same type as the value: {} ?? {}",
                            first_ty.noun(),
                            ty.noun()
                        ),
                    )
                    .primary(operand.span, format!("this is {}", ty.noun()))
                    .secondary(first.span, format!("this is {}", first_ty.noun()))
                    .help(default_help(&first_ty)),
                );
                return Type::Unknown;
            }
            if matches!(result, Type::Unknown | Type::Name(_)) && !matches!(ty, Type::Unknown) {
                result = ty;
                first = Some(operand);
            }
        }
        result
    }

    /// `len(list)` or `len(text)`: an int.
    pub(super) fn len(&mut self, args: &[Expr]) -> Type {
        let [arg] = args else {
            self.infer_all(args);
            return Type::Int;
        };
        let ty = self.infer(arg);
        if !matches!(ty, Type::List(_) | Type::String | Type::Unknown) {
            self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!(
                        "`len` counts the items of a list or the characters of a string, not {}",
                        ty.noun()
                    ),
                )
                .primary(arg.span, format!("this is {}", ty.noun()))
                .help(
                    "give it a list, such as an input declared `list(string)` or a `list` capture",
                ),
            );
        }
        Type::Int
    }

    /// `contains(list, item)` or `contains(text, part)`: a bool.
    pub(super) fn contains(&mut self, args: &[Expr]) -> Type {
        let [haystack, needle] = args else {
            self.infer_all(args);
            return Type::Bool;
        };
        let outer = self.infer(haystack);
        let inner = self.infer(needle);
        match (&outer, &inner) {
            (Type::Unknown, _) | (_, Type::Unknown) | (Type::String, Type::String) => {}
            (Type::List(_), _) => {
                if let ExprKind::List(items) = &haystack.kind {
                    // Each item written is held to the value looked for, so
                    // a misspelt option is reported where it is written.
                    for item in items {
                        let item_ty = self.infer(item);
                        self.equality(item, &item_ty, needle, &inner);
                    }
                } else if let Type::List(item_ty) = &outer {
                    match (&**item_ty, &inner) {
                        (Type::Set(set), Type::Name(name)) => {
                            self.member(needle, name, set, haystack)
                        }
                        _ if item_ty.fits(&inner) => {}
                        _ => self.report(
                            Diagnostic::error(
                                TYPE_MISMATCH,
                                format!("{} cannot contain {}", outer.noun(), inner.noun()),
                            )
                            .primary(needle.span, format!("this is {}", inner.noun()))
                            .secondary(haystack.span, format!("this is {}", outer.noun()))
                            .help("look for a value of the list's item type"),
                        ),
                    }
                }
            }
            (Type::String, _) => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("a string contains text, not {}", inner.noun()),
                )
                .primary(needle.span, format!("this is {}", inner.noun()))
                .secondary(haystack.span, "this is a string")
                .help("look for a string in it, such as `contains(output, \"ok\")`"),
            ),
            _ => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!(
                        "`contains` looks in a list or a string, not {}",
                        outer.noun()
                    ),
                )
                .primary(haystack.span, format!("this is {}", outer.noun()))
                .help("write the list first: `contains([SEV0, SEV1], severity)`"),
            ),
        }
        Type::Bool
    }

    /// `version(text)`: a version, ordered as one. A literal that is not a
    /// version is reported here, where the author can fix it.
    pub(super) fn version(&mut self, args: &[Expr]) -> Type {
        let [arg] = args else {
            self.infer_all(args);
            return Type::Version;
        };
        let ty = self.infer(arg);
        match (&ty, &arg.kind) {
            (Type::String, ExprKind::String(text)) => {
                if let Some(Err(why)) = text
                    .as_literal()
                    .map(|literal| rbx_syntax::Version::parse(&literal))
                {
                    self.report(
                        Diagnostic::error(BAD_VERSION, why)
                            .primary(arg.span, "rbx cannot order this")
                            .help("write a version such as `\"1.28.3\"`, `\"v2.0.0-rc.1\"` or `\"2024.10\"`"),
                    );
                }
            }
            (Type::String | Type::Version | Type::Unknown, _) => {}
            _ => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("`version` reads a string, not {}", ty.noun()),
                )
                .primary(arg.span, format!("this is {}", ty.noun()))
                .help("give it text, such as a capture: `version(deploy.build)`"),
            ),
        }
        Type::Version
    }

    /// A `list` capture reads a JSON array or the lines of a stream, and
    /// only a `list` capture reads `lines`.
    pub(super) fn capture(&mut self, capture: &Capture, span: Span) {
        let name = &capture.name.name;
        let stream = capture.stream.keyword();
        match (&capture.source, capture.ty) {
            (CaptureSource::Regex(re), Some(ty @ CaptureType::List(_))) => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("the list `{name}` cannot be captured with a regex"),
                )
                .primary(re.span, "a regex finds one value")
                .secondary(span, format!("declared `{}` here", ty.written()))
                .help(format!(
                    "capture a list from a JSON array, `capture {name}: {} = {stream} json \"items\"`, or from every line, `= {stream} lines`",
                    ty.written()
                )),
            ),
            (CaptureSource::Lines, ty) if !matches!(ty, Some(CaptureType::List(_))) => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("`lines` reads a list, but `{name}` is not declared as one"),
                )
                .primary(span, "every line of the stream is a list of values")
                .help(format!("declare it a list: `capture {name}: list = {stream} lines`")),
            ),
            _ => {}
        }
    }

    fn infer_all(&mut self, args: &[Expr]) {
        for arg in args {
            self.infer(arg);
        }
    }
}

fn default_help(value: &Type) -> String {
    let example = match value {
        Type::String => "`\"none\"`",
        Type::Int => "`0`",
        Type::Bool => "`false`",
        Type::Duration => "`0s`",
        Type::List(_) => "`[]`",
        Type::Version => "`version(\"0.0.0\")`",
        _ => "a value of that type",
    };
    format!("give a default of the value's type, such as {example}")
}
