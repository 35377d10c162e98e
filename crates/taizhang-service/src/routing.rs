//! A locality's routing table (`<data>/routing.toml`): which department usually takes which matter, e.g. grid
//! event subclasses to the city-management or housing bureau. It only fills in a suggestion on the action's
//! form (the dispatcher still chooses and the history records what was chosen), so it is plain data outside
//! the versioned workflow definitions and may change at any time.
//!
//! ```toml
//! [[rules]]
//! kind = "grid_event"
//! action = "dispatch"
//! field = "target_unit"
//! when = { subclass = ["exposed_garbage", "street_vending"] }
//! unit = "349901-CG"          # a unit code
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use taizhang_domain::workflow::{FieldType, Registry};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingTable {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub kind: String,
    pub action: String,
    /// A field of type `unit` of that action.
    pub field: String,
    /// Case fields and the values this rule is for.
    pub when: BTreeMap<String, Vec<String>>,
    /// The suggested unit, by its code.
    pub unit: String,
}

impl RoutingTable {
    /// Reads `<data>/routing.toml` (none: no suggestions) and checks it against the definitions.
    pub fn load(dir: &Path, workflows: &Registry) -> DomainResult<RoutingTable> {
        let path = dir.join("routing.toml");
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(RoutingTable::default()) };
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, format!("{} 有误：{m}", path.display()));
        let table: RoutingTable = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for r in &table.rules {
            let def = workflows.get(&r.kind).map_err(|e| bad(e.message))?;
            let action = def.action(&r.action).ok_or_else(|| bad(format!("{} 没有动作 {}", def.name, r.action)))?;
            let takes = action.requires.contains(&r.field) || action.optional.contains(&r.field);
            if !takes || def.field(&r.field).map(|f| f.ty) != Some(FieldType::Unit) {
                return Err(bad(format!("动作 {} 没有单位字段 {}", r.action, r.field)));
            }
            if let Some(f) = r.when.keys().find(|f| def.field(f).is_none()) {
                return Err(bad(format!("{} 没有字段 {f}", def.name)));
            }
        }
        Ok(table)
    }

    /// The unit codes suggested for `action`'s fields on a case of `kind` with these fields (first rule wins).
    pub fn suggestions(&self, kind: &str, action: &str, fields: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in self.rules.iter().filter(|r| r.kind == kind && r.action == action) {
            let applies = r.when.iter().all(|(f, allowed)| {
                fields.get(f).and_then(|v| v.as_str()).is_some_and(|v| allowed.iter().any(|a| a == v))
            });
            if applies {
                out.entry(r.field.clone()).or_insert_with(|| r.unit.clone());
            }
        }
        out
    }
}
