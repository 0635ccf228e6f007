//! Runs: start one in a project (idempotent on `client_request_id`), list a project's runs, read a run,
//! its status, report, context bundle, evidence and claim map, and cancel or retry it.

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::identity::{Researcher, Viewer};
use crate::routes::PageQuery;
use crate::state::AppState;
use crate::validation::{self, CreateRunBody};
use crate::views::{self, Items, RunContext, RunCreated, RunDetail, RunOutput, RunStatusView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use researchops_core::{
    Claim, CreateRunOutcome, EvidenceRecord, Lane, Page, ProjectId, Run, RunId, RunStatus,
};

/// Starts a research run.
///
/// A new run answers 202 `queued`; repeating a `client_request_id` with the same project, question and
/// sources answers 200 with the existing run's status; repeating it with anything different is a 409.
#[utoipa::path(
    post,
    path = "/projects/{project_id}/runs",
    tag = "runs",
    params(("project_id" = uuid::Uuid, Path, description = "The project")),
    request_body = CreateRunBody,
    responses(
        (status = 202, description = "A new run was queued", body = RunCreated),
        (status = 200, description = "The run created earlier with this client_request_id", body = RunCreated),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs the researcher role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The client_request_id was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (unknown or disabled sources, options out of range)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, project.id = %project_id, run.id = tracing::field::Empty), err(level = "debug"))]
pub async fn create_run(
    State(state): State<AppState>,
    Researcher(identity): Researcher,
    PathId(project_id): PathId<ProjectId>,
    JsonBody(body): JsonBody<CreateRunBody>,
) -> Result<(StatusCode, Json<RunCreated>), ApiError> {
    let new_run = validation::new_run(project_id, body, &state.config.enabled_sources)?;
    let outcome = state
        .store
        .create_run(identity.tenant_id, new_run, state.config.max_attempts)
        .await?;
    Ok(match outcome {
        CreateRunOutcome::Created(run_id) => {
            tracing::Span::current().record("run.id", tracing::field::display(run_id));
            tracing::info!(run.id = %run_id, "run created");
            (
                StatusCode::ACCEPTED,
                Json(RunCreated {
                    run_id,
                    status: RunStatus::Queued,
                }),
            )
        }
        CreateRunOutcome::Existing(run_id, status) => {
            tracing::Span::current().record("run.id", tracing::field::display(run_id));
            (StatusCode::OK, Json(RunCreated { run_id, status }))
        }
    })
}

/// Lists a project's runs, newest first.
#[utoipa::path(
    get,
    path = "/projects/{project_id}/runs",
    tag = "runs",
    params(("project_id" = uuid::Uuid, Path, description = "The project"), PageQuery),
    responses(
        (status = 200, description = "One page of runs", body = Page<Run>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown project", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, project.id = %project_id), err(level = "debug"))]
pub async fn list_runs(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(project_id): PathId<ProjectId>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<Run>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_runs(identity.tenant_id, project_id, &query.into_page()?)
            .await?,
    ))
}

/// Reads a run with its artifacts.
#[utoipa::path(
    get,
    path = "/runs/{run_id}",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<RunDetail>, ApiError> {
    Ok(Json(
        views::run_detail(&state, identity.tenant_id, run_id).await?,
    ))
}

/// The light status poll.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/status",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The run's status", body = RunStatusView),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run_status(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<RunStatusView>, ApiError> {
    Ok(Json(
        state
            .store
            .get_run(identity.tenant_id, run_id)
            .await?
            .into(),
    ))
}

/// The report as Markdown, once the run succeeded.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/output",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The report", body = RunOutput),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not finished yet, or failed / canceled (the detail says why)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run_output(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<RunOutput>, ApiError> {
    Ok(Json(
        views::run_output(&state, identity.tenant_id, run_id).await?,
    ))
}

/// The context bundle that produced the report.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/context",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The context bundle", body = RunContext),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not finished yet, or finished without one", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run_context(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<RunContext>, ApiError> {
    Ok(Json(
        views::run_context(&state, identity.tenant_id, run_id).await?,
    ))
}

/// The run's sources with their snapshots and snippets.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/evidence",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The evidence", body = Items<EvidenceRecord>),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run_evidence(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<Items<EvidenceRecord>>, ApiError> {
    Ok(Json(Items {
        items: state
            .store
            .list_evidence(identity.tenant_id, run_id)
            .await?,
    }))
}

/// The claim map.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/claims",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The claim map", body = Items<Claim>),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_run_claims(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<Items<Claim>>, ApiError> {
    Ok(Json(Items {
        items: state.store.list_claims(identity.tenant_id, run_id).await?,
    }))
}

/// Cancels a run: queued runs end at once, running ones at the worker's next checkpoint; terminal runs
/// are left unchanged.
#[utoipa::path(
    post,
    path = "/runs/{run_id}/cancel",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The run after the request", body = Run),
        (status = 403, description = "Needs the researcher role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn cancel_run(
    State(state): State<AppState>,
    Researcher(identity): Researcher,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(
        state.store.cancel_run(identity.tenant_id, run_id).await?,
    ))
}

/// Queues a failed or blocked run again; completed stages are not redone.
#[utoipa::path(
    post,
    path = "/runs/{run_id}/retry",
    tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The re-queued run", body = Run),
        (status = 403, description = "Needs the researcher role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is neither failed nor blocked, or was started by another process in its own queue lane (`researchops research`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn retry_run(
    State(state): State<AppState>,
    Researcher(identity): Researcher,
    PathId(run_id): PathId<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(
        state
            .store
            .retry_run(
                identity.tenant_id,
                run_id,
                state.config.max_attempts,
                &Lane::default(),
            )
            .await?,
    ))
}
