//! Periodic reports: every unit of the named levels files one report per period — monthly (the dispute sweep,
//! 矛盾纠纷排查, due by a day of the following month) or daily (日报告, due by a time of day) — saying what it
//! found, or a nil report (零报告). Whether each
//! unit's report is on time, late or missing is decided here from the time of its first filing (the server's
//! time, recorded in the log: a late report stays late; corrections are later events, not new first filings).

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deadline::china_tz;

/// What a definition says about its periodic reports: monthly (`year_field` + `month_field`, due by the end
/// of `due_day` of the following month) or daily (`date_field`, due by `due_time` China time on the day).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Periodic {
    /// Monthly: integer fields naming the month reported on.
    #[serde(default)]
    pub year_field: Option<String>,
    #[serde(default)]
    pub month_field: Option<String>,
    /// Monthly: the report is due by the end of this day of the following month (1–28).
    #[serde(default)]
    pub due_day: Option<u32>,
    /// Daily: the date field naming the day reported on.
    #[serde(default)]
    pub date_field: Option<String>,
    /// Daily: the report is due by this time ("HH:MM", China time) on the day reported on.
    #[serde(default)]
    pub due_time: Option<String>,
    /// A choice field summarising the report (e.g. found / nil report), shown in the overview.
    #[serde(default)]
    pub result_field: Option<String>,
    /// The unit levels that must report (e.g. township, village).
    pub levels: Vec<String>,
    /// Daily: several reports a day, each due by its own time (instead of `due_time`). A round with `during`
    /// is required only while a case of another kind covers the unit and names one of the values (e.g. the
    /// 9:00 round while a special period asks for two reports a day).
    #[serde(default)]
    pub rounds: Vec<Round>,
    /// With rounds: the choice field (option ids = round ids) saying which round a filing answers. A filing
    /// without it answers the last round that always applies.
    #[serde(default)]
    pub round_field: Option<String>,
}

/// A time of day written "HH:MM".
fn hh_mm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// One of a day's reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Round {
    pub id: String,
    pub name: String,
    /// "HH:MM", China time, on the day reported on.
    pub due_time: String,
    #[serde(default)]
    pub during: Option<During>,
}

/// When a round is required: while a case of `kind` (a kind with `covers`) covers the unit at the round's due
/// time and its `field` holds one of `values`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct During {
    pub kind: String,
    pub field: String,
    pub values: Vec<String>,
}

impl Round {
    fn due_time_of_day(&self) -> Option<NaiveTime> {
        hh_mm(&self.due_time)
    }

    /// The instant this round is due on `day`.
    pub fn due_on(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let t = self.due_time_of_day()?;
        Some(china_tz().from_local_datetime(&day.and_time(t)).single()?.with_timezone(&Utc))
    }
}

/// The period one report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Period {
    Month(i32, u32),
    Day(NaiveDate),
}

impl Period {
    pub fn label_zh(&self) -> String {
        match self {
            Period::Month(y, m) => format!("{y} 年 {m} 月"),
            Period::Day(d) => d.format("%Y 年 %m 月 %d 日").to_string(),
        }
    }
}

impl Periodic {
    pub fn is_daily(&self) -> bool {
        self.date_field.is_some()
    }

    fn due_time_of_day(&self) -> Option<NaiveTime> {
        hh_mm(self.due_time.as_deref()?)
    }

    /// The rule's own consistency: exactly one of monthly or daily, with its due rule, and some levels.
    pub fn check(&self) -> Result<(), String> {
        let monthly = (&self.year_field, &self.month_field, self.due_day);
        let rounds = !self.rounds.is_empty();
        match (monthly, &self.date_field) {
            ((Some(_), Some(_), Some(d)), None) if (1..=28).contains(&d) && self.due_time.is_none() && !rounds => {}
            // Daily: a valid due_time, or rounds with no due_time.
            ((None, None, None), Some(_))
                if (rounds && self.due_time.is_none()) || (!rounds && self.due_time_of_day().is_some()) => {}
            _ => {
                return Err("periodic 应为按月（year_field、month_field、due_day 1–28）或按日（date_field，再加 \
                            due_time HH:MM 或 rounds 二者之一）之一"
                    .into());
            }
        }
        if self.levels.is_empty() {
            return Err("periodic 的 levels 不能为空".into());
        }
        if rounds != self.round_field.is_some() {
            return Err("periodic 的 rounds 与 round_field 须同时给出".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.rounds {
            if !seen.insert(r.id.as_str()) {
                return Err(format!("periodic 的轮次 {} 重复", r.id));
            }
            if r.due_time_of_day().is_none() {
                return Err(format!("periodic 的轮次 {} 的 due_time 应为 HH:MM", r.id));
            }
            if r.during.as_ref().is_some_and(|d| d.values.is_empty()) {
                return Err(format!("periodic 的轮次 {} 的 during 没有列出任何取值", r.id));
            }
        }
        if rounds && self.regular_round().is_none() {
            return Err("periodic 的 rounds 中至少要有一轮不带 during（每天都要报）".into());
        }
        Ok(())
    }

    /// The round a filing without a round answers: the last one that always applies.
    pub fn regular_round(&self) -> Option<&Round> {
        self.rounds.iter().rev().find(|r| r.during.is_none())
    }

    /// The round a daily filing answers (None without rounds, or when it names no round of this rule).
    pub fn round_of(&self, fields: &BTreeMap<String, Value>) -> Option<&Round> {
        match fields.get(self.round_field.as_deref()?).and_then(|v| v.as_str()) {
            Some(id) => self.rounds.iter().find(|r| r.id == id),
            None => self.regular_round(),
        }
    }

    /// The period a report's fields name, if they name one.
    pub fn period_of(&self, fields: &BTreeMap<String, Value>) -> Option<Period> {
        if let Some(f) = &self.date_field {
            let d = fields.get(f)?.as_str()?;
            return NaiveDate::parse_from_str(d, "%Y-%m-%d").ok().map(Period::Day);
        }
        let int = |f: &Option<String>| fields.get(f.as_deref()?)?.as_i64();
        Some(Period::Month(int(&self.year_field)? as i32, int(&self.month_field)? as u32))
    }

    /// When reports on `period` may be filed from, and when they are due (exclusive). None for an impossible
    /// period or one of the other frequency.
    pub fn window(&self, period: Period) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match period {
            Period::Month(y, m) if !self.is_daily() => Some((month_start(y, m)?, due_at(y, m, self.due_day?)?)),
            Period::Day(d) if self.is_daily() => {
                let at = |t: NaiveTime| china_tz().from_local_datetime(&d.and_time(t)).single();
                // With rounds, the day's window closes with its regular round.
                let due = match self.regular_round() {
                    Some(r) => r.due_time_of_day()?,
                    None => self.due_time_of_day()?,
                };
                Some((at(NaiveTime::MIN)?.with_timezone(&Utc), at(due)?.with_timezone(&Utc)))
            }
            _ => None,
        }
    }
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
    /// The worse of two (missing, then late, then not yet due, then on time): a unit's day with several rounds.
    pub fn worse(self, other: ReportStatus) -> ReportStatus {
        let rank = |s| match s {
            ReportStatus::Missing => 3,
            ReportStatus::Late => 2,
            ReportStatus::Pending => 1,
            ReportStatus::OnTime => 0,
        };
        if rank(other) > rank(self) { other } else { self }
    }

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

    fn daily() -> Periodic {
        Periodic {
            year_field: None,
            month_field: None,
            due_day: None,
            date_field: Some("report_date".into()),
            due_time: Some("16:00".into()),
            result_field: None,
            levels: vec!["township".into()],
            rounds: vec![],
            round_field: None,
        }
    }

    fn twice_daily() -> Periodic {
        let round = |id: &str, due: &str, during: bool| Round {
            id: id.into(),
            name: id.into(),
            due_time: due.into(),
            during: during.then(|| During {
                kind: "special_period".into(),
                field: "reporting".into(),
                values: vec!["twice_daily".into()],
            }),
        };
        Periodic {
            due_time: None,
            rounds: vec![round("morning", "09:00", true), round("afternoon", "16:00", false)],
            round_field: Some("round".into()),
            ..daily()
        }
    }

    #[test]
    fn rounds_each_have_their_due_time_and_a_filing_without_a_round_answers_the_regular_one() {
        let rule = twice_daily();
        assert_eq!(rule.check(), Ok(()));
        let day = NaiveDate::from_ymd_opt(2027, 3, 3).unwrap();
        assert_eq!(rule.rounds[0].due_on(day), Some(parse_start("2027-03-03T09:00").unwrap()));
        assert_eq!(rule.window(Period::Day(day)).unwrap().1, parse_start("2027-03-03T16:00").unwrap());
        let with = |round: Option<&str>| -> BTreeMap<String, Value> {
            let mut f: BTreeMap<String, Value> = [("report_date".to_string(), Value::from("2027-03-03"))].into();
            if let Some(r) = round {
                f.insert("round".into(), Value::from(r));
            }
            f
        };
        assert_eq!(rule.round_of(&with(Some("morning"))).map(|r| r.id.as_str()), Some("morning"));
        assert_eq!(rule.round_of(&with(None)).map(|r| r.id.as_str()), Some("afternoon"));
        assert_eq!(rule.round_of(&with(Some("evening"))), None, "not a round of this rule");
        assert_eq!(daily().round_of(&with(Some("morning"))), None, "a rule without rounds has none");
    }

    #[test]
    fn rounds_are_checked() {
        let mut both = twice_daily();
        both.due_time = Some("16:00".into());
        assert!(both.check().is_err(), "due_time or rounds, not both");
        both.due_time = Some("4 pm".into());
        assert!(both.check().is_err(), "not even an unreadable one");
        let mut no_field = twice_daily();
        no_field.round_field = None;
        assert!(no_field.check().is_err());
        let mut only_during = twice_daily();
        only_during.rounds.remove(1);
        assert!(only_during.check().unwrap_err().contains("至少要有一轮"));
        let mut twice = twice_daily();
        twice.rounds[1].id = "morning".into();
        assert!(twice.check().unwrap_err().contains("重复"));
        let mut bad_time = twice_daily();
        bad_time.rounds[0].due_time = "9点".into();
        assert!(bad_time.check().unwrap_err().contains("HH:MM"));
        let mut monthly = twice_daily();
        monthly.date_field = None;
        (monthly.year_field, monthly.month_field, monthly.due_day) = (Some("y".into()), Some("m".into()), Some(5));
        assert!(monthly.check().is_err(), "rounds are for daily reports");
    }

    #[test]
    fn a_daily_report_is_due_at_its_time_of_day_china_time() {
        let rule = daily();
        assert_eq!(rule.check(), Ok(()));
        let fields: BTreeMap<String, Value> =
            [("report_date".to_string(), Value::from("2026-03-02"))].into_iter().collect();
        let day = rule.period_of(&fields).unwrap();
        assert_eq!(day, Period::Day(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()));
        let (start, due) = rule.window(day).unwrap();
        assert_eq!(start, parse_start("2026-03-02T00:00").unwrap());
        assert_eq!(due, parse_start("2026-03-02T16:00").unwrap());
        assert_eq!(rule.window(Period::Month(2026, 3)), None, "a daily rule has no months");
        let minute_before = parse_start("2026-03-02T15:59").unwrap();
        assert_eq!(status(None, due, minute_before), ReportStatus::Pending);
        assert_eq!(status(None, due, due), ReportStatus::Missing);
        assert_eq!(status(Some(due + chrono::Duration::minutes(5)), due, due), ReportStatus::Late);
        assert_eq!(day.label_zh(), "2026 年 03 月 02 日");
    }

    #[test]
    fn a_rule_is_monthly_or_daily_never_both() {
        let mut both = daily();
        both.due_day = Some(5);
        assert!(both.check().is_err());
        let mut no_time = daily();
        no_time.due_time = Some("25:00".into());
        assert!(no_time.check().is_err());
        let mut no_levels = daily();
        no_levels.levels.clear();
        assert!(no_levels.check().is_err());
    }
}
