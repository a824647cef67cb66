//! The data expressions at run time: `??`, `len`, `contains`, `version`.

use rbx_syntax::ast::{Expr, ExprKind};

use crate::value::{Env, Value, eval};

/// `a ?? b ?? c`: the first operand that has a value. A name with no value
/// yet — the capture of a step that was skipped, optional evidence left
/// out — is missing; any other operand is evaluated, and its errors stand.
/// The last operand is the default: when it is missing too, that is an
/// error, never a made-up value.
pub fn default(operands: &[Expr], env: &dyn Env) -> Result<Value, String> {
    for operand in operands {
        if let ExprKind::Path(path) = &operand.kind {
            let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
            if let Some(value) = env.lookup(&names) {
                return Ok(value);
            }
            let last = std::ptr::eq(operand, operands.last().unwrap_or(operand));
            if last && names.len() > 1 {
                return Err(format!(
                    "`{}` has no value, and it is the last default",
                    path.dotted()
                ));
            }
            if !last {
                continue;
            }
        }
        return eval(operand, env);
    }
    Err("`??` has no operands".to_string())
}

/// `len`, `contains` and `version` over their evaluated arguments.
pub fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match (name, args.as_slice()) {
        ("len", [Value::List(items)]) => Ok(Value::Int(count(items.len()))),
        ("len", [Value::Text(text)]) => Ok(Value::Int(count(text.chars().count()))),
        ("contains", [Value::List(items), needle]) => {
            Ok(Value::Bool(items.iter().any(|item| same(item, needle))))
        }
        ("contains", [Value::Text(text), Value::Text(part)]) => {
            Ok(Value::Bool(text.contains(part.as_str())))
        }
        ("version", [Value::Text(text)]) => rbx_syntax::Version::parse(text).map(Value::Version),
        ("version", [Value::Version(v)]) => Ok(Value::Version(v.clone())),
        (_, args) => {
            let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
            Err(format!(
                "`{name}` cannot take {}",
                if shown.is_empty() {
                    "no arguments".to_string()
                } else {
                    shown.join(", ")
                }
            ))
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Whether two values are equal as `==` sees them: lists item by item,
/// versions as versions, anything else as written.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Version(a), Value::Version(b)) => a == b,
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => a.reveal() == b.reveal(),
    }
}
