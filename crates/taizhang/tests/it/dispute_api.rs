//! Disputes and people's mediation through the API on both databases: a dispute opened from a petition with
//! its applicant and respondent, mediated to a written agreement that takes effect with every signature and
//! the seal, judicial confirmation applied for within its window, performed; and one that fails, with the
//! parties told their other routes.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, ok};

fn party(role: &str, name: &str, phone: &str) -> Value {
    json!({"role": role, "name": name, "phone": phone})
}

async fn a_dispute_is_opened_from_a_petition_and_mediated_to_performance(app: TestApp) {
    let clerk = app.token("clerk").await;
    let mediator = app.token("mediator").await;
    let committee = app.units["dc_jd"];
    let (petition, code, _) = app.register(&clerk, "claim", json!({"title": "邻居占用楼道堆放杂物"})).await;

    let intake = |parties: Value| {
        json!({"kind": "dispute", "fields": {"origin": "referral", "dispute_type": "neighbour", "title": "楼道堆物纠纷",
            "facts": "三楼住户在楼道堆放杂物，四楼住户多次交涉未果", "claims": "清理楼道杂物", "committee": committee,
            "source_case": code}, "parties": parties})
    };
    // Both sides are needed; the error names the missing role.
    let (s, e) = app.post(&clerk, "/api/v1/cases", intake(json!([party("applicant", "王秀英", "13905710001")]))).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("parties")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("被申请人"), "{e}");
    let (s, e) = app.post(&clerk, "/api/v1/cases", intake(json!([party("witness", "赵六", "13905710009")]))).await;
    assert_eq!(s, 400, "an undeclared role is refused: {e}");

    let parties = json!([
        party("applicant", "王秀英", "13905710001"),
        party("respondent", "李建国", "13905710002"),
        party("respondent", "李建华", "13905710003")
    ]);
    let (s, b) = app.post(&clerk, "/api/v1/cases", intake(parties)).await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    assert_eq!(b["case"]["opened_from"]["id"], json!(petition), "linked to its petition: {}", b["case"]["opened_from"]);
    let roles: Vec<&str> =
        b["case"]["parties"].as_array().unwrap().iter().map(|p| p["role_name"].as_str().unwrap()).collect();
    assert_eq!(roles, ["申请人", "被申请人", "被申请人"]);
    assert!(b["case"]["parties"].as_array().unwrap().iter().all(|p| p["masked"] == json!(true)));
    let (_, pet) = app.get(&clerk, &format!("/api/v1/cases/{petition}")).await;
    assert_eq!(pet["opened"][0]["id"], json!(id), "the petition lists the dispute opened from it: {}", pet["opened"]);

    // The committee takes it on and mediates.
    let me = app.users["mediator"];
    ok(&app, &mediator, id, "accept", json!({"mediators": [me]})).await;
    ok(&app, &mediator, id, "open_session", json!({"session_mode": "closed"})).await;
    ok(&app, &mediator, id, "record_session", json!({"session_record": "双方陈述；四楼要求三日内清理"})).await;
    ok(
        &app,
        &mediator,
        id,
        "reach_written_agreement",
        json!({"agreement_terms": "李建国、李建华于三日内清理楼道杂物",
        "performance_terms": "自行清理，调解员现场查看", "performance_deadline": "2026-03-20"}),
    )
    .await;
    let (s, e) =
        app.act(&mediator, id, "agreement_effective", json!({"parties_signed": "yes", "mediator_signed": "yes"})).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("seal_applied")), "no seal, not effective: {e}");
    ok(
        &app,
        &mediator,
        id,
        "agreement_effective",
        json!({"parties_signed": "yes", "mediator_signed": "yes", "seal_applied": "yes"}),
    )
    .await;
    let (_, case) = app.get(&mediator, &format!("/api/v1/cases/{id}")).await;
    let window = case["clocks"].as_array().unwrap().iter().find(|c| c["clock"] == "judicial_window").unwrap();
    assert!(window["source"].as_str().unwrap().contains("30 日"), "{window}");
    let agreement = case["documents"].as_array().unwrap().iter().find(|d| d["id"] == "agreement").unwrap().clone();

    // The agreement names every party by role (masked) and the committee.
    let p = app.svc.authenticate(&mediator).await.unwrap();
    let seq =
        case["events"].as_array().unwrap().iter().find(|e| e["action"] == "reach_written_agreement").unwrap()["seq"]
            .as_i64()
            .unwrap();
    let doc = app.svc.document(&p, id, seq, "agreement").await.unwrap();
    let text = doc.paragraphs.join("\n");
    assert!(text.contains("申请人：王**") && text.contains("被申请人：李**、李**"), "{text}");
    assert!(text.contains("东城区幸福街道") && text.contains("三十日内共同向人民法院申请司法确认"), "{text}");
    assert!(agreement["number"].as_str().unwrap().contains("协"), "{agreement}");

    // Judicial confirmation within 30 days, then performance.
    app.advance_days(10);
    ok(&app, &mediator, id, "apply_confirmation", json!({"court": "临江市东城区人民法院"})).await;
    ok(&app, &mediator, id, "record_confirmation", json!({"confirmation_outcome": "confirmed"})).await;
    ok(&app, &mediator, id, "follow_up", json!({"note": "回访：杂物已清理"})).await;
    let r = ok(&app, &mediator, id, "performed", json!({"note": "双方确认履行完毕"})).await;
    assert_eq!(r["state"], "performed");

    // A second dispute fails: the parties are told their other routes in the termination notice.
    let (s, b) = app
        .post(
            &mediator,
            "/api/v1/cases",
            json!({"kind": "dispute", "fields": {"origin": "application", "dispute_type": "contract",
            "title": "装修款纠纷", "facts": "装修完工后尾款争议", "committee": committee},
            "parties": [party("applicant", "陈小红", "13905710004"), party("respondent", "周师傅", "13905710005")]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let other = b["case"]["id"].as_i64().unwrap();
    assert!(b["case"]["opened_from"].is_null());
    ok(&app, &mediator, other, "accept", json!({"mediators": [me]})).await;
    ok(&app, &mediator, other, "open_session", json!({"session_mode": "public"})).await;
    let r = ok(
        &app,
        &mediator,
        other,
        "terminate",
        json!({"end_reason": "no_agreement",
        "other_routes": "可向临江市东城区人民法院提起诉讼"}),
    )
    .await;
    assert_eq!(r["state"], "terminated");
    // Someone outside the committee cannot act on its mediation.
    let (s, _) = app.act(&app.token("dczj_staff").await, id, "follow_up", json!({"note": "x"})).await;
    assert!(s == 403 || s == 404, "{s}");

    let report = app.svc.verify().await.unwrap();
    assert!(report.ok, "{report:?}");
}

both_backends!(mediation_path, a_dispute_is_opened_from_a_petition_and_mediated_to_performance);

/// The monthly sweep: a nil report on time, a month nobody reported (漏报), a report filed after the due day
/// (迟报) that a correction does not make timely, all seen from the district above.
async fn sweeps_and_nil_reports_are_checked_from_above(app: TestApp) {
    let mediator = app.token("mediator").await;
    let district = app.token("dc_leader").await;
    let file = |year: i32, month: u32, result: &str| json!({"kind": "sweep", "fields": {"year": year, "month": month, "result": result}});
    let report = |year: i32, month: u32| {
        let district = district.clone();
        let app = &app;
        async move {
            let (s, b) = app.get(&district, &format!("/api/v1/periodic/sweep?year={year}&month={month}")).await;
            assert_eq!(s, 200, "{b}");
            let jd =
                b["units"].as_array().unwrap().iter().find(|u| u["unit"]["name"] == "东城区幸福街道").unwrap().clone();
            (jd["status"].as_str().unwrap().to_string(), b)
        }
    };
    // It is 2 March: February's report is due by the end of 5 March.
    assert_eq!(report(2026, 2).await.0, "pending");
    assert_eq!(report(2026, 1).await.0, "missing", "January's was due by 5 February");
    let (s, b) = app.post(&mediator, "/api/v1/cases", file(2026, 2, "nil")).await;
    assert_eq!(s, 201, "{b}");
    let (status, b) = report(2026, 2).await;
    assert_eq!(status, "on_time", "{b}");
    assert!(b["units"][0]["result"].as_str().unwrap().contains("零报告"), "{b}");
    assert_eq!(b["missing"], json!(0));

    // March is not reported by 5 April; filed on 7 April it is late, and a correction does not change that.
    app.advance_days(35);
    assert_eq!(report(2026, 3).await.0, "missing");
    let (s, b) = app.post(&mediator, "/api/v1/cases", file(2026, 3, "found")).await;
    assert_eq!(s, 201, "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    let (s, b) = app.act(&mediator, id, "correct", json!({"note": "补充：发现 2 起邻里纠纷", "found_count": 2})).await;
    assert_eq!(s, 200, "{b}");
    let (status, b) = report(2026, 3).await;
    assert_eq!((status.as_str(), b["late"].as_i64()), ("late", Some(1)), "{b}");
    // The same reports in the district's assessment (排查按时报送率, the street's only indicator: it handles no
    // petition or backlog case): January's missing report falls due in February (0 %, total 0), February's on
    // time in March (100 %), March's late in April (0 %). Each figure lists its reports, a missing one without a
    // case to open.
    let assessed = |period: &'static str| {
        let (app, district) = (&app, district.clone());
        async move {
            let (s, r) = app.get(&district, &format!("/api/v1/assessment?period={period}")).await;
            assert_eq!(s, 200, "{r}");
            let groups = r["groups"].as_array().unwrap();
            let jd = groups
                .iter()
                .flat_map(|g| g["units"].as_array().unwrap())
                .find(|u| u["unit"]["name"] == "东城区幸福街道");
            let jd = jd.unwrap_or_else(|| panic!("{r}")).clone();
            (jd["counts"].clone(), jd["score"]["total"].as_f64(), jd["rank"].as_i64())
        }
    };
    assert_eq!(assessed("2026-02").await, (json!({"sweep_due": 1, "sweep_missing": 1}), Some(0.0), Some(1)));
    assert_eq!(assessed("2026-03").await, (json!({"sweep_due": 1, "sweep_on_time": 1}), Some(100.0), Some(1)));
    assert_eq!(assessed("2026-04").await, (json!({"sweep_due": 1}), Some(0.0), Some(1)), "April is still running");
    let drill = |period: &str, count: &str| {
        format!("/api/v1/assessment/cases?period={period}&unit={}&count={count}", app.units["dc_jd"])
    };
    let (_, missing) = app.get(&district, &drill("2026-02", "sweep_missing")).await;
    assert_eq!(missing, json!([{"id": null, "code": "—", "title": "矛盾纠纷排查：2026 年 1 月", "state": "漏报"}]));
    let (_, late) = app.get(&district, &drill("2026-04", "sweep_due")).await;
    assert_eq!((late[0]["id"].as_i64(), late[0]["state"].as_str()), (Some(id), Some("迟报")), "{late}");
    // Another district sees none of this district's units.
    let (_, other) = app.get(&app.token("xh_staff").await, "/api/v1/periodic/sweep?year=2026&month=3").await;
    assert_eq!(other["units"], json!([]), "{other}");
    let (s, e) = app.get(&district, "/api/v1/periodic/sweep?year=2026&month=13").await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = app.get(&district, "/api/v1/periodic/dispute?year=2026&month=3").await;
    assert_eq!(s, 400, "not a periodic report: {e}");
}

both_backends!(sweep_reports, sweeps_and_nil_reports_are_checked_from_above);
