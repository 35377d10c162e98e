//! Workspace pages for daily operations: notifications, the duty roster (printable, with swaps asked and
//! decided), the duty contact directory, and a site's visitor log kept at the gate.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use taizhang_domain::access::Role;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::Principal;
use taizhang_service::auth::parse_roles;
use taizhang_service::duty::{DirectoryEntry, ShiftView};
use taizhang_service::notify::NotificationView;
use taizhang_service::reception::{SlotInput, SlotView};
use taizhang_service::visitors::{VisitInput, VisitView};

use crate::AppState;
use crate::pages::{Me, local, me, refusal, refused_form, staff, staff_writing};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(notifications_page))
        .route("/notifications/{id}/read", post(read_notification))
        .route("/duty", get(duty_page))
        .route("/duty/directory", get(directory_page))
        .route("/duty/shifts/{id}/swaps", post(request_swap))
        .route("/duty/shifts/{id}/swaps/{swap}/decision", post(decide_swap))
        .route("/receptions", get(receptions_page).post(create_slot))
        .route("/receptions/{slot}/bookings/{id}", post(decide_booking))
        .route("/sites/{code}/visitors", get(visitors_page).post(sign_in))
        .route("/sites/{code}/visitors/{id}/sign-out", post(sign_out))
}

/// A form field's value, trimmed; empty when absent.
pub(crate) fn field(form: &[(String, String)], k: &str) -> String {
    form.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------- notifications

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<(NotificationView, String)>,
}

async fn notifications_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.notifications(&p).await {
        Ok(notes) => {
            let rows = notes.into_iter().map(|n| (n.clone(), local(n.created_at))).collect();
            NotificationsPage { me: Some(me(&p)), csrf: p.csrf_token.clone(), rows }.into_response()
        }
        Err(e) => refusal(e, Some(me(&p))),
    }
}

async fn read_notification(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.mark_notification_read(&p, id).await {
        // Reading it opens the case it is about, if any.
        Ok(()) => match field(&form, "case").as_str() {
            "" => Redirect::to("/notifications").into_response(),
            code => Redirect::to(&format!("/cases/{code}")).into_response(),
        },
        Err(e) => refusal(e, Some(me(&p))),
    }
}

// ---------------------------------------------------------------- duty roster

#[derive(Deserialize)]
struct RosterQuery {
    unit: Option<i64>,
    from: Option<String>,
    days: Option<i64>,
}

/// One day of the roster as the printed table shows it.
struct RosterDay {
    date: String,
    /// The officers' shifts, then the leaders'.
    posts: [Vec<ShiftView>; 2],
    phone: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "duty.html")]
struct DutyPage {
    me: Option<Me>,
    csrf: String,
    user_id: i64,
    units: Vec<(i64, String)>,
    unit_id: i64,
    unit_name: String,
    from: String,
    days: i64,
    rows: Vec<RosterDay>,
    colleagues: Vec<(i64, String)>,
    /// May decide swaps of this unit (a leader of it or above).
    decides: bool,
    /// Special periods covering the unit now (level and reporting rule). Not linked: a township's staff may
    /// not open the district's plan.
    periods: Vec<String>,
    error: Option<String>,
}

async fn duty_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<RosterQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_duty(&s, &p, q, None).await
}

async fn render_duty(s: &AppState, p: &Principal, q: RosterQuery, error: Option<DomainError>) -> Response {
    let unit_id = q.unit.unwrap_or(p.unit.id);
    let days = q.days.unwrap_or(7).clamp(1, 93);
    let (from, to) = match crate::api::roster_window(s, q.from.as_deref(), Some(days)) {
        Ok(w) => w,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let (units, users) = match (s.svc.store.units().await, s.svc.store.users().await) {
        (Ok(u), Ok(us)) => (u, us),
        (Err(e), _) | (_, Err(e)) => return refusal(taizhang_service::se(e), Some(me(p))),
    };
    let Some(unit) = units.iter().find(|u| u.id == unit_id).cloned() else {
        return refusal(DomainError::new(ErrorCode::NotFound, format!("单位 {unit_id} 不存在")), Some(me(p)));
    };
    let shifts = match s.svc.roster(p, unit_id, from, to).await {
        Ok(x) => x,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let mut by_day: BTreeMap<String, RosterDay> = BTreeMap::new();
    for sh in shifts {
        let date = sh.starts_at.with_timezone(&china_tz()).format("%Y-%m-%d %H:%M 起").to_string();
        let day = by_day.entry(date.clone()).or_insert_with(|| RosterDay {
            date,
            posts: [vec![], vec![]],
            phone: sh.phone.clone(),
        });
        day.posts[usize::from(sh.post == "leader")].push(sh);
    }
    let periods = match s.svc.coverings(None, s.svc.now()).await {
        Ok(c) => c.into_iter().filter(|c| c.covers(&unit.path)).map(|c| c.summary()).collect(),
        Err(e) => return refusal(e, Some(me(p))),
    };
    let colleagues = users
        .iter()
        .filter(|u| u.active && u.unit_id == unit_id && u.id != p.user.id)
        .map(|u| (u.id, u.display_name.clone()))
        .collect();
    let page = DutyPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        user_id: p.user.id,
        units: units.iter().map(|u| (u.id, u.name.clone())).collect(),
        unit_id,
        unit_name: unit.name.clone(),
        from: from.with_timezone(&china_tz()).format("%Y-%m-%d").to_string(),
        days,
        rows: by_day.into_values().collect(),
        colleagues,
        decides: p.has(Role::Leader) && unit.path.starts_with(&p.unit.path),
        periods,
        error: error.as_ref().map(|e| e.message.clone()),
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    (status, page).into_response()
}

/// After a swap form: back to the roster of the shift's unit and week, or the roster with the reason.
async fn after_swap(s: &AppState, p: &Principal, form: &[(String, String)], r: Result<(), DomainError>) -> Response {
    let q = RosterQuery {
        unit: field(form, "unit").parse().ok(),
        from: Some(field(form, "from")).filter(|f| !f.is_empty()),
        days: field(form, "days").parse().ok(),
    };
    match r {
        Ok(()) => {
            let to = format!(
                "/duty?unit={}&from={}&days={}",
                q.unit.unwrap_or(p.unit.id),
                field(form, "from"),
                q.days.unwrap_or(7)
            );
            Redirect::to(&to).into_response()
        }
        Err(e) => render_duty(s, p, q, Some(e)).await,
    }
}

async fn request_swap(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = match field(&form, "to_user_id").parse::<i64>() {
        Ok(to) => s.svc.request_swap(&p, id, to, &field(&form, "reason")).await.map(|_| ()),
        Err(_) => Err(DomainError::new(ErrorCode::MissingField, "请选择接班人").at("to_user_id")),
    };
    after_swap(&s, &p, &form, r).await
}

async fn decide_swap(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, swap)): Path<(i64, i64)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = s.svc.decide_swap(&p, id, swap, field(&form, "approve") == "yes").await;
    after_swap(&s, &p, &form, r).await
}

#[derive(Template, WebTemplate)]
#[template(path = "duty_directory.html")]
struct DirectoryPage {
    me: Option<Me>,
    now: String,
    rows: Vec<DirectoryEntry>,
}

async fn directory_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.duty_directory(&p).await {
        Ok(rows) => DirectoryPage { me: Some(me(&p)), now: local(s.svc.now()), rows }.into_response(),
        Err(e) => refusal(e, Some(me(&p))),
    }
}

// ---------------------------------------------------------------- visitor log

#[derive(Deserialize)]
struct VisitQuery {
    days: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "visitors.html")]
struct VisitorsPage {
    me: Option<Me>,
    csrf: String,
    code: String,
    site_name: String,
    retention_days: i64,
    days: i64,
    rows: Vec<(VisitView, String, String)>,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

impl VisitorsPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

async fn visitors_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<VisitQuery>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_visitors(&s, &p, &code, q.days.unwrap_or(1), None).await
}

async fn render_visitors(
    s: &AppState,
    p: &Principal,
    code: &str,
    days: i64,
    failed: Option<(DomainError, &[(String, String)])>,
) -> Response {
    let site = match s.svc.site(code).await {
        Ok(x) => x,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let visits = match s.svc.visitor_log(p, code, days).await {
        Ok(v) => v,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let rows = visits
        .into_iter()
        .map(|v| {
            let (i, o) = (local(v.signed_in_at), v.signed_out_at.map(local).unwrap_or_default());
            (v, i, o)
        })
        .collect();
    let (status, error, form) = refused_form(failed);
    let page = VisitorsPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        code: site.code,
        site_name: site.name,
        retention_days: site.visitor_retention_days,
        days,
        rows,
        error,
        form,
    };
    (status, page).into_response()
}

async fn sign_in(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let v = VisitInput {
        name: field(&form, "name"),
        phone: field(&form, "phone"),
        purpose: field(&form, "purpose"),
        host: field(&form, "host"),
    };
    match s.svc.sign_in_visitor(&p, &code, v).await {
        Ok(_) => Redirect::to(&format!("/sites/{code}/visitors")).into_response(),
        Err(e) => render_visitors(&s, &p, &code, 1, Some((e, &form))).await,
    }
}

async fn sign_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((code, id)): Path<(String, i64)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.sign_out_visitor(&p, &code, id).await {
        Ok(()) => Redirect::to(&format!("/sites/{code}/visitors")).into_response(),
        Err(e) => render_visitors(&s, &p, &code, 1, Some((e, &form))).await,
    }
}

// ---------------------------------------------------------------- reception schedule

#[derive(Template, WebTemplate)]
#[template(path = "receptions.html")]
struct ReceptionsPage {
    me: Option<Me>,
    csrf: String,
    slots: Vec<(SlotView, String)>,
    units: Vec<(i64, String)>,
    leaders: Vec<(i64, String)>,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

impl ReceptionsPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

async fn receptions_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match staff(&s, &headers, false).await {
        Ok(p) => render_receptions(&s, &p, None).await,
        Err(r) => r,
    }
}

async fn render_receptions(
    s: &AppState,
    p: &Principal,
    failed: Option<(DomainError, &[(String, String)])>,
) -> Response {
    let slots = match s.svc.reception_schedule(Some(p), 60).await {
        Ok(x) => x.into_iter().map(|x| (x.clone(), local(x.starts_at))).collect(),
        Err(e) => return refusal(e, Some(me(p))),
    };
    let (units, users) = match (s.svc.store.units().await, s.svc.store.users().await) {
        (Ok(u), Ok(us)) => (u, us),
        (Err(e), _) | (_, Err(e)) => return refusal(taizhang_service::se(e), Some(me(p))),
    };
    let mine: Vec<_> = units.iter().filter(|u| u.path.starts_with(&p.unit.path)).collect();
    let leaders = users
        .iter()
        .filter(|u| u.active && parse_roles(&u.roles).contains(&Role::Leader))
        .filter(|u| mine.iter().any(|m| m.id == u.unit_id))
        .map(|u| (u.id, u.display_name.clone()))
        .collect();
    let (status, error, form) = refused_form(failed);
    let page = ReceptionsPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        slots,
        units: mine.iter().map(|u| (u.id, u.name.clone())).collect(),
        leaders,
        error,
        form,
    };
    (status, page).into_response()
}

async fn create_slot(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let num = |k: &str| field(&form, k).parse::<i64>().unwrap_or(0);
    let input = SlotInput {
        unit_id: num("unit_id"),
        leader_id: num("leader_id"),
        starts: field(&form, "starts").replace('T', " "),
        minutes: num("minutes"),
        place: field(&form, "place"),
        topic: field(&form, "topic"),
        capacity: num("capacity"),
    };
    match s.svc.create_slot(&p, input).await {
        Ok(_) => Redirect::to("/receptions").into_response(),
        Err(e) => render_receptions(&s, &p, Some((e, &form))).await,
    }
}

async fn decide_booking(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((slot, id)): Path<(i64, i64)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let confirm = field(&form, "confirm") == "yes";
    match s.svc.decide_booking(&p, slot, id, confirm, &field(&form, "reply")).await {
        Ok(()) => Redirect::to("/receptions").into_response(),
        Err(e) => render_receptions(&s, &p, Some((e, &form))).await,
    }
}
