//! The OpenAPI 3.1 document's frame: title, description, tags and shared schemas. Paths and their
//! schemas are collected from the handlers' `#[utoipa::path]` annotations by the route table in
//! `lib.rs`; [`crate::openapi`] returns the finished document.

use crate::error::Problem;
use utoipa::OpenApi;

/// The document's static part.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ResearchOps Studio API",
        description = "Research runs executed by workers through a durable queue and streamed live over SSE.\n\n\
            Errors are `application/problem+json` (`type`, `title`, `status`, `detail`, `request_id`, optional \
            `errors`). Every response carries `X-Request-ID`. Unknown ids and other tenants' ids are 404.\n\n\
            Authentication: in local development (`DEV_BYPASS_AUTH=true`) the identity comes from the \
            `X-Dev-User-Id`, `X-Dev-Tenant-Id` and `X-Dev-Roles` headers; otherwise protected routes answer 401.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "projects", description = "Named groups of runs"),
        (name = "runs", description = "Research runs and their results"),
        (name = "events", description = "A run's event log, as JSON or a live SSE stream"),
        (name = "artifacts", description = "Files a run produced"),
    )
)]
pub struct ApiDoc;
