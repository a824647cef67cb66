//! Time against simple oracles, over generated values: RFC 3339 text with
//! any offset reads as the moment it names; `+`, `-` and `*` over
//! timestamps and durations are plain arithmetic on milliseconds; the
//! calendar of a fixed-offset zone is the UTC calendar shifted; and a
//! timestamp reaches a command only as RFC 3339 text, whatever was typed.

use proptest::prelude::*;
use rbx_engine::value::{Env, Value, eval, parse_input};
use rbx_syntax::ast::{Expr, InputTypeKind, ItemKind, Require, ScalarType, StageItemKind};

/// The years the oracle and rbx both read: 0001 to 9999.
const FIRST_MS: i64 = -62_135_596_800_000;
const LAST_MS: i64 = 253_402_300_799_999;

const DAY_MS: i64 = 86_400_000;

/// Nothing to look up: the expressions here are literals and calls.
struct Nothing;

impl Env for Nothing {
    fn lookup(&self, _: &[&str]) -> Option<Value> {
        None
    }
    fn role_filled(&self, _: &str) -> bool {
        false
    }
    fn link_set(&self, _: &str) -> bool {
        false
    }
    fn count(&self, _: &Expr, _: u64) -> Result<i64, String> {
        Err("no history".to_string())
    }
    fn now(&self) -> i64 {
        0
    }
}

/// The expression of a stage-level `require`, parsed as rbx parses it.
fn expr(text: &str) -> Expr {
    let source = format!("stage s \"S\" {{\n  require {text}\n  end done\n}}\n");
    let parsed = rbx_syntax::parse(&source);
    assert!(
        parsed.diagnostics.is_empty(),
        "{text}: {:?}",
        parsed.diagnostics
    );
    let file = parsed.file.expect("it parses");
    let Some(ItemKind::Stage(stage)) = file.items.first().map(|i| &i.kind) else {
        panic!("a stage");
    };
    match &stage.items[0].kind {
        StageItemKind::Require(Require::Expr(e)) => e.clone(),
        other => panic!("a require, not {other:?}"),
    }
}

fn value(text: &str) -> Value {
    eval(&expr(text), &Nothing).unwrap_or_else(|why| panic!("{text}: {why}"))
}

/// Days since 1970-01-01 to a civil date, by counting whole years and
/// months: slow, and independent of the algorithm rbx relies on.
fn civil(days: i64) -> (i64, i64, i64) {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let (mut year, mut days) = (1970, days);
    while days < 0 {
        year -= 1;
        days += if leap(year) { 366 } else { 365 };
    }
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for length in lengths {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    (year, month, days + 1)
}

/// `ms` written as the wall clock of a place `offset` minutes ahead of UTC.
fn written(ms: i64, offset: i64) -> String {
    let local = ms + offset * 60_000;
    let (year, month, day) = civil(local.div_euclid(DAY_MS));
    let of_day = local.rem_euclid(DAY_MS);
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}:{:02}",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000,
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// What someone might type for a timestamp: anything, or a real one with
/// something hostile before or after it.
fn typed_times() -> impl Strategy<Value = String> {
    let real = (
        FIRST_MS + DAY_MS..LAST_MS - DAY_MS,
        -(18 * 60)..=(18 * 60i64),
    )
        .prop_map(|(ms, offset)| written(ms, offset));
    prop_oneof![
        ".{0,40}",
        (real.clone(), "[ ;$`|&\n\t'\"a-z0-9]{0,6}").prop_map(|(t, tail)| t + &tail),
        ("[ ;$`|&\n\t'\"a-z0-9-]{0,6}", real).prop_map(|(head, t)| head + &t),
    ]
}

proptest! {
    #[test]
    fn rfc3339_with_any_offset_names_its_moment(
        ms in FIRST_MS + DAY_MS..LAST_MS - DAY_MS,
        offset in -(18 * 60)..=(18 * 60i64),
    ) {
        let text = written(ms, offset);
        prop_assert_eq!(rbx_syntax::time::parse_timestamp(&text), Ok(ms), "{}", text);
        let shown = rbx_syntax::time::format_timestamp(ms);
        prop_assert_eq!(rbx_syntax::time::parse_timestamp(&shown), Ok(ms));
    }

    #[test]
    fn arithmetic_is_arithmetic_on_milliseconds(
        t in 0..4_000_000_000_000i64,
        step in 0..100_000_000u64,
        times in 0..1000i64,
        back in 0..100_000_000u64,
        u in 0..4_000_000_000_000i64,
    ) {
        let at = rbx_syntax::time::format_timestamp(t);
        let other = rbx_syntax::time::format_timestamp(u);
        let duration = rbx_syntax::fmt::duration;
        let sum = format!(
            "timestamp(\"{at}\") + {} * {times} - {}",
            duration(step),
            duration(back)
        );
        let expected = t + i64::try_from(step).unwrap() * times - i64::try_from(back).unwrap();
        prop_assert_eq!(value(&sum), Value::Timestamp(expected), "{}", sum);

        let between = format!("timestamp(\"{at}\") - timestamp(\"{other}\")");
        let gap = u64::try_from((t - u).max(0)).unwrap();
        prop_assert_eq!(value(&between), Value::Duration(gap), "{}", between);

        let earlier = format!("timestamp(\"{at}\") < timestamp(\"{other}\")");
        prop_assert_eq!(value(&earlier), Value::Bool(t < u), "{}", earlier);

        let scaled = format!("{times} * {} == {} * {times}", duration(step), duration(step));
        prop_assert_eq!(value(&scaled), Value::Bool(true), "{}", scaled);
    }

    #[test]
    fn the_calendar_of_a_fixed_zone_is_utcs_shifted(
        ms in -2_000_000_000_000..4_000_000_000_000i64,
        zone in prop::sample::select(vec![
            ("UTC", 0i64),
            ("Etc/GMT-5", 300),
            ("Etc/GMT+8", -480),
            ("Etc/GMT-14", 840),
            ("Asia/Kolkata", 330),
        ]),
    ) {
        let (name, offset) = zone;
        // Kolkata has kept +05:30, with no summer time, since 1945.
        prop_assume!(name != "Asia/Kolkata" || ms > -700_000_000_000);
        let local = ms + offset * 60_000;
        let at = rbx_syntax::time::format_timestamp(ms);
        let days = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"];
        let weekday = days[usize::try_from(local.div_euclid(DAY_MS).rem_euclid(7)).unwrap()];
        prop_assert_eq!(
            value(&format!("weekday(timestamp(\"{at}\"), \"{name}\")")),
            Value::Name(weekday.to_string())
        );
        prop_assert_eq!(
            value(&format!("hour(timestamp(\"{at}\"), \"{name}\")")),
            Value::Int(local.div_euclid(3_600_000).rem_euclid(24))
        );
        prop_assert_eq!(
            value(&format!("minute(timestamp(\"{at}\"), \"{name}\")")),
            Value::Int(local.div_euclid(60_000).rem_euclid(60))
        );
    }

    #[test]
    fn a_timestamp_reaches_a_command_only_as_rfc3339(typed in typed_times()) {
        let ty = InputTypeKind::Scalar(ScalarType::Timestamp);
        if let Ok(read) = parse_input(&typed, &ty) {
            let shown = read.reveal();
            prop_assert!(
                shown.bytes().all(|b| b.is_ascii_digit() || b"-:.TZ".contains(&b)),
                "{:?} became {:?}",
                typed,
                shown
            );
            prop_assert!(!shown.starts_with('-'));
        }
    }

    #[test]
    fn every_moment_is_shown_without_shell_syntax(ms in FIRST_MS..LAST_MS) {
        let shown = Value::Timestamp(ms).reveal();
        prop_assert!(shown.bytes().all(|b| b.is_ascii_digit() || b"-:.TZ".contains(&b)));
        prop_assert!(!shown.starts_with('-'));
    }
}

#[test]
fn hostile_text_is_not_a_timestamp() {
    let ty = InputTypeKind::Scalar(ScalarType::Timestamp);
    for hostile in [
        "$(reboot)",
        "2026-12-08T10:00:00Z; rm -rf /",
        "2026-12-08T10:00:00Z\n",
        "-2026-12-08T10:00:00Z",
        "2026-12-08 10:00:00",
        "",
    ] {
        let read = parse_input(hostile, &ty);
        assert!(
            read.as_ref()
                .map_or(true, |v| v.reveal() == "2026-12-08T10:00:00Z"),
            "{hostile:?} read as {read:?}"
        );
    }
}
