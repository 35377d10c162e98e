//! Visitor registration at a site's gate (凡进必问、凡问必记): who came in, to see whom, why, when they left.
//! Kept by the site's responsible unit and visible to it and the units above it only; every read is audited.
//! Name and phone are stored SM4-sealed with masked copies for display. Each site keeps its log for its
//! configured number of days (`visitor_retention_days`); `purge_visitor_logs` (run by the server's sweeper)
//! deletes older visits and audits how many went from which site.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::deadline::china_tz;
use taizhang_domain::mask::{mask_name, mask_phone, normalise_phone};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Site, VisitorLog};

use crate::{Principal, Service, se};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct VisitInput {
    pub name: String,
    pub phone: String,
    /// 来访事由
    pub purpose: String,
    /// 被访人 / 接待人
    pub host: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VisitView {
    pub id: i64,
    /// Masked.
    pub name: String,
    /// Masked.
    pub phone: String,
    pub purpose: String,
    pub host: String,
    pub signed_in_at: DateTime<Utc>,
    pub signed_out_at: Option<DateTime<Utc>>,
    pub recorded_by_name: String,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

impl Service {
    /// The site, if the user keeps its log: staff (not administrators) of its responsible unit or a unit above.
    pub(crate) async fn site_for_log(&self, p: &Principal, code: &str) -> DomainResult<Site> {
        let site = self.site_or_err(code).await?;
        let unit = self.store.unit(site.unit_id).await.map_err(se)?;
        let keeps = unit.is_some_and(|u| u.path.starts_with(&p.unit.path));
        if !keeps || p.roles.iter().all(|r| r.is_admin()) {
            return Err(DomainError::new(ErrorCode::Forbidden, "访客记录仅限场所负责单位及其上级单位查看和登记"));
        }
        Ok(site)
    }

    /// Signs a visitor in at the gate, at the server's time; returns the visit's id.
    pub async fn sign_in_visitor(&self, p: &Principal, code: &str, v: VisitInput) -> DomainResult<i64> {
        let site = self.site_for_log(p, code).await?;
        let name = v.name.trim();
        if name.is_empty() || name.chars().count() > 30 {
            return Err(bad("请填写访客姓名（30 字以内）", "name"));
        }
        let phone = normalise_phone(&v.phone);
        if !(7..=20).contains(&phone.len()) || !phone.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("请填写有效的联系电话", "phone"));
        }
        let purpose = v.purpose.trim();
        if purpose.is_empty() || purpose.chars().count() > 100 {
            return Err(bad("请填写来访事由（100 字以内）", "purpose"));
        }
        let host = v.host.trim();
        if host.is_empty() || host.chars().count() > 50 {
            return Err(bad("请填写被访人（50 字以内）", "host"));
        }
        let visit = VisitorLog {
            id: 0,
            site_code: site.code.clone(),
            name_sealed: self.seal(name),
            name_masked: mask_name(name),
            phone_sealed: self.seal(&phone),
            phone_masked: mask_phone(&phone),
            purpose: purpose.into(),
            host: host.into(),
            signed_in_at: self.now(),
            signed_out_at: None,
            recorded_by: p.user.id,
        };
        let id = self.store.create_visit(visit).await.map_err(se)?;
        self.audit(Some(p), None, "visitor_signed_in", Some(format!("site:{}", site.code)), "ok", id.to_string())
            .await?;
        Ok(id)
    }

    pub async fn sign_out_visitor(&self, p: &Principal, code: &str, id: i64) -> DomainResult<()> {
        let site = self.site_for_log(p, code).await?;
        if !self.store.sign_out_visit(&site.code, id, self.now()).await.map_err(se)? {
            return Err(DomainError::new(ErrorCode::NotFound, format!("没有未离开的访客记录 {id}")));
        }
        self.audit(Some(p), None, "visitor_signed_out", Some(format!("site:{}", site.code)), "ok", id.to_string()).await
    }

    /// The visits of the last `days` days (today is day 1), newest first, masked; the read is audited.
    pub async fn visitor_log(&self, p: &Principal, code: &str, days: i64) -> DomainResult<Vec<VisitView>> {
        let site = self.site_for_log(p, code).await?;
        if !(1..=365).contains(&days) {
            return Err(bad("查询天数应为 1–365", "days"));
        }
        let now = self.now();
        let today = now.with_timezone(&china_tz()).date_naive();
        let from = (today - Duration::days(days - 1))
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(china_tz()).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| bad("日期无效", "days"))?;
        let visits = self.store.visits(&site.code, from, now + Duration::seconds(1)).await.map_err(se)?;
        let names: BTreeMap<i64, String> =
            self.store.users().await.map_err(se)?.into_iter().map(|u| (u.id, u.display_name)).collect();
        let detail = format!("近 {days} 天，{} 条", visits.len());
        self.audit(Some(p), None, "visitor_log_read", Some(format!("site:{}", site.code)), "ok", detail).await?;
        Ok(visits
            .into_iter()
            .map(|v| VisitView {
                id: v.id,
                name: v.name_masked,
                phone: v.phone_masked,
                purpose: v.purpose,
                host: v.host,
                signed_in_at: v.signed_in_at,
                signed_out_at: v.signed_out_at,
                recorded_by_name: names.get(&v.recorded_by).cloned().unwrap_or_default(),
            })
            .collect())
    }

    /// Deletes every visit older than its site's retention period and audits each site's count, as the system.
    /// Returns how many visits went.
    pub async fn purge_visitor_logs(&self) -> DomainResult<i64> {
        let purged = self.store.purge_visits(self.now()).await.map_err(se)?;
        for (site, n) in &purged {
            let detail = format!("超过保存期限，删除 {n} 条访客记录");
            self.audit(None, None, "visitor_logs_purged", Some(format!("site:{site}")), "ok", detail).await?;
        }
        Ok(purged.iter().map(|(_, n)| n).sum())
    }
}
