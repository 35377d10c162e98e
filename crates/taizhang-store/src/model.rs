//! Rows and requests exchanged with the store.

use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::DomainResult;
use taizhang_domain::deadline::ClockStatus;
use taizhang_domain::figures::{day_key, month_key};
use taizhang_domain::ledger::CaseEvent;

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub id: i64,
    pub parent_id: Option<i64>,
    /// Administrative division code (6 to 12 digits) or a department code.
    pub code: String,
    pub name: String,
    /// city | county | township | village | department
    pub level: String,
    /// Materialised path of ids from the root, e.g. `/1/4/17/`.
    pub path: String,
}

/// A unit grid (单元网格): a 15-digit code under a unit of the tree, owned by a grid worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub code: String,
    pub name: String,
    /// The grid layer, e.g. `unit` (单元网格) or `community` (社区网格).
    pub layer: String,
    pub unit_id: i64,
    pub owner_user_id: Option<i64>,
}

/// A site that is inspected (场所): a school, a market, an enterprise, a building site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub code: String,
    pub name: String,
    /// The sector (行业领域), which decides the inspection checklist.
    pub sector: String,
    /// The unit responsible for the site (属地/主管).
    pub unit_id: i64,
    pub address: String,
    /// How long its visitor log is kept, in days.
    pub visitor_retention_days: i64,
}

/// A workspace notification for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub body: String,
    pub case_id: Option<i64>,
    /// The case's code (read back with the notification; ignored when writing).
    pub case_code: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A leader's reception session on the published schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptionSlot {
    pub id: i64,
    pub unit_id: i64,
    pub leader_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub place: String,
    pub topic: String,
    pub capacity: i64,
    pub created_by: Option<i64>,
}

/// A resident's request to meet the leader of a slot about their case (约访).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: i64,
    pub slot_id: i64,
    pub case_id: i64,
    pub request: String,
    pub requested_at: DateTime<Utc>,
    /// requested | confirmed | declined | held (the reception took place and was recorded)
    pub status: String,
    pub reply: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The reception's record (a case of kind `reception`), once held.
    pub record_case_id: Option<i64>,
}

/// One visit recorded at a site's gate. Name and phone are sealed (SM4) with masked copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorLog {
    pub id: i64,
    pub site_code: String,
    pub name_sealed: String,
    pub name_masked: String,
    pub phone_sealed: String,
    pub phone_masked: String,
    pub purpose: String,
    pub host: String,
    pub signed_in_at: DateTime<Utc>,
    pub signed_out_at: Option<DateTime<Utc>>,
    pub recorded_by: i64,
}

/// One person's duty shift at a unit (值班 or 带班), as planned; swaps are separate rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub id: i64,
    pub unit_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `officer` (值班员) or `leader` (带班领导).
    pub post: String,
    pub user_id: i64,
    /// The duty phone for the shift.
    pub phone: String,
    pub created_by: Option<i64>,
}

/// A request to hand a shift to someone else, and the decision on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub id: i64,
    pub shift_id: i64,
    pub to_user_id: i64,
    pub reason: String,
    pub requested_by: i64,
    pub requested_at: DateTime<Utc>,
    /// pending | approved | rejected
    pub status: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewUnit {
    pub parent_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub unit_id: i64,
    pub password_hash: String,
    /// Comma-separated role ids.
    pub roles: String,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
    /// Blind index of the staff member's ID number, for recusal checks.
    pub id_index: Option<String>,
    /// Set when someone else chose the password (a new account): it must be changed before anything else.
    pub must_change_password: bool,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub unit_id: i64,
    pub password_hash: String,
    pub roles: String,
    pub id_index: Option<String>,
    pub must_change_password: bool,
    /// The service's time (a test or demo clock may differ from the wall clock).
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub user_id: i64,
    /// `session` (browser login) or `api` (machine token).
    pub kind: String,
    pub name: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The projection of a case: what lists, filters and access checks read. `state_json` is the full folded
/// `CaseState`; the other columns are derived from it for querying.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub state: String,
    pub version: i64,
    pub region: Option<String>,
    pub registered_unit: i64,
    pub registered_unit_path: String,
    pub handling_unit: Option<i64>,
    pub handling_unit_path: Option<String>,
    pub cohandling: Vec<i64>,
    pub accused_unit_path: Option<String>,
    pub accused_users: Vec<i64>,
    pub matter_type: Option<String>,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub title: String,
    pub query_secret_hash: Option<String>,
    pub client_request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub next_warn_at: Option<DateTime<Utc>>,
    pub state_json: String,
    /// The case this one was opened from (`FieldBinding::Parent`).
    pub parent_id: Option<i64>,
    /// When the next timer action (`on_expiry`) falls due; a cache like `next_due_at`.
    pub next_timer_at: Option<DateTime<Utc>>,
    /// The site the case is about (the kind's `site` field).
    pub site_code: Option<String>,
    /// When the case entered its current state (its closing time once that state is terminal).
    pub state_since: DateTime<Utc>,
}

/// The running tallies of the case projection (migration 0014): each case counts once in each, under the unit
/// holding it, else the unit that registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TallyName {
    /// Tag: category; bucket: the month registered (`yyyymm`, China time).
    Received,
    /// Tag: state; bucket: the month the case entered that state.
    State,
    /// Bucket: the day its nearest running deadline falls (`yyyymmdd`); no count without a running clock.
    Due,
    /// Bucket: the day that deadline's warning period starts.
    Warn,
}

impl TallyName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::State => "state",
            Self::Due => "due",
            Self::Warn => "warn",
        }
    }
}

/// How `tally_sums` adds up a tally's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyGroup {
    /// Per bucket (month or day), over the units.
    Bucket,
    /// Per unit, over the buckets.
    Unit,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TallyKey {
    pub name: TallyName,
    pub bucket: i64,
    pub unit_id: i64,
    pub kind: String,
    pub tag: String,
}

/// A tally row: how many cases count under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub key: TallyKey,
    pub n: i64,
}

/// The columns of a case row the tallies depend on.
pub struct TallyFacts<'a> {
    pub kind: &'a str,
    pub category: Option<&'a str>,
    pub state: &'a str,
    pub unit_id: i64,
    pub created_at: DateTime<Utc>,
    pub state_since: DateTime<Utc>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub next_warn_at: Option<DateTime<Utc>>,
}

impl TallyFacts<'_> {
    /// The keys a case with these facts counts under, one per tally it is in.
    pub fn keys(&self) -> Vec<TallyKey> {
        let key = |name, bucket, tag: &str| TallyKey {
            name,
            bucket,
            unit_id: self.unit_id,
            kind: self.kind.to_string(),
            tag: tag.to_string(),
        };
        let mut keys = vec![
            key(TallyName::Received, month_key(self.created_at), self.category.unwrap_or("")),
            key(TallyName::State, month_key(self.state_since), self.state),
        ];
        if let Some(due) = self.next_due_at {
            keys.push(key(TallyName::Due, day_key(due), ""));
        }
        if let Some(warn) = self.next_warn_at {
            keys.push(key(TallyName::Warn, day_key(warn), ""));
        }
        keys
    }
}

impl CaseRow {
    pub fn tally_facts(&self) -> TallyFacts<'_> {
        TallyFacts {
            kind: &self.kind,
            category: self.category.as_deref(),
            state: &self.state,
            unit_id: self.handling_unit.unwrap_or(self.registered_unit),
            created_at: self.created_at,
            state_since: self.state_since,
            next_due_at: self.next_due_at,
            next_warn_at: self.next_warn_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewParty {
    pub role: String,
    pub name_enc: String,
    pub phone_enc: Option<String>,
    pub id_number_enc: Option<String>,
    pub address_enc: Option<String>,
    pub name_masked: String,
    pub phone_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub address_masked: Option<String>,
    pub phone_index: Option<String>,
    pub id_index: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PartyRow {
    pub id: i64,
    pub case_id: i64,
    pub party: NewParty,
}

/// The numbers the store allocates for one appended event, under the chain lock.
#[derive(Debug, Clone)]
pub struct Slot {
    pub seq: i64,
    pub prev_hash: String,
    pub case_id: i64,
    pub case_seq: i64,
    /// One number per requested document series, in order.
    pub doc_numbers: Vec<i64>,
}

/// What the caller built from a slot: the event (hash computed) and the resulting projection.
#[derive(Debug, Clone)]
pub struct Built {
    pub event: CaseEvent,
    pub case: CaseRow,
    /// Written with the intake event only.
    pub parties: Vec<NewParty>,
    /// Files added by this event.
    pub attachments: Vec<NewAttachment>,
}

/// A file to store with an event; `sealed` is the SM4-sealed content, `sm3` the digest of the plain content.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub name: String,
    pub mime: String,
    pub size: i64,
    pub sm3: String,
    pub sealed: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub id: i64,
    pub case_id: i64,
    pub event_seq: i64,
    pub name: String,
    pub mime: String,
    pub size: i64,
    pub sm3: String,
}

pub type BuildFn = Box<dyn FnOnce(Slot) -> DomainResult<Built> + Send>;

pub struct AppendRequest {
    /// None: a new case (the store allocates its id).
    pub case_id: Option<i64>,
    /// The case version the caller saw; a different current version fails with `stale_version`.
    pub expected_version: Option<i64>,
    /// For new cases: a client-chosen id that makes a resubmission fail with `duplicate_submit`.
    pub client_request_id: Option<String>,
    /// Document number series to draw from, e.g. `petition/acceptance_notice/2026`.
    pub doc_series: Vec<String>,
    pub build: BuildFn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseSort {
    /// Nearest running deadline first; cases without one last.
    #[default]
    Deadline,
    NewestFirst,
    OldestFirst,
}

/// Who is looking, for data-scope filtering in lists.
#[derive(Debug, Clone)]
pub struct ScopeFilter {
    pub user_id: i64,
    pub unit_id: i64,
    pub unit_path: String,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub kind: Option<String>,
    pub state: Option<String>,
    /// Cases handled by this unit.
    pub handling_unit: Option<i64>,
    /// Cases registered in this unit's subtree.
    pub registered_under: Option<String>,
    /// Cases held by this unit (handled by it, or registered by it and not yet handed to anyone) — the unit a
    /// case is counted under in the tallies.
    pub held_by: Option<i64>,
    /// Cases held by a unit of this subtree (same rule).
    pub held_under: Option<String>,
    /// Cases in (`Some(true)`) or not in (`Some(false)`) one of `terminal_states` (kind, state).
    pub closed: Option<bool>,
    pub terminal_states: Vec<(String, String)>,
    /// Cases that entered their current state in [from, to).
    pub state_since_from: Option<DateTime<Utc>>,
    pub state_since_to: Option<DateTime<Utc>>,
    pub category: Option<String>,
    pub matter_type: Option<String>,
    /// Cases about this site.
    pub site_code: Option<String>,
    pub clock_status: Option<ClockStatus>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// A case code (exact) or words in the title.
    pub text: Option<String>,
    /// Needed for clock-status filters.
    pub now: Option<DateTime<Utc>>,
    pub scope: Option<ScopeFilter>,
    pub sort: CaseSort,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub unit_id: Option<i64>,
    pub source: Option<String>,
    pub event: String,
    pub object: Option<String>,
    pub result: String,
    pub detail: String,
}

/// A workflow definition version as recorded when it was first current.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersion {
    pub kind: String,
    pub version: i64,
    /// SM3 of the definition text.
    pub sha: String,
    pub definition: String,
}

/// A line of a unit's responsibility roster. Never edited: `ends_on` is set once when the person leaves the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responsibility {
    pub id: i64,
    pub unit_id: i64,
    /// `first` (第一责任人), `direct` (直接责任人) or `joint` (一岗双责).
    pub kind: String,
    pub user_id: i64,
    /// The post held, e.g. 局长.
    pub post: String,
    /// What the person answers for (分管工作).
    pub duties: String,
    /// First and last day (YYYY-MM-DD); no last day while current.
    pub starts_on: String,
    pub ends_on: Option<String>,
    pub created_by: i64,
}

/// A warning card raised from a duty clock: `yellow` (due soon) or `red` (missed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: i64,
    pub case_id: i64,
    pub clock: String,
    pub due_at: DateTime<Utc>,
    pub colour: String,
    /// The unit handling the case when the card was raised.
    pub unit_id: i64,
    pub unit_path: String,
    pub issued_at: DateTime<Utc>,
    /// The case's code, title and kind, read back with the card (ignored when writing).
    pub case_code: String,
    pub case_title: String,
    pub case_kind: String,
}

/// An accountability record (责任追究) about an official.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accountability {
    pub id: i64,
    pub official_id: i64,
    /// The official's unit when the record was made.
    pub unit_id: i64,
    pub unit_path: String,
    pub finding: String,
    pub measure: String,
    pub decided_by: String,
    pub decided_on: String,
    pub case_ids: Vec<i64>,
    /// The decision traced as the cause: a case and the number of its event.
    pub cause: Option<(i64, i64)>,
    pub recorded_by: i64,
    pub recorded_at: DateTime<Utc>,
}

/// A statement (陈述申辩) the official adds to a record about him.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub id: i64,
    pub record_id: i64,
    pub author_id: i64,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A published assessment result with its circular (通报).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circular {
    pub id: i64,
    pub period: String,
    /// The assessing unit (the publisher's), whose units were ranked.
    pub unit_id: i64,
    pub unit_path: String,
    pub scheme_id: String,
    pub scheme_version: i64,
    pub title: String,
    pub leader_text: String,
    /// The report as computed when published (JSON).
    pub report_json: String,
    pub published_by: i64,
    pub published_at: DateTime<Utc>,
}

/// A campaign to clear backlog cases (积案化解专项行动) in a unit's subtree between two days.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub unit_id: i64,
    pub unit_path: String,
    /// First and last day (YYYY-MM-DD).
    pub starts_on: String,
    pub ends_on: String,
    /// The clearance rate to reach, in percent.
    pub target_rate: i64,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

/// A target responsibility letter (目标责任书) a unit signed with the unit above for a period.
#[derive(Debug, Clone)]
pub struct Letter {
    pub id: i64,
    pub unit_id: i64,
    pub unit_path: String,
    pub issuer_unit_id: i64,
    /// `2026`, `2026-Q4` or `2026-11`.
    pub period: String,
    pub title: String,
    pub unit_signer: String,
    pub issuer_signer: String,
    /// YYYY-MM-DD.
    pub signed_on: String,
    /// The indicators undertaken: `[{indicator, target, weight}]`.
    pub items_json: String,
    pub scheme_id: String,
    pub scheme_version: i64,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}
