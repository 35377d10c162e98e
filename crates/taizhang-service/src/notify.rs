//! Notifications inside the workspace. An action's `notify` rules (workflow data) say who is told when it is
//! taken — whoever is on duty at the handling unit or the unit above, its leaders, its staff — so each rung of
//! an escalation ladder reaches the person holding it. Notifications derive from the event that caused them and
//! are not history: they are written after the event commits, and a failure to write them is logged, never
//! undoes the event.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::access::Role;
use taizhang_domain::workflow::{NotifyAt, NotifyWho};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Built, Notification};

use crate::auth::parse_roles;
use crate::cases::parse_state;
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
        let mut sent = BTreeSet::new();
        let mut notes = vec![];
        for rule in &action.notify {
            let unit_id = match rule.at {
                NotifyAt::Handling => Some(handling),
                NotifyAt::AboveHandling => self.store.unit(handling).await.map_err(se)?.and_then(|u| u.parent_id),
            };
            let Some(unit_id) = unit_id else { continue };
            let in_unit = |u: &&taizhang_store::User| u.active && u.unit_id == unit_id;
            let with = |role: Role| -> Vec<i64> {
                users.iter().filter(in_unit).filter(|u| parse_roles(&u.roles).contains(&role)).map(|u| u.id).collect()
            };
            let mut note = "";
            let mut to: Vec<i64> = match rule.to {
                NotifyWho::DutyOfficer | NotifyWho::DutyLeader => {
                    let post = if rule.to == NotifyWho::DutyOfficer { "officer" } else { "leader" };
                    let serving = self.serving(unit_id, b.event.at).await?;
                    serving.into_iter().filter(|(p, _)| p == post).map(|(_, u)| u).collect()
                }
                NotifyWho::Leaders => with(Role::Leader),
                NotifyWho::Staff => users
                    .iter()
                    .filter(in_unit)
                    .filter(|u| !parse_roles(&u.roles).iter().all(|r| r.is_admin()))
                    .map(|u| u.id)
                    .collect(),
            };
            // Nobody on the roster at that moment: the whole post is told rather than no one.
            if to.is_empty() && matches!(rule.to, NotifyWho::DutyOfficer | NotifyWho::DutyLeader) {
                to = with(if rule.to == NotifyWho::DutyOfficer { Role::DutyOfficer } else { Role::Leader });
                note = "（此刻无排班，已通知本单位全部人员）";
            }
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
