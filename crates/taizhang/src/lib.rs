//! The `taizhang` binary's library half: building the service from a data directory and a database URL, the
//! demo data, and the benchmark. `main.rs` is only the command line.

pub mod bench;
pub mod demo;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use taizhang_domain::DomainResult;
use taizhang_domain::region::Region;
use taizhang_service::{Clock, DataDir, Policy, Service, SystemClock};

/// Where the data lives: `--data DIR` (database file, key, overrides) and optionally `--database-url`.
#[derive(Debug, Clone)]
pub struct Location {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Location {
    pub fn new(data_dir: impl Into<PathBuf>, database_url: Option<String>) -> Self {
        Location { data_dir: data_dir.into(), database_url: database_url.filter(|u| !u.is_empty()) }
    }

    /// The database URL: the one given, or the embedded SQLite file in the data directory.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("taizhang.db").display()),
        }
    }
}

/// Opens (and migrates) the database and loads workflows, calendar and keys from the data directory.
pub async fn build(loc: &Location, clock: Arc<dyn Clock>) -> DomainResult<Service> {
    std::fs::create_dir_all(&loc.data_dir).map_err(|e| {
        taizhang_domain::DomainError::new(
            taizhang_domain::ErrorCode::Internal,
            format!("无法创建数据目录 {}：{e}", loc.data_dir.display()),
        )
    })?;
    let mut workflows = DataDir::workflows(&loc.data_dir)?;
    let calendar = DataDir::calendar(&loc.data_dir)?;
    let keys = DataDir::keys(&loc.data_dir)?;
    let store = taizhang_store::open(&loc.url()).await.map_err(taizhang_service::se)?;
    taizhang_service::sync_workflow_versions(&store, &mut workflows).await?;
    let routing = taizhang_service::routing::RoutingTable::load(&loc.data_dir, &workflows)?;
    let plans = taizhang_service::plans::Plans::load(&loc.data_dir, &workflows)?;
    let (scheme, scheme_text) = taizhang_service::assessment::load_scheme(&loc.data_dir, &workflows)?;
    taizhang_service::assessment::sync_scheme_version(&store, &scheme, &scheme_text).await?;
    Ok(Service {
        store: Arc::new(store),
        workflows: Arc::new(workflows),
        calendar: Arc::new(calendar),
        keys: Arc::new(keys),
        clock,
        policy: Policy::default(),
        default_region: std::env::var("TAIZHANG_REGION").ok().and_then(|r| Region::parse(&r).ok()),
        portal: Arc::new(taizhang_service::portal::PortalInfo::load(&loc.data_dir)?),
        routing: Arc::new(routing),
        plans: Arc::new(plans),
        checklists: Arc::new(taizhang_service::sites::load_checklists(&loc.data_dir)?),
        scheme: Arc::new(scheme),
        outbound: taizhang_service::outbound::load_channel(&loc.data_dir)?,
    })
}

pub async fn build_default(loc: &Location) -> DomainResult<Service> {
    build(loc, Arc::new(SystemClock)).await
}

pub fn default_data_dir() -> &'static Path {
    Path::new("taizhang-data")
}
