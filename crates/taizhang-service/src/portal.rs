//! What the resident portal publishes (信访工作条例 art. 18): the channels, address and reception hours of the
//! locality's petition offices, the offices a resident may address online, and the service statistics the
//! locality chooses to show. Configured in `<data>/portal.toml`; without it the portal shows no contact
//! details (nothing invented) and the default statistics.

use std::path::Path;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::deadline::{ClockStatus, china_tz};
use taizhang_domain::region::Region;
use taizhang_domain::workflow::{ClockKind, clock_views_lenient};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::Unit;

use crate::cases::parse_state;
use crate::{Service, se};

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalInfo {
    /// e.g. "临江市信访局".
    #[serde(default)]
    pub office: String,
    #[serde(default)]
    pub address: String,
    /// Reception hours in words.
    #[serde(default)]
    pub hours: String,
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Unit codes residents may address online; empty: every unit.
    #[serde(default)]
    pub offices: Vec<String>,
    /// Which figures to publish: any of `received`, `on_time`, `satisfaction`; absent: all three.
    #[serde(default = "default_statistics")]
    pub statistics: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// 来信 / 来访 / 网上信访 / 电话 …
    pub name: String,
    pub detail: String,
}

fn default_statistics() -> Vec<String> {
    vec!["received".into(), "on_time".into(), "satisfaction".into()]
}

impl PortalInfo {
    pub fn load(dir: &Path) -> DomainResult<PortalInfo> {
        let path = dir.join("portal.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(PortalInfo { statistics: default_statistics(), ..Default::default() });
        };
        let info: PortalInfo = toml::from_str(&text)
            .map_err(|e| DomainError::new(ErrorCode::InvalidInput, format!("{} 有误：{e}", path.display())))?;
        if let Some(bad) =
            info.statistics.iter().find(|s| !["received", "on_time", "satisfaction"].contains(&s.as_str()))
        {
            return Err(DomainError::new(
                ErrorCode::InvalidInput,
                format!("{}：statistics 中的 {bad} 不可用（可选 received、on_time、satisfaction）", path.display()),
            ));
        }
        Ok(info)
    }
}

/// The published figures for one kind and one calendar year (China time), so far.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PublicStatistics {
    pub year: i32,
    /// Cases registered in the year.
    pub received: i64,
    /// Statutory time limits of those cases that have been met or missed (a limit still running is neither).
    pub limits_due: i64,
    pub limits_met: i64,
    /// Replies rated by residents, and how many of them 满意 or 基本满意.
    pub rated: i64,
    pub satisfied: i64,
}

impl PublicStatistics {
    pub fn on_time_percent(&self) -> Option<f64> {
        (self.limits_due > 0).then(|| 100.0 * self.limits_met as f64 / self.limits_due as f64)
    }
    pub fn satisfaction_percent(&self) -> Option<f64> {
        (self.rated > 0).then(|| 100.0 * self.satisfied as f64 / self.rated as f64)
    }
}

impl Service {
    /// Counts from each case's own state (its clocks and its rating), page by page.
    pub async fn public_statistics(&self, kind: &str) -> DomainResult<PublicStatistics> {
        let def = self.workflows.get(kind)?.clone();
        let now = self.now();
        let year = now.with_timezone(&china_tz()).year();
        let start: DateTime<Utc> =
            china_tz().with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().map(|t| t.with_timezone(&Utc)).unwrap_or(now);
        let mut stats = PublicStatistics { year, ..Default::default() };
        let mut after = 0;
        loop {
            let rows = self.store.cases_created_since(kind, start, after, 1000).await.map_err(se)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in &rows {
                stats.received += 1;
                let state = parse_state(row)?;
                let def = self.workflows.get_version(kind, state.workflow_version).unwrap_or(&def);
                let region = row.region.as_deref().and_then(|r| Region::parse(r).ok());
                let (clocks, _) = clock_views_lenient(def, &state, &self.calendar, region.as_ref(), now);
                // The office's duties only: a resident's own window (e.g. to request review) is not a limit.
                for c in clocks.iter().filter(|c| c.kind == ClockKind::Obligation) {
                    let met = c.stopped_at.is_some() && c.status == ClockStatus::OnTime;
                    let decided = c.stopped_at.is_some() || c.status == ClockStatus::Overdue;
                    stats.limits_due += i64::from(decided);
                    stats.limits_met += i64::from(met);
                }
                if let Some(r) = state.fields.get("satisfaction").and_then(|v| v.as_str()) {
                    stats.rated += 1;
                    if r == "satisfied" || r == "basically_satisfied" {
                        stats.satisfied += 1;
                    }
                }
            }
        }
        Ok(stats)
    }

    /// The offices a resident may address online, as configured (all units when the list is empty).
    pub async fn portal_offices(&self) -> DomainResult<Vec<Unit>> {
        let units = self.store.units().await.map_err(se)?;
        if self.portal.offices.is_empty() {
            return Ok(units);
        }
        Ok(self.portal.offices.iter().filter_map(|c| units.iter().find(|u| &u.code == c).cloned()).collect())
    }
}

/// A public commitment (承诺事项) as the portal lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicCommitment {
    pub code: String,
    pub title: String,
    pub content: String,
    pub owner_unit: String,
    pub owner: String,
    pub timetable: String,
    /// The promised date (China).
    pub due_date: Option<chrono::NaiveDate>,
    pub state: String,
    pub state_name: String,
    /// Past its date without being fulfilled: a red card.
    pub red_card: bool,
    /// The newest progress report or the fulfilment.
    pub latest: String,
}

impl Service {
    /// The commitments made public (`public = "yes"`) in the last two years, open ones first, then newest.
    pub async fn public_commitments(&self) -> DomainResult<Vec<PublicCommitment>> {
        let Ok(def) = self.workflows.get("commitment").cloned() else { return Ok(vec![]) };
        let now = self.now();
        let units: std::collections::BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.name)).collect();
        let mut out = vec![];
        let mut after = 0;
        loop {
            let rows = self.store.cases_created_since("commitment", now - Duration::days(730), after, 1000).await;
            let rows = rows.map_err(se)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in &rows {
                let state = parse_state(row)?;
                if state.field_str("public") != Some("yes") {
                    continue;
                }
                let def = self.workflows.get_version("commitment", state.workflow_version).unwrap_or(&def);
                let text = |f: &str| state.field_str(f).unwrap_or_default().to_string();
                let (clocks, _) = clock_views_lenient(def, &state, &self.calendar, None, now);
                let due_date = clocks.iter().find(|c| c.clock == "fulfil_due").and_then(|c| c.due_date);
                out.push(PublicCommitment {
                    code: row.code.clone(),
                    title: text("title"),
                    content: text("content"),
                    owner_unit: state.handling_unit.and_then(|u| units.get(&u).cloned()).unwrap_or_default(),
                    owner: text("owner"),
                    timetable: text("timetable"),
                    due_date,
                    state_name: def.state(&state.state).map(|s| s.name.clone()).unwrap_or_default(),
                    red_card: state.actions_taken.contains("red_card"),
                    latest: if state.state == "fulfilled" { text("result") } else { text("progress") },
                    state: state.state,
                });
            }
        }
        let done = |c: &PublicCommitment| c.state == "fulfilled" || c.state == "withdrawn";
        out.sort_by(|a, b| done(a).cmp(&done(b)).then(b.code.cmp(&a.code)));
        Ok(out)
    }
}
