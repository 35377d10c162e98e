//! Closed-loop indicators for a period (`domain::indicators`), per handling department and per grid, for the
//! cases a staff member may see. Each case is counted as it stood at the end of the period: its events up to
//! that instant are folded again, so a report for last month does not change when a case closes today.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::access::{in_scope, is_accused};
use taizhang_domain::indicators::LoopCounts;
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{CaseState, EventPayload, FieldType, apply_event, clock_views_lenient};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

use crate::cases::{UnitRef, access_facts};
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
    /// When it entered the terminal state it stands in (None while open).
    pub closed_at: Option<DateTime<Utc>>,
}

impl History {
    /// The unit handling the case just before `at` (an event at `at` acts for the unit that held the case).
    pub fn unit_before(&self, at: DateTime<Utc>) -> Option<i64> {
        self.held_by.iter().take_while(|(t, _)| *t < at).last().or(self.held_by.first()).and_then(|(_, u)| *u)
    }
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
            let terminal = def.state(&state.state).is_some_and(|st| st.terminal);
            h.closed_at = if terminal { h.closed_at.or(Some(e.at)) } else { None };
            h.state = Some(state);
            h.events.push((e.action, e.at, payload.fields));
        }
        Ok(h)
    }
}
