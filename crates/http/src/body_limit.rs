//! Request-body limits, applied before any handler reads a body: an announced `Content-Length` over
//! `max_body_bytes` is refused with `413` at once (nothing of the body is read), and the whole body must
//! arrive within `body_read_timeout` of the headers or the request is answered `408`.
//!
//! Both answers carry `Connection: close`. The unread rest of the body makes the connection unusable for
//! a next request (RFC 9110 §15.5.9 also asks a `408` to announce the close), and hyper closes the
//! connection after such a response instead of waiting for, or draining, the rest of the body. A body
//! that grows past the limit without announcing its length (chunked) is refused by axum's
//! `DefaultBodyLimit` as it streams in; this module only adds what that layer cannot see in time.

use crate::error::ApiError;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use researchops_core::ErrorCode;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// The limits the [`limit_body`] middleware enforces.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Largest accepted body in bytes.
    pub max_bytes: usize,
    /// Time allowed to receive the whole body, counted from the moment its headers arrived.
    pub read_timeout: Duration,
}

/// Refuses an announced body over the limit with `413`, and answers `408` when the body does not
/// arrive in time (see the module documentation).
pub async fn limit_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(announced) = announced_length(request.headers())
        && announced > limits.max_bytes as u64
    {
        return closing(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The request body announces {announced} bytes; at most {} are accepted.",
                limits.max_bytes
            ),
        ));
    }
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limits.read_timeout)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if expired.load(Ordering::Acquire) {
        tracing::info!(
            timeout_ms = limits.read_timeout.as_millis() as u64,
            "request body timed out"
        );
        return closing(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body did not arrive within {} s; the connection is closed.",
                limits.read_timeout.as_secs_f64()
            ),
        ));
    }
    response
}

/// The `Content-Length` the client announced, if it is a number.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The error as a response that closes its connection.
fn closing(error: ApiError) -> Response {
    error
        .with_header(CONNECTION, HeaderValue::from_static("close"))
        .into_response()
}

/// A request body that fails once its deadline passed, and records that it did.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new("request body read timed out"))));
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_numeric_content_length_counts_as_announced() {
        let mut headers = HeaderMap::new();
        assert_eq!(announced_length(&headers), None);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("99999999999"));
        assert_eq!(announced_length(&headers), Some(99_999_999_999));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("abc"));
        assert_eq!(announced_length(&headers), None);
    }
}
