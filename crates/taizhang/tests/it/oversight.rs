//! Responsibility and supervision, as the supervision office, a leader and an official: the housing bureau's
//! roster with a change of head kept in its history; a petition supervised (催办, then — repeated — at least
//! 督办), the order's deadline giving a yellow then a red card to the roster's people, then escalating; the
//! answer reviewed; an accountability record traced to the decision behind it, read by the official (who adds
//! his statement) and by nobody else. Both databases.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, ok};
use crate::workspace_pages::{hidden, sign_in};

fn march(day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    let (s, b) = app.get(token, "/api/v1/notifications").await;
    assert_eq!(s, 200, "{b}");
    b.as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_string()).collect()
}

fn count(list: &[String], word: &str) -> usize {
    list.iter().filter(|t| t.contains(word)).count()
}

async fn supervision_from_roster_to_record(app: TestApp) {
    let mut t: HashMap<&str, String> = HashMap::new();
    for u in ["office", "zj_staff", "zj_leader", "zj_head", "supervisor", "leader", "auditor", "rs_staff"] {
        t.insert(u, app.token(u).await);
    }
    let zjj = app.units["zjj"];

    // The roster: the deputy led the bureau from January; the new head takes over today.
    let line = |kind: &str, user: &str, post: &str, from: &str| json!({"unit_id": zjj, "kind": kind, "user_id": app.users[user], "post": post, "starts_on": from});
    for body in [
        line("first", "zj_leader", "副局长（主持工作）", "2026-01-01"),
        line("direct", "zj_leader", "副局长", "2026-01-01"),
    ] {
        let (s, b) = app.post(&t["leader"], "/api/v1/responsibility", body).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) =
        app.post(&t["zj_staff"], "/api/v1/responsibility", line("joint", "zj_staff", "科员", "2026-01-01")).await;
    assert_eq!(s, 403, "staff do not keep the roster: {b}");
    let (s, b) =
        app.post(&t["leader"], "/api/v1/responsibility", line("first", "rs_staff", "局长", "2026-03-02")).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("user_id")), "a person of another unit: {b}");
    let (s, b) = app.post(&t["leader"], "/api/v1/responsibility", line("first", "zj_head", "局长", "2026-02-30")).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("starts_on")), "{b}");
    let (s, b) = app.post(&t["leader"], "/api/v1/responsibility", line("first", "zj_head", "局长", "2026-03-02")).await;
    assert_eq!(s, 201, "{b}");
    let first_on = |r: &Value| -> Vec<String> {
        r["in_force"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] == "first")
            .map(|l| l["post"].to_string())
            .collect()
    };
    let (_, before) = app.get(&t["zj_staff"], &format!("/api/v1/responsibility?unit={zjj}&on=2026-02-15")).await;
    assert_eq!(first_on(&before), ["\"副局长（主持工作）\""], "{before}");
    let (_, today) = app.get(&t["zj_staff"], &format!("/api/v1/responsibility?unit={zjj}")).await;
    assert_eq!(first_on(&today), ["\"局长\""], "{today}");
    let ended = today["history"].as_array().unwrap().iter().find(|l| l["post"] == "副局长（主持工作）").unwrap();
    assert_eq!(ended["ends_on"], "2026-03-01", "the predecessor's line ends the day before: {today}");
    assert_eq!(today["can_edit"], false, "staff read it, leaders keep it");

    // A petition the bureau accepted on Monday.
    app.clock.set(march(2, 10));
    let (pet, code, _) = app.register(&t["office"], "claim", json!({})).await;
    ok(&app, &t["office"], pet, "assign", json!({"target_unit": zjj})).await;
    ok(&app, &t["zj_staff"], pet, "accept", json!({})).await;

    // Tuesday: the supervision office reminds the bureau (催办, 5 days); the directly responsible leader is told.
    app.clock.set(march(3, 10));
    let order = |level: &str, days: i64| {
        json!({"kind": "supervision", "fields": {"title": "督促办理", "level": level, "target_unit": zjj,
            "requirement": "请于期限内书面反馈办理进展", "within_days": days, "source_case": pet}})
    };
    let (s, b) = app.post(&t["supervisor"], "/api/v1/cases", order("remind", 5)).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(count(&titles(&app, &t["zj_leader"]).await, "下达督办"), 1);
    assert_eq!(count(&titles(&app, &t["zj_head"]).await, "下达督办"), 0, "a 催办 reaches the direct leader only");
    // Ordered again: at least 督办 now.
    let (s, b) = app.post(&t["supervisor"], "/api/v1/cases", order("remind", 5)).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("level")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("督办"), "{b}");
    let (s, b) = app.post(&t["supervisor"], "/api/v1/cases", order("supervise", 2)).await;
    assert_eq!(s, 201, "{b}");
    let db = b["case"]["id"].as_i64().unwrap();
    assert_eq!(count(&titles(&app, &t["zj_head"]).await, "下达督办"), 1, "a 督办 reaches the first-responsible head");
    let (s, b) = app.post(&t["zj_leader"], "/api/v1/cases", order("listed", 2)).await;
    assert_eq!(s, 403, "the bureau does not supervise itself… {b}");

    // Thursday 9:00, a day before its deadline (Thursday 24:00): a yellow card, once, to the direct leader.
    app.clock.set(march(5, 9));
    assert_eq!(app.svc.sweep_cards().await.unwrap(), 1);
    assert_eq!(app.svc.sweep_cards().await.unwrap(), 0, "a card is raised once");
    assert_eq!(count(&titles(&app, &t["zj_leader"]).await, "黄牌"), 1);
    assert_eq!(count(&titles(&app, &t["zj_head"]).await, "黄牌"), 0);
    // Friday: missed — a red card to both, and the system escalates the order (the city's leaders told).
    app.clock.set(march(6, 9));
    assert_eq!(app.svc.sweep_cards().await.unwrap(), 1);
    assert_eq!(count(&titles(&app, &t["zj_leader"]).await, "红牌"), 1);
    assert_eq!(count(&titles(&app, &t["zj_head"]).await, "红牌"), 1);
    assert_eq!(app.svc.sweep().await.unwrap(), 1);
    let (_, order_page) = app.get(&t["supervisor"], &format!("/api/v1/cases/{db}")).await;
    assert_eq!(order_page["state"], "overdue", "{order_page}");
    assert_eq!(count(&titles(&app, &t["leader"]).await, "逾期未反馈"), 1, "the leaders above are told");
    let (_, cards) = app.get(&t["leader"], "/api/v1/cards?days=30").await;
    assert_eq!(
        cards["per_unit"],
        json!([{"unit_id": zjj, "unit_name": "临江市住建局", "yellow": 1, "red": 1}]),
        "{cards}"
    );
    let colours: Vec<&str> = cards["cards"].as_array().unwrap().iter().map(|c| c["colour"].as_str().unwrap()).collect();
    assert_eq!(colours, ["red", "yellow"]);
    assert!(cards["cards"].as_array().unwrap().iter().all(|c| c["case_id"] == db && c["clock_name"] == "反馈期限"));
    let (_, one) = app.get(&t["leader"], &format!("/api/v1/cards?days=30&unit={}", app.units["rsj"])).await;
    assert_eq!((one["cards"].clone(), one["per_unit"].clone()), (json!([]), json!([])), "one unit's only: {one}");
    let (_, others) = app.get(&t["rs_staff"], "/api/v1/cards?days=30").await;
    assert_eq!(others["cards"], json!([]), "another bureau does not see them: {others}");

    // The bureau answers late; the office reviews and concludes.
    ok(&app, &t["zj_staff"], db, "respond", json!({"response": "已约谈信访人，两周内完成维修"})).await;
    let done = ok(&app, &t["supervisor"], db, "conclude", json!({"opinion": "同意办结，继续跟踪"})).await;
    assert_eq!(done["state"], "concluded", "{done}");

    // 原因倒查: the office lists the decisions on the petition and records an admonition traced to one.
    let (s, decisions) = app.get(&t["supervisor"], &format!("/api/v1/accountability/decisions?case={code}")).await;
    assert_eq!(s, 200, "{decisions}");
    let accept = decisions.as_array().unwrap().iter().find(|d| d["action_name"] == "受理").cloned().unwrap();
    let record = |seq: i64| {
        json!({"official_id": app.users["zj_staff"], "finding": "受理后未按期办理，经督办逾期未反馈", "measure": "admonition",
            "decided_by": "临江市纪委监委", "decided_on": "2026-03-06", "case_codes": [code], "cause_case": code, "cause_seq": seq})
    };
    let (s, b) = app.post(&t["supervisor"], "/api/v1/accountability", record(99)).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("cause_seq")), "{b}");
    let (s, b) = app.post(&t["zj_head"], "/api/v1/accountability", record(accept["seq"].as_i64().unwrap())).await;
    assert_eq!(s, 403, "only the supervision office records: {b}");
    let (s, b) = app.post(&t["supervisor"], "/api/v1/accountability", record(accept["seq"].as_i64().unwrap())).await;
    assert_eq!(s, 201, "{b}");
    let id = b.as_i64().unwrap();

    // The official reads his own record, with the decision behind it, and states his side.
    let (_, mine) = app.get(&t["zj_staff"], "/api/v1/accountability?mine=true").await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!((mine[0]["measure_name"].as_str(), mine[0]["own"].as_bool()), (Some("诫勉谈话"), Some(true)));
    assert_eq!(mine[0]["cause"]["action_name"], "受理");
    assert_eq!(mine[0]["cause"]["case_code"], code.as_str());
    let statement = format!("/api/v1/accountability/{id}/statements");
    let (s, b) = app.post(&t["zj_staff"], &statement, json!({"text": "期间承办人员借调外单位，已整改"})).await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = app.post(&t["supervisor"], &statement, json!({"text": "代为陈述"})).await;
    assert_eq!(s, 403, "the statement is the official's own: {b}");
    let (_, one) = app.get(&t["supervisor"], &format!("/api/v1/accountability/{id}")).await;
    assert_eq!(one["statements"][0]["text"], "期间承办人员借调外单位，已整改", "{one}");
    // Nobody else: not his leaders, not the city's leader.
    for who in ["zj_head", "zj_leader", "leader", "rs_staff"] {
        let (s, b) = app.get(&t[who], &format!("/api/v1/accountability/{id}")).await;
        assert_eq!(s, 404, "{who}: {b}");
        let (_, list) = app.get(&t[who], "/api/v1/accountability").await;
        assert_eq!(list, json!([]), "{who}");
    }
    let (_, audit) = app.get(&t["auditor"], "/api/v1/audit?event=accountability_read").await;
    let text = audit.to_string();
    assert!(text.contains("denied") && text.contains(&format!("accountability:{id}")), "reads are audited: {audit}");

    // The same on the pages. The official: his record, the decision behind it, his statement form.
    let official = sign_in(&app, "zj_staff").await;
    let (s, html) = official.get(&app, "/accountability").await;
    assert!(s == 200 && html.contains("我的问责记录") && html.contains("受理后未按期办理"), "{html}");
    let (_, html) = official.get(&app, &format!("/accountability/{id}")).await;
    assert!(
        html.contains("受理") && html.contains("期间承办人员借调外单位") && html.contains("提出陈述申辩"),
        "{html}"
    );
    let csrf = hidden(&html, "csrf");
    let (s, _, to) = official
        .post(&app, &format!("/accountability/{id}/statements"), &[("csrf", &csrf), ("text", "补充说明")])
        .await;
    assert_eq!((s, to.as_deref()), (303, Some(format!("/accountability/{id}").as_str())));
    let head = sign_in(&app, "zj_head").await;
    let (s, html) = head.get(&app, &format!("/accountability/{id}")).await;
    assert!(s == 404 && !html.contains("受理后未按期办理"), "{s} {html}");
    // The office traces a case's decisions; a form missing its official keeps what was typed.
    let office = sign_in(&app, "supervisor").await;
    let (_, html) = office.get(&app, &format!("/accountability?trace={code}")).await;
    assert!(html.contains("第 1 步") && html.contains("受理") && html.contains("新增问责记录"), "{html}");
    let csrf = hidden(&html, "csrf");
    let form =
        [("csrf", csrf.as_str()), ("finding", "材料不全"), ("measure", "circular_criticism"), ("case_codes", &code)];
    let (s, html, _) = office.post(&app, "/accountability", &form).await;
    assert!(s == 400 && html.contains("请选择被问责人") && html.contains("材料不全"), "{s} {html}");
    // The roster and the cards, as the city's leader.
    let leader = sign_in(&app, "leader").await;
    let (_, html) = leader.get(&app, &format!("/responsibility?unit={zjj}")).await;
    assert!(html.contains("局长") && html.contains("2026-03-01") && html.contains("登记责任人"), "{html}");
    let (_, html) = leader.get(&app, "/cards?days=30").await;
    assert!(html.contains("红牌") && html.contains("反馈期限") && html.contains("临江市住建局"), "{html}");
    let (_, html) = leader.get(&app, &format!("/cards?from=2026-03-01&unit={zjj}")).await;
    assert!(html.contains("2026-03-01 起 · 临江市住建局") && html.contains("反馈期限"), "{html}");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(supervision, supervision_from_roster_to_record);

/// A target broken down (目标倒逼): the city gives 东城区 a task for 30 days; the district splits it between its
/// housing bureau (5 days) and 幸福街道 (20 days); the bureau passes its part to its enforcement team (3 days).
/// Four days on, the team's part is overdue and the street's is done: the top shows 3 below, 1 done, 1 overdue,
/// and the bureau's part shows the overdue one beneath it.
async fn a_target_broken_down_shows_overdue_parts_at_the_top(app: TestApp) {
    let t: HashMap<&str, String> = {
        let mut t = HashMap::new();
        for u in ["leader", "dc_leader", "dczj_leader", "team_staff", "jd_leader", "zj_staff"] {
            t.insert(u, app.token(u).await);
        }
        t
    };
    let task = |title: &str, unit: &str, owner: &str, days: i64, from: Option<i64>| {
        let mut fields = json!({"title": title, "instructions": "按要求完成并报送完成情况", "owner_unit": app.units[unit],
            "owner": app.users[owner], "within_days": days});
        if let Some(f) = from {
            fields["source_case"] = json!(f);
        }
        json!({"kind": "target_task", "fields": fields})
    };
    let open = async |who: &str, body: Value| {
        let (s, b) = app.post(&t[who], "/api/v1/cases", body).await;
        assert_eq!(s, 201, "{b}");
        b["case"]["id"].as_i64().unwrap()
    };
    let (s, b) = app.post(&t["zj_staff"], "/api/v1/cases", task("越级", "dc", "dc_leader", 30, None)).await;
    assert_eq!(s, 403, "a task goes to a unit below the one giving it: {b}");
    let t1 = open("leader", task("年底前完成老旧小区电梯隐患整治", "dc", "dc_leader", 30, None)).await;
    ok(&app, &t["dc_leader"], t1, "sign_for", json!({})).await;
    let t2 = open("dc_leader", task("城区电梯隐患排查整治", "dc_zj", "dczj_leader", 5, Some(t1))).await;
    let t3 = open("dc_leader", task("街道辖区电梯摸底", "dc_jd", "jd_leader", 20, Some(t1))).await;
    let t4 = open("dczj_leader", task("执法检查十二个小区", "dc_zj_team", "team_staff", 3, Some(t2))).await;
    app.advance_days(4);
    ok(&app, &t["jd_leader"], t3, "sign_for", json!({})).await;
    ok(&app, &t["jd_leader"], t3, "complete", json!({"result": "已摸底 36 部电梯，台账已报送"})).await;

    let (s, nodes) = app.get(&t["leader"], &format!("/api/v1/cases/{t1}/breakdown")).await;
    assert_eq!(s, 200, "{nodes}");
    let rows: Vec<(i64, i64, i64, i64, i64)> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let v = |k: &str| n[k].as_i64().unwrap();
            (v("id"), v("depth"), v("below"), v("below_done"), v("below_overdue"))
        })
        .collect();
    assert_eq!(rows, [(t1, 0, 3, 1, 1), (t2, 1, 1, 0, 1), (t4, 2, 0, 0, 0), (t3, 1, 0, 0, 0)], "{nodes}");
    assert_eq!(nodes[2]["clock_status"], "overdue");
    assert_eq!(nodes[2]["owner"], app.svc.store.user(app.users["team_staff"]).await.unwrap().unwrap().display_name);
    // The street sees its own part only, and not the district's task above it.
    let (s, _) = app.get(&t["jd_leader"], &format!("/api/v1/cases/{t1}/breakdown")).await;
    assert_eq!(s, 403, "the district's own task is outside the street's scope");
    let (_, own) = app.get(&t["dczj_leader"], &format!("/api/v1/cases/{t2}/breakdown")).await;
    assert_eq!(own.as_array().map(Vec::len), Some(2), "{own}");
    let (petition, _, _) = app.register(&t["leader"], "claim", json!({})).await;
    let (s, b) = app.get(&t["leader"], &format!("/api/v1/cases/{petition}/breakdown")).await;
    assert_eq!(s, 400, "{b}");

    let browser = sign_in(&app, "leader").await;
    let (s, html) = browser.get(&app, &format!("/cases/{t1}/breakdown")).await;
    assert_eq!(s, 200);
    assert!(html.contains("下级任务 3 项，已完成 1 项") && html.contains("超期 1 项"), "{html}");
    let (_, case) = browser.get(&app, &format!("/cases/{t1}")).await;
    assert!(case.contains(&format!("/cases/{t1}/breakdown")), "{case}");
    assert!(app.svc.verify().await.unwrap().ok);
}

both_backends!(task_breakdown, a_target_broken_down_shows_overdue_parts_at_the_top);
