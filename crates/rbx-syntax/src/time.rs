//! Points in time as runbooks write them: RFC 3339 timestamps
//! (`2026-12-07T18:00:00Z`, `2026-12-07T19:00:00+01:00`), read as
//! milliseconds since the Unix epoch, and the calendar of a named time
//! zone (`Europe/Berlin`), for `weekday(...)`, `hour(...)` and
//! `minute(...)`.
//!
//! A timestamp must carry its offset: `2026-12-07T18:00:00` names no
//! moment until a zone is chosen, and a procedure that fires at a release
//! time must not guess it. The zone database is bundled with rbx, so lint,
//! `rbx test` and a run read the same zones wherever they run. Lint and
//! the engine read times with these functions alone, so what lint accepts
//! the engine reads the same way.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The days of the week, as `weekday(...)` names them, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads an RFC 3339 timestamp as milliseconds since the epoch; `Err`
/// says what is wrong, as a lowercase fragment.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    let parsed: Timestamp = trimmed.parse().map_err(|_| {
        let hint = if looks_local(trimmed) {
            "it has no offset; add `Z` for UTC or the zone's offset, such as `+01:00`"
        } else {
            "write it as RFC 3339, such as `2026-12-07T18:00:00Z`"
        };
        format!("`{trimmed}` is not a timestamp: {hint}")
    })?;
    Ok(parsed.as_millisecond())
}

/// A date and a time of day without an offset: `2026-12-07T18:00:00`.
fn looks_local(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 16
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && !text[10..].contains(['Z', 'z', '+'])
        && !text[11..].contains('-')
}

/// `millis` as RFC 3339 in UTC (`2026-12-07T18:00:00Z`, milliseconds only
/// when there are some); the text a command is given for a timestamp.
pub fn format_timestamp(millis: i64) -> String {
    match Timestamp::from_millisecond(millis) {
        Ok(at) => at.to_string(),
        Err(_) => millis.to_string(),
    }
}

/// The time zone named `name` (an IANA name such as `Europe/Berlin`, or
/// `UTC`); `Err` says what is wrong.
fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a time zone: name one as the tz database does, such as `UTC`, `Europe/Berlin` or `America/New_York`")
    })
}

/// Checks that `name` is a time zone rbx knows.
pub fn check_zone(name: &str) -> Result<(), String> {
    zone(name).map(|_| ())
}

/// What the clock and calendar show at a moment in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// An index into [`WEEKDAYS`]: 0 is Monday.
    pub weekday: usize,
    pub hour: i64,
    pub minute: i64,
}

/// The calendar at `millis` in the zone `name`.
pub fn civil(millis: i64, name: &str) -> Result<Civil, String> {
    let zone = zone(name)?;
    let at = Timestamp::from_millisecond(millis)
        .map_err(|_| format!("{millis} ms from the epoch is out of the calendar's range"))?;
    let local = at.to_zoned_datetime(zone);
    Ok(Civil {
        weekday: usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0),
        hour: i64::from(local.hour()),
        minute: i64::from(local.minute()),
    })
}

#[cfg(test)]
mod tests {
    use super::{WEEKDAYS, civil, format_timestamp, parse_timestamp};

    #[test]
    fn timestamps_need_an_offset() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Ok(0));
        let local = parse_timestamp("2026-12-07T18:00:00").unwrap_err();
        assert!(local.contains("no offset"), "{local}");
        let junk = parse_timestamp("tomorrow").unwrap_err();
        assert!(junk.contains("RFC 3339"), "{junk}");
    }

    #[test]
    fn timestamps_print_as_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1), "1970-01-01T00:00:00.001Z");
        let back = parse_timestamp(&format_timestamp(1_796_634_000_123));
        assert_eq!(back, Ok(1_796_634_000_123));
    }

    #[test]
    fn the_calendar_is_the_zones() {
        // 2026-12-07T23:30:00Z is a Monday in UTC and already Tuesday in
        // Berlin, an hour ahead in winter.
        let at = parse_timestamp("2026-12-07T23:30:00Z").unwrap();
        let utc = civil(at, "UTC").unwrap();
        assert_eq!(
            (WEEKDAYS[utc.weekday], utc.hour, utc.minute),
            ("mon", 23, 30)
        );
        let berlin = civil(at, "Europe/Berlin").unwrap();
        assert_eq!((WEEKDAYS[berlin.weekday], berlin.hour), ("tue", 0));
        assert!(civil(at, "Mars/Olympus").is_err());
    }
}
