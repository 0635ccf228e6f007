//! Row decoding and the helpers every module shares: error mapping, JSON, keyset cursors, the run-row
//! lock ([`lock_run`] / [`RunLock`]) and event insertion under it.
//!
//! It owns no business rules: which transitions are allowed comes from `researchops-core`.

use chrono::{DateTime, Utc};
use researchops_core::{
    EventId, EventLevel, EventNotice, EventType, NewEvent, Page, PageRequest, Project, Run,
    RunEvent, RunId, Stage, StoreError, TenantId,
};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::str::FromStr;

/// Maps a driver error. Outages and contention a retry can overcome are `Unavailable`: pool timeouts,
/// I/O, connection failures, server shutdown, serialization failures and deadlocks. The rest is
/// `Internal`. Driver messages never contain the connection URL.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if db.code().is_some_and(|c| retryable_sqlstate(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// SQLSTATEs worth retrying: connection exceptions (08), serialization failure, deadlock, lock not
/// available, too many connections, operator intervention (admin/crash shutdown, cannot connect now).
fn retryable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01" | "55P03" | "53300")
}

/// Whether an error is a foreign-key violation (a parent row vanished concurrently).
pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}

pub(crate) fn parse<T: FromStr>(value: &str, what: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Internal(format!("corrupt {what} `{value}` in database")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(value)
        .map_err(|e| StoreError::Internal(format!("corrupt {what} JSON in database: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode JSON: {e}")))
}

/// A column, with the driver error mapped.
pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(db_err)
}

fn stage_col(row: &PgRow, col: &str) -> Result<Option<Stage>, StoreError> {
    get::<Option<String>>(row, col)?
        .map(|s| parse(&s, "stage"))
        .transpose()
}

pub(crate) const PROJECT_COLUMNS: &str = "id, name, description, created_at, last_activity_at";

pub(crate) fn project(row: &PgRow) -> Result<Project, StoreError> {
    Ok(Project {
        id: get::<uuid::Uuid>(row, "id")?.into(),
        name: get(row, "name")?,
        description: get(row, "description")?,
        created_at: get(row, "created_at")?,
        last_activity_at: get(row, "last_activity_at")?,
    })
}

pub(crate) const RUN_COLUMNS: &str = "id, project_id, question, sources, options, status, current_stage, checkpoint, \
    created_at, queued_at, started_at, finished_at, cancel_requested_at, retry_count, attempt, failure_reason, \
    error_code, finish_reason, usage, client_request_id";

pub(crate) fn run(row: &PgRow) -> Result<Run, StoreError> {
    Ok(Run {
        id: get::<uuid::Uuid>(row, "id")?.into(),
        project_id: get::<uuid::Uuid>(row, "project_id")?.into(),
        question: get(row, "question")?,
        sources: from_json(get(row, "sources")?, "run sources")?,
        options: from_json(get(row, "options")?, "run options")?,
        output_type: "report".into(),
        status: parse(&get::<String>(row, "status")?, "run status")?,
        current_stage: stage_col(row, "current_stage")?,
        checkpoint: stage_col(row, "checkpoint")?,
        created_at: get(row, "created_at")?,
        queued_at: get(row, "queued_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        cancel_requested_at: get(row, "cancel_requested_at")?,
        retry_count: get(row, "retry_count")?,
        attempt: get(row, "attempt")?,
        failure_reason: get(row, "failure_reason")?,
        error_code: get(row, "error_code")?,
        finish_reason: get(row, "finish_reason")?,
        usage: get(row, "usage")?,
        client_request_id: get(row, "client_request_id")?,
    })
}

pub(crate) const EVENT_COLUMNS: &str = "id, run_id, ts, level, stage, event_type, message, payload";

pub(crate) fn event(row: &PgRow) -> Result<RunEvent, StoreError> {
    let event_type: String = get(row, "event_type")?;
    let level: String = get(row, "level")?;
    Ok(RunEvent {
        id: get(row, "id")?,
        run_id: get::<uuid::Uuid>(row, "run_id")?.into(),
        ts: get(row, "ts")?,
        level: EventLevel::parse(&level)
            .ok_or_else(|| StoreError::Internal(format!("corrupt event level `{level}`")))?,
        stage: stage_col(row, "stage")?,
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| StoreError::Internal(format!("corrupt event type `{event_type}`")))?,
        message: get(row, "message")?,
        payload: get(row, "payload")?,
    })
}

/// Proof that this transaction holds the run's row lock, which every event insert requires: event ids
/// come from one global sequence, and holding the run row from before the first insert until commit
/// means no other transaction can insert (and so commit) an event for this run in between, so within
/// a run commit order is id order and a reader resuming after id N can never miss a later commit.
pub(crate) struct RunLock {
    pub(crate) tenant: TenantId,
    pub(crate) run: Run,
}

/// Locks the run row for the rest of the transaction and reads it; `NotFound` for another tenant's run.
///
/// `FOR NO KEY UPDATE` is the lock an `UPDATE` of the row takes anyway: it excludes every other
/// event writer (they all take it) without blocking foreign-key checks of concurrent child inserts.
pub(crate) async fn lock_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: RunId,
) -> Result<RunLock, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(RunLock {
        tenant,
        run: run(&row)?,
    })
}

/// Re-reads a run inside the caller's transaction (after its own updates).
pub(crate) async fn reread(conn: &mut PgConnection, lock: &RunLock) -> Result<Run, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock.run.id.0)
        .fetch_one(conn)
        .await
        .map_err(db_err)?;
    run(&row)
}

/// Appends events under the run lock, in order; returns the notice for the last one.
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    lock: &RunLock,
    events: &[NewEvent],
) -> Result<Option<EventNotice>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let mut levels = Vec::with_capacity(events.len());
    let mut stages = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut messages = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for e in events {
        levels.push(e.level.as_str());
        stages.push(e.stage.map(|s| s.as_str()));
        types.push(e.event_type.as_str());
        messages.push(e.message.as_str());
        payloads.push(Json(&e.payload));
    }
    // `ORDER BY ord` makes the identity values follow the slice's order.
    let last: Option<EventId> = sqlx::query_scalar(
        "WITH inserted AS ( \
           INSERT INTO run_events (tenant_id, run_id, ts, level, stage, event_type, message, payload) \
           SELECT $1, $2, clock_timestamp(), e.level, e.stage, e.event_type, e.message, e.payload \
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[]) \
             WITH ORDINALITY AS e (level, stage, event_type, message, payload, ord) \
           ORDER BY e.ord RETURNING id) \
         SELECT max(id) FROM inserted",
    )
    .bind(lock.tenant.0)
    .bind(lock.run.id.0)
    .bind(levels)
    .bind(stages)
    .bind(types)
    .bind(messages)
    .bind(payloads)
    .fetch_one(conn)
    .await
    .map_err(db_err)?;
    Ok(last.map(|id| EventNotice {
        run_id: lock.run.id,
        last_event_id: id,
    }))
}

/// Appends one event under the run lock.
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    lock: &RunLock,
    event: &NewEvent,
) -> Result<EventNotice, StoreError> {
    insert_events(conn, lock, std::slice::from_ref(event))
        .await?
        .ok_or_else(|| StoreError::Internal("the event insert returned no id".into()))
}

/// Keyset pagination on (milliseconds DESC, id DESC): where to continue. Without a cursor, from the
/// top (`i64::MAX` and the largest uuid). Queries fetch `limit + 1` rows so [`keyset_page`] knows
/// whether another page exists.
pub(crate) fn keyset_start(page: &PageRequest) -> Result<(i64, uuid::Uuid), StoreError> {
    match &page.cursor {
        Some(cursor) => decode_cursor(cursor),
        None => Ok((i64::MAX, uuid::Uuid::max())),
    }
}

/// Cuts the extra row off and makes the next cursor from the last item's `(time, id)`.
pub(crate) fn keyset_page<T>(
    mut items: Vec<T>,
    page: &PageRequest,
    key: impl Fn(&T) -> (DateTime<Utc>, uuid::Uuid),
) -> Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|item| {
            let (at, id) = key(item);
            format!("{}_{id}", at.timestamp_millis())
        })
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Parses `"<ms>_<uuid>"` (the format SQLite produces too).
fn decode_cursor(cursor: &str) -> Result<(i64, uuid::Uuid), StoreError> {
    let (ms, id) = cursor.split_once('_').ok_or(StoreError::BadCursor)?;
    let ms: i64 = ms.parse().map_err(|_| StoreError::BadCursor)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| StoreError::BadCursor)?;
    Ok((ms, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = uuid::Uuid::now_v7();
        let page = PageRequest::new(Some(1), Some(format!("1700000000123_{id}")));
        assert_eq!(
            keyset_start(&page).expect("a valid cursor"),
            (1_700_000_000_123, id)
        );
        for bad in [
            "garbage",
            "12_notauuid",
            "x_00000000-0000-0000-0000-000000000000",
        ] {
            let page = PageRequest::new(None, Some(bad.into()));
            assert!(matches!(keyset_start(&page), Err(StoreError::BadCursor)));
        }
    }

    #[test]
    fn retryable_states_are_unavailable() {
        for code in ["40001", "40P01", "57P01", "08006", "53300"] {
            assert!(retryable_sqlstate(code), "{code}");
        }
        assert!(!retryable_sqlstate("23505"));
    }
}
