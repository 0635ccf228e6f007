//! `/projects`: create, list, read, patch and delete a tenant's projects.

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::identity::{Admin, Researcher, Viewer};
use crate::routes::PageQuery;
use crate::state::AppState;
use crate::validation::{self, CreateProjectBody, PatchProjectBody};
use axum::Json;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use researchops_core::{Page, Project, ProjectId};

/// Creates a project.
#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    request_body = CreateProjectBody,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs the researcher role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id), err(level = "debug"))]
pub async fn create_project(
    State(state): State<AppState>,
    Researcher(identity): Researcher,
    JsonBody(body): JsonBody<CreateProjectBody>,
) -> Result<Response, ApiError> {
    let project = state
        .store
        .create_project(identity.tenant_id, validation::new_project(body)?)
        .await?;
    let location = HeaderValue::from_str(&format!("/projects/{}", project.id)).ok();
    let mut response = (StatusCode::CREATED, Json(project)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// Lists projects, most recent activity first.
#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of projects", body = Page<Project>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id), err(level = "debug"))]
pub async fn list_projects(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<Project>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_projects(identity.tenant_id, &query.into_page()?)
            .await?,
    ))
}

/// Reads a project.
#[utoipa::path(
    get,
    path = "/projects/{project_id}",
    tag = "projects",
    params(("project_id" = uuid::Uuid, Path, description = "The project")),
    responses(
        (status = 200, description = "The project", body = Project),
        (status = 404, description = "Unknown project", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, project.id = %project_id), err(level = "debug"))]
pub async fn get_project(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(project_id): PathId<ProjectId>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(
        state
            .store
            .get_project(identity.tenant_id, project_id)
            .await?,
    ))
}

/// Renames a project or changes its description (`null` clears it).
#[utoipa::path(
    patch,
    path = "/projects/{project_id}",
    tag = "projects",
    params(("project_id" = uuid::Uuid, Path, description = "The project")),
    request_body = PatchProjectBody,
    responses(
        (status = 200, description = "The updated project", body = Project),
        (status = 403, description = "Needs the researcher role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, project.id = %project_id), err(level = "debug"))]
pub async fn patch_project(
    State(state): State<AppState>,
    Researcher(identity): Researcher,
    PathId(project_id): PathId<ProjectId>,
    JsonBody(body): JsonBody<PatchProjectBody>,
) -> Result<Json<Project>, ApiError> {
    let patch = validation::project_patch(body)?;
    Ok(Json(
        state
            .store
            .update_project(identity.tenant_id, project_id, patch)
            .await?,
    ))
}

/// Deletes a project with its runs (admin or owner).
#[utoipa::path(
    delete,
    path = "/projects/{project_id}",
    tag = "projects",
    params(("project_id" = uuid::Uuid, Path, description = "The project")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "One of its runs is still active", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, project.id = %project_id), err(level = "debug"))]
pub async fn delete_project(
    State(state): State<AppState>,
    Admin(identity): Admin,
    PathId(project_id): PathId<ProjectId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_project(identity.tenant_id, project_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
