//! Runs as the API sees them: creation (idempotent, with events and job in one transaction), reads,
//! cancel, retry, events, evidence, claims and artifacts.

use crate::SqliteStore;
use crate::rows::{self, RUN_COLUMNS, db_err, insert_event, now_ms, parse, to_json};
use crate::transitions::{end_run, get_in, insert_job};
use researchops_core::decide::{
    CancelOutcome, cancel_decision, repeated_request, request_fingerprint, retry_decision,
};
use researchops_core::{
    Artifact, ArtifactId, Claim, CreateRunOutcome, EventId, EventNotice, EvidenceRecord, JobId,
    Lane, NewEvent, NewJob, NewRun, Page, PageRequest, ProjectId, Run, RunEvent, RunId, RunStatus,
    Snapshot, Snippet, Source, StoreError, TenantId, Verdict,
};
use sqlx::{Row, SqliteConnection, SqlitePool};

/// All of run creation in one call to the database (each call is a hand-off to SQLite's thread, and
/// this is the hot path). The run is inserted only if the project exists in the tenant and the
/// idempotency key is free; its events, its job and the project's activity follow only if it was.
/// The last statement reports what happened: the new run, the run holding the key, or nothing.
/// Every statement binds all parameters through the same `p` row (sqlx needs them dense).
static CREATE_RUN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let p = "WITH p AS (SELECT ?1 AS run, ?2 AS tenant, ?3 AS project, ?4 AS question, ?5 AS sources, \
             ?6 AS options, ?7 AS now, ?8 AS request, ?9 AS fingerprint, ?10 AS job, ?11 AS kind, \
             ?12 AS payload, ?13 AS attempts, ?14 AS lane, \
             ?15 AS e1_type, ?16 AS e1_level, ?17 AS e1_message, ?18 AS e1_payload, \
             ?19 AS e2_type, ?20 AS e2_level, ?21 AS e2_message, ?22 AS e2_payload) ";
    let new_run = "EXISTS (SELECT 1 FROM runs WHERE id = p.run)";
    // `run.created` (e1), then `run.queued` (e2).
    let event = |e: &str| {
        format!(
            "{p}INSERT INTO run_events (tenant_id, run_id, ts, level, stage, event_type, message, payload) \
             SELECT tenant, run, now, {e}_level, NULL, {e}_type, {e}_message, {e}_payload FROM p WHERE {new_run}"
        )
    };
    [
        format!("{p}INSERT INTO runs (id, tenant_id, project_id, question, sources, options, status, created_at, \
            queued_at, usage, client_request_id, request_fingerprint, lane) \
            SELECT run, tenant, project, question, sources, options, 'queued', now, now, '{{}}', request, fingerprint, lane \
            FROM p WHERE EXISTS (SELECT 1 FROM projects WHERE id = p.project AND tenant_id = p.tenant) \
            ON CONFLICT DO NOTHING"),
        event("e1"),
        event("e2"),
        format!("{p}INSERT INTO jobs (id, tenant_id, kind, run_id, payload, status, attempts, max_attempts, run_after, \
            created_at, updated_at, lane) SELECT job, tenant, kind, run, payload, 'queued', 0, attempts, now, now, now, lane \
            FROM p WHERE {new_run}"),
        format!("{p}UPDATE projects SET last_activity_at = (SELECT now FROM p) \
            WHERE id = (SELECT project FROM p) AND tenant_id = (SELECT tenant FROM p) \
            AND EXISTS (SELECT 1 FROM runs, p WHERE runs.id = p.run)"),
        format!("{p}SELECT r.id, r.status, r.request_fingerprint, \
            (SELECT MAX(e.id) FROM run_events e WHERE e.run_id = p.run) AS last_event \
            FROM runs r, p WHERE r.id = p.run OR (r.tenant_id = p.tenant AND r.client_request_id = p.request) \
            ORDER BY r.id = p.run DESC LIMIT 1"),
    ]
    .join("; ")
});

/// A validated run creation, ready to bind.
pub(crate) struct CreateRequest {
    tenant: TenantId,
    run: NewRun,
    fingerprint: String,
    events: [NewEvent; 2],
    max_attempts: i32,
}

impl CreateRequest {
    pub(crate) fn new(tenant: TenantId, run: NewRun, max_attempts: i32) -> Self {
        Self {
            tenant,
            fingerprint: request_fingerprint(&run),
            events: [
                NewEvent::run_created(&run.question, &run.sources),
                NewEvent::run_queued(),
            ],
            run,
            max_attempts,
        }
    }
}

/// Executes one creation inside the caller's write transaction. `Ok((outcome, Some(notice)))` for a
/// new run (publish the notice after commit).
pub(crate) async fn create_in(
    conn: &mut SqliteConnection,
    request: &CreateRequest,
) -> Result<(CreateRunOutcome, Option<EventNotice>), StoreError> {
    let id = RunId::new();
    let new = &request.run;
    let job = NewJob::for_run(request.tenant, id, request.max_attempts, new.lane.clone());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(CREATE_RUN.as_str()))
        .bind(id.to_string())
        .bind(request.tenant.to_string())
        .bind(new.project_id.to_string())
        .bind(&new.question)
        .bind(to_json(&new.sources)?)
        .bind(to_json(&new.options)?)
        .bind(now_ms())
        .bind(&new.client_request_id)
        .bind(&request.fingerprint)
        .bind(JobId::new().to_string())
        .bind(job.kind.as_str())
        .bind(to_json(&job.payload)?)
        .bind(job.attempt_limit())
        .bind(job.lane.as_str().to_string());
    for event in &request.events {
        query = query
            .bind(event.event_type.as_str())
            .bind(event.level.as_str())
            .bind(event.message.clone())
            .bind(to_json(&event.payload)?);
    }
    let rows = query.fetch_all(conn).await.map_err(db_err)?;
    let Some(row) = rows.last() else {
        return Err(StoreError::NotFound);
    };
    let found: RunId = parse(&row.try_get::<String, _>("id").map_err(db_err)?, "run id")?;
    if found != id {
        let stored: Option<String> = row.try_get("request_fingerprint").map_err(db_err)?;
        repeated_request(stored.as_deref(), &request.fingerprint)?;
        let status: String = row.try_get("status").map_err(db_err)?;
        return Ok((
            CreateRunOutcome::Existing(found, parse(&status, "run status")?),
            None,
        ));
    }
    let last_event: EventId = row.try_get("last_event").map_err(db_err)?;
    Ok((
        CreateRunOutcome::Created(id),
        Some(EventNotice {
            run_id: id,
            last_event_id: last_event,
        }),
    ))
}

pub(crate) async fn get(pool: &SqlitePool, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ? AND tenant_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::run(&row)
}

pub(crate) async fn list(
    store: &SqliteStore,
    tenant: TenantId,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Run>, StoreError> {
    crate::projects::get(&store.reader, tenant, project).await?;
    let (after_ms, after_id) = rows::keyset_start(page)?;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ? AND project_id = ? \
         AND (created_at < ? OR (created_at = ? AND (? = '' OR id < ?))) \
         ORDER BY created_at DESC, id DESC LIMIT ?"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(project.to_string())
        .bind(after_ms)
        .bind(after_ms)
        .bind(&after_id)
        .bind(&after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&store.reader)
        .await
        .map_err(db_err)?;
    let items = rows.iter().map(rows::run).collect::<Result<Vec<_>, _>>()?;
    Ok(rows::keyset_page(items, page, |r| {
        (r.created_at.timestamp_millis(), r.id.to_string())
    }))
}

pub(crate) async fn cancel(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Run, StoreError> {
    let mut tx = store.write().await?;
    let run = get_in(&mut tx, tenant, id).await?;
    // A running run whose job waits in the queue (backing off) has no worker to notice: end it now.
    let job_waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE run_id = ? AND status = 'queued')",
    )
    .bind(id.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    let notice = match cancel_decision(&run, job_waiting) {
        CancelOutcome::EndNow => {
            sqlx::query("DELETE FROM jobs WHERE run_id = ? AND status = 'queued'")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let stage = run.current_stage;
            Some(end_run(&mut tx, tenant, &run, RunStatus::Canceled, None, stage).await?)
        }
        CancelOutcome::Request => {
            sqlx::query("UPDATE runs SET cancel_requested_at = ? WHERE id = ? AND tenant_id = ?")
                .bind(now_ms())
                .bind(id.to_string())
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let event = NewEvent::cancel_requested(run.current_stage);
            Some(insert_event(&mut tx, tenant, id, &event).await?)
        }
        CancelOutcome::Unchanged => None,
    };
    let run = get_in(&mut tx, tenant, id).await?;
    tx.commit().await.map_err(db_err)?;
    if let Some(n) = notice {
        store.hub.publish(n);
    }
    Ok(run)
}

pub(crate) async fn retry(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
    max_attempts: i32,
    retrier: &Lane,
) -> Result<Run, StoreError> {
    let mut tx = store.write().await?;
    let run = get_in(&mut tx, tenant, id).await?;
    let lane: String = sqlx::query_scalar("SELECT lane FROM runs WHERE id = ? AND tenant_id = ?")
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let lane = Lane::new(&lane).map_err(StoreError::Internal)?;
    let event = retry_decision(&run, &lane, retrier)?;
    let now = now_ms();
    sqlx::query(
        "UPDATE runs SET status = 'queued', retry_count = retry_count + 1, failure_reason = NULL, error_code = NULL, \
         finish_reason = NULL, finished_at = NULL, cancel_requested_at = NULL, queued_at = ? \
         WHERE id = ? AND tenant_id = ? AND status = ?",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(run.status.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query("DELETE FROM jobs WHERE run_id = ?")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let job = NewJob::for_run(tenant, id, max_attempts, lane);
    insert_job(&mut tx, &job, now).await?;
    let notice = insert_event(&mut tx, tenant, id, &event).await?;
    let run = get_in(&mut tx, tenant, id).await?;
    tx.commit().await.map_err(db_err)?;
    store.hub.publish(notice);
    store.wakeup.notify();
    Ok(run)
}

pub(crate) async fn list_events(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
    after: Option<EventId>,
    limit: u32,
) -> Result<Vec<RunEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, run_id, ts, level, stage, event_type, message, payload FROM run_events \
         WHERE run_id = ? AND tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(after.unwrap_or(0))
    .bind(i64::from(limit))
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    if rows.is_empty() {
        // Distinguish "no events" from "no such run" (another tenant's run is NotFound).
        get(&store.reader, tenant, id).await?;
    }
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn list_evidence(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<EvidenceRecord>, StoreError> {
    get(&store.reader, tenant, id).await?;
    let t = tenant.to_string();
    let r = id.to_string();
    let sources = sqlx::query(
        "SELECT s.id, s.connector, s.external_id, s.title, s.authors, s.year, s.doi, s.url, s.rank, s.score, \
         s.venue, s.arxiv_id, p.id AS snapshot_id, p.sha256, p.size_bytes, p.mime_type, p.retrieved_at, \
         COALESCE(p.text_sha256, p.sha256) AS text_sha256, \
         COALESCE(p.text_size_bytes, p.size_bytes) AS text_size_bytes \
         FROM sources s JOIN snapshots p ON p.source_id = s.id \
         WHERE s.run_id = ? AND s.tenant_id = ? ORDER BY s.rank, s.id",
    )
    .bind(&r)
    .bind(&t)
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    let snippets = sqlx::query(
        "SELECT id, snapshot_id, source_id, ord, text, start_byte, end_byte FROM snippets \
         WHERE run_id = ? AND tenant_id = ? ORDER BY snapshot_id, ord",
    )
    .bind(&r)
    .bind(&t)
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    let mut by_snapshot: std::collections::HashMap<String, Vec<Snippet>> =
        std::collections::HashMap::new();
    for row in &snippets {
        let snapshot_id: String = row.try_get("snapshot_id").map_err(db_err)?;
        let snippet = Snippet {
            id: parse(
                &row.try_get::<String, _>("id").map_err(db_err)?,
                "snippet id",
            )?,
            snapshot_id: parse(&snapshot_id, "snapshot id")?,
            source_id: parse(
                &row.try_get::<String, _>("source_id").map_err(db_err)?,
                "source id",
            )?,
            ord: row.try_get("ord").map_err(db_err)?,
            text: row.try_get("text").map_err(db_err)?,
            start_byte: row.try_get("start_byte").map_err(db_err)?,
            end_byte: row.try_get("end_byte").map_err(db_err)?,
        };
        by_snapshot.entry(snapshot_id).or_default().push(snippet);
    }
    sources
        .iter()
        .map(|row| {
            let snapshot_id: String = row.try_get("snapshot_id").map_err(db_err)?;
            let source_id = parse(
                &row.try_get::<String, _>("id").map_err(db_err)?,
                "source id",
            )?;
            Ok(EvidenceRecord {
                source: Source {
                    id: source_id,
                    run_id: id,
                    connector: row.try_get("connector").map_err(db_err)?,
                    external_id: row.try_get("external_id").map_err(db_err)?,
                    title: row.try_get("title").map_err(db_err)?,
                    authors: rows::json(
                        &row.try_get::<String, _>("authors").map_err(db_err)?,
                        "authors",
                    )?,
                    year: row.try_get("year").map_err(db_err)?,
                    doi: row.try_get("doi").map_err(db_err)?,
                    url: row.try_get("url").map_err(db_err)?,
                    venue: row.try_get("venue").map_err(db_err)?,
                    arxiv_id: row.try_get("arxiv_id").map_err(db_err)?,
                    rank: row.try_get("rank").map_err(db_err)?,
                    score: row.try_get("score").map_err(db_err)?,
                },
                snapshot: Snapshot {
                    id: parse(&snapshot_id, "snapshot id")?,
                    source_id,
                    sha256: row.try_get("sha256").map_err(db_err)?,
                    size_bytes: row.try_get("size_bytes").map_err(db_err)?,
                    mime_type: row.try_get("mime_type").map_err(db_err)?,
                    retrieved_at: rows::to_dt(row.try_get("retrieved_at").map_err(db_err)?),
                    text_sha256: row.try_get("text_sha256").map_err(db_err)?,
                    text_size_bytes: row.try_get("text_size_bytes").map_err(db_err)?,
                },
                snippets: by_snapshot.remove(&snapshot_id).unwrap_or_default(),
            })
        })
        .collect()
}

pub(crate) async fn list_claims(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<Claim>, StoreError> {
    get(&store.reader, tenant, id).await?;
    let rows = sqlx::query(
        "SELECT claim_id, section, text, snippet_ids, support, verdict FROM claim_map \
         WHERE run_id = ? AND tenant_id = ? ORDER BY ord",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let verdict: String = row.try_get("verdict").map_err(db_err)?;
            Ok(Claim {
                claim_id: row.try_get("claim_id").map_err(db_err)?,
                section: row.try_get("section").map_err(db_err)?,
                text: row.try_get("text").map_err(db_err)?,
                snippet_ids: rows::json(
                    &row.try_get::<String, _>("snippet_ids").map_err(db_err)?,
                    "snippet ids",
                )?,
                support: row.try_get("support").map_err(db_err)?,
                verdict: Verdict::parse(&verdict)
                    .ok_or_else(|| StoreError::Internal(format!("corrupt verdict `{verdict}`")))?,
            })
        })
        .collect()
}

const ARTIFACT_COLUMNS: &str = "id, run_id, name, kind, mime_type, size_bytes, sha256, created_at";

fn artifact(row: &sqlx::sqlite::SqliteRow) -> Result<Artifact, StoreError> {
    Ok(Artifact {
        id: parse(
            &row.try_get::<String, _>("id").map_err(db_err)?,
            "artifact id",
        )?,
        run_id: parse(
            &row.try_get::<String, _>("run_id").map_err(db_err)?,
            "run id",
        )?,
        name: row.try_get("name").map_err(db_err)?,
        kind: row.try_get("kind").map_err(db_err)?,
        mime_type: row.try_get("mime_type").map_err(db_err)?,
        size_bytes: row.try_get("size_bytes").map_err(db_err)?,
        sha256: row.try_get("sha256").map_err(db_err)?,
        created_at: rows::to_dt(row.try_get("created_at").map_err(db_err)?),
    })
}

pub(crate) async fn list_artifacts(
    store: &SqliteStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<Artifact>, StoreError> {
    get(&store.reader, tenant, id).await?;
    let sql = format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ? AND tenant_id = ? ORDER BY name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_all(&store.reader)
        .await
        .map_err(db_err)?;
    rows.iter().map(artifact).collect()
}

pub(crate) async fn get_artifact(
    store: &SqliteStore,
    tenant: TenantId,
    run: RunId,
    id: ArtifactId,
) -> Result<Artifact, StoreError> {
    let sql = format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = ? AND run_id = ? AND tenant_id = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(run.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&store.reader)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    artifact(&row)
}
