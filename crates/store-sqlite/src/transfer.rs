//! Export of every row, table by table in `researchops_core::transfer` form (for `admin copy-store`).

use crate::SqliteStore;
use crate::rows::db_err;
use researchops_core::StoreError;
use researchops_core::transfer::{ColumnKind, Row, TableSpec};
use serde_json::Value;
use sqlx::Row as _;

impl SqliteStore {
    /// Up to `limit` rows of `table` after SQLite row id `after` (0: from the start), in row-id order,
    /// with the last row id read (`None` when there were no more rows).
    pub async fn export_rows(
        &self,
        table: &TableSpec,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<Row>, Option<i64>), StoreError> {
        let columns = table
            .columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        // Table and column names come from the static spec, never from input.
        let sql = format!(
            "SELECT rowid AS _rowid, {columns} FROM {} WHERE rowid > ? ORDER BY rowid LIMIT ?",
            table.name
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let mut last = None;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            last = Some(row.try_get::<i64, _>("_rowid").map_err(db_err)?);
            let mut values = Vec::with_capacity(table.columns.len());
            for (name, kind) in table.columns {
                let value = match kind {
                    ColumnKind::Id | ColumnKind::Text => row
                        .try_get::<Option<String>, _>(*name)
                        .map_err(db_err)?
                        .map(Value::from),
                    ColumnKind::Int | ColumnKind::TimeMs => row
                        .try_get::<Option<i64>, _>(*name)
                        .map_err(db_err)?
                        .map(Value::from),
                    ColumnKind::Float => row
                        .try_get::<Option<f64>, _>(*name)
                        .map_err(db_err)?
                        .map(Value::from),
                    ColumnKind::Json => row
                        .try_get::<Option<String>, _>(*name)
                        .map_err(db_err)?
                        .map(|text| crate::rows::json::<Value>(&text, name))
                        .transpose()?,
                };
                values.push(value.unwrap_or(Value::Null));
            }
            out.push(values);
        }
        Ok((out, last))
    }
}
