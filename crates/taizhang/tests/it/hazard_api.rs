//! Safety hazards through the API on both databases: a general hazard rectified against the notice's deadline,
//! sent back once and closed out; a major hazard with its five-element plan, listed for supervision, evaluated
//! and closed out after the on-site review; a report that turns out not to be a hazard.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, ok};

async fn identify(app: &TestApp, token: &str, site: &str, title: &str) -> i64 {
    let (s, b) = app
        .post(
            token,
            "/api/v1/cases",
            json!({"kind": "hazard", "fields": {"sector": "school", "site": site, "location": "学生宿舍 2 号楼",
                "checklist_item": "wiring", "title": title, "description": "宿舍走廊私拉电线给电动车充电，插线板放在木柜上。"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["case"]["id"].as_i64().unwrap()
}

async fn hazards_are_graded_rectified_and_closed_out(app: TestApp) {
    let inspector = app.token("inspector").await;
    let staff = app.token("dczj_staff").await;
    let leader = app.token("dczj_leader").await;
    let city = app.token("leader").await;
    let dept = app.units["dc_zj"];

    // A general hazard: a 3-day notice, sent back once, closed out.
    let a = identify(&app, &inspector, "临江市第三中学", "宿舍私拉电线").await;
    let (s, _) = app.act(&staff, a, "issue_notice", json!({})).await;
    assert!(s == 403 || s == 404, "the department does not grade: {s}");
    ok(
        &app,
        &inspector,
        a,
        "issue_notice",
        json!({"grade": "general", "target_unit": dept, "rectify_within": "d3",
        "requirements": "立即拆除私拉电线，设置集中充电区", "legal_basis": "《中华人民共和国安全生产法》第四十一条"}),
    )
    .await;
    let (_, case) = app.get(&inspector, &format!("/api/v1/cases/{a}")).await;
    let clock = case["clocks"].as_array().unwrap().iter().find(|c| c["clock"] == "rectification").unwrap();
    assert!(clock["source"].as_str().unwrap().contains("3 日内整改"), "the notice's own deadline: {clock}");
    let doc = case["documents"].as_array().unwrap().iter().find(|d| d["id"] == "rectification_notice").unwrap();
    assert!(doc["number"].as_str().unwrap().contains("整改"), "{doc}");
    ok(&app, &staff, a, "self_check", json!({"note": "已拆除电线"})).await;
    ok(&app, &inspector, a, "send_back", json!({"reason": "插线板仍在木柜上", "rectify_within": "d7"})).await;
    ok(&app, &staff, a, "self_check", json!({"note": "插线板已移除，设置集中充电区"})).await;
    let r = ok(&app, &inspector, a, "close_out", json!({"note": "现场核查整改到位"})).await;
    assert_eq!(r["state"], "closed");

    // A major hazard: reported with production stopped, a plan holding all five elements, listed, closed out.
    let b = identify(&app, &inspector, "东城区某建材厂", "粉尘车间未设防爆设施").await;
    ok(
        &app,
        &inspector,
        b,
        "report_major",
        json!({"grade": "major", "target_unit": dept,
        "production_stopped": "partial", "enforcement": "order_stop", "legal_basis": "《安全生产法》第七十条"}),
    )
    .await;
    let plan = json!({"measures": "加装防爆电气和除尘系统", "responsibility": "厂长张某、安全员李某",
        "rectify_within": "d90", "deadline_text": "2026 年 6 月 30 日前", "contingency": "停产期间专人值守，制定粉尘爆炸应急预案"});
    let (s, e) = app.act(&leader, b, "approve_plan", plan.clone()).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("funds")), "a plan without its funds is incomplete: {e}");
    let mut full = plan.clone();
    full["funds"] = json!("企业自筹 80 万元");
    ok(&app, &leader, b, "approve_plan", full).await;
    ok(&app, &city, b, "list_supervision", json!({"note": "市政府挂牌督办"})).await;
    ok(&app, &staff, b, "start_major_rectification", json!({})).await;
    ok(&app, &staff, b, "evaluate", json!({"note": "第三方评估合格"})).await;
    ok(&app, &staff, b, "apply_close_out", json!({"note": "申请复产并销号"})).await;
    let r = ok(&app, &inspector, b, "close_out", json!({"note": "现场核查合格，同意复产"})).await;
    assert_eq!(r["state"], "closed");
    let (_, case) = app.get(&inspector, &format!("/api/v1/cases/{b}")).await;
    let docs: Vec<&str> = case["documents"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(docs, ["major_plan", "close_out"]);

    // Reported by a grid worker, not a hazard after all.
    let grid = app.token("grid").await;
    let c = identify(&app, &grid, "幸福社区活动中心", "灭火器疑似过期").await;
    let r = ok(&app, &inspector, c, "dismiss", json!({"reason": "灭火器在有效期内"})).await;
    assert_eq!(r["state"], "dismissed");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(hazard_paths, hazards_are_graded_rectified_and_closed_out);
