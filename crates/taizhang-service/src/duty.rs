//! Duty rosters (值班/带班): shifts per unit with the officer on duty (值班员) and the leader on duty (带班领导),
//! laid out as a rotation, handed to someone else by a swap that a leader of the unit approves, and "who is on
//! duty now" for any unit. A shift as planned is never changed: an approved swap names who actually serves, so
//! the roster's history stays whole. Duty phones are shown in full to duty staff and leaders only, masked to
//! everyone else. Every change is audited.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::access::Role;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::mask::mask_phone;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Shift, Swap};

use crate::{Principal, Service, se};

/// The posts of a shift.
pub const POSTS: [(&str, &str); 2] = [("officer", "值班员"), ("leader", "带班领导")];

/// A rotation: from `from` for `days` days, one shift a day starting at `starts` (China time) and lasting 24
/// hours; officers and leaders each take turns in the order given.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Rotation {
    pub unit_id: i64,
    /// YYYY-MM-DD
    pub from: String,
    pub days: u32,
    /// HH:MM, e.g. 08:30
    pub starts: String,
    /// User ids, in turn.
    pub officers: Vec<i64>,
    pub leaders: Vec<i64>,
    /// The duty phone (值班电话) for every shift.
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShiftView {
    pub id: i64,
    pub unit_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub post: String,
    pub post_name: String,
    /// Who serves: the planned person, or the one an approved swap names.
    pub user_id: i64,
    pub user_name: String,
    /// Who was planned, when a swap changed it.
    pub planned_user_name: Option<String>,
    /// Full for duty staff and leaders, masked for others.
    pub phone: String,
    pub swaps: Vec<SwapView>,
}

/// One unit in the duty contact directory.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    pub unit_id: i64,
    pub unit_name: String,
    /// How deep in the unit tree (0 for the top), for indenting.
    pub depth: usize,
    /// Who serves as 值班员 / 带班领导 now, if anyone.
    pub officer: Option<String>,
    pub leader: Option<String>,
    pub phone: String,
    /// Special periods covering the unit now, with their duty level and reporting rule.
    pub special_periods: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SwapView {
    pub id: i64,
    pub to_user_name: String,
    pub reason: String,
    pub requested_by_name: String,
    pub requested_at: DateTime<Utc>,
    /// pending | approved | rejected
    pub status: String,
    pub decided_by_name: Option<String>,
}

/// Who serves a shift: the person the last approved swap names, else the one planned.
fn serving_user(shift: &Shift, swaps: &[Swap]) -> i64 {
    swaps
        .iter()
        .rev()
        .find(|w| w.shift_id == shift.id && w.status == "approved")
        .map(|w| w.to_user_id)
        .unwrap_or(shift.user_id)
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

impl Service {
    /// Leaders of the unit or a unit above plan its roster and decide its swaps.
    async fn require_duty_leader(&self, p: &Principal, unit_id: i64) -> DomainResult<()> {
        let unit = self
            .store
            .unit(unit_id)
            .await
            .map_err(se)?
            .ok_or_else(|| bad(format!("单位 {unit_id} 不存在"), "unit_id"))?;
        if !p.has(Role::Leader) || !unit.path.starts_with(&p.unit.path) {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有本单位或上级单位的领导可以安排值班、审批调班"));
        }
        Ok(())
    }

    /// Lays out a rotation as shifts (one transaction), audited. Everyone named must belong to the unit.
    pub async fn create_rotation(&self, p: &Principal, r: Rotation) -> DomainResult<Vec<i64>> {
        self.require_duty_leader(p, r.unit_id).await?;
        let from =
            NaiveDate::parse_from_str(&r.from, "%Y-%m-%d").map_err(|_| bad("开始日期应为 YYYY-MM-DD", "from"))?;
        let starts = NaiveTime::parse_from_str(&r.starts, "%H:%M").map_err(|_| bad("交班时间应为 HH:MM", "starts"))?;
        if !(1..=366).contains(&r.days) {
            return Err(bad("排班天数应为 1–366", "days"));
        }
        if r.officers.is_empty() || r.leaders.is_empty() {
            return Err(bad("值班员和带班领导都至少要有一人", "officers"));
        }
        if r.phone.chars().count() > 30 {
            return Err(bad("值班电话过长", "phone"));
        }
        for (field, ids) in [("officers", &r.officers), ("leaders", &r.leaders)] {
            for id in ids {
                let u = self.store.user(*id).await.map_err(se)?;
                if !u.as_ref().is_some_and(|u| u.unit_id == r.unit_id && u.active) {
                    return Err(bad(format!("用户 {id} 不是本单位在岗人员"), field));
                }
            }
        }
        let mut shifts = vec![];
        for day in 0..r.days {
            let date = from + Duration::days(day as i64);
            let start = date
                .and_time(starts)
                .and_local_timezone(china_tz())
                .single()
                .ok_or_else(|| bad("交班时间无效", "starts"))?
                .with_timezone(&Utc);
            for (post, people) in [("officer", &r.officers), ("leader", &r.leaders)] {
                shifts.push(Shift {
                    id: 0,
                    unit_id: r.unit_id,
                    starts_at: start,
                    ends_at: start + Duration::hours(24),
                    post: post.into(),
                    user_id: people[day as usize % people.len()],
                    phone: r.phone.trim().to_string(),
                    created_by: Some(p.user.id),
                });
            }
        }
        let ids = self.store.create_shifts(shifts).await.map_err(se)?;
        let detail = format!("{} 起 {} 天，{} 个班次", r.from, r.days, ids.len());
        self.audit(Some(p), None, "duty_rotation_created", Some(format!("unit:{}", r.unit_id)), "ok", detail).await?;
        Ok(ids)
    }

    async fn shift_views(&self, p: &Principal, shifts: Vec<Shift>) -> DomainResult<Vec<ShiftView>> {
        let ids: Vec<i64> = shifts.iter().map(|s| s.id).collect();
        let swaps = self.store.swaps(&ids).await.map_err(se)?;
        let names: BTreeMap<i64, String> =
            self.store.users().await.map_err(se)?.into_iter().map(|u| (u.id, u.display_name)).collect();
        let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("用户 {id}"));
        let full_phone = p.has(Role::DutyOfficer) || p.has(Role::Leader);
        Ok(shifts
            .into_iter()
            .map(|s| {
                let mine: Vec<&Swap> = swaps.iter().filter(|w| w.shift_id == s.id).collect();
                let serving = serving_user(&s, &swaps);
                ShiftView {
                    id: s.id,
                    unit_id: s.unit_id,
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    post_name: POSTS.iter().find(|(k, _)| *k == s.post).map(|(_, n)| n.to_string()).unwrap_or_default(),
                    post: s.post,
                    user_id: serving,
                    user_name: name(serving),
                    planned_user_name: (serving != s.user_id).then(|| name(s.user_id)),
                    phone: if full_phone || s.phone.is_empty() { s.phone } else { mask_phone(&s.phone) },
                    swaps: mine
                        .into_iter()
                        .map(|w| SwapView {
                            id: w.id,
                            to_user_name: name(w.to_user_id),
                            reason: w.reason.clone(),
                            requested_by_name: name(w.requested_by),
                            requested_at: w.requested_at,
                            status: w.status.clone(),
                            decided_by_name: w.decided_by.map(name),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// A unit's roster over [from, to).
    pub async fn roster(
        &self,
        p: &Principal,
        unit_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> DomainResult<Vec<ShiftView>> {
        if to <= from || to - from > Duration::days(93) {
            return Err(bad("查询区间应在 93 天以内", "to"));
        }
        let shifts = self.store.shifts(unit_id, from, to).await.map_err(se)?;
        self.shift_views(p, shifts).await
    }

    /// Who is on duty at the unit now: the shifts running at this moment, each post once.
    pub async fn on_duty_now(&self, p: &Principal, unit_id: i64) -> DomainResult<Vec<ShiftView>> {
        let now = self.now();
        let shifts = self.store.shifts(unit_id, now, now + Duration::microseconds(1)).await.map_err(se)?;
        self.shift_views(p, shifts).await
    }

    /// The duty contact directory (值班通讯录): every unit with who is on duty there now and the duty phone
    /// (masked except to duty officers and leaders). Units without a shift now are listed with nobody.
    pub async fn duty_directory(&self, p: &Principal) -> DomainResult<Vec<DirectoryEntry>> {
        let now = self.now();
        let units = self.store.units().await.map_err(se)?;
        let mut running = vec![];
        for unit in &units {
            running.extend(self.store.shifts(unit.id, now, now + Duration::microseconds(1)).await.map_err(se)?);
        }
        // One view pass for every unit: users and swaps are loaded once.
        let views = self.shift_views(p, running).await?;
        let plans = self.coverings(None, now).await?;
        Ok(units
            .into_iter()
            .map(|unit| {
                let here: Vec<&ShiftView> = views.iter().filter(|s| s.unit_id == unit.id).collect();
                let who = |post: &str| here.iter().find(|s| s.post == post).map(|s| s.user_name.clone());
                DirectoryEntry {
                    unit_id: unit.id,
                    depth: unit.path.matches('/').count().saturating_sub(2),
                    officer: who("officer"),
                    leader: who("leader"),
                    phone: here.first().map(|s| s.phone.clone()).unwrap_or_default(),
                    special_periods: plans.iter().filter(|c| c.covers(&unit.path)).map(|c| c.summary()).collect(),
                    unit_name: unit.name,
                }
            })
            .collect())
    }

    /// Who serves at the unit at `at`, per post (`officer`, `leader`): for notifications, whoever asks.
    pub(crate) async fn serving(&self, unit_id: i64, at: DateTime<Utc>) -> DomainResult<Vec<(String, i64)>> {
        let shifts = self.store.shifts(unit_id, at, at + Duration::microseconds(1)).await.map_err(se)?;
        let ids: Vec<i64> = shifts.iter().map(|s| s.id).collect();
        let swaps = self.store.swaps(&ids).await.map_err(se)?;
        Ok(shifts.iter().map(|s| (s.post.clone(), serving_user(s, &swaps))).collect())
    }

    /// Asks to hand a shift to a colleague of the same unit: by the person serving it, before it ends.
    pub async fn request_swap(&self, p: &Principal, shift_id: i64, to_user_id: i64, reason: &str) -> DomainResult<i64> {
        let shift = self
            .store
            .shift(shift_id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("班次 {shift_id} 不存在")))?;
        let view = self.shift_views(p, vec![shift.clone()]).await?.remove(0);
        if view.user_id != p.user.id {
            return Err(DomainError::new(ErrorCode::Forbidden, "只能为自己的班次申请调班"));
        }
        if shift.ends_at <= self.now() {
            return Err(bad("班次已结束，不能调班", "shift_id"));
        }
        if view.swaps.iter().any(|w| w.status == "pending") {
            return Err(bad("该班次已有待审批的调班申请", "shift_id"));
        }
        let to = self.store.user(to_user_id).await.map_err(se)?;
        if !to.as_ref().is_some_and(|u| u.unit_id == shift.unit_id && u.active && u.id != p.user.id) {
            return Err(bad("接班人应为本单位的其他在岗人员", "to_user_id"));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(bad("请写明调班理由（200 字以内）", "reason"));
        }
        let swap = Swap {
            id: 0,
            shift_id,
            to_user_id,
            reason: reason.into(),
            requested_by: p.user.id,
            requested_at: self.now(),
            status: "pending".into(),
            decided_by: None,
            decided_at: None,
        };
        let id = self.store.create_swap(swap).await.map_err(se)?;
        self.audit(Some(p), None, "duty_swap_requested", Some(format!("shift:{shift_id}")), "ok", reason).await?;
        Ok(id)
    }

    /// Approves or rejects a pending swap: a leader of the unit, not the one who asked.
    pub async fn decide_swap(&self, p: &Principal, shift_id: i64, swap_id: i64, approve: bool) -> DomainResult<()> {
        let shift = self
            .store
            .shift(shift_id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("班次 {shift_id} 不存在")))?;
        self.require_duty_leader(p, shift.unit_id).await?;
        let swaps = self.store.swaps(&[shift_id]).await.map_err(se)?;
        let swap = swaps
            .iter()
            .find(|w| w.id == swap_id)
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("调班申请 {swap_id} 不存在")))?;
        if swap.requested_by == p.user.id {
            return Err(DomainError::new(ErrorCode::Forbidden, "不能审批自己的调班申请"));
        }
        if !self.store.decide_swap(swap_id, approve, p.user.id, self.now()).await.map_err(se)? {
            return Err(DomainError::new(ErrorCode::ActionNotAllowedInState, "该调班申请已经审批过"));
        }
        let verdict = if approve { "approved" } else { "rejected" };
        self.audit(Some(p), None, "duty_swap_decided", Some(format!("shift:{shift_id}")), "ok", verdict).await?;
        Ok(())
    }
}
