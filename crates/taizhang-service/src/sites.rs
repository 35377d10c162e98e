//! Sites that are inspected (场所: schools, markets, enterprises, building sites) and their sectors'
//! inspection checklists (`domain::checklist`, `<data>/checklists.toml` or the shipped lists). A case field of
//! type `site` names a registered site; a `checklist` field is checked against the list of that site's sector.
//! Sites are not personal data: every staff member may list them; registering one is audited.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};
use taizhang_domain::access::Role;
use taizhang_domain::checklist::{Checklists, Finding};
use taizhang_domain::workflow::{CaseState, FieldType, WorkflowDef};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::Site;

use crate::cases::{CasePage, ListQuery};
use crate::{Principal, Service, se};

/// `<data>/checklists.toml` if the deployment has one, else the shipped lists.
pub fn load_checklists(dir: &Path) -> DomainResult<Checklists> {
    let path = dir.join("checklists.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Checklists::parse(&text, &path.display().to_string()),
        Err(_) => Ok(Checklists::default_lists()),
    }
}

/// A site with its unit's and sector's names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteView {
    pub code: String,
    pub name: String,
    pub sector: String,
    pub sector_name: String,
    pub unit_id: i64,
    pub unit_name: String,
    pub address: String,
    /// How long the site's visitor log is kept, in days.
    pub visitor_retention_days: i64,
}

impl Service {
    async fn site_view(&self, s: Site) -> DomainResult<SiteView> {
        let unit_name = self.store.unit(s.unit_id).await.map_err(se)?.map(|u| u.name).unwrap_or_default();
        Ok(self.site_view_named(s, unit_name))
    }

    fn site_view_named(&self, s: Site, unit_name: String) -> SiteView {
        let sector_name = self.checklists.sector(&s.sector).map(|x| x.name.clone()).unwrap_or_else(|| s.sector.clone());
        SiteView {
            code: s.code,
            name: s.name,
            sector: s.sector,
            sector_name,
            unit_id: s.unit_id,
            unit_name,
            address: s.address,
            visitor_retention_days: s.visitor_retention_days,
        }
    }

    /// Registers a site (system administrators, safety inspectors and leaders), audited.
    pub async fn create_site(&self, by: Option<&Principal>, site: Site) -> DomainResult<SiteView> {
        if let Some(p) = by
            && !p.roles.iter().any(|r| matches!(r, Role::SystemAdmin | Role::SafetyInspector | Role::Leader))
        {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有系统管理员、安全检查员和领导可以登记场所"));
        }
        let code = site.code.trim();
        if code.is_empty()
            || code.len() > 40
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(
                DomainError::new(ErrorCode::InvalidInput, "场所编码应为字母、数字或连字符，最多 40 位").at("code")
            );
        }
        let name = site.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::new(ErrorCode::InvalidInput, "场所名称不能为空，且不超过 100 字").at("name"));
        }
        let address = site.address.trim();
        if address.chars().count() > 200 {
            return Err(DomainError::new(ErrorCode::InvalidInput, "地址不超过 200 字").at("address"));
        }
        if !(1..=365).contains(&site.visitor_retention_days) {
            return Err(
                DomainError::new(ErrorCode::InvalidInput, "访客记录保存期限应为 1–365 天").at("visitor_retention_days")
            );
        }
        self.checklists.sector_or_err(&site.sector).map_err(|e| e.at("sector"))?;
        if self.store.unit(site.unit_id).await.map_err(se)?.is_none() {
            return Err(
                DomainError::new(ErrorCode::InvalidInput, format!("单位 {} 不存在", site.unit_id)).at("unit_id")
            );
        }
        let site = Site { code: code.into(), name: name.into(), address: address.into(), ..site };
        let site = self.store.create_site(site).await.map_err(|e| se(e).at("code"))?;
        self.audit(by, None, "site_created", Some(format!("site:{}", site.code)), "ok", site.name.clone()).await?;
        self.site_view(site).await
    }

    pub async fn site(&self, code: &str) -> DomainResult<SiteView> {
        self.site_view(self.site_or_err(code).await?).await
    }

    pub async fn sites(&self) -> DomainResult<Vec<SiteView>> {
        let units: std::collections::BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.name)).collect();
        let sites = self.store.sites().await.map_err(se)?;
        Ok(sites
            .into_iter()
            .map(|s| {
                let unit_name = units.get(&s.unit_id).cloned().unwrap_or_default();
                self.site_view_named(s, unit_name)
            })
            .collect())
    }

    pub(crate) async fn site_or_err(&self, code: &str) -> DomainResult<Site> {
        self.store
            .site(code)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("场所 {code} 尚未登记，请先登记场所")))
    }

    /// A site, the checklist of its sector, and the cases about it the user may see (newest first).
    pub async fn site_detail(&self, p: &Principal, code: &str) -> DomainResult<SiteDetail> {
        let site = self.site_or_err(code).await?;
        let checklist = self.checklists.sector(&site.sector).map(|s| s.items.clone()).unwrap_or_default();
        let cases = match self.require_case_worker(p) {
            Err(_) => None,
            Ok(()) => Some(
                self.list(p, &ListQuery { site: Some(site.code.clone()), per_page: 100, ..Default::default() }).await?,
            ),
        };
        let keeps_visitor_log = self.site_for_log(p, &site.code).await.is_ok();
        Ok(SiteDetail { site: self.site_view(site).await?, checklist, cases, keeps_visitor_log })
    }

    /// The checklist items for a site's sector.
    pub async fn checklist_items(&self, code: &str) -> DomainResult<Vec<taizhang_domain::checklist::Item>> {
        let site = self.site_or_err(code).await?;
        Ok(self.checklists.sector_or_err(&site.sector)?.items.clone())
    }

    /// A payload's site must be registered, and its checklist answers must fit the checklist of that site's
    /// sector (the site named in the same payload, else the case's).
    pub(crate) async fn check_site_fields(
        &self,
        def: &WorkflowDef,
        payload: &Map<String, Value>,
        current: Option<&CaseState>,
    ) -> DomainResult<()> {
        let Some(site_field) = def.site_field() else { return Ok(()) };
        let named = payload.get(&site_field.id).and_then(Value::as_str);
        // A field naming an unknown site is bad input, not a missing page.
        if let Some(code) = named {
            self.site_or_err(code)
                .await
                .map_err(|e| DomainError::new(ErrorCode::InvalidInput, e.message).at(&site_field.id))?;
        }
        let checklists: Vec<_> =
            def.fields.iter().filter(|f| f.ty == FieldType::Checklist && payload.contains_key(&f.id)).collect();
        if checklists.is_empty() {
            return Ok(());
        }
        let Some(code) = named.or_else(|| current?.field_str(&site_field.id)) else {
            return Err(
                DomainError::new(ErrorCode::MissingField, format!("请先选择{}", site_field.name)).at(&site_field.id)
            );
        };
        let sector = self.checklists.sector_or_err(&self.site_or_err(code).await?.sector)?;
        for f in checklists {
            sector.check(&payload[&f.id]).map_err(|m| {
                DomainError::new(ErrorCode::InvalidInput, format!("“{}”有误：{m}", f.name)).at(f.id.as_str())
            })?;
        }
        Ok(())
    }

    /// A checklist field's answers as findings in the order of the list of `sector` (the site's).
    pub fn findings(&self, sector: &str, answers: &Value) -> DomainResult<Vec<Finding>> {
        let sector = self.checklists.sector_or_err(sector)?;
        Ok(sector.findings(&answers.as_object().cloned().unwrap_or_default()))
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteDetail {
    pub site: SiteView,
    /// The items of the site's sector's checklist.
    #[schema(value_type = Vec<Object>)]
    pub checklist: Vec<taizhang_domain::checklist::Item>,
    /// Inspections, hazards and other cases about the site that the user may see (none for administrators).
    pub cases: Option<CasePage>,
    /// Whether the caller keeps (and may read) the site's visitor log.
    pub keeps_visitor_log: bool,
}
