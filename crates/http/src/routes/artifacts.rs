//! A run's artifacts: the list, and the download with `ETag` / `If-None-Match` (304) and single
//! `Range` requests (206 / 416). Range arithmetic lives in `range.rs`; bytes come from the blob store.

use crate::error::{ApiError, Problem};
use crate::extract::PathId;
use crate::identity::Viewer;
use crate::range::{self, RangeRequest};
use crate::state::{App, AppState};
use crate::views::{self, ArtifactView, Items};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, IF_RANGE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use researchops_core::{Artifact, ArtifactId, ErrorCode, RunId};

/// Lists a run's artifacts with their download URLs.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/artifacts",
    tag = "artifacts",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The artifacts", body = Items<ArtifactView>),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn list_artifacts(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<Items<ArtifactView>>, ApiError> {
    Ok(Json(
        views::run_artifacts(&state, identity.tenant_id, run_id).await?,
    ))
}

/// Downloads an artifact's bytes (supports `If-None-Match` and a single `Range`).
#[utoipa::path(
    get,
    path = "/runs/{run_id}/artifacts/{artifact_id}",
    tag = "artifacts",
    params(
        ("run_id" = uuid::Uuid, Path, description = "The run"),
        ("artifact_id" = uuid::Uuid, Path, description = "The artifact"),
        ("Range" = Option<String>, Header, description = "`bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a cached copy"),
    ),
    responses(
        (status = 200, description = "The bytes, with the artifact's media type: `text/markdown` (report.md), \
            `text/html` (report.html), `application/json` (report.json, context_bundle.json), \
            `application/x-bibtex` (references.bib), `application/x-research-info-systems` (references.ris, \
            CRLF line ends); `application/octet-stream` for anything else",
            content(
                (String = "text/markdown"),
                (String = "text/html"),
                (serde_json::Value = "application/json"),
                (String = "application/x-bibtex"),
                (String = "application/x-research-info-systems"),
                (Vec<u8> = "application/octet-stream"),
            )),
        (status = 206, description = "The requested byte range (`Content-Range` says which), with the artifact's \
            media type; a range of a JSON file is not JSON by itself",
            content(
                (String = "text/markdown"),
                (String = "text/html"),
                (String = "application/json"),
                (String = "application/x-bibtex"),
                (String = "application/x-research-info-systems"),
                (Vec<u8> = "application/octet-stream"),
            )),
        (status = 304, description = "The cached copy is current"),
        (status = 404, description = "Unknown run or artifact", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range lies outside the file", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id, artifact.id = %artifact_id), err(level = "debug"))]
pub async fn download_artifact(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId((run_id, artifact_id)): PathId<(RunId, ArtifactId)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let artifact = state
        .store
        .get_artifact(identity.tenant_id, run_id, artifact_id)
        .await?;
    serve(&state, &artifact, &headers).await
}

/// Answers a download request for `artifact`.
async fn serve(app: &App, artifact: &Artifact, request: &HeaderMap) -> Result<Response, ApiError> {
    let etag = format!("\"{}\"", artifact.sha256);
    let len = u64::try_from(artifact.size_bytes).unwrap_or(0);
    let text = |name| {
        request
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };

    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));

    if text(IF_NONE_MATCH).is_some_and(|tags| range::etag_matches(tags, &etag)) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }

    let wanted = if range::if_range_allows(text(IF_RANGE), &etag) {
        range::parse_range(text(RANGE), len)
    } else {
        RangeRequest::Full
    };
    headers.insert(CONTENT_TYPE, content_type(&artifact.mime_type));
    headers.insert(CONTENT_DISPOSITION, content_disposition(&artifact.name));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));

    match wanted {
        RangeRequest::Full => {
            let bytes = views::read_blob(app, artifact).await?;
            Ok(respond(StatusCode::OK, headers, Body::from(bytes)))
        }
        RangeRequest::Partial(span) => {
            let bytes = app
                .blobs
                .get_range(&artifact.sha256, span.clone())
                .await
                .map_err(|e| views::blob_error(artifact, e))?;
            if let Ok(value) = HeaderValue::from_str(&range::content_range(&span, len)) {
                headers.insert(CONTENT_RANGE, value);
            }
            Ok(respond(
                StatusCode::PARTIAL_CONTENT,
                headers,
                Body::from(bytes),
            ))
        }
        RangeRequest::Unsatisfiable => {
            let mut error = ApiError::new(
                ErrorCode::RangeNotSatisfiable,
                format!("The requested range lies outside the file ({len} bytes)."),
            );
            if let Ok(value) = HeaderValue::from_str(&range::unsatisfied_range(len)) {
                error = error.with_header(CONTENT_RANGE, value);
            }
            Err(error)
        }
    }
}

fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn content_type(mime: &str) -> HeaderValue {
    HeaderValue::from_str(mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `attachment; filename="…"` with anything outside printable ASCII (and quotes, backslashes) replaced.
pub fn content_disposition(name: &str) -> HeaderValue {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.trim().is_empty() {
        "download".to_owned()
    } else {
        safe
    };
    HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_safely() {
        assert_eq!(
            content_disposition("report.md"),
            "attachment; filename=\"report.md\""
        );
        assert_eq!(
            content_disposition("a\"b\\c\r\n.md"),
            "attachment; filename=\"a_b_c__.md\""
        );
        assert_eq!(
            content_disposition("résumé.md"),
            "attachment; filename=\"r_sum_.md\""
        );
        assert_eq!(content_disposition(""), "attachment; filename=\"download\"");
    }
}
