//! Grid events (数字城管) through the API on both databases: report, register or not, dispatch, return,
//! extension, suspension, feedback, rework, verification, void — and the loop indicators computed from the
//! log, per department and per grid, as they stood at the end of the period.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, ok};

async fn report(app: &TestApp, token: &str, subclass: &str, grid: &str) -> i64 {
    let (s, b) = app
        .post(
            token,
            "/api/v1/cases",
            json!({"kind": "grid_event", "fields": {"source": "grid_worker", "subclass": subclass,
                "grid_code": grid, "location": "幸福路与人民路交叉口东北角",
                "title": "路口堆放装修垃圾", "description": "约 3 袋装修垃圾堆在人行道上，影响通行。"}}),
        )
        .await;
    assert_eq!(s, 201, "report: {b}");
    assert_eq!(b["case"]["state"], "reported");
    b["case"]["id"].as_i64().unwrap()
}

fn clock<'a>(case: &'a Value, id: &str) -> &'a Value {
    case["clocks"].as_array().unwrap().iter().rev().find(|c| c["clock"] == id).unwrap_or_else(|| panic!("no {id}"))
}

async fn grid_events_go_round_the_loop(app: TestApp) {
    let grid = app.token("grid").await;
    let dispatcher = app.token("dispatcher").await;
    let dept = app.token("dczj_staff").await;
    let other_dept = app.token("zj_staff").await;
    let dept_unit = app.units["dc_zj"];
    const GRID_A: &str = "349901001001001";
    const GRID_B: &str = "349901001001002";

    // The grid registry: only the system administrator registers grids; codes are checked; an owner must be
    // a grid worker; reports must name a registered grid.
    let admin = app.token("sysadmin").await;
    let body = |code: &str, owner: i64| {
        json!({"code": code, "name": "光明社区第一网格", "layer": "unit",
        "unit_id": app.units["dc"], "owner_user_id": owner})
    };
    let (s, b) = app.post(&admin, "/api/v1/grids", body("349901001002001", app.users["grid"])).await;
    assert_eq!(s, 201, "{b}");
    let (s, _) = app.post(&grid, "/api/v1/grids", body("349901001002002", app.users["grid"])).await;
    assert_eq!(s, 403);
    let (s, b) = app.post(&admin, "/api/v1/grids", body("34990100100200", app.users["grid"])).await;
    assert!(s == 400 && b["message"].as_str().unwrap().contains("15 位数字"), "{b}");
    let (s, b) = app.post(&admin, "/api/v1/grids", body("349901001002003", app.users["clerk"])).await;
    assert!(s == 400 && b["message"].as_str().unwrap().contains("不是网格员"), "{b}");
    let (_, list) = app.get(&grid, "/api/v1/grids").await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let (s, b) = app
        .post(
            &grid,
            "/api/v1/cases",
            json!({"kind": "grid_event", "fields": {"source": "grid_worker",
            "subclass": "other", "grid_code": "349901001009009", "location": "x", "title": "x", "description": "x"}}),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (400, Some("grid_code")), "an unregistered grid: {b}");

    // 1. Exposed garbage: 2 working hours; extended by 2, reworked once, closed.
    let a = report(&app, &grid, "exposed_garbage", GRID_A).await;
    let case = ok(&app, &dispatcher, a, "register_event", json!({})).await;
    assert_eq!(case["state"], "registered");
    let (s, b) = app.act(&grid, a, "dispatch", json!({"target_unit": dept_unit})).await;
    assert_eq!(s, 403, "a grid worker does not dispatch: {b}");
    // The district's routing table suggests the department for this subclass; the dispatcher decides.
    let (_, case) = app.get(&dispatcher, &format!("/api/v1/cases/{a}")).await;
    let dispatch = case["available_actions"].as_array().unwrap().iter().find(|x| x["id"] == "dispatch").unwrap();
    let target = dispatch["fields"].as_array().unwrap().iter().find(|f| f["id"] == "target_unit").unwrap();
    assert_eq!(target["suggested"], json!(dept_unit), "{dispatch}");
    ok(&app, &dispatcher, a, "dispatch", json!({"target_unit": dept_unit})).await;
    let (_, case) = app.get(&dispatcher, &format!("/api/v1/cases/{a}")).await;
    let handling = clock(&case, "handling").clone();
    assert!(handling["source"].as_str().unwrap().contains("2 个工作时内处置"), "the subclass's own limit: {handling}");
    let (s, _) = app.act(&other_dept, a, "feedback", json!({"feedback": "x"})).await;
    assert!(s == 403 || s == 404, "another department cannot answer for this one: {s}");
    app.clock.advance(Duration::minutes(60));
    ok(&app, &dept, a, "request_extension", json!({"extension_hours": 2, "reason": "需调用清运车辆"})).await;
    ok(&app, &dispatcher, a, "approve_extension", json!({"extension_hours": 2})).await;
    let (_, case) = app.get(&dispatcher, &format!("/api/v1/cases/{a}")).await;
    let extended = clock(&case, "handling");
    assert_ne!(extended["due_at"], handling["due_at"], "the extension moved the limit");
    app.clock.advance(Duration::minutes(60));
    ok(&app, &dept, a, "feedback", json!({"feedback": "已清运"})).await;
    ok(&app, &grid, a, "rework", json!({"reason": "现场仍有残留垃圾"})).await;
    app.clock.advance(Duration::minutes(30));
    ok(&app, &dept, a, "feedback", json!({"feedback": "已彻底清理"})).await;
    let case = ok(&app, &grid, a, "verify_pass", json!({"note": "现场核查已清理干净"})).await;
    assert_eq!(case["state"], "closed");

    // 2. A duplicate report, not registered.
    let b2 = report(&app, &grid, "exposed_garbage", GRID_A).await;
    ok(&app, &dispatcher, b2, "not_register", json!({"reason": "与前一案卷重复"})).await;

    // 3. Dispatched to the wrong department, returned, then found not to be a problem: voided.
    let c = report(&app, &grid, "illegal_ads", GRID_B).await;
    ok(&app, &dispatcher, c, "register_event", json!({})).await;
    ok(&app, &dispatcher, c, "dispatch", json!({"target_unit": dept_unit})).await;
    let case = ok(&app, &dept, c, "return_dispatch", json!({"reason": "小广告由城管执法部门负责"})).await;
    assert_eq!(case["state"], "registered");
    ok(&app, &dispatcher, c, "void", json!({"reason": "经核实为合法公示，不属问题"})).await;

    // 4. A broken road, suspended (挂账) pending the owner's confirmation.
    let d = report(&app, &grid, "road_damage", GRID_B).await;
    ok(&app, &dispatcher, d, "register_event", json!({})).await;
    ok(&app, &dispatcher, d, "dispatch", json!({"target_unit": dept_unit})).await;
    ok(&app, &dispatcher, d, "suspend", json!({"reason": "待道路产权单位确认"})).await;

    // 5. A missing manhole cover: 2 clock hours, day and night. Left open: overdue.
    let e = report(&app, &grid, "manhole_missing", GRID_A).await;
    ok(&app, &dispatcher, e, "register_event", json!({})).await;
    ok(&app, &dispatcher, e, "dispatch", json!({"target_unit": dept_unit})).await;

    let from = "2026-03-01";
    let to = "2026-04-01";
    app.clock.advance(Duration::hours(5));
    let leader = app.token("leader").await;
    let (s, r) = app.get(&leader, &format!("/api/v1/indicators/grid_event?from={from}&to={to}")).await;
    assert_eq!(s, 200, "{r}");
    let t = &r["total"];
    let counts = |f: &Value| {
        ["registered", "voided", "suspended", "due", "closed", "closed_on_time", "reworked", "inside_limit"]
            .map(|k| f[k].as_i64().unwrap())
    };
    assert_eq!(counts(t), [4, 1, 1, 2, 1, 1, 1, 0], "{r}");
    assert_eq!((t["on_time_rate"].as_f64(), t["rework_rate"].as_f64()), (Some(50.0), Some(25.0)), "{r}");
    assert_eq!(t["accurate_registration_rate"].as_f64(), Some(75.0));
    let dept_row =
        r["by_unit"].as_array().unwrap().iter().find(|u| u["unit"]["id"] == dept_unit).expect("the department");
    assert_eq!(dept_row["figures"]["due"], 2);
    let grids: Vec<&str> = r["by_grid"].as_array().unwrap().iter().map(|g| g["grid_code"].as_str().unwrap()).collect();
    assert_eq!(grids, [GRID_A, GRID_B]);

    // The same period read a month later is unchanged by what happens after it: the manhole is fixed in April.
    app.clock.advance(Duration::days(40));
    ok(&app, &dept, e, "feedback", json!({"feedback": "已补装井盖"})).await;
    let (_, later) = app.get(&leader, &format!("/api/v1/indicators/grid_event?from={from}&to={to}")).await;
    assert_eq!(counts(&later["total"]), counts(t), "{later}");
    // A staff member outside the district sees none of these cases.
    let outsider = app.token("xh_staff").await;
    let (_, r) = app.get(&outsider, &format!("/api/v1/indicators/grid_event?from={from}&to={to}")).await;
    assert_eq!(r["total"]["registered"], 0, "{r}");
    let (s, r) = app.get(&leader, "/api/v1/indicators/petition?from=2026-03-01&to=2026-04-01").await;
    assert_eq!(s, 400, "petitions define no loop: {r}");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(grid_loop, grid_events_go_round_the_loop);
