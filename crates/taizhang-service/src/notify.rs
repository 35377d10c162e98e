//! Notifications inside the workspace. An action's `notify` rules (workflow data) say who is told when it is
//! taken — whoever is on duty at the handling unit or the unit above, its leaders, its staff — so each rung of
//! an escalation ladder reaches the person holding it. Notifications derive from the event that caused them and
//! are not history: they are written after the event commits, and a failure to write them is logged, never
//! undoes the event. Nobody is told of a case accusing him (信访工作条例 Art. 30), whatever post he holds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::access::{Role, Viewer, is_accused};
use taizhang_domain::workflow::{NotifyAt, NotifyWho};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Built, CaseRow, Notification, User};

use crate::auth::parse_roles;
use crate::cases::{access_facts, parse_state};
use crate::{Principal, Service, se};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub body: String,
    /// The case it is about, if any (its code, for the link).
    pub case_code: Option<String>,
    pub read: bool,
}

impl Service {
    /// Tells the people the actions of these freshly written events name (`notify`). Best effort: the events
    /// are already committed.
    pub(crate) async fn notify_built(&self, built: &[Built]) {
        for b in built {
            if let Err(e) = self.notify_one(b).await {
                tracing::error!(case = b.case.id, error = %e, "notification failed");
            }
        }
    }

    async fn notify_one(&self, b: &Built) -> DomainResult<()> {
        let state = parse_state(&b.case)?;
        let def = self.workflows.get_version(&b.case.kind, state.workflow_version)?;
        let Some(action) = def.action(&b.event.action).filter(|a| !a.notify.is_empty()) else { return Ok(()) };
        let Some(handling) = state.handling_unit else { return Ok(()) };
        let users = self.store.users().await.map_err(se)?;
        let title = state.fields.get("title").and_then(|v| v.as_str()).unwrap_or_default();
        let accused = self.accused_among(&users, &b.case).await?;
        let mut sent = BTreeSet::new();
        let mut notes = vec![];
        for rule in action.notify.iter().filter(|r| r.applies(&state.fields)) {
            let unit_id = match rule.at {
                NotifyAt::Handling => Some(handling),
                NotifyAt::AboveHandling => self.store.unit(handling).await.map_err(se)?.and_then(|u| u.parent_id),
            };
            let Some(unit_id) = unit_id else { continue };
            let (to, note) = self.recipients_except(&users, unit_id, rule.to, b.event.at, &accused).await?;
            for user_id in to {
                if sent.insert(user_id) {
                    notes.push(Notification {
                        id: 0,
                        user_id,
                        created_at: b.event.at,
                        title: format!("{} {}", b.case.code, action.name),
                        body: format!("{}「{title}」：{}。请立即处理。{note}", def.name, action.name),
                        case_id: Some(b.case.id),
                        case_code: None,
                        read_at: None,
                    });
                }
            }
        }
        self.store.create_notifications(notes).await.map_err(se)
    }

    /// The users a case accuses, in person or through a unit they belong to (信访工作条例 Art. 30).
    pub(crate) async fn accused_among(&self, users: &[User], case: &CaseRow) -> DomainResult<BTreeSet<i64>> {
        if case.accused_unit_path.is_none() && case.accused_users.is_empty() {
            return Ok(BTreeSet::new());
        }
        let paths: BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.path)).collect();
        let facts = access_facts(case);
        Ok(users
            .iter()
            .filter(|u| {
                let unit_path = paths.get(&u.unit_id).cloned().unwrap_or_default();
                is_accused(&Viewer { user_id: u.id, unit_id: u.unit_id, unit_path }, &facts)
            })
            .map(|u| u.id)
            .collect())
    }

    /// `recipients`, leaving out everyone in `accused`; when that leaves nobody of those named (the responsible
    /// person is the one accused), the unit's leaders who are not accused instead.
    pub(crate) async fn recipients_except(
        &self,
        users: &[User],
        unit_id: i64,
        who: NotifyWho,
        at: DateTime<Utc>,
        accused: &BTreeSet<i64>,
    ) -> DomainResult<(Vec<i64>, &'static str)> {
        let (to, note) = self.recipients(users, unit_id, who, at).await?;
        let kept: Vec<i64> = to.iter().copied().filter(|u| !accused.contains(u)).collect();
        if kept.is_empty() && !to.is_empty() && who != NotifyWho::Leaders {
            let (leaders, _) = self.recipients(users, unit_id, NotifyWho::Leaders, at).await?;
            let leaders = leaders.into_iter().filter(|u| !accused.contains(u)).collect();
            return Ok((leaders, "（责任人须回避，改告知本单位领导。）"));
        }
        Ok((kept, note))
    }

    /// Who in a unit a notification rule names at an instant, and a note when nobody holds the post then and
    /// a wider group is told instead (the duty roster's post: its whole role; a responsibility: the leaders).
    pub(crate) async fn recipients(
        &self,
        users: &[taizhang_store::User],
        unit_id: i64,
        who: NotifyWho,
        at: DateTime<Utc>,
    ) -> DomainResult<(Vec<i64>, &'static str)> {
        let in_unit = |u: &&taizhang_store::User| u.active && u.unit_id == unit_id;
        let with = |role: Role| -> Vec<i64> {
            users.iter().filter(in_unit).filter(|u| parse_roles(&u.roles).contains(&role)).map(|u| u.id).collect()
        };
        let found: Vec<i64> = match who {
            NotifyWho::DutyOfficer | NotifyWho::DutyLeader => {
                let post = if who == NotifyWho::DutyOfficer { "officer" } else { "leader" };
                let serving = self.serving(unit_id, at).await?;
                serving.into_iter().filter(|(p, _)| p == post).map(|(_, u)| u).collect()
            }
            NotifyWho::FirstResponsible | NotifyWho::DirectResponsible => {
                let kind = if who == NotifyWho::FirstResponsible { "first" } else { "direct" };
                self.responsible(unit_id, kind, at).await?
            }
            NotifyWho::Leaders => return Ok((with(Role::Leader), "")),
            NotifyWho::Staff => {
                let staff = users
                    .iter()
                    .filter(in_unit)
                    .filter(|u| !parse_roles(&u.roles).iter().all(|r| r.is_admin()))
                    .map(|u| u.id)
                    .collect();
                return Ok((staff, ""));
            }
        };
        if !found.is_empty() {
            return Ok((found, ""));
        }
        // Nobody holds the post at that moment: a wider group is told rather than no one.
        Ok(match who {
            NotifyWho::DutyOfficer => (with(Role::DutyOfficer), "（此刻无排班，已通知本单位全部值班人员）"),
            NotifyWho::DutyLeader => (with(Role::Leader), "（此刻无排班，已通知本单位全部领导）"),
            _ => (with(Role::Leader), "（本单位未明确该责任人，已通知本单位全部领导）"),
        })
    }

    /// The user's newest notifications, unread first.
    pub async fn notifications(&self, p: &Principal) -> DomainResult<Vec<NotificationView>> {
        let notes = self.store.notifications(p.user.id, 100).await.map_err(se)?;
        Ok(notes
            .into_iter()
            .map(|n| NotificationView {
                id: n.id,
                created_at: n.created_at,
                title: n.title,
                body: n.body,
                case_code: n.case_code,
                read: n.read_at.is_some(),
            })
            .collect())
    }

    pub async fn mark_notification_read(&self, p: &Principal, id: i64) -> DomainResult<()> {
        if self.store.mark_notification_read(p.user.id, id, self.now()).await.map_err(se)? {
            Ok(())
        } else {
            Err(DomainError::new(ErrorCode::NotFound, format!("通知 {id} 不存在或已读")))
        }
    }
}
