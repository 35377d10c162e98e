//! The organisation tree: units with administrative codes, from city down to village/community, plus
//! departments beside each level.

use taizhang_domain::access::Role;
use taizhang_domain::region::Region;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Grid, NewUnit, Unit};

use crate::{Principal, Service, se};

/// Grid layers (网格图层).
pub const GRID_LAYERS: &[(&str, &str)] = &[("unit", "单元网格"), ("community", "社区网格"), ("special", "专属网格")];

pub const LEVELS: &[(&str, &str)] = &[
    ("province", "省"),
    ("city", "市"),
    ("county", "区县"),
    ("township", "乡镇街道"),
    ("village", "村社区"),
    ("department", "部门"),
];

impl Service {
    pub async fn create_unit(
        &self,
        by: Option<&Principal>,
        parent_id: Option<i64>,
        code: &str,
        name: &str,
        level: &str,
    ) -> DomainResult<Unit> {
        if let Some(p) = by {
            p.require(Role::SystemAdmin)?;
        }
        let code = code.trim();
        if code.is_empty() || code.len() > 20 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DomainError::new(ErrorCode::InvalidInput, "单位代码应为行政区划代码或部门代码（字母、数字）"));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::new(ErrorCode::InvalidInput, "单位名称不能为空，且不超过 100 字"));
        }
        if !LEVELS.iter().any(|(l, _)| *l == level) {
            let names: Vec<String> = LEVELS.iter().map(|(l, n)| format!("{l}（{n}）")).collect();
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("单位层级无效，可选：{}", names.join("、"))));
        }
        let unit = self
            .store
            .create_unit(NewUnit { parent_id, code: code.into(), name: name.into(), level: level.into() })
            .await
            .map_err(se)?;
        self.audit(by, None, "unit_created", Some(format!("unit:{}", unit.id)), "ok", unit.name.clone()).await?;
        Ok(unit)
    }

    /// Registers a unit grid under `unit_id`, optionally owned by a grid worker (system administrator).
    pub async fn create_grid(&self, by: Option<&Principal>, grid: Grid) -> DomainResult<Grid> {
        if let Some(p) = by {
            p.require(Role::SystemAdmin)?;
        }
        taizhang_domain::region::check_grid_code(&grid.code)?;
        let name = grid.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::new(ErrorCode::InvalidInput, "网格名称不能为空，且不超过 100 字"));
        }
        if !GRID_LAYERS.iter().any(|(l, _)| *l == grid.layer) {
            let names: Vec<String> = GRID_LAYERS.iter().map(|(l, n)| format!("{l}（{n}）")).collect();
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("网格图层无效，可选：{}", names.join("、"))));
        }
        self.unit_or_missing(grid.unit_id).await?;
        if let Some(owner) = grid.owner_user_id {
            let user = self.store.user(owner).await.map_err(se)?;
            if !user.is_some_and(|u| u.roles.split(',').any(|r| r == Role::GridWorker.as_str())) {
                return Err(DomainError::new(
                    ErrorCode::InvalidInput,
                    format!("用户 {owner} 不是网格员，不能作为网格责任人"),
                ));
            }
        }
        let grid = self.store.create_grid(Grid { name: name.to_string(), ..grid }).await.map_err(se)?;
        self.audit(by, None, "grid_created", Some(format!("grid:{}", grid.code)), "ok", grid.name.clone()).await?;
        Ok(grid)
    }

    async fn unit_or_missing(&self, id: i64) -> DomainResult<Unit> {
        self.store
            .unit(id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("单位 {id} 不存在")))
    }

    /// The region whose clock rules and calendar apply to cases of `unit`: the first administrative code found
    /// walking up from the unit, or the deployment's default.
    pub async fn region_of(&self, unit: &Unit) -> DomainResult<Option<Region>> {
        let ids: Vec<i64> = unit.path.split('/').filter_map(|x| x.parse().ok()).collect();
        for id in ids.iter().rev() {
            let u = if *id == unit.id { Some(unit.clone()) } else { self.store.unit(*id).await.map_err(se)? };
            if let Some(u) = u {
                let digits: String = u.code.chars().take(6).collect();
                if digits.len() == 6
                    && digits.chars().all(|c| c.is_ascii_digit())
                    && let Ok(r) = Region::parse(&digits)
                {
                    return Ok(Some(r));
                }
            }
        }
        Ok(self.default_region.clone())
    }
}
