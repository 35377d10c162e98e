//! `taizhang bench`: the numbers in BENCHMARKS.md, reproducible by anyone.
//!
//! 1. The physical ceiling: raw single-row SQLite inserts, one commit each, same pragmas as the store.
//! 2. Durable case intake through the real HTTP API (login, then concurrent `POST /api/v1/cases`).
//! 3. A filtered, sorted case-list query over a large database (default 1 M cases; SQLite, or PostgreSQL with
//!    `--list-url`) and the leader dashboard over it, loaded through the
//!    service in batches so every case has its event, chain link and projection.
//! 4. The staff and portal pages rendered by the real HTTP server over that database, timed from request to
//!    last byte on loopback (an upper bound of the server-side time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, Executor};
use taizhang_domain::access::Role;
use taizhang_domain::deadline::ClockStatus;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_service::cases::{Actor, IntakeRequest, ListQuery, PartyInput};
use taizhang_service::{ManualClock, Principal, Service, SystemClock};
use taizhang_store::CaseSort;

use crate::{Location, build};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Working directory (created; existing bench databases in it are replaced).
    #[arg(long, default_value = "bench-data")]
    pub dir: std::path::PathBuf,
    /// Cases posted through the HTTP API.
    #[arg(long, default_value_t = 2000)]
    pub intake: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Raw SQLite single-row inserts.
    #[arg(long, default_value_t = 5000)]
    pub raw: usize,
    /// Cases in the list-query database (0 skips that part).
    #[arg(long, default_value_t = 1_000_000)]
    pub list_cases: usize,
    /// Reuse an existing list-query database of the right size instead of loading it again.
    #[arg(long)]
    pub reuse: bool,
    /// Run the list-query part on this database (e.g. an empty PostgreSQL database,
    /// `postgres://postgres@127.0.0.1/tzbench`) instead of a SQLite file in `--dir`.
    #[arg(long)]
    pub list_url: Option<String>,
}

fn io(e: impl std::fmt::Display) -> DomainError {
    DomainError::new(ErrorCode::Internal, format!("基准测试失败：{e}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(args: BenchArgs) -> DomainResult<()> {
    std::fs::create_dir_all(&args.dir).map_err(io)?;
    println!("# taizhang bench — {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    println!("cpus: {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    // 1. Raw SQLite single-row insert rate.
    let raw_path = args.dir.join("raw.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", raw_path.display()));
    }
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", raw_path.display())).await.map_err(io)?;
    conn.execute("PRAGMA journal_mode = WAL").await.map_err(io)?;
    conn.execute("PRAGMA synchronous = FULL").await.map_err(io)?;
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b INTEGER NOT NULL)").await.map_err(io)?;
    let t0 = Instant::now();
    for i in 0..args.raw {
        sqlx::query("INSERT INTO t (a, b) VALUES (?, ?)")
            .bind("一行原始数据，长度与案件事由相近")
            .bind(i as i64)
            .execute(&mut conn)
            .await
            .map_err(io)?;
    }
    let raw_rate = args.raw as f64 / t0.elapsed().as_secs_f64();
    println!(
        "raw sqlite single-row insert (autocommit, WAL, synchronous=FULL): {raw_rate:.0} rows/s over {} rows",
        args.raw
    );
    drop(conn);

    // 2. Intake through the HTTP API.
    let intake_dir = args.dir.join("intake");
    let _ = std::fs::remove_dir_all(&intake_dir);
    let loc = Location::new(&intake_dir, None);
    let svc = build(&loc, Arc::new(SystemClock)).await?;
    let (user, password) = bench_account(&svc).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(taizhang_web::serve(listener, svc.clone(), async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let login: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .map_err(io)?
        .json()
        .await
        .map_err(io)?;
    let token = login["token"].as_str().ok_or_else(|| io("login failed"))?.to_string();
    let t0 = Instant::now();
    let per_client = args.intake.div_ceil(args.concurrency.max(1));
    let mut tasks = vec![];
    for c in 0..args.concurrency.max(1) {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            for i in 0..per_client {
                let body = json!({
                    "fields": {"channel": "visit", "matter_type": "claim", "category": "城乡建设",
                               "title": format!("基准测试事项 {c}-{i}"), "content": "小区电梯频繁故障无人维修，请求督促物业尽快维修。"},
                    "petitioner": {"name": "张三", "phone": format!("138{:08}", c * 100_000 + i)},
                    "client_request_id": format!("bench-{c}-{i}")
                });
                let t = Instant::now();
                let r = client.post(format!("{base}/cases")).bearer_auth(&token).json(&body).send().await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => lat.push(t.elapsed()),
                    Ok(r) => return Err(format!("HTTP {}: {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(lat)
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.map_err(io)?.map_err(io)?);
    }
    let elapsed = t0.elapsed();
    lat.sort();
    println!(
        "HTTP intake (POST /api/v1/cases, {} clients, each case committed durably before 201): {} cases in {:.2} s = {:.0} cases/s; p50 {}, p99 {}",
        args.concurrency,
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    println!("  intake/raw ratio: {:.1} %", 100.0 * lat.len() as f64 / elapsed.as_secs_f64() / raw_rate);
    let _ = tx.send(());
    let _ = server.await;

    // 3. List query at scale.
    if args.list_cases > 0 {
        list_bench(&args).await?;
    }
    Ok(())
}

/// The units cases are registered in: the city's petition bureau plus, under the city, counties with their
/// departments, so the dashboard's per-unit figures have a realistic number of units to sum over.
const COUNTIES: usize = 10;
const DEPARTMENTS_PER_COUNTY: usize = 14;

/// The bench clerk at the city level (its data scope covers every case), and one clerk per registering unit.
async fn bench_account(svc: &Service) -> DomainResult<(String, String)> {
    let city = svc.create_unit(None, None, "349900", "基准测试市", "city").await?;
    let office = svc.create_unit(None, Some(city.id), "349900-XF", "基准测试市信访局", "department").await?;
    let password = "Bench-2026-pass".to_string();
    let clerk = [Role::ReceptionClerk, Role::PetitionOffice];
    svc.create_user(None, "bench", "基准测试", city.id, &password, &clerk, None).await?;
    svc.create_user(None, "bench_u0", "基准测试信访局", office.id, &password, &clerk, None).await?;
    let mut n = 1;
    for c in 0..COUNTIES {
        let county = svc
            .create_unit(None, Some(city.id), &format!("3499{:02}", c + 1), &format!("基准测试{}区", c + 1), "county")
            .await?;
        svc.create_user(None, &format!("bench_u{n}"), "基准测试", county.id, &password, &clerk, None).await?;
        n += 1;
        for d in 1..DEPARTMENTS_PER_COUNTY {
            let code = format!("3499{:02}-D{d:02}", c + 1);
            let dept = svc
                .create_unit(None, Some(county.id), &code, &format!("{}第{d}部门", county.name), "department")
                .await?;
            svc.create_user(None, &format!("bench_u{n}"), "基准测试", dept.id, &password, &clerk, None).await?;
            n += 1;
        }
    }
    Ok(("bench".into(), password))
}

async fn list_bench(args: &BenchArgs) -> DomainResult<()> {
    let dir = args.dir.join("list");
    if !args.reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let loc = Location::new(&dir, args.list_url.clone());
    println!("list database: {}", if args.list_url.is_some() { "PostgreSQL (--list-url)" } else { "SQLite" });
    // Cases are registered with a clock spread over the past year, so deadlines fall on both sides of now.
    let now = chrono::Utc::now();
    let clock = Arc::new(ManualClock::new(now));
    let svc = build(&loc, clock.clone()).await?;
    // Case ids run 1, 2, 3…: the database is full when the last id exists, empty when the first does not.
    let ids = |after: usize| svc.store.case_ids_page(after as i64, 1);
    let full = !ids(args.list_cases - 1).await.map_err(taizhang_service::se)?.is_empty();
    let empty = ids(0).await.map_err(taizhang_service::se)?.is_empty();
    let p: Principal = if full {
        let (_, p) = svc.login("bench", "Bench-2026-pass", None).await?;
        println!("list database: reusing {} cases", args.list_cases);
        p
    } else {
        if !empty {
            return Err(io("list database has a different size; run without --reuse"));
        }
        let (user, password) = bench_account(&svc).await?;
        let (_, p) = svc.login(&user, &password, None).await?;
        let mut clerks = vec![];
        for n in 0..=COUNTIES * DEPARTMENTS_PER_COUNTY {
            clerks.push(svc.login(&format!("bench_u{n}"), &password, None).await?.1);
        }
        let t0 = Instant::now();
        // Each moment's 2,000 cases are registered by the units in turn, about 14 to a transaction.
        let batch: usize = 2_000;
        let per_unit = batch.div_ceil(clerks.len());
        let mut turn = 0;
        let mut reported = 0;
        let categories = ["城乡建设", "劳动和社会保障", "教育文体", "环境保护", "交通运输", "卫生计生", "商贸旅游"];
        let mut done = 0;
        while done < args.list_cases {
            let n = batch.min(args.list_cases - done);
            // Intake moments spread evenly over 365 days, oldest first.
            let at = now - chrono::Duration::seconds(31_536_000 - (done as i64 * 31_536_000) / args.list_cases as i64);
            clock.set(at);
            let reqs: Vec<IntakeRequest> = (0..n)
                .map(|i| {
                    let k = done + i;
                    let mut fields = serde_json::Map::new();
                    fields.insert("channel".into(), json!("visit"));
                    fields.insert("matter_type".into(), json!(if k % 5 == 0 { "suggestion" } else { "claim" }));
                    fields.insert("category".into(), json!(categories[k % categories.len()]));
                    fields.insert("title".into(), json!(format!("基准测试事项 {k}")));
                    fields.insert("content".into(), json!("小区电梯频繁故障无人维修，请求督促物业尽快维修。"));
                    IntakeRequest {
                        kind: "petition".into(),
                        fields,
                        petitioner: Some(PartyInput {
                            name: "张三".into(),
                            phone: Some(format!("139{k:08}")),
                            ..Default::default()
                        }),
                        parties: vec![],
                        client_request_id: None,
                        unit_id: None,
                        attachments: vec![],
                    }
                })
                .collect();
            let mut reqs = reqs.into_iter().peekable();
            while reqs.peek().is_some() {
                let chunk: Vec<IntakeRequest> = reqs.by_ref().take(per_unit).collect();
                done += svc.register_many(Actor::Staff(&clerks[turn % clerks.len()]), chunk).await?;
                turn += 1;
            }
            if done / 100_000 > reported {
                reported = done / 100_000;
                println!("  loaded {done} cases ({:.0} s)", t0.elapsed().as_secs_f64());
            }
        }
        println!("list database: loaded {done} cases through the service in {:.0} s", t0.elapsed().as_secs_f64());
        p
    };
    // Query as a freshly started server does: opening the store refreshes the planner's statistics, which
    // connections opened before a bulk load would not see.
    drop(svc);
    let t1 = Instant::now();
    let svc = build(&loc, clock.clone()).await?;
    println!("  reopened (migrations + ANALYZE) in {:.1} s", t1.elapsed().as_secs_f64());
    clock.set(now);
    let queries: Vec<(&str, ListQuery)> = vec![
        (
            "overdue petitions, nearest deadline first",
            ListQuery {
                kind: Some("petition".into()),
                clock_status: Some(ClockStatus::Overdue),
                sort: CaseSort::Deadline,
                page: 1,
                per_page: 20,
                ..Default::default()
            },
        ),
        (
            "category 城乡建设 in state registered, newest first",
            ListQuery {
                category: Some("城乡建设".into()),
                state: Some("registered".into()),
                sort: CaseSort::NewestFirst,
                page: 1,
                per_page: 20,
                ..Default::default()
            },
        ),
        (
            "due soon, page 50",
            ListQuery {
                clock_status: Some(ClockStatus::DueSoon),
                sort: CaseSort::Deadline,
                page: 50,
                per_page: 20,
                ..Default::default()
            },
        ),
    ];
    for (name, q) in queries {
        let mut lat = vec![];
        let mut total = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let page = svc.list(&p, &q).await?;
            lat.push(t.elapsed());
            total = page.total;
        }
        lat.sort();
        println!(
            "list [{name}] over {} cases: {total} matches; p50 {}, p99 {} (30 runs, incl. total count)",
            args.list_cases,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }
    let mut lat = vec![];
    let mut figures = String::new();
    for _ in 0..30 {
        let t = Instant::now();
        let d = svc.dashboard(&p, Some("petition")).await?;
        lat.push(t.elapsed());
        let overdue: i64 = d.clocks.iter().map(|c| c.overdue).sum();
        let received: i64 = d.months.iter().map(|m| m.received).sum();
        figures = format!("{received} received in 12 months, {overdue} overdue in {} units", d.clocks.len());
    }
    lat.sort();
    println!(
        "dashboard [petition, city-wide] over {} cases: {figures}; p50 {}, p99 {} (30 runs)",
        args.list_cases,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    pages_bench(svc, args.list_cases).await
}

/// 4. Pages through the real server over the loaded database, as the bench clerk (city-level scope).
async fn pages_bench(svc: Service, n_cases: usize) -> DomainResult<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let base = format!("http://{}", listener.local_addr().map_err(io)?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(taizhang_web::serve(listener, svc.clone(), async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(io)?;
    let r = client
        .post(format!("{base}/login"))
        .form(&[("username", "bench"), ("password", "Bench-2026-pass")])
        .send()
        .await
        .map_err(io)?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| io("login failed"))?
        .to_string();
    let middle = (n_cases / 2).max(1);
    let pages = [
        ("/work (my work queue)", "/work".to_string()),
        ("/cases (list, first page)", "/cases".to_string()),
        (
            "/cases filtered (category, state)",
            "/cases?category=%E5%9F%8E%E4%B9%A1%E5%BB%BA%E8%AE%BE&state=registered".to_string(),
        ),
        ("/cases page 200", "/cases?page=200".to_string()),
        ("/cases/{id} (case page)", format!("/cases/{middle}")),
        ("/cases/{id}/documents/1/receipt", format!("/cases/{middle}/documents/{middle}/receipt")),
        ("/register (form)", "/register".to_string()),
        ("/dashboard (leader dashboard, petitions)", "/dashboard".to_string()),
        ("/portal/submit (form)", "/portal/submit".to_string()),
    ];
    for (name, path) in pages {
        let mut lat = vec![];
        let mut status = 0;
        let mut bytes = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let r = client.get(format!("{base}{path}")).header("cookie", &cookie).send().await.map_err(io)?;
            status = r.status().as_u16();
            bytes = r.bytes().await.map_err(io)?.len();
            lat.push(t.elapsed());
        }
        lat.sort();
        println!(
            "page [{name}] over {n_cases} cases: HTTP {status}, {bytes} bytes; p50 {}, p99 {} (30 runs)",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }
    // The portal's published statistics walk the year's cases; the server computes them in the background.
    let t = Instant::now();
    let st = svc.public_statistics("petition").await?;
    println!(
        "portal statistics over {n_cases} cases ({} received this year): computed in {}",
        st.received,
        ms(t.elapsed())
    );
    client.get(format!("{base}/portal")).send().await.map_err(io)?.bytes().await.map_err(io)?;
    let mut lat = vec![];
    for _ in 0..30 {
        let t = Instant::now();
        client.get(format!("{base}/portal")).send().await.map_err(io)?.bytes().await.map_err(io)?;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!("page [/portal] p50 {}, p99 {} (30 runs)", ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99)));
    let _ = tx.send(());
    let _ = server.await;
    Ok(())
}
