//! The SQL that carries out `researchops_core::decide`: reading a run inside a write transaction,
//! ending it, inserting a job. `runs` (the API's changes), `queue` (rescue) and `execution` (the
//! worker's fenced writes) all use these; this module uses none of them, so dependencies go one way.

use crate::rows::{self, RUN_COLUMNS, db_err, insert_event, now_ms, to_json};
use researchops_core::decide::end_decision;
use researchops_core::{
    EventNotice, FailureCode, JobId, NewJob, Run, RunId, RunStatus, Stage, StoreError, TenantId,
};
use sqlx::SqliteConnection;

/// One run of the tenant, inside the caller's transaction.
pub(crate) async fn get_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: RunId,
) -> Result<Run, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ? AND tenant_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::run(&row)
}

/// Moves a run to a terminal `to` state with its events, as [`end_decision`] decides; `stage` is the
/// stage the events name. Guarded on the run's status as read. The caller commits.
pub(crate) async fn end_run(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    run: &Run,
    to: RunStatus,
    failure: Option<(FailureCode, &str)>,
    stage: Option<Stage>,
) -> Result<EventNotice, StoreError> {
    let ending = end_decision(run, to, failure, stage)?;
    let updated = sqlx::query(
        "UPDATE runs SET status = ?, finished_at = ?, finish_reason = ?, error_code = ?, failure_reason = ? \
         WHERE id = ? AND tenant_id = ? AND status = ?",
    )
    .bind(ending.to.as_str())
    .bind(now_ms())
    .bind(ending.finish_reason)
    .bind(ending.failure.as_ref().map(|f| f.0.as_str()))
    .bind(ending.failure.as_ref().map(|f| f.1.as_str()))
    .bind(run.id.to_string())
    .bind(tenant.to_string())
    .bind(run.status.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict("the run changed concurrently".into()));
    }
    let mut last = None;
    for event in &ending.events {
        last = Some(insert_event(conn, tenant, run.id, event).await?);
    }
    last.ok_or_else(|| StoreError::Internal("an ending without events".into()))
}

/// Inserts one queued job inside the caller's transaction (the tenant must exist).
pub(crate) async fn insert_job(
    conn: &mut SqliteConnection,
    job: &NewJob,
    now: i64,
) -> Result<JobId, StoreError> {
    let id = JobId::new();
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, kind, run_id, payload, status, attempts, max_attempts, run_after, \
         created_at, updated_at, lane) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(job.tenant_id.to_string())
    .bind(job.kind.as_str())
    .bind(job.run_id.map(|r| r.to_string()))
    .bind(to_json(&job.payload)?)
    .bind(job.attempt_limit())
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(job.lane.as_str())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(id)
}
