//! Case use cases: intake, actions, reading a case, lists, revealing personal data, the resident's query.
//!
//! Every write goes through `Store::append`: the event and the case projection are built here from the
//! numbers the store allocates under its chain lock and committed together, so a case is never half-written.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use taizhang_domain::access::{CaseAccessFacts, Role, in_scope, in_subtree, is_accused};
use taizhang_domain::attachment::{self, AttachmentRef};
use taizhang_domain::classify::Classifier;
use taizhang_domain::deadline::{ClockStatus, china_tz};
use taizhang_domain::ledger::{CaseEvent, sm3_hex};
use taizhang_domain::mask;
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{
    self, ActionDef, CaseState, ClockProblem, ClockView, DUPLICATE_RECEIVED, EventPayload, FieldBinding, FieldType,
    IntakeFacts, WorkflowDef, apply_event, available_actions, check_action, clock_views_lenient, next_deadline,
};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{
    AppendRequest, Built, CaseFilter, CaseRow, CaseSort, NewAttachment, NewParty, PartyRow, ScopeFilter, Slot, Unit,
};

use crate::{Principal, Service, se};

/// The role recorded on events the system takes (timer actions).
pub const SYSTEM_ROLE: &str = "system";

/// Who takes an action: a signed-in staff member, or the resident through the portal (holding the case's
/// query code and password, already checked).
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    Staff(&'a Principal),
    Resident,
}

impl Actor<'_> {
    fn roles(&self) -> Vec<Role> {
        match self {
            Actor::Staff(p) => p.roles.clone(),
            Actor::Resident => vec![Role::Resident],
        }
    }
    fn role_label(&self, action: &ActionDef) -> String {
        // The role under which the action was taken: the first of the action's roles the actor holds.
        let roles = self.roles();
        action.roles.iter().find(|r| roles.contains(r)).map(|r| r.as_str().to_string()).unwrap_or_default()
    }
    fn principal(&self) -> Option<&Principal> {
        match self {
            Actor::Staff(p) => Some(p),
            Actor::Resident => None,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct PartyInput {
    /// The party's role as the kind declares it (e.g. `applicant`, `respondent`); absent: the kind's first
    /// role (`petitioner` for kinds that declare none).
    #[serde(default)]
    pub role: Option<String>,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IntakeRequest {
    pub kind: String,
    pub fields: Map<String, Value>,
    pub petitioner: Option<PartyInput>,
    /// Further parties, each with its role (a dispute's applicants and respondents).
    pub parties: Vec<PartyInput>,
    /// Set by clients so that a resubmitted form is refused, not registered twice.
    pub client_request_id: Option<String>,
    /// For residents: the office addressed. Staff register into their own unit.
    pub unit_id: Option<i64>,
    /// Files handed in with the case (images, PDF), checked by content and size.
    pub attachments: Vec<Upload>,
}

/// A file as received: the name the sender gave it and its bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub name: String,
    pub mime: String,
    pub size: i64,
    /// The event that added it.
    pub event_seq: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub state: String,
    pub state_name: String,
    pub title: String,
    pub category: Option<String>,
    pub matter_type: Option<String>,
    pub registered_unit: i64,
    pub handling_unit: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Status of the nearest running obligation at the time of the request.
    #[schema(value_type = Option<String>, example = "due_soon")]
    pub clock_status: Option<ClockStatus>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntakeResult {
    pub case: CaseView,
    /// Shown once on the receipt: with the case code it lets the resident follow the case.
    pub query_password: String,
    /// Open cases of the same petitioner: the clerk decides whether this is a duplicate (重复件).
    pub possible_duplicates: Vec<CaseSummary>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UnitRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub ty: FieldType,
    pub required: bool,
    pub options: BTreeMap<String, String>,
    /// A value the locality's routing table suggests for this case (a unit id), pre-filled on forms.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub suggested: Option<Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    pub id: String,
    pub name: String,
    pub fields: Vec<FieldView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub case_seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub actor_unit: Option<String>,
    pub action: String,
    pub action_name: String,
    pub from_state: Option<String>,
    pub to_state: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub documents: Vec<DocumentRef>,
    /// Duties this event ended after their due time (e.g. a report made late): recorded as late, never
    /// backdated.
    pub late: Vec<String>,
}

/// A case linked to another: the one it was opened from, or one opened from it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseLink {
    pub id: i64,
    pub code: String,
    pub kind_name: String,
    pub title: String,
    pub state_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentRef {
    pub id: String,
    pub name: String,
    pub number: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyView {
    pub id: i64,
    pub role: String,
    /// The role in words (信访人, 申请人, 被申请人…).
    pub role_name: String,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub masked: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub kind_name: String,
    pub state: String,
    pub state_name: String,
    pub terminal: bool,
    pub version: i64,
    pub title: String,
    pub region: Option<String>,
    pub registered_unit: UnitRef,
    pub handling_unit: Option<UnitRef>,
    pub cohandling_units: Vec<UnitRef>,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Running and stopped clocks with due time and status (on_time / due_soon / overdue).
    #[schema(value_type = Vec<Object>)]
    pub clocks: Vec<ClockView>,
    /// Clocks whose due time cannot be computed yet (e.g. working days past the holiday table), with why.
    #[schema(value_type = Vec<Object>)]
    pub clock_problems: Vec<ClockProblem>,
    pub events: Vec<EventView>,
    pub parties: Vec<PartyView>,
    pub documents: Vec<DocumentRef>,
    pub attachments: Vec<AttachmentView>,
    pub duplicates: Vec<i64>,
    /// The case this one was opened from, if the viewer may see it.
    pub opened_from: Option<CaseLink>,
    /// Cases opened from this one that the viewer may see (a dispute from a petition, a plan's tasks).
    pub opened: Vec<CaseLink>,
    /// Kinds the viewer may open from this case, as (kind, name).
    pub may_open: Vec<(String, String)>,
    pub available_actions: Vec<ActionView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The resident's view: plain words, no internal notes, no staff names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicCaseView {
    pub code: String,
    /// Send back as `expected_version` with an action, so a double submission is refused.
    pub version: i64,
    pub kind_name: String,
    pub state_name: String,
    pub title: String,
    pub handling_unit: Option<String>,
    /// Running and stopped clocks with due time and status (on_time / due_soon / overdue).
    #[schema(value_type = Vec<Object>)]
    pub clocks: Vec<ClockView>,
    /// Clocks whose due time cannot be computed yet (e.g. working days past the holiday table), with why.
    #[schema(value_type = Vec<Object>)]
    pub clock_problems: Vec<ClockProblem>,
    pub timeline: Vec<PublicEvent>,
    pub available_actions: Vec<ActionView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicEvent {
    pub at: DateTime<Utc>,
    pub action_name: String,
    pub unit: Option<String>,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub documents: Vec<DocumentRef>,
}

/// Filters for lists, as the API receives them.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub kind: Option<String>,
    pub state: Option<String>,
    /// Registered in this unit's subtree.
    pub unit: Option<i64>,
    /// Handled by this unit.
    pub handling_unit: Option<i64>,
    /// Held by this unit: handled by it, or registered by it and not handed on (how the dashboard counts).
    pub held: Option<i64>,
    /// Held by a unit of this unit's subtree.
    pub held_within: Option<i64>,
    /// Closed (in a terminal state) or, with `false`, still open.
    pub closed: Option<bool>,
    /// Closed in [closed_from, closed_to): the state was entered then (implies `closed`).
    pub closed_from: Option<DateTime<Utc>>,
    pub closed_to: Option<DateTime<Utc>>,
    pub category: Option<String>,
    pub matter_type: Option<String>,
    /// About this site (code).
    pub site: Option<String>,
    pub clock_status: Option<ClockStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A case code, or words in the title.
    pub text: Option<String>,
    pub sort: CaseSort,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CasePage {
    pub items: Vec<CaseSummary>,
    /// Matches, counted up to `taizhang_store::COUNT_CAP` (1,000); see `total_capped`.
    pub total: i64,
    /// True when there are more matches than `total` says (shown as "1000+").
    pub total_capped: bool,
    pub page: i64,
    pub per_page: i64,
}

pub(crate) fn access_facts(row: &CaseRow) -> CaseAccessFacts {
    CaseAccessFacts {
        registered_unit_path: row.registered_unit_path.clone(),
        handling_unit: row.handling_unit,
        handling_unit_path: row.handling_unit_path.clone(),
        cohandling_units: row.cohandling.clone(),
        accused_unit_path: row.accused_unit_path.clone(),
        accused_users: row.accused_users.clone(),
    }
}

pub(crate) fn parse_state(row: &CaseRow) -> DomainResult<CaseState> {
    serde_json::from_str(&row.state_json)
        .map_err(|e| DomainError::new(ErrorCode::Internal, format!("案件 {} 的状态数据无法读取：{e}", row.code)))
}

fn not_visible(id: impl std::fmt::Display) -> DomainError {
    DomainError::new(ErrorCode::OutOfScope, format!("案件 {id} 不存在或不在您的数据范围内"))
}

/// Digest of a case's parties as stored (ciphertexts and masks), recorded in the intake event.
pub fn parties_digest(parties: &[NewParty]) -> String {
    let mut text = String::new();
    for p in parties {
        for part in [
            Some(p.role.as_str()),
            Some(p.name_enc.as_str()),
            p.phone_enc.as_deref(),
            p.id_number_enc.as_deref(),
            p.address_enc.as_deref(),
            Some(p.name_masked.as_str()),
            p.phone_masked.as_deref(),
            p.id_number_masked.as_deref(),
            p.address_masked.as_deref(),
            p.phone_index.as_deref(),
            p.id_index.as_deref(),
        ] {
            text.push_str(part.unwrap_or("-"));
            text.push('\u{1f}');
        }
        text.push('\u{1e}');
    }
    sm3_hex(text.as_bytes())
}

/// Unit id → materialised path, for the units a projection mentions.
pub type UnitPaths = BTreeMap<i64, String>;

/// The projection row of a case: a pure function of its state, the intake facts, the unit paths and the time
/// of its first and last events. `verify` calls it with facts read back from history and compares.
pub fn project(
    svc: &Service,
    def: &WorkflowDef,
    state: &CaseState,
    id: i64,
    intake: &IntakeFacts,
    paths: &UnitPaths,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    state_since: DateTime<Utc>,
) -> DomainResult<CaseRow> {
    let f = |k: &str| state.field_str(k).map(str::to_string);
    let path = |u: Option<i64>| u.and_then(|u| paths.get(&u).cloned());
    let region = intake.region.as_deref().and_then(|r| Region::parse(r).ok());
    let (next_due_at, next_warn_at, next_timer_at) = deadline_columns(def, state, svc, region.as_ref(), updated_at);
    Ok(CaseRow {
        id,
        code: intake.code.clone(),
        kind: def.kind.clone(),
        state: state.state.clone(),
        version: state.version,
        region: intake.region.clone(),
        registered_unit: intake.registered_unit,
        registered_unit_path: path(Some(intake.registered_unit)).unwrap_or_default(),
        handling_unit: state.handling_unit,
        handling_unit_path: path(state.handling_unit),
        cohandling: state.cohandling_units.clone(),
        accused_unit_path: path(state.accused_unit),
        accused_users: state.accused_users.clone(),
        matter_type: f("matter_type"),
        category: f("category"),
        channel: f("channel"),
        title: f("title").unwrap_or_default(),
        query_secret_hash: intake.query_secret_hash.clone(),
        client_request_id: intake.client_request_id.clone(),
        created_at,
        updated_at,
        next_due_at,
        next_warn_at,
        state_json: serde_json::to_string(state)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("状态序列化失败：{e}")))?,
        parent_id: state.parent,
        next_timer_at,
        site_code: def.site_field().and_then(|s| f(&s.id)),
        state_since,
    })
}

/// The nearest running obligation's due and warning times (a cache for lists), and when the next timer action
/// falls due (for the sweeper). A clock whose due time cannot be computed (its working days run past the
/// holiday table) is left out rather than guessed.
type DeadlineColumns = (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
pub(crate) fn deadline_columns(
    def: &WorkflowDef,
    state: &CaseState,
    svc: &Service,
    region: Option<&Region>,
    at: DateTime<Utc>,
) -> DeadlineColumns {
    let (views, problems) = clock_views_lenient(def, state, &svc.calendar, region, at);
    for p in problems {
        tracing::warn!(clock = %p.clock, error = %p.message, "clock due time not computable");
    }
    let (due, warn) = next_deadline(&views, def).map(|(d, w)| (Some(d), Some(w))).unwrap_or((None, None));
    (due, warn, workflow::next_timer(def, state, &views))
}

pub(crate) fn summary(def: Option<&WorkflowDef>, row: &CaseRow, now: DateTime<Utc>) -> CaseSummary {
    let clock_status = match (row.next_due_at, row.next_warn_at) {
        (Some(due), Some(warn)) => Some(taizhang_domain::deadline::clock_status(due, due - warn, now)),
        _ => None,
    };
    CaseSummary {
        id: row.id,
        code: row.code.clone(),
        kind: row.kind.clone(),
        state: row.state.clone(),
        state_name: def.and_then(|d| d.state(&row.state)).map(|s| s.name.clone()).unwrap_or_else(|| row.state.clone()),
        title: row.title.clone(),
        category: row.category.clone(),
        matter_type: row.matter_type.clone(),
        registered_unit: row.registered_unit,
        handling_unit: row.handling_unit,
        created_at: row.created_at,
        next_due_at: row.next_due_at,
        clock_status,
    }
}

fn random_password() -> String {
    // No 0/O/1/I/L: read aloud at a counter and typed on a phone.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut b = [0u8; 8];
    rand::fill(&mut b[..]);
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

/// Who an event is recorded as.
#[derive(Clone)]
struct Recorded {
    actor_id: Option<i64>,
    actor_unit: Option<i64>,
    role: String,
}

/// Builds the chained event for `slot`.
fn chained_event(
    slot: &Slot,
    at: DateTime<Utc>,
    who: &Recorded,
    action: &str,
    from: Option<&CaseState>,
    to: &CaseState,
    payload: &EventPayload,
) -> CaseEvent {
    let mut event = CaseEvent {
        seq: slot.seq,
        case_id: slot.case_id,
        case_seq: slot.case_seq,
        at,
        actor_id: who.actor_id,
        actor_unit: who.actor_unit,
        actor_role: who.role.clone(),
        action: action.to_string(),
        from_state: from.map(|s| s.state.clone()),
        to_state: to.state.clone(),
        payload: serde_json::to_string(payload).expect("event payloads serialise"),
        prev_hash: slot.prev_hash.clone(),
        hash: String::new(),
    };
    event.hash = event.compute_hash();
    event
}

/// The intake facts recorded in a case's first event.
pub fn intake_facts(first: &CaseEvent) -> Option<IntakeFacts> {
    serde_json::from_str::<EventPayload>(&first.payload).ok().and_then(|p| p.intake)
}

impl Service {
    fn query_secret(&self, code: &str, password: &str) -> String {
        self.keys.blind_index("query", &format!("{code}:{}", password.trim().to_uppercase()))
    }

    pub(crate) fn seal(&self, s: &str) -> String {
        let mut iv = [0u8; 16];
        rand::fill(&mut iv[..]);
        self.keys.seal(iv, s)
    }

    /// Checks uploads (type by content, sizes, count) and seals them for storage.
    fn seal_uploads(&self, uploads: &[Upload]) -> DomainResult<(Vec<AttachmentRef>, Vec<NewAttachment>)> {
        let refs = attachment::check_all(uploads.iter().map(|u| (u.name.as_str(), u.bytes.as_slice())))?;
        let sealed = refs
            .iter()
            .zip(uploads)
            .map(|(r, u)| {
                let mut iv = [0u8; 16];
                rand::fill(&mut iv[..]);
                NewAttachment {
                    name: r.name.clone(),
                    mime: r.mime.clone(),
                    size: r.size as i64,
                    sm3: r.sm3.clone(),
                    sealed: self.keys.seal_bytes(iv, &u.bytes),
                }
            })
            .collect();
        Ok((refs, sealed))
    }

    /// One file of a case, for a staff member who may read the case; the read is audited like the case's.
    pub async fn attachment(&self, p: &Principal, case_id: i64, id: i64) -> DomainResult<(AttachmentView, Vec<u8>)> {
        self.load_for(p, case_id, "查看附件").await?;
        let (meta, sealed) = self
            .store
            .attachment_content(case_id, id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("附件 {id} 不存在")))?;
        let bytes = self.keys.open_bytes(&sealed)?;
        if sm3_hex(&bytes) != meta.sm3 {
            return Err(DomainError::new(ErrorCode::Internal, "附件内容与登记时的摘要不符，请联系系统管理员核查"));
        }
        self.audit(Some(p), None, "attachment_read", Some(format!("case:{case_id}/attachment:{id}")), "ok", &meta.name)
            .await?;
        let view = AttachmentView {
            id: meta.id,
            name: meta.name,
            mime: meta.mime,
            size: meta.size,
            event_seq: meta.event_seq,
        };
        Ok((view, bytes))
    }

    /// Every problem with a petitioner's details, each naming its field.
    pub fn party_problems(p: &PartyInput) -> Vec<DomainError> {
        let mut problems = vec![];
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            problems.push(DomainError::new(ErrorCode::MissingField, "请填写信访人姓名（不超过 50 字）").at("name"));
        }
        let phone_raw = p.phone.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if phone_raw.is_some_and(|ph| !ph.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))) {
            problems.push(
                DomainError::new(ErrorCode::InvalidInput, "联系电话只能包含数字（可带 +、-、括号和空格）").at("phone"),
            );
        } else if phone_raw.map(mask::normalise_phone).is_some_and(|ph| !(7..=15).contains(&ph.len())) {
            problems.push(DomainError::new(ErrorCode::InvalidInput, "联系电话应为 7–15 位数字").at("phone"));
        }
        let id = p.id_number.as_deref().map(mask::normalise_id_number).filter(|s| !s.is_empty());
        if id.as_deref().is_some_and(|i| !mask::valid_id_number(i)) {
            problems.push(
                DomainError::new(ErrorCode::InvalidInput, "身份证号码有误：应为 18 位，且末位校验码正确")
                    .at("id_number"),
            );
        }
        if p.address.as_deref().map(str::trim).is_some_and(|a| a.chars().count() > 200) {
            problems.push(DomainError::new(ErrorCode::InvalidInput, "地址不超过 200 字").at("address"));
        }
        problems
    }

    /// The roles a kind's parties may have, as (id, name, min, max).
    fn party_roles(def: &WorkflowDef) -> Vec<(String, String, u32, u32)> {
        if def.parties.is_empty() {
            return vec![(workflow::PETITIONER.into(), "信访人".into(), 0, 1)];
        }
        def.parties.iter().map(|r| (r.id.clone(), r.name.clone(), r.min, r.max)).collect()
    }

    /// Every party of an intake with its role, and every problem with them: unknown roles, too few or too
    /// many of a role, bad details (each naming its input: `name` for the petitioner, `parties.N.name` for
    /// the N-th further party).
    fn intake_parties<'r>(
        def: &WorkflowDef,
        req: &'r IntakeRequest,
    ) -> (Vec<(String, &'r PartyInput)>, Vec<DomainError>) {
        let roles = Self::party_roles(def);
        let role_of = |p: &PartyInput| p.role.clone().unwrap_or_else(|| roles[0].0.clone());
        let mut problems = vec![];
        let mut all = vec![];
        if let Some(p) = &req.petitioner {
            problems.extend(Self::party_problems(p));
            all.push((role_of(p), p));
        }
        for (i, p) in req.parties.iter().enumerate() {
            problems.extend(Self::party_problems(p).into_iter().map(|mut e| {
                e.field = e.field.map(|f| format!("parties.{i}.{f}"));
                e
            }));
            all.push((role_of(p), p));
        }
        for (role, _) in &all {
            if !roles.iter().any(|r| &r.0 == role) {
                problems.push(
                    DomainError::new(ErrorCode::InvalidInput, format!("{}没有“{role}”这种当事人", def.name))
                        .at("parties"),
                );
            }
        }
        for (id, name, min, max) in &roles {
            let n = all.iter().filter(|(r, _)| r == id).count() as u32;
            if n < *min {
                problems.push(
                    DomainError::new(ErrorCode::MissingField, format!("请填写{name}（至少 {min} 人）")).at("parties"),
                );
            } else if n > *max {
                problems.push(DomainError::new(ErrorCode::InvalidInput, format!("{name}最多 {max} 人")).at("parties"));
            }
        }
        (all, problems)
    }

    /// The sealed row of a party already checked by `intake_parties`.
    fn party_row(&self, p: &PartyInput, role: &str) -> NewParty {
        let name = p.name.trim();
        let phone = p.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(mask::normalise_phone);
        let id = p.id_number.as_deref().map(mask::normalise_id_number).filter(|s| !s.is_empty());
        let address = p.address.as_deref().map(str::trim).filter(|s| !s.is_empty());
        NewParty {
            role: role.to_string(),
            name_enc: self.seal(name),
            phone_enc: phone.as_deref().map(|s| self.seal(s)),
            id_number_enc: id.as_deref().map(|s| self.seal(s)),
            address_enc: address.map(|s| self.seal(s)),
            name_masked: mask::mask_name(name),
            phone_masked: phone.as_deref().map(mask::mask_phone),
            id_number_masked: id.as_deref().map(mask::mask_id_number),
            address_masked: address.map(mask::mask_address),
            phone_index: phone.as_deref().map(|s| self.keys.blind_index("phone", s)),
            id_index: id.as_deref().map(|s| self.keys.blind_index("id", s)),
        }
    }

    pub(crate) async fn unit_or_err(&self, id: i64) -> DomainResult<Unit> {
        self.store
            .unit(id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("单位 {id} 不存在")))
    }

    /// Paths of the given units plus every unit named in `payload`; unknown units are an error, and so are
    /// grid codes that are not registered grids.
    pub async fn unit_paths(
        &self,
        def: &WorkflowDef,
        known: impl IntoIterator<Item = Option<i64>>,
        payload: &Map<String, Value>,
    ) -> DomainResult<UnitPaths> {
        let mut ids: Vec<i64> = known.into_iter().flatten().collect();
        for (k, v) in payload {
            match def.field(k).map(|f| f.ty) {
                Some(FieldType::Grid) => {
                    let code = v.as_str().unwrap_or_default();
                    if self.store.grid(code).await.map_err(se)?.is_none() {
                        return Err(DomainError::new(
                            ErrorCode::InvalidInput,
                            format!("网格 {code} 尚未登记，请核对网格编码"),
                        )
                        .at(k.as_str()));
                    }
                }
                Some(FieldType::Unit) => ids.extend(v.as_i64()),
                Some(FieldType::Units) => ids.extend(v.as_array().into_iter().flatten().filter_map(|x| x.as_i64())),
                _ => {}
            }
        }
        let mut paths = UnitPaths::new();
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(e) = paths.entry(id) {
                e.insert(self.unit_or_err(id).await?.path);
            }
        }
        Ok(paths)
    }

    /// A case's state and the definition version it follows.
    pub(crate) fn def_of(&self, row: &CaseRow) -> DomainResult<(WorkflowDef, CaseState)> {
        let state = parse_state(row)?;
        Ok((self.workflows.get_version(&row.kind, state.workflow_version)?.clone(), state))
    }

    /// Case work is for staff roles; the three administrators neither handle nor read cases.
    pub fn require_case_worker(&self, p: &Principal) -> DomainResult<()> {
        if p.roles.iter().all(|r| r.is_admin()) {
            return Err(DomainError::new(ErrorCode::Forbidden, "系统、安全、审计管理员不办理、不查阅案件"));
        }
        Ok(())
    }

    /// What a new case of `def` opened from the case `from_code` starts with: the source's fields that the new
    /// kind's intake also takes, with the same id and type (e.g. the site of the inspection a hazard was found
    /// on). Only a source the user may see, of a kind the new one may be opened from; a prefill, never binding.
    pub async fn carried_fields(
        &self,
        p: &Principal,
        def: &WorkflowDef,
        from_code: &str,
    ) -> DomainResult<Map<String, Value>> {
        let code: String = from_code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let Some(row) = self.store.case_by_code(&code).await.map_err(se)? else { return Ok(Map::new()) };
        let (source_def, row) = self.load_for(p, row.id, "新建关联案件").await?;
        if !def.opened_from.contains(&source_def.kind) {
            return Ok(Map::new());
        }
        let state = parse_state(&row)?;
        let intake = def.intake_action();
        Ok(def
            .fields
            .iter()
            .filter(|f| f.binds != Some(FieldBinding::Parent))
            .filter(|f| intake.requires.contains(&f.id) || intake.optional.contains(&f.id))
            .filter(|f| source_def.field(&f.id).is_some_and(|s| s.ty == f.ty))
            .filter_map(|f| Some((f.id.clone(), state.fields.get(&f.id)?.clone())))
            .collect())
    }

    /// A case opened from another names a case the actor may see, of a kind this kind may be opened from.
    async fn check_parent(
        &self,
        def: &WorkflowDef,
        actor: Actor<'_>,
        payload: &Map<String, Value>,
    ) -> DomainResult<()> {
        let Some(field) = def.parent_field() else {
            return Ok(());
        };
        let Some(id) = payload.get(&field.id).and_then(|v| v.as_i64()) else { return Ok(()) };
        let Actor::Staff(p) = actor else {
            return Err(DomainError::new(ErrorCode::Forbidden, "群众不能关联案件").at(&field.id));
        };
        let (parent_def, _) = self.load_for(p, id, "新建关联案件").await.map_err(|e| e.at(&field.id))?;
        if !def.opened_from.contains(&parent_def.kind) {
            return Err(DomainError::new(
                ErrorCode::InvalidInput,
                format!("{}不能从{}新建", def.name, parent_def.name),
            )
            .at(&field.id));
        }
        if let Some(r) = &def.repeats {
            let earlier: Vec<CaseState> = self
                .store
                .children(id)
                .await
                .map_err(se)?
                .iter()
                .filter(|c| c.kind == def.kind)
                .map(parse_state)
                .collect::<DomainResult<_>>()?;
            let levels: Vec<&str> = earlier.iter().filter_map(|c| c.field_str(&r.field)).collect();
            let level = payload.get(&r.field).and_then(|v| v.as_str()).unwrap_or_default();
            if let Some(lowest) = r.lowest_allowed(&levels)
                && !r.at_least(level, lowest)
            {
                let label = def.field(&r.field).and_then(|f| f.options.get(lowest)).cloned().unwrap_or_default();
                return Err(DomainError::new(
                    ErrorCode::InvalidInput,
                    format!("该案件此前已有 {} 件{}，再次{}应升级，至少为“{label}”", levels.len(), def.name, def.name),
                )
                .at(&r.field));
            }
        }
        Ok(())
    }

    fn role_name(def: &WorkflowDef, role: &str) -> String {
        Self::party_roles(def).into_iter().find(|r| r.0 == role).map(|r| r.1).unwrap_or_else(|| role.to_string())
    }

    /// The parties by role in words, masked: "申请人：王**、李**；被申请人：张**" (for documents).
    fn parties_line(def: &WorkflowDef, rows: &[PartyRow]) -> String {
        Self::party_roles(def)
            .iter()
            .filter_map(|(id, name, _, _)| {
                let names: Vec<&str> =
                    rows.iter().filter(|r| &r.party.role == id).map(|r| r.party.name_masked.as_str()).collect();
                (!names.is_empty()).then(|| format!("{name}：{}", names.join("、")))
            })
            .collect::<Vec<_>>()
            .join("；")
    }

    /// An accusation is never handed to the accused unit or a unit inside it (Art. 30); an attempt is refused
    /// and audited.
    async fn check_hand_over(
        &self,
        def: &WorkflowDef,
        who: Option<&Principal>,
        case_id: Option<i64>,
        payload: &Map<String, Value>,
        accused_path: Option<&str>,
        paths: &UnitPaths,
    ) -> DomainResult<()> {
        let Some(accused) = accused_path else { return Ok(()) };
        for (k, v) in payload {
            let Some(f) = def.field(k) else { continue };
            if !matches!(f.binds, Some(FieldBinding::HandlingUnit | FieldBinding::CohandlingUnits)) {
                continue;
            }
            let ids: Vec<i64> =
                v.as_i64().into_iter().chain(v.as_array().into_iter().flatten().filter_map(|x| x.as_i64())).collect();
            if ids.iter().any(|id| paths.get(id).is_some_and(|p| in_subtree(accused, p))) {
                let object = case_id.map(|c| format!("case:{c}"));
                self.audit(who, None, "accused_handover_denied", object, "denied", format!("字段 {k}")).await?;
                return Err(DomainError::new(
                    ErrorCode::AccusedPartyForbidden,
                    "检举控告材料不得交由被检举控告的单位或其下属单位办理",
                ));
            }
        }
        Ok(())
    }

    /// The accused unit's path if the payload names one (a field bound to the accused unit), else `current`.
    fn accused_path_after(
        def: &WorkflowDef,
        payload: &Map<String, Value>,
        paths: &UnitPaths,
        current: Option<&str>,
    ) -> Option<String> {
        payload
            .iter()
            .find(|(k, _)| def.field(k).is_some_and(|f| f.binds == Some(FieldBinding::AccusedUnit)))
            .and_then(|(_, v)| v.as_i64())
            .and_then(|id| paths.get(&id).cloned())
            .or_else(|| current.map(str::to_string))
    }

    /// Recusal (回避): staff whose ID matches a party of the case, or who are accused in it, may neither act on
    /// the case nor be named as its handler.
    async fn check_recusal(
        &self,
        def: &WorkflowDef,
        case: &CaseRow,
        actor: Option<&Principal>,
        payload: &Map<String, Value>,
    ) -> DomainResult<()> {
        let party_ids: Vec<String> =
            self.store.parties(case.id).await.map_err(se)?.into_iter().filter_map(|p| p.party.id_index).collect();
        let conflicted = |user_id: i64, id_index: Option<&String>| {
            case.accused_users.contains(&user_id) || id_index.is_some_and(|i| party_ids.contains(i))
        };
        if let Some(p) = actor
            && conflicted(p.user.id, p.user.id_index.as_ref())
        {
            return Err(DomainError::new(ErrorCode::RecusalRequired, "您与本案当事人存在利害关系，应当回避"));
        }
        for (k, v) in payload {
            let Some(f) = def.field(k) else { continue };
            if f.binds == Some(FieldBinding::AccusedUsers) || !matches!(f.ty, FieldType::User | FieldType::Users) {
                continue;
            }
            let ids: Vec<i64> =
                v.as_i64().into_iter().chain(v.as_array().into_iter().flatten().filter_map(|x| x.as_i64())).collect();
            for id in ids {
                let Some(u) = self.store.user(id).await.map_err(se)? else {
                    return Err(DomainError::new(ErrorCode::NotFound, format!("用户 {id} 不存在")));
                };
                if conflicted(u.id, u.id_index.as_ref()) {
                    return Err(DomainError::new(
                        ErrorCode::RecusalRequired,
                        format!("{} 与本案当事人存在利害关系，应当回避，不能承办本案", u.display_name),
                    ));
                }
            }
        }
        Ok(())
    }

    fn doc_series(def: &WorkflowDef, action: &ActionDef, year: i32) -> Vec<String> {
        action.documents.iter().map(|d| format!("{}/{d}/{year}", def.kind)).collect()
    }

    fn doc_numbers(def: &WorkflowDef, action: &ActionDef, year: i32, numbers: &[i64]) -> Vec<(String, String)> {
        action
            .documents
            .iter()
            .zip(numbers)
            .map(|(d, n)| {
                let abbrev = def.document(d).map(|x| x.abbrev.as_str()).unwrap_or("");
                (d.clone(), format!("{abbrev}〔{year}〕{n}号"))
            })
            .collect()
    }

    /// Cases a viewer may see: in scope and not accusations against them.
    pub(crate) fn visible_to(p: &Principal, row: &CaseRow) -> bool {
        let facts = access_facts(row);
        let viewer = p.viewer();
        in_scope(&viewer, &facts) && !is_accused(&viewer, &facts)
    }

    /// Open cases of a kind with a petitioner of the same phone or ID number that the staff member may see.
    async fn open_cases_of(
        &self,
        p: &Principal,
        def: &WorkflowDef,
        phone_index: Option<&str>,
        id_index: Option<&str>,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<CaseSummary>> {
        Ok(self
            .store
            .open_cases_of_party(&def.kind, phone_index, id_index)
            .await
            .map_err(se)?
            .iter()
            .filter(|r| Self::visible_to(p, r) && !def.state(&r.state).is_some_and(|s| s.terminal))
            .map(|r| summary(Some(def), r, now))
            .collect())
    }

    /// The clerk's check before saving: open cases of the same petitioner (same phone or ID number).
    /// Everything wrong with an intake's fields and petitioner at once (for forms that mark every problem),
    /// without writing anything. Empty when only the checks made at registration itself remain.
    pub fn intake_problems(&self, req: &IntakeRequest) -> Vec<DomainError> {
        let Ok(def) = self.workflows.get(&req.kind) else { return vec![] };
        let (_, mut problems) = workflow::payload_problems(def, def.intake_action(), &req.fields);
        problems.extend(Self::intake_parties(def, req).1);
        problems
    }

    /// A category model learned from the unit's own history: the newest `limit` categorised cases of `kind`
    /// (their title, content, facts and reasons → their category).
    pub async fn train_categories(&self, kind: &str, limit: i64) -> DomainResult<Classifier> {
        let rows = self.store.latest_categorised(kind, limit).await.map_err(se)?;
        // A category is suggested only once three cases carry it: a one-off spelling (typed by a resident on
        // the portal, say) is not offered to every clerk.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &rows {
            *seen.entry(r.category.as_deref().unwrap_or_default()).or_default() += 1;
        }
        let established: Vec<String> = seen.into_iter().filter(|(_, n)| *n >= 3).map(|(c, _)| c.to_string()).collect();
        let mut examples: Vec<(String, String)> = Vec::with_capacity(rows.len());
        for row in rows {
            let state = parse_state(&row)?;
            let text: Vec<&str> = ["title", "content", "facts_reasons"]
                .iter()
                .filter_map(|k| state.fields.get(*k).and_then(|v| v.as_str()))
                .collect();
            let category = row.category.unwrap_or_default();
            if established.contains(&category) {
                examples.push((text.join("。"), category));
            }
        }
        Ok(Classifier::train(examples.iter().map(|(t, c)| (t.as_str(), c.as_str()))))
    }

    pub async fn possible_duplicates(
        &self,
        p: &Principal,
        kind: &str,
        party: &PartyInput,
    ) -> DomainResult<Vec<CaseSummary>> {
        let def = self.workflows.get(kind)?.clone();
        let phone = party.phone.as_deref().map(mask::normalise_phone).filter(|s| !s.is_empty());
        let id = party.id_number.as_deref().map(mask::normalise_id_number).filter(|s| !s.is_empty());
        let phone = phone.map(|s| self.keys.blind_index("phone", &s));
        let id = id.map(|s| self.keys.blind_index("id", &s));
        self.open_cases_of(p, &def, phone.as_deref(), id.as_deref(), self.now()).await
    }

    /// Checks an intake and prepares its append (the event and projection are built under the chain lock).
    /// Returns the request, the query password for the receipt, and the viewer's open cases of the same
    /// petitioner.
    async fn prepare_intake(
        &self,
        actor: Actor<'_>,
        req: IntakeRequest,
        find_duplicates: bool,
    ) -> DomainResult<(AppendRequest, String, Vec<CaseSummary>)> {
        let def = self.workflows.get(&req.kind)?.clone();
        let unit = match actor {
            Actor::Staff(p) => {
                self.require_case_worker(p)?;
                p.unit.clone()
            }
            Actor::Resident => {
                let id = req
                    .unit_id
                    .ok_or_else(|| DomainError::new(ErrorCode::MissingField, "请选择受理机关").at("unit_id"))?;
                self.unit_or_err(id).await?
            }
        };
        let region = self.region_of(&unit).await?;
        let now = self.now();
        let roles = actor.roles();
        let fields = self.case_codes_to_ids(&def, req.fields.clone()).await?;
        // An intake that hands the case to a unit (a supervision order to the unit supervised) may require its
        // actor to stand above that unit (`by = "above_handling"`).
        let named_unit = def
            .fields
            .iter()
            .find(|f| f.binds == Some(FieldBinding::HandlingUnit))
            .and_then(|f| fields.get(&f.id))
            .and_then(|v| v.as_i64());
        let above_handling_unit = match named_unit {
            Some(id) if matches!(actor, Actor::Staff(_)) => self
                .store
                .unit(id)
                .await
                .map_err(se)?
                .is_some_and(|u| u.path.starts_with(&unit.path) && u.path != unit.path),
            _ => false,
        };
        let wf_actor = workflow::Actor {
            roles: &roles,
            in_handling_unit: false,
            in_cohandling_unit: false,
            above_handling_unit,
            above_recorded: vec![],
        };
        let (action, payload) =
            check_action(&def, None, &def.intake, &wf_actor, &fields, now, &self.calendar, region.as_ref())?;
        let action = action.clone();
        if req.petitioner.is_none() && req.parties.is_empty() && matches!(actor, Actor::Resident) {
            return Err(DomainError::new(ErrorCode::MissingField, "请填写信访人姓名和联系方式").at("name"));
        }
        let (named, mut problems) = Self::intake_parties(&def, &req);
        if !problems.is_empty() {
            return Err(problems.remove(0));
        }
        let parties: Vec<NewParty> = named.iter().map(|(role, p)| self.party_row(p, role)).collect();
        self.check_parent(&def, actor, &payload).await?;
        self.check_site_fields(&def, &payload, None).await?;
        self.check_booking_fields(&def, &payload).await?;
        if req.client_request_id.as_ref().is_some_and(|r| r.is_empty() || r.len() > 100) {
            return Err(DomainError::new(ErrorCode::InvalidInput, "client_request_id 长度应为 1–100"));
        }
        let mut paths = self.unit_paths(&def, [Some(unit.id)], &payload).await?;
        paths.insert(unit.id, unit.path.clone());
        let accused = Self::accused_path_after(&def, &payload, &paths, None);
        self.check_hand_over(&def, actor.principal(), None, &payload, accused.as_deref(), &paths).await?;
        let possible_duplicates = match (actor, parties.first()) {
            (Actor::Staff(p), Some(party)) if find_duplicates => {
                self.open_cases_of(p, &def, party.phone_index.as_deref(), party.id_index.as_deref(), now).await?
            }
            _ => vec![],
        };
        let password = random_password();
        let query_secret_hash_for = {
            let svc = self.clone();
            let password = password.clone();
            move |code: &str| svc.query_secret(code, &password)
        };
        let digest = (!parties.is_empty()).then(|| parties_digest(&parties));
        let (attachment_refs, attachments) = self.seal_uploads(&req.attachments)?;
        let local = now.with_timezone(&china_tz());
        let (year, local_day) = (local.year(), local.format("%Y%m%d").to_string());
        let who = Recorded {
            actor_id: actor.principal().map(|p| p.user.id),
            actor_unit: actor.principal().map(|p| p.unit.id),
            role: actor.role_label(&action),
        };
        let client_request_id = req.client_request_id.clone();
        let doc_series = Self::doc_series(&def, &action, year);
        let svc = self.clone();
        let build = move |slot: Slot| -> DomainResult<Built> {
            let code = format!("{}{local_day}{:06}", def.code_prefix, slot.case_id);
            let intake = IntakeFacts {
                query_secret_hash: Some(query_secret_hash_for(&code)),
                code,
                registered_unit: unit.id,
                region: region.as_ref().map(|r| r.code().to_string()),
                client_request_id,
                workflow_version: def.version,
            };
            let ev_payload = EventPayload {
                fields: payload,
                documents: Self::doc_numbers(&def, &action, year, &slot.doc_numbers),
                parties_digest: digest,
                intake: Some(intake.clone()),
                attachments: attachment_refs,
            };
            let state =
                apply_event(&def, None, &ev_payload.facts(slot.seq, &action.id, now, who.actor_id, who.actor_unit))?;
            let event = chained_event(&slot, now, &who, &action.id, None, &state, &ev_payload);
            let case = project(&svc, &def, &state, slot.case_id, &intake, &paths, now, now, now)?;
            Ok(Built { event, case, parties, attachments })
        };
        let append = AppendRequest {
            case_id: None,
            expected_version: None,
            client_request_id: req.client_request_id.clone(),
            doc_series,
            build: Box::new(build),
        };
        Ok((append, password, possible_duplicates))
    }

    /// Registers a new case (intake) from staff or from the portal.
    pub async fn register(&self, actor: Actor<'_>, req: IntakeRequest) -> DomainResult<IntakeResult> {
        let def = self.workflows.get(&req.kind)?.clone();
        let (append, query_password, possible_duplicates) = self.prepare_intake(actor, req, true).await?;
        let built = self.store.append(vec![append]).await.map_err(se)?;
        self.hold_bookings(&def, &built).await;
        self.notify_built(&built).await;
        let view = self.case_view_unchecked(&def, &built[0].case, actor.principal()).await?;
        Ok(IntakeResult { case: view, query_password, possible_duplicates })
    }

    /// Registers many cases in one transaction (imports, benchmarks). No duplicate search, no views.
    pub async fn register_many(&self, actor: Actor<'_>, reqs: Vec<IntakeRequest>) -> DomainResult<usize> {
        let mut appends = Vec::with_capacity(reqs.len());
        for r in reqs {
            appends.push(self.prepare_intake(actor, r, false).await?.0);
        }
        Ok(self.store.append(appends).await.map_err(se)?.len())
    }

    /// Loads a case a staff member may see. Cases outside their scope and accusations against them get the same
    /// answer (so ids cannot be probed for accusations); the latter attempt is audited. Every read is audited.
    pub(crate) async fn load_for(
        &self,
        p: &Principal,
        case_id: i64,
        purpose: &str,
    ) -> DomainResult<(WorkflowDef, CaseRow)> {
        self.require_case_worker(p)?;
        let row = self.store.case(case_id).await.map_err(se)?.ok_or_else(|| not_visible(case_id))?;
        let facts = access_facts(&row);
        let viewer = p.viewer();
        let object = Some(format!("case:{case_id}"));
        if is_accused(&viewer, &facts) {
            self.audit(Some(p), None, "accused_access_denied", object, "denied", purpose).await?;
            return Err(not_visible(case_id));
        }
        if !in_scope(&viewer, &facts) {
            return Err(not_visible(case_id));
        }
        let event = if row.matter_type.as_deref() == Some("accusation") { "accusation_read" } else { "case_read" };
        self.audit(Some(p), None, event, object, "ok", purpose).await?;
        let (def, _) = self.def_of(&row)?;
        Ok((def, row))
    }

    pub async fn case_view(&self, p: &Principal, case_id: i64) -> DomainResult<CaseView> {
        let (def, row) = self.load_for(p, case_id, "查看案件").await?;
        self.case_view_unchecked(&def, &row, Some(p)).await
    }

    /// The intake form of a kind, for a staff member whose roles may open such a case.
    pub fn intake_form(&self, p: &Principal, kind: &str) -> DomainResult<(WorkflowDef, ActionView)> {
        self.require_case_worker(p)?;
        let def = self.workflows.get(kind)?.clone();
        let a = def.intake_action();
        if !a.roles.iter().any(|r| p.roles.contains(r)) {
            return Err(DomainError::new(ErrorCode::ActionNotAllowedForRole, format!("您的角色不能新建{}", def.name)));
        }
        let view = ActionView { id: a.id.clone(), name: a.name.clone(), fields: Self::field_views(&def, a) };
        Ok((def, view))
    }

    /// The kinds a staff member may open, as (kind, name).
    pub fn kinds_to_open(&self, p: &Principal) -> Vec<(String, String)> {
        self.workflows
            .all()
            .filter(|d| d.intake_action().roles.iter().any(|r| p.roles.contains(r)))
            .map(|d| (d.kind.clone(), d.name.clone()))
            .collect()
    }

    fn field_views(def: &WorkflowDef, a: &ActionDef) -> Vec<FieldView> {
        a.requires
            .iter()
            .map(|f| (f, true))
            .chain(a.optional.iter().map(|f| (f, false)))
            .filter_map(|(f, required)| {
                def.field(f).map(|fd| FieldView {
                    id: fd.id.clone(),
                    name: fd.name.clone(),
                    ty: fd.ty,
                    required,
                    options: fd.options.clone(),
                    suggested: None,
                })
            })
            .collect()
    }

    /// Names of the units a case mentions (registered, handling, co-handling, actors' units).
    async fn unit_names(&self, row: &CaseRow, events: &[CaseEvent]) -> DomainResult<BTreeMap<i64, String>> {
        let mut ids: Vec<i64> = [row.registered_unit].into_iter().chain(row.handling_unit).collect();
        ids.extend(&row.cohandling);
        ids.extend(events.iter().filter_map(|e| e.actor_unit));
        ids.sort_unstable();
        ids.dedup();
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(u) = self.store.unit(id).await.map_err(se)? {
                out.insert(id, u.name);
            }
        }
        Ok(out)
    }

    /// Display names of the staff who acted on a case.
    async fn actor_names(&self, events: &[CaseEvent]) -> DomainResult<BTreeMap<i64, String>> {
        let mut ids: Vec<i64> = events.iter().filter_map(|e| e.actor_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(u) = self.store.user(id).await.map_err(se)? {
                out.insert(id, u.display_name);
            }
        }
        Ok(out)
    }

    /// Where the staff member stands relative to the case's handling unit and the units its actions recorded
    /// (e.g. the organ that issued the 复查 opinion).
    async fn workflow_actor<'r>(
        &self,
        p: &Principal,
        roles: &'r [Role],
        row: &CaseRow,
        state: &CaseState,
    ) -> DomainResult<workflow::Actor<'r>> {
        let strictly_above = |path: &str| path != p.unit.path && in_subtree(&p.unit.path, path);
        let mut above_recorded = vec![];
        for (name, unit) in &state.recorded_units {
            if self.store.unit(*unit).await.map_err(se)?.is_some_and(|u| strictly_above(&u.path)) {
                above_recorded.push(name.clone());
            }
        }
        Ok(workflow::Actor {
            roles,
            in_handling_unit: row.handling_unit == Some(p.unit.id),
            in_cohandling_unit: row.cohandling.contains(&p.unit.id),
            above_handling_unit: row.handling_unit_path.as_deref().is_some_and(strictly_above),
            above_recorded,
        })
    }

    fn doc_refs(def: &WorkflowDef, docs: &[(String, String)]) -> Vec<DocumentRef> {
        docs.iter()
            .map(|(id, number)| DocumentRef {
                id: id.clone(),
                name: def.document(id).map(|d| d.name.clone()).unwrap_or_default(),
                number: number.clone(),
            })
            .collect()
    }

    async fn case_view_unchecked(
        &self,
        def: &WorkflowDef,
        row: &CaseRow,
        p: Option<&Principal>,
    ) -> DomainResult<CaseView> {
        let state = parse_state(row)?;
        let now = self.now();
        let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
        let (clocks, clock_problems) = clock_views_lenient(def, &state, &self.calendar, region.as_ref(), now);
        let events = self.store.case_events(row.id).await.map_err(se)?;
        let units = self.unit_names(row, &events).await?;
        let unit_ref = |id: i64| UnitRef { id, name: units.get(&id).cloned().unwrap_or_default() };
        let users = self.actor_names(&events).await?;
        let events = events
            .iter()
            .map(|e| {
                let payload: EventPayload = serde_json::from_str(&e.payload).unwrap_or_default();
                EventView {
                    seq: e.seq,
                    case_seq: e.case_seq,
                    at: e.at,
                    actor: match e.actor_id {
                        Some(id) => users.get(&id).cloned(),
                        None if e.actor_role == SYSTEM_ROLE => Some("系统（时限届满自动执行）".into()),
                        None => Some("信访人（网上）".into()),
                    },
                    late: late_duties(def, e, &clocks),
                    actor_unit: e.actor_unit.and_then(|u| units.get(&u).cloned()),
                    action: e.action.clone(),
                    action_name: action_name(def, &e.action),
                    from_state: e.from_state.clone(),
                    to_state: e.to_state.clone(),
                    fields: payload.fields,
                    documents: Self::doc_refs(def, &payload.documents),
                }
            })
            .collect();
        let parties = self
            .store
            .parties(row.id)
            .await
            .map_err(se)?
            .into_iter()
            .map(|r| PartyView {
                id: r.id,
                role_name: Self::role_name(def, &r.party.role),
                role: r.party.role,
                name: r.party.name_masked,
                phone: r.party.phone_masked,
                id_number: r.party.id_number_masked,
                address: r.party.address_masked,
                masked: true,
            })
            .collect();
        let available = match p {
            Some(p) => {
                let actions = available_actions(def, &state, &self.workflow_actor(p, &p.roles, row, &state).await?);
                let suggestions: Vec<_> =
                    actions.iter().map(|a| self.routing.suggestions(&def.kind, &a.id, &state.fields)).collect();
                // The unit list only when the routing table has something to say about this case.
                let units = if suggestions.iter().any(|s| !s.is_empty()) {
                    self.store.units().await.map_err(se)?
                } else {
                    vec![]
                };
                actions
                    .into_iter()
                    .zip(suggestions)
                    .map(|(a, suggested)| {
                        let mut fields = Self::field_views(def, a);
                        // A plan is chosen from the locality's plans for this kind.
                        if let Some(f) = a.opens.as_ref().and_then(|o| fields.iter_mut().find(|f| f.id == o.plan_field))
                        {
                            f.ty = FieldType::Choice;
                            f.options = self.plans.for_kind(&def.kind).into_iter().collect();
                        }
                        for (field, code) in suggested {
                            let unit = units.iter().find(|u| u.code == code).map(|u| Value::from(u.id));
                            if let Some(f) = fields.iter_mut().find(|f| f.id == field) {
                                f.suggested = unit;
                            }
                        }
                        ActionView { id: a.id.clone(), name: a.name.clone(), fields }
                    })
                    .collect()
            }
            None => vec![],
        };
        // Links go only to cases the viewer may see (a resident-facing view has none).
        let link = |r: &CaseRow| {
            let d = self.workflows.get(&r.kind).ok();
            CaseLink {
                id: r.id,
                code: r.code.clone(),
                kind_name: d.map(|d| d.name.clone()).unwrap_or_else(|| r.kind.clone()),
                title: r.title.clone(),
                state_name: d
                    .and_then(|d| d.state(&r.state))
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| r.state.clone()),
            }
        };
        let (opened_from, opened, may_open) = match p {
            Some(p) => {
                let parent = match row.parent_id {
                    Some(id) => self.store.case(id).await.map_err(se)?.filter(|r| Self::visible_to(p, r)),
                    None => None,
                };
                let children = self.store.children(row.id).await.map_err(se)?;
                let may_open = self
                    .kinds_to_open(p)
                    .into_iter()
                    .filter(|(k, _)| self.workflows.get(k).is_ok_and(|d| d.opened_from.contains(&def.kind)))
                    .collect();
                (
                    parent.as_ref().map(link),
                    children.iter().filter(|r| Self::visible_to(p, r)).map(link).collect(),
                    may_open,
                )
            }
            None => (None, vec![], vec![]),
        };
        Ok(CaseView {
            id: row.id,
            code: row.code.clone(),
            kind: row.kind.clone(),
            kind_name: def.name.clone(),
            state: row.state.clone(),
            state_name: def.state(&row.state).map(|s| s.name.clone()).unwrap_or_default(),
            terminal: def.state(&row.state).is_some_and(|s| s.terminal),
            version: row.version,
            title: row.title.clone(),
            region: row.region.clone(),
            registered_unit: unit_ref(row.registered_unit),
            handling_unit: row.handling_unit.map(unit_ref),
            cohandling_units: row.cohandling.iter().map(|u| unit_ref(*u)).collect(),
            fields: state.fields.clone().into_iter().collect(),
            clocks,
            clock_problems,
            events,
            parties,
            documents: Self::doc_refs(def, &state.documents),
            attachments: self
                .store
                .attachments(row.id)
                .await
                .map_err(se)?
                .into_iter()
                .map(|a| AttachmentView { id: a.id, name: a.name, mime: a.mime, size: a.size, event_seq: a.event_seq })
                .collect(),
            duplicates: state.duplicates.clone(),
            opened_from,
            opened,
            may_open,
            available_actions: available,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// An append of `action` on `row`, built under the chain lock from the state the checks were made on.
    fn append_action(
        &self,
        def: &WorkflowDef,
        row: &CaseRow,
        state: CaseState,
        action: &str,
        fields: Map<String, Value>,
        documents: (Vec<String>, Option<(ActionDef, i32)>),
        paths: UnitPaths,
        who: Recorded,
        now: DateTime<Utc>,
    ) -> DomainResult<AppendRequest> {
        let first = intake_facts_of(row);
        let (svc, def, action, row_c) = (self.clone(), def.clone(), action.to_string(), row.clone());
        let (doc_series, doc_action) = documents;
        Ok(AppendRequest {
            case_id: Some(row.id),
            expected_version: Some(row.version),
            client_request_id: None,
            doc_series,
            build: Box::new(move |slot: Slot| {
                let ev_payload = EventPayload {
                    fields,
                    documents: doc_action
                        .map(|(a, year)| Self::doc_numbers(&def, &a, year, &slot.doc_numbers))
                        .unwrap_or_default(),
                    parties_digest: None,
                    intake: None,
                    attachments: vec![],
                };
                let new_state = apply_event(
                    &def,
                    Some(state.clone()),
                    &ev_payload.facts(slot.seq, &action, now, who.actor_id, who.actor_unit),
                )?;
                let event = chained_event(&slot, now, &who, &action, Some(&state), &new_state, &ev_payload);
                let since = if new_state.state == row_c.state { row_c.state_since } else { now };
                let case = project(&svc, &def, &new_state, row_c.id, &first, &paths, row_c.created_at, now, since)?;
                Ok(Built { event, case, parties: vec![], attachments: vec![] })
            }),
        })
    }

    /// Takes an action on a case. `expected_version` is the version the user saw: a double submission or a
    /// concurrent change is refused with `stale_version` instead of writing a second event.
    /// A case field may be given as the case's code (XF20261121000042, as printed on receipts) instead of its
    /// internal id.
    async fn case_codes_to_ids(
        &self,
        def: &WorkflowDef,
        mut fields: Map<String, Value>,
    ) -> DomainResult<Map<String, Value>> {
        for (k, v) in fields.iter_mut() {
            let Some(code) = v.as_str().map(str::trim).filter(|c| c.parse::<i64>().is_err()) else { continue };
            if def.field(k).map(|f| f.ty) != Some(FieldType::Case) {
                continue;
            }
            let code: String = code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
            match self.store.case_by_code(&code).await.map_err(se)? {
                Some(row) => *v = Value::from(row.id),
                None => {
                    let name = def.field(k).map(|f| f.name.clone()).unwrap_or_default();
                    return Err(DomainError::new(
                        ErrorCode::InvalidInput,
                        format!("找不到编号为 {code} 的案件（{name}）"),
                    )
                    .at(k.as_str()));
                }
            }
        }
        Ok(fields)
    }

    pub async fn act(
        &self,
        actor: Actor<'_>,
        case_id: i64,
        action_id: &str,
        fields: Map<String, Value>,
        expected_version: Option<i64>,
    ) -> DomainResult<CaseRow> {
        let (def, row) = match actor {
            Actor::Staff(p) => self.load_for(p, case_id, &format!("执行动作 {action_id}")).await?,
            Actor::Resident => {
                let row = self.store.case(case_id).await.map_err(se)?.ok_or_else(|| not_visible(case_id))?;
                (self.def_of(&row)?.0, row)
            }
        };
        let fields = self.case_codes_to_ids(&def, fields).await?;
        let state = parse_state(&row)?;
        let now = self.now();
        let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
        let roles = actor.roles();
        let wf_actor = match actor {
            Actor::Staff(p) => self.workflow_actor(p, &roles, &row, &state).await?,
            Actor::Resident => workflow::Actor {
                roles: &roles,
                in_handling_unit: false,
                in_cohandling_unit: false,
                above_handling_unit: false,
                above_recorded: vec![],
            },
        };
        let (action, payload) =
            check_action(&def, Some(&state), action_id, &wf_actor, &fields, now, &self.calendar, region.as_ref())?;
        let action = action.clone();
        // Judged on the same row as the checks above: an action valid now but made on an older view is refused.
        if expected_version.is_some_and(|v| v != row.version) {
            return Err(DomainError::new(ErrorCode::StaleVersion, "案件已被他人更新，请刷新后重试（本次操作未保存）"));
        }
        let paths = self
            .unit_paths(&def, [Some(row.registered_unit), state.handling_unit, state.accused_unit], &payload)
            .await?;
        let accused = Self::accused_path_after(&def, &payload, &paths, row.accused_unit_path.as_deref());
        self.check_hand_over(&def, actor.principal(), Some(row.id), &payload, accused.as_deref(), &paths).await?;
        self.check_recusal(&def, &row, actor.principal(), &payload).await?;
        self.check_site_fields(&def, &payload, Some(&state)).await?;

        // A duplicate (重复件) is recorded on the original case in the same transaction.
        let original = match &action.duplicate_of {
            Some(field) => {
                let orig_id = payload.get(field).and_then(|v| v.as_i64()).unwrap_or(0);
                let Actor::Staff(p) = actor else {
                    return Err(DomainError::new(ErrorCode::Forbidden, "群众不能并案"));
                };
                if orig_id == row.id {
                    return Err(DomainError::new(ErrorCode::InvalidInput, "不能把案件并入它自己"));
                }
                let (orig_def, orig) = self.load_for(p, orig_id, "并入重复件").await?;
                if orig.kind != row.kind || orig_def.is_duplicate_state(&orig.state) {
                    return Err(DomainError::new(ErrorCode::InvalidInput, "原件须为同类案件，且本身不是重复件"));
                }
                Some((orig_def, orig))
            }
            None => None,
        };

        let year = now.with_timezone(&china_tz()).year();
        let who = Recorded {
            actor_id: actor.principal().map(|p| p.user.id),
            actor_unit: actor.principal().map(|p| p.unit.id),
            role: actor.role_label(&action),
        };
        let docs = (Self::doc_series(&def, &action, year), Some((action.clone(), year)));
        // A plan's steps open their cases in the same transaction (after the action: their intakes check
        // the link against the case as it stands).
        let opened = match (&action.opens, actor) {
            (Some(rule), Actor::Staff(p)) => {
                let plan_id = payload.get(&rule.plan_field).and_then(|v| v.as_str()).unwrap_or_default();
                self.plan_intakes(p, &row, &rule.kind, plan_id).await.map_err(|e| e.at(&rule.plan_field))?
            }
            _ => vec![],
        };
        let mut requests =
            vec![self.append_action(&def, &row, state, &action.id, payload, docs, paths, who.clone(), now)?];
        requests.extend(opened);
        if let Some((orig_def, orig)) = original {
            let orig_state = parse_state(&orig)?;
            let orig_paths = self
                .unit_paths(
                    &orig_def,
                    [Some(orig.registered_unit), orig_state.handling_unit, orig_state.accused_unit],
                    &Map::new(),
                )
                .await?;
            let mut fields = Map::new();
            fields.insert("duplicate_case".into(), Value::from(row.id));
            requests.push(self.append_action(
                &orig_def,
                &orig,
                orig_state,
                DUPLICATE_RECEIVED,
                fields,
                (vec![], None),
                orig_paths,
                who,
                now,
            )?);
        }
        let built = self.store.append(requests).await.map_err(se)?;
        self.notify_built(&built).await;
        Ok(built.into_iter().next().expect("one request at least").case)
    }

    /// The intakes a plan opens when activated on `row`: one case of `kind` per step, linked to `row`.
    async fn plan_intakes(
        &self,
        p: &Principal,
        row: &CaseRow,
        kind: &str,
        plan_id: &str,
    ) -> DomainResult<Vec<AppendRequest>> {
        let plan = self
            .plans
            .get(plan_id)
            .filter(|pl| pl.on == row.kind)
            .ok_or_else(|| DomainError::new(ErrorCode::InvalidInput, format!("没有适用于此案件的预案“{plan_id}”")))?
            .clone();
        let def = self.workflows.get(kind)?.clone();
        let parent = def.parent_field().map(|f| f.id.clone());
        let units = self.store.units().await.map_err(se)?;
        let mut out = vec![];
        for step in &plan.steps {
            let mut fields = step.clone();
            for f in def.fields.iter().filter(|f| f.ty == FieldType::Unit) {
                if let Some(code) = fields.get(&f.id).and_then(|v| v.as_str()).map(str::to_string) {
                    let unit = units.iter().find(|u| u.code == code).ok_or_else(|| {
                        DomainError::new(ErrorCode::InvalidInput, format!("预案“{}”中的单位 {code} 不存在", plan.name))
                    })?;
                    fields.insert(f.id.clone(), Value::from(unit.id));
                }
            }
            if let Some(parent) = &parent {
                fields.insert(parent.clone(), Value::from(row.id));
            }
            let req = IntakeRequest {
                kind: kind.to_string(),
                fields,
                petitioner: None,
                parties: vec![],
                client_request_id: None,
                unit_id: None,
                attachments: vec![],
            };
            out.push(self.prepare_intake(Actor::Staff(p), req, false).await?.0);
        }
        Ok(out)
    }

    /// Takes every timer action (`on_expiry`) that has fallen due, as the system, each recorded with the time
    /// it is taken (never the due time: the record says when the system acted). Returns how many were taken.
    /// The server runs this every minute; tests call it after moving the manual clock.
    pub async fn sweep(&self) -> DomainResult<usize> {
        let now = self.now();
        let mut taken = 0;
        loop {
            let ids = self.store.due_timers(now, 200).await.map_err(se)?;
            let mut progressed = false;
            for id in ids {
                match self.fire_timer(id, now).await {
                    Ok(fired) => {
                        taken += fired as usize;
                        progressed |= fired;
                    }
                    // Someone acted on the case meanwhile: it is looked at again in the next round.
                    Err(e) if e.code == ErrorCode::StaleVersion => progressed = true,
                    Err(e) => tracing::error!(case = id, error = %e, "timer action failed"),
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(taken)
    }

    async fn fire_timer(&self, id: i64, now: DateTime<Utc>) -> DomainResult<bool> {
        let Some(row) = self.store.case(id).await.map_err(se)? else { return Ok(false) };
        let (def, state) = self.def_of(&row)?;
        let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
        let due = workflow::expired_timers(&def, &state, &self.calendar, region.as_ref(), now)?;
        let Some(action) = due.first().map(|a| (*a).clone()) else {
            // The cache was stale (a rule changed): correct it so the case is not picked again.
            let cols = deadline_columns(&def, &state, self, region.as_ref(), now);
            self.store.set_next_deadline(id, row.version, cols.0, cols.1, cols.2).await.map_err(se)?;
            return Ok(false);
        };
        let paths = self
            .unit_paths(&def, [Some(row.registered_unit), state.handling_unit, state.accused_unit], &Map::new())
            .await?;
        let who = Recorded { actor_id: None, actor_unit: None, role: SYSTEM_ROLE.into() };
        let year = now.with_timezone(&china_tz()).year();
        let docs = (Self::doc_series(&def, &action, year), Some((action.clone(), year)));
        let req = self.append_action(&def, &row, state, &action.id, Map::new(), docs, paths, who, now)?;
        let built = self.store.append(vec![req]).await.map_err(se)?;
        self.notify_built(&built).await;
        Ok(true)
    }

    /// Every (kind, state) that ends a case, in any loaded version of its definition.
    pub fn terminal_states(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .workflows
            .all_versions()
            .flat_map(|d| d.states.iter().filter(|s| s.terminal).map(|s| (d.kind.clone(), s.id.clone())))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Lists the cases in the user's scope, accusations against them excluded.
    pub async fn list(&self, p: &Principal, q: &ListQuery) -> DomainResult<CasePage> {
        self.require_case_worker(p)?;
        let per_page = if q.per_page <= 0 { 20 } else { q.per_page.min(200) };
        let page = q.page.clamp(1, 1_000_000);
        let now = self.now();
        if let Some(kind) = &q.kind {
            let def = self.workflows.get(kind)?;
            if let Some(state) = q.state.as_deref().filter(|s| def.state(s).is_none()) {
                return Err(DomainError::new(ErrorCode::InvalidInput, format!("{}没有“{state}”这个状态", def.name)));
            }
        } else if let Some(state) = q.state.as_deref().filter(|s| self.workflows.all().all(|d| d.state(s).is_none())) {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("没有“{state}”这个状态")));
        }
        let registered_under = match q.unit {
            Some(u) => Some(self.unit_or_err(u).await?.path),
            None => None,
        };
        let held_under = match q.held_within {
            Some(u) => Some(self.unit_or_err(u).await?.path),
            None => None,
        };
        let closed = if q.closed_from.is_some() || q.closed_to.is_some() { Some(true) } else { q.closed };
        let filter = CaseFilter {
            kind: q.kind.clone(),
            state: q.state.clone(),
            handling_unit: q.handling_unit,
            registered_under,
            held_by: q.held,
            held_under,
            closed,
            terminal_states: if closed.is_some() { self.terminal_states() } else { vec![] },
            state_since_from: q.closed_from,
            state_since_to: q.closed_to,
            category: q.category.clone(),
            matter_type: q.matter_type.clone(),
            site_code: q.site.clone(),
            clock_status: q.clock_status,
            created_from: q.from,
            created_to: q.to,
            text: q.text.clone().filter(|t| !t.trim().is_empty()),
            now: Some(now),
            scope: Some(ScopeFilter { user_id: p.user.id, unit_id: p.unit.id, unit_path: p.unit.path.clone() }),
            sort: q.sort,
            offset: (page - 1) * per_page,
            limit: per_page,
        };
        let (rows, total) = self.store.list_cases(&filter).await.map_err(se)?;
        let items = rows.iter().map(|r| summary(self.workflows.get(&r.kind).ok(), r, now)).collect();
        let total_capped = total > taizhang_store::COUNT_CAP;
        Ok(CasePage { items, total: total.min(taizhang_store::COUNT_CAP), total_capped, page, per_page })
    }

    /// Reveals the full personal data of a case's parties to a role that needs it; every reveal is audited.
    pub async fn reveal_parties(
        &self,
        p: &Principal,
        case_id: i64,
        source: Option<&str>,
    ) -> DomainResult<Vec<PartyView>> {
        let (def, row) = self.load_for(p, case_id, "查看当事人完整信息").await?;
        // Mediators reach the parties to mediate; the roles that register and handle cases reach residents.
        let allowed = [Role::ReceptionClerk, Role::PetitionOffice, Role::HandlingStaff, Role::Leader, Role::Mediator];
        if !p.roles.iter().any(|r| allowed.contains(r)) {
            self.audit(Some(p), source, "pii_reveal", Some(format!("case:{case_id}")), "denied", "角色无权查看")
                .await?;
            return Err(DomainError::new(ErrorCode::Forbidden, "您的角色无权查看当事人完整信息"));
        }
        let parties: Vec<PartyRow> = self.store.parties(row.id).await.map_err(se)?;
        let open = |s: &Option<String>| s.as_deref().map(|x| self.keys.open(x)).transpose();
        let mut out = vec![];
        for r in parties {
            out.push(PartyView {
                id: r.id,
                role_name: Self::role_name(&def, &r.party.role),
                role: r.party.role.clone(),
                name: self.keys.open(&r.party.name_enc)?,
                phone: open(&r.party.phone_enc)?,
                id_number: open(&r.party.id_number_enc)?,
                address: open(&r.party.address_enc)?,
                masked: false,
            });
        }
        let detail = format!("{} 名当事人", out.len());
        self.audit(Some(p), source, "pii_reveal", Some(format!("case:{case_id}")), "ok", detail).await?;
        Ok(out)
    }

    /// The resident's access: case code + query password. Wrong pairs get one answer, whichever half is wrong.
    pub async fn portal_case(&self, code: &str, password: &str) -> DomainResult<(CaseRow, PublicCaseView)> {
        let wrong = || DomainError::new(ErrorCode::InvalidCredentials, "查询码或查询密码不正确");
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let row = self.store.case_by_code(&code).await.map_err(se)?.ok_or_else(wrong)?;
        if row.query_secret_hash.as_deref() != Some(self.query_secret(&row.code, password).as_str()) {
            return Err(wrong());
        }
        let (def, state) = self.def_of(&row)?;
        let now = self.now();
        let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
        let events = self.store.case_events(row.id).await.map_err(se)?;
        let units = self.unit_names(&row, &events).await?;
        let timeline = events
            .iter()
            .filter(|e| def.action(&e.action).is_some_and(|a| !a.internal))
            .map(|e| {
                let payload: EventPayload = serde_json::from_str(&e.payload).unwrap_or_default();
                PublicEvent {
                    at: e.at,
                    action_name: action_name(&def, &e.action),
                    unit: e.actor_unit.and_then(|u| units.get(&u).cloned()),
                    // Public fields only, named and with choices in words (处理意见: 予以支持, not outcome: support);
                    // at intake also what the resident said (their own words: request, facts, category), but
                    // never a unit or person the clerk recorded.
                    fields: payload
                        .fields
                        .into_iter()
                        .filter_map(|(k, v)| {
                            let own_words = e.action == def.intake
                                && def.field(&k).is_some_and(|f| {
                                    matches!(f.ty, FieldType::Text | FieldType::LongText | FieldType::Choice)
                                });
                            let f = def.field(&k).filter(|f| f.public || own_words)?;
                            let label = v.as_str().and_then(|x| f.options.get(x)).map(|l| Value::from(l.as_str()));
                            Some((f.name.clone(), label.unwrap_or(v)))
                        })
                        .collect(),
                    documents: Self::doc_refs(&def, &payload.documents),
                }
            })
            .collect();
        let (mut clocks, clock_problems) = clock_views_lenient(&def, &state, &self.calendar, region.as_ref(), now);
        // The office's duties, and the resident's own windows (a window is the resident's when a resident
        // action must come within it); windows between offices (e.g. to object to a transfer) are not theirs.
        let residents_window = |clock: &str| {
            def.actions.iter().any(|a| a.within.as_deref() == Some(clock) && a.roles.contains(&Role::Resident))
        };
        clocks.retain(|c| c.kind == workflow::ClockKind::Obligation || residents_window(&c.clock));
        for c in &mut clocks {
            // The resident is told an extension and its reason, not which official approved it.
            for e in &mut c.extensions {
                e.approved_by = None;
            }
        }
        let resident = workflow::Actor {
            roles: &[Role::Resident],
            in_handling_unit: false,
            in_cohandling_unit: false,
            above_handling_unit: false,
            above_recorded: vec![],
        };
        let available_actions = available_actions(&def, &state, &resident)
            .into_iter()
            .map(|a| ActionView { id: a.id.clone(), name: a.name.clone(), fields: Self::field_views(&def, a) })
            .collect();
        let view = PublicCaseView {
            code: row.code.clone(),
            version: row.version,
            kind_name: def.name.clone(),
            state_name: def.state(&row.state).map(|s| s.name.clone()).unwrap_or_default(),
            title: row.title.clone(),
            handling_unit: row.handling_unit.and_then(|u| units.get(&u).cloned()),
            clocks,
            clock_problems,
            timeline,
            available_actions,
        };
        Ok((row, view))
    }

    /// A resident's action through the portal (rating, requesting review…), after the code/password check.
    pub async fn portal_act(
        &self,
        code: &str,
        password: &str,
        action: &str,
        fields: Map<String, Value>,
        expected_version: Option<i64>,
    ) -> DomainResult<PublicCaseView> {
        let (row, _) = self.portal_case(code, password).await?;
        let Some(version) = expected_version else {
            return Err(DomainError::new(
                ErrorCode::MissingField,
                "请刷新页面后再提交（缺少案件版本号 expected_version）",
            ));
        };
        self.act(Actor::Resident, row.id, action, fields, Some(version)).await?;
        Ok(self.portal_case(code, password).await?.1)
    }
}

impl Service {
    /// Recomputes every case's deadline columns (the list cache of its clocks) — after a deployment adds a
    /// year to the holiday table or changes a clock rule. Returns the number of cases whose columns changed.
    pub async fn reindex_deadlines(&self) -> DomainResult<usize> {
        let mut changed = 0;
        let mut after = 0;
        let now = self.now();
        loop {
            let ids = self.store.case_ids_page(after, 1000).await.map_err(se)?;
            let Some(last) = ids.last() else { break };
            after = *last;
            for id in ids {
                let Some(row) = self.store.case(id).await.map_err(se)? else { continue };
                let (def, state) = self.def_of(&row)?;
                let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
                let cols = deadline_columns(&def, &state, self, region.as_ref(), now);
                if cols != (row.next_due_at, row.next_warn_at, row.next_timer_at)
                    && self.store.set_next_deadline(id, row.version, cols.0, cols.1, cols.2).await.map_err(se)?
                {
                    changed += 1;
                }
            }
        }
        self.store.optimize().await.map_err(se)?;
        Ok(changed)
    }
}

/// The duties an event ended after their due time: the obligation clocks its action stops (or restarts, or
/// ends by reaching a terminal state) whose run stopped at the event's time, late.
fn late_duties(def: &WorkflowDef, e: &taizhang_domain::ledger::CaseEvent, clocks: &[ClockView]) -> Vec<String> {
    let Some(action) = def.action(&e.action) else { return vec![] };
    let ends_all = def.state(&e.to_state).is_some_and(|s| s.terminal);
    clocks
        .iter()
        .filter(|c| ends_all || action.stop.contains(&c.clock) || action.start.contains(&c.clock))
        .filter(|c| {
            c.kind == workflow::ClockKind::Obligation
                && c.stopped_at == Some(e.at)
                && c.status == taizhang_domain::deadline::ClockStatus::Overdue
        })
        .map(|c| c.name.clone())
        .collect()
}

/// The intake facts of a case, read from its projection (they were copied there at intake).
fn intake_facts_of(row: &CaseRow) -> IntakeFacts {
    IntakeFacts {
        code: row.code.clone(),
        registered_unit: row.registered_unit,
        region: row.region.clone(),
        query_secret_hash: row.query_secret_hash.clone(),
        client_request_id: row.client_request_id.clone(),
        workflow_version: 0,
    }
}

fn action_name(def: &WorkflowDef, action: &str) -> String {
    if action == DUPLICATE_RECEIVED {
        return "收到重复件".into();
    }
    def.action(action).map(|a| a.name.clone()).unwrap_or_else(|| action.to_string())
}

/// One row of a staff member's work queue.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub case: CaseSummary,
    /// Names of the actions the staff member can take now.
    pub actions: Vec<String>,
    /// The nearest running obligation clock.
    pub clock: Option<ClockView>,
}

impl Service {
    /// The cases in the staff member's scope on which they can act now, nearest deadline first.
    pub async fn work_queue(&self, p: &Principal, limit: usize) -> DomainResult<Vec<WorkItem>> {
        self.require_case_worker(p)?;
        let now = self.now();
        let filter = CaseFilter {
            now: Some(now),
            scope: Some(ScopeFilter { user_id: p.user.id, unit_id: p.unit.id, unit_path: p.unit.path.clone() }),
            sort: CaseSort::Deadline,
            limit: 500,
            ..Default::default()
        };
        let (rows, _) = self.store.list_cases(&filter).await.map_err(se)?;
        let mut out = vec![];
        for row in rows {
            let (def, state) = self.def_of(&row)?;
            if def.state(&row.state).is_some_and(|s| s.terminal) {
                continue;
            }
            let actions: Vec<String> =
                available_actions(&def, &state, &self.workflow_actor(p, &p.roles, &row, &state).await?)
                    .into_iter()
                    .filter(|a| !a.internal)
                    .map(|a| a.name.clone())
                    .collect();
            if actions.is_empty() {
                continue;
            }
            let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
            let (views, _) = clock_views_lenient(&def, &state, &self.calendar, region.as_ref(), now);
            let clock = views
                .into_iter()
                .filter(|v| v.stopped_at.is_none() && v.kind == workflow::ClockKind::Obligation)
                .min_by_key(|v| v.due_at);
            out.push(WorkItem { case: summary(Some(&def), &row, now), actions, clock });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// A document as issued: generated from the case's own data, print-ready.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    pub case_id: i64,
    pub name: String,
    pub number: String,
    /// The issuing unit.
    pub unit: String,
    pub date: String,
    pub paragraphs: Vec<String>,
}

impl Service {
    /// The document `doc` issued by event `seq` of a case, filled from the case's data as of that event.
    pub async fn document(&self, p: &Principal, case_id: i64, seq: i64, doc: &str) -> DomainResult<DocumentView> {
        let (def, row) = self.load_for(p, case_id, &format!("查看文书 {doc}")).await?;
        let events = self.store.case_events(row.id).await.map_err(se)?;
        let missing = || DomainError::new(ErrorCode::NotFound, "没有这份文书");
        let event = events.iter().find(|e| e.seq == seq).ok_or_else(missing)?;
        let payload: EventPayload = serde_json::from_str(&event.payload).unwrap_or_default();
        let (_, number) = payload.documents.iter().find(|(d, _)| d == doc).ok_or_else(missing)?;
        let d = def.document(doc).ok_or_else(missing)?;
        // Fields as they stood when the document was issued: every earlier event's, then this one's.
        let mut fields: BTreeMap<String, Value> = BTreeMap::new();
        for e in events.iter().take_while(|e| e.seq <= seq) {
            let p: EventPayload = serde_json::from_str(&e.payload).unwrap_or_default();
            fields.extend(p.fields);
        }
        let units = self.unit_names(&row, &events).await?;
        // A site by its name; checklist answers as one line per item, in the list's order.
        let site_code = def.site_field().and_then(|f| fields.get(&f.id)).and_then(Value::as_str).map(str::to_string);
        let mut resolved: BTreeMap<String, String> = BTreeMap::new();
        if let Some(code) = &site_code {
            let site = self.store.site(code).await.map_err(se)?;
            for f in &def.fields {
                match (f.ty, fields.get(&f.id), &site) {
                    (FieldType::Site, Some(_), _) => {
                        resolved.insert(
                            f.id.clone(),
                            site.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| code.clone()),
                        );
                    }
                    (FieldType::Checklist, Some(v), Some(site)) => {
                        let findings = self.findings(&site.sector, v)?;
                        resolved.insert(f.id.clone(), taizhang_domain::checklist::findings_text(&findings));
                    }
                    _ => {}
                }
            }
        }
        // A linked case by its code, as printed on receipts, not its internal id.
        for f in def.fields.iter().filter(|f| f.ty == FieldType::Case) {
            if let Some(id) = fields.get(&f.id).and_then(Value::as_i64)
                && let Some(linked) = self.store.case(id).await.map_err(se)?
            {
                resolved.insert(f.id.clone(), linked.code);
            }
        }
        let mut values: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| {
                let label = def.field(k).and_then(|f| v.as_str().and_then(|x| f.options.get(x))).cloned();
                let text = label.or_else(|| resolved.get(k).cloned()).unwrap_or_else(|| match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => match def.field(k).map(|f| f.ty) {
                        Some(FieldType::Unit) => n.as_i64().and_then(|u| units.get(&u).cloned()).unwrap_or_default(),
                        _ => n.to_string(),
                    },
                    other => other.to_string(),
                });
                (k.clone(), text)
            })
            .collect();
        let local = |t: DateTime<Utc>| t.with_timezone(&china_tz()).format("%Y年%m月%d日").to_string();
        let party_rows = self.store.parties(row.id).await.map_err(se)?;
        let petitioner = party_rows.first().map(|p| p.party.name_masked.clone());
        values.insert("parties".into(), Self::parties_line(&def, &party_rows));
        let issuing =
            event.actor_unit.or(Some(row.registered_unit)).and_then(|u| units.get(&u).cloned()).unwrap_or_default();
        values.insert("code".into(), row.code.clone());
        values.insert("petitioner".into(), petitioner.unwrap_or_else(|| "信访人".into()));
        values.insert("unit".into(), issuing.clone());
        values.insert("registered_date".into(), local(row.created_at));
        if let Some(h) = row.handling_unit.and_then(|u| units.get(&u).cloned()) {
            values.insert("handling_unit".into(), h);
        }
        Ok(DocumentView {
            case_id: row.id,
            name: d.name.clone(),
            number: number.clone(),
            unit: issuing,
            date: local(event.at),
            paragraphs: d.render(&values),
        })
    }
}

/// Rows an export may hold.
pub const EXPORT_LIMIT: i64 = 10_000;

impl Service {
    /// The cases of a list query for export (up to `EXPORT_LIMIT`), audited as an export. Lists carry no
    /// personal data beyond what is masked, so neither does the file.
    pub async fn export(&self, p: &Principal, q: &ListQuery, source: Option<&str>) -> DomainResult<Vec<CaseSummary>> {
        let mut out = vec![];
        let mut page = 1;
        loop {
            let batch = self.list(p, &ListQuery { page, per_page: 200, ..q.clone() }).await?;
            let done = batch.items.len() < 200 || out.len() as i64 + 200 >= EXPORT_LIMIT;
            out.extend(batch.items);
            if done {
                break;
            }
            page += 1;
        }
        out.truncate(EXPORT_LIMIT as usize);
        let detail = format!("导出 {} 件（筛选：{:?}）", out.len(), q);
        self.audit(Some(p), source, "export", None, "ok", detail).await?;
        Ok(out)
    }
}
