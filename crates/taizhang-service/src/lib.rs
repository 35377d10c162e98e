//! Use cases: sign in, register a case, take an action, read a case, list cases, reveal personal data, verify
//! the ledger. The service decides (using the pure domain) and owns every write (through the store's
//! transactional `append`); the web layer and the CLI only call it.

pub mod accountability;
pub mod assessment;
pub mod auth;
pub mod breakdown;
pub mod campaigns;
pub mod cards;
pub mod cases;
pub mod circulars;
pub mod coverage;
pub mod dashboard;
pub mod duty;
pub mod indicators;
pub mod letters;
pub mod notify;
pub mod org;
pub mod outbound;
pub mod periodic;
pub mod plans;
pub mod portal;
pub mod reception;
pub mod responsibility;
pub mod routing;
pub mod sites;
pub mod verify;
pub mod visitors;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use taizhang_domain::calendar::HolidayCalendar;
use taizhang_domain::crypto::{KEY_LEN, Keys};
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{Registry, WorkflowDef};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{NewAudit, Store, StoreError, WorkflowVersion};

pub use auth::Principal;

/// The time source. Production uses the system clock; tests move a fixed clock forward instead of sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests can set.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);
impl ManualClock {
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(t))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
    pub fn advance(&self, d: chrono::Duration) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *g += d;
    }
}
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Security settings (等保 2.0 level 3 defaults; a deployment may tighten them).
#[derive(Debug, Clone)]
pub struct Policy {
    pub min_password_len: usize,
    pub password_classes: usize,
    pub max_failed_logins: i64,
    pub lockout: chrono::Duration,
    pub idle_timeout: chrono::Duration,
    pub absolute_timeout: chrono::Duration,
    pub api_token_lifetime: chrono::Duration,
    /// Passwords older than this must be changed before anything else.
    pub password_max_age: chrono::Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_password_len: 8,
            password_classes: 3,
            max_failed_logins: 5,
            lockout: chrono::Duration::minutes(30),
            idle_timeout: chrono::Duration::minutes(30),
            absolute_timeout: chrono::Duration::hours(12),
            api_token_lifetime: chrono::Duration::days(365),
            password_max_age: chrono::Duration::days(90),
        }
    }
}

/// Everything a use case needs. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub store: Arc<dyn Store>,
    pub workflows: Arc<Registry>,
    pub calendar: Arc<HolidayCalendar>,
    pub keys: Arc<Keys>,
    pub clock: Arc<dyn Clock>,
    pub policy: Policy,
    /// Used for cases whose unit codes name no region.
    pub default_region: Option<Region>,
    /// What the resident portal publishes (`<data>/portal.toml`).
    pub portal: Arc<portal::PortalInfo>,
    /// Which department usually takes which matter (`<data>/routing.toml`): suggestions on action forms.
    pub routing: Arc<routing::RoutingTable>,
    /// Emergency and work plans (`<data>/plans.toml`): what activating a plan opens.
    pub plans: Arc<plans::Plans>,
    /// Inspection checklists per sector (`<data>/checklists.toml` or the shipped lists).
    pub checklists: Arc<taizhang_domain::checklist::Checklists>,
    /// The evaluation scheme units are assessed with (`<data>/assessment.toml` or the shipped one).
    pub scheme: Arc<taizhang_domain::assessment::Scheme>,
    /// Where notifications also go (`<data>/outbound.toml`); None: the workspace only.
    pub outbound: Option<Arc<dyn outbound::Channel>>,
}

/// Turns a store error into what a user sees, logging the cause of anything that is not the user's doing.
pub fn se(e: StoreError) -> DomainError {
    if !matches!(e, StoreError::Domain(_)) {
        tracing::error!(error = %e, "store failure");
    }
    e.into_domain()
}

impl Service {
    pub fn now(&self) -> DateTime<Utc> {
        taizhang_domain::ledger::to_micros(self.clock.now())
    }

    /// Appends an audit record; audit failures are errors (an action that cannot be audited does not happen).
    pub async fn audit(
        &self,
        who: Option<&Principal>,
        source: Option<&str>,
        event: &str,
        object: Option<String>,
        result: &str,
        detail: impl Into<String>,
    ) -> DomainResult<()> {
        self.store
            .append_audit(NewAudit {
                at: self.now(),
                user_id: who.map(|p| p.user.id),
                username: who.map(|p| p.user.username.clone()),
                role: who.map(|p| p.roles_str()),
                unit_id: who.map(|p| p.user.unit_id),
                source: source.map(str::to_string),
                event: event.to_string(),
                object,
                result: result.to_string(),
                detail: detail.into(),
            })
            .await
            .map_err(se)?;
        Ok(())
    }
}

/// Records each current workflow definition the first time it is used, refuses a changed definition that
/// kept its version number, and loads every earlier recorded version so the cases opened under it go on by its
/// rules.
/// Records a versioned rule text (`kind` + `version`, with its SM3) the first time it is used. False when a
/// different text was recorded under the same version: a version must always mean the same rules.
pub(crate) async fn record_version(
    store: &dyn Store,
    recorded: &[WorkflowVersion],
    kind: &str,
    version: u32,
    text: &str,
) -> DomainResult<bool> {
    let sha = taizhang_domain::ledger::sm3_hex(text.as_bytes());
    match recorded.iter().find(|r| r.kind == kind && r.version == version as i64) {
        Some(r) => Ok(r.sha == sha),
        None => {
            let v =
                WorkflowVersion { kind: kind.to_string(), version: version as i64, sha, definition: text.to_string() };
            store.record_workflow_version(v).await.map_err(se)?;
            Ok(true)
        }
    }
}

pub async fn sync_workflow_versions(store: &dyn Store, reg: &mut Registry) -> DomainResult<()> {
    let recorded = store.workflow_versions().await.map_err(se)?;
    let current: Vec<(WorkflowDef, String)> = reg.current().map(|(d, t)| (d.clone(), t.to_string())).collect();
    for (def, text) in current {
        if !record_version(store, &recorded, &def.kind, def.version, &text).await? {
            return Err(DomainError::new(
                ErrorCode::WorkflowInvalid,
                format!(
                    "流程定义 {} 第 {} 版已经使用过，但内容与当时不同。修改流程时请提高 version（已登记的案件继续按原版本办理）",
                    def.kind, def.version
                ),
            ));
        }
    }
    // Assessment schemes share the table under `scheme:<id>` (`assessment::sync_scheme_version`).
    for r in recorded.into_iter().filter(|r| !r.kind.starts_with(assessment::SCHEME_PREFIX)) {
        let file = format!("{}（第 {} 版，数据库中的记录）", r.kind, r.version);
        if taizhang_domain::ledger::sm3_hex(r.definition.as_bytes()) != r.sha {
            return Err(DomainError::new(
                ErrorCode::WorkflowInvalid,
                format!("{file}已被改动：内容与记录的 SM3 摘要不符"),
            ));
        }
        reg.add_version(&file, &r.definition)?;
    }
    Ok(())
}

/// Reads the deployment's data directory: workflow overrides (`workflows/*.toml`), extra holiday years
/// (`calendar/*.toml`) and the secret key (`secret.key`, created on first use with mode 0600).
pub struct DataDir;

impl DataDir {
    pub fn workflows(dir: &Path) -> DomainResult<Registry> {
        Registry::load(&read_toml_files(&dir.join("workflows"))?)
    }

    pub fn calendar(dir: &Path) -> DomainResult<HolidayCalendar> {
        let mut cal = HolidayCalendar::embedded().clone();
        for (_, text) in read_toml_files(&dir.join("calendar"))? {
            cal.merge_override(&text)?;
        }
        Ok(cal)
    }

    pub fn keys(dir: &Path) -> DomainResult<Keys> {
        let path = dir.join("secret.key");
        let io = |e: std::io::Error| {
            DomainError::new(ErrorCode::Internal, format!("无法读取或创建密钥文件 {}：{e}", path.display()))
        };
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut bytes = [0u8; KEY_LEN];
            rand::fill(&mut bytes[..]);
            write_private(&path, &bytes).map_err(io)?;
        }
        Keys::from_bytes(&std::fs::read(&path).map_err(io)?)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

fn read_toml_files(dir: &Path) -> DomainResult<Vec<(String, String)>> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "toml")) {
        let text = std::fs::read(&p)
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("无法读取 {}：{e}", p.display())))?;
        let text = String::from_utf8(text)
            .map_err(|_| DomainError::new(ErrorCode::InvalidUtf8, format!("{} 不是 UTF-8 编码", p.display())))?;
        out.push((p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(), text));
    }
    Ok(out)
}
