//! Stable error codes with Chinese messages.
//!
//! Every error a user can meet carries a snake_case `code` that never changes (clients and the UI key on it)
//! and a Chinese `message` for people. The cause chain, when there is one, belongs in logs, not here.

use serde::Serialize;

/// The stable error codes. Add new ones at the end of a group; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // input
    InvalidInput,
    InvalidDate,
    UnknownRegion,
    CalendarOutOfRange,
    // workflow definitions
    WorkflowInvalid,
    UnknownCaseKind,
    UnknownAction,
    ActionNotAllowedInState,
    ActionNotAllowedForRole,
    ActionNotApplicable,
    MissingField,
    WindowClosed,
    // cases
    CaseNotFound,
    StaleVersion,
    DuplicateSubmit,
    RecusalRequired,
    AccusedPartyForbidden,
    OutOfScope,
    // accounts
    Unauthenticated,
    InvalidCredentials,
    AccountLocked,
    SessionExpired,
    CsrfMismatch,
    Forbidden,
    WeakPassword,
    PasswordChangeRequired,
    RoleConflict,
    UserExists,
    NotFound,
    // transport
    BodyTooLarge,
    MethodNotAllowed,
    InvalidUtf8,
    RateLimited,
    // server
    Internal,
    StorageUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidDate => "invalid_date",
            ErrorCode::UnknownRegion => "unknown_region",
            ErrorCode::CalendarOutOfRange => "calendar_out_of_range",
            ErrorCode::WorkflowInvalid => "workflow_invalid",
            ErrorCode::UnknownCaseKind => "unknown_case_kind",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::ActionNotAllowedInState => "action_not_allowed_in_state",
            ErrorCode::ActionNotAllowedForRole => "action_not_allowed_for_role",
            ErrorCode::ActionNotApplicable => "action_not_applicable",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::WindowClosed => "window_closed",
            ErrorCode::CaseNotFound => "case_not_found",
            ErrorCode::StaleVersion => "stale_version",
            ErrorCode::DuplicateSubmit => "duplicate_submit",
            ErrorCode::RecusalRequired => "recusal_required",
            ErrorCode::AccusedPartyForbidden => "accused_party_forbidden",
            ErrorCode::OutOfScope => "out_of_scope",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::AccountLocked => "account_locked",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::CsrfMismatch => "csrf_mismatch",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::PasswordChangeRequired => "password_change_required",
            ErrorCode::RoleConflict => "role_conflict",
            ErrorCode::UserExists => "user_exists",
            ErrorCode::NotFound => "not_found",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::StorageUnavailable => "storage_unavailable",
        }
    }

    /// The HTTP status this code maps to; the web layer uses it, the domain only records it.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Unauthenticated | InvalidCredentials | SessionExpired => 401,
            Forbidden
            | ActionNotAllowedForRole
            | AccusedPartyForbidden
            | OutOfScope
            | CsrfMismatch
            | RecusalRequired
            | PasswordChangeRequired => 403,
            MethodNotAllowed => 405,
            CaseNotFound | NotFound | UnknownCaseKind | UnknownAction => 404,
            StaleVersion | DuplicateSubmit | UserExists | ActionNotAllowedInState => 409,
            AccountLocked => 423,
            BodyTooLarge => 413,
            RateLimited => 429,
            Internal => 500,
            StorageUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error that reaches a user: a stable code and a Chinese sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message} ({code:?})")]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: String,
    /// The input field the error is about, when there is one (forms show the message next to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError { code, message: message.into(), field: None }
    }

    /// Names the input field the error is about.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
