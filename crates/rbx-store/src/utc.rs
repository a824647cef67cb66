//! UTC wall-clock time in the two text forms the store writes: RFC 3339
//! with milliseconds for records, and a compact form for run ids.
//!
//! A calendar crate would be a dependency for two format strings; the
//! conversion from days to a civil date is Howard Hinnant's
//! `civil_from_days`, exact for the proleptic Gregorian calendar.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, broken down to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl Utc {
    /// The current time from the system clock, or from the clock a test
    /// set (`set_test_clock`).
    pub(crate) fn now() -> Utc {
        if let Some(millis) = crate::test_clock::now_ms() {
            return Utc::from_unix_millis(millis);
        }
        // A clock set before 1970 is a broken machine, not a reason to stop
        // recording: such a time is written as the epoch.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis = since_epoch.as_millis();
        Utc::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// The moment `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub(crate) fn from_unix_millis(millis: i64) -> Utc {
        let seconds = millis.div_euclid(1000);
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // The remainders below are bounded by their divisors, so the
        // narrowing conversions cannot fail.
        let narrow = |value: i64| u32::try_from(value).unwrap_or(0);
        Utc {
            year,
            month,
            day,
            hour: narrow(of_day / 3600),
            minute: narrow(of_day % 3600 / 60),
            second: narrow(of_day % 60),
            millis: narrow(millis.rem_euclid(1000)),
        }
    }

    /// `2026-11-28T08:30:12.345Z`: sortable as text, and what every record
    /// in the store carries.
    pub(crate) fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20261128-083012`: the time part of a run id.
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The civil date `days` days after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let narrow = |value: i64| u32::try_from(value).unwrap_or(0);
    (year, narrow(month), narrow(day))
}

#[cfg(test)]
mod tests {
    use super::Utc;

    #[test]
    fn formats_known_moments() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z", "19700101-000000"),
            (
                1_764_318_612_345,
                "2025-11-28T08:30:12.345Z",
                "20251128-083012",
            ),
            (
                951_782_400_000,
                "2000-02-29T00:00:00.000Z",
                "20000229-000000",
            ),
            (
                4_107_542_399_999,
                "2100-02-28T23:59:59.999Z",
                "21000228-235959",
            ),
            (-1, "1969-12-31T23:59:59.999Z", "19691231-235959"),
        ];
        for (millis, rfc3339, compact) in cases {
            let utc = Utc::from_unix_millis(millis);
            assert_eq!(utc.rfc3339_millis(), rfc3339, "{millis}");
            assert_eq!(utc.compact(), compact, "{millis}");
        }
    }
}
