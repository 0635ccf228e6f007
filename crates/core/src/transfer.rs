//! The portable form of an installation's rows, for moving it between backends
//! (`researchops admin copy-store`). One table list, in foreign-key order, names every column with a
//! backend-neutral kind; each store converts its own SQL types to and from these values.

/// How a column's value travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// A UUID, as its hyphenated string.
    Id,
    /// Text.
    Text,
    /// An integer.
    Int,
    /// A floating-point number.
    Float,
    /// A time, as integer milliseconds since the Unix epoch (UTC).
    TimeMs,
    /// A JSON document.
    Json,
}

/// One table to copy.
#[derive(Clone, Copy, Debug)]
pub struct TableSpec {
    /// Its name (the same in every backend).
    pub name: &'static str,
    /// Its columns, in the order rows carry their values.
    pub columns: &'static [(&'static str, ColumnKind)],
}

/// A row: one JSON value per column of its [`TableSpec`] (null for NULL).
pub type Row = Vec<serde_json::Value>;

use ColumnKind::{Float, Id, Int, Json, Text, TimeMs};

/// Tables `copy-store` leaves behind: caches of pure functions of content, rebuilt on demand
/// (`embeddings`: sentence vectors by model and text hash). Every other table is in [`TABLES`].
pub const NOT_COPIED: &[&str] = &["embeddings"];

/// Every table, parents before children.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "tenants",
        columns: &[
            ("id", Id),
            ("name", Text),
            ("created_at", TimeMs),
            ("last_claimed_at", TimeMs),
        ],
    },
    TableSpec {
        name: "projects",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("name", Text),
            ("description", Text),
            ("created_at", TimeMs),
            ("last_activity_at", TimeMs),
        ],
    },
    TableSpec {
        name: "runs",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("project_id", Id),
            ("question", Text),
            ("sources", Json),
            ("options", Json),
            ("status", Text),
            ("current_stage", Text),
            ("checkpoint", Text),
            ("created_at", TimeMs),
            ("queued_at", TimeMs),
            ("started_at", TimeMs),
            ("finished_at", TimeMs),
            ("cancel_requested_at", TimeMs),
            ("retry_count", Int),
            ("attempt", Int),
            ("failure_reason", Text),
            ("error_code", Text),
            ("finish_reason", Text),
            ("usage", Json),
            ("client_request_id", Text),
            ("request_fingerprint", Text),
            ("lane", Text),
        ],
    },
    TableSpec {
        name: "run_events",
        columns: &[
            ("id", Int),
            ("tenant_id", Id),
            ("run_id", Id),
            ("ts", TimeMs),
            ("level", Text),
            ("stage", Text),
            ("event_type", Text),
            ("message", Text),
            ("payload", Json),
        ],
    },
    TableSpec {
        name: "jobs",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("kind", Text),
            ("run_id", Id),
            ("payload", Json),
            ("status", Text),
            ("priority", Int),
            ("attempts", Int),
            ("max_attempts", Int),
            ("run_after", TimeMs),
            ("lease_token", Id),
            ("lease_owner", Text),
            ("lease_expires_at", TimeMs),
            ("last_error", Text),
            ("created_at", TimeMs),
            ("updated_at", TimeMs),
            ("lane", Text),
        ],
    },
    TableSpec {
        name: "stage_outputs",
        columns: &[
            ("run_id", Id),
            ("stage", Text),
            ("tenant_id", Id),
            ("output", Json),
            ("created_at", TimeMs),
        ],
    },
    TableSpec {
        name: "sources",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("run_id", Id),
            ("connector", Text),
            ("external_id", Text),
            ("title", Text),
            ("authors", Json),
            ("year", Int),
            ("doi", Text),
            ("url", Text),
            ("rank", Int),
            ("score", Float),
            ("venue", Text),
            ("arxiv_id", Text),
        ],
    },
    TableSpec {
        name: "snapshots",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("source_id", Id),
            ("sha256", Text),
            ("size_bytes", Int),
            ("mime_type", Text),
            ("retrieved_at", TimeMs),
            ("text_sha256", Text),
            ("text_size_bytes", Int),
        ],
    },
    TableSpec {
        name: "snippets",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("run_id", Id),
            ("snapshot_id", Id),
            ("source_id", Id),
            ("ord", Int),
            ("text", Text),
            ("start_byte", Int),
            ("end_byte", Int),
        ],
    },
    TableSpec {
        name: "claim_map",
        columns: &[
            ("run_id", Id),
            ("claim_id", Text),
            ("tenant_id", Id),
            ("ord", Int),
            ("section", Text),
            ("text", Text),
            ("snippet_ids", Json),
            ("support", Float),
            ("verdict", Text),
        ],
    },
    TableSpec {
        name: "artifacts",
        columns: &[
            ("id", Id),
            ("tenant_id", Id),
            ("run_id", Id),
            ("name", Text),
            ("kind", Text),
            ("mime_type", Text),
            ("size_bytes", Int),
            ("sha256", Text),
            ("created_at", TimeMs),
        ],
    },
];
