//! Tamper evidence: rows edited, deleted and swapped directly in the database, caught by `taizhang verify`
//! (the real binary) on both backends.

use std::process::Command;

use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

use crate::helpers::{Backend, TestApp, spawn};

async fn seeded(backend: Backend) -> Option<(TestApp, Vec<(i64, String)>)> {
    let app = spawn(backend).await?;
    let clerk = app.token("clerk").await;
    let office = app.token("office").await;
    let mut cases = vec![];
    for _ in 0..3 {
        let (id, code, _) = app.register(&clerk, "claim", json!({})).await;
        let (s, _) = app.act(&office, id, "assign", json!({"target_unit": app.units["zjj"]})).await;
        assert_eq!(s, 200);
        cases.push((id, code));
    }
    Some((app, cases))
}

fn verify(app: &TestApp) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taizhang"));
    cmd.arg("verify").arg("--data").arg(&app.loc.data_dir);
    if let Some(url) = &app.loc.database_url {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd.env_remove("TAIZHANG_DATABASE_URL").output().expect("run taizhang verify");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn exec(app: &TestApp, sql: &str) {
    let mut conn = AnyConnection::connect(&app.loc.url()).await.expect("connect");
    sqlx::query(AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn tampering_is_caught(backend: Backend) {
    // (what we do, SQL, what the report must name)
    // (what we do, SQL, what the report must name given the seeded cases' (id, code))
    type Names = Box<dyn Fn(&[(i64, String)]) -> String>;
    let attacks: Vec<(&str, String, Names)> = vec![
        ("edit an event payload", "UPDATE case_events SET payload = replace(payload, '城乡建设', '其他') WHERE seq = 1".into(),
            Box::new(|_| "第 1 条".into())),
        ("delete an event in the middle", "DELETE FROM case_events WHERE seq = 3".into(), Box::new(|_| "第 3 条".into())),
        ("swap two events", "UPDATE case_events SET seq = -1 WHERE seq = 2; UPDATE case_events SET seq = 2 WHERE seq = 3; UPDATE case_events SET seq = 3 WHERE seq = -1".into(),
            Box::new(|_| "第 2 条".into())),
        ("delete the last event", "DELETE FROM case_events WHERE seq = 6".into(), Box::new(|c| c[2].1.clone())),
        ("edit a case projection", "UPDATE cases SET state = 'closed' WHERE id = 2".into(), Box::new(|c| c[1].1.clone())),
        ("widen a case's visibility", "UPDATE cases SET registered_unit_path = '/' WHERE id = 2".into(), Box::new(|c| c[1].1.clone())),
        ("detach the handling unit", "UPDATE cases SET handling_unit_path = NULL WHERE id = 3".into(), Box::new(|c| c[2].1.clone())),
        ("change the query password", "UPDATE cases SET query_secret_hash = 'x' WHERE id = 1".into(), Box::new(|c| c[0].1.clone())),
        ("hide a case from the overdue list", "UPDATE cases SET next_due_us = 9223372036854775807 WHERE id = 1".into(), Box::new(|c| c[0].1.clone())),
        ("edit an actor in history", "UPDATE case_events SET actor_id = NULL WHERE seq = 2".into(), Box::new(|_| "第 2 条".into())),
        ("edit a party's phone", "UPDATE parties SET phone_masked = '139****0000' WHERE case_id = 1".into(), Box::new(|c| c[0].1.clone())),
        ("edit an audit record", "UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3".into(), Box::new(|_| "审计日志链".into())),
        ("delete an audit record", "DELETE FROM audit_log WHERE seq = 2".into(), Box::new(|_| "审计日志链".into())),
    ];
    for (what, sql, expect) in attacks {
        let Some((app, cases)) = seeded(backend).await else { return };
        let (ok, text) = verify(&app);
        assert!(ok, "intact ledger verifies before '{what}': {text}");
        for stmt in sql.split("; ") {
            exec(&app, stmt).await;
        }
        let (ok, text) = verify(&app);
        assert!(!ok, "verify must fail after '{what}': {text}");
        let needle = expect(&cases);
        assert!(text.contains(&needle), "report after '{what}' names {needle}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_sqlite() {
    tampering_is_caught(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_postgres() {
    tampering_is_caught(Backend::Postgres).await;
}

/// A case registered with two files (one PDF, one JPEG); returns its code.
async fn with_attachments(app: &TestApp) -> String {
    let (_, clerk) = app.svc.login("clerk", crate::helpers::PASSWORD, None).await.unwrap();
    let upload =
        |name: &str, bytes: &[u8]| taizhang_service::cases::Upload { name: name.into(), bytes: bytes.to_vec() };
    let fields = [("channel", "letter"), ("matter_type", "claim"), ("title", "附件案件"), ("content", "见附件")];
    let files = vec![upload("来信.pdf", b"%PDF-1.4 letter"), upload("现场.jpg", b"\xFF\xD8\xFF\xE0 photo")];
    let req = crate::helpers::intake("petition", &fields, files);
    app.svc.register(taizhang_service::cases::Actor::Staff(&clerk), req).await.unwrap().case.code
}

async fn attachment_tampering_is_caught(backend: Backend) {
    let attacks = [
        (
            "swap two files' contents",
            "UPDATE attachments SET content = (SELECT content FROM attachments WHERE id = 2) WHERE id = 1",
        ),
        ("delete a file", "DELETE FROM attachments WHERE id = 2"),
        ("rename a file", "UPDATE attachments SET name = '无关.pdf' WHERE id = 1"),
        ("replace a file's digest", "UPDATE attachments SET sm3 = 'x' WHERE id = 2"),
    ];
    for (what, sql) in attacks {
        let Some(app) = spawn(backend).await else { return };
        let code = with_attachments(&app).await;
        let (ok, text) = verify(&app);
        assert!(ok, "intact files verify before '{what}': {text}");
        exec(&app, sql).await;
        let (ok, text) = verify(&app);
        assert!(!ok && text.contains(&code) && text.contains("附件"), "'{what}' is caught and named: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_tampering_is_caught_on_both_backends() {
    attachment_tampering_is_caught(Backend::Sqlite).await;
    attachment_tampering_is_caught(Backend::Postgres).await;
}

#[test]
fn deadline_cli_prints_the_due_date_first() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_taizhang")).arg("deadline").args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let first = |s: &str| s.split_whitespace().next().unwrap_or("").to_string();
    let (ok, out, _) = run(&["--from", "2026-02-13", "--amount", "5", "--unit", "working"]);
    assert!(ok);
    assert_eq!(first(&out), "2026-02-27", "Spring Festival 2026: 02-14 works, 02-15..23 off");
    let (_, out, _) = run(&["--from", "2026-09-30", "--amount", "1", "--unit", "calendar"]);
    assert_eq!(first(&out), "2026-10-08", "10-01 falls in the National Day week");
    let (_, out, _) = run(&["--from", "2026-09-25", "--amount", "5", "--unit", "working", "--region", "330000"]);
    assert_eq!(first(&out), "2026-10-09", "09-25..27 off (中秋), 09-28..30 then 10-08, 10-09");
    let (_, out, _) = run(&["--from", "2026-03-01T22:30:00+08:00", "--amount", "2", "--unit", "hours"]);
    assert_eq!(first(&out), "2026-03-02T00:30:00+08:00");
    let (ok, _, err) = run(&["--from", "2026-12-20", "--amount", "10", "--unit", "working"]);
    assert!(!ok);
    assert!(err.contains("calendar_out_of_range") && err.contains("2027"), "{err}");
    let (ok, _, err) = run(&["--from", "2026-01-05", "--amount", "10", "--unit", "working", "--region", "xx"]);
    assert!(!ok && err.contains("unknown_region"), "{err}");
    let (ok, _, err) = run(&["--from", "yesterday", "--amount", "1", "--unit", "calendar"]);
    assert!(!ok && err.contains("invalid_date"), "{err}");
}
