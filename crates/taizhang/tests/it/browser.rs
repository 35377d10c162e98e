//! End to end in a real browser: Debian's Chromium driven over WebDriver (chromedriver), through the pages a
//! clerk, the petition office, the handling unit, its leader, the resident and the review body use.
//! scripts/test installs chromium and chromium-driver when they are missing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, spawn};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    /// Ends the browser session (so Chromium exits), then chromedriver — also when a test fails midway.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Some(rest) = self.base.strip_prefix("http://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            if let Ok(mut conn) = std::net::TcpStream::connect(host) {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let req = format!(
                    "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(req.as_bytes());
                let _ = conn.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session; None (skip) when not installed outside CI.
    async fn start() -> Option<Driver> {
        let Ok(found) = Command::new("chromedriver").arg("--version").output() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipping the browser test: chromedriver not installed");
            return None;
        };
        assert!(found.status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"}, "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}")).to_string();
        let mut d = Driver { process, base, session, http };
        d.base = format!("{}/session/{}", d.base, d.session);
        Some(d)
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url})).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self.cmd(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_string()
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/value"), json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/click"), json!({})).await;
    }

    async fn script(&self, js: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", json!({"script": js, "args": []})).await
    }

    /// Fails on any JavaScript error the browser logged since the last call. HTTP error statuses of pages
    /// (a refused form answers 400) are logged too, as "Failed to load resource"; those are expected.
    async fn assert_no_js_errors(&self, context: &str) {
        let r: Value = self
            .http
            .post(format!("{}/se/log", self.base))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let errors: Vec<String> = r["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .filter(|m| !m.contains("Failed to load resource"))
            .collect();
        assert!(errors.is_empty(), "JavaScript errors {context}: {errors:?}");
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", Value::Null).await.as_str().unwrap_or("").to_string()
    }

    /// The page once it contains `marker` (a click may return before the next page has loaded).
    async fn wait_for(&self, marker: &str) -> String {
        let mut page = String::new();
        for _ in 0..100 {
            page = self.source().await;
            if page.contains(marker) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("page never showed “{marker}”: {page}");
    }

    async fn sign_in(&self, app: &TestApp, user: &str) {
        self.cmd(reqwest::Method::DELETE, "/cookie", Value::Null).await;
        self.go(&app.url("/login")).await;
        self.fill("#username", user).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/login'] button").await;
        self.wait_for("我的待办").await;
    }

    /// Fills and submits the form of `action` on the current case page, and waits for the page to show
    /// `then` (the resulting state).
    async fn act(&self, action: &str, fields: &[(&str, &str)], selects: &[(&str, &str)], then: &str) {
        let form = format!("form[action$='/act/{action}']");
        for (name, value) in selects {
            self.click(&format!("{form} select[name='{name}'] option[value='{value}']")).await;
        }
        for (name, value) in fields {
            self.fill(&format!("{form} [name='{name}']"), value).await;
        }
        self.click(&format!("{form} button")).await;
        let page = self.wait_for(then).await;
        assert!(!page.contains("role=\"alert\""), "{action} refused: {page}");
        self.assert_no_js_errors(action).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_petition_goes_from_the_reception_desk_to_the_review_opinion_in_a_browser() {
    let Some(b) = Driver::start().await else { return };
    let app = spawn(Backend::Sqlite).await.unwrap();

    // The clerk registers a visit and gets the receipt; while she types, htmx brings a category suggestion
    // learned from the unit's earlier cases, which one click fills in.
    let token = app.token("clerk").await;
    for _ in 0..3 {
        app.register(&token, "claim", json!({"title": "楼道灯坏了", "content": "楼道照明损坏，请求维修。"})).await;
    }
    app.register(
        &token,
        "claim",
        json!({"category": "劳动和社会保障", "title": "拖欠工资", "content": "工资拖欠三月"}),
    )
    .await;
    b.sign_in(&app, "clerk").await;
    b.go(&app.url("/register")).await;
    b.fill("#title", "楼道照明损坏多月无人修").await;
    b.fill("#content", "3 号楼楼道灯坏了三个月，老人夜里摔倒，请求尽快维修。").await;
    b.wait_for("建议分类").await;
    // Each field typed into sends its own (debounced) request; click once the last answer has been swapped in.
    let mut quiet = 0;
    for _ in 0..50 {
        let busy = b.script("return document.querySelectorAll('.htmx-request').length > 0;").await;
        quiet = if busy == json!(false) { quiet + 1 } else { 0 };
        if quiet == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.click("#assist button[data-value='城乡建设']").await;
    let category = b.script("return document.querySelector('#category').value;").await;
    assert_eq!(category, json!("城乡建设"), "the suggestion fills the category");
    b.assert_no_js_errors("on the registration form").await;
    b.fill("#name", "赵敏").await;
    b.fill("#phone", "13700001111").await;
    b.click("form[action='/register'] button[type='submit']").await;
    let receipt = b.wait_for("信访事项回执").await;
    assert!(receipt.contains("信访事项回执"), "{receipt}");
    let code = receipt.split("查询码：<strong>").nth(1).unwrap().split('<').next().unwrap().to_string();
    let password = receipt.split("查询密码：<strong>").nth(1).unwrap().split('<').next().unwrap().to_string();
    let case_link = receipt
        .split("href=\"/cases/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .find(|id| id.chars().all(|c| c.is_ascii_digit()))
        .expect("the receipt links to its case")
        .to_string();
    let case_url = app.url(&format!("/cases/{case_link}"));

    // The petition office assigns it to the housing bureau.
    b.sign_in(&app, "office").await;
    b.go(&case_url).await;
    b.act("assign", &[("note", "请依法办理")], &[("target_unit", &app.units["zjj"].to_string())], "已交办待受理").await;

    // The bureau accepts, asks for an extension its leader approves, and replies.
    b.sign_in(&app, "zj_staff").await;
    b.go(&case_url).await;
    b.act("accept", &[], &[], "办理中").await;
    b.act("request_extension", &[("extension_days", "20"), ("reason", "需要协调物业和供电部门")], &[], "延期审批中")
        .await;
    b.sign_in(&app, "zj_leader").await;
    b.go(&case_url).await;
    b.act("approve_extension", &[("extension_days", "20"), ("reason", "同意延期")], &[], "已延期").await;
    b.sign_in(&app, "zj_staff").await;
    b.go(&case_url).await;
    b.act("reply", &[("reply", "已责成物业一周内修复楼道照明。")], &[("outcome", "support")], "已答复").await;

    // The resident reads the reply, rates it unsatisfied and requests review.
    b.cmd(reqwest::Method::DELETE, "/cookie", Value::Null).await;
    b.go(&app.url("/portal")).await;
    b.fill("#code", &code).await;
    b.fill("#password", &password).await;
    b.click("form[action='/portal/case'] button").await;
    let page = b.wait_for("办理过程").await;
    assert!(page.contains("已责成物业一周内修复楼道照明") && page.contains("予以支持"), "{page}");
    b.click("form[action$='/act/rate'] select[name='satisfaction'] option[value='unsatisfied']").await;
    b.fill("form[action$='/act/rate'] [name='comment']", "一个月了还没修").await;
    b.click("form[action$='/act/rate'] button").await;
    b.wait_for("已提交").await;
    b.fill("form[action$='/act/request_review'] [name='reason']", "物业没有履行承诺").await;
    b.click("form[action$='/act/request_review'] button").await;
    b.wait_for("复查中").await;

    // The review body (the city, above the bureau) answers.
    b.sign_in(&app, "leader").await;
    b.go(&case_url).await;
    b.act(
        "review_reply",
        &[("reply", "责成住建局督促物业三日内修复，并回访信访人。")],
        &[("outcome", "support")],
        "已复查",
    )
    .await;
    let page = b.source().await;
    assert!(page.contains("已复查") && page.contains("信访事项复查意见书"), "{page}");

    // The review opinion prints to one A4 page.
    b.click("a[href*='/documents/'][href$='/review_opinion']").await;
    b.wait_for("复查意见书").await;
    let pdf = b.cmd(reqwest::Method::POST, "/print", json!({"page": {"width": 21.0, "height": 29.7}})).await;
    let pdf = base64_decode(pdf.as_str().unwrap());
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let text = String::from_utf8_lossy(&pdf);
    assert_eq!(
        text.matches("/Type /Page\n").count()
            + text.matches("/Type /Page ").count()
            + text.matches("/Type /Page>").count(),
        1,
        "one page"
    );
    let media = text.split("/MediaBox [").nth(1).and_then(|m| m.split(']').next()).unwrap_or("").to_string();
    let size: Vec<f64> = media.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    assert!(size.len() == 4 && (size[2] - 595.3).abs() < 1.0 && (size[3] - 841.9).abs() < 1.0, "A4 media box: {media}");
    b.assert_no_js_errors("printing").await;

    // The leader's dashboard draws its charts (vendored ECharts, nothing fetched from elsewhere); this month's
    // bar opens the list of the same number of cases.
    b.go(&app.url("/dashboard")).await;
    b.wait_for("领导驾驶舱").await;
    let mut drawn = json!(false);
    for _ in 0..50 {
        drawn = b.script("return document.querySelector('#chart-months canvas') !== null;").await;
        if drawn == json!(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(drawn, json!(true), "the monthly chart is drawn");
    let bars = b
        .script("return echarts.getInstanceByDom(document.getElementById('chart-months')).getOption().series[0].data;")
        .await;
    assert_eq!(bars.as_array().map(|a| a.len()), Some(12), "{bars}");
    let this_month = bars[11].as_i64().unwrap_or(0);
    assert!(this_month >= 1, "this month's petitions: {bars}");
    b.assert_no_js_errors("on the dashboard").await;
    b.script("echarts.getInstanceByDom(document.getElementById('chart-months')).trigger('click', {seriesIndex: 0, dataIndex: 11}); return null;")
        .await;
    let list = b.wait_for("案件列表").await;
    assert!(list.contains(&format!("共 {this_month} 件")) && list.contains("含驾驶舱的筛选"), "{list}");

    // A resident on a phone-sized screen submits a petition online with a photo.
    b.cmd(reqwest::Method::DELETE, "/cookie", Value::Null).await;
    b.cmd(reqwest::Method::POST, "/window/rect", json!({"width": 390, "height": 844})).await;
    b.go(&app.url("/portal")).await;
    b.wait_for("办理情况公开").await;
    let fits = b.script("return document.documentElement.scrollWidth <= window.innerWidth;").await;
    assert_eq!(fits, json!(true), "the portal fits a phone screen without sideways scrolling");
    b.click("a[href='/portal/submit']").await;
    let form = b.wait_for("网上提交信访事项").await;
    let fits = b.script("return document.documentElement.scrollWidth <= window.innerWidth;").await;
    assert_eq!(fits, json!(true), "the submission form fits a phone screen");
    let dir = app.loc.data_dir.join("uploads-for-browser");
    std::fs::create_dir_all(&dir).unwrap();
    // Too big: app.js says so at once, before anything is uploaded, and clears the choice.
    let big = dir.join("太大的照片.jpg");
    std::fs::write(&big, vec![0xFFu8; 11 * 1024 * 1024]).unwrap();
    b.fill("#files", big.to_str().unwrap()).await;
    b.wait_for("超过 10 MB").await;
    let chosen = b.script("return document.querySelector('#files').files.length;").await;
    assert_eq!(chosen, json!(0), "the oversized file is not kept in the form");
    let photo = dir.join("楼道.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\n-not-a-real-image-but-a-png-signature").unwrap();
    b.click(&format!("#unit_id option[value='{}']", app.units["xfj"])).await;
    b.fill("#title", "楼道灯仍未修好").await;
    b.fill("#content", "復查後仍未修好，請再督促。😟").await;
    b.fill("#name", "赵敏").await;
    b.fill("#phone", "13700001111").await;
    b.fill("#files", photo.to_str().unwrap()).await;
    let question = form.split("<label for=\"answer\">").nth(1).unwrap().split("等于多少？").next().unwrap().to_string();
    b.fill("#answer", &crate::helpers::solve_question(&question).to_string()).await;
    b.click("form[action='/portal/submit'] button").await;
    let receipt = b.wait_for("提交成功").await;
    assert!(receipt.contains("已收到附件：楼道.png") && receipt.contains("receipt-password"), "{receipt}");
    b.assert_no_js_errors("on the portal").await;
    assert!(app.svc.verify().await.unwrap().ok);
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).map(val).collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |n, (i, v)| n | (u32::from(*v) << (18 - 6 * i)));
            let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.into_iter().take(c.len().saturating_sub(1))
        })
        .collect()
}
