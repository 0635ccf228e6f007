//! Import of rows in `researchops_core::transfer` form (for `admin copy-store`). Event ids are kept as
//! they were, so SSE cursors (`Last-Event-ID`) stay valid, and the id sequence continues above them.

use crate::PgStore;
use crate::rows::db_err;
use chrono::{TimeZone, Utc};
use researchops_core::StoreError;
use researchops_core::transfer::{ColumnKind, Row, TableSpec};
use serde_json::Value;

fn bad(table: &str, column: &str, value: &Value) -> StoreError {
    StoreError::Internal(format!("cannot import {table}.{column} = {value}"))
}

impl PgStore {
    /// Whether the database holds no tenant (a copy only goes into an empty installation).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM tenants)")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Inserts `rows` of `table` in one transaction.
    pub async fn import_rows(&self, table: &TableSpec, rows: &[Row]) -> Result<(), StoreError> {
        let columns = table
            .columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        let params = (1..=table.columns.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let overriding = if table.name == "run_events" {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        // Table and column names come from the static spec, never from input.
        let sql = format!(
            "INSERT INTO {} ({columns}){overriding} VALUES ({params})",
            table.name
        );
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for row in rows {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for ((name, kind), value) in table.columns.iter().zip(row) {
                query = match kind {
                    ColumnKind::Id => query.bind(
                        value
                            .as_str()
                            .map(|s| {
                                s.parse::<uuid::Uuid>()
                                    .map_err(|_| bad(table.name, name, value))
                            })
                            .transpose()?,
                    ),
                    ColumnKind::Text => query.bind(value.as_str().map(str::to_string)),
                    ColumnKind::Int => query.bind(value.as_i64()),
                    ColumnKind::Float => query.bind(value.as_f64()),
                    ColumnKind::TimeMs => query.bind(
                        value
                            .as_i64()
                            .map(|ms| {
                                Utc.timestamp_millis_opt(ms)
                                    .single()
                                    .ok_or_else(|| bad(table.name, name, value))
                            })
                            .transpose()?,
                    ),
                    ColumnKind::Json => {
                        query.bind((!value.is_null()).then(|| sqlx::types::Json(value.clone())))
                    }
                };
            }
            query.execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// After an import: new event ids continue above the imported ones.
    pub async fn finish_import(&self) -> Result<(), StoreError> {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('run_events', 'id'), COALESCE((SELECT MAX(id) FROM run_events), 0) + 1, false)",
        )
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
