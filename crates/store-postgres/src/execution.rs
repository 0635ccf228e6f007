//! Run execution under a lease. Every function first locks the job row and checks, inside its
//! transaction, that the job's lease token is still current — the fence that keeps a worker who lost
//! its lease from committing anything — then locks the run row (always in that order) and writes the
//! run's rows, its events and their notifications together.

use crate::PgStore;
use crate::evidence;
use crate::notify::Hints;
use crate::rows::{self, RunLock, db_err, insert_event, lock_run, parse, reread};
use crate::transitions::end_run;
use chrono::{DateTime, Utc};
use researchops_core::{
    Lease, NewEvent, Run, RunEnd, RunId, RunStart, RunStatus, Stage, StageCommit, StageGate,
    StoreError, TenantId,
};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The fence: the job must still be leased with this token. Locks the job row until commit (so a
/// concurrent rescue waits for this transaction, or this one sees the rescue and stops), then locks
/// the run row.
async fn fence(conn: &mut PgConnection, lease: Lease, run: RunId) -> Result<RunLock, StoreError> {
    let row: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT tenant_id, run_id FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running' \
         FOR UPDATE",
    )
    .bind(lease.job_id.0)
    .bind(lease.token)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let tenant: TenantId = match row {
        Some((tenant, Some(job_run))) if job_run == run.0 => tenant.into(),
        Some(_) => {
            return Err(StoreError::Internal(format!(
                "job {} does not execute run {run}",
                lease.job_id
            )));
        }
        None => return Err(StoreError::LeaseLost),
    };
    lock_run(conn, tenant, run).await
}

pub(crate) async fn load_outputs(
    conn: &mut PgConnection,
    run: RunId,
) -> Result<BTreeMap<Stage, serde_json::Value>, StoreError> {
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT stage, output FROM stage_outputs WHERE run_id = $1")
            .bind(run.0)
            .fetch_all(conn)
            .await
            .map_err(db_err)?;
    rows.into_iter()
        .map(|(stage, output)| Ok((parse(&stage, "stage")?, output)))
        .collect()
}

pub(crate) async fn start_run(
    store: &PgStore,
    lease: Lease,
    id: RunId,
) -> Result<RunStart, StoreError> {
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    let mut hints = Hints::default();
    match lock.run.status {
        RunStatus::Queued => {
            sqlx::query(
                "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, now()), \
                 attempt = attempt + 1 WHERE id = $1 AND status = 'queued'",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let event = NewEvent::run_started(lock.run.checkpoint);
            hints.event(insert_event(&mut tx, &lock, &event).await?);
        }
        RunStatus::Running => {
            // Resumed after a lost lease or a backed-off retryable error: the rescue or the deferral
            // already logged a warn event; only the attempt grows.
            sqlx::query("UPDATE runs SET attempt = attempt + 1 WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        other => {
            let refused = StoreError::Conflict(format!("the run is {other}; nothing to execute"));
            return store.refuse(tx, refused).await;
        }
    }
    let run = reread(&mut tx, &lock).await?;
    let outputs = load_outputs(&mut tx, id).await?;
    store.commit(tx, hints).await?;
    Ok(RunStart { run, outputs })
}

pub(crate) async fn begin_stage(
    store: &PgStore,
    lease: Lease,
    id: RunId,
    stage: Stage,
) -> Result<StageGate, StoreError> {
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    if lock.run.cancel_requested_at.is_some() {
        // Nothing to write: release the locks now, the worker's next call ends the run.
        tx.rollback().await.map_err(db_err)?;
        return Ok(StageGate::CancelRequested);
    }
    sqlx::query("UPDATE runs SET current_stage = $1 WHERE id = $2")
        .bind(stage.as_str())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let event = NewEvent::stage_started(stage);
    let hints = Hints::with_event(insert_event(&mut tx, &lock, &event).await?);
    store.commit(tx, hints).await?;
    Ok(StageGate::Proceed)
}

pub(crate) async fn append_events(
    store: &PgStore,
    lease: Lease,
    id: RunId,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    let mut hints = Hints::default();
    hints.maybe_event(rows::insert_events(&mut tx, &lock, events).await?);
    store.commit(tx, hints).await
}

pub(crate) async fn finish_stage(
    store: &PgStore,
    lease: Lease,
    id: RunId,
    stage: Stage,
    commit: StageCommit,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    evidence::insert(&mut tx, lock.tenant, id, &commit).await?;
    sqlx::query(
        "INSERT INTO stage_outputs (run_id, stage, tenant_id, output, created_at) \
         VALUES ($1, $2, $3, $4, now())",
    )
    .bind(id.0)
    .bind(stage.as_str())
    .bind(lock.tenant.0)
    .bind(&commit.output)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let payload = commit.finish_payload();
    let usage = serde_json::Value::Object(commit.usage);
    // A JSON merge patch of the counters: new keys are added, existing ones replaced, nulls removed.
    sqlx::query(
        "UPDATE runs SET checkpoint = $1, usage = (usage || $2::jsonb) \
           - ARRAY(SELECT key FROM jsonb_each($2::jsonb) WHERE jsonb_typeof(value) = 'null') \
         WHERE id = $3",
    )
    .bind(stage.as_str())
    .bind(&usage)
    .bind(id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let event = NewEvent::stage_finished(stage, &commit.message, payload);
    let hints = Hints::with_event(insert_event(&mut tx, &lock, &event).await?);
    store.commit(tx, hints).await
}

pub(crate) async fn finish_run(
    store: &PgStore,
    lease: Lease,
    id: RunId,
    end: RunEnd,
) -> Result<Run, StoreError> {
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    let stage = lock.run.current_stage;
    let ended = match &end {
        RunEnd::Succeeded => end_run(&mut tx, &lock, RunStatus::Succeeded, None, stage).await,
        RunEnd::Canceled => end_run(&mut tx, &lock, RunStatus::Canceled, None, stage).await,
        RunEnd::Failed {
            code,
            reason,
            stage: failed_in,
        } => {
            let error = Some((*code, reason.as_str()));
            let stage = failed_in.or(stage);
            end_run(&mut tx, &lock, RunStatus::Failed, error, stage).await
        }
    };
    let notice = match ended {
        Ok(notice) => notice,
        Err(refused) => return store.refuse(tx, refused).await,
    };
    sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(lease.job_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let run = reread(&mut tx, &lock).await?;
    store.commit(tx, Hints::with_event(notice)).await?;
    Ok(run)
}

pub(crate) async fn defer_run(
    store: &PgStore,
    lease: Lease,
    id: RunId,
    run_after: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let lock = fence(&mut tx, lease, id).await?;
    sqlx::query(
        "UPDATE jobs SET status = 'queued', run_after = $1, lease_token = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, last_error = $2, updated_at = now() WHERE id = $3",
    )
    .bind(run_after)
    .bind(reason)
    .bind(lease.job_id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let wait = (run_after - Utc::now()).num_milliseconds();
    let event = NewEvent::retry_scheduled(run_after, wait, reason);
    let mut hints = Hints::with_event(insert_event(&mut tx, &lock, &event).await?);
    hints.jobs();
    store.commit(tx, hints).await
}
