//! Small arithmetic the dashboard's figures share with the store's tallies: month and day keys in China time
//! (`202611`, `20261121`), stepping months, and percent change.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::deadline::TZ;

/// `yyyymm` of an instant in China time.
pub fn month_key(at: DateTime<Utc>) -> i64 {
    let d = at.with_timezone(&TZ);
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// `yyyymmdd` of an instant in China time.
pub fn day_key(at: DateTime<Utc>) -> i64 {
    let d = at.with_timezone(&TZ);
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// The month `months` after (or before, when negative) a `yyyymm` key.
pub fn add_months(key: i64, months: i64) -> i64 {
    let n = key / 100 * 12 + (key % 100 - 1) + months;
    n.div_euclid(12) * 100 + n.rem_euclid(12) + 1
}

/// The first day of a `yyyymm` month (None for a key that names no month).
pub fn month_start(key: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(key / 100).ok()?, u32::try_from(key % 100).ok()?, 1)
}

/// The change from `before` to `now` in percent, to one decimal; None when there was nothing before.
pub fn percent_change(now: i64, before: i64) -> Option<f64> {
    (before > 0).then(|| ((now - before) as f64 * 1000.0 / before as f64).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_are_china_time() {
        // 2026-11-30 16:30 UTC is already 1 December in China.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 16, 30, 0).unwrap();
        assert_eq!((month_key(at), day_key(at)), (202612, 20261201));
        let before = Utc.with_ymd_and_hms(2026, 11, 30, 15, 59, 59).unwrap();
        assert_eq!((month_key(before), day_key(before)), (202611, 20261130));
    }

    #[test]
    fn months_step_across_years() {
        assert_eq!(add_months(202611, 1), 202612);
        assert_eq!(add_months(202612, 1), 202701);
        assert_eq!(add_months(202601, -1), 202512);
        assert_eq!(add_months(202611, -23), 202412);
        assert_eq!(add_months(202611, -12), 202511);
        assert_eq!(month_start(202602), NaiveDate::from_ymd_opt(2026, 2, 1));
        assert_eq!(month_start(202613), None);
    }

    #[test]
    fn percent_change_needs_something_before() {
        assert_eq!(percent_change(110, 100), Some(10.0));
        assert_eq!(percent_change(4, 1), Some(300.0));
        assert_eq!(percent_change(1, 3), Some(-66.7));
        assert_eq!(percent_change(5, 0), None);
    }
}
