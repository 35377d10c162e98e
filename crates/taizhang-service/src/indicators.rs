//! Closed-loop indicators for a period (`domain::indicators`), per handling department and per grid, for the
//! cases a staff member may see. Each case is counted as it stood at the end of the period: its events up to
//! that instant are folded again, so a report for last month does not change when a case closes today.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use taizhang_domain::access::{in_scope, is_accused};
use taizhang_domain::deadline::china_tz;
use taizhang_domain::indicators::LoopCounts;
use taizhang_domain::periodic::Period;
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{CaseState, EventPayload, FieldType, apply_event, clock_views_lenient};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

use crate::cases::{UnitRef, access_facts, parse_state};
use crate::{Principal, Service, se};
use taizhang_store::CaseRow;

/// Counts and rates (percent; absent when the denominator is 0).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoopFigures {
    /// 立案数
    pub registered: i64,
    /// 作废数
    pub voided: i64,
    /// Still inside their handling limit at the end of the period.
    pub inside_limit: i64,
    /// 缓办（挂账）
    pub suspended: i64,
    /// 应结案数
    pub due: i64,
    /// 结案数
    pub closed: i64,
    /// 按期结案数
    pub closed_on_time: i64,
    /// 返工数
    pub reworked: i64,
    /// 结案率
    pub closure_rate: Option<f64>,
    /// 按期结案率
    pub on_time_rate: Option<f64>,
    /// 返工率
    pub rework_rate: Option<f64>,
    /// 准确立案率
    pub accurate_registration_rate: Option<f64>,
}

impl From<LoopCounts> for LoopFigures {
    fn from(c: LoopCounts) -> Self {
        LoopFigures {
            registered: c.registered,
            voided: c.voided,
            inside_limit: c.inside_limit,
            suspended: c.suspended,
            due: c.due,
            closed: c.closed,
            closed_on_time: c.closed_on_time,
            reworked: c.reworked,
            closure_rate: c.closure_rate(),
            on_time_rate: c.on_time_rate(),
            rework_rate: c.rework_rate(),
            accurate_registration_rate: c.accurate_registration_rate(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitFigures {
    pub unit: UnitRef,
    pub figures: LoopFigures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GridFigures {
    pub grid_code: String,
    pub figures: LoopFigures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoopReport {
    pub kind: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The instant the cases were evaluated at: the end of the period, or now if it has not ended.
    pub as_of: DateTime<Utc>,
    pub total: LoopFigures,
    /// By the department handling the case at `as_of` (cases not yet dispatched are not in any).
    pub by_unit: Vec<UnitFigures>,
    /// By unit grid (cases without a grid code are not in any).
    pub by_grid: Vec<GridFigures>,
}

impl Service {
    /// The loop indicators of `kind` over cases reported in `[from, to)` that `p` may see.
    pub async fn loop_report(
        &self,
        p: &Principal,
        kind: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> DomainResult<LoopReport> {
        self.require_case_worker(p)?;
        let def = self.workflows.get(kind)?.clone();
        let Some(lp) = def.closed_loop.clone() else {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("{}没有定义闭环考核指标", def.name)));
        };
        if to <= from {
            return Err(DomainError::new(ErrorCode::InvalidDate, "统计区间的结束日期应晚于开始日期"));
        }
        let as_of = to.min(self.now());
        // The kind's grid field, if it has one (by type, not by name).
        let grid_field = def.fields.iter().find(|f| f.ty == FieldType::Grid).map(|f| f.id.clone());
        let viewer = p.viewer();
        let (mut total, mut by_unit, mut by_grid) =
            (LoopCounts::default(), BTreeMap::<i64, LoopCounts>::new(), BTreeMap::<String, LoopCounts>::new());
        let mut after = 0;
        loop {
            let rows = self.store.cases_created_since(kind, from, after, 500).await.map_err(se)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in rows {
                if row.created_at >= to {
                    continue;
                }
                let facts = access_facts(&row);
                if is_accused(&viewer, &facts) || !in_scope(&viewer, &facts) {
                    continue;
                }
                let Some(state) = self.state_as_of(&row, as_of).await? else { continue };
                let case_def = self.workflows.get_version(kind, state.workflow_version)?;
                let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
                let (clocks, _) = clock_views_lenient(case_def, &state, &self.calendar, region.as_ref(), as_of);
                total.add(&lp, &state, &clocks);
                if let Some(unit) = state.handling_unit {
                    by_unit.entry(unit).or_default().add(&lp, &state, &clocks);
                }
                if let Some(grid) = grid_field.as_deref().and_then(|f| state.field_str(f)).filter(|g| !g.is_empty()) {
                    by_grid.entry(grid.to_string()).or_default().add(&lp, &state, &clocks);
                }
            }
        }
        let units: BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.name)).collect();
        Ok(LoopReport {
            kind: kind.to_string(),
            from,
            to,
            as_of,
            total: total.into(),
            by_unit: by_unit
                .into_iter()
                .map(|(id, c)| UnitFigures {
                    unit: UnitRef { id, name: units.get(&id).cloned().unwrap_or_default() },
                    figures: c.into(),
                })
                .collect(),
            by_grid: by_grid.into_iter().map(|(g, c)| GridFigures { grid_code: g, figures: c.into() }).collect(),
        })
    }
}

/// A case's history up to an instant (`Service::history_as_of`).
#[derive(Debug, Default)]
pub(crate) struct History {
    pub state: Option<CaseState>,
    /// After each event: its time and the unit then handling the case.
    pub held_by: Vec<(DateTime<Utc>, Option<i64>)>,
    /// Each event's action, time and fields.
    pub events: Vec<(String, DateTime<Utc>, serde_json::Map<String, serde_json::Value>)>,
}

impl History {
    /// The unit handling the case just before `at` (an event at `at` acts for the unit that held the case).
    pub fn unit_before(&self, at: DateTime<Utc>) -> Option<i64> {
        self.held_by.iter().take_while(|(t, _)| *t < at).last().or(self.held_by.first()).and_then(|(_, u)| *u)
    }
}

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

impl Service {
    /// A case as it stood at `as_of`: its events up to that instant folded again (None before it was opened).
    pub(crate) async fn state_as_of(&self, row: &CaseRow, as_of: DateTime<Utc>) -> DomainResult<Option<CaseState>> {
        Ok(self.history_as_of(row, as_of).await?.state)
    }

    /// A case's events up to `as_of`, folded: its state then, who handled it after each event, and the events'
    /// (action, time, fields).
    pub(crate) async fn history_as_of(&self, row: &CaseRow, as_of: DateTime<Utc>) -> DomainResult<History> {
        let mut h = History::default();
        for e in self.store.case_events(row.id).await.map_err(se)?.into_iter().filter(|e| e.at <= as_of) {
            let payload: EventPayload = serde_json::from_str(&e.payload).unwrap_or_default();
            // The intake event names the version the case follows.
            let version = match (&h.state, &payload.intake) {
                (Some(s), _) => s.workflow_version,
                (None, Some(i)) => i.workflow_version,
                (None, None) => self.workflows.get(&row.kind)?.version,
            };
            let def = self.workflows.get_version(&row.kind, version)?;
            let state =
                apply_event(def, h.state.take(), &payload.facts(e.seq, &e.action, e.at, e.actor_id, e.actor_unit))?;
            h.held_by.push((e.at, state.handling_unit));
            h.state = Some(state);
            h.events.push((e.action, e.at, payload.fields));
        }
        Ok(h)
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
        let units: Vec<_> = self
            .store
            .units()
            .await
            .map_err(se)?
            .into_iter()
            .filter(|u| u.path.starts_with(&p.unit.path) && rule.levels.contains(&u.level))
            .collect();
        // The first filing per unit and round ("" without rounds) for the period, among the reports filed
        // since it began.
        type Filing = (DateTime<Utc>, i64, Option<String>);
        let mut first: BTreeMap<(i64, String), Filing> = BTreeMap::new();
        let mut after = 0;
        loop {
            let rows = self.store.cases_created_since(kind, start, after, 1000).await.map_err(se)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for r in rows {
                let state = parse_state(&r)?;
                if rule.period_of(&state.fields) != Some(period) {
                    continue;
                }
                let round = match rule.round_of(&state.fields) {
                    Some(round) => round.id.clone(),
                    None if rule.rounds.is_empty() => String::new(),
                    None => continue,
                };
                // The result as it stands now, corrections included (the status is from the first filing).
                let result = rule.result_field.as_deref().and_then(|id| {
                    let options = &def.field(id)?.options;
                    state.fields.get(id).and_then(|v| v.as_str()).and_then(|v| options.get(v).cloned())
                });
                let e = first.entry((r.registered_unit, round)).or_insert((r.created_at, r.id, result.clone()));
                if r.created_at < e.0 {
                    *e = (r.created_at, r.id, result);
                }
            }
        }
        // Each round with its due time and, for rounds required only during a plan, the plans that applied at
        // that time (as they stood then).
        let mut rounds = Vec::new();
        if let Period::Day(day) = period {
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
                rounds.push((round, due, plans));
            }
        }
        let now = self.now();
        let units: Vec<UnitReport> = units
            .into_iter()
            .map(|u| {
                let mut round_reports = Vec::new();
                for (round, due, plans) in &rounds {
                    let required_by = match plans {
                        None => None,
                        Some(plans) => match plans.iter().find(|c| c.covers(&u.path)) {
                            Some(c) => Some(format!("{} {}", c.code, c.title)),
                            None => continue,
                        },
                    };
                    let filed = first.get(&(u.id, round.id.clone()));
                    let status = taizhang_domain::periodic::status(filed.map(|f| f.0), *due, now);
                    round_reports.push(RoundReport {
                        round: round.id.clone(),
                        name: round.name.clone(),
                        due_at: *due,
                        status,
                        status_label: status.label_zh().to_string(),
                        filed_at: filed.map(|f| f.0),
                        case_id: filed.map(|f| f.1),
                        required_by,
                    });
                }
                // Without rounds, the one filing of the period; with rounds, the day is its worst round, and the
                // unit's first filing is the earliest of any round (the result is the latest round's).
                let filings: Vec<&Filing> =
                    first.range((u.id, String::new())..).take_while(|(k, _)| k.0 == u.id).map(|(_, f)| f).collect();
                let filed = filings.iter().min_by_key(|f| f.0).copied();
                let status = match round_reports.iter().map(|r| r.status).reduce(|a, b| a.worse(b)) {
                    Some(worst) => worst,
                    None => taizhang_domain::periodic::status(filed.map(|f| f.0), due, now),
                };
                let result = filings.iter().max_by_key(|f| f.0).and_then(|f| f.2.clone());
                UnitReport {
                    unit: UnitRef { id: u.id, name: u.name },
                    level: u.level,
                    status,
                    status_label: status.label_zh().to_string(),
                    filed_at: filed.map(|f| f.0),
                    case_id: filed.map(|f| f.1),
                    result,
                    rounds: round_reports,
                }
            })
            .collect();
        use taizhang_domain::periodic::ReportStatus;
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
