//! Target responsibility letters (目标责任书) between a unit and the level above: for a period, indicators of the
//! deployment's assessment scheme each with the target the unit undertakes and its weight (summing to 100), the
//! two signatories and the day signed. A signed letter is never edited. Progress against each indicator is
//! computed live from the cases — the unit's figure in the assessment of the letter's period so far, with the
//! counts behind it — and the letter's completion is the weight of the indicators met. Read by the unit and the
//! units above it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::deadline::china_tz;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::Letter;

use crate::assessment::parse_period;
use crate::cases::UnitRef;
use crate::{Principal, Service, se};

/// One indicator the unit undertakes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LetterItem {
    /// An indicator of the assessment scheme, e.g. `on_time_handling`.
    pub indicator: String,
    /// Percent: at least this (at most, for an indicator where less is better).
    pub target: f64,
    /// Weight in the letter; the weights sum to 100.
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewLetter {
    /// The unit undertaking the targets (below the issuer).
    pub unit_id: i64,
    /// `2026`, `2026-Q4` or `2026-11`.
    pub period: String,
    #[serde(default)]
    pub title: String,
    /// Who signs for the unit and for the issuer (职务、姓名).
    pub unit_signer: String,
    pub issuer_signer: String,
    /// YYYY-MM-DD.
    pub signed_on: String,
    pub items: Vec<LetterItem>,
}

/// An indicator with its progress now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemProgress {
    pub indicator: String,
    pub name: String,
    pub target: f64,
    pub weight: f64,
    pub lower_is_better: bool,
    /// The unit's figure so far (None: nothing to count yet).
    pub actual: Option<f64>,
    /// The counts behind it; None when not measured (in a list, before the period begins, or for a unit the
    /// scheme does not assess).
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// The assessment counts behind the figure (for `/assessment/cases?period=…&unit=…&count=…`).
    pub numerator_count: String,
    pub denominator_count: String,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterView {
    pub id: i64,
    pub title: String,
    pub unit: UnitRef,
    pub issuer: UnitRef,
    pub period: String,
    pub period_label: String,
    pub unit_signer: String,
    pub issuer_signer: String,
    pub signed_on: String,
    pub scheme_version: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The indicators with their progress now (no figures in lists, nor before the period begins).
    pub progress: Vec<ItemProgress>,
    /// The weight of the indicators met so far, out of 100.
    pub completion: Option<f64>,
    /// The period has not ended: figures are so far.
    pub running: bool,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

impl Service {
    /// Records a signed letter: issued by a leader or the supervision office of a unit above the one bound.
    pub async fn create_letter(&self, p: &Principal, l: NewLetter) -> DomainResult<i64> {
        if !p.oversees() {
            self.audit(Some(p), None, "letter_created", None, "denied", "角色无权签订").await?;
            return Err(DomainError::new(ErrorCode::Forbidden, "只有领导或督查部门可以签订目标责任书"));
        }
        let unit = self.store.unit(l.unit_id).await.map_err(se)?.ok_or_else(|| bad("责任单位不存在", "unit_id"))?;
        if unit.id == p.unit.id || !unit.path.starts_with(&p.unit.path) {
            return Err(bad(format!("{}不在本单位之下，目标责任书由上级与下级签订", unit.name), "unit_id"));
        }
        let (period_label, from, to) = parse_period(l.period.trim()).map_err(|e| bad(e.message, "period"))?;
        // Stored in one spelling (2026-11, 2026-Q4, 2026), so one letter per period holds however it was typed.
        let (start, end) = (from.with_timezone(&china_tz()).date_naive(), to.with_timezone(&china_tz()).date_naive());
        let period = match (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32 {
            1 => start.format("%Y-%m").to_string(),
            3 => format!("{}-Q{}", start.year(), (start.month() - 1) / 3 + 1),
            _ => start.format("%Y").to_string(),
        };
        let signed_on = NaiveDate::parse_from_str(l.signed_on.trim(), "%Y-%m-%d")
            .map_err(|_| bad("签订日期格式应为 2026-01-15", "signed_on"))?;
        for (v, field) in [(&l.unit_signer, "unit_signer"), (&l.issuer_signer, "issuer_signer")] {
            if v.trim().is_empty() || v.chars().count() > 50 {
                return Err(bad("请填写签订人（职务、姓名，50 字以内）", field));
            }
        }
        if l.items.is_empty() {
            return Err(bad("至少约定一项指标", "items"));
        }
        let mut seen = vec![];
        for item in &l.items {
            let Some(def) = self.scheme.indicators.iter().find(|i| i.id == item.indicator) else {
                return Err(bad(format!("考核方案中没有指标 {}", item.indicator), "items"));
            };
            if seen.contains(&&item.indicator) {
                return Err(bad(format!("指标“{}”重复", def.name), "items"));
            }
            seen.push(&item.indicator);
            let sensible = (0.0..=100.0).contains(&item.target) && item.weight > 0.0 && item.weight <= 100.0;
            if !sensible {
                return Err(bad(format!("指标“{}”的目标应在 0 到 100 之间、权重应大于 0", def.name), "items"));
            }
        }
        let sum: f64 = l.items.iter().map(|i| i.weight).sum();
        if (sum - 100.0).abs() > 0.01 {
            return Err(bad(format!("各项指标的权重合计应为 100（现为 {sum}）"), "items"));
        }
        let title = match l.title.trim() {
            "" => format!("{}{}目标责任书", unit.name, period_label),
            t => t.to_string(),
        };
        let items_json = serde_json::to_string(&l.items)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("指标无法保存：{e}")))?;
        let id = self
            .store
            .create_letter(Letter {
                id: 0,
                unit_id: unit.id,
                unit_path: unit.path.clone(),
                issuer_unit_id: p.unit.id,
                period: period.clone(),
                title,
                unit_signer: l.unit_signer.trim().to_string(),
                issuer_signer: l.issuer_signer.trim().to_string(),
                signed_on: signed_on.to_string(),
                items_json,
                scheme_id: self.scheme.id.clone(),
                scheme_version: i64::from(self.scheme.version),
                created_by: p.user.id,
                created_at: self.now(),
            })
            .await
            .map_err(se)?
            .ok_or_else(|| bad(format!("{}{}的目标责任书已经签订", unit.name, period_label), "period"))?;
        self.audit(
            Some(p),
            None,
            "letter_created",
            Some(format!("letter:{id}")),
            "ok",
            format!("{} {}", unit.name, l.period),
        )
        .await?;
        Ok(id)
    }

    /// The viewer's unit or a unit above the one bound.
    fn may_read_letter(p: &Principal, l: &Letter) -> bool {
        l.unit_path.starts_with(&p.unit.path)
    }

    /// The letters the viewer may read, latest period first, without progress.
    pub async fn letters(&self, p: &Principal) -> DomainResult<Vec<LetterView>> {
        self.require_case_worker(p)?;
        let mut out = vec![];
        for l in self.store.letters().await.map_err(se)? {
            if Self::may_read_letter(p, &l) {
                out.push(self.letter_view(p, l, false).await?);
            }
        }
        Ok(out)
    }

    /// One letter with its progress now, as the viewer's assessment of the period counts it.
    pub async fn letter(&self, p: &Principal, id: i64) -> DomainResult<LetterView> {
        self.require_case_worker(p)?;
        match self.store.letters().await.map_err(se)?.into_iter().find(|l| l.id == id) {
            Some(l) if Self::may_read_letter(p, &l) => self.letter_view(p, l, true).await,
            _ => Err(DomainError::new(ErrorCode::NotFound, format!("目标责任书 {id} 不存在或您无权查看"))),
        }
    }

    async fn letter_view(&self, p: &Principal, l: Letter, with_progress: bool) -> DomainResult<LetterView> {
        let items: Vec<LetterItem> = serde_json::from_str(&l.items_json)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("目标责任书 {} 的指标无法读取：{e}", l.id)))?;
        let (period_label, from, to) = parse_period(&l.period)?;
        let name = |id: i64| async move {
            self.store.unit(id).await.map_err(se).map(|u| UnitRef { id, name: u.map(|u| u.name).unwrap_or_default() })
        };
        let report = match with_progress && from <= self.now() {
            true => Some(self.assessment(p, Some(&l.period)).await?),
            false => None,
        };
        let unit =
            report.as_ref().and_then(|r| r.groups.iter().flat_map(|g| &g.units).find(|u| u.unit.id == l.unit_id));
        let mut met_weight = 0.0;
        let mut progress = vec![];
        for item in &items {
            let def = self.scheme.indicators.iter().find(|i| i.id == item.indicator);
            let score = unit.and_then(|u| u.score.indicators.iter().find(|i| i.id == item.indicator));
            let actual = score.and_then(|s| s.rate);
            let lower = def.is_some_and(|d| d.lower_is_better);
            let met = actual.map(|a| if lower { a <= item.target } else { a >= item.target });
            if met == Some(true) {
                met_weight += item.weight;
            }
            progress.push(ItemProgress {
                indicator: item.indicator.clone(),
                name: def.map(|d| d.name.clone()).unwrap_or_else(|| item.indicator.clone()),
                target: item.target,
                weight: item.weight,
                lower_is_better: lower,
                actual,
                numerator: score.map(|s| s.numerator),
                denominator: score.map(|s| s.denominator),
                numerator_count: def.map(|d| d.numerator.clone()).unwrap_or_default(),
                denominator_count: def.map(|d| d.denominator.clone()).unwrap_or_default(),
                met,
            });
        }
        // Not in the reader's assessment (a level the scheme does not assess): nothing measured, no completion.
        let completion = unit.is_some().then_some(met_weight);
        let created_by = self.store.user(l.created_by).await.map_err(se)?.map(|u| u.display_name).unwrap_or_default();
        Ok(LetterView {
            id: l.id,
            title: l.title,
            unit: name(l.unit_id).await?,
            issuer: name(l.issuer_unit_id).await?,
            period: l.period,
            period_label,
            unit_signer: l.unit_signer,
            issuer_signer: l.issuer_signer,
            signed_on: l.signed_on,
            scheme_version: u32::try_from(l.scheme_version).unwrap_or_default(),
            created_by,
            created_at: l.created_at,
            progress,
            completion,
            running: self.now() < to,
        })
    }
}
