//! Time at run time: `*`, `timestamp(...)` and the calendar functions
//! `weekday`, `hour` and `minute`. `now()` is the environment's: the
//! clock of the run, simulated under `rbx test`.

use rbx_syntax::time::{WEEKDAYS, civil, parse_timestamp};

use crate::value::Value;

/// `a * b * …`: ints, and at most one duration among them. A product too
/// large for its type, or a duration times a negative number, fails the
/// node that asked rather than wrap or clamp.
pub fn product(values: Vec<Value>) -> Result<Value, String> {
    let mut number: i64 = 1;
    let mut duration: Option<u64> = None;
    for value in values {
        match value {
            Value::Int(n) => {
                number = number
                    .checked_mul(n)
                    .ok_or_else(|| "the product is too large".to_string())?;
            }
            Value::Duration(ms) if duration.is_none() => duration = Some(ms),
            other => return Err(format!("cannot multiply {other}")),
        }
    }
    let Some(ms) = duration else {
        return Ok(Value::Int(number));
    };
    let factor = u64::try_from(number)
        .map_err(|_| format!("a duration cannot be multiplied by {number}, a negative number"))?;
    ms.checked_mul(factor)
        .map(Value::Duration)
        .ok_or_else(|| "the duration is too long".to_string())
}

/// `timestamp(text)`, `weekday(time, zone)`, `hour(time, zone)` and
/// `minute(time, zone)` over their evaluated arguments.
pub fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match (name, args.as_slice()) {
        ("timestamp", [Value::Text(text)]) => parse_timestamp(text).map(Value::Timestamp),
        ("timestamp", [Value::Timestamp(ms)]) => Ok(Value::Timestamp(*ms)),
        ("weekday" | "hour" | "minute", [Value::Timestamp(ms), Value::Text(zone)]) => {
            let civil = civil(*ms, zone)?;
            Ok(match name {
                "weekday" => Value::Name(WEEKDAYS[civil.weekday].to_string()),
                "hour" => Value::Int(civil.hour),
                _ => Value::Int(civil.minute),
            })
        }
        (_, args) => {
            let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
            Err(format!("`{name}` cannot take {}", shown.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{call, product};
    use crate::value::Value;

    #[test]
    fn a_duration_times_a_number_is_a_duration() {
        assert_eq!(
            product(vec![Value::Duration(60_000), Value::Int(3)]),
            Ok(Value::Duration(180_000))
        );
        assert_eq!(
            product(vec![Value::Int(2), Value::Duration(5), Value::Int(2)]),
            Ok(Value::Duration(20))
        );
        assert_eq!(
            product(vec![Value::Int(-2), Value::Int(3)]),
            Ok(Value::Int(-6))
        );
        assert!(product(vec![Value::Duration(5), Value::Int(-1)]).is_err());
        assert!(product(vec![Value::Int(i64::MAX), Value::Int(2)]).is_err());
        assert!(product(vec![Value::Duration(u64::MAX), Value::Int(2)]).is_err());
        assert!(product(vec![Value::Duration(1), Value::Duration(1)]).is_err());
    }

    #[test]
    fn the_calendar_names_its_zone() {
        let at = Value::Timestamp(1_796_684_400_000); // 2026-12-07T23:00:00Z, a Monday
        let utc = Value::Text("UTC".to_string());
        let tokyo = Value::Text("Asia/Tokyo".to_string());
        assert_eq!(
            call("weekday", vec![at.clone(), utc.clone()]),
            Ok(Value::Name("mon".to_string()))
        );
        assert_eq!(
            call("weekday", vec![at.clone(), tokyo.clone()]),
            Ok(Value::Name("tue".to_string()))
        );
        assert_eq!(call("hour", vec![at.clone(), tokyo]), Ok(Value::Int(8)));
        assert_eq!(call("minute", vec![at.clone(), utc]), Ok(Value::Int(0)));
        let nowhere = Value::Text("Nowhere/Land".to_string());
        assert!(call("hour", vec![at, nowhere]).is_err());
    }
}
