//! Cross-cutting request handling: the request id (sanity check, generation, propagation), the trace
//! span, turning every error response into problem+json carrying that request id, and panics into an
//! opaque 500. Handlers never deal with any of this.

use crate::error::{PROBLEM_JSON, Problem};
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use researchops_core::ErrorCode;
use std::any::Any;
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id that is echoed.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client-supplied request id may be echoed: 1–128 characters of `[A-Za-z0-9._-]`.
pub fn is_sane_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Keeps the client's `X-Request-ID` only when it is sane (so `SetRequestIdLayer` generates one otherwise).
pub async fn sanitize_request_id(mut request: Request) -> Request {
    let keep = request
        .headers()
        .get(X_REQUEST_ID)
        .filter(|v| is_sane_request_id(v.as_bytes()))
        .cloned();
    request.headers_mut().remove(X_REQUEST_ID);
    if let Some(value) = keep {
        request.headers_mut().insert(X_REQUEST_ID, value);
    }
    request
}

/// Generates a UUID v4 request id.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .ok()
            .map(RequestId::new)
    }
}

fn request_id_of<B>(request: &axum::http::Request<B>) -> Option<String> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned)
}

/// The span of one request, with its id; the identity extractor records `tenant_id` and `user_id`.
pub fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let request_id = request_id_of(request).unwrap_or_default();
    tracing::info_span!(
        "http_request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        tenant_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

/// Stamps the request id into problem bodies, and replaces any other error body (from axum or a layer)
/// with a problem so no client ever sees plain text or HTML.
pub async fn finish_problems(request: Request, next: Next) -> Response {
    let request_id = request_id_of(&request);
    let mut response = next.run(request).await;
    let status = response.status();
    let mut problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if status.is_client_error() || status.is_server_error() => generic_problem(status),
        None => return response,
    };
    problem.request_id = request_id;
    let body = problem.to_body();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.remove(CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
    response.extensions_mut().insert(problem);
    response
}

/// The problem for a bare error status.
fn generic_problem(status: StatusCode) -> Problem {
    match ErrorCode::from_status(status.as_u16()) {
        Some(code) => Problem::from_code(code, detail_of(code)),
        None => {
            let reason = status.canonical_reason().unwrap_or("Error");
            Problem::custom(status, &format!("http_{}", status.as_u16()), reason, reason)
        }
    }
}

/// The detail of a problem raised by routing or a layer rather than by a handler.
fn detail_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "No resource matches this path.",
        ErrorCode::MethodNotAllowed => "This path does not support the request's method.",
        code => code.title(),
    }
}

/// Fallback for paths no route matches.
pub async fn not_found() -> Response {
    generic_problem(StatusCode::NOT_FOUND).into_response()
}

/// Fallback for a known path with an unsupported method.
pub async fn method_not_allowed() -> Response {
    generic_problem(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

/// The response to a panic in a handler: logged, opaque 500.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = message, "handler panicked");
    Problem::from_code(
        ErrorCode::Internal,
        "An unexpected error occurred. Quote the request id when reporting it.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_sane() {
        assert!(is_sane_request_id(b"abc-123_X.y"));
        assert!(is_sane_request_id(&[b'a'; 128]));
        assert!(!is_sane_request_id(&[b'a'; 129]));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"has space"));
        assert!(!is_sane_request_id(b"<script>"));
        assert!(!is_sane_request_id("é".as_bytes()));
    }

    #[test]
    fn bare_error_statuses_become_problems() {
        assert_eq!(generic_problem(StatusCode::METHOD_NOT_ALLOWED).status, 405);
        assert!(
            generic_problem(StatusCode::PAYLOAD_TOO_LARGE)
                .type_url
                .ends_with("/payload_too_large")
        );
        assert_eq!(generic_problem(StatusCode::IM_A_TEAPOT).status, 418);
    }
}
