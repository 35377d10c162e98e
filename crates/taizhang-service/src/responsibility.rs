//! Responsibility rosters (责任体系): per unit, its first-responsible person (第一责任人, usually the principal),
//! the directly responsible leaders (直接责任人, the leader in charge of the work) and the members who answer for
//! it alongside their own posts (一岗双责). A line is never edited: a person leaving the post gets a last day,
//! and a new first-responsible person ends the predecessor's line the day before, so the roster as it stood on
//! any day can be read back. Warning cards and escalations reach people through it. Every change is audited.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::deadline::china_tz;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Responsibility, Unit};

use crate::{Principal, Service, se};

/// The kinds of responsibility, with their names.
pub const KINDS: [(&str, &str); 3] = [("first", "第一责任人"), ("direct", "直接责任人"), ("joint", "一岗双责")];

pub fn kind_name(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, n)| *n).unwrap_or("")
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewResponsibility {
    pub unit_id: i64,
    /// first | direct | joint
    pub kind: String,
    /// The person: an active account of the unit.
    pub user_id: i64,
    /// The post held, e.g. 局长.
    pub post: String,
    /// What the person answers for (分管工作).
    #[serde(default)]
    pub duties: String,
    /// YYYY-MM-DD
    pub starts_on: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponsibilityView {
    pub id: i64,
    pub unit_id: i64,
    pub kind: String,
    pub kind_name: String,
    pub user_id: i64,
    pub user_name: String,
    pub post: String,
    pub duties: String,
    pub starts_on: String,
    pub ends_on: Option<String>,
}

/// A unit's roster as it stood on a day, and every line it has ever had.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Roster {
    pub unit_id: i64,
    pub unit_name: String,
    /// The day the roster is read for (YYYY-MM-DD).
    pub on: String,
    /// The lines in force on that day, first-responsible first.
    pub in_force: Vec<ResponsibilityView>,
    /// Every line, oldest first.
    pub history: Vec<ResponsibilityView>,
    /// Whether the viewer may change it.
    pub can_edit: bool,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

fn day(s: &str, field: &str) -> DomainResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad("日期应为 YYYY-MM-DD", field))
}

/// Whether a line is in force on a day.
fn in_force(r: &Responsibility, on: NaiveDate) -> bool {
    let on = on.format("%Y-%m-%d").to_string();
    r.starts_on <= on && r.ends_on.as_ref().is_none_or(|e| *e >= on)
}

impl Service {
    /// Leaders and the supervision office of the unit or a unit above keep its roster.
    fn may_keep_roster(p: &Principal, unit: &Unit) -> bool {
        p.oversees() && unit.path.starts_with(&p.unit.path)
    }

    async fn roster_unit(&self, p: &Principal, unit_id: i64) -> DomainResult<Unit> {
        let unit = self.store.unit(unit_id).await.map_err(se)?;
        // Staff read the rosters of their own unit, the units below it and the units above it.
        match unit {
            Some(u) if u.path.starts_with(&p.unit.path) || p.unit.path.starts_with(&u.path) => Ok(u),
            _ => Err(bad(format!("单位 {unit_id} 不存在或不在您的数据范围内"), "unit_id")),
        }
    }

    async fn require_roster_keeper(&self, p: &Principal, unit_id: i64) -> DomainResult<()> {
        let unit = self.roster_unit(p, unit_id).await?;
        if !Self::may_keep_roster(p, &unit) {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有本单位或上级单位的领导、督查室可以调整责任人"));
        }
        Ok(())
    }

    /// Adds a line to a unit's roster, audited. A new first-responsible person ends the current one's line on
    /// the day before.
    pub async fn assign_responsibility(&self, p: &Principal, r: NewResponsibility) -> DomainResult<i64> {
        self.require_roster_keeper(p, r.unit_id).await?;
        if kind_name(&r.kind).is_empty() {
            return Err(bad("责任类别应为第一责任人、直接责任人或一岗双责", "kind"));
        }
        let post = r.post.trim();
        if post.is_empty() || post.chars().count() > 50 {
            return Err(bad("请填写职务（50 字以内）", "post"));
        }
        if r.duties.chars().count() > 500 {
            return Err(bad("分管工作过长（500 字以内）", "duties"));
        }
        let starts = day(&r.starts_on, "starts_on")?;
        let person = self.store.user(r.user_id).await.map_err(se)?;
        if !person.as_ref().is_some_and(|u| u.active && u.unit_id == r.unit_id) {
            return Err(bad("责任人应是本单位在岗人员", "user_id"));
        }
        let lines = self.store.responsibilities(&[r.unit_id]).await.map_err(se)?;
        if lines.iter().any(|l| l.user_id == r.user_id && l.kind == r.kind && in_force(l, starts)) {
            return Err(bad("此人当日已在该责任岗位上", "user_id"));
        }
        let starts_on = starts.format("%Y-%m-%d").to_string();
        if r.kind == "first" {
            for l in lines.iter().filter(|l| l.kind == "first" && l.ends_on.is_none()) {
                if l.starts_on >= starts_on {
                    return Err(bad(format!("现任第一责任人自 {} 起任职，新任日期应在其后", l.starts_on), "starts_on"));
                }
                let last = (starts - Duration::days(1)).format("%Y-%m-%d").to_string();
                self.store.end_responsibility(l.id, &last, p.user.id, self.now()).await.map_err(se)?;
            }
        }
        let id = self
            .store
            .create_responsibility(Responsibility {
                id: 0,
                unit_id: r.unit_id,
                kind: r.kind.clone(),
                user_id: r.user_id,
                post: post.to_string(),
                duties: r.duties.trim().to_string(),
                starts_on: starts_on.clone(),
                ends_on: None,
                created_by: p.user.id,
            })
            .await
            .map_err(se)?;
        let detail = format!("{} 用户 {} {post} 自 {starts_on}", kind_name(&r.kind), r.user_id);
        self.audit(Some(p), None, "responsibility_assigned", Some(format!("unit:{}", r.unit_id)), "ok", detail).await?;
        Ok(id)
    }

    /// Gives a current line its last day (the person left the post), audited.
    pub async fn end_responsibility(&self, p: &Principal, unit_id: i64, id: i64, ends_on: &str) -> DomainResult<()> {
        self.require_roster_keeper(p, unit_id).await?;
        let ends = day(ends_on, "ends_on")?;
        let lines = self.store.responsibilities(&[unit_id]).await.map_err(se)?;
        let Some(line) = lines.iter().find(|l| l.id == id) else {
            return Err(DomainError::new(ErrorCode::NotFound, format!("责任记录 {id} 不存在")));
        };
        let ends_on = ends.format("%Y-%m-%d").to_string();
        if ends_on < line.starts_on {
            return Err(bad("离任日期不能早于任职日期", "ends_on"));
        }
        if !self.store.end_responsibility(id, &ends_on, p.user.id, self.now()).await.map_err(se)? {
            return Err(bad("该责任记录已经结束", "ends_on"));
        }
        self.audit(
            Some(p),
            None,
            "responsibility_ended",
            Some(format!("unit:{unit_id}")),
            "ok",
            format!("{id} 至 {ends_on}"),
        )
        .await
    }

    /// A unit's roster on a day (today by default) and its whole history.
    pub async fn responsibility_roster(&self, p: &Principal, unit_id: i64, on: Option<&str>) -> DomainResult<Roster> {
        let unit = self.roster_unit(p, unit_id).await?;
        let on = match on.filter(|s| !s.is_empty()) {
            Some(s) => day(s, "on")?,
            None => self.now().with_timezone(&china_tz()).date_naive(),
        };
        let users = self.store.users().await.map_err(se)?;
        let name = |id: i64| users.iter().find(|u| u.id == id).map(|u| u.display_name.clone()).unwrap_or_default();
        let lines = self.store.responsibilities(&[unit_id]).await.map_err(se)?;
        let view = |l: &Responsibility| ResponsibilityView {
            id: l.id,
            unit_id: l.unit_id,
            kind: l.kind.clone(),
            kind_name: kind_name(&l.kind).to_string(),
            user_id: l.user_id,
            user_name: name(l.user_id),
            post: l.post.clone(),
            duties: l.duties.clone(),
            starts_on: l.starts_on.clone(),
            ends_on: l.ends_on.clone(),
        };
        let mut current: Vec<ResponsibilityView> = lines.iter().filter(|l| in_force(l, on)).map(view).collect();
        current.sort_by_key(|v| KINDS.iter().position(|(k, _)| *k == v.kind));
        Ok(Roster {
            unit_id,
            unit_name: unit.name.clone(),
            on: on.format("%Y-%m-%d").to_string(),
            in_force: current,
            history: lines.iter().map(view).collect(),
            can_edit: Self::may_keep_roster(p, &unit),
        })
    }

    /// The people holding a kind of responsibility for a unit on the (China) day of `at`.
    pub(crate) async fn responsible(&self, unit_id: i64, kind: &str, at: DateTime<Utc>) -> DomainResult<Vec<i64>> {
        let on = at.with_timezone(&china_tz()).date_naive();
        let lines = self.store.responsibilities(&[unit_id]).await.map_err(se)?;
        Ok(lines.iter().filter(|l| l.kind == kind && in_force(l, on)).map(|l| l.user_id).collect())
    }
}
