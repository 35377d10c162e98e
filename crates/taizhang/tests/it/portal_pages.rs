//! The resident portal through the real server: the published information, online submission with
//! attachments (checked by content, kept across a refused submission, oversized ones refused without losing
//! the form), the self-hosted challenge, and staff reading the files with every read audited — on both
//! databases (files are BLOB on SQLite, BYTEA on PostgreSQL).

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{PASSWORD, TestApp};

/// A real 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html.find(start).unwrap_or_else(|| panic!("no {start} in {html}")) + start.len();
    html[i..].split(end).next().unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    between(html, &format!("name=\"{name}\" value=\""), "\"").to_string()
}

/// Answers the page's question the way a person reads it.
fn solve(html: &str) -> u32 {
    crate::helpers::solve_question(between(html, "<label for=\"answer\">", "等于多少？"))
}

/// A multipart body as a browser sends it.
fn multipart(fields: &[(&str, String)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----taizhang-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    for (name, bytes) in files {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn submit(app: &TestApp, fields: &[(&str, String)], files: &[(&str, &[u8])]) -> (u16, String) {
    let (ct, body) = multipart(fields, files);
    // A fresh connection each time: a refused oversized upload closes its connection.
    let client = reqwest::Client::new();
    let r = client.post(app.url("/portal/submit")).header("content-type", ct).body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn resident_submits_online_and_staff_read_the_files(app: TestApp) {
    let resident = reqwest::Client::new();
    // The figures are computed in the background after the first visit.
    let mut home = String::new();
    for _ in 0..50 {
        home = resident.get(app.url("/portal")).send().await.unwrap().text().await.unwrap();
        if home.contains("办理情况公开") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for expected in ["临江市信访局", "临江市江滨路 88 号", "工作日 8:30–17:30", "来信", "办理情况公开", "受理信访事项"]
    {
        assert!(home.contains(expected), "the portal publishes {expected}: {home}");
    }
    assert!(!home.contains("http://") && !home.contains("https://"), "no external resource");

    let page = resident.get(app.url("/portal/submit")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("临江市信访局") && !page.contains("临江市住建局"), "only the configured offices");
    let office_id = app.units["xfj"].to_string();
    let form_id = hidden(&page, "form_id");
    let mut fields = vec![
        ("form_id", form_id.clone()),
        ("unit_id", office_id.clone()),
        ("matter_type", "claim".to_string()),
        ("category", "城乡建设".to_string()),
        ("title", "<script>alert('x')</script>小區電梯壞了😀".to_string()),
        ("content", "請儘快維修。".repeat(500)),
        ("name", "李四".to_string()),
        ("phone", "13900001111".to_string()),
        ("challenge", hidden(&page, "challenge")),
        ("answer", (solve(&page) + 1).to_string()),
    ];

    // A wrong answer: refused next to the answer; everything typed and the photo kept.
    let (s, html) = submit(&app, &fields, &[("照片.png", PNG)]).await;
    assert_eq!(s, 400);
    assert!(html.contains("验证题答案不正确"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;小區電梯壞了😀"), "input kept, escaped");
    assert!(!html.contains("<script>alert"), "never echoed as markup");
    assert!(html.contains("已收到附件：照片.png"), "the photo need not be chosen again");

    // Several mistakes at once are all marked at once, each beside its field.
    let mut many = fields.clone();
    many[8].1 = hidden(&html, "challenge");
    many[9].1 = "不知道".to_string();
    many[7].1 = "电话".to_string();
    many.retain(|(k, _)| *k != "title");
    many.push(("id_number", "110101199003074511".to_string()));
    let (s, errs) = submit(&app, &many, &[]).await;
    assert_eq!(s, 400);
    for (field, message) in [
        ("answer", "验证题答案不正确"),
        ("phone", "联系电话只能包含数字"),
        ("id_number", "身份证号码有误"),
        ("title", "需要填写“事由”"),
    ] {
        let block = errs.split(&format!("<label for=\"{field}\">")).nth(1).unwrap().split("<input").next().unwrap();
        assert!(block.contains(message), "{field} marked with {message}: {block}");
    }
    assert!(errs.contains("有 4 处需要修改"), "{errs}");

    // A script disguised as a photo is refused by its content; the real photo stays.
    fields[8].1 = hidden(&errs, "challenge");
    fields[9].1 = solve(&errs).to_string();
    let (s, html) = submit(&app, &fields, &[("scan.jpg", b"<html><script>alert(1)</script>")]).await;
    assert_eq!(s, 400);
    assert!(html.contains("附件“scan.jpg”不是可接受的文件类型"), "{html}");
    assert!(html.contains("已收到附件：照片.png") && !html.contains("已收到附件：照片.png、scan.jpg"));

    // 50 MB: refused with the form and the kept photo, not a broken connection.
    fields[8].1 = hidden(&html, "challenge");
    fields[9].1 = solve(&html).to_string();
    let mut big = vec![0u8; 50 * 1024 * 1024];
    big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let (s, html) = submit(&app, &fields, &[("大照片.jpg", &big)]).await;
    assert_eq!(s, 413);
    assert!(
        html.contains("附件“大照片.jpg”超过 10 MB") && html.contains("小區電梯壞了"),
        "{}",
        &html[..2000.min(html.len())]
    );

    // Text far over any limit (300 KB): the field says so next to it and keeps what fits, instead of emptying.
    fields[8].1 = hidden(&html, "challenge");
    fields[9].1 = solve(&html).to_string();
    let typed = fields[5].1.clone();
    fields[5].1 = "很".repeat(100_000);
    let (s, html) = submit(&app, &fields, &[]).await;
    assert_eq!(s, 400);
    let content_block = html.split("<label for=\"content\">").nth(1).unwrap().split("</textarea>").next().unwrap();
    assert!(content_block.contains("此项内容过长") && content_block.contains(&"很".repeat(1000)), "kept and flagged");
    assert!(html.contains("maxlength=\"20000\""), "the browser stops typing at the limit");
    fields[5].1 = typed;

    // Now it goes through: receipt with code and password, the photo stored with the case.
    let used_challenge = hidden(&html, "challenge");
    let answer = solve(&html).to_string();
    fields[8].1 = used_challenge.clone();
    fields[9].1 = answer.clone();
    let (s, receipt) = submit(&app, &fields, &[]).await;
    assert_eq!(s, 200, "{receipt}");
    let code = between(&receipt, "<dd id=\"receipt-code\">", "<").to_string();
    let password = between(&receipt, "<dd id=\"receipt-password\">", "<").to_string();
    assert!(receipt.contains("已收到附件：照片.png"), "{receipt}");

    // Reloading the receipt resends the form: the same receipt again, password included, nothing registered
    // twice.
    let (s, again) = submit(&app, &fields, &[]).await;
    assert_eq!(s, 200);
    assert!(again.contains(&code) && again.contains(&password), "{again}");
    // The answered question does not open another form.
    let mut other_form = fields.clone();
    other_form[0].1 = "0123456789abcdef0123456789abcdef".to_string();
    let (s, html) = submit(&app, &other_form, &[]).await;
    assert_eq!(s, 400);
    assert!(html.contains("这道验证题已经用过"), "{html}");

    // The query's address opened directly leads to the query form, not a bare error.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/portal/case"))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/portal#query"));

    // The resident follows the case; ten wrong passwords are each told plainly.
    for _ in 0..10 {
        let r = resident
            .post(app.url("/portal/case"))
            .form(&[("code", code.as_str()), ("password", "AAAAAAAA")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("查询码或查询密码不正确"));
    }
    // The eleventh from the same address waits a while, whatever the password, and is told why and where else
    // to ask. Keyed by code and address, so nobody elsewhere can lock the resident out of her own case.
    let r = resident
        .post(app.url("/portal/case"))
        .form(&[("code", code.as_str()), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("已连续输错 10 次"));
    let (_, view) = app.svc.portal_case(&code, &password).await.unwrap();
    assert!(view.title.contains("小區電梯壞了😀"));
    // Her own words are in her timeline; what staff record internally is not.
    let intake = &view.timeline[0];
    assert!(
        intake.fields.get("诉求内容").and_then(|v| v.as_str()).is_some_and(|c| c.starts_with("請儘快維修")),
        "{intake:?}"
    );

    // The petition office sees the case and its file; the download is the file, and it is audited.
    let office = app.token("office").await;
    let id = app.svc.store.case_by_code(&code).await.unwrap().expect("registered").id;
    let (_, case) = app.get(&office, &format!("/api/v1/cases/{id}")).await;
    let att = &case["attachments"][0];
    assert_eq!(
        (att["name"].as_str(), att["mime"].as_str(), att["size"].as_u64()),
        (Some("照片.png"), Some("image/png"), Some(PNG.len() as u64))
    );
    assert_eq!(case["attachments"].as_array().unwrap().len(), 1);
    let att_id = att["id"].as_i64().unwrap();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login =
        browser.post(app.url("/login")).form(&[("username", "office"), ("password", PASSWORD)]).send().await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = browser
        .get(app.url(&format!("/cases/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/cases/{id}/attachments/{att_id}")) && page.contains("照片.png"));
    let r = browser
        .get(app.url(&format!("/cases/{id}/attachments/{att_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // Someone outside the case's scope gets nothing.
    let other =
        browser.post(app.url("/login")).form(&[("username", "xh_staff"), ("password", PASSWORD)]).send().await.unwrap();
    let other_cookie = other.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let r = browser
        .get(app.url(&format!("/cases/{id}/attachments/{att_id}")))
        .header("cookie", &other_cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 404 || r.status() == 403, "{}", r.status());
    let auditor = app.token("auditor").await;
    let (_, audit) = app.get(&auditor, "/api/v1/audit?limit=1000").await;
    let reads: Vec<&Value> = audit.as_array().unwrap().iter().filter(|a| a["event"] == "attachment_read").collect();
    assert_eq!(reads.len(), 1, "{audit}");
    assert_eq!(reads[0]["object"], format!("case:{id}/attachment:{att_id}"));

    let report = app.svc.verify().await.unwrap();
    assert!(report.ok, "{:?}", report.problems);

    // The published figures count this case: received; its routing limit neither met nor missed while it
    // runs, missed once its 15 days are over.
    let st = app.svc.public_statistics("petition").await.unwrap();
    assert_eq!((st.received, st.limits_due, st.limits_met, st.rated), (1, 0, 0, 0), "{st:?}");
    app.advance_days(20);
    let st = app.svc.public_statistics("petition").await.unwrap();
    assert_eq!((st.received, st.limits_due, st.limits_met), (1, 1, 0), "{st:?}");
    assert_eq!(st.on_time_percent(), Some(0.0));
    assert_eq!(st.satisfaction_percent(), None, "no rating, no rate");
}

both_backends!(online_submission, resident_submits_online_and_staff_read_the_files);
