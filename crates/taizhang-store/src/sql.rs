//! The one SQL implementation of `Store`, for SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Queries are written once with `?` placeholders and rewritten to `$n` for PostgreSQL. The backend-specific
//! parts are few and named: migrations (`migrations/<backend>/`), connection pragmas, and how a writer takes
//! the chain lock (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on PostgreSQL).

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};
use taizhang_domain::deadline::ClockStatus;
use taizhang_domain::ledger::{AuditRecord, CaseEvent, GENESIS};
use taizhang_domain::{DomainError, ErrorCode};

use crate::model::*;
use crate::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

const SQLITE_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_core", include_str!("../migrations/sqlite/0001_core.sql")),
    ("0002_workflow_versions", include_str!("../migrations/sqlite/0002_workflow_versions.sql")),
    ("0003_attachments", include_str!("../migrations/sqlite/0003_attachments.sql")),
    ("0004_category_due_index", include_str!("../migrations/sqlite/0004_category_due_index.sql")),
    ("0005_grids", include_str!("../migrations/sqlite/0005_grids.sql")),
    ("0006_links_timers", include_str!("../migrations/sqlite/0006_links_timers.sql")),
    ("0007_sites", include_str!("../migrations/sqlite/0007_sites.sql")),
    ("0008_duty", include_str!("../migrations/sqlite/0008_duty.sql")),
    ("0009_notices_visitors", include_str!("../migrations/sqlite/0009_notices_visitors.sql")),
    ("0010_receptions", include_str!("../migrations/sqlite/0010_receptions.sql")),
    ("0011_booking_record", include_str!("../migrations/sqlite/0011_booking_record.sql")),
    ("0012_oversight", include_str!("../migrations/sqlite/0012_oversight.sql")),
    ("0013_circulars", include_str!("../migrations/sqlite/0013_circulars.sql")),
    ("0014_tallies", include_str!("../migrations/sqlite/0014_tallies.sql")),
    ("0015_campaigns", include_str!("../migrations/sqlite/0015_campaigns.sql")),
    ("0016_letters", include_str!("../migrations/sqlite/0016_letters.sql")),
    ("0017_outbound", include_str!("../migrations/sqlite/0017_outbound.sql")),
    ("0018_accusations", include_str!("../migrations/sqlite/0018_accusations.sql")),
    ("0019_tally_unit_index", include_str!("../migrations/sqlite/0019_tally_unit_index.sql")),
];
const PG_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_core", include_str!("../migrations/postgres/0001_core.sql")),
    ("0002_workflow_versions", include_str!("../migrations/postgres/0002_workflow_versions.sql")),
    ("0003_attachments", include_str!("../migrations/postgres/0003_attachments.sql")),
    ("0004_category_due_index", include_str!("../migrations/postgres/0004_category_due_index.sql")),
    ("0005_grids", include_str!("../migrations/postgres/0005_grids.sql")),
    ("0006_links_timers", include_str!("../migrations/postgres/0006_links_timers.sql")),
    ("0007_sites", include_str!("../migrations/postgres/0007_sites.sql")),
    ("0008_duty", include_str!("../migrations/postgres/0008_duty.sql")),
    ("0009_notices_visitors", include_str!("../migrations/postgres/0009_notices_visitors.sql")),
    ("0010_receptions", include_str!("../migrations/postgres/0010_receptions.sql")),
    ("0011_booking_record", include_str!("../migrations/postgres/0011_booking_record.sql")),
    ("0012_oversight", include_str!("../migrations/postgres/0012_oversight.sql")),
    ("0013_circulars", include_str!("../migrations/postgres/0013_circulars.sql")),
    ("0014_tallies", include_str!("../migrations/postgres/0014_tallies.sql")),
    ("0015_campaigns", include_str!("../migrations/postgres/0015_campaigns.sql")),
    ("0016_letters", include_str!("../migrations/postgres/0016_letters.sql")),
    ("0017_outbound", include_str!("../migrations/postgres/0017_outbound.sql")),
    ("0018_accusations", include_str!("../migrations/postgres/0018_accusations.sql")),
    ("0019_tally_unit_index", include_str!("../migrations/postgres/0019_tally_unit_index.sql")),
];

/// Lists count matches up to this many; beyond it the total is reported as "more than" (a full count of a
/// million rows costs more than the page itself).
/// 1,000 rather than 10,000: at 100 k cases, counting to 10,000 under a city-wide scope took most of a list
/// page's time (see BENCHMARKS.md), and nobody pages through a thousand cases.
pub const COUNT_CAP: i64 = 1_000;

/// Cases without a running deadline store this in the deadline columns instead of NULL, so that "nearest
/// deadline first, none last" is a plain index order on both backends.
const NO_DEADLINE: i64 = i64::MAX;

fn deadline_us(t: Option<DateTime<Utc>>) -> i64 {
    t.map(us).unwrap_or(NO_DEADLINE)
}
fn deadline_from(v: i64) -> Option<DateTime<Utc>> {
    (v != NO_DEADLINE).then(|| from_us(v))
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}
fn from_us(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

/// The key range of a unit's subtree: paths `/1/4/…` lie in [`/1/4/`, `/1/40`) because `0` follows `/`.
/// A range (unlike `LIKE 'prefix%'`) can use a plain index on both backends.
fn subtree_range(path: &str) -> (String, String) {
    let hi = match path.strip_suffix('/') {
        Some(stem) => format!("{stem}0"),
        None => format!("{path}\u{10ffff}"),
    };
    (path.to_string(), hi)
}

/// `,3,5,` ⇄ [3, 5]: membership lists that `LIKE '%,5,%'` can search on both backends.
fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(",{},", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
    }
}
fn parse_id_list(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|x| x.parse().ok()).collect()
}

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`), creating the SQLite file if needed,
/// and runs the embedded migrations.
pub async fn open(url: &str) -> StoreResult<SqlStore> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(DomainError::new(
            ErrorCode::InvalidInput,
            format!("不支持的数据库地址：{url}（应以 sqlite:// 或 postgres:// 开头）"),
        )
        .into());
    };
    let pool = match backend {
        Backend::Sqlite => {
            AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                // Connections are renewed hourly, so they pick up planner statistics refreshed since.
                .max_lifetime(Duration::from_secs(3600))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await?
        }
        Backend::Postgres => {
            AnyPoolOptions::new().max_connections(10).acquire_timeout(Duration::from_secs(10)).connect(url).await?
        }
    };
    let store = SqlStore { pool, backend };
    store.migrate().await?;
    // Planner statistics: without them SQLite picks the kind index over the deadline index and sorts a
    // million rows for a 20-row page. A full ANALYZE of the indexes takes about a second at a million cases.
    store.optimize().await?;
    Ok(store)
}

impl SqlStore {
    fn q<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Sqlite => Cow::Borrowed(sql),
            Backend::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_us BIGINT NOT NULL)",
        )
        .await?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => PG_MIGRATIONS,
        };
        for (version, sql) in migrations {
            let done: Option<String> = sqlx::query_scalar(AssertSqlSafe(
                self.q("SELECT version FROM schema_migrations WHERE version = ?").into_owned(),
            ))
            .bind(*version)
            .fetch_optional(&mut *conn)
            .await?;
            if done.is_some() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            tx.execute(AssertSqlSafe(*sql))
                .await
                .map_err(|e| StoreError::Migration(version.to_string(), e.to_string()))?;
            sqlx::query(AssertSqlSafe(
                self.q("INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)").into_owned(),
            ))
            .bind(*version)
            .bind(us(Utc::now()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Locks the case row read before its tallies are moved: on PostgreSQL (READ COMMITTED) a deadline update
    /// outside `append`'s chain lock could otherwise read the same old keys as a concurrent append. SQLite's
    /// writers are serialised by `BEGIN IMMEDIATE` already.
    fn row_lock(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    fn lock_head_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "SELECT seq, hash FROM chain_heads WHERE name = ?",
            Backend::Postgres => "SELECT seq, hash FROM chain_heads WHERE name = $1 FOR UPDATE",
        }
    }
}

macro_rules! query {
    ($self:expr, $sql:expr) => {
        sqlx::query(AssertSqlSafe($self.q($sql).into_owned()))
    };
}

fn unit_from(r: &AnyRow) -> StoreResult<Unit> {
    Ok(Unit {
        id: r.try_get("id")?,
        parent_id: r.try_get("parent_id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        level: r.try_get("level")?,
        path: r.try_get("path")?,
    })
}

fn user_from(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        unit_id: r.try_get("unit_id")?,
        password_hash: r.try_get("password_hash")?,
        roles: r.try_get("roles")?,
        failed_logins: r.try_get("failed_logins")?,
        locked_until: r.try_get::<Option<i64>, _>("locked_until_us")?.map(from_us),
        password_changed_at: from_us(r.try_get("password_changed_us")?),
        id_index: r.try_get("id_index")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

fn session_from(r: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        token_hash: r.try_get("token_hash")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        csrf_token: r.try_get("csrf_token")?,
        created_at: from_us(r.try_get("created_us")?),
        last_seen_at: from_us(r.try_get("last_seen_us")?),
        expires_at: from_us(r.try_get("expires_us")?),
    })
}

const CASE_COLS: &str = "id, code, kind, state, version, region, registered_unit, registered_unit_path, handling_unit, handling_unit_path, \
    cohandling, accused_unit_path, accused_users, matter_type, category, channel, title, query_secret_hash, \
    client_request_id, created_us, updated_us, next_due_us, next_warn_us, state_json, parent_id, next_timer_us, site_code, state_since_us";

fn case_from(r: &AnyRow) -> StoreResult<CaseRow> {
    Ok(CaseRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        version: r.try_get("version")?,
        region: r.try_get("region")?,
        registered_unit: r.try_get("registered_unit")?,
        registered_unit_path: r.try_get("registered_unit_path")?,
        handling_unit: r.try_get("handling_unit")?,
        handling_unit_path: r.try_get("handling_unit_path")?,
        cohandling: parse_id_list(&r.try_get::<String, _>("cohandling")?),
        accused_unit_path: r.try_get("accused_unit_path")?,
        accused_users: parse_id_list(&r.try_get::<String, _>("accused_users")?),
        matter_type: r.try_get("matter_type")?,
        category: r.try_get("category")?,
        channel: r.try_get("channel")?,
        title: r.try_get("title")?,
        query_secret_hash: r.try_get("query_secret_hash")?,
        client_request_id: r.try_get("client_request_id")?,
        created_at: from_us(r.try_get("created_us")?),
        updated_at: from_us(r.try_get("updated_us")?),
        next_due_at: deadline_from(r.try_get("next_due_us")?),
        next_warn_at: deadline_from(r.try_get("next_warn_us")?),
        state_json: r.try_get("state_json")?,
        parent_id: r.try_get("parent_id")?,
        next_timer_at: deadline_from(r.try_get("next_timer_us")?),
        site_code: r.try_get("site_code")?,
        state_since: from_us(r.try_get("state_since_us")?),
    })
}

/// What `append` and `set_next_deadline` read of a case before changing it, to move its tally counts.
const TALLY_COLS: &str = "version, kind, category, state, registered_unit, handling_unit, created_us, state_since_us, next_due_us, next_warn_us";

/// The tally keys of a case row read with `TALLY_COLS`; `deadlines` replaces its due and warning times (when
/// `set_next_deadline` is about to change them).
type Deadlines = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
fn tally_keys_of(r: &AnyRow, deadlines: Option<Deadlines>) -> StoreResult<Vec<TallyKey>> {
    let (kind, category, state): (String, Option<String>, String) =
        (r.try_get("kind")?, r.try_get("category")?, r.try_get("state")?);
    let handling: Option<i64> = r.try_get("handling_unit")?;
    let (next_due_at, next_warn_at) = match deadlines {
        Some(d) => d,
        None => (deadline_from(r.try_get("next_due_us")?), deadline_from(r.try_get("next_warn_us")?)),
    };
    Ok(TallyFacts {
        kind: &kind,
        category: category.as_deref(),
        state: &state,
        unit_id: handling.map_or_else(|| r.try_get("registered_unit"), Ok)?,
        created_at: from_us(r.try_get("created_us")?),
        state_since: from_us(r.try_get("state_since_us")?),
        next_due_at,
        next_warn_at,
    }
    .keys())
}

fn tally_from(r: &AnyRow) -> StoreResult<Tally> {
    let name: String = r.try_get("name")?;
    let name = [TallyName::Received, TallyName::State, TallyName::Due, TallyName::Warn]
        .into_iter()
        .find(|n| n.as_str() == name)
        .ok_or_else(|| StoreError::Domain(DomainError::new(ErrorCode::Internal, format!("未知的统计项 {name}"))))?;
    Ok(Tally {
        key: TallyKey {
            name,
            bucket: r.try_get("bucket")?,
            unit_id: r.try_get("unit_id")?,
            kind: r.try_get("kind")?,
            tag: r.try_get("tag")?,
        },
        n: r.try_get("n")?,
    })
}

impl SqlStore {
    /// Moves one case's counts from the keys it counted under to the keys it counts under now.
    async fn apply_tallies(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        old: &[TallyKey],
        new: &[TallyKey],
    ) -> StoreResult<()> {
        for (keys, others, delta) in [(old, new, -1i64), (new, old, 1)] {
            for k in keys.iter().filter(|k| !others.contains(k)) {
                query!(
                    self,
                    "INSERT INTO tallies (name, bucket, unit_id, kind, tag, n) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (name, bucket, unit_id, kind, tag) DO UPDATE SET n = tallies.n + excluded.n"
                )
                .bind(k.name.as_str())
                .bind(k.bucket)
                .bind(k.unit_id)
                .bind(&k.kind)
                .bind(&k.tag)
                .bind(delta)
                .execute(&mut **tx)
                .await?;
            }
        }
        // Day buckets move on constantly: rows counted down to nothing go, so the table stays the size of what
        // is counted.
        for k in old.iter().filter(|k| !new.contains(k)) {
            query!(
                self,
                "DELETE FROM tallies WHERE name = ? AND bucket = ? AND unit_id = ? AND kind = ? AND tag = ? AND n = 0"
            )
            .bind(k.name.as_str())
            .bind(k.bucket)
            .bind(k.unit_id)
            .bind(&k.kind)
            .bind(&k.tag)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

fn shift_from(r: &AnyRow) -> StoreResult<Shift> {
    Ok(Shift {
        id: r.try_get("id")?,
        unit_id: r.try_get("unit_id")?,
        starts_at: from_us(r.try_get("starts_us")?),
        ends_at: from_us(r.try_get("ends_us")?),
        post: r.try_get("post")?,
        user_id: r.try_get("user_id")?,
        phone: r.try_get("phone")?,
        created_by: r.try_get("created_by")?,
    })
}

const ACCOUNTABILITY_COLS: &str = "id, official_id, unit_id, unit_path, finding, measure, decided_by, decided_on, \
     case_ids, cause_case_id, cause_seq, recorded_by, recorded_us";

fn accountability_from(r: &AnyRow) -> StoreResult<Accountability> {
    let ids: String = r.try_get("case_ids")?;
    let cause_case: Option<i64> = r.try_get("cause_case_id")?;
    let cause_seq: Option<i64> = r.try_get("cause_seq")?;
    Ok(Accountability {
        id: r.try_get("id")?,
        official_id: r.try_get("official_id")?,
        unit_id: r.try_get("unit_id")?,
        unit_path: r.try_get("unit_path")?,
        finding: r.try_get("finding")?,
        measure: r.try_get("measure")?,
        decided_by: r.try_get("decided_by")?,
        decided_on: r.try_get("decided_on")?,
        case_ids: ids.split(',').filter_map(|i| i.parse().ok()).collect(),
        cause: cause_case.zip(cause_seq),
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: from_us(r.try_get("recorded_us")?),
    })
}

const CIRCULAR_COLS: &str = "id, period, unit_id, unit_path, scheme_id, scheme_version, title, leader_text, \
     report_json, published_by, published_us";

fn circular_from(r: &AnyRow) -> StoreResult<Circular> {
    Ok(Circular {
        id: r.try_get("id")?,
        period: r.try_get("period")?,
        unit_id: r.try_get("unit_id")?,
        unit_path: r.try_get("unit_path")?,
        scheme_id: r.try_get("scheme_id")?,
        scheme_version: r.try_get("scheme_version")?,
        title: r.try_get("title")?,
        leader_text: r.try_get("leader_text")?,
        report_json: r.try_get("report_json")?,
        published_by: r.try_get("published_by")?,
        published_at: from_us(r.try_get("published_us")?),
    })
}

fn swap_from(r: &AnyRow) -> StoreResult<Swap> {
    Ok(Swap {
        id: r.try_get("id")?,
        shift_id: r.try_get("shift_id")?,
        to_user_id: r.try_get("to_user_id")?,
        reason: r.try_get("reason")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: from_us(r.try_get("requested_us")?),
        status: r.try_get("status")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_us")?.map(from_us),
    })
}

fn site_from(r: &AnyRow) -> StoreResult<Site> {
    Ok(Site {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        sector: r.try_get("sector")?,
        unit_id: r.try_get("unit_id")?,
        address: r.try_get("address")?,
        visitor_retention_days: r.try_get("visitor_retention_days")?,
    })
}

fn notification_from(r: &AnyRow) -> StoreResult<Notification> {
    Ok(Notification {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        created_at: from_us(r.try_get("created_us")?),
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        case_id: r.try_get("case_id")?,
        case_code: r.try_get("case_code")?,
        read_at: r.try_get::<Option<i64>, _>("read_us")?.map(from_us),
    })
}

fn visit_from(r: &AnyRow) -> StoreResult<VisitorLog> {
    Ok(VisitorLog {
        id: r.try_get("id")?,
        site_code: r.try_get("site_code")?,
        name_sealed: r.try_get("name_sealed")?,
        name_masked: r.try_get("name_masked")?,
        phone_sealed: r.try_get("phone_sealed")?,
        phone_masked: r.try_get("phone_masked")?,
        purpose: r.try_get("purpose")?,
        host: r.try_get("host")?,
        signed_in_at: from_us(r.try_get("signed_in_us")?),
        signed_out_at: r.try_get::<Option<i64>, _>("signed_out_us")?.map(from_us),
        recorded_by: r.try_get("recorded_by")?,
    })
}

fn slot_from(r: &AnyRow) -> StoreResult<ReceptionSlot> {
    Ok(ReceptionSlot {
        id: r.try_get("id")?,
        unit_id: r.try_get("unit_id")?,
        leader_id: r.try_get("leader_id")?,
        starts_at: from_us(r.try_get("starts_us")?),
        ends_at: from_us(r.try_get("ends_us")?),
        place: r.try_get("place")?,
        topic: r.try_get("topic")?,
        capacity: r.try_get("capacity")?,
        created_by: r.try_get("created_by")?,
    })
}

fn booking_from(r: &AnyRow) -> StoreResult<Booking> {
    Ok(Booking {
        id: r.try_get("id")?,
        slot_id: r.try_get("slot_id")?,
        case_id: r.try_get("case_id")?,
        request: r.try_get("request")?,
        requested_at: from_us(r.try_get("requested_us")?),
        status: r.try_get("status")?,
        reply: r.try_get("reply")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_us")?.map(from_us),
        record_case_id: r.try_get("record_case_id")?,
    })
}

const SHIFT_COLS: &str = "id, unit_id, starts_us, ends_us, post, user_id, phone, created_by";
const SLOT_COLS: &str = "id, unit_id, leader_id, starts_us, ends_us, place, topic, capacity, created_by";
const BOOKING_COLS: &str =
    "id, slot_id, case_id, request, requested_us, status, reply, decided_by, decided_us, record_case_id";

const VISIT_COLS: &str = "id, site_code, name_sealed, name_masked, phone_sealed, phone_masked, purpose, host, \
                          signed_in_us, signed_out_us, recorded_by";

const EVENT_COLS: &str = "seq, case_id, case_seq, at_us, actor_id, actor_unit, actor_role, action, from_state, to_state, payload, prev_hash, hash";

fn event_from(r: &AnyRow) -> StoreResult<CaseEvent> {
    Ok(CaseEvent {
        seq: r.try_get("seq")?,
        case_id: r.try_get("case_id")?,
        case_seq: r.try_get("case_seq")?,
        at: from_us(r.try_get("at_us")?),
        actor_id: r.try_get("actor_id")?,
        actor_unit: r.try_get("actor_unit")?,
        actor_role: r.try_get("actor_role")?,
        action: r.try_get("action")?,
        from_state: r.try_get("from_state")?,
        to_state: r.try_get("to_state")?,
        payload: r.try_get("payload")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

const AUDIT_COLS: &str =
    "seq, at_us, user_id, username, role, unit_id, source, event, object, result, detail, prev_hash, hash";

fn audit_from(r: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: from_us(r.try_get("at_us")?),
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        role: r.try_get("role")?,
        unit_id: r.try_get("unit_id")?,
        source: r.try_get("source")?,
        event: r.try_get("event")?,
        object: r.try_get("object")?,
        result: r.try_get("result")?,
        detail: r.try_get("detail")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn party_from(r: &AnyRow) -> StoreResult<PartyRow> {
    Ok(PartyRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        party: NewParty {
            role: r.try_get("role")?,
            name_enc: r.try_get("name_enc")?,
            phone_enc: r.try_get("phone_enc")?,
            id_number_enc: r.try_get("id_number_enc")?,
            address_enc: r.try_get("address_enc")?,
            name_masked: r.try_get("name_masked")?,
            phone_masked: r.try_get("phone_masked")?,
            id_number_masked: r.try_get("id_number_masked")?,
            address_masked: r.try_get("address_masked")?,
            phone_index: r.try_get("phone_index")?,
            id_index: r.try_get("id_index")?,
        },
    })
}

fn grid_from(r: &AnyRow) -> StoreResult<Grid> {
    Ok(Grid {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        layer: r.try_get("layer")?,
        unit_id: r.try_get("unit_id")?,
        owner_user_id: r.try_get("owner_user_id")?,
    })
}

fn attachment_from(r: &AnyRow) -> StoreResult<AttachmentMeta> {
    Ok(AttachmentMeta {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        event_seq: r.try_get("event_seq")?,
        name: r.try_get("name")?,
        mime: r.try_get("mime")?,
        size: r.try_get("size")?,
        sm3: r.try_get("sm3")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().contains("UNIQUE") || d.message().contains("duplicate key")
        }
        _ => false,
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn create_unit(&self, u: NewUnit) -> StoreResult<Unit> {
        let mut tx = self.begin_write().await?;
        let parent_path = match u.parent_id {
            Some(p) => {
                let row = query!(self, "SELECT path FROM units WHERE id = ?").bind(p).fetch_optional(&mut *tx).await?;
                match row {
                    Some(r) => r.try_get::<String, _>("path")?,
                    None => return Err(DomainError::new(ErrorCode::NotFound, format!("上级单位 {p} 不存在")).into()),
                }
            }
            None => "/".to_string(),
        };
        let res = query!(
            self,
            "INSERT INTO units (parent_id, code, name, level, path, created_us) VALUES (?, ?, ?, ?, '', ?) RETURNING id"
        )
        .bind(u.parent_id)
        .bind(&u.code)
        .bind(&u.name)
        .bind(&u.level)
        .bind(us(Utc::now()))
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match res {
            Ok(r) => r.try_get("id")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::new(ErrorCode::InvalidInput, format!("单位代码 {} 已存在", u.code)).into());
            }
            Err(e) => return Err(e.into()),
        };
        let path = format!("{parent_path}{id}/");
        query!(self, "UPDATE units SET path = ? WHERE id = ?").bind(&path).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Unit { id, parent_id: u.parent_id, code: u.code, name: u.name, level: u.level, path })
    }

    async fn unit(&self, id: i64) -> StoreResult<Option<Unit>> {
        let row = query!(self, "SELECT id, parent_id, code, name, level, path FROM units WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(unit_from).transpose()
    }

    async fn create_grid(&self, g: Grid) -> StoreResult<Grid> {
        query!(
            self,
            "INSERT INTO grids (code, name, layer, unit_id, owner_user_id, created_us) VALUES (?, ?, ?, ?, ?, ?)"
        )
        .bind(&g.code)
        .bind(&g.name)
        .bind(&g.layer)
        .bind(g.unit_id)
        .bind(g.owner_user_id)
        .bind(us(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Domain(DomainError::new(ErrorCode::InvalidInput, format!("网格 {} 已存在", g.code)))
            } else {
                e.into()
            }
        })?;
        Ok(g)
    }

    async fn grids(&self) -> StoreResult<Vec<Grid>> {
        let rows = query!(self, "SELECT code, name, layer, unit_id, owner_user_id FROM grids ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grid_from).collect()
    }

    async fn grid(&self, code: &str) -> StoreResult<Option<Grid>> {
        let row = query!(self, "SELECT code, name, layer, unit_id, owner_user_id FROM grids WHERE code = ?")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(grid_from).transpose()
    }

    async fn create_site(&self, site: Site) -> StoreResult<Site> {
        query!(
            self,
            "INSERT INTO sites (code, name, sector, unit_id, address, visitor_retention_days, created_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        .bind(&site.code)
        .bind(&site.name)
        .bind(&site.sector)
        .bind(site.unit_id)
        .bind(&site.address)
        .bind(site.visitor_retention_days)
        .bind(us(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Domain(DomainError::new(
                    ErrorCode::InvalidInput,
                    format!("场所编码 {} 已被使用", site.code),
                ))
            } else {
                e.into()
            }
        })?;
        Ok(site)
    }

    async fn sites(&self) -> StoreResult<Vec<Site>> {
        let rows = query!(
            self,
            "SELECT code, name, sector, unit_id, address, visitor_retention_days FROM sites ORDER BY code"
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(site_from).collect()
    }

    async fn site(&self, code: &str) -> StoreResult<Option<Site>> {
        let row = query!(
            self,
            "SELECT code, name, sector, unit_id, address, visitor_retention_days FROM sites WHERE code = ?"
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(site_from).transpose()
    }

    async fn create_shifts(&self, shifts: Vec<Shift>) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = vec![];
        for s in shifts {
            let row = query!(
                self,
                "INSERT INTO duty_shifts (unit_id, starts_us, ends_us, post, user_id, phone, created_by, created_us) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
            )
            .bind(s.unit_id)
            .bind(us(s.starts_at))
            .bind(us(s.ends_at))
            .bind(&s.post)
            .bind(s.user_id)
            .bind(&s.phone)
            .bind(s.created_by)
            .bind(us(Utc::now()))
            .fetch_one(&mut *tx)
            .await?;
            ids.push(row.try_get("id")?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn shifts(&self, unit_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Shift>> {
        let rows = query!(
            self,
            &format!(
                "SELECT {SHIFT_COLS} FROM duty_shifts \
                 WHERE unit_id = ? AND ends_us > ? AND starts_us < ? ORDER BY starts_us, post, id"
            )
        )
        .bind(unit_id)
        .bind(us(from))
        .bind(us(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(shift_from).collect()
    }

    async fn shift(&self, id: i64) -> StoreResult<Option<Shift>> {
        let row = query!(self, &format!("SELECT {SHIFT_COLS} FROM duty_shifts WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(shift_from).transpose()
    }

    async fn create_swap(&self, s: Swap) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO duty_swaps (shift_id, to_user_id, reason, requested_by, requested_us, status) \
             VALUES (?, ?, ?, ?, ?, 'pending') RETURNING id"
        )
        .bind(s.shift_id)
        .bind(s.to_user_id)
        .bind(&s.reason)
        .bind(s.requested_by)
        .bind(us(s.requested_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn swaps(&self, shift_ids: &[i64]) -> StoreResult<Vec<Swap>> {
        let mut out = vec![];
        for chunk in shift_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT id, shift_id, to_user_id, reason, requested_by, requested_us, status, decided_by, decided_us \
                 FROM duty_swaps WHERE shift_id IN ({marks}) ORDER BY id"
            );
            let mut q = query!(self, &sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(swap_from(&r)?);
            }
        }
        Ok(out)
    }

    async fn decide_swap(&self, id: i64, approve: bool, by: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let res = query!(
            self,
            "UPDATE duty_swaps SET status = ?, decided_by = ?, decided_us = ? WHERE id = ? AND status = 'pending'"
        )
        .bind(if approve { "approved" } else { "rejected" })
        .bind(by)
        .bind(us(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn create_notifications(&self, notes: Vec<Notification>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for n in notes {
            query!(
                self,
                "INSERT INTO notifications (user_id, created_us, title, body, case_id) VALUES (?, ?, ?, ?, ?)"
            )
            .bind(n.user_id)
            .bind(us(n.created_at))
            .bind(&n.title)
            .bind(&n.body)
            .bind(n.case_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(&self, user_id: i64, limit: i64) -> StoreResult<Vec<Notification>> {
        let rows = query!(
            self,
            "SELECT n.id, n.user_id, n.created_us, n.title, n.body, n.case_id, c.code AS case_code, n.read_us \
             FROM notifications n LEFT JOIN cases c ON c.id = n.case_id WHERE n.user_id = ? \
             ORDER BY CASE WHEN n.read_us IS NULL THEN 0 ELSE 1 END, n.created_us DESC, n.id DESC LIMIT ?"
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from).collect()
    }

    async fn unsent_notifications(
        &self,
        since: DateTime<Utc>,
        max_attempts: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        let rows = query!(
            self,
            "SELECT n.id, n.user_id, n.created_us, n.title, n.body, n.case_id, c.code AS case_code, n.read_us \
             FROM notifications n LEFT JOIN cases c ON c.id = n.case_id \
             WHERE n.sent_us IS NULL AND n.id > ? AND n.send_attempts < ? AND n.created_us >= ? ORDER BY n.id LIMIT ?"
        )
        .bind(after)
        .bind(max_attempts)
        .bind(us(since))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from).collect()
    }

    async fn mark_notification_sent(&self, id: i64, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let sql = match at {
            Some(_) => "UPDATE notifications SET sent_us = ? WHERE id = ?",
            None => "UPDATE notifications SET send_attempts = send_attempts + 1 WHERE id = ?",
        };
        let mut q = query!(self, sql);
        if let Some(at) = at {
            q = q.bind(us(at));
        }
        q.bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn mark_notification_read(&self, user_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let res = query!(self, "UPDATE notifications SET read_us = ? WHERE id = ? AND user_id = ? AND read_us IS NULL")
            .bind(us(at))
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn create_visit(&self, v: VisitorLog) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO visitor_logs (site_code, name_sealed, name_masked, phone_sealed, phone_masked, purpose, \
             host, signed_in_us, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        .bind(&v.site_code)
        .bind(&v.name_sealed)
        .bind(&v.name_masked)
        .bind(&v.phone_sealed)
        .bind(&v.phone_masked)
        .bind(&v.purpose)
        .bind(&v.host)
        .bind(us(v.signed_in_at))
        .bind(v.recorded_by)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn sign_out_visit(&self, site_code: &str, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let res = query!(
            self,
            "UPDATE visitor_logs SET signed_out_us = ? WHERE id = ? AND site_code = ? AND signed_out_us IS NULL"
        )
        .bind(us(at))
        .bind(id)
        .bind(site_code)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn visits(&self, site_code: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<VisitorLog>> {
        let sql = format!(
            "SELECT {VISIT_COLS} FROM visitor_logs WHERE site_code = ? AND signed_in_us >= ? AND signed_in_us < ? \
             ORDER BY signed_in_us DESC, id DESC"
        );
        let rows = query!(self, &sql).bind(site_code).bind(us(from)).bind(us(to)).fetch_all(&self.pool).await?;
        rows.iter().map(visit_from).collect()
    }

    async fn purge_visits(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>> {
        // A visit is kept while signed_in_us >= now - retention; 86_400_000_000 microseconds a day.
        let expired = "signed_in_us < ? - (SELECT visitor_retention_days FROM sites s WHERE s.code = site_code) \
                       * 86400000000";
        let mut tx = self.pool.begin().await?;
        let count = format!("SELECT site_code, COUNT(*) AS n FROM visitor_logs WHERE {expired} GROUP BY site_code");
        let rows = query!(self, &count).bind(us(now)).fetch_all(&mut *tx).await?;
        let mut counts = rows
            .iter()
            .map(|r| Ok((r.try_get("site_code")?, r.try_get("n")?)))
            .collect::<StoreResult<Vec<(String, i64)>>>()?;
        counts.sort();
        if !counts.is_empty() {
            let delete = format!("DELETE FROM visitor_logs WHERE {expired}");
            query!(self, &delete).bind(us(now)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    async fn create_slot(&self, slot: ReceptionSlot) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO reception_slots (unit_id, leader_id, starts_us, ends_us, place, topic, capacity, created_by, \
             created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        .bind(slot.unit_id)
        .bind(slot.leader_id)
        .bind(us(slot.starts_at))
        .bind(us(slot.ends_at))
        .bind(&slot.place)
        .bind(&slot.topic)
        .bind(slot.capacity)
        .bind(slot.created_by)
        .bind(us(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn slots(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<ReceptionSlot>> {
        let sql = format!(
            "SELECT {SLOT_COLS} FROM reception_slots WHERE ends_us > ? AND starts_us < ? ORDER BY starts_us, id"
        );
        let rows = query!(self, &sql).bind(us(from)).bind(us(to)).fetch_all(&self.pool).await?;
        rows.iter().map(slot_from).collect()
    }

    async fn slot(&self, id: i64) -> StoreResult<Option<ReceptionSlot>> {
        let sql = format!("SELECT {SLOT_COLS} FROM reception_slots WHERE id = ?");
        let row = query!(self, &sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(slot_from).transpose()
    }

    async fn create_booking(&self, b: Booking, capacity: i64) -> StoreResult<Option<i64>> {
        // Counted and written in one transaction so two requests cannot both take the last place.
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                query!(self, "SELECT id FROM reception_slots WHERE id = ? FOR UPDATE")
                    .bind(b.slot_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx
            }
        };
        let taken: i64 = query!(
            self,
            "SELECT COUNT(*) AS n FROM reception_bookings WHERE slot_id = ? AND status IN ('requested', 'confirmed', 'held')"
        )
        .bind(b.slot_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if taken >= capacity {
            return Ok(None);
        }
        let row = query!(
            self,
            "INSERT INTO reception_bookings (slot_id, case_id, request, requested_us, status) \
             VALUES (?, ?, ?, ?, 'requested') RETURNING id"
        )
        .bind(b.slot_id)
        .bind(b.case_id)
        .bind(&b.request)
        .bind(us(b.requested_at))
        .fetch_one(&mut *tx)
        .await?;
        let id = row.try_get("id")?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn bookings(&self, slot_ids: &[i64], case_id: Option<i64>) -> StoreResult<Vec<Booking>> {
        let mut out = vec![];
        if let Some(case_id) = case_id {
            let sql = format!("SELECT {BOOKING_COLS} FROM reception_bookings WHERE case_id = ? ORDER BY id");
            let rows = query!(self, &sql).bind(case_id).fetch_all(&self.pool).await?;
            return rows.iter().map(booking_from).collect();
        }
        for chunk in slot_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT {BOOKING_COLS} FROM reception_bookings WHERE slot_id IN ({marks}) ORDER BY id");
            let mut q = query!(self, &sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(booking_from(&r)?);
            }
        }
        Ok(out)
    }

    async fn decide_booking(
        &self,
        id: i64,
        confirm: bool,
        reply: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let res = query!(
            self,
            "UPDATE reception_bookings SET status = ?, reply = ?, decided_by = ?, decided_us = ? \
             WHERE id = ? AND status = 'requested'"
        )
        .bind(if confirm { "confirmed" } else { "declined" })
        .bind(reply)
        .bind(by)
        .bind(us(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn hold_booking(&self, id: i64, record_case_id: i64) -> StoreResult<bool> {
        let res = query!(
            self,
            "UPDATE reception_bookings SET status = 'held', record_case_id = ? WHERE id = ? AND status = 'confirmed'"
        )
        .bind(record_case_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn units(&self) -> StoreResult<Vec<Unit>> {
        let rows = query!(self, "SELECT id, parent_id, code, name, level, path FROM units ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(unit_from).collect()
    }

    async fn create_responsibility(&self, r: Responsibility) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO responsibilities (unit_id, kind, user_id, post, duties, starts_on, created_by, created_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        .bind(r.unit_id)
        .bind(&r.kind)
        .bind(r.user_id)
        .bind(&r.post)
        .bind(&r.duties)
        .bind(&r.starts_on)
        .bind(r.created_by)
        .bind(us(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn end_responsibility(&self, id: i64, ends_on: &str, by: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = query!(
            self,
            "UPDATE responsibilities SET ends_on = ?, ended_by = ?, ended_us = ? WHERE id = ? AND ends_on IS NULL"
        )
        .bind(ends_on)
        .bind(by)
        .bind(us(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn responsibilities(&self, unit_ids: &[i64]) -> StoreResult<Vec<Responsibility>> {
        let filter = if unit_ids.is_empty() {
            String::new()
        } else {
            format!("WHERE unit_id IN ({})", unit_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","))
        };
        let rows = query!(
            self,
            &format!(
                "SELECT id, unit_id, kind, user_id, post, duties, starts_on, ends_on, created_by \
                 FROM responsibilities {filter} ORDER BY starts_on, id"
            )
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Responsibility {
                    id: r.try_get("id")?,
                    unit_id: r.try_get("unit_id")?,
                    kind: r.try_get("kind")?,
                    user_id: r.try_get("user_id")?,
                    post: r.try_get("post")?,
                    duties: r.try_get("duties")?,
                    starts_on: r.try_get("starts_on")?,
                    ends_on: r.try_get("ends_on")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn card_candidates(&self, now: DateTime<Utc>, after: (i64, i64), limit: i64) -> StoreResult<Vec<(i64, i64)>> {
        let rows = query!(
            self,
            "SELECT c.next_warn_us, c.id FROM cases c WHERE c.next_warn_us <= ? \
             AND (c.next_warn_us > ? OR (c.next_warn_us = ? AND c.id > ?)) AND NOT EXISTS (SELECT 1 FROM cards k \
             WHERE k.case_id = c.id AND k.due_us = c.next_due_us \
             AND k.colour = CASE WHEN c.next_due_us <= ? THEN 'red' ELSE 'yellow' END) \
             ORDER BY c.next_warn_us, c.id LIMIT ?"
        )
        .bind(us(now))
        .bind(after.0)
        .bind(after.0)
        .bind(after.1)
        .bind(us(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("next_warn_us")?, r.try_get("id")?))).collect()
    }

    async fn create_cards(&self, cards: Vec<Card>) -> StoreResult<Vec<Card>> {
        let mut tx = self.pool.begin().await?;
        let mut written = vec![];
        for mut k in cards {
            let row = query!(
                self,
                "INSERT INTO cards (case_id, clock, due_us, colour, unit_id, unit_path, issued_us) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_id, clock, due_us, colour) DO NOTHING RETURNING id"
            )
            .bind(k.case_id)
            .bind(&k.clock)
            .bind(us(k.due_at))
            .bind(&k.colour)
            .bind(k.unit_id)
            .bind(&k.unit_path)
            .bind(us(k.issued_at))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                k.id = row.try_get("id")?;
                written.push(k);
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn cards(&self, unit_path: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Card>> {
        let rows = query!(
            self,
            "SELECT k.id, k.case_id, k.clock, k.due_us, k.colour, k.unit_id, k.unit_path, k.issued_us, \
             c.code, c.title, c.kind FROM cards k JOIN cases c ON c.id = k.case_id \
             WHERE k.issued_us >= ? AND k.issued_us < ? AND k.unit_path LIKE ? ORDER BY k.issued_us DESC, k.id DESC"
        )
        .bind(us(from))
        .bind(us(to))
        .bind(format!("{unit_path}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Card {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    clock: r.try_get("clock")?,
                    due_at: from_us(r.try_get("due_us")?),
                    colour: r.try_get("colour")?,
                    unit_id: r.try_get("unit_id")?,
                    unit_path: r.try_get("unit_path")?,
                    issued_at: from_us(r.try_get("issued_us")?),
                    case_code: r.try_get("code")?,
                    case_title: r.try_get("title")?,
                    case_kind: r.try_get("kind")?,
                })
            })
            .collect()
    }

    async fn card_counts(
        &self,
        unit_path: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(i64, i64, i64)>> {
        let rows = query!(
            self,
            "SELECT unit_id, SUM(CASE WHEN colour = 'red' THEN 0 ELSE 1 END) AS yellow, \
             SUM(CASE WHEN colour = 'red' THEN 1 ELSE 0 END) AS red FROM cards \
             WHERE issued_us >= ? AND issued_us < ? AND unit_path LIKE ? GROUP BY unit_id"
        )
        .bind(us(from))
        .bind(us(to))
        .bind(format!("{unit_path}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("unit_id")?, r.try_get("yellow")?, r.try_get("red")?))).collect()
    }

    async fn tally_sums(
        &self,
        name: TallyName,
        (from, to): (i64, i64),
        unit_path: &str,
        by: TallyGroup,
    ) -> StoreResult<Vec<Tally>> {
        let (lo, hi) = subtree_range(unit_path);
        // The units as a list the tally's key range is checked against (a join would walk the range once per
        // unit); sums are taken in the database, so a few hundred rows come back, not every day of every unit.
        let (cols, group) = match by {
            TallyGroup::Bucket => ("bucket, 0 AS unit_id", "bucket"),
            TallyGroup::Unit => ("0 AS bucket, unit_id", "unit_id"),
        };
        let rows = query!(
            self,
            &format!(
                "SELECT '{}' AS name, {cols}, kind, tag, CAST(SUM(n) AS BIGINT) AS n FROM tallies \
                 WHERE name = ? AND bucket >= ? AND bucket <= ? AND unit_id IN (SELECT id FROM units WHERE path >= ? AND path < ?) \
                 GROUP BY {group}, kind, tag HAVING SUM(n) <> 0",
                name.as_str()
            )
        )
        .bind(name.as_str())
        .bind(from)
        .bind(to)
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tally_from).collect()
    }

    async fn all_tallies(&self) -> StoreResult<Vec<Tally>> {
        let rows = query!(self, "SELECT name, bucket, unit_id, kind, tag, n FROM tallies WHERE n <> 0")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tally_from).collect()
    }

    async fn deadlines_between(
        &self,
        name: TallyName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit_path: &str,
    ) -> StoreResult<Vec<(i64, String)>> {
        let column = match name {
            TallyName::Due => "next_due_us",
            TallyName::Warn => "next_warn_us",
            TallyName::Received | TallyName::State => return Ok(vec![]),
        };
        let (lo, hi) = subtree_range(unit_path);
        let rows = query!(
            self,
            &format!(
                "SELECT COALESCE(handling_unit, registered_unit) AS unit_id, kind FROM cases \
                 WHERE {column} >= ? AND {column} < ? AND COALESCE(handling_unit_path, registered_unit_path) >= ? \
                 AND COALESCE(handling_unit_path, registered_unit_path) < ?"
            )
        )
        .bind(us(from))
        .bind(us(to))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("unit_id")?, r.try_get("kind")?))).collect()
    }

    async fn create_campaign(&self, c: Campaign) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO campaigns (name, unit_id, unit_path, starts_on, ends_on, target_rate, created_by, created_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        .bind(&c.name)
        .bind(c.unit_id)
        .bind(&c.unit_path)
        .bind(&c.starts_on)
        .bind(&c.ends_on)
        .bind(c.target_rate)
        .bind(c.created_by)
        .bind(us(c.created_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn campaigns(&self) -> StoreResult<Vec<Campaign>> {
        let rows =
            query!(self, "SELECT * FROM campaigns ORDER BY starts_on DESC, id DESC").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Campaign {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    unit_id: r.try_get("unit_id")?,
                    unit_path: r.try_get("unit_path")?,
                    starts_on: r.try_get("starts_on")?,
                    ends_on: r.try_get("ends_on")?,
                    target_rate: r.try_get("target_rate")?,
                    created_by: r.try_get("created_by")?,
                    created_at: from_us(r.try_get("created_us")?),
                })
            })
            .collect()
    }

    async fn create_letter(&self, l: Letter) -> StoreResult<Option<i64>> {
        let row = query!(
            self,
            "INSERT INTO target_letters (unit_id, unit_path, issuer_unit_id, period, title, unit_signer, issuer_signer, \
             signed_on, items_json, scheme_id, scheme_version, created_by, created_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (unit_id, period, scheme_id) DO NOTHING RETURNING id"
        )
        .bind(l.unit_id)
        .bind(&l.unit_path)
        .bind(l.issuer_unit_id)
        .bind(&l.period)
        .bind(&l.title)
        .bind(&l.unit_signer)
        .bind(&l.issuer_signer)
        .bind(&l.signed_on)
        .bind(&l.items_json)
        .bind(&l.scheme_id)
        .bind(l.scheme_version)
        .bind(l.created_by)
        .bind(us(l.created_at))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("id")).transpose().map_err(Into::into)
    }

    async fn letters(&self) -> StoreResult<Vec<Letter>> {
        let rows =
            query!(self, "SELECT * FROM target_letters ORDER BY period DESC, id DESC").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Letter {
                    id: r.try_get("id")?,
                    unit_id: r.try_get("unit_id")?,
                    unit_path: r.try_get("unit_path")?,
                    issuer_unit_id: r.try_get("issuer_unit_id")?,
                    period: r.try_get("period")?,
                    title: r.try_get("title")?,
                    unit_signer: r.try_get("unit_signer")?,
                    issuer_signer: r.try_get("issuer_signer")?,
                    signed_on: r.try_get("signed_on")?,
                    items_json: r.try_get("items_json")?,
                    scheme_id: r.try_get("scheme_id")?,
                    scheme_version: r.try_get("scheme_version")?,
                    created_by: r.try_get("created_by")?,
                    created_at: from_us(r.try_get("created_us")?),
                })
            })
            .collect()
    }

    async fn create_accountability(&self, r: Accountability) -> StoreResult<i64> {
        let ids = r.case_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let row = query!(
            self,
            "INSERT INTO accountability (official_id, unit_id, unit_path, finding, measure, decided_by, decided_on, \
             case_ids, cause_case_id, cause_seq, recorded_by, recorded_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        .bind(r.official_id)
        .bind(r.unit_id)
        .bind(&r.unit_path)
        .bind(&r.finding)
        .bind(&r.measure)
        .bind(&r.decided_by)
        .bind(&r.decided_on)
        .bind(ids)
        .bind(r.cause.map(|c| c.0))
        .bind(r.cause.map(|c| c.1))
        .bind(r.recorded_by)
        .bind(us(r.recorded_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn accountability(&self, id: i64) -> StoreResult<Option<Accountability>> {
        let row = query!(self, &format!("SELECT {ACCOUNTABILITY_COLS} FROM accountability WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(accountability_from).transpose()
    }

    async fn accountability_records(&self, unit_path: &str, official: Option<i64>) -> StoreResult<Vec<Accountability>> {
        let rows = match official {
            Some(official) => query!(
                self,
                &format!(
                    "SELECT {ACCOUNTABILITY_COLS} FROM accountability WHERE official_id = ? ORDER BY recorded_us DESC, id DESC"
                )
            )
            .bind(official),
            None => query!(
                self,
                &format!(
                    "SELECT {ACCOUNTABILITY_COLS} FROM accountability WHERE unit_path LIKE ? \
                     ORDER BY recorded_us DESC, id DESC"
                )
            )
            .bind(format!("{unit_path}%")),
        }
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(accountability_from).collect()
    }

    async fn add_statement(&self, s: Statement) -> StoreResult<i64> {
        let row = query!(
            self,
            "INSERT INTO accountability_statements (record_id, author_id, text, at_us) VALUES (?, ?, ?, ?) RETURNING id"
        )
        .bind(s.record_id)
        .bind(s.author_id)
        .bind(&s.text)
        .bind(us(s.at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn statements(&self, record_id: i64) -> StoreResult<Vec<Statement>> {
        let rows = query!(
            self,
            "SELECT id, record_id, author_id, text, at_us FROM accountability_statements WHERE record_id = ? ORDER BY id"
        )
        .bind(record_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Statement {
                    id: r.try_get("id")?,
                    record_id: r.try_get("record_id")?,
                    author_id: r.try_get("author_id")?,
                    text: r.try_get("text")?,
                    at: from_us(r.try_get("at_us")?),
                })
            })
            .collect()
    }

    async fn create_circular(&self, c: Circular) -> StoreResult<Option<i64>> {
        let row = query!(
            self,
            "INSERT INTO circulars (period, unit_id, unit_path, scheme_id, scheme_version, title, leader_text, \
             report_json, published_by, published_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (period, unit_id, scheme_id) DO NOTHING RETURNING id"
        )
        .bind(&c.period)
        .bind(c.unit_id)
        .bind(&c.unit_path)
        .bind(&c.scheme_id)
        .bind(c.scheme_version)
        .bind(&c.title)
        .bind(&c.leader_text)
        .bind(&c.report_json)
        .bind(c.published_by)
        .bind(us(c.published_at))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get("id")?)).transpose()
    }

    async fn circulars(&self) -> StoreResult<Vec<Circular>> {
        let rows = query!(self, &format!("SELECT {CIRCULAR_COLS} FROM circulars ORDER BY period DESC, id DESC"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(circular_from).collect()
    }

    async fn circular(&self, id: i64) -> StoreResult<Option<Circular>> {
        let row = query!(self, &format!("SELECT {CIRCULAR_COLS} FROM circulars WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(circular_from).transpose()
    }

    async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let now = u.created_at;
        let res = query!(
            self,
            "INSERT INTO users (username, display_name, unit_id, password_hash, roles, failed_logins, password_changed_us, id_index, \
             must_change_password, active, created_us) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, 1, ?) RETURNING id"
        )
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(u.unit_id)
        .bind(&u.password_hash)
        .bind(&u.roles)
        .bind(us(now))
        .bind(u.id_index.clone())
        .bind(u.must_change_password as i64)
        .bind(us(now))
        .fetch_one(&self.pool)
        .await;
        let id: i64 = match res {
            Ok(r) => r.try_get("id")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::new(ErrorCode::UserExists, format!("用户名 {} 已被使用", u.username)).into());
            }
            Err(e) => return Err(e.into()),
        };
        Ok(User {
            id,
            username: u.username,
            display_name: u.display_name,
            unit_id: u.unit_id,
            password_hash: u.password_hash,
            roles: u.roles,
            failed_logins: 0,
            locked_until: None,
            password_changed_at: from_us(us(now)),
            id_index: u.id_index,
            must_change_password: u.must_change_password,
            active: true,
        })
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let row = query!(self, "SELECT * FROM users WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let row =
            query!(self, "SELECT * FROM users WHERE username = ?").bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = query!(self, "SELECT * FROM users ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(user_from).collect()
    }

    async fn set_roles(&self, user_id: i64, roles: &str) -> StoreResult<()> {
        query!(self, "UPDATE users SET roles = ? WHERE id = ?").bind(roles).bind(user_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn set_login_state(&self, user_id: i64, failed: i64, locked_until: Option<DateTime<Utc>>) -> StoreResult<()> {
        query!(self, "UPDATE users SET failed_logins = ?, locked_until_us = ? WHERE id = ?")
            .bind(failed)
            .bind(locked_until.map(us))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_failed_login(&self, user_id: i64) -> StoreResult<i64> {
        let row =
            query!(self, "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("failed_logins")?)
    }

    async fn delete_sessions_of(&self, user_id: i64) -> StoreResult<()> {
        query!(self, "DELETE FROM sessions WHERE user_id = ?").bind(user_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn set_password(&self, user_id: i64, hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        query!(
            self,
            "UPDATE users SET password_hash = ?, password_changed_us = ?, must_change_password = 0 WHERE id = ?"
        )
        .bind(hash)
        .bind(us(at))
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_session(&self, s: Session) -> StoreResult<()> {
        query!(
            self,
            "INSERT INTO sessions (token_hash, user_id, kind, name, csrf_token, created_us, last_seen_us, expires_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        .bind(&s.token_hash)
        .bind(s.user_id)
        .bind(&s.kind)
        .bind(&s.name)
        .bind(&s.csrf_token)
        .bind(us(s.created_at))
        .bind(us(s.last_seen_at))
        .bind(us(s.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row = query!(self, "SELECT * FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    async fn touch_session(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        query!(self, "UPDATE sessions SET last_seen_us = ? WHERE token_hash = ?")
            .bind(us(at))
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        query!(self, "DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn append(&self, requests: Vec<AppendRequest>) -> StoreResult<Vec<Built>> {
        let mut tx = self.begin_write().await?;
        let head = sqlx::query(AssertSqlSafe(self.lock_head_sql())).bind("events").fetch_one(&mut *tx).await?;
        let (mut seq, mut prev_hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
        let mut out = Vec::with_capacity(requests.len());
        for req in requests {
            if let Some(rid) = &req.client_request_id {
                let existing = query!(self, "SELECT code FROM cases WHERE client_request_id = ?")
                    .bind(rid)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(r) = existing {
                    let code: String = r.try_get("code")?;
                    return Err(DomainError::new(
                        ErrorCode::DuplicateSubmit,
                        format!("同一请求已经提交过，案件编号 {code}，未重复登记"),
                    )
                    .into());
                }
            }
            let mut old_tallies = vec![];
            let (case_id, case_seq) = match req.case_id {
                Some(id) => {
                    let lock = self.row_lock();
                    let row = query!(self, &format!("SELECT {TALLY_COLS} FROM cases WHERE id = ?{lock}"))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Err(DomainError::new(ErrorCode::CaseNotFound, format!("案件 {id} 不存在")).into());
                    };
                    let version: i64 = row.try_get("version")?;
                    old_tallies = tally_keys_of(&row, None)?;
                    if req.expected_version.is_some_and(|v| v != version) {
                        return Err(DomainError::new(
                            ErrorCode::StaleVersion,
                            "案件已被他人更新，请刷新后重试（本次操作未保存）",
                        )
                        .into());
                    }
                    (id, version + 1)
                }
                None => {
                    let row =
                        query!(self, "SELECT COALESCE(MAX(id), 0) + 1 AS next FROM cases").fetch_one(&mut *tx).await?;
                    (row.try_get::<i64, _>("next")?, 1)
                }
            };
            let mut doc_numbers = Vec::with_capacity(req.doc_series.len());
            for series in &req.doc_series {
                let row = query!(
                    self,
                    "INSERT INTO doc_counters (series, n) VALUES (?, 1) ON CONFLICT (series) DO UPDATE SET n = doc_counters.n + 1 RETURNING n"
                )
                .bind(series)
                .fetch_one(&mut *tx)
                .await?;
                doc_numbers.push(row.try_get::<i64, _>("n")?);
            }
            seq += 1;
            let built = (req.build)(Slot { seq, prev_hash: prev_hash.clone(), case_id, case_seq, doc_numbers })?;
            let (e, c) = (&built.event, &built.case);
            debug_assert_eq!((e.seq, e.case_id, c.id), (seq, case_id, case_id));
            if req.case_id.is_none() {
                query!(self, &format!("INSERT INTO cases ({CASE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                    .bind(c.id)
                    .bind(&c.code)
                    .bind(&c.kind)
                    .bind(&c.state)
                    .bind(c.version)
                    .bind(c.region.clone())
                    .bind(c.registered_unit)
                    .bind(&c.registered_unit_path)
                    .bind(c.handling_unit)
                    .bind(c.handling_unit_path.clone())
                    .bind(id_list(&c.cohandling))
                    .bind(c.accused_unit_path.clone())
                    .bind(id_list(&c.accused_users))
                    .bind(c.matter_type.clone())
                    .bind(c.category.clone())
                    .bind(c.channel.clone())
                    .bind(&c.title)
                    .bind(c.query_secret_hash.clone())
                    // The request's id, not the builder's: the store enforces idempotency itself.
                    .bind(req.client_request_id.clone())
                    .bind(us(c.created_at))
                    .bind(us(c.updated_at))
                    .bind(deadline_us(c.next_due_at))
                    .bind(deadline_us(c.next_warn_at))
                    .bind(&c.state_json)
                    .bind(c.parent_id)
                    .bind(deadline_us(c.next_timer_at))
                    .bind(c.site_code.clone())
                    .bind(us(c.state_since))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Domain(DomainError::new(ErrorCode::DuplicateSubmit, "同一请求已经提交过，未重复登记"))
                        } else {
                            e.into()
                        }
                    })?;
            } else {
                query!(
                    self,
                    "UPDATE cases SET state = ?, version = ?, handling_unit = ?, handling_unit_path = ?, cohandling = ?, accused_unit_path = ?, accused_users = ?, \
                     matter_type = ?, category = ?, title = ?, updated_us = ?, next_due_us = ?, next_warn_us = ?, state_json = ?, \
                     parent_id = ?, next_timer_us = ?, site_code = ?, state_since_us = ? WHERE id = ?"
                )
                .bind(&c.state)
                .bind(c.version)
                .bind(c.handling_unit)
                .bind(c.handling_unit_path.clone())
                .bind(id_list(&c.cohandling))
                .bind(c.accused_unit_path.clone())
                .bind(id_list(&c.accused_users))
                .bind(c.matter_type.clone())
                .bind(c.category.clone())
                .bind(&c.title)
                .bind(us(c.updated_at))
                .bind(deadline_us(c.next_due_at))
                .bind(deadline_us(c.next_warn_at))
                .bind(&c.state_json)
                .bind(c.parent_id)
                .bind(deadline_us(c.next_timer_at))
                .bind(c.site_code.clone())
                .bind(us(c.state_since))
                .bind(c.id)
                .execute(&mut *tx)
                .await?;
            }
            self.apply_tallies(&mut tx, &old_tallies, &c.tally_facts().keys()).await?;
            query!(
                self,
                &format!("INSERT INTO case_events ({EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            )
            .bind(e.seq)
            .bind(e.case_id)
            .bind(e.case_seq)
            .bind(us(e.at))
            .bind(e.actor_id)
            .bind(e.actor_unit)
            .bind(&e.actor_role)
            .bind(&e.action)
            .bind(e.from_state.clone())
            .bind(&e.to_state)
            .bind(&e.payload)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .execute(&mut *tx)
            .await?;
            for p in &built.parties {
                query!(
                    self,
                    "INSERT INTO parties (case_id, role, name_enc, phone_enc, id_number_enc, address_enc, name_masked, phone_masked, \
                     id_number_masked, address_masked, phone_index, id_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                )
                .bind(case_id)
                .bind(&p.role)
                .bind(&p.name_enc)
                .bind(p.phone_enc.clone())
                .bind(p.id_number_enc.clone())
                .bind(p.address_enc.clone())
                .bind(&p.name_masked)
                .bind(p.phone_masked.clone())
                .bind(p.id_number_masked.clone())
                .bind(p.address_masked.clone())
                .bind(p.phone_index.clone())
                .bind(p.id_index.clone())
                .execute(&mut *tx)
                .await?;
            }
            for a in &built.attachments {
                query!(
                    self,
                    "INSERT INTO attachments (case_id, event_seq, name, mime, size, sm3, content) VALUES (?, ?, ?, ?, ?, ?, ?)"
                )
                .bind(case_id)
                .bind(e.seq)
                .bind(&a.name)
                .bind(&a.mime)
                .bind(a.size)
                .bind(&a.sm3)
                .bind(a.sealed.clone())
                .execute(&mut *tx)
                .await?;
            }
            prev_hash = e.hash.clone();
            out.push(built);
        }
        query!(self, "UPDATE chain_heads SET seq = ?, hash = ? WHERE name = 'events'")
            .bind(seq)
            .bind(&prev_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn case(&self, id: i64) -> StoreResult<Option<CaseRow>> {
        let row = query!(self, &format!("SELECT {CASE_COLS} FROM cases WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(case_from).transpose()
    }

    async fn case_by_code(&self, code: &str) -> StoreResult<Option<CaseRow>> {
        let row = query!(self, &format!("SELECT {CASE_COLS} FROM cases WHERE code = ?"))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(case_from).transpose()
    }

    async fn case_events(&self, case_id: i64) -> StoreResult<Vec<CaseEvent>> {
        let rows = query!(self, &format!("SELECT {EVENT_COLS} FROM case_events WHERE case_id = ? ORDER BY case_seq"))
            .bind(case_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from).collect()
    }

    async fn children(&self, case_id: i64) -> StoreResult<Vec<CaseRow>> {
        let rows = query!(self, &format!("SELECT {CASE_COLS} FROM cases WHERE parent_id = ? ORDER BY id"))
            .bind(case_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from).collect()
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<i64>> {
        let rows = query!(self, "SELECT id FROM cases WHERE next_timer_us <= ? ORDER BY next_timer_us, id LIMIT ?")
            .bind(us(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>("id")?)).collect()
    }

    async fn parties(&self, case_id: i64) -> StoreResult<Vec<PartyRow>> {
        let rows = query!(self, "SELECT * FROM parties WHERE case_id = ? ORDER BY id")
            .bind(case_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(party_from).collect()
    }

    async fn attachments(&self, case_id: i64) -> StoreResult<Vec<AttachmentMeta>> {
        let rows = query!(
            self,
            "SELECT id, case_id, event_seq, name, mime, size, sm3 FROM attachments WHERE case_id = ? ORDER BY id"
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attachment_from).collect()
    }

    async fn attachment_content(&self, case_id: i64, id: i64) -> StoreResult<Option<(AttachmentMeta, Vec<u8>)>> {
        let row = query!(
            self,
            "SELECT id, case_id, event_seq, name, mime, size, sm3, content FROM attachments WHERE case_id = ? AND id = ?"
        )
        .bind(case_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((attachment_from(&r)?, r.try_get::<Vec<u8>, _>("content")?))).transpose()
    }

    async fn list_cases(&self, f: &CaseFilter) -> StoreResult<(Vec<CaseRow>, i64)> {
        // Conditions are assembled from fixed fragments; every value is bound, never spliced.
        enum Arg {
            I(i64),
            S(String),
        }
        let mut conds: Vec<&str> = vec![];
        let mut args: Vec<Arg> = vec![];
        if let Some(k) = &f.kind {
            conds.push("kind = ?");
            args.push(Arg::S(k.clone()));
        }
        if let Some(s) = &f.state {
            conds.push("state = ?");
            args.push(Arg::S(s.clone()));
        }
        if let Some(u) = f.handling_unit {
            conds.push("handling_unit = ?");
            args.push(Arg::I(u));
        }
        if let Some(p) = &f.registered_under {
            let (lo, hi) = subtree_range(p);
            conds.push("registered_unit_path >= ? AND registered_unit_path < ?");
            args.push(Arg::S(lo));
            args.push(Arg::S(hi));
        }
        if let Some(u) = f.held_by {
            conds.push("(handling_unit = ? OR (handling_unit IS NULL AND registered_unit = ?))");
            args.push(Arg::I(u));
            args.push(Arg::I(u));
        }
        if let Some(p) = &f.held_under {
            let (lo, hi) = subtree_range(p);
            conds.push(
                "((handling_unit_path >= ? AND handling_unit_path < ?) \
                 OR (handling_unit_path IS NULL AND registered_unit_path >= ? AND registered_unit_path < ?))",
            );
            args.extend([Arg::S(lo.clone()), Arg::S(hi.clone()), Arg::S(lo), Arg::S(hi)]);
        }
        let terminal_sql;
        if let Some(closed) = f.closed {
            let pairs = vec!["(kind = ? AND state = ?)"; f.terminal_states.len()].join(" OR ");
            let pairs = if pairs.is_empty() { "1 = 0".to_string() } else { pairs };
            terminal_sql = if closed { format!("({pairs})") } else { format!("NOT ({pairs})") };
            conds.push(&terminal_sql);
            for (k, st) in &f.terminal_states {
                args.push(Arg::S(k.clone()));
                args.push(Arg::S(st.clone()));
            }
        }
        if let Some(t) = f.state_since_from {
            conds.push("state_since_us >= ?");
            args.push(Arg::I(us(t)));
        }
        if let Some(t) = f.state_since_to {
            conds.push("state_since_us < ?");
            args.push(Arg::I(us(t)));
        }
        if let Some(c) = &f.category {
            conds.push("category = ?");
            args.push(Arg::S(c.clone()));
        }
        if let Some(m) = &f.matter_type {
            conds.push("matter_type = ?");
            args.push(Arg::S(m.clone()));
        }
        if let Some(s) = &f.site_code {
            conds.push("site_code = ?");
            args.push(Arg::S(s.clone()));
        }
        if let Some(t) = f.created_from {
            conds.push("created_us >= ?");
            args.push(Arg::I(us(t)));
        }
        if let Some(t) = f.created_to {
            conds.push("created_us < ?");
            args.push(Arg::I(us(t)));
        }
        if let Some(t) = &f.text {
            // Exact code, or the words anywhere in the title (LIKE wildcards in the words are taken literally).
            conds.push("(code = ? OR title LIKE ? ESCAPE '\\')");
            args.push(Arg::S(t.trim().to_uppercase()));
            let escaped = t.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            args.push(Arg::S(format!("%{escaped}%")));
        }
        if let Some(status) = f.clock_status {
            let now = us(f.now.unwrap_or_else(Utc::now));
            match status {
                // The domain's rule (deadline::clock_status): overdue from the due instant on; due soon from
                // the warning instant until then.
                ClockStatus::Overdue => {
                    conds.push("next_due_us <= ?");
                    args.push(Arg::I(now));
                }
                // `+next_warn_us` keeps SQLite off the warning-time index: nearly every open case's warning has
                // begun (most are overdue), so that index would walk them all to find the few not yet due; the
                // deadline index reads only the cases not yet due.
                ClockStatus::DueSoon => {
                    conds.push("+next_warn_us <= ? AND next_due_us > ?");
                    args.push(Arg::I(now));
                    args.push(Arg::I(now));
                }
                ClockStatus::OnTime => {
                    conds.push("next_warn_us > ? AND next_due_us < ?");
                    args.push(Arg::I(now));
                    args.push(Arg::I(NO_DEADLINE));
                }
            }
        }
        if let Some(s) = &f.scope {
            conds.push(
                "((registered_unit_path >= ? AND registered_unit_path < ?) OR (handling_unit_path >= ? AND handling_unit_path < ?) \
                 OR cohandling LIKE ?) \
                 AND NOT (accused_unit_path IS NOT NULL AND ? LIKE accused_unit_path || '%') AND accused_users NOT LIKE ?",
            );
            let (lo, hi) = subtree_range(&s.unit_path);
            args.extend([Arg::S(lo.clone()), Arg::S(hi.clone()), Arg::S(lo), Arg::S(hi)]);
            args.push(Arg::S(format!("%,{},%", s.unit_id)));
            args.push(Arg::S(s.unit_path.clone()));
            args.push(Arg::S(format!("%,{},%", s.user_id)));
        }
        let where_sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        let order = match f.sort {
            CaseSort::Deadline => " ORDER BY next_due_us, id",
            CaseSort::NewestFirst => " ORDER BY created_us DESC, id DESC",
            CaseSort::OldestFirst => " ORDER BY created_us, id",
        };
        let count_sql = self
            .q(&format!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM cases{where_sql} LIMIT {}) AS m", COUNT_CAP + 1))
            .into_owned();
        let list_sql =
            self.q(&format!("SELECT {CASE_COLS} FROM cases{where_sql}{order} LIMIT ? OFFSET ?")).into_owned();
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        let mut list = sqlx::query(AssertSqlSafe(list_sql));
        for a in &args {
            match a {
                Arg::I(v) => {
                    count = count.bind(*v);
                    list = list.bind(*v);
                }
                Arg::S(v) => {
                    count = count.bind(v.clone());
                    list = list.bind(v.clone());
                }
            }
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let rows = list.bind(f.limit.clamp(1, 500)).bind(f.offset.max(0)).fetch_all(&self.pool).await?;
        Ok((rows.iter().map(case_from).collect::<StoreResult<_>>()?, total))
    }

    async fn open_cases_of_party(
        &self,
        kind: &str,
        phone_index: Option<&str>,
        id_index: Option<&str>,
    ) -> StoreResult<Vec<CaseRow>> {
        if phone_index.is_none() && id_index.is_none() {
            return Ok(vec![]);
        }
        let cols: Vec<String> = CASE_COLS.split(", ").map(|c| format!("c.{c}")).collect();
        let sql = format!(
            "SELECT DISTINCT {} FROM cases c JOIN parties p ON p.case_id = c.id \
             WHERE c.kind = ? AND (p.phone_index = ? OR p.id_index = ?) \
             ORDER BY c.id DESC LIMIT 20",
            cols.join(", ")
        );
        let rows = query!(self, &sql)
            .bind(kind)
            .bind(phone_index.unwrap_or("-"))
            .bind(id_index.unwrap_or("-"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from).collect()
    }

    async fn set_next_deadline(
        &self,
        case_id: i64,
        version: i64,
        due: Option<DateTime<Utc>>,
        warn: Option<DateTime<Utc>>,
        timer: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let lock = self.row_lock();
        let Some(row) = query!(self, &format!("SELECT {TALLY_COLS} FROM cases WHERE id = ?{lock}"))
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        if row.try_get::<i64, _>("version")? != version {
            return Ok(false);
        }
        let (old, new) = (tally_keys_of(&row, None)?, tally_keys_of(&row, Some((due, warn)))?);
        query!(self, "UPDATE cases SET next_due_us = ?, next_warn_us = ?, next_timer_us = ? WHERE id = ?")
            .bind(deadline_us(due))
            .bind(deadline_us(warn))
            .bind(deadline_us(timer))
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
        self.apply_tallies(&mut tx, &old, &new).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn append_audit(&self, a: NewAudit) -> StoreResult<AuditRecord> {
        let mut tx = self.begin_write().await?;
        let head = sqlx::query(AssertSqlSafe(self.lock_head_sql())).bind("audit").fetch_one(&mut *tx).await?;
        let (seq, prev): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
        let mut rec = AuditRecord {
            seq: seq + 1,
            at: taizhang_domain::ledger::to_micros(a.at),
            user_id: a.user_id,
            username: a.username,
            role: a.role,
            unit_id: a.unit_id,
            source: a.source,
            event: a.event,
            object: a.object,
            result: a.result,
            detail: a.detail,
            prev_hash: prev,
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        query!(self, &format!("INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(rec.seq)
            .bind(us(rec.at))
            .bind(rec.user_id)
            .bind(rec.username.clone())
            .bind(rec.role.clone())
            .bind(rec.unit_id)
            .bind(rec.source.clone())
            .bind(&rec.event)
            .bind(rec.object.clone())
            .bind(&rec.result)
            .bind(&rec.detail)
            .bind(&rec.prev_hash)
            .bind(&rec.hash)
            .execute(&mut *tx)
            .await?;
        query!(self, "UPDATE chain_heads SET seq = ?, hash = ? WHERE name = 'audit'")
            .bind(rec.seq)
            .bind(&rec.hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = query!(self, &format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from).collect()
    }

    async fn events_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<CaseEvent>> {
        let rows = query!(self, &format!("SELECT {EVENT_COLS} FROM case_events WHERE seq > ? ORDER BY seq LIMIT ?"))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from).collect()
    }

    async fn latest_categorised(&self, kind: &str, limit: i64) -> StoreResult<Vec<CaseRow>> {
        let rows = query!(
            self,
            &format!(
                "SELECT {CASE_COLS} FROM cases WHERE kind = ? AND category IS NOT NULL AND category <> '' ORDER BY id DESC LIMIT ?"
            )
        )
        .bind(kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from).collect()
    }

    async fn cases_created_since(
        &self,
        kind: &str,
        since: DateTime<Utc>,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<CaseRow>> {
        let rows = query!(
            self,
            &format!("SELECT {CASE_COLS} FROM cases WHERE kind = ? AND created_us >= ? AND id > ? ORDER BY id LIMIT ?")
        )
        .bind(kind)
        .bind(us(since))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from).collect()
    }

    async fn cases_accusing(&self, user_id: i64, unit_path: &str) -> StoreResult<Vec<CaseRow>> {
        // The first condition is the partial index's own (`cases_accusing`, migration 0018), so the planner
        // reads that index instead of the table.
        let rows = query!(
            self,
            &format!(
                "SELECT {CASE_COLS} FROM cases WHERE (accused_unit_path IS NOT NULL OR accused_users <> '') \
                 AND ((accused_unit_path IS NOT NULL AND ? LIKE accused_unit_path || '%') OR accused_users LIKE ?) \
                 ORDER BY id"
            )
        )
        .bind(unit_path)
        .bind(format!("%,{user_id},%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from).collect()
    }

    async fn case_ids_page(&self, after_id: i64, limit: i64) -> StoreResult<Vec<i64>> {
        let rows = query!(self, "SELECT id FROM cases WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>("id")?)).collect()
    }

    async fn workflow_versions(&self) -> StoreResult<Vec<WorkflowVersion>> {
        let rows = query!(self, "SELECT kind, version, sha, definition FROM workflow_versions ORDER BY kind, version")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowVersion {
                    kind: r.try_get("kind")?,
                    version: r.try_get("version")?,
                    sha: r.try_get("sha")?,
                    definition: r.try_get("definition")?,
                })
            })
            .collect()
    }

    async fn record_workflow_version(&self, v: WorkflowVersion) -> StoreResult<()> {
        query!(
            self,
            "INSERT INTO workflow_versions (kind, version, sha, definition, recorded_us) VALUES (?, ?, ?, ?, ?)"
        )
        .bind(&v.kind)
        .bind(v.version)
        .bind(&v.sha)
        .bind(&v.definition)
        .bind(us(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn optimize(&self) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Sqlite => "ANALYZE",
            // Only Taizhang's tables, not the whole database it may share.
            Backend::Postgres => {
                "ANALYZE cases, case_events, parties, attachments, audit_log, users, units, sessions, grids, sites, duty_shifts, \
                 duty_swaps, tallies, cards, notifications"
            }
        };
        sqlx::query(sql).execute(&self.pool).await?;
        Ok(())
    }

    async fn chain_head(&self, name: &str) -> StoreResult<(i64, String)> {
        let row = query!(self, "SELECT seq, hash FROM chain_heads WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok((r.try_get("seq")?, r.try_get("hash")?)),
            None => Ok((0, GENESIS.to_string())),
        }
    }
}
