//! The staff workspace pages, through the real server: sign in, the work queue, the case page and its action
//! forms (CSRF, stale versions, input kept on errors), and the accused-unit rule on pages.

use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn};

pub(crate) struct Browser {
    client: reqwest::Client,
    cookie: String,
}

pub(crate) async fn sign_in(app: &TestApp, user: &str) -> Browser {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.post(app.url("/login")).form(&[("username", user), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(r.status(), 303, "login redirects to the work queue");
    assert_eq!(r.headers()["location"], "/work");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(set.contains("HttpOnly"));
    Browser { client, cookie }
}

impl Browser {
    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let r = self.client.get(app.url(path)).header("cookie", &self.cookie).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
    pub(crate) async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let r = self.client.post(app.url(path)).header("cookie", &self.cookie).form(form).send().await.unwrap();
        let loc = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), r.text().await.unwrap(), loc)
    }
}

/// A form built from owned values, borrowed the way `Browser::post` takes it.
fn borrowed<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in page")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn clerk_and_office_work_a_case_through_the_pages() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = anon.get(app.url("/work")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));
    let login_page = anon.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login_page.contains("工作人员登录") && login_page.contains("name=\"password\""));
    let r = anon.post(app.url("/login")).form(&[("username", "office"), ("password", "wrong")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("用户名或密码错误") && html.contains("value=\"office\""), "error shown, username kept");

    let clerk = app.token("clerk").await;
    let (id, code, _) = app.register(&clerk, "claim", json!({})).await;

    let office = sign_in(&app, "office").await;
    let (s, work) = office.get(&app, "/work").await;
    assert_eq!(s, 200);
    assert!(work.contains(&code) && work.contains("交办"), "the new case waits on the office: {work}");
    assert!(work.contains("clock on_time") && work.contains("还剩"), "clock coloured, time in words");

    let (s, page) = office.get(&app, &format!("/cases/{id}")).await;
    assert_eq!(s, 200);
    assert!(page.contains("王**") && !page.contains("13812341234"), "parties masked");
    assert!(!page.contains("http://") && !page.contains("https://"), "no external resources");
    let csrf = hidden(&page, "csrf");
    let version = hidden(&page, "expected_version");
    let unit = app.units["zjj"].to_string();

    // Without the CSRF token nothing happens.
    let (s, _, _) = office
        .post(&app, &format!("/cases/{id}/act/assign"), &[("target_unit", &unit), ("expected_version", &version)])
        .await;
    assert_eq!(s, 403);
    // A refused action re-renders the page with the reason and the input kept.
    let (s, html, _) = office
        .post(
            &app,
            &format!("/cases/{id}/act/assign"),
            &[("csrf", &csrf), ("expected_version", "99"), ("target_unit", &unit), ("note", "请尽快办理")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(html.contains("案件已被他人更新") && html.contains("请尽快办理"), "{html}");
    let (s, _, loc) = office
        .post(
            &app,
            &format!("/cases/{id}/act/assign"),
            &[("csrf", &csrf), ("expected_version", &version), ("target_unit", &unit), ("note", "请尽快办理")],
        )
        .await;
    assert_eq!((s, loc.as_deref()), (303, Some(format!("/cases/{id}").as_str())));
    let (_, page) = office.get(&app, &format!("/cases/{id}")).await;
    assert!(page.contains("已交办待受理") && page.contains("临江市住建局") && page.contains("请尽快办理"));

    // The handling unit sees it in its queue and accepts it.
    let staff = sign_in(&app, "zj_staff").await;
    let (_, work) = staff.get(&app, "/work").await;
    assert!(work.contains(&code) && work.contains("受理"));
    let (_, page) = staff.get(&app, &format!("/cases/{id}")).await;
    let (csrf, version) = (hidden(&page, "csrf"), hidden(&page, "expected_version"));
    let (s, _, _) =
        staff.post(&app, &format!("/cases/{id}/act/accept"), &[("csrf", &csrf), ("expected_version", &version)]).await;
    assert_eq!(s, 303);
    let (_, page) = staff.get(&app, &format!("/cases/{id}")).await;
    assert!(page.contains("办理中") && page.contains("办理答复期限"));
    assert!(app.svc.verify().await.unwrap().ok);
}

#[tokio::test]
async fn accusations_stay_hidden_from_the_accused_on_pages_too() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let (id, code, _) = app.register(&clerk, "accusation", json!({"accused_unit": app.units["zjj"]})).await;
    let office = app.token("office").await;
    let (s, _) = app.act(&office, id, "assign", json!({"target_unit": app.units["rsj"]})).await;
    assert_eq!(s, 200);
    let accused = sign_in(&app, "zj_staff").await;
    let (s, html) = accused.get(&app, &format!("/cases/{id}")).await;
    assert_eq!(s, 403);
    assert!(!html.contains(&code) && html.contains("不存在或不在您的数据范围内"), "{html}");
    let (_, work) = accused.get(&app, "/work").await;
    assert!(!work.contains(&code));
}

#[tokio::test]
async fn clerk_registers_a_visit_and_gets_a_printable_receipt() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = sign_in(&app, "clerk").await;
    let (s, form) = clerk.get(&app, "/register").await;
    assert_eq!(s, 200);
    let csrf = hidden(&form, "csrf");
    let rid = hidden(&form, "client_request_id");
    let visit = [
        ("csrf", csrf.as_str()),
        ("client_request_id", rid.as_str()),
        ("channel", "visit"),
        ("matter_type", "claim"),
        ("category", "城乡建设"),
        ("title", "小区电梯长期停运"),
        ("content", "3 栋电梯停运两个月，老人无法下楼。<script>alert(1)</script>"),
        ("name", "李秀英"),
        ("phone", "139 1234 5678"),
        ("id_number", ""),
        ("address", "临江市东城区人民路8号"),
    ];
    // A validation error keeps every field and names the problem.
    let mut bad = visit.to_vec();
    bad.retain(|(k, _)| *k != "title");
    bad.push(("title", ""));
    let (s, html, _) = clerk.post(&app, "/register", &bad).await;
    assert_eq!(s, 400);
    assert!(html.contains("事由") && html.contains("临江市东城区人民路8号"), "input kept: {html}");
    let title_error = html.split("<label for=\"title\">").nth(1).unwrap().split("<input").next().unwrap();
    assert!(title_error.contains("class=\"field-error\"") && title_error.contains("事由"), "next to the field: {html}");
    let mut bad_phone = visit.to_vec();
    bad_phone.retain(|(k, _)| *k != "phone");
    bad_phone.push(("phone", "电话号码"));
    let (s, html, _) = clerk.post(&app, "/register", &bad_phone).await;
    assert_eq!(s, 400);
    let phone_error = html.split("<label for=\"phone\">").nth(1).unwrap().split("<input").next().unwrap();
    assert!(phone_error.contains("联系电话只能包含数字"), "{html}");

    let (s, receipt, _) = clerk.post(&app, "/register", &visit).await;
    assert_eq!(s, 200, "{receipt}");
    assert!(receipt.contains("信访事项回执") && receipt.contains("查询密码") && receipt.contains("回〔"), "{receipt}");
    assert!(receipt.contains("李**") && !receipt.contains("13912345678"), "masked on the receipt");
    assert!(!receipt.contains("<script>alert"), "escaped");
    // The same form submitted again registers nothing new: first it is flagged as a likely duplicate of the
    // case just registered, and pushed through anyway it is refused as a resubmission.
    let (s, html, _) = clerk.post(&app, "/register", &visit).await;
    assert_eq!(s, 200);
    assert!(html.contains("可能是重复件"), "{html}");
    let mut forced = visit.to_vec();
    forced.push(("not_duplicate", "1"));
    let (s, html, _) = clerk.post(&app, "/register", &forced).await;
    assert_eq!(s, 400);
    assert!(html.contains("同一请求已经提交过"), "{html}");

    // A second visit by the same resident is flagged as a possible duplicate before saving.
    let (_, form) = clerk.get(&app, "/register").await;
    let rid2 = hidden(&form, "client_request_id");
    let mut again = visit.to_vec();
    again.retain(|(k, _)| *k != "client_request_id" && *k != "title");
    again.push(("client_request_id", &rid2));
    again.push(("title", "电梯还是没修"));
    let (s, html, _) = clerk.post(&app, "/register", &again).await;
    assert_eq!(s, 200);
    assert!(html.contains("可能是重复件") && html.contains("小区电梯长期停运"), "{html}");
    again.push(("not_duplicate", "1"));
    let (s, receipt, _) = clerk.post(&app, "/register", &again).await;
    assert_eq!(s, 200);
    assert!(receipt.contains("电梯还是没修"));
    let office = app.token("office").await;
    let (_, list) = app.get(&office, "/api/v1/cases").await;
    assert_eq!(list["total"], 2);
    assert!(app.svc.verify().await.unwrap().ok);
}

#[tokio::test]
async fn resident_reads_the_reply_rates_it_and_requests_review_on_the_portal() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let staff = app.token("zj_staff").await;
    let (id, code, password) = app.register(&clerk, "claim", json!({})).await;
    for (who, action, fields) in [
        (&office, "assign", json!({"target_unit": app.units["zjj"]})),
        (&staff, "accept", json!({})),
        (&staff, "reply", json!({"outcome": "explain", "reply": "经核实，物业已安排维修。"})),
    ] {
        let (s, b) = app.act(who, id, action, fields).await;
        assert_eq!(s, 200, "{action}: {b}");
    }
    let resident = reqwest::Client::new();
    let page = resident.get(app.url("/portal")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("查询信访事项办理进度"));
    let r = resident
        .post(app.url("/portal/case"))
        .form(&[("code", code.as_str()), ("password", "WRONG")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("查询码或查询密码不正确"));

    let r = resident
        .post(app.url("/portal/case"))
        .form(&[("code", code.as_str()), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("经核实，物业已安排维修") && html.contains("解释说明") && html.contains("临江市住建局"),
        "{html}"
    );
    assert!(html.contains("申请复查期限") && html.contains("对处理意见评价"), "{html}");
    assert!(!html.contains("zj_staff") && !html.contains("13812341234"));
    let version = hidden(&html, "expected_version");

    let form = |action: &str, extra: Vec<(&'static str, &'static str)>, version: &str| {
        let mut f = vec![
            ("code".to_string(), code.clone()),
            ("password".to_string(), password.clone()),
            ("expected_version".to_string(), version.to_string()),
        ];
        f.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        resident.post(app.url(&format!("/portal/act/{action}"))).form(&f)
    };
    let r = form("rate", vec![("satisfaction", "unsatisfied"), ("comment", "电梯仍未修好")], &version)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("已提交") && html.contains("不满意"), "{html}");
    let version = hidden(&html, "expected_version");
    // A review request without a reason comes back with the reason asked for; with one it is accepted.
    let r = form("request_review", vec![], &version).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = form("request_review", vec![("reason", "答复与事实不符")], &version).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("复查中"));
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["state"], "review");
    assert!(app.svc.verify().await.unwrap().ok);
}

#[tokio::test]
async fn documents_are_generated_from_the_case_and_print_ready() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let staff_api = app.token("zj_staff").await;
    let (id, code, _) = app.register(&clerk, "claim", json!({})).await;
    app.act(&office, id, "assign", json!({"target_unit": app.units["zjj"], "note": "请于月底前办结"})).await;
    app.act(&staff_api, id, "accept", json!({})).await;
    let (s, _) =
        app.act(&staff_api, id, "reply", json!({"outcome": "support", "reply": "已督促物业更换电梯主板。"})).await;
    assert_eq!(s, 200);

    let staff = sign_in(&app, "zj_staff").await;
    let (_, page) = staff.get(&app, &format!("/cases/{id}")).await;
    let link = |doc: &str| {
        page.split("href=\"")
            .filter(|p| p.contains("/documents/") && p.split('"').next().unwrap().ends_with(doc))
            .map(|p| p.split('"').next().unwrap().to_string())
            .next()
            .unwrap_or_else(|| panic!("no link to {doc}: {page}"))
    };
    let (s, opinion) = staff.get(&app, &link("/handling_opinion")).await;
    assert_eq!(s, 200);
    assert!(opinion.contains("信访事项处理意见书") && opinion.contains("处〔2026〕1号"), "{opinion}");
    assert!(opinion.contains("王**") && opinion.contains(&code) && opinion.contains("处理意见：予以支持"), "{opinion}");
    assert!(opinion.contains("已督促物业更换电梯主板。") && opinion.contains("30 日内请求原办理机关的上一级机关复查"));
    assert!(opinion.contains("临江市住建局") && opinion.contains("2026年03月02日"), "issuing unit and date: {opinion}");
    let (_, assignment) = staff.get(&app, &link("/assignment_form")).await;
    assert!(assignment.contains("临江市住建局：") && assignment.contains("请于月底前办结"), "{assignment}");
    let (s, _) = staff.get(&app, &format!("/cases/{id}/documents/1/handling_opinion")).await;
    assert_eq!(s, 404, "the intake event did not issue a handling opinion");
}

#[tokio::test]
async fn the_case_list_filters_and_exports_an_audited_excel_file() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (a, code_a, _) = app.register(&clerk, "claim", json!({"category": "城乡建设"})).await;
    let (_, code_b, _) = app.register(&clerk, "suggestion", json!({"category": "教育文体"})).await;
    app.act(&office, a, "assign", json!({"target_unit": app.units["zjj"]})).await;

    let browser = sign_in(&app, "office").await;
    let (s, all) = browser.get(&app, "/cases").await;
    assert_eq!(s, 200);
    assert!(all.contains(&code_a) && all.contains(&code_b) && all.contains("共 2 件"), "{all}");
    let (_, assigned) = browser.get(&app, "/cases?state=assigned&sort=newest").await;
    assert!(assigned.contains(&code_a) && !assigned.contains(&code_b), "{assigned}");
    let (s, bad) = browser.get(&app, "/cases?from=yesterday").await;
    assert_eq!(s, 400);
    assert!(bad.contains("无法识别的日期"), "{bad}");
    // Search by a receipt code (any case) or by words of the title; wildcards are taken literally.
    let (_, found) = browser.get(&app, &format!("/cases?q={}", code_b.to_lowercase())).await;
    assert!(found.contains(&code_b) && !found.contains(&code_a) && found.contains("共 1 件"), "{found}");
    let (_, found) = browser.get(&app, "/cases?q=%E7%94%B5%E6%A2%AF").await; // 电梯
    assert!(found.contains("共 2 件"), "{found}");
    let (_, none) = browser.get(&app, "/cases?q=%25").await; // %
    assert!(none.contains("共 0 件"), "{none}");
    // Other kinds are listed the same way.
    let grid = app.token("grid").await;
    let (s, g) = app
        .post(
            &grid,
            "/api/v1/cases",
            json!({"kind": "grid_event", "fields": {"source": "patrol", "subclass": "other",
            "location": "人民路", "title": "共享单车乱停放", "description": "十余辆单车堵住盲道"}}),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let dispatcher = sign_in(&app, "dispatcher").await;
    let (_, grid_list) = dispatcher.get(&app, "/cases?kind=grid_event").await;
    assert!(
        grid_list.contains("共享单车乱停放") && grid_list.contains("已上报待受理") && !grid_list.contains(&code_a),
        "{grid_list}"
    );

    let r = browser
        .client
        .get(app.url("/cases/export.xlsx?state=assigned"))
        .header("cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("spreadsheetml"));
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "an xlsx (zip) file");
    let auditor = app.token("auditor").await;
    let (_, log) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    let export = log.as_array().unwrap().iter().find(|r| r["event"] == "export").expect("export audited");
    assert!(export["detail"].as_str().unwrap().contains("导出 1 件"), "{export}");
}

/// Every staff route, as every role: either what the role may see, or a refusal — never a server error, never
/// another unit's or an accused party's case.
#[tokio::test]
async fn every_route_answers_every_role_with_its_due_or_a_refusal() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let (case, _, _) = app.register(&clerk, "claim", json!({})).await;
    app.act(&office, case, "assign", json!({"target_unit": app.units["zjj"]})).await;
    // An accusation against the housing bureau, handled by the labour bureau.
    let (accusation, _, _) = app.register(&clerk, "accusation", json!({"accused_unit": app.units["zjj"]})).await;
    app.act(&office, accusation, "assign", json!({"target_unit": app.units["rsj"]})).await;
    // A letter with a scanned page, assigned like the ordinary case.
    let (_, clerk_p) = app.svc.login("clerk", PASSWORD, None).await.unwrap();
    let scan = taizhang_service::cases::Upload { name: "来信.pdf".into(), bytes: b"%PDF-1.4 scan".to_vec() };
    let fields = [("channel", "letter"), ("matter_type", "claim"), ("title", "来信附扫描件"), ("content", "见附件")];
    let req = crate::helpers::intake("petition", &fields, vec![scan]);
    let letter = app.svc.register(taizhang_service::cases::Actor::Staff(&clerk_p), req).await.unwrap().case;
    app.act(&office, letter.id, "assign", json!({"target_unit": app.units["zjj"]})).await;
    let file = format!("/cases/{}/attachments/{}", letter.id, letter.attachments[0].id);

    let users = [
        "clerk",
        "office",
        "zj_staff",
        "zj_leader",
        "rs_staff",
        "xh_staff",
        "leader",
        "sysadmin",
        "secadmin",
        "auditor",
    ];
    let case_workers = ["clerk", "office", "zj_staff", "zj_leader", "rs_staff", "xh_staff", "leader"];
    // Who sees the ordinary case: the registering office's subtree (city leader), and the handling unit.
    let sees_case = ["clerk", "office", "zj_staff", "zj_leader", "leader"];
    // Who sees the accusation: not the accused housing bureau.
    let sees_accusation = ["clerk", "office", "rs_staff", "leader"];
    let routes: Vec<(String, Vec<&str>)> = vec![
        ("/work".into(), case_workers.to_vec()),
        ("/register".into(), case_workers.to_vec()),
        ("/cases".into(), case_workers.to_vec()),
        (format!("/cases/{case}"), sees_case.to_vec()),
        (format!("/cases/{accusation}"), sees_accusation.to_vec()),
        (format!("/cases/{case}/documents/1/receipt"), sees_case.to_vec()),
        (file, sees_case.to_vec()),
        ("/api/v1/cases".into(), case_workers.to_vec()),
        (format!("/api/v1/cases/{case}"), sees_case.to_vec()),
        (format!("/api/v1/cases/{accusation}"), sees_accusation.to_vec()),
        (format!("/api/v1/cases/{case}/parties/full"), sees_case.to_vec()),
        ("/api/v1/audit".into(), vec!["auditor"]),
        ("/api/v1/users".into(), vec!["sysadmin", "secadmin"]),
    ];
    let mut wrong = vec![];
    for user in users {
        let browser = sign_in(&app, user).await;
        let token = app.token(user).await;
        for (route, allowed) in &routes {
            let status = if route.starts_with("/api/") {
                app.get(&token, route).await.0
            } else {
                browser.get(&app, route).await.0
            };
            let ok = if allowed.contains(&user) { status == 200 } else { status == 403 || status == 404 };
            if !ok {
                wrong.push(format!("{user} {route} → {status}"));
            }
        }
    }
    assert!(wrong.is_empty(), "unexpected answers: {wrong:#?}");
}

#[tokio::test]
async fn registration_suggests_the_category_and_warns_of_a_duplicate_while_typing() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk_token = app.token("clerk").await;
    // The unit's history: housing matters about lifts, labour matters about wages.
    for _ in 0..3 {
        app.register(&clerk_token, "claim", json!({})).await;
    }
    for title in ["工地拖欠农民工工资", "公司拖欠工资不发", "包工头拖欠工资跑路"] {
        app.register(
            &clerk_token,
            "claim",
            json!({"category": "劳动和社会保障", "title": title, "content": "老板拖欠工资三个月，请求劳动监察介入。"}),
        )
        .await;
    }
    // A one-off spelling typed by a resident, on a case about a lift.
    app.register(&clerk_token, "claim", json!({"category": "城鄉建設🏗", "title": "电梯坏了", "content": "电梯又坏了"}))
        .await;
    let clerk = sign_in(&app, "clerk").await;
    let (_, form) = clerk.get(&app, "/register").await;
    assert!(form.contains("hx-post=\"/register/assist\"") && form.contains("/static/vendor/htmx.min.js"));
    let csrf = hidden(&form, "csrf");
    let (s, fragment, _) =
        clerk.post(&app, "/register/assist", &[("csrf", &csrf), ("content", "包工头拖欠我们的工资")]).await;
    assert_eq!(s, 200);
    assert!(fragment.contains("data-value=\"劳动和社会保障\""), "{fragment}");
    assert!(!fragment.contains("<html"), "a fragment, not a page");
    let (_, fragment, _) = clerk.post(&app, "/register/assist", &[("csrf", &csrf), ("title", "电梯又坏了")]).await;
    let first = fragment.split("data-value=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(first, "城乡建设", "{fragment}");
    assert!(!fragment.contains("城鄉建設"), "a category carried by fewer than three cases is never offered");
    // The same phone as an open case: the warning appears before saving.
    let (_, fragment, _) =
        clerk.post(&app, "/register/assist", &[("csrf", &csrf), ("name", "王五"), ("phone", "13812341234")]).await;
    assert!(fragment.contains("可能是重复件"), "{fragment}");
    // Without the CSRF token: refused.
    let (s, _, _) = clerk.post(&app, "/register/assist", &[("content", "电梯")]).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn personal_data_is_revealed_on_the_page_only_on_request_and_audited() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk = app.token("clerk").await;
    let (id, _, _) = app.register(&clerk, "claim", json!({})).await;
    let office = sign_in(&app, "office").await;
    let (_, page) = office.get(&app, &format!("/cases/{id}")).await;
    assert!(page.contains("王**") && !page.contains("13812341234") && page.contains("查看完整信息"));
    let csrf = hidden(&page, "csrf");
    let (s, _, _) = office.post(&app, &format!("/cases/{id}/reveal"), &[]).await;
    assert_eq!(s, 403, "no CSRF token, no reveal");
    let (s, page, _) = office.post(&app, &format!("/cases/{id}/reveal"), &[("csrf", &csrf)]).await;
    assert_eq!(s, 200);
    assert!(page.contains("13812341234") && page.contains("本次查看已记入审计日志"), "{page}");
    let auditor = app.token("auditor").await;
    let (_, audit) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    let reveals: Vec<_> =
        audit.as_array().unwrap().iter().filter(|a| a["event"] == "pii_reveal" && a["result"] == "ok").collect();
    assert_eq!(reveals.len(), 1, "{audit}");
    assert_eq!(reveals[0]["object"], format!("case:{id}"));
    // Someone who cannot see the case learns nothing by asking.
    let other = sign_in(&app, "xh_staff").await;
    let (_, other_page) = other.get(&app, "/work").await;
    let other_csrf = hidden(&other_page, "csrf");
    let (s, page, _) = other.post(&app, &format!("/cases/{id}/reveal"), &[("csrf", &other_csrf)]).await;
    assert!(s == 404 || s == 403, "{s}");
    assert!(!page.contains("13812341234"));
}

#[tokio::test]
async fn any_kind_is_opened_and_worked_from_its_definition_on_the_generic_pages() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let grid = sign_in(&app, "grid").await;
    let (s, chooser) = grid.get(&app, "/cases/new").await;
    assert_eq!(s, 200);
    assert!(chooser.contains("/cases/new/grid_event") && !chooser.contains("/register"), "{chooser}");
    let (s, form) = grid.get(&app, "/cases/new/grid_event").await;
    assert_eq!(s, 200);
    assert!(form.contains("事部件小类") && form.contains("井盖缺失（部件·公用设施）"), "{form}");
    let csrf = hidden(&form, "csrf");
    let request_id = hidden(&form, "client_request_id");
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("client_request_id", request_id.as_str()),
        ("source", "grid_worker"),
        ("subclass", "manhole_missing"),
        ("location", "幸福路 12 号对面人行道"),
        ("description", "雨水井盖缺失，已临时围挡。<b>危险</b>"),
    ];
    let (s, html, _) = grid.post(&app, "/cases/new/grid_event", &fields).await;
    assert_eq!(s, 400, "no title");
    let title_block = html.split("<label for=\"report-title\">").nth(1).unwrap().split("<input").next().unwrap();
    assert!(title_block.contains("field-error") && title_block.contains("事由"), "{html}");
    assert!(html.contains("幸福路 12 号对面人行道") && html.contains("&#60;b&#62;危险"), "input kept, escaped");
    fields.push(("title", "人行道井盖缺失"));
    let (s, _, location) = grid.post(&app, "/cases/new/grid_event", &fields).await;
    assert_eq!(s, 303);
    let location = location.unwrap();
    let (_, page) = grid.get(&app, &location).await;
    assert!(page.contains("已上报待受理") && page.contains("受理立案时限") && page.contains("个工作时"), "{page}");
    // The dispatcher registers and dispatches it from the same generic case page.
    let dispatcher = sign_in(&app, "dispatcher").await;
    let (_, page) = dispatcher.get(&app, &location).await;
    let csrf = hidden(&page, "csrf");
    let version = hidden(&page, "expected_version");
    let id = location.trim_start_matches("/cases/");
    let (s, _, _) = dispatcher
        .post(&app, &format!("/cases/{id}/act/register_event"), &[("csrf", &csrf), ("expected_version", &version)])
        .await;
    assert_eq!(s, 303);
    let (_, page) = dispatcher.get(&app, &location).await;
    assert!(page.contains("已立案待派遣") && page.contains("派遣时限"), "{page}");
    // A reception clerk may not open grid events.
    let clerk = sign_in(&app, "clerk").await;
    let (s, _) = clerk.get(&app, "/cases/new/grid_event").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_dispute_is_opened_from_a_petition_page_with_its_parties() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let clerk_token = app.token("clerk").await;
    let (petition, code, _) = app.register(&clerk_token, "claim", serde_json::json!({"title": "楼道堆物"})).await;
    let clerk = sign_in(&app, "clerk").await;
    let (_, page) = clerk.get(&app, &format!("/cases/{petition}")).await;
    let link = format!("/cases/new/dispute?from={code}");
    assert!(page.contains(&link) && page.contains("从此案件新建矛盾纠纷调解"), "{page}");
    let (s, form) = clerk.get(&app, &link).await;
    assert_eq!(s, 200);
    assert!(form.contains(&format!("value=\"{code}\"")), "the source case is filled in: {form}");
    assert!(form.contains("name=\"party.applicant.0.name\"") && form.contains("被申请人 1 *"), "{form}");
    let csrf = hidden(&form, "csrf");
    let request_id = hidden(&form, "client_request_id");
    let committee = app.units["dc_jd"].to_string();
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("client_request_id", request_id.as_str()),
        ("origin", "referral"),
        ("dispute_type", "neighbour"),
        ("title", "楼道堆物纠纷"),
        ("facts", "三楼住户在楼道堆放杂物"),
        ("committee", committee.as_str()),
        ("source_case", code.as_str()),
        ("party.applicant.0.name", "王秀英"),
        ("party.applicant.0.phone", "13905710001"),
    ];
    let (s, html, _) = clerk.post(&app, "/cases/new/dispute", &fields).await;
    assert_eq!(s, 400, "no respondent");
    assert!(html.contains("请填写被申请人") && html.contains("value=\"王秀英\""), "kept and explained: {html}");
    fields.push(("party.respondent.0.name", "李建国"));
    let (s, _, location) = clerk.post(&app, "/cases/new/dispute", &fields).await;
    assert_eq!(s, 303);
    let (_, page) = clerk.get(&app, &location.unwrap()).await;
    assert!(page.contains("关联案件") && page.contains(&format!("来源：<a href=\"/cases/{petition}\">")), "{page}");
    assert!(page.contains("<td>申请人</td><td>王**</td>") && page.contains("<td>被申请人</td><td>李**</td>"), "{page}");
    let (_, page) = clerk.get(&app, &format!("/cases/{petition}")).await;
    assert!(page.contains("由此新建：") && page.contains("矛盾纠纷调解 TJ"), "{page}");
}

#[tokio::test]
async fn the_district_sees_which_townships_missed_their_sweep_report() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let leader = sign_in(&app, "dc_leader").await;
    let (s, page) = leader.get(&app, "/periodic/sweep?year=2026&month=1").await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("东城区幸福街道") && page.contains("漏报") && page.contains("2026-02-05"), "{page}");
    let (s, _) = leader.get(&app, "/periodic/sweep?year=2026&month=13").await;
    assert_eq!(s, 400);
    // The daily report: today's, by 16:00, not yet due at 09:00.
    let (s, page) = leader.get(&app, "/periodic/daily_report").await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("日报告报送情况 · 2026 年 03 月 02 日") && page.contains("未到期"), "{page}");
    assert!(page.contains("type=\"date\" value=\"2026-03-02\"") && page.contains("2026-03-02 16:00"), "{page}");
}

/// An inspector opens a school's page, starts an inspection there, ticks the school checklist item by item
/// (a note left out where a hazard is marked is explained and the answers kept), prints the record, and
/// opens the hazard found from the inspection page with the site carried over.
#[tokio::test]
async fn an_inspector_ticks_the_checklist_of_a_site_and_opens_the_hazard_found() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let inspector = sign_in(&app, "inspector").await;
    let (s, page) = inspector.get(&app, "/sites").await;
    assert_eq!(s, 200);
    assert!(page.contains("临江市第三中学") && page.contains("登记场所"), "{page}");
    let (s, page) = inspector.get(&app, "/sites/SZ-003").await;
    assert_eq!(s, 200);
    assert!(page.contains("学校检查表") && page.contains("开水房"), "{page}");
    let start = "/cases/new/inspection?site=SZ-003";
    assert!(page.contains(&start.replace('&', "&amp;")) && page.contains("新建安全检查"), "{page}");
    // Without a site the form first asks for one.
    let (_, page) = inspector.get(&app, "/cases/new/inspection").await;
    assert!(page.contains("载入检查表") && !page.contains("name=\"findings.canteen\""), "{page}");
    let (s, form) = inspector.get(&app, start).await;
    assert_eq!(s, 200);
    assert!(form.contains("name=\"findings.canteen\"") && form.contains("留样 48 小时"), "{form}");
    let csrf = hidden(&form, "csrf");
    let request_id = hidden(&form, "client_request_id");
    let items = ["teaching_building", "dormitory", "canteen", "water_room", "wiring", "fire_equipment", "food_supply"];
    let keys: Vec<String> = items.iter().map(|i| format!("findings.{i}")).collect();
    let mut fields: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("client_request_id", &request_id),
        ("site", "SZ-003"),
        ("inspected_on", "2026-03-02"),
        ("inspectors", "王强"),
        ("findings.evacuation", "ok"),
        ("findings.gate", "na"),
        ("findings.dormitory.note", ""),
    ];
    fields.extend(keys.iter().map(|k| (k.as_str(), if k.ends_with("dormitory") { "hazard" } else { "ok" })));
    let (s, html, _) = inspector.post(&app, "/cases/new/inspection", &fields).await;
    assert_eq!(s, 400);
    assert!(html.contains("“宿舍”存在隐患，请写明发现的问题"), "{html}");
    assert!(html.contains("name=\"findings.dormitory\" value=\"hazard\" checked"), "answers kept: {html}");
    fields.retain(|(k, _)| *k != "findings.dormitory.note");
    fields.push(("findings.dormitory.note", "宿舍走廊私拉电线充电"));
    let (s, _, location) = inspector.post(&app, "/cases/new/inspection", &fields).await;
    assert_eq!(s, 303);
    let case_url = location.unwrap();
    let (_, page) = inspector.get(&app, &case_url).await;
    assert!(page.contains("检查结果") && page.contains("宿舍走廊私拉电线充电"), "{page}");
    assert!(page.contains("<a href=\"/sites/SZ-003\">临江市第三中学</a>"), "{page}");
    assert!(page.contains("存在隐患 1 项"), "the timeline sums the answers up: {page}");
    let (_, doc) = inspector.get(&app, &format!("{case_url}/documents/1/inspection_record")).await;
    assert!(
        doc.contains("检查场所：临江市第三中学") && doc.contains("宿舍：存在隐患（宿舍走廊私拉电线充电）"),
        "{doc}"
    );
    // The hazard, opened from the inspection: the site comes with it.
    let code = page.split("/cases/new/hazard?from=").nth(1).unwrap().split('"').next().unwrap().to_string();
    let (s, form) = inspector.get(&app, &format!("/cases/new/hazard?from={code}")).await;
    assert_eq!(s, 200);
    assert!(form.contains("<option value=\"SZ-003\" selected>"), "the site is carried over: {form}");
    assert!(form.contains(&format!("value=\"{code}\"")), "{form}");
}

/// The daily-operations pages: the printable roster with a swap asked and approved through its forms, the duty
/// directory, the gate's visitor log (a refused sign-in keeps what was typed), and an alert's notification
/// waiting on the work queue.
#[tokio::test]
async fn the_roster_the_gate_log_and_notifications_work_through_the_pages() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let jd = app.units["dc_jd"];
    let week = json!({"unit_id": jd, "from": "2026-03-02", "days": 7, "starts": "08:30",
        "officers": [app.users["jd_duty"], app.users["mediator"]], "leaders": [app.users["jd_leader"]],
        "phone": "0591-87654321"});
    let (s, b) = app.post(&app.token("jd_leader").await, "/api/v1/duty/rotations", week).await;
    assert_eq!(s, 201, "{b}");

    let duty = sign_in(&app, "jd_duty").await;
    let (s, page) = duty.get(&app, "/duty").await;
    assert_eq!(s, 200);
    assert!(page.contains("东城区幸福街道值班表") && page.contains("2026-03-02 08:30 起"), "{page}");
    assert!(page.contains("0591-87654321") && page.contains("申请调班"), "{page}");
    // Ask to hand today's shift (the first swap form is on the officer's own shift) to the mediator.
    let start = page.find("申请调班").unwrap();
    let action = page[start..].split("action=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let csrf = hidden(&page, "csrf");
    let to = app.users["mediator"].to_string();
    let form = |reason: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("unit", jd.to_string()),
            ("from", "2026-03-02".into()),
            ("days", "7".into()),
            ("to_user_id", to.clone()),
            ("reason", reason.into()),
        ]
    };
    let (s, page, _) = duty.post(&app, &action, &borrowed(&form(""))).await;
    assert_eq!(s, 400, "a reason is required");
    assert!(page.contains("请写明调班理由"), "{page}");
    let (s, _, loc) = duty.post(&app, &action, &borrowed(&form("参加培训"))).await;
    assert_eq!((s, loc.as_deref()), (303, Some(format!("/duty?unit={jd}&from=2026-03-02&days=7").as_str())));

    let leader = sign_in(&app, "jd_leader").await;
    let (_, page) = leader.get(&app, &format!("/duty?unit={jd}")).await;
    assert!(page.contains("调班申请：jd_duty → mediator，参加培训") && page.contains("批准"), "{page}");
    let start = page.find("调班申请").unwrap();
    let decide = page[start..].split("action=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let csrf = hidden(&page, "csrf");
    let (s, _, _) = leader
        .post(
            &app,
            &decide,
            &[("csrf", &csrf), ("unit", &jd.to_string()), ("from", "2026-03-02"), ("days", "7"), ("approve", "yes")],
        )
        .await;
    assert_eq!(s, 303);
    let (_, page) = leader.get(&app, &format!("/duty?unit={jd}&from=2026-03-02&days=1")).await;
    assert!(page.contains("mediator<span class=\"muted\">（原排 jd_duty）"), "{page}");
    let (_, page) = sign_in(&app, "grid").await.get(&app, "/duty/directory").await;
    assert!(page.contains("东城区幸福街道") && page.contains("mediator") && !page.contains("0591-87654321"), "{page}");

    // The gate at a site of the district: a refused sign-in keeps the input; the log shows masked names.
    let gate = sign_in(&app, "grid").await;
    let (_, page) = gate.get(&app, "/sites/SZ-003").await;
    assert!(page.contains("/sites/SZ-003/visitors"), "{page}");
    let (s, page) = gate.get(&app, "/sites/SZ-003/visitors").await;
    assert_eq!(s, 200);
    let csrf = hidden(&page, "csrf");
    let visit = |phone: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("name", "张建国".into()),
            ("phone", phone.into()),
            ("purpose", "维修水管".into()),
            ("host", "总务处".into()),
        ]
    };
    let (s, page, _) = gate.post(&app, "/sites/SZ-003/visitors", &borrowed(&visit("12"))).await;
    assert_eq!(s, 400);
    assert!(page.contains("请填写有效的联系电话") && page.contains("value=\"维修水管\""), "{page}");
    let (s, _, _) = gate.post(&app, "/sites/SZ-003/visitors", &borrowed(&visit("13800138000"))).await;
    assert_eq!(s, 303);
    let (_, page) = gate.get(&app, "/sites/SZ-003/visitors").await;
    assert!(page.contains("张**") && page.contains("138****8000") && !page.contains("张建国"), "{page}");
    let out = page.split("action=\"").find(|a| a.contains("sign-out")).unwrap().split('"').next().unwrap().to_string();
    let (s, _, _) = gate.post(&app, &out, &[("csrf", &csrf)]).await;
    assert_eq!(s, 303);
    let (_, page) = gate.get(&app, "/sites/SZ-003/visitors").await;
    assert!(!page.contains("登记离开"), "signed out: {page}");
    let (s, _) = sign_in(&app, "zj_staff").await.get(&app, "/sites/SZ-003/visitors").await;
    assert_eq!(s, 403, "another branch does not see the gate's log");

    // An incident at the street: the officer serving today finds it on the work queue and opens it.
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
    let serving = sign_in(&app, "mediator").await;
    let (_, page) = serving.get(&app, "/work").await;
    assert!(page.contains("未读通知 1 条") && page.contains("幸福路燃气泄漏"), "{page}");
    let (_, page) = serving.get(&app, "/notifications").await;
    let read = page
        .split("action=\"")
        .find(|a| a.starts_with("/notifications/"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden(&page, "csrf");
    let (s, _, loc) = serving.post(&app, &read, &[("csrf", &csrf), ("case", &code)]).await;
    assert_eq!((s, loc), (303, Some(format!("/cases/{code}"))));
    let (_, page) = serving.get(&app, "/work").await;
    assert!(!page.contains("未读通知"), "{page}");
}

/// A leader's reception published under 接访 appears on the portal; the resident books it from their case's
/// page (a refused request keeps what was typed); the office confirms it under 接访 and the resident reads the
/// answer; public commitments have their page.
#[tokio::test]
async fn a_resident_books_a_published_reception_from_the_case_page() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let leader = sign_in(&app, "dc_leader").await;
    let (_, page) = leader.get(&app, "/receptions").await;
    let csrf = hidden(&page, "csrf");
    let (dc, me) = (app.units["dc"].to_string(), app.users["dc_leader"].to_string());
    let slot = |starts: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("unit_id", dc.clone()),
            ("leader_id", me.clone()),
            ("starts", starts.into()),
            ("minutes", "120".into()),
            ("place", "东城区信访局接待大厅".into()),
            ("topic", "城建、物业".into()),
            ("capacity", "2".into()),
        ]
    };
    let (s, page, _) = leader.post(&app, "/receptions", &borrowed(&slot("2026-03-01T09:00"))).await;
    assert_eq!(s, 400, "in the past");
    assert!(page.contains("接访时间应在今后") && page.contains("value=\"东城区信访局接待大厅\""), "{page}");
    let (s, _, _) = leader.post(&app, "/receptions", &borrowed(&slot("2026-03-05T09:00"))).await;
    assert_eq!(s, 303);

    let resident = reqwest::Client::new();
    let page = resident.get(app.url("/portal/receptions")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("2026-03-05 09:00–11:00 东城区信访局接待大厅") && page.contains("余 2 / 2"), "{page}");
    let (_, code, password) = app.register(&app.token("dc_leader").await, "claim", json!({})).await;
    // The resident's case page, opened with the receipt's code and password.
    let case_page = || async {
        let form = [("code", code.as_str()), ("password", password.as_str())];
        resident.post(app.url("/portal/case")).form(&form).send().await.unwrap().text().await.unwrap()
    };
    let page = case_page().await;
    assert!(page.contains("预约领导接访"), "{page}");
    let slot_id = page
        .split("name=\"slot_id\"")
        .nth(1)
        .unwrap()
        .split("<option value=\"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let book = |request: &'static str| {
        [
            ("code", code.clone()),
            ("password", password.clone()),
            ("slot_id", slot_id.clone()),
            ("request", request.to_string()),
        ]
    };
    let r = resident.post(app.url("/portal/book")).form(&book("")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = resident.post(app.url("/portal/book")).form(&book("电梯维修资金")).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("约访申请已提交") && page.contains("已申请，待确认"), "{page}");

    let (_, page) = leader.get(&app, "/receptions").await;
    assert!(page.contains(&code) && page.contains("电梯维修资金"), "{page}");
    let action =
        page.split("action=\"").find(|a| a.starts_with("/receptions/")).unwrap().split('"').next().unwrap().to_string();
    let (s, _, _) =
        leader.post(&app, &action, &[("csrf", &csrf), ("reply", "请提前 10 分钟到达"), ("confirm", "yes")]).await;
    assert_eq!(s, 303);
    let page = case_page().await;
    assert!(page.contains("已确认，请按时前往") && page.contains("请提前 10 分钟到达"), "{page}");
    let page = resident.get(app.url("/portal/commitments")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("暂无公开的承诺事项"), "{page}");
}
