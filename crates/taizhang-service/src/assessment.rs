//! Monthly (quarterly, yearly) assessment of units with the deployment's evaluation scheme
//! (`domain::assessment`, `<data>/assessment.toml`): each case of the kinds the scheme counts that the viewer may
//! see is folded as it stood at the end of the period, and each thing it counts for is charged to the unit that
//! held the case at the moment that decided it; each periodic report owed by a unit of the viewer's subtree is
//! charged to that unit. Units of the scheme's levels are scored and ranked among their peers (same level, same
//! parent). Every number drills down to its cases (`assessment_cases`) — a report never filed to a line without
//! one. The figures are those of the cases the viewer may see: the city sees all; a unit sees its own.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::access::{in_scope, is_accused};
use taizhang_domain::assessment::{CaseFacts, Scheme, UnitScore, ranks};
use taizhang_domain::deadline::china_tz;
use taizhang_domain::figures::{add_months, month_key};
use taizhang_domain::periodic::{Period, Periodic};
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{Registry, clock_views_lenient};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

use taizhang_store::Store;

use crate::cases::{UnitRef, access_facts};
use crate::{Principal, Service, se};

/// The scheme in `<data>/assessment.toml`, or the shipped one; checked against the kind it assesses.
pub fn load_scheme(dir: &Path, workflows: &Registry) -> DomainResult<(Scheme, String)> {
    let path = dir.join("assessment.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => taizhang_domain::assessment::EMBEDDED.to_string(),
        Err(e) => {
            return Err(DomainError::new(ErrorCode::WorkflowInvalid, format!("无法读取 {}：{e}", path.display())));
        }
    };
    let scheme = Scheme::from_toml(&text)?;
    scheme.check(workflows)?;
    Ok((scheme, text))
}

/// Where schemes are recorded among the versioned rule texts (`workflow_versions`): `scheme:<id>`.
pub const SCHEME_PREFIX: &str = "scheme:";

/// Records the scheme's text under its id and version the first time it is used, and refuses to start with a
/// text that differs from the one recorded under the same version: results name the version they were
/// computed with, so a version must always mean the same weights and thresholds.
pub async fn sync_scheme_version(store: &dyn Store, scheme: &Scheme, text: &str) -> DomainResult<()> {
    let recorded = store.workflow_versions().await.map_err(se)?;
    let kind = format!("{SCHEME_PREFIX}{}", scheme.id);
    if !crate::record_version(store, &recorded, &kind, scheme.version, text).await? {
        return Err(DomainError::new(
            ErrorCode::WorkflowInvalid,
            format!(
                "考核方案 {} 第 {} 版已经使用过，但内容与当时不同。修改权重、阈值或计数时请提高 version",
                scheme.id, scheme.version
            ),
        ));
    }
    Ok(())
}

/// The period assessed: a month (`2026-10`), a quarter (`2026-Q3`) or a year (`2026`), China time.
pub fn parse_period(s: &str) -> DomainResult<(String, DateTime<Utc>, DateTime<Utc>)> {
    let bad = || {
        DomainError::new(ErrorCode::InvalidInput, "考核期应为 2026-10（月）、2026-Q3（季度）或 2026（年）").at("period")
    };
    let start = |y: i32, m: u32| {
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| china_tz().from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single())
            .map(|t| t.with_timezone(&Utc))
    };
    let (label, y, m, months) = if let Some((y, q)) = s.split_once("-Q") {
        let (y, q): (i32, u32) = (y.parse().map_err(|_| bad())?, q.parse().map_err(|_| bad())?);
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        (format!("{y} 年第 {q} 季度"), y, 3 * q - 2, 3)
    } else if let Some((y, m)) = s.split_once('-') {
        let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        (format!("{y} 年 {m} 月"), y, m, 1)
    } else {
        let y: i32 = s.parse().map_err(|_| bad())?;
        (format!("{y} 年"), y, 1, 12)
    };
    if !(2000..=2100).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let (ey, em) = if m + months > 12 { (y + 1, m + months - 12) } else { (y, m + months) };
    Ok((label, start(y, m).ok_or_else(bad)?, start(ey, em).ok_or_else(bad)?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssessmentReport {
    pub scheme_id: String,
    pub scheme_name: String,
    /// The scheme version the figures were computed with.
    pub scheme_version: u32,
    pub period: String,
    pub period_label: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The figures are as of this instant (the period's end, or now for the running period).
    pub as_of: DateTime<Utc>,
    /// The period is still running: its figures will change.
    pub running: bool,
    /// The counts' names, for headings: (id, name).
    pub counts: Vec<(String, String)>,
    /// The indicators in the scheme's order, as every unit's `score.indicators`.
    pub indicators: Vec<IndicatorHead>,
    pub groups: Vec<PeerGroup>,
    /// The scheme's rule for circulars, kept with a published result (results published before it was recorded
    /// read back with the defaults, which were the rule then).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub circular: taizhang_domain::assessment::CircularRule,
}

/// An indicator of the scheme: its name and weight, and the counts it divides (to drill down into).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IndicatorHead {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub numerator: String,
    pub denominator: String,
}

/// Units ranked together: the scheme's levels under one parent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerGroup {
    pub parent: UnitRef,
    pub units: Vec<UnitAssessment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitAssessment {
    pub unit: UnitRef,
    /// Count id → number of cases (absent: 0).
    pub counts: BTreeMap<String, i64>,
    #[schema(value_type = Object)]
    pub score: UnitScore,
    /// Among its peers; None when nothing was assessed.
    pub rank: Option<u32>,
}

/// One case behind a count — or, for a periodic report never filed (漏报), the report owed, with no case.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountedCase {
    /// None for a report owed and not filed: there is no case to open.
    pub id: Option<i64>,
    /// The case's code ("—" for a report not filed).
    pub code: String,
    /// The case's title; for a periodic report, the report owed (kind, period, round).
    pub title: String,
    /// The case's state at the end of the period; for a periodic report, 按时 / 迟报 / 漏报.
    pub state: String,
}

/// Per handling unit: count id → the cases that made it.
type Tallies = BTreeMap<i64, BTreeMap<String, Vec<CountedCase>>>;

/// The periods of a periodic report whose due time may fall in [from, to): monthly, the months from two before
/// `from` on; daily, the days from the one before `from` on (a day's rounds are all due on the day).
/// `Scheme::report_counts` keeps those actually due in the period.
fn periods_due_within(rule: &Periodic, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Period> {
    let mut out = Vec::new();
    if rule.is_daily() {
        let (first, last) = (from.with_timezone(&china_tz()).date_naive(), to.with_timezone(&china_tz()).date_naive());
        let mut day = first.pred_opt().unwrap_or(first);
        while day <= last {
            out.push(Period::Day(day));
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    } else {
        let (mut key, last) = (add_months(month_key(from), -2), month_key(to));
        while key <= last {
            out.push(Period::Month((key / 100) as i32, (key % 100) as u32));
            key = add_months(key, 1);
        }
    }
    out
}

impl Service {
    /// Every case of the kinds the scheme counts that the viewer may see, folded as it stood at the end of the
    /// period; each counted item charged to the unit handling the case at the moment that decides it (a run's
    /// stop or due time, an event's time, a case's closing — `Scheme::counts_of`), so a unit that missed a
    /// deadline and then transferred the case keeps the miss. Then the periodic reports owed by the units of
    /// the viewer's subtree, each charged to the unit owing it.
    async fn tally(&self, p: &Principal, from: DateTime<Utc>, to: DateTime<Utc>) -> DomainResult<Tallies> {
        let scheme = &self.scheme;
        let as_of = to.min(self.now());
        let viewer = p.viewer();
        let mut out: Tallies = BTreeMap::new();
        for kind in scheme.case_kinds() {
            let mut after = 0;
            loop {
                // Every case opened before the period's end: a backlog overdue for years still counts.
                let rows = self.store.cases_created_since(kind, DateTime::UNIX_EPOCH, after, 500).await.map_err(se)?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in rows.into_iter().filter(|r| r.created_at < to) {
                    let facts = access_facts(&row);
                    if is_accused(&viewer, &facts) || !in_scope(&viewer, &facts) {
                        continue;
                    }
                    let history = self.history_as_of(&row, as_of).await?;
                    let Some(state) = &history.state else { continue };
                    let def = self.workflows.get_version(&row.kind, state.workflow_version)?;
                    let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
                    let (clocks, _) = clock_views_lenient(def, state, &self.calendar, region.as_ref(), as_of);
                    let state_name = def.state(&state.state).map(|s| s.name.clone()).unwrap_or(state.state.clone());
                    let case = CaseFacts {
                        kind,
                        clocks: &clocks,
                        events: &history.events,
                        opened_at: row.created_at,
                        closed_at: history.closed_at,
                    };
                    for (count, at) in scheme.counts_of(&case, (from, to, as_of)) {
                        let Some(unit) = history.unit_before(at) else { continue };
                        let case = CountedCase {
                            id: Some(row.id),
                            code: row.code.clone(),
                            title: row.title.clone(),
                            state: state_name.clone(),
                        };
                        out.entry(unit).or_default().entry(count).or_default().push(case);
                    }
                }
            }
        }
        for kind in scheme.periodic_kinds() {
            let def = self.workflows.get(kind)?;
            let Some(rule) = &def.periodic else { continue };
            let periods = periods_due_within(rule, from, to);
            let Some(since) = periods.iter().filter_map(|p| rule.window(*p)).map(|(start, _)| start).min() else {
                continue;
            };
            let units = self.reporting_units(p, rule).await?;
            let filings = self.first_filings(def, rule, since, &periods.iter().copied().collect()).await?;
            for owed in self.owed_reports(rule, &units, &periods).await? {
                let filed = filings.get(&owed.key()).filter(|f| f.at <= as_of);
                let counts = scheme.report_counts(kind, filed.map(|f| f.at), owed.due, (from, to, as_of));
                if counts.is_empty() {
                    continue;
                }
                let status = taizhang_domain::periodic::status(filed.map(|f| f.at), owed.due, as_of);
                let round = owed.round.map(|r| format!(" {}", r.name)).unwrap_or_default();
                let item = CountedCase {
                    id: filed.map(|f| f.case_id),
                    code: filed.map(|f| f.code.clone()).unwrap_or_else(|| "—".into()),
                    title: format!("{}：{}{round}", def.name, owed.period.label_zh()),
                    state: status.label_zh().to_string(),
                };
                for count in counts {
                    out.entry(owed.unit).or_default().entry(count).or_default().push(item.clone());
                }
            }
        }
        Ok(out)
    }

    /// The assessment of the units under the viewer's unit for a period (`2026-10`, `2026-Q3`, `2026`;
    /// default: last month), scored with the deployment's scheme and ranked among peers.
    pub async fn assessment(&self, p: &Principal, period: Option<&str>) -> DomainResult<AssessmentReport> {
        self.require_case_worker(p)?;
        let period = match period.filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => {
                let today = self.now().with_timezone(&china_tz()).date_naive();
                let last = today.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(today);
                format!("{}-{:02}", last.year(), last.month())
            }
        };
        let (period_label, from, to) = parse_period(&period)?;
        if from > self.now() {
            return Err(
                DomainError::new(ErrorCode::InvalidInput, format!("{period_label}尚未开始，无可考核")).at("period")
            );
        }
        let tallies = self.tally(p, from, to).await?;
        let units = self.store.units().await.map_err(se)?;
        let names: BTreeMap<i64, String> = units.iter().map(|u| (u.id, u.name.clone())).collect();
        let mut groups: BTreeMap<i64, Vec<UnitAssessment>> = BTreeMap::new();
        for u in units.iter().filter(|u| u.path.starts_with(&p.unit.path) && self.scheme.levels.contains(&u.level)) {
            let Some(parent) = u.parent_id else { continue };
            let counts: BTreeMap<String, i64> = tallies
                .get(&u.id)
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.len() as i64)).collect())
                .unwrap_or_default();
            let score = self.scheme.score(&counts);
            groups.entry(parent).or_default().push(UnitAssessment {
                unit: UnitRef { id: u.id, name: u.name.clone() },
                counts,
                score,
                rank: None,
            });
        }
        let groups = groups
            .into_iter()
            .map(|(parent, mut units)| {
                let r = ranks(&units.iter().map(|u| &u.score).collect::<Vec<_>>());
                for (u, rank) in units.iter_mut().zip(r) {
                    u.rank = rank;
                }
                units.sort_by_key(|u| (u.rank.is_none(), u.rank));
                PeerGroup {
                    parent: UnitRef { id: parent, name: names.get(&parent).cloned().unwrap_or_default() },
                    units,
                }
            })
            .collect();
        Ok(AssessmentReport {
            scheme_id: self.scheme.id.clone(),
            scheme_name: self.scheme.name.clone(),
            scheme_version: self.scheme.version,
            period,
            period_label,
            from,
            to,
            as_of: to.min(self.now()),
            running: self.now() < to,
            counts: self.scheme.counts.iter().map(|c| (c.id.clone(), c.name.clone())).collect(),
            indicators: self
                .scheme
                .indicators
                .iter()
                .map(|i| IndicatorHead {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    weight: i.weight,
                    numerator: i.numerator.clone(),
                    denominator: i.denominator.clone(),
                })
                .collect(),
            groups,
            circular: self.scheme.circular,
        })
    }

    /// The cases behind one unit's count for a period: what a figure in the assessment is made of.
    pub async fn assessment_cases(
        &self,
        p: &Principal,
        period: &str,
        unit_id: i64,
        count: &str,
    ) -> DomainResult<Vec<CountedCase>> {
        self.require_case_worker(p)?;
        if !self.scheme.counts.iter().any(|c| c.id == count) {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("考核方案中没有计数 {count}")).at("count"));
        }
        let (_, from, to) = parse_period(period)?;
        let unit = self.store.unit(unit_id).await.map_err(se)?;
        if !unit.is_some_and(|u| u.path.starts_with(&p.unit.path)) {
            return Err(
                DomainError::new(ErrorCode::NotFound, format!("单位 {unit_id} 不存在或不在您的考核范围内")).at("unit")
            );
        }
        let mut tallies = self.tally(p, from, to).await?;
        Ok(tallies.get_mut(&unit_id).and_then(|t| t.remove(count)).unwrap_or_default())
    }
}
