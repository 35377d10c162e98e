//! The daily-operations part of the JSON API: workspace notifications and visitor logs at sites. Its OpenAPI
//! paths are merged into the one document (`api::api_doc`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use taizhang_service::duty::DirectoryEntry;
use taizhang_service::notify::NotificationView;
use taizhang_service::portal::PublicCommitment;
use taizhang_service::reception::{BookingView, SlotInput, SlotView};
use taizhang_service::visitors::{VisitInput, VisitView};
use utoipa::ToSchema;
use utoipa::{IntoParams, OpenApi};

use crate::AppState;
use crate::api::Q;
use crate::extract::{ApiResult, Auth, ErrorBody, Json, Source};

#[derive(OpenApi)]
#[openapi(
    paths(list_notifications, read_notification, duty_directory, visitor_log, sign_in_visitor, sign_out_visitor,
        create_slot, staff_schedule, decide_booking, public_schedule, book_reception, public_commitments),
    components(schemas(NotificationView, DirectoryEntry, VisitInput, VisitView, SlotInput, SlotView, BookingView,
        BookingDecision, BookingBody, PublicCommitment)),
    tags((name = "ops", description = "日常工作：通知、访客登记、领导接访"))
)]
pub struct OpsDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/{id}/read", post(read_notification))
        .route("/duty/directory", get(duty_directory))
        .route("/sites/{code}/visitors", get(visitor_log).post(sign_in_visitor))
        .route("/sites/{code}/visitors/{id}/sign-out", post(sign_out_visitor))
        .route("/receptions/slots", get(staff_schedule).post(create_slot))
        .route("/receptions/slots/{slot}/bookings/{id}/decision", post(decide_booking))
        .route("/portal/receptions", get(public_schedule).post(book_reception))
        .route("/portal/commitments", get(public_commitments))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleParams {
    /// The next N days (default 30, at most 120).
    pub days: Option<i64>,
}

/// Publish a leader's reception session (the petition office or a leader of the unit or above).
#[utoipa::path(post, path = "/api/v1/receptions/slots", tag = "ops", security(("bearer" = [])),
    request_body = SlotInput,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_slot(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<SlotInput>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.create_slot(&p, b).await?)))
}

/// The reception schedule, with the appointment requests of the sessions the caller's unit holds.
#[utoipa::path(get, path = "/api/v1/receptions/slots", tag = "ops", security(("bearer" = [])),
    params(ScheduleParams), responses((status = 200, body = Vec<SlotView>)))]
async fn staff_schedule(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<ScheduleParams>,
) -> ApiResult<axum::Json<Vec<SlotView>>> {
    Ok(axum::Json(s.svc.reception_schedule(Some(&p), q.days.unwrap_or(30)).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct BookingDecision {
    pub confirm: bool,
    /// Shown to the resident; required when declining (why, and where else to go).
    #[serde(default)]
    pub reply: String,
}

/// Confirm or decline an appointment request.
#[utoipa::path(post, path = "/api/v1/receptions/slots/{slot}/bookings/{id}/decision", tag = "ops",
    security(("bearer" = [])),
    params(("slot" = i64, Path, description = "slot id"), ("id" = i64, Path, description = "request id")),
    request_body = BookingDecision,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn decide_booking(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((slot, id)): Path<(i64, i64)>,
    Json(b): Json<BookingDecision>,
) -> ApiResult<StatusCode> {
    s.svc.decide_booking(&p, slot, id, b.confirm, &b.reply).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The published reception schedule (no login).
#[utoipa::path(get, path = "/api/v1/portal/receptions", tag = "portal", params(ScheduleParams),
    responses((status = 200, body = Vec<SlotView>)))]
async fn public_schedule(State(s): State<AppState>, Q(q): Q<ScheduleParams>) -> ApiResult<axum::Json<Vec<SlotView>>> {
    Ok(axum::Json(s.svc.reception_schedule(None, q.days.unwrap_or(30)).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct BookingBody {
    pub code: String,
    pub password: String,
    pub slot_id: i64,
    /// What the resident wishes to raise in person.
    pub request: String,
}

/// A resident requests an appointment (约访) with the leader of a session, on their own case.
#[utoipa::path(post, path = "/api/v1/portal/receptions", tag = "portal", request_body = BookingBody,
    responses((status = 201, body = BookingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn book_reception(
    State(s): State<AppState>,
    Source(src): Source,
    Json(b): Json<BookingBody>,
) -> ApiResult<(StatusCode, axum::Json<BookingView>)> {
    s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref())?;
    crate::portal::checked_query(&s, src.as_deref(), &b.code, &b.password).await?;
    Ok((StatusCode::CREATED, axum::Json(s.svc.book_reception(&b.code, &b.password, b.slot_id, &b.request).await?)))
}

/// The commitments made to residents and published (承诺事项公开), open ones first; a missed one carries its
/// red card.
#[utoipa::path(get, path = "/api/v1/portal/commitments", tag = "portal",
    responses((status = 200, body = Vec<PublicCommitment>)))]
async fn public_commitments(State(s): State<AppState>) -> ApiResult<axum::Json<Vec<PublicCommitment>>> {
    Ok(axum::Json(s.svc.public_commitments().await?))
}

/// The caller's newest notifications (an escalation rung, a red card), unread first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "ops", security(("bearer" = [])),
    responses((status = 200, body = Vec<NotificationView>)))]
async fn list_notifications(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<NotificationView>>> {
    Ok(axum::Json(s.svc.notifications(&p).await?))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "ops", security(("bearer" = [])),
    params(("id" = i64, Path, description = "notification id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn read_notification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    s.svc.mark_notification_read(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The duty contact directory: every unit with who is on duty there now and the duty phone (masked except to
/// duty officers and leaders).
#[utoipa::path(get, path = "/api/v1/duty/directory", tag = "duty", security(("bearer" = [])),
    responses((status = 200, body = Vec<DirectoryEntry>)))]
async fn duty_directory(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<DirectoryEntry>>> {
    Ok(axum::Json(s.svc.duty_directory(&p).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VisitParams {
    /// The last N days, today being day 1 (default 1: today).
    pub days: Option<i64>,
}

/// A site's visitor log (masked), for its responsible unit and the units above; the read is audited.
#[utoipa::path(get, path = "/api/v1/sites/{code}/visitors", tag = "ops", security(("bearer" = [])),
    params(("code" = String, Path, description = "site code"), VisitParams),
    responses((status = 200, body = Vec<VisitView>), (status = 403, body = ErrorBody)))]
async fn visitor_log(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(code): Path<String>,
    Q(q): Q<VisitParams>,
) -> ApiResult<axum::Json<Vec<VisitView>>> {
    Ok(axum::Json(s.svc.visitor_log(&p, &code, q.days.unwrap_or(1)).await?))
}

/// Sign a visitor in at the site's gate (server time); returns the visit's id.
#[utoipa::path(post, path = "/api/v1/sites/{code}/visitors", tag = "ops", security(("bearer" = [])),
    params(("code" = String, Path, description = "site code")), request_body = VisitInput,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn sign_in_visitor(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(code): Path<String>,
    Json(v): Json<VisitInput>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.sign_in_visitor(&p, &code, v).await?)))
}

/// Sign a visitor out (server time).
#[utoipa::path(post, path = "/api/v1/sites/{code}/visitors/{id}/sign-out", tag = "ops", security(("bearer" = [])),
    params(("code" = String, Path, description = "site code"), ("id" = i64, Path, description = "visit id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn sign_out_visitor(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((code, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    s.svc.sign_out_visitor(&p, &code, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
