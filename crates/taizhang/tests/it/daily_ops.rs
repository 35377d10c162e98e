//! Daily operations on both databases, with the manual clock (no test sleeps): daily reports and nil reports
//! due by 16:00, a missing report detected at the minute it falls due, a late one staying late after its
//! correction.

use chrono::TimeZone;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

/// A China-time instant on 2 March 2026 (t0's day).
fn at(hour: u32, minute: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 3, 2, hour, minute, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn a_missing_daily_report_is_seen_from_above_at_the_minute_it_falls_due(app: TestApp) {
    let duty = app.token("jd_duty").await;
    let district = app.token("dc_leader").await;
    let status = |date: &'static str| {
        let (app, district) = (&app, district.clone());
        async move {
            let (s, b) = app.get(&district, &format!("/api/v1/periodic/daily_report?date={date}")).await;
            assert_eq!(s, 200, "{b}");
            let jd =
                b["units"].as_array().unwrap().iter().find(|u| u["unit"]["name"] == "东城区幸福街道").unwrap().clone();
            (jd["status"].as_str().unwrap().to_string(), jd, b)
        }
    };
    app.clock.set(at(15, 59));
    assert_eq!(status("2026-03-02").await.0, "pending", "not due before 16:00");
    app.clock.set(at(16, 0));
    let (s, _, b) = status("2026-03-02").await;
    assert_eq!((s.as_str(), b["missing"].as_i64()), ("missing", Some(1)), "missing from 16:00 on: {b}");
    assert_eq!(b["period"], "2026 年 03 月 02 日");

    // Filed at 16:05: late, at the server's time; the correction is appended and the report stays late.
    app.clock.set(at(16, 5));
    let file = json!({"kind": "daily_report", "fields": {"report_date": "2026-03-02", "result": "items",
        "items": "幸福路菜市场北门垃圾堆放，已转城管处理"}});
    let (s, b) = app.post(&duty, "/api/v1/cases", file).await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    app.clock.set(at(16, 30));
    let (s, b) = app
        .act(&duty, id, "correct", json!({"note": "更正：改为零报告，垃圾堆放不属于日报事项", "result": "nil"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, jd, b) = status("2026-03-02").await;
    assert_eq!((s.as_str(), b["late"].as_i64()), ("late", Some(1)), "{b}");
    assert_eq!(jd["filed_at"], json!(at(16, 5)), "the first filing's time, never the correction's: {jd}");
    assert!(jd["result"].as_str().unwrap().contains("零报告"), "the result as corrected: {jd}");
    let (_, case) = app.get(&duty, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["events"].as_array().unwrap().len(), 2, "the correction is its own event: {case}");

    // The next morning's nil report is on time; a report is for the unit's own day, checked as a date.
    app.clock.set(at(9, 0) + chrono::Duration::days(1));
    let nil = json!({"kind": "daily_report", "fields": {"report_date": "2026-03-03", "result": "nil"}});
    let (s, b) = app.post(&duty, "/api/v1/cases", nil).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(status("2026-03-03").await.0, "on_time");
    let (s, b) = app.get(&district, "/api/v1/periodic/daily_report?date=2026-3-3x").await;
    assert_eq!((s, b["field"].as_str()), (400, Some("date")), "{b}");
    // Today by default.
    let (_, b) = app.get(&district, "/api/v1/periodic/daily_report").await;
    assert_eq!(b["date"], "2026-03-03");

    // A locality assessing its streets on the daily report (a scheme of its own): March so far owes the street
    // Sunday's 16:00 report (missing), Monday's (late) and Tuesday's (filed at 9:00: on time though not yet
    // due); the 9:00 round is owed only under a special period, of which there is none. 1 of 3 → 33.33.
    let scheme = taizhang_domain::assessment::Scheme::from_toml(
        r#"
        id = "daily_reports"
        name = "日报告考核"
        version = 1
        kind = "daily_report"
        levels = ["township"]
        [[counts]]
        id = "due"
        name = "应报"
        periodic = "due"
        [[counts]]
        id = "on_time"
        name = "按时"
        periodic = "on_time"
        [[counts]]
        id = "late"
        name = "迟报"
        periodic = "late"
        [[counts]]
        id = "missing"
        name = "漏报"
        periodic = "missing"
        [[indicators]]
        id = "on_time_rate"
        name = "按时报告率"
        numerator = "on_time"
        denominator = "due"
        weight = 100
        target = 100
        floor = 0
        "#,
    )
    .unwrap();
    scheme.check(&app.svc.workflows).unwrap();
    let mut svc = app.svc.clone();
    svc.scheme = std::sync::Arc::new(scheme);
    let p = svc.authenticate(&district).await.unwrap();
    let r = svc.assessment(&p, Some("2026-03")).await.unwrap();
    let jd = r.groups.iter().flat_map(|g| &g.units).find(|u| u.unit.id == app.units["dc_jd"]).unwrap();
    let counts: Vec<(&str, i64)> = jd.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counts, [("due", 3), ("late", 1), ("missing", 1), ("on_time", 1)]);
    assert_eq!(jd.score.total, Some(33.33));
    let missing = svc.assessment_cases(&p, "2026-03", app.units["dc_jd"], "missing").await.unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].id, None, "nothing was filed: {missing:?}");
    assert!(missing[0].title.contains("2026 年 03 月 01 日 下午报"), "{missing:?}");
    let late = svc.assessment_cases(&p, "2026-03", app.units["dc_jd"], "late").await.unwrap();
    assert_eq!((late[0].id, late[0].state.as_str()), (Some(id), "迟报"));
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(daily_reports, a_missing_daily_report_is_seen_from_above_at_the_minute_it_falls_due);

/// The street's leader lays out a week's rotation; who is on duty now is answered for the unit, with the duty
/// phone masked for those who are not duty staff; a swap asked by the officer and approved by the leader
/// changes who serves that day, and the plan stays visible.
async fn a_rotation_with_an_approved_swap_decides_who_is_on_duty(app: TestApp) {
    let leader = app.token("jd_leader").await;
    let duty = app.token("jd_duty").await;
    let mediator = app.token("mediator").await;
    let jd = app.units["dc_jd"];
    let rotation = |officers: Vec<i64>| {
        json!({"unit_id": jd, "from": "2026-03-02", "days": 7, "starts": "08:30", "officers": officers,
            "leaders": [app.users["jd_leader"]], "phone": "0591-87654321"})
    };
    let week = rotation(vec![app.users["jd_duty"], app.users["mediator"]]);
    let (s, b) = app.post(&duty, "/api/v1/duty/rotations", week.clone()).await;
    assert_eq!(s, 403, "an officer does not plan the roster: {b}");
    let (s, b) = app.post(&app.token("xh_staff").await, "/api/v1/duty/rotations", week.clone()).await;
    assert_eq!(s, 403, "nor does another district: {b}");
    let (s, b) = app.post(&leader, "/api/v1/duty/rotations", rotation(vec![app.users["grid"]])).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("officers")), "{b}");
    let (s, b) = app.post(&leader, "/api/v1/duty/rotations", week).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 14, "7 days × officer and leader");

    // Monday 09:00: the duty officer and the leader on duty, the phone in full for duty staff only.
    let now = format!("/api/v1/duty/units/{jd}/now");
    let (_, on) = app.get(&duty, &now).await;
    let names: Vec<&str> = on.as_array().unwrap().iter().map(|s| s["user_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["jd_leader", "jd_duty"], "{on}");
    assert_eq!(on[0]["phone"], "0591-87654321");
    let (_, masked) = app.get(&app.token("grid").await, &now).await;
    assert_ne!(masked[0]["phone"], "0591-87654321", "masked for others: {masked}");

    // Wednesday (from 08:30) is jd_duty's again; he asks to hand it to the mediator, the leader approves.
    let wed = json!(at(8, 30) + chrono::Duration::days(2));
    let (_, roster) = app.get(&leader, &format!("/api/v1/duty/units/{jd}/shifts?from=2026-03-04&days=1")).await;
    let wednesday =
        roster.as_array().unwrap().iter().find(|s| s["post"] == "officer" && s["starts_at"] == wed).unwrap();
    assert_eq!(wednesday["user_name"], "jd_duty", "{roster}");
    let shift = wednesday["id"].as_i64().unwrap();
    let ask = json!({"to_user_id": app.users["mediator"], "reason": "家中老人住院"});
    let (s, _) = app.post(&mediator, &format!("/api/v1/duty/shifts/{shift}/swaps"), ask.clone()).await;
    assert_eq!(s, 403, "only for one's own shift");
    let (s, b) = app.post(&duty, &format!("/api/v1/duty/shifts/{shift}/swaps"), ask.clone()).await;
    assert_eq!(s, 201, "{b}");
    let swap = b.as_i64().unwrap();
    let (s, _) = app.post(&duty, &format!("/api/v1/duty/shifts/{shift}/swaps"), ask).await;
    assert_eq!(s, 400, "one pending request at a time");
    let decide = format!("/api/v1/duty/shifts/{shift}/swaps/{swap}/decision");
    let (s, _) = app.post(&duty, &decide, json!({"approve": true})).await;
    assert_eq!(s, 403, "not by the officer");
    let (s, b) = app.post(&leader, &decide, json!({"approve": true})).await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = app.post(&leader, &decide, json!({"approve": false})).await;
    assert_eq!(s, 409, "decided once");
    let (_, roster) = app.get(&leader, &format!("/api/v1/duty/units/{jd}/shifts?from=2026-03-04&days=1")).await;
    let wednesday =
        roster.as_array().unwrap().iter().find(|s| s["post"] == "officer" && s["starts_at"] == wed).unwrap();
    assert_eq!(
        (wednesday["user_name"].as_str(), wednesday["planned_user_name"].as_str()),
        (Some("mediator"), Some("jd_duty"))
    );
    assert_eq!(wednesday["swaps"][0]["status"], "approved");

    // Wednesday 10:00: the mediator is on duty.
    app.clock.set(at(10, 0) + chrono::Duration::days(2));
    let (_, on) = app.get(&duty, &now).await;
    assert!(on.as_array().unwrap().iter().any(|s| s["post"] == "officer" && s["user_name"] == "mediator"), "{on}");
    let (_, audit) = app.get(&app.token("auditor").await, "/api/v1/audit?event=duty_swap_decided").await;
    assert!(audit.to_string().contains("duty_swap_decided"), "{audit}");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(duty_rosters, a_rotation_with_an_approved_swap_decides_who_is_on_duty);

/// Each rung of an incident's escalation ladder tells whoever holds it: the officer actually on duty (after an
/// approved swap, the colleague who took the shift), then the leader on duty, then the unit above — which has
/// no roster, so all its leaders are told. Notifications are the recipient's own and are marked read once.
async fn each_escalation_rung_notifies_whoever_is_on_duty(app: TestApp) {
    let jd = app.units["dc_jd"];
    let (leader, county) = (app.token("jd_leader").await, app.token("dc_leader").await);
    let (duty, mediator) = (app.token("jd_duty").await, app.token("mediator").await);
    let week = json!({"unit_id": jd, "from": "2026-03-02", "days": 7, "starts": "08:30",
        "officers": [app.users["jd_duty"]], "leaders": [app.users["jd_leader"]], "phone": "0591-87654321"});
    let (s, b) = app.post(&leader, "/api/v1/duty/rotations", week).await;
    assert_eq!(s, 201, "{b}");
    // Monday's officer hands the shift to the mediator; the district's leader approves.
    let (_, roster) = app.get(&duty, &format!("/api/v1/duty/units/{jd}/shifts?from=2026-03-02&days=1")).await;
    let shift = roster.as_array().unwrap().iter().find(|s| s["post"] == "officer").unwrap()["id"].as_i64().unwrap();
    let ask = json!({"to_user_id": app.users["mediator"], "reason": "参加培训"});
    let (s, b) = app.post(&duty, &format!("/api/v1/duty/shifts/{shift}/swaps"), ask).await;
    assert_eq!(s, 201, "{b}");
    let decide = format!("/api/v1/duty/shifts/{shift}/swaps/{}/decision", b.as_i64().unwrap());
    let (s, b) = app.post(&county, &decide, json!({"approve": true})).await;
    assert_eq!(s, 204, "a leader of the unit above decides: {b}");

    let notes = |token: String| {
        let app = &app;
        async move {
            let (s, b) = app.get(&token, "/api/v1/notifications").await;
            assert_eq!(s, 200, "{b}");
            b.as_array().unwrap().clone()
        }
    };
    let (s, b) = app
        .post(
            &app.token("grid").await,
            "/api/v1/cases",
            json!({"kind": "incident", "fields": {"incident_type": "accident",
            "level": "IV", "title": "幸福路燃气泄漏", "occurred_at": "今日 08:55", "location": "幸福路 12 号",
            "description": "居民报告闻到燃气味", "responsible_unit": jd}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let code = b["case"]["code"].as_str().unwrap().to_string();
    let told = notes(mediator.clone()).await;
    assert_eq!(told.len(), 1, "the officer serving after the swap is told: {told:?}");
    assert_eq!(told[0]["case_code"], code.as_str());
    assert!(told[0]["title"].as_str().unwrap().contains("接报登记"), "{told:?}");
    assert!(notes(duty.clone()).await.is_empty(), "not the officer who handed the shift over");
    assert!(notes(leader.clone()).await.is_empty(), "the leader's rung has not come");

    // 11 minutes without acknowledgement: the leader on duty; 16 more: the district, which has no roster.
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let told = notes(leader.clone()).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["title"].as_str().unwrap().contains("提级至带班领导"), "{told:?}");
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let told = notes(county.clone()).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["body"].as_str().unwrap().contains("此刻无排班"), "the fallback is said: {told:?}");
    assert!(notes(app.token("dczj_leader").await).await.is_empty(), "a department's leader is not the district's");

    // Read once, by its recipient only.
    let id = told[0]["id"].as_i64().unwrap();
    let read = format!("/api/v1/notifications/{id}/read");
    let (s, _) = app.post(&leader, &read, json!({})).await;
    assert_eq!(s, 404, "someone else's notification");
    let (s, _) = app.post(&county, &read, json!({})).await;
    assert_eq!(s, 204);
    let (s, _) = app.post(&county, &read, json!({})).await;
    assert_eq!(s, 404, "read already");
    assert_eq!(notes(county).await[0]["read"], true);
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(escalation_notices, each_escalation_rung_notifies_whoever_is_on_duty);

/// The gate signs visitors in and out; the log is the site's unit's and its superiors' only, masked, every read
/// audited; visits older than the site's retention period are deleted by the sweeper, and the deletion audited.
async fn visitor_logs_are_kept_for_their_period_then_deleted(app: TestApp) {
    let (sysadmin, inspector) = (app.token("sysadmin").await, app.token("inspector").await);
    let site = json!({"code": "XX-001", "name": "幸福小学", "sector": "school", "unit_id": app.units["dc_jd"],
        "visitor_retention_days": 7});
    let (s, b) = app.post(&sysadmin, "/api/v1/sites", site).await;
    assert_eq!((s, b["visitor_retention_days"].as_i64()), (201, Some(7)), "{b}");
    let (s, b) = app
        .post(
            &sysadmin,
            "/api/v1/sites",
            json!({"code": "XX-002", "name": "x", "sector": "school",
            "unit_id": app.units["dc_jd"], "visitor_retention_days": 0}),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (400, Some("visitor_retention_days")), "{b}");

    let gate = app.token("jd_duty").await;
    let visit = json!({"name": "张建国", "phone": "138-0013-8000", "purpose": "送教材", "host": "李老师"});
    let (s, b) = app.post(&gate, "/api/v1/sites/XX-001/visitors", visit.clone()).await;
    assert_eq!(s, 201, "{b}");
    let first = b.as_i64().unwrap();
    for (who, why) in [("zj_staff", "another branch"), ("sysadmin", "an administrator")] {
        let (s, _) = app.post(&app.token(who).await, "/api/v1/sites/XX-001/visitors", visit.clone()).await;
        assert_eq!(s, 403, "{why} keeps no log here");
    }
    let (s, b) = app
        .post(&gate, "/api/v1/sites/XX-001/visitors", json!({"name": "王", "phone": "12", "purpose": "x", "host": "y"}))
        .await;
    assert_eq!((s, b["field"].as_str()), (400, Some("phone")), "{b}");
    app.clock.advance(chrono::Duration::minutes(40));
    let (s, _) = app.post(&gate, &format!("/api/v1/sites/XX-001/visitors/{first}/sign-out"), json!({})).await;
    assert_eq!(s, 204);
    let (s, _) = app.post(&gate, &format!("/api/v1/sites/XX-001/visitors/{first}/sign-out"), json!({})).await;
    assert_eq!(s, 404, "signed out once");

    // Three days later, another visit; the district's inspector (above the street) reads the week, masked.
    app.clock.advance(chrono::Duration::days(3));
    let (s, _) = app
        .post(
            &gate,
            "/api/v1/sites/XX-001/visitors",
            json!({"name": "赵敏", "phone": "13900139000",
        "purpose": "家长会", "host": "三年级二班"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, log) = app.get(&inspector, "/api/v1/sites/XX-001/visitors?days=7").await;
    assert_eq!(s, 200, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[1]["name"].as_str(), log[1]["phone"].as_str()), (Some("张**"), Some("138****8000")), "{log:?}");
    assert!(log[1]["signed_out_at"].is_string() && log[0]["signed_out_at"].is_null());
    let (_, today) = app.get(&gate, "/api/v1/sites/XX-001/visitors").await;
    assert_eq!(today.as_array().unwrap().len(), 1, "today by default: {today}");

    // Day 8 after the first visit: the sweeper deletes it (7 days kept), not the later one.
    app.clock.advance(chrono::Duration::days(4) + chrono::Duration::hours(1));
    assert_eq!(app.svc.purge_visitor_logs().await.unwrap(), 1);
    assert_eq!(app.svc.purge_visitor_logs().await.unwrap(), 0, "once");
    let (_, log) = app.get(&inspector, "/api/v1/sites/XX-001/visitors?days=30").await;
    let names: Vec<&str> = log.as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["赵*"]);
    let (_, audit) = app.get(&app.token("auditor").await, "/api/v1/audit?event=visitor_logs_purged").await;
    assert!(audit.to_string().contains("删除 1 条访客记录"), "{audit}");
    let (_, audit) = app.get(&app.token("auditor").await, "/api/v1/audit?event=visitor_log_read").await;
    assert!(audit.to_string().contains("site:XX-001"), "reads are audited: {audit}");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(visitor_logs, visitor_logs_are_kept_for_their_period_then_deleted);

/// A week at the district, Monday to the next Tuesday: a special period planned and activated (everyone in the
/// district told) with a task opened from its plan; a leader's reception published, booked from the portal on
/// a resident's case, confirmed, held and recorded with a promise; the promise made a public commitment that
/// runs past its date, gets its red card from the sweeper (owner unit's and district's leaders told), shows it
/// on the portal, and is fulfilled late.
async fn a_week_of_special_period_reception_and_a_missed_commitment(app: TestApp) {
    let (dc, leader) = (app.units["dc"], app.token("dc_leader").await);
    let days = |d: i64| chrono::Duration::days(d);
    let notes = |user: &'static str| {
        let app = &app;
        async move {
            let (_, b) = app.get(&app.token(user).await, "/api/v1/notifications").await;
            b.as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };

    // Monday: the plan for the national sessions; Wednesday it is activated.
    let plan = json!({"kind": "special_period", "fields": {"title": "全国两会期间特殊时期工作方案", "starts_on": "2026-03-04",
        "ends_on": "2026-03-11", "scope_unit": dc, "leading_group": "组长：邓明；成员：各街道、部门主要负责人",
        "duty_level": "level1", "reporting": "twice_daily", "measures": "领导 24 小时带班，每日两报"}});
    let (s, b) = app.post(&leader, "/api/v1/cases", plan).await;
    assert_eq!(s, 201, "{b}");
    let (ts, ts_code) = (b["case"]["id"].as_i64().unwrap(), b["case"]["code"].as_str().unwrap().to_string());
    app.clock.set(at(8, 0) + days(2));
    let (s, b) = app.act(&leader, ts, "activate", json!({})).await;
    assert_eq!((s, b["state"].as_str()), (200, Some("active")), "{b}");
    assert!(notes("grid").await.iter().any(|t| t.contains("启动特殊时期")), "everyone in the district is told");
    assert!(notes("jd_duty").await.is_empty(), "the street is another unit");

    // While it is active, the district's townships report twice a day: a 9:00 round is due as well.
    app.clock.set(at(8, 30) + days(2));
    let jd_duty = app.token("jd_duty").await;
    let morning =
        json!({"kind": "daily_report", "fields": {"report_date": "2026-03-04", "round": "morning", "result": "nil"}});
    let (s, b) = app.post(&jd_duty, "/api/v1/cases", morning).await;
    assert_eq!(s, 201, "{b}");
    let township = |date: &'static str| {
        let (app, leader) = (&app, leader.clone());
        async move {
            let (s, b) = app.get(&leader, &format!("/api/v1/periodic/daily_report?date={date}")).await;
            assert_eq!(s, 200, "{b}");
            let jd = b["units"].as_array().unwrap().iter().find(|u| u["unit"]["name"] == "东城区幸福街道").unwrap();
            let rounds: Vec<(String, String)> = jd["rounds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["round"].as_str().unwrap().into(), r["status"].as_str().unwrap().into()))
                .collect();
            (jd["status"].as_str().unwrap().to_string(), rounds, jd.clone(), b["missing"].as_i64())
        }
    };
    let (status, rounds, jd, _) = township("2026-03-04").await;
    let pair = |r: &str, s: &str| (r.to_string(), s.to_string());
    assert_eq!(rounds, vec![pair("morning", "on_time"), pair("afternoon", "pending")], "{jd}");
    assert_eq!(status, "pending", "the day is not over: {jd}");
    assert!(jd["rounds"][0]["required_by"].as_str().unwrap().starts_with(&ts_code), "{jd}");
    let (_, rounds, jd, _) = township("2026-03-03").await;
    assert_eq!(rounds, vec![pair("afternoon", "missing")], "before the period, once a day: {jd}");
    let (_, dir) = app.get(&jd_duty, "/api/v1/duty/directory").await;
    let jd_row = dir.as_array().unwrap().iter().find(|u| u["unit_name"] == "东城区幸福街道").unwrap();
    assert!(jd_row["special_periods"][0].as_str().unwrap().contains("一级：主要领导 24 小时带班"), "{jd_row}");
    let dir_row = dir.as_array().unwrap().iter().find(|u| u["unit_name"] == "西湖区").unwrap();
    assert_eq!(dir_row["special_periods"], json!([]), "another district is not covered: {dir_row}");
    let task = json!({"kind": "task", "fields": {"title": "重点场所每日巡查", "owner_unit": app.units["dc_jd"],
        "within_minutes": 2880, "source_case": ts_code}});
    let (s, b) = app.post(&leader, "/api/v1/cases", task).await;
    assert_eq!(s, 201, "a task opened from the plan: {b}");
    let (_, plan_view) = app.get(&leader, &format!("/api/v1/cases/{ts}")).await;
    assert_eq!(plan_view["opened"].as_array().unwrap().len(), 1, "the plan lists its task: {plan_view}");

    // The district publishes Thursday's reception; a resident books it from the portal on their case.
    let slot = json!({"unit_id": dc, "leader_id": app.users["dc_leader"], "starts": "2026-03-05 09:00", "minutes": 120,
        "place": "东城区信访局接待大厅", "topic": "城建、物业", "capacity": 1});
    let (s, b) = app.post(&app.token("grid").await, "/api/v1/receptions/slots", slot.clone()).await;
    assert_eq!(s, 403, "a grid worker does not publish receptions: {b}");
    let (s, b) = app.post(&leader, "/api/v1/receptions/slots", slot).await;
    assert_eq!(s, 201, "{b}");
    let slot_id = b.as_i64().unwrap();
    let (_, code, password) = app.register(&leader, "claim", json!({})).await;
    let (_, other, other_password) = app.register(&leader, "claim", json!({"title": "另一件事"})).await;
    let book = |code: &str, password: &str| json!({"code": code, "password": password, "slot_id": slot_id, "request": "想当面反映电梯维修资金问题"});
    let (s, _) = app.post("", "/api/v1/portal/receptions", book(&code, "wrong-password")).await;
    assert_eq!(s, 401);
    let (s, b) = app.post("", "/api/v1/portal/receptions", book(&code, &password)).await;
    assert_eq!((s, b["status"].as_str()), (201, Some("requested")), "{b}");
    let booking = b["id"].as_i64().unwrap();
    let (s, b) = app.post("", "/api/v1/portal/receptions", book(&other, &other_password)).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("slot_id")), "one place only: {b}");
    let (_, public) = app.get("", "/api/v1/portal/receptions").await;
    assert_eq!((public[0]["remaining"].as_i64(), public[0]["bookings"].as_array().map(Vec::len)), (Some(0), Some(0)));
    let decide = format!("/api/v1/receptions/slots/{slot_id}/bookings/{booking}/decision");
    let (s, b) = app.post(&leader, &decide, json!({"confirm": true, "reply": "请于 3 月 5 日 8:50 到接待大厅"})).await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = app.post(&leader, &decide, json!({"confirm": false, "reply": "x"})).await;
    assert_eq!(s, 409);

    // Thursday: the reception is held and recorded on the case, with the promise made there.
    app.clock.set(at(10, 30) + days(3));
    let record = json!({"kind": "reception", "fields": {"title": "约访：电梯维修资金", "source_case": code,
        "mode": "appointment", "booking": booking, "leader": "邓明", "host_unit": dc,
        "held_at": "3 月 5 日上午，东城区信访局接待大厅", "summary": "信访人反映维修资金申请受阻，已当场协调区住建局。",
        "promises": "区住建局 3 日内完成维修资金审核"}});
    let (s, b) = app.post(&leader, "/api/v1/cases", record.clone()).await;
    assert_eq!(s, 201, "{b}");
    let jf = b["case"]["code"].as_str().unwrap().to_string();
    let jf_id = b["case"]["id"].as_i64().unwrap();
    let (_, schedule) = app.get(&leader, "/api/v1/receptions/slots").await;
    let held = &schedule[0]["bookings"][0];
    assert_eq!((held["status"].as_str(), held["record_case_id"].as_i64()), (Some("held"), Some(jf_id)), "{schedule}");
    let (s, b) = app.post(&leader, "/api/v1/cases", record.clone()).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("booking")), "a booking is recorded once: {b}");
    let mut elsewhere = record.clone();
    elsewhere["fields"]["source_case"] = json!(other);
    let (s, b) = app.post(&leader, "/api/v1/cases", elsewhere).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("booking")), "not another case's booking: {b}");
    assert!(b["message"].as_str().unwrap().contains("不是该信访事项的约访"), "{b}");
    // Thursday's 9:00 round was not filed: missing, and the day with it.
    let (status, rounds, jd, missing) = township("2026-03-05").await;
    assert_eq!((status.as_str(), missing), ("missing", Some(1)), "{jd}");
    assert_eq!(rounds[0], pair("morning", "missing"), "{jd}");
    let promise = json!({"kind": "commitment", "fields": {"title": "完成电梯维修资金审核", "content": "3 日内完成审核并告知信访人",
        "owner_unit": app.units["dc_zj"], "owner": "东城区住建局副局长 曹阳", "within_days": 3, "public": "yes",
        "timetable": "3 月 6 日受理，3 月 8 日前审核完毕", "source_case": jf}});
    let (s, b) = app.post(&leader, "/api/v1/cases", promise).await;
    assert_eq!(s, 201, "{b}");
    let cn = b["case"]["id"].as_i64().unwrap();
    assert!(notes("dczj_leader").await.iter().any(|t| t.contains("作出承诺")), "the owner unit's leaders are told");
    let (_, public) = app.get("", "/api/v1/portal/commitments").await;
    assert_eq!(
        (public[0]["red_card"].as_bool(), public[0]["due_date"].as_str()),
        (Some(false), Some("2026-03-09")),
        "3 days from Thursday end on Sunday, which rolls to Monday: {public}"
    );

    // Tuesday: no fulfilment by Monday — the sweeper's red card, told to the owner unit and the district.
    app.clock.set(at(0, 5) + days(8));
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let (_, c) = app.get(&leader, &format!("/api/v1/cases/{cn}")).await;
    assert_eq!(c["state"], "missed", "{c}");
    assert!(notes("dczj_leader").await.iter().any(|t| t.contains("亮红牌")));
    assert!(notes("dc_leader").await.iter().any(|t| t.contains("亮红牌")), "and the leaders above");
    let (_, public) = app.get("", "/api/v1/portal/commitments").await;
    assert_eq!(
        (public[0]["red_card"].as_bool(), public[0]["state_name"].as_str()),
        (Some(true), Some("逾期未兑现（红牌）"))
    );
    let (s, b) =
        app.act(&app.token("dczj_staff").await, cn, "fulfil", json!({"result": "已审核通过，资金已拨付"})).await;
    assert_eq!((s, b["state"].as_str()), (200, Some("fulfilled")), "{b}");
    let (_, public) = app.get("", "/api/v1/portal/commitments").await;
    assert_eq!(
        (public[0]["red_card"].as_bool(), public[0]["latest"].as_str()),
        (Some(true), Some("已审核通过，资金已拨付")),
        "fulfilled late keeps its red card: {public}"
    );
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(week_of_daily_operations, a_week_of_special_period_reception_and_a_missed_commitment);

/// A webhook receiver on loopback: answers the first `fail_first` requests with 500, the rest with 200, and keeps
/// every request's body with its signature header.
async fn receiver(fail_first: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            let (head, body_len) = loop {
                let k = conn.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break (String::new(), 0);
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    buf.drain(..end + 4);
                    break (head, len);
                }
            };
            while buf.len() < body_len {
                let k = conn.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
            }
            let signature = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("x-taizhang-signature:").map(|v| v.trim().to_string())
                })
                .unwrap_or_default();
            seen.lock().unwrap().push((signature, buf));
            let status = if n < fail_first { "500 Internal Server Error" } else { "200 OK" };
            n += 1;
            let _ = conn
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                .await;
        }
    });
    (url, got)
}

/// A backlog case designated at the housing bureau: it tells the bureau's leaders (two in the fixture). Its id
/// and code.
async fn backlog_case(app: &TestApp, office: &str) -> (i64, String) {
    let (petition, _, _) = app.register(office, "claim", json!({})).await;
    let fields = json!({"title": "多年未结的物业维修纠纷", "content": "多次信访", "source_case": petition,
        "owner_unit": app.units["zjj"], "contract_leader": app.users["zj_head"], "team": "专班",
        "plan": "走访、协调、答复", "within_days": 30});
    let (s, b) = app.post(office, "/api/v1/cases", json!({"kind": "backlog", "fields": fields})).await;
    assert_eq!(s, 201, "{b}");
    (b["case"]["id"].as_i64().unwrap(), b["case"]["code"].as_str().unwrap().to_string())
}

/// Notifications also go out through the locality's webhook when `outbound.toml` names one: signed, retried when
/// the gateway fails, the workspace copy untouched; nothing is sent without the file.
async fn notifications_go_out_through_the_webhook(app: TestApp) {
    use taizhang_service::outbound::{OutboundMessage, Webhook, load_channel};
    let office = app.token("office").await;
    let (url, got) = receiver(1).await;
    assert!(load_channel(&app.loc.data_dir).unwrap().is_none(), "no file, no channel");
    assert_eq!(app.svc.send_outbound().await.unwrap(), 0);
    std::fs::write(app.loc.data_dir.join("outbound.toml"), "[webhook]\nurl = \"https://sms.example.gov.cn/x\"\n")
        .unwrap();
    let e = load_channel(&app.loc.data_dir).err().unwrap();
    assert!(e.message.contains("http://"), "{}", e.message);
    std::fs::write(app.loc.data_dir.join("outbound.toml"), "[webhook]\nurl = \"http://x\"\ntoken = \"1\"\n").unwrap();
    assert!(load_channel(&app.loc.data_dir).err().unwrap().message.contains("outbound.toml 格式错误"));
    std::fs::write(
        app.loc.data_dir.join("outbound.toml"),
        format!("[webhook]\nurl = \"{url}\"\nsecret = \"s3cret\"\n"),
    )
    .unwrap();
    let mut svc = app.svc.clone();
    svc.outbound = load_channel(&app.loc.data_dir).unwrap();
    assert!(svc.outbound.is_some());

    // A backlog case tells the housing bureau's leaders (two of them in the fixture).
    let (case, code) = backlog_case(&app, &office).await;
    let code = serde_json::Value::String(code);
    // The gateway fails the first delivery: that round stops there; the next delivers all, then nothing is left.
    assert_eq!(svc.send_outbound().await.unwrap(), 0, "stopped at the refusal");
    let delivered = svc.send_outbound().await.unwrap();
    assert!(delivered >= 2, "every leader of the bureau: {delivered}");
    assert_eq!(svc.send_outbound().await.unwrap(), 0, "all delivered");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), delivered + 1, "one refused, then every notification delivered once");
    let mut users = vec![];
    for (signature, body) in &got {
        assert_eq!(signature, &Webhook::signature("s3cret", body), "signed with the shared secret");
        let m: OutboundMessage = serde_json::from_slice(body).unwrap();
        assert_eq!(m.link, format!("/cases/{case}"));
        assert_eq!(m.unit, "临江市住建局");
        assert!(!m.title.is_empty() && m.case_code.as_deref() == code.as_str(), "{m:?}");
        users.push(m.username);
    }
    users.sort();
    users.dedup();
    assert_eq!(users, ["zj_head", "zj_leader"]);
    // The workspace notification is there whatever happened outside.
    let leader = app.token("zj_leader").await;
    let (_, notes) = app.get(&leader, "/api/v1/notifications").await;
    assert!(notes.as_array().unwrap().iter().any(|n| n["case_code"] == code), "{notes}");
    std::fs::remove_file(app.loc.data_dir.join("outbound.toml")).unwrap();
}

both_backends!(outbound_webhook, notifications_go_out_through_the_webhook);

/// A mail relay on a loopback port speaking enough SMTP for the outbound channel: it turns the first
/// `refuse_first` recipients away for now (451, try later), has no mailbox for the next recipient it is asked for
/// (550, for good), and records (recipient, message) of each mail it accepts.
async fn relay(refuse_first: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut recipients = 0;
        let mut no_mailbox: Option<String> = None;
        while let Ok((conn, _)) = listener.accept().await {
            let (read, mut write) = conn.into_split();
            let mut read = BufReader::new(read);
            let _ = write.write_all(b"220 relay.test ESMTP\r\n").await;
            let mut rcpt = String::new();
            loop {
                let mut line = String::new();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                let answer = if line.starts_with("EHLO ") {
                    "250-relay.test\r\n250 8BITMIME\r\n".to_string()
                } else if line.starts_with("MAIL FROM:<taizhang@linjiang.gov.cn>") {
                    "250 OK\r\n".into()
                } else if let Some(to) = line.strip_prefix("RCPT TO:<") {
                    recipients += 1;
                    rcpt = to.trim_end().trim_end_matches('>').to_string();
                    if recipients == refuse_first + 1 {
                        no_mailbox = Some(rcpt.clone());
                    }
                    if recipients <= refuse_first {
                        "451 try again later\r\n".into()
                    } else if no_mailbox.as_ref() == Some(&rcpt) {
                        "550 no such mailbox\r\n".into()
                    } else {
                        "250 OK\r\n".into()
                    }
                } else if line == "DATA\r\n" {
                    let _ = write.write_all(b"354 end with .\r\n").await;
                    let mut message = String::new();
                    loop {
                        let mut l = String::new();
                        if read.read_line(&mut l).await.unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        message.push_str(&l);
                    }
                    seen.lock().unwrap().push((rcpt.clone(), message));
                    "250 queued\r\n".into()
                } else if line == "QUIT\r\n" {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    break;
                } else {
                    format!("500 unexpected {}\r\n", line.trim_end())
                };
                let _ = write.write_all(answer.as_bytes()).await;
            }
        }
    });
    (addr, got)
}

/// The text of a header's RFC 2047 encoded words, and of a base64 body.
fn decoded(encoded: &str) -> String {
    use base64::Engine;
    let bytes = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    if encoded.starts_with("=?UTF-8?B?") {
        let words =
            encoded.split_whitespace().map(|w| bytes(w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=")));
        String::from_utf8(words.flatten().collect()).unwrap()
    } else {
        String::from_utf8(bytes(&encoded.split_whitespace().collect::<String>())).unwrap()
    }
}

/// Or by mail through the office relay (`[smtp]`): each leader gets one, addressed username@domain, in UTF-8,
/// linking to the case; a relay saying "try later" stops the round until the next; a mailbox the relay does not
/// have is refused for good and the round goes on with the others; a file naming both channels is refused.
async fn notifications_go_out_by_mail(app: TestApp) {
    use taizhang_service::outbound::load_channel;
    let office = app.token("office").await;
    let (addr, got) = relay(1).await;
    let file = |text: String| std::fs::write(app.loc.data_dir.join("outbound.toml"), text).unwrap();
    let smtp = |relay: &str| {
        format!(
            "[smtp]\nrelay = \"{relay}\"\nfrom = \"taizhang@linjiang.gov.cn\"\ndomain = \"linjiang.gov.cn\"\n\
             workspace_url = \"http://taizhang.linjiang.gov.cn/\"\n"
        )
    };
    file(smtp("127.0.0.1"));
    assert!(load_channel(&app.loc.data_dir).err().unwrap().message.contains("主机:端口"));
    file(format!("{}[webhook]\nurl = \"http://x\"\n", smtp(&addr)));
    assert!(load_channel(&app.loc.data_dir).err().unwrap().message.contains("只能配置其一"));
    file(smtp(&addr));
    let mut svc = app.svc.clone();
    svc.outbound = load_channel(&app.loc.data_dir).unwrap();

    let (case, code) = backlog_case(&app, &office).await;
    assert_eq!(svc.send_outbound().await.unwrap(), 0, "the relay said try later");
    // The first one tried now has no mailbox: refused, and the round goes on to the other leader.
    let delivered = svc.send_outbound().await.unwrap();
    assert!(delivered >= 1, "the other leader of the bureau: {delivered}");
    assert_eq!(svc.send_outbound().await.unwrap(), 0, "all delivered that can be");
    let mails = got.lock().unwrap().clone();
    assert_eq!(mails.len(), delivered);
    let mut to: Vec<&str> = mails.iter().map(|(r, _)| r.as_str()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 1, "one leader mailed, the other's mailbox refused: {to:?}");
    assert!(["zj_head@linjiang.gov.cn", "zj_leader@linjiang.gov.cn"].contains(&to[0]), "{to:?}");
    for (rcpt, message) in &mails {
        let (head, body) = message.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("To: <{rcpt}>\r\n")) && head.contains("charset=UTF-8"), "{head}");
        let subject = head.split("\r\nSubject: ").nth(1).unwrap().split("\r\nDate:").next().unwrap();
        assert!(!decoded(subject).is_empty(), "{head}");
        let text = decoded(body);
        assert!(text.contains(&decoded(subject)) && text.contains("临江市住建局"), "{text}");
        assert!(text.contains(&format!("案件编号：{code}")), "{text}");
        assert!(text.contains(&format!("http://taizhang.linjiang.gov.cn/cases/{case}")), "{text}");
    }
    std::fs::remove_file(app.loc.data_dir.join("outbound.toml")).unwrap();
}

both_backends!(outbound_mail, notifications_go_out_by_mail);
