//! Extractors whose rejections are [`ApiError`]s, so every malformed request answers problem+json:
//! [`JsonBody`] (415 / 413 / 400 / 422 with the offending field), [`PathId`] (a malformed id is a 404)
//! and [`QueryParams`] (a malformed parameter is a 400). They parse only; rules live in `validation.rs`.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use researchops_core::ErrorCode;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A JSON request body (`Content-Type: application/json` or `application/*+json`).
#[derive(Clone, Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The body must be JSON, sent with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "The body is larger than this server accepts.",
                )
            } else {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("The body could not be read: {}", rejection.body_text()),
                )
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Whether the request declares a JSON body.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body: a syntax error is a 400, a shape error (missing field, wrong type) a 422 naming
/// the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            missing_field_name(&message).unwrap_or_else(|| "body".to_owned())
        } else {
            match missing_field_name(&message) {
                Some(inner) => format!("{path}.{inner}"),
                None => path,
            }
        };
        let mut errors = BTreeMap::new();
        errors.insert(field, message);
        ApiError::validation(errors)
    })
}

/// `missing field `name`` → `name`.
fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// Path parameters; any that do not parse (a malformed id) make the resource unknown: 404.
#[derive(Clone, Debug)]
pub struct PathId<T>(pub T);

impl<T, S> FromRequestParts<S> for PathId<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathId(value))
            .map_err(|_| ApiError::not_found())
    }
}

/// Query parameters; a value of the wrong type is a 400.
#[derive(Clone, Debug)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("Invalid query string: {}", rejection.body_text()),
                )
            })
    }
}

/// Whether the client asked for a server-sent event stream.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Body {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Inner {
        count: u32,
    }

    #[test]
    fn json_content_types_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_json_content_type(&headers));
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(is_json_content_type(&headers), "{ok}");
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json_content_type(&headers));
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_name_the_field() {
        assert_eq!(
            parse_json::<Body>(b"{\"name\":")
                .expect_err("syntax")
                .code(),
            ErrorCode::BadRequest
        );

        let missing = parse_json::<Body>(b"{}").expect_err("missing");
        assert_eq!(missing.code(), ErrorCode::Validation);
        assert!(missing.errors().is_some_and(|e| e.contains_key("name")));

        let wrong = parse_json::<Body>(b"{\"name\": 5}").expect_err("type");
        assert!(wrong.errors().is_some_and(|e| e.contains_key("name")));

        let nested =
            parse_json::<Body>(b"{\"name\":\"x\",\"inner\":{\"count\":-1}}").expect_err("nested");
        assert!(
            nested
                .errors()
                .is_some_and(|e| e.contains_key("inner.count")),
            "{:?}",
            nested.errors()
        );

        let nested_missing =
            parse_json::<Body>(b"{\"name\":\"x\",\"inner\":{}}").expect_err("nested missing");
        assert!(
            nested_missing
                .errors()
                .is_some_and(|e| e.contains_key("inner.count")),
            "{:?}",
            nested_missing.errors()
        );
    }

    #[test]
    fn event_stream_is_detected_in_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_event_stream(&headers));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        assert!(wants_event_stream(&headers));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_event_stream(&headers));
    }
}
