//! What a deployment controls through its data directory, and the shape of the schema and the API document.

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use sqlx::{Connection, Row};
use taizhang::{Location, build};
use taizhang_domain::ErrorCode;
use taizhang_domain::workflow::EMBEDDED;
use taizhang_service::ManualClock;

use crate::helpers::{Backend, fresh_dir, spawn, t0};

fn petition_toml() -> String {
    EMBEDDED.iter().find(|(f, _)| *f == "petition.toml").unwrap().1.to_string()
}

#[tokio::test]
async fn a_deployment_overrides_the_petition_workflow_from_its_data_directory() {
    let dir = fresh_dir("override");
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    // A locality routes within 10 days instead of 15.
    let text = petition_toml().replacen(
        "amount = 15\nunit = \"calendar\"\nsource = \"信访工作条例：信访部门",
        "amount = 10\nunit = \"calendar\"\nsource = \"本地规定：信访部门",
        1,
    );
    assert_ne!(text, petition_toml(), "the routing clock was found and changed");
    std::fs::write(dir.join("workflows/petition.toml"), text).unwrap();
    let svc = build(&Location::new(&dir, None), Arc::new(ManualClock::new(t0()))).await.unwrap();
    let def = svc.workflows.get("petition").unwrap();
    assert_eq!(def.clock("routing").unwrap().amount, 10);

    // A broken file stops the start with a message naming the file and the problem.
    let broken = petition_toml().replacen("to = \"assigned\"", "to = \"assignd\"", 1);
    std::fs::write(dir.join("workflows/petition.toml"), broken).unwrap();
    let err = build(&Location::new(&dir, None), Arc::new(ManualClock::new(t0()))).await.err().expect("refused");
    assert_eq!(err.code, ErrorCode::WorkflowInvalid);
    assert!(err.message.contains("petition.toml") && err.message.contains("assignd"), "{}", err.message);
}

#[test]
fn a_deployment_adds_a_holiday_year_and_the_cli_uses_it() {
    let dir = fresh_dir("calendar");
    std::fs::create_dir_all(dir.join("calendar")).unwrap();
    // A made-up 2027 table for the test: New Year's Day off, nothing else.
    std::fs::write(
        dir.join("calendar/2027.toml"),
        "[[year]]\nyear = 2027\nsource = \"测试\"\nholidays = [ { from = \"2027-01-01\", to = \"2027-01-01\", name = \"元旦\" } ]\nworkdays = []\n",
    )
    .unwrap();
    let run = |with_data: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taizhang"));
        cmd.args(["deadline", "--from", "2026-12-30", "--amount", "3", "--unit", "working"]);
        if with_data {
            cmd.arg("--data").arg(&dir);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    assert!(!run(false).0, "2027 is not in the embedded table");
    let (ok, out) = run(true);
    assert!(ok);
    // 12-31 (Thu), 01-01 off, 01-02/03 weekend, 01-04 (Mon), 01-05 (Tue).
    assert!(out.starts_with("2027-01-05"), "{out}");
}

/// `create-admin` on a new deployment: a refused password or user name writes nothing (no unit, no audit
/// record); a good one creates the first unit and the administrator.
#[tokio::test]
async fn a_refused_first_admin_leaves_nothing_behind() {
    let dir = fresh_dir("create_admin");
    let run = |user: &str, password: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taizhang"));
        cmd.args(["create-admin", "--username", user, "--unit-code", "330100", "--unit-name", "杭州市"]);
        cmd.arg("--data").arg(&dir).args(["--password-env", "TZ_ADMIN_PW"]).env("TZ_ADMIN_PW", password);
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, err) = run("admin", "12345");
    assert!(!ok && err.contains("密码"), "{err}");
    let (ok, err) = run("管理员", "Strong-Passw0rd!");
    assert!(!ok && err.contains("用户名"), "{err}");
    let loc = taizhang::Location::new(&dir, None);
    let svc = taizhang::build_default(&loc).await.unwrap();
    assert!(svc.store.units().await.unwrap().is_empty(), "no unit left by a refused admin");
    assert!(svc.store.audit_page(0, 10).await.unwrap().is_empty(), "nor an audit record");
    drop(svc);
    let (ok, err) = run("admin", "Strong-Passw0rd!");
    assert!(ok, "{err}");
    let svc = taizhang::build_default(&loc).await.unwrap();
    assert_eq!(svc.store.units().await.unwrap().len(), 1);
    assert!(svc.store.user_by_username("admin").await.unwrap().is_some());
}

#[tokio::test]
async fn every_foreign_key_has_an_index() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&app.loc.url()).await.unwrap();
    let tables: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("name"))
            .collect();
    let mut missing = vec![];
    for t in &tables {
        let fks = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA foreign_key_list({t})")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let indexes =
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA index_list({t})"))).fetch_all(&mut conn).await.unwrap();
        let mut first_cols = vec![];
        for i in &indexes {
            let name: String = i.get("name");
            let cols = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA index_info({name})")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            if let Some(c) = cols.iter().find(|c| c.get::<i64, _>("seqno") == 0) {
                first_cols.push(c.get::<String, _>("name"));
            }
        }
        for fk in &fks {
            let from: String = fk.get("from");
            let is_pk = from == "id" || from == "seq";
            if !is_pk && !first_cols.contains(&from) {
                missing.push(format!("{t}.{from}"));
            }
        }
    }
    assert!(missing.is_empty(), "foreign keys without an index: {missing:?}");
}

/// The published API document: any change to it shows up in review. `UPDATE_SNAPSHOTS=1` rewrites it.
#[tokio::test]
async fn openapi_document_matches_the_committed_snapshot() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/openapi.json is out of date: run UPDATE_SNAPSHOTS=1 cargo test -p taizhang --test it openapi"
    );
}

#[tokio::test]
async fn cases_keep_the_workflow_version_they_opened_under() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (old_case, _, _) = app.register(&clerk, "claim", serde_json::json!({})).await;
    let (s, _) = app.act(&office, old_case, "assign", serde_json::json!({"target_unit": app.units["zjj"]})).await;
    assert_eq!(s, 200);

    // Version 3 (the shipped one is 2) renames the acceptance action.
    let next = petition_toml().replacen("version = 2\n", "version = 3\n", 1).replacen(
        "id = \"accept\"",
        "id = \"take_on\"",
        1,
    );
    std::fs::create_dir_all(app.loc.data_dir.join("workflows")).unwrap();
    std::fs::write(app.loc.data_dir.join("workflows/petition.toml"), &next).unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let svc = build(&app.loc, clock.clone()).await.expect("the new version loads beside the shipped one");
    assert_eq!(svc.workflows.get("petition").unwrap().version, 3);
    assert!(svc.verify().await.unwrap().ok, "history made under the shipped version still replays");

    // The old case goes on under version 1; a new one opens under version 2.
    let (_, staff) = svc.login("zj_staff", crate::helpers::PASSWORD, None).await.unwrap();
    let actor = taizhang_service::cases::Actor::Staff(&staff);
    svc.act(actor, old_case, "accept", Default::default(), None).await.expect("old action on an old case");
    let (_, clerk_p) = svc.login("clerk", crate::helpers::PASSWORD, None).await.unwrap();
    let req = crate::helpers::intake(
        "petition",
        &[("channel", "visit"), ("matter_type", "claim"), ("title", "新流程"), ("content", "内容")],
        vec![],
    );
    let new_case = svc.register(taizhang_service::cases::Actor::Staff(&clerk_p), req).await.unwrap().case;
    assert!(new_case.available_actions.is_empty() || new_case.available_actions.iter().all(|a| a.id != "accept"));
    assert!(svc.verify().await.unwrap().ok);

    // Changing a used version without raising its number is refused at start.
    std::fs::write(
        app.loc.data_dir.join("workflows/petition.toml"),
        next.replacen("name = \"受理\"", "name = \"接收\"", 1),
    )
    .unwrap();
    let err = build(&app.loc, clock).await.err().expect("refused");
    assert_eq!(err.code, ErrorCode::WorkflowInvalid);
    assert!(err.message.contains("提高 version"), "{}", err.message);
}

/// The README's first command loads the demo: every state is reached through the real service and the
/// result verifies.
#[tokio::test]
async fn demo_reaches_every_state_of_every_kind_and_verifies() {
    let dir = fresh_dir("demo");
    let loc = Location::new(&dir, None);
    let report = taizhang::demo::load(&loc, 48).await.expect("demo loads");
    assert!(report.contains("clerk") && report.contains("已载入"), "{report}");
    assert!(dir.join("demo-accounts.txt").exists());
    let svc = taizhang::build_default(&loc).await.unwrap();
    for kind in [
        "petition",
        "grid_event",
        "inspection",
        "hazard",
        "dispute",
        "incident",
        "task",
        "sweep",
        "daily_report",
        "backlog",
    ] {
        let def = svc.workflows.get(kind).unwrap();
        for state in &def.states {
            assert!(report.contains(&format!("{}：", state.name)), "no demo {kind} in state {}: {report}", state.id);
        }
    }
    let v = svc.verify().await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(
        v.cases,
        48 + 26 + 7 + 11 + 9 + 5 + 5 + 15 + 7 + 3 + 1 + 3 + 3 + 3 + 5,
        "48 petitions, 26 grid events, 7 inspections, 11 hazards, 9 disputes, 5 incidents, 5 tasks, 15 sweep reports, \
         7 daily reports (one a 9:00 round), 3 special periods, 1 reception record, 3 commitments, 3 supervision orders, \
         3 backlog cases, 5 target tasks"
    );
    assert!(
        report.contains("督办 3 件：\n  已下达待反馈：1 件\n  逾期未反馈（已升级）：1 件\n  已反馈待审核：1 件"),
        "a reminder running, one escalated, a repeated order answered: {report}"
    );
    assert!(
        report.contains("承诺事项 3 件：\n  已兑现：1 件\n  逾期未兑现（红牌）：1 件\n  承诺办理中：1 件"),
        "one commitment past its date has its red card: {report}"
    );
    assert!(
        report.contains("安全检查 7 件：\n  已归档：6 件\n  已检查待跟进：1 件"),
        "one inspection's hazard is still to be registered: {report}"
    );
    assert!(report.contains("已接报待核实：1 件"), "the alert nobody acknowledged: {report}");
    assert!(report.contains("已销号：2 件"), "both the general and the major hazard are closed out: {report}");
    assert!(report.contains("城关街道值班表 42 个班次"), "three weeks, officer and leader: {report}");
    // Somebody is on duty at the street right now, and the unacknowledged alert told its duty room.
    let jd = svc.store.units().await.unwrap().into_iter().find(|u| u.code == "349901001").unwrap();
    let users = svc.store.users().await.unwrap();
    let leader = users.iter().find(|u| u.username == "jd_leader").unwrap();
    let p = taizhang_service::Principal {
        roles: taizhang_service::auth::parse_roles(&leader.roles),
        user: leader.clone(),
        unit: jd.clone(),
        kind: "session".into(),
        csrf_token: String::new(),
        password_change_required: false,
    };
    let now = svc.on_duty_now(&p, jd.id).await.unwrap();
    assert_eq!(now.len(), 2, "{now:?}");
    // Last month's assessment of the city's departments: some are ranked, and each figure is its cases.
    let city = svc.store.units().await.unwrap().into_iter().find(|u| u.code == "349900").unwrap();
    let p = taizhang_service::Principal { unit: city, ..p };
    let r = svc.assessment(&p, None).await.unwrap();
    let ranked: Vec<_> = r.groups.iter().flat_map(|g| &g.units).filter(|u| u.rank.is_some()).collect();
    assert!(!ranked.is_empty(), "{r:?}");
    // Checked against the case pages: each case behind 应办结 has a handling deadline inside the month.
    let (from, to) = (
        r.from.with_timezone(&taizhang_domain::deadline::china_tz()).date_naive(),
        r.to.with_timezone(&taizhang_domain::deadline::china_tz()).date_naive(),
    );
    let mut checked = 0;
    for u in &ranked {
        for case in svc.assessment_cases(&p, &r.period, u.unit.id, "handling_due").await.unwrap() {
            let view = svc.case_view(&p, case.id.unwrap()).await.unwrap();
            let due: Vec<_> = view.clocks.iter().filter(|c| c.clock == "handling").filter_map(|c| c.due_date).collect();
            assert!(due.iter().any(|d| from <= *d && *d < to), "{} {:?} not due in {}", case.code, due, r.period);
            checked += 1;
        }
    }
    assert!(checked > 0, "the demo has handling deadlines last month: {r:?}");
}

/// A routing table that names what the definitions do not have is refused at start, saying what is wrong.
#[test]
fn a_routing_table_is_checked_against_the_definitions() {
    let dir = fresh_dir("routing");
    let reg = taizhang_domain::workflow::Registry::embedded();
    let table = |text: &str| {
        std::fs::write(dir.join("routing.toml"), text).unwrap();
        taizhang_service::routing::RoutingTable::load(&dir, &reg)
    };
    let rule = |action: &str, field: &str, when: &str| {
        format!(
            "[[rules]]\nkind = \"grid_event\"\naction = \"{action}\"\nfield = \"{field}\"\nwhen = {when}\nunit = \"X\"\n"
        )
    };
    assert!(table(&rule("dispatch", "target_unit", "{ subclass = [\"other\"] }")).is_ok());
    let err = table(&rule("dispatch", "note", "{ subclass = [\"other\"] }")).unwrap_err();
    assert!(err.message.contains("没有单位字段 note"), "{}", err.message);
    let err = table(&rule("teleport", "target_unit", "{}")).unwrap_err();
    assert!(err.message.contains("没有动作 teleport"), "{}", err.message);
    let err = table(&rule("dispatch", "target_unit", "{ colour = [\"red\"] }")).unwrap_err();
    assert!(err.message.contains("没有字段 colour"), "{}", err.message);
}

/// A city sets its own time limit for one grid subclass as data: a new version of the definition in the data
/// directory, loaded at the next start; cases opened before keep the limit they opened under.
#[tokio::test]
async fn a_city_changes_one_grid_subclass_limit_without_a_rebuild() {
    use serde_json::json;
    let app = spawn(Backend::Sqlite).await.unwrap();
    let grid = app.token("grid").await;
    let dispatcher = app.token("dispatcher").await;
    let report = json!({"kind": "grid_event", "fields": {"source": "patrol", "subclass": "illegal_ads",
        "location": "解放路 3 号", "title": "小广告", "description": "电线杆上张贴小广告"}});
    let open = |token: String| {
        let (app, report) = (&app, report.clone());
        async move {
            let (s, b) = app.post(&token, "/api/v1/cases", report).await;
            assert_eq!(s, 201, "{b}");
            b["case"]["id"].as_i64().unwrap()
        }
    };
    let old = open(grid.clone()).await;
    app.act(&dispatcher, old, "register_event", json!({})).await;
    app.act(&dispatcher, old, "dispatch", json!({"target_unit": app.units["dc_zj"]})).await;

    let shipped = EMBEDDED.iter().find(|(f, _)| *f == "grid_event.toml").unwrap().1;
    let local = shipped.replacen("version = 2\n", "version = 3\n", 1).replacen(
        "amount = 4\nunit = \"working_hours\"\nsource = \"示例标准：违规张贴小广告、乱堆物料 4 个工作时内处置\"",
        "amount = 1\nunit = \"working_hours\"\nsource = \"本市规定：违规张贴小广告 1 个工作时内清除\"",
        1,
    );
    assert_ne!(local, shipped.replacen("version = 2\n", "version = 3\n", 1), "the subclass rule was found");
    std::fs::create_dir_all(app.loc.data_dir.join("workflows")).unwrap();
    std::fs::write(app.loc.data_dir.join("workflows/grid_event.toml"), local).unwrap();
    let svc = build(&app.loc, Arc::new(ManualClock::new(t0()))).await.expect("the local definition loads");
    assert_eq!(svc.workflows.get("grid_event").unwrap().version, 3);

    // Served by the restarted service: a new case gets 1 working hour; the old one keeps its 4.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(taizhang_web::serve(listener, svc.clone(), std::future::pending()));
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut r = client.request(method, format!("{base}{path}")).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let r: Value =
        call(reqwest::Method::POST, "/api/v1/cases", &grid, Some(report.clone())).await.unwrap().json().await.unwrap();
    let new = r["case"]["id"].as_i64().unwrap();
    for (id, action, fields) in
        [(new, "register_event", json!({})), (new, "dispatch", json!({"target_unit": app.units["dc_zj"]}))]
    {
        let case: Value = call(reqwest::Method::GET, &format!("/api/v1/cases/{id}"), &dispatcher, None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = json!({"fields": fields, "expected_version": case["version"]});
        let r = call(reqwest::Method::POST, &format!("/api/v1/cases/{id}/actions/{action}"), &dispatcher, Some(body))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let handling = |case: &Value| {
        case["clocks"].as_array().unwrap().iter().find(|c| c["clock"] == "handling").unwrap()["source"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let new_case: Value = call(reqwest::Method::GET, &format!("/api/v1/cases/{new}"), &dispatcher, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old_case: Value = call(reqwest::Method::GET, &format!("/api/v1/cases/{old}"), &dispatcher, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(handling(&new_case).contains("1 个工作时内清除"), "{new_case}");
    assert!(handling(&old_case).contains("4 个工作时内处置"), "{old_case}");
    assert!(svc.verify().await.unwrap().ok);
}

/// A county replaces the shipped inspection checklists with its own file, without a rebuild; a file with a
/// mistake stops the start with the mistake named.
#[tokio::test]
async fn a_county_uses_its_own_inspection_checklists() {
    let dir = fresh_dir("checklists");
    let loc = Location::new(&dir, None);
    let svc = taizhang::build_default(&loc).await.unwrap();
    assert!(svc.checklists.sector("school").unwrap().items.iter().any(|i| i.name == "开水房"), "shipped lists");
    drop(svc);
    let own = "[[sectors]]\nid = \"school\"\nname = \"学校\"\nitems = [\n  { id = \"school_bus\", name = \"校车\", points = \"驾驶人资质、车辆年检、不超员\" },\n  { id = \"canteen\", name = \"食堂\" },\n]\n";
    std::fs::write(dir.join("checklists.toml"), own).unwrap();
    let svc = taizhang::build_default(&loc).await.unwrap();
    let names: Vec<&str> = svc.checklists.sector("school").unwrap().items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["校车", "食堂"]);
    assert!(svc.checklists.sector("construction").is_none(), "the county's file replaces the shipped one");
    drop(svc);
    std::fs::write(dir.join("checklists.toml"), own.replace("canteen", "school_bus")).unwrap();
    let err = taizhang::build_default(&loc).await.err().expect("refused");
    assert!(err.message.contains("checklists.toml 有误") && err.message.contains("school_bus 重复"), "{}", err.message);
}
