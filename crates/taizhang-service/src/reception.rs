//! Leaders' reception days (领导接访日): the schedule a petition office publishes on the resident portal, and
//! residents' appointment requests (约访) on their own case — proved by its code and query password — which the
//! office confirms or declines with a reply the resident reads on the portal. A slot takes at most its capacity
//! of open requests. What was said at the reception is a case of kind `reception` opened from the resident's
//! case (a record with the promises made), and each promise with a timetable a `commitment` opened from it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use taizhang_domain::access::Role;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::workflow::{EventPayload, FieldType, WorkflowDef};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Booking, ReceptionSlot};

use crate::auth::parse_roles;
use crate::{Principal, Service, se};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SlotInput {
    /// The unit holding the reception (its petition office publishes it).
    pub unit_id: i64,
    /// The leader who receives (a leader of that unit or a unit under it).
    pub leader_id: i64,
    /// China time, `YYYY-MM-DD HH:MM`.
    pub starts: String,
    pub minutes: i64,
    pub place: String,
    /// What the leader receives on (e.g. 城建、征地拆迁), or 综合.
    pub topic: String,
    /// How many appointments may be requested.
    pub capacity: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    pub id: i64,
    pub unit_name: String,
    pub leader_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub place: String,
    pub topic: String,
    pub capacity: i64,
    /// Places still free (capacity minus open requests).
    pub remaining: i64,
    /// The requests, for the office that holds the reception (empty on the portal).
    pub bookings: Vec<BookingView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    pub id: i64,
    pub slot_id: i64,
    pub case_code: String,
    pub request: String,
    pub requested_at: DateTime<Utc>,
    /// requested | confirmed | declined | held
    pub status: String,
    pub status_name: String,
    pub reply: String,
    /// The reception's record, once held.
    pub record_case_id: Option<i64>,
}

fn bad(msg: impl Into<String>, field: &str) -> DomainError {
    DomainError::new(ErrorCode::InvalidInput, msg).at(field)
}

fn status_name(s: &str) -> &'static str {
    match s {
        "confirmed" => "已确认，请按时前往",
        "declined" => "未能安排",
        "held" => "已接待",
        _ => "已申请，待确认",
    }
}

fn open(b: &Booking) -> bool {
    matches!(b.status.as_str(), "requested" | "confirmed" | "held")
}

impl Service {
    /// The petition office or a leader of the unit or a unit above it manages its reception schedule.
    async fn require_reception_office(&self, p: &Principal, unit_id: i64) -> DomainResult<taizhang_store::Unit> {
        let unit = self.unit_or_err(unit_id).await.map_err(|e| e.at("unit_id"))?;
        if !(p.has(Role::PetitionOffice) || p.has(Role::Leader)) || !unit.path.starts_with(&p.unit.path) {
            return Err(DomainError::new(ErrorCode::Forbidden, "只有本单位或上级单位的信访部门、领导可以安排接访"));
        }
        Ok(unit)
    }

    /// Publishes a reception slot, audited.
    pub async fn create_slot(&self, p: &Principal, s: SlotInput) -> DomainResult<i64> {
        let unit = self.require_reception_office(p, s.unit_id).await?;
        let leader = self.store.user(s.leader_id).await.map_err(se)?;
        let leader_unit = match &leader {
            Some(u) if u.active && parse_roles(&u.roles).contains(&Role::Leader) => self.unit_or_err(u.unit_id).await?,
            _ => return Err(bad("接访领导应为在岗的领导", "leader_id")),
        };
        if !leader_unit.path.starts_with(&unit.path) {
            return Err(bad("接访领导应为本单位或下属单位的领导", "leader_id"));
        }
        let starts = NaiveDateTime::parse_from_str(s.starts.trim(), "%Y-%m-%d %H:%M")
            .ok()
            .and_then(|t| t.and_local_timezone(china_tz()).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| bad("开始时间应为 YYYY-MM-DD HH:MM", "starts"))?;
        if starts <= self.now() {
            return Err(bad("接访时间应在今后", "starts"));
        }
        if !(15..=480).contains(&s.minutes) {
            return Err(bad("接访时长应为 15–480 分钟", "minutes"));
        }
        if !(1..=50).contains(&s.capacity) {
            return Err(bad("可预约人数应为 1–50", "capacity"));
        }
        let (place, topic) = (s.place.trim(), s.topic.trim());
        if place.is_empty() || place.chars().count() > 100 {
            return Err(bad("请填写接访地点（100 字以内）", "place"));
        }
        if topic.is_empty() || topic.chars().count() > 100 {
            return Err(bad("请填写接访内容（100 字以内）", "topic"));
        }
        let slot = ReceptionSlot {
            id: 0,
            unit_id: unit.id,
            leader_id: s.leader_id,
            starts_at: starts,
            ends_at: starts + Duration::minutes(s.minutes),
            place: place.into(),
            topic: topic.into(),
            capacity: s.capacity,
            created_by: Some(p.user.id),
        };
        let id = self.store.create_slot(slot).await.map_err(se)?;
        self.audit(Some(p), None, "reception_slot_created", Some(format!("slot:{id}")), "ok", s.starts).await?;
        Ok(id)
    }

    /// The schedule for the next `days` days. For the public (no principal) without requests; for staff with the
    /// requests of the slots their unit holds (or units under it), and the past week's sessions too, so the
    /// receptions held can be recorded.
    pub async fn reception_schedule(&self, p: Option<&Principal>, days: i64) -> DomainResult<Vec<SlotView>> {
        let now = self.now();
        let from = if p.is_some() { now - Duration::days(7) } else { now };
        let slots = self.store.slots(from, now + Duration::days(days.clamp(1, 120))).await.map_err(se)?;
        self.slot_views(p, slots).await
    }

    async fn slot_views(&self, p: Option<&Principal>, slots: Vec<ReceptionSlot>) -> DomainResult<Vec<SlotView>> {
        let ids: Vec<i64> = slots.iter().map(|s| s.id).collect();
        let bookings = self.store.bookings(&ids, None).await.map_err(se)?;
        let units: BTreeMap<i64, taizhang_store::Unit> =
            self.store.units().await.map_err(se)?.into_iter().map(|u| (u.id, u)).collect();
        let names: BTreeMap<i64, String> =
            self.store.users().await.map_err(se)?.into_iter().map(|u| (u.id, u.display_name)).collect();
        let mut out = vec![];
        for s in slots {
            let mine: Vec<&Booking> = bookings.iter().filter(|b| b.slot_id == s.id).collect();
            let unit = units.get(&s.unit_id);
            let holds = p.is_some_and(|p| unit.is_some_and(|u| u.path.starts_with(&p.unit.path)));
            let mut views = vec![];
            if holds {
                for b in &mine {
                    views.push(self.booking_view(b).await?);
                }
            }
            out.push(SlotView {
                id: s.id,
                unit_name: unit.map(|u| u.name.clone()).unwrap_or_default(),
                leader_name: names.get(&s.leader_id).cloned().unwrap_or_default(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                place: s.place,
                topic: s.topic,
                capacity: s.capacity,
                remaining: s.capacity - mine.iter().filter(|b| open(b)).count() as i64,
                bookings: views,
            });
        }
        Ok(out)
    }

    async fn booking_view(&self, b: &Booking) -> DomainResult<BookingView> {
        let case_code = self.store.case(b.case_id).await.map_err(se)?.map(|c| c.code).unwrap_or_default();
        Ok(BookingView {
            id: b.id,
            slot_id: b.slot_id,
            case_code,
            request: b.request.clone(),
            requested_at: b.requested_at,
            status: b.status.clone(),
            status_name: status_name(&b.status).into(),
            reply: b.reply.clone(),
            record_case_id: b.record_case_id,
        })
    }

    /// Whether residents may ask for a reception on cases of this kind: those a reception is opened from.
    pub fn takes_receptions(&self, kind: &str) -> bool {
        self.workflows.get("reception").is_ok_and(|d| d.opened_from.iter().any(|k| k == kind))
    }

    /// A resident asks, on the portal, to meet the leader of a slot about their case (proved by code and query
    /// password). One open request per case and slot; refused when the slot is full or has begun. Audited.
    pub async fn book_reception(
        &self,
        code: &str,
        password: &str,
        slot_id: i64,
        request: &str,
    ) -> DomainResult<BookingView> {
        let (row, _) = self.portal_case(code, password).await?;
        if !self.takes_receptions(&row.kind) {
            return Err(bad("此类事项不能预约领导接访", "slot_id"));
        }
        let slot = self.store.slot(slot_id).await.map_err(se)?.ok_or_else(|| bad("请选择接访场次", "slot_id"))?;
        if slot.starts_at <= self.now() {
            return Err(bad("该场次已开始或已结束，请选择其他场次", "slot_id"));
        }
        let request = request.trim();
        if request.is_empty() || request.chars().count() > 500 {
            return Err(bad("请简要说明希望当面反映的问题（500 字以内）", "request"));
        }
        let mine = self.store.bookings(&[], Some(row.id)).await.map_err(se)?;
        if mine.iter().any(|b| b.slot_id == slot_id && open(b)) {
            return Err(bad("您已预约过该场次", "slot_id"));
        }
        let booking = Booking {
            id: 0,
            slot_id,
            case_id: row.id,
            request: request.into(),
            requested_at: self.now(),
            status: "requested".into(),
            reply: String::new(),
            decided_by: None,
            decided_at: None,
            record_case_id: None,
        };
        let id = self
            .store
            .create_booking(booking.clone(), slot.capacity)
            .await
            .map_err(se)?
            .ok_or_else(|| bad("该场次预约已满，请选择其他场次", "slot_id"))?;
        self.audit(
            None,
            Some("portal"),
            "reception_booked",
            Some(format!("case:{}", row.id)),
            "ok",
            format!("slot:{slot_id}"),
        )
        .await?;
        self.booking_view(&Booking { id, ..booking }).await
    }

    /// A case's appointment requests (for its portal page and its case page).
    pub async fn case_bookings(&self, case_id: i64) -> DomainResult<Vec<(BookingView, SlotView)>> {
        let mut out = vec![];
        for b in self.store.bookings(&[], Some(case_id)).await.map_err(se)? {
            let Some(slot) = self.store.slot(b.slot_id).await.map_err(se)? else { continue };
            let slot = self.slot_views(None, vec![slot]).await?.remove(0);
            out.push((self.booking_view(&b).await?, slot));
        }
        Ok(out)
    }

    /// A payload's `booking` fields must each name a confirmed request on the case it is opened from (the
    /// parent field of the same payload).
    pub(crate) async fn check_booking_fields(
        &self,
        def: &WorkflowDef,
        payload: &Map<String, Value>,
    ) -> DomainResult<()> {
        let named: Vec<_> = def
            .fields
            .iter()
            .filter(|f| f.ty == FieldType::Booking)
            .filter_map(|f| Some((f, payload.get(&f.id).and_then(Value::as_i64)?)))
            .collect();
        let parent = def.parent_field().and_then(|f| payload.get(&f.id)).and_then(Value::as_i64);
        let mine = match parent {
            Some(case_id) if !named.is_empty() => self.store.bookings(&[], Some(case_id)).await.map_err(se)?,
            _ => vec![],
        };
        for (f, id) in named {
            match mine.iter().find(|b| b.id == id) {
                None => return Err(bad(format!("约访申请 {id} 不存在，或不是该信访事项的约访"), &f.id)),
                Some(b) if b.status == "held" => return Err(bad(format!("约访申请 {id} 已记录过接访"), &f.id)),
                Some(b) if b.status != "confirmed" => {
                    return Err(bad(format!("约访申请 {id} 尚未确认，不能记录为已接待"), &f.id));
                }
                Some(b) => {
                    let slot = self.store.slot(b.slot_id).await.map_err(se)?;
                    if slot.is_some_and(|s| s.starts_at > self.now()) {
                        return Err(bad(format!("约访申请 {id} 的接访场次尚未开始，接访后再记录"), &f.id));
                    }
                }
            }
        }
        Ok(())
    }

    /// After a case naming bookings is written: each is marked held, linked to the case. A request recorded by
    /// two receptions at once is held by the first; the second keeps its field but not the link.
    pub(crate) async fn hold_bookings(&self, def: &WorkflowDef, built: &[taizhang_store::Built]) {
        for b in built {
            let payload: EventPayload = serde_json::from_str(&b.event.payload).unwrap_or_default();
            for f in def.fields.iter().filter(|f| f.ty == FieldType::Booking) {
                let Some(id) = payload.fields.get(&f.id).and_then(Value::as_i64) else { continue };
                match self.store.hold_booking(id, b.case.id).await {
                    Ok(true) => {}
                    // Recorded by another reception a moment earlier (checked before, lost the race since).
                    Ok(false) => tracing::warn!(booking = id, case = b.case.id, "appointment was no longer confirmed"),
                    Err(e) => tracing::warn!(booking = id, error = %e, "could not mark the appointment held"),
                }
            }
        }
    }

    /// Confirms or declines a request, with a reply the resident reads; by the office holding the reception.
    pub async fn decide_booking(
        &self,
        p: &Principal,
        slot_id: i64,
        booking_id: i64,
        confirm: bool,
        reply: &str,
    ) -> DomainResult<()> {
        let slot = self
            .store
            .slot(slot_id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("接访场次 {slot_id} 不存在")))?;
        self.require_reception_office(p, slot.unit_id).await?;
        let bookings = self.store.bookings(&[slot_id], None).await.map_err(se)?;
        if !bookings.iter().any(|b| b.id == booking_id) {
            return Err(DomainError::new(ErrorCode::NotFound, format!("约访申请 {booking_id} 不存在")));
        }
        let reply = reply.trim();
        if (!confirm && reply.is_empty()) || reply.chars().count() > 500 {
            return Err(bad("未能安排的，请写明原因和其他反映渠道（500 字以内）", "reply"));
        }
        if !self.store.decide_booking(booking_id, confirm, reply, p.user.id, self.now()).await.map_err(se)? {
            return Err(DomainError::new(ErrorCode::ActionNotAllowedInState, "该约访申请已经处理过"));
        }
        let verdict = if confirm { "confirmed" } else { "declined" };
        self.audit(Some(p), None, "reception_booking_decided", Some(format!("slot:{slot_id}")), "ok", verdict).await
    }
}
