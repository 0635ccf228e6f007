//! Run execution under a lease. Every function first checks, inside its write transaction, that the
//! job's lease token is still current — the fence that keeps a worker who lost its lease from
//! committing anything — then writes the run's rows and events together.

use crate::SqliteStore;
use crate::rows::{db_err, insert_event, now_ms, parse, to_json};
use crate::transitions::{end_run, get_in};
use chrono::{DateTime, Utc};
use researchops_core::{
    EventNotice, Lease, NewEvent, RunEnd, RunId, RunStart, RunStatus, Stage, StageCommit,
    StageGate, StoreError, TenantId,
};
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::BTreeMap;

/// The fence: the job must still be leased with this token. Returns the job's tenant.
async fn check_lease(
    conn: &mut SqliteConnection,
    lease: Lease,
    run: RunId,
) -> Result<TenantId, StoreError> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT tenant_id, run_id FROM jobs WHERE id = ? AND lease_token = ? AND status = 'running'")
            .bind(lease.job_id.to_string())
            .bind(lease.token.to_string())
            .fetch_optional(conn)
            .await
            .map_err(db_err)?;
    match row {
        Some((tenant, Some(job_run))) if job_run == run.to_string() => parse(&tenant, "tenant id"),
        Some(_) => Err(StoreError::Internal(format!(
            "job {} does not execute run {run}",
            lease.job_id
        ))),
        None => Err(StoreError::LeaseLost),
    }
}

pub(crate) async fn load_outputs(
    pool: &SqlitePool,
    run: RunId,
) -> Result<BTreeMap<Stage, serde_json::Value>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT stage, output FROM stage_outputs WHERE run_id = ?")
            .bind(run.to_string())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
    rows.iter()
        .map(|(stage, output)| {
            Ok((
                parse(stage, "stage")?,
                crate::rows::json(output, "stage output")?,
            ))
        })
        .collect()
}

pub(crate) async fn start_run(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
) -> Result<RunStart, StoreError> {
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    let run = get_in(&mut tx, tenant, id).await?;
    let now = now_ms();
    let notice = match run.status {
        RunStatus::Queued => {
            sqlx::query(
                "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?), attempt = attempt + 1 \
                 WHERE id = ? AND status = 'queued'",
            )
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let event = NewEvent::run_started(run.checkpoint);
            Some(insert_event(&mut tx, tenant, id, &event).await?)
        }
        RunStatus::Running => {
            // Resumed after a lost lease or a backed-off retryable error: the rescue or the deferral
            // already logged a warn event; only the attempt grows.
            sqlx::query("UPDATE runs SET attempt = attempt + 1 WHERE id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            None
        }
        other => {
            return Err(StoreError::Conflict(format!(
                "the run is {other}; nothing to execute"
            )));
        }
    };
    let run = get_in(&mut tx, tenant, id).await?;
    tx.commit().await.map_err(db_err)?;
    if let Some(n) = notice {
        store.hub.publish(n);
    }
    let outputs = load_outputs(&store.writer, id).await?;
    Ok(RunStart { run, outputs })
}

pub(crate) async fn begin_stage(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
    stage: Stage,
) -> Result<StageGate, StoreError> {
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    let cancel: Option<i64> =
        sqlx::query_scalar("SELECT cancel_requested_at FROM runs WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
    if cancel.is_some() {
        return Ok(StageGate::CancelRequested);
    }
    sqlx::query("UPDATE runs SET current_stage = ? WHERE id = ?")
        .bind(stage.as_str())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let notice = insert_event(&mut tx, tenant, id, &NewEvent::stage_started(stage)).await?;
    tx.commit().await.map_err(db_err)?;
    store.hub.publish(notice);
    Ok(StageGate::Proceed)
}

pub(crate) async fn append_events(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    let mut last = None;
    for event in events {
        last = Some(insert_event(&mut tx, tenant, id, event).await?);
    }
    tx.commit().await.map_err(db_err)?;
    if let Some(n) = last {
        store.hub.publish(n);
    }
    Ok(())
}

pub(crate) async fn finish_stage(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
    stage: Stage,
    commit: StageCommit,
) -> Result<(), StoreError> {
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    let t = tenant.to_string();
    let r = id.to_string();
    for record in &commit.evidence {
        let s = &record.source;
        sqlx::query(
            "INSERT INTO sources (id, tenant_id, run_id, connector, external_id, title, authors, year, doi, url, rank, score, \
             venue, arxiv_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string()).bind(&t).bind(&r).bind(&s.connector).bind(&s.external_id).bind(&s.title)
        .bind(to_json(&s.authors)?).bind(s.year).bind(&s.doi).bind(&s.url).bind(s.rank).bind(s.score)
        .bind(&s.venue).bind(&s.arxiv_id)
        .execute(&mut *tx).await.map_err(db_err)?;
        let p = &record.snapshot;
        sqlx::query(
            "INSERT INTO snapshots (id, tenant_id, source_id, sha256, size_bytes, mime_type, retrieved_at, text_sha256, \
             text_size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.id.to_string()).bind(&t).bind(s.id.to_string()).bind(&p.sha256).bind(p.size_bytes).bind(&p.mime_type)
        .bind(p.retrieved_at.timestamp_millis()).bind(&p.text_sha256).bind(p.text_size_bytes)
        .execute(&mut *tx).await.map_err(db_err)?;
        for n in &record.snippets {
            sqlx::query(
                "INSERT INTO snippets (id, tenant_id, run_id, snapshot_id, source_id, ord, text, start_byte, end_byte) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(n.id.to_string()).bind(&t).bind(&r).bind(p.id.to_string()).bind(s.id.to_string()).bind(n.ord)
            .bind(&n.text).bind(n.start_byte).bind(n.end_byte)
            .execute(&mut *tx).await.map_err(db_err)?;
        }
    }
    for (ord, c) in commit.claims.iter().enumerate() {
        sqlx::query(
            "INSERT INTO claim_map (run_id, claim_id, tenant_id, ord, section, text, snippet_ids, support, verdict) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r).bind(&c.claim_id).bind(&t).bind(ord as i64).bind(&c.section).bind(&c.text)
        .bind(to_json(&c.snippet_ids)?).bind(c.support).bind(c.verdict.as_str())
        .execute(&mut *tx).await.map_err(db_err)?;
    }
    for a in &commit.artifacts {
        sqlx::query(
            "INSERT INTO artifacts (id, tenant_id, run_id, name, kind, mime_type, size_bytes, sha256, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.id.to_string()).bind(&t).bind(&r).bind(&a.name).bind(&a.kind).bind(&a.mime_type).bind(a.size_bytes)
        .bind(&a.sha256).bind(a.created_at.timestamp_millis())
        .execute(&mut *tx).await.map_err(db_err)?;
    }
    sqlx::query("INSERT INTO stage_outputs (run_id, stage, tenant_id, output, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&r).bind(stage.as_str()).bind(&t).bind(to_json(&commit.output)?).bind(now_ms())
        .execute(&mut *tx).await.map_err(db_err)?;
    sqlx::query("UPDATE runs SET checkpoint = ?, usage = json_patch(usage, ?) WHERE id = ?")
        .bind(stage.as_str())
        .bind(to_json(&commit.usage)?)
        .bind(&r)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let event = NewEvent::stage_finished(stage, &commit.message, commit.finish_payload());
    let notice = insert_event(&mut tx, tenant, id, &event).await?;
    tx.commit().await.map_err(db_err)?;
    store.hub.publish(notice);
    Ok(())
}

pub(crate) async fn finish_run(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
    end: RunEnd,
) -> Result<researchops_core::Run, StoreError> {
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    let run = get_in(&mut tx, tenant, id).await?;
    let stage = run.current_stage;
    let notice: EventNotice = match &end {
        RunEnd::Succeeded => {
            end_run(&mut tx, tenant, &run, RunStatus::Succeeded, None, stage).await?
        }
        RunEnd::Canceled => {
            end_run(&mut tx, tenant, &run, RunStatus::Canceled, None, stage).await?
        }
        RunEnd::Failed {
            code,
            reason,
            stage: failed_in,
        } => {
            let failure = Some((*code, reason.as_str()));
            let stage = failed_in.or(stage);
            end_run(&mut tx, tenant, &run, RunStatus::Failed, failure, stage).await?
        }
    };
    sqlx::query("DELETE FROM jobs WHERE id = ?")
        .bind(lease.job_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let run = get_in(&mut tx, tenant, id).await?;
    tx.commit().await.map_err(db_err)?;
    store.hub.publish(notice);
    Ok(run)
}

pub(crate) async fn defer_run(
    store: &SqliteStore,
    lease: Lease,
    id: RunId,
    run_after: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    let mut tx = store.write().await?;
    let tenant = check_lease(&mut tx, lease, id).await?;
    sqlx::query(
        "UPDATE jobs SET status = 'queued', run_after = ?, lease_token = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, last_error = ?, updated_at = ? WHERE id = ?",
    )
    .bind(run_after.timestamp_millis())
    .bind(reason)
    .bind(now_ms())
    .bind(lease.job_id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let wait = run_after.timestamp_millis() - now_ms();
    let event = NewEvent::retry_scheduled(run_after, wait, reason);
    let notice = insert_event(&mut tx, tenant, id, &event).await?;
    tx.commit().await.map_err(db_err)?;
    store.hub.publish(notice);
    Ok(())
}
