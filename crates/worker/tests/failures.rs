//! The worker's failure handling, end to end over the real SQLite store, with scripted stages:
//! panics, stage and run time limits, retryable errors with backoff, cancellation inside a long
//! stage, and graceful shutdown handing a run to another worker.

#![expect(clippy::unwrap_used, reason = "tests")]

use researchops_core::{
    CreateRunOutcome, EventType, Lane, NewProject, NewRun, RunId, RunOptions, RunStatus, Stage,
    StageCommit, Store, TenantId,
};
use researchops_pipeline::{StageContext, StageError, Stages};
use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_worker::{Worker, WorkerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a scripted stage does on a given attempt.
#[derive(Clone, Copy, Debug)]
enum Act {
    Succeed,
    Panic,
    Hang,
    Retryable,
    /// Loops for up to 30 s, checking for cancellation every 10 ms.
    LongLoop,
    /// Takes a while, ignoring cancellation (a stage that finishes within the grace period).
    Slow,
}

struct Script(Box<dyn Fn(Stage, i64) -> Act + Send + Sync>);

#[async_trait::async_trait]
impl Stages for Script {
    async fn run(&self, stage: Stage, cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
        match (self.0)(stage, cx.run.attempt) {
            Act::Succeed => {}
            Act::Panic => panic!("scripted panic in {stage}"),
            Act::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Act::Retryable => return Err(StageError::Retryable("the index is busy".into())),
            Act::LongLoop => {
                for _ in 0..3000 {
                    cx.checkpoint()?;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Act::Slow => tokio::time::sleep(Duration::from_millis(600)).await,
        }
        Ok(StageCommit {
            output: serde_json::json!({ "stage": stage }),
            ..StageCommit::default()
        })
    }
}

struct Harness {
    store: Arc<dyn Store>,
    blobs: Arc<researchops_blobs::LocalBlobStore>,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

fn config() -> WorkerConfig {
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
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("db"), Durability::Normal)
                .await
                .unwrap(),
        );
        let blobs =
            Arc::new(researchops_blobs::LocalBlobStore::open(&dir.path().join("blobs")).unwrap());
        let tenant = TenantId::new();
        store.ensure_tenant(tenant, "t").await.unwrap();
        Self {
            store,
            blobs,
            tenant,
            _dir: dir,
        }
    }

    async fn run(&self, max_attempts: i32) -> RunId {
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
            question: "q".into(),
            sources: vec!["local".into()],
            options: RunOptions::default(),
            client_request_id: None,
            lane: Lane::default(),
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

    fn start(
        &self,
        script: impl Fn(Stage, i64) -> Act + Send + Sync + 'static,
        config: WorkerConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let worker = Worker::with_stages(
            self.store.clone(),
            self.blobs.clone(),
            Arc::new(Script(Box::new(script))),
            config,
        );
        let shutdown = CancellationToken::new();
        (shutdown.clone(), tokio::spawn(worker.run(shutdown)))
    }

    async fn wait(&self, run: RunId, until: impl Fn(RunStatus) -> bool) -> researchops_core::Run {
        for _ in 0..600 {
            let current = self.store.get_run(self.tenant, run).await.unwrap();
            if until(current.status) {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run} did not reach the expected state in 30 s");
    }

    async fn events(&self, run: RunId) -> Vec<researchops_core::RunEvent> {
        self.store
            .list_events(self.tenant, run, None, 5000)
            .await
            .unwrap()
    }

    async fn finished(&self, run: RunId, stage: Stage) -> usize {
        self.events(run)
            .await
            .iter()
            .filter(|e| e.event_type == EventType::StageFinish && e.stage == Some(stage))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_stage_fails_the_run_with_an_internal_error_event() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Outline {
                Act::Panic
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        (end.status, end.error_code.as_deref()),
        (RunStatus::Failed, Some("internal_error"))
    );
    assert!(
        end.failure_reason
            .unwrap()
            .contains("scripted panic in outline")
    );
    let events = h.events(run).await;
    let error = events
        .iter()
        .find(|e| e.event_type == EventType::Error)
        .unwrap();
    assert_eq!(error.stage, Some(Stage::Outline));
    assert_eq!(h.finished(run, Stage::Ingest).await, 1);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_past_its_time_limit_fails_with_stage_timeout() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let config = WorkerConfig {
        stage_timeout: Duration::from_millis(300),
        ..config()
    };
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Draft {
                Act::Hang
            } else {
                Act::Succeed
            }
        },
        config,
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        (end.status, end.error_code.as_deref()),
        (RunStatus::Failed, Some("stage_timeout"))
    );
    assert_eq!(end.current_stage, Some(Stage::Draft));
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_time_limit_fails_with_run_timeout() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let config = WorkerConfig {
        run_timeout: Duration::from_millis(400),
        ..config()
    };
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Validate {
                Act::Hang
            } else {
                Act::Succeed
            }
        },
        config,
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        (end.status, end.error_code.as_deref()),
        (RunStatus::Failed, Some("run_timeout"))
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_errors_back_off_and_the_run_resumes_at_the_failed_stage() {
    let h = Harness::new().await;
    let run = h.run(5).await;
    // Draft fails on the first two attempts, then succeeds.
    let (stop, task) = h.start(
        |stage, attempt| {
            if stage == Stage::Draft && attempt < 3 {
                Act::Retryable
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Succeeded);
    assert_eq!(
        (end.attempt, end.retry_count),
        (3, 0),
        "automatic retries are attempts, not requested retries"
    );
    let events = h.events(run).await;
    let warnings = events
        .iter()
        .filter(|e| e.event_type == EventType::Log && e.level == researchops_core::EventLevel::Warn)
        .count();
    assert_eq!(warnings, 2);
    for stage in Stage::ALL {
        assert_eq!(h.finished(run, stage).await, 1, "{stage} committed once");
    }
    let states: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == EventType::State)
        .map(|e| e.payload["to"].clone())
        .collect();
    assert_eq!(
        states,
        [serde_json::json!("running"), serde_json::json!("succeeded")],
        "the run stayed running while it backed off"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_errors_past_the_attempt_limit_fail_the_run() {
    let h = Harness::new().await;
    let run = h.run(2).await;
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Ingest {
                Act::Retryable
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        (end.status, end.error_code.as_deref()),
        (RunStatus::Failed, Some("attempts_exhausted"))
    );
    assert_eq!(end.attempt, 2);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_a_long_stage_at_its_next_checkpoint() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Ingest {
                Act::LongLoop
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    h.wait(run, |s| s == RunStatus::Running).await;
    // Let it get into the long stage.
    for _ in 0..100 {
        if h.store.get_run(h.tenant, run).await.unwrap().current_stage == Some(Stage::Ingest) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requested = h.store.cancel_run(h.tenant, run).await.unwrap();
    assert_eq!(requested.status, RunStatus::Running);
    let asked = std::time::Instant::now();
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Canceled);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped inside the stage, not after 30 s"
    );
    assert_eq!(h.finished(run, Stage::Ingest).await, 0);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_lets_the_stage_finish_and_hands_the_run_to_another_worker() {
    let h = Harness::new().await;
    let run = h.run(5).await;
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Outline {
                Act::Slow
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    for _ in 0..200 {
        if h.store.get_run(h.tenant, run).await.unwrap().current_stage == Some(Stage::Outline) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
    let paused = h.store.get_run(h.tenant, run).await.unwrap();
    assert_eq!(paused.status, RunStatus::Running);
    assert_eq!(
        paused.checkpoint,
        Some(Stage::Outline),
        "the running stage finished and was committed"
    );
    let (stop, task) = h.start(|_, _| Act::Succeed, config());
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Succeeded);
    for stage in Stage::ALL {
        assert_eq!(h.finished(run, stage).await, 1, "{stage} committed once");
    }
    stop.cancel();
    task.await.unwrap();
}
