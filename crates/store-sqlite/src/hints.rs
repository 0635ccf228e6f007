//! The event hub's fallback query: the newest event id of many runs at once. Internal and not
//! tenant-scoped (see `Store::latest_event_ids`): it answers only an event counter for run ids the
//! hub's own watchers registered.

use crate::SqliteStore;
use crate::rows::{self, db_err};
use researchops_core::{EventId, RunId, StoreError};
use sqlx::Row;

/// `(run, newest event id)` for each listed run that has events, in one statement: the ids travel as
/// one JSON array, and each run's maximum is one probe of the `(run_id, id)` index.
pub(crate) async fn latest_event_ids(
    store: &SqliteStore,
    runs: &[RunId],
) -> Result<Vec<(RunId, EventId)>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = runs.iter().map(ToString::to_string).collect();
    let rows = sqlx::query(
        "SELECT w.value AS run_id, \
                (SELECT MAX(e.id) FROM run_events e WHERE e.run_id = w.value) AS last_id \
         FROM json_each(?) AS w",
    )
    .bind(rows::to_json(&ids)?)
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    let mut latest = Vec::with_capacity(rows.len());
    for row in &rows {
        let last: Option<EventId> = row.try_get("last_id").map_err(db_err)?;
        if let Some(last) = last {
            let run: String = row.try_get("run_id").map_err(db_err)?;
            latest.push((rows::parse(&run, "run id")?, last));
        }
    }
    Ok(latest)
}
