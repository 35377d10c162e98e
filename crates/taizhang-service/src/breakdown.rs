//! Task breakdown (目标倒逼): a target task (`target_task`) and the sub-tasks opened from it, level by level, as a
//! tree, each with its unit, owner, deadline and clock status, and at every level what lies below it rolled up —
//! how many tasks, how many done, how many overdue now — so a leader sees at the top where a deadline is being
//! missed further down. Sub-tasks the viewer may not open are counted (with their unit and state) but shown
//! without code, title, owner or deadline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::deadline::ClockStatus;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

use crate::cases::{UnitRef, summary};
use crate::{Principal, Service, se};

pub const TARGET_TASK: &str = "target_task";
/// Deeper trees are cut here (a loop of links cannot occur, but a runaway breakdown should not hang a page).
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskNode {
    pub id: i64,
    /// Empty when the viewer may not open the task.
    pub code: String,
    pub title: String,
    pub state_name: String,
    pub unit: UnitRef,
    pub owner: String,
    pub due_at: Option<DateTime<Utc>>,
    /// Of the running deadline (None once done or cancelled).
    #[schema(value_type = Option<String>)]
    pub clock_status: Option<ClockStatus>,
    pub visible: bool,
    pub done: bool,
    pub depth: usize,
    /// Everything below this task: how many, done, overdue now.
    pub below: i64,
    pub below_done: i64,
    pub below_overdue: i64,
}

impl Service {
    /// The breakdown under a target task, depth first (each task followed by its sub-tasks).
    pub async fn breakdown(&self, p: &Principal, id: i64) -> DomainResult<Vec<TaskNode>> {
        let (def, root) = self.load_for(p, id, "查看任务分解").await?;
        if def.kind != TARGET_TASK {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("{} 不是目标任务，没有任务分解", root.code)));
        }
        let now = self.now();
        let units: BTreeMap<i64, String> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u.name)).collect();
        let mut nodes: Vec<TaskNode> = vec![];
        // (row, depth), depth first.
        let mut stack = vec![(root, 0usize)];
        while let Some((row, depth)) = stack.pop() {
            let visible = Self::visible_to(p, &row);
            let (_, state) = self.def_of(&row)?;
            let s = summary(self.workflows.get(&row.kind).ok(), &row, now);
            let owner = match state.fields.get("owner").and_then(|v| v.as_i64()).filter(|_| visible) {
                Some(u) => self.store.user(u).await.map_err(se)?.map(|u| u.display_name).unwrap_or_default(),
                None => String::new(),
            };
            let unit = row.handling_unit.unwrap_or(row.registered_unit);
            nodes.push(TaskNode {
                id: if visible { row.id } else { 0 },
                code: if visible { row.code.clone() } else { String::new() },
                title: if visible { row.title.clone() } else { "（无权查看）".into() },
                state_name: s.state_name,
                unit: UnitRef { id: unit, name: units.get(&unit).cloned().unwrap_or_default() },
                owner,
                due_at: row.next_due_at.filter(|_| visible),
                clock_status: s.clock_status,
                visible,
                done: row.state == "done",
                depth,
                below: 0,
                below_done: 0,
                below_overdue: 0,
            });
            if depth < MAX_DEPTH {
                let children = self.store.children(row.id).await.map_err(se)?;
                for c in children.into_iter().rev().filter(|c| c.kind == TARGET_TASK) {
                    stack.push((c, depth + 1));
                }
            }
        }
        // Roll up from the leaves: a node's "below" is every later node deeper than it until one at its depth.
        for i in (0..nodes.len()).rev() {
            let (mut below, mut done, mut overdue) = (0, 0, 0);
            for n in nodes[i + 1..].iter().take_while(|n| n.depth > nodes[i].depth) {
                below += 1;
                done += i64::from(n.done);
                overdue += i64::from(n.clock_status == Some(ClockStatus::Overdue));
            }
            (nodes[i].below, nodes[i].below_done, nodes[i].below_overdue) = (below, done, overdue);
        }
        Ok(nodes)
    }
}
