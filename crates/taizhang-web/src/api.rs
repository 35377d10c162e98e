//! JSON API v1 handlers and the OpenAPI document.

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use taizhang_domain::access::Role;
use taizhang_domain::deadline::{self, ClockStatus, Period, PeriodUnit};
use taizhang_domain::region::Region;
use taizhang_domain::workflow::WorkflowDef;
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::auth::Login;
use taizhang_service::cases::{
    Actor, CasePage, CaseView, IntakeRequest, IntakeResult, ListQuery, PartyInput, PartyView, PublicCaseView,
};
use taizhang_store::CaseSort;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::extract::{ApiError, ApiResult, Auth, ErrorBody, Json, SESSION_COOKIE, Source, request_token};

#[derive(OpenApi)]
#[openapi(
    info(title = "台账 Taizhang API", version = "1", description = "基层案件台账：信访事项登记、交办、办理、答复、复查复核，法定时限与防篡改记录。错误统一返回 {code, message}。"),
    paths(
        login, logout, me, change_password, create_token,
        list_units, create_unit, list_grids, create_grid, list_sites, create_site, get_site, list_checklists,
        list_users, create_user, set_roles,
        list_workflows, get_workflow,
        list_cases, create_case, get_case, act_on_case, reveal_parties,
        deadline_calc, audit_log, loop_report, periodic_report,
        portal_submit, portal_query, portal_act,
    ),
    components(schemas(ErrorBody, LoginBody, LoginResponse, PasswordBody, TokenBody, UnitBody, UnitOut, UserBody, UserOut,
        RolesBody, CaseBody, ActionBody, ActionOut, DeadlineOut, AuditOut, PortalSubmitBody, PortalQueryBody, PortalActionBody,
        PortalReceipt, PartyInput, SiteBody, SwapBody, DecisionBody, taizhang_service::duty::Rotation,
        taizhang_service::duty::ShiftView, taizhang_service::duty::SwapView, taizhang_service::sites::SiteView, taizhang_service::sites::SiteDetail)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "登录与会话"), (name = "org", description = "单位与人员"),
         (name = "cases", description = "案件"), (name = "portal", description = "群众端（无需登录）"),
         (name = "duty", description = "值班"), (name = "tools", description = "工具"))
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/me/password", post(change_password))
        .route("/tokens", post(create_token))
        .route("/units", get(list_units).post(create_unit))
        .route("/grids", get(list_grids).post(create_grid))
        .route("/sites", get(list_sites).post(create_site))
        .route("/sites/{code}", get(get_site))
        .route("/checklists", get(list_checklists))
        .route("/duty/rotations", post(create_rotation))
        .route("/duty/units/{unit}/now", get(duty_now))
        .route("/duty/units/{unit}/shifts", get(duty_roster))
        .route("/duty/shifts/{id}/swaps", post(request_swap))
        .route("/duty/shifts/{id}/swaps/{swap}/decision", post(decide_swap))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}/roles", put(set_roles))
        .route("/workflows", get(list_workflows))
        .route("/workflows/{kind}", get(get_workflow))
        .route("/cases", get(list_cases).post(create_case))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/actions/{action}", post(act_on_case))
        .route("/cases/{id}/parties/full", get(reveal_parties))
        .route("/deadline", get(deadline_calc))
        .route("/indicators/{kind}", get(loop_report))
        .route("/periodic/{kind}", get(periodic_report))
        .route("/audit", get(audit_log))
        .route("/portal/cases", post(portal_submit))
        .route("/portal/query", post(portal_query))
        .route("/portal/actions/{action}", post(portal_act))
        .route("/openapi.json", get(openapi_json))
        .merge(crate::api_ops::routes())
        .merge(crate::api_oversight::routes())
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1", api)
        .merge(crate::pages::routes())
        .merge(
            SwaggerUi::new("/api/docs")
                .url("/api/docs/openapi.json", api_doc())
                // No call to the public validator service: nothing leaves the intranet.
                .config(utoipa_swagger_ui::Config::new(["/api/docs/openapi.json"]).validator_url("none")),
        )
        .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError(DomainError::new(ErrorCode::NotFound, "没有这个接口，请查看 /api/docs"))
}

async fn method_not_allowed() -> ApiError {
    ApiError(DomainError::new(ErrorCode::MethodNotAllowed, "此接口不支持该请求方法，请查看 /api/docs"))
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(api_doc())
}

/// The whole API document: the core paths and the daily-operations ones.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::api_ops::OpsDoc::openapi());
    doc.merge(crate::api_oversight::OversightDoc::openapi());
    doc
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}

/// Query strings with Chinese errors.
pub struct Q<T>(pub T);
impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri).map(|q| Q(q.0)).map_err(|e| {
            ApiError(DomainError::new(
                ErrorCode::InvalidInput,
                format!("查询参数有误：{}", crate::extract::zh_serde(&e.body_text())),
            ))
        })
    }
}

pub(crate) fn parse_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError(DomainError::new(ErrorCode::InvalidInput, format!("编号应为正整数：{s}"))))
}

// ------------------------------------------------------------------------------------------------ auth

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// Send back as `X-CSRF-Token` on writes made with the session cookie.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserOut,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub unit_id: i64,
    pub unit_name: Option<String>,
    pub roles: Vec<String>,
}

fn user_out(u: &taizhang_store::User, unit_name: Option<String>) -> UserOut {
    UserOut {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        unit_id: u.unit_id,
        unit_name,
        roles: taizhang_service::auth::parse_roles(&u.roles).iter().map(|r| r.as_str().to_string()).collect(),
    }
}

/// Sign in; the response carries a bearer token and sets an HttpOnly session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 423, body = ErrorBody)))]
async fn login(State(s): State<AppState>, Source(src): Source, Json(b): Json<LoginBody>) -> ApiResult<Response> {
    s.limiter.hit("login_address", crate::limit::LOGIN_PER_ADDRESS, src.as_deref())?;
    let who = format!("{}|{}", src.as_deref().unwrap_or("-"), b.username);
    s.limiter.hit("login", crate::limit::LOGIN, Some(&who))?;
    let (l, p) = s.svc.login(&b.username, &b.password, src.as_deref()).await?;
    let cookie = format!("{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", l.token);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, v);
    }
    let body = LoginResponse {
        token: l.token,
        csrf_token: l.csrf_token,
        expires_at: l.expires_at,
        user: user_out(&p.user, Some(p.unit.name.clone())),
    };
    Ok((headers, axum::Json(body)).into_response())
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204)))]
async fn logout(State(s): State<AppState>, parts: Parts) -> ApiResult<Response> {
    if let Some((t, _)) = request_token(&parts.headers) {
        s.svc.logout(&t).await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, HeaderValue::from_static("tz_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])), responses((status = 200, body = UserOut)))]
async fn me(Auth(p): Auth) -> axum::Json<UserOut> {
    axum::Json(user_out(&p.user, Some(p.unit.name.clone())))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    pub old_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn change_password(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    s.svc.change_password(&p, &b.old_password, &b.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    /// What the token is for, e.g. "12345 热线对接".
    pub name: String,
}

/// Issue an API token for a machine client (shown once).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", security(("bearer" = [])), request_body = TokenBody,
    responses((status = 200, body = Login)))]
async fn create_token(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<TokenBody>,
) -> ApiResult<axum::Json<Login>> {
    Ok(axum::Json(s.svc.create_api_token(&p, &b.name).await?))
}

// ------------------------------------------------------------------------------------------------ org

#[derive(Deserialize, ToSchema)]
pub struct UnitBody {
    pub parent_id: Option<i64>,
    /// Administrative division code or department code.
    pub code: String,
    pub name: String,
    /// province | city | county | township | village | department
    pub level: String,
}

#[derive(Serialize, ToSchema)]
pub struct UnitOut {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub level: String,
    pub path: String,
}

fn unit_out(u: taizhang_store::Unit) -> UnitOut {
    UnitOut { id: u.id, parent_id: u.parent_id, code: u.code, name: u.name, level: u.level, path: u.path }
}

#[utoipa::path(get, path = "/api/v1/units", tag = "org", security(("bearer" = [])), responses((status = 200, body = Vec<UnitOut>)))]
async fn list_units(State(s): State<AppState>, _auth: Auth) -> ApiResult<axum::Json<Vec<UnitOut>>> {
    let units = s.svc.store.units().await.map_err(taizhang_service::se)?;
    Ok(axum::Json(units.into_iter().map(unit_out).collect()))
}

#[utoipa::path(post, path = "/api/v1/units", tag = "org", security(("bearer" = [])), request_body = UnitBody,
    responses((status = 201, body = UnitOut), (status = 403, body = ErrorBody)))]
async fn create_unit(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<UnitBody>,
) -> ApiResult<(StatusCode, axum::Json<UnitOut>)> {
    let u = s.svc.create_unit(Some(&p), b.parent_id, &b.code, &b.name, &b.level).await?;
    Ok((StatusCode::CREATED, axum::Json(unit_out(u))))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct GridBody {
    /// 15 digits: county code (6) + street (3) + community (3) + sequence (3).
    pub code: String,
    pub name: String,
    /// unit (单元网格) | community (社区网格) | special (专属网格)
    pub layer: String,
    /// The unit of the tree the grid lies in.
    pub unit_id: i64,
    /// The grid worker responsible for it.
    pub owner_user_id: Option<i64>,
}

fn grid_body(g: taizhang_store::Grid) -> GridBody {
    GridBody { code: g.code, name: g.name, layer: g.layer, unit_id: g.unit_id, owner_user_id: g.owner_user_id }
}

/// Registered unit grids (网格), by code.
#[utoipa::path(get, path = "/api/v1/grids", tag = "org", security(("bearer" = [])), responses((status = 200, body = Vec<GridBody>)))]
async fn list_grids(State(s): State<AppState>, _auth: Auth) -> ApiResult<axum::Json<Vec<GridBody>>> {
    let grids = s.svc.store.grids().await.map_err(taizhang_service::se)?;
    Ok(axum::Json(grids.into_iter().map(grid_body).collect()))
}

/// Register a unit grid (system administrator).
#[utoipa::path(post, path = "/api/v1/grids", tag = "org", security(("bearer" = [])), request_body = GridBody,
    responses((status = 201, body = GridBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_grid(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<GridBody>,
) -> ApiResult<(StatusCode, axum::Json<GridBody>)> {
    let grid = taizhang_store::Grid {
        code: b.code.trim().to_string(),
        name: b.name,
        layer: b.layer,
        unit_id: b.unit_id,
        owner_user_id: b.owner_user_id,
    };
    let g = s.svc.create_grid(Some(&p), grid).await?;
    Ok((StatusCode::CREATED, axum::Json(grid_body(g))))
}

#[derive(Deserialize, ToSchema)]
pub struct SiteBody {
    /// The site's own code (letters, digits, hyphens), e.g. a school's code or a licence number.
    pub code: String,
    pub name: String,
    /// The sector (行业领域), one of `GET /api/v1/checklists`: it decides the inspection checklist.
    pub sector: String,
    /// The unit responsible for the site (属地/主管).
    pub unit_id: i64,
    #[serde(default)]
    pub address: String,
    /// How long its visitor log is kept, in days (1–365; 30 if not given).
    #[serde(default = "thirty")]
    pub visitor_retention_days: i64,
}

fn thirty() -> i64 {
    30
}

/// Registered sites (场所), by code.
#[utoipa::path(get, path = "/api/v1/sites", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Vec<taizhang_service::sites::SiteView>)))]
async fn list_sites(
    State(s): State<AppState>,
    _auth: Auth,
) -> ApiResult<axum::Json<Vec<taizhang_service::sites::SiteView>>> {
    Ok(axum::Json(s.svc.sites().await?))
}

/// Register a site (system administrator, safety inspector or leader).
#[utoipa::path(post, path = "/api/v1/sites", tag = "org", security(("bearer" = [])), request_body = SiteBody,
    responses((status = 201, body = taizhang_service::sites::SiteView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_site(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<SiteBody>,
) -> ApiResult<(StatusCode, axum::Json<taizhang_service::sites::SiteView>)> {
    let site = taizhang_store::Site {
        code: b.code,
        name: b.name,
        sector: b.sector,
        unit_id: b.unit_id,
        address: b.address,
        visitor_retention_days: b.visitor_retention_days,
    };
    Ok((StatusCode::CREATED, axum::Json(s.svc.create_site(Some(&p), site).await?)))
}

/// A site with its sector's checklist and the cases about it that the caller may see.
#[utoipa::path(get, path = "/api/v1/sites/{code}", tag = "org", security(("bearer" = [])),
    params(("code" = String, Path, description = "the site's code")),
    responses((status = 200, body = taizhang_service::sites::SiteDetail), (status = 404, body = ErrorBody)))]
async fn get_site(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<taizhang_service::sites::SiteDetail>> {
    Ok(axum::Json(s.svc.site_detail(&p, &code).await?))
}

/// The inspection checklists per sector (行业领域): each item's id, name and what to look at.
#[utoipa::path(get, path = "/api/v1/checklists", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Object)))]
async fn list_checklists(State(s): State<AppState>, _auth: Auth) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::to_value(&*s.svc.checklists).unwrap_or_default())
}

/// Who is on duty at a unit right now (值班员 and 带班领导), with the duty phone (masked unless the caller is
/// duty staff or a leader).
#[utoipa::path(get, path = "/api/v1/duty/units/{unit}/now", tag = "duty", security(("bearer" = [])),
    params(("unit" = i64, Path, description = "unit id")),
    responses((status = 200, body = Vec<taizhang_service::duty::ShiftView>)))]
async fn duty_now(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(unit): Path<i64>,
) -> ApiResult<axum::Json<Vec<taizhang_service::duty::ShiftView>>> {
    Ok(axum::Json(s.svc.on_duty_now(&p, unit).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterParams {
    /// YYYY-MM-DD (China time); default today.
    pub from: Option<String>,
    /// Default 7, at most 93.
    pub days: Option<i64>,
}

/// A unit's roster: every shift from `from` for `days` days, with swaps and who actually serves.
#[utoipa::path(get, path = "/api/v1/duty/units/{unit}/shifts", tag = "duty", security(("bearer" = [])),
    params(("unit" = i64, Path, description = "unit id"), RosterParams),
    responses((status = 200, body = Vec<taizhang_service::duty::ShiftView>), (status = 400, body = ErrorBody)))]
async fn duty_roster(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(unit): Path<i64>,
    Q(q): Q<RosterParams>,
) -> ApiResult<axum::Json<Vec<taizhang_service::duty::ShiftView>>> {
    let (from, to) = roster_window(&s, q.from.as_deref(), q.days)?;
    Ok(axum::Json(s.svc.roster(&p, unit, from, to).await?))
}

/// [from, from + days) in China time; today and 7 days by default.
pub(crate) fn roster_window(
    s: &AppState,
    from: Option<&str>,
    days: Option<i64>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), DomainError> {
    let from = match from.filter(|f| !f.is_empty()) {
        Some(f) => deadline::parse_start(f).map_err(|e| e.at("from"))?,
        None => {
            let today = s.svc.now().with_timezone(&deadline::china_tz()).date_naive();
            deadline::parse_start(&today.to_string())?
        }
    };
    Ok((from, from + chrono::Duration::days(days.unwrap_or(7).clamp(1, 93))))
}

/// Lay out a rotation (a leader of the unit or above): one 24-hour shift a day, officers and leaders in turn.
#[utoipa::path(post, path = "/api/v1/duty/rotations", tag = "duty", security(("bearer" = [])),
    request_body = taizhang_service::duty::Rotation,
    responses((status = 201, body = Vec<i64>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_rotation(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(r): Json<taizhang_service::duty::Rotation>,
) -> ApiResult<(StatusCode, axum::Json<Vec<i64>>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.create_rotation(&p, r).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct SwapBody {
    /// The colleague (same unit) who takes the shift.
    pub to_user_id: i64,
    pub reason: String,
}

/// Ask to hand one's own shift to a colleague; a leader of the unit decides.
#[utoipa::path(post, path = "/api/v1/duty/shifts/{id}/swaps", tag = "duty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "shift id")), request_body = SwapBody,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn request_swap(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(b): Json<SwapBody>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.request_swap(&p, id, b.to_user_id, &b.reason).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionBody {
    pub approve: bool,
}

/// Approve or reject a pending swap (a leader of the unit, not the one who asked).
#[utoipa::path(post, path = "/api/v1/duty/shifts/{id}/swaps/{swap}/decision", tag = "duty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "shift id"), ("swap" = i64, Path, description = "swap id")),
    request_body = DecisionBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn decide_swap(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, swap)): Path<(i64, i64)>,
    Json(b): Json<DecisionBody>,
) -> ApiResult<StatusCode> {
    s.svc.decide_swap(&p, id, swap, b.approve).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "org", security(("bearer" = [])), responses((status = 200, body = Vec<UserOut>)))]
async fn list_users(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<UserOut>>> {
    if !p.has(Role::SystemAdmin) && !p.has(Role::SecurityAdmin) {
        return Err(DomainError::new(ErrorCode::Forbidden, "只有系统管理员和安全管理员可以查看账号列表").into());
    }
    let users = s.svc.store.users().await.map_err(taizhang_service::se)?;
    Ok(axum::Json(users.iter().map(|u| user_out(u, None)).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct UserBody {
    pub username: String,
    pub display_name: String,
    pub unit_id: i64,
    pub password: String,
    /// Leave empty: roles are granted by the security administrator (PUT /api/v1/users/{id}/roles).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Optional: the staff member's ID number, kept only as a keyed hash for recusal checks.
    pub id_number: Option<String>,
}

fn parse_roles(v: &[String]) -> Result<Vec<Role>, ApiError> {
    v.iter().map(|r| r.parse::<Role>().map_err(ApiError)).collect()
}

#[utoipa::path(post, path = "/api/v1/users", tag = "org", security(("bearer" = [])), request_body = UserBody,
    responses((status = 201, body = UserOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<UserBody>,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    let roles = parse_roles(&b.roles)?;
    let u = s
        .svc
        .create_user(Some(&p), &b.username, &b.display_name, b.unit_id, &b.password, &roles, b.id_number.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user_out(&u, None))))
}

#[derive(Deserialize, ToSchema)]
pub struct RolesBody {
    pub roles: Vec<String>,
}

/// Change a user's roles (security administrator only; audited).
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "org", security(("bearer" = [])), request_body = RolesBody,
    params(("id" = i64, Path)), responses((status = 200, body = UserOut), (status = 403, body = ErrorBody)))]
async fn set_roles(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(b): Json<RolesBody>,
) -> ApiResult<axum::Json<UserOut>> {
    let roles = parse_roles(&b.roles)?;
    let u = s.svc.set_roles(&p, parse_id(&id)?, &roles).await?;
    Ok(axum::Json(user_out(&u, None)))
}

// ------------------------------------------------------------------------------------------------ workflows

#[utoipa::path(get, path = "/api/v1/workflows", tag = "cases", responses((status = 200, description = "每种案件类型的流程定义", body = Vec<Object>)))]
async fn list_workflows(State(s): State<AppState>) -> axum::Json<Vec<WorkflowDef>> {
    axum::Json(s.svc.workflows.all().cloned().collect())
}

#[utoipa::path(get, path = "/api/v1/workflows/{kind}", tag = "cases", params(("kind" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_workflow(State(s): State<AppState>, Path(kind): Path<String>) -> ApiResult<axum::Json<WorkflowDef>> {
    Ok(axum::Json(s.svc.workflows.get(&kind)?.clone()))
}

// ------------------------------------------------------------------------------------------------ cases

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case kind, e.g. `petition`.
    pub kind: Option<String>,
    pub state: Option<String>,
    /// Cases registered in this unit or below.
    pub unit: Option<i64>,
    /// Cases handled by this unit.
    pub handling_unit: Option<i64>,
    /// Cases held by this unit: handled by it, or registered by it and not handed on (the dashboard's rule).
    pub held: Option<i64>,
    /// Cases held by this unit or a unit below it.
    pub held_within: Option<i64>,
    /// true: closed cases only; false: open cases only.
    pub closed: Option<bool>,
    /// Closed on or after (YYYY-MM-DD or RFC 3339); implies `closed`.
    pub closed_from: Option<String>,
    /// Closed before (YYYY-MM-DD: before the end of that day); implies `closed`.
    pub closed_to: Option<String>,
    pub category: Option<String>,
    pub matter_type: Option<String>,
    /// Cases about this site (its code): its inspections and hazards.
    pub site: Option<String>,
    /// on_time | due_soon | overdue (nearest running deadline).
    pub clock_status: Option<String>,
    /// Registered on or after (YYYY-MM-DD or RFC 3339).
    pub from: Option<String>,
    /// Registered before (YYYY-MM-DD: before the end of that day).
    pub to: Option<String>,
    /// A case code (exact) or words in the title.
    pub q: Option<String>,
    /// deadline (default) | newest | oldest
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = CasePage), (status = 400, body = ErrorBody)))]
async fn list_cases(State(s): State<AppState>, Auth(p): Auth, Q(q): Q<ListParams>) -> ApiResult<axum::Json<CasePage>> {
    Ok(axum::Json(s.svc.list(&p, &q.into_query()?).await?))
}

impl ListParams {
    /// Query-string words (`overdue`, `newest`, dates) into a list query; bad words are a Chinese error.
    pub fn into_query(self) -> Result<ListQuery, DomainError> {
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, m);
        let clock_status = match self.clock_status.as_deref() {
            None | Some("") => None,
            Some("on_time") => Some(ClockStatus::OnTime),
            Some("due_soon") => Some(ClockStatus::DueSoon),
            Some("overdue") => Some(ClockStatus::Overdue),
            Some(x) => return Err(bad(format!("clock_status 无效：{x}（可选 on_time、due_soon、overdue）"))),
        };
        let sort = match self.sort.as_deref() {
            None | Some("") | Some("deadline") => CaseSort::Deadline,
            Some("newest") => CaseSort::NewestFirst,
            Some("oldest") => CaseSort::OldestFirst,
            Some(x) => return Err(bad(format!("sort 无效：{x}（可选 deadline、newest、oldest）"))),
        };
        let start = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(deadline::parse_start).transpose();
        let end = |v: &Option<String>| match v.as_deref().filter(|x| !x.is_empty()) {
            Some(t) if t.len() == 10 => Ok(Some(deadline::parse_start(t)? + chrono::Duration::days(1))),
            Some(t) => deadline::parse_start(t).map(Some),
            None => Ok(None),
        };
        let (from, to) = (start(&self.from)?, end(&self.to)?);
        let (closed_from, closed_to) = (start(&self.closed_from)?, end(&self.closed_to)?);
        Ok(ListQuery {
            kind: self.kind.filter(|x| !x.is_empty()),
            state: self.state.filter(|x| !x.is_empty()),
            unit: self.unit,
            handling_unit: self.handling_unit,
            held: self.held,
            held_within: self.held_within,
            closed: self.closed,
            closed_from,
            closed_to,
            category: self.category.filter(|x| !x.is_empty()),
            matter_type: self.matter_type.filter(|x| !x.is_empty()),
            site: self.site.filter(|x| !x.is_empty()),
            clock_status,
            from,
            to,
            text: self.q.filter(|x| !x.trim().is_empty()),
            sort,
            page: self.page.unwrap_or(1),
            per_page: self.per_page.unwrap_or(20),
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CaseBody {
    /// Case kind; defaults to `petition`.
    pub kind: Option<String>,
    /// The intake fields of the kind's workflow, e.g. channel, matter_type, title, content, category.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub petitioner: Option<PartyInput>,
    /// Further parties with their `role` (e.g. a dispute's `applicant`s and `respondent`s).
    #[serde(default)]
    pub parties: Vec<PartyInput>,
    /// A client-chosen id: resubmitting the same id is refused with `duplicate_submit`.
    pub client_request_id: Option<String>,
}

/// Register a case (intake) at the caller's unit. Returns the receipt data with the query password.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", security(("bearer" = [])), request_body = CaseBody,
    responses((status = 201, body = IntakeResult), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_case(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<CaseBody>,
) -> ApiResult<(StatusCode, axum::Json<IntakeResult>)> {
    let req = IntakeRequest {
        kind: b.kind.unwrap_or_else(|| "petition".into()),
        fields: b.fields,
        petitioner: b.petitioner,
        parties: b.parties,
        client_request_id: b.client_request_id,
        unit_id: None,
        attachments: vec![],
    };
    Ok((StatusCode::CREATED, axum::Json(s.svc.register(Actor::Staff(&p), req).await?)))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_case(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<axum::Json<CaseView>> {
    Ok(axum::Json(s.svc.case_view(&p, parse_id(&id)?).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ActionBody {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Required: the case version the user saw (from the case view). A case changed since — including by
    /// a double submission — refuses with `stale_version`, so nothing is recorded twice.
    pub expected_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionOut {
    pub id: i64,
    pub code: String,
    pub state: String,
    pub version: i64,
}

/// Take a workflow action on a case (assign, accept, reply, …) as listed in the case's `available_actions`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions/{action}", tag = "cases", security(("bearer" = [])),
    params(("id" = i64, Path), ("action" = String, Path)), request_body = ActionBody,
    responses((status = 200, body = ActionOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn act_on_case(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, action)): Path<(String, String)>,
    Json(b): Json<ActionBody>,
) -> ApiResult<axum::Json<ActionOut>> {
    let Some(version) = b.expected_version else {
        return Err(DomainError::new(
            ErrorCode::MissingField,
            "请提供 expected_version（您看到的案件版本号），以免重复提交",
        )
        .into());
    };
    let row = s.svc.act(Actor::Staff(&p), parse_id(&id)?, &action, b.fields, Some(version)).await?;
    Ok(axum::Json(ActionOut { id: row.id, code: row.code, state: row.state, version: row.version }))
}

/// Reveal the parties' full personal data (need-to-know roles only; every reveal is audited).
#[utoipa::path(get, path = "/api/v1/cases/{id}/parties/full", tag = "cases", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PartyView>), (status = 403, body = ErrorBody)))]
async fn reveal_parties(
    State(s): State<AppState>,
    Auth(p): Auth,
    Source(src): Source,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<PartyView>>> {
    Ok(axum::Json(s.svc.reveal_parties(&p, parse_id(&id)?, src.as_deref()).await?))
}

// ------------------------------------------------------------------------------------------------ tools

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineParams {
    /// Start: YYYY-MM-DD, local date-time, or RFC 3339.
    pub from: String,
    pub amount: u32,
    /// calendar | working | hours | minutes
    pub unit: String,
    /// 6-digit administrative code, e.g. 330000.
    pub region: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadlineOut {
    /// YYYY-MM-DD for day units, RFC 3339 for hours/minutes.
    pub due: String,
    pub due_at: DateTime<Utc>,
    /// True when the roll-forward needed a year the holiday table does not cover yet.
    pub provisional: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// Start, inclusive: `YYYY-MM-DD` (00:00 China time) or a time.
    pub from: String,
    /// End, exclusive.
    pub to: String,
}

/// Closed-loop indicators (立案数、应结案数、结案率、按期结案率、返工率、准确立案率) for cases of `kind`
/// reported in the period, in the caller's data scope, each case as it stood at the end of the period; in
/// total, per handling department and per unit grid.
#[utoipa::path(get, path = "/api/v1/indicators/{kind}", tag = "cases", security(("bearer" = [])),
    params(("kind" = String, Path, description = "e.g. grid_event"), PeriodParams),
    responses((status = 200, body = taizhang_service::indicators::LoopReport), (status = 400, body = ErrorBody)))]
async fn loop_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(kind): Path<String>,
    Q(q): Q<PeriodParams>,
) -> ApiResult<axum::Json<taizhang_service::indicators::LoopReport>> {
    let (from, to) = (deadline::parse_start(&q.from)?, deadline::parse_start(&q.to)?);
    Ok(axum::Json(s.svc.loop_report(&p, &kind, from, to).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportPeriodParams {
    /// Monthly reports: the year (default: last month's).
    pub year: Option<i32>,
    /// Monthly reports: 1–12 (default: last month).
    pub month: Option<u32>,
    /// Daily reports: YYYY-MM-DD (default: today).
    pub date: Option<String>,
}

/// A periodic report's compliance for a period (`sweep`, the monthly dispute sweep; `daily_report`, the daily
/// report): every reporting unit under the caller's unit, on time / late (迟报) / missing (漏报) / not yet due.
#[utoipa::path(get, path = "/api/v1/periodic/{kind}", tag = "cases", security(("bearer" = [])),
    params(("kind" = String, Path, description = "e.g. sweep, daily_report"), ReportPeriodParams),
    responses((status = 200, body = taizhang_service::periodic::PeriodicReport), (status = 400, body = ErrorBody)))]
async fn periodic_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(kind): Path<String>,
    Q(q): Q<ReportPeriodParams>,
) -> ApiResult<axum::Json<taizhang_service::periodic::PeriodicReport>> {
    Ok(axum::Json(s.svc.periodic_report(&p, &kind, q.year, q.month, q.date.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/deadline", tag = "tools", params(DeadlineParams),
    responses((status = 200, body = DeadlineOut), (status = 400, body = ErrorBody)))]
async fn deadline_calc(State(s): State<AppState>, Q(q): Q<DeadlineParams>) -> ApiResult<axum::Json<DeadlineOut>> {
    let unit: PeriodUnit = q.unit.parse()?;
    let region = q.region.as_deref().filter(|r| !r.is_empty()).map(Region::parse).transpose()?;
    let start = deadline::parse_start(&q.from)?;
    let due = deadline::compute_due(&s.svc.calendar, start, Period { amount: q.amount, unit }, region.as_ref())?;
    Ok(axum::Json(DeadlineOut {
        due: deadline::format_due(&due, unit),
        due_at: due.due_at,
        provisional: due.provisional,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditOut {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub unit_id: Option<i64>,
    pub source: Option<String>,
    pub event: String,
    pub object: Option<String>,
    pub result: String,
    pub detail: String,
    pub hash: String,
}

/// Read the audit log (audit administrator only; the read itself is audited).
#[utoipa::path(get, path = "/api/v1/audit", tag = "tools", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = Vec<AuditOut>), (status = 403, body = ErrorBody)))]
async fn audit_log(
    State(s): State<AppState>,
    Auth(p): Auth,
    Source(src): Source,
    Q(q): Q<AuditParams>,
) -> ApiResult<axum::Json<Vec<AuditOut>>> {
    if !p.has(Role::AuditAdmin) {
        s.svc.audit(Some(&p), src.as_deref(), "audit_read", None, "denied", "非审计管理员").await?;
        return Err(DomainError::new(ErrorCode::Forbidden, "只有审计管理员可以查阅审计日志").into());
    }
    let rows = s
        .svc
        .store
        .audit_page(q.after.unwrap_or(0), q.limit.unwrap_or(100).clamp(1, 1000))
        .await
        .map_err(taizhang_service::se)?;
    s.svc.audit(Some(&p), src.as_deref(), "audit_read", None, "ok", format!("{} 条", rows.len())).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| AuditOut {
                seq: r.seq,
                at: r.at,
                user_id: r.user_id,
                username: r.username,
                role: r.role,
                unit_id: r.unit_id,
                source: r.source,
                event: r.event,
                object: r.object,
                result: r.result,
                detail: r.detail,
                hash: r.hash,
            })
            .collect(),
    ))
}

// ------------------------------------------------------------------------------------------------ portal

#[derive(Deserialize, ToSchema)]
pub struct PortalSubmitBody {
    /// The office addressed (a unit id from /api/v1/units or the portal's list).
    pub unit_id: i64,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub petitioner: PartyInput,
    pub client_request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PortalReceipt {
    /// The query code (case code) for following progress.
    pub code: String,
    /// Shown once; with the code it opens the case on the portal.
    pub query_password: String,
    pub state_name: String,
}

/// A resident submits a petition online (no account).
#[utoipa::path(post, path = "/api/v1/portal/cases", tag = "portal", request_body = PortalSubmitBody,
    responses((status = 201, body = PortalReceipt), (status = 400, body = ErrorBody)))]
async fn portal_submit(
    State(s): State<AppState>,
    Source(src): Source,
    Json(b): Json<PortalSubmitBody>,
) -> ApiResult<(StatusCode, axum::Json<PortalReceipt>)> {
    s.limiter.hit("portal_submit", crate::limit::PORTAL_SUBMIT, src.as_deref())?;
    let mut fields = b.fields;
    fields.insert("channel".into(), Value::from("web"));
    let req = IntakeRequest {
        kind: "petition".into(),
        fields,
        petitioner: Some(b.petitioner),
        parties: vec![],
        client_request_id: b.client_request_id,
        unit_id: Some(b.unit_id),
        attachments: vec![],
    };
    let r = s.svc.register(Actor::Resident, req).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PortalReceipt {
            code: r.case.code,
            query_password: r.query_password,
            state_name: r.case.state_name,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct PortalQueryBody {
    pub code: String,
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/portal/query", tag = "portal", request_body = PortalQueryBody,
    responses((status = 200, body = PublicCaseView), (status = 401, body = ErrorBody)))]
async fn portal_query(
    State(s): State<AppState>,
    Source(src): Source,
    Json(b): Json<PortalQueryBody>,
) -> ApiResult<axum::Json<PublicCaseView>> {
    s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref())?;
    Ok(axum::Json(crate::portal::checked_query(&s, src.as_deref(), &b.code, &b.password).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PortalActionBody {
    pub code: String,
    pub password: String,
    /// The `version` from the query view, so a double submission is refused.
    pub expected_version: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// A resident rates the reply or requests review/re-review within the window.
#[utoipa::path(post, path = "/api/v1/portal/actions/{action}", tag = "portal", params(("action" = String, Path)),
    request_body = PortalActionBody, responses((status = 200, body = PublicCaseView), (status = 400, body = ErrorBody)))]
async fn portal_act(
    State(s): State<AppState>,
    Source(src): Source,
    Path(action): Path<String>,
    Json(b): Json<PortalActionBody>,
) -> ApiResult<axum::Json<PublicCaseView>> {
    s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref())?;
    crate::portal::checked_query(&s, src.as_deref(), &b.code, &b.password).await?;
    Ok(axum::Json(s.svc.portal_act(&b.code, &b.password, &action, b.fields, b.expected_version).await?))
}
