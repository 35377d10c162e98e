//! The resident portal (no account; works on a phone): the home page with the channels, address and
//! reception hours and the published statistics (信访工作条例 art. 18), online submission with attachments
//! and a self-hosted challenge, and following a case with its query code and password — the timeline in plain
//! words, the reply, rating it, requesting review within the window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};
use taizhang_domain::attachment::{ACCEPT, MAX_FILE_BYTES};
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::cases::{Actor, IntakeRequest, PartyInput, PublicCaseView};
use taizhang_service::portal::{PortalInfo, PublicStatistics};

use crate::AppState;
use crate::extract::Source;
use crate::pages::{ActionForm, Failed, Me, action_forms, local, status_class};
use crate::upload::{FormData, UPLOAD_BODY_BYTES, read_form};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(portal_home))
        .route("/portal/submit", get(submit_form).post(submit).layer(DefaultBodyLimit::max(UPLOAD_BODY_BYTES)))
        // Opened directly (a reload, a bookmark), these lead back to the portal's query form.
        .route("/portal/case", post(portal_case).get(|| async { Redirect::to("/portal#query") }))
        .route("/portal/book", post(portal_book).get(|| async { Redirect::to("/portal#query") }))
        .route("/portal/receptions", get(receptions_page))
        .route("/portal/commitments", get(commitments_page))
        .route("/portal/act/{action}", post(portal_act).get(|| async { Redirect::to("/portal#query") }))
}

/// The published figures. They walk the year's cases (about 3 s at 100 k cases), so no request waits for
/// them: a request gets what was last computed and, when that is older than ten minutes, starts a new
/// computation in the background. The very first request after a start shows no figures yet.
#[derive(Default)]
pub struct StatisticsCache {
    last: Mutex<Option<(Instant, PublicStatistics)>>,
    running: std::sync::atomic::AtomicBool,
}

const STATISTICS_TTL: Duration = Duration::from_secs(600);

impl StatisticsCache {
    fn get(&self, s: &AppState) -> Option<PublicStatistics> {
        use std::sync::atomic::Ordering;
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fresh = last.as_ref().is_some_and(|(at, _)| at.elapsed() < STATISTICS_TTL);
        if !fresh && !self.running.swap(true, Ordering::SeqCst) {
            let s = s.clone();
            tokio::spawn(async move {
                match s.svc.public_statistics("petition").await {
                    Ok(st) => *s.statistics.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), st)),
                    Err(e) => tracing::warn!("portal statistics unavailable: {}", e.message),
                }
                s.statistics.running.store(false, Ordering::SeqCst);
            });
        }
        last.map(|(_, st)| st)
    }
}

/// One published figure: label and value in words.
struct Figure {
    label: String,
    value: String,
}

fn figures(info: &PortalInfo, st: &PublicStatistics) -> Vec<Figure> {
    let pct = |p: Option<f64>| p.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "暂无数据".into());
    let mut out = vec![];
    for which in &info.statistics {
        match which.as_str() {
            "received" => out
                .push(Figure {
                    label: format!("{} 年受理信访事项", st.year), value: format!("{} 件", st.received)
                }),
            "on_time" => out.push(Figure {
                label: "按期办理率".into(),
                value: format!("{}（{} / {} 项法定时限）", pct(st.on_time_percent()), st.limits_met, st.limits_due),
            }),
            "satisfaction" => out.push(Figure {
                label: "群众满意率".into(),
                value: format!("{}（{} 人评价）", pct(st.satisfaction_percent()), st.rated),
            }),
            _ => {}
        }
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "portal.html")]
struct PortalPage {
    me: Option<Me>,
    info: PortalInfo,
    figures: Vec<Figure>,
    error: Option<String>,
    code: String,
}

/// The home page; with `error` it is the query form shown again with why the query failed.
async fn home(s: &AppState, error: Option<DomainError>, code: &str) -> Response {
    let figures = match s.statistics.get(s) {
        Some(st) => figures(&s.svc.portal, &st),
        None => vec![],
    };
    let status = error.as_ref().map(|e| StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST));
    let page = PortalPage {
        me: None,
        info: (*s.svc.portal).clone(),
        figures,
        error: error.map(|e| e.message),
        code: code.to_string(),
    };
    no_store((status.unwrap_or(StatusCode::OK), page))
}

async fn portal_home(State(s): State<AppState>) -> Response {
    home(&s, None, "").await
}

/// The submission form's values, kept across a refused submission.
#[derive(Default)]
struct SubmitForm {
    unit_id: String,
    matter_type: String,
    category: String,
    title: String,
    content: String,
    facts_reasons: String,
    name: String,
    phone: String,
    id_number: String,
    address: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal_submit.html")]
struct SubmitPage {
    me: Option<Me>,
    offices: Vec<(String, String)>,
    matter_types: Vec<(String, String)>,
    form: SubmitForm,
    /// One id per form shown: it keeps the files of a refused submission and makes a resubmission harmless.
    form_id: String,
    question: String,
    token: String,
    kept_files: Vec<String>,
    accept: &'static str,
    max_file_bytes: usize,
    /// Why the submission was refused: every problem found, each shown beside its field.
    errors: Vec<DomainError>,
}

impl SubmitPage {
    /// The refusal's message when it is about `field` (shown next to that input).
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field.as_deref() == Some(field)).map(|e| e.message.as_str())
    }
    /// The refusal's message when it is about no particular input (shown above the form).
    fn general_error(&self) -> Option<&str> {
        let placed = [
            "unit_id",
            "matter_type",
            "category",
            "title",
            "content",
            "facts_reasons",
            "name",
            "phone",
            "id_number",
            "address",
            "files",
            "answer",
        ];
        self.errors.iter().find(|e| e.field.as_deref().is_none_or(|f| !placed.contains(&f))).map(|e| e.message.as_str())
    }
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn submit_page(
    s: &AppState,
    form: SubmitForm,
    form_id: String,
    kept: Vec<String>,
    errors: Vec<DomainError>,
) -> Response {
    let offices = match s.svc.portal_offices().await {
        Ok(u) => u.into_iter().map(|u| (u.id.to_string(), u.name)).collect(),
        Err(e) => return home(s, Some(e), "").await,
    };
    let def = s.svc.workflows.get("petition").ok();
    let matter_types = def
        .and_then(|d| d.field("matter_type"))
        .map(|f| f.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let ch = s.challenges.issue();
    // The most serious problem decides the status (an oversized upload answers 413).
    let status = errors
        .iter()
        .map(|e| StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST))
        .max()
        .unwrap_or(StatusCode::OK);
    let page = SubmitPage {
        me: None,
        offices,
        matter_types,
        form,
        form_id,
        question: ch.question,
        token: ch.token,
        kept_files: kept,
        accept: ACCEPT,
        max_file_bytes: MAX_FILE_BYTES,
        errors,
    };
    no_store((status, page))
}

async fn submit_form(State(s): State<AppState>) -> Response {
    let form = SubmitForm { matter_type: "claim".into(), ..Default::default() };
    submit_page(&s, form, random_id(), vec![], vec![]).await
}

/// Receipts shown in the last 30 minutes, by the submission form's id: reloading the receipt page (which
/// resends the form) shows the same receipt with its query password again instead of "already submitted".
/// Only the browser that held the form knows its random id.
#[derive(Default)]
pub struct Receipts(Mutex<HashMap<String, (Instant, ReceiptPage)>>);

const RECEIPT_TTL: Duration = Duration::from_secs(30 * 60);

impl Receipts {
    fn get(&self, form_id: &str) -> Option<ReceiptPage> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, (at, _)| at.elapsed() < RECEIPT_TTL);
        m.get(form_id).map(|(_, r)| r.clone())
    }
    fn keep(&self, form_id: &str, r: ReceiptPage) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(form_id.to_string(), (Instant::now(), r));
    }
}

#[derive(Template, WebTemplate, Clone)]
#[template(path = "portal_receipt.html")]
struct ReceiptPage {
    me: Option<Me>,
    code: String,
    password: String,
    office: String,
    state_name: String,
    files: Vec<String>,
}

async fn submit(State(s): State<AppState>, Source(src): Source, req: Request) -> Response {
    let FormData { pairs, files, problem } = read_form(req).await;
    let get = |k: &str| pairs.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let form = SubmitForm {
        unit_id: get("unit_id"),
        matter_type: get("matter_type"),
        category: get("category"),
        title: get("title"),
        content: get("content"),
        facts_reasons: get("facts_reasons"),
        name: get("name"),
        phone: get("phone"),
        id_number: get("id_number"),
        address: get("address"),
    };
    // An unknown or forged form id just starts a fresh stash: it cannot reach someone else's files, which
    // are filed under ids only their own page ever held.
    let form_id = Some(get("form_id"))
        .filter(|f| f.len() == 32 && f.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(random_id);
    if let Some(receipt) = s.receipts.get(&form_id) {
        return no_store(receipt);
    }
    let (files, refused_file) = crate::upload::screen(s.stash.merge(&form_id, files));
    let problem = problem.or(refused_file);
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    let refuse = |form: SubmitForm, files: Vec<taizhang_service::cases::Upload>, errors: Vec<DomainError>| {
        let (s, form_id, names) = (s.clone(), form_id.clone(), names.clone());
        async move {
            let too_large = errors.iter().any(|e| e.code == ErrorCode::BodyTooLarge);
            s.stash.keep(&form_id, files);
            let mut r = submit_page(&s, form, form_id, names, errors).await;
            if too_large {
                r.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
    };
    if let Err(e) = s.limiter.hit("portal_submit", crate::limit::PORTAL_SUBMIT, src.as_deref()) {
        return refuse(form, files, vec![e]).await;
    }
    let mut fields = Map::new();
    fields.insert("channel".into(), Value::from("web"));
    for (k, v) in [
        ("matter_type", &form.matter_type),
        ("category", &form.category),
        ("title", &form.title),
        ("content", &form.content),
        ("facts_reasons", &form.facts_reasons),
    ] {
        if !v.is_empty() {
            fields.insert(k.into(), Value::from(v.as_str()));
        }
    }
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let req = IntakeRequest {
        kind: "petition".into(),
        fields,
        parties: vec![],
        petitioner: Some(PartyInput {
            role: None,
            name: form.name.clone(),
            phone: opt(&form.phone),
            id_number: opt(&form.id_number),
            address: opt(&form.address),
        }),
        client_request_id: Some(format!("portal-{form_id}")),
        unit_id: form.unit_id.parse::<i64>().ok(),
        attachments: files.clone(),
    };
    // Every problem at once, each beside its field: the upload, the question, the office, the phone, and what
    // the petition's definition and the petitioner checks find.
    let mut errors: Vec<DomainError> = problem.into_iter().collect();
    if let Err(e) = s.challenges.check(&get("challenge"), &get("answer")) {
        errors.push(e.at("answer"));
    }
    if req.unit_id.is_none() {
        errors.push(DomainError::new(ErrorCode::MissingField, "请选择受理机关").at("unit_id"));
    }
    if form.phone.is_empty() {
        errors.push(DomainError::new(ErrorCode::MissingField, "请填写联系电话，以便办理单位与您联系").at("phone"));
    }
    for e in s.svc.intake_problems(&req) {
        if !errors.iter().any(|x| x.field == e.field) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return refuse(form, files, errors).await;
    }
    match s.svc.register(Actor::Resident, req).await {
        Ok(r) => {
            let receipt = ReceiptPage {
                me: None,
                code: r.case.code,
                password: r.query_password,
                office: r.case.registered_unit.name,
                state_name: r.case.state_name,
                files: names,
            };
            s.receipts.keep(&form_id, receipt.clone());
            no_store(receipt)
        }
        Err(e) => refuse(form, files, vec![e]).await,
    }
}

struct PublicRow {
    at: String,
    action_name: String,
    unit: Option<String>,
    fields: Vec<(String, String)>,
    documents: Vec<String>,
}

struct PublicClock {
    name: String,
    due: String,
    status: String,
    label: String,
    remaining: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal_case.html")]
struct PortalCasePage {
    me: Option<Me>,
    view: PublicCaseView,
    password: String,
    clocks: Vec<PublicClock>,
    events: Vec<PublicRow>,
    forms: Vec<ActionForm>,
    message: Option<String>,
    error: Option<String>,
    /// (slot id, words) of reception sessions with places left.
    slots: Vec<(i64, String)>,
    /// The case's appointment requests: (the session in words, the request).
    bookings: Vec<(String, taizhang_service::reception::BookingView)>,
    /// The appointment form's slot and request as typed, after a refusal.
    book_form: (String, String),
}

/// A reception session in words: "2026-03-05 09:00–11:00 东城区信访局接待大厅 · 邓明（东城区领导）· 城建".
fn slot_words(x: &taizhang_service::reception::SlotView) -> String {
    let end = x.ends_at.with_timezone(&taizhang_domain::deadline::china_tz()).format("%H:%M");
    format!("{}–{end} {} · {}（{}）· {}", local(x.starts_at), x.place, x.leader_name, x.unit_name, x.topic)
}

/// A query with code and password, refused for a while after ten wrong passwords for that code from the same
/// address.
pub(crate) async fn checked_query(
    s: &AppState,
    src: Option<&str>,
    code: &str,
    password: &str,
) -> Result<PublicCaseView, DomainError> {
    let key = format!("{}|{}", code.trim().to_uppercase(), src.unwrap_or("-"));
    let rule = crate::limit::PORTAL_WRONG_PASSWORD;
    if let Some(wait) = s.limiter.blocked_for("portal_wrong_password", rule, &key) {
        return Err(DomainError::new(
            ErrorCode::RateLimited,
            format!(
                "该查询码的查询密码已连续输错 {} 次，为保护信访人信息，请约 {wait} 分钟后再试；忘记密码的，可携带身份证件到信访接待窗口查询",
                rule.max
            ),
        ));
    }
    match s.svc.portal_case(code, password).await {
        Ok((_, view)) => Ok(view),
        Err(e) => {
            if e.code == ErrorCode::InvalidCredentials {
                let _ = s.limiter.hit("portal_wrong_password", crate::limit::PORTAL_WRONG_PASSWORD, Some(&key));
            }
            Err(e)
        }
    }
}

/// Pages carrying the query password are never cached.
fn no_store(r: impl IntoResponse) -> Response {
    let mut r = r.into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn portal_case_page(
    s: &AppState,
    view: PublicCaseView,
    password: &str,
    message: Option<String>,
    failed: Option<Failed<'_>>,
) -> Response {
    // The leader reception sessions the resident may ask for, and what they asked already.
    let (slots, bookings) = match s.svc.store.case_by_code(&view.code).await {
        Ok(Some(row)) if s.svc.takes_receptions(&row.kind) => (
            s.svc.reception_schedule(None, 60).await.unwrap_or_default(),
            s.svc.case_bookings(row.id).await.unwrap_or_default(),
        ),
        _ => (vec![], vec![]),
    };
    let slots = slots.into_iter().filter(|x| x.remaining > 0).map(|x| (x.id, slot_words(&x))).collect();
    let bookings = bookings.into_iter().map(|(b, x)| (slot_words(&x), b)).collect();
    // A refused appointment request keeps what was typed.
    let kept = |k: &str| {
        failed
            .as_ref()
            .filter(|f| f.action == "book")
            .and_then(|f| f.form.iter().find(|(n, _)| n == k))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let book_form = (kept("slot_id"), kept("request"));
    let clocks = view
        .clocks
        .iter()
        .filter(|c| c.stopped_at.is_none())
        .map(|c| PublicClock {
            name: c.name.clone(),
            due: c.due_date.map(|d| d.to_string()).unwrap_or_else(|| local(c.due_at)),
            status: status_class(c),
            label: c.status_label.clone(),
            remaining: c.remaining.clone(),
        })
        .collect();
    let events = view
        .timeline
        .iter()
        .map(|e| PublicRow {
            at: local(e.at),
            action_name: e.action_name.clone(),
            unit: e.unit.clone(),
            fields: e
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect(),
            documents: e.documents.iter().map(|d| format!("{}（{}）", d.name, d.number)).collect(),
        })
        .collect();
    let (forms, error) = action_forms(&view.available_actions, &crate::pages::FormContext::default(), failed);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    no_store((
        status,
        PortalCasePage {
            me: None,
            view,
            password: password.to_string(),
            clocks,
            events,
            forms,
            message,
            error,
            slots,
            bookings,
            book_form,
        },
    ))
}

async fn portal_case(
    State(s): State<AppState>,
    Source(src): Source,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (code, password) = (get("code"), get("password"));
    if let Err(e) = s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref()) {
        return home(&s, Some(e), &code).await;
    }
    match checked_query(&s, src.as_deref(), &code, &password).await {
        Ok(view) => portal_case_page(&s, view, &password, None, None).await,
        Err(e) => home(&s, Some(e), &code).await,
    }
}

async fn portal_act(
    State(s): State<AppState>,
    Source(src): Source,
    Path(action): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (code, password) = (get("code"), get("password"));
    if let Err(e) = s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref()) {
        return home(&s, Some(e), &code).await;
    }
    if let Err(e) = checked_query(&s, src.as_deref(), &code, &password).await {
        return home(&s, Some(e), &code).await;
    }
    let version = get("expected_version").parse::<i64>().ok();
    let fields: Map<String, Value> = form
        .iter()
        .filter(|(k, v)| !["code", "password", "expected_version"].contains(&k.as_str()) && !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), Value::from(v.trim())))
        .collect();
    match s.svc.portal_act(&code, &password, &action, fields, version).await {
        Ok(view) => portal_case_page(&s, view, &password, Some("已提交，感谢您的评价和监督。".into()), None).await,
        Err(e) => match s.svc.portal_case(&code, &password).await {
            Ok((_, view)) => {
                portal_case_page(&s, view, &password, None, Some(Failed { action: &action, form: &form, error: e }))
                    .await
            }
            Err(e2) => home(&s, Some(e2), &code).await,
        },
    }
}

/// A resident asks for an appointment with the leader of a reception session, from their case's page.
async fn portal_book(
    State(s): State<AppState>,
    Source(src): Source,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (code, password) = (get("code"), get("password"));
    if let Err(e) = s.limiter.hit("portal_query", crate::limit::PORTAL_QUERY, src.as_deref()) {
        return home(&s, Some(e), &code).await;
    }
    let view = match checked_query(&s, src.as_deref(), &code, &password).await {
        Ok(v) => v,
        Err(e) => return home(&s, Some(e), &code).await,
    };
    let slot = get("slot_id").parse::<i64>().unwrap_or(0);
    match s.svc.book_reception(&code, &password, slot, &get("request")).await {
        Ok(_) => {
            let msg = "约访申请已提交，信访部门确认后会在本页告知，请留意查询。";
            portal_case_page(&s, view, &password, Some(msg.into()), None).await
        }
        Err(e) => {
            let failed = Failed { action: "book", form: &form, error: e };
            portal_case_page(&s, view, &password, None, Some(failed)).await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal_receptions.html")]
struct ReceptionsPage {
    me: Option<Me>,
    slots: Vec<(String, i64, i64)>,
}

/// The published schedule of leaders' reception days.
async fn receptions_page(State(s): State<AppState>) -> Response {
    match s.svc.reception_schedule(None, 60).await {
        Ok(slots) => {
            let slots = slots.iter().map(|x| (slot_words(x), x.capacity, x.remaining)).collect();
            ReceptionsPage { me: None, slots }.into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.message).into_response(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal_commitments.html")]
struct CommitmentsPage {
    me: Option<Me>,
    rows: Vec<taizhang_service::portal::PublicCommitment>,
}

/// Commitments made to residents, with owner, date and progress; a missed one shows its red card.
async fn commitments_page(State(s): State<AppState>) -> Response {
    match s.svc.public_commitments().await {
        Ok(rows) => CommitmentsPage { me: None, rows }.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.message).into_response(),
    }
}
