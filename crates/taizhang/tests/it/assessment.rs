//! Assessment of units with the evaluation scheme: a month computed by hand from a fixture of petitions and
//! compared, every figure followed to its cases, the scheme's weights changed as data and the ranking
//! recomputed with the new version recorded. Both databases.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, ok};

fn on(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, month, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// A petition registered on 1 September, assigned to `unit` and accepted there on 2 September: its 60-day
/// handling limit ends on Sunday 1 November, which rolls to Monday 2 November.
/// API tokens, taken before the clock moves on (a session's password would be past its 90 days by November).
type Tokens = HashMap<&'static str, String>;

async fn tokens(app: &TestApp) -> Tokens {
    let mut t = HashMap::new();
    for user in ["office", "clerk", "zj_staff", "zj_leader", "rs_staff", "leader"] {
        t.insert(user, app.token(user).await);
    }
    t
}

async fn accepted(app: &TestApp, t: &Tokens, unit: &str, staff: &str) -> (i64, String) {
    app.clock.set(on(9, 1, 9));
    let (id, code, _) = app.register(&t["office"], "claim", json!({})).await;
    ok(app, &t["office"], id, "assign", json!({"target_unit": app.units[unit]})).await;
    app.clock.set(on(9, 2, 10));
    ok(app, &t[staff], id, "accept", json!({})).await;
    let handling = handling_clock(app, t, id).await;
    assert_eq!(handling["due_date"], "2026-11-02", "{handling}");
    (id, code)
}

/// The handling clock's latest run as the case page shows it.
async fn handling_clock(app: &TestApp, t: &Tokens, id: i64) -> Value {
    let (_, case) = app.get(&t["leader"], &format!("/api/v1/cases/{id}")).await;
    let clocks = case["clocks"].as_array().unwrap_or_else(|| panic!("{case}"));
    clocks.iter().rev().find(|c| c["clock"] == "handling").cloned().unwrap_or_else(|| panic!("{case}"))
}

async fn reply(app: &TestApp, t: &Tokens, staff: &str, id: i64, at: DateTime<Utc>) {
    app.clock.set(at);
    ok(app, &t[staff], id, "reply", json!({"outcome": "support", "reply": "经核查，予以支持"})).await;
}

async fn rate(app: &TestApp, t: &Tokens, id: i64, at: DateTime<Utc>, satisfaction: &str) {
    app.clock.set(at);
    ok(app, &t["clerk"], id, "rate", json!({"satisfaction": satisfaction})).await;
}

fn unit<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["units"].as_array().unwrap())
        .find(|u| u["unit"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

/// November 2026, by hand.
/// 临江市住建局: A replied 20 Oct (rated 满意 3 Nov), B replied on its last day 2 Nov, D extended by 30 days (due
/// in December, not counted). 应办结 2, 按期 2 → 100 % → 30; 答复 1 (B), 参评 1 (A) → 100 % → 10; 满意 1/1 → 25;
/// 及时受理: every acceptance fell due in September → left out; no backlog case, no sweep report owed (a
/// department) → left out. Total 65 of 65 → 100.
/// 临江市人社局: E replied late on 5 Nov (rated 不满意 6 Nov), F replied 10 Oct, G never. 应办结 3, 按期 1 →
/// 33.3 % (below 60) → 0; 答复 1, 参评 1 → 10; 满意 0/1 → 0. Total 10 of 65 → 15.38. G is overdue and open.
/// 临江市信访局 handles nothing: not ranked.
async fn a_month_is_assessed_as_computed_by_hand(app: TestApp) {
    let t = tokens(&app).await;
    let (a, a_code) = accepted(&app, &t, "zjj", "zj_staff").await;
    let (b, b_code) = accepted(&app, &t, "zjj", "zj_staff").await;
    let (d, _) = accepted(&app, &t, "zjj", "zj_staff").await;
    let (e, _) = accepted(&app, &t, "rsj", "rs_staff").await;
    let (f, _) = accepted(&app, &t, "rsj", "rs_staff").await;
    let (g, g_code) = accepted(&app, &t, "rsj", "rs_staff").await;
    // H: assigned to the housing bureau on 1 September and never accepted (no November figure in version 2).
    app.clock.set(on(9, 1, 9));
    let (h, _, _) = app.register(&t["office"], "claim", json!({})).await;
    ok(&app, &t["office"], h, "assign", json!({"target_unit": app.units["zjj"]})).await;

    app.clock.set(on(10, 10, 10));
    ok(&app, &t["zj_staff"], d, "request_extension", json!({"extension_days": 30, "reason": "涉及多个部门"})).await;
    app.clock.set(on(10, 12, 10));
    ok(&app, &t["zj_leader"], d, "approve_extension", json!({"extension_days": 30})).await;
    let handling = handling_clock(&app, &t, d).await;
    assert_eq!(handling["due_date"], "2026-12-02", "{handling}");
    reply(&app, &t, "rs_staff", f, on(10, 10, 15)).await;
    reply(&app, &t, "zj_staff", a, on(10, 20, 15)).await;
    reply(&app, &t, "zj_staff", b, on(11, 2, 16)).await;
    rate(&app, &t, a, on(11, 3, 10), "satisfied").await;
    reply(&app, &t, "rs_staff", e, on(11, 5, 10)).await;
    rate(&app, &t, e, on(11, 6, 10), "unsatisfied").await;
    app.clock.set(on(12, 5, 9));

    let city = t["leader"].clone();
    let (s, r) = app.get(&city, "/api/v1/assessment?period=2026-11").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((r["scheme_version"].as_i64(), r["period_label"].as_str()), (Some(2), Some("2026 年 11 月")));
    let zj = unit(&r, "临江市住建局");
    assert_eq!(
        zj["counts"],
        json!({"handling_due": 2, "handling_on_time": 2, "replied": 1, "rated": 1, "satisfied": 1}),
        "{zj}"
    );
    let scores: Vec<Value> = zj["score"]["indicators"].as_array().unwrap().iter().map(|i| i["score"].clone()).collect();
    assert_eq!(scores, vec![Value::Null, json!(30.0), json!(10.0), json!(25.0), Value::Null, Value::Null]);
    assert_eq!((zj["score"]["total"].as_f64(), zj["rank"].as_i64()), (Some(100.0), Some(1)));
    let rs = unit(&r, "临江市人社局");
    assert_eq!(
        rs["counts"],
        json!({"handling_due": 3, "handling_on_time": 1, "overdue_open": 1, "replied": 1, "rated": 1}),
        "{rs}"
    );
    assert_eq!(rs["score"]["indicators"][1]["rate"], json!(33.33));
    assert_eq!((rs["score"]["total"].as_f64(), rs["rank"].as_i64()), (Some(15.38), Some(2)));
    let xf = unit(&r, "临江市信访局");
    assert_eq!((xf["score"]["total"].clone(), xf["rank"].clone()), (Value::Null, Value::Null), "nothing to assess");

    // Every figure leads to its cases.
    let drill = |unit: &'static str, count: &'static str| {
        let (app, city) = (&app, city.clone());
        async move {
            let path = format!("/api/v1/assessment/cases?period=2026-11&unit={}&count={count}", app.units[unit]);
            let (s, b) = app.get(&city, &path).await;
            assert_eq!(s, 200, "{b}");
            let mut codes: Vec<String> =
                b.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
            codes.sort();
            codes
        }
    };
    let mut ab = vec![a_code.clone(), b_code.clone()];
    ab.sort();
    assert_eq!(drill("zjj", "handling_due").await, ab, "the extended case is not due in November");
    assert_eq!(drill("zjj", "rated").await, vec![a_code], "rated in November, replied in October");
    assert_eq!(drill("rsj", "overdue_open").await, vec![g_code.clone()]);
    let (s, b) = app.get(&city, "/api/v1/assessment/cases?period=2026-11&unit=1&count=nothing").await;
    assert_eq!((s, b["field"].as_str()), (400, Some("count")), "{b}");
    let (s, b) = app.get(&city, "/api/v1/assessment?period=2026-13").await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "{b}");
    let (s, b) = app.get(&city, "/api/v1/assessment?period=2027-01").await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "a month not begun: {b}");
    let outside = format!("/api/v1/assessment/cases?period=2026-11&unit={}&count=replied", app.units["zjj"]);
    let (s, b) = app.get(&t["rs_staff"], &outside).await;
    assert_eq!((s, b["field"].as_str()), (404, Some("unit")), "another bureau's figures: {b}");

    // October: A and F replied, nothing fell due; the quarter holds November's figures too.
    let (_, oct) = app.get(&city, "/api/v1/assessment?period=2026-10").await;
    assert_eq!(unit(&oct, "临江市住建局")["counts"], json!({"replied": 1}), "{oct}");
    let (_, q4) = app.get(&city, "/api/v1/assessment?period=2026-Q4").await;
    assert_eq!(unit(&q4, "临江市人社局")["counts"]["handling_due"], 3);
    assert_eq!(unit(&q4, "临江市住建局")["counts"]["replied"], 2, "A in October, B in November");

    // A staff member of the bureau sees his own unit only, ranked among the peers he can see.
    let (_, own) = app.get(&t["rs_staff"], "/api/v1/assessment?period=2026-11").await;
    let names: Vec<&str> =
        own["groups"][0]["units"].as_array().unwrap().iter().map(|u| u["unit"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["临江市人社局"]);

    // The page: the ranking with each figure linked to its cases. (The leader's password is renewed first: the
    // clock has moved past its 90 days since the fixture was set up.)
    let me = app.svc.store.user_by_username("leader").await.unwrap().unwrap();
    app.svc.store.set_password(me.id, &me.password_hash, app.svc.now()).await.unwrap();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = [("username", "leader"), ("password", crate::helpers::PASSWORD)];
    let r = browser.post(app.url("/login")).form(&login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = |path: String| {
        let (browser, cookie) = (&browser, &cookie);
        let url = app.url(&path);
        async move { browser.get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/assessment?period=2026-11".into()).await;
    assert!(html.contains("信访工作考核 · 2026 年 11 月") && html.contains("第 2 版"), "{html}");
    assert!(html.contains("无考核数据") && html.contains("15.38"), "{html}");
    let drill = format!("/assessment/cases?period=2026-11&unit={}&count=handling_due", app.units["rsj"]);
    assert!(html.contains(&drill.replace('&', "&amp;")), "the 应办结 figure links to its cases: {html}");
    let cases = page(drill).await;
    assert!(cases.contains("临江市人社局 · 应办结件数") && cases.contains(&g_code), "{cases}");
    let r = browser.get(app.url(&format!("/cases/{g_code}"))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.headers()["location"], format!("/cases/{g}"), "a case code in a link opens the case");
    let bad = page("/assessment/cases?period=2026-11&unit=x&count=replied".into()).await;
    assert!(bad.contains("缺少单位编号") && !bad.contains("deserialize"), "{bad}");

    // The city's leader publishes November with a circular: 住建局 commended, 人社局 short, with the figures.
    let publish = json!({"period": "2026-11", "leader_text": "各单位要对照通报查找差距，限期整改。"});
    let (s, b) = app.post(&t["rs_staff"], "/api/v1/circulars", publish.clone()).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = app.post(&city, "/api/v1/circulars", json!({"period": "2026-12"})).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "December is still running: {b}");
    let (s, b) = app.post(&city, "/api/v1/circulars", publish.clone()).await;
    assert_eq!(s, 201, "{b}");
    let circular = b.as_i64().unwrap();
    let (s, b) = app.post(&city, "/api/v1/circulars", publish).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "published once: {b}");
    let (_, c) = app.get(&t["zj_staff"], &format!("/api/v1/circulars/{circular}")).await;
    assert_eq!(c["title"], "关于2026 年 11 月信访工作考核情况的通报", "{c}");
    assert_eq!(
        c["commended"],
        json!([{"unit_id": app.units["zjj"], "unit_name": "临江市住建局", "rank": 1, "total": 100.0, "why": "100 分，第 1 名"}])
    );
    assert_eq!(c["short"][0]["unit_name"], "临江市人社局");
    assert_eq!(c["short"][0]["why"], "15.38 分；按期办结率 33.33%（1/3），满意率 0%（0/1）", "{c}");
    let circular_page = page(format!("/circulars/{circular}")).await;
    assert!(circular_page.contains("各单位要对照通报查找差距") && circular_page.contains("第 2 版"), "{circular_page}");
    let draft = page("/circulars/new?period=2026-11".into()).await;
    assert!(draft.contains("尚未发布") && draft.contains("发布通报"), "{draft}");

    // Target responsibility letters for November: 按期办结率 ≥ 95 % (weight 60), 满意率 ≥ 90 % (40). The housing
    // bureau meets both (100 %, 1 of 1) → 100 of 100; the labour bureau neither (33.33 %, 0 %) → 0.
    let letter = |unit: &str| {
        json!({"unit_id": app.units[unit], "period": "2026-11", "unit_signer": "局长", "issuer_signer": "市长",
            "signed_on": "2026-01-15", "items": [
                {"indicator": "on_time_handling", "target": 95, "weight": 60},
                {"indicator": "satisfaction", "target": 90, "weight": 40}]})
    };
    let (s, b) = app.post(&t["rs_staff"], "/api/v1/letters", letter("rsj")).await;
    assert_eq!(s, 403, "{b}");
    let mut short = letter("zjj");
    short["items"][1]["weight"] = json!(30);
    let (s, b) = app.post(&city, "/api/v1/letters", short).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("items")), "weights sum to 90: {b}");
    let (s, b) = app.post(&city, "/api/v1/letters", json!({"unit_id": app.units["city"], "period": "2026-11", "unit_signer": "x", "issuer_signer": "y", "signed_on": "2026-01-15", "items": []})).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("unit_id")), "a letter is with a unit below: {b}");
    let (s, zj_letter) = app.post(&city, "/api/v1/letters", letter("zjj")).await;
    assert_eq!(s, 201, "{zj_letter}");
    let (s, b) = app.post(&city, "/api/v1/letters", letter("zjj")).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "one per unit and period: {b}");
    let mut respelled = letter("zjj");
    respelled["period"] = json!("2026-011");
    let (s, b) = app.post(&city, "/api/v1/letters", respelled).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("period")), "the same month spelled otherwise: {b}");
    let (_, rs_letter) = app.post(&city, "/api/v1/letters", letter("rsj")).await;
    let (s, l) = app.get(&t["zj_staff"], &format!("/api/v1/letters/{zj_letter}")).await;
    assert_eq!(s, 200, "the unit reads its own letter: {l}");
    assert_eq!(l["completion"], 100.0, "{l}");
    assert_eq!((l["progress"][0]["actual"].as_f64(), l["progress"][0]["met"].as_bool()), (Some(100.0), Some(true)));
    let (_, l) = app.get(&city, &format!("/api/v1/letters/{rs_letter}")).await;
    assert_eq!(l["completion"], 0.0, "{l}");
    assert_eq!((l["progress"][0]["actual"].as_f64(), l["progress"][0]["numerator"].as_i64()), (Some(33.33), Some(1)));
    assert_eq!(l["progress"][1]["met"], false, "{l}");
    let (_, list) = app.get(&city, "/api/v1/letters").await;
    assert_eq!(list[0]["progress"][0]["numerator"], Value::Null, "a list measures nothing: {list}");
    let (s, _) = app.get(&t["rs_staff"], &format!("/api/v1/letters/{zj_letter}")).await;
    assert_eq!(s, 404, "another bureau's letter");
    let letter_page = page(format!("/letters/{rs_letter}")).await;
    assert!(letter_page.contains("未达标") && letter_page.contains("count=handling_on_time"), "{letter_page}");
    let letters_page = page("/letters".into()).await;
    assert!(
        letters_page.contains("临江市住建局2026 年 11 月目标责任书") && letters_page.contains("weight_satisfaction"),
        "{letters_page}"
    );

    // The locality changes the weights and the veto, as data, under a new version: the same cases, new
    // figures. 按期办结 60, 积案化解 and 排查 5 each, the others 10; a veto on any acceptance overdue and open (H at
    // the housing bureau). 住建局: 80 of 80 → 100, but vetoed: ranked after 人社局 (10 of 80 → 12.5).
    let text = taizhang_domain::assessment::EMBEDDED
        .replace("version = 2", "version = 3")
        .replace("weight = 10\ntarget = 60", "weight = 5\ntarget = 60")
        .replace("denominator = \"sweep_due\"\nweight = 10", "denominator = \"sweep_due\"\nweight = 5")
        .replace("weight = 15", "weight = 10")
        .replace("weight = 30", "weight = 60")
        .replace("weight = 25", "weight = 10")
        .replacen("[[indicators]]", "[[counts]]\nid = \"accept_overdue\"\nname = \"超期未受理件数\"\nclock = \"acceptance_notice\"\nmeasure = \"overdue_open\"\n\n[[indicators]]", 1)
        .replace("name = \"超期未办结超过 5 件\"\ncount = \"overdue_open\"\nabove = 5", "name = \"存在超期未受理\"\ncount = \"accept_overdue\"\nabove = 0");
    assert!(text.contains("存在超期未受理") && text.matches("weight = 5\n").count() == 2, "the text was edited");
    std::fs::write(app.loc.data_dir.join("assessment.toml"), &text).unwrap();
    let (scheme, _) = taizhang_service::assessment::load_scheme(&app.loc.data_dir, &app.svc.workflows).unwrap();
    let mut svc = app.svc.clone();
    svc.scheme = Arc::new(scheme);
    let p = svc.authenticate(&city).await.unwrap();
    let r2 = serde_json::to_value(svc.assessment(&p, Some("2026-11")).await.unwrap()).unwrap();
    assert_eq!(r2["scheme_version"], 3);
    let (zj, rs) = (unit(&r2, "临江市住建局"), unit(&r2, "临江市人社局"));
    assert_eq!((zj["score"]["total"].as_f64(), zj["rank"].as_i64()), (Some(100.0), Some(2)), "{zj}");
    assert_eq!(
        zj["score"]["vetoed"],
        json!([{"name": "存在超期未受理", "count": "accept_overdue", "value": 1}]),
        "{zj}"
    );
    assert_eq!((rs["score"]["total"].as_f64(), rs["rank"].as_i64()), (Some(12.5), Some(1)), "{rs}");
    // The published result keeps the version and the figures it was published with.
    let kept = serde_json::to_value(svc.circular(&p, circular).await.unwrap()).unwrap();
    assert_eq!(kept["report"]["scheme_version"], 2);
    assert_eq!(unit(&kept["report"], "临江市住建局")["rank"], 1, "{kept}");
    std::fs::remove_file(app.loc.data_dir.join("assessment.toml")).unwrap();

    // Version 2 was recorded when the server started: a changed text under the same version is refused.
    let (shipped, _) = taizhang_service::assessment::load_scheme(&app.loc.data_dir, &app.svc.workflows).unwrap();
    let edited = taizhang_domain::assessment::EMBEDDED.replace("weight = 30", "weight = 35");
    let e =
        taizhang_service::assessment::sync_scheme_version(app.svc.store.as_ref(), &shipped, &edited).await.unwrap_err();
    assert!(e.message.contains("第 2 版已经使用过"), "{}", e.message);
}

both_backends!(assessment_month, a_month_is_assessed_as_computed_by_hand);
