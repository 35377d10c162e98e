//! Periodic reports (`domain::periodic`): the reports each unit of the reporting levels owes — one per period,
//! or per round of a day for a daily report with rounds (a round required only while a plan covers the unit) —
//! and each one's first filing. The overview of who has filed for one period (`periodic_report`) and the
//! assessment's periodic counts (零报告 compliance, `assessment.rs`) are both made of these.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::periodic::{Period, Periodic, ReportStatus, Round, status};
use taizhang_domain::workflow::WorkflowDef;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::Unit;

use crate::cases::{UnitRef, parse_state};
use crate::{Principal, Service, se};

/// One unit's periodic report for a month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitReport {
    pub unit: UnitRef,
    pub level: String,
    /// on_time / late / missing / pending
    #[schema(value_type = String)]
    pub status: taizhang_domain::periodic::ReportStatus,
    pub status_label: String,
    /// When the first report for the period was filed (server time).
    pub filed_at: Option<DateTime<Utc>>,
    pub case_id: Option<i64>,
    /// The report's result in words (e.g. 零报告（未发现矛盾纠纷）).
    pub result: Option<String>,
    /// A daily report with rounds: each round required of this unit that day (the unit's status is the worst).
    pub rounds: Vec<RoundReport>,
}

/// One round of a unit's day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundReport {
    pub round: String,
    pub name: String,
    pub due_at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub status: taizhang_domain::periodic::ReportStatus,
    pub status_label: String,
    pub filed_at: Option<DateTime<Utc>>,
    pub case_id: Option<i64>,
    /// The plan that requires this round (code and title), for rounds required only during one.
    pub required_by: Option<String>,
}

/// Who has filed a kind's periodic report for a month or a day, under the viewer's unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodicReport {
    pub kind: String,
    pub kind_name: String,
    /// The period in words, e.g. "2026 年 1 月" or "2026 年 03 月 02 日".
    pub period: String,
    /// Monthly reports: the month reported on.
    pub year: Option<i32>,
    pub month: Option<u32>,
    /// Daily reports: the day reported on.
    pub date: Option<NaiveDate>,
    /// Reports first filed from this instant on are late.
    pub due_at: DateTime<Utc>,
    pub units: Vec<UnitReport>,
    /// Counts by status.
    pub missing: usize,
    pub late: usize,
}

/// A unit's first filing for a period (and round): when, which case, and the report's result in words as it
/// stands now (corrections included; the status is from the first filing's time).
#[derive(Debug, Clone)]
pub(crate) struct Filing {
    pub at: DateTime<Utc>,
    pub case_id: i64,
    pub code: String,
    pub result: Option<String>,
}

/// First filings by (unit, period, round id). A report without rounds has one filing a period: its round id is
/// the empty string (`Owed::key` and `first_filings` agree on it).
pub(crate) type Filings = BTreeMap<(i64, Period, String), Filing>;

/// A report a unit owes: for a period and, for a daily report with rounds, a round; due at `due`; for a round
/// required only while a plan covers the unit, that plan (code and title).
pub(crate) struct Owed<'a> {
    pub unit: i64,
    pub period: Period,
    pub round: Option<&'a Round>,
    pub due: DateTime<Utc>,
    pub required_by: Option<String>,
}

impl Owed<'_> {
    pub fn key(&self) -> (i64, Period, String) {
        (self.unit, self.period, self.round.map(|r| r.id.clone()).unwrap_or_default())
    }
}

impl Service {
    /// The first filing of each unit for each of `periods` (and round), among the reports of the kind filed
    /// since `since`.
    pub(crate) async fn first_filings(
        &self,
        def: &WorkflowDef,
        rule: &Periodic,
        since: DateTime<Utc>,
        periods: &BTreeSet<Period>,
    ) -> DomainResult<Filings> {
        let mut first = Filings::new();
        let mut after = 0;
        loop {
            let rows = self.store.cases_created_since(&def.kind, since, after, 1000).await.map_err(se)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for r in rows {
                let state = parse_state(&r)?;
                let Some(period) = rule.period_of(&state.fields).filter(|p| periods.contains(p)) else { continue };
                let round = match rule.round_of(&state.fields) {
                    Some(round) => round.id.clone(),
                    None if rule.rounds.is_empty() => String::new(),
                    None => continue,
                };
                let result = rule.result_field.as_deref().and_then(|id| {
                    let options = &def.field(id)?.options;
                    state.fields.get(id).and_then(|v| v.as_str()).and_then(|v| options.get(v).cloned())
                });
                let filing = Filing { at: r.created_at, case_id: r.id, code: r.code.clone(), result };
                let e = first.entry((r.registered_unit, period, round)).or_insert_with(|| filing.clone());
                if filing.at < e.at {
                    *e = filing;
                }
            }
        }
        Ok(first)
    }

    /// The reports `units` owe for `periods`: one per unit and period, or per round of the day (a round with
    /// `during` only for units a matching plan covered at its due time, the plans as they stood then).
    pub(crate) async fn owed_reports<'a>(
        &self,
        rule: &'a Periodic,
        units: &[Unit],
        periods: &[Period],
    ) -> DomainResult<Vec<Owed<'a>>> {
        let mut out = Vec::new();
        for &period in periods {
            let day = match period {
                // A daily report with rounds: each round of the day, below.
                Period::Day(day) if !rule.rounds.is_empty() => day,
                // Otherwise every unit owes the period's one report.
                _ => {
                    let Some((_, due)) = rule.window(period) else { continue };
                    out.extend(units.iter().map(|u| Owed { unit: u.id, period, round: None, due, required_by: None }));
                    continue;
                }
            };
            for round in &rule.rounds {
                let Some(due) = round.due_on(day) else { continue };
                let plans = match &round.during {
                    Some(d) => Some(
                        self.coverings(Some(&d.kind), due)
                            .await?
                            .into_iter()
                            .filter(|c| {
                                c.fields
                                    .get(&d.field)
                                    .and_then(|v| v.as_str())
                                    .is_some_and(|v| d.values.iter().any(|x| x == v))
                            })
                            .collect::<Vec<_>>(),
                    ),
                    None => None,
                };
                for u in units {
                    let required_by = match &plans {
                        None => None,
                        Some(plans) => match plans.iter().find(|c| c.covers(&u.path)) {
                            Some(c) => Some(format!("{} {}", c.code, c.title)),
                            None => continue,
                        },
                    };
                    out.push(Owed { unit: u.id, period, round: Some(round), due, required_by });
                }
            }
        }
        Ok(out)
    }

    /// The units of the viewer's subtree that must file a kind's periodic report.
    pub(crate) async fn reporting_units(&self, p: &Principal, rule: &Periodic) -> DomainResult<Vec<Unit>> {
        Ok(self
            .store
            .units()
            .await
            .map_err(se)?
            .into_iter()
            .filter(|u| u.path.starts_with(&p.unit.path) && rule.levels.contains(&u.level))
            .collect())
    }

    /// Every unit of the reporting levels in the viewer's subtree, with its report for the period: on time,
    /// late (迟报), missing (漏报) or not yet due. The unit above sees its units' gaps. The period is
    /// `year`/`month` for monthly reports (default: last month) and `date` for daily ones (default: today).
    pub async fn periodic_report(
        &self,
        p: &Principal,
        kind: &str,
        year: Option<i32>,
        month: Option<u32>,
        date: Option<&str>,
    ) -> DomainResult<PeriodicReport> {
        self.require_case_worker(p)?;
        let def = self.workflows.get(kind)?.clone();
        let Some(rule) = def.periodic.clone() else {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("{}不是定期报告", def.name)));
        };
        let today = self.now().with_timezone(&china_tz()).date_naive();
        let period = if rule.is_daily() {
            let day = match date.filter(|d| !d.is_empty()) {
                Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    DomainError::new(ErrorCode::InvalidInput, "报告日期应为 YYYY-MM-DD 格式").at("date")
                })?,
                None => today,
            };
            Period::Day(day)
        } else {
            let last = today.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(today);
            let y = year.unwrap_or(last.year());
            if !(2000..=2100).contains(&y) {
                return Err(DomainError::new(ErrorCode::InvalidInput, "报告期应为 2000–2100 年的 1–12 月"));
            }
            Period::Month(y, month.unwrap_or(last.month()))
        };
        let (start, due) = rule
            .window(period)
            .ok_or_else(|| DomainError::new(ErrorCode::InvalidInput, "报告期应为 2000–2100 年的 1–12 月"))?;
        let units = self.reporting_units(p, &rule).await?;
        let filings = self.first_filings(&def, &rule, start, &BTreeSet::from([period])).await?;
        let owed = self.owed_reports(&rule, &units, &[period]).await?;
        let now = self.now();
        let units: Vec<UnitReport> = units
            .into_iter()
            .map(|u| {
                let round_reports: Vec<RoundReport> = owed
                    .iter()
                    .filter(|o| o.unit == u.id)
                    .filter_map(|o| {
                        let round = o.round?;
                        let filed = filings.get(&o.key());
                        let status = status(filed.map(|f| f.at), o.due, now);
                        Some(RoundReport {
                            round: round.id.clone(),
                            name: round.name.clone(),
                            due_at: o.due,
                            status,
                            status_label: status.label_zh().to_string(),
                            filed_at: filed.map(|f| f.at),
                            case_id: filed.map(|f| f.case_id),
                            required_by: o.required_by.clone(),
                        })
                    })
                    .collect();
                // Without rounds, the one filing of the period; with rounds, the day is its worst round, and the
                // unit's first filing is the earliest of any round (the result is the latest round's).
                let mine: Vec<&Filing> =
                    filings.iter().filter(|((unit, ..), _)| *unit == u.id).map(|(_, f)| f).collect();
                let filed = mine.iter().min_by_key(|f| f.at).copied();
                let status = match round_reports.iter().map(|r| r.status).reduce(|a, b| a.worse(b)) {
                    Some(worst) => worst,
                    None => status(filed.map(|f| f.at), due, now),
                };
                let result = mine.iter().max_by_key(|f| f.at).and_then(|f| f.result.clone());
                UnitReport {
                    unit: UnitRef { id: u.id, name: u.name },
                    level: u.level,
                    status,
                    status_label: status.label_zh().to_string(),
                    filed_at: filed.map(|f| f.at),
                    case_id: filed.map(|f| f.case_id),
                    result,
                    rounds: round_reports,
                }
            })
            .collect();
        Ok(PeriodicReport {
            kind: def.kind.clone(),
            kind_name: def.name.clone(),
            period: period.label_zh(),
            year: match period {
                Period::Month(y, _) => Some(y),
                Period::Day(_) => None,
            },
            month: match period {
                Period::Month(_, m) => Some(m),
                Period::Day(_) => None,
            },
            date: match period {
                Period::Day(d) => Some(d),
                Period::Month(..) => None,
            },
            due_at: due,
            missing: units.iter().filter(|u| u.status == ReportStatus::Missing).count(),
            late: units.iter().filter(|u| u.status == ReportStatus::Late).count(),
            units,
        })
    }
}
