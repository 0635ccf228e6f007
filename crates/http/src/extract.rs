//! Extractors whose rejections are [`ApiError`]s, so every malformed request answers problem+json:
//! [`JsonBody`] (415 / 413 / 400 / 422 with the offending field), [`PathId`] (a malformed id is a 404)
//! and [`QueryParams`] (a malformed parameter is a 400); and the `Accept` negotiation of the events
//! endpoint ([`wants_event_stream`]). They parse only; rules live in `validation.rs`.

use crate::error::ApiError;
use crate::error::excerpt;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use researchops_core::ErrorCode;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A JSON request body (`Content-Type: application/json` or `application/*+json`, no
/// `Content-Encoding` but `identity`). Where the type expects an object, at any depth, the JSON must be
/// an object (see `strict_json.rs`).
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
        if let Some(encoding) = unsupported_encoding(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "`Content-Encoding: {}` is not supported; send the body uncompressed.",
                    excerpt(&encoding)
                ),
            )
            // RFC 9110 §15.5.16: say which codings would have been accepted.
            .with_header(ACCEPT_ENCODING, HeaderValue::from_static("identity")));
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

/// The request's `Content-Encoding` when it is anything but `identity` (or not text).
pub fn unsupported_encoding(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
        };
        let foreign = text
            .split(',')
            .map(str::trim)
            .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"));
        if let Some(coding) = foreign {
            return Some(coding.to_owned());
        }
    }
    None
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

/// Parses a JSON body: a syntax error is a 400, a shape error (missing field, wrong type, an array
/// where an object belongs) a 422 naming the field. Messages quote at most a bounded excerpt of the
/// offending value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    serde_path_to_error::deserialize(crate::strict_json::Strict(&value)).map_err(|e| {
        let message = excerpt(&e.inner().to_string());
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
                    format!("Invalid query string: {}", excerpt(&rejection.body_text())),
                )
            })
    }
}

/// Whether the client asked for a server-sent event stream rather than JSON, by the `Accept` header's
/// q-values (RFC 9110 §12.5.1): each type takes the weight of the most specific range matching it
/// (`text/event-stream` over `text/*` over `*/*`); the stream is chosen when its weight is above zero
/// and above JSON's, or equal to JSON's when `text/event-stream` is named explicitly. So
/// `text/event-stream;q=0` and `*/*` get JSON, `application/json;q=0.5, text/event-stream` the stream.
/// A malformed q-value counts as 1; ranges that are not `type/subtype` are ignored.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    let ranges: Vec<MediaRange> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(MediaRange::parse)
        .collect();
    let (stream, named) = weight(&ranges, "text", "event-stream");
    let (json, _) = weight(&ranges, "application", "json");
    stream > 0 && (stream > json || (stream == json && named))
}

/// One entry of an `Accept` header, with its weight in thousandths.
#[derive(Clone, Debug, PartialEq)]
struct MediaRange {
    kind: String,
    subtype: String,
    q: u16,
}

impl MediaRange {
    fn parse(entry: &str) -> Option<Self> {
        let mut parts = entry.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1000;
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q = parse_qvalue(value.trim()).unwrap_or(1000);
            }
        }
        Some(Self {
            kind: kind.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
            q,
        })
    }

    /// How specifically this range matches `kind/subtype`: 2 exact, 1 `kind/*`, 0 `*/*`.
    fn specificity(&self, kind: &str, subtype: &str) -> Option<u8> {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            (k, "*") if k == kind => Some(1),
            (k, s) if k == kind && s == subtype => Some(2),
            _ => None,
        }
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The weight `ranges` give `kind/subtype` (0 when none matches), and whether an exact range gave it.
fn weight(ranges: &[MediaRange], kind: &str, subtype: &str) -> (u16, bool) {
    ranges
        .iter()
        .filter_map(|r| r.specificity(kind, subtype).map(|s| (s, r.q)))
        // The most specific match decides; among equally specific ones, the highest weight.
        .max()
        .map_or((0, false), |(specificity, q)| (q, specificity == 2))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn event_stream_is_chosen_by_the_accept_headers_q_values() {
        assert!(!wants_event_stream(&HeaderMap::new()));
        for (value, stream) in [
            ("text/event-stream", true),
            ("TEXT/Event-Stream; charset=utf-8", true),
            ("application/json", false),
            ("*/*", false),
            ("text/*", true),
            ("text/event-stream;q=0", false),
            ("text/event-stream; q=0.000", false),
            ("application/json;q=0.5, text/event-stream", true),
            ("text/event-stream;q=0.5, application/json", false),
            ("application/json, text/event-stream", true),
            ("text/event-stream;q=0.2", true),
            ("text/*;q=0.9, application/json", false),
            ("*/*;q=0.1, text/event-stream;q=0", false),
            ("text/event-stream;q=0, text/*", false),
            ("text/event-stream;q=bogus", true),
            ("text/event-stream;q=1.5, application/json;q=0.9", true),
            ("nonsense, text/event-stream", true),
        ] {
            assert_eq!(wants_event_stream(&accept(value)), stream, "{value}");
        }
    }

    #[test]
    fn accept_headers_are_combined_across_lines() {
        let mut headers = accept("application/json;q=0.4");
        headers.append(ACCEPT, HeaderValue::from_static("text/event-stream;q=0.6"));
        assert!(wants_event_stream(&headers));
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("-0"), None);
        assert_eq!(parse_qvalue(""), None);
    }

    #[test]
    fn only_identity_content_encoding_is_accepted() {
        let mut headers = HeaderMap::new();
        assert_eq!(unsupported_encoding(&headers), None);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("Identity"));
        assert_eq!(unsupported_encoding(&headers), None);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(unsupported_encoding(&headers).as_deref(), Some("gzip"));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity, br"));
        assert_eq!(unsupported_encoding(&headers).as_deref(), Some("br"));
    }

    #[test]
    fn arrays_are_refused_where_objects_are_expected() {
        let err = parse_json::<Body>(br#"{"name":"x","inner":[1]}"#).expect_err("array");
        assert_eq!(err.code(), ErrorCode::Validation);
        assert!(
            err.errors().is_some_and(|e| e.contains_key("inner")),
            "{:?}",
            err.errors()
        );
        assert_eq!(
            parse_json::<Body>(br#"["x"]"#).expect_err("top").code(),
            ErrorCode::Validation
        );
    }

    #[test]
    fn shape_errors_quote_only_an_excerpt_of_the_value() {
        let long = "a".repeat(10_000);
        let err = parse_json::<Body>(
            format!(r#"{{"name":"x","inner":{{"count":"{long}"}}}}"#).as_bytes(),
        )
        .expect_err("type");
        let message = &err.errors().expect("errors")["inner.count"];
        assert!(message.chars().count() <= 220, "{} chars", message.len());
    }
}
