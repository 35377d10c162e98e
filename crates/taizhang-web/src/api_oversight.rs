//! The oversight part of the JSON API: assessment of units with the deployment's evaluation scheme, and the
//! cases behind every figure. Its OpenAPI paths are merged into the one document (`api::api_doc`).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use taizhang_service::assessment::{AssessmentReport, CountedCase, IndicatorHead, PeerGroup, UnitAssessment};
use utoipa::{IntoParams, OpenApi};

use crate::AppState;
use crate::api::Q;
use crate::extract::{ApiResult, Auth, ErrorBody};

#[derive(OpenApi)]
#[openapi(
    paths(assessment, assessment_cases),
    components(schemas(AssessmentReport, IndicatorHead, PeerGroup, UnitAssessment, CountedCase)),
    tags((name = "oversight", description = "考核排名：按考核方案计算的各单位得分、排名及其所依据的案件"))
)]
pub struct OversightDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/assessment", get(assessment)).route("/assessment/cases", get(assessment_cases))
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
