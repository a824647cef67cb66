//! The types of time: `*`, `now()`, `timestamp(...)`, the calendar
//! functions `weekday`, `hour` and `minute` (each naming its time zone),
//! an anchor's `at` and a computed `timeout`.

use rbx_syntax::Diagnostic;
use rbx_syntax::ast::{Anchor, Budget, Expr, ExprKind, Input, Limit, Text, Value};
use rbx_syntax::time::{WEEKDAYS, check_zone, parse_timestamp};

use super::{Checker, Set, TYPE_MISMATCH, Type};

const BAD_TIMESTAMP: &str = "rbx::lint::bad_timestamp";
const BAD_ZONE: &str = "rbx::lint::bad_time_zone";

impl Checker<'_> {
    /// `a * b * …`: ints multiply to an int; one duration among ints makes
    /// a duration (`budget * 2`). Two durations, or anything else, do not
    /// multiply.
    pub(super) fn product(&mut self, operands: &[Expr]) -> Type {
        let mut result = Type::Int;
        let mut durations = Vec::new();
        for operand in operands {
            let ty = self.infer(operand);
            match ty {
                Type::Int => {}
                Type::Duration => durations.push(operand.span),
                Type::Unknown => result = Type::Unknown,
                other => {
                    let help = match other {
                        Type::Timestamp => {
                            "a time cannot be multiplied: multiply the duration, then add it, such as `release + step * 2`"
                        }
                        _ => "`*` multiplies ints, or a duration by an int, such as `budget * 2`",
                    };
                    self.report(
                        Diagnostic::error(
                            TYPE_MISMATCH,
                            format!("cannot multiply {}", other.noun()),
                        )
                        .primary(operand.span, format!("this is {}", other.noun()))
                        .help(help),
                    );
                    return Type::Unknown;
                }
            }
        }
        if let [first, second, ..] = durations.as_slice() {
            self.report(
                Diagnostic::error(TYPE_MISMATCH, "cannot multiply a duration by a duration")
                    .primary(*second, "this is a duration")
                    .secondary(*first, "this is a duration")
                    .help("multiply a duration by a number, such as `30m * 2`"),
            );
            return Type::Unknown;
        }
        match (result, durations.is_empty()) {
            (Type::Unknown, _) => Type::Unknown,
            (_, true) => Type::Int,
            (_, false) => Type::Duration,
        }
    }

    /// `now()`: the time the node asking reads it.
    pub(super) fn now(&mut self, args: &[Expr]) -> Type {
        for arg in args {
            self.infer(arg);
        }
        Type::Timestamp
    }

    /// `timestamp(TEXT)`: a time read from RFC 3339 text; a literal that
    /// is not one is reported where it is written.
    pub(super) fn timestamp(&mut self, args: &[Expr]) -> Type {
        let [arg] = args else {
            for arg in args {
                self.infer(arg);
            }
            return Type::Timestamp;
        };
        let ty = self.infer(arg);
        match (&ty, &arg.kind) {
            (Type::String, ExprKind::String(text)) => {
                if let Some(Err(why)) = text.as_literal().map(|t| parse_timestamp(&t)) {
                    self.report(
                        Diagnostic::error(BAD_TIMESTAMP, why)
                            .primary(arg.span, "not a point in time")
                            .help("write RFC 3339 with an offset, such as `\"2026-12-07T18:00:00Z\"` or `\"2026-12-07T19:00:00+01:00\"`"),
                    );
                }
            }
            (Type::String | Type::Timestamp | Type::Unknown, _) => {}
            _ => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("`timestamp` reads a string, not {}", ty.noun()),
                )
                .primary(arg.span, format!("this is {}", ty.noun()))
                .help("give it text, such as a capture: `timestamp(deploy.finished_at)`"),
            ),
        }
        Type::Timestamp
    }

    /// `weekday(TIME, ZONE)`, `hour(TIME, ZONE)`, `minute(TIME, ZONE)`: the
    /// calendar at a time, in a zone the author names; a day is one of
    /// `mon` … `sun`, an hour or a minute an int.
    pub(super) fn calendar(&mut self, name: &str, args: &[Expr]) -> Type {
        let result = match name {
            "weekday" => Type::Set(Set {
                member: "a day of the week".to_string(),
                members: "the days of the week".to_string(),
                values: WEEKDAYS.iter().map(|d| d.to_string()).collect(),
            }),
            _ => Type::Int,
        };
        let [time, zone] = args else {
            for arg in args {
                self.infer(arg);
            }
            return result;
        };
        let ty = self.infer(time);
        if !matches!(ty, Type::Timestamp | Type::Unknown) {
            self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!("`{name}` reads a time, not {}", ty.noun()),
                )
                .primary(time.span, format!("this is {}", ty.noun()))
                .help(format!(
                    "give it a time, such as `{name}(now(), \"Europe/Berlin\")`"
                )),
            );
        }
        self.zone(name, zone);
        result
    }

    /// The zone of a calendar function: a string, and when written out, a
    /// zone rbx knows.
    fn zone(&mut self, function: &str, zone: &Expr) {
        let ty = self.infer(zone);
        match (&ty, &zone.kind) {
            (Type::String, ExprKind::String(text)) => {
                if let Some(Err(why)) = text.as_literal().map(|name| check_zone(&name)) {
                    self.report(
                        Diagnostic::error(BAD_ZONE, why)
                            .primary(zone.span, "no such time zone")
                            .help("name the zone the procedure's clock is in; `UTC` when it is not a place's"),
                    );
                }
            }
            (Type::String | Type::Unknown, _) => {}
            _ => self.report(
                Diagnostic::error(
                    TYPE_MISMATCH,
                    format!(
                        "the time zone of `{function}` is a name in quotes, not {}",
                        ty.noun()
                    ),
                )
                .primary(zone.span, format!("this is {}", ty.noun()))
                .help(format!(
                    "name the zone, such as `{function}(now(), \"Europe/Berlin\")`"
                )),
            ),
        }
    }

    /// `anchor ID "Title" at EXPR`: the anchor stands for a time.
    pub(super) fn anchor_at(&mut self, anchor: &Anchor) {
        let Some(at) = &anchor.at else { return };
        let ty = self.infer(at);
        if matches!(ty, Type::Timestamp | Type::Unknown) {
            return;
        }
        let help = match ty {
            Type::String => format!(
                "read the text as a time: `at timestamp({})`",
                self.code(at.span)
            ),
            Type::Duration => {
                "a duration is not a point in time: add it to a time, such as `at release_at - 30m`"
                    .to_string()
            }
            _ => "give a time, such as a `timestamp` input".to_string(),
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("an anchor stands for a time, not {}", ty.noun()),
            )
            .primary(at.span, format!("this is {}", ty.noun()))
            .help(help),
        );
    }

    /// `deadline EXPR`: a time.
    pub(super) fn deadline(&mut self, budget: &Budget) {
        let Limit::Deadline(e) = &budget.limit else {
            return;
        };
        let ty = self.infer(e);
        if matches!(ty, Type::Timestamp | Type::Unknown) {
            return;
        }
        let help = match ty {
            Type::Duration => format!(
                "a duration is a budget, not a deadline: write it as `within 2h`, or add it to a time, such as `deadline release + {}`",
                self.code(e.span)
            ),
            _ => "give a time, such as an anchor plus a duration".to_string(),
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("a deadline is a time, not {}", ty.noun()),
            )
            .primary(e.span, format!("this is {}", ty.noun()))
            .help(help),
        );
    }

    /// `timeout EXPR`: a duration, computed when the node starts.
    pub(super) fn timeout(&mut self, e: &Expr) {
        let ty = self.infer(e);
        if matches!(ty, Type::Duration | Type::Unknown) {
            return;
        }
        let help = match ty {
            Type::Int => format!(
                "multiply a duration by it, such as `timeout 1m * {}`",
                self.code(e.span)
            ),
            Type::Timestamp => format!(
                "a time is not a length of time: subtract now from it, such as `timeout {} - now()`",
                self.code(e.span)
            ),
            _ => "give a duration, such as `timeout budget * 2`".to_string(),
        };
        self.report(
            Diagnostic::error(
                TYPE_MISMATCH,
                format!("`timeout` needs a duration, not {}", ty.noun()),
            )
            .primary(e.span, format!("this is {}", ty.noun()))
            .help(help),
        );
    }

    /// The default of a `timestamp` input: RFC 3339 text with an offset.
    pub(super) fn timestamp_default(
        &mut self,
        value: &Value,
        text: &Text,
        input: &Input,
        what: &str,
    ) {
        let Some(Err(why)) = text.as_literal().map(|t| parse_timestamp(&t)) else {
            return;
        };
        self.report(
            Diagnostic::error(BAD_TIMESTAMP, format!("{what} is not a timestamp"))
                .primary(value.span, why)
                .secondary(input.ty.span, "declared a timestamp here")
                .help("write RFC 3339 with an offset, such as `\"2026-12-07T18:00:00Z\"`"),
        );
    }
}
