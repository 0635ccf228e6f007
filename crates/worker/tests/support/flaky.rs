//! [`FlakyEvents`]: our real SQLite store, except that its first `n` progress-event writes fail with a
//! passing fault (`Unavailable`), as when the database restarts mid-stage. Not a mock: every call,
//! including the writes it lets through, reaches SQLite.

use chrono::{DateTime, Utc};
use researchops_core::{
    Artifact, ArtifactId, Claim, ClaimedJob, CreateRunOutcome, EventHub, EventId, EvidenceRecord,
    Heartbeat, JobId, JobOutcome, JobWakeup, Lane, Lease, NewEvent, NewJob, NewProject, NewRun,
    Page, PageRequest, Project, ProjectId, ProjectPatch, Queue, QueueStats, Run, RunEnd, RunEvent,
    RunId, RunStart, Stage, StageCommit, StageGate, Store, StoreError, TenantId,
};
use researchops_store_sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

pub struct FlakyEvents {
    inner: Arc<SqliteStore>,
    fail_first: usize,
    calls: AtomicUsize,
    failures: watch::Sender<usize>,
}

impl FlakyEvents {
    /// Fails the first `fail_first` calls of `append_events` (`usize::MAX`: all of them).
    pub fn new(inner: Arc<SqliteStore>, fail_first: usize) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fail_first,
            calls: AtomicUsize::new(0),
            failures: watch::channel(0).0,
        })
    }

    /// How many writes were refused so far.
    pub fn failures(&self) -> usize {
        *self.failures.borrow()
    }

    /// Waits until at least `n` writes were refused.
    pub async fn failed_at_least(&self, n: usize) {
        let mut seen = self.failures.subscribe();
        seen.wait_for(|failed| *failed >= n)
            .await
            .expect("the store is alive");
    }
}

#[async_trait::async_trait]
impl Queue for FlakyEvents {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<JobId>, StoreError> {
        self.inner.enqueue(jobs).await
    }
    async fn claim(
        &self,
        lane: &researchops_core::Lane,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.inner.claim(lane, owner, max, lease).await
    }
    async fn heartbeat(&self, lease: Lease, extend: Duration) -> Result<Heartbeat, StoreError> {
        self.inner.heartbeat(lease, extend).await
    }
    async fn finish_job(&self, lease: Lease, outcome: JobOutcome) -> Result<(), StoreError> {
        self.inner.finish_job(lease, outcome).await
    }
    async fn finish_jobs(&self, done: &[(Lease, JobOutcome)]) -> Result<usize, StoreError> {
        self.inner.finish_jobs(done).await
    }
    async fn rescue_expired(&self) -> Result<usize, StoreError> {
        self.inner.rescue_expired().await
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        self.inner.stats().await
    }
}

#[async_trait::async_trait]
impl Store for FlakyEvents {
    fn events(&self) -> &EventHub {
        self.inner.events()
    }
    fn wakeup(&self) -> &JobWakeup {
        self.inner.wakeup()
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn latest_event_ids(&self, runs: &[RunId]) -> Result<Vec<(RunId, i64)>, StoreError> {
        self.inner.latest_event_ids(runs).await
    }
    async fn ensure_tenant(&self, tenant: TenantId, name: &str) -> Result<(), StoreError> {
        self.inner.ensure_tenant(tenant, name).await
    }
    async fn create_project(
        &self,
        tenant: TenantId,
        project: NewProject,
    ) -> Result<Project, StoreError> {
        self.inner.create_project(tenant, project).await
    }
    async fn list_projects(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Result<Page<Project>, StoreError> {
        self.inner.list_projects(tenant, page).await
    }
    async fn get_project(&self, tenant: TenantId, id: ProjectId) -> Result<Project, StoreError> {
        self.inner.get_project(tenant, id).await
    }
    async fn update_project(
        &self,
        tenant: TenantId,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<Project, StoreError> {
        self.inner.update_project(tenant, id, patch).await
    }
    async fn delete_project(&self, tenant: TenantId, id: ProjectId) -> Result<(), StoreError> {
        self.inner.delete_project(tenant, id).await
    }
    async fn create_run(
        &self,
        tenant: TenantId,
        run: NewRun,
        max_attempts: i32,
    ) -> Result<CreateRunOutcome, StoreError> {
        self.inner.create_run(tenant, run, max_attempts).await
    }
    async fn get_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
        self.inner.get_run(tenant, id).await
    }
    async fn list_runs(
        &self,
        tenant: TenantId,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError> {
        self.inner.list_runs(tenant, project, page).await
    }
    async fn cancel_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
        self.inner.cancel_run(tenant, id).await
    }
    async fn retry_run(
        &self,
        tenant: TenantId,
        id: RunId,
        max_attempts: i32,
        lane: &Lane,
    ) -> Result<Run, StoreError> {
        self.inner.retry_run(tenant, id, max_attempts, lane).await
    }
    async fn list_events(
        &self,
        tenant: TenantId,
        id: RunId,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<RunEvent>, StoreError> {
        self.inner.list_events(tenant, id, after, limit).await
    }
    async fn list_evidence(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.inner.list_evidence(tenant, id).await
    }
    async fn list_claims(&self, tenant: TenantId, id: RunId) -> Result<Vec<Claim>, StoreError> {
        self.inner.list_claims(tenant, id).await
    }
    async fn list_artifacts(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<Artifact>, StoreError> {
        self.inner.list_artifacts(tenant, id).await
    }
    async fn get_artifact(
        &self,
        tenant: TenantId,
        run: RunId,
        id: ArtifactId,
    ) -> Result<Artifact, StoreError> {
        self.inner.get_artifact(tenant, run, id).await
    }
    async fn stage_outputs(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<BTreeMap<Stage, serde_json::Value>, StoreError> {
        self.inner.stage_outputs(tenant, id).await
    }
    async fn start_run(&self, lease: Lease, id: RunId) -> Result<RunStart, StoreError> {
        self.inner.start_run(lease, id).await
    }
    async fn begin_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
    ) -> Result<StageGate, StoreError> {
        self.inner.begin_stage(lease, id, stage).await
    }
    async fn append_events(
        &self,
        lease: Lease,
        id: RunId,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            self.failures.send_modify(|n| *n += 1);
            return Err(StoreError::Unavailable(
                "injected: the database restarts".into(),
            ));
        }
        self.inner.append_events(lease, id, events).await
    }
    async fn finish_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
        commit: StageCommit,
    ) -> Result<(), StoreError> {
        self.inner.finish_stage(lease, id, stage, commit).await
    }
    async fn finish_run(&self, lease: Lease, id: RunId, end: RunEnd) -> Result<Run, StoreError> {
        self.inner.finish_run(lease, id, end).await
    }
    async fn defer_run(
        &self,
        lease: Lease,
        id: RunId,
        run_after: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.inner.defer_run(lease, id, run_after, reason).await
    }
    async fn embeddings_get(
        &self,
        model: &str,
        text_sha256: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, StoreError> {
        self.inner.embeddings_get(model, text_sha256).await
    }
    async fn embeddings_put(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        self.inner.embeddings_put(model, vectors).await
    }
}
