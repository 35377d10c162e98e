//! Spawning the real application for tests: a fresh SQLite data directory or a fresh PostgreSQL database,
//! the real HTTP server on port 0, a controllable clock, and a seeded organisation with known accounts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::Connection;
use taizhang::{Location, build};
use taizhang_domain::access::Role;
use taizhang_service::cases::IntakeRequest;
use taizhang_service::{ManualClock, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "Test-pass-2026";

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static CLEANED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn fresh_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("taizhang-it-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The PostgreSQL server tests use; CI has one at the default address.
pub fn pg_admin_url() -> String {
    std::env::var("TAIZHANG_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty PostgreSQL database. Outside CI a missing server skips (returns None); in CI it fails.
pub async fn fresh_pg_url(tag: &str) -> Option<String> {
    let admin = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "PostgreSQL at {admin} is unreachable in CI: {e}");
            eprintln!("skipping PostgreSQL test {tag}: {admin} unreachable ({e})");
            return None;
        }
    };
    // Databases left by earlier runs of this suite (never by this process) are dropped once per run, so a CI
    // machine does not collect them.
    if !CLEANED.swap(true, Ordering::SeqCst) {
        let mine = format!("tz_it_{}_%", std::process::id());
        let old: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tz_it_%' AND datname NOT LIKE $1")
                .bind(&mine)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
        for db in old {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}"))).execute(&mut conn).await;
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("tz_it_{}_{}_{n}", std::process::id(), tag);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
        .execute(&mut conn)
        .await
        .expect("drop db");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create db");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// 2026-03-02 09:00 in China: a Monday, clear of holidays.
pub fn t0() -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap().with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap().with_timezone(&Utc)
}

pub struct TestApp {
    pub svc: Service,
    pub clock: Arc<ManualClock>,
    pub loc: Location,
    pub base: String,
    pub client: reqwest::Client,
    pub units: HashMap<&'static str, i64>,
    pub users: HashMap<&'static str, i64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// (code, parent, name, level)
const UNITS: &[(&str, Option<&str>, &str, &str)] = &[
    ("city", None, "临江市", "city"),
    ("xfj", Some("city"), "临江市信访局", "department"),
    ("zjj", Some("city"), "临江市住建局", "department"),
    ("rsj", Some("city"), "临江市人社局", "department"),
    ("dc", Some("city"), "东城区", "county"),
    ("dc_zj", Some("dc"), "东城区住建局", "department"),
    ("dc_zj_team", Some("dc_zj"), "东城区住建局执法队", "department"),
    ("xh", Some("city"), "西湖区", "county"),
    ("dc_jd", Some("dc"), "东城区幸福街道", "township"),
];

const CODES: &[(&str, &str)] = &[
    ("city", "349900"),
    ("xfj", "349900-XF"),
    ("zjj", "349900-ZJ"),
    ("rsj", "349900-RS"),
    ("dc", "349901"),
    ("dc_zj", "349901-ZJ"),
    ("dc_zj_team", "349901-ZJ-1"),
    ("xh", "349902"),
    ("dc_jd", "349901001"),
];

/// (username, unit, roles, id number)
const USERS: &[(&str, &str, &[Role], Option<&str>)] = &[
    ("clerk", "xfj", &[Role::ReceptionClerk], None),
    ("office", "xfj", &[Role::PetitionOffice, Role::ReceptionClerk], None),
    ("zj_staff", "zjj", &[Role::HandlingStaff], None),
    ("zj_leader", "zjj", &[Role::Leader], None),
    ("rs_staff", "rsj", &[Role::HandlingStaff], None),
    ("dczj_staff", "dc_zj", &[Role::HandlingStaff], None),
    ("dczj_leader", "dc_zj", &[Role::Leader], None),
    ("dc_leader", "dc", &[Role::Leader, Role::PetitionOffice], None),
    ("team_staff", "dc_zj_team", &[Role::HandlingStaff], None),
    ("xh_staff", "xh", &[Role::HandlingStaff, Role::PetitionOffice], None),
    ("relative", "zjj", &[Role::HandlingStaff], Some("110101199003071233")),
    ("sysadmin", "city", &[Role::SystemAdmin], None),
    ("secadmin", "city", &[Role::SecurityAdmin], None),
    ("auditor", "city", &[Role::AuditAdmin], None),
    ("leader", "city", &[Role::Leader, Role::PetitionOffice], None),
    ("dispatcher", "city", &[Role::Dispatcher], None),
    ("grid", "dc", &[Role::GridWorker], None),
    ("inspector", "dc", &[Role::SafetyInspector], None),
    ("mediator", "dc_jd", &[Role::Mediator], None),
    ("jd_duty", "dc_jd", &[Role::DutyOfficer], None),
    ("jd_leader", "dc_jd", &[Role::Leader], None),
    ("supervisor", "city", &[Role::SupervisionOffice], None),
    ("zj_head", "zjj", &[Role::Leader], None),
];

/// The test locality's published portal information: residents may address its petition office only.
const TEST_PORTAL: &str = r#"
office = "临江市信访局"
address = "临江市江滨路 88 号"
hours = "工作日 8:30–17:30"
offices = ["349900-XF"]
[[channels]]
name = "来信"
detail = "临江市江滨路 88 号 临江市信访局"
"#;

/// The test district sends exposed garbage to its housing bureau's team by default.
const TEST_ROUTING: &str = r#"
[[rules]]
kind = "grid_event"
action = "dispatch"
field = "target_unit"
when = { subclass = ["exposed_garbage"] }
unit = "349901-ZJ"
"#;

/// The test district's flood plan: activating it on an incident opens two tasks.
const TEST_PLANS: &str = r#"
[[plans]]
id = "flood_iv"
name = "东城区防汛Ⅳ级应急响应"
on = "incident"
[[plans.steps]]
title = "组织转移低洼地带群众"
owner_unit = "349901001"
within_minutes = 60
[[plans.steps]]
title = "排查危房和在建工地"
owner_unit = "349901-ZJ"
within_minutes = 120
instructions = "重点排查深基坑和塔吊"
"#;

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    let dir = fresh_dir("app");
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_pg_url("app").await?),
    };
    let loc = Location::new(&dir, url);
    std::fs::write(dir.join("portal.toml"), TEST_PORTAL).expect("portal.toml");
    std::fs::write(dir.join("routing.toml"), TEST_ROUTING).expect("routing.toml");
    std::fs::write(dir.join("plans.toml"), TEST_PLANS).expect("plans.toml");
    let clock = Arc::new(ManualClock::new(t0()));
    let svc = build(&loc, clock.clone()).await.expect("service builds");
    let mut units = HashMap::new();
    for (key, parent, name, level) in UNITS {
        let code = CODES.iter().find(|c| c.0 == *key).unwrap().1;
        let u = svc.create_unit(None, parent.map(|p| units[p]), code, name, level).await.expect("unit");
        units.insert(*key, u.id);
    }
    let mut users = HashMap::new();
    for (name, unit, roles, id) in USERS {
        let u = svc.create_user(None, name, name, units[unit], PASSWORD, roles, *id).await.expect("user");
        users.insert(*name, u.id);
    }
    // Two unit grids in the district, both the grid worker's.
    for (code, name) in [("349901001001001", "幸福社区第一网格"), ("349901001001002", "幸福社区第二网格")]
    {
        let grid = taizhang_store::Grid {
            code: code.into(),
            name: name.into(),
            layer: "unit".into(),
            unit_id: units["dc"],
            owner_user_id: Some(users["grid"]),
        };
        svc.create_grid(None, grid).await.expect("grid");
    }
    // Sites the hazard tests inspect (the inspection test registers its own through the API).
    for (code, name, sector) in [
        ("SZ-003", "临江市第三中学", "school"),
        ("SY-XX", "东城区实验小学", "school"),
        ("JC-001", "东城区某建材厂", "other"),
        ("HD-001", "幸福社区活动中心", "crowded_place"),
    ] {
        let site = taizhang_store::Site {
            code: code.into(),
            name: name.into(),
            sector: sector.into(),
            unit_id: units["dc"],
            address: String::new(),
            visitor_retention_days: 30,
        };
        svc.create_site(None, site).await.expect("site");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(taizhang_web::serve(listener, svc.clone(), async move {
        let _ = rx.await;
    }));
    Some(TestApp {
        svc,
        clock,
        loc,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        units,
        users,
        shutdown: Some(tx),
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in and returns a long-lived API token, so tests can move the clock by days.
    pub async fn token(&self, user: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login {user}: {}", r.text().await.unwrap_or_default());
        let session: Value = r.json().await.unwrap();
        let r = self
            .client
            .post(self.url("/api/v1/tokens"))
            .bearer_auth(session["token"].as_str().unwrap())
            .json(&json!({"name": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token for {user}");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Registers a petition as `user` and returns (id, code, query password).
    pub async fn register(&self, token: &str, matter_type: &str, extra: Value) -> (i64, String, String) {
        let mut fields = json!({
            "channel": "visit",
            "matter_type": matter_type,
            "category": "城乡建设",
            "title": "小区电梯频繁故障无人维修",
            "content": "3 栋电梯半年内停运十余次，请求督促维修。"
        });
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                f.insert(k.clone(), v.clone());
            }
        }
        let (s, b) = self
            .post(token, "/api/v1/cases", json!({"fields": fields, "petitioner": {"name": "王建国", "phone": "13812341234", "id_number": "110101199003071233", "address": "临江市东城区幸福路12号"}}))
            .await;
        assert_eq!(s, 201, "register: {b}");
        (
            b["case"]["id"].as_i64().unwrap(),
            b["case"]["code"].as_str().unwrap().to_string(),
            b["query_password"].as_str().unwrap().to_string(),
        )
    }

    /// Takes an action the way a client does: with the version it last saw.
    pub async fn act(&self, token: &str, id: i64, action: &str, fields: Value) -> (u16, Value) {
        let (_, case) = self.get(token, &format!("/api/v1/cases/{id}")).await;
        let version = case["version"].as_i64().unwrap_or(0);
        let body = json!({ "fields": fields, "expected_version": version });
        self.post(token, &format!("/api/v1/cases/{id}/actions/{action}"), body).await
    }

    pub fn advance_days(&self, days: i64) {
        self.clock.advance(chrono::Duration::days(days));
    }
}

/// Takes an action through the API and insists it succeeds; returns the case as it now stands.
pub async fn ok(app: &TestApp, token: &str, id: i64, action: &str, fields: serde_json::Value) -> serde_json::Value {
    let (s, b) = app.act(token, id, action, fields).await;
    assert_eq!(s, 200, "{action}: {b}");
    b
}

/// Runs `f` against both backends (PostgreSQL skipped outside CI when unreachable).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = $crate::helpers::spawn($crate::helpers::Backend::Sqlite).await {
                    $body(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn($crate::helpers::Backend::Postgres).await {
                    $body(app).await;
                }
            }
        }
    };
}

/// The portal's question ("七加五等于多少？" without the ending, "十三减四") answered as a person reads it.
pub fn solve_question(q: &str) -> u32 {
    let q = q.trim_end_matches("等于多少？");
    let digit = |c: char| "零一二三四五六七八九".chars().position(|d| d == c).unwrap() as u32;
    let num = |s: &str| -> u32 {
        let c: Vec<char> = s.chars().collect();
        match c.as_slice() {
            ['十'] => 10,
            ['十', d] => 10 + digit(*d),
            [d] => digit(*d),
            _ => panic!("unexpected numeral {s}"),
        }
    };
    match q.split_once('加') {
        Some((a, b)) => num(a) + num(b),
        None => q.split_once('减').map(|(a, b)| num(a) - num(b)).unwrap(),
    }
}

/// An intake as a service caller builds it: text fields, no petitioner, the given files.
pub fn intake(kind: &str, fields: &[(&str, &str)], files: Vec<taizhang_service::cases::Upload>) -> IntakeRequest {
    IntakeRequest {
        kind: kind.into(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect(),
        petitioner: None,
        parties: vec![],
        client_request_id: None,
        unit_id: None,
        attachments: files,
    }
}
