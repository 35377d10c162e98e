//! Assessment (考核): an evaluation scheme as versioned data — counts over cases, indicators built from
//! them with a weight and thresholds, one-vote-veto conditions — and the scoring and ranking of units with it.
//! Every count is decided from one case's own history (its state and clocks folded up to the end of the
//! period, and its events) or, for periodic reports, from each report owed and its first filing, so every
//! figure can be followed to the cases behind it.
//!
//! A count counts cases of the scheme's kind unless it names another `kind` (a scheme for petitions may also
//! count backlog cases and the monthly dispute sweep). Counts:
//! - a clock's `due` runs: runs whose due time (extensions and pauses included) falls in the period and that
//!   were decided by the time of assessment (stopped, or past due) — each run is assessed once, in the period
//!   its deadline falls in;
//! - a clock's `met` runs: of those, the ones stopped by their due time (a reply on the last day is on time);
//! - a clock's `overdue_open` runs: still running at the time of assessment, past due;
//! - an action's events in the period, optionally only those whose fields match `when`;
//! - `open_during`: cases open at some moment of the period (opened before its end, not closed before its
//!   start) — the base of a clearance rate (积案化解率 = cases closed in the period / cases open during it);
//! - `periodic`: the reports a kind with `[periodic]` owes — one per reporting unit and period (per round for a
//!   daily report with rounds) — whose due time falls in the period: `due` (decided: filed, or past due),
//!   `on_time`, `late`, `missing` (零报告 compliance = on time / due).
//!
//! Scores: an indicator's rate (numerator / denominator, percent) earns its full weight at or beyond `target`,
//! nothing at or beyond `floor`, and in between in proportion. An indicator with nothing to count (denominator
//! 0) is left out, and the unit's total is scaled to the weights that apply, so no unit gains or loses marks
//! for having had no such cases (a department that files no sweep reports is assessed without that
//! indicator). A veto condition met puts the unit last among its peers, whatever its score.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::periodic::ReportStatus;
use crate::workflow::{ClockView, FieldType, Registry};

/// The shipped scheme, replaced by `<data>/assessment.toml`.
pub const EMBEDDED: &str = include_str!("../data/assessment.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    pub id: String,
    pub name: String,
    /// Raised with every change (a weight, a threshold): each result records the version it was computed with.
    pub version: u32,
    /// The kind of cases assessed; each counts for its handling unit.
    pub kind: String,
    /// The unit levels assessed; units of these levels with the same parent are peers and are ranked together.
    pub levels: Vec<String>,
    pub counts: Vec<CountDef>,
    pub indicators: Vec<IndicatorDef>,
    #[serde(default)]
    pub vetoes: Vec<VetoDef>,
    /// Who a circular (通报) names; the shipped defaults when the section is absent.
    #[serde(default)]
    pub circular: CircularRule,
}

/// `[circular]`: units with a total at or above `commend_at` are commended (as is each peer group's first), units
/// under `short_below` (or vetoed) found short.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CircularRule {
    pub commend_at: f64,
    pub short_below: f64,
}

impl Default for CircularRule {
    fn default() -> Self {
        CircularRule { commend_at: 90.0, short_below: 60.0 }
    }
}

/// What a count counts: a clock's runs (`clock` + `measure`), an action's events (`action` + `when`), the cases
/// open during the period (`open_during`), or the periodic reports owed (`periodic`), of the scheme's kind or
/// of `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountDef {
    pub id: String,
    pub name: String,
    /// The kind counted; the scheme's own when absent.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub clock: Option<String>,
    #[serde(default)]
    pub measure: Option<Measure>,
    #[serde(default)]
    pub action: Option<String>,
    /// Only events whose fields take one of the values (e.g. satisfaction ∈ 满意, 基本满意).
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub open_during: bool,
    #[serde(default)]
    pub periodic: Option<ReportMeasure>,
}

/// What a count is, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountForm<'a> {
    Clock(&'a str, Measure),
    Action(&'a str),
    OpenDuring,
    Periodic(ReportMeasure),
}

impl CountDef {
    /// The count's form, None when its fields do not make exactly one (`Scheme::check` says so).
    pub fn form(&self) -> Option<CountForm<'_>> {
        let plain = self.when.is_empty();
        match (&self.clock, self.measure, &self.action, self.open_during, self.periodic) {
            (Some(c), Some(m), None, false, None) if plain => Some(CountForm::Clock(c, m)),
            (None, None, Some(a), false, None) => Some(CountForm::Action(a)),
            (None, None, None, true, None) if plain => Some(CountForm::OpenDuring),
            (None, None, None, false, Some(m)) if plain => Some(CountForm::Periodic(m)),
            _ => None,
        }
    }
}

/// Of the periodic reports owed: those decided (`due`), filed by their due time, filed after it, not filed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportMeasure {
    Due,
    OnTime,
    Late,
    Missing,
}

/// One case as an assessment sees it: its kind, its clock runs and events as of the time of assessment, when it
/// was opened and, if it stands in a terminal state then, when it entered it.
pub struct CaseFacts<'a> {
    pub kind: &'a str,
    pub clocks: &'a [ClockView],
    pub events: &'a [(String, DateTime<Utc>, Map<String, Value>)],
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Due,
    Met,
    OverdueOpen,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorDef {
    pub id: String,
    pub name: String,
    pub numerator: String,
    pub denominator: String,
    pub weight: f64,
    /// Full marks at or beyond this rate (percent).
    pub target: f64,
    /// No marks at or beyond this rate (percent), on the other side.
    pub floor: f64,
    /// For rates where less is better (返工率): full marks at or below `target`, none at or above `floor`.
    #[serde(default)]
    pub lower_is_better: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VetoDef {
    pub id: String,
    pub name: String,
    pub count: String,
    /// Vetoed when the count is greater than this.
    #[serde(default)]
    pub above: i64,
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::new(ErrorCode::WorkflowInvalid, format!("考核方案有误：{}", msg.into()))
}

impl Scheme {
    pub fn from_toml(text: &str) -> DomainResult<Scheme> {
        toml::from_str(text).map_err(|e| invalid(e.message().to_string()))
    }

    /// The scheme's own consistency and its fit to the definitions of the kinds it counts.
    pub fn check(&self, workflows: &Registry) -> DomainResult<()> {
        workflows.get(&self.kind).map_err(|_| invalid(format!("没有流程定义 {}", self.kind)))?;
        if self.levels.is_empty() || self.indicators.is_empty() {
            return Err(invalid("levels 和 indicators 不能为空"));
        }
        let mut ids = std::collections::BTreeSet::new();
        for c in &self.counts {
            if !ids.insert(c.id.as_str()) {
                return Err(invalid(format!("计数 {} 重复", c.id)));
            }
            let kind = self.kind_of(c);
            let def = workflows.get(kind).map_err(|_| invalid(format!("计数 {} 引用了未定义的类别 {kind}", c.id)))?;
            match c.form() {
                Some(CountForm::Clock(clock, _)) => {
                    if def.clock(clock).is_none() {
                        return Err(invalid(format!("计数 {} 引用了未定义的时限 {clock}", c.id)));
                    }
                }
                Some(CountForm::Action(action)) => {
                    if def.action(action).is_none() {
                        return Err(invalid(format!("计数 {} 引用了未定义的动作 {action}", c.id)));
                    }
                    for (f, values) in &c.when {
                        let Some(field) = def.field(f).filter(|d| d.ty == FieldType::Choice) else {
                            return Err(invalid(format!("计数 {} 的条件字段 {f} 须是选项字段", c.id)));
                        };
                        if let Some(v) = values.iter().find(|v| !field.options.contains_key(*v)) {
                            return Err(invalid(format!("计数 {} 的条件中，字段 {f} 没有选项 {v}", c.id)));
                        }
                    }
                }
                Some(CountForm::OpenDuring) => {}
                Some(CountForm::Periodic(_)) => {
                    if def.periodic.is_none() {
                        return Err(invalid(format!("计数 {} 的类别 {kind} 不是定期报告", c.id)));
                    }
                }
                None => {
                    return Err(invalid(format!(
                        "计数 {} 应为 clock + measure、action（可加 when）、open_during = true 或 periodic 四者之一",
                        c.id
                    )));
                }
            }
        }
        for i in &self.indicators {
            for c in [&i.numerator, &i.denominator] {
                if !ids.contains(c.as_str()) {
                    return Err(invalid(format!("指标 {} 引用了未定义的计数 {c}", i.id)));
                }
            }
            let ordered = if i.lower_is_better { i.target < i.floor } else { i.floor < i.target };
            if i.weight.is_nan() || i.weight <= 0.0 || !ordered {
                return Err(invalid(format!("指标 {} 的权重应为正数，达标线与零分线应分处两侧", i.id)));
            }
        }
        if let Some(v) = self.vetoes.iter().find(|v| !ids.contains(v.count.as_str())) {
            return Err(invalid(format!("一票否决条件 {} 引用了未定义的计数 {}", v.id, v.count)));
        }
        Ok(())
    }

    /// The kind a count counts.
    pub fn kind_of<'a>(&'a self, c: &'a CountDef) -> &'a str {
        c.kind.as_deref().unwrap_or(&self.kind)
    }

    /// The kinds whose cases the case-based counts (clocks, actions, open during) look at.
    pub fn case_kinds(&self) -> Vec<&str> {
        self.kinds_counted(false)
    }

    /// The kinds whose periodic reports are counted.
    pub fn periodic_kinds(&self) -> Vec<&str> {
        self.kinds_counted(true)
    }

    fn kinds_counted(&self, periodic: bool) -> Vec<&str> {
        let mut kinds: Vec<&str> = self
            .counts
            .iter()
            .filter(|c| matches!(c.form(), Some(CountForm::Periodic(_))) == periodic)
            .map(|c| self.kind_of(c))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// What one case adds to each count of its kind for the period [from, to) assessed at `as_of` (≤ to): one
    /// instant per counted item, the moment that decides which unit it is charged to (the unit holding the case
    /// then) — when a clock run stopped or, still running, fell due; when an event happened; for a case open
    /// during the period, when it closed or, still open, the end of the period (or `as_of`).
    ///
    /// A day-based deadline is due at the end of its day (00:00 the next day), so a run is in the period when
    /// `from < due_at <= to`: a deadline on the month's last day belongs to that month.
    pub fn counts_of(
        &self,
        case: &CaseFacts,
        (from, to, as_of): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
    ) -> Vec<(String, DateTime<Utc>)> {
        let mut out = Vec::new();
        for c in self.counts.iter().filter(|c| self.kind_of(c) == case.kind) {
            match c.form() {
                Some(CountForm::Clock(clock, m)) => {
                    for v in case.clocks.iter().filter(|v| v.clock == clock) {
                        let stopped = v.stopped_at.filter(|s| *s <= as_of);
                        let in_period = from < v.due_at && v.due_at <= to;
                        let decided = stopped.is_some() || v.due_at <= as_of;
                        let counted = match m {
                            Measure::Due => in_period && decided,
                            Measure::Met => in_period && stopped.is_some_and(|s| s <= v.due_at),
                            Measure::OverdueOpen => stopped.is_none() && v.due_at <= as_of,
                        };
                        if counted {
                            out.push((c.id.clone(), stopped.unwrap_or(v.due_at)));
                        }
                    }
                }
                Some(CountForm::Action(action)) => {
                    for (a, at, fields) in case.events {
                        let matches = c.when.iter().all(|(f, values)| {
                            fields.get(f).and_then(Value::as_str).is_some_and(|v| values.iter().any(|x| x == v))
                        });
                        if a == action && from <= *at && *at < to && *at <= as_of && matches {
                            out.push((c.id.clone(), *at));
                        }
                    }
                }
                Some(CountForm::OpenDuring) => {
                    let end = to.min(as_of);
                    let closed = case.closed_at.filter(|t| *t <= as_of);
                    if case.opened_at < end && closed.is_none_or(|t| t >= from) {
                        out.push((c.id.clone(), closed.filter(|t| *t < end).unwrap_or(end)));
                    }
                }
                Some(CountForm::Periodic(_)) | None => {}
            }
        }
        out
    }

    /// The periodic counts of `kind` one owed report makes: a report due at `due`, first filed at `filed` (if by
    /// `as_of`), for the period [from, to) assessed at `as_of`. A report is assessed in the period its due time
    /// falls in (`from < due <= to`), once decided — filed, or past due; on time when filed before `due`.
    pub fn report_counts(
        &self,
        kind: &str,
        filed: Option<DateTime<Utc>>,
        due: DateTime<Utc>,
        (from, to, as_of): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
    ) -> Vec<String> {
        // The same rule as the periodic overview (`periodic::status`): a report first filed at its due instant
        // or later is late.
        let status = crate::periodic::status(filed.filter(|f| *f <= as_of), due, as_of);
        if !(from < due && due <= to) || status == ReportStatus::Pending {
            return Vec::new();
        }
        self.counts
            .iter()
            .filter(|c| self.kind_of(c) == kind)
            .filter(|c| match c.form() {
                Some(CountForm::Periodic(m)) => match m {
                    ReportMeasure::Due => true,
                    ReportMeasure::OnTime => status == ReportStatus::OnTime,
                    ReportMeasure::Late => status == ReportStatus::Late,
                    ReportMeasure::Missing => status == ReportStatus::Missing,
                },
                _ => false,
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// A unit's scores from its counts.
    pub fn score(&self, counts: &BTreeMap<String, i64>) -> UnitScore {
        let get = |id: &str| counts.get(id).copied().unwrap_or(0);
        let indicators: Vec<IndicatorScore> = self
            .indicators
            .iter()
            .map(|i| {
                let (n, d) = (get(&i.numerator), get(&i.denominator));
                let rate = (d > 0).then(|| 100.0 * n as f64 / d as f64);
                let score = rate.map(|r| {
                    let (good, bad) = (i.target, i.floor);
                    let share = ((r - bad) / (good - bad)).clamp(0.0, 1.0);
                    round2(i.weight * share)
                });
                IndicatorScore {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    numerator: n,
                    denominator: d,
                    rate: rate.map(round2),
                    weight: i.weight,
                    score,
                }
            })
            .collect();
        let applies: f64 = indicators.iter().filter(|i| i.score.is_some()).map(|i| i.weight).sum();
        let earned: f64 = indicators.iter().filter_map(|i| i.score).sum();
        let total_weight: f64 = self.indicators.iter().map(|i| i.weight).sum();
        let total = (applies > 0.0).then(|| round2(earned * total_weight / applies));
        let vetoed = self
            .vetoes
            .iter()
            .filter(|v| get(&v.count) > v.above)
            .map(|v| VetoHit { name: v.name.clone(), count: v.count.clone(), value: get(&v.count) })
            .collect();
        UnitScore { indicators, total, vetoed }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndicatorScore {
    pub id: String,
    pub name: String,
    pub numerator: i64,
    pub denominator: i64,
    /// Percent, two decimals; None with nothing to count.
    pub rate: Option<f64>,
    pub weight: f64,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnitScore {
    pub indicators: Vec<IndicatorScore>,
    /// Out of the scheme's total weight; None when no indicator applies.
    pub total: Option<f64>,
    /// The veto conditions met (一票否决).
    pub vetoed: Vec<VetoHit>,
}

/// A veto condition a unit met: its name, and the count (with its value) that met it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VetoHit {
    pub name: String,
    pub count: String,
    pub value: i64,
}

/// Ranks peers: higher totals first, equal totals share a rank (1, 1, 3); vetoed units after every other
/// (a vetoed unit with no figures at all is ranked last too); units with nothing to assess are unranked (None).
pub fn ranks(scores: &[&UnitScore]) -> Vec<Option<u32>> {
    let ranked = |s: &UnitScore| s.total.is_some() || !s.vetoed.is_empty();
    // Whether `o` ranks above `s`: not vetoed beats vetoed; otherwise the higher total (any beats none).
    let above = |o: &UnitScore, s: &UnitScore| match (o.vetoed.is_empty(), s.vetoed.is_empty()) {
        (true, false) => true,
        (false, true) => false,
        _ => o.total > s.total,
    };
    scores
        .iter()
        .map(|s| {
            if !ranked(s) {
                return None;
            }
            Some(scores.iter().filter(|o| ranked(o) && above(o, s)).count() as u32 + 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Registry;

    fn scheme() -> Scheme {
        let s = Scheme::from_toml(EMBEDDED).unwrap();
        s.check(&Registry::embedded()).unwrap();
        s
    }

    #[test]
    fn circular_thresholds_are_data_with_defaults() {
        assert_eq!(scheme().circular, CircularRule { commend_at: 90.0, short_below: 60.0 });
        let own = format!("{EMBEDDED}\n[circular]\ncommend_at = 95\nshort_below = 70\n");
        assert_eq!(Scheme::from_toml(&own).unwrap().circular, CircularRule { commend_at: 95.0, short_below: 70.0 });
        let wrong = format!("{EMBEDDED}\n[circular]\ncommend = 95\nshort_below = 70\n");
        assert!(Scheme::from_toml(&wrong).is_err());
    }

    fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_shipped_scheme_fits_the_petition_definition() {
        let s = scheme();
        let weights: f64 = s.indicators.iter().map(|i| i.weight).sum();
        assert_eq!(weights, 100.0);
    }

    /// Computed by hand: 及时受理 9/10 = 90 % (full at 100, none at 80: 15 × 0.5 = 7.5); 按期办结 19/20 = 95 %
    /// (full: 30); 参评 8/16 = 50 % (full at 80, none at 30: 10 × 0.4 = 4); 满意 6/8 = 75 % (full at 90, none at
    /// 50: 25 × 0.625 = 15.625, shown 15.63); 积案化解 3/10 = 30 % (full at 60, none at 0: 10 × 0.5 = 5); 排查按时
    /// 报送 9/10 = 90 % (full at 100, none at 80: 10 × 0.5 = 5). Total 67.13.
    #[test]
    fn scores_follow_the_thresholds_by_hand() {
        let s = scheme();
        let c = counts(&[
            ("accept_due", 10),
            ("accept_on_time", 9),
            ("handling_due", 20),
            ("handling_on_time", 19),
            ("replied", 16),
            ("rated", 8),
            ("satisfied", 6),
            ("backlog_open", 10),
            ("backlog_resolved", 3),
            ("sweep_due", 10),
            ("sweep_on_time", 9),
        ]);
        let u = s.score(&c);
        let scores: Vec<Option<f64>> = u.indicators.iter().map(|i| i.score).collect();
        assert_eq!(scores, vec![Some(7.5), Some(30.0), Some(4.0), Some(15.63), Some(5.0), Some(5.0)]);
        assert_eq!(u.total, Some(67.13));
        assert!(u.vetoed.is_empty());
    }

    /// With no case due for handling, no backlog and no sweep report owed (a department), those three are left
    /// out and the rest is scaled: (7.5 + 4 + 15.63) / 50 × 100.
    #[test]
    fn an_indicator_with_nothing_to_count_is_left_out_not_scored_zero() {
        let s = scheme();
        let c = counts(&[("accept_due", 10), ("accept_on_time", 9), ("replied", 16), ("rated", 8), ("satisfied", 6)]);
        let u = s.score(&c);
        assert_eq!(u.indicators[1].rate, None);
        assert_eq!(u.total, Some(54.26));
        assert_eq!(s.score(&BTreeMap::new()).total, None, "nothing at all: not assessed");
    }

    #[test]
    fn peers_rank_by_total_with_ties_sharing_and_vetoes_last() {
        let s = scheme();
        let good = s.score(&counts(&[("handling_due", 10), ("handling_on_time", 10)]));
        let fair = s.score(&counts(&[("handling_due", 10), ("handling_on_time", 8)]));
        let mut vetoed = good.clone();
        vetoed.vetoed = vec![VetoHit { name: "超期未办结".into(), count: "overdue_open".into(), value: 6 }];
        let none = s.score(&BTreeMap::new());
        let only_backlog = s.score(&counts(&[("overdue_open", 6)]));
        assert_eq!((only_backlog.total, only_backlog.vetoed.len()), (None, 1));
        let r = ranks(&[&fair, &vetoed, &good, &none, &good, &only_backlog]);
        assert_eq!(r, vec![Some(3), Some(4), Some(1), None, Some(1), Some(5)], "a backlog alone still ranks last");
    }

    /// A run of the handling clock due at the end of `due` (China time), stopped at `stopped` if given.
    fn run(due: &str, stopped: Option<&str>) -> ClockView {
        use crate::deadline::{ClockStatus, Period, PeriodUnit, parse_start};
        let due_at = parse_start(due).unwrap();
        ClockView {
            clock: "handling".into(),
            name: "办理答复期限".into(),
            kind: crate::workflow::ClockKind::Obligation,
            period: Period { amount: 60, unit: PeriodUnit::CalendarDays },
            started_at: due_at - chrono::Duration::days(60),
            stopped_at: stopped.map(|s| parse_start(s).unwrap()),
            paused: false,
            legal_due_at: due_at,
            due_at,
            due_date: None,
            provisional: false,
            extensions: vec![],
            status: ClockStatus::OnTime,
            status_label: String::new(),
            remaining: String::new(),
            source: None,
        }
    }

    fn petition(clocks: &[ClockView]) -> CaseFacts<'_> {
        CaseFacts { kind: "petition", clocks, events: &[], opened_at: DateTime::UNIX_EPOCH, closed_at: None }
    }

    fn at(s: &str) -> DateTime<Utc> {
        crate::deadline::parse_start(s).unwrap()
    }

    /// 积案化解率's counts for November: a backlog case counts as open during the month when it was opened before
    /// its end and not struck off before its start — charged when it was struck off, or at the month's end; the
    /// strike-off itself is the `resolve` event. In the running month (as of 20 November) later events are not
    /// yet known.
    #[test]
    fn backlog_cases_open_during_the_period_and_those_struck_off() {
        let s = scheme();
        let (nov, dec) = (at("2026-11-01T00:00"), at("2026-12-01T00:00"));
        let resolve = |t: &str| vec![("resolve".to_string(), at(t), Map::new())];
        let ids = |opened: &str, closed: Option<&str>, as_of: DateTime<Utc>| {
            let events = closed.map(resolve).unwrap_or_default();
            let case = CaseFacts {
                kind: "backlog",
                clocks: &[],
                events: &events,
                opened_at: at(opened),
                closed_at: closed.map(at),
            };
            s.counts_of(&case, (nov, dec, as_of))
        };
        let names = |v: Vec<(String, DateTime<Utc>)>| v.into_iter().map(|(c, _)| c).collect::<Vec<_>>();
        assert_eq!(ids("2026-10-15T09:00", None, dec), vec![("backlog_open".to_string(), dec)], "charged at the end");
        let struck = ids("2026-10-15T09:00", Some("2026-11-10T15:00"), dec);
        assert_eq!(
            struck,
            vec![("backlog_open".into(), at("2026-11-10T15:00")), ("backlog_resolved".into(), at("2026-11-10T15:00"))]
        );
        assert!(ids("2026-10-15T09:00", Some("2026-10-31T23:00"), dec).is_empty(), "cleared in October");
        assert_eq!(names(ids("2026-11-30T10:00", None, dec)), vec!["backlog_open"], "designated on the last day");
        assert!(ids("2026-12-02T10:00", None, dec).is_empty(), "designated in December");
        let running = at("2026-11-20T00:00");
        assert!(ids("2026-11-25T10:00", None, running).is_empty(), "not yet designated on the 20th");
        assert_eq!(ids("2026-10-15T09:00", Some("2026-11-25T10:00"), running), vec![("backlog_open".into(), running)]);
        let petition_case = CaseFacts { kind: "petition", ..petition(&[]) };
        assert!(s.counts_of(&petition_case, (nov, dec, dec)).is_empty(), "backlog counts look at backlog cases only");
    }

    /// 排查按时报送率's counts: October's sweep is due by the end of 5 November (6 November 00:00), so November
    /// assesses it: filed on the 3rd on time, on the 9th late, not at all missing — and in the running month, a
    /// report not yet due and not filed is not counted yet.
    #[test]
    fn periodic_reports_are_counted_in_the_period_they_fall_due() {
        let s = scheme();
        let (nov, dec) = (at("2026-11-01T00:00"), at("2026-12-01T00:00"));
        let due = at("2026-11-06T00:00");
        let counts = |filed: Option<&str>, due: DateTime<Utc>, as_of: DateTime<Utc>| {
            s.report_counts("sweep", filed.map(at), due, (nov, dec, as_of))
        };
        assert_eq!(counts(Some("2026-11-03T10:00"), due, dec), vec!["sweep_due", "sweep_on_time"]);
        assert_eq!(counts(Some("2026-11-05T23:59"), due, dec), vec!["sweep_due", "sweep_on_time"], "on the 5th");
        assert_eq!(counts(Some("2026-11-06T00:00"), due, dec), vec!["sweep_due"], "at the due instant: late");
        assert_eq!(counts(Some("2026-11-09T10:00"), due, dec), vec!["sweep_due"], "late: due, not on time");
        assert_eq!(counts(None, due, dec), vec!["sweep_due", "sweep_missing"]);
        let the_4th = at("2026-11-04T12:00");
        assert!(counts(None, due, the_4th).is_empty(), "not yet due");
        assert_eq!(counts(Some("2026-11-03T10:00"), due, the_4th), vec!["sweep_due", "sweep_on_time"]);
        assert!(counts(Some("2026-11-09T10:00"), due, the_4th).is_empty(), "filed after the time of assessment");
        assert!(counts(None, at("2026-12-06T00:00"), dec).is_empty(), "November's sweep is December's");
        assert!(s.report_counts("petition", None, due, (nov, dec, dec)).is_empty());
    }

    /// A grid event suspended across the month boundary, counted by a locality's scheme over its handling clock
    /// (4 working hours for a 小广告): dispatched Friday 30 October 9:20, it would be due at 15:20 that day; the
    /// dispatcher suspends it at 10:00 (40 minutes used) until Monday 2 November 9:00, so the remaining 3 h 20 min
    /// run to 14:20 on the 2nd, and the feedback at 14:00 is on time. October has nothing due; November has it,
    /// met. Without the suspension the same feedback is October's, late.
    #[test]
    fn a_case_suspended_across_the_month_boundary_is_due_when_its_clock_says() {
        use crate::calendar::HolidayCalendar;
        use crate::testing::play;
        use crate::workflow::clock_views;
        use serde_json::json;
        let reg = Registry::embedded();
        let def = reg.get("grid_event").unwrap();
        let scheme = Scheme::from_toml(
            r#"
            id = "grid_handling"
            name = "网格事件处置考核"
            version = 1
            kind = "grid_event"
            levels = ["department"]
            [[counts]]
            id = "due"
            name = "应处置件数"
            clock = "handling"
            measure = "due"
            [[counts]]
            id = "met"
            name = "按时处置件数"
            clock = "handling"
            measure = "met"
            [[indicators]]
            id = "on_time"
            name = "按时处置率"
            numerator = "met"
            denominator = "due"
            weight = 100
            target = 100
            floor = 0
            "#,
        )
        .unwrap();
        scheme.check(&reg).unwrap();
        let report = json!({"source": "grid_worker", "subclass": "illegal_ads", "location": "人民路 8 号",
            "title": "电线杆上张贴小广告", "description": "约 20 张", "grid_code": "330106001001003"});
        let opened = vec![
            ("report", report, at("2026-10-30T09:00")),
            ("register_event", json!({}), at("2026-10-30T09:10")),
            ("dispatch", json!({"target_unit": 7}), at("2026-10-30T09:20")),
        ];
        let feedback = ("feedback", json!({"feedback": "已清除"}), at("2026-11-02T14:00"));
        let mut suspended = opened.clone();
        suspended.extend([
            ("suspend", json!({"reason": "张贴处为危墙，待加固后清除"}), at("2026-10-30T10:00")),
            ("resume", json!({}), at("2026-11-02T09:00")),
            feedback.clone(),
        ]);
        let mut straight = opened;
        straight.push(feedback);
        let (oct, nov, dec) = (at("2026-10-01T00:00"), at("2026-11-01T00:00"), at("2026-12-01T00:00"));
        let counts = |steps: &[(&str, serde_json::Value, DateTime<Utc>)], from, to| {
            let state = play(def, steps);
            let clocks = clock_views(def, &state, HolidayCalendar::embedded(), None, dec).unwrap();
            let handling = clocks.iter().find(|c| c.clock == "handling").unwrap().due_at;
            let case = CaseFacts { kind: "grid_event", clocks: &clocks, events: &[], opened_at: oct, closed_at: None };
            let ids: Vec<String> = scheme.counts_of(&case, (from, to, dec)).into_iter().map(|(c, _)| c).collect();
            (handling, ids)
        };
        let (due, october) = counts(&suspended, oct, nov);
        assert_eq!(due, at("2026-11-02T14:20"), "the pause moved the deadline");
        assert!(october.is_empty(), "{october:?}");
        assert_eq!(counts(&suspended, nov, dec).1, vec!["due", "met"]);
        let (due, october) = counts(&straight, oct, nov);
        assert_eq!((due, october), (at("2026-10-30T15:20"), vec!["due".to_string()]), "late, in October");
        assert!(counts(&straight, nov, dec).1.is_empty());
    }

    /// Month edges: a deadline on 31 October (due at 1 November 00:00) is October's; a reply at 23:59 on it is
    /// on time; a run still open is overdue from the first instant after its day, and charged then.
    #[test]
    fn a_deadline_on_the_last_day_of_a_month_belongs_to_that_month() {
        use crate::deadline::parse_start;
        let s = scheme();
        let (oct, nov, dec) = (
            parse_start("2026-10-01T00:00").unwrap(),
            parse_start("2026-11-01T00:00").unwrap(),
            parse_start("2026-12-01T00:00").unwrap(),
        );
        let ids = |runs: &[ClockView], period: (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)| {
            let mut v: Vec<String> = s.counts_of(&petition(runs), period).into_iter().map(|(c, _)| c).collect();
            v.sort();
            v
        };
        let last_day = [run("2026-11-01T00:00", Some("2026-10-31T23:59"))];
        assert_eq!(ids(&last_day, (oct, nov, nov)), vec!["handling_due", "handling_on_time"]);
        assert!(ids(&last_day, (nov, dec, dec)).is_empty(), "not November's");
        let open = [run("2026-11-01T00:00", None)];
        assert_eq!(ids(&open, (oct, nov, nov)), vec!["handling_due", "overdue_open"]);
        let charged = s.counts_of(&petition(&open), (oct, nov, nov));
        assert!(charged.iter().all(|(_, at)| *at == nov), "charged when it fell due: {charged:?}");
        let before_due = (oct, nov, parse_start("2026-10-31T12:00").unwrap());
        assert!(ids(&open, before_due).is_empty(), "not yet decided in the running month");
    }

    #[test]
    fn the_scheme_is_checked_against_the_definition() {
        let defs = Registry::embedded();
        let bad = |from: &str, to: &str| {
            assert_eq!(EMBEDDED.matches(from).count(), 1, "{from}");
            let s = Scheme::from_toml(&EMBEDDED.replace(from, to)).and_then(|s| s.check(&defs).map(|_| s));
            s.unwrap_err().message
        };
        assert!(bad("kind = \"sweep\"\nperiodic = \"due\"", "periodic = \"due\"").contains("不是定期报告"));
        assert!(bad("kind = \"backlog\"\nopen_during", "kind = \"backlogs\"\nopen_during").contains("未定义的类别"));
        assert!(
            bad("action = \"resolve\"", "action = \"resolve\"\nopen_during = true").contains("四者之一"),
            "one form per count"
        );
        assert!(
            bad("clock = \"handling\"\nmeasure = \"due\"", "clock = \"handlin\"\nmeasure = \"due\"")
                .contains("未定义的时限 handlin")
        );
        assert!(bad("denominator = \"rated\"", "denominator = \"rates\"").contains("未定义的计数 rates"));
        assert!(bad("\"basically_satisfied\"]", "\"happy\"]").contains("没有选项 happy"));
        assert!(bad("weight = 30", "weight = -30").contains("权重"));
    }
}
