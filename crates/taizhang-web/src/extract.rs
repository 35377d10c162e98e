//! Extractors and the error response: JSON bodies with Chinese errors for bad UTF-8, bad JSON and oversized
//! bodies; authentication by bearer token or session cookie, with CSRF checks for cookie-authenticated writes.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::Principal;

use crate::AppState;

pub const SESSION_COOKIE: &str = "tz_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An error as the API returns it.
pub struct ApiError(pub DomainError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(e)
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `action_not_allowed_in_state`.
    pub code: String,
    /// What is wrong, in Chinese.
    pub message: String,
    /// The input field it is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = ErrorBody { code: self.0.code.as_str().to_string(), message: self.0.message, field: self.0.field };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the oversized body is never read, so the connection cannot carry another request:
            // say so, or a keep-alive client reuses it and its next request fails mid-flight.
            resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn err(code: ErrorCode, msg: impl Into<String>) -> ApiError {
    ApiError(DomainError::new(code, msg))
}

/// A JSON body: UTF-8 checked, size-limited, parsed with a Chinese message naming the problem.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                err(ErrorCode::BodyTooLarge, format!("请求内容过大（上限 {} KB）", crate::MAX_BODY_BYTES / 1024))
            } else {
                err(ErrorCode::InvalidInput, "无法读取请求内容（连接中断或内容不完整）")
            }
        })?;
        if !ct.is_empty() && !ct.starts_with("application/json") {
            return Err(err(ErrorCode::InvalidInput, "请求内容类型应为 application/json"));
        }
        let text =
            std::str::from_utf8(&bytes).map_err(|_| err(ErrorCode::InvalidUtf8, "请求内容不是有效的 UTF-8 编码"))?;
        serde_json::from_str(text).map(Json).map_err(|e| {
            let what = zh_serde(&e.to_string());
            err(ErrorCode::InvalidInput, format!("请求内容有误（第 {} 行第 {} 列）：{what}", e.line(), e.column()))
        })
    }
}

/// The caller's address, for the audit log.
pub struct Source(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())))
    }
}

/// The token a request carries, and whether it came in a cookie (then writes need the CSRF header).
pub fn request_token(headers: &axum::http::HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim().to_string(), false));
    }
    let cookies = headers.get_all(header::COOKIE);
    for c in cookies.iter().filter_map(|v| v.to_str().ok()) {
        for pair in c.split(';') {
            if let Some(v) = pair.trim().strip_prefix(&format!("{SESSION_COOKIE}=")) {
                return Some((v.to_string(), true));
            }
        }
    }
    None
}

/// A signed-in staff member.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some((token, from_cookie)) = request_token(&parts.headers) else {
            return Err(err(ErrorCode::Unauthenticated, "请先登录（Authorization: Bearer <令牌>）"));
        };
        let p = state.svc.authenticate(&token).await?;
        // An account whose password must change can do nothing else until it has.
        let allowed = ["/api/v1/me", "/api/v1/me/password", "/api/v1/auth/logout"];
        let path = parts.extensions.get::<axum::extract::OriginalUri>().map(|u| u.0.path().to_string());
        let path = path.unwrap_or_else(|| parts.uri.path().to_string());
        if p.password_change_required && !allowed.contains(&path.as_str()) {
            return Err(err(
                ErrorCode::PasswordChangeRequired,
                "请先修改密码（初始密码或密码已超过有效期）：POST /api/v1/me/password",
            ));
        }
        let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && writes {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if sent.is_empty() || sent != p.csrf_token {
                return Err(err(ErrorCode::CsrfMismatch, "表单已失效（CSRF 校验失败），请刷新页面后重试"));
            }
        }
        Ok(Auth(p))
    }
}

/// Says in Chinese what serde's English messages say: which field is missing or unknown, or has the wrong type.
pub fn zh_serde(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    let msg = msg.strip_prefix("Failed to deserialize query string: ").unwrap_or(msg);
    let (field, rest) = match msg.split_once(": ") {
        Some((f, r)) if !f.contains(' ') => (Some(f), r),
        _ => (None, msg),
    };
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_string).unwrap_or_default();
    let what = if rest.starts_with("missing field") {
        format!("缺少字段 {}", quoted(rest))
    } else if rest.starts_with("unknown field") {
        format!("不认识的字段 {}", quoted(rest))
    } else if rest.starts_with("invalid type") || rest.starts_with("invalid digit") || rest.starts_with("invalid value")
    {
        let expected = rest.split("expected ").nth(1).unwrap_or("");
        let kind = if expected.contains("i64") || expected.contains("u32") || rest.contains("digit") {
            "应为整数"
        } else if expected.contains("string") {
            "应为文字"
        } else if expected.contains("sequence") {
            "应为列表"
        } else if expected.contains("map") || expected.contains("struct") {
            "应为对象"
        } else {
            "类型不符"
        };
        kind.to_string()
    } else if rest.starts_with("EOF") {
        "内容不完整".to_string()
    } else if rest.starts_with("expected") || rest.starts_with("trailing") || rest.starts_with("key must") {
        "不是有效的 JSON".to_string()
    } else if rest.starts_with("unknown variant") {
        let allowed = rest.split("expected ").nth(1).unwrap_or("").replace("one of ", "").replace('`', "");
        format!("取值 {} 无效，可选：{}", quoted(rest), allowed.replace(", ", "、"))
    } else if rest.starts_with("recursion limit") {
        "嵌套层数过多".to_string()
    } else if rest.starts_with("number out of range") {
        "数值超出范围".to_string()
    } else {
        // Whatever else serde says is not shown in English: the field, if known, and the kind of problem.
        "内容有误".to_string()
    };
    match field {
        Some(f) => format!("{f}：{what}"),
        None => what,
    }
}
