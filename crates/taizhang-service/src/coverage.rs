//! Cases that cover units over days (`covers` in a definition — a special period's plan): which of them apply
//! to a unit at an instant, each judged as it stood then. The duty pages show them with their level; the daily
//! report's extra rounds (`periodic.rounds[].during`) are required while one applies.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use taizhang_domain::DomainResult;
use taizhang_domain::deadline::china_tz;

use crate::{Service, se};

/// A covering case as it stood at the instant asked about.
#[derive(Debug, Clone)]
pub struct Covering {
    pub code: String,
    pub title: String,
    /// The path of the unit it covers, with every unit below it.
    pub unit_path: String,
    /// The `shown` fields as "name：label", e.g. "值班等级：一级：主要领导 24 小时带班".
    pub shown: Vec<String>,
    pub fields: BTreeMap<String, Value>,
}

impl Covering {
    /// Whether it covers the unit with this path.
    pub fn covers(&self, unit_path: &str) -> bool {
        unit_path.starts_with(&self.unit_path)
    }

    /// One line for a page: code, title and the shown fields.
    pub fn summary(&self) -> String {
        format!("{} {}（{}）", self.code, self.title, self.shown.join("；"))
    }
}

impl Service {
    /// Every case of a covering kind (or of `kind` only) that applied at `at`, as it stood then. Plans are few
    /// (a handful a year per unit), so each one's events are folded again.
    pub async fn coverings(&self, kind: Option<&str>, at: DateTime<Utc>) -> DomainResult<Vec<Covering>> {
        let day = at.with_timezone(&china_tz()).date_naive();
        let kinds: Vec<String> = self
            .workflows
            .all()
            .filter(|d| d.covers.is_some() && kind.is_none_or(|k| k == d.kind))
            .map(|d| d.kind.clone())
            .collect();
        let units: BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.path)).collect();
        let mut out = Vec::new();
        for kind in kinds {
            let mut after = 0;
            loop {
                let rows = self.store.cases_created_since(&kind, DateTime::UNIX_EPOCH, after, 500).await.map_err(se)?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in rows.into_iter().filter(|r| r.created_at <= at) {
                    let Some(state) = self.state_as_of(&row, at).await? else { continue };
                    // A plan opened under a version without `covers` follows the current definition's rule.
                    let def = self.workflows.get_version(&kind, state.workflow_version)?;
                    let current = self.workflows.get(&kind)?;
                    let Some(covers) = def.covers.as_ref().or(current.covers.as_ref()) else { continue };
                    let Some(unit_id) = covers.unit_on(&state, day) else { continue };
                    let Some(unit_path) = units.get(&unit_id).cloned() else { continue };
                    let shown = covers
                        .shown
                        .iter()
                        .filter_map(|f| {
                            let field = def.field(f)?;
                            let label = field.options.get(state.field_str(f)?)?;
                            Some(format!("{}：{label}", field.name))
                        })
                        .collect();
                    out.push(Covering {
                        code: row.code.clone(),
                        title: state.field_str("title").unwrap_or(&row.title).to_string(),
                        unit_path,
                        shown,
                        fields: state.fields,
                    });
                }
            }
        }
        Ok(out)
    }
}
