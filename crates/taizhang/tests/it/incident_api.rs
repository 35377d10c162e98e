//! Emergencies through the API on both databases: an incident received from a grid worker, its alert climbing
//! the escalation ladder when the duty room does not acknowledge it (the system's steps taken by the sweeper
//! with the manual clock), a late written report recorded as late, follow-up reports, a plan activated that
//! opens its tasks linked to the incident, and the close (终报). Also a hazard whose rectification runs past its
//! deadline and is escalated by the sweeper.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, ok};

async fn case(app: &TestApp, token: &str, id: i64) -> Value {
    let (s, b) = app.get(token, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 200, "{b}");
    b
}

fn event<'a>(case: &'a Value, action: &str) -> &'a Value {
    case["events"].as_array().unwrap().iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action}"))
}

async fn an_incident_is_reported_escalated_followed_up_and_closed(app: TestApp) {
    let grid = app.token("grid").await;
    let duty = app.token("jd_duty").await;
    let leader = app.token("jd_leader").await;
    let county = app.token("dc_leader").await;
    let jd = app.units["dc_jd"];

    let (s, b) = app
        .post(&grid, "/api/v1/cases", json!({"kind": "incident", "fields": {"incident_type": "natural_disaster", "level": "III",
            "warning_colour": "orange", "title": "幸福街道石门村山体滑坡", "occurred_at": "今日 08:40", "location": "石门村 3 组后山",
            "description": "连续降雨致后山滑坡，掩埋村道约 30 米，2 户房屋受威胁", "injured": 0, "responsible_unit": jd}}))
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    let clocks = b["case"]["clocks"].as_array().unwrap();
    let due = |c: &str| clocks.iter().find(|x| x["clock"] == c).map(|x| x["due_at"].as_str().unwrap().to_string());
    let at = |m: i64| (crate::helpers::t0() + Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // 较大: phone within 30 minutes, in writing within 1 hour (the field rule), and 10 minutes for the duty room.
    assert_eq!(due("phone_report"), Some(at(30)));
    assert_eq!(due("written_report"), Some(at(60)));
    assert_eq!(due("ack_duty"), Some(at(10)));

    // Nothing is due at 9 minutes; at 11 the alert goes to the township's leader.
    app.clock.advance(Duration::minutes(9));
    assert_eq!(app.svc.sweep().await.unwrap(), 0);
    app.clock.advance(Duration::minutes(2));
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    assert_eq!(app.svc.sweep().await.unwrap(), 0, "taken once");
    let c = case(&app, &duty, id).await;
    let esc = event(&c, "escalate_to_leader");
    assert_eq!(esc["actor"], "系统（时限届满自动执行）");
    assert_eq!(esc["late"], json!(["值班室确认时限"]), "{esc}");
    // The duty room's rung is over; the leader acknowledges on the next.
    let (s, e) = app.act(&duty, id, "ack_duty", json!({})).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("window_closed")), "{e}");
    ok(&app, &leader, id, "ack_leader", json!({"note": "已知悉，赶赴现场"})).await;
    app.clock.advance(Duration::hours(3));
    assert_eq!(app.svc.sweep().await.unwrap(), 0, "acknowledged: no further rung");

    // Both reports come 3 h 11 min after receipt: recorded at that time, and as late.
    let (s, _) = app.act(&county, id, "phone_report", json!({"reported_to": "x"})).await;
    assert!(s == 403 || s == 404, "only the responsible unit reports: {s}");
    ok(&app, &duty, id, "phone_report", json!({"reported_to": "东城区应急管理局值班室"})).await;
    ok(
        &app,
        &duty,
        id,
        "written_report",
        json!({"report_text": "滑坡体约 800 立方米，已疏散 7 人", "reported_to": "东城区应急管理局",
        "measures": "封闭村道，设置警示"}),
    )
    .await;
    let c = case(&app, &duty, id).await;
    assert_eq!(event(&c, "written_report")["late"], json!(["书面报告时限"]));
    assert_eq!(event(&c, "phone_report")["late"], json!(["电话报告时限"]));
    let written = c["clocks"].as_array().unwrap().iter().find(|x| x["clock"] == "written_report").unwrap();
    assert_eq!((written["status"].as_str(), written["remaining"].as_str()), (Some("overdue"), Some("超期完成")));

    // Confirmed, a plan activated: its two tasks open, linked, owned by their units with their own limits.
    ok(&app, &leader, id, "confirm", json!({"verified": "yes", "measures": "转移受威胁群众，封闭道路"})).await;
    let (s, e) = app.act(&leader, id, "activate_plan", json!({"plan": "no_such_plan"})).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("plan")), "{e}");
    ok(&app, &leader, id, "activate_plan", json!({"plan": "flood_iv"})).await;
    let c = case(&app, &leader, id).await;
    let tasks = c["opened"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "the leader issued both tasks: {tasks:?}");
    let task = tasks[0]["id"].as_i64().unwrap();
    // The housing bureau sees the task it owns, and not the township's.
    let zj = app.token("dczj_staff").await;
    let (s, _) = app.get(&zj, &format!("/api/v1/cases/{}", tasks[1]["id"])).await;
    assert_eq!(s, 200);
    let (s, _) = app.get(&zj, &format!("/api/v1/cases/{task}")).await;
    assert!(s == 403 || s == 404, "{s}");
    let t = case(&app, &leader, task).await;
    assert_eq!(t["fields"]["title"], "组织转移低洼地带群众");
    let td = t["clocks"].as_array().unwrap().iter().find(|x| x["clock"] == "task_due").unwrap();
    assert_eq!(td["period"]["amount"], json!(60), "{td}");
    ok(&app, &duty, task, "sign_for", json!({})).await;
    ok(&app, &duty, task, "complete", json!({"result": "已转移 2 户 7 人至村委会"})).await;

    // Follow-up reports restart the 24-hour clock; the close is the final report.
    app.clock.advance(Duration::hours(20));
    ok(&app, &duty, id, "follow_up_report", json!({"report_text": "无人员伤亡，村道抢通", "injured": 0})).await;
    let r =
        ok(&app, &leader, id, "close", json!({"report_text": "险情解除", "measures": "村道恢复通行，受威胁户已安置"}))
            .await;
    assert_eq!(r["state"], "closed");
    assert!(app.svc.verify().await.unwrap().ok);
}

async fn nobody_answers_and_the_alert_reaches_the_standing_committee(app: TestApp) {
    let duty = app.token("jd_duty").await;
    let county = app.token("dc_leader").await;
    let (s, b) = app
        .post(&duty, "/api/v1/cases", json!({"kind": "incident", "fields": {"incident_type": "accident", "level": "IV",
            "title": "幸福街道一仓库起火", "occurred_at": "09:00", "location": "幸福路 18 号", "description": "仓库起火，无人员被困",
            "responsible_unit": app.units["dc_jd"]}}))
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    for minutes in [11, 16] {
        app.clock.advance(Duration::minutes(minutes));
        assert_eq!(app.svc.sweep().await.unwrap(), 1);
    }
    // The county leader is the rung above the township; he may acknowledge now.
    let c = case(&app, &county, id).await;
    assert!(
        c["available_actions"].as_array().unwrap().iter().any(|a| a["id"] == "ack_principal"),
        "{}",
        c["available_actions"]
    );
    app.clock.advance(Duration::minutes(31));
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let c = case(&app, &county, id).await;
    let steps: Vec<&str> = c["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(steps, ["receive", "escalate_to_leader", "escalate_to_principal", "escalate_to_committee"]);
    app.clock.advance(Duration::hours(5));
    assert_eq!(app.svc.sweep().await.unwrap(), 0);
    assert!(app.svc.verify().await.unwrap().ok);
}

async fn an_overdue_rectification_is_escalated_by_the_sweeper(app: TestApp) {
    let inspector = app.token("inspector").await;
    let (s, b) = app
        .post(
            &inspector,
            "/api/v1/cases",
            json!({"kind": "hazard", "fields": {"site": "SY-XX",
            "location": "食堂", "title": "灭火器过期", "description": "食堂 4 具灭火器压力不足"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    ok(
        &app,
        &inspector,
        id,
        "issue_notice",
        json!({"grade": "general", "target_unit": app.units["dc_zj"], "rectify_within": "d3",
        "requirements": "更换灭火器", "legal_basis": "《消防法》第十六条"}),
    )
    .await;
    app.advance_days(3);
    assert_eq!(app.svc.sweep().await.unwrap(), 0, "the third day is still in time");
    app.advance_days(1);
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let c = case(&app, &inspector, id).await;
    assert!(
        c["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["clock"] == "overdue_supervision" && x["stopped_at"].is_null())
    );
    ok(&app, &app.token("dczj_leader").await, id, "supervise_overdue", json!({"note": "约谈校长，限 2 日内完成"}))
        .await;
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(incident_path, an_incident_is_reported_escalated_followed_up_and_closed);
both_backends!(ladder_to_committee, nobody_answers_and_the_alert_reaches_the_standing_committee);
both_backends!(hazard_overdue, an_overdue_rectification_is_escalated_by_the_sweeper);
