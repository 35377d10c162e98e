//! Petitions end to end through the real HTTP server, on both databases.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

fn clock<'a>(case: &'a Value, id: &str) -> Vec<&'a Value> {
    case["clocks"].as_array().unwrap().iter().filter(|c| c["clock"] == id).collect()
}

async fn claim_goes_from_visit_to_final_re_review(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    // A district bureau handles it; the district reviews (复查) and the city re-reviews (复核).
    let staff = app.token("dczj_staff").await;
    let leader = app.token("dczj_leader").await;

    let (id, code, password) = app.register(&clerk, "claim", json!({})).await;
    assert!(code.starts_with("XF20260302"), "{code}");
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["state"], "registered");
    assert_eq!(case["parties"][0]["phone"], "138****1234", "parties are masked in the case view");
    assert_eq!(case["parties"][0]["name"], "王**");
    let routing = clock(&case, "routing");
    assert_eq!(routing[0]["due_date"], "2026-03-17", "15 calendar days from 2026-03-02");
    assert_eq!(routing[0]["status"], "on_time");
    assert_eq!(case["documents"][0]["id"], "receipt");

    // The clerk cannot route; the petition office assigns to the housing bureau.
    let (s, b) = app.act(&clerk, id, "assign", json!({"target_unit": app.units["dc_zj"]})).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("action_not_allowed_for_role")));
    app.advance_days(2);
    let (s, b) = app.act(&office, id, "assign", json!({"target_unit": app.units["dc_zj"]})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "assigned");

    // Another bureau's staff cannot accept; the handling unit's staff can.
    let rs = app.token("rs_staff").await;
    let (s, _) = app.act(&rs, id, "accept", json!({})).await;
    assert!(s == 403, "staff outside the handling unit are refused, got {s}");
    app.advance_days(3);
    let (s, b) = app.act(&staff, id, "accept", json!({"note": "已受理"})).await;
    assert_eq!(s, 200, "{b}");
    let (_, case) = app.get(&staff, &format!("/api/v1/cases/{id}")).await;
    let handling = clock(&case, "handling");
    assert_eq!(handling[0]["due_date"], "2026-05-06", "60 days from 2026-03-07 is 05-06 (a working day)");
    assert!(case["available_actions"].as_array().unwrap().iter().any(|a| a["id"] == "request_extension"));

    // Extension: requested by staff, approved by the unit's leader, its own record; the due date moves.
    let (s, b) =
        app.act(&staff, id, "request_extension", json!({"extension_days": 30, "reason": "涉及多个部门"})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.act(&leader, id, "approve_extension", json!({"extension_days": 31})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")), "more than 30 days is refused: {b}");
    let (s, b) = app.act(&leader, id, "approve_extension", json!({"extension_days": 30, "reason": "情况复杂"})).await;
    assert_eq!(s, 200, "{b}");
    let (_, case) = app.get(&staff, &format!("/api/v1/cases/{id}")).await;
    let handling = clock(&case, "handling");
    assert_eq!(handling[0]["due_date"], "2026-06-05", "extended 30 days from 05-06");
    assert_eq!(handling[0]["extensions"].as_array().unwrap().len(), 1);
    assert!(case["documents"].as_array().unwrap().iter().any(|d| d["id"] == "extension_notice"));

    // Reply needs an outcome.
    let (s, b) = app.act(&staff, id, "reply", json!({"reply": "经核实……"})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("missing_field")));
    app.advance_days(20);
    let (s, b) =
        app.act(&staff, id, "reply", json!({"outcome": "explain", "reply": "经核实，已责成物业限期维修。"})).await;
    assert_eq!(s, 200, "{b}");

    // The resident reads the reply on the portal, rates it, and requests review within the window.
    let r = app
        .client
        .post(app.url("/api/v1/portal/query"))
        .json(&json!({"code": code, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let public: Value = r.json().await.unwrap();
    let text = public.to_string();
    assert!(text.contains("经核实，已责成物业限期维修"), "the reply is shown to the resident");
    assert!(!text.contains("已受理\""), "internal notes are not in the public timeline: {text}");
    assert!(!text.contains("zj_staff"), "no staff names on the portal");
    assert!(text.contains("解释说明"), "choices in words, not codes: {text}");
    assert!(!text.contains("approved_by"), "the approving official is not shown: {text}");
    let version = public["version"].as_i64().unwrap();
    // The query code is forgiving about case and spaces, as the password is.
    let sloppy = format!(" {} ", code.to_lowercase());
    let r = app
        .client
        .post(app.url("/api/v1/portal/query"))
        .json(&json!({"code": sloppy, "password": password.to_lowercase()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = app
        .client
        .post(app.url("/api/v1/portal/query"))
        .json(&json!({"code": code, "password": "WRONG123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let r = app
        .client
        .post(app.url("/api/v1/portal/actions/rate"))
        .json(&json!({"code": code, "password": password, "expected_version": version, "fields": {"satisfaction": "unsatisfied", "comment": "没有解决"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Rated once; a second rating (or a resubmission) is refused.
    let r = app
        .client
        .post(app.url("/api/v1/portal/actions/rate"))
        .json(&json!({"code": code, "password": password, "expected_version": version + 1, "fields": {"satisfaction": "satisfied"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // Closing is refused while the resident's review window is open.
    let (s, b) = app.act(&office, id, "close", json!({})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("window_closed")), "{b}");
    app.advance_days(10);
    let r = app
        .client
        .post(app.url("/api/v1/portal/actions/request_review"))
        .json(&json!({"code": code, "password": password, "expected_version": version + 1, "fields": {"reason": "处理意见没有解决问题"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Review and re-review with a hearing; the final opinion closes the matter (三级终结). The review is the
    // next-higher organ's: the handling unit's own leader may not review its reply; the re-review is the organ
    // above the reviewer's: the reviewing district may not re-review its own opinion.
    let district = app.token("dc_leader").await;
    let city_leader = app.token("leader").await;
    app.advance_days(20);
    let (s, b) = app.act(&leader, id, "review_reply", json!({"outcome": "support", "reply": "自己复查自己"})).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("action_not_allowed_for_role")), "{b}");
    let (s, b) =
        app.act(&district, id, "review_reply", json!({"outcome": "not_support", "reply": "维持原处理意见"})).await;
    assert_eq!(s, 200, "{b}");
    app.advance_days(5);
    let (s, _) = app.act(&clerk, id, "request_re_review", json!({"reason": "不服复查意见"})).await;
    assert_eq!(s, 200);
    let (s, _) = app.act(&district, id, "start_hearing", json!({"note": "组织听证"})).await;
    assert_eq!(s, 403, "the reviewing organ does not re-review");
    let (s, _) = app.act(&city_leader, id, "start_hearing", json!({"note": "组织听证"})).await;
    assert_eq!(s, 200);
    app.advance_days(10);
    let (s, _) = app.act(&city_leader, id, "end_hearing", json!({})).await;
    assert_eq!(s, 200);
    let (_, case) = app.get(&city_leader, &format!("/api/v1/cases/{id}")).await;
    let rr = clock(&case, "re_review");
    let started = chrono::DateTime::parse_from_rfc3339(rr[0]["started_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        started.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive().to_string(),
        "2026-05-01"
    );
    assert_eq!(rr[0]["due_date"], "2026-06-10", "30 days from 05-01 plus 10 hearing days, not counted");
    let (s, b) =
        app.act(&city_leader, id, "re_review_reply", json!({"outcome": "not_support", "reply": "复核维持"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "finally_closed");
    let (_, case) = app.get(&city_leader, &format!("/api/v1/cases/{id}")).await;
    assert!(case["terminal"].as_bool().unwrap());
    assert!(case["available_actions"].as_array().unwrap().is_empty());
    assert!(
        case["clocks"].as_array().unwrap().iter().all(|c| !c["stopped_at"].is_null()),
        "no clock runs after closure"
    );

    let report = app.svc.verify().await.unwrap();
    assert!(report.ok, "{:?}", report.problems);
}
both_backends!(claim_full_path, claim_goes_from_visit_to_final_re_review);

async fn accusation_is_never_shown_or_handed_to_the_accused_unit(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (id, _, _) = app
        .register(
            &clerk,
            "accusation",
            json!({"accused_unit": app.units["dc_zj"], "accused_users": [app.users["zj_staff"]]}),
        )
        .await;
    // Handing it to the accused unit (or a unit inside it) is refused.
    for unit in ["dc_zj", "dc_zj_team"] {
        let (s, b) = app.act(&office, id, "assign", json!({"target_unit": app.units[unit]})).await;
        assert_eq!((s, b["code"].as_str()), (403, Some("accused_party_forbidden")), "{unit}: {b}");
    }
    // The accused unit's staff and sub-unit staff cannot read it, even by id, nor see it in lists.
    for user in ["dczj_staff", "team_staff"] {
        let t = app.token(user).await;
        let (s, b) = app.get(&t, &format!("/api/v1/cases/{id}")).await;
        assert_eq!((s, b["code"].as_str()), (403, Some("out_of_scope")), "{user}: same answer as any invisible case");
        let (s, b) = app.get(&t, &format!("/api/v1/cases/{id}/parties/full")).await;
        assert_eq!(s, 403, "{b}");
    }
    // Handing it to the city housing bureau works; its accused staff member is still barred.
    let (s, b) = app.act(&office, id, "assign", json!({"target_unit": app.units["zjj"]})).await;
    assert_eq!(s, 200, "{b}");
    let accused = app.token("zj_staff").await;
    let (s, _) = app.get(&accused, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 403);
    let (_, list) = app.get(&accused, "/api/v1/cases").await;
    assert!(list["items"].as_array().unwrap().iter().all(|c| c["id"] != id), "not in the accused person's list");
    let (s, _) = app.act(&accused, id, "accept", json!({})).await;
    assert_eq!(s, 403);
    // Every refusal is in the audit log.
    let auditor = app.token("auditor").await;
    let (s, log) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    assert_eq!(s, 200);
    let denied = log.as_array().unwrap().iter().filter(|r| r["event"] == "accused_access_denied").count();
    assert!(denied >= 5, "refusals audited: {denied}");
    // A non-auditor cannot read the audit log.
    let (s, _) = app.get(&office, "/api/v1/audit").await;
    assert_eq!(s, 403);
}
both_backends!(accused_unit_rule, accusation_is_never_shown_or_handed_to_the_accused_unit);

async fn matter_type_decides_the_path(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (sugg, _, _) = app.register(&clerk, "suggestion", json!({})).await;
    let (s, b) = app.act(&office, sugg, "route_legal", json!({"legal_channel": "arbitration", "reason": "仲裁"})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("action_not_applicable")));
    let (s, b) = app.act(&office, sugg, "forward_discipline", json!({"discipline_body": "纪委"})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("action_not_applicable")));
    app.act(&office, sugg, "assign", json!({"target_unit": app.units["zjj"]})).await;
    let staff = app.token("zj_staff").await;
    app.act(&staff, sugg, "accept", json!({})).await;
    let (_, case) = app.get(&staff, &format!("/api/v1/cases/{sugg}")).await;
    assert!(clock(&case, "handling").is_empty(), "suggestions carry no 60-day handling clock");
    let (s, _) = app.act(&staff, sugg, "reply", json!({"outcome": "support", "reply": "x"})).await;
    assert_eq!(s, 400);
    let (s, _) = app.act(&staff, sugg, "answer", json!({"reply": "感谢建议"})).await;
    assert_eq!(s, 200);
    let (s, b) = app.act(&clerk, sugg, "request_review", json!({"reason": "x"})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("action_not_applicable")), "no review for suggestions");
    let (s, _) = app.act(&office, sugg, "close", json!({})).await;
    assert_eq!(s, 200);

    // A repeat petition is attached to the open original as a duplicate, and counted there.
    let (orig, orig_code, _) = app.register(&clerk, "claim", json!({})).await;
    let body = json!({"fields": {"channel": "phone", "matter_type": "claim", "title": "电梯又坏了", "content": "同一问题再次反映"},
                      "petitioner": {"name": "王建国", "phone": "138-1234-1234"}});
    let (s, b) = app.post(&clerk, "/api/v1/cases", body).await;
    assert_eq!(s, 201);
    assert!(b["possible_duplicates"].as_array().unwrap().iter().any(|c| c["id"] == orig), "same phone → warned: {b}");
    let dup = b["case"]["id"].as_i64().unwrap();
    let (s, b) = app.act(&clerk, dup, "mark_duplicate", json!({"duplicate_of": orig})).await;
    assert_eq!(s, 200, "{b}");
    // The original can also be named by the code printed on its receipt.
    let (dup2, _, _) = app.register(&clerk, "claim", json!({"title": "第三次反映电梯问题"})).await;
    let (s, b) = app.act(&clerk, dup2, "mark_duplicate", json!({"duplicate_of": "XF0000"})).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("duplicate_of")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("找不到编号为 XF0000 的案件"), "{b}");
    let (s, b) = app.act(&clerk, dup2, "mark_duplicate", json!({"duplicate_of": orig_code.to_lowercase()})).await;
    assert_eq!(s, 200, "{b}");
    let (_, o) = app.get(&clerk, &format!("/api/v1/cases/{orig}")).await;
    assert_eq!(o["duplicates"], json!([dup, dup2]));
    assert!(o["events"].as_array().unwrap().iter().any(|e| e["action"] == "duplicate_received"));
    let (s, _) = app.act(&clerk, dup, "assign", json!({"target_unit": app.units["zjj"]})).await;
    assert!(s >= 400, "a duplicate is closed");
    assert!(app.svc.verify().await.unwrap().ok);
}
both_backends!(matter_types, matter_type_decides_the_path);

async fn bad_input_gets_clear_errors_and_loses_nothing(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (id, _, _) = app.register(&clerk, "claim", json!({})).await;

    // Malformed JSON, invalid UTF-8, an oversized body.
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&clerk)
        .header("content-type", "application/json")
        .body("{\"fields\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "invalid_input");
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&clerk)
        .header("content-type", "application/json")
        .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_utf8");
    let huge = format!("{{\"fields\": {{\"content\": \"{}\"}}}}", "很".repeat(600_000));
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&clerk)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["connection"], "close", "the unread connection must not be reused");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "body_too_large");

    // A Chinese word where a number belongs, a phone without digits, an ID with a wrong check digit.
    let (s, b) = app.post(&clerk, "/api/v1/cases", json!({"fields": {"channel": "visit", "matter_type": "claim", "title": "x", "content": "y", "representatives": "五"}})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")));
    let (s, b) = app.post(&clerk, "/api/v1/cases", json!({"fields": {"channel": "visit", "matter_type": "claim", "title": "x", "content": "y"}, "petitioner": {"name": "王五", "phone": "电话"}})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")), "{b}");
    let (s, b) = app.post(&clerk, "/api/v1/cases", json!({"fields": {"channel": "visit", "matter_type": "claim", "title": "x", "content": "y"}, "petitioner": {"name": "王五", "id_number": "110101199003074511"}})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")), "{b}");
    let (s, b) = app.post(&clerk, "/api/v1/auth/login", json!({"username": "clerk"})).await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("缺少字段 password"), "{b}");
    let (s, b) = app.get(&office, "/api/v1/cases?page=abc").await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("应为整数"), "{b}");
    let (s, b) = app.get(&office, "/api/v1/cases?kind=petition&state=nowhere").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")));
    let (s, _) = app
        .post(
            &office,
            &format!("/api/v1/cases/{id}/actions/assign"),
            json!({"fields": {"target_unit": app.units["zjj"]}}),
        )
        .await;
    assert_eq!(s, 400, "an action without expected_version is refused");

    // Unknown field values, missing fields, unknown kind and action, wrong state.
    let (s, b) = app
        .post(
            &clerk,
            "/api/v1/cases",
            json!({"fields": {"channel": "pigeon", "matter_type": "claim", "title": "x", "content": "y"}}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")));
    assert!(b["message"].as_str().unwrap().contains("信访渠道"), "{b}");
    let (s, b) = app
        .post(&clerk, "/api/v1/cases", json!({"fields": {"channel": "visit", "matter_type": "claim", "title": "x"}}))
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("missing_field")));
    let (s, b) = app.post(&clerk, "/api/v1/cases", json!({"kind": "ufo", "fields": {}})).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("unknown_case_kind")));
    let (s, b) = app.act(&office, id, "teleport", json!({})).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("unknown_action")));
    let (s, b) = app.act(&office, id, "accept", json!({})).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("action_not_allowed_in_state")));
    let (s, b) = app.get(&office, "/api/v1/cases/abc").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")));
    let (s, b) = app.get(&office, "/api/v1/cases?clock_status=late").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_input")));
    let (s, b) = app.get(&office, "/api/v1/deadline?from=2026-13-01&amount=5&unit=working").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_date")));
    let (s, b) = app.get(&office, "/api/v1/deadline?from=2026-12-20&amount=10&unit=working").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("calendar_out_of_range")));
    let (s, b) = app.get(&office, "/api/v1/deadline?from=2026-01-01&amount=5&unit=working&region=990000").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("unknown_region")));

    // A double-clicked action: the second one, made against the version already changed, is refused.
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    let v = case["version"].as_i64().unwrap();
    let body = json!({"fields": {"target_unit": app.units["zjj"]}, "expected_version": v});
    let (s1, _) = app.post(&office, &format!("/api/v1/cases/{id}/actions/assign"), body.clone()).await;
    let (s2, b2) = app.post(&office, &format!("/api/v1/cases/{id}/actions/assign"), body).await;
    assert_eq!(s1, 200);
    assert_eq!(s2, 409);
    assert!(["stale_version", "action_not_allowed_in_state"].contains(&b2["code"].as_str().unwrap()));
    // A resubmitted intake form is refused, not registered twice.
    let form = json!({"fields": {"channel": "letter", "matter_type": "claim", "title": "来信", "content": "内容"}, "client_request_id": "form-42"});
    let (s, _) = app.post(&clerk, "/api/v1/cases", form.clone()).await;
    assert_eq!(s, 201);
    let (s, b) = app.post(&clerk, "/api/v1/cases", form).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("duplicate_submit")));

    let (_, list) = app.get(&office, "/api/v1/cases?per_page=100").await;
    assert_eq!(list["total"], 2, "exactly the two cases registered: nothing half-written");
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["events"].as_array().unwrap().len(), 2);
    assert!(app.svc.verify().await.unwrap().ok);
}
both_backends!(bad_input, bad_input_gets_clear_errors_and_loses_nothing);

async fn accounts_sessions_and_roles(app: TestApp) {
    // Lockout after five failures, audited.
    for _ in 0..5 {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "clerk", "password": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "clerk", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 423, "locked even with the right password");
    app.clock.advance(chrono::Duration::minutes(31));
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "clerk", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login: Value = r.json().await.unwrap();
    let session = login["token"].as_str().unwrap().to_string();

    // Cookie sessions need the CSRF token on writes; bearer tokens do not.
    let cookie = format!("tz_session={session}");
    let body = json!({"fields": {"channel": "visit", "matter_type": "claim", "title": "x", "content": "y"}});
    let r = app.client.post(app.url("/api/v1/cases")).header("cookie", &cookie).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "csrf_mismatch");
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .header("cookie", &cookie)
        .header("x-csrf-token", login["csrf_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Idle timeout: 31 minutes later the session is gone.
    app.clock.advance(chrono::Duration::minutes(31));
    let (s, b) = app.get(&session, "/api/v1/me").await;
    assert_eq!((s, b["code"].as_str()), (401, Some("session_expired")));

    // Roles: only the security administrator changes them; the three administrators stay separate.
    let sec = app.token("secadmin").await;
    let sys = app.token("sysadmin").await;
    let clerk_id = app.users["clerk"];
    let (s, _) = app
        .client
        .put(app.url(&format!("/api/v1/users/{clerk_id}/roles")))
        .bearer_auth(&sys)
        .json(&json!({"roles": ["leader"]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 403);
    let r = app
        .client
        .put(app.url(&format!("/api/v1/users/{clerk_id}/roles")))
        .bearer_auth(&sec)
        .json(&json!({"roles": ["system_admin", "audit_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "role_conflict");
    let r = app
        .client
        .put(app.url(&format!("/api/v1/users/{clerk_id}/roles")))
        .bearer_auth(&sec)
        .json(&json!({"roles": ["reception_clerk", "petition_office"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The system administrator creates accounts but does not grant roles; weak passwords are refused.
    let new_user = |password: &str, roles: Value| json!({"username": "newbie", "display_name": "新人", "unit_id": app.units["xfj"], "password": password, "roles": roles});
    let (s, b) = app.post(&sys, "/api/v1/users", new_user("Aa-12345678", json!(["reception_clerk"]))).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("role_conflict")), "{b}");
    let (s, b) = app.post(&sys, "/api/v1/users", new_user("password", json!([]))).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("weak_password")));
    let (s, b) = app.post(&sys, "/api/v1/users", new_user("Aa-12345678", json!([]))).await;
    assert_eq!(s, 201, "{b}");
    let newbie = b["id"].as_i64().unwrap();
    let r = app
        .client
        .put(app.url(&format!("/api/v1/users/{newbie}/roles")))
        .bearer_auth(&sec)
        .json(&json!({"roles": ["reception_clerk"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The one-time password must be changed before anything else; the change ends every session.
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "newbie", "password": "Aa-12345678"}))
        .send()
        .await
        .unwrap();
    let t = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let (s, b) = app.get(&t, "/api/v1/cases").await;
    assert_eq!((s, b["code"].as_str()), (403, Some("password_change_required")));
    let (s, _) = app
        .post(&t, "/api/v1/me/password", json!({"old_password": "Aa-12345678", "new_password": "Bb-87654321"}))
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&t, "/api/v1/me").await;
    assert_eq!(s, 401, "the old session ended with the password change");
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "newbie", "password": "Bb-87654321"}))
        .send()
        .await
        .unwrap();
    let t = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let (s, _) = app.get(&t, "/api/v1/cases").await;
    assert_eq!(s, 200);
    // Administrators do not read cases.
    let (s, _) = app.get(&sys, "/api/v1/cases").await;
    assert_eq!(s, 403);

    let auditor = app.token("auditor").await;
    let (_, log) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    let events: Vec<&str> = log.as_array().unwrap().iter().map(|r| r["event"].as_str().unwrap()).collect();
    for e in ["login_failed", "login", "permission_change", "user_created"] {
        assert!(events.contains(&e), "{e} audited");
    }
    let failed = log.as_array().unwrap().iter().filter(|r| r["event"] == "login_failed").count();
    assert!(failed >= 6);
}
both_backends!(accounts, accounts_sessions_and_roles);

async fn scope_recusal_reveal_and_lists(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (a, _, _) = app.register(&clerk, "claim", json!({"category": "城乡建设"})).await;
    let (b_id, _, _) = app.register(&clerk, "suggestion", json!({"category": "劳动和社会保障"})).await;
    app.act(&office, a, "assign", json!({"target_unit": app.units["zjj"], "cohandling_units": [app.units["rsj"]]}))
        .await;

    // Scope: the housing bureau sees its assigned case, the co-handler too; the west district sees nothing.
    let zj = app.token("zj_staff").await;
    let (s, _) = app.get(&zj, &format!("/api/v1/cases/{a}")).await;
    assert_eq!(s, 200);
    let (s, _) = app.get(&zj, &format!("/api/v1/cases/{b_id}")).await;
    assert_eq!(s, 403);
    // A sub-unit of the handling unit is not the handler.
    let (s, b) = app.act(&office, b_id, "assign", json!({"target_unit": app.units["dc_zj"]})).await;
    assert_eq!(s, 200, "{b}");
    let team = app.token("team_staff").await;
    let (s, _) = app.get(&team, &format!("/api/v1/cases/{b_id}")).await;
    assert_eq!(s, 403);
    let rs = app.token("rs_staff").await;
    let (s, case) = app.get(&rs, &format!("/api/v1/cases/{a}")).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> =
        case["available_actions"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["add_note"], "a co-handling unit may only add notes");
    let xh = app.token("xh_staff").await;
    let (_, list) = app.get(&xh, "/api/v1/cases").await;
    assert_eq!(list["total"], 0);

    // Recusal: a staff member whose ID matches the petitioner's may not accept the case nor be named handler.
    let relative = app.token("relative").await;
    let (s, b) = app.act(&relative, a, "accept", json!({})).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("recusal_required")), "{b}");
    let (s, b) = app.act(&zj, a, "accept", json!({"assignee": app.users["relative"]})).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("recusal_required")), "{b}");
    let (s, _) = app.act(&zj, a, "accept", json!({"assignee": app.users["zj_staff"]})).await;
    assert_eq!(s, 200);

    // Full personal data: handling roles may reveal, every reveal audited; lists stay masked.
    let (s, parties) = app.get(&zj, &format!("/api/v1/cases/{a}/parties/full")).await;
    assert_eq!(s, 200);
    assert_eq!(parties[0]["phone"], "13812341234");
    assert_eq!(parties[0]["id_number"], "110101199003071233");
    let auditor = app.token("auditor").await;
    let (_, log) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    assert!(log.as_array().unwrap().iter().any(|r| r["event"] == "pii_reveal" && r["object"] == format!("case:{a}")));

    // Filters: kind, state, category, matter type, clock status, date range, sort, pagination.
    let (_, l) = app.get(&office, "/api/v1/cases?category=城乡建设").await;
    assert_eq!(l["total"], 1);
    let (_, l) = app.get(&office, "/api/v1/cases?state=assigned&matter_type=suggestion").await;
    assert_eq!(l["total"], 1);
    let (_, l) = app.get(&office, "/api/v1/cases?per_page=1&page=2&sort=oldest").await;
    assert_eq!((l["total"].as_i64(), l["items"][0]["id"].as_i64()), (Some(2), Some(b_id)));
    let (_, l) = app.get(&office, "/api/v1/cases?clock_status=overdue").await;
    assert_eq!(l["total"], 0);
    app.advance_days(20);
    let (_, l) = app.get(&office, "/api/v1/cases?clock_status=overdue").await;
    assert_eq!(l["total"], 1, "the suggestion's 15-day routing clock is overdue: {l}");
    assert_eq!(l["items"][0]["id"], b_id);
    let (_, l) = app.get(&office, "/api/v1/cases?from=2026-03-03").await;
    assert_eq!(l["total"], 0);
    let (_, l) = app.get(&office, "/api/v1/cases?from=2026-03-02&to=2026-03-02").await;
    assert_eq!(l["total"], 2);
    assert!(app.svc.verify().await.unwrap().ok);
}
both_backends!(scope_and_lists, scope_recusal_reveal_and_lists);

#[tokio::test]
async fn openapi_and_swagger_ui_are_served() {
    let app = crate::helpers::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in ["/api/v1/cases", "/api/v1/cases/{id}/actions/{action}", "/api/v1/portal/query", "/api/v1/deadline"] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    let r = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
    assert!(!html.contains("cdn."), "no CDN");
    let r = app.client.get(app.url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
}

async fn concurrent_writers_keep_one_chain(app: TestApp) {
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    // 12 intakes at once.
    let mut tasks = vec![];
    for i in 0..12 {
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/cases"), clerk.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"fields": {"channel": "visit", "matter_type": "claim", "title": format!("并发登记 {i}"), "content": "内容"}});
            client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    // The same action on the same version from 6 clients: exactly one is recorded.
    let (_, list) = app.get(&office, "/api/v1/cases?sort=oldest&per_page=1").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let mut tasks = vec![];
    for _ in 0..6 {
        let (client, url, token) =
            (app.client.clone(), app.url(&format!("/api/v1/cases/{id}/actions/assign")), office.clone());
        let body = json!({"fields": {"target_unit": app.units["zjj"]}, "expected_version": 1});
        tasks.push(tokio::spawn(async move {
            client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    let mut codes = vec![];
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["events"].as_array().unwrap().len(), 2);
    let report = app.svc.verify().await.unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.cases, 12);
}
both_backends!(concurrency, concurrent_writers_keep_one_chain);

#[tokio::test]
async fn login_and_portal_are_rate_limited() {
    let app = crate::helpers::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let mut last = 0;
    for _ in 0..31 {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "nobody", "password": "x"}))
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429);
    let mut last = Value::Null;
    for _ in 0..61 {
        let r = app
            .client
            .post(app.url("/api/v1/portal/query"))
            .json(&json!({"code": "XF1", "password": "x"}))
            .send()
            .await
            .unwrap();
        last = r.json().await.unwrap();
    }
    assert_eq!(last["code"], "rate_limited");
    let r = app.client.delete(app.url("/api/v1/cases")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("请求方法"));
}

/// Every documented endpoint, fed junk in its path, query and body: never a 5xx, always a `{code, message}`
/// error in Chinese.
#[tokio::test]
async fn no_endpoint_answers_junk_with_a_server_error() {
    let app = crate::helpers::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let token = app.token("office").await;
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let bodies: Vec<Vec<u8>> = vec![
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        r#"{"fields": 5, "expected_version": "一"}"#.as_bytes().to_vec(),
        br#"{"fields": {"channel": ["visit"], "matter_type": {}, "title": 1e999}}"#.to_vec(),
        br#"{"code": null, "password": 7, "username": [], "roles": "x"}"#.to_vec(),
        vec![0xff, 0x00, 0xfe],
        "{\"unit_id\": 99999999999999999999}".as_bytes().to_vec(),
    ];
    let ids = ["abc", "-1", "0", "99999999999999999999", "%E4%B8%AD", "1"];
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            for id in ids {
                let p = path.replace("{id}", id).replace("{action}", "assign").replace("{kind}", id);
                let url = app.url(&format!("{p}?page=-1&per_page=99999&from=x&clock_status=%FF&amount=-3"));
                for body in &bodies {
                    let req = match method.as_str() {
                        "get" => app.client.get(&url),
                        "post" => app.client.post(&url),
                        "put" => app.client.put(&url),
                        _ => continue,
                    };
                    let r = req
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    tried += 1;
                    assert!(status < 500, "{method} {p} → {status}: {text}");
                    if status >= 400 {
                        let v: Value =
                            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {p}: not JSON: {text}"));
                        assert!(v["code"].is_string() && v["message"].is_string(), "{method} {p}: {text}");
                        assert!(
                            !v["message"].as_str().unwrap().is_ascii(),
                            "{method} {p}: message not in Chinese: {text}"
                        );
                    }
                }
            }
        }
    }
    assert!(tried > 300, "{tried}");
    assert!(app.svc.verify().await.unwrap().ok);
}
