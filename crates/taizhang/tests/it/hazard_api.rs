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
            json!({"kind": "hazard", "fields": {"site": site, "location": "学生宿舍 2 号楼",
                "checklist_item": "电气线路", "title": title, "description": "宿舍走廊私拉电线给电动车充电，插线板放在木柜上。"}}),
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
    let a = identify(&app, &inspector, "SZ-003", "宿舍私拉电线").await;
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
    let b = identify(&app, &inspector, "JC-001", "粉尘车间未设防爆设施").await;
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
    let c = identify(&app, &grid, "HD-001", "灭火器疑似过期").await;
    let r = ok(&app, &inspector, c, "dismiss", json!({"reason": "灭火器在有效期内"})).await;
    assert_eq!(r["state"], "dismissed");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(hazard_paths, hazards_are_graded_rectified_and_closed_out);

/// An inspector registers a building site, inspects it against the construction checklist (every item
/// answered, a hazard described), registers the hazard found from the inspection, and files the inspection;
/// the site lists both. Incomplete or foreign answers and unregistered sites are refused with the reason.
async fn an_inspection_of_a_site_finds_a_hazard_that_stays_linked(app: TestApp) {
    let inspector = app.token("inspector").await;
    let staff = app.token("dczj_staff").await;
    let site = json!({"code": "GD-01", "name": "光明街安置房工地", "sector": "construction",
        "unit_id": app.units["dc_zj"], "address": "光明街 80 号"});
    let (s, b) = app.post(&staff, "/api/v1/sites", site.clone()).await;
    assert_eq!(s, 403, "handling staff do not register sites: {b}");
    let (s, b) = app.post(&inspector, "/api/v1/sites", site.clone()).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!((b["sector_name"].as_str(), b["unit_name"].as_str()), (Some("建筑施工"), Some("东城区住建局")));
    let (s, b) = app.post(&inspector, "/api/v1/sites", site).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("code")), "{b}");
    let (s, b) = app
        .post(
            &inspector,
            "/api/v1/sites",
            json!({"code": "X-1", "name": "某核电站", "sector": "nuclear", "unit_id": 1}),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (400, Some("sector")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("construction（建筑施工）"), "{b}");

    // The construction checklist, from the shipped data.
    let (_, lists) = app.get(&inspector, "/api/v1/checklists").await;
    let construction = lists["sectors"].as_array().unwrap().iter().find(|s| s["id"] == "construction").unwrap();
    let items: Vec<&str> =
        construction["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert!(items.contains(&"scaffolding") && items.contains(&"lifting"), "{items:?}");
    let mut answers: serde_json::Map<String, serde_json::Value> =
        items.iter().map(|i| (i.to_string(), json!({"result": "ok"}))).collect();
    answers.insert("lifting".into(), json!({"result": "hazard", "note": "3 号楼塔吊附墙件螺栓松动"}));
    answers.insert("excavation".into(), json!({"result": "na"}));
    let inspection = |findings: serde_json::Value, site: &str| {
        json!({"kind": "inspection", "fields": {"site": site, "inspected_on": "2026-03-02",
            "inspectors": "王强、李明", "findings": findings, "summary": "发现隐患 1 项"}})
    };
    let mut missing = answers.clone();
    missing.remove("power");
    let (s, b) = app.post(&inspector, "/api/v1/cases", inspection(json!(missing), "GD-01")).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("findings")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("未填写结果：临时用电"), "{b}");
    let mut foreign = answers.clone();
    foreign.insert("canteen".into(), json!({"result": "ok"}));
    let (s, b) = app.post(&inspector, "/api/v1/cases", inspection(json!(foreign), "GD-01")).await;
    assert!(s == 400 && b["message"].as_str().unwrap().contains("canteen 不在建筑施工检查表中"), "{b}");
    let mut undescribed = answers.clone();
    undescribed.insert("fire".into(), json!({"result": "hazard"}));
    let (s, b) = app.post(&inspector, "/api/v1/cases", inspection(json!(undescribed), "GD-01")).await;
    assert!(s == 400 && b["message"].as_str().unwrap().contains("“消防”存在隐患，请写明发现的问题"), "{b}");
    let (s, b) = app.post(&inspector, "/api/v1/cases", inspection(json!(answers), "GD-99")).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("site")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("GD-99 尚未登记"), "{b}");

    let (s, b) = app.post(&inspector, "/api/v1/cases", inspection(json!(answers), "GD-01")).await;
    assert_eq!(s, 201, "{b}");
    let (inspection_id, code) = (b["case"]["id"].as_i64().unwrap(), b["case"]["code"].as_str().unwrap().to_string());
    assert_eq!(b["case"]["state"], "recorded");
    assert!(code.starts_with("JC"), "{code}");

    // The hazard it found, registered from it (by code, as printed on the record).
    let (s, b) = app
        .post(
            &inspector,
            "/api/v1/cases",
            json!({"kind": "hazard", "fields": {"site": "GD-01", "inspection": code, "location": "3 号楼塔吊",
                "checklist_item": "起重机械", "title": "塔吊附墙件松动", "description": "第二道附墙件螺栓松动"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let hazard = b["case"]["id"].as_i64().unwrap();
    assert_eq!(b["case"]["opened_from"]["id"], inspection_id);
    let (_, insp) = app.get(&inspector, &format!("/api/v1/cases/{inspection_id}")).await;
    assert_eq!(insp["opened"][0]["id"], hazard, "{insp}");
    let r = ok(&app, &inspector, inspection_id, "file", json!({"note": "隐患已登记"})).await;
    assert_eq!(r["state"], "filed");

    // The site lists its inspection and its hazard.
    let (s, d) = app.get(&inspector, "/api/v1/sites/GD-01").await;
    assert_eq!(s, 200, "{d}");
    let mut ids: Vec<i64> = d["cases"]["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [inspection_id, hazard]);
    assert!(d["checklist"].as_array().unwrap().iter().any(|i| i["name"] == "脚手架"), "{d}");
    let (_, list) = app.get(&inspector, "/api/v1/cases?site=GD-01&kind=hazard").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (s, _) = app.get(&inspector, "/api/v1/sites/NOPE").await;
    assert_eq!(s, 404);
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(inspection_path, an_inspection_of_a_site_finds_a_hazard_that_stays_linked);
