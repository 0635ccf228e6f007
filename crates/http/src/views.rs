//! Response bodies of the run endpoints and the reads that need more than one store call to fill them
//! (a run with its artifacts, the report's text, the context bundle). Handlers call exactly one function
//! from here or one store method. This module reads; it never changes state.

use crate::error::ApiError;
use crate::state::App;
use chrono::{DateTime, Utc};
use researchops_core::{
    Artifact, ArtifactId, ArtifactKind, ErrorCode, EventId, Run, RunEvent, RunId, RunStatus, Stage,
    StoreError, TenantId,
};
use serde::Serialize;

/// The artifact `GET /runs/{run_id}/output` serves.
pub const REPORT_ARTIFACT: ArtifactKind = ArtifactKind::ReportMd;
/// The artifact `GET /runs/{run_id}/context` serves.
pub const CONTEXT_ARTIFACT: ArtifactKind = ArtifactKind::ContextBundle;

/// `{"items": [...]}` — a list without pagination.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    /// The items.
    pub items: Vec<T>,
}

/// An artifact with the URL that downloads it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ArtifactView {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: Artifact,
    /// `GET` it for the bytes: `/runs/{run_id}/artifacts/{artifact_id}`.
    pub download_url: String,
}

impl From<Artifact> for ArtifactView {
    fn from(artifact: Artifact) -> Self {
        let download_url = download_url(artifact.run_id, artifact.id);
        Self {
            artifact,
            download_url,
        }
    }
}

/// Where an artifact's bytes are served.
pub fn download_url(run: RunId, artifact: ArtifactId) -> String {
    format!("/runs/{run}/artifacts/{artifact}")
}

/// `GET /runs/{run_id}`: the run and its artifacts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// Its artifacts (empty until the export stage committed).
    pub artifacts: Vec<ArtifactView>,
}

/// The answer to creating a run.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunCreated {
    /// The run (new, or the earlier one with the same `client_request_id`).
    pub run_id: RunId,
    /// `queued` for a new run, else the existing run's status.
    pub status: RunStatus,
}

/// Why a run failed, in the status poll.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunErrorView {
    /// Stable code (`no_evidence`, `stage_timeout`, …).
    pub code: String,
    /// Reason for people.
    pub message: String,
}

/// `GET /runs/{run_id}/status`: the light poll.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunStatusView {
    /// The run.
    pub run_id: RunId,
    /// Its state.
    pub status: RunStatus,
    /// The stage being (or last) executed.
    pub current_stage: Option<Stage>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// The run's `finished_at`.
    pub completed_at: Option<DateTime<Utc>>,
    /// `completed`, `failed` or `canceled` once terminal.
    pub finish_reason: Option<String>,
    /// The failure, if any.
    pub error: Option<RunErrorView>,
}

impl From<Run> for RunStatusView {
    fn from(run: Run) -> Self {
        let error = match (run.error_code, run.failure_reason) {
            (None, None) => None,
            (code, reason) => {
                let code = code.unwrap_or_else(|| "unknown".to_owned());
                Some(RunErrorView {
                    message: reason.unwrap_or_else(|| code.clone()),
                    code,
                })
            }
        };
        Self {
            run_id: run.id,
            status: run.status,
            current_stage: run.current_stage,
            started_at: run.started_at,
            completed_at: run.finished_at,
            finish_reason: run.finish_reason,
            error,
        }
    }
}

/// `GET /runs/{run_id}/output`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunOutput {
    /// The run.
    pub run_id: RunId,
    /// Always `succeeded`.
    pub status: RunStatus,
    /// The report as Markdown.
    pub content: String,
}

/// `GET /runs/{run_id}/context`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunContext {
    /// The run.
    pub run_id: RunId,
    /// Its state.
    pub status: RunStatus,
    /// The question, sources, snippets, claim map and settings that produced the report.
    #[schema(value_type = Object)]
    pub context_bundle: serde_json::Value,
}

/// The run with its artifacts.
pub async fn run_detail(app: &App, tenant: TenantId, id: RunId) -> Result<RunDetail, ApiError> {
    let run = app.store.get_run(tenant, id).await?;
    let artifacts = app.store.list_artifacts(tenant, id).await?;
    Ok(RunDetail {
        run,
        artifacts: artifacts.into_iter().map(ArtifactView::from).collect(),
    })
}

/// The run's artifacts with download URLs.
pub async fn run_artifacts(
    app: &App,
    tenant: TenantId,
    id: RunId,
) -> Result<Items<ArtifactView>, ApiError> {
    let artifacts = app.store.list_artifacts(tenant, id).await?;
    Ok(Items {
        items: artifacts.into_iter().map(ArtifactView::from).collect(),
    })
}

/// The report's Markdown, once the run succeeded.
pub async fn run_output(app: &App, tenant: TenantId, id: RunId) -> Result<RunOutput, ApiError> {
    let run = app.store.get_run(tenant, id).await?;
    if run.status != RunStatus::Succeeded {
        return Err(not_available(&run, "output"));
    }
    let Some(artifact) = find_artifact(app, tenant, id, REPORT_ARTIFACT).await? else {
        return Err(ApiError::internal(format!(
            "run {id} succeeded without a {REPORT_ARTIFACT} artifact"
        )));
    };
    let bytes = read_blob(app, &artifact).await?;
    Ok(RunOutput {
        run_id: id,
        status: run.status,
        content: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The context bundle, once the run finished.
pub async fn run_context(app: &App, tenant: TenantId, id: RunId) -> Result<RunContext, ApiError> {
    let run = app.store.get_run(tenant, id).await?;
    if run.status.is_active() {
        return Err(not_available(&run, "context"));
    }
    let Some(artifact) = find_artifact(app, tenant, id, CONTEXT_ARTIFACT).await? else {
        if run.status == RunStatus::Succeeded {
            return Err(ApiError::internal(format!(
                "run {id} succeeded without a {CONTEXT_ARTIFACT} artifact"
            )));
        }
        return Err(not_available(&run, "context"));
    };
    let bytes = read_blob(app, &artifact).await?;
    let context_bundle = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(format!("context bundle of run {id} is not JSON: {e}")))?;
    Ok(RunContext {
        run_id: id,
        status: run.status,
        context_bundle,
    })
}

/// Events after `after`; an unknown run is a 404 even though its event list would just be empty.
pub async fn run_events(
    app: &App,
    tenant: TenantId,
    id: RunId,
    after: Option<EventId>,
    limit: u32,
) -> Result<Vec<RunEvent>, ApiError> {
    let events = app.store.list_events(tenant, id, after, limit).await?;
    if events.is_empty() {
        app.store.get_run(tenant, id).await?;
    }
    Ok(events)
}

/// The 409 for a result that the run's state does not have (yet).
fn not_available(run: &Run, what: &str) -> ApiError {
    let detail = match run.status {
        RunStatus::Created | RunStatus::Queued | RunStatus::Running => {
            format!(
                "The run is not finished yet (status `{}`); its {what} is not available.",
                run.status
            )
        }
        RunStatus::Failed => format!(
            "The run failed ({}): {}",
            run.error_code.as_deref().unwrap_or("unknown"),
            run.failure_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        ),
        RunStatus::Canceled => match &run.failure_reason {
            Some(reason) => format!("The run was canceled: {reason}"),
            None => "The run was canceled; it has no output.".to_owned(),
        },
        RunStatus::Blocked => {
            "The run is blocked, waiting for a person; it has no output yet.".to_owned()
        }
        RunStatus::Succeeded => format!("The run has no {what}."),
    };
    ApiError::new(ErrorCode::Conflict, detail)
}

async fn find_artifact(
    app: &App,
    tenant: TenantId,
    id: RunId,
    kind: ArtifactKind,
) -> Result<Option<Artifact>, ApiError> {
    let artifacts = app.store.list_artifacts(tenant, id).await?;
    Ok(artifacts.into_iter().find(|a| a.name == kind.file_name()))
}

/// All bytes of an artifact; a missing blob behind an existing row is a fault, not a 404.
pub async fn read_blob(app: &App, artifact: &Artifact) -> Result<bytes::Bytes, ApiError> {
    app.blobs
        .get(&artifact.sha256)
        .await
        .map_err(|e| blob_error(artifact, e))
}

/// Maps a blob store error for an artifact whose row exists.
pub fn blob_error(artifact: &Artifact, err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::internal(format!(
            "blob {} of artifact {} is missing",
            artifact.sha256, artifact.id
        )),
        other => other.into(),
    }
}
