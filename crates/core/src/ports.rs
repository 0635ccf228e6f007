//! The ports the rest of the system is written against: [`Store`] (tenant-scoped data plus fenced run
//! execution) and [`BlobStore`] (content-addressed bytes). Each multi-row change is one method, so every
//! backend can make it one transaction; nothing outside the store crates sees SQL. The third port,
//! [`Connector`](crate::connector::Connector) (where evidence comes from), lives in
//! [`connector`](crate::connector).

use crate::error::StoreError;
use crate::event::{NewEvent, RunEvent};
use crate::evidence::{Artifact, Claim, EvidenceRecord, RunEnd, StageCommit};
use crate::hub::{EventHub, JobWakeup};
use crate::ids::{ArtifactId, EventId, ProjectId, RunId, TenantId};
use crate::page::{Page, PageRequest};
use crate::project::{NewProject, Project, ProjectPatch};
use crate::queue::{Lane, Lease, Queue};
use crate::run::{CreateRunOutcome, NewRun, Run, Stage};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// A run as a worker picks it up.
#[derive(Clone, Debug)]
pub struct RunStart {
    /// The run, now `running`.
    pub run: Run,
    /// Outputs of the stages already committed (the checkpoint), by stage.
    pub outputs: BTreeMap<Stage, serde_json::Value>,
}

/// Why the worker should stop before a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageGate {
    /// Go on.
    Proceed,
    /// A cancel was requested: end the run `canceled`.
    CancelRequested,
}

/// Persistent state. Every method taking a [`TenantId`] sees only that tenant's rows: another tenant's
/// row is `NotFound`. Methods taking a [`Lease`] are fenced: `LeaseLost` and no effect when it is stale.
#[async_trait]
pub trait Store: Queue {
    /// Commit hints for run events (SSE).
    fn events(&self) -> &EventHub;
    /// Commit hints for new jobs (workers).
    fn wakeup(&self) -> &JobWakeup;
    /// The backend's name (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Creates the tenant if it does not exist.
    async fn ensure_tenant(&self, tenant: TenantId, name: &str) -> Result<(), StoreError>;

    /// Creates a project.
    async fn create_project(
        &self,
        tenant: TenantId,
        project: NewProject,
    ) -> Result<Project, StoreError>;
    /// Projects, most recent activity first.
    async fn list_projects(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Result<Page<Project>, StoreError>;
    /// One project.
    async fn get_project(&self, tenant: TenantId, id: ProjectId) -> Result<Project, StoreError>;
    /// Applies a patch.
    async fn update_project(
        &self,
        tenant: TenantId,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<Project, StoreError>;
    /// Deletes a project with its runs and their rows; `Conflict` while one of its runs is active.
    async fn delete_project(&self, tenant: TenantId, id: ProjectId) -> Result<(), StoreError>;

    /// Creates a run, its `run.created` and `run.queued` events and its job in one transaction, or
    /// returns the existing run for a repeated `client_request_id` (`Conflict` if the request differs).
    async fn create_run(
        &self,
        tenant: TenantId,
        run: NewRun,
        max_attempts: i32,
    ) -> Result<CreateRunOutcome, StoreError>;
    /// One run.
    async fn get_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError>;
    /// A project's runs, newest first.
    async fn list_runs(
        &self,
        tenant: TenantId,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError>;
    /// Queued → canceled now; running → `cancel_requested_at` set; terminal → unchanged.
    async fn cancel_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError>;
    /// Failed or blocked → queued with `retry_count + 1`, its new job in the run's lane;
    /// `Conflict` from any other state, or when `lane` (the retrying process's) is not the run's
    /// ([`crate::decide::retry_decision`]).
    async fn retry_run(
        &self,
        tenant: TenantId,
        id: RunId,
        max_attempts: i32,
        lane: &Lane,
    ) -> Result<Run, StoreError>;
    /// Events after `after` (exclusive), in id order, at most `limit`.
    async fn list_events(
        &self,
        tenant: TenantId,
        id: RunId,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<RunEvent>, StoreError>;
    /// The newest event id of each listed run that has events (runs without any are left out), in one
    /// query. **Internal and not tenant-scoped**: only the event hub's fallback poller calls it, with
    /// the runs its watchers registered; it answers nothing but ids the caller already holds and an
    /// event counter, and no HTTP handler may call it.
    async fn latest_event_ids(&self, runs: &[RunId]) -> Result<Vec<(RunId, EventId)>, StoreError>;
    /// The run's sources with snapshots and snippets.
    async fn list_evidence(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<EvidenceRecord>, StoreError>;
    /// The run's claim map.
    async fn list_claims(&self, tenant: TenantId, id: RunId) -> Result<Vec<Claim>, StoreError>;
    /// The run's artifacts.
    async fn list_artifacts(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<Artifact>, StoreError>;
    /// One artifact of a run.
    async fn get_artifact(
        &self,
        tenant: TenantId,
        run: RunId,
        id: ArtifactId,
    ) -> Result<Artifact, StoreError>;
    /// Outputs of the run's committed stages.
    async fn stage_outputs(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<BTreeMap<Stage, serde_json::Value>, StoreError>;

    /// Marks the run `running` (or, when resuming after a lost lease, keeps it so) and returns it with
    /// its checkpointed outputs.
    async fn start_run(&self, lease: Lease, id: RunId) -> Result<RunStart, StoreError>;
    /// Records `stage_start` unless a cancel was requested.
    async fn begin_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
    ) -> Result<StageGate, StoreError>;
    /// Appends progress/log events.
    async fn append_events(
        &self,
        lease: Lease,
        id: RunId,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Commits a stage's outputs, the checkpoint and `stage_finish` together.
    async fn finish_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
        commit: StageCommit,
    ) -> Result<(), StoreError>;
    /// Ends the run (state event, `error` event on failure) and completes its job, together.
    async fn finish_run(&self, lease: Lease, id: RunId, end: RunEnd) -> Result<Run, StoreError>;
    /// A retryable failure: the job goes back to the queue until `run_after`, the run stays `running`,
    /// and a `warn` log event says why.
    async fn defer_run(
        &self,
        lease: Lease,
        id: RunId,
        run_after: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Cached sentence vectors of `model` for the texts whose SHA-256 (lowercase hex) is listed, by
    /// hash; texts never embedded are absent. Not tenant-scoped: a vector is a pure function of the
    /// model and the text, so the cache is content-addressed and shared, like blobs (see
    /// [`embedding`](crate::embedding)).
    async fn embeddings_get(
        &self,
        model: &str,
        text_sha256: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, StoreError>;
    /// Caches vectors of `model` by text hash, in one transaction. A hash already cached keeps its
    /// first vector (the same model and text give the same vector). Not tenant-scoped, as above.
    async fn embeddings_put(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError>;
}

/// A stored blob's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// Hex SHA-256 of the bytes: the key.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Content-addressed byte storage (a directory, or S3-compatible storage).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores bytes under their SHA-256 (idempotent: the same bytes are stored once).
    async fn put(&self, bytes: Bytes) -> Result<BlobInfo, StoreError>;
    /// All bytes of a blob; `NotFound` if absent.
    async fn get(&self, sha256: &str) -> Result<Bytes, StoreError>;
    /// A byte range of a blob.
    async fn get_range(&self, sha256: &str, range: Range<u64>) -> Result<Bytes, StoreError>;
}
