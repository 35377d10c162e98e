//! Periodic reports (e.g. the monthly dispute sweep, 矛盾纠纷排查): every unit of the named levels files one
//! report per month — what it found, or a nil report (零报告) — by a day of the following month. Whether each
//! unit's report is on time, late or missing is decided here from the time of its first filing (the server's
//! time, recorded in the log: a late report stays late; corrections are later events, not new first filings).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::deadline::china_tz;

/// What a definition says about its periodic reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Periodic {
    /// Integer fields naming the period reported on.
    pub year_field: String,
    pub month_field: String,
    /// A choice field summarising the report (e.g. found / nil report), shown in the overview.
    #[serde(default)]
    pub result_field: Option<String>,
    /// The report is due by the end of this day of the following month (1–28).
    pub due_day: u32,
    /// The unit levels that must report (e.g. township, village).
    pub levels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    OnTime,
    Late,
    Missing,
    /// Not filed yet, and not yet due.
    Pending,
}

impl ReportStatus {
    pub fn label_zh(self) -> &'static str {
        match self {
            ReportStatus::OnTime => "按时报送",
            ReportStatus::Late => "迟报",
            ReportStatus::Missing => "漏报",
            ReportStatus::Pending => "未到期",
        }
    }
}

/// Midnight China time on `day` of `year`/`month`; None for an impossible date.
fn local_midnight(year: i32, month: u32, day: u32) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(china_tz().from_local_datetime(&date.and_hms_opt(0, 0, 0)?).single()?.with_timezone(&Utc))
}

/// The start of the month reported on: a report filed before it is not a report on it.
pub fn month_start(year: i32, month: u32) -> Option<DateTime<Utc>> {
    local_midnight(year, month, 1)
}

/// The end (exclusive) of the report for `year`/`month`: midnight China time after `due_day` of the next month.
/// None for an impossible period.
pub fn due_at(year: i32, month: u32, due_day: u32) -> Option<DateTime<Utc>> {
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    Some(local_midnight(y, m, due_day)? + chrono::Duration::days(1))
}

/// A unit's report status from its first filing.
pub fn status(first_filed: Option<DateTime<Utc>>, due: DateTime<Utc>, now: DateTime<Utc>) -> ReportStatus {
    match first_filed {
        Some(at) if at < due => ReportStatus::OnTime,
        Some(_) => ReportStatus::Late,
        None if now >= due => ReportStatus::Missing,
        None => ReportStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::parse_start;

    #[test]
    fn the_november_report_is_due_by_the_end_of_5_december_china_time() {
        let due = due_at(2026, 11, 5).unwrap();
        assert_eq!(due, parse_start("2026-12-06T00:00").unwrap());
        assert_eq!(due_at(2026, 12, 5).unwrap(), parse_start("2027-01-06T00:00").unwrap());
        assert_eq!(due_at(2026, 13, 5), None);
        let just_before = parse_start("2026-12-05T23:59").unwrap();
        assert_eq!(status(Some(just_before), due, due), ReportStatus::OnTime);
        assert_eq!(status(Some(due), due, due), ReportStatus::Late);
        assert_eq!(status(None, due, just_before), ReportStatus::Pending);
        assert_eq!(status(None, due, due), ReportStatus::Missing);
    }
}
