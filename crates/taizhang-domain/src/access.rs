//! Roles, the three-administrator separation, and the pure access rules for cases.
//!
//! The rules here decide from plain facts (the user's unit path, the case's units, the accused parties); the
//! service gathers those facts from the store and the web layer only reports the outcome.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, DomainResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 接待/登记员 — registers letters, visits and calls; first-contact owner.
    ReceptionClerk,
    /// 信访局/办 — routes matters.
    PetitionOffice,
    /// 承办单位工作人员 — accepts, investigates, replies.
    HandlingStaff,
    /// 领导 — approves extensions, case-contract leader, supervises.
    Leader,
    /// 督查室/综治办.
    SupervisionOffice,
    GridWorker,
    Mediator,
    SafetyInspector,
    DutyOfficer,
    /// 受理派遣员 — the urban-management command centre: accepts grid reports, registers or voids them,
    /// dispatches them to departments and closes them after on-site verification.
    Dispatcher,
    /// 系统管理员 (三员): accounts and units.
    SystemAdmin,
    /// 安全管理员 (三员): roles and permissions.
    SecurityAdmin,
    /// 审计管理员 (三员): reads the audit log.
    AuditAdmin,
    /// A resident acting through the portal with a case's query code; never a staff account.
    Resident,
}

pub const ALL_ROLES: [Role; 14] = [
    Role::ReceptionClerk,
    Role::PetitionOffice,
    Role::HandlingStaff,
    Role::Leader,
    Role::SupervisionOffice,
    Role::GridWorker,
    Role::Mediator,
    Role::SafetyInspector,
    Role::DutyOfficer,
    Role::Dispatcher,
    Role::SystemAdmin,
    Role::SecurityAdmin,
    Role::AuditAdmin,
    Role::Resident,
];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReceptionClerk => "reception_clerk",
            Role::PetitionOffice => "petition_office",
            Role::HandlingStaff => "handling_staff",
            Role::Leader => "leader",
            Role::SupervisionOffice => "supervision_office",
            Role::GridWorker => "grid_worker",
            Role::Mediator => "mediator",
            Role::SafetyInspector => "safety_inspector",
            Role::DutyOfficer => "duty_officer",
            Role::Dispatcher => "dispatcher",
            Role::SystemAdmin => "system_admin",
            Role::SecurityAdmin => "security_admin",
            Role::AuditAdmin => "audit_admin",
            Role::Resident => "resident",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Role::ReceptionClerk => "接待登记员",
            Role::PetitionOffice => "信访办",
            Role::HandlingStaff => "承办人员",
            Role::Leader => "领导",
            Role::SupervisionOffice => "督查室",
            Role::GridWorker => "网格员",
            Role::Mediator => "调解员",
            Role::SafetyInspector => "安全检查员",
            Role::DutyOfficer => "值班员",
            Role::Dispatcher => "受理派遣员",
            Role::SystemAdmin => "系统管理员",
            Role::SecurityAdmin => "安全管理员",
            Role::AuditAdmin => "审计管理员",
            Role::Resident => "群众",
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> DomainResult<Role> {
        ALL_ROLES
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::new(ErrorCode::InvalidInput, format!("未知角色：{s}")))
    }
}

/// The role set a staff account may hold: residents are never accounts, and the three administrators
/// (system, security, audit) are mutually exclusive — with each other and with case work.
pub fn validate_role_set(roles: &[Role]) -> DomainResult<()> {
    if roles.contains(&Role::Resident) {
        return Err(DomainError::new(ErrorCode::RoleConflict, "“群众”不是工作人员角色，不能授予账号"));
    }
    let admins: Vec<Role> = roles.iter().copied().filter(|r| r.is_admin()).collect();
    if admins.len() > 1 {
        let names: Vec<&str> = admins.iter().map(|r| r.name_zh()).collect();
        return Err(DomainError::new(
            ErrorCode::RoleConflict,
            format!("三员分立：{} 不能由同一账号兼任", names.join("、")),
        ));
    }
    if admins.len() == 1 && roles.len() > 1 {
        return Err(DomainError::new(
            ErrorCode::RoleConflict,
            format!("三员分立：{}不能同时承担业务角色", admins[0].name_zh()),
        ));
    }
    Ok(())
}

/// A unit's materialised path: the ids from the root down, e.g. `/1/4/17/`. A unit's subtree is every unit
/// whose path starts with its own.
pub fn in_subtree(ancestor_path: &str, unit_path: &str) -> bool {
    unit_path.starts_with(ancestor_path)
}

/// The facts about a case that access decisions need.
#[derive(Debug, Clone, Default)]
pub struct CaseAccessFacts {
    /// Path of the unit that registered the case.
    pub registered_unit_path: String,
    pub handling_unit: Option<i64>,
    pub handling_unit_path: Option<String>,
    pub cohandling_units: Vec<i64>,
    /// For accusations (检举控告): the accused unit (with its path) and persons (user ids).
    pub accused_unit_path: Option<String>,
    pub accused_users: Vec<i64>,
}

/// The facts about the viewer.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    pub unit_id: i64,
    pub unit_path: String,
}

/// Data scope: the case was registered in, or is handled by, a unit of the viewer's subtree, or is co-assigned
/// to the viewer's unit.
pub fn in_scope(viewer: &Viewer, case: &CaseAccessFacts) -> bool {
    in_subtree(&viewer.unit_path, &case.registered_unit_path)
        || case.handling_unit_path.as_deref().is_some_and(|p| in_subtree(&viewer.unit_path, p))
        || case.cohandling_units.contains(&viewer.unit_id)
}

/// 信访工作条例 Art. 30: accusation material and the accuser's identity never reach the accused unit (nor any
/// unit inside it) or the accused person, whatever else links them to the case.
pub fn is_accused(viewer: &Viewer, case: &CaseAccessFacts) -> bool {
    case.accused_users.contains(&viewer.user_id)
        || case.accused_unit_path.as_deref().is_some_and(|p| in_subtree(p, &viewer.unit_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(unit_id: i64, path: &str) -> Viewer {
        Viewer { user_id: 9, unit_id, unit_path: path.into() }
    }

    #[test]
    fn three_administrators_are_mutually_exclusive() {
        assert!(validate_role_set(&[Role::SystemAdmin]).is_ok());
        let err = validate_role_set(&[Role::SystemAdmin, Role::AuditAdmin]).unwrap_err();
        assert_eq!(err.code, ErrorCode::RoleConflict);
        assert!(validate_role_set(&[Role::SecurityAdmin, Role::Leader]).is_err());
        assert!(validate_role_set(&[Role::ReceptionClerk, Role::PetitionOffice]).is_ok());
        assert!(validate_role_set(&[Role::Resident]).is_err());
    }

    #[test]
    fn scope_is_subtree_plus_assigned_units() {
        let case = CaseAccessFacts {
            registered_unit_path: "/1/2/5/".into(),
            handling_unit: Some(7),
            handling_unit_path: Some("/1/7/".into()),
            cohandling_units: vec![8],
            ..Default::default()
        };
        assert!(in_scope(&viewer(2, "/1/2/"), &case));
        assert!(in_scope(&viewer(7, "/1/7/"), &case));
        assert!(in_scope(&viewer(8, "/1/3/8/"), &case));
        assert!(!in_scope(&viewer(3, "/1/3/"), &case));
        assert!(!in_scope(&viewer(70, "/1/7/70/"), &case), "a sub-unit of the handling unit is not the handler");
    }

    #[test]
    fn accused_unit_and_its_subunits_and_accused_person_are_barred() {
        let case = CaseAccessFacts {
            registered_unit_path: "/1/".into(),
            handling_unit: Some(4),
            accused_unit_path: Some("/1/4/".into()),
            accused_users: vec![42],
            ..Default::default()
        };
        assert!(is_accused(&viewer(4, "/1/4/"), &case));
        assert!(is_accused(&viewer(11, "/1/4/11/"), &case));
        assert!(!is_accused(&viewer(2, "/1/2/"), &case));
        let person = Viewer { user_id: 42, unit_id: 2, unit_path: "/1/2/".into() };
        assert!(is_accused(&person, &case));
    }
}
