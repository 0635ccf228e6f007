//! What the worker's tests share: a harness over the real SQLite store, scripted stages, gates that
//! let a test hold a stage where it wants it (no sleeps, no retry loops), and a store wrapper that
//! refuses the first progress-event writes with a passing fault.

#![expect(dead_code, reason = "each test binary uses part of the support code")]

mod flaky;

pub use flaky::FlakyEvents;

use researchops_core::{
    CreateRunOutcome, EventType, NewEvent, NewProject, NewRun, RunId, RunOptions, RunStatus, Stage,
    StageCommit, Store, TenantId,
};
use researchops_pipeline::{Connectors, StageContext, StageError, Stages};
use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_worker::{Worker, WorkerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest any test waits for something that must happen.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Lets a test know a stage has started, hold it there, release it, and see that its thread ended.
#[derive(Default)]
pub struct Gate {
    entered: Notify,
    release: Notify,
    released: AtomicBool,
    exited: AtomicBool,
    exit: Notify,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Called by the stage when it starts.
    pub fn enter(&self) {
        self.entered.notify_one();
    }

    /// Called by the stage when its code returns (whether or not anyone still listens).
    pub fn leave(&self) {
        self.exited.store(true, Ordering::SeqCst);
        self.exit.notify_one();
    }

    /// Waits until the stage started.
    pub async fn entered(&self) {
        tokio::time::timeout(PATIENCE, self.entered.notified())
            .await
            .expect("the stage started");
    }

    /// Lets a held stage go on.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.release.notify_one();
    }

    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }

    /// Whether the stage's code has returned.
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }

    /// Waits until the stage's code returned.
    pub async fn exited(&self) {
        if self.has_exited() {
            return;
        }
        tokio::time::timeout(PATIENCE, self.exit.notified())
            .await
            .expect("the stage's thread stopped");
    }
}

/// What a scripted stage does on a given attempt.
#[derive(Clone)]
pub enum Act {
    Succeed,
    Panic,
    /// Waits an hour without looking at its token (an async stage stuck on I/O).
    Hang,
    Retryable,
    /// Spins on the CPU, never yielding and never looking at its token, until the gate is released.
    SpinIgnoringToken(Arc<Gate>),
    /// Spins on the CPU until its token fires (checking it like a well-behaved loop).
    SpinUntilCanceled(Arc<Gate>),
    /// Waits until the gate is released, ignoring its token (a stage that finishes within the grace
    /// period of a shutdown).
    Held(Arc<Gate>),
    /// Emits three progress events, waits until the store refused `failures` flushes, emits two more.
    EmitAcrossFailedFlushes {
        flaky: Arc<FlakyEvents>,
        failures: usize,
    },
    /// Emits one progress event and finishes.
    Emit,
    /// Takes this long (to see it in `duration_ms`).
    Take(Duration),
}

pub struct Script(pub Box<dyn Fn(Stage, i64) -> Act + Send + Sync>);

fn progress(stage: Stage, n: u64) -> NewEvent {
    NewEvent::progress(stage, n, 5, format!("step {n}"))
}

#[async_trait::async_trait]
impl Stages for Script {
    async fn run(&self, stage: Stage, cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
        match (self.0)(stage, cx.run.attempt) {
            Act::Succeed => {}
            Act::Panic => panic!("scripted panic in {stage}"),
            Act::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Act::Retryable => return Err(StageError::Retryable("the index is busy".into())),
            Act::SpinIgnoringToken(gate) => {
                gate.enter();
                while !gate.is_released() {
                    std::hint::spin_loop();
                }
                gate.leave();
            }
            Act::SpinUntilCanceled(gate) => {
                gate.enter();
                let result = loop {
                    if let Err(e) = cx.checkpoint() {
                        break e;
                    }
                    std::hint::spin_loop();
                };
                gate.leave();
                return Err(result);
            }
            Act::Held(gate) => {
                gate.enter();
                if !gate.is_released() {
                    gate.release.notified().await;
                }
                gate.leave();
            }
            Act::EmitAcrossFailedFlushes { flaky, failures } => {
                for n in 1..=3 {
                    cx.progress.emit(progress(stage, n));
                }
                flaky.failed_at_least(failures).await;
                for n in 4..=5 {
                    cx.progress.emit(progress(stage, n));
                }
            }
            Act::Emit => cx.progress.emit(progress(stage, 1)),
            Act::Take(how_long) => tokio::time::sleep(how_long).await,
        }
        Ok(StageCommit {
            output: serde_json::json!({ "stage": stage }),
            ..StageCommit::default()
        })
    }
}

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub sqlite: Arc<SqliteStore>,
    pub blobs: Arc<researchops_blobs::LocalBlobStore>,
    pub tenant: TenantId,
    _dir: tempfile::TempDir,
}

pub fn config() -> WorkerConfig {
    WorkerConfig {
        slots: 1,
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        rescue_interval: Duration::from_millis(200),
        stage_timeout: Duration::from_secs(20),
        run_timeout: Duration::from_secs(60),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerConfig::default()
    }
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(
            SqliteStore::open(&dir.path().join("db"), Durability::Normal)
                .await
                .unwrap(),
        );
        let blobs =
            Arc::new(researchops_blobs::LocalBlobStore::open(&dir.path().join("blobs")).unwrap());
        let tenant = TenantId::new();
        sqlite.ensure_tenant(tenant, "t").await.unwrap();
        Self {
            store: sqlite.clone(),
            sqlite,
            blobs,
            tenant,
            _dir: dir,
        }
    }

    pub async fn run(&self, max_attempts: i32) -> RunId {
        self.ask("q", RunOptions::default(), max_attempts).await
    }

    /// Creates a run of `question` over the `local` source with `options`.
    pub async fn ask(&self, question: &str, options: RunOptions, max_attempts: i32) -> RunId {
        let project = self
            .store
            .create_project(
                self.tenant,
                NewProject {
                    name: "p".into(),
                    description: None,
                },
            )
            .await
            .unwrap();
        let run = NewRun {
            project_id: project.id,
            question: question.into(),
            sources: vec!["local".into()],
            options,
            client_request_id: None,
            lane: researchops_core::Lane::default(),
        };
        match self
            .store
            .create_run(self.tenant, run, max_attempts)
            .await
            .unwrap()
        {
            CreateRunOutcome::Created(id) => id,
            other => panic!("{other:?}"),
        }
    }

    /// Starts a worker over `store` (the harness's own store unless a test wraps it).
    pub fn start_over(
        &self,
        store: Arc<dyn Store>,
        script: impl Fn(Stage, i64) -> Act + Send + Sync + 'static,
        config: WorkerConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let worker = Worker::with_stages(
            store,
            self.blobs.clone(),
            Arc::new(Script(Box::new(script))),
            config,
        );
        let shutdown = CancellationToken::new();
        (shutdown.clone(), tokio::spawn(worker.run(shutdown)))
    }

    /// Starts a worker executing the real research pipeline over `connectors`, lexically: no
    /// embedder, whatever `RESEARCHOPS_EMBED_MODEL_DIR` says, so reports are deterministic.
    pub fn start_pipeline(
        &self,
        connectors: Connectors,
        config: WorkerConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let worker = Worker::new(
            self.store.clone(),
            self.blobs.clone(),
            connectors,
            None,
            config,
        );
        let shutdown = CancellationToken::new();
        (shutdown.clone(), tokio::spawn(worker.run(shutdown)))
    }

    pub fn start(
        &self,
        script: impl Fn(Stage, i64) -> Act + Send + Sync + 'static,
        config: WorkerConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        self.start_over(self.store.clone(), script, config)
    }

    /// Polls the run (a read every 20 ms) until `until` holds; fails after [`PATIENCE`].
    pub async fn wait(
        &self,
        run: RunId,
        until: impl Fn(RunStatus) -> bool,
    ) -> researchops_core::Run {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let current = self.store.get_run(self.tenant, run).await.unwrap();
            if until(current.status) {
                return current;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run} still {:?} after {PATIENCE:?}",
                current.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn events(&self, run: RunId) -> Vec<researchops_core::RunEvent> {
        self.store
            .list_events(self.tenant, run, None, 5000)
            .await
            .unwrap()
    }

    pub async fn finished(&self, run: RunId, stage: Stage) -> usize {
        self.events(run)
            .await
            .iter()
            .filter(|e| e.event_type == EventType::StageFinish && e.stage == Some(stage))
            .count()
    }
}
