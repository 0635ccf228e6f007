//! Liveness and readiness probes. `/healthz` and `/health` never touch the database; `/readyz` asks the
//! store whether it answers (and its migrations are applied).

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use researchops_core::ErrorCode;
use serde::Serialize;

/// A probe's answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok` (alive) or `ready`.
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".to_owned(),
    })
}

/// Liveness (alias of `/healthz`).
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive", body = HealthStatus)))]
pub async fn health() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".to_owned(),
    })
}

/// Readiness: the database answers and its migrations are applied.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "The database is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(ErrorCode::NotReady, "The database is not ready.")
    })?;
    Ok(Json(HealthStatus {
        status: "ready".to_owned(),
    }))
}
