//! Row decoding and the small helpers every module shares: time conversion, error mapping, event
//! insertion. Times are stored as integer milliseconds; ids as UUID text; JSON as text.

use chrono::{DateTime, TimeZone, Utc};
use researchops_core::{
    EventId, EventLevel, EventNotice, EventType, NewEvent, Project, Run, RunEvent, RunId,
    RunOptions, Stage, StoreError, TenantId,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use std::str::FromStr;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn opt_dt(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(to_dt)
}

/// Maps a driver error: lock contention and I/O are `Unavailable` (retryable), the rest `Internal`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db)
            if db.message().contains("locked") || db.message().contains("busy") =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn parse<T: FromStr>(value: &str, what: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Internal(format!("corrupt {what} `{value}` in database")))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    value: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(value)
        .map_err(|e| StoreError::Internal(format!("corrupt {what} JSON in database: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode JSON: {e}")))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db_err)
}

pub(crate) const PROJECT_COLUMNS: &str = "id, name, description, created_at, last_activity_at";

pub(crate) fn project(row: &SqliteRow) -> Result<Project, StoreError> {
    Ok(Project {
        id: parse(&get::<String>(row, "id")?, "project id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        created_at: to_dt(get(row, "created_at")?),
        last_activity_at: to_dt(get(row, "last_activity_at")?),
    })
}

pub(crate) const RUN_COLUMNS: &str = "id, project_id, question, sources, options, status, current_stage, checkpoint, \
    created_at, queued_at, started_at, finished_at, cancel_requested_at, retry_count, attempt, failure_reason, \
    error_code, finish_reason, usage, client_request_id";

pub(crate) fn run(row: &SqliteRow) -> Result<Run, StoreError> {
    let stage = |col: &str| -> Result<Option<Stage>, StoreError> {
        get::<Option<String>>(row, col)?
            .map(|s| parse(&s, "stage"))
            .transpose()
    };
    let options: RunOptions = json(&get::<String>(row, "options")?, "run options")?;
    Ok(Run {
        id: parse(&get::<String>(row, "id")?, "run id")?,
        project_id: parse(&get::<String>(row, "project_id")?, "project id")?,
        question: get(row, "question")?,
        sources: json(&get::<String>(row, "sources")?, "run sources")?,
        options,
        output_type: "report".into(),
        status: parse(&get::<String>(row, "status")?, "run status")?,
        current_stage: stage("current_stage")?,
        checkpoint: stage("checkpoint")?,
        created_at: to_dt(get(row, "created_at")?),
        queued_at: opt_dt(get(row, "queued_at")?),
        started_at: opt_dt(get(row, "started_at")?),
        finished_at: opt_dt(get(row, "finished_at")?),
        cancel_requested_at: opt_dt(get(row, "cancel_requested_at")?),
        retry_count: get(row, "retry_count")?,
        attempt: get(row, "attempt")?,
        failure_reason: get(row, "failure_reason")?,
        error_code: get(row, "error_code")?,
        finish_reason: get(row, "finish_reason")?,
        usage: json(&get::<String>(row, "usage")?, "run usage")?,
        client_request_id: get(row, "client_request_id")?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> Result<RunEvent, StoreError> {
    let event_type: String = get(row, "event_type")?;
    let level: String = get(row, "level")?;
    Ok(RunEvent {
        id: get(row, "id")?,
        run_id: parse(&get::<String>(row, "run_id")?, "run id")?,
        ts: to_dt(get(row, "ts")?),
        level: EventLevel::parse(&level)
            .ok_or_else(|| StoreError::Internal(format!("corrupt event level `{level}`")))?,
        stage: get::<Option<String>>(row, "stage")?
            .map(|s| parse(&s, "stage"))
            .transpose()?,
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| StoreError::Internal(format!("corrupt event type `{event_type}`")))?,
        message: get(row, "message")?,
        payload: json(&get::<String>(row, "payload")?, "event payload")?,
    })
}

/// Appends one event inside the caller's transaction; returns the notice to publish after commit.
pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    run: RunId,
    event: &NewEvent,
) -> Result<EventNotice, StoreError> {
    let id: EventId = sqlx::query_scalar(
        "INSERT INTO run_events (tenant_id, run_id, ts, level, stage, event_type, message, payload) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(tenant.to_string())
    .bind(run.to_string())
    .bind(now_ms())
    .bind(event.level.as_str())
    .bind(event.stage.map(|s| s.as_str()))
    .bind(event.event_type.as_str())
    .bind(&event.message)
    .bind(to_json(&event.payload)?)
    .fetch_one(conn)
    .await
    .map_err(db_err)?;
    Ok(EventNotice {
        run_id: run,
        last_event_id: id,
    })
}

/// Keyset pagination on (time DESC, id DESC): `(ms, id)` to continue after (`id` empty: from the top).
/// Queries fetch `limit + 1` rows so [`keyset_page`] knows whether another page exists.
pub(crate) fn keyset_start(
    page: &researchops_core::PageRequest,
) -> Result<(i64, String), StoreError> {
    match &page.cursor {
        Some(cursor) => decode_cursor(cursor),
        None => Ok((i64::MAX, String::new())),
    }
}

/// Cuts the extra row off and makes the next cursor from the last item's `(ms, id)`.
pub(crate) fn keyset_page<T>(
    mut items: Vec<T>,
    page: &researchops_core::PageRequest,
    key: impl Fn(&T) -> (i64, String),
) -> researchops_core::Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|item| {
            let (ms, id) = key(item);
            encode_cursor(ms, &id)
        })
    } else {
        None
    };
    researchops_core::Page { items, next_cursor }
}

/// Cursor `"<ms>_<uuid>"` for keyset pagination on (time DESC, id DESC).
fn encode_cursor(ms: i64, id: &str) -> String {
    format!("{ms}_{id}")
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let (ms, id) = cursor.split_once('_').ok_or(StoreError::BadCursor)?;
    let ms: i64 = ms.parse().map_err(|_| StoreError::BadCursor)?;
    uuid::Uuid::parse_str(id).map_err(|_| StoreError::BadCursor)?;
    Ok((ms, id.to_string()))
}
