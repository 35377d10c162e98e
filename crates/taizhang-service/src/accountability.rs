//! Accountability records (责任追究) about officials' conduct: the finding, the measure taken (通报批评,
//! 诫勉谈话 …), the organ that decided it, the cases concerned, and the decision traced as the cause (原因倒查:
//! one event of a case — who decided what, when). They are about officials, never about residents.
//!
//! Who sees them: the supervision office (督查室) of the official's unit or a unit above, and the official
//! concerned — nobody else, not even the official's leaders. Every read is audited. A record is never edited;
//! the official may add statements (陈述申辩) to his own records, which are kept with them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::access::Role;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Accountability, Statement, Unit, User};

use crate::{Principal, Service, se};

/// The measures, with their names.
pub const MEASURES: [(&str, &str); 6] = [
    ("circular_criticism", "通报批评"),
    ("admonition", "诫勉谈话"),
    ("written_review", "责令书面检查"),
    ("organisational", "组织处理建议"),
    ("disciplinary", "处分建议"),
    ("other", "其他"),
];

pub fn measure_name(m: &str) -> &'static str {
    MEASURES.iter().find(|(k, _)| *k == m).map(|(_, n)| *n).unwrap_or("")
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAccountability {
    /// The official's account.
    pub official_id: i64,
    /// 问题认定.
    pub finding: String,
    /// One of the measures (`circular_criticism`, `admonition`, `written_review`, `organisational`,
    /// `disciplinary`, `other`).
    pub measure: String,
    /// The organ that decided, e.g. 市纪委监委.
    pub decided_by: String,
    /// YYYY-MM-DD
    pub decided_on: String,
    /// Codes of the cases concerned (at least one).
    pub case_codes: Vec<String>,
    /// 原因倒查: the case and the number of its event (1 = registration) that caused the failure.
    #[serde(default)]
    pub cause_case: Option<String>,
    #[serde(default)]
    pub cause_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseRef {
    pub id: i64,
    pub code: String,
    pub title: String,
}

/// One event of a case as a decision: what was done, by whom, when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub case_id: i64,
    pub case_code: String,
    pub seq: i64,
    pub action_name: String,
    pub actor_name: String,
    pub actor_unit: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementView {
    pub author_name: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountabilityView {
    pub id: i64,
    pub official_id: i64,
    pub official_name: String,
    pub unit_name: String,
    pub finding: String,
    pub measure: String,
    pub measure_name: String,
    pub decided_by: String,
    pub decided_on: String,
    pub cases: Vec<CaseRef>,
    pub cause: Option<Decision>,
    pub recorded_by_name: String,
    pub recorded_at: DateTime<Utc>,
    pub statements: Vec<StatementView>,
    /// Whether the viewer is the official (who may add a statement).
    pub own: bool,
}

/// Names of accounts and units by id.
struct Names {
    users: Vec<User>,
    units: Vec<Unit>,
}

impl Names {
    fn user(&self, id: i64) -> String {
        self.users.iter().find(|u| u.id == id).map(|u| u.display_name.clone()).unwrap_or_default()
    }
    fn unit(&self, id: i64) -> String {
        self.units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default()
    }
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

fn not_found(id: i64) -> DomainError {
    DomainError::new(ErrorCode::NotFound, format!("问责记录 {id} 不存在或您无权查看"))
}

impl Service {
    /// Records a finding about an official, audited. Only the supervision office of the official's unit or a
    /// unit above; the cases named must be in its scope.
    pub async fn record_accountability(&self, p: &Principal, r: NewAccountability) -> DomainResult<i64> {
        p.require(Role::SupervisionOffice)?;
        let official = self.store.user(r.official_id).await.map_err(se)?;
        let official = official.filter(|u| u.active).ok_or_else(|| bad("被问责人账号不存在", "official_id"))?;
        let unit =
            self.store.unit(official.unit_id).await.map_err(se)?.ok_or_else(|| bad("单位不存在", "official_id"))?;
        if !unit.path.starts_with(&p.unit.path) {
            return Err(bad("只能对本单位及下级单位的工作人员作出问责记录", "official_id"));
        }
        if official.id == p.user.id {
            return Err(bad("不能对自己作出问责记录", "official_id"));
        }
        let finding = r.finding.trim();
        if finding.is_empty() || finding.chars().count() > 2000 {
            return Err(bad("请填写问题认定（2000 字以内）", "finding"));
        }
        if measure_name(&r.measure).is_empty() {
            return Err(bad("请选择处理方式", "measure"));
        }
        let decided_by = r.decided_by.trim();
        if decided_by.is_empty() || decided_by.chars().count() > 100 {
            return Err(bad("请填写作出决定的机关（100 字以内）", "decided_by"));
        }
        let decided = NaiveDate::parse_from_str(&r.decided_on, "%Y-%m-%d")
            .map_err(|_| bad("决定日期应为 YYYY-MM-DD", "decided_on"))?;
        let mut case_ids = vec![];
        for code in r.case_codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            let id = self.case_id_of(p, code, "case_codes").await?;
            if !case_ids.contains(&id) {
                case_ids.push(id);
            }
        }
        if case_ids.is_empty() {
            return Err(bad("请至少关联一件案件", "case_codes"));
        }
        let cause = match r.cause_case.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(code) => {
                let id = self.case_id_of(p, code, "cause_case").await?;
                let seq = r.cause_seq.ok_or_else(|| bad("请选择导致问题的决定（第几步）", "cause_seq"))?;
                let events = self.store.case_events(id).await.map_err(se)?;
                if !events.iter().any(|e| e.case_seq == seq && e.actor_id.is_some()) {
                    return Err(bad(format!("案件 {code} 没有由工作人员作出的第 {seq} 步"), "cause_seq"));
                }
                Some((id, seq))
            }
        };
        let id = self
            .store
            .create_accountability(Accountability {
                id: 0,
                official_id: official.id,
                unit_id: unit.id,
                unit_path: unit.path.clone(),
                finding: finding.to_string(),
                measure: r.measure.clone(),
                decided_by: decided_by.to_string(),
                decided_on: decided.format("%Y-%m-%d").to_string(),
                case_ids,
                cause,
                recorded_by: p.user.id,
                recorded_at: self.now(),
            })
            .await
            .map_err(se)?;
        let detail = format!("用户 {} {}", official.id, measure_name(&r.measure));
        self.audit(Some(p), None, "accountability_recorded", Some(format!("accountability:{id}")), "ok", detail)
            .await?;
        Ok(id)
    }

    async fn case_id_of(&self, p: &Principal, code: &str, field: &str) -> DomainResult<i64> {
        let row = self.store.case_by_code(code).await.map_err(se)?;
        let Some(row) = row else {
            return Err(bad(format!("案件 {code} 不存在或不在您的数据范围内"), field));
        };
        self.load_for(p, row.id, "问责关联")
            .await
            .map_err(|_| bad(format!("案件 {code} 不存在或不在您的数据范围内"), field))?;
        Ok(row.id)
    }

    /// The decisions on a case a finding may trace its cause to: every event taken by a staff member.
    pub async fn decisions(&self, p: &Principal, code: &str) -> DomainResult<Vec<Decision>> {
        p.require(Role::SupervisionOffice)?;
        let id = self.case_id_of(p, code, "case").await?;
        let row = self.store.case(id).await.map_err(se)?.ok_or_else(|| not_found(id))?;
        let events = self.store.case_events(id).await.map_err(se)?;
        let names = self.names().await?;
        Ok(events
            .iter()
            .filter(|e| e.actor_id.is_some())
            .map(|e| self.decision_of(&names, &row.code, &row.kind, e))
            .collect())
    }

    /// Every account's and unit's name, loaded once for a page of records or decisions.
    async fn names(&self) -> DomainResult<Names> {
        Ok(Names { users: self.store.users().await.map_err(se)?, units: self.store.units().await.map_err(se)? })
    }

    fn decision_of(&self, names: &Names, code: &str, kind: &str, e: &taizhang_domain::ledger::CaseEvent) -> Decision {
        let action_name = self
            .workflows
            .get(kind)
            .ok()
            .and_then(|d| d.action(&e.action).map(|a| a.name.clone()))
            .unwrap_or_else(|| e.action.clone());
        Decision {
            case_id: e.case_id,
            case_code: code.to_string(),
            seq: e.case_seq,
            action_name,
            actor_name: e.actor_id.map(|id| names.user(id)).unwrap_or_default(),
            actor_unit: e.actor_unit.map(|id| names.unit(id)).unwrap_or_default(),
            at: e.at,
        }
    }

    /// The records the viewer may read: as the supervision office, those about officials of its subtree; as an
    /// official, those about himself. `mine` asks for the latter only. Audited.
    pub async fn accountability_records(&self, p: &Principal, mine: bool) -> DomainResult<Vec<AccountabilityView>> {
        let records = if !mine && p.has(Role::SupervisionOffice) {
            self.store.accountability_records(&p.unit.path, None).await.map_err(se)?
        } else {
            self.store.accountability_records("", Some(p.user.id)).await.map_err(se)?
        };
        let what = if mine { "本人问责记录" } else { "问责记录列表" };
        self.audit(Some(p), None, "accountability_listed", None, "ok", format!("{what} {} 条", records.len())).await?;
        let names = self.names().await?;
        let mut out = vec![];
        for r in records {
            out.push(self.accountability_view(p, &names, r).await?);
        }
        Ok(out)
    }

    fn may_read(p: &Principal, r: &Accountability) -> bool {
        r.official_id == p.user.id || (p.has(Role::SupervisionOffice) && r.unit_path.starts_with(&p.unit.path))
    }

    /// One record, if the viewer is its official or the supervision office above him. Audited.
    pub async fn accountability_record(&self, p: &Principal, id: i64) -> DomainResult<AccountabilityView> {
        let r = self.store.accountability(id).await.map_err(se)?.filter(|r| Self::may_read(p, r));
        let Some(r) = r else {
            self.audit(Some(p), None, "accountability_read", Some(format!("accountability:{id}")), "denied", "")
                .await?;
            return Err(not_found(id));
        };
        self.audit(Some(p), None, "accountability_read", Some(format!("accountability:{id}")), "ok", "").await?;
        self.accountability_view(p, &self.names().await?, r).await
    }

    /// The official adds a statement to a record about himself, audited.
    pub async fn add_statement(&self, p: &Principal, id: i64, text: &str) -> DomainResult<()> {
        let r = self.store.accountability(id).await.map_err(se)?;
        if r.as_ref().is_none_or(|r| r.official_id != p.user.id) {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有被问责人本人可以提交陈述申辩"));
        }
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 5000 {
            return Err(bad("请填写陈述申辩内容（5000 字以内）", "text"));
        }
        self.store
            .add_statement(Statement { id: 0, record_id: id, author_id: p.user.id, text: text.into(), at: self.now() })
            .await
            .map_err(se)?;
        self.audit(Some(p), None, "accountability_statement", Some(format!("accountability:{id}")), "ok", "").await
    }

    async fn accountability_view(
        &self,
        p: &Principal,
        names: &Names,
        r: Accountability,
    ) -> DomainResult<AccountabilityView> {
        let name = |id: i64| names.user(id);
        let unit_name = names.unit(r.unit_id);
        let mut cases = vec![];
        for id in &r.case_ids {
            match self.store.case(*id).await.map_err(se)? {
                // A case the reader may not open (an accusation against the official) is shown without its
                // code or title: 信访工作条例 Art. 30 holds here too.
                Some(c) if Self::visible_to(p, &c) => cases.push(CaseRef { id: c.id, code: c.code, title: c.title }),
                Some(_) => {
                    cases.push(CaseRef { id: 0, code: String::new(), title: "（您无权查看的案件）".into() })
                }
                None => {}
            }
        }
        let cause = match r.cause {
            Some((case_id, seq)) => {
                let row = self.store.case(case_id).await.map_err(se)?;
                let events = self.store.case_events(case_id).await.map_err(se)?;
                match (row, events.iter().find(|e| e.case_seq == seq)) {
                    (Some(row), Some(e)) if Self::visible_to(p, &row) => {
                        Some(self.decision_of(names, &row.code, &row.kind, e))
                    }
                    _ => None,
                }
            }
            None => None,
        };
        let statements = self
            .store
            .statements(r.id)
            .await
            .map_err(se)?
            .into_iter()
            .map(|s| StatementView { author_name: name(s.author_id), text: s.text, at: s.at })
            .collect();
        Ok(AccountabilityView {
            id: r.id,
            official_id: r.official_id,
            official_name: name(r.official_id),
            unit_name,
            finding: r.finding,
            measure_name: measure_name(&r.measure).to_string(),
            measure: r.measure,
            decided_by: r.decided_by,
            decided_on: r.decided_on,
            cases,
            cause,
            recorded_by_name: name(r.recorded_by),
            recorded_at: r.recorded_at,
            statements,
            own: r.official_id == p.user.id,
        })
    }
}
