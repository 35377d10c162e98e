//! Case kinds as data: the workflow definition format, its validation, and the pure engine that checks an
//! action against a case and folds events into the case's current state.
//!
//! A definition (one TOML file per case kind, see `workflows/petition.toml`) names the case's fields, its
//! states, its clocks, and its actions. An action says from which states it may be taken, by which roles, what
//! it requires, which clocks it starts, stops, pauses or resumes, and which documents it produces. Nothing here
//! knows about petitions in particular: a new case kind, or a province's rule, is a new file.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::access::Role;
use crate::calendar::HolidayCalendar;
use crate::deadline::{self, ClockStatus, Due, Period, PeriodUnit};
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::region::Region;

/// The longest free text a field accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

// ---------------------------------------------------------------------------------------------------------
// The definition format
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDef {
    pub kind: String,
    pub name: String,
    pub version: u32,
    /// Prefix of case codes (receipt numbers), e.g. `XF` → XF20261121000042.
    pub code_prefix: String,
    /// The action that creates a case of this kind.
    pub intake: String,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    pub states: Vec<StateDef>,
    #[serde(default)]
    pub clocks: Vec<ClockDef>,
    pub actions: Vec<ActionDef>,
    #[serde(default)]
    pub documents: Vec<DocumentDef>,
    /// Province/city rules that replace a clock's period or extension limit, e.g. Zhejiang's 30 + 60 days.
    #[serde(default)]
    pub region_overrides: Vec<RegionOverride>,
    /// Rules for cases whose fields match, e.g. one grid event subclass's own handling time limit.
    #[serde(default)]
    pub field_overrides: Vec<FieldOverride>,
    /// For kinds run as a closed loop (grid events): what the loop indicators count.
    #[serde(default)]
    pub closed_loop: Option<crate::indicators::ClosedLoop>,
    /// The parties a case of this kind names, by role (e.g. a dispute's 申请人 and 被申请人). Empty: at most one
    /// party, the petitioner (信访人).
    #[serde(default)]
    pub parties: Vec<PartyRoleDef>,
    /// Kinds a case of this kind may be opened from (e.g. a dispute from a petition); the new case names its
    /// source in the intake field bound to `parent`, and both stay linked.
    #[serde(default)]
    pub opened_from: Vec<String>,
    /// For periodic reports (a monthly sweep): the period's fields, the due day, the unit levels that report.
    #[serde(default)]
    pub periodic: Option<crate::periodic::Periodic>,
    /// For kinds whose cases apply to a unit and the units below it over a span of days (a special period's
    /// plan): shown on those units' duty pages, and able to require extra rounds of a periodic report.
    #[serde(default)]
    pub covers: Option<Covers>,
    /// Cases of this kind opened again from the same case rise in level (催办 → 督办 → 挂牌督办).
    #[serde(default)]
    pub repeats: Option<Repeats>,
}

/// A choice field whose options, in `order`, are rising levels: a case opened from a case that already has
/// cases of this kind must be at least one level above the highest of them (the top level stays the top).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeats {
    pub field: String,
    pub order: Vec<String>,
}

impl Repeats {
    /// The lowest level allowed for a new case, given the levels of the earlier ones opened from the same case.
    pub fn lowest_allowed<'a>(&'a self, earlier: &[&str]) -> Option<&'a str> {
        let highest = earlier.iter().filter_map(|l| self.order.iter().position(|o| o == l)).max()?;
        Some(&self.order[(highest + 1).min(self.order.len() - 1)])
    }

    /// Whether `level` is at least `lowest`.
    pub fn at_least(&self, level: &str, lowest: &str) -> bool {
        let pos = |l: &str| self.order.iter().position(|o| o == l);
        pos(level).is_some_and(|a| pos(lowest).is_some_and(|b| a >= b))
    }
}

/// A case of this kind covers the unit in `unit_field` and every unit below it, on each day from `from_field`
/// to `to_field` (inclusive), while it is in one of `states`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Covers {
    pub unit_field: String,
    pub from_field: String,
    pub to_field: String,
    pub states: Vec<String>,
    /// Choice fields shown (as their labels) wherever the coverage is shown, e.g. the duty level.
    #[serde(default)]
    pub shown: Vec<String>,
}

/// One role a case's parties may have, and how many parties of that role a case names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRoleDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub min: u32,
    pub max: u32,
}

/// The party role of kinds that declare none.
pub const PETITIONER: &str = "petitioner";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    LongText,
    Choice,
    Int,
    Date,
    Unit,
    Units,
    User,
    Users,
    Case,
    /// A unit grid (网格) by its 15-digit code, one of the grids registered for the deployment.
    Grid,
    /// A registered site (场所: a school, a market, a building site) by its code; the site's sector decides
    /// which inspection checklist applies.
    Site,
    /// The answers to the inspection checklist of the sector of the kind's `site` field (`checklist.rs`).
    Checklist,
    /// A resident's confirmed appointment request (约访) on the case this one is opened from, by its number;
    /// opening the case marks the request held (已接待). Only in the intake action of a kind with a parent.
    Booking,
}

/// How a field's value changes who is responsible for the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldBinding {
    /// The unit responsible for handling (承办单位).
    HandlingUnit,
    /// Co-handling units (协办单位): may view and add notes; responsibility stays with the lead unit.
    CohandlingUnits,
    /// The unit accused in an accusation; barred from the material (Art. 30).
    AccusedUnit,
    /// Staff accused in an accusation; barred from the material and recused from the case.
    AccusedUsers,
    /// The case this one was opened from (a `case` field); the two are shown linked to each other.
    Parent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// For `choice`: value → Chinese label.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub max: Option<i64>,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub binds: Option<FieldBinding>,
    /// Shown to the resident on the portal (replies, outcomes); other fields are internal.
    #[serde(default)]
    pub public: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub terminal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// A duty on staff: overdue is a failure of the unit responsible.
    Obligation,
    /// A window for the resident (e.g. to request review): when it ends it simply closes.
    Window,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockDef {
    pub id: String,
    pub name: String,
    pub amount: u32,
    pub unit: PeriodUnit,
    #[serde(default = "default_clock_kind")]
    pub kind: ClockKind,
    /// How long before the due time the clock turns "due soon"; same unit as the clock (working days count as
    /// calendar days here). Defaults to a fifth of the period, at least 1.
    #[serde(default)]
    pub warn_before: Option<u32>,
    /// Upper bound of one approved extension, in the clock's unit (none: not extendable).
    #[serde(default)]
    pub max_extension: Option<u32>,
    /// The clock only starts for cases whose fields match.
    #[serde(default)]
    pub applies_when: BTreeMap<String, Vec<String>>,
    /// An integer field that, when set on the case, gives the period's amount (e.g. a task's own time limit
    /// taken from the plan step that created it); it beats every other rule.
    #[serde(default)]
    pub amount_field: Option<String>,
    /// Where the rule comes from, shown to users.
    #[serde(default)]
    pub source: Option<String>,
}

fn default_clock_kind() -> ClockKind {
    ClockKind::Obligation
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorUnit {
    /// Anyone whose data scope includes the case.
    #[default]
    Scope,
    /// Only staff of the handling unit (or units below it).
    Handling,
    /// Staff of the handling unit or a co-handling unit.
    HandlingOrCohandling,
    /// Staff of a unit above the handling unit (the next-higher organ that reviews its handling).
    AboveHandling,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRule {
    pub clock: String,
    /// The field carrying the number of units to extend by.
    pub field: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    pub id: String,
    pub name: String,
    /// States the action may be taken from; empty only for the intake action.
    #[serde(default)]
    pub from: Vec<String>,
    /// Resulting state; absent means the state does not change (notes, ratings…).
    #[serde(default)]
    pub to: Option<String>,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub by: ActorUnit,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub optional: Vec<String>,
    /// The action only applies to cases whose fields match, e.g. `{ matter_type = ["claim"] }`.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// A window clock that must be open (running and not past due) for the action to be taken.
    #[serde(default)]
    pub within: Option<String>,
    /// Window clocks that must have ended (stopped, or run past due) if the case has them, e.g. the resident's
    /// window to request review before a case may be closed.
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub start: Vec<String>,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub pause: Vec<String>,
    #[serde(default)]
    pub resume: Vec<String>,
    #[serde(default)]
    pub extends: Option<ExtensionRule>,
    /// A request for an extension: checked against the limit like `extends`, but extends nothing yet.
    #[serde(default)]
    pub proposes: Option<ExtensionRule>,
    #[serde(default)]
    pub documents: Vec<String>,
    /// May be taken at most once per case.
    #[serde(default)]
    pub once: bool,
    /// Attaches this case to another as a duplicate (重复件); the field names the original case.
    #[serde(default)]
    pub duplicate_of: Option<String>,
    /// Internal working steps (notes) are left out of the resident's timeline.
    #[serde(default)]
    pub internal: bool,
    /// Records the acting unit under this name (e.g. the organ that issued the 复查 opinion).
    #[serde(default)]
    pub record_unit: Option<String>,
    /// Opens one case of another kind per step of a plan (e.g. an emergency plan's tasks), linked to this one,
    /// in the same transaction. The plan is named by a text field; plans are the deployment's data.
    #[serde(default)]
    pub opens: Option<OpensRule>,
    /// A timer: the system takes this action when the named obligation clock runs past its due time while the
    /// case is in one of `from` (e.g. an unacknowledged alert going to the next rung of an escalation ladder).
    /// Such an action has no roles; it must stop or restart its clock so that it fires once per run.
    #[serde(default)]
    pub on_expiry: Option<String>,
    /// Only staff of a unit strictly above the unit recorded under this name may act (e.g. 复核 is for the
    /// organ above the one that reviewed).
    #[serde(default)]
    pub above: Option<String>,
    /// Who is told in the workspace when the action is taken (by anyone, the system's timers included): e.g.
    /// each rung of an escalation ladder tells whoever is on duty at that rung.
    #[serde(default)]
    pub notify: Vec<NotifyRule>,
}

/// One recipient group of an action's notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRule {
    pub to: NotifyWho,
    #[serde(default)]
    pub at: NotifyAt,
    /// Only for cases whose fields (after the action) match, e.g. `{ level = ["listed"] }`.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
}

impl NotifyRule {
    /// Whether the rule applies to a case with these fields.
    pub fn applies(&self, fields: &BTreeMap<String, Value>) -> bool {
        matches(&self.when, fields)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyWho {
    /// The officer on duty (值班员) at that unit now, by its duty roster.
    DutyOfficer,
    /// The leader on duty (带班领导) at that unit now.
    DutyLeader,
    /// Every leader of that unit.
    Leaders,
    /// Everyone working in that unit.
    Staff,
    /// That unit's first-responsible person (第一责任人) by its responsibility roster.
    FirstResponsible,
    /// That unit's directly responsible person(s) (直接责任人) by its responsibility roster.
    DirectResponsible,
}

/// Whose unit: the handling unit, or the unit directly above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyAt {
    #[default]
    Handling,
    AboveHandling,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpensRule {
    /// The kind of the cases opened; it must list this kind in its `opened_from`.
    pub kind: String,
    /// The (text) field naming the plan.
    pub plan_field: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentDef {
    pub id: String,
    pub name: String,
    /// The abbreviation used in document numbers, e.g. `受` → 〔2026〕受12号.
    pub abbrev: String,
    /// The text, one paragraph per line. `{field}` takes the case's field (choices in words); also `{code}`,
    /// `{petitioner}` (masked name), `{unit}` (the issuing unit), `{handling_unit}`, `{registered_date}`.
    #[serde(default)]
    pub body: String,
}

impl DocumentDef {
    /// Fills the body's placeholders from `values`; unknown placeholders become empty.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = String::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            match rest[start + 1..].find('}') {
                Some(len) => {
                    let key = &rest[start + 1..start + 1 + len];
                    out.push_str(values.get(key).map(String::as_str).unwrap_or(""));
                    rest = &rest[start + 1 + len + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionOverride {
    /// A 6-digit administrative code; a province code applies to the whole province.
    pub region: String,
    pub clock: String,
    #[serde(default)]
    pub amount: Option<u32>,
    #[serde(default)]
    pub unit: Option<PeriodUnit>,
    #[serde(default)]
    pub max_extension: Option<u32>,
    pub source: String,
}

/// A clock rule for the cases whose fields match `when` (applied after the region rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldOverride {
    pub clock: String,
    pub when: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub amount: Option<u32>,
    #[serde(default)]
    pub unit: Option<PeriodUnit>,
    #[serde(default)]
    pub max_extension: Option<u32>,
    pub source: String,
}

// ---------------------------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------------------------

fn invalid(file: &str, msg: impl AsRef<str>) -> DomainError {
    DomainError::new(ErrorCode::WorkflowInvalid, format!("流程定义 {file} 有误：{}", msg.as_ref()))
}

impl WorkflowDef {
    /// Parses and validates a definition. `file` names the source in error messages.
    pub fn from_toml(file: &str, text: &str) -> DomainResult<WorkflowDef> {
        let def: WorkflowDef = toml::from_str(text).map_err(|e| invalid(file, format!("无法解析：{e}")))?;
        def.validate(file)?;
        Ok(def)
    }

    pub fn state(&self, id: &str) -> Option<&StateDef> {
        self.states.iter().find(|s| s.id == id)
    }
    pub fn action(&self, id: &str) -> Option<&ActionDef> {
        self.actions.iter().find(|a| a.id == id)
    }
    pub fn clock(&self, id: &str) -> Option<&ClockDef> {
        self.clocks.iter().find(|c| c.id == id)
    }
    pub fn field(&self, id: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.id == id)
    }
    pub fn document(&self, id: &str) -> Option<&DocumentDef> {
        self.documents.iter().find(|d| d.id == id)
    }
    /// States a case reaches by being attached to another as a duplicate.
    pub fn is_duplicate_state(&self, state: &str) -> bool {
        self.actions.iter().any(|a| a.duplicate_of.is_some() && a.to.as_deref() == Some(state))
    }

    /// The field naming the case this one was opened from (`binds = "parent"`), if the kind has one.
    pub fn parent_field(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.binds == Some(FieldBinding::Parent))
    }

    /// The kind's site field (at most one, by validation).
    pub fn site_field(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.ty == FieldType::Site)
    }

    pub fn intake_action(&self) -> &ActionDef {
        self.action(&self.intake).expect("validated: intake action exists")
    }

    /// Checks every cross-reference and that every state can be reached and left (unless terminal).
    pub fn validate(&self, file: &str) -> DomainResult<()> {
        let err = |m: String| Err(invalid(file, m));
        if self.kind.is_empty() || !self.kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return err(format!("kind “{}” 只能由小写字母和下划线组成", self.kind));
        }
        check_unique(file, "状态", self.states.iter().map(|s| s.id.as_str()))?;
        check_unique(file, "动作", self.actions.iter().map(|a| a.id.as_str()))?;
        check_unique(file, "时限", self.clocks.iter().map(|c| c.id.as_str()))?;
        check_unique(file, "字段", self.fields.iter().map(|f| f.id.as_str()))?;
        check_unique(file, "文书", self.documents.iter().map(|d| d.id.as_str()))?;

        if self.code_prefix.is_empty()
            || self.code_prefix.len() > 6
            || !self.code_prefix.chars().all(|c| c.is_ascii_uppercase())
        {
            return err(format!("code_prefix “{}” 应为 1–6 个大写字母", self.code_prefix));
        }
        for f in &self.fields {
            if f.ty == FieldType::Choice && f.options.is_empty() {
                return err(format!("选项字段 {} 没有列出任何选项", f.id));
            }
            let fits = match f.binds {
                None => true,
                Some(FieldBinding::HandlingUnit | FieldBinding::AccusedUnit) => f.ty == FieldType::Unit,
                Some(FieldBinding::CohandlingUnits) => f.ty == FieldType::Units,
                Some(FieldBinding::AccusedUsers) => f.ty == FieldType::Users,
                Some(FieldBinding::Parent) => f.ty == FieldType::Case,
            };
            if !fits {
                return err(format!("字段 {} 的类型与其 binds 不符", f.id));
            }
        }
        let sites = self.fields.iter().filter(|f| f.ty == FieldType::Site).count();
        if sites > 1 {
            return err("最多只能有一个场所（site）字段".into());
        }
        if sites == 0 && self.fields.iter().any(|f| f.ty == FieldType::Checklist) {
            return err("检查表（checklist）字段需要一个场所（site）字段来确定行业领域".into());
        }
        let Some(intake) = self.action(&self.intake) else {
            return err(format!("登记动作 {} 未定义", self.intake));
        };
        if !intake.from.is_empty() {
            return err(format!("登记动作 {} 不应有起始状态（from）", intake.id));
        }
        if intake.to.is_none() {
            return err(format!("登记动作 {} 必须指定登记后的状态（to）", intake.id));
        }
        for f in self.fields.iter().filter(|f| f.ty == FieldType::Booking) {
            let elsewhere = self
                .actions
                .iter()
                .filter(|a| a.id != intake.id)
                .any(|a| a.requires.contains(&f.id) || a.optional.contains(&f.id));
            if self.parent_field().is_none() || elsewhere {
                return err(format!(
                    "约访（booking）字段 {} 只能用于登记动作，且案件类型须有 binds = \"parent\" 的字段",
                    f.id
                ));
            }
        }
        let check_cond = |ctx: &str, cond: &BTreeMap<String, Vec<String>>| -> DomainResult<()> {
            for (field, values) in cond {
                let Some(f) = self.field(field) else {
                    return Err(invalid(file, format!("{ctx} 的条件引用了未定义的字段 {field}")));
                };
                for v in values {
                    if f.ty == FieldType::Choice && !f.options.contains_key(v) {
                        return Err(invalid(file, format!("{ctx} 的条件中，字段 {field} 没有选项 {v}")));
                    }
                }
            }
            Ok(())
        };
        for c in &self.clocks {
            if c.amount == 0 {
                return err(format!("时限 {} 的期限不能为 0", c.id));
            }
            check_cond(&format!("时限 {}", c.id), &c.applies_when)?;
            if let Some(f) = &c.amount_field
                && !self.field(f).is_some_and(|f| f.ty == FieldType::Int && f.min.is_some_and(|m| m >= 1))
            {
                return err(format!("时限 {} 的 amount_field {f} 必须是最小值不小于 1 的整数字段", c.id));
            }
        }
        check_unique(file, "当事人角色", self.parties.iter().map(|p| p.id.as_str()))?;
        for p in &self.parties {
            if p.max == 0 || p.min > p.max {
                return err(format!("当事人角色 {} 的人数范围有误（min {}，max {}）", p.id, p.min, p.max));
            }
        }
        let parent_fields: Vec<&FieldDef> =
            self.fields.iter().filter(|f| f.binds == Some(FieldBinding::Parent)).collect();
        if parent_fields.len() > 1 {
            return err("至多一个字段可以 binds = \"parent\"".to_string());
        }
        if !self.opened_from.is_empty()
            && !parent_fields
                .first()
                .is_some_and(|f| intake.requires.contains(&f.id) || intake.optional.contains(&f.id))
        {
            return err("opened_from 需要登记动作接受一个 binds = \"parent\" 的案件字段".to_string());
        }
        for a in &self.actions {
            let ctx = format!("动作 {}", a.id);
            match &a.on_expiry {
                None if a.roles.is_empty() => return err(format!("{ctx} 没有指定可执行的角色")),
                None => {}
                Some(_) if !a.roles.is_empty() => {
                    return err(format!("{ctx} 由系统在时限届满时执行（on_expiry），不应指定角色"));
                }
                Some(c) => match self.clock(c) {
                    None => return err(format!("{ctx} 的 on_expiry 引用了未定义的时限 {c}")),
                    Some(clock) if clock.kind != ClockKind::Obligation => {
                        return err(format!("{ctx} 的 on_expiry 必须是办理时限（kind = \"obligation\"）：{c}"));
                    }
                    Some(_) if !a.stop.contains(c) && !a.start.contains(c) => {
                        return err(format!("{ctx} 必须停止或重新开始它所等待的时限 {c}，否则会反复触发"));
                    }
                    Some(_) if !a.requires.is_empty() || a.id == self.intake => {
                        return err(format!("{ctx} 由系统执行，不能是登记动作，也不能要求填写字段"));
                    }
                    Some(_) => {}
                },
            }
            if !a.notify.is_empty() && !self.fields.iter().any(|f| f.binds == Some(FieldBinding::HandlingUnit)) {
                return err(format!("{ctx} 要通知承办单位的人员（notify），但本类案件没有承办单位字段"));
            }
            if a.id != self.intake && a.from.is_empty() {
                return err(format!("{ctx} 没有指定起始状态（from）"));
            }
            for s in a.from.iter().chain(a.to.iter()) {
                if self.state(s).is_none() {
                    return err(format!("{ctx} 引用了未定义的状态 {s}"));
                }
            }
            for s in &a.from {
                if self.state(s).is_some_and(|st| st.terminal) {
                    return err(format!("{ctx} 不能从终结状态 {s} 出发"));
                }
            }
            for f in a.requires.iter().chain(a.optional.iter()) {
                if self.field(f).is_none() {
                    return err(format!("{ctx} 引用了未定义的字段 {f}"));
                }
            }
            for c in a.start.iter().chain(&a.stop).chain(&a.pause).chain(&a.resume).chain(a.within.iter()) {
                if self.clock(c).is_none() {
                    return err(format!("{ctx} 引用了未定义的时限 {c}"));
                }
            }
            for w in &a.after {
                match self.clock(w) {
                    None => return err(format!("{ctx} 引用了未定义的时限 {w}")),
                    Some(c) if c.kind != ClockKind::Window => {
                        return err(format!("{ctx} 的 after 必须是申请期限（kind = \"window\"）：{w}"));
                    }
                    _ => {}
                }
            }
            for ext in a.extends.iter().chain(a.proposes.iter()) {
                match self.clock(&ext.clock) {
                    None => return err(format!("{ctx} 延长了未定义的时限 {}", ext.clock)),
                    Some(c) if c.max_extension.is_none() => {
                        return err(format!("{ctx} 延长的时限 {} 未规定最长延期（max_extension）", c.id));
                    }
                    _ => {}
                }
                if !a.requires.contains(&ext.field) || self.field(&ext.field).is_some_and(|f| f.ty != FieldType::Int) {
                    return err(format!("{ctx} 的延期天数字段 {} 必须是整数字段并列在 requires 中", ext.field));
                }
            }
            if let Some(d) = &a.duplicate_of
                && (!self.field(d).is_some_and(|f| f.ty == FieldType::Case) || !a.requires.contains(d))
            {
                return err(format!("{ctx} 的 duplicate_of 必须是 requires 中的案件字段"));
            }
            if let Some(o) = &a.opens
                && (!a.requires.contains(&o.plan_field)
                    || !self.field(&o.plan_field).is_some_and(|f| f.ty == FieldType::Text))
            {
                return err(format!("{ctx} 的 opens.plan_field 必须是 requires 中的文字字段"));
            }
            if let Some(name) = &a.above
                && !self.actions.iter().any(|b| b.record_unit.as_deref() == Some(name))
            {
                return err(format!("{ctx} 的 above 引用了没有任何动作记录的单位 {name}"));
            }
            for d in &a.documents {
                if self.document(d).is_none() {
                    return err(format!("{ctx} 产生了未定义的文书 {d}"));
                }
            }
            check_cond(&ctx, &a.when)?;
            for n in &a.notify {
                check_cond(&format!("{ctx} 的通知"), &n.when)?;
            }
        }
        for o in &self.region_overrides {
            Region::parse(&o.region).map_err(|e| invalid(file, format!("地区规则：{}", e.message)))?;
            if self.clock(&o.clock).is_none() {
                return err(format!("地区 {} 的规则引用了未定义的时限 {}", o.region, o.clock));
            }
            if o.amount == Some(0) {
                return err(format!("地区 {} 对时限 {} 的期限不能为 0", o.region, o.clock));
            }
        }

        for o in &self.field_overrides {
            if self.clock(&o.clock).is_none() {
                return err(format!("按字段的时限规则引用了未定义的时限 {}", o.clock));
            }
            if o.amount == Some(0) {
                return err(format!("按字段的时限规则对时限 {} 的期限不能为 0", o.clock));
            }
            if o.when.is_empty() {
                return err(format!("按字段的时限规则（时限 {}）没有条件 when", o.clock));
            }
            check_cond(&format!("时限 {} 的按字段规则", o.clock), &o.when)?;
        }

        if let Some(p) = &self.periodic {
            p.check().or_else(err)?;
            for f in [&p.year_field, &p.month_field].into_iter().flatten() {
                if !self.field(f).is_some_and(|d| d.ty == FieldType::Int) || !intake.requires.contains(f) {
                    return err(format!("periodic 的字段 {f} 必须是登记动作 requires 中的整数字段"));
                }
            }
            if let Some(f) = &p.date_field
                && (!self.field(f).is_some_and(|d| d.ty == FieldType::Date) || !intake.requires.contains(f))
            {
                return err(format!("periodic 的字段 {f} 必须是登记动作 requires 中的日期字段"));
            }
            if let Some(f) = &p.result_field
                && !self.field(f).is_some_and(|d| d.ty == FieldType::Choice)
            {
                return err(format!("periodic 的 result_field {f} 必须是选项字段"));
            }
            if let Some(f) = &p.round_field {
                let ids: BTreeSet<&str> = p.rounds.iter().map(|r| r.id.as_str()).collect();
                if !self
                    .field(f)
                    .is_some_and(|d| d.ty == FieldType::Choice && d.options.keys().map(String::as_str).eq(ids))
                {
                    return err(format!("periodic 的 round_field {f} 必须是选项字段，选项恰为各轮次的 id"));
                }
            }
        }
        if let Some(c) = &self.covers {
            let typed = |f: &str, ty: FieldType| self.field(f).is_some_and(|d| d.ty == ty);
            if !typed(&c.unit_field, FieldType::Unit) {
                return err(format!("covers 的 unit_field {} 必须是单位字段", c.unit_field));
            }
            if !typed(&c.from_field, FieldType::Date) || !typed(&c.to_field, FieldType::Date) {
                return err("covers 的 from_field、to_field 必须是日期字段".to_string());
            }
            if c.states.is_empty() {
                return err("covers 的 states 不能为空".to_string());
            }
            if let Some(bad) = c.states.iter().find(|st| self.state(st).is_none()) {
                return err(format!("covers 引用了未定义的状态 {bad}"));
            }
            if let Some(bad) = c.shown.iter().find(|f| !typed(f, FieldType::Choice)) {
                return err(format!("covers 的 shown 字段 {bad} 必须是选项字段"));
            }
        }
        if let Some(r) = &self.repeats {
            let intake = self.intake_action();
            let choice = self.field(&r.field).filter(|f| f.ty == FieldType::Choice);
            let same = choice
                .is_some_and(|f| r.order.len() == f.options.len() && r.order.iter().all(|o| f.options.contains_key(o)));
            if !same || !intake.requires.contains(&r.field) {
                return err(format!("repeats 的 field {} 必须是登记时必填的选项字段，order 恰为其全部选项", r.field));
            }
            if self.opened_from.is_empty() {
                return err("repeats 只用于从其他案件新建的类别（opened_from）".to_string());
            }
        }
        if let Some(lp) = &self.closed_loop {
            if self.action(&lp.register).is_none() || lp.rework.as_ref().is_some_and(|r| self.action(r).is_none()) {
                return err("closed_loop 引用了未定义的动作".to_string());
            }
            if self.clock(&lp.handling_clock).is_none() {
                return err(format!("closed_loop 引用了未定义的时限 {}", lp.handling_clock));
            }
            let states = [Some(&lp.closed_state), Some(&lp.void_state), lp.suspended_state.as_ref()];
            if let Some(bad) = states.into_iter().flatten().find(|st| self.state(st).is_none()) {
                return err(format!("closed_loop 引用了未定义的状态 {bad}"));
            }
        }

        // Reachability from the intake state.
        let mut reached: HashSet<&str> = HashSet::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        let first = intake.to.as_deref().expect("checked above");
        reached.insert(first);
        queue.push_back(first);
        while let Some(s) = queue.pop_front() {
            for a in self.actions.iter().filter(|a| a.from.iter().any(|f| f == s)) {
                if let Some(t) = a.to.as_deref()
                    && reached.insert(t)
                {
                    queue.push_back(t);
                }
            }
        }
        for s in &self.states {
            if !reached.contains(s.id.as_str()) {
                return err(format!("状态 {}（{}）无法从登记状态到达", s.id, s.name));
            }
            let leaves = self
                .actions
                .iter()
                .any(|a| a.from.iter().any(|f| f == &s.id) && a.to.as_deref().is_some_and(|t| t != s.id));
            if !s.terminal && !leaves {
                return err(format!("状态 {}（{}）不是终结状态，却没有任何动作能离开它", s.id, s.name));
            }
        }
        Ok(())
    }

    /// The period and extension limit of a clock for a case in `region`, after province and city overrides
    /// (a city's rule beats its province's).
    pub fn clock_rule(
        &self,
        clock: &ClockDef,
        region: Option<&Region>,
        fields: &BTreeMap<String, Value>,
    ) -> (Period, Option<u32>, Option<String>) {
        // Every region rule whose region contains the case's (a province's covers its cities and counties, a
        // city's its counties), from the widest to the most specific, file order breaking ties; then the rules
        // for particular cases (e.g. a grid event subclass's limit), the most specific of all.
        let mut regional: Vec<(usize, &RegionOverride)> = match region {
            Some(region) => self
                .region_overrides
                .iter()
                .filter(|o| o.clock == clock.id)
                .filter_map(|o| {
                    let r = Region::parse(&o.region).ok()?;
                    r.contains(region).then(|| (r.code().trim_end_matches("00").len(), o))
                })
                .collect(),
            None => vec![],
        };
        regional.sort_by_key(|(specificity, _)| *specificity);
        let rules = regional.into_iter().map(|(_, o)| (o.amount, o.unit, o.max_extension, &o.source)).chain(
            self.field_overrides
                .iter()
                .filter(|o| o.clock == clock.id && matches(&o.when, fields))
                .map(|o| (o.amount, o.unit, o.max_extension, &o.source)),
        );
        let mut period = Period { amount: clock.amount, unit: clock.unit };
        let mut max_ext = clock.max_extension;
        let mut source = clock.source.clone();
        for (amount, unit, max_extension, src) in rules {
            period.amount = amount.unwrap_or(period.amount);
            period.unit = unit.unwrap_or(period.unit);
            max_ext = max_extension.or(max_ext);
            source = Some(src.clone());
        }
        if let Some(n) = clock.amount_field.as_ref().and_then(|f| fields.get(f)).and_then(|v| v.as_i64()) {
            period.amount = n.clamp(1, u32::MAX as i64) as u32;
        }
        (period, max_ext, source)
    }
}

fn check_unique<'a>(file: &str, what: &str, ids: impl Iterator<Item = &'a str>) -> DomainResult<()> {
    let mut seen = HashSet::new();
    for id in ids {
        if id.is_empty() {
            return Err(invalid(file, format!("{what}的 id 不能为空")));
        }
        if !seen.insert(id) {
            return Err(invalid(file, format!("{what} {id} 重复定义")));
        }
    }
    Ok(())
}

/// The set of definitions a deployment runs with: the current version of each kind (new cases open under it),
/// and every earlier version still needed by cases opened under it (a case keeps the rules it started with).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// kind → (definition, its source text)
    current: BTreeMap<String, (WorkflowDef, String)>,
    versions: BTreeMap<(String, u32), WorkflowDef>,
}

/// Definitions shipped in the binary.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("petition.toml", include_str!("../workflows/petition.toml")),
    ("grid_event.toml", include_str!("../workflows/grid_event.toml")),
    ("hazard.toml", include_str!("../workflows/hazard.toml")),
    ("dispute.toml", include_str!("../workflows/dispute.toml")),
    ("incident.toml", include_str!("../workflows/incident.toml")),
    ("task.toml", include_str!("../workflows/task.toml")),
    ("sweep.toml", include_str!("../workflows/sweep.toml")),
    ("inspection.toml", include_str!("../workflows/inspection.toml")),
    ("daily_report.toml", include_str!("../workflows/daily_report.toml")),
    ("commitment.toml", include_str!("../workflows/commitment.toml")),
    ("reception.toml", include_str!("../workflows/reception.toml")),
    ("special_period.toml", include_str!("../workflows/special_period.toml")),
    ("supervision.toml", include_str!("../workflows/supervision.toml")),
    ("backlog.toml", include_str!("../workflows/backlog.toml")),
    ("target_task.toml", include_str!("../workflows/target_task.toml")),
];

impl Registry {
    /// The embedded defaults, each replaced by a file of the same kind among `overrides` (file name, text) —
    /// a deployment's `workflows/*.toml`. Any invalid file is an error: a deployment never runs half-loaded.
    pub fn load(overrides: &[(String, String)]) -> DomainResult<Registry> {
        let mut reg = Registry::default();
        let embedded = EMBEDDED.iter().map(|(f, t)| (f.to_string(), t.to_string()));
        for (file, text) in embedded.chain(overrides.iter().cloned()) {
            let def = WorkflowDef::from_toml(&file, &text)?;
            reg.current.insert(def.kind.clone(), (def, text));
        }
        for (def, _) in reg.current.values() {
            if let Some(k) = def.opened_from.iter().find(|k| !reg.current.contains_key(k.as_str())) {
                return Err(invalid(&def.kind, format!("opened_from 引用了未定义的案件类型 {k}")));
            }
            let rounds = def.periodic.iter().flat_map(|p| &p.rounds);
            for d in rounds.filter_map(|r| r.during.as_ref()) {
                let field = reg
                    .current
                    .get(&d.kind)
                    .filter(|(k, _)| k.covers.is_some())
                    .and_then(|(k, _)| k.field(&d.field))
                    .filter(|f| f.ty == FieldType::Choice);
                if !field.is_some_and(|f| d.values.iter().all(|v| f.options.contains_key(v))) {
                    return Err(invalid(
                        &def.kind,
                        format!(
                            "periodic 轮次的 during 须引用带 covers 的案件类型的选项字段及其选项：{}.{}",
                            d.kind, d.field
                        ),
                    ));
                }
            }
            for o in def.actions.iter().filter_map(|a| a.opens.as_ref()) {
                if !reg.current.get(&o.kind).is_some_and(|(k, _)| k.opened_from.contains(&def.kind)) {
                    return Err(invalid(
                        &def.kind,
                        format!("opens 引用的案件类型 {} 须存在，并在 opened_from 中列出 {}", o.kind, def.kind),
                    ));
                }
            }
        }
        // Earlier versions join through `add_version`, from what the database recorded.
        reg.versions = reg.current.values().map(|(d, _)| ((d.kind.clone(), d.version), d.clone())).collect();
        Ok(reg)
    }

    pub fn embedded() -> Registry {
        Registry::load(&[]).expect("embedded workflow definitions are valid (tested)")
    }

    /// Adds an earlier version (recorded in the database when it was current) so its cases can go on.
    pub fn add_version(&mut self, file: &str, text: &str) -> DomainResult<()> {
        let def = WorkflowDef::from_toml(file, text)?;
        self.versions.entry((def.kind.clone(), def.version)).or_insert(def);
        Ok(())
    }

    /// The current definition of a kind: what new cases open under.
    pub fn get(&self, kind: &str) -> DomainResult<&WorkflowDef> {
        self.current
            .get(kind)
            .map(|(d, _)| d)
            .ok_or_else(|| DomainError::new(ErrorCode::UnknownCaseKind, format!("未知的案件类型：{kind}")))
    }

    /// The definition a case opened under.
    pub fn get_version(&self, kind: &str, version: u32) -> DomainResult<&WorkflowDef> {
        self.versions.get(&(kind.to_string(), version)).ok_or_else(|| {
            DomainError::new(
                ErrorCode::WorkflowInvalid,
                format!("找不到案件类型 {kind} 第 {version} 版的流程定义（该版本曾被使用，须保留）"),
            )
        })
    }

    /// The current definitions with their source text (recorded by the service so later versions can
    /// coexist with them).
    pub fn current(&self) -> impl Iterator<Item = (&WorkflowDef, &str)> {
        self.current.values().map(|(d, t)| (d, t.as_str()))
    }

    pub fn all(&self) -> impl Iterator<Item = &WorkflowDef> {
        self.current.values().map(|(d, _)| d)
    }

    /// Every loaded version of every kind, current and earlier.
    pub fn all_versions(&self) -> impl Iterator<Item = &WorkflowDef> {
        self.versions.values()
    }
}

// ---------------------------------------------------------------------------------------------------------
// The engine: current state of a case, checking an action, folding events
// ---------------------------------------------------------------------------------------------------------

/// One approved extension of a clock: its own record, never an edit of the due date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub amount: u32,
    /// The approving official (withheld from the resident's view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<i64>,
    pub approved_at: DateTime<Utc>,
    pub reason: Option<String>,
    /// The event that recorded the approval.
    pub event_seq: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockRun {
    pub clock: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Intervals not counted (e.g. hearing time in 复核); an open pause has no end.
    pub pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    pub extensions: Vec<Extension>,
}

/// The current state of a case: a pure fold of its events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CaseState {
    pub kind: String,
    /// The version of the workflow definition the case opened under and follows to the end.
    pub workflow_version: u32,
    pub state: String,
    /// The number of events applied (the case's version for optimistic concurrency).
    pub version: i64,
    pub fields: BTreeMap<String, Value>,
    pub handling_unit: Option<i64>,
    pub cohandling_units: Vec<i64>,
    /// Units recorded by actions (`record_unit`), e.g. `review` → the organ that issued the 复查 opinion.
    #[serde(default)]
    pub recorded_units: BTreeMap<String, i64>,
    pub accused_unit: Option<i64>,
    pub accused_users: Vec<i64>,
    pub clocks: Vec<ClockRun>,
    pub actions_taken: BTreeSet<String>,
    /// Documents produced so far: (document id, number).
    pub documents: Vec<(String, String)>,
    pub duplicates: Vec<i64>,
    /// The case this one was opened from (see `FieldBinding::Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<i64>,
}

impl Covers {
    /// The unit a case covers (with every unit below it) on `day`, if it covers any: it must be in one of the
    /// covering states and `day` inside its dates.
    pub fn unit_on(&self, case: &CaseState, day: chrono::NaiveDate) -> Option<i64> {
        let date = |f: &str| chrono::NaiveDate::parse_from_str(case.field_str(f)?, "%Y-%m-%d").ok();
        let inside =
            date(&self.from_field).is_some_and(|from| from <= day) && date(&self.to_field).is_some_and(|to| day <= to);
        if !inside || !self.states.contains(&case.state) {
            return None;
        }
        case.fields.get(&self.unit_field)?.as_i64()
    }
}

/// What an event says, as far as the engine is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFacts {
    pub seq: i64,
    pub action: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    #[serde(default)]
    pub actor_unit: Option<i64>,
    pub payload: Map<String, Value>,
    /// Document numbers assigned by the event: (document id, number).
    #[serde(default)]
    pub documents: Vec<(String, String)>,
}

/// The JSON stored as an event's payload: the validated fields, the document numbers the event assigned,
/// and for an intake the digest of the parties' encrypted rows (so `verify` notices an edited party) and the
/// case's fixed facts (so every column of the case row can be checked against history).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    pub fields: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parties_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeFacts>,
    /// Files added with this event; each stored file must match its digest here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentRef>,
}

/// What an intake fixes for the life of a case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntakeFacts {
    pub code: String,
    pub registered_unit: i64,
    pub region: Option<String>,
    pub query_secret_hash: Option<String>,
    pub client_request_id: Option<String>,
    /// The workflow definition version the case was opened under.
    pub workflow_version: u32,
}

impl EventPayload {
    pub fn facts(
        &self,
        seq: i64,
        action: &str,
        at: DateTime<Utc>,
        actor_id: Option<i64>,
        actor_unit: Option<i64>,
    ) -> EventFacts {
        EventFacts {
            seq,
            action: action.to_string(),
            at,
            actor_id,
            actor_unit,
            payload: self.fields.clone(),
            documents: self.documents.clone(),
        }
    }
}

/// The engine records other cases' duplicates with a system action of this id; it is not part of any
/// definition and changes nothing but the duplicate list.
pub const DUPLICATE_RECEIVED: &str = "duplicate_received";

/// Who is trying an action.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub roles: &'a [Role],
    /// Is the actor's unit the handling unit?
    pub in_handling_unit: bool,
    /// Is the actor's unit a co-handling unit?
    pub in_cohandling_unit: bool,
    /// Is the actor's unit above the handling unit in the tree?
    pub above_handling_unit: bool,
    /// The names of the case's recorded units (see `record_unit`) the actor's unit is strictly above.
    pub above_recorded: Vec<String>,
}

impl Actor<'_> {
    fn may_act_as(&self, action: &ActionDef) -> bool {
        if action.above.as_ref().is_some_and(|name| !self.above_recorded.contains(name)) {
            return false;
        }
        match action.by {
            ActorUnit::Scope => true,
            ActorUnit::Handling => self.in_handling_unit,
            ActorUnit::HandlingOrCohandling => self.in_handling_unit || self.in_cohandling_unit,
            ActorUnit::AboveHandling => self.above_handling_unit,
        }
    }
}

fn matches(cond: &BTreeMap<String, Vec<String>>, fields: &BTreeMap<String, Value>) -> bool {
    cond.iter()
        .all(|(f, allowed)| fields.get(f).and_then(|v| v.as_str()).is_some_and(|v| allowed.iter().any(|a| a == v)))
}

impl CaseState {
    pub fn clock_run(&self, clock: &str) -> Option<&ClockRun> {
        self.clocks.iter().rev().find(|c| c.clock == clock)
    }
    fn running_mut(&mut self, clock: &str) -> Option<&mut ClockRun> {
        self.clocks.iter_mut().rev().find(|c| c.clock == clock && c.stopped_at.is_none())
    }
    pub fn field_str(&self, f: &str) -> Option<&str> {
        self.fields.get(f).and_then(|v| v.as_str())
    }
}

/// Validates an action's payload against the definition: every key declared for the action, every required
/// one present, every value of its field's type. Returns the payload with only the declared fields.
pub fn validate_payload(
    def: &WorkflowDef,
    action: &ActionDef,
    payload: &Map<String, Value>,
) -> DomainResult<Map<String, Value>> {
    let (out, mut problems) = payload_problems(def, action, payload);
    if problems.is_empty() { Ok(out) } else { Err(problems.remove(0)) }
}

/// Every problem with `payload` for `action` (an unknown field, a bad value, a missing required field), each
/// naming its field, so a form can mark them all at once; and the payload with only the declared fields.
pub fn payload_problems(
    def: &WorkflowDef,
    action: &ActionDef,
    payload: &Map<String, Value>,
) -> (Map<String, Value>, Vec<DomainError>) {
    let mut out = Map::new();
    let mut problems = vec![];
    for (k, v) in payload {
        if !action.requires.contains(k) && !action.optional.contains(k) {
            problems.push(DomainError::new(ErrorCode::InvalidInput, format!("“{}”不接受字段 {k}", action.name)).at(k));
            continue;
        }
        if v.is_null() {
            continue;
        }
        let f = def.field(k).expect("validated definition");
        match check_value(f, v) {
            Ok(()) => {
                out.insert(k.clone(), normalise(f, v));
            }
            Err(e) => problems.push(e),
        }
    }
    for r in &action.requires {
        let present = out.get(r).is_some_and(|v| match v {
            Value::String(s) => !s.trim().is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        });
        if !present && !problems.iter().any(|p| p.field.as_deref() == Some(r.as_str())) {
            let name = def.field(r).map(|f| f.name.as_str()).unwrap_or(r);
            problems
                .push(DomainError::new(ErrorCode::MissingField, format!("“{}”需要填写“{name}”", action.name)).at(r));
        }
    }
    (out, problems)
}

fn normalise(f: &FieldDef, v: &Value) -> Value {
    match (f.ty, v) {
        (FieldType::Text | FieldType::LongText, Value::String(s)) => Value::String(s.trim().to_string()),
        _ => v.clone(),
    }
}

fn check_value(f: &FieldDef, v: &Value) -> DomainResult<()> {
    let bad = |why: &str| Err(DomainError::new(ErrorCode::InvalidInput, format!("“{}”{why}", f.name)).at(&f.id));
    let int_in_range = |n: i64| -> DomainResult<()> {
        if f.min.is_some_and(|m| n < m) || f.max.is_some_and(|m| n > m) {
            return bad(&format!(
                "超出允许范围{}",
                match (f.min, f.max) {
                    (Some(a), Some(b)) => format!("（{a}–{b}）"),
                    (Some(a), None) => format!("（至少 {a}）"),
                    (None, Some(b)) => format!("（至多 {b}）"),
                    _ => String::new(),
                }
            ));
        }
        Ok(())
    };
    let id = |v: &Value| v.as_i64().filter(|n| *n > 0);
    match f.ty {
        FieldType::Text | FieldType::LongText => {
            let Some(s) = v.as_str() else { return bad("应为文字") };
            let limit = if f.ty == FieldType::Text { 200 } else { MAX_TEXT_CHARS };
            let limit = f.max.map(|m| m as usize).unwrap_or(limit);
            if s.chars().count() > limit {
                return bad(&format!("过长（最多 {limit} 字）"));
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
                return bad("含有不可见的控制字符");
            }
        }
        FieldType::Choice => {
            let Some(s) = v.as_str() else { return bad("应为选项值") };
            if !f.options.contains_key(s) {
                let opts: Vec<String> = f.options.iter().map(|(k, l)| format!("{k}（{l}）")).collect();
                return bad(&format!("的值 {s} 无效，可选：{}", opts.join("、")));
            }
        }
        FieldType::Int => {
            let Some(n) = v.as_i64() else { return bad("应为整数") };
            int_in_range(n)?;
        }
        FieldType::Date => {
            let Some(s) = v.as_str() else { return bad("应为日期") };
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                return bad("应为 YYYY-MM-DD 格式的日期");
            }
        }
        FieldType::Unit | FieldType::User | FieldType::Case | FieldType::Booking => {
            if id(v).is_none() {
                return bad("应为编号（正整数）");
            }
        }
        FieldType::Grid => {
            let Some(s) = v.as_str() else { return bad("应为网格编码") };
            if let Err(e) = crate::region::check_grid_code(s) {
                return bad(&format!("有误：{}", e.message));
            }
        }
        FieldType::Site => {
            let Some(s) = v.as_str() else { return bad("应为场所编码") };
            if s.is_empty() || s.len() > 40 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return bad("应为场所编码（字母、数字、连字符，最多 40 位）");
            }
        }
        FieldType::Checklist => {
            if let Err(m) = crate::checklist::check_shape(v) {
                return bad(&format!("有误：{m}"));
            }
        }
        FieldType::Units | FieldType::Users => {
            let Some(a) = v.as_array() else { return bad("应为编号列表") };
            if a.iter().any(|x| id(x).is_none()) {
                return bad("应为编号（正整数）列表");
            }
            if a.len() > 50 {
                return bad("最多 50 项");
            }
        }
    }
    Ok(())
}

/// Decides whether `actor` may take `action_id` on `case` (None: the case is being created) at `now`.
/// Role, state, applicability, windows and once-only are checked here; data scope and recusal, which need the
/// store, are the service's. Returns the action definition and the validated payload.
pub fn check_action<'d>(
    def: &'d WorkflowDef,
    case: Option<&CaseState>,
    action_id: &str,
    actor: &Actor<'_>,
    payload: &Map<String, Value>,
    now: DateTime<Utc>,
    cal: &HolidayCalendar,
    region: Option<&Region>,
) -> DomainResult<(&'d ActionDef, Map<String, Value>)> {
    let action = def
        .action(action_id)
        .ok_or_else(|| DomainError::new(ErrorCode::UnknownAction, format!("{}没有“{action_id}”这个动作", def.name)))?;
    match case {
        None if action.id != def.intake => {
            return Err(DomainError::new(ErrorCode::ActionNotAllowedInState, "案件尚未登记"));
        }
        Some(_) if action.id == def.intake => {
            return Err(DomainError::new(ErrorCode::ActionNotAllowedInState, "案件已经登记，不能重复登记"));
        }
        Some(c) if !action.from.contains(&c.state) => {
            let st = def.state(&c.state).map(|s| s.name.as_str()).unwrap_or(&c.state);
            return Err(DomainError::new(
                ErrorCode::ActionNotAllowedInState,
                format!("案件当前处于“{st}”状态，不能执行“{}”", action.name),
            ));
        }
        _ => {}
    }
    if let Some(clock) = &action.on_expiry {
        let name = def.clock(clock).map(|c| c.name.as_str()).unwrap_or(clock);
        return Err(DomainError::new(
            ErrorCode::ActionNotAllowedForRole,
            format!("“{}”由系统在{name}届满时自动执行", action.name),
        ));
    }
    if !action.roles.iter().any(|r| actor.roles.contains(r)) {
        let names: Vec<&str> = action.roles.iter().map(|r| r.name_zh()).collect();
        return Err(DomainError::new(
            ErrorCode::ActionNotAllowedForRole,
            format!("“{}”只能由{}执行", action.name, names.join("、")),
        ));
    }
    // At intake only `above_handling` is checked: the actor must stand above the unit the case is handed to.
    let unit_checked = case.is_some() || action.by == ActorUnit::AboveHandling;
    if unit_checked && !actor.roles.contains(&Role::Resident) && !actor.may_act_as(action) {
        let who = match (&action.above, action.by) {
            (Some(_), _) => "上一环节办理机关的上级机关",
            (None, ActorUnit::AboveHandling) => "承办单位的上级机关",
            _ => "承办单位",
        };
        return Err(DomainError::new(ErrorCode::ActionNotAllowedForRole, format!("“{}”只能由{who}执行", action.name)));
    }
    let payload = validate_payload(def, action, payload)?;
    let fields_after: BTreeMap<String, Value> = match case {
        Some(c) => {
            let mut f = c.fields.clone();
            f.extend(payload.clone());
            f
        }
        None => payload.clone().into_iter().collect(),
    };
    if !matches(&action.when, &fields_after) {
        return Err(DomainError::new(ErrorCode::ActionNotApplicable, format!("“{}”不适用于此类事项", action.name)));
    }
    if let Some(c) = case {
        if action.once && c.actions_taken.contains(&action.id) {
            return Err(DomainError::new(
                ErrorCode::ActionNotAllowedInState,
                format!("“{}”只能执行一次，已经执行过", action.name),
            ));
        }
        if let Some(w) = &action.within {
            let clock = def.clock(w).expect("validated");
            // A resident's window must still be open; a duty (e.g. acknowledging an alert) only running: done
            // late, it is recorded as late.
            let open = match c.clock_run(w) {
                Some(run) if run.stopped_at.is_none() && clock.kind == ClockKind::Window => {
                    let due = due_of(def, clock, run, cal, region, &c.fields, now)?;
                    now < due.due_at
                }
                Some(run) => run.stopped_at.is_none(),
                None => false,
            };
            if !open {
                let msg = match clock.kind {
                    ClockKind::Window => format!("“{}”须在{}内提出，该期限已过或尚未开始", action.name, clock.name),
                    ClockKind::Obligation => {
                        format!("{}没有在计时（已结束或尚未开始），不能“{}”", clock.name, action.name)
                    }
                };
                return Err(DomainError::new(ErrorCode::WindowClosed, msg));
            }
        }
        for w in &action.after {
            let clock = def.clock(w).expect("validated");
            if let Some(run) = c.clock_run(w).filter(|r| r.stopped_at.is_none()) {
                let due = due_of(def, clock, run, cal, region, &c.fields, now)?;
                if now < due.due_at {
                    return Err(DomainError::new(
                        ErrorCode::WindowClosed,
                        format!(
                            "{}尚未届满（至 {}），暂不能“{}”",
                            clock.name,
                            deadline::format_due(&due, clock.unit),
                            action.name
                        ),
                    ));
                }
            }
        }
        for ext in action.extends.iter().chain(action.proposes.iter()) {
            let clock = def.clock(&ext.clock).expect("validated");
            let (_, max, _) = def.clock_rule(clock, region, &c.fields);
            let max = max.unwrap_or(0);
            let asked = payload.get(&ext.field).and_then(|v| v.as_i64()).unwrap_or(0);
            let used: u32 = c.clock_run(&ext.clock).map(|r| r.extensions.iter().map(|e| e.amount).sum()).unwrap_or(0);
            if asked <= 0 || asked as u64 + used as u64 > max as u64 {
                return Err(DomainError::new(
                    ErrorCode::InvalidInput,
                    format!("{}最多延长 {max}（已延长 {used}），本次申请 {asked} 超出上限", clock.name),
                ));
            }
            let Some(run) = c.clock_run(&ext.clock).filter(|r| r.stopped_at.is_none()) else {
                return Err(DomainError::new(
                    ErrorCode::ActionNotAllowedInState,
                    format!("{}没有在计时，无法延期", clock.name),
                ));
            };
            // An extension is approved before the period ends; an overdue case stays overdue on record.
            let due = due_of(def, clock, run, cal, region, &c.fields, now)?;
            if now >= due.due_at {
                return Err(DomainError::new(
                    ErrorCode::WindowClosed,
                    format!(
                        "{}已于 {} 届满，不能再延期（超期如实记录）",
                        clock.name,
                        deadline::format_due(&due, clock.unit)
                    ),
                ));
            }
        }
    }
    Ok((action, payload))
}

/// Folds one event into the case. Deterministic: replaying a case's events from the log rebuilds exactly the
/// stored projection, which is what `verify` checks.
pub fn apply_event(def: &WorkflowDef, case: Option<CaseState>, ev: &EventFacts) -> DomainResult<CaseState> {
    let mut c = case.unwrap_or_else(|| CaseState {
        kind: def.kind.clone(),
        workflow_version: def.version,
        ..Default::default()
    });
    c.version += 1;
    if ev.action == DUPLICATE_RECEIVED {
        if let Some(id) = ev.payload.get("duplicate_case").and_then(|v| v.as_i64()) {
            c.duplicates.push(id);
        }
        return Ok(c);
    }
    let action = def.action(&ev.action).ok_or_else(|| {
        DomainError::new(ErrorCode::UnknownAction, format!("事件引用了流程中不存在的动作 {}", ev.action))
    })?;
    for (k, v) in &ev.payload {
        if let Some(f) = def.field(k) {
            match f.binds {
                Some(FieldBinding::HandlingUnit) => c.handling_unit = v.as_i64(),
                Some(FieldBinding::CohandlingUnits) => {
                    c.cohandling_units =
                        v.as_array().map(|a| a.iter().filter_map(|x| x.as_i64()).collect()).unwrap_or_default()
                }
                Some(FieldBinding::AccusedUnit) => c.accused_unit = v.as_i64(),
                Some(FieldBinding::AccusedUsers) => {
                    c.accused_users =
                        v.as_array().map(|a| a.iter().filter_map(|x| x.as_i64()).collect()).unwrap_or_default()
                }
                Some(FieldBinding::Parent) => c.parent = v.as_i64(),
                None => {}
            }
        }
        c.fields.insert(k.clone(), v.clone());
    }
    for id in &action.stop {
        if let Some(run) = c.running_mut(id) {
            run.stopped_at = Some(ev.at);
            if let Some(p) = run.pauses.last_mut().filter(|p| p.1.is_none()) {
                p.1 = Some(ev.at);
            }
        }
    }
    for id in &action.pause {
        if let Some(run) = c.running_mut(id)
            && run.pauses.last().is_none_or(|p| p.1.is_some())
        {
            run.pauses.push((ev.at, None));
        }
    }
    for id in &action.resume {
        if let Some(run) = c.running_mut(id)
            && let Some(p) = run.pauses.last_mut().filter(|p| p.1.is_none())
        {
            p.1 = Some(ev.at);
        }
    }
    if let Some(ext) = &action.extends {
        let amount = ev.payload.get(&ext.field).and_then(|v| v.as_i64()).unwrap_or(0).max(0) as u32;
        let reason = ev.payload.get("reason").and_then(|v| v.as_str()).map(str::to_string);
        if let Some(run) = c.running_mut(&ext.clock) {
            run.extensions.push(Extension {
                amount,
                approved_by: ev.actor_id,
                approved_at: ev.at,
                reason,
                event_seq: ev.seq,
            });
        }
    }
    for id in &action.start {
        let clock = def.clock(id).expect("validated");
        if !matches(&clock.applies_when, &c.fields) {
            continue;
        }
        if let Some(run) = c.running_mut(id) {
            // Restarting a clock ends its current run, closing any open pause like `stop` does (an open pause
            // on a stopped run would keep growing with `now`, moving the old run's due date forever).
            run.stopped_at = Some(ev.at);
            if let Some(p) = run.pauses.last_mut().filter(|p| p.1.is_none()) {
                p.1 = Some(ev.at);
            }
        }
        c.clocks.push(ClockRun {
            clock: id.clone(),
            started_at: ev.at,
            stopped_at: None,
            pauses: vec![],
            extensions: vec![],
        });
    }
    if let Some(to) = &action.to {
        c.state = to.clone();
    }
    if def.state(&c.state).is_some_and(|s| s.terminal) {
        for run in c.clocks.iter_mut().filter(|r| r.stopped_at.is_none()) {
            run.stopped_at = Some(ev.at);
            if let Some(p) = run.pauses.last_mut().filter(|p| p.1.is_none()) {
                p.1 = Some(ev.at);
            }
        }
    }
    if let (Some(name), Some(unit)) = (&action.record_unit, ev.actor_unit) {
        c.recorded_units.insert(name.clone(), unit);
    }
    c.actions_taken.insert(action.id.clone());
    c.documents.extend(ev.documents.iter().cloned());
    Ok(c)
}

/// The due time of one run of a clock: its (region-adjusted) period from the start, pauses removed, each
/// approved extension counted from the end of the period before it.
pub fn due_of(
    def: &WorkflowDef,
    clock: &ClockDef,
    run: &ClockRun,
    cal: &HolidayCalendar,
    region: Option<&Region>,
    fields: &BTreeMap<String, Value>,
    now: DateTime<Utc>,
) -> DomainResult<Due> {
    let (period, _, _) = def.clock_rule(clock, region, fields);
    let mut due = deadline::compute_due_with_pauses(cal, run.started_at, period, &run.pauses, now, region)?;
    for e in &run.extensions {
        due = deadline::extend_due(cal, &due, Period { amount: e.amount, unit: period.unit }, region)?;
    }
    Ok(due)
}

/// A clock as a user sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ClockView {
    pub clock: String,
    pub name: String,
    pub kind: ClockKind,
    pub period: Period,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub paused: bool,
    /// The statutory due time without extensions.
    pub legal_due_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub due_date: Option<chrono::NaiveDate>,
    pub provisional: bool,
    pub extensions: Vec<Extension>,
    /// For a running obligation: on time / due soon / overdue. For a stopped clock: whether it stopped in time.
    pub status: ClockStatus,
    pub status_label: String,
    pub remaining: String,
    pub source: Option<String>,
}

/// Every run of every clock on the case, with due times and status at `now`. Fails if any due time cannot be
/// computed (a working-day clock running past the holiday table); see `clock_views_lenient`.
pub fn clock_views(
    def: &WorkflowDef,
    case: &CaseState,
    cal: &HolidayCalendar,
    region: Option<&Region>,
    now: DateTime<Utc>,
) -> DomainResult<Vec<ClockView>> {
    case.clocks
        .iter()
        .filter_map(|run| def.clock(&run.clock).map(|c| clock_view(def, c, run, cal, region, &case.fields, now)))
        .collect()
}

/// A clock whose due time cannot be computed, and why (shown to users instead of a guessed date).
#[derive(Debug, Clone, Serialize)]
pub struct ClockProblem {
    pub clock: String,
    pub name: String,
    pub message: String,
}

/// Like `clock_views`, but one uncomputable clock does not hide the others: it is reported as a problem.
pub fn clock_views_lenient(
    def: &WorkflowDef,
    case: &CaseState,
    cal: &HolidayCalendar,
    region: Option<&Region>,
    now: DateTime<Utc>,
) -> (Vec<ClockView>, Vec<ClockProblem>) {
    let mut views = vec![];
    let mut problems = vec![];
    for run in &case.clocks {
        let Some(clock) = def.clock(&run.clock) else { continue };
        match clock_view(def, clock, run, cal, region, &case.fields, now) {
            Ok(v) => views.push(v),
            Err(e) => {
                problems.push(ClockProblem { clock: clock.id.clone(), name: clock.name.clone(), message: e.message })
            }
        }
    }
    (views, problems)
}

fn clock_view(
    def: &WorkflowDef,
    clock: &ClockDef,
    run: &ClockRun,
    cal: &HolidayCalendar,
    region: Option<&Region>,
    fields: &BTreeMap<String, Value>,
    now: DateTime<Utc>,
) -> DomainResult<ClockView> {
    let (period, _, source) = def.clock_rule(clock, region, fields);
    let legal = deadline::compute_due_with_pauses(cal, run.started_at, period, &run.pauses, now, region)?;
    let due = due_of(def, clock, run, cal, region, fields, now)?;
    let warn = warn_before(clock, period);
    let status = match run.stopped_at {
        Some(at) if at > due.due_at => ClockStatus::Overdue,
        Some(_) => ClockStatus::OnTime,
        None => deadline::clock_status(due.due_at, warn, now),
    };
    // A resident's window simply closes; "overdue" is for duties.
    let (status_label, remaining) = match (clock.kind, run.stopped_at, status) {
        (ClockKind::Window, Some(_), _) => ("已使用".to_string(), "已在期限内提出".to_string()),
        (ClockKind::Window, None, ClockStatus::Overdue) => ("已届满".to_string(), "申请期限已届满".to_string()),
        (ClockKind::Window, None, _) => {
            ("期限内".to_string(), deadline::remaining_words_zh(&due, period.unit, now, cal))
        }
        (ClockKind::Obligation, Some(_), ClockStatus::Overdue) => {
            (status.label_zh().to_string(), "超期完成".to_string())
        }
        (ClockKind::Obligation, Some(_), _) => (status.label_zh().to_string(), "按期完成".to_string()),
        (ClockKind::Obligation, None, _) => {
            (status.label_zh().to_string(), deadline::remaining_words_zh(&due, period.unit, now, cal))
        }
    };
    Ok(ClockView {
        clock: clock.id.clone(),
        name: clock.name.clone(),
        kind: clock.kind,
        period,
        started_at: run.started_at,
        stopped_at: run.stopped_at,
        paused: run.pauses.last().is_some_and(|p| p.1.is_none()),
        legal_due_at: legal.due_at,
        due_at: due.due_at,
        due_date: due.due_date,
        provisional: due.provisional,
        extensions: run.extensions.clone(),
        status,
        status_label,
        remaining,
        source,
    })
}

/// How long before the due time a clock turns "due soon".
pub fn warn_before(clock: &ClockDef, period: Period) -> chrono::Duration {
    let n = clock.warn_before.unwrap_or_else(|| (period.amount / 5).max(1)) as i64;
    match period.unit {
        PeriodUnit::CalendarDays | PeriodUnit::WorkingDays => chrono::Duration::days(n),
        PeriodUnit::Hours | PeriodUnit::WorkingHours => chrono::Duration::hours(n),
        PeriodUnit::Minutes => chrono::Duration::minutes(n),
    }
}

/// The earliest due time among running, unpaused obligation clocks, with its warning time: the projection the
/// case list sorts and filters by.
pub fn next_deadline(views: &[ClockView], def: &WorkflowDef) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    views
        .iter()
        .filter(|v| v.kind == ClockKind::Obligation && v.stopped_at.is_none() && !v.paused)
        .map(|v| {
            let clock = def.clock(&v.clock).expect("view of a defined clock");
            (v.due_at, v.due_at - warn_before(clock, v.period))
        })
        .min()
}

/// The timer actions (`on_expiry`) due on the case at `now`: each one's clock is running, unpaused and past due,
/// and the case is in one of its `from` states. The system takes them in order; after the first, the case
/// has changed, so callers take one and ask again.
pub fn expired_timers<'d>(
    def: &'d WorkflowDef,
    case: &CaseState,
    cal: &HolidayCalendar,
    region: Option<&Region>,
    now: DateTime<Utc>,
) -> DomainResult<Vec<&'d ActionDef>> {
    let mut out = vec![];
    for a in def.actions.iter().filter(|a| a.from.contains(&case.state)) {
        let Some(clock_id) = &a.on_expiry else { continue };
        let clock = def.clock(clock_id).expect("validated");
        let Some(run) = case.clocks.iter().rev().find(|r| &r.clock == clock_id && r.stopped_at.is_none()) else {
            continue;
        };
        if run.pauses.last().is_some_and(|p| p.1.is_none()) || !matches(&a.when, &case.fields) {
            continue;
        }
        if due_of(def, clock, run, cal, region, &case.fields, now)?.due_at <= now {
            out.push(a);
        }
    }
    Ok(out)
}

/// When the next timer action falls due on the case (from its clock views): what the sweeper waits for.
pub fn next_timer(def: &WorkflowDef, case: &CaseState, views: &[ClockView]) -> Option<DateTime<Utc>> {
    def.actions
        .iter()
        .filter(|a| a.from.contains(&case.state) && matches(&a.when, &case.fields))
        .filter_map(|a| a.on_expiry.as_ref())
        .filter_map(|clock| views.iter().rev().find(|v| &v.clock == clock && v.stopped_at.is_none() && !v.paused))
        .map(|v| v.due_at)
        .min()
}

/// The actions `actor` could take now (ignoring payload), for showing only the buttons that work.
pub fn available_actions<'d>(def: &'d WorkflowDef, case: &CaseState, actor: &Actor<'_>) -> Vec<&'d ActionDef> {
    def.actions
        .iter()
        .filter(|a| a.from.contains(&case.state))
        .filter(|a| a.roles.iter().any(|r| actor.roles.contains(r)))
        .filter(|a| !(a.once && case.actions_taken.contains(&a.id)))
        .filter(|a| {
            // Conditions on fields the action itself sets cannot be judged yet; keep those.
            a.when.iter().all(|(f, allowed)| {
                a.requires.contains(f)
                    || a.optional.contains(f)
                    || case.field_str(f).is_some_and(|v| allowed.iter().any(|x| x == v))
            })
        })
        // As in `check_action`: a resident acts on their own case, whatever unit handles it.
        .filter(|a| actor.roles.contains(&Role::Resident) || actor.may_act_as(a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::ALL_ROLES;
    use crate::deadline::parse_start;
    use chrono::NaiveDate;
    use serde_json::json;

    const PETITION: &str = include_str!("../workflows/petition.toml");

    // ------------------------------------------------------------------------------------------ helpers

    fn cal() -> &'static HolidayCalendar {
        HolidayCalendar::embedded()
    }

    /// A local (UTC+8) time, "2026-03-10T10:00".
    fn at(s: &str) -> DateTime<Utc> {
        parse_start(s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn region(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    fn petition() -> WorkflowDef {
        Registry::embedded().get("petition").unwrap().clone()
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("payload must be an object, got {other}"),
        }
    }

    fn actor(roles: &[Role]) -> Actor<'_> {
        Actor {
            roles,
            in_handling_unit: false,
            in_cohandling_unit: false,
            above_handling_unit: true,
            above_recorded: vec!["review".into()],
        }
    }

    fn handling(roles: &[Role]) -> Actor<'_> {
        Actor {
            roles,
            in_handling_unit: true,
            in_cohandling_unit: false,
            above_handling_unit: false,
            above_recorded: vec![],
        }
    }

    const CLERK: &[Role] = &[Role::ReceptionClerk];
    const OFFICE: &[Role] = &[Role::PetitionOffice];
    const STAFF: &[Role] = &[Role::HandlingStaff];
    const LEADER: &[Role] = &[Role::Leader];
    const RESIDENT: &[Role] = &[Role::Resident];

    /// A case driven through the engine the way the service does: check, then fold the event.
    struct Case<'d> {
        def: &'d WorkflowDef,
        region: Option<Region>,
        state: Option<CaseState>,
        events: Vec<EventFacts>,
    }

    impl<'d> Case<'d> {
        fn new(def: &'d WorkflowDef, region: Option<Region>) -> Self {
            Case { def, region, state: None, events: vec![] }
        }

        fn try_act(&mut self, action: &str, who: &Actor<'_>, payload: Value, when: DateTime<Utc>) -> DomainResult<()> {
            let (a, fields) = check_action(
                self.def,
                self.state.as_ref(),
                action,
                who,
                &obj(payload),
                when,
                cal(),
                self.region.as_ref(),
            )?;
            let seq = self.events.len() as i64 + 1;
            let ev = EventFacts {
                seq,
                action: a.id.clone(),
                at: when,
                actor_id: Some(100 + seq),
                actor_unit: None,
                payload: fields,
                documents: a.documents.iter().map(|d| (d.clone(), format!("〔2026〕{d}{seq}号"))).collect(),
            };
            self.state = Some(apply_event(self.def, self.state.take(), &ev)?);
            self.events.push(ev);
            Ok(())
        }

        /// Takes every timer action due at `when`, as the system would; returns their ids.
        fn fire_timers(&mut self, when: DateTime<Utc>) -> Vec<String> {
            let mut fired = vec![];
            while let Some(a) = self.state.as_ref().and_then(|s| {
                expired_timers(self.def, s, cal(), self.region.as_ref(), when).unwrap().first().map(|a| a.id.clone())
            }) {
                let seq = self.events.len() as i64 + 1;
                let ev = EventFacts {
                    seq,
                    action: a.clone(),
                    at: when,
                    actor_id: None,
                    actor_unit: None,
                    payload: Map::new(),
                    documents: vec![],
                };
                self.state = Some(apply_event(self.def, self.state.take(), &ev).unwrap());
                self.events.push(ev);
                fired.push(a);
                assert!(fired.len() < 100, "timers keep firing: {fired:?}");
            }
            fired
        }

        fn act(&mut self, action: &str, who: &Actor<'_>, payload: Value, when: &str) {
            if let Err(e) = self.try_act(action, who, payload, at(when)) {
                panic!("“{action}” at {when} should be allowed: {e}");
            }
        }

        fn refused(&mut self, action: &str, who: &Actor<'_>, payload: Value, when: &str) -> DomainError {
            let before = self.state.clone();
            match self.try_act(action, who, payload, at(when)) {
                Ok(()) => panic!("“{action}” at {when} should have been refused"),
                Err(e) => {
                    assert_eq!(self.state, before, "a refused action must not change the case");
                    e
                }
            }
        }

        fn state(&self) -> &CaseState {
            self.state.as_ref().expect("case registered")
        }

        /// The latest run of `clock` as a user sees it at `now`.
        fn view(&self, clock: &str, now: &str) -> ClockView {
            clock_views(self.def, self.state(), cal(), self.region.as_ref(), at(now))
                .unwrap()
                .into_iter()
                .rev()
                .find(|v| v.clock == clock)
                .unwrap_or_else(|| panic!("clock {clock} has no run"))
        }

        fn due_date(&self, clock: &str, now: &str) -> NaiveDate {
            self.view(clock, now).due_date.unwrap()
        }
    }

    fn register_payload(matter_type: &str) -> Value {
        json!({ "channel": "letter", "matter_type": matter_type, "title": "小区噪音扰民", "content": "夜间施工噪音" })
    }

    /// A case of `matter_type` registered on 2026-03-02, assigned on 03-03 and accepted on 03-10.
    fn accepted<'d>(def: &'d WorkflowDef, matter_type: &str, region: Option<Region>) -> Case<'d> {
        let mut c = Case::new(def, region);
        c.act("register", &actor(CLERK), register_payload(matter_type), "2026-03-02T09:00");
        c.act("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-03-03T10:00");
        c.act("accept", &handling(STAFF), json!({ "assignee": 42 }), "2026-03-10T10:00");
        c
    }

    /// A claim replied to on 2026-05-20.
    fn replied_claim(def: &WorkflowDef) -> Case<'_> {
        let mut c = accepted(def, "claim", None);
        c.act(
            "reply",
            &handling(STAFF),
            json!({ "outcome": "explain", "reply": "经调查，答复如下" }),
            "2026-05-20T10:00",
        );
        assert_eq!(c.state().state, "replied");
        c
    }

    fn edited(anchor: &str, replacement: &str) -> String {
        assert_eq!(
            PETITION.matches(anchor).count(),
            1,
            "the anchor must occur exactly once in petition.toml: {anchor}"
        );
        PETITION.replace(anchor, replacement)
    }

    fn assert_invalid(text: &str, needle: &str) {
        let err = WorkflowDef::from_toml("petition.toml", text).expect_err("the definition should be rejected");
        assert_eq!(err.code, ErrorCode::WorkflowInvalid, "{err}");
        assert!(
            err.message.starts_with("流程定义 petition.toml 有误："),
            "the message names the file: {}",
            err.message
        );
        assert!(err.message.contains(needle), "expected “{needle}” in: {}", err.message);
    }

    // ------------------------------------------------------------------------------ the definition

    #[test]
    fn embedded_petition_definition_is_valid() {
        let reg = Registry::embedded();
        let def = reg.get("petition").unwrap();
        assert_eq!(def.kind, "petition");
        assert_eq!(def.intake_action().id, "register");
        assert_eq!(reg.all().count(), EMBEDDED.len());
        // the statutory defaults of 信访工作条例 (DOMAIN.md §2)
        let clock = |id: &str| def.clock(id).unwrap();
        assert_eq!((clock("routing").amount, clock("routing").unit), (15, PeriodUnit::CalendarDays));
        assert_eq!((clock("objection").amount, clock("objection").unit), (5, PeriodUnit::WorkingDays));
        assert_eq!((clock("handling").amount, clock("handling").max_extension), (60, Some(30)));
        for w in ["objection", "review_request", "re_review_request"] {
            assert_eq!(clock(w).kind, ClockKind::Window, "{w} is the resident's/organ's window");
        }
        for o in ["routing", "acceptance_notice", "handling", "review", "re_review"] {
            assert_eq!(clock(o).kind, ClockKind::Obligation, "{o} is a duty on staff");
        }
        for terminal in
            ["closed", "finally_closed", "not_accepted", "routed_legal", "forwarded_discipline", "duplicate"]
        {
            assert!(def.state(terminal).unwrap().terminal, "{terminal} ends the case");
        }
    }

    #[test]
    fn unknown_case_kind_is_refused_in_chinese() {
        let err = Registry::embedded().get("mediation").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownCaseKind);
        assert!(err.message.contains("mediation"));
    }

    #[test]
    fn deployment_override_replaces_the_embedded_definition_and_an_invalid_one_stops_loading() {
        let v2 = edited("version = 2\n", "version = 3\n");
        let reg = Registry::load(&[("petition.toml".into(), v2)]).unwrap();
        assert_eq!(reg.get("petition").unwrap().version, 3);

        let broken = edited(r#"within = "review_request""#, r#"within = "appeal_window""#);
        let err = Registry::load(&[("local/petition.toml".into(), broken)]).unwrap_err();
        assert_eq!(err.code, ErrorCode::WorkflowInvalid);
        assert!(err.message.contains("local/petition.toml"), "{}", err.message);
    }

    // ------------------------------------------------------------------------------ validation

    #[test]
    fn action_naming_an_unknown_state_is_rejected() {
        let text = edited("from = [\"assigned\"]\nto = \"handling\"", "from = [\"assigned\"]\nto = \"handing\"");
        assert_invalid(&text, "动作 accept 引用了未定义的状态 handing");
    }

    #[test]
    fn unreachable_state_is_rejected() {
        let text = edited(
            "id = \"duplicate\"\nname = \"重复件（已并入原件）\"\nterminal = true\n",
            "id = \"duplicate\"\nname = \"重复件（已并入原件）\"\nterminal = true\n\n[[states]]\nid = \"archived\"\nname = \"已归档\"\nterminal = true\n",
        );
        assert_invalid(&text, "状态 archived（已归档）无法从登记状态到达");
    }

    #[test]
    fn action_without_role_is_rejected() {
        let text = edited(
            "roles = [\"petition_office\"]\nrequires = [\"discipline_body\"]",
            "roles = []\nrequires = [\"discipline_body\"]",
        );
        assert_invalid(&text, "动作 forward_discipline 没有指定可执行的角色");
    }

    #[test]
    fn non_terminal_dead_end_state_is_rejected() {
        let text =
            edited("id = \"closed\"\nname = \"已办结\"\nterminal = true\n", "id = \"closed\"\nname = \"已办结\"\n");
        assert_invalid(&text, "状态 closed（已办结）不是终结状态，却没有任何动作能离开它");
    }

    #[test]
    fn action_starting_an_unknown_clock_is_rejected() {
        let text = edited("start = [\"handling\"]", "start = [\"handeling\"]");
        assert_invalid(&text, "动作 accept 引用了未定义的时限 handeling");
    }

    #[test]
    fn close_waiting_after_an_unknown_clock_is_rejected() {
        let text = edited(
            r#"after = ["review_request", "re_review_request"]"#,
            r#"after = ["review_request", "appeal_window"]"#,
        );
        assert_invalid(&text, "动作 close 引用了未定义的时限 appeal_window");
    }

    #[test]
    fn unknown_field_in_requires_is_rejected() {
        let text = edited(r#"requires = ["discipline_body"]"#, r#"requires = ["discipline_body", "bribe_amount"]"#);
        assert_invalid(&text, "动作 forward_discipline 引用了未定义的字段 bribe_amount");
    }

    #[test]
    fn after_naming_an_obligation_clock_is_rejected() {
        let text = edited(r#"after = ["review_request", "re_review_request"]"#, r#"after = ["review"]"#);
        assert_invalid(&text, "的 after 必须是申请期限（kind = \"window\"）：review");
    }

    #[test]
    fn condition_on_an_unknown_choice_value_is_rejected() {
        let text = edited(r#"when = { matter_type = ["accusation"] }"#, r#"when = { matter_type = ["complaint"] }"#);
        assert_invalid(&text, "动作 forward_discipline 的条件中，字段 matter_type 没有选项 complaint");
    }

    #[test]
    fn extension_of_a_clock_without_a_limit_is_rejected() {
        let text = edited("max_extension = 30\n", "");
        assert_invalid(&text, "动作 request_extension 延长的时限 handling 未规定最长延期（max_extension）");
    }

    /// Databases record each definition version they used; editing a shipped definition without raising its
    /// `version` would stop existing deployments from starting. When this fails: raise `version` in the
    /// file, then update the digest here.
    #[test]
    fn shipped_definitions_change_only_with_a_new_version() {
        let pinned = [
            ("petition.toml", 2, "2b7763996ed2e2b842ad327a7dcdfec43328494154ed298f6f08332df489b1c7"),
            ("grid_event.toml", 2, "d1060f1d0e3c8ac2b407fd2059b2aea938925451a36108ca9584b6df62dd24b9"),
            ("hazard.toml", 3, "6ce3280a2bf042249b58a922a152784a9097a424331632a3caa8a7305615722f"),
            ("inspection.toml", 1, "1f5eb09b26015fea318e1b343ed3b2ea50fb36dc777abe679287c4860571da40"),
            ("daily_report.toml", 2, "29c0c7eafb99545e1616dad235e60c69a12e6e353cdb6a6268d6ca61649db739"),
            ("dispute.toml", 1, "592976b49cde528505610404495ebde9f4e02857a4b6923c3e3e4678ea597e27"),
            ("incident.toml", 2, "6171e3bd00513c4245b50e281a40d02673a0ffc5e9e6fdda86931500c786a361"),
            ("sweep.toml", 1, "260e54f00e65404ceeab484bdf16c7fb98f907c20575d32d4b48d59da00b8b9c"),
            ("task.toml", 2, "acfe0b5772ed7a5c40d5def7992fec7bc23f331a112753e8a05000b7a01314d3"),
            ("commitment.toml", 1, "603d6056064adb70f1a07342dfc2610dda753792de31ad36969e1629ea19a989"),
            ("reception.toml", 2, "0b5e24bac68c81ed75133a3252f6bd585f5b7ad3096c06b5b249cd304e76ce32"),
            ("special_period.toml", 2, "52b9a62ed57115c088a39ca053e067ac40afa894b83fc51138ecc6b98b634187"),
            ("supervision.toml", 1, "20ab8b4278f60ac3634cae14b581dcc3ba3d9ef66e1caa43d8404b2e55a8452a"),
            ("backlog.toml", 1, "e1ce16cb018bef66e15207ccf6c5529a72b622bd2727b853dce6b6490ad9636f"),
            ("target_task.toml", 1, "ff855da10db5e7ac4b1e89fc421fb3cf4692d2acda4d7d1af2e3453fb66fcdf3"),
        ];
        assert_eq!(pinned.len(), EMBEDDED.len(), "every shipped definition is pinned");
        for (file, version, sha) in pinned {
            let text = EMBEDDED.iter().find(|(f, _)| *f == file).unwrap().1;
            let def = WorkflowDef::from_toml(file, text).unwrap();
            assert_eq!(
                (def.version, crate::ledger::sm3_hex(text.as_bytes()).as_str()),
                (version, sha),
                "{file} changed: raise its version and update this pin"
            );
        }
    }

    #[test]
    fn repeated_orders_rise_a_level_and_the_top_stays_the_top() {
        let r = Repeats { field: "level".into(), order: vec!["remind".into(), "supervise".into(), "listed".into()] };
        assert_eq!(r.lowest_allowed(&[]), None, "the first order may be at any level");
        assert_eq!(r.lowest_allowed(&["remind"]), Some("supervise"));
        assert_eq!(r.lowest_allowed(&["remind", "supervise"]), Some("listed"));
        assert_eq!(r.lowest_allowed(&["listed"]), Some("listed"));
        assert!(r.at_least("listed", "supervise") && r.at_least("supervise", "supervise"));
        assert!(!r.at_least("remind", "supervise") && !r.at_least("unknown", "remind"));
        let def = Registry::load(&[]).unwrap();
        let text = EMBEDDED.iter().find(|(f, _)| *f == "supervision.toml").unwrap().1;
        let broken =
            text.replace("order = [\"remind\", \"supervise\", \"listed\"]", "order = [\"remind\", \"listed\"]");
        let err = WorkflowDef::from_toml("supervision.toml", &broken).unwrap_err();
        assert!(err.message.contains("repeats"), "{}", err.message);
        assert!(def.get("supervision").is_ok());
    }

    #[test]
    fn documents_fill_their_placeholders_from_the_case() {
        let def = petition();
        let doc = def.document("handling_opinion").unwrap();
        let values: BTreeMap<String, String> = [
            ("petitioner", "王**"),
            ("title", "电梯故障"),
            ("code", "XF1"),
            ("outcome", "予以支持"),
            ("reply", "已修复。"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = doc.render(&values).join("\n");
        assert!(text.starts_with("王**："), "{text}");
        assert!(
            text.contains("“电梯故障”")
                && text.contains("予以支持")
                && text.contains("已修复。")
                && text.contains("30 日内"),
            "{text}"
        );
        assert!(!text.contains('{'), "every placeholder filled: {text}");
    }

    #[test]
    fn malformed_toml_is_rejected_as_unparseable() {
        assert_invalid(&edited("kind = \"petition\"", "kind = petition"), "无法解析");
        let half = PETITION.char_indices().map(|(i, _)| i).find(|i| *i >= PETITION.len() / 2).unwrap();
        assert_invalid(&PETITION[..half], "无法解析");
    }

    #[test]
    fn unknown_key_is_rejected_not_ignored() {
        let text = edited("id = \"accept\"\n", "id = \"accept\"\ncolour = \"red\"\n");
        assert_invalid(&text, "colour");
        let text = edited("code_prefix = \"XF\"\n", "code_prefix = \"XF\"\nprefix = \"XF\"\n");
        assert_invalid(&text, "prefix");
    }

    #[test]
    fn region_override_with_unknown_region_code_is_rejected() {
        let text = edited(r#"region = "110000""#, r#"region = "990000""#);
        assert_invalid(&text, "地区规则：无法识别的行政区划代码：“990000”");
    }

    #[test]
    fn region_override_of_an_unknown_clock_or_to_zero_days_is_rejected() {
        let text = edited("region = \"110000\"\nclock = \"objection\"", "region = \"110000\"\nclock = \"objections\"");
        assert_invalid(&text, "地区 110000 的规则引用了未定义的时限 objections");
        let text = edited("clock = \"handling\"\namount = 30\n", "clock = \"handling\"\namount = 0\n");
        assert_invalid(&text, "地区 330000 对时限 handling 的期限不能为 0");
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text = edited("id = \"closed\"\nname = \"已办结\"", "id = \"replied\"\nname = \"已办结\"");
        assert_invalid(&text, "状态 replied 重复定义");
    }

    // ------------------------------------------------------------------------------ the claim path

    #[test]
    fn claim_goes_through_handling_extension_review_and_re_review_to_final_closure() {
        let def = petition();
        let mut c = Case::new(&def, None);

        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        assert_eq!(c.state().state, "registered");
        assert_eq!(c.state().version, 1);
        assert_eq!(c.due_date("routing", "2026-03-02T09:00"), date("2026-03-17"));

        c.act("assign", &actor(OFFICE), json!({ "target_unit": 7, "cohandling_units": [8, 9] }), "2026-03-03T10:00");
        assert_eq!(c.state().state, "assigned");
        assert_eq!(c.state().handling_unit, Some(7));
        assert_eq!(c.state().cohandling_units, vec![8, 9]);
        assert!(c.view("routing", "2026-03-03T10:00").stopped_at.is_some(), "routing stops once assigned");
        // the 15-day acceptance notice is the next duty; the 5-working-day objection window is not a duty
        let views = clock_views(&def, c.state(), cal(), None, at("2026-03-03T10:00")).unwrap();
        let notice_due = c.view("acceptance_notice", "2026-03-03T10:00").due_at;
        assert_eq!(next_deadline(&views, &def).map(|d| d.0), Some(notice_due));

        c.act("accept", &handling(STAFF), json!({}), "2026-03-10T10:00");
        assert_eq!(c.state().state, "handling");
        // 60 日 from 03-10 is 05-09, a Saturday declared a make-up workday: no roll-forward
        let original_due = c.due_date("handling", "2026-03-10T10:00");
        assert_eq!(original_due, date("2026-05-09"));
        assert_eq!(c.view("handling", "2026-03-10T10:00").status, ClockStatus::OnTime);
        assert_eq!(c.view("handling", "2026-05-01T10:00").status, ClockStatus::DueSoon, "warn_before = 10 days");

        c.act(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 30, "reason": "涉及多个部门" }),
            "2026-04-20T10:00",
        );
        assert_eq!(c.state().state, "extension_pending");
        assert!(c.view("handling", "2026-04-20T10:00").stopped_at.is_none(), "handling keeps running while pending");
        c.act(
            "approve_extension",
            &handling(LEADER),
            json!({ "extension_days": 30, "reason": "情况复杂" }),
            "2026-04-22T10:00",
        );
        assert_eq!(c.state().state, "handling");

        let h = c.view("handling", "2026-04-22T10:00");
        assert_eq!(
            h.due_date,
            Some(original_due + chrono::Days::new(30)),
            "extension counts from the original due date"
        );
        assert_eq!(h.due_date, Some(date("2026-06-08")));
        assert_eq!(h.legal_due_at, at("2026-05-10T00:00"), "the statutory due stays as it was");
        assert_eq!(h.started_at, at("2026-03-10T10:00"));
        assert_eq!(h.extensions.len(), 1, "the extension is its own record");
        let ext = &h.extensions[0];
        assert_eq!(ext.amount, 30);
        assert_eq!(ext.approved_at, at("2026-04-22T10:00"));
        assert_eq!(ext.reason.as_deref(), Some("情况复杂"));
        assert_eq!(ext.event_seq, 5);
        assert_eq!(ext.approved_by, Some(105));

        let err = c.refused("reply", &handling(STAFF), json!({ "reply": "答复如下" }), "2026-05-20T10:00");
        assert_eq!(err.code, ErrorCode::MissingField);
        assert!(err.message.contains("“处理意见”") && err.field.as_deref() == Some("outcome"), "{}", err.message);
        c.act("reply", &handling(STAFF), json!({ "outcome": "support", "reply": "予以支持" }), "2026-05-20T10:00");
        assert_eq!(c.state().state, "replied");
        let h = c.view("handling", "2026-05-20T10:00");
        assert_eq!(h.stopped_at, Some(at("2026-05-20T10:00")));
        assert_eq!(h.status, ClockStatus::OnTime);
        assert_eq!(h.remaining, "按期完成");
        assert!(c.state().documents.iter().any(|(d, _)| d == "handling_opinion"));

        c.act("rate", &actor(RESIDENT), json!({ "satisfaction": "unsatisfied" }), "2026-05-25T10:00");
        assert_eq!(c.state().state, "replied", "rating does not move the case");

        c.act("request_review", &actor(RESIDENT), json!({ "reason": "对处理意见不服" }), "2026-06-01T10:00");
        assert_eq!(c.state().state, "review");
        assert!(c.view("review_request", "2026-06-01T10:00").stopped_at.is_some());
        assert_eq!(c.due_date("review", "2026-06-01T10:00"), date("2026-07-01"));

        c.act(
            "review_reply",
            &actor(OFFICE),
            json!({ "outcome": "not_support", "reply": "维持原处理意见" }),
            "2026-06-20T10:00",
        );
        assert_eq!(c.state().state, "reviewed");

        c.act("request_re_review", &actor(RESIDENT), json!({ "reason": "仍然不服" }), "2026-07-01T10:00");
        assert_eq!(c.state().state, "re_review");
        assert_eq!(c.due_date("re_review", "2026-07-01T10:00"), date("2026-07-31"));

        c.act("start_hearing", &actor(LEADER), json!({ "note": "召开听证会" }), "2026-07-10T10:00");
        assert_eq!(c.state().state, "re_review_hearing");
        let during = c.view("re_review", "2026-07-12T10:00");
        assert!(during.paused, "hearing time is not counted");
        assert!(during.stopped_at.is_none());
        let views = clock_views(&def, c.state(), cal(), None, at("2026-07-12T10:00")).unwrap();
        assert_eq!(next_deadline(&views, &def), None, "a paused clock is no next deadline");

        c.act("end_hearing", &actor(LEADER), json!({}), "2026-07-15T10:00");
        assert_eq!(c.state().state, "re_review");
        let after = c.view("re_review", "2026-07-15T10:00");
        assert!(!after.paused);
        assert_eq!(after.due_date, Some(date("2026-07-31") + chrono::Days::new(5)), "five hearing days added");
        // a closed pause no longer depends on when one looks
        assert_eq!(c.view("re_review", "2026-12-01T10:00").due_at, after.due_at);

        c.act(
            "re_review_reply",
            &actor(OFFICE),
            json!({ "outcome": "not_support", "reply": "复核维持" }),
            "2026-08-01T10:00",
        );
        let s = c.state();
        assert_eq!(s.state, "finally_closed");
        assert!(def.state(&s.state).unwrap().terminal);
        assert!(s.clocks.iter().all(|r| r.stopped_at.is_some()), "all clocks stopped: {:?}", s.clocks);
        assert_eq!(s.version, 13);
        assert_eq!(s.fields.get("outcome"), Some(&json!("not_support")), "latest opinion wins");
        let everyone = handling(&ALL_ROLES);
        assert!(available_actions(&def, s, &everyone).is_empty());
        let err = c.refused("close", &everyone, json!({}), "2026-12-01T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotAllowedInState);
        assert!(err.message.contains("复核终结"), "{}", err.message);
    }

    #[test]
    fn handling_finished_after_its_due_date_is_reported_overdue() {
        let def = petition();
        let mut c = accepted(&def, "claim", None);
        assert_eq!(c.view("handling", "2026-05-10T00:00").status, ClockStatus::Overdue);
        assert_eq!(c.view("handling", "2026-05-11T09:00").remaining, "已超期 2 天");
        c.act("reply", &handling(STAFF), json!({ "outcome": "explain", "reply": "答复" }), "2026-05-12T10:00");
        let h = c.view("handling", "2026-06-01T10:00");
        assert_eq!(h.status, ClockStatus::Overdue);
        assert_eq!(h.remaining, "超期完成");
    }

    // ------------------------------------------------------------------------------ matter types

    #[test]
    fn suggestion_is_answered_not_replied_and_cannot_be_reviewed() {
        let def = petition();
        let mut c = accepted(&def, "suggestion", None);
        assert!(c.state().clock_run("handling").is_none(), "suggestions carry no 60-day clock");

        let err =
            c.refused("reply", &handling(STAFF), json!({ "outcome": "support", "reply": "采纳" }), "2026-03-20T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotApplicable);
        assert!(err.message.contains("不适用于此类事项"), "{}", err.message);
        let err = c.refused(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 5, "reason": "复杂" }),
            "2026-03-20T10:00",
        );
        assert_eq!(err.code, ErrorCode::ActionNotApplicable);

        c.act("answer", &handling(STAFF), json!({ "reply": "感谢您的建议，已研究采纳" }), "2026-03-20T10:00");
        assert_eq!(c.state().state, "replied");
        assert!(c.state().clock_run("review_request").is_none(), "no review window for a suggestion");

        let err = c.refused("request_review", &actor(RESIDENT), json!({ "reason": "不满意" }), "2026-03-21T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotApplicable);
        // nothing to wait for: it may be closed at once
        c.act("close", &handling(STAFF), json!({}), "2026-03-21T10:00");
        assert_eq!(c.state().state, "closed");
    }

    #[test]
    fn claim_cannot_be_answered_as_a_suggestion() {
        let def = petition();
        let mut c = accepted(&def, "claim", None);
        let err = c.refused("answer", &handling(STAFF), json!({ "reply": "答复" }), "2026-03-20T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotApplicable);
    }

    #[test]
    fn accusation_can_be_forwarded_to_discipline_but_a_claim_cannot() {
        let def = petition();
        let mut accusation = Case::new(&def, None);
        accusation.act(
            "register",
            &actor(CLERK),
            json!({ "channel": "web", "matter_type": "accusation", "title": "举报", "content": "某干部收受礼金",
                    "accused_unit": 3, "accused_users": [11, 12] }),
            "2026-03-02T09:00",
        );
        assert_eq!(accusation.state().accused_unit, Some(3));
        assert_eq!(accusation.state().accused_users, vec![11, 12]);
        accusation.act(
            "forward_discipline",
            &actor(OFFICE),
            json!({ "discipline_body": "区纪委监委" }),
            "2026-03-03T09:00",
        );
        assert_eq!(accusation.state().state, "forwarded_discipline");
        assert!(accusation.state().clocks.iter().all(|r| r.stopped_at.is_some()));

        let mut claim = Case::new(&def, None);
        claim.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        let err = claim.refused(
            "forward_discipline",
            &actor(OFFICE),
            json!({ "discipline_body": "区纪委监委" }),
            "2026-03-03T09:00",
        );
        assert_eq!(err.code, ErrorCode::ActionNotApplicable);
        let offered: Vec<&str> =
            available_actions(&def, claim.state(), &actor(OFFICE)).iter().map(|a| a.id.as_str()).collect();
        assert!(!offered.contains(&"forward_discipline"), "{offered:?}");
        assert!(offered.contains(&"route_legal"), "{offered:?}");
    }

    #[test]
    fn only_claims_are_routed_into_legal_channels() {
        let def = petition();
        let mut claim = Case::new(&def, None);
        claim.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        claim.act(
            "route_legal",
            &actor(OFFICE),
            json!({ "legal_channel": "administrative_review", "reason": "属于行政复议范围" }),
            "2026-03-04T09:00",
        );
        assert_eq!(claim.state().state, "routed_legal");

        for other in ["suggestion", "accusation"] {
            let mut c = Case::new(&def, None);
            c.act("register", &actor(CLERK), register_payload(other), "2026-03-02T09:00");
            let err = c.refused(
                "route_legal",
                &actor(OFFICE),
                json!({ "legal_channel": "litigation", "reason": "x" }),
                "2026-03-04T09:00",
            );
            assert_eq!(err.code, ErrorCode::ActionNotApplicable, "{other}");
        }
    }

    #[test]
    fn not_accepted_case_ends_with_its_clocks_stopped() {
        let def = petition();
        let mut c = Case::new(&def, None);
        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        c.act("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-03-03T10:00");
        c.act(
            "unit_not_accept",
            &handling(STAFF),
            json!({ "not_accepted_reason": "being_handled", "reason": "已在办理" }),
            "2026-03-05T10:00",
        );
        assert_eq!(c.state().state, "not_accepted");
        assert!(c.state().clocks.iter().all(|r| r.stopped_at == Some(at("2026-03-05T10:00")) || r.clock == "routing"));
        assert!(c.state().clocks.iter().all(|r| r.stopped_at.is_some()));
        let err = c.refused(
            "unit_not_accept",
            &handling(STAFF),
            json!({ "not_accepted_reason": "not_petition", "reason": "x" }),
            "2026-03-06T10:00",
        );
        assert_eq!(err.code, ErrorCode::ActionNotAllowedInState);
    }

    // ------------------------------------------------------------------------------ roles and units

    #[test]
    fn handling_staff_cannot_assign() {
        let def = petition();
        let mut c = Case::new(&def, None);
        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        let err = c.refused("assign", &handling(STAFF), json!({ "target_unit": 7 }), "2026-03-03T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotAllowedForRole);
        assert_eq!(err.message, "“交办”只能由信访办执行");
    }

    #[test]
    fn resident_can_register_rate_and_request_review() {
        let def = petition();
        let mut c = Case::new(&def, None);
        c.act("register", &actor(RESIDENT), register_payload("claim"), "2026-03-02T09:00");
        c.act("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-03-03T10:00");
        c.act("accept", &handling(STAFF), json!({}), "2026-03-10T10:00");
        c.act("reply", &handling(STAFF), json!({ "outcome": "explain", "reply": "答复" }), "2026-05-20T10:00");

        let offered: BTreeSet<&str> =
            available_actions(&def, c.state(), &actor(RESIDENT)).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(offered, BTreeSet::from(["rate", "request_review"]));
        c.act(
            "rate",
            &actor(RESIDENT),
            json!({ "satisfaction": "basically_satisfied", "comment": "还行" }),
            "2026-05-21T10:00",
        );
        c.act("request_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-05-22T10:00");
        assert_eq!(c.state().state, "review");
        // but a resident cannot write the review opinion
        let err = c.refused(
            "review_reply",
            &actor(RESIDENT),
            json!({ "outcome": "support", "reply": "x" }),
            "2026-05-23T10:00",
        );
        assert_eq!(err.code, ErrorCode::ActionNotAllowedForRole);
    }

    #[test]
    fn accept_requires_staff_of_the_handling_unit() {
        let def = petition();
        let mut c = Case::new(&def, None);
        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        c.act("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-03-03T10:00");

        let outsider = actor(STAFF);
        assert!(!available_actions(&def, c.state(), &outsider).iter().any(|a| a.id == "accept"));
        let err = c.refused("accept", &outsider, json!({}), "2026-03-05T10:00");
        assert_eq!(err.code, ErrorCode::ActionNotAllowedForRole);
        assert_eq!(err.message, "“受理”只能由承办单位执行");

        let cohandler = Actor {
            roles: STAFF,
            in_handling_unit: false,
            in_cohandling_unit: true,
            above_handling_unit: false,
            above_recorded: vec![],
        };
        assert_eq!(
            c.refused("accept", &cohandler, json!({}), "2026-03-05T10:00").code,
            ErrorCode::ActionNotAllowedForRole
        );

        assert!(available_actions(&def, c.state(), &handling(STAFF)).iter().any(|a| a.id == "accept"));
        c.act("accept", &handling(STAFF), json!({}), "2026-03-05T10:00");
        // a co-handling unit may add notes, an outsider may not
        c.act("add_note", &cohandler, json!({ "note": "协办意见" }), "2026-03-06T10:00");
        assert_eq!(
            c.refused("add_note", &outsider, json!({ "note": "x" }), "2026-03-06T10:00").code,
            ErrorCode::ActionNotAllowedForRole
        );
        assert_eq!(c.state().state, "handling");
    }

    #[test]
    fn intake_only_once_and_nothing_before_it() {
        let def = petition();
        let mut c = Case::new(&def, None);
        let err = c.refused("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-03-02T09:00");
        assert_eq!(err.code, ErrorCode::ActionNotAllowedInState);
        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        let err = c.refused("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:05");
        assert_eq!(err.code, ErrorCode::ActionNotAllowedInState);
        let err = c.refused("escalate", &actor(OFFICE), json!({}), "2026-03-02T09:05");
        assert_eq!(err.code, ErrorCode::UnknownAction);
    }

    #[test]
    fn payload_is_checked_against_the_field_definitions() {
        let def = petition();
        let mut c = Case::new(&def, None);
        let mut p = register_payload("claim");
        p["matter_type"] = json!("complaint");
        let err = c.refused("register", &actor(CLERK), p, "2026-03-02T09:00");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("“事项类型”") && err.field.as_deref() == Some("matter_type"), "{}", err.message);

        let mut p = register_payload("claim");
        p["representatives"] = json!(6);
        assert_eq!(c.refused("register", &actor(CLERK), p, "2026-03-02T09:00").code, ErrorCode::InvalidInput);

        let mut p = register_payload("claim");
        p["assignee"] = json!(3);
        let err = c.refused("register", &actor(CLERK), p, "2026-03-02T09:00");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("不接受字段 assignee"), "{}", err.message);

        let mut p = register_payload("claim");
        p["title"] = json!("   ");
        assert_eq!(c.refused("register", &actor(CLERK), p, "2026-03-02T09:00").code, ErrorCode::MissingField);

        let mut p = register_payload("claim");
        p["title"] = json!("  噪音  ");
        c.act("register", &actor(CLERK), p, "2026-03-02T09:00");
        assert_eq!(c.state().field_str("title"), Some("噪音"), "text is trimmed");
    }

    // ------------------------------------------------------------------------------ windows

    #[test]
    fn review_request_window_rolls_past_dragon_boat_festival_and_then_closes() {
        let def = petition();
        // reply on 05-20: 30 日 is 06-19, 端午 (06-19..06-21), so the window runs through Monday 06-22
        let mut c = replied_claim(&def);
        assert_eq!(c.due_date("review_request", "2026-05-20T10:00"), date("2026-06-22"));
        let late = c.refused("request_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-06-23T00:30");
        assert_eq!(late.code, ErrorCode::WindowClosed);
        assert!(late.message.contains("申请复查期限"), "{}", late.message);

        let mut c = replied_claim(&def);
        c.act("request_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-06-22T23:30");
        assert_eq!(c.state().state, "review");
    }

    #[test]
    fn replied_claim_can_be_closed_only_after_the_review_window() {
        let def = petition();
        let mut c = replied_claim(&def);
        let err = c.refused("close", &handling(STAFF), json!({}), "2026-06-22T12:00");
        assert_eq!(err.code, ErrorCode::WindowClosed);
        assert!(err.message.contains("申请复查期限尚未届满（至 2026-06-22）"), "{}", err.message);
        c.act("close", &handling(STAFF), json!({ "note": "信访人未申请复查" }), "2026-06-23T09:00");
        assert_eq!(c.state().state, "closed");
        assert!(c.state().clocks.iter().all(|r| r.stopped_at.is_some()));
    }

    #[test]
    fn reviewed_claim_can_be_closed_only_after_the_re_review_window() {
        let def = petition();
        let mut c = replied_claim(&def);
        c.act("request_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-06-01T10:00");
        c.act("review_reply", &actor(LEADER), json!({ "outcome": "support", "reply": "支持" }), "2026-06-20T10:00");
        // 06-20 + 30 日 = 07-20 (Monday)
        assert_eq!(c.refused("close", &actor(OFFICE), json!({}), "2026-07-20T18:00").code, ErrorCode::WindowClosed);
        let late = c.refused("request_re_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-07-21T08:00");
        assert_eq!(late.code, ErrorCode::WindowClosed);
        c.act("close", &actor(OFFICE), json!({}), "2026-07-21T08:00");
        assert_eq!(c.state().state, "closed");
    }

    #[test]
    fn objection_window_counts_working_days_across_spring_festival() {
        let def = petition();
        let assigned = || {
            let mut c = Case::new(&def, None);
            c.act("register", &actor(CLERK), register_payload("claim"), "2026-02-10T09:00");
            // Thursday 02-12: working days 02-13, 02-14 (make-up Saturday), then 02-24, 02-25, 02-26
            c.act("assign", &actor(OFFICE), json!({ "target_unit": 7 }), "2026-02-12T10:00");
            c
        };
        let mut c = assigned();
        assert_eq!(c.due_date("objection", "2026-02-12T10:00"), date("2026-02-26"));
        c.act("object_transfer", &handling(STAFF), json!({ "reason": "不属于本机关职权范围" }), "2026-02-26T23:00");
        assert_eq!(c.state().state, "registered");
        // routing starts over: a second run, the first kept as it was
        let runs: Vec<&ClockRun> = c.state().clocks.iter().filter(|r| r.clock == "routing").collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].stopped_at, Some(at("2026-02-12T10:00")));
        assert_eq!((runs[1].started_at, runs[1].stopped_at), (at("2026-02-26T23:00"), None));

        let mut c = assigned();
        let err = c.refused("object_transfer", &handling(STAFF), json!({ "reason": "x" }), "2026-02-27T00:30");
        assert_eq!(err.code, ErrorCode::WindowClosed);
        assert!(err.message.contains("转送异议期限"), "{}", err.message);
    }

    // ------------------------------------------------------------------------------ extensions and regions

    #[test]
    fn national_rule_refuses_an_extension_beyond_thirty_days() {
        let def = petition();
        let mut c = accepted(&def, "claim", None);
        // The limit is checked when the extension is requested, and again when it is approved.
        let err = c.refused(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 31, "reason": "复杂" }),
            "2026-04-20T10:00",
        );
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("办理答复期限最多延长 30（已延长 0），本次申请 31 超出上限"), "{}", err.message);
        c.act(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 30, "reason": "复杂" }),
            "2026-04-20T10:00",
        );
        let err =
            c.refused("approve_extension", &handling(LEADER), json!({ "extension_days": 31 }), "2026-04-21T10:00");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        c.act("approve_extension", &handling(LEADER), json!({ "extension_days": 30 }), "2026-04-21T10:00");
        assert_eq!(c.due_date("handling", "2026-04-21T10:00"), date("2026-06-08"));
    }

    #[test]
    fn extensions_add_up_against_the_limit() {
        let def = petition();
        let mut c = accepted(&def, "claim", None);
        c.act(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 20, "reason": "复杂" }),
            "2026-04-20T10:00",
        );
        c.act("approve_extension", &handling(LEADER), json!({ "extension_days": 20 }), "2026-04-21T10:00");
        let err = c.refused(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 20, "reason": "仍复杂" }),
            "2026-05-20T10:00",
        );
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("已延长 20"), "{}", err.message);
        c.act(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 10, "reason": "仍复杂" }),
            "2026-05-20T10:00",
        );
        c.act("approve_extension", &handling(LEADER), json!({ "extension_days": 10 }), "2026-05-21T10:00");
        let h = c.view("handling", "2026-05-21T10:00");
        assert_eq!(h.extensions.iter().map(|e| e.amount).collect::<Vec<_>>(), vec![20, 10]);
        // 05-09 + 20 = 05-29, + 10 = 06-08
        assert_eq!(h.due_date, Some(date("2026-06-08")));
        // the limit is used up: a further request is refused outright
        let err = c.refused(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 1, "reason": "再延" }),
            "2026-05-22T10:00",
        );
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert_eq!(c.view("handling", "2026-05-23T10:00").extensions.len(), 2);
    }

    #[test]
    fn an_overdue_clock_cannot_be_extended_after_the_fact() {
        let def = petition();
        let mut c = accepted(&def, "claim", None);
        // Handling is due 05-09 (see above); on 05-10 it is overdue and stays so on record.
        let err = c.refused(
            "request_extension",
            &handling(STAFF),
            json!({ "extension_days": 10, "reason": "补办延期" }),
            "2026-05-10T10:00",
        );
        assert_eq!(err.code, ErrorCode::WindowClosed);
        assert!(err.message.contains("届满"), "{}", err.message);
    }

    #[test]
    fn zhejiang_handles_in_thirty_days_and_extends_up_to_sixty() {
        let def = petition();
        for code in ["330000", "330106"] {
            let mut c = accepted(&def, "claim", Some(region(code)));
            let h = c.view("handling", "2026-03-10T10:00");
            assert_eq!(h.period, Period { amount: 30, unit: PeriodUnit::CalendarDays }, "{code}");
            assert_eq!(h.due_date, Some(date("2026-04-09")), "{code}");
            assert!(h.source.as_deref().unwrap().starts_with("浙江省信访条例"));
            c.act(
                "request_extension",
                &handling(STAFF),
                json!({ "extension_days": 60, "reason": "复杂" }),
                "2026-04-01T10:00",
            );
            c.act("approve_extension", &handling(LEADER), json!({ "extension_days": 60 }), "2026-04-02T10:00");
            assert_eq!(c.due_date("handling", "2026-04-02T10:00"), date("2026-06-08"), "{code}");
        }
        // routing: 5 working days in Zhejiang, 15 calendar days elsewhere
        let mut zj = Case::new(&def, Some(region("330106")));
        zj.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        assert_eq!(zj.due_date("routing", "2026-03-02T09:00"), date("2026-03-09"));
        let mut js = Case::new(&def, Some(region("320000")));
        js.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        assert_eq!(js.due_date("routing", "2026-03-02T09:00"), date("2026-03-17"));
    }

    #[test]
    fn city_rule_applies_to_its_counties_and_beats_the_province_rule() {
        // a Hangzhou (330100) rule, listed before the Zhejiang one to show that file order does not decide
        let text = edited(
            "[[region_overrides]]\nregion = \"330000\"\nclock = \"handling\"",
            "[[region_overrides]]\nregion = \"330100\"\nclock = \"handling\"\namount = 20\nsource = \"杭州市规定\"\n\n\
             [[region_overrides]]\nregion = \"330000\"\nclock = \"handling\"",
        );
        let def = WorkflowDef::from_toml("petition.toml", &text).unwrap();
        let handling = def.clock("handling").unwrap();
        let rule = |code: &str| {
            let (p, max, source) = def.clock_rule(handling, Some(&region(code)), &BTreeMap::new());
            (p.amount, max, source.unwrap())
        };
        // a Hangzhou county: the city's period, the province's extension limit
        assert_eq!(rule("330106"), (20, Some(60), "杭州市规定".to_string()));
        assert_eq!(rule("330100"), (20, Some(60), "杭州市规定".to_string()));
        // Ningbo: the province's rule only
        assert_eq!(rule("330200").0, 30);
        assert_eq!(rule("330212").0, 30);
        // elsewhere, and without a region: the national default
        assert_eq!(rule("440300").0, 60);
        assert_eq!(def.clock_rule(handling, None, &BTreeMap::new()).0.amount, 60);
    }

    // ------------------------------------------------------------------------------ duplicates

    #[test]
    fn mark_duplicate_requires_the_original_case() {
        let def = petition();
        let mut c = Case::new(&def, None);
        c.act("register", &actor(CLERK), register_payload("claim"), "2026-03-02T09:00");
        let err = c.refused("mark_duplicate", &actor(CLERK), json!({ "note": "同一事项" }), "2026-03-02T10:00");
        assert_eq!(err.code, ErrorCode::MissingField);
        assert!(err.message.contains("原件") || err.message.contains("duplicate_of"), "{}", err.message);
        c.act("mark_duplicate", &actor(CLERK), json!({ "duplicate_of": 17 }), "2026-03-02T10:00");
        assert_eq!(c.state().state, "duplicate");
        assert_eq!(c.state().fields.get("duplicate_of"), Some(&json!(17)));
        assert_eq!(def.action("mark_duplicate").unwrap().duplicate_of.as_deref(), Some("duplicate_of"));
        assert!(c.state().clocks.iter().all(|r| r.stopped_at.is_some()));
    }

    #[test]
    fn duplicate_received_is_counted_on_the_original_without_moving_it() {
        let def = petition();
        let c = accepted(&def, "claim", None);
        let before = c.state().clone();
        let ev = |seq: i64, dup: i64| EventFacts {
            seq,
            action: DUPLICATE_RECEIVED.to_string(),
            at: at("2026-03-12T10:00"),
            actor_id: None,
            actor_unit: None,
            payload: obj(json!({ "duplicate_case": dup })),
            documents: vec![],
        };
        let once = apply_event(&def, Some(before.clone()), &ev(4, 21)).unwrap();
        let twice = apply_event(&def, Some(once.clone()), &ev(5, 22)).unwrap();
        assert_eq!(twice.duplicates, vec![21, 22]);
        assert_eq!(twice.version, before.version + 2);
        assert_eq!(twice.state, before.state);
        assert_eq!(twice.clocks, before.clocks);
        assert_eq!(twice.fields, before.fields);
        assert_eq!(twice.actions_taken, before.actions_taken);
    }

    // ------------------------------------------------------------------------------ replay

    #[test]
    fn replaying_the_same_events_rebuilds_the_same_case() {
        let def = petition();
        let mut c = replied_claim(&def);
        c.act("request_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-06-01T10:00");
        c.act("review_reply", &actor(LEADER), json!({ "outcome": "support", "reply": "支持" }), "2026-06-20T10:00");
        c.act("request_re_review", &actor(RESIDENT), json!({ "reason": "不服" }), "2026-07-01T10:00");
        c.act("start_hearing", &actor(LEADER), json!({}), "2026-07-10T10:00");

        let fold = |events: &[EventFacts]| {
            events.iter().try_fold(None, |s, e| apply_event(&def, s, e).map(Some)).unwrap().unwrap()
        };
        let first = fold(&c.events);
        let second = fold(&c.events);
        assert_eq!(first, second);
        assert_eq!(&first, c.state());

        let json = serde_json::to_string(&first).unwrap();
        let back: CaseState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, first, "CaseState survives a JSON round trip");
        assert_eq!(serde_json::to_string(&back).unwrap(), json);

        // events, as stored, round-trip too
        let stored = serde_json::to_string(&c.events).unwrap();
        let events: Vec<EventFacts> = serde_json::from_str(&stored).unwrap();
        assert_eq!(fold(&events), first);
    }

    #[test]
    fn event_naming_an_unknown_action_cannot_be_replayed() {
        let def = petition();
        let c = accepted(&def, "claim", None);
        let ev = EventFacts {
            seq: 4,
            action: "escalate".into(),
            at: at("2026-03-12T10:00"),
            actor_id: Some(1),
            actor_unit: None,
            payload: Map::new(),
            documents: vec![],
        };
        let err = apply_event(&def, Some(c.state().clone()), &ev).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownAction);
    }

    // ------------------------------------------------------------------------------ small definitions

    const PROBE: &str = r#"
        kind = "probe"
        name = "测试流程"
        version = 1
        code_prefix = "T"
        intake = "open"

        [[states]]
        id = "open"
        name = "办理中"

        [[states]]
        id = "done"
        name = "已办结"
        terminal = true

        [[clocks]]
        id = "work"
        name = "办理期限"
        amount = 10
        unit = "calendar"

        [[actions]]
        id = "open"
        name = "登记"
        to = "open"
        roles = ["reception_clerk"]
        start = ["work"]

        [[actions]]
        id = "hold"
        name = "暂停"
        from = ["open"]
        roles = ["leader"]
        pause = ["work"]

        [[actions]]
        id = "restart"
        name = "重新计时"
        from = ["open"]
        roles = ["leader"]
        start = ["work"]

        [[actions]]
        id = "confirm"
        name = "确认"
        from = ["open"]
        roles = ["resident"]
        by = "handling"

        [[actions]]
        id = "finish"
        name = "办结"
        from = ["open"]
        to = "done"
        roles = ["leader"]
    "#;

    #[test]
    fn restarting_a_paused_clock_closes_the_old_runs_pause() {
        let def = WorkflowDef::from_toml("probe.toml", PROBE).unwrap();
        let mut c = Case::new(&def, None);
        c.act("open", &actor(CLERK), json!({}), "2026-03-02T10:00");
        c.act("hold", &actor(LEADER), json!({}), "2026-03-03T10:00");
        c.act("restart", &actor(LEADER), json!({}), "2026-03-05T10:00");
        let runs = &c.state().clocks;
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].stopped_at, Some(at("2026-03-05T10:00")));
        assert_eq!(runs[0].pauses, vec![(at("2026-03-03T10:00"), Some(at("2026-03-05T10:00")))]);
        assert!(runs[1].pauses.is_empty());
        // the old run's due date (03-12 + 2 paused days) no longer moves with the day one looks at it
        let old_due = |now: &str| clock_views(&def, c.state(), cal(), None, at(now)).unwrap()[0].due_date;
        assert_eq!(old_due("2026-03-06T10:00"), Some(date("2026-03-16")));
        assert_eq!(old_due("2026-09-01T10:00"), Some(date("2026-03-16")));
    }

    #[test]
    fn resident_is_offered_what_the_engine_would_accept() {
        let def = WorkflowDef::from_toml("probe.toml", PROBE).unwrap();
        let mut c = Case::new(&def, None);
        c.act("open", &actor(CLERK), json!({}), "2026-03-02T10:00");
        let offered: Vec<&str> =
            available_actions(&def, c.state(), &actor(RESIDENT)).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(offered, vec!["confirm"]);
        c.act("confirm", &actor(RESIDENT), json!({}), "2026-03-03T10:00");
        assert_eq!(c.state().state, "open");
    }

    // ------------------------------------------------------------------------------ property

    /// A plausible value for each required field of `action`.
    fn plausible_payload(def: &WorkflowDef, action: &ActionDef) -> Map<String, Value> {
        plausible_payload_picking(def, action, 0)
    }

    /// A payload with every required field; `pick` chooses among a choice field's options.
    fn plausible_payload_picking(def: &WorkflowDef, action: &ActionDef, pick: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for id in &action.requires {
            let f = def.field(id).unwrap();
            let v = match f.ty {
                FieldType::Choice => json!(f.options.keys().nth(pick % f.options.len()).unwrap()),
                FieldType::Int if f.id == "extension_days" => json!(5),
                FieldType::Int => json!(f.min.unwrap_or(1).max(1)),
                FieldType::Unit | FieldType::User | FieldType::Case | FieldType::Booking => json!(1),
                FieldType::Units | FieldType::Users => json!([1]),
                FieldType::Text | FieldType::LongText => json!("测试"),
                FieldType::Date => json!("2026-03-01"),
                FieldType::Grid => json!("349901001001001"),
                FieldType::Site => json!("S-1"),
                FieldType::Checklist => json!({}),
            };
            out.insert(id.clone(), v);
        }
        out
    }

    // ------------------------------------------------------------------ disputes, incidents, tasks

    fn kind(k: &str) -> WorkflowDef {
        Registry::embedded().get(k).unwrap().clone()
    }

    const MEDIATOR: &[Role] = &[Role::Mediator];
    const DUTY: &[Role] = &[Role::DutyOfficer];

    #[test]
    fn a_mediation_runs_from_application_to_performance_with_its_confirmation_window() {
        let def = kind("dispute");
        assert_eq!(def.parties.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["applicant", "respondent"]);
        let mut c = Case::new(&def, None);
        let m = handling(MEDIATOR);
        c.act(
            "register",
            &actor(&[Role::GridWorker]),
            json!({ "origin": "application", "dispute_type": "neighbour", "title": "相邻通道堆放杂物", "facts": "双方因楼道堆物发生争执",
                    "committee": 7, "source_case": 41 }),
            "2026-03-02T09:00",
        );
        assert_eq!(
            (c.state().state.as_str(), c.state().parent, c.state().handling_unit),
            ("applied", Some(41), Some(7))
        );
        // The committee of another unit cannot accept it.
        let e = c.refused("accept", &actor(MEDIATOR), json!({ "mediators": [3] }), "2026-03-02T10:00");
        assert_eq!(e.code, ErrorCode::ActionNotAllowedForRole);
        c.act("accept", &m, json!({ "mediators": [3, 4] }), "2026-03-03T10:00");
        assert_eq!(c.view("acceptance", "2026-03-03T10:00").remaining, "按期完成");
        c.act("open_session", &m, json!({ "session_mode": "closed" }), "2026-03-05T10:00");
        c.act("record_session", &m, json!({ "session_record": "双方陈述意见" }), "2026-03-05T11:00");
        c.act("record_session", &m, json!({ "session_record": "第二次调解" }), "2026-03-09T11:00");
        c.act(
            "reach_written_agreement",
            &m,
            json!({ "agreement_terms": "三日内清理杂物", "performance_terms": "自行清理", "performance_deadline": "2026-03-13" }),
            "2026-03-10T10:00",
        );
        // Effective only once every party, the mediator and the seal are recorded.
        let e = c.refused(
            "agreement_effective",
            &m,
            json!({ "parties_signed": "yes", "mediator_signed": "yes" }),
            "2026-03-10T11:00",
        );
        assert_eq!(e.field.as_deref(), Some("seal_applied"));
        c.act(
            "agreement_effective",
            &m,
            json!({ "parties_signed": "yes", "mediator_signed": "yes", "seal_applied": "yes" }),
            "2026-03-10T11:00",
        );
        assert_eq!(c.state().state, "performing");
        let window = c.view("judicial_window", "2026-03-20T10:00");
        assert_eq!(window.due_date, Some(date("2026-04-09")), "30 days from the agreement taking effect");
        assert_eq!(c.view("mediation", "2026-03-20T10:00").remaining, "按期完成");
        // Day 31 is too late to apply for judicial confirmation.
        let mut late = Case { def: &def, region: None, state: c.state.clone(), events: c.events.clone() };
        let e = late.refused("apply_confirmation", &m, json!({ "court": "临江市江南区人民法院" }), "2026-04-10T09:00");
        assert_eq!(e.code, ErrorCode::WindowClosed);
        c.act("apply_confirmation", &m, json!({ "court": "临江市江南区人民法院" }), "2026-03-20T09:00");
        c.refused("apply_confirmation", &m, json!({ "court": "临江市江南区人民法院" }), "2026-03-21T09:00");
        c.act("record_confirmation", &m, json!({ "confirmation_outcome": "confirmed" }), "2026-03-25T09:00");
        c.act("follow_up", &m, json!({ "note": "已清理" }), "2026-03-26T09:00");
        c.act("performed", &m, json!({ "note": "回访确认履行完毕" }), "2026-03-26T10:00");
        assert!(def.state(&c.state().state).unwrap().terminal);
        let docs: Vec<&str> = c.state().documents.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(docs, ["application", "session_record", "session_record", "agreement"]);
    }

    #[test]
    fn a_refusal_or_a_failed_mediation_ends_it_and_tells_the_parties_their_routes() {
        let def = kind("dispute");
        let m = handling(MEDIATOR);
        let intake = json!({ "origin": "initiative", "dispute_type": "contract", "title": "装修款", "facts": "…", "committee": 7 });
        let mut c = Case::new(&def, None);
        c.act("register", &m, intake.clone(), "2026-03-02T09:00");
        let e = c.refused("refuse", &m, json!({ "reason": "被申请人明确拒绝" }), "2026-03-02T10:00");
        assert_eq!(e.field.as_deref(), Some("other_routes"));
        c.act(
            "refuse",
            &m,
            json!({ "reason": "被申请人明确拒绝", "other_routes": "可向人民法院起诉" }),
            "2026-03-02T10:00",
        );
        assert_eq!(c.state().state, "refused");
        assert!(c.state().clocks.iter().all(|r| r.stopped_at.is_some()));

        let mut c = Case::new(&def, None);
        c.act("register", &m, intake, "2026-03-02T09:00");
        c.act("accept", &m, json!({ "mediators": [3] }), "2026-03-02T10:00");
        c.act("open_session", &m, json!({ "session_mode": "public" }), "2026-03-03T10:00");
        c.act(
            "terminate",
            &m,
            json!({ "end_reason": "no_agreement", "other_routes": "可申请仲裁或起诉" }),
            "2026-04-15T10:00",
        );
        assert_eq!(c.view("mediation", "2026-04-15T10:00").remaining, "超期完成", "past the month it is recorded late");
        assert_eq!(c.state().documents.last().unwrap().0, "termination");
    }

    #[test]
    fn an_incidents_report_clocks_follow_its_level_and_a_late_report_stays_late() {
        let def = kind("incident");
        let intake = |level: &str| {
            json!({ "incident_type": "accident", "level": level, "title": "厂房火灾", "occurred_at": "今日 09:40", "location": "江南工业园",
                    "description": "起火", "responsible_unit": 7 })
        };
        let d = handling(DUTY);
        // 一般 (IV): no 30-minute phone clock; the written report within 2 hours.
        let mut c = Case::new(&def, None);
        c.act("receive", &actor(&[Role::GridWorker]), intake("IV"), "2026-03-02T10:00");
        assert!(c.state().clock_run("phone_report").is_none());
        assert_eq!(c.view("written_report", "2026-03-02T10:00").due_at, at("2026-03-02T12:00"));
        // 较大 (III): phone within 30 minutes and in writing within 1 hour.
        let mut c = Case::new(&def, None);
        c.act("receive", &d, intake("III"), "2026-03-02T10:00");
        assert_eq!(c.view("phone_report", "2026-03-02T10:00").due_at, at("2026-03-02T10:30"));
        assert_eq!(c.view("written_report", "2026-03-02T10:00").due_at, at("2026-03-02T11:00"));
        c.act("phone_report", &d, json!({ "reported_to": "县应急管理局值班室" }), "2026-03-02T10:20");
        // Reported at 11:25 — the record says 11:25 and the clock says late; nothing lets it say otherwise.
        c.act(
            "written_report",
            &d,
            json!({ "report_text": "初报", "reported_to": "县应急管理局" }),
            "2026-03-02T11:25",
        );
        let w = c.view("written_report", "2026-03-02T11:30");
        assert_eq!(
            (w.stopped_at, w.status, w.remaining.as_str()),
            (Some(at("2026-03-02T11:25")), ClockStatus::Overdue, "超期完成")
        );
        assert_eq!(c.view("phone_report", "2026-03-02T11:30").remaining, "按期完成");
        // Follow-up reports until closure, each restarting the 24-hour clock.
        c.act("confirm", &d, json!({ "verified": "yes", "measures": "疏散员工" }), "2026-03-02T11:40");
        c.act("follow_up_report", &d, json!({ "report_text": "明火已扑灭", "injured": 2 }), "2026-03-03T09:00");
        assert_eq!(c.view("follow_up", "2026-03-03T09:00").due_at, at("2026-03-04T09:00"));
        c.act("close", &handling(LEADER), json!({ "report_text": "终报", "measures": "善后完毕" }), "2026-03-03T18:00");
        assert_eq!(c.state().fields["injured"], json!(2));
        // A level set higher later tightens the written clock for the record too (rule from the current fields).
        let mut c = Case::new(&def, None);
        c.act("receive", &d, intake("IV"), "2026-03-02T10:00");
        c.act("adjust_level", &handling(LEADER), json!({ "level": "II", "reason": "伤亡扩大" }), "2026-03-02T10:10");
        assert_eq!(c.view("written_report", "2026-03-02T10:10").due_at, at("2026-03-02T11:00"));
    }

    #[test]
    fn an_unacknowledged_alert_climbs_the_ladder_and_each_acknowledgement_is_recorded() {
        let def = kind("incident");
        let mut c = Case::new(&def, None);
        let intake = json!({ "incident_type": "natural_disaster", "level": "IV", "title": "山体滑坡", "occurred_at": "08:50",
                             "location": "石门村", "description": "道路阻断", "responsible_unit": 7 });
        c.act("receive", &actor(&[Role::GridWorker]), intake, "2026-03-02T09:00");
        assert!(c.fire_timers(at("2026-03-02T09:09")).is_empty(), "10 minutes for the duty room");
        // Nobody takes a timer action by hand.
        let e = c.refused("escalate_to_leader", &handling(&ALL_ROLES), json!({}), "2026-03-02T09:05");
        assert!(e.message.contains("系统"), "{e}");
        assert_eq!(c.fire_timers(at("2026-03-02T09:10")), ["escalate_to_leader"]);
        // The duty room's rung is gone; the leader's is open.
        let e = c.refused("ack_duty", &handling(DUTY), json!({}), "2026-03-02T09:11");
        assert_eq!(e.code, ErrorCode::WindowClosed);
        c.act("ack_leader", &handling(LEADER), json!({ "note": "已知悉，赶赴现场" }), "2026-03-02T09:20");
        assert!(c.fire_timers(at("2026-03-03T09:00")).is_empty(), "acknowledged: the ladder stops");
        assert_eq!(c.view("ack_leader", "2026-03-02T09:30").remaining, "按期完成");

        // Nobody answers: leader of the unit above, then the standing committee, then nothing more.
        let mut c = Case::new(&def, None);
        let intake = json!({ "incident_type": "social_safety", "level": "IV", "title": "聚集", "occurred_at": "10:00",
                             "location": "广场", "description": "…", "responsible_unit": 7 });
        c.act("receive", &handling(DUTY), intake, "2026-03-02T10:00");
        // Each rung's time runs from when the system moved the alert there (the sweep's time, never backdated).
        assert_eq!(c.fire_timers(at("2026-03-02T10:11")), ["escalate_to_leader"]);
        assert!(c.fire_timers(at("2026-03-02T10:25")).is_empty());
        assert_eq!(c.fire_timers(at("2026-03-02T10:26")), ["escalate_to_principal"]);
        assert_eq!(c.fire_timers(at("2026-03-02T12:00")), ["escalate_to_committee"]);
        let rungs: Vec<_> = c
            .state()
            .clocks
            .iter()
            .filter(|r| r.clock.starts_with("ack_"))
            .map(|r| (r.clock.as_str(), r.stopped_at.is_some()))
            .collect();
        assert_eq!(rungs, [("ack_duty", true), ("ack_leader", true), ("ack_principal", true)]);
        assert!(c.fire_timers(at("2026-03-05T12:00")).is_empty());
        // A leader of the handling unit is not the rung above it.
        let e = c.refused("ack_principal", &handling(LEADER), json!({}), "2026-03-02T12:01");
        assert_ne!(e.code, ErrorCode::Internal);
    }

    #[test]
    fn a_tasks_time_limit_is_the_one_its_plan_step_set() {
        let def = kind("task");
        let mut c = Case::new(&def, None);
        c.act(
            "assign",
            &actor(LEADER),
            json!({ "title": "转移石门村低洼处群众", "owner_unit": 7, "within_minutes": 90, "source_case": 12 }),
            "2026-03-02T09:00",
        );
        assert_eq!(c.state().parent, Some(12));
        assert_eq!(c.view("task_due", "2026-03-02T09:00").due_at, at("2026-03-02T10:30"));
        c.act("sign_for", &handling(STAFF), json!({}), "2026-03-02T09:05");
        c.act("complete", &handling(STAFF), json!({ "result": "已转移 23 人" }), "2026-03-02T10:10");
        assert_eq!(c.view("task_due", "2026-03-02T10:10").remaining, "按期完成");
    }

    #[test]
    fn an_overdue_rectification_is_escalated_once_and_the_leader_must_act() {
        let def = kind("hazard");
        let mut c = Case::new(&def, None);
        let inspector = actor(&[Role::SafetyInspector]);
        c.act(
            "identify",
            &inspector,
            json!({ "site": "S-CN-01", "location": "食堂", "title": "灭火器过期", "description": "…" }),
            "2026-03-02T09:00",
        );
        c.act("issue_notice", &inspector, json!({ "grade": "general", "target_unit": 7, "rectify_within": "d3", "requirements": "更换", "legal_basis": "消防法" }), "2026-03-02T10:00");
        assert!(c.fire_timers(at("2026-03-05T23:59")).is_empty());
        assert_eq!(c.fire_timers(at("2026-03-06T08:00")), ["escalate_overdue"]);
        assert!(c.fire_timers(at("2026-03-20T08:00")).is_empty(), "once per overdue run");
        assert_eq!(c.view("rectification", "2026-03-06T08:00").remaining, "超期完成");
        let e = c.refused(
            "extend_rectification",
            &handling(LEADER),
            json!({ "extension_days": 3, "reason": "…" }),
            "2026-03-06T09:00",
        );
        assert_eq!(e.code, ErrorCode::ActionNotAllowedInState, "an overdue deadline is not extended after the fact");
        c.act(
            "supervise_overdue",
            &handling(LEADER),
            json!({ "note": "约谈校长，责令 2 日内完成" }),
            "2026-03-06T10:00",
        );
        c.act("self_check", &handling(STAFF), json!({ "note": "已更换" }), "2026-03-07T10:00");
        assert_eq!(c.state().state, "self_checked");
    }

    #[test]
    fn coverage_rounds_and_bookings_are_validated_at_load() {
        let edit = |file: &str, text: &str, from: &str, to: &str| {
            assert_eq!(text.matches(from).count(), 1, "{from}");
            WorkflowDef::from_toml(file, &text.replace(from, to)).unwrap_err().message
        };
        let plan = include_str!("../workflows/special_period.toml");
        let bad = |from: &str, to: &str| edit("special_period.toml", plan, from, to);
        assert!(bad("unit_field = \"scope_unit\"", "unit_field = \"title\"").contains("单位字段"));
        assert!(bad("to_field = \"ends_on\"", "to_field = \"title\"").contains("日期字段"));
        assert!(bad("states = [\"active\"]", "states = [\"running\"]").contains("未定义的状态 running"));
        assert!(bad("shown = [\"duty_level\", \"reporting\"]", "shown = [\"measures\"]").contains("选项字段"));

        let daily = include_str!("../workflows/daily_report.toml");
        let bad = |from: &str, to: &str| edit("daily_report.toml", daily, from, to);
        assert!(bad("afternoon = \"下午报（16:00 前）\"", "evening = \"晚报\"").contains("round_field"));
        assert!(bad("round_field = \"round\"\n", "").contains("同时给出"));
        // A round's `during` must name a covering kind's choice field and its options (checked across kinds).
        let during = |to: &str| {
            let text = daily.replace("values = [\"twice_daily\"]", to);
            Registry::load(&[("daily_report.toml".into(), text)]).unwrap_err().message
        };
        assert!(during("values = [\"thrice_daily\"]").contains("special_period.reporting"));
        let wrong_kind = daily.replace("kind = \"special_period\", field", "kind = \"petition\", field");
        let e = Registry::load(&[("daily_report.toml".into(), wrong_kind)]).unwrap_err();
        assert!(e.message.contains("petition.reporting"), "petitions cover nothing: {}", e.message);
        let no_covers = plan.replace("[covers]\n", "[unused]\n");
        assert!(WorkflowDef::from_toml("special_period.toml", &no_covers).is_err(), "covers is checked by name");

        let reception = include_str!("../workflows/reception.toml");
        let bad = |from: &str, to: &str| edit("reception.toml", reception, from, to);
        assert!(bad("binds = \"parent\"", "").contains("booking"), "a booking needs the case it is on");
        assert!(bad("requires = [\"note\"]", "requires = [\"note\", \"booking\"]").contains("只能用于登记动作"));
    }

    #[test]
    fn timers_parties_and_links_are_validated_at_load() {
        let dispute = include_str!("../workflows/dispute.toml");
        let bad = |from: &str, to: &str| {
            assert_eq!(dispute.matches(from).count(), 1, "{from}");
            WorkflowDef::from_toml("dispute.toml", &dispute.replace(from, to)).unwrap_err().message
        };
        assert!(bad("min = 1\nmax = 10\n\n[[parties]]", "min = 11\nmax = 10\n\n[[parties]]").contains("人数范围"));
        assert!(bad("binds = \"parent\"", "").contains("opened_from"));
        let incident = include_str!("../workflows/incident.toml");
        let bad = |from: &str, to: &str| {
            assert_eq!(incident.matches(from).count(), 1, "{from}");
            WorkflowDef::from_toml("incident.toml", &incident.replace(from, to)).unwrap_err().message
        };
        assert!(
            bad("on_expiry = \"ack_duty\"\nroles = []", "on_expiry = \"ack_duty\"\nroles = [\"leader\"]")
                .contains("不应指定角色")
        );
        assert!(
            bad(
                "on_expiry = \"ack_principal\"\nroles = []\nstop = [\"ack_principal\"]",
                "on_expiry = \"ack_principal\"\nroles = []"
            )
            .contains("反复触发")
        );
        assert!(bad("on_expiry = \"ack_duty\"", "on_expiry = \"follow_upx\"").contains("未定义的时限"));
        // Notifications go to people of the handling unit: a kind without one cannot name them.
        assert!(bad("binds = \"handling_unit\"\n", "").contains("notify"));
        assert!(bad("notify = [{ to = \"duty_leader\" }]", "notify = [{ to = \"everyone\" }]").contains("everyone"));
        // A kind that opens tasks must be one the task kind lists.
        let task = include_str!("../workflows/task.toml")
            .replace("opened_from = [\"incident\", \"special_period\"]", "opened_from = [\"special_period\"]");
        let err = Registry::load(&[("task.toml".into(), task)]).unwrap_err();
        assert!(err.message.contains("opens"), "{err}");
    }

    mod random_walks {
        use super::*;
        use proptest::prelude::*;

        const MATTER_TYPES: [&str; 3] = ["suggestion", "accusation", "claim"];

        fn check_invariants(def: &WorkflowDef, s: &CaseState, applied: usize, everyone: &Actor<'_>) {
            let state = def.state(&s.state).unwrap_or_else(|| panic!("undefined state {}", s.state));
            assert_eq!(s.version, applied as i64, "version counts the applied events");
            for run in &s.clocks {
                assert!(def.clock(&run.clock).is_some());
                if let Some(stop) = run.stopped_at {
                    assert!(stop >= run.started_at);
                    assert!(run.pauses.iter().all(|p| p.1.is_some()), "a stopped run has no open pause: {run:?}");
                }
            }
            for id in ["handling", "review_request"] {
                if def.kind == "petition" && s.field_str("matter_type") != Some("claim") {
                    assert!(s.clock_run(id).is_none(), "{id} runs for claims only");
                }
            }
            if state.terminal {
                assert!(available_actions(def, s, everyone).is_empty(), "terminal {} offers actions", s.state);
                assert!(s.clocks.iter().all(|r| r.stopped_at.is_some()), "clock running after {}", s.state);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn random_walks_stay_inside_the_definition(
                kind in 0usize..EMBEDDED.len(),
                matter in 0usize..3,
                start_day in 0u64..120,
                steps in proptest::collection::vec((0u64..=40, 0u32..1440, any::<prop::sample::Index>()), 0..=30),
            ) {
                // Every shipped kind, each walked at random through what its definition allows.
                let (file, text) = EMBEDDED[kind];
                let def = WorkflowDef::from_toml(file, text).unwrap();
                let everyone = Actor { roles: &ALL_ROLES, in_handling_unit: true, in_cohandling_unit: true, above_handling_unit: true, above_recorded: vec!["review".into()] };
                let mut now = at("2026-01-05T09:00") + chrono::Duration::days(start_day as i64);
                let mut intake = plausible_payload(&def, def.intake_action());
                if def.field("matter_type").is_some() {
                    intake.insert("matter_type".into(), json!(MATTER_TYPES[matter]));
                }
                let mut c = Case::new(&def, None);
                c.try_act(&def.intake, &everyone, Value::Object(intake), now).unwrap();
                check_invariants(&def, c.state(), 1, &everyone);

                for (days, minutes, pick) in steps {
                    now += chrono::Duration::days(days as i64) + chrono::Duration::minutes(minutes as i64);
                    // The system's timers first, as the sweeper would have taken them by now.
                    for _ in c.fire_timers(now) {
                        check_invariants(&def, c.state(), c.events.len(), &everyone);
                    }
                    let s = c.state().clone();
                    let offered: BTreeSet<&str> = available_actions(&def, &s, &everyone).iter().map(|a| a.id.as_str()).collect();
                    let mut allowed = vec![];
                    for a in def.actions.iter().filter(|a| a.id != def.intake) {
                        // Users never take a timer action.
                        if a.on_expiry.is_some() {
                            let e = check_action(&def, Some(&s), &a.id, &everyone, &Map::new(), now, cal(), None).unwrap_err();
                            prop_assert!(matches!(e.code, ErrorCode::ActionNotAllowedInState | ErrorCode::ActionNotAllowedForRole), "{e}");
                            continue;
                        }
                        // Each choice option in turn, so actions conditional on a choice are reached too.
                        let tries: Vec<_> = (0..3).map(|k| check_action(&def, Some(&s), &a.id, &everyone, &plausible_payload_picking(&def, a, k), now, cal(), None)).collect();
                        match tries.iter().position(|t| t.is_ok()) {
                            Some(k) => {
                                prop_assert!(offered.contains(a.id.as_str()), "{} accepted but not offered in {}", a.id, s.state);
                                allowed.push((a, k));
                            }
                            None => {
                                let e = tries.into_iter().next().unwrap().unwrap_err();
                                prop_assert!(
                                    matches!(e.code, ErrorCode::ActionNotAllowedInState | ErrorCode::ActionNotApplicable
                                        | ErrorCode::WindowClosed | ErrorCode::InvalidInput | ErrorCode::CalendarOutOfRange),
                                    "unexpected refusal of {} in {}: {e}", a.id, s.state
                                )
                            }
                        }
                    }
                    let terminal = def.state(&s.state).unwrap().terminal;
                    prop_assert_eq!(allowed.is_empty(), terminal, "in {} allowed {:?}", s.state, allowed.iter().map(|(a, _)| &a.id).collect::<Vec<_>>());
                    if terminal {
                        break;
                    }
                    let (a, k) = pick.get(&allowed);
                    c.try_act(&a.id, &everyone, Value::Object(plausible_payload_picking(&def, a, *k)), now).unwrap();
                    check_invariants(&def, c.state(), c.events.len(), &everyone);
                    if let Err(e) = clock_views(&def, c.state(), cal(), None, now) {
                        prop_assert_eq!(e.code, ErrorCode::CalendarOutOfRange);
                    }
                }

                let replayed = c.events.iter().try_fold(None, |s, e| apply_event(&def, s, e).map(Some)).unwrap().unwrap();
                prop_assert_eq!(&replayed, c.state());
                let back: CaseState = serde_json::from_str(&serde_json::to_string(&replayed).unwrap()).unwrap();
                prop_assert_eq!(back, replayed);
            }
        }
    }
}
