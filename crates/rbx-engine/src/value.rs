//! Run-time values and the evaluation of expressions over them.
//!
//! Lint has already type-checked every expression, so evaluation reports
//! a surprise (a value of the wrong kind) as an error that fails the node
//! that asked, never as a panic.

use std::fmt;

use rbx_syntax::ast::{CompareOp, Expr, ExprKind, InputTypeKind, ScalarType, SumOp, TextPart};

/// What a secret shows as wherever its value would be printed or stored.
pub const MASK: &str = "••••••";

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    /// Milliseconds.
    Duration(u64),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    /// An enum value, a choice option or a status.
    Name(String),
    List(Vec<Value>),
    /// `version(...)`: ordered as a version; shown as written.
    Version(rbx_syntax::Version),
    /// Held in memory for the commands that need it; never displayed,
    /// journalled or stored.
    Secret(String),
}

impl Value {
    /// The value as a command or a person sees it, secrets included: only
    /// for building the command that runs.
    pub fn reveal(&self) -> String {
        match self {
            Value::Text(s) | Value::Name(s) | Value::Secret(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(ms) => rbx_syntax::fmt::duration(*ms),
            Value::Timestamp(ms) => rbx_syntax::time::format_timestamp(*ms),
            Value::Version(v) => v.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(Value::reveal).collect();
                items.join(" ")
            }
        }
    }

    /// The value as JSON for the journal, or `None` for a secret.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Secret(_) => return None,
            Value::Text(s) => serde_json::json!({"text": s}),
            Value::Name(s) => serde_json::json!({"name": s}),
            Value::Int(n) => serde_json::json!({"int": n}),
            Value::Bool(b) => serde_json::json!({"bool": b}),
            Value::Duration(ms) => serde_json::json!({"duration": ms}),
            Value::Timestamp(ms) => serde_json::json!({"timestamp": ms}),
            Value::Version(v) => serde_json::json!({"version": v.as_str()}),
            Value::List(items) => {
                let items: Option<Vec<_>> = items.iter().map(Value::to_json).collect();
                serde_json::json!({ "list": items? })
            }
        })
    }

    pub fn from_json(json: &serde_json::Value) -> Option<Value> {
        let (kind, inner) = json.as_object()?.iter().next()?;
        Some(match kind.as_str() {
            "text" => Value::Text(inner.as_str()?.to_string()),
            "name" => Value::Name(inner.as_str()?.to_string()),
            "int" => Value::Int(inner.as_i64()?),
            "bool" => Value::Bool(inner.as_bool()?),
            "duration" => Value::Duration(inner.as_u64()?),
            "timestamp" => Value::Timestamp(inner.as_i64()?),
            "version" => Value::Version(rbx_syntax::Version::parse(inner.as_str()?).ok()?),
            "list" => Value::List(
                inner
                    .as_array()?
                    .iter()
                    .map(Value::from_json)
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }
}

impl fmt::Display for Value {
    /// The value for people: secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Secret(_) => f.write_str(MASK),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            other => f.write_str(&other.reveal()),
        }
    }
}

/// A value typed on the command line (`--set KEY=VALUE`) as the input's
/// type reads it: a list as a JSON array, a duration as a runbook writes
/// one (`90s`, `1h30m`).
pub fn parse_input(text: &str, ty: &InputTypeKind) -> Result<Value, String> {
    match ty {
        InputTypeKind::Scalar(scalar) => parse_scalar(text, *scalar),
        InputTypeKind::Enum(members) => {
            if members.iter().any(|m| m.name == text) {
                Ok(Value::Name(text.to_string()))
            } else {
                let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                Err(format!("`{text}` is not one of {}", names.join(", ")))
            }
        }
        InputTypeKind::List(scalar) => {
            let not_a_list =
                || format!("a list is written as a JSON array, like [\"a\", \"b\"]; got `{text}`");
            let list: serde_json::Value = serde_json::from_str(text).map_err(|_| not_a_list())?;
            let serde_json::Value::Array(items) = list else {
                return Err(not_a_list());
            };
            items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => parse_scalar(s, *scalar),
                    other => parse_scalar(&other.to_string(), *scalar),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
    }
}

fn parse_scalar(text: &str, scalar: ScalarType) -> Result<Value, String> {
    match scalar {
        ScalarType::String | ScalarType::Command => Ok(Value::Text(text.to_string())),
        ScalarType::Host => {
            rbx_syntax::ast::check_host(text).map(|()| Value::Text(text.to_string()))
        }
        ScalarType::Secret => Ok(Value::Secret(text.to_string())),
        ScalarType::Int => text
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("`{text}` is not a whole number")),
        ScalarType::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        ScalarType::Duration => parse_duration(text)
            .map(Value::Duration)
            .ok_or_else(|| format!("`{text}` is not a duration such as 30s, 5m or 1h30m")),
        ScalarType::Timestamp => rbx_syntax::time::parse_timestamp(text).map(Value::Timestamp),
    }
}

/// A duration as a runbook writes one: numbers each followed by a unit.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        rest = &rest[digits..];
        let unit = ["ms", "d", "h", "m", "s"]
            .into_iter()
            .find(|unit| rest.starts_with(unit))?;
        rest = &rest[unit.len()..];
    }
    rbx_syntax::parse_duration(text)
}

/// What an expression can read.
pub trait Env {
    /// The value of `path` (`forge`, `version.build`, `severity`, `host`).
    fn lookup(&self, path: &[&str]) -> Option<Value>;
    /// `filled(role)`.
    fn role_filled(&self, role: &str) -> bool;
    /// `set(link)`.
    fn link_set(&self, link: &str) -> bool;
    /// `count(condition, window)`: in how many runs of this runbook, within
    /// `window` milliseconds before now, `condition` held.
    fn count(&self, condition: &Expr, window: u64) -> Result<i64, String>;
    /// `now()`: milliseconds since the epoch, the same every time one
    /// evaluation asks.
    fn now(&self) -> i64;
}

pub fn eval(expr: &Expr, env: &dyn Env) -> Result<Value, String> {
    match &expr.kind {
        ExprKind::Or(operands) => {
            for operand in operands {
                if truth(operand, env)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        ExprKind::And(operands) => {
            for operand in operands {
                if !truth(operand, env)? {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(true))
        }
        ExprKind::Not(inner) => Ok(Value::Bool(!truth(inner, env)?)),
        ExprKind::Paren(inner) => eval(inner, env),
        ExprKind::Compare { lhs, op, rhs } => compare(lhs, *op, rhs, env),
        ExprKind::Sum { first, rest } => {
            let mut total = eval(first, env)?;
            for (op, operand) in rest {
                total = add(total, *op, eval(operand, env)?)?;
            }
            Ok(total)
        }
        ExprKind::Product(operands) => {
            let values = operands
                .iter()
                .map(|operand| eval(operand, env))
                .collect::<Result<Vec<_>, _>>()?;
            crate::time::product(values)
        }
        ExprKind::Call { name, args } => call(&name.name, args, env),
        ExprKind::Path(path) => {
            let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
            Ok(env
                .lookup(&names)
                .unwrap_or_else(|| Value::Name(path.dotted())))
        }
        ExprKind::String(text) => {
            let mut out = String::new();
            for part in &text.parts {
                match part {
                    TextPart::Literal(literal) => out.push_str(literal),
                    TextPart::Interpolation(interpolation) => {
                        let path = &interpolation.path;
                        let names: Vec<&str> =
                            path.segments.iter().map(|s| s.name.as_str()).collect();
                        let value = env
                            .lookup(&names)
                            .ok_or_else(|| format!("`{}` has no value yet", path.dotted()))?;
                        out.push_str(&crate::shell::quoted(
                            value.reveal(),
                            interpolation.shell_quotes(),
                        ));
                    }
                }
            }
            Ok(Value::Text(out))
        }
        ExprKind::Int(n) => Ok(Value::Int(*n)),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Duration(ms) => Ok(Value::Duration(*ms)),
        ExprKind::Regex(re) => Ok(Value::Text(re.pattern.clone())),
        ExprKind::List(items) => items
            .iter()
            .map(|item| eval(item, env))
            .collect::<Result<_, _>>()
            .map(Value::List),
        ExprKind::Default(operands) => crate::data::default(operands, env),
    }
}

pub fn truth(expr: &Expr, env: &dyn Env) -> Result<bool, String> {
    match eval(expr, env)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!(
            "`{}` is {other}, not true or false",
            rbx_syntax::fmt::expr(expr)
        )),
    }
}

fn compare(lhs: &Expr, op: CompareOp, rhs: &Expr, env: &dyn Env) -> Result<Value, String> {
    let left = eval(lhs, env)?;
    if matches!(op, CompareOp::Match | CompareOp::NotMatch) {
        let ExprKind::Regex(re) = &rhs.kind else {
            return Err("`~` needs a regex on its right".to_string());
        };
        let regex = crate::expect::compile(re)?;
        let matched = regex.is_match(&left.reveal());
        return Ok(Value::Bool(matched == (op == CompareOp::Match)));
    }
    let right = eval(rhs, env)?;
    let ordering = match (&left, &right) {
        (Value::Int(a), Value::Int(b)) => a.partial_cmp(b),
        (Value::Duration(a), Value::Duration(b)) => a.partial_cmp(b),
        (Value::Timestamp(a), Value::Timestamp(b)) => a.partial_cmp(b),
        (Value::Version(a), Value::Version(b)) => a.partial_cmp(b),
        (a, b) => {
            let equal = crate::data::same(a, b);
            return match op {
                CompareOp::Eq => Ok(Value::Bool(equal)),
                CompareOp::Ne => Ok(Value::Bool(!equal)),
                _ => Err(format!("cannot order {a} and {b}")),
            };
        }
    };
    let Some(ordering) = ordering else {
        return Err("values cannot be compared".to_string());
    };
    use std::cmp::Ordering::*;
    Ok(Value::Bool(match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Match | CompareOp::NotMatch => false,
    }))
}

fn add(left: Value, op: SumOp, right: Value) -> Result<Value, String> {
    let sign: i64 = if op == SumOp::Add { 1 } else { -1 };
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Ok(Value::Int(a.saturating_add(sign * b))),
        (Value::Duration(a), Value::Duration(b)) => Ok(Value::Duration(if sign > 0 {
            a.saturating_add(b)
        } else {
            a.saturating_sub(b)
        })),
        (Value::Timestamp(a), Value::Duration(b)) => {
            let b = i64::try_from(b).unwrap_or(i64::MAX);
            Ok(Value::Timestamp(a.saturating_add(sign * b)))
        }
        (Value::Duration(a), Value::Timestamp(b)) if sign > 0 => {
            let a = i64::try_from(a).unwrap_or(i64::MAX);
            Ok(Value::Timestamp(b.saturating_add(a)))
        }
        (Value::Timestamp(a), Value::Timestamp(b)) if sign < 0 => Ok(Value::Duration(
            u64::try_from(a.saturating_sub(b)).unwrap_or(0),
        )),
        (Value::List(mut a), Value::List(b)) if sign > 0 => {
            a.extend(b);
            Ok(Value::List(a))
        }
        (a, b) => Err(format!("cannot add or subtract {a} and {b}")),
    }
}

fn call(name: &str, args: &[Expr], env: &dyn Env) -> Result<Value, String> {
    let single_name = || match args {
        [
            Expr {
                kind: ExprKind::Path(path),
                ..
            },
        ] => Ok(path.dotted()),
        _ => Err(format!("`{name}` takes one name")),
    };
    match name {
        "filled" => Ok(Value::Bool(env.role_filled(&single_name()?))),
        "set" => Ok(Value::Bool(env.link_set(&single_name()?))),
        "count" => {
            let [condition, window] = args else {
                return Err("`count` takes a condition and a window".to_string());
            };
            let Value::Duration(window) = eval(window, env)? else {
                return Err("`count`'s window must be a duration".to_string());
            };
            env.count(condition, window).map(Value::Int)
        }
        "now" => Ok(Value::Timestamp(env.now())),
        "len" | "contains" | "version" | "timestamp" | "weekday" | "hour" | "minute" => {
            let values = args
                .iter()
                .map(|arg| eval(arg, env))
                .collect::<Result<Vec<_>, _>>()?;
            match name {
                "len" | "contains" | "version" => crate::data::call(name, values),
                _ => crate::time::call(name, values),
            }
        }
        other => Err(format!("no function named `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Value, parse_duration, parse_input};
    use rbx_syntax::ast::{InputTypeKind, ScalarType};

    #[test]
    fn durations_must_have_a_unit_after_every_number() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("250ms"), Some(250));
        for bad in ["", "5", "m", "5x", "5 m", "-5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists_are_json_arrays_of_the_item_type() {
        let strings = InputTypeKind::List(ScalarType::String);
        assert_eq!(
            parse_input(r#"["a", "b c"]"#, &strings),
            Ok(Value::List(vec![
                Value::Text("a".into()),
                Value::Text("b c".into())
            ]))
        );
        let ints = InputTypeKind::List(ScalarType::Int);
        assert_eq!(
            parse_input("[1, 2]", &ints),
            Ok(Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(parse_input("a,b", &strings).is_err());
        assert!(parse_input(r#"["x"]"#, &ints).is_err());
    }

    #[test]
    fn secrets_are_masked_and_never_journalled() {
        let secret = parse_input("hunter2", &InputTypeKind::Scalar(ScalarType::Secret));
        assert_eq!(secret, Ok(Value::Secret("hunter2".into())));
        let secret = Value::Secret("hunter2".into());
        assert_eq!(secret.to_string(), super::MASK);
        assert_eq!(secret.to_json(), None);
        assert_eq!(Value::List(vec![secret]).to_json(), None);
    }

    #[test]
    fn values_round_trip_through_the_journal() {
        for value in [
            Value::Text("a b".into()),
            Value::Int(-3),
            Value::Bool(true),
            Value::Duration(90_000),
            Value::Timestamp(1_700_000_000_000),
            Value::Name("SEV0".into()),
            Value::List(vec![Value::Text("x".into()), Value::Int(1)]),
        ] {
            let json = value.to_json().expect("not a secret");
            assert_eq!(Value::from_json(&json), Some(value));
        }
    }
}
