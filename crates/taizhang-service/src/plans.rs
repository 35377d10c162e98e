//! Plans (`<data>/plans.toml`): a locality's emergency plans (预案) and other work plans, each a list of steps.
//! An action with `opens` (e.g. 启动应急预案 on an incident) names a plan; the service opens one case of the
//! rule's kind per step, in the same transaction as the action, each linked to the case the plan was
//! activated on. A step is simply the intake fields of the case it opens (a `unit` field by the unit's code),
//! so plans hold no kind-specific structure and are checked against the kind's intake at start.
//!
//! ```toml
//! [[plans]]
//! id = "flood_iv"
//! name = "防汛Ⅳ级应急响应"
//! on = "incident"                 # the kind it is activated on
//! [[plans.steps]]
//! title = "通知防汛指挥部成员单位到岗到位"
//! owner_unit = "349901-YJ"        # unit code
//! within_minutes = 30
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use taizhang_domain::workflow::{self, FieldType, Registry};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plans {
    #[serde(default)]
    pub plans: Vec<Plan>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// The kind of case the plan is activated on.
    pub on: String,
    pub steps: Vec<Map<String, Value>>,
}

impl Plans {
    /// Reads `<data>/plans.toml` (none: no plans) and checks every step against the intake of the kind it
    /// opens: only that intake's fields, and every required one except the link to the activating case.
    pub fn load(dir: &Path, workflows: &Registry) -> DomainResult<Plans> {
        let path = dir.join("plans.toml");
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Plans::default()) };
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, format!("{} 有误：{m}", path.display()));
        let plans: Plans = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for (i, p) in plans.plans.iter().enumerate() {
            if plans.plans[..i].iter().any(|q| q.id == p.id) {
                return Err(bad(format!("预案 {} 重复定义", p.id)));
            }
            let on = workflows.get(&p.on).map_err(|e| bad(e.message))?;
            let Some(rule) = on.actions.iter().find_map(|a| a.opens.as_ref()) else {
                return Err(bad(format!("{}没有启动预案的动作（opens）", on.name)));
            };
            let opened = workflows.get(&rule.kind).map_err(|e| bad(e.message))?;
            if p.steps.is_empty() {
                return Err(bad(format!("预案 {} 没有步骤", p.id)));
            }
            for (n, step) in p.steps.iter().enumerate() {
                let mut fields = step.clone();
                for f in &opened.fields {
                    if f.ty == FieldType::Unit && fields.contains_key(&f.id) {
                        // Unit codes are resolved at activation; any positive id passes the type check here.
                        fields.insert(f.id.clone(), Value::from(1));
                    }
                }
                if let Some(parent) = opened.parent_field() {
                    fields.insert(parent.id.clone(), Value::from(1));
                }
                let (_, problems) = workflow::payload_problems(opened, opened.intake_action(), &fields);
                if let Some(e) = problems.first() {
                    return Err(bad(format!("预案 {} 第 {} 步：{}", p.id, n + 1, e.message)));
                }
            }
        }
        Ok(plans)
    }

    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plans that may be activated on a case of `kind`, as (id, name).
    pub fn for_kind(&self, kind: &str) -> Vec<(String, String)> {
        self.plans.iter().filter(|p| p.on == kind).map(|p| (p.id.clone(), p.name.clone())).collect()
    }
}
