//! Published assessment results and their circulars (通报). A leader or the supervision office drafts the circular
//! for an ended period from the live assessment, adds their own words, and publishes it: the report is frozen as
//! it was computed then, with the scheme's id and version, so later records or a new scheme version never change
//! a published result. The circular names the units that did well (each peer group's first and every unit at or
//! above `commend_at`) and those that fell short (a one-vote veto, or under `short_below`) — the scheme's
//! `[circular]` rule (default 90 and 60), kept with the report — with the figures behind each. It is read by the
//! assessing unit, the units under it, and the units above it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::Circular;

use crate::assessment::AssessmentReport;
use crate::{Principal, Service, se};

/// A unit named in a circular, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Mention {
    pub unit_id: i64,
    pub unit_name: String,
    pub rank: Option<u32>,
    pub total: Option<f64>,
    /// The figures behind the mention, in words.
    pub why: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CircularView {
    /// None for a draft.
    pub id: Option<i64>,
    pub title: String,
    pub leader_text: String,
    pub publisher_unit: String,
    pub published_by: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub commended: Vec<Mention>,
    pub short: Vec<Mention>,
    pub report: AssessmentReport,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewCircular {
    /// `2026-10`, `2026-Q3` or `2026`; it must have ended.
    pub period: String,
    /// Default: 关于…情况的通报.
    #[serde(default)]
    pub title: String,
    /// The leader's own words, printed before the figures.
    #[serde(default)]
    pub leader_text: String,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

/// The units a report commends and those it finds short.
pub fn mentions(r: &AssessmentReport) -> (Vec<Mention>, Vec<Mention>) {
    let (mut commended, mut short) = (vec![], vec![]);
    for u in r.groups.iter().flat_map(|g| &g.units) {
        let mention = |why: String| Mention {
            unit_id: u.unit.id,
            unit_name: u.unit.name.clone(),
            rank: u.rank,
            total: u.score.total,
            why,
        };
        if !u.score.vetoed.is_empty() {
            let hits: Vec<String> = u.score.vetoed.iter().map(|v| format!("{}（{} 件）", v.name, v.value)).collect();
            short.push(mention(format!("一票否决：{}", hits.join("、"))));
            continue;
        }
        let Some(total) = u.score.total else { continue };
        if total < r.circular.short_below {
            let weak: Vec<String> = u
                .score
                .indicators
                .iter()
                .filter(|i| i.score.is_some_and(|s| s < i.weight))
                .map(|i| format!("{} {}%（{}/{}）", i.name, i.rate.unwrap_or_default(), i.numerator, i.denominator))
                .collect();
            short.push(mention(format!("{total} 分；{}", weak.join("，"))));
        } else if u.rank == Some(1) || total >= r.circular.commend_at {
            let rank = u.rank.map(|r| format!("，第 {r} 名")).unwrap_or_default();
            commended.push(mention(format!("{total} 分{rank}")));
        }
    }
    (commended, short)
}

impl Service {
    pub(crate) fn may_read_circular(p: &Principal, c: &Circular) -> bool {
        p.in_line_with(&c.unit_path)
    }

    /// The circular a period's assessment would give now, unpublished.
    pub async fn draft_circular(&self, p: &Principal, period: &str) -> DomainResult<CircularView> {
        let report = self.assessment(p, Some(period)).await?;
        let (commended, short) = mentions(&report);
        Ok(CircularView {
            id: None,
            title: format!("关于{}{}情况的通报", report.period_label, report.scheme_name),
            leader_text: String::new(),
            publisher_unit: p.unit.name.clone(),
            published_by: None,
            published_at: None,
            commended,
            short,
            report,
        })
    }

    /// Publishes a period's assessment with its circular, once per period, unit and scheme; audited.
    pub async fn publish_circular(&self, p: &Principal, c: NewCircular) -> DomainResult<i64> {
        if !p.oversees() {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有领导或督查室可以发布考核通报"));
        }
        let draft = self.draft_circular(p, &c.period).await?;
        if draft.report.running {
            return Err(bad("考核期尚未结束，不能发布考核结果", "period"));
        }
        let title = match c.title.trim() {
            "" => draft.title.clone(),
            t if t.chars().count() > 100 => return Err(bad("标题过长（100 字以内）", "title")),
            t => t.to_string(),
        };
        if c.leader_text.chars().count() > 5000 {
            return Err(bad("领导讲话或批示过长（5000 字以内）", "leader_text"));
        }
        let report_json = serde_json::to_string(&draft.report)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("考核结果无法保存：{e}")))?;
        let id = self
            .store
            .create_circular(Circular {
                id: 0,
                period: draft.report.period.clone(),
                unit_id: p.unit.id,
                unit_path: p.unit.path.clone(),
                scheme_id: draft.report.scheme_id.clone(),
                scheme_version: draft.report.scheme_version as i64,
                title,
                leader_text: c.leader_text.trim().to_string(),
                report_json,
                published_by: p.user.id,
                published_at: self.now(),
            })
            .await
            .map_err(se)?
            .ok_or_else(|| bad(format!("{}的考核结果已经发布过", draft.report.period_label), "period"))?;
        let detail = format!("{} 第 {} 版", draft.report.period, draft.report.scheme_version);
        self.audit(Some(p), None, "circular_published", Some(format!("circular:{id}")), "ok", detail).await?;
        Ok(id)
    }

    /// The circulars the viewer may read, newest period first.
    pub async fn circulars(&self, p: &Principal) -> DomainResult<Vec<CircularView>> {
        let mut out = vec![];
        for c in self.store.circulars().await.map_err(se)? {
            if Self::may_read_circular(p, &c) {
                out.push(self.circular_view(c).await?);
            }
        }
        Ok(out)
    }

    pub async fn circular(&self, p: &Principal, id: i64) -> DomainResult<CircularView> {
        match self.store.circular(id).await.map_err(se)? {
            Some(c) if Self::may_read_circular(p, &c) => self.circular_view(c).await,
            _ => Err(DomainError::new(ErrorCode::NotFound, format!("通报 {id} 不存在或您无权查看"))),
        }
    }

    async fn circular_view(&self, c: Circular) -> DomainResult<CircularView> {
        let report: AssessmentReport = serde_json::from_str(&c.report_json)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("通报 {} 的考核结果无法读取：{e}", c.id)))?;
        let (commended, short) = mentions(&report);
        let publisher_unit = self.store.unit(c.unit_id).await.map_err(se)?.map(|u| u.name).unwrap_or_default();
        let published_by = self.store.user(c.published_by).await.map_err(se)?.map(|u| u.display_name);
        Ok(CircularView {
            id: Some(c.id),
            title: c.title,
            leader_text: c.leader_text,
            publisher_unit,
            published_by,
            published_at: Some(c.published_at),
            commended,
            short,
            report,
        })
    }
}
