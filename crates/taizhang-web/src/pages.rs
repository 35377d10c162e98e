//! The staff workspace, server-rendered (askama): sign in, my work queue, the case page with the actions the
//! user may take as forms. Works without JavaScript. Forms carry the session's CSRF token and the case version
//! the user saw; a refused action re-renders the page with the Chinese reason and the input kept.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use taizhang_domain::access::Role;
use taizhang_domain::classify::Classifier;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::workflow::{ClockKind, FieldType, WorkflowDef};
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::Principal;
use taizhang_service::cases::{
    ActionView, Actor, CaseSummary, CaseView, DocumentView, IntakeRequest, PartyInput, Upload,
};
use taizhang_service::sites::SiteView;

use crate::AppState;
use crate::extract::{SESSION_COOKIE, Source, request_token};
use crate::upload::{FormData, UPLOAD_BODY_BYTES, read_form};

pub fn routes() -> Router<AppState> {
    crate::portal::routes()
        .merge(crate::ops_pages::routes())
        .merge(crate::oversight_pages::routes())
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/password", get(password_form).post(change_password))
        .route("/work", get(work))
        .route("/register/assist", post(register_assist))
        .route("/register", get(register_form).post(register).layer(DefaultBodyLimit::max(UPLOAD_BODY_BYTES)))
        .route("/cases", get(case_list))
        .route("/cases/export.xlsx", get(case_export))
        .route("/cases/new", get(new_case_chooser))
        .route("/periodic/{kind}", get(periodic_page))
        .route("/sites", get(sites_page).post(create_site))
        .route("/sites/{code}", get(site_page))
        .route("/cases/new/{kind}", get(new_case_form).post(new_case))
        .route("/cases/{id}", get(case_page))
        // A form's address opened directly (a bookmark, a reload after the session ended) leads back to the
        // case instead of a bare "405".
        .route("/cases/{id}/act/{action}", post(act).get(|Path((id, _)): Path<(String, String)>| back_to_case(id)))
        .route("/cases/{id}/reveal", post(case_reveal).get(|Path(id): Path<String>| back_to_case(id)))
        .route("/cases/{id}/documents/{seq}/{doc}", get(document_page))
        .route("/cases/{id}/attachments/{att}", get(attachment_download))
        .route(
            "/static/app.css",
            get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/app.css")) }),
        )
        // No icon: answering 204 keeps browsers from logging a missing file on every page.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/static/vendor/htmx.min.js",
            get(|| async {
                let js = include_str!("../static/vendor/htmx.min.js");
                ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=86400")], js)
            }),
        )
        .route(
            "/static/vendor/echarts.common.min.js",
            get(|| async {
                let js = include_str!("../static/vendor/echarts.common.min.js");
                ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=86400")], js)
            }),
        )
        .route(
            "/static/dashboard.js",
            get(|| async {
                ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../static/dashboard.js"))
            }),
        )
        .route(
            "/static/app.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../static/app.js")) }),
        )
}

/// Who is signed in, as the page header shows it.
#[derive(Clone)]
pub(crate) struct Me {
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) roles: String,
    pub(crate) csrf: String,
}

pub(crate) fn me(p: &Principal) -> Me {
    Me {
        name: p.user.display_name.clone(),
        unit: p.unit.name.clone(),
        roles: p.roles.iter().map(|r| r.name_zh()).collect::<Vec<_>>().join("、"),
        csrf: p.csrf_token.clone(),
    }
}

/// "35 KB", "1.2 MB" (templates call it as `self::size`).
fn size(bytes: &i64) -> String {
    taizhang_domain::attachment::human_size(u64::try_from(*bytes).unwrap_or(0))
}

pub(crate) fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&china_tz()).format("%Y-%m-%d %H:%M").to_string()
}

/// A due instant as people read it: a period ending at local midnight is due on the day before ("2026-12-07",
/// as the case page and the documents say), otherwise the local time.
pub(crate) fn due_words(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&china_tz());
    if l.format("%H:%M:%S").to_string() == "00:00:00" {
        return (l.date_naive() - chrono::Days::new(1)).to_string();
    }
    local(t)
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    me: Option<Me>,
    error: Option<String>,
    username: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
struct PasswordPage {
    me: Option<Me>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    me: Option<Me>,
    title: String,
    message: String,
}

struct ClockCell {
    status: String,
    name: String,
    remaining: String,
    due: String,
}

struct WorkRow {
    id: i64,
    code: String,
    title: String,
    category: Option<String>,
    state_name: String,
    clock: Option<ClockCell>,
    actions: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "work.html")]
struct WorkPage {
    me: Option<Me>,
    rows: Vec<WorkRow>,
    /// Unread notifications (an alert's rung, a red card), shown above the queue.
    unread: Vec<taizhang_service::notify::NotificationView>,
}

struct ClockRow {
    name: String,
    due: String,
    extended: bool,
    status: String,
    label: String,
    remaining: String,
    source: String,
}

struct EventRow {
    at: String,
    actor: String,
    unit: Option<String>,
    action_name: String,
    fields: Vec<(String, String)>,
    /// (label, link to the printable document)
    documents: Vec<(String, String)>,
    /// Duties this step ended after their due time.
    late: Vec<String>,
}

pub(crate) struct Input {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `select`, `textarea`, or an `<input type>`.
    pub(crate) kind: &'static str,
    pub(crate) required: bool,
    pub(crate) multiple: bool,
    pub(crate) options: Vec<(String, String)>,
    pub(crate) value: String,
    /// Why the submitted value was refused, shown next to the input.
    pub(crate) error: Option<String>,
    /// For a checklist: one row per item of the site's sector (empty until the site is known).
    pub(crate) rows: Vec<ChecklistRow>,
}

/// One item of a checklist input: radios `{field}.{item}` (ok / hazard / na) and a note `{field}.{item}.note`.
pub(crate) struct ChecklistRow {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) points: String,
    pub(crate) result: String,
    pub(crate) note: String,
}

/// What action forms offer beyond the definition: the units, the registered sites, and the checklist of the
/// site a form is about.
#[derive(Default)]
pub(crate) struct FormContext {
    pub(crate) units: BTreeMap<i64, String>,
    pub(crate) sites: Vec<(String, String)>,
    pub(crate) checklist: Vec<taizhang_domain::checklist::Item>,
}

/// The context for `actions`' forms: the units, the sites (only if a form asks for one), and the checklist of
/// `site`'s sector (only if a form asks for checklist answers).
async fn form_context(s: &AppState, actions: &[ActionView], site: Option<&str>) -> Result<FormContext, DomainError> {
    let units = s.svc.store.units().await.map_err(taizhang_service::se)?.into_iter().map(|u| (u.id, u.name)).collect();
    let asks = |ty: FieldType| actions.iter().flat_map(|a| a.fields.iter()).any(|f| f.ty == ty);
    let sites = if asks(FieldType::Site) {
        s.svc.sites().await?.into_iter().map(|x| (x.code.clone(), format!("{}（{}）", x.name, x.sector_name))).collect()
    } else {
        vec![]
    };
    let checklist = match site.filter(|_| asks(FieldType::Checklist)) {
        Some(code) => s.svc.checklist_items(code).await.unwrap_or_default(),
        None => vec![],
    };
    Ok(FormContext { units, sites, checklist })
}

pub(crate) struct ActionForm {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) inputs: Vec<Input>,
}

#[derive(Template, WebTemplate)]
#[template(path = "case.html")]
struct CasePage {
    me: Option<Me>,
    case: CaseView,
    clocks: Vec<ClockRow>,
    events: Vec<EventRow>,
    forms: Vec<ActionForm>,
    csrf: String,
    error: Option<String>,
    /// Parties shown masked (offer the audited reveal).
    masked: bool,
    /// The site the case is about.
    site: Option<SiteView>,
    /// Its checklist answers, in the list's order.
    findings: Vec<FindingRow>,
}

struct FindingRow {
    item: String,
    label: &'static str,
    /// "overdue" for a hazard found (shown in red).
    class: &'static str,
    note: String,
}

/// A form page re-rendered after a refusal: 400, the reason, and every value as typed; else 200 and empty.
pub(crate) fn refused_form(
    failed: Option<(DomainError, &[(String, String)])>,
) -> (StatusCode, Option<String>, BTreeMap<String, String>) {
    match failed {
        Some((e, form)) => (StatusCode::BAD_REQUEST, Some(e.message), form.iter().cloned().collect()),
        None => (StatusCode::OK, None, BTreeMap::new()),
    }
}

/// A page-level refusal: the signed-out go to the login page, a required password change to its form,
/// anything else to a message page in Chinese.
pub(crate) fn refusal(e: DomainError, me: Option<Me>) -> Response {
    match e.code {
        ErrorCode::Unauthenticated | ErrorCode::SessionExpired => Redirect::to("/login").into_response(),
        ErrorCode::PasswordChangeRequired => Redirect::to("/password").into_response(),
        code => {
            let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, MessagePage { me, title: "无法完成".into(), message: e.message }).into_response()
        }
    }
}

/// The signed-in staff member submitting a form, once the form's CSRF token matches the session's.
pub(crate) async fn staff_writing(
    state: &AppState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Principal, Response> {
    let p = staff(state, headers, false).await?;
    check_csrf(&p, form).map_err(|e| refusal(e, Some(me(&p))))?;
    Ok(p)
}

/// The signed-in staff member behind the session cookie (bearer tokens are for the API).
pub(crate) async fn staff(
    state: &AppState,
    headers: &HeaderMap,
    allow_password_change: bool,
) -> Result<Principal, Response> {
    let Some((token, true)) = request_token(headers) else {
        return Err(Redirect::to("/login").into_response());
    };
    let p = state.svc.authenticate(&token).await.map_err(|e| refusal(e, None))?;
    if p.password_change_required && !allow_password_change {
        return Err(Redirect::to("/password").into_response());
    }
    Ok(p)
}

/// Form posts must carry the session's CSRF token.
fn check_csrf(p: &Principal, form: &[(String, String)]) -> Result<(), DomainError> {
    let sent = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if sent.is_empty() || sent != p.csrf_token {
        return Err(DomainError::new(ErrorCode::CsrfMismatch, "表单已失效（CSRF 校验失败），请刷新页面后重试"));
    }
    Ok(())
}

async fn login_form() -> LoginPage {
    LoginPage { me: None, error: None, username: String::new() }
}

async fn login(State(s): State<AppState>, Source(src): Source, Form(form): Form<Vec<(String, String)>>) -> Response {
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let username = get("username");
    let page_error = |e: DomainError, username: String| {
        let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, LoginPage { me: None, error: Some(e.message), username }).into_response()
    };
    let who = format!("{}|{username}", src.as_deref().unwrap_or("-"));
    let limited = s
        .limiter
        .hit("login_address", crate::limit::LOGIN_PER_ADDRESS, src.as_deref())
        .and_then(|_| s.limiter.hit("login", crate::limit::LOGIN, Some(&who)));
    if let Err(e) = limited {
        return page_error(e, username);
    }
    match s.svc.login(&username, &get("password"), src.as_deref()).await {
        Ok((l, _)) => {
            let mut headers = HeaderMap::new();
            let cookie = format!("{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", l.token);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.insert(SET_COOKIE, v);
            }
            (headers, Redirect::to("/work")).into_response()
        }
        Err(e) => page_error(e, username),
    }
}

async fn logout(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    if let Ok(p) = staff(&s, &headers, true).await
        && check_csrf(&p, &form).is_ok()
        && let Some((token, _)) = request_token(&headers)
    {
        let _ = s.svc.logout(&token).await;
    }
    let mut out = HeaderMap::new();
    out.insert(SET_COOKIE, HeaderValue::from_static("tz_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
    (out, Redirect::to("/login")).into_response()
}

async fn password_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match staff(&s, &headers, true).await {
        Ok(p) => PasswordPage { me: Some(me(&p)), error: None }.into_response(),
        Err(r) => r,
    }
}

async fn change_password(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff(&s, &headers, true).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&p, &form) {
        return refusal(e, Some(me(&p)));
    }
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
    match s.svc.change_password(&p, get("old_password"), get("new_password")).await {
        Ok(()) => Redirect::to("/login").into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, PasswordPage { me: Some(me(&p)), error: Some(e.message) }).into_response(),
    }
}

async fn work(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = match s.svc.work_queue(&p, 100).await {
        Ok(i) => i,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let rows = items
        .into_iter()
        .map(|w| WorkRow {
            id: w.case.id,
            code: w.case.code,
            title: w.case.title,
            category: w.case.category,
            state_name: w.case.state_name,
            clock: w.clock.map(|c| ClockCell {
                status: status_class(&c),
                name: c.name,
                remaining: c.remaining,
                due: due_words(c.due_at),
            }),
            actions: w.actions.join("、"),
        })
        .collect();
    let unread = match s.svc.notifications(&p).await {
        Ok(n) => n.into_iter().filter(|n| !n.read).collect(),
        Err(e) => return refusal(e, Some(me(&p))),
    };
    WorkPage { me: Some(me(&p)), rows, unread }.into_response()
}

pub(crate) fn status_class(c: &taizhang_domain::workflow::ClockView) -> String {
    if c.stopped_at.is_some() {
        return "stopped".into();
    }
    serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn display_value(
    def: Option<&WorkflowDef>,
    field: &str,
    v: &Value,
    units: &BTreeMap<i64, String>,
    site: Option<&SiteView>,
    linked: &BTreeMap<i64, String>,
) -> (String, String) {
    let f = def.and_then(|d| d.field(field));
    let name = f.map(|f| f.name.clone()).unwrap_or_else(|| field.to_string());
    let text = match (f.map(|f| f.ty), v) {
        (Some(FieldType::Choice), Value::String(s)) => {
            f.and_then(|f| f.options.get(s)).cloned().unwrap_or_else(|| s.clone())
        }
        (Some(FieldType::Unit), Value::Number(n)) => {
            n.as_i64().and_then(|i| units.get(&i).cloned()).unwrap_or_else(|| n.to_string())
        }
        (Some(FieldType::Units), Value::Array(a)) => a
            .iter()
            .map(|x| x.as_i64().and_then(|i| units.get(&i).cloned()).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join("、"),
        // A linked case by its code and title (the case it was opened from, or one opened from it); one the
        // viewer may not open is not named.
        (Some(FieldType::Case), Value::Number(n)) => {
            n.as_i64().and_then(|i| linked.get(&i).cloned()).unwrap_or_else(|| "（无权查看的案件）".into())
        }
        (Some(FieldType::Site), Value::String(code)) => match site {
            Some(site) if site.code == *code => format!("{}（{}）", site.name, site.sector_name),
            _ => code.clone(),
        },
        // The items are listed in full on the case page; the timeline says how they came out.
        (Some(FieldType::Checklist), Value::Object(answers)) => {
            let count =
                |r: &str| answers.values().filter(|a| a.get("result").and_then(Value::as_str) == Some(r)).count();
            taizhang_domain::checklist::RESULTS
                .iter()
                .map(|(r, label)| format!("{label} {} 项", count(r)))
                .collect::<Vec<_>>()
                .join("，")
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    };
    (name, text)
}

/// An action form that was refused: which action, what was submitted, and why.
pub(crate) struct Failed<'a> {
    pub(crate) action: &'a str,
    pub(crate) form: &'a [(String, String)],
    pub(crate) error: DomainError,
}

/// The forms for the actions a user may take, each input by its field's type; a refused action's form keeps
/// what was submitted. Returns the forms and the refusal's reason.
pub(crate) fn action_forms(
    actions: &[ActionView],
    ctx: &FormContext,
    failed: Option<Failed<'_>>,
) -> (Vec<ActionForm>, Option<String>) {
    let (failed_action, submitted, error) = match failed {
        Some(f) => (Some(f.action), f.form, Some(f.error)),
        None => (None, &[][..], None),
    };
    let field_error = |action: &str, field: &str| {
        error
            .as_ref()
            .filter(|e| failed_action == Some(action) && e.field.as_deref() == Some(field))
            .map(|e| e.message.clone())
    };
    let unit_options = || ctx.units.iter().map(|(id, n)| (id.to_string(), n.clone())).collect::<Vec<_>>();
    let forms = actions
        .iter()
        .map(|a| ActionForm {
            id: a.id.clone(),
            name: a.name.clone(),
            inputs: a
                .fields
                .iter()
                .map(|f| {
                    let (kind, multiple, options) = match f.ty {
                        FieldType::Choice => {
                            ("select", false, f.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        }
                        FieldType::Unit => ("select", false, unit_options()),
                        FieldType::Units => ("select", true, unit_options()),
                        FieldType::LongText => ("textarea", false, vec![]),
                        FieldType::Int | FieldType::User | FieldType::Booking => ("number", false, vec![]),
                        FieldType::Case => ("text", false, vec![]),
                        FieldType::Date => ("date", false, vec![]),
                        FieldType::Site => ("select", false, ctx.sites.clone()),
                        FieldType::Checklist => ("checklist", false, vec![]),
                        FieldType::Text | FieldType::Users | FieldType::Grid => ("text", false, vec![]),
                    };
                    let resubmitted = failed_action == Some(a.id.as_str());
                    let sent = |k: &str| {
                        submitted.iter().filter(|_| resubmitted).find(|(s, _)| s == k).map(|(_, v)| v.clone())
                    };
                    let rows = if f.ty == FieldType::Checklist {
                        ctx.checklist
                            .iter()
                            .map(|i| {
                                let key = format!("{}.{}", f.id, i.id);
                                ChecklistRow {
                                    result: sent(&key).unwrap_or_default(),
                                    note: sent(&format!("{key}.note")).unwrap_or_default(),
                                    key,
                                    name: i.name.clone(),
                                    points: i.points.clone(),
                                }
                            })
                            .collect()
                    } else {
                        vec![]
                    };
                    let value = match failed_action {
                        Some(failed) if failed == a.id => {
                            submitted.iter().find(|(k, _)| *k == f.id).map(|(_, v)| v.clone()).unwrap_or_default()
                        }
                        // What the locality's routing table suggests, if anything.
                        _ => match &f.suggested {
                            Some(Value::Number(n)) => n.to_string(),
                            Some(Value::String(s)) => s.clone(),
                            _ => String::new(),
                        },
                    };
                    Input {
                        id: f.id.clone(),
                        name: f.name.clone(),
                        kind,
                        required: f.required,
                        multiple,
                        options,
                        value,
                        error: field_error(&a.id, &f.id),
                        rows,
                    }
                })
                .collect(),
        })
        .collect();
    (forms, error.map(|e| e.message))
}

async fn render_case(s: &AppState, p: &Principal, id: i64, failed: Option<Failed<'_>>) -> Response {
    render_case_with(s, p, id, failed, None).await
}

/// The case page; with `revealed`, the parties in full (already audited by the caller's reveal).
async fn render_case_with(
    s: &AppState,
    p: &Principal,
    id: i64,
    failed: Option<Failed<'_>>,
    revealed: Option<Vec<taizhang_service::cases::PartyView>>,
) -> Response {
    let mut case = match s.svc.case_view(p, id).await {
        Ok(c) => c,
        Err(e) => return refusal(e, Some(me(p))),
    };
    if let Some(parties) = revealed {
        case.parties = parties;
    }
    let def = s.svc.workflows.get(&case.kind).ok();
    // The site the case is about, and its checklist answers item by item.
    let site_code = def.and_then(|d| d.site_field()).and_then(|f| case.fields.get(&f.id)).and_then(Value::as_str);
    let site = match site_code {
        Some(code) => s.svc.site(code).await.ok(),
        None => None,
    };
    let ctx = match form_context(s, &case.available_actions, site_code).await {
        Ok(c) => c,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let units = &ctx.units;
    let mut findings = vec![];
    for f in def.iter().flat_map(|d| d.fields.iter()).filter(|f| f.ty == FieldType::Checklist) {
        if let (Some(site), Some(v)) = (&site, case.fields.get(&f.id)) {
            findings.extend(s.svc.findings(&site.sector, v).unwrap_or_default().into_iter().map(|x| FindingRow {
                label: taizhang_domain::checklist::result_label(&x.result),
                class: if x.result == "hazard" { "overdue" } else { "" },
                item: x.item_name,
                note: x.note,
            }));
        }
    }
    let clocks = case
        .clocks
        .iter()
        .filter(|c| c.stopped_at.is_none() || c.kind == ClockKind::Obligation)
        .map(|c| ClockRow {
            name: c.name.clone(),
            due: c.due_date.map(|d| d.to_string()).unwrap_or_else(|| local(c.due_at)),
            extended: !c.extensions.is_empty(),
            status: status_class(c),
            label: c.status_label.clone(),
            remaining: c.remaining.clone(),
            source: c.source.clone().unwrap_or_default(),
        })
        .collect();
    let linked: BTreeMap<i64, String> =
        case.opened_from.iter().chain(&case.opened).map(|c| (c.id, format!("{} {}", c.code, c.title))).collect();
    let events = case
        .events
        .iter()
        .map(|e| EventRow {
            at: local(e.at),
            actor: e.actor.clone().unwrap_or_default(),
            unit: e.actor_unit.clone(),
            action_name: e.action_name.clone(),
            fields: e.fields.iter().map(|(k, v)| display_value(def, k, v, units, site.as_ref(), &linked)).collect(),
            documents: e
                .documents
                .iter()
                .map(|d| {
                    (format!("{}（{}）", d.name, d.number), format!("/cases/{}/documents/{}/{}", case.id, e.seq, d.id))
                })
                .collect(),
            late: e.late.clone(),
        })
        .collect();
    let (forms, error) = action_forms(&case.available_actions, &ctx, failed);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let masked = case.parties.iter().any(|x| x.masked);
    let page = CasePage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        case,
        clocks,
        events,
        forms,
        error,
        masked,
        site,
        findings,
    };
    (status, page).into_response()
}

fn parse_id(id: &str) -> Result<i64, DomainError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| DomainError::new(ErrorCode::InvalidInput, format!("编号应为正整数：{id}")))
}

async fn back_to_case(id: String) -> Response {
    match parse_id(&id) {
        Ok(id) => Redirect::to(&format!("/cases/{id}")).into_response(),
        Err(_) => Redirect::to("/work").into_response(),
    }
}

/// Shows the parties' full personal data once, on this page only; the reveal is audited (`pii_reveal`).
async fn case_reveal(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(src): Source,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    match s.svc.reveal_parties(&p, id, src.as_deref()).await {
        Ok(parties) => {
            let mut r = render_case_with(&s, &p, id, None, Some(parties)).await;
            r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => refusal(e, Some(me(&p))),
    }
}

async fn case_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Ok(id) = parse_id(&id) {
        return render_case(&s, &p, id, None).await;
    }
    // A case code, as printed on receipts and linked from notifications and the reception schedule: the same
    // scope check as by id follows the redirect.
    let code: String = id.trim().to_uppercase();
    match s.svc.store.case_by_code(&code).await {
        Ok(Some(row)) => Redirect::to(&format!("/cases/{}", row.id)).into_response(),
        Ok(None) => refusal(
            DomainError::new(ErrorCode::NotFound, format!("案件 {code} 不存在或不在您的数据范围内")),
            Some(me(&p)),
        ),
        Err(e) => refusal(taizhang_service::se(e), Some(me(&p))),
    }
}

/// Turns a form into the action's fields, by each field's type.
fn fields_from_form(def: &WorkflowDef, form: &[(String, String)]) -> Result<Map<String, Value>, DomainError> {
    let mut out = Map::new();
    for (k, v) in form {
        // A checklist's answers: `{field}.{item}` = ok / hazard / na, `{field}.{item}.note` = what was found.
        if let Some((field, rest)) = k.split_once('.')
            && def.field(field).is_some_and(|f| f.ty == FieldType::Checklist)
        {
            let (item, what) = rest.split_once('.').unwrap_or((rest, "result"));
            let v = v.trim();
            if v.is_empty() || !matches!(what, "result" | "note") {
                continue;
            }
            let answers = out.entry(field.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if let Some(item) = answers.as_object_mut().map(|a| a.entry(item.to_string()).or_insert_with(|| json!({})))
                && let Some(item) = item.as_object_mut()
            {
                item.insert(what.to_string(), Value::from(v));
            }
            continue;
        }
        let Some(f) = def.field(k) else { continue };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let bad = |what: &str| DomainError::new(ErrorCode::InvalidInput, format!("“{}”{what}", f.name)).at(k.as_str());
        let number = || v.parse::<i64>().map_err(|_| bad("应为整数"));
        match f.ty {
            FieldType::Int | FieldType::Unit | FieldType::User | FieldType::Booking => {
                out.insert(k.clone(), Value::from(number()?));
            }
            // A case is named by its id or, as printed on receipts, by its code.
            FieldType::Case => {
                out.insert(k.clone(), v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(v)));
            }
            FieldType::Units | FieldType::Users => {
                let list = out.entry(k.clone()).or_insert_with(|| Value::Array(vec![]));
                for part in v.split([',', '，', ' ']).filter(|x| !x.is_empty()) {
                    let n = part.parse::<i64>().map_err(|_| bad("应为编号"))?;
                    if let Value::Array(a) = list {
                        a.push(Value::from(n));
                    }
                }
            }
            _ => {
                out.insert(k.clone(), Value::from(v));
            }
        }
    }
    Ok(out)
}

async fn act(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let version = form.iter().find(|(k, _)| k == "expected_version").and_then(|(_, v)| v.parse::<i64>().ok());
    let result = async {
        let kind = s.svc.store.case(id).await.map_err(taizhang_service::se)?.map(|r| r.kind).unwrap_or_default();
        let def = s.svc.workflows.get(&kind)?.clone();
        let fields = fields_from_form(&def, &form)?;
        let Some(version) = version else {
            return Err(DomainError::new(ErrorCode::MissingField, "表单缺少案件版本号，请刷新页面后重试"));
        };
        s.svc.act(Actor::Staff(&p), id, &action, fields, Some(version)).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/cases/{id}")).into_response(),
        Err(e) if matches!(e.code, ErrorCode::OutOfScope | ErrorCode::Unauthenticated | ErrorCode::SessionExpired) => {
            refusal(e, Some(me(&p)))
        }
        Err(e) => render_case(&s, &p, id, Some(Failed { action: &action, form: &form, error: e })).await,
    }
}

/// What the clerk typed, kept when the form comes back with an error or a duplicate warning.
#[derive(Default)]
struct RegisterForm {
    channel: String,
    matter_type: String,
    category: String,
    title: String,
    content: String,
    facts_reasons: String,
    representatives: String,
    name: String,
    phone: String,
    id_number: String,
    address: String,
}

impl RegisterForm {
    fn from_pairs(form: &[(String, String)]) -> RegisterForm {
        let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
        RegisterForm {
            channel: get("channel"),
            matter_type: get("matter_type"),
            category: get("category"),
            title: get("title"),
            content: get("content"),
            facts_reasons: get("facts_reasons"),
            representatives: get("representatives"),
            name: get("name"),
            phone: get("phone"),
            id_number: get("id_number"),
            address: get("address"),
        }
    }

    fn party(&self) -> Option<PartyInput> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        (!self.name.is_empty()).then(|| PartyInput {
            role: None,
            name: self.name.clone(),
            phone: opt(&self.phone),
            id_number: opt(&self.id_number),
            address: opt(&self.address),
        })
    }

    fn fields(&self) -> Result<Map<String, Value>, DomainError> {
        let mut m = Map::new();
        for (k, v) in [
            ("channel", &self.channel),
            ("matter_type", &self.matter_type),
            ("category", &self.category),
            ("title", &self.title),
            ("content", &self.content),
            ("facts_reasons", &self.facts_reasons),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), Value::from(v.as_str()));
            }
        }
        if !self.representatives.is_empty() {
            let n: i64 = self
                .representatives
                .parse()
                .map_err(|_| DomainError::new(ErrorCode::InvalidInput, "代表人数应为整数").at("representatives"))?;
            m.insert("representatives".into(), Value::from(n));
        }
        Ok(m)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "register.html")]
struct RegisterPage {
    me: Option<Me>,
    csrf: String,
    request_id: String,
    channels: Vec<(String, String)>,
    matter_types: Vec<(String, String)>,
    form: RegisterForm,
    error: Option<DomainError>,
    duplicates: Vec<CaseSummary>,
    /// Files received with an earlier try of this form, kept for it.
    kept_files: Vec<String>,
    accept: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    me: Option<Me>,
    id: i64,
    code: String,
    password: String,
    number: String,
    petitioner: String,
    registered_at: String,
    registered_date: String,
    channel: String,
    title: String,
    unit: String,
    routing_due: String,
}

fn options(def: Option<&WorkflowDef>, field: &str) -> Vec<(String, String)> {
    def.and_then(|d| d.field(field))
        .map(|f| f.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn register_page(
    s: &AppState,
    p: &Principal,
    form: RegisterForm,
    request_id: String,
    error: Option<DomainError>,
    duplicates: Vec<CaseSummary>,
) -> RegisterPage {
    let def = s.svc.workflows.get("petition").ok();
    RegisterPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        request_id,
        channels: options(def, "channel"),
        matter_types: options(def, "matter_type"),
        form,
        error,
        duplicates,
        kept_files: vec![],
        accept: taizhang_domain::attachment::ACCEPT,
    }
}

/// The category model, learned from the newest categorised cases and relearned at most hourly.
#[derive(Default)]
pub struct Suggester(std::sync::Mutex<Option<(std::time::Instant, std::sync::Arc<Classifier>)>>);

/// Cases the model learns from: enough for every category, small enough to learn in well under a second.
const SUGGEST_TRAINING_CASES: i64 = 5_000;

impl Suggester {
    async fn model(&self, s: &AppState) -> Option<std::sync::Arc<Classifier>> {
        if let Some((at, m)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < std::time::Duration::from_secs(3600)
        {
            return Some(m.clone());
        }
        let model = std::sync::Arc::new(s.svc.train_categories("petition", SUGGEST_TRAINING_CASES).await.ok()?);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), model.clone()));
        Some(model)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "register_assist.html")]
struct AssistFragment {
    /// (category, percent)
    suggestions: Vec<(String, u32)>,
    duplicates: Vec<CaseSummary>,
}

/// While the clerk types (htmx, no full reload): the likely categories for the text so far, and open cases of
/// the same petitioner. Without JavaScript the same duplicate check happens when the form is submitted.
async fn register_assist(State(s): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    // Who is asking, before reading what may be a large upload.
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data = read_form(req).await;
    if let Err(e) = check_csrf(&p, &data.pairs) {
        return refusal(e, Some(me(&p)));
    }
    let form = RegisterForm::from_pairs(&data.pairs);
    let text = format!("{}。{}。{}", form.title, form.content, form.facts_reasons);
    let suggestions = match s.suggester.model(&s).await {
        Some(m) => m
            .rank(&text)
            .into_iter()
            .take(3)
            .filter(|(_, p)| *p >= 0.15)
            .map(|(c, p)| (c, (p * 100.0).round() as u32))
            .collect(),
        None => vec![],
    };
    let duplicates = match form.party() {
        Some(party) if party.phone.is_some() || party.id_number.is_some() => {
            s.svc.possible_duplicates(&p, "petition", &party).await.unwrap_or_default()
        }
        _ => vec![],
    };
    AssistFragment { suggestions, duplicates }.into_response()
}

impl RegisterPage {
    /// The refusal's message when it is about `field` (shown next to that input).
    fn err(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|e| e.field.as_deref() == Some(field)).map(|e| e.message.as_str())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "new_case.html")]
struct NewCasePage {
    me: Option<Me>,
    kind: String,
    kind_name: String,
    csrf: String,
    request_id: String,
    forms: Vec<ActionForm>,
    error: Option<String>,
    /// The kind's party roles with their input slots (kinds that declare none have no party inputs here).
    parties: Vec<PartySlots>,
    party_error: Option<String>,
    /// The sites to choose from before a checklist can be shown (None: no checklist, or its site is known).
    choose_site: Option<Vec<(String, String)>>,
}

/// Any kind's intake, from its definition: the intake action's fields as a form (petitions have their own
/// registration page with the receipt, the duplicate check and suggestions).
async fn render_new_case(
    s: &AppState,
    p: &Principal,
    kind: &str,
    request_id: String,
    failed: Option<Failed<'_>>,
    q: &NewCaseQuery,
) -> Response {
    let (def, view) = match s.svc.intake_form(p, kind) {
        Ok(x) => x,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let submitted: Vec<(String, String)> = failed.as_ref().map(|f| f.form.to_vec()).unwrap_or_default();
    // Fields carried over from the source case (e.g. a hazard's site from the inspection that found it).
    let carried = match q.from.as_deref() {
        Some(from) => s.svc.carried_fields(p, &def, from).await.unwrap_or_default(),
        None => Map::new(),
    };
    // The site the form is about, which decides the checklist shown: as submitted, chosen, or carried over.
    let site_field = def.site_field().map(|f| f.id.clone());
    let site = site_field.as_ref().and_then(|f| {
        submitted
            .iter()
            .find(|(k, v)| k == f && !v.is_empty())
            .map(|(_, v)| v.clone())
            .or_else(|| q.site.clone().filter(|x| !x.is_empty()))
            .or_else(|| carried.get(f).and_then(Value::as_str).map(str::to_string))
    });
    let views = [view];
    let ctx = match form_context(s, &views, site.as_deref()).await {
        Ok(c) => c,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let party_error = failed.as_ref().and_then(|f| {
        f.error.field.as_deref().is_some_and(|k| k.starts_with("parties")).then(|| f.error.message.clone())
    });
    let (mut forms, error) = action_forms(&views, &ctx, failed);
    for i in forms.iter_mut().flat_map(|f| f.inputs.iter_mut()).filter(|i| i.value.is_empty()) {
        if Some(&i.id) == site_field.as_ref()
            && let Some(site) = &site
        {
            i.value = site.clone();
        } else if let Some(v) = carried.get(&i.id) {
            i.value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    // Opened from another case: its code goes into the link field; an appointment into the booking field.
    if let (Some(from), Some(link)) = (q.from.as_deref(), def.parent_field()) {
        for i in forms.iter_mut().flat_map(|f| f.inputs.iter_mut()).filter(|i| i.id == link.id && i.value.is_empty()) {
            i.value = from.to_string();
        }
    }
    if let Some(booking) = q.booking {
        let is_booking = |id: &str| def.field(id).is_some_and(|f| f.ty == FieldType::Booking);
        for i in forms.iter_mut().flat_map(|f| f.inputs.iter_mut()).filter(|i| is_booking(&i.id) && i.value.is_empty())
        {
            i.value = booking.to_string();
        }
    }
    // A checklist needs its site first: offer the choice when none is known.
    let choose_site = (def.fields.iter().any(|f| f.ty == FieldType::Checklist) && ctx.checklist.is_empty())
        .then(|| ctx.sites.clone());
    let value = |k: String| submitted.iter().find(|(f, _)| *f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    // Two slots per role (three where two are required); more parties can be added on the case via the API.
    let parties = def
        .parties
        .iter()
        .map(|r| PartySlots {
            name: r.name.clone(),
            slots: (0..(r.min.max(1) + 1).min(r.max))
                .map(|n| {
                    let key = |what: &str| format!("party.{}.{n}.{what}", r.id);
                    PartySlot {
                        required: n < r.min,
                        keys: ["name", "phone", "id_number", "address"].map(&key),
                        values: ["name", "phone", "id_number", "address"].map(|w| value(key(w))),
                    }
                })
                .collect(),
        })
        .collect();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = NewCasePage {
        me: Some(me(p)),
        kind: def.kind.clone(),
        kind_name: def.name.clone(),
        csrf: p.csrf_token.clone(),
        request_id,
        forms,
        error,
        parties,
        party_error,
        choose_site,
    };
    (status, page).into_response()
}

struct PartySlots {
    name: String,
    slots: Vec<PartySlot>,
}

struct PartySlot {
    required: bool,
    /// The input names for name, phone, ID number and address.
    keys: [String; 4],
    values: [String; 4],
}

#[derive(serde::Deserialize)]
struct PeriodQuery {
    year: Option<i32>,
    month: Option<u32>,
    date: Option<String>,
}

/// One unit's line on the periodic report page.
struct PeriodicRow {
    unit: String,
    /// CSS class: "overdue" for missing or late.
    class: &'static str,
    status: String,
    filed_at: String,
    case_id: Option<i64>,
    result: String,
    /// Each round of the day in words (daily reports with rounds).
    rounds: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "periodic.html")]
struct PeriodicPage {
    me: Option<Me>,
    r: taizhang_service::periodic::PeriodicReport,
    due: String,
    rows: Vec<PeriodicRow>,
}

/// Who has filed a periodic report under the user's unit: last month's sweep, today's daily report.
async fn periodic_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    axum::extract::Query(q): axum::extract::Query<PeriodQuery>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = match s.svc.periodic_report(&p, &kind, q.year, q.month, q.date.as_deref()).await {
        Ok(r) => r,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let rows =
        r.units
            .iter()
            .map(|u| {
                let class = match u.status {
                    taizhang_domain::periodic::ReportStatus::Missing
                    | taizhang_domain::periodic::ReportStatus::Late => "overdue",
                    _ => "",
                };
                PeriodicRow {
                    unit: u.unit.name.clone(),
                    class,
                    status: u.status_label.clone(),
                    filed_at: u.filed_at.map(local).unwrap_or_default(),
                    case_id: u.case_id,
                    result: u.result.clone().unwrap_or_default(),
                    rounds: u
                        .rounds
                        .iter()
                        .map(|r| {
                            let filed = r.filed_at.map(|t| format!("，{}报", local(t))).unwrap_or_default();
                            let by = r.required_by.as_ref().map(|b| format!("（{b}要求）")).unwrap_or_default();
                            format!("{}：{}{filed}{by}", r.name, r.status_label)
                        })
                        .collect(),
                }
            })
            .collect();
    let due = due_words(r.due_at);
    PeriodicPage { me: Some(me(&p)), r, due, rows }.into_response()
}

/// The kinds this user may open; petitions go to their registration page.
async fn new_case_chooser(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let kinds = s.svc.kinds_to_open(&p);
    if kinds.is_empty() {
        return refusal(DomainError::new(ErrorCode::Forbidden, "您的角色不能新建案件"), Some(me(&p)));
    }
    let links = kinds
        .into_iter()
        .map(
            |(k, name)| {
                if k == "petition" { ("/register".to_string(), name) } else { (format!("/cases/new/{k}"), name) }
            },
        )
        .collect();
    NewCaseChooser { me: Some(me(&p)), links }.into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "new_case_chooser.html")]
struct NewCaseChooser {
    me: Option<Me>,
    /// (href, kind name)
    links: Vec<(String, String)>,
}

#[derive(serde::Deserialize, Default)]
struct NewCaseQuery {
    /// The code of the case this one is opened from (e.g. a petition a dispute comes from).
    from: Option<String>,
    /// The site the case is about (e.g. an inspection started from the site's page).
    site: Option<String>,
    /// The appointment request a reception record is about (fills the kind's `booking` field).
    booking: Option<i64>,
}

async fn new_case_form(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    axum::extract::Query(q): axum::extract::Query<NewCaseQuery>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = new_request_id(&p);
    render_new_case(&s, &p, &kind, id, None, &q).await
}

/// The parties a generic intake form names: inputs `party.{role}.{n}.{name|phone|id_number|address}`, each
/// party with a name kept (an empty slot is not a party).
fn parties_from_form(form: &[(String, String)]) -> Vec<PartyInput> {
    let mut slots: BTreeMap<(String, u32), PartyInput> = BTreeMap::new();
    for (k, v) in form {
        let mut parts = k.split('.');
        let (Some("party"), Some(role), Some(n), Some(what), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let slot = slots
            .entry((role.to_string(), n))
            .or_insert_with(|| PartyInput { role: Some(role.to_string()), ..Default::default() });
        let v = v.trim().to_string();
        match what {
            "name" => slot.name = v,
            "phone" => slot.phone = Some(v).filter(|s| !s.is_empty()),
            "id_number" => slot.id_number = Some(v).filter(|s| !s.is_empty()),
            "address" => slot.address = Some(v).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    slots.into_values().filter(|p| !p.name.is_empty()).collect()
}

async fn new_case(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let request_id = form.iter().find(|(k, _)| k == "client_request_id").map(|(_, v)| v.clone()).unwrap_or_default();
    let def = match s.svc.workflows.get(&kind) {
        Ok(d) => d.clone(),
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let intake = def.intake.clone();
    let result = match fields_from_form(&def, &form) {
        Ok(fields) => {
            let req = IntakeRequest {
                kind: kind.clone(),
                fields,
                petitioner: None,
                parties: parties_from_form(&form),
                client_request_id: (!request_id.is_empty()).then(|| request_id.clone()),
                unit_id: None,
                attachments: vec![],
            };
            s.svc.register(Actor::Staff(&p), req).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Redirect::to(&format!("/cases/{}", r.case.id)).into_response(),
        Err(e) => {
            let failed = Failed { action: &intake, form: &form, error: e };
            render_new_case(&s, &p, &kind, request_id, Some(failed), &NewCaseQuery::default()).await
        }
    }
}

/// A fresh id per rendered form: submitting the same form twice registers once.
fn new_request_id(p: &Principal) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    taizhang_domain::ledger::sm3_hex(format!("{}:{}:{nanos}", p.user.id, p.csrf_token).as_bytes())[..32].to_string()
}

async fn register_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = s.svc.require_case_worker(&p) {
        return refusal(e, Some(me(&p)));
    }
    let form = RegisterForm { channel: "visit".into(), matter_type: "claim".into(), ..Default::default() };
    let id = new_request_id(&p);
    register_page(&s, &p, form, id, None, vec![]).into_response()
}

async fn register(State(s): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    // Who is asking, before reading what may be a large upload.
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data = read_form(req).await;
    if let Err(e) = check_csrf(&p, &data.pairs) {
        return refusal(e, Some(me(&p)));
    }
    let FormData { pairs, files, problem } = data;
    let form = RegisterForm::from_pairs(&pairs);
    let request_id = pairs.iter().find(|(k, _)| k == "client_request_id").map(|(_, v)| v.clone()).unwrap_or_default();
    let confirmed = pairs.iter().any(|(k, v)| k == "not_duplicate" && v == "1");
    // Files that came with an earlier try of this same form are still here.
    let (files, refused_file) = crate::upload::screen(s.stash.merge(&request_id, files));
    let problem = problem.or(refused_file);
    let back = |form: RegisterForm, error: Option<DomainError>, dups: Vec<CaseSummary>, files: Vec<Upload>| {
        let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        let mut page = register_page(&s, &p, form, request_id.clone(), error, dups);
        page.kept_files = files.iter().map(|f| f.name.clone()).collect();
        s.stash.keep(&request_id, files);
        let mut r = (status, page).into_response();
        if status == StatusCode::BAD_REQUEST && problem.as_ref().is_some_and(|e| e.code == ErrorCode::BodyTooLarge) {
            r.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    };
    if let Some(e) = &problem {
        return back(form, Some(e.clone()), vec![], files);
    }
    let fields = match form.fields() {
        Ok(f) => f,
        Err(e) => return back(form, Some(e), vec![], files),
    };
    let party = form.party();
    if !confirmed && let Some(party) = &party {
        match s.svc.possible_duplicates(&p, "petition", party).await {
            Ok(d) if !d.is_empty() => return back(form, None, d, files),
            Ok(_) => {}
            Err(e) => return back(form, Some(e), vec![], files),
        }
    }
    let req = IntakeRequest {
        kind: "petition".into(),
        fields,
        petitioner: party,
        parties: vec![],
        client_request_id: (!request_id.is_empty()).then(|| request_id.clone()),
        unit_id: None,
        attachments: files.clone(),
    };
    let result = match s.svc.register(Actor::Staff(&p), req).await {
        Ok(r) => r,
        Err(e) => return back(form, Some(e), vec![], files),
    };
    let case = result.case;
    let def = s.svc.workflows.get(&case.kind).ok();
    let channel = case.fields.get("channel").and_then(|v| v.as_str()).unwrap_or("");
    let channel = options(def, "channel").into_iter().find(|(k, _)| k == channel).map(|(_, l)| l).unwrap_or_default();
    let local = case.created_at.with_timezone(&china_tz());
    ReceiptPage {
        me: Some(me(&p)),
        id: case.id,
        number: case.documents.iter().find(|d| d.id == "receipt").map(|d| d.number.clone()).unwrap_or_default(),
        petitioner: case.parties.first().map(|p| p.name.clone()).unwrap_or_else(|| "信访人".into()),
        registered_at: local.format("%Y年%m月%d日 %H:%M").to_string(),
        registered_date: local.format("%Y年%m月%d日").to_string(),
        channel,
        title: case.title.clone(),
        unit: case.registered_unit.name.clone(),
        routing_due: case
            .clocks
            .iter()
            .find(|c| c.clock == "routing")
            .and_then(|c| c.due_date)
            .map(|d| d.format("%Y年%m月%d日").to_string())
            .unwrap_or_default(),
        code: case.code,
        password: result.query_password,
    }
    .into_response()
}

// ------------------------------------------------------------------------------------------------ resident portal

/// A file of a case, for those who may read the case; audited. Served as a download, never rendered inline
/// as a page of this site, with the type decided at upload from the content.
async fn attachment_download(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, att)): Path<(String, String)>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (id, att) = match (parse_id(&id), parse_id(&att)) {
        (Ok(i), Ok(a)) => (i, a),
        (Err(e), _) | (_, Err(e)) => return refusal(e, Some(me(&p))),
    };
    match s.svc.attachment(&p, id, att).await {
        Ok((view, bytes)) => {
            let encoded: String = view
                .name
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_str(&view.mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"attachment\"; filename*=UTF-8''{encoded}"))
            {
                h.insert(axum::http::header::CONTENT_DISPOSITION, v);
            }
            h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            r
        }
        Err(e) => refusal(e, Some(me(&p))),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "document.html")]
struct DocumentPage {
    me: Option<Me>,
    doc: DocumentView,
}

async fn document_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, seq, doc)): Path<(String, String, String)>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let result = async {
        let seq = parse_id(&seq)?;
        s.svc.document(&p, parse_id(&id)?, seq, &doc).await
    }
    .await;
    match result {
        Ok(doc) => DocumentPage { me: Some(me(&p)), doc }.into_response(),
        Err(e) => refusal(e, Some(me(&p))),
    }
}

// ------------------------------------------------------------------------------------------------ lists and exports

/// The filter form as typed (empty means "any").
#[derive(Default, serde::Deserialize)]
struct ListForm {
    /// The case kind listed; petitions when absent.
    #[serde(default)]
    kind: String,
    /// A case code or words in the title.
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    clock_status: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: String,
    /// Filters a dashboard figure links with (kept through the form as hidden inputs): the unit holding the
    /// cases, or a subtree of holders; open or closed; closed between two days.
    #[serde(default)]
    held: String,
    #[serde(default)]
    held_within: String,
    #[serde(default)]
    closed: String,
    #[serde(default)]
    closed_from: String,
    #[serde(default)]
    closed_to: String,
}

impl ListForm {
    /// The dashboard filters in force, as hidden inputs' (name, value).
    fn carried(&self) -> Vec<(&'static str, &str)> {
        [
            ("held", &self.held),
            ("held_within", &self.held_within),
            ("closed", &self.closed),
            ("closed_from", &self.closed_from),
            ("closed_to", &self.closed_to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect()
    }

    fn kind(&self) -> String {
        if self.kind.trim().is_empty() { "petition".into() } else { self.kind.trim().to_string() }
    }

    fn params(&self) -> Result<crate::api::ListParams, DomainError> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let page = match opt(&self.page) {
            Some(p) => Some(p.parse::<i64>().map_err(|_| DomainError::new(ErrorCode::InvalidInput, "页码应为整数"))?),
            None => None,
        };
        let unit = |v: &str| match opt(v) {
            Some(u) => {
                u.parse::<i64>().map(Some).map_err(|_| DomainError::new(ErrorCode::InvalidInput, "单位编号应为整数"))
            }
            None => Ok(None),
        };
        let closed = match self.closed.trim() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(DomainError::new(ErrorCode::InvalidInput, "closed 应为 true 或 false")),
        };
        Ok(crate::api::ListParams {
            kind: Some(self.kind()),
            q: opt(&self.q),
            state: opt(&self.state),
            clock_status: opt(&self.clock_status),
            category: opt(&self.category),
            from: opt(&self.from),
            to: opt(&self.to),
            sort: opt(&self.sort),
            page,
            per_page: Some(50),
            held: unit(&self.held)?,
            held_within: unit(&self.held_within)?,
            closed,
            closed_from: opt(&self.closed_from),
            closed_to: opt(&self.closed_to),
            ..Default::default()
        })
    }

    /// The filters as a query string, for pagination and export links.
    fn query(&self) -> String {
        let pairs = [
            ("kind", &self.kind),
            ("q", &self.q),
            ("state", &self.state),
            ("clock_status", &self.clock_status),
            ("category", &self.category),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", &self.sort),
            ("held", &self.held),
            ("held_within", &self.held_within),
            ("closed", &self.closed),
            ("closed_from", &self.closed_from),
            ("closed_to", &self.closed_to),
        ];
        serde_urlencoded::to_string(pairs.iter().filter(|(_, v)| !v.is_empty()).collect::<Vec<_>>()).unwrap_or_default()
    }
}

struct ListRow {
    id: i64,
    code: String,
    title: String,
    category: String,
    state: String,
    created: String,
    clock: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "cases.html")]
struct CasesPage {
    /// (kind, name) of every case kind, for the kind selector.
    kinds: Vec<(String, String)>,
    me: Option<Me>,
    f: ListForm,
    query: String,
    states: Vec<(String, String)>,
    clock_options: Vec<(String, String)>,
    sorts: Vec<(String, String)>,
    page: taizhang_service::cases::CasePage,
    rows: Vec<ListRow>,
    has_next: bool,
    error: Option<String>,
}

fn clock_cell(c: &CaseSummary) -> Option<(String, String)> {
    let status = c.clock_status?;
    let class = serde_json::to_value(status).ok()?.as_str()?.to_string();
    Some((class, format!("{} · 至 {}", status.label_zh(), c.next_due_at.map(due_words).unwrap_or_default())))
}

async fn case_list(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(f): axum::extract::Query<ListForm>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let def = s.svc.workflows.get(&f.kind()).ok();
    let kinds = s.svc.workflows.all().map(|d| (d.kind.clone(), d.name.clone())).collect();
    let result = async { s.svc.list(&p, &f.params()?.into_query()?).await }.await;
    let (page, error) = match result {
        Ok(page) => (page, None),
        // Refusals (not a bad filter) get the refusal page.
        Err(e) if e.code.http_status() != 400 => return refusal(e, Some(me(&p))),
        Err(e) => (
            taizhang_service::cases::CasePage { items: vec![], total: 0, total_capped: false, page: 1, per_page: 50 },
            Some(e.message),
        ),
    };
    let rows = page
        .items
        .iter()
        .map(|c| ListRow {
            id: c.id,
            code: c.code.clone(),
            title: c.title.clone(),
            category: c.category.clone().unwrap_or_default(),
            state: c.state_name.clone(),
            created: local(c.created_at),
            clock: clock_cell(c),
        })
        .collect();
    let has_next = page.page * page.per_page < page.total;
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let view = CasesPage {
        me: Some(me(&p)),
        kinds,
        query: f.query(),
        f,
        states: def.map(|d| d.states.iter().map(|st| (st.id.clone(), st.name.clone())).collect()).unwrap_or_default(),
        clock_options: vec![
            ("on_time".into(), "正常".into()),
            ("due_soon".into(), "即将到期".into()),
            ("overdue".into(), "已超期".into()),
        ],
        sorts: vec![
            ("deadline".into(), "最近期限在前".into()),
            ("newest".into(), "最新登记在前".into()),
            ("oldest".into(), "最早登记在前".into()),
        ],
        page,
        rows,
        has_next,
        error,
    };
    (status, view).into_response()
}

/// The current list as an Excel workbook with a Chinese header row; audited as an export.
async fn case_export(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(src): Source,
    axum::extract::Query(f): axum::extract::Query<ListForm>,
) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let result = async { s.svc.export(&p, &f.params()?.into_query()?, src.as_deref()).await }.await;
    let items = match result {
        Ok(i) => i,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let matter_types: BTreeMap<String, String> =
        options(s.svc.workflows.get("petition").ok(), "matter_type").into_iter().collect();
    match workbook(&items, &matter_types) {
        Ok(bytes) => (
            [
                (CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"taizhang-cases.xlsx\""),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => refusal(DomainError::new(ErrorCode::Internal, format!("无法生成 Excel 文件：{e}")), Some(me(&p))),
    }
}

fn workbook(
    items: &[CaseSummary],
    matter_types: &BTreeMap<String, String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("案件")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let header = ["登记编号", "事由", "分类", "事项类型", "状态", "登记时间", "期限状态", "到期时间"];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, c) in items.iter().enumerate() {
        let row = r as u32 + 1;
        sheet.write_string(row, 0, &c.code)?;
        sheet.write_string(row, 1, &c.title)?;
        sheet.write_string(row, 2, c.category.as_deref().unwrap_or(""))?;
        let matter = c.matter_type.as_deref().unwrap_or("");
        sheet.write_string(row, 3, matter_types.get(matter).map(String::as_str).unwrap_or(matter))?;
        sheet.write_string(row, 4, &c.state_name)?;
        sheet.write_string(row, 5, local(c.created_at))?;
        sheet.write_string(row, 6, c.clock_status.map(|s| s.label_zh()).unwrap_or(""))?;
        sheet.write_string(row, 7, c.next_due_at.map(due_words).unwrap_or_default())?;
    }
    sheet.set_column_width(1, 40)?;
    book.save_to_buffer()
}

#[derive(Template, WebTemplate)]
#[template(path = "sites.html")]
struct SitesPage {
    me: Option<Me>,
    csrf: String,
    sites: Vec<SiteView>,
    /// Offered to those who may register sites: (sector id, name) and (unit id, name).
    sectors: Vec<(String, String)>,
    units: Vec<(String, String)>,
    may_register: bool,
    error: Option<String>,
    /// The refused form's values, kept.
    form: BTreeMap<String, String>,
}

impl SitesPage {
    fn value(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

fn may_register_sites(p: &Principal) -> bool {
    p.roles.iter().any(|r| matches!(r, Role::SystemAdmin | Role::SafetyInspector | Role::Leader))
}

/// The registered sites, and the form to register one.
async fn render_sites(s: &AppState, p: &Principal, failed: Option<(DomainError, &[(String, String)])>) -> Response {
    let sites = match s.svc.sites().await {
        Ok(x) => x,
        Err(e) => return refusal(e, Some(me(p))),
    };
    let units = match s.svc.store.units().await {
        Ok(u) => u.into_iter().map(|u| (u.id.to_string(), u.name)).collect(),
        Err(e) => return refusal(taizhang_service::se(e), Some(me(p))),
    };
    let sectors = s.svc.checklists.sectors.iter().map(|x| (x.id.clone(), x.name.clone())).collect();
    let (status, error, form) = refused_form(failed);
    let page = SitesPage {
        me: Some(me(p)),
        csrf: p.csrf_token.clone(),
        sites,
        sectors,
        units,
        may_register: may_register_sites(p),
        error,
        form,
    };
    (status, page).into_response()
}

async fn sites_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match staff(&s, &headers, false).await {
        Ok(p) => render_sites(&s, &p, None).await,
        Err(r) => r,
    }
}

async fn create_site(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let p = match staff_writing(&s, &headers, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let retention = match get("visitor_retention_days") {
        d if d.is_empty() => Ok(30),
        d => d.parse::<i64>().map_err(|_| {
            DomainError::new(ErrorCode::InvalidInput, "访客记录保存期限应为天数").at("visitor_retention_days")
        }),
    };
    let result = match (get("unit_id").parse::<i64>(), retention) {
        (Ok(unit_id), Ok(visitor_retention_days)) => {
            let site = taizhang_store::Site {
                code: get("code"),
                name: get("name"),
                sector: get("sector"),
                unit_id,
                address: get("address"),
                visitor_retention_days,
            };
            s.svc.create_site(Some(&p), site).await
        }
        (Err(_), _) => Err(DomainError::new(ErrorCode::MissingField, "请选择负责单位").at("unit_id")),
        (_, Err(e)) => Err(e),
    };
    match result {
        Ok(site) => Redirect::to(&format!("/sites/{}", site.code)).into_response(),
        Err(e) => render_sites(&s, &p, Some((e, &form))).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "site.html")]
struct SitePage {
    me: Option<Me>,
    d: taizhang_service::sites::SiteDetail,
    /// (href, label) for each kind about a site the user may open, e.g. 新建安全检查.
    start: Vec<(String, String)>,
    /// (id, code, kind name, title, state, registered)
    cases: Vec<(i64, String, String, String, String, String)>,
}

/// A site: its sector's checklist, the cases about it, and links to start a case about it (an inspection).
async fn site_page(State(s): State<AppState>, headers: HeaderMap, Path(code): Path<String>) -> Response {
    let p = match staff(&s, &headers, false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let d = match s.svc.site_detail(&p, &code).await {
        Ok(d) => d,
        Err(e) => return refusal(e, Some(me(&p))),
    };
    let mut start: Vec<(String, String)> = s
        .svc
        .kinds_to_open(&p)
        .into_iter()
        .filter(|(k, _)| s.svc.workflows.get(k).is_ok_and(|d| d.site_field().is_some()))
        .map(|(k, name)| (format!("/cases/new/{k}?site={}", d.site.code), format!("新建{name}")))
        .collect();
    if d.keeps_visitor_log {
        start.push((format!("/sites/{}/visitors", d.site.code), "访客登记".into()));
    }
    let kind_name = |k: &str| s.svc.workflows.get(k).map(|d| d.name.clone()).unwrap_or_else(|_| k.to_string());
    let cases = d
        .cases
        .iter()
        .flat_map(|c| c.items.iter())
        .map(|c| (c.id, c.code.clone(), kind_name(&c.kind), c.title.clone(), c.state_name.clone(), local(c.created_at)))
        .collect();
    SitePage { me: Some(me(&p)), d, start, cases }.into_response()
}
