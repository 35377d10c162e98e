//! Workspace pages for oversight: the assessment of units (考核排名) with every figure linked to its cases.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::assessment::{AssessmentReport, CountedCase};

use crate::AppState;
use crate::pages::{Me, me, refusal, staff};

pub fn routes() -> Router<AppState> {
    Router::new().route("/assessment", get(assessment_page)).route("/assessment/cases", get(cases_page))
}

#[derive(Deserialize)]
struct PeriodQuery {
    period: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "assessment.html")]
struct AssessmentPage {
    me: Option<Me>,
    r: AssessmentReport,
}

/// The units under the user's unit, ranked among their peers, for a month, quarter or year.
async fn assessment_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<PeriodQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.assessment(&p, q.period.as_deref()).await {
        Ok(r) => AssessmentPage { me: Some(me(&p)), r }.into_response(),
        Err(e) => refusal(e, Some(me(&p))),
    }
}

#[derive(Deserialize)]
struct DrillQuery {
    period: Option<String>,
    unit: Option<String>,
    count: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "assessment_cases.html")]
struct CasesPage {
    me: Option<Me>,
    period: String,
    unit_name: String,
    count_name: String,
    cases: Vec<CountedCase>,
}

/// The cases behind one figure of the assessment.
async fn cases_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<DrillQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (period, count) = (q.period.unwrap_or_default(), q.count.unwrap_or_default());
    let Some(unit) = q.unit.as_deref().and_then(|u| u.trim().parse::<i64>().ok()) else {
        return refusal(
            DomainError::new(ErrorCode::InvalidInput, "请从考核排名页面点击数字进入（缺少单位编号）"),
            Some(me(&p)),
        );
    };
    let cases = match s.svc.assessment_cases(&p, &period, unit, &count).await {
        Ok(c) => c,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let unit_name = match s.svc.store.unit(unit).await {
        Ok(u) => u.map(|u| u.name).unwrap_or_default(),
        Err(e) => return refusal(taizhang_service::se(e), Some(me(&p))),
    };
    let count_name = s.svc.scheme.counts.iter().find(|c| c.id == count).map(|c| c.name.clone()).unwrap_or_default();
    CasesPage { me: Some(me(&p)), period, unit_name, count_name, cases }.into_response()
}
