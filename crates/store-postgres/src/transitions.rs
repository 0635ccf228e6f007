//! The SQL that carries out `researchops_core::decide`: ending a locked run, inserting a job.
//! `runs` (the API's changes), `queue` (rescue) and `execution` (the worker's fenced writes) all use
//! these; this module uses none of them, so dependencies go one way.

use crate::rows::{self, RunLock, db_err};
use researchops_core::decide::end_decision;
use researchops_core::{EventNotice, FailureCode, JobId, NewJob, RunStatus, Stage, StoreError};
use sqlx::PgConnection;

/// Moves the locked run to a terminal `to` state with its events, as [`end_decision`] decides;
/// `stage` is the stage the events name. The caller commits.
pub(crate) async fn end_run(
    conn: &mut PgConnection,
    lock: &RunLock,
    to: RunStatus,
    failure: Option<(FailureCode, &str)>,
    stage: Option<Stage>,
) -> Result<EventNotice, StoreError> {
    let run = &lock.run;
    let ending = end_decision(run, to, failure, stage)?;
    let updated = sqlx::query(
        "UPDATE runs SET status = $1, finished_at = now(), finish_reason = $2, error_code = $3, \
         failure_reason = $4 WHERE id = $5 AND status = $6",
    )
    .bind(ending.to.as_str())
    .bind(ending.finish_reason)
    .bind(ending.failure.as_ref().map(|f| f.0.as_str()))
    .bind(ending.failure.as_ref().map(|f| f.1.as_str()))
    .bind(run.id.0)
    .bind(run.status.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict("the run changed concurrently".into()));
    }
    rows::insert_events(conn, lock, &ending.events)
        .await?
        .ok_or_else(|| StoreError::Internal("the event insert returned no id".into()))
}

/// Inserts one queued job inside the caller's transaction (the tenant must exist).
pub(crate) async fn insert_job(conn: &mut PgConnection, job: &NewJob) -> Result<JobId, StoreError> {
    let id = JobId::new();
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, kind, run_id, payload, status, attempts, max_attempts, run_after, \
         created_at, updated_at, lane) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, now(), now(), now(), $7)",
    )
    .bind(id.0)
    .bind(job.tenant_id.0)
    .bind(job.kind.as_str())
    .bind(job.run_id.map(|r| r.0))
    .bind(&job.payload)
    .bind(job.attempt_limit())
    .bind(job.lane.as_str())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(id)
}
