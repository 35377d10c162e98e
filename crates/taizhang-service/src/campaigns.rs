//! Campaigns to clear backlog cases (积案化解专项行动, e.g. 清仓见底 by year end): a leader or the supervision office
//! of a unit names the campaign, its dates and the clearance rate to reach. Its cases are the backlog cases
//! (`backlog` kind) held in the unit's subtree that were designated by the last day and not already struck off
//! before the first; a case counts as cleared when it was struck off (化解销号) by the last day. Progress is
//! computed live from the cases, in total, per holding unit and per case-contract leader (包案领导), each with
//! the list query of the cases still open. Read, like published assessments, by the campaign's unit, the units
//! under it and those above it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::deadline;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Campaign, CaseFilter, CaseSort};

use crate::cases::UnitRef;
use crate::{Principal, Service, se};

pub const BACKLOG_KIND: &str = "backlog";
const RESOLVED: &str = "resolved";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewCampaign {
    pub name: String,
    /// First and last day (YYYY-MM-DD).
    pub starts_on: String,
    pub ends_on: String,
    /// The clearance rate to reach, in percent (1–100).
    pub target_rate: i64,
}

/// Progress of one holder (a unit or a case-contract leader).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignLine {
    pub id: i64,
    pub name: String,
    pub total: i64,
    pub cleared: i64,
    /// cleared / total, in percent.
    pub rate: f64,
    pub met: bool,
    /// Of the cases not cleared by the last day, those still open now (fewer once the campaign has ended, if
    /// some were struck off after it): what `open_query` lists.
    pub open_now: i64,
    /// The list query of this holder's campaign cases still open (units in the viewer's scope only).
    pub open_query: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: i64,
    pub name: String,
    pub unit: UnitRef,
    pub starts_on: String,
    pub ends_on: String,
    pub target_rate: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub total: CampaignLine,
    pub per_unit: Vec<CampaignLine>,
    pub per_leader: Vec<CampaignLine>,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

/// A holder's cases: in the campaign, cleared by its last day, open now.
#[derive(Default, Clone, Copy)]
struct Counts {
    total: i64,
    cleared: i64,
    open_now: i64,
}

fn line(id: i64, name: String, n: Counts, target: i64, open_query: Option<String>) -> CampaignLine {
    let Counts { total, cleared, open_now } = n;
    let rate = if total == 0 { 100.0 } else { (cleared as f64 * 1000.0 / total as f64).round() / 10.0 };
    CampaignLine { id, name, total, cleared, rate, met: rate >= target as f64, open_now, open_query }
}

impl Service {
    /// Starts a campaign for the caller's unit (a leader or the supervision office); audited.
    pub async fn create_campaign(&self, p: &Principal, c: NewCampaign) -> DomainResult<i64> {
        if !p.oversees() {
            self.audit(Some(p), None, "campaign_created", None, "denied", "角色无权发起").await?;
            return Err(DomainError::new(ErrorCode::Forbidden, "只有领导或督查部门可以发起积案化解专项行动"));
        }
        let name = c.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(bad("请填写行动名称（60 字以内）", "name"));
        }
        let day = |v: &str, field: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| bad("日期格式应为 2026-12-31", field))
        };
        let (from, to) = (day(&c.starts_on, "starts_on")?, day(&c.ends_on, "ends_on")?);
        if to < from {
            return Err(bad("结束日期不能早于开始日期", "ends_on"));
        }
        if !(1..=100).contains(&c.target_rate) {
            return Err(bad("化解率目标应在 1 到 100 之间", "target_rate"));
        }
        let id = self
            .store
            .create_campaign(Campaign {
                id: 0,
                name: name.to_string(),
                unit_id: p.unit.id,
                unit_path: p.unit.path.clone(),
                starts_on: from.to_string(),
                ends_on: to.to_string(),
                target_rate: c.target_rate,
                created_by: p.user.id,
                created_at: self.now(),
            })
            .await
            .map_err(se)?;
        self.audit(
            Some(p),
            None,
            "campaign_created",
            Some(format!("campaign:{id}")),
            "ok",
            format!("{name} {from}—{to}"),
        )
        .await?;
        Ok(id)
    }

    /// The campaigns the viewer may read, newest first, each with its progress now.
    pub async fn campaigns(&self, p: &Principal) -> DomainResult<Vec<CampaignView>> {
        self.require_case_worker(p)?;
        let mut out = vec![];
        for c in self.store.campaigns().await.map_err(se)? {
            if p.in_line_with(&c.unit_path) {
                out.push(self.campaign_view(p, c).await?);
            }
        }
        Ok(out)
    }

    pub async fn campaign(&self, p: &Principal, id: i64) -> DomainResult<CampaignView> {
        self.require_case_worker(p)?;
        match self.store.campaigns().await.map_err(se)?.into_iter().find(|c| c.id == id) {
            Some(c) if p.in_line_with(&c.unit_path) => self.campaign_view(p, c).await,
            _ => Err(DomainError::new(ErrorCode::NotFound, format!("专项行动 {id} 不存在或您无权查看"))),
        }
    }

    async fn campaign_view(&self, p: &Principal, c: Campaign) -> DomainResult<CampaignView> {
        let day = |v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| DomainError::new(ErrorCode::Internal, format!("专项行动 {} 的日期无法读取", c.id)))
        };
        let start = deadline::parse_start(&day(&c.starts_on)?.to_string())?;
        let end = deadline::parse_start(&day(&c.ends_on)?.to_string())? + Duration::days(1);
        let (rows, _) = self
            .store
            .list_cases(&CaseFilter {
                kind: Some(BACKLOG_KIND.into()),
                held_under: Some(c.unit_path.clone()),
                created_to: Some(end),
                sort: CaseSort::OldestFirst,
                limit: 100_000,
                ..Default::default()
            })
            .await
            .map_err(se)?;
        let mut per_unit: BTreeMap<i64, Counts> = BTreeMap::new();
        let mut per_leader: BTreeMap<i64, Counts> = BTreeMap::new();
        let mut total = Counts::default();
        for row in rows {
            let resolved = row.state == RESOLVED;
            if resolved && row.state_since < start {
                continue; // struck off before the campaign began
            }
            let done = i64::from(resolved && row.state_since < end);
            let (_, state) = self.def_of(&row)?;
            let leader = state.fields.get("contract_leader").and_then(|v| v.as_i64()).unwrap_or(0);
            let unit = row.handling_unit.unwrap_or(row.registered_unit);
            for e in [per_unit.entry(unit).or_default(), per_leader.entry(leader).or_default(), &mut total] {
                e.total += 1;
                e.cleared += done;
                e.open_now += i64::from(!resolved);
            }
        }
        let target = c.target_rate;
        let units: BTreeMap<i64, (String, String)> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, (u.name, u.path))).collect();
        let unit_name = |id: i64| units.get(&id).map(|u| u.0.clone()).unwrap_or_default();
        // A list link only for units whose cases the viewer may list (a unit under the campaign's sees its own).
        let listable = |id: i64| units.get(&id).is_some_and(|u| u.1.starts_with(&p.unit.path));
        let mut unit_lines: Vec<CampaignLine> = per_unit
            .into_iter()
            .map(|(u, n)| {
                let q = format!("kind={BACKLOG_KIND}&held={u}&closed=false&to={}", c.ends_on);
                line(u, unit_name(u), n, target, listable(u).then_some(q))
            })
            .collect();
        unit_lines.sort_by(|a, b| a.rate.total_cmp(&b.rate).then(b.total.cmp(&a.total)));
        let mut leader_lines = vec![];
        for (u, n) in per_leader {
            let name = match self.store.user(u).await.map_err(se)? {
                Some(user) => format!("{}（{}）", user.display_name, unit_name(user.unit_id)),
                None => "未指定".into(),
            };
            leader_lines.push(line(u, name, n, target, None));
        }
        leader_lines.sort_by(|a, b| a.rate.total_cmp(&b.rate).then(b.total.cmp(&a.total)));
        let created_by = self.store.user(c.created_by).await.map_err(se)?.map(|u| u.display_name).unwrap_or_default();
        let all_query = format!("kind={BACKLOG_KIND}&held_within={}&closed=false&to={}", c.unit_id, c.ends_on);
        Ok(CampaignView {
            id: c.id,
            total: line(c.unit_id, "合计".into(), total, target, listable(c.unit_id).then_some(all_query)),
            name: c.name,
            unit: UnitRef { id: c.unit_id, name: unit_name(c.unit_id) },
            starts_on: c.starts_on,
            ends_on: c.ends_on,
            target_rate: target,
            created_by,
            created_at: c.created_at,
            per_unit: unit_lines,
            per_leader: leader_lines,
        })
    }
}
