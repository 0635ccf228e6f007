//! Runs as the API sees them: idempotent creation (run, events, job and project activity in one
//! statement), reads, cancel, retry and the event log. Every transaction here that writes events
//! holds the run row lock ([`crate::rows::lock_run`]) from before the first event until commit.

use crate::PgStore;
use crate::notify::Hints;
use crate::rows::{
    self, EVENT_COLUMNS, RUN_COLUMNS, RunLock, db_err, insert_event, lock_run, parse, reread,
    to_json,
};
use crate::transitions::{end_run, insert_job};
use researchops_core::decide::{
    CancelOutcome, cancel_decision, repeated_request, request_fingerprint, retry_decision,
};
use researchops_core::{
    CreateRunOutcome, EventId, EventNotice, JobId, Lane, NewEvent, NewJob, NewRun, Page,
    PageRequest, ProjectId, Run, RunEvent, RunId, RunStatus, StoreError, TenantId,
};
use sqlx::PgConnection;
use sqlx::types::Json;

/// Run creation in one statement (so one round trip and an implicit transaction): the run is
/// inserted only if the project exists in the tenant and the idempotency key is free; its two
/// events (in order), its job and the project's activity follow only if it was, and the
/// notifications are queued for commit. No row back: the key is taken or the project is unknown.
/// A concurrent creation with the same key waits on the unique index, then inserts nothing.
const CREATE_RUN: &str = "\
WITH new_run AS ( \
    INSERT INTO runs (id, tenant_id, project_id, question, sources, options, status, created_at, \
                      queued_at, client_request_id, request_fingerprint, lane) \
    SELECT $1, $2, $3, $4, $5, $6, 'queued', now(), now(), $7, $8, $17 \
    WHERE EXISTS (SELECT 1 FROM projects WHERE id = $3 AND tenant_id = $2) \
    ON CONFLICT (tenant_id, client_request_id) WHERE client_request_id IS NOT NULL DO NOTHING \
    RETURNING id, tenant_id, project_id \
), events AS ( \
    INSERT INTO run_events (tenant_id, run_id, ts, level, stage, event_type, message, payload) \
    SELECT r.tenant_id, r.id, now(), e.level, NULL, e.event_type, e.message, e.payload \
    FROM new_run r CROSS JOIN unnest($9::text[], $10::text[], $11::text[], $12::jsonb[]) \
        WITH ORDINALITY AS e (event_type, level, message, payload, ord) \
    ORDER BY e.ord \
    RETURNING id \
), job AS ( \
    INSERT INTO jobs (id, tenant_id, kind, run_id, payload, status, attempts, max_attempts, run_after, \
                      created_at, updated_at, lane) \
    SELECT $13, r.tenant_id, $14, r.id, $15, 'queued', 0, $16, now(), now(), now(), $17 FROM new_run r \
), activity AS ( \
    UPDATE projects SET last_activity_at = now() WHERE id = (SELECT project_id FROM new_run) \
), last_event AS (SELECT max(id) AS id FROM events) \
SELECT r.id, l.id AS last_event_id, \
       pg_notify('researchops_events', r.id::text || ':' || l.id::text) AS notified_events, \
       pg_notify('researchops_jobs', '') AS notified_jobs \
FROM new_run r, last_event l";

pub(crate) async fn create(
    store: &PgStore,
    tenant: TenantId,
    run: NewRun,
    max_attempts: i32,
) -> Result<CreateRunOutcome, StoreError> {
    let id = RunId::new();
    let fingerprint = request_fingerprint(&run);
    let events = [
        NewEvent::run_created(&run.question, &run.sources),
        NewEvent::run_queued(),
    ];
    let job = NewJob::for_run(tenant, id, max_attempts, run.lane.clone());
    let row = sqlx::query(CREATE_RUN)
        .bind(id.0)
        .bind(tenant.0)
        .bind(run.project_id.0)
        .bind(&run.question)
        .bind(to_json(&run.sources)?)
        .bind(to_json(&run.options)?)
        .bind(&run.client_request_id)
        .bind(&fingerprint)
        .bind(
            events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.level.as_str()).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| Json(&e.payload)).collect::<Vec<_>>())
        .bind(JobId::new().0)
        .bind(job.kind.as_str())
        .bind(&job.payload)
        .bind(job.attempt_limit())
        .bind(job.lane.as_str())
        .fetch_optional(&store.pool)
        .await
        .map_err(|e| {
            // The project was deleted between the existence check and the insert.
            if rows::is_fk_violation(&e) {
                StoreError::NotFound
            } else {
                db_err(e)
            }
        })?;
    if let Some(row) = row {
        let last_event_id: EventId = rows::get(&row, "last_event_id")?;
        let mut hints = Hints::with_event(EventNotice {
            run_id: id,
            last_event_id,
        });
        hints.jobs();
        hints.publish(&store.hub, &store.wakeup);
        return Ok(CreateRunOutcome::Created(id));
    }
    let Some(key) = &run.client_request_id else {
        return Err(StoreError::NotFound);
    };
    let existing: Option<(uuid::Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT id, status, request_fingerprint FROM runs WHERE tenant_id = $1 AND client_request_id = $2",
    )
    .bind(tenant.0)
    .bind(key)
    .fetch_optional(&store.pool)
    .await
    .map_err(db_err)?;
    let Some((found, status, stored)) = existing else {
        return Err(StoreError::NotFound);
    };
    repeated_request(stored.as_deref(), &fingerprint)?;
    Ok(CreateRunOutcome::Existing(
        found.into(),
        parse(&status, "run status")?,
    ))
}

pub(crate) async fn get(store: &PgStore, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND tenant_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::run(&row)
}

pub(crate) async fn list(
    store: &PgStore,
    tenant: TenantId,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Run>, StoreError> {
    crate::projects::get(store, tenant, project).await?;
    let (after_ms, after_id) = rows::keyset_start(page)?;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND project_id = $2 \
         AND (created_ms, id) < ($3, $4) ORDER BY created_ms DESC, id DESC LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(project.0)
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&store.pool)
        .await
        .map_err(db_err)?;
    let items = rows.iter().map(rows::run).collect::<Result<Vec<_>, _>>()?;
    Ok(rows::keyset_page(items, page, |r| (r.created_at, r.id.0)))
}

/// Locks the run's job rows (in id order), then the run row: the lock order of every fenced method
/// (job, then run), so cancel and retry never deadlock with a worker. Returns the jobs' statuses.
async fn lock_jobs_then_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: RunId,
) -> Result<(Vec<String>, RunLock), StoreError> {
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT j.status FROM jobs j JOIN runs r ON r.id = j.run_id \
         WHERE j.run_id = $1 AND r.tenant_id = $2 ORDER BY j.id FOR UPDATE OF j",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let lock = lock_run(conn, tenant, id).await?;
    Ok((statuses, lock))
}

pub(crate) async fn cancel(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Run, StoreError> {
    let mut tx = store.begin().await?;
    let (jobs, lock) = lock_jobs_then_run(&mut tx, tenant, id).await?;
    let run = &lock.run;
    // A running run whose job waits in the queue (backing off) has no worker to notice: end it now.
    let job_waiting = jobs.iter().any(|s| s == "queued");
    let mut hints = Hints::default();
    match cancel_decision(run, job_waiting) {
        CancelOutcome::EndNow => {
            sqlx::query("DELETE FROM jobs WHERE run_id = $1 AND status = 'queued'")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let stage = run.current_stage;
            hints.event(end_run(&mut tx, &lock, RunStatus::Canceled, None, stage).await?);
        }
        CancelOutcome::Request => {
            sqlx::query("UPDATE runs SET cancel_requested_at = now() WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let event = NewEvent::cancel_requested(run.current_stage);
            hints.event(insert_event(&mut tx, &lock, &event).await?);
        }
        CancelOutcome::Unchanged => {}
    }
    let run = reread(&mut tx, &lock).await?;
    store.commit(tx, hints).await?;
    Ok(run)
}

pub(crate) async fn retry(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
    max_attempts: i32,
    retrier: &Lane,
) -> Result<Run, StoreError> {
    let mut tx = store.begin().await?;
    let (_, lock) = lock_jobs_then_run(&mut tx, tenant, id).await?;
    let run = &lock.run;
    let lane: String = sqlx::query_scalar("SELECT lane FROM runs WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let lane = Lane::new(&lane).map_err(StoreError::Internal)?;
    let event = match retry_decision(run, &lane, retrier) {
        Ok(event) => event,
        Err(refused) => return store.refuse(tx, refused).await,
    };
    sqlx::query(
        "UPDATE runs SET status = 'queued', retry_count = retry_count + 1, failure_reason = NULL, \
         error_code = NULL, finish_reason = NULL, finished_at = NULL, cancel_requested_at = NULL, \
         queued_at = now() WHERE id = $1 AND status = $2",
    )
    .bind(id.0)
    .bind(run.status.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query("DELETE FROM jobs WHERE run_id = $1")
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let job = NewJob::for_run(tenant, id, max_attempts, lane);
    insert_job(&mut tx, &job).await?;
    let mut hints = Hints::with_event(insert_event(&mut tx, &lock, &event).await?);
    hints.jobs();
    let run = reread(&mut tx, &lock).await?;
    store.commit(tx, hints).await?;
    Ok(run)
}

pub(crate) async fn list_events(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
    after: Option<EventId>,
    limit: u32,
) -> Result<Vec<RunEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM run_events WHERE run_id = $1 AND tenant_id = $2 AND id > $3 \
         ORDER BY id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(tenant.0)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(db_err)?;
    if rows.is_empty() {
        // Distinguish "no events" from "no such run" (another tenant's run is NotFound).
        get(store, tenant, id).await?;
    }
    rows.iter().map(rows::event).collect()
}

/// The run's tenant-scoped existence, for reads of its child rows.
pub(crate) async fn ensure_visible(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
) -> Result<(), StoreError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM runs WHERE id = $1 AND tenant_id = $2")
            .bind(id.0)
            .bind(tenant.0)
            .fetch_optional(&store.pool)
            .await
            .map_err(db_err)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}
