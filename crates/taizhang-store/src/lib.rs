//! Persistence: one `Store` trait, with SQLite and PostgreSQL behind it.
//!
//! Both backends share one implementation (`sql::SqlStore`) over sqlx's `Any` driver; what differs —
//! migrations, connection set-up, how the chain head is locked — is chosen from the database URL. Timestamps
//! are stored as microseconds since the epoch (UTC) so that both backends sort and compare them the same way.
//!
//! The case history is append-only: `append` takes the chain head under a write lock, lets the caller build
//! the event (with its SM3 link) and the case projection from the allocated sequence numbers, and writes both
//! in one transaction. Nothing here updates or deletes an event or an audit record.

mod model;
mod sql;

pub use model::*;
pub use sql::{COUNT_CAP, SqlStore, open};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use taizhang_domain::ledger::{AuditRecord, CaseEvent};
use taizhang_domain::{DomainError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration {0}: {1}")]
    Migration(String, String),
}

impl StoreError {
    /// The user-facing form: domain errors pass through; database faults become a generic Chinese message
    /// (the cause goes to the log, not to the user).
    pub fn into_domain(self) -> DomainError {
        match self {
            StoreError::Domain(e) => e,
            StoreError::Db(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                DomainError::new(ErrorCode::StorageUnavailable, "数据库暂时无法访问，请稍后重试")
            }
            _ => DomainError::new(ErrorCode::Internal, "数据库操作失败，请联系系统管理员（详情见服务器日志）"),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // ---- organisation and accounts
    async fn create_unit(&self, unit: NewUnit) -> StoreResult<Unit>;
    async fn unit(&self, id: i64) -> StoreResult<Option<Unit>>;
    async fn units(&self) -> StoreResult<Vec<Unit>>;
    async fn create_grid(&self, grid: Grid) -> StoreResult<Grid>;
    async fn grids(&self) -> StoreResult<Vec<Grid>>;
    async fn grid(&self, code: &str) -> StoreResult<Option<Grid>>;
    async fn create_site(&self, site: Site) -> StoreResult<Site>;
    async fn sites(&self) -> StoreResult<Vec<Site>>;
    async fn site(&self, code: &str) -> StoreResult<Option<Site>>;

    // ---- notifications
    /// Writes notifications (ids and read times ignored) in one transaction.
    async fn create_notifications(&self, notes: Vec<Notification>) -> StoreResult<()>;
    /// Notifications not yet delivered outbound, created at or after `since`, with fewer than `max_attempts`
    /// failed tries, ids after `after`, oldest first.
    async fn unsent_notifications(
        &self,
        since: DateTime<Utc>,
        max_attempts: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Notification>>;
    /// Records a delivery (`Some(at)`) or a failed try (`None`).
    async fn mark_notification_sent(&self, id: i64, at: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// A user's newest notifications, unread first.
    async fn notifications(&self, user_id: i64, limit: i64) -> StoreResult<Vec<Notification>>;
    /// Marks one of the user's notifications read; false when it is not theirs or already read.
    async fn mark_notification_read(&self, user_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<bool>;

    // ---- reception schedule and appointment requests
    async fn create_slot(&self, slot: ReceptionSlot) -> StoreResult<i64>;
    /// Slots overlapping [from, to), by start.
    async fn slots(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<ReceptionSlot>>;
    async fn slot(&self, id: i64) -> StoreResult<Option<ReceptionSlot>>;
    /// Records a request if the slot has fewer than `capacity` requested or confirmed; None when it is full.
    async fn create_booking(&self, booking: Booking, capacity: i64) -> StoreResult<Option<i64>>;
    /// The requests for these slots, or (when `case_id` is given) of one case; oldest first.
    async fn bookings(&self, slot_ids: &[i64], case_id: Option<i64>) -> StoreResult<Vec<Booking>>;
    /// Confirms or declines a pending request; false when it was decided already.
    async fn decide_booking(
        &self,
        id: i64,
        confirm: bool,
        reply: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Marks a confirmed request held (已接待), linking the reception's record; false unless it was confirmed.
    async fn hold_booking(&self, id: i64, record_case_id: i64) -> StoreResult<bool>;

    // ---- visitor logs at sites
    /// Records a visit (id and sign-out ignored); returns its id.
    async fn create_visit(&self, visit: VisitorLog) -> StoreResult<i64>;
    /// Records the sign-out of a visit still signed in; false when there is none.
    async fn sign_out_visit(&self, site_code: &str, id: i64, at: DateTime<Utc>) -> StoreResult<bool>;
    /// A site's visits signed in within [from, to), newest first.
    async fn visits(&self, site_code: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<VisitorLog>>;
    /// Deletes every visit signed in longer ago than its site's retention period, in one transaction; returns
    /// how many rows each site lost.
    async fn purge_visits(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>>;

    // ---- duty rosters
    /// Writes shifts (ids ignored) in one transaction; returns their ids.
    async fn create_shifts(&self, shifts: Vec<Shift>) -> StoreResult<Vec<i64>>;
    /// A unit's shifts overlapping [from, to), by start.
    async fn shifts(&self, unit_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Shift>>;
    async fn shift(&self, id: i64) -> StoreResult<Option<Shift>>;
    /// Records a pending swap (id, status and decision ignored); returns its id.
    async fn create_swap(&self, swap: Swap) -> StoreResult<i64>;
    /// The swaps of these shifts, oldest first.
    async fn swaps(&self, shift_ids: &[i64]) -> StoreResult<Vec<Swap>>;
    /// Decides a pending swap; false when it was not pending (decided already).
    async fn decide_swap(&self, id: i64, approve: bool, by: i64, at: DateTime<Utc>) -> StoreResult<bool>;
    // ---- responsibility rosters, warning cards, accountability records
    async fn create_responsibility(&self, r: Responsibility) -> StoreResult<i64>;
    /// Sets the last day of a current line; false when it has ended already.
    async fn end_responsibility(&self, id: i64, ends_on: &str, by: i64, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Every line of these units' rosters (all units when empty), oldest first.
    async fn responsibilities(&self, unit_ids: &[i64]) -> StoreResult<Vec<Responsibility>>;
    /// Cases whose earliest duty deadline warns or has passed at `now` and has no card of the colour it now
    /// deserves: the cases the card sweep must look at, as (warning time, id) after `after`, in that order.
    async fn card_candidates(&self, now: DateTime<Utc>, after: (i64, i64), limit: i64) -> StoreResult<Vec<(i64, i64)>>;
    /// Records cards (ids ignored); one already raised for the same clock, deadline and colour is skipped.
    /// Returns the ones written, with their ids.
    async fn create_cards(&self, cards: Vec<Card>) -> StoreResult<Vec<Card>>;
    /// Cards raised in [from, to) for cases handled in the subtree of `unit_path`, newest first.
    async fn cards(&self, unit_path: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Card>>;
    /// Cards raised in [from, to) in the subtree of `unit_path`, counted per unit: (unit, yellow, red).
    async fn card_counts(
        &self,
        unit_path: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(i64, i64, i64)>>;
    /// One tally's counts with buckets in [from, to] for units in the subtree of `unit_path`, summed per bucket
    /// (over all those units: `unit_id` 0) or per unit (over the buckets: `bucket` 0), each by kind and tag;
    /// zero sums left out.
    async fn tally_sums(
        &self,
        name: TallyName,
        range: (i64, i64),
        unit_path: &str,
        by: TallyGroup,
    ) -> StoreResult<Vec<Tally>>;
    /// Every tally row with a count other than zero (for `verify`).
    async fn all_tallies(&self) -> StoreResult<Vec<Tally>>;
    /// The cases held in the subtree of `unit_path` whose nearest deadline (`Due`) or its warning start (`Warn`)
    /// lies in [from, to): (holding unit, kind) of each.
    async fn deadlines_between(
        &self,
        name: TallyName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit_path: &str,
    ) -> StoreResult<Vec<(i64, String)>>;
    async fn create_campaign(&self, c: Campaign) -> StoreResult<i64>;
    /// Every campaign, latest start first (few: a handful a year per unit).
    async fn campaigns(&self) -> StoreResult<Vec<Campaign>>;
    /// Records a letter; None when the unit already has one for that period and scheme.
    async fn create_letter(&self, l: Letter) -> StoreResult<Option<i64>>;
    /// Every letter, latest period first.
    async fn letters(&self) -> StoreResult<Vec<Letter>>;
    async fn create_accountability(&self, r: Accountability) -> StoreResult<i64>;
    async fn accountability(&self, id: i64) -> StoreResult<Option<Accountability>>;
    /// Records about officials of units in the subtree of `unit_path`, or (when `official` is given) about one
    /// official; newest first.
    async fn accountability_records(&self, unit_path: &str, official: Option<i64>) -> StoreResult<Vec<Accountability>>;
    async fn add_statement(&self, s: Statement) -> StoreResult<i64>;
    async fn statements(&self, record_id: i64) -> StoreResult<Vec<Statement>>;
    /// Publishes a circular; None when one was published already for its period, unit and scheme.
    async fn create_circular(&self, c: Circular) -> StoreResult<Option<i64>>;
    /// Every circular, newest period first.
    async fn circulars(&self) -> StoreResult<Vec<Circular>>;
    async fn circular(&self, id: i64) -> StoreResult<Option<Circular>>;
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn set_roles(&self, user_id: i64, roles: &str) -> StoreResult<()>;
    async fn set_login_state(&self, user_id: i64, failed: i64, locked_until: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// Counts one more failed login atomically and returns the new count.
    async fn record_failed_login(&self, user_id: i64) -> StoreResult<i64>;
    /// Ends every session and API token of a user (after a password change).
    async fn delete_sessions_of(&self, user_id: i64) -> StoreResult<()>;
    async fn set_password(&self, user_id: i64, hash: &str, at: DateTime<Utc>) -> StoreResult<()>;

    // ---- sessions and API tokens (only hashes of tokens are stored)
    async fn insert_session(&self, s: Session) -> StoreResult<()>;
    async fn session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    // ---- cases
    /// Appends events (one per request, in order) and writes their projections, all in one transaction.
    async fn append(&self, requests: Vec<AppendRequest>) -> StoreResult<Vec<Built>>;
    async fn case(&self, id: i64) -> StoreResult<Option<CaseRow>>;
    async fn case_by_code(&self, code: &str) -> StoreResult<Option<CaseRow>>;
    async fn case_events(&self, case_id: i64) -> StoreResult<Vec<CaseEvent>>;
    async fn parties(&self, case_id: i64) -> StoreResult<Vec<PartyRow>>;
    /// The cases opened from this one (their `parent_id`), oldest first.
    async fn children(&self, case_id: i64) -> StoreResult<Vec<CaseRow>>;
    /// Ids of cases with a timer action due at `now` (`next_timer_at <= now`), earliest first.
    async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<i64>>;
    /// The files of a case, without their content.
    async fn attachments(&self, case_id: i64) -> StoreResult<Vec<AttachmentMeta>>;
    /// One file of a case with its sealed content.
    async fn attachment_content(&self, case_id: i64, id: i64) -> StoreResult<Option<(AttachmentMeta, Vec<u8>)>>;
    /// One page of cases and the number of matches, counted up to `COUNT_CAP + 1` (more means "over the cap").
    async fn list_cases(&self, filter: &CaseFilter) -> StoreResult<(Vec<CaseRow>, i64)>;
    /// Open cases of a kind with a petitioner whose phone or ID blind index matches (duplicate detection).
    async fn open_cases_of_party(
        &self,
        kind: &str,
        phone_index: Option<&str>,
        id_index: Option<&str>,
    ) -> StoreResult<Vec<CaseRow>>;
    /// Rewrites the derived deadline columns of a case (a cache of the clocks; not part of the history), computed
    /// from the case at `version`: when an event has moved the case on since (its own append wrote the columns
    /// for the new state), nothing is written and false returned.
    async fn set_next_deadline(
        &self,
        case_id: i64,
        version: i64,
        due: Option<DateTime<Utc>>,
        warn: Option<DateTime<Utc>>,
        timer: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;

    // ---- audit
    async fn append_audit(&self, record: NewAudit) -> StoreResult<AuditRecord>;
    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;

    // ---- verification
    async fn events_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<CaseEvent>>;
    async fn case_ids_page(&self, after_id: i64, limit: i64) -> StoreResult<Vec<i64>>;
    /// The newest cases of a kind that have a category (training category suggestions).
    async fn latest_categorised(&self, kind: &str, limit: i64) -> StoreResult<Vec<CaseRow>>;
    /// Every case accusing the user or a unit at or above `unit_path` (信访工作条例 Art. 30) — the cases that
    /// user's lists leave out — so counts can leave them out too. Few; read through a partial index.
    async fn cases_accusing(&self, user_id: i64, unit_path: &str) -> StoreResult<Vec<CaseRow>>;
    /// Cases of a kind registered at or after `since`, by id after `after_id` (statistics, page by page).
    async fn cases_created_since(
        &self,
        kind: &str,
        since: DateTime<Utc>,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<CaseRow>>;
    // ---- workflow definitions in use
    async fn workflow_versions(&self) -> StoreResult<Vec<WorkflowVersion>>;
    async fn record_workflow_version(&self, v: WorkflowVersion) -> StoreResult<()>;

    /// Refreshes the query planner's statistics (after bulk loads; also run at open).
    async fn optimize(&self) -> StoreResult<()>;
    /// The recorded head of a chain (`events` or `audit`): last seq and hash.
    async fn chain_head(&self, name: &str) -> StoreResult<(i64, String)>;
}
