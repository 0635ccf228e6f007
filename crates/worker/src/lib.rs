//! The job runner: claims jobs with leases, heartbeats them, executes runs stage by stage from their
//! checkpoint, classifies failures (retryable → backoff, fatal → failed run), enforces time limits,
//! turns panics into failed runs, honours cancellation, and rescues other workers' expired leases.
//!
//! It knows no HTTP. Every write goes through the store's fenced methods, so a worker that lost its
//! lease commits nothing. Stages run on threads of their own, so a stage that never yields can still
//! be timed out, canceled or abandoned (its result is then discarded).

mod backoff;
mod embedding;
mod execute;
mod stage;

use researchops_core::{BlobStore, Embedder, JobKind, JobOutcome, Lane, Lease, Store, StoreError};
use researchops_pipeline::{Connectors, ResearchPipeline, Stages};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

pub use backoff::backoff;
pub use embedding::CachedEmbedder;
pub use stage::StageDelay;

/// Tunables; every interval is configurable so tests can shorten them.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs executed at once.
    pub slots: usize,
    /// How long a claim is valid without a heartbeat.
    pub lease: Duration,
    /// How often leases are extended (well under `lease`).
    pub heartbeat: Duration,
    /// Fallback poll when no wake-up hint arrives.
    pub poll: Duration,
    /// How often expired leases are looked for.
    pub rescue_interval: Duration,
    /// Longest a stage may run.
    pub stage_timeout: Duration,
    /// Longest a run may take from its first start.
    pub run_timeout: Duration,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long a graceful shutdown waits for running stages.
    pub shutdown_grace: Duration,
    /// This worker's name in leases and logs.
    pub owner: String,
    /// The queue lane it claims from (`default`: the API's jobs).
    pub lane: Lane,
    /// Test hook, `None` in production: stages wait this long before their work (see [`StageDelay`]).
    pub stage_delay: Option<StageDelay>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            slots: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            rescue_interval: Duration::from_secs(5),
            stage_timeout: Duration::from_secs(600),
            run_timeout: Duration::from_secs(3600),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(20),
            owner: default_owner(),
            lane: Lane::default(),
            stage_delay: None,
        }
    }
}

/// `host-pid-xxxx`: unique per process.
pub fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..6])
}

/// What a worker needs.
pub struct Worker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) connectors: Connectors,
    pub(crate) embedder: Option<Arc<dyn Embedder>>,
    pub(crate) stages: Arc<dyn Stages>,
    pub(crate) config: WorkerConfig,
}

impl Worker {
    /// A worker over the given ports; `embedder`, when there is one, lets the pipeline weigh
    /// relevance by meaning as well as by words.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        connectors: Connectors,
        embedder: Option<Arc<dyn Embedder>>,
        config: WorkerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            blobs,
            connectors,
            embedder,
            stages: Arc::new(ResearchPipeline),
            config,
        })
    }

    /// A worker that executes `stages` instead of the research pipeline (tests of failure handling).
    pub fn with_stages(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        stages: Arc<dyn Stages>,
        config: WorkerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            blobs,
            connectors: Connectors::default(),
            embedder: None,
            stages,
            config,
        })
    }

    /// Claims and executes jobs until `shutdown` fires, then stops claiming, lets running stages finish
    /// within the grace period and hands unfinished runs back to the queue.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.slots.max(1)));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let flusher = tokio::spawn(flush_completions(self.store.clone(), done_rx));
        let rescuer = tokio::spawn(rescue_loop(
            self.store.clone(),
            self.config.rescue_interval,
            shutdown.clone(),
        ));
        // Once shutdown is requested, a run stops before its next stage (its running stage may finish).
        let drain = shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tracing::info!(worker = %self.config.owner, lane = %self.config.lane, slots = self.config.slots, "worker started");
        while !shutdown.is_cancelled() {
            let idle = slots.available_permits();
            if idle == 0 {
                tokio::select! {
                    permit = slots.clone().acquire_owned() => drop(permit),
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            let jobs = match self
                .store
                .claim(
                    &self.config.lane,
                    &self.config.owner,
                    idle,
                    self.config.lease,
                )
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll) => {}
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = self.store.wakeup().notified() => {}
                    () = tokio::time::sleep(self.config.poll) => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            for job in jobs {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::error!(job.id = %job.lease.job_id, "claimed more jobs than idle slots");
                    break;
                };
                match job.kind {
                    Some(JobKind::Noop) => {
                        let _ = done_tx.send((job.lease, JobOutcome::Completed, permit));
                    }
                    Some(JobKind::Run) => {
                        let worker = self.clone();
                        let drain = drain.clone();
                        tasks.spawn(async move {
                            worker.execute_run(job, drain).await;
                            drop(permit);
                        });
                    }
                    None => {
                        let error = "unknown job kind: this binary cannot execute it".to_string();
                        let _ = done_tx.send((job.lease, JobOutcome::Failed { error }, permit));
                    }
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        tracing::info!(worker = %self.config.owner, running = tasks.len(), "worker stopping");
        // Let running stages finish; after the grace period, abandon them (their tokens fire, their
        // leases expire and the runs are rescued).
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                () = &mut grace => {
                    tracing::warn!(running = tasks.len(), "grace period over; abandoning running jobs (their leases will expire)");
                    tasks.abort_all();
                    break;
                }
            }
        }
        drop(done_tx);
        let _ = flusher.await;
        rescuer.abort();
    }
}

type Completion = (Lease, JobOutcome, tokio::sync::OwnedSemaphorePermit);

/// Commits completions of non-run jobs in batches (one transaction per batch).
async fn flush_completions(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Completion>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let done: Vec<(Lease, JobOutcome)> =
            batch.iter().map(|(l, o, _)| (*l, o.clone())).collect();
        let mut delay = Duration::from_millis(50);
        loop {
            match store.finish_jobs(&done).await {
                Ok(0) => break,
                Ok(lost) => {
                    tracing::warn!(
                        lost,
                        "some completions were fenced off (their leases had expired)"
                    );
                    break;
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "completing jobs failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, "completing jobs failed; their leases will expire and be rescued");
                    break;
                }
            }
        }
        batch.clear();
    }
}

async fn rescue_loop(store: Arc<dyn Store>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match store.rescue_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(rescued = n, "requeued jobs whose lease expired"),
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, "rescue skipped: database unavailable")
            }
            Err(e) => tracing::error!(error = %e, "rescue failed"),
        }
    }
}
