//! The embedded backend: [`Store`] and [`Queue`] over one SQLite database file.
//!
//! SQLite allows one writer at a time, so the store keeps one writer connection (every write is a
//! `BEGIN IMMEDIATE` transaction on it) and a pool of readers; WAL mode lets readers run beside the
//! writer. Commit order is therefore id order for run events. This crate holds SQL and nothing else:
//! business rules (the state machine, validation) come from `researchops-core`.

mod batch;
mod embeddings;
mod execution;
mod hints;
mod projects;
mod queue;
mod rows;
mod runs;
mod transfer;
mod transitions;

use async_trait::async_trait;
use researchops_core::{EventHub, JobWakeup, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use rows::now_ms;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How durable commits are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives process crashes; the last commits may be lost on power failure.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced.
    Full,
}

/// The SQLite store. Cheap to clone (pools and hubs are shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    hub: EventHub,
    wakeup: JobWakeup,
    creates: batch::CreateBatcher,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    /// Refuses a database whose schema is newer than this binary.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let sync = match durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        };
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| {
                StoreError::Internal(format!("bad database path {}: {e}", path.display()))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(rows::db_err)?;
        check_schema_version(&writer).await?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Internal(format!("migrations failed: {e}")))?;
        let readers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8) as u32;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await
            .map_err(rows::db_err)?;
        let hub = EventHub::default();
        let wakeup = JobWakeup::default();
        let creates = batch::CreateBatcher::start(writer.clone(), hub.clone(), wakeup.clone());
        Ok(Self {
            writer,
            reader,
            hub,
            wakeup,
            creates,
        })
    }

    /// Closes the pools (after the last use).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Begins a write transaction holding SQLite's write lock from the start, so the reads inside it
    /// (idempotency checks, lease checks) and its writes are one atomic step even across processes.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(rows::db_err)
    }
}

/// The newest migration this binary knows.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn check_schema_version(pool: &SqlitePool) -> Result<(), StoreError> {
    let exists: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await
    .map_err(rows::db_err)?;
    if exists.is_none() {
        return Ok(());
    }
    let (found,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .map_err(rows::db_err)?;
    let supported = latest_migration();
    match found {
        Some(found) if found > supported => Err(StoreError::SchemaTooNew { found, supported }),
        _ => Ok(()),
    }
}

#[async_trait]
impl researchops_core::Store for SqliteStore {
    fn events(&self) -> &EventHub {
        &self.hub
    }

    fn wakeup(&self) -> &JobWakeup {
        &self.wakeup
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let (version,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.reader)
                .await
                .map_err(rows::db_err)?;
        if version.unwrap_or(0) < latest_migration() {
            return Err(StoreError::Unavailable("migrations are not applied".into()));
        }
        Ok(())
    }

    async fn ensure_tenant(
        &self,
        tenant: researchops_core::TenantId,
        name: &str,
    ) -> Result<(), StoreError> {
        projects::ensure_tenant(self, tenant, name).await
    }

    async fn create_project(
        &self,
        tenant: researchops_core::TenantId,
        project: researchops_core::NewProject,
    ) -> Result<researchops_core::Project, StoreError> {
        projects::create(self, tenant, project).await
    }

    async fn list_projects(
        &self,
        tenant: researchops_core::TenantId,
        page: &researchops_core::PageRequest,
    ) -> Result<researchops_core::Page<researchops_core::Project>, StoreError> {
        projects::list(self, tenant, page).await
    }

    async fn get_project(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::ProjectId,
    ) -> Result<researchops_core::Project, StoreError> {
        projects::get(&self.reader, tenant, id).await
    }

    async fn update_project(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::ProjectId,
        patch: researchops_core::ProjectPatch,
    ) -> Result<researchops_core::Project, StoreError> {
        projects::update(self, tenant, id, patch).await
    }

    async fn delete_project(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::ProjectId,
    ) -> Result<(), StoreError> {
        projects::delete(self, tenant, id).await
    }

    async fn create_run(
        &self,
        tenant: researchops_core::TenantId,
        run: researchops_core::NewRun,
        max_attempts: i32,
    ) -> Result<researchops_core::CreateRunOutcome, StoreError> {
        self.creates
            .create(runs::CreateRequest::new(tenant, run, max_attempts))
            .await
    }

    async fn get_run(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<researchops_core::Run, StoreError> {
        runs::get(&self.reader, tenant, id).await
    }

    async fn list_runs(
        &self,
        tenant: researchops_core::TenantId,
        project: researchops_core::ProjectId,
        page: &researchops_core::PageRequest,
    ) -> Result<researchops_core::Page<researchops_core::Run>, StoreError> {
        runs::list(self, tenant, project, page).await
    }

    async fn cancel_run(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<researchops_core::Run, StoreError> {
        runs::cancel(self, tenant, id).await
    }

    async fn retry_run(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
        max_attempts: i32,
        lane: &researchops_core::Lane,
    ) -> Result<researchops_core::Run, StoreError> {
        runs::retry(self, tenant, id, max_attempts, lane).await
    }

    async fn list_events(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
        after: Option<researchops_core::EventId>,
        limit: u32,
    ) -> Result<Vec<researchops_core::RunEvent>, StoreError> {
        runs::list_events(self, tenant, id, after, limit).await
    }

    async fn latest_event_ids(
        &self,
        runs: &[researchops_core::RunId],
    ) -> Result<Vec<(researchops_core::RunId, researchops_core::EventId)>, StoreError> {
        hints::latest_event_ids(self, runs).await
    }

    async fn list_evidence(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<Vec<researchops_core::EvidenceRecord>, StoreError> {
        runs::list_evidence(self, tenant, id).await
    }

    async fn list_claims(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<Vec<researchops_core::Claim>, StoreError> {
        runs::list_claims(self, tenant, id).await
    }

    async fn list_artifacts(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<Vec<researchops_core::Artifact>, StoreError> {
        runs::list_artifacts(self, tenant, id).await
    }

    async fn get_artifact(
        &self,
        tenant: researchops_core::TenantId,
        run: researchops_core::RunId,
        id: researchops_core::ArtifactId,
    ) -> Result<researchops_core::Artifact, StoreError> {
        runs::get_artifact(self, tenant, run, id).await
    }

    async fn stage_outputs(
        &self,
        tenant: researchops_core::TenantId,
        id: researchops_core::RunId,
    ) -> Result<std::collections::BTreeMap<researchops_core::Stage, serde_json::Value>, StoreError>
    {
        runs::get(&self.reader, tenant, id).await?;
        execution::load_outputs(&self.reader, id).await
    }

    async fn start_run(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
    ) -> Result<researchops_core::RunStart, StoreError> {
        execution::start_run(self, lease, id).await
    }

    async fn begin_stage(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
        stage: researchops_core::Stage,
    ) -> Result<researchops_core::StageGate, StoreError> {
        execution::begin_stage(self, lease, id, stage).await
    }

    async fn append_events(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
        events: &[researchops_core::NewEvent],
    ) -> Result<(), StoreError> {
        execution::append_events(self, lease, id, events).await
    }

    async fn finish_stage(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
        stage: researchops_core::Stage,
        commit: researchops_core::StageCommit,
    ) -> Result<(), StoreError> {
        execution::finish_stage(self, lease, id, stage, commit).await
    }

    async fn finish_run(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
        end: researchops_core::RunEnd,
    ) -> Result<researchops_core::Run, StoreError> {
        execution::finish_run(self, lease, id, end).await
    }

    async fn defer_run(
        &self,
        lease: researchops_core::Lease,
        id: researchops_core::RunId,
        run_after: chrono::DateTime<chrono::Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        execution::defer_run(self, lease, id, run_after, reason).await
    }

    async fn embeddings_get(
        &self,
        model: &str,
        text_sha256: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, StoreError> {
        embeddings::get(self, model, text_sha256).await
    }

    async fn embeddings_put(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        embeddings::put(self, model, vectors).await
    }
}
