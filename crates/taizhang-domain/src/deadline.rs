//! Statutory deadlines (DOMAIN.md §1 "Time").
//!
//! Three kinds of period, never mixed up:
//! - calendar days ("N 日"): the start day is not counted; due = start date + N; a due date on a rest day or
//!   holiday rolls forward to the next working day; the period ends at 24:00 local time.
//! - working days ("N 工作日"): the N-th working day after the start date, per the holiday table.
//! - hours / minutes: wall clock, 24×7.
//!
//! All dates are local to China (UTC+8, no daylight saving); instants are stored in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::HolidayCalendar;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::region::Region;

/// China Standard Time, UTC+8.
pub const TZ: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(tz) => tz,
    None => panic!("UTC+8 is a valid offset"),
};

pub fn china_tz() -> FixedOffset {
    TZ
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PeriodUnit {
    #[serde(rename = "calendar")]
    CalendarDays,
    #[serde(rename = "working")]
    WorkingDays,
    #[serde(rename = "hours")]
    Hours,
    #[serde(rename = "minutes")]
    Minutes,
    /// Hours of office time on working days (`OFFICE_HOURS`), as urban-management time limits are set.
    #[serde(rename = "working_hours")]
    WorkingHours,
}

impl PeriodUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodUnit::CalendarDays => "calendar",
            PeriodUnit::WorkingDays => "working",
            PeriodUnit::Hours => "hours",
            PeriodUnit::Minutes => "minutes",
            PeriodUnit::WorkingHours => "working_hours",
        }
    }

    fn is_days(self) -> bool {
        matches!(self, PeriodUnit::CalendarDays | PeriodUnit::WorkingDays)
    }
}

impl FromStr for PeriodUnit {
    type Err = DomainError;
    fn from_str(s: &str) -> DomainResult<PeriodUnit> {
        match s {
            "calendar" => Ok(PeriodUnit::CalendarDays),
            "working" => Ok(PeriodUnit::WorkingDays),
            "hours" => Ok(PeriodUnit::Hours),
            "minutes" => Ok(PeriodUnit::Minutes),
            "working_hours" => Ok(PeriodUnit::WorkingHours),
            _ => Err(DomainError::new(
                ErrorCode::InvalidInput,
                format!(
                    "无法识别的期限单位：“{s}”，应为 calendar（日）、working（工作日）、hours（小时）、minutes（分钟）或 working_hours（工作时）"
                ),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub amount: u32,
    pub unit: PeriodUnit,
}

/// Chinese wording as in the statutes: "15 日", "5 个工作日", "2 小时", "30 分钟".
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            PeriodUnit::CalendarDays => "日",
            PeriodUnit::WorkingDays => "个工作日",
            PeriodUnit::Hours => "小时",
            PeriodUnit::Minutes => "分钟",
            PeriodUnit::WorkingHours => "个工作时",
        };
        write!(f, "{} {unit}", self.amount)
    }
}

/// When a period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    /// The last day of the period (day units only).
    pub due_date: Option<NaiveDate>,
    /// The instant the period ends: 24:00 local of `due_date` for day units, start + duration otherwise.
    pub due_at: DateTime<Utc>,
    /// The holiday table did not cover a day the computation needed (calendar days only: the due date was not
    /// rolled forward past possible holidays). Show it as provisional.
    pub provisional: bool,
}

/// The local (UTC+8) wall-clock time of an instant; None within 8 hours of the end of chrono's range.
fn local_time(at: DateTime<Utc>) -> Option<NaiveDateTime> {
    at.naive_utc().checked_add_signed(Duration::hours(8))
}

/// The local (UTC+8) date of an instant (saturating at the end of chrono's range).
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    local_time(at).map_or(NaiveDate::MAX, |local| local.date())
}

/// The instant a local date begins (00:00 +08:00).
fn local_midnight(date: NaiveDate) -> DomainResult<DateTime<Utc>> {
    let at = date.and_time(NaiveTime::MIN).checked_sub_signed(Duration::hours(8)).ok_or_else(too_long)?;
    Ok(at.and_utc())
}

fn too_long() -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, "期限过长，超出可计算的日期范围")
}

fn day_due(date: NaiveDate, provisional: bool) -> DomainResult<Due> {
    let end = date.succ_opt().ok_or_else(too_long)?;
    Ok(Due { due_date: Some(date), due_at: local_midnight(end)?, provisional })
}

fn clock_due(start: DateTime<Utc>, duration: Duration) -> DomainResult<Due> {
    let due_at = start.checked_add_signed(duration).ok_or_else(too_long)?;
    Ok(Due { due_date: None, due_at, provisional: false })
}

/// Office hours on working days, local time: 8:30–12:00 and 14:00–17:30 (7 working hours a day), the common
/// pattern of Chinese government offices [practice]. Not yet configurable per locality.
pub const OFFICE_HOURS: [((u32, u32), (u32, u32)); 2] = [((8, 30), (12, 0)), ((14, 0), (17, 30))];

/// The office-time windows of one local day (empty on rest days), as UTC instants.
fn office_windows(
    cal: &HolidayCalendar,
    day: NaiveDate,
    region: Option<&Region>,
) -> DomainResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    if !cal.is_working_day(day, region)? {
        return Ok(vec![]);
    }
    let at = |(h, m): (u32, u32)| -> DomainResult<DateTime<Utc>> {
        let t = NaiveTime::from_hms_opt(h, m, 0).ok_or_else(too_long)?;
        Ok(day.and_time(t).checked_sub_signed(Duration::hours(8)).ok_or_else(too_long)?.and_utc())
    };
    OFFICE_HOURS.iter().map(|(from, to)| Ok((at(*from)?, at(*to)?))).collect()
}

/// The instant `minutes` of office time after `start` (a start outside office hours counts from the next
/// opening). Fails past the holiday table, like working days.
pub fn add_working_minutes(
    cal: &HolidayCalendar,
    start: DateTime<Utc>,
    minutes: i64,
    region: Option<&Region>,
) -> DomainResult<DateTime<Utc>> {
    let mut left = Duration::minutes(minutes);
    for day in local_date(start).iter_days() {
        for (open, close) in office_windows(cal, day, region)? {
            let from = open.max(start);
            if from >= close {
                continue;
            }
            if close - from >= left {
                return Ok(from + left);
            }
            left -= close - from;
        }
    }
    Err(too_long())
}

/// Office time between two instants.
pub fn working_time_between(
    cal: &HolidayCalendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    region: Option<&Region>,
) -> DomainResult<Duration> {
    let mut total = Duration::zero();
    if to <= from {
        return Ok(total);
    }
    for day in local_date(from).iter_days().take_while(|d| *d <= local_date(to)) {
        for (open, close) in office_windows(cal, day, region)? {
            let (a, b) = (open.max(from), close.min(to));
            if a < b {
                total += b - a;
            }
        }
    }
    Ok(total)
}

/// The due date of a period starting at `start`. For day units only the local date of `start` matters, and
/// N = 0 means the start date itself (no roll-forward).
///
/// Calendar days never fail for lack of table data: when the roll-forward would need a year the table does
/// not hold, the unrolled date is returned with `provisional = true`. Working days do fail then, with
/// `CalendarOutOfRange`.
pub fn compute_due(
    cal: &HolidayCalendar,
    start: DateTime<Utc>,
    period: Period,
    region: Option<&Region>,
) -> DomainResult<Due> {
    let n = period.amount;
    let start_date = local_date(start);
    match period.unit {
        PeriodUnit::Hours => clock_due(start, Duration::hours(n.into())),
        PeriodUnit::Minutes => clock_due(start, Duration::minutes(n.into())),
        PeriodUnit::WorkingHours => {
            clock_due(add_working_minutes(cal, start, i64::from(n) * 60, region)?, Duration::zero())
        }
        _ if n == 0 => day_due(start_date, false),
        PeriodUnit::CalendarDays => {
            let target = start_date.checked_add_days(Days::new(n.into())).ok_or_else(too_long)?;
            for day in target.iter_days() {
                match cal.is_working_day(day, region) {
                    Ok(true) => return day_due(day, false),
                    Ok(false) => {}
                    Err(e) if e.code == ErrorCode::CalendarOutOfRange => break,
                    Err(e) => return Err(e),
                }
            }
            day_due(target, true)
        }
        PeriodUnit::WorkingDays => {
            let mut left = n;
            for day in start_date.iter_days().skip(1) {
                if cal.is_working_day(day, region)? {
                    left -= 1;
                    if left == 0 {
                        return day_due(day, false);
                    }
                }
            }
            Err(too_long())
        }
    }
}

/// An approved extension runs from the end of the original period: for day units the original due date is
/// the new start date (not counted), for hours/minutes the original `due_at` is the new start.
pub fn extend_due(cal: &HolidayCalendar, due: &Due, extension: Period, region: Option<&Region>) -> DomainResult<Due> {
    let start = match due.due_date {
        Some(date) if extension.unit.is_days() => local_midnight(date)?,
        _ => due.due_at,
    };
    let extended = compute_due(cal, start, extension, region)?;
    Ok(Due { provisional: extended.provisional || due.provisional, ..extended })
}

/// Like `compute_due`, with pause intervals (hearings, suspended cases) removed from elapsed time. An open
/// pause (`None` end) lasts until `now`; overlapping pauses count once; time before `start` is ignored.
///
/// - hours/minutes: the due instant moves by the total paused time.
/// - calendar days: N grows by the total paused time in days, rounded up (a 2-hour pause costs one day).
/// - working days: N grows by the number of working days after the start date that a pause touches (any
///   part of the local day; a pause ending exactly at 00:00 does not touch that day).
pub fn compute_due_with_pauses(
    cal: &HolidayCalendar,
    start: DateTime<Utc>,
    period: Period,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
    region: Option<&Region>,
) -> DomainResult<Due> {
    let mut intervals: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        pauses.iter().map(|&(from, to)| (from.max(start), to.unwrap_or(now))).filter(|(from, to)| from < to).collect();
    intervals.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (from, to) in intervals {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    let paused: Duration = merged.iter().map(|(from, to)| *to - *from).sum();
    let extra_days = match period.unit {
        PeriodUnit::Hours | PeriodUnit::Minutes => {
            let due = compute_due(cal, start, period, region)?;
            return clock_due(due.due_at, paused);
        }
        // Office time inside the pauses is given back, as office time.
        PeriodUnit::WorkingHours => {
            let mut given_back = 0;
            for (from, to) in &merged {
                given_back += working_time_between(cal, *from, *to, region)?.num_minutes();
            }
            let minutes = i64::from(period.amount) * 60 + given_back;
            return clock_due(add_working_minutes(cal, start, minutes, region)?, Duration::zero());
        }
        PeriodUnit::CalendarDays => (paused.num_seconds() + 86_399) / 86_400,
        PeriodUnit::WorkingDays => {
            // intervals are sorted and disjoint, so touched days come in order; count each day once
            let mut counted_through = local_date(start);
            let mut count = 0i64;
            for (from, to) in &merged {
                let last = local_date(*to - Duration::nanoseconds(1));
                for day in local_date(*from).iter_days().take_while(|d| *d <= last) {
                    if day > counted_through {
                        counted_through = day;
                        count += i64::from(cal.is_working_day(day, region)?);
                    }
                }
            }
            count
        }
    };
    let amount = u32::try_from(i64::from(period.amount) + extra_days).map_err(|_| too_long())?;
    compute_due(cal, start, Period { amount, ..period }, region)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    OnTime,
    DueSoon,
    Overdue,
}

impl ClockStatus {
    pub fn label_zh(self) -> &'static str {
        match self {
            ClockStatus::OnTime => "正常",
            ClockStatus::DueSoon => "即将到期",
            ClockStatus::Overdue => "已超期",
        }
    }
}

/// Overdue from `due_at` on (the period has ended); due soon within `warn_before` of it.
pub fn clock_status(due_at: DateTime<Utc>, warn_before: Duration, now: DateTime<Utc>) -> ClockStatus {
    if now >= due_at {
        ClockStatus::Overdue
    } else if due_at.checked_sub_signed(warn_before).is_none_or(|warn_from| now >= warn_from) {
        ClockStatus::DueSoon
    } else {
        ClockStatus::OnTime
    }
}

/// "还剩 3 天", "还剩 3 个工作日", "今天到期", "还剩 5 小时 20 分钟", "已超期 2 天".
///
/// Day units compare local dates; working-day periods count the (national) working days after today up to
/// the due date, falling back to calendar days when the table does not cover them. Overdue is always told in
/// calendar days (day units) or hours/minutes (clock units).
pub fn remaining_words_zh(due: &Due, unit: PeriodUnit, now: DateTime<Utc>, cal: &HolidayCalendar) -> String {
    if unit == PeriodUnit::WorkingHours
        && now < due.due_at
        && let Ok(left) = working_time_between(cal, now, due.due_at, None)
    {
        let m = (left.num_seconds() + 59) / 60;
        return match (m / 60, m % 60) {
            (h, 0) => format!("还剩 {h} 个工作时"),
            (0, m) => format!("还剩 {m} 分钟（工作时间）"),
            (h, m) => format!("还剩 {h} 个工作时 {m} 分钟"),
        };
    }
    let Some(due_date) = due.due_date.filter(|_| unit.is_days()) else {
        return clock_words(due.due_at - now);
    };
    let today = local_date(now);
    if now >= due.due_at {
        return format!("已超期 {} 天", (today - due_date).num_days());
    }
    if today == due_date {
        return "今天到期".to_owned();
    }
    let days = (due_date - today).num_days();
    if unit == PeriodUnit::WorkingDays {
        let working: DomainResult<Vec<bool>> =
            today.iter_days().skip(1).take_while(|d| *d <= due_date).map(|d| cal.is_working_day(d, None)).collect();
        if let Ok(working) = working {
            return format!("还剩 {} 个工作日", working.into_iter().filter(|w| *w).count());
        }
    }
    format!("还剩 {days} 天")
}

fn clock_words(left: Duration) -> String {
    let minutes = |m: i64| match (m / 60, m % 60) {
        (0, m) => format!("{m} 分钟"),
        (h, 0) => format!("{h} 小时"),
        (h, m) => format!("{h} 小时 {m} 分钟"),
    };
    let secs = left.num_seconds();
    match secs {
        1.. => format!("还剩 {}", minutes((secs + 59) / 60)),
        _ if secs > -60 => "已到期".to_owned(),
        _ => format!("已超期 {}", minutes(-secs / 60)),
    }
}

/// Parses a start: "YYYY-MM-DD" (00:00 local), "YYYY-MM-DDTHH:MM[:SS]" or with a space (local time), or
/// RFC 3339 with an offset.
pub fn parse_start(s: &str) -> DomainResult<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN)));
    local
        .and_then(|at| at.checked_sub_signed(Duration::hours(8)))
        .map(|at| at.and_utc())
        .ok_or_else(|| DomainError::new(ErrorCode::InvalidDate, format!("无法识别的日期：{s}，请使用 YYYY-MM-DD 格式")))
}

/// Day units: "YYYY-MM-DD"; hours/minutes: RFC 3339 in +08:00, e.g. "2026-03-01T10:00:00+08:00".
pub fn format_due(due: &Due, unit: PeriodUnit) -> String {
    match due.due_date {
        Some(date) if unit.is_days() => date.format("%Y-%m-%d").to_string(),
        _ => match local_time(due.due_at) {
            Some(local) => local.format("%Y-%m-%dT%H:%M:%S+08:00").to_string(),
            None => due.due_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn cal() -> &'static HolidayCalendar {
        HolidayCalendar::embedded()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_start(s).unwrap()
    }

    fn due(start: &str, amount: u32, unit: PeriodUnit) -> Due {
        compute_due(cal(), at(start), Period { amount, unit }, None).unwrap()
    }

    fn due_date(start: &str, amount: u32, unit: PeriodUnit) -> String {
        format_due(&due(start, amount, unit), unit)
    }

    use PeriodUnit::{CalendarDays, Hours, Minutes, WorkingDays};

    #[test]
    fn working_hours_count_office_time_on_working_days_only() {
        let wh = PeriodUnit::WorkingHours;
        // Friday 16:30 + 4 working hours: 1 h on Friday, then Monday 8:30–11:30.
        assert_eq!(due("2026-11-20T16:30", 4, wh).due_at, at("2026-11-23T11:30"));
        // Started at lunch: counting begins at 14:00.
        assert_eq!(due("2026-11-23T12:30", 1, wh).due_at, at("2026-11-23T15:00"));
        // Started in the evening: the next morning.
        assert_eq!(due("2026-11-23T20:00", 2, wh).due_at, at("2026-11-24T10:30"));
        // National Day week: 2026-09-30 (Wed) 17:00 + 2 h → 0.5 h that day, then the first working day 10-08.
        assert_eq!(due("2026-09-30T17:00", 2, wh).due_at, at("2026-10-08T10:00"));
        assert_eq!(due("2026-11-23T09:00", 8, wh).due_date, None, "an instant, not a day");
        // A pause inside office hours gives its office time back; one overnight gives back none.
        let p = Period { amount: 2, unit: wh };
        let paused = |from: &str, to: &str| {
            compute_due_with_pauses(cal(), at("2026-11-23T09:00"), p, &[(at(from), Some(at(to)))], at(to), None)
                .unwrap()
                .due_at
        };
        assert_eq!(paused("2026-11-23T09:30", "2026-11-23T10:00"), at("2026-11-23T11:30"));
        assert_eq!(paused("2026-11-23T18:00", "2026-11-24T08:00"), at("2026-11-23T11:00"));
        assert_eq!(
            working_time_between(cal(), at("2026-11-20T16:00"), at("2026-11-23T09:00"), None).unwrap(),
            Duration::minutes(120)
        );
        let words = remaining_words_zh(&due("2026-11-23T09:00", 3, wh), wh, at("2026-11-23T11:00"), cal());
        assert_eq!(words, "还剩 1 个工作时");
        assert_eq!(Period { amount: 4, unit: wh }.to_string(), "4 个工作时");
        assert!(
            compute_due(cal(), at("2026-12-31T17:00"), Period { amount: 8, unit: wh }, None).is_err(),
            "past the table"
        );
    }

    #[test]
    fn calendar_days_do_not_count_the_start_day() {
        assert_eq!(due_date("2026-03-02", 15, CalendarDays), "2026-03-17");
        assert_eq!(due_date("2026-03-02T23:59:00", 1, CalendarDays), "2026-03-03");
    }

    #[test]
    fn calendar_days_roll_forward_off_spring_festival_2026() {
        // 2026-02-05 + 15 日 = 02-20, inside the 春节 break (02-15..02-23): due on Tuesday 02-24.
        assert_eq!(due_date("2026-02-05", 15, CalendarDays), "2026-02-24");
        // landing on make-up Saturday 02-14 stays there: it is a working day.
        assert_eq!(due_date("2026-02-04", 10, CalendarDays), "2026-02-14");
    }

    #[test]
    fn calendar_days_roll_forward_off_an_ordinary_weekend() {
        // 2026-03-06 (Fri) + 15 = 03-21 (Sat) → Monday 03-23
        assert_eq!(due_date("2026-03-06", 15, CalendarDays), "2026-03-23");
    }

    #[test]
    fn calendar_days_roll_off_national_day_week_2026() {
        assert_eq!(due_date("2026-09-16", 15, CalendarDays), "2026-10-08");
        // 09-05 + 15 = 09-20, the make-up Sunday: a working day, no roll
        assert_eq!(due_date("2026-09-05", 15, CalendarDays), "2026-09-20");
        // 09-04 + 15 = Saturday 09-19 rolls to the make-up Sunday
        assert_eq!(due_date("2026-09-04", 15, CalendarDays), "2026-09-20");
    }

    #[test]
    fn day_period_ends_at_midnight_local_time() {
        let d = due("2026-03-02T15:00:00+08:00", 15, CalendarDays);
        assert_eq!(d.due_date, Some(date("2026-03-17")));
        assert_eq!(d.due_at, at("2026-03-18T00:00:00+08:00"));
        assert!(!d.provisional);
    }

    #[test]
    fn start_instant_is_read_as_a_china_local_date() {
        // 2026-03-01T20:00Z is 03-02 04:00 in Beijing: the start date is 03-02.
        assert_eq!(due_date("2026-03-01T20:00:00Z", 15, CalendarDays), "2026-03-17");
    }

    #[test]
    fn zero_days_is_due_on_the_start_date() {
        assert_eq!(due_date("2026-02-15", 0, CalendarDays), "2026-02-15");
        assert_eq!(due_date("2026-02-15", 0, WorkingDays), "2026-02-15");
    }

    #[test]
    fn calendar_deadline_past_table_is_provisional_and_unrolled() {
        // 2026-12-20 + 13 = 2027-01-02 (a Saturday, maybe also 元旦): the table cannot tell.
        let d = due("2026-12-20", 13, CalendarDays);
        assert_eq!(d.due_date, Some(date("2027-01-02")));
        assert!(d.provisional);
        // inside the table nothing is provisional
        assert!(!due("2026-12-01", 30, CalendarDays).provisional);
    }

    #[test]
    fn working_days_skip_national_day_week_2026_and_count_makeup_saturday() {
        // After Wed 09-30: 10-01..07 off, Thu 10-08, Fri 10-09, Sat 10-10 (make-up), Mon 10-12 …
        assert_eq!(due_date("2026-09-30", 1, WorkingDays), "2026-10-08");
        assert_eq!(due_date("2026-09-30", 3, WorkingDays), "2026-10-10");
        assert_eq!(due_date("2026-09-30", 5, WorkingDays), "2026-10-13");
        // make-up Sunday 09-20 counts: after Fri 09-18 the first working day is Sun 09-20
        assert_eq!(due_date("2026-09-18", 1, WorkingDays), "2026-09-20");
    }

    #[test]
    fn working_days_across_spring_festival_2026() {
        // after Thu 02-12: Fri 02-13, Sat 02-14 (make-up), then 02-24 …
        assert_eq!(due_date("2026-02-12", 2, WorkingDays), "2026-02-14");
        assert_eq!(due_date("2026-02-12", 3, WorkingDays), "2026-02-24");
        assert_eq!(due_date("2026-02-12", 5, WorkingDays), "2026-02-26");
        assert_eq!(due_date("2026-02-12", 6, WorkingDays), "2026-02-27");
        assert_eq!(due_date("2026-02-12", 7, WorkingDays), "2026-02-28");
    }

    #[test]
    fn working_days_around_labour_day_and_new_year_2026() {
        assert_eq!(due_date("2026-04-30", 1, WorkingDays), "2026-05-06");
        assert_eq!(due_date("2026-05-07", 2, WorkingDays), "2026-05-09");
        assert_eq!(due_date("2025-12-31", 1, WorkingDays), "2026-01-04");
    }

    #[test]
    fn working_day_deadline_past_table_is_refused() {
        let err = compute_due(cal(), at("2026-12-28"), Period { amount: 5, unit: WorkingDays }, None).unwrap_err();
        assert_eq!(err.code, ErrorCode::CalendarOutOfRange);
        assert!(err.message.contains("2027 年"), "{}", err.message);
        let huge = compute_due(cal(), at("2026-01-05"), Period { amount: u32::MAX, unit: WorkingDays }, None);
        assert_eq!(huge.unwrap_err().code, ErrorCode::CalendarOutOfRange);
        let huge = compute_due(cal(), at("2026-01-05"), Period { amount: u32::MAX, unit: CalendarDays }, None);
        assert_eq!(huge.unwrap_err().code, ErrorCode::InvalidInput);
    }

    #[test]
    fn hours_and_minutes_run_on_the_wall_clock() {
        let d = due("2026-02-16T22:30:00+08:00", 2, Hours);
        assert_eq!(d.due_date, None);
        assert_eq!(format_due(&d, Hours), "2026-02-17T00:30:00+08:00");
        assert_eq!(due_date("2026-03-01T09:30", 30, Minutes), "2026-03-01T10:00:00+08:00");
    }

    #[test]
    fn every_calendar_deadline_in_2025_and_2026_lands_on_a_working_day() {
        for start in date("2025-01-01").iter_days().take_while(|d| d.year() <= 2026) {
            for n in [1u32, 5, 15, 30, 60] {
                let target = start + Days::new(n.into());
                let d =
                    compute_due(cal(), local_midnight(start).unwrap(), Period { amount: n, unit: CalendarDays }, None)
                        .unwrap();
                let due_date = d.due_date.unwrap();
                assert!(due_date >= target, "{start} + {n}");
                assert_eq!(d.provisional, !cal().covers(target), "{start} + {n}");
                if d.provisional {
                    assert_eq!(due_date, target);
                } else {
                    assert!(cal().is_working_day(due_date, None).unwrap(), "{start} + {n}");
                    // the roll-forward skips no working day
                    let mut skipped = target.iter_days().take_while(|x| *x < due_date);
                    assert!(skipped.all(|x| !cal().is_working_day(x, None).unwrap()), "{start} + {n}");
                }
            }
        }
    }

    #[test]
    fn every_working_deadline_in_2025_and_2026_counts_exactly_n_working_days() {
        for start in date("2025-01-01").iter_days().take_while(|d| *d <= date("2026-09-30")) {
            for n in [1u32, 5, 15, 30, 60] {
                let d =
                    compute_due(cal(), local_midnight(start).unwrap(), Period { amount: n, unit: WorkingDays }, None);
                let Ok(d) = d else { continue };
                let due_date = d.due_date.unwrap();
                let counted = start
                    .iter_days()
                    .skip(1)
                    .take_while(|x| *x <= due_date)
                    .filter(|x| cal().is_working_day(*x, None).unwrap())
                    .count();
                assert_eq!(counted, n as usize, "{start} + {n}");
                assert!(cal().is_working_day(due_date, None).unwrap());
            }
        }
    }

    #[test]
    fn extension_counts_from_the_original_due_date() {
        // 60 日 from 2026-07-01 → 08-30 (Sun) → 08-31; extension 30 日 from 08-31 → 09-30
        let original = due("2026-07-01", 60, CalendarDays);
        assert_eq!(original.due_date, Some(date("2026-08-31")));
        let extended = extend_due(cal(), &original, Period { amount: 30, unit: CalendarDays }, None).unwrap();
        assert_eq!(extended.due_date, Some(date("2026-09-30")));
        let by_hours = extend_due(cal(), &original, Period { amount: 2, unit: Hours }, None).unwrap();
        assert_eq!(format_due(&by_hours, Hours), "2026-09-01T02:00:00+08:00");
        let provisional = due("2026-12-20", 13, CalendarDays);
        let extended = extend_due(cal(), &provisional, Period { amount: 1, unit: Hours }, None).unwrap();
        assert!(extended.provisional);
    }

    #[test]
    fn paused_clock_time_is_added_back() {
        let start = at("2026-03-02T08:00");
        let pauses = [
            (at("2026-03-02T09:00"), Some(at("2026-03-02T09:30"))),
            (at("2026-03-02T09:15"), Some(at("2026-03-02T10:00"))),
        ];
        let d = compute_due_with_pauses(cal(), start, Period { amount: 2, unit: Hours }, &pauses, start, None).unwrap();
        assert_eq!(format_due(&d, Hours), "2026-03-02T11:00:00+08:00");
    }

    #[test]
    fn hearing_pause_extends_calendar_days_by_whole_days_rounded_up() {
        let start = at("2026-03-02");
        let pauses = [(at("2026-03-05T09:00"), Some(at("2026-03-06T11:00")))]; // 26 h → 2 days
        let p = Period { amount: 15, unit: CalendarDays };
        let d = compute_due_with_pauses(cal(), start, p, &pauses, start, None).unwrap();
        assert_eq!(d.due_date, Some(date("2026-03-19")));
        let none = compute_due_with_pauses(cal(), start, p, &[], start, None).unwrap();
        assert_eq!(none, compute_due(cal(), start, p, None).unwrap());
    }

    #[test]
    fn suspension_adds_the_working_days_it_touches_and_open_pause_runs_to_now() {
        let start = at("2026-03-02"); // Monday
        let p = Period { amount: 5, unit: WorkingDays };
        // Fri 03-06 10:00 → Mon 03-09 00:00: touches Fri, Sat, Sun; one working day.
        let pauses = [(at("2026-03-06T10:00"), Some(at("2026-03-09T00:00")))];
        let d = compute_due_with_pauses(cal(), start, p, &pauses, start, None).unwrap();
        assert_eq!(d.due_date, Some(date("2026-03-10")));
        // open since Wed 03-04 09:00, now Thu 03-05 12:00: two working days
        let open = [(at("2026-03-04T09:00"), None)];
        let d = compute_due_with_pauses(cal(), start, p, &open, at("2026-03-05T12:00"), None).unwrap();
        assert_eq!(d.due_date, Some(date("2026-03-11")));
    }

    #[test]
    fn clock_status_turns_due_soon_then_overdue() {
        let due_at = at("2026-03-18T00:00:00+08:00");
        let warn = Duration::days(3);
        assert_eq!(clock_status(due_at, warn, at("2026-03-10")), ClockStatus::OnTime);
        assert_eq!(clock_status(due_at, warn, at("2026-03-15T00:00")), ClockStatus::DueSoon);
        assert_eq!(clock_status(due_at, warn, at("2026-03-17T23:59")), ClockStatus::DueSoon);
        assert_eq!(clock_status(due_at, warn, due_at), ClockStatus::Overdue);
        assert_eq!(clock_status(due_at, Duration::MAX, at("2000-01-01")), ClockStatus::DueSoon);
        assert_eq!(ClockStatus::Overdue.label_zh(), "已超期");
        assert_eq!(serde_json::to_string(&ClockStatus::DueSoon).unwrap(), "\"due_soon\"");
    }

    #[test]
    fn remaining_time_is_told_in_chinese() {
        let d = due("2026-03-02", 15, CalendarDays); // due 03-17 (Tue)
        let words = |now: &str, unit| remaining_words_zh(&d, unit, at(now), cal());
        assert_eq!(words("2026-03-14T10:00", CalendarDays), "还剩 3 天");
        assert_eq!(words("2026-03-14T10:00", WorkingDays), "还剩 2 个工作日");
        assert_eq!(words("2026-03-17T23:00", CalendarDays), "今天到期");
        assert_eq!(words("2026-03-19T08:00", CalendarDays), "已超期 2 天");
        assert_eq!(words("2026-03-18T00:00", CalendarDays), "已超期 1 天");

        let h = due("2026-03-02T08:00", 6, Hours);
        let words = |now: &str| remaining_words_zh(&h, Hours, at(now), cal());
        assert_eq!(words("2026-03-02T09:00"), "还剩 5 小时");
        assert_eq!(words("2026-03-02T12:40"), "还剩 1 小时 20 分钟");
        assert_eq!(words("2026-03-02T13:59:30"), "还剩 1 分钟");
        assert_eq!(words("2026-03-02T14:00"), "已到期");
        assert_eq!(words("2026-03-02T16:30"), "已超期 2 小时 30 分钟");
    }

    #[test]
    fn remaining_working_days_past_the_table_fall_back_to_calendar_days() {
        let d = Due { due_date: Some(date("2027-01-08")), due_at: at("2027-01-09"), provisional: true };
        assert_eq!(remaining_words_zh(&d, WorkingDays, at("2026-12-30"), cal()), "还剩 9 天");
    }

    #[test]
    fn start_accepts_date_local_time_and_rfc3339() {
        assert_eq!(at("2026-03-01"), at("2026-02-28T16:00:00Z"));
        assert_eq!(at("2026-03-01T10:00"), at("2026-03-01T02:00:00Z"));
        assert_eq!(at("2026-03-01 10:00:30"), at("2026-03-01T10:00:30+08:00"));
        assert_eq!(at(" 2026-03-01T10:00:30 "), at("2026-03-01T11:00:30+09:00"));
        for bad in ["", "2026-02-30", "2026/03/01", "明天", "2026-03-01T25:00", "99999999-01-01"] {
            let err = parse_start(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidDate);
            assert!(err.message.starts_with("无法识别的日期") && err.message.contains("YYYY-MM-DD"));
        }
    }

    #[test]
    fn units_parse_from_words_and_serialize_the_same() {
        for unit in [CalendarDays, WorkingDays, Hours, Minutes] {
            assert_eq!(unit.as_str().parse::<PeriodUnit>().unwrap(), unit);
            assert_eq!(serde_json::to_string(&unit).unwrap(), format!("\"{}\"", unit.as_str()));
        }
        assert_eq!("days".parse::<PeriodUnit>().unwrap_err().code, ErrorCode::InvalidInput);
        let p: Period = serde_json::from_str(r#"{"amount":5,"unit":"working"}"#).unwrap();
        assert_eq!(p.to_string(), "5 个工作日");
    }
}
