//! Executing one run job: heartbeat, stages from the checkpoint, progress events, time limits, panics,
//! cancellation, and how each kind of failure ends (or defers) the run.
//!
//! Each stage runs on a thread of its own (see [`crate::stage`]); this executor only waits for its
//! result, so the stage and run time limits, a cancel request and a lost lease end the wait on time even
//! when a stage never yields. A stage it walks away from is told to stop through its token, and its
//! result, should it ever come, is discarded: only this executor commits, and only through fenced writes.

use crate::Worker;
use crate::backoff::backoff;
use crate::stage::{self, EventBuffer, StageInputs, StageResult};
use researchops_core::decide::{AttemptDecision, attempt_decision};
use researchops_core::{
    ClaimedJob, FailureCode, JobOutcome, Lease, NewEvent, RunEnd, RunId, Stage, StageCommit,
    StageGate, StoreError,
};
use researchops_pipeline::StageError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often a running stage's progress events are stored.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Events kept for a retry while the store refuses them, before the stage gives up (a retryable
/// storage failure: the run is deferred and the stage runs again, emitting its events again).
const MAX_UNSTORED_EVENTS: usize = 10_000;
/// Attempts at storing a finished stage's last events before the stage gives up the same way.
const FINAL_FLUSH_ATTEMPTS: u32 = 5;

/// Why a run's stage loop stopped early.
enum Stop {
    /// The lease is gone: commit nothing more.
    LeaseLost,
    /// End the run with this.
    End(RunEnd),
    /// Hand the run back to the queue until this delay has passed.
    Defer(Duration, String),
}

/// Signals raised while a run executes.
#[derive(Clone, Default)]
struct Signals {
    /// Fires for any reason the stage must stop.
    stop: CancellationToken,
    /// A person asked to cancel.
    cancel_requested: CancellationToken,
    /// The lease was lost.
    lease_lost: CancellationToken,
}

/// How the wait for a stage ended.
enum Waited {
    /// The stage's thread sent its result.
    Returned(StageResult),
    /// The thread ended without a result (it cannot: every panic is caught).
    Vanished,
    TimedOut,
    CancelRequested,
    LeaseLost,
    /// Its progress events could not be stored.
    Storage(StoreError),
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Progress events taken from a stage's buffer and not stored yet (kept across failed attempts).
struct Unstored {
    lease: Lease,
    run_id: RunId,
    events: Vec<NewEvent>,
}

impl Unstored {
    /// Stores what the stage emitted since the last flush, after anything a failed flush kept. On an
    /// error nothing is dropped: the events stay for the next attempt.
    async fn flush(&mut self, worker: &Worker, buffer: &EventBuffer) -> Result<(), StoreError> {
        self.events.extend(buffer.take());
        if self.events.is_empty() {
            return Ok(());
        }
        worker
            .store
            .append_events(self.lease, self.run_id, &self.events)
            .await?;
        self.events.clear();
        Ok(())
    }

    /// [`Self::flush`], retried with backoff on retryable errors.
    async fn flush_retrying(
        &mut self,
        worker: &Worker,
        buffer: &EventBuffer,
    ) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.flush(worker, buffer).await {
                Err(e) if e.is_retryable() && attempt < FINAL_FLUSH_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, pending = self.events.len(), "storing progress events failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Worker {
    pub(crate) async fn execute_run(self: Arc<Self>, job: ClaimedJob, drain: CancellationToken) {
        let lease = job.lease;
        let Some(run_id) = job.run_id else {
            let error = "a run job without a run".to_string();
            let _ = self
                .store
                .finish_job(lease, JobOutcome::Failed { error })
                .await;
            return;
        };
        // The error is logged by the span; the run's lease will expire and it will be rescued.
        let _ = self.execute(job, run_id, drain).await;
    }

    #[tracing::instrument(
        skip_all,
        fields(run.id = %run_id, job.id = %job.lease.job_id, tenant.id = %job.tenant_id, attempt = job.attempt),
        err
    )]
    async fn execute(
        self: Arc<Self>,
        job: ClaimedJob,
        run_id: RunId,
        drain: CancellationToken,
    ) -> Result<(), StoreError> {
        let lease = job.lease;
        let signals = Signals::default();
        // Should this task be dropped (shutdown past its grace period), the running stage is told to stop.
        let _stop_on_drop = signals.stop.clone().drop_guard();
        let heartbeat = tokio::spawn(heartbeat_loop(self.clone(), lease, signals.clone()));
        let stop = self.run_stages(&job, run_id, &signals, &drain).await;
        heartbeat.abort();
        let result = match stop {
            Stop::LeaseLost => {
                tracing::warn!("lease lost; abandoning the run to its new owner");
                return Ok(());
            }
            Stop::End(end) => self.store.finish_run(lease, run_id, end).await.map(|_| ()),
            Stop::Defer(delay, reason) => {
                let at = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store.defer_run(lease, run_id, at, &reason).await
            }
        };
        match result {
            Err(StoreError::LeaseLost) => {
                tracing::warn!("lease lost before the run's end was recorded");
                Ok(())
            }
            other => other,
        }
    }

    async fn run_stages(
        &self,
        job: &ClaimedJob,
        run_id: RunId,
        signals: &Signals,
        drain: &CancellationToken,
    ) -> Stop {
        let lease = job.lease;
        let start = match self.store.start_run(lease, run_id).await {
            Ok(start) => start,
            Err(StoreError::LeaseLost) => return Stop::LeaseLost,
            Err(StoreError::Conflict(reason)) => {
                // The run ended while its job waited (e.g. canceled): nothing to execute.
                tracing::info!(reason, "run not executable; completing its job");
                let _ = self.store.finish_job(lease, JobOutcome::Completed).await;
                return Stop::LeaseLost;
            }
            Err(e) => return self.store_failure(job, e),
        };
        let run = start.run;
        let mut outputs = Arc::new(start.outputs);
        let started = run.started_at.unwrap_or_else(chrono::Utc::now);
        let deadline =
            started + chrono::Duration::from_std(self.config.run_timeout).unwrap_or_default();
        let mut next = Stage::after_checkpoint(run.checkpoint);
        while let Some(stage) = next {
            if drain.is_cancelled() {
                return Stop::Defer(
                    Duration::ZERO,
                    "the worker shut down; the run resumes from its checkpoint".into(),
                );
            }
            match self.store.begin_stage(lease, run_id, stage).await {
                Ok(StageGate::Proceed) => {}
                Ok(StageGate::CancelRequested) => return Stop::End(RunEnd::Canceled),
                Err(StoreError::LeaseLost) => return Stop::LeaseLost,
                Err(e) => return self.store_failure(job, e),
            }
            let remaining = (deadline - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            let (limit, limit_code) = if remaining < self.config.stage_timeout {
                (remaining, FailureCode::RunTimeout)
            } else {
                (self.config.stage_timeout, FailureCode::StageTimeout)
            };
            let began = Instant::now();
            let events = Arc::new(EventBuffer::default());
            let inputs = StageInputs {
                run: run.clone(),
                outputs: outputs.clone(),
                connectors: self.connectors.clone(),
                embedder: self.embedder.clone(),
                blobs: self.blobs.clone(),
                stages: self.stages.clone(),
                progress: events.clone(),
                cancel: signals.stop.clone(),
                delay: self.config.stage_delay.and_then(|d| d.for_stage(stage)),
            };
            let work = match stage::spawn(stage, inputs) {
                Ok(work) => work,
                Err(e) => {
                    return self.retryable(job, format!("{stage}: cannot start its thread: {e}"));
                }
            };
            let mut unstored = Unstored {
                lease,
                run_id,
                events: Vec::new(),
            };
            let waited = self
                .wait_for(stage, work, &events, &mut unstored, limit, signals)
                .await;
            let duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            if !matches!(waited, Waited::Returned(_)) {
                // Walk away from the stage: its thread stops at its next checkpoint, and whatever it
                // returns is never received.
                signals.stop.cancel();
            }
            let flushed = match &waited {
                Waited::LeaseLost => return Stop::LeaseLost,
                Waited::Storage(_) => Ok(()),
                _ => unstored.flush_retrying(self, &events).await,
            };
            match flushed {
                Ok(()) => {}
                Err(StoreError::LeaseLost) => return Stop::LeaseLost,
                Err(e) => {
                    tracing::error!(error = %e, lost = unstored.events.len(), %stage, "could not store the stage's last progress events");
                    if matches!(waited, Waited::Returned(Ok(Ok(_)))) {
                        // Never commit a stage whose events are lost: it runs again and re-emits them.
                        return self.store_failure(job, e);
                    }
                }
            }
            let commit = match self.judge(
                job,
                stage,
                waited,
                (limit, limit_code),
                duration_ms,
                signals,
            ) {
                Ok(commit) => commit,
                Err(stop) => return stop,
            };
            let output = commit.output.clone();
            let commit = StageCommit {
                duration_ms,
                ..commit
            };
            match self.store.finish_stage(lease, run_id, stage, commit).await {
                Ok(()) => {}
                Err(StoreError::LeaseLost) => return Stop::LeaseLost,
                Err(e) => return self.store_failure(job, e),
            }
            tracing::info!(%stage, duration_ms, "stage finished");
            Arc::make_mut(&mut outputs).insert(stage, output);
            next = stage.next();
        }
        Stop::End(RunEnd::Succeeded)
    }

    /// Waits for the stage's result, storing its progress events meanwhile, until the result comes or
    /// something ends the wait (time limit, cancel request, lost lease, events that cannot be stored).
    async fn wait_for(
        &self,
        stage: Stage,
        work: tokio::sync::oneshot::Receiver<StageResult>,
        events: &EventBuffer,
        unstored: &mut Unstored,
        limit: Duration,
        signals: &Signals,
    ) -> Waited {
        tokio::pin!(work);
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        flush.tick().await;
        let time_limit = tokio::time::sleep(limit);
        tokio::pin!(time_limit);
        loop {
            tokio::select! {
                biased;
                result = &mut work => return result.map_or(Waited::Vanished, Waited::Returned),
                () = signals.lease_lost.cancelled() => return Waited::LeaseLost,
                () = signals.cancel_requested.cancelled() => return Waited::CancelRequested,
                () = &mut time_limit => return Waited::TimedOut,
                _ = flush.tick() => match unstored.flush(self, events).await {
                    Ok(()) => {}
                    Err(StoreError::LeaseLost) => return Waited::LeaseLost,
                    Err(e) if e.is_retryable() && unstored.events.len() <= MAX_UNSTORED_EVENTS => {
                        tracing::warn!(error = %e, pending = unstored.events.len(), %stage, "storing progress events failed; keeping them for the next flush");
                    }
                    Err(e) => return Waited::Storage(e),
                },
            }
        }
    }

    /// What the end of a stage's wait means: its commit, or how the run stops.
    fn judge(
        &self,
        job: &ClaimedJob,
        stage: Stage,
        waited: Waited,
        (limit, limit_code): (Duration, FailureCode),
        duration_ms: u64,
        signals: &Signals,
    ) -> Result<StageCommit, Stop> {
        let stop = match waited {
            Waited::Returned(Ok(Ok(commit))) => return Ok(commit),
            Waited::LeaseLost => Stop::LeaseLost,
            Waited::Storage(e) => {
                tracing::warn!(%stage, duration_ms, error = %e, "stage stopped: its progress events cannot be stored");
                self.store_failure(job, e)
            }
            Waited::TimedOut => {
                let what = if limit_code == FailureCode::RunTimeout {
                    "the run"
                } else {
                    "the stage"
                };
                tracing::warn!(%stage, duration_ms, code = %limit_code, "stage abandoned at its time limit");
                Stop::End(failed(
                    limit_code,
                    format!(
                        "{what} exceeded its time limit ({:.1} s) in {stage}",
                        limit.as_secs_f64()
                    ),
                    stage,
                ))
            }
            Waited::CancelRequested => {
                tracing::info!(%stage, duration_ms, "stage abandoned: cancel requested");
                Stop::End(RunEnd::Canceled)
            }
            Waited::Vanished => Stop::End(failed(
                FailureCode::InternalError,
                format!("the {stage} stage's thread ended without a result"),
                stage,
            )),
            Waited::Returned(Err(panic)) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(%stage, duration_ms, panic = %message, "stage panicked");
                Stop::End(failed(
                    FailureCode::InternalError,
                    format!("the {stage} stage crashed: {message}"),
                    stage,
                ))
            }
            Waited::Returned(Ok(Err(StageError::Canceled))) => {
                if signals.cancel_requested.is_cancelled() {
                    Stop::End(RunEnd::Canceled)
                } else {
                    Stop::LeaseLost
                }
            }
            Waited::Returned(Ok(Err(StageError::Fatal { code, reason }))) => {
                tracing::info!(%stage, duration_ms, %code, "stage failed");
                Stop::End(failed(code, reason, stage))
            }
            Waited::Returned(Ok(Err(StageError::Retryable(reason)))) => {
                tracing::info!(%stage, duration_ms, reason, "stage failed; retryable");
                self.retryable(job, format!("{stage}: {reason}"))
            }
        };
        Err(stop)
    }

    fn retryable(&self, job: &ClaimedJob, reason: String) -> Stop {
        let decision = attempt_decision(i64::from(job.attempt), i64::from(job.max_attempts));
        if decision == AttemptDecision::Fail {
            return Stop::End(RunEnd::Failed {
                code: FailureCode::AttemptsExhausted,
                reason: format!("gave up after {} attempts: {reason}", job.attempt),
                stage: None,
            });
        }
        Stop::Defer(
            backoff(job.attempt, self.config.retry_base, self.config.retry_max),
            reason,
        )
    }

    fn store_failure(&self, job: &ClaimedJob, e: StoreError) -> Stop {
        if e.is_retryable() {
            self.retryable(job, format!("storage: {e}"))
        } else {
            Stop::End(RunEnd::Failed {
                code: FailureCode::InternalError,
                reason: format!("storage error: {e}"),
                stage: None,
            })
        }
    }
}

fn failed(code: FailureCode, reason: String, stage: Stage) -> RunEnd {
    RunEnd::Failed {
        code,
        reason,
        stage: Some(stage),
    }
}

async fn heartbeat_loop(worker: Arc<Worker>, lease: Lease, signals: Signals) {
    let mut tick = tokio::time::interval(worker.config.heartbeat);
    tick.tick().await;
    loop {
        tick.tick().await;
        match worker.store.heartbeat(lease, worker.config.lease).await {
            Ok(beat) if beat.cancel_requested => {
                signals.cancel_requested.cancel();
                signals.stop.cancel();
            }
            Ok(_) => {}
            Err(StoreError::LeaseLost) => {
                signals.lease_lost.cancel();
                signals.stop.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(job.id = %lease.job_id, error = %e, "heartbeat failed; will retry")
            }
        }
    }
}
