//! The edge of the error table: [`ApiError`] and its `application/problem+json` rendering.
//!
//! Every failure a handler, an extractor or a middleware returns is an [`ApiError`] built from a
//! [`researchops_core::ErrorCode`] (the one table that picks statuses). Store errors convert with `?`:
//! callers' mistakes keep their message, faults (5xx) get an opaque detail while the cause is logged.
//! Rendering never includes a stack trace; `request_id` is filled in by the `finish_problems` middleware
//! (see `middleware.rs`), which reads the [`Problem`] this module leaves in the response extensions.

use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use researchops_core::{ErrorCode, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Most characters of a client-supplied value that an error message quotes.
pub const MAX_ECHO_CHARS: usize = 200;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, with `…` when something was cut: error messages
/// quote client input only through this, so a 10,000-character header is not echoed back in full.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Prefix of every problem `type`; the code's stable name follows it.
pub const PROBLEM_TYPE_BASE: &str = "https://researchops.dev/problems/";

/// An RFC 9457 problem document, as every error response carries it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://researchops.dev/problems/<name>`, stable per error class.
    #[serde(rename = "type")]
    pub type_url: String,
    /// Short human title of the error class.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// The response's `X-Request-ID`; quote it when reporting a problem.
    pub request_id: Option<String>,
    /// Field → message, for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
}

impl Problem {
    /// A problem of any class: [`Problem::from_code`] for the table's, this for a bare status the
    /// table lacks (e.g. a `418` from a layer).
    pub fn custom(status: StatusCode, name: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_url: format!("{PROBLEM_TYPE_BASE}{name}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
            errors: None,
        }
    }

    /// A problem of a class in the table.
    pub fn from_code(code: ErrorCode, detail: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::custom(status, code.name(), code.title(), detail)
    }

    /// The JSON body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .unwrap_or_else(|_| b"{\"title\":\"Internal server error\",\"status\":500}".to_vec())
    }

    /// A response with this problem as body; the problem also rides in the extensions so a middleware
    /// can stamp the request id into it.
    pub fn into_response_with(self, headers: HeaderMap) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.to_body()).into_response();
        response.headers_mut().extend(headers);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_response_with(HeaderMap::new())
    }
}

/// A failure on its way to the client (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    code: ErrorCode,
    detail: String,
    errors: Option<BTreeMap<String, String>>,
    headers: HeaderMap,
}

/// The detail of every 5xx caused by a fault: opaque on purpose.
const OPAQUE_DETAIL: &str = "An unexpected error occurred. Quote the request id when reporting it.";

impl ApiError {
    /// An error of class `code` with a detail for people.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            code,
            detail: detail.into(),
            errors: None,
            headers: HeaderMap::new(),
        }))
    }

    /// `404`: unknown, or owned by another tenant.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "The resource does not exist.")
    }

    /// `500` with an opaque detail; `cause` goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, OPAQUE_DETAIL)
    }

    /// `422` with one message per offending field.
    pub fn validation(errors: BTreeMap<String, String>) -> Self {
        let detail = match errors.len() {
            0 => "The request is invalid.".to_owned(),
            _ => errors
                .iter()
                .map(|(field, msg)| format!("{field}: {msg}"))
                .collect::<Vec<_>>()
                .join("; "),
        };
        Self(Box::new(Inner {
            code: ErrorCode::Validation,
            detail,
            errors: Some(errors),
            headers: HeaderMap::new(),
        }))
    }

    /// Adds a response header (e.g. `Content-Range` on a 416).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.insert(name, value);
        self
    }

    /// The error's class.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The detail.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The field errors, for validation failures.
    pub fn errors(&self) -> Option<&BTreeMap<String, String>> {
        self.0.errors.as_ref()
    }

    /// The problem document this error renders as.
    pub fn to_problem(&self) -> Problem {
        Problem {
            errors: self.0.errors.clone(),
            ..Problem::from_code(self.0.code, self.0.detail.clone())
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code.name(), self.0.detail)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            StoreError::BadCursor => {
                ApiError::new(ErrorCode::BadRequest, "The cursor is not valid.")
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::new(
                    ErrorCode::NotReady,
                    "The database is not available right now; retry later.",
                )
                .with_header(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                )
            }
            other @ (StoreError::LeaseLost
            | StoreError::SchemaTooNew { .. }
            | StoreError::Internal(_)) => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        problem.into_response_with(self.0.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_the_table() {
        assert_eq!(
            ApiError::from(StoreError::NotFound).code(),
            ErrorCode::NotFound
        );
        let conflict = ApiError::from(StoreError::Conflict("run is active".into()));
        assert_eq!(conflict.code(), ErrorCode::Conflict);
        assert_eq!(conflict.detail(), "run is active");
        assert_eq!(
            ApiError::from(StoreError::BadCursor).code(),
            ErrorCode::BadRequest
        );
        assert_eq!(
            ApiError::from(StoreError::Unavailable("x".into())).code(),
            ErrorCode::NotReady
        );
        let internal = ApiError::from(StoreError::Internal("secret table name".into()));
        assert_eq!(internal.code(), ErrorCode::Internal);
        assert!(!internal.detail().contains("secret"));
    }

    #[test]
    fn problem_body_has_the_normative_fields() {
        let mut errors = BTreeMap::new();
        errors.insert("name".to_owned(), "must not be empty".to_owned());
        let problem = ApiError::validation(errors).to_problem();
        let json = serde_json::to_value(&problem).expect("serialises");
        assert_eq!(
            json["type"],
            "https://researchops.dev/problems/validation_failed"
        );
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"]["name"], "must not be empty");
        assert!(json.get("request_id").is_some());
        assert!(json["detail"].as_str().is_some_and(|d| d.contains("name")));
    }
}
