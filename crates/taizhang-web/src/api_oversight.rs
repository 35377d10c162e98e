//! The oversight part of the JSON API: assessment of units with the deployment's evaluation scheme, and the
//! cases behind every figure. Its OpenAPI paths are merged into the one document (`api::api_doc`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::Duration;
use serde::Deserialize;
use taizhang_service::accountability::{AccountabilityView, CaseRef, Decision, NewAccountability, StatementView};
use taizhang_service::assessment::{AssessmentReport, CountedCase, IndicatorHead, PeerGroup, UnitAssessment};
use taizhang_service::breakdown::TaskNode;
use taizhang_service::campaigns::{CampaignLine, CampaignView, NewCampaign};
use taizhang_service::cards::{CardList, CardView, UnitCards};
use taizhang_service::circulars::{CircularView, Mention, NewCircular};
use taizhang_service::dashboard::{
    Clearance, Dashboard, HotCategory, MonthFlow, PublishedRanking, RankRow, UnitCardCount, UnitClocks,
};
use taizhang_service::letters::{ItemProgress, LetterItem, LetterView, NewLetter};
use taizhang_service::responsibility::{NewResponsibility, ResponsibilityView, Roster};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::api::{Q, parse_id};
use crate::extract::{ApiResult, Auth, ErrorBody, Json};

#[derive(OpenApi)]
#[openapi(
    paths(assessment, assessment_cases, roster, assign_responsibility, end_responsibility, cards,
        accountability_list, record_accountability, accountability_one, add_statement, decisions, circulars,
        circular_draft, publish_circular, circular_one, dashboard, campaigns, create_campaign, campaign_one,
        letters, create_letter, letter_one, breakdown),
    components(schemas(AssessmentReport, IndicatorHead, PeerGroup, UnitAssessment, CountedCase, Roster,
        ResponsibilityView, NewResponsibility, EndBody, CardList, CardView, UnitCards, AccountabilityView, CaseRef,
        Decision, StatementView, NewAccountability, StatementBody, CircularView, Mention, NewCircular, Dashboard, MonthFlow,
        UnitClocks, HotCategory, UnitCardCount, RankRow, PublishedRanking, Clearance, CampaignView, CampaignLine,
        NewCampaign, LetterView, LetterItem, ItemProgress, NewLetter, TaskNode)),
    tags((name = "oversight", description = "责任与考核：责任体系、黄牌红牌预警、问责记录、考核排名及其所依据的案件"))
)]
pub struct OversightDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assessment", get(assessment))
        .route("/assessment/cases", get(assessment_cases))
        .route("/responsibility", get(roster).post(assign_responsibility))
        .route("/responsibility/{id}/end", post(end_responsibility))
        .route("/cards", get(cards))
        .route("/dashboard", get(dashboard))
        .route("/campaigns", get(campaigns).post(create_campaign))
        .route("/campaigns/{id}", get(campaign_one))
        .route("/letters", get(letters).post(create_letter))
        .route("/letters/{id}", get(letter_one))
        .route("/cases/{id}/breakdown", get(breakdown))
        .route("/accountability", get(accountability_list).post(record_accountability))
        .route("/accountability/decisions", get(decisions))
        .route("/accountability/{id}", get(accountability_one))
        .route("/accountability/{id}/statements", post(add_statement))
        .route("/circulars", get(circulars).post(publish_circular))
        .route("/circulars/draft", get(circular_draft))
        .route("/circulars/{id}", get(circular_one))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterParams {
    pub unit: i64,
    /// The day to read the roster for (YYYY-MM-DD); default today.
    pub on: Option<String>,
}

/// A unit's responsibility roster on a day, and every line it has had.
#[utoipa::path(get, path = "/api/v1/responsibility", tag = "oversight", security(("bearer" = [])),
    params(RosterParams), responses((status = 200, body = Roster), (status = 400, body = ErrorBody)))]
async fn roster(State(s): State<AppState>, Auth(p): Auth, Q(q): Q<RosterParams>) -> ApiResult<axum::Json<Roster>> {
    Ok(axum::Json(s.svc.responsibility_roster(&p, q.unit, q.on.as_deref()).await?))
}

/// Name a person to a responsibility for a unit (leaders or the supervision office of the unit or above). A
/// new first-responsible person ends the predecessor's line the day before.
#[utoipa::path(post, path = "/api/v1/responsibility", tag = "oversight", security(("bearer" = [])),
    request_body = NewResponsibility,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn assign_responsibility(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<NewResponsibility>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.assign_responsibility(&p, b).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct EndBody {
    pub unit_id: i64,
    /// The last day in the post (YYYY-MM-DD).
    pub ends_on: String,
}

/// The person left the post: the line gets its last day.
#[utoipa::path(post, path = "/api/v1/responsibility/{id}/end", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "roster line id")), request_body = EndBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn end_responsibility(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(b): Json<EndBody>,
) -> ApiResult<StatusCode> {
    s.svc.end_responsibility(&p, b.unit_id, parse_id(&id)?, &b.ends_on).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardParams {
    /// The last N days (default 7, at most 366).
    pub days: Option<i64>,
    /// Only the cards charged to this unit (of the caller's subtree).
    pub unit: Option<i64>,
}

/// Yellow and red cards raised from the clocks on cases held in the caller's subtree, with counts per unit.
#[utoipa::path(get, path = "/api/v1/cards", tag = "oversight", security(("bearer" = [])),
    params(CardParams), responses((status = 200, body = CardList)))]
async fn cards(State(s): State<AppState>, Auth(p): Auth, Q(q): Q<CardParams>) -> ApiResult<axum::Json<CardList>> {
    let days = q.days.unwrap_or(7).clamp(1, 366);
    let to = s.svc.now() + Duration::seconds(1);
    Ok(axum::Json(s.svc.cards(&p, Some(to - Duration::days(days)), Some(to), q.unit).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// The case kind (default `petition`).
    pub kind: Option<String>,
}

/// The leader dashboard for the caller's unit and everything under it: received and closed per month with
/// year-on-year and month-on-month change, clock status by unit, hot categories, cards this week, the latest
/// published ranking, backlog clearance. Each figure carries the `GET /api/v1/cases` query behind it.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "oversight", security(("bearer" = [])),
    params(DashboardParams), responses((status = 200, body = Dashboard), (status = 400, body = ErrorBody)))]
async fn dashboard(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<DashboardParams>,
) -> ApiResult<axum::Json<Dashboard>> {
    Ok(axum::Json(s.svc.dashboard(&p, q.kind.as_deref()).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountabilityParams {
    /// Only the records about the caller.
    #[serde(default)]
    pub mine: bool,
}

/// Accountability records: for the supervision office, those about officials of its unit and below; for anyone
/// else, those about themselves. Audited.
#[utoipa::path(get, path = "/api/v1/accountability", tag = "oversight", security(("bearer" = [])),
    params(AccountabilityParams), responses((status = 200, body = Vec<AccountabilityView>)))]
async fn accountability_list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<AccountabilityParams>,
) -> ApiResult<axum::Json<Vec<AccountabilityView>>> {
    Ok(axum::Json(s.svc.accountability_records(&p, q.mine).await?))
}

/// Record a finding about an official (the supervision office of the official's unit or above).
#[utoipa::path(post, path = "/api/v1/accountability", tag = "oversight", security(("bearer" = [])),
    request_body = NewAccountability,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn record_accountability(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<NewAccountability>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.record_accountability(&p, b).await?)))
}

/// One record, for its official or the supervision office above him. Audited.
#[utoipa::path(get, path = "/api/v1/accountability/{id}", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "record id")),
    responses((status = 200, body = AccountabilityView), (status = 404, body = ErrorBody)))]
async fn accountability_one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AccountabilityView>> {
    Ok(axum::Json(s.svc.accountability_record(&p, parse_id(&id)?).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct StatementBody {
    pub text: String,
}

/// The official's statement (陈述申辩) on a record about himself.
#[utoipa::path(post, path = "/api/v1/accountability/{id}/statements", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "record id")), request_body = StatementBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn add_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(b): Json<StatementBody>,
) -> ApiResult<StatusCode> {
    s.svc.add_statement(&p, parse_id(&id)?, &b.text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionParams {
    /// A case code.
    pub case: String,
}

/// 原因倒查: the decisions taken on a case (every step by a staff member), to trace a failure to its cause.
#[utoipa::path(get, path = "/api/v1/accountability/decisions", tag = "oversight", security(("bearer" = [])),
    params(DecisionParams), responses((status = 200, body = Vec<Decision>), (status = 400, body = ErrorBody)))]
async fn decisions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<DecisionParams>,
) -> ApiResult<axum::Json<Vec<Decision>>> {
    Ok(axum::Json(s.svc.decisions(&p, &q.case).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// `2026-10` (a month), `2026-Q3` (a quarter) or `2026` (a year); default: last month.
    pub period: Option<String>,
}

/// Each unit of the scheme's levels under the caller's unit, with its counts, its score per indicator and in
/// total, and its rank among its peers (same level, same parent). The scheme's version is in the result.
#[utoipa::path(get, path = "/api/v1/assessment", tag = "oversight", security(("bearer" = [])),
    params(PeriodParams), responses((status = 200, body = AssessmentReport), (status = 400, body = ErrorBody)))]
async fn assessment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<PeriodParams>,
) -> ApiResult<axum::Json<AssessmentReport>> {
    Ok(axum::Json(s.svc.assessment(&p, q.period.as_deref()).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrillParams {
    /// As for the assessment.
    pub period: String,
    pub unit: i64,
    /// A count of the scheme, e.g. `handling_due`.
    pub count: String,
}

/// The cases behind one unit's count: what a figure of the assessment is made of.
#[utoipa::path(get, path = "/api/v1/assessment/cases", tag = "oversight", security(("bearer" = [])),
    params(DrillParams), responses((status = 200, body = Vec<CountedCase>), (status = 400, body = ErrorBody)))]
async fn assessment_cases(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<DrillParams>,
) -> ApiResult<axum::Json<Vec<CountedCase>>> {
    Ok(axum::Json(s.svc.assessment_cases(&p, &q.period, q.unit, &q.count).await?))
}

/// Published assessment results with their circulars, for the publishing unit, the units under it and above it.
#[utoipa::path(get, path = "/api/v1/circulars", tag = "oversight", security(("bearer" = [])),
    responses((status = 200, body = Vec<CircularView>)))]
async fn circulars(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<CircularView>>> {
    Ok(axum::Json(s.svc.circulars(&p).await?))
}

/// The circular a period's assessment would give now (not published).
#[utoipa::path(get, path = "/api/v1/circulars/draft", tag = "oversight", security(("bearer" = [])),
    params(PeriodParams), responses((status = 200, body = CircularView), (status = 400, body = ErrorBody)))]
async fn circular_draft(
    State(s): State<AppState>,
    Auth(p): Auth,
    Q(q): Q<PeriodParams>,
) -> ApiResult<axum::Json<CircularView>> {
    let period = q.period.unwrap_or_default();
    Ok(axum::Json(s.svc.draft_circular(&p, &period).await?))
}

/// Publish an ended period's assessment with its circular (a leader or the supervision office), frozen with the
/// scheme's version; once per period.
#[utoipa::path(post, path = "/api/v1/circulars", tag = "oversight", security(("bearer" = [])),
    request_body = NewCircular,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn publish_circular(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<NewCircular>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.publish_circular(&p, b).await?)))
}

/// One published circular with the frozen assessment.
#[utoipa::path(get, path = "/api/v1/circulars/{id}", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "circular id")),
    responses((status = 200, body = CircularView), (status = 404, body = ErrorBody)))]
async fn circular_one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CircularView>> {
    Ok(axum::Json(s.svc.circular(&p, parse_id(&id)?).await?))
}

/// Campaigns to clear backlog cases (积案化解专项行动) the caller may read, with their progress now: in total, per
/// holding unit and per case-contract leader.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "oversight", security(("bearer" = [])),
    responses((status = 200, body = Vec<CampaignView>)))]
async fn campaigns(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<CampaignView>>> {
    Ok(axum::Json(s.svc.campaigns(&p).await?))
}

/// Start a campaign for the caller's unit (a leader or the supervision office).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "oversight", security(("bearer" = [])),
    request_body = NewCampaign,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<NewCampaign>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.create_campaign(&p, b).await?)))
}

/// One campaign with its progress now.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "campaign id")),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody)))]
async fn campaign_one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    Ok(axum::Json(s.svc.campaign(&p, parse_id(&id)?).await?))
}

/// Target responsibility letters (目标责任书) the caller may read (its unit's and those of units below), without
/// progress.
#[utoipa::path(get, path = "/api/v1/letters", tag = "oversight", security(("bearer" = [])),
    responses((status = 200, body = Vec<LetterView>)))]
async fn letters(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<LetterView>>> {
    Ok(axum::Json(s.svc.letters(&p).await?))
}

/// Record a signed letter with a unit below the caller's (a leader or the supervision office): indicators of the
/// assessment scheme with targets and weights summing to 100; one per unit and period.
#[utoipa::path(post, path = "/api/v1/letters", tag = "oversight", security(("bearer" = [])),
    request_body = NewLetter,
    responses((status = 201, body = i64), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_letter(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<NewLetter>,
) -> ApiResult<(StatusCode, axum::Json<i64>)> {
    Ok((StatusCode::CREATED, axum::Json(s.svc.create_letter(&p, b).await?)))
}

/// One letter with the unit's progress against each indicator now, computed from the cases.
#[utoipa::path(get, path = "/api/v1/letters/{id}", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "letter id")),
    responses((status = 200, body = LetterView), (status = 404, body = ErrorBody)))]
async fn letter_one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<LetterView>> {
    Ok(axum::Json(s.svc.letter(&p, parse_id(&id)?).await?))
}

/// A target task's breakdown (目标倒逼): the task and its sub-tasks level by level, each with unit, owner, deadline
/// and clock status, and at every level how many tasks below are done and overdue.
#[utoipa::path(get, path = "/api/v1/cases/{id}/breakdown", tag = "oversight", security(("bearer" = [])),
    params(("id" = i64, Path, description = "case id of a target task")),
    responses((status = 200, body = Vec<TaskNode>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn breakdown(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<TaskNode>>> {
    Ok(axum::Json(s.svc.breakdown(&p, parse_id(&id)?).await?))
}
