//! Workspace pages for oversight: the assessment of units (考核排名) with every figure linked to its cases,
//! responsibility rosters (责任体系), warning cards (黄牌/红牌), and accountability records (责任追究) — the
//! supervision office's register and each official's own records with his statements.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Duration;
use serde::Deserialize;
use taizhang_domain::access::Role;
use taizhang_domain::deadline::ClockStatus;
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::Principal;
use taizhang_service::accountability::{AccountabilityView, Decision, MEASURES, NewAccountability};
use taizhang_service::assessment::{AssessmentReport, CountedCase};
use taizhang_service::breakdown::TaskNode;
use taizhang_service::campaigns::{CampaignView, NewCampaign};
use taizhang_service::cards::CardList;
use taizhang_service::circulars::{CircularView, NewCircular};
use taizhang_service::dashboard::Dashboard;
use taizhang_service::letters::{LetterItem, LetterView, NewLetter};
use taizhang_service::responsibility::{KINDS, NewResponsibility, Roster};

use crate::AppState;
use crate::ops_pages::field;
use crate::pages::{Me, local, me, refusal, refused_form, staff, staff_writing};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assessment", get(assessment_page))
        .route("/assessment/cases", get(cases_page))
        .route("/responsibility", get(roster_page).post(assign))
        .route("/responsibility/{id}/end", post(end_line))
        .route("/cards", get(cards_page))
        .route("/dashboard", get(dashboard_page))
        .route("/campaigns", get(campaigns_page).post(start_campaign))
        .route("/campaigns/{id}", get(campaign_page))
        .route("/letters", get(letters_page).post(sign_letter))
        .route("/letters/{id}", get(letter_page))
        .route("/cases/{id}/breakdown", get(breakdown_page))
        .route("/accountability", get(accountability_page).post(record))
        .route("/accountability/{id}", get(record_page))
        .route("/accountability/{id}/statements", post(add_statement))
        .route("/circulars", get(circulars_page).post(publish))
        .route("/circulars/new", get(draft_page))
        .route("/circulars/{id}", get(circular_page))
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

// ---------------------------------------------------------------- responsibility rosters

#[derive(Deserialize)]
struct RosterQuery {
    unit: Option<i64>,
    on: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "responsibility.html")]
struct RosterPage {
    me: Option<Me>,
    csrf: String,
    r: Roster,
    /// Units the viewer may open: (id, indented name).
    units: Vec<(i64, String)>,
    /// The unit's active staff, for naming a person.
    people: Vec<(i64, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

async fn render_roster(
    s: &AppState,
    p: &Principal,
    unit: i64,
    on: Option<&str>,
    failed: Option<(DomainError, &[(String, String)])>,
) -> Response {
    let r = match s.svc.responsibility_roster(p, unit, on).await {
        Ok(r) => r,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let (units, users) = match (s.svc.store.units().await, s.svc.store.users().await) {
        (Ok(u), Ok(us)) => (u, us),
        (Err(e), _) | (_, Err(e)) => return refusal(taizhang_service::se(e), Some(me(p))),
    };
    let base = p.unit.path.matches('/').count();
    let mut units: Vec<(String, i64, String)> = units
        .into_iter()
        .filter(|u| u.path.starts_with(&p.unit.path))
        .map(|u| (u.path.clone(), u.id, format!("{}{}", "　".repeat(u.path.matches('/').count() - base), u.name)))
        .collect();
    units.sort();
    let people =
        users.iter().filter(|u| u.active && u.unit_id == unit).map(|u| (u.id, u.display_name.clone())).collect();
    let (status, error, form) = refused_form(failed);
    let page = RosterPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        r,
        units: units.into_iter().map(|(_, id, name)| (id, name)).collect(),
        people,
        kinds: KINDS.to_vec(),
        error,
        form,
    };
    (status, page).into_response()
}

/// A unit's responsibility roster (the viewer's own unit by default) on a day, with its history.
async fn roster_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<RosterQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_roster(&s, &p, q.unit.unwrap_or(p.unit.id), q.on.as_deref(), None).await
}

async fn assign(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let unit = field(&form, "unit_id").parse::<i64>().unwrap_or(p.unit.id);
    let r = match field(&form, "user_id").parse::<i64>() {
        Ok(user_id) => {
            let line = NewResponsibility {
                unit_id: unit,
                kind: field(&form, "kind"),
                user_id,
                post: field(&form, "post"),
                duties: field(&form, "duties"),
                starts_on: field(&form, "starts_on"),
            };
            s.svc.assign_responsibility(&p, line).await.map(|_| ())
        }
        Err(_) => Err(DomainError::new(ErrorCode::MissingField, "请选择责任人").at("user_id")),
    };
    match r {
        Ok(()) => Redirect::to(&format!("/responsibility?unit={unit}")).into_response(),
        Err(e) => render_roster(&s, &p, unit, None, Some((e, &form))).await,
    }
}

async fn end_line(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let unit = field(&form, "unit_id").parse::<i64>().unwrap_or(p.unit.id);
    match s.svc.end_responsibility(&p, unit, id, &field(&form, "ends_on")).await {
        Ok(()) => Redirect::to(&format!("/responsibility?unit={unit}")).into_response(),
        Err(e) => render_roster(&s, &p, unit, None, Some((e, &form))).await,
    }
}

// ---------------------------------------------------------------- warning cards

#[derive(Deserialize)]
struct CardsQuery {
    days: Option<i64>,
    /// A first day (YYYY-MM-DD, China time) instead of `days`: the dashboard's "this week".
    from: Option<String>,
    /// One unit's cards only (a dashboard figure followed).
    unit: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "cards.html")]
struct CardsPage {
    me: Option<Me>,
    days: i64,
    /// The first day asked for, when the page was opened with one.
    from: Option<String>,
    /// The one unit shown, when the page was opened for one: its name.
    unit: Option<String>,
    l: CardList,
}

/// Cards raised over the last days on cases held in the viewer's subtree, with counts per unit.
async fn cards_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<CardsQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut days = q.days.unwrap_or(7).clamp(1, 366);
    let to = s.svc.now() + Duration::seconds(1);
    let from = match q.from.as_deref().filter(|f| !f.is_empty()).map(taizhang_domain::deadline::parse_start) {
        Some(Ok(from)) => {
            days = (to - from).num_days() + 1;
            from
        }
        Some(Err(e)) => return refusal(e, Some(me(&p))),
        None => to - Duration::days(days),
    };
    match s.svc.cards(&p, Some(from), Some(to), q.unit).await {
        Ok(l) => {
            let unit = match q.unit {
                Some(id) => match s.svc.store.unit(id).await {
                    Ok(u) => Some(u.map(|u| u.name).unwrap_or_default()),
                    Err(e) => return refusal(taizhang_service::se(e), Some(me(&p))),
                },
                None => None,
            };
            let from = q.from.filter(|f| !f.is_empty());
            CardsPage { me: Some(me(&p)), days, from, unit, l }.into_response()
        }
        Err(e) => refusal(e, Some(me(&p))),
    }
}

/// A page that only reads: the signed-in staff member, what the service answers for them, and the template built
/// from it — or the refusal page.
async fn read_page<T, Fut>(
    s: &AppState,
    headers: &HeaderMap,
    load: impl FnOnce(Principal) -> Fut,
    render: impl FnOnce(Me, T) -> Response,
) -> Response
where
    Fut: std::future::Future<Output = Result<T, DomainError>>,
{
    let p = match staff(s, headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let who = me(&p);
    match load(p).await {
        Ok(v) => render(who, v),
        Err(e) => refusal(e, Some(who)),
    }
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    me: Option<Me>,
    d: Dashboard,
}

impl DashboardPage {
    /// The figures for the charts, safe inside a `<script>` element.
    fn data_json(&self) -> String {
        serde_json::to_string(&self.d).unwrap_or_else(|_| "null".into()).replace('<', "\\u003c")
    }

    /// Monday (China time) as the cards page's first day: the same window the figure counts.
    fn week_start(&self) -> String {
        self.d.week_from.with_timezone(&taizhang_domain::deadline::TZ).format("%Y-%m-%d").to_string()
    }
}

fn pct(v: &Option<f64>) -> String {
    match v {
        Some(x) if *x > 0.0 => format!("↑{x}%"),
        Some(x) if *x < 0.0 => format!("↓{}%", -x),
        Some(_) => "持平".into(),
        None => "—".into(),
    }
}

fn score(v: &Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into())
}

/// The leader dashboard (one kind at a time) for the viewer's unit and everything under it.
async fn dashboard_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<KindQuery>) -> Response {
    let load = async |p: Principal| s.svc.dashboard(&p, q.kind.as_deref()).await;
    read_page(&s, &headers, load, |me, d| DashboardPage { me: Some(me), d }.into_response()).await
}

// ---------------------------------------------------------------- backlog campaigns

#[derive(Template, WebTemplate)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<CampaignView>,
    /// The viewer may start a campaign (a leader or the supervision office).
    may_start: bool,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

impl CampaignsPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

async fn render_campaigns(s: &AppState, p: &Principal, failed: Option<(DomainError, &[(String, String)])>) -> Response {
    let rows = match s.svc.campaigns(p).await {
        Ok(r) => r,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let (status, error, form) = refused_form(failed);
    let may_start = p.oversees();
    let page = CampaignsPage { me: Some(me(p)), csrf: p.csrf_token.clone(), rows, may_start, error, form };
    (status, page).into_response()
}

/// Backlog campaigns with their progress, and (for leaders) the form to start one.
async fn campaigns_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match staff(&s, &headers, false).await {
        Ok(p) => render_campaigns(&s, &p, None).await,
        Err(r) => r,
    }
}

async fn start_campaign(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rate = field(&form, "target_rate");
    let c = NewCampaign {
        name: field(&form, "name"),
        starts_on: field(&form, "starts_on"),
        ends_on: field(&form, "ends_on"),
        // Not a number: out of range, refused with the field's own message.
        target_rate: rate.parse().unwrap_or(0),
    };
    match s.svc.create_campaign(&p, c).await {
        Ok(id) => Redirect::to(&format!("/campaigns/{id}")).into_response(),
        Err(e) => render_campaigns(&s, &p, Some((e, &form))).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign.html")]
struct CampaignPage {
    me: Option<Me>,
    c: CampaignView,
}

/// One campaign: progress per unit and per case-contract leader, each unit's open cases a click away.
async fn campaign_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let load = async |p: Principal| s.svc.campaign(&p, id).await;
    read_page(&s, &headers, load, |me, c| CampaignPage { me: Some(me), c }.into_response()).await
}

// ---------------------------------------------------------------- target responsibility letters

#[derive(Template, WebTemplate)]
#[template(path = "letters.html")]
struct LettersPage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<LetterView>,
    /// Units below the viewer's it may sign with: (id, name); empty when the viewer may not sign.
    units: Vec<(i64, String)>,
    /// The scheme's indicators: (id, name, default target, default weight).
    indicators: Vec<(String, String, f64, f64)>,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

impl LettersPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }

    /// A field of the form as typed, else its default.
    fn value_or(&self, k: &str, default: &f64) -> String {
        self.form.get(k).cloned().unwrap_or_else(|| default.to_string())
    }
}

async fn render_letters(s: &AppState, p: &Principal, failed: Option<(DomainError, &[(String, String)])>) -> Response {
    let rows = match s.svc.letters(p).await {
        Ok(r) => r,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let may_sign = p.oversees();
    let units = match (may_sign, s.svc.store.units().await) {
        (true, Ok(all)) => all
            .into_iter()
            .filter(|u| u.id != p.unit.id && u.path.starts_with(&p.unit.path))
            .map(|u| (u.id, u.name))
            .collect(),
        _ => vec![],
    };
    let scheme = &s.svc.scheme;
    let total: f64 = scheme.indicators.iter().map(|i| i.weight).sum();
    let indicators = scheme
        .indicators
        .iter()
        .map(|i| (i.id.clone(), i.name.clone(), i.target, (i.weight * 100.0 / total * 10.0).round() / 10.0))
        .collect();
    let (status, error, form) = refused_form(failed);
    (status, LettersPage { me: Some(me(p)), csrf: p.csrf_token.clone(), rows, units, indicators, error, form })
        .into_response()
}

/// The letters the viewer may read, and (for leaders) the form to record one signed with a unit below.
async fn letters_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match staff(&s, &headers, false).await {
        Ok(p) => render_letters(&s, &p, None).await,
        Err(r) => r,
    }
}

async fn sign_letter(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // An indicator is undertaken when its weight is filled in; a number that does not parse is refused.
    let number = |k: &str| field(&form, k).parse::<f64>().ok();
    let mut items = vec![];
    let mut unreadable = None;
    for i in &s.svc.scheme.indicators {
        if field(&form, &format!("weight_{}", i.id)).is_empty() {
            continue;
        }
        match (number(&format!("target_{}", i.id)), number(&format!("weight_{}", i.id))) {
            (Some(target), Some(weight)) => items.push(LetterItem { indicator: i.id.clone(), target, weight }),
            _ => unreadable = Some(format!("指标“{}”的目标和权重应为数字", i.name)),
        }
    }
    if let Some(msg) = unreadable {
        let e = DomainError::new(ErrorCode::InvalidInput, msg).at("items");
        return render_letters(&s, &p, Some((e, &form))).await;
    }
    let l = NewLetter {
        unit_id: field(&form, "unit_id").parse().unwrap_or(0),
        period: field(&form, "period"),
        title: field(&form, "title"),
        unit_signer: field(&form, "unit_signer"),
        issuer_signer: field(&form, "issuer_signer"),
        signed_on: field(&form, "signed_on"),
        items,
    };
    match s.svc.create_letter(&p, l).await {
        Ok(id) => Redirect::to(&format!("/letters/{id}")).into_response(),
        Err(e) => render_letters(&s, &p, Some((e, &form))).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "letter.html")]
struct LetterPage {
    me: Option<Me>,
    l: LetterView,
}

/// One letter, print-ready, with the unit's progress against each indicator and the cases behind each figure.
async fn letter_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let load = async |p: Principal| s.svc.letter(&p, id).await;
    read_page(&s, &headers, load, |me, l| LetterPage { me: Some(me), l }.into_response()).await
}

// ---------------------------------------------------------------- task breakdown

#[derive(Template, WebTemplate)]
#[template(path = "breakdown.html")]
struct BreakdownPage {
    me: Option<Me>,
    nodes: Vec<TaskNode>,
}

impl BreakdownPage {
    /// Indentation of a level, in the table's first column.
    fn indent(&self, depth: &usize) -> String {
        "　".repeat(*depth * 2)
    }

    fn overdue(&self, n: &TaskNode) -> bool {
        n.clock_status == Some(ClockStatus::Overdue)
    }

    fn status(&self, n: &TaskNode) -> &'static str {
        match n.clock_status {
            Some(ClockStatus::DueSoon) => "临期",
            Some(ClockStatus::OnTime) => "正常",
            _ => "",
        }
    }
}

/// A target task's breakdown with what lies below each task rolled up.
async fn breakdown_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let load = async |p: Principal| s.svc.breakdown(&p, id).await;
    read_page(&s, &headers, load, |me, nodes| BreakdownPage { me: Some(me), nodes }.into_response()).await
}

// ---------------------------------------------------------------- accountability records

#[derive(Deserialize)]
struct AccountabilityQuery {
    /// A case code to trace: its decisions are offered as the cause.
    trace: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accountability.html")]
struct AccountabilityPage {
    me: Option<Me>,
    csrf: String,
    /// The viewer is the supervision office (sees its subtree's records and may record).
    office: bool,
    records: Vec<AccountabilityView>,
    /// Officials the office may record about: (id, name · unit).
    officials: Vec<(i64, String)>,
    measures: Vec<(&'static str, &'static str)>,
    trace: String,
    decisions: Vec<Decision>,
    error: Option<String>,
    form: BTreeMap<String, String>,
}

async fn render_accountability(
    s: &AppState,
    p: &Principal,
    trace: Option<String>,
    failed: Option<(DomainError, &[(String, String)])>,
) -> Response {
    let office = p.has(Role::SupervisionOffice);
    let records = match s.svc.accountability_records(p, !office).await {
        Ok(r) => r,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let mut officials = vec![];
    if office {
        let (units, users) = match (s.svc.store.units().await, s.svc.store.users().await) {
            (Ok(u), Ok(us)) => (u, us),
            (Err(e), _) | (_, Err(e)) => return refusal(taizhang_service::se(e), Some(me(p))),
        };
        for u in users.iter().filter(|u| u.active && u.id != p.user.id) {
            let Some(unit) = units.iter().find(|x| x.id == u.unit_id && x.path.starts_with(&p.unit.path)) else {
                continue;
            };
            let roles = taizhang_service::auth::parse_roles(&u.roles);
            if roles.iter().all(|r| r.is_admin()) {
                continue;
            }
            officials.push((u.id, format!("{} · {}", u.display_name, unit.name)));
        }
    }
    let (mut status, mut error, form) = refused_form(failed);
    let trace = trace.unwrap_or_default().trim().to_string();
    let mut decisions = vec![];
    if office && !trace.is_empty() {
        match s.svc.decisions(p, &trace).await {
            Ok(d) => decisions = d,
            Err(e) => {
                status = StatusCode::BAD_REQUEST;
                error = Some(e.message);
            }
        }
    }
    let page = AccountabilityPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        office,
        records,
        officials,
        measures: MEASURES.to_vec(),
        trace,
        decisions,
        error,
        form,
    };
    (status, page).into_response()
}

/// The supervision office's register (with the form to record and trace a cause), or an official's own records.
async fn accountability_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AccountabilityQuery>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_accountability(&s, &p, q.trace, None).await
}

async fn record(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cause = field(&form, "cause");
    let (cause_case, cause_seq) = match cause.split_once('#') {
        Some((code, seq)) => (Some(code.to_string()), seq.parse().ok()),
        None => (None, None),
    };
    let r = match field(&form, "official_id").parse::<i64>() {
        Ok(official_id) => {
            let rec = NewAccountability {
                official_id,
                finding: field(&form, "finding"),
                measure: field(&form, "measure"),
                decided_by: field(&form, "decided_by"),
                decided_on: field(&form, "decided_on"),
                case_codes: field(&form, "case_codes").split([',', '，', ' ', '\n']).map(str::to_string).collect(),
                cause_case,
                cause_seq,
            };
            s.svc.record_accountability(&p, rec).await
        }
        Err(_) => Err(DomainError::new(ErrorCode::MissingField, "请选择被问责人").at("official_id")),
    };
    match r {
        Ok(id) => Redirect::to(&format!("/accountability/{id}")).into_response(),
        Err(e) => render_accountability(&s, &p, Some(field(&form, "trace")), Some((e, &form))).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "accountability_record.html")]
struct RecordPage {
    me: Option<Me>,
    csrf: String,
    r: AccountabilityView,
    error: Option<String>,
}

async fn render_record(s: &AppState, p: &Principal, id: i64, error: Option<DomainError>) -> Response {
    match s.svc.accountability_record(p, id).await {
        Ok(r) => {
            let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            let page = RecordPage { me: Some(me(p)), csrf: p.csrf_token.clone(), r, error: error.map(|e| e.message) };
            (status, page).into_response()
        }
        Err(e) => refusal(e, Some(me(p))),
    }
}

async fn record_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_record(&s, &p, id, None).await
}

async fn add_statement(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.add_statement(&p, id, &field(&form, "text")).await {
        Ok(()) => Redirect::to(&format!("/accountability/{id}")).into_response(),
        Err(e) => render_record(&s, &p, id, Some(e)).await,
    }
}

/// China-time text of an instant, for the templates.
trait LocalTime {
    fn t(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        local(*t)
    }
}
impl LocalTime for CardsPage {}
impl LocalTime for DashboardPage {}
impl LocalTime for BreakdownPage {}

impl RosterPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

impl AccountabilityPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
    fn value_or<'a>(&'a self, k: &str, default: &'a str) -> &'a str {
        self.form.get(k).map(String::as_str).unwrap_or(default)
    }
}
impl LocalTime for AccountabilityPage {}
impl LocalTime for RecordPage {}
impl LocalTime for CircularPage {}
impl LocalTime for CircularsPage {}

// ---------------------------------------------------------------- circulars

#[derive(Template, WebTemplate)]
#[template(path = "circulars.html")]
struct CircularsPage {
    me: Option<Me>,
    rows: Vec<CircularView>,
}

async fn circulars_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.circulars(&p).await {
        Ok(rows) => CircularsPage { me: Some(me(&p)), rows }.into_response(),
        Err(e) => refusal(e, Some(me(&p))),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "circular.html")]
struct CircularPage {
    me: Option<Me>,
    csrf: String,
    c: CircularView,
    /// The draft may be published by the viewer.
    may_publish: bool,
    error: Option<String>,
}

async fn render_draft(
    s: &AppState,
    p: &Principal,
    period: &str,
    failed: Option<(DomainError, &[(String, String)])>,
) -> Response {
    let mut c = match s.svc.draft_circular(p, period).await {
        Ok(c) => c,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let (status, error) = match failed {
        Some((e, form)) => {
            c.title = field(form, "title");
            c.leader_text = field(form, "leader_text");
            (StatusCode::BAD_REQUEST, Some(e.message))
        }
        None => (StatusCode::OK, None),
    };
    let may_publish = p.oversees() && !c.report.running;
    (status, CircularPage { me: Some(me(p)), csrf: p.csrf_token.clone(), c, may_publish, error }).into_response()
}

/// The circular a period's assessment gives now, with the form to add the leader's words and publish it.
async fn draft_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<PeriodQuery>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render_draft(&s, &p, q.period.as_deref().unwrap_or_default(), None).await
}

async fn publish(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let c = NewCircular {
        period: field(&form, "period"),
        title: field(&form, "title"),
        leader_text: field(&form, "leader_text"),
    };
    match s.svc.publish_circular(&p, c).await {
        Ok(id) => Redirect::to(&format!("/circulars/{id}")).into_response(),
        Err(e) => render_draft(&s, &p, &field(&form, "period"), Some((e, &form))).await,
    }
}

/// A published circular, print-ready.
async fn circular_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.svc.circular(&p, id).await {
        Ok(c) => {
            CircularPage { me: Some(me(&p)), csrf: String::new(), c, may_publish: false, error: None }.into_response()
        }
        Err(e) => refusal(e, Some(me(&p))),
    }
}
