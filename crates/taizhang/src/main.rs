//! `taizhang` — one binary: serve, demo, create-admin, verify, deadline, migrate, bench.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use taizhang::{Location, bench, build_default, default_data_dir, demo};
use taizhang_domain::DomainError;
use taizhang_domain::access::Role;
use taizhang_domain::deadline::{self, Period, PeriodUnit};
use taizhang_domain::region::Region;

#[derive(Parser)]
#[command(name = "taizhang", version, about = "台账：基层案件台账（信访、纠纷、隐患、网格、突发事件）")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Db {
    #[arg(long, env = "TAIZHANG_DATA", default_value = default_data_dir().as_os_str(),
          help = "数据目录：SQLite 数据库、密钥、流程和节假日的本地配置")]
    data: PathBuf,
    #[arg(
        long,
        env = "TAIZHANG_DATABASE_URL",
        help = "PostgreSQL 地址（postgres://…）；不指定则使用数据目录中的 SQLite"
    )]
    database_url: Option<String>,
}

impl Db {
    fn location(&self) -> Location {
        Location::new(&self.data, self.database_url.clone())
    }
}

#[derive(Subcommand)]
enum Cmd {
    #[command(about = "启动服务（JSON 接口、接口文档）")]
    Serve {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value = "127.0.0.1:8080", help = "监听地址")]
        listen: String,
        #[arg(long, help = "先载入演示数据（仅限空库）")]
        demo: bool,
    },
    #[command(about = "载入演示数据：一个市、两个区、乡镇街道、社区、部门，各角色账号，过去一年各状态的信访事项")]
    Demo {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 300, help = "信访事项件数")]
        cases: usize,
    },
    #[command(about = "创建管理员账号（系统、安全或审计管理员）；没有默认密码")]
    CreateAdmin {
        #[command(flatten)]
        db: Db,
        #[arg(long, help = "用户名")]
        username: String,
        #[arg(long, default_value = "system_admin", help = "system_admin、security_admin 或 audit_admin")]
        role: String,
        #[arg(long, help = "所属单位编号；还没有任何单位时，用 --unit-code 和 --unit-name 创建")]
        unit: Option<i64>,
        #[arg(long, help = "本级单位的行政区划代码，如 330100")]
        unit_code: Option<String>,
        #[arg(long, help = "本级单位名称，如 杭州市")]
        unit_name: Option<String>,
        #[arg(long, help = "从这个环境变量读取密码（否则从标准输入读取）")]
        password_env: Option<String>,
    },
    #[command(about = "校验案件事件链、审计日志链和每件案件的记录；完整时退出码为 0")]
    Verify {
        #[command(flatten)]
        db: Db,
    },
    #[command(about = "计算法定期限：首先输出到期日（YYYY-MM-DD；小时为 RFC 3339 时间）")]
    Deadline {
        #[arg(long, help = "起算日期或时间，如 2026-03-02 或 2026-03-02T09:00")]
        from: String,
        #[arg(long, help = "期限数量")]
        amount: u32,
        #[arg(long, help = "calendar（日）、working（工作日）、hours（小时）或 minutes（分钟）")]
        unit: String,
        #[arg(long, help = "适用地区的 6 位行政区划代码，如 330000")]
        region: Option<String>,
        #[arg(long, help = "数据目录：其中 calendar/*.toml 补充的年份一并使用")]
        data: Option<PathBuf>,
    },
    #[command(about = "重新计算列表排序和筛选所用的期限（补充节假日年份或修改规则之后）")]
    Reindex {
        #[command(flatten)]
        db: Db,
    },
    #[command(about = "创建或升级数据库结构")]
    Migrate {
        #[command(flatten)]
        db: Db,
    },
    #[command(about = "性能基准：经 HTTP 接口登记的吞吐量与百万级案件列表查询（见 BENCHMARKS.md）")]
    Bench(bench::BenchArgs),
}

fn fail(e: DomainError) -> ExitCode {
    eprintln!("错误 [{}]：{}", e.code.as_str(), e.message);
    ExitCode::from(2)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Cmd::Deadline { from, amount, unit, region, data } = &cli.cmd {
        return match deadline_cmd(from, *amount, unit, region.as_deref(), data.as_deref()) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("无法启动运行时：{e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        match run(cli.cmd).await {
            Ok(code) => code,
            Err(e) => fail(e),
        }
    })
}

fn deadline_cmd(
    from: &str,
    amount: u32,
    unit: &str,
    region: Option<&str>,
    data: Option<&std::path::Path>,
) -> Result<String, DomainError> {
    let unit: PeriodUnit = unit.parse()?;
    let region = region.map(Region::parse).transpose()?;
    let start = deadline::parse_start(from)?;
    let cal = match data {
        Some(dir) => taizhang_service::DataDir::calendar(dir)?,
        None => taizhang_domain::calendar::HolidayCalendar::embedded().clone(),
    };
    let due = deadline::compute_due(&cal, start, Period { amount, unit }, region.as_ref())?;
    let mut line = deadline::format_due(&due, unit);
    line.push_str(&format!("  （自 {from} 起 {}", Period { amount, unit }));
    if let Some(r) = &region {
        line.push_str(&format!("，{}", r.province_name()));
    }
    line.push('）');
    if due.provisional {
        line.push_str("  暂定：到期日所在年份的节假日安排尚未收录，未按节假日顺延");
    }
    Ok(line)
}

async fn run(cmd: Cmd) -> Result<ExitCode, DomainError> {
    match cmd {
        Cmd::Serve { db, listen, demo: with_demo } => {
            let loc = db.location();
            let mut svc = build_default(&loc).await?;
            if with_demo {
                if svc.store.units().await.map_err(taizhang_service::se)?.is_empty() {
                    let report = demo::load(&loc, 300).await?;
                    println!("{report}");
                    // The demo wrote the portal's published information.
                    svc.portal = std::sync::Arc::new(taizhang_service::portal::PortalInfo::load(&loc.data_dir)?);
                    let routing = taizhang_service::routing::RoutingTable::load(&loc.data_dir, &svc.workflows)?;
                    svc.routing = std::sync::Arc::new(routing);
                    let plans = taizhang_service::plans::Plans::load(&loc.data_dir, &svc.workflows)?;
                    svc.plans = std::sync::Arc::new(plans);
                } else {
                    println!(
                        "数据库中已有数据，未重复加载演示数据。演示账号见 {}",
                        loc.data_dir.join("demo-accounts.txt").display()
                    );
                }
            }
            let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "端口已被占用，请用 --listen 换一个端口"
                } else {
                    "地址无效或无权限"
                };
                DomainError::new(taizhang_domain::ErrorCode::InvalidInput, format!("无法监听 {listen}：{why}（{e}）"))
            })?;
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(listen);
            println!("台账已启动：http://{addr}/ （接口文档 http://{addr}/api/docs），数据库：{}", svc.store.backend());
            // Warning cards from the clocks, and timer actions (an unacknowledged alert climbing its ladder, an
            // overdue rectification escalated) are taken by the system once a minute; visitor logs past their retention go once an hour.
            let sweeper = svc.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                for minute in 0u64.. {
                    tick.tick().await;
                    // Cards first: a clock that runs out is carded red before its timer action stops it.
                    match sweeper.sweep_cards().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(raised = n, "warning cards raised"),
                        Err(e) => tracing::error!(error = %e, "card sweep failed"),
                    }
                    match sweeper.sweep().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(taken = n, "timer actions taken"),
                        Err(e) => tracing::error!(error = %e, "sweep failed"),
                    }

                    if minute % 60 == 0 {
                        match sweeper.purge_visitor_logs().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(deleted = n, "visitor logs past retention deleted"),
                            Err(e) => tracing::error!(error = %e, "visitor log purge failed"),
                        }
                    }
                }
            });
            // Notifications through the outbound channel, if one is configured — apart from the sweeps, so a slow
            // gateway never delays a card or an escalation.
            if svc.outbound.is_some() {
                let sender = svc.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                    loop {
                        tick.tick().await;
                        match sender.send_outbound().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(sent = n, "notifications sent outbound"),
                            Err(e) => tracing::error!(error = %e, "outbound sending failed"),
                        }
                    }
                });
            }
            // Ctrl-C, or SIGTERM from a service manager: stop taking requests and finish the ones in flight.
            let shutdown = async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    match signal(SignalKind::terminate()) {
                        Ok(mut term) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {}
                                _ = term.recv() => {}
                            }
                        }
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            };
            taizhang_web::serve(listener, svc, shutdown)
                .await
                .map_err(|e| DomainError::new(taizhang_domain::ErrorCode::Internal, format!("服务器错误：{e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { db, cases } => {
            let loc = db.location();
            let svc = build_default(&loc).await?;
            if !svc.store.units().await.map_err(taizhang_service::se)?.is_empty() {
                return Err(DomainError::new(
                    taizhang_domain::ErrorCode::InvalidInput,
                    "数据库中已有数据；演示数据只能载入空库（请换一个 --data 目录）",
                ));
            }
            drop(svc);
            println!("{}", demo::load(&loc, cases).await?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CreateAdmin { db, username, role, unit, unit_code, unit_name, password_env } => {
            let svc = build_default(&db.location()).await?;
            let role: Role = role.parse()?;
            if !role.is_admin() {
                return Err(DomainError::new(
                    taizhang_domain::ErrorCode::InvalidInput,
                    "create-admin 只创建 system_admin、security_admin 或 audit_admin",
                ));
            }
            let password = match password_env {
                Some(var) => std::env::var(&var).map_err(|_| {
                    DomainError::new(taizhang_domain::ErrorCode::MissingField, format!("环境变量 {var} 未设置"))
                })?,
                None => {
                    if std::io::stdin().is_terminal() {
                        eprint!("请输入新管理员的密码：");
                    }
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                        DomainError::new(taizhang_domain::ErrorCode::InvalidInput, format!("无法读取密码：{e}"))
                    })?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            // Everything that can refuse is checked before the first unit is written: a refused admin leaves
            // nothing behind.
            svc.check_password_policy(&password)?;
            taizhang_service::auth::check_username(&username)?;
            if svc.store.user_by_username(username.trim()).await.map_err(taizhang_service::se)?.is_some() {
                return Err(DomainError::new(
                    taizhang_domain::ErrorCode::InvalidInput,
                    format!("用户名 {} 已存在", username.trim()),
                ));
            }
            let unit_id = match unit {
                Some(u) => u,
                None => {
                    let units = svc.store.units().await.map_err(taizhang_service::se)?;
                    match units.first() {
                        Some(u) => u.id,
                        None => {
                            let (Some(code), Some(name)) = (unit_code, unit_name) else {
                                return Err(DomainError::new(
                                    taizhang_domain::ErrorCode::MissingField,
                                    "还没有任何单位：请用 --unit-code 和 --unit-name 指定本级单位（如 330100 杭州市）",
                                ));
                            };
                            svc.create_unit(None, None, &code, &name, "city").await?.id
                        }
                    }
                }
            };
            let user = svc.create_user(None, &username, &username, unit_id, &password, &[role], None).await?;
            println!("已创建{}账号 {}（id {}）", role.name_zh(), user.username, user.id);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify { db } => {
            // Verifying a mistyped directory must not create an empty database and call it intact.
            if db.database_url.is_none() && !db.data.join("taizhang.db").exists() {
                return Err(DomainError::new(
                    taizhang_domain::ErrorCode::NotFound,
                    format!("{} 中没有台账数据库（taizhang.db）", db.data.display()),
                ));
            }
            let svc = build_default(&db.location()).await?;
            let r = svc.verify().await?;
            println!(
                "案件事件 {} 条（链头 {}），审计记录 {} 条（链头 {}），案件 {} 件",
                r.events,
                short(&r.events_head),
                r.audit_records,
                short(&r.audit_head),
                r.cases
            );
            if r.ok {
                println!("校验通过：记录完整，未发现篡改。");
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &r.problems {
                    println!("发现问题：{p}");
                }
                println!("校验失败：共 {} 处问题。", r.problems.len());
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Reindex { db } => {
            let svc = build_default(&db.location()).await?;
            let n = svc.reindex_deadlines().await?;
            println!("已重新计算期限：{n} 件案件的期限有变化。");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migrate { db } => {
            let svc = build_default(&db.location()).await?;
            println!("数据库结构已是最新（{}）。", svc.store.backend());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench(args) => bench::run(args).await.map(|_| ExitCode::SUCCESS),
        Cmd::Deadline { .. } => unreachable!("handled before the runtime starts"),
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(16)]
}
