//! The daily-operations part of the JSON API: workspace notifications and visitor logs at sites. Its OpenAPI
//! paths are merged into the one document (`api::api_doc`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use taizhang_service::duty::DirectoryEntry;
use taizhang_service::notify::NotificationView;
use taizhang_service::visitors::{VisitInput, VisitView};
use utoipa::{IntoParams, OpenApi};

use crate::AppState;
use crate::api::Q;
use crate::extract::{ApiResult, Auth, ErrorBody, Json};

#[derive(OpenApi)]
#[openapi(
    paths(list_notifications, read_notification, duty_directory, visitor_log, sign_in_visitor, sign_out_visitor),
    components(schemas(NotificationView, DirectoryEntry, VisitInput, VisitView)),
    tags((name = "ops", description = "日常工作：通知、访客登记"))
)]
pub struct OpsDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/{id}/read", post(read_notification))
        .route("/duty/directory", get(duty_directory))
        .route("/sites/{code}/visitors", get(visitor_log).post(sign_in_visitor))
        .route("/sites/{code}/visitors/{id}/sign-out", post(sign_out_visitor))
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
