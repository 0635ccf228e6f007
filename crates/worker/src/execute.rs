//! Executing one run job: heartbeat, stages from the checkpoint, progress events, time limits, panics,
//! cancellation, and how each kind of failure ends (or defers) the run.

use crate::Worker;
use crate::backoff::backoff;
use futures::FutureExt;
use researchops_core::decide::{AttemptDecision, attempt_decision};
use researchops_core::{
    ClaimedJob, FailureCode, JobOutcome, Lease, NewEvent, RunEnd, RunId, Stage, StageGate,
    StoreError,
};
use researchops_pipeline::{Progress, StageContext, StageError};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Buffers events emitted inside a stage; flushed by the executor.
#[derive(Default)]
struct EventBuffer(Mutex<Vec<NewEvent>>);

impl Progress for EventBuffer {
    fn emit(&self, event: NewEvent) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

impl EventBuffer {
    fn take(&self) -> Vec<NewEvent> {
        self.0
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
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
        let signals = Signals::default();
        let heartbeat = tokio::spawn(heartbeat_loop(self.clone(), lease, signals.clone()));
        let stop = self.run_stages(&job, run_id, &signals, &drain).await;
        heartbeat.abort();
        let result = match stop {
            Stop::LeaseLost => {
                tracing::warn!(run.id = %run_id, job.id = %lease.job_id, "lease lost; abandoning the run to its new owner");
                return;
            }
            Stop::End(end) => self.store.finish_run(lease, run_id, end).await.map(|_| ()),
            Stop::Defer(delay, reason) => {
                let at = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store.defer_run(lease, run_id, at, &reason).await
            }
        };
        match result {
            Ok(()) => {}
            Err(StoreError::LeaseLost) => {
                tracing::warn!(run.id = %run_id, "lease lost before the run's end was recorded")
            }
            Err(e) => {
                tracing::error!(run.id = %run_id, error = %e, "could not record the run's end; its lease will expire and be rescued")
            }
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
                tracing::info!(run.id = %run_id, reason, "run not executable; completing its job");
                let _ = self.store.finish_job(lease, JobOutcome::Completed).await;
                return Stop::LeaseLost;
            }
            Err(e) => return self.store_failure(job, e),
        };
        let run = start.run;
        let mut outputs = start.outputs;
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
            let commit = {
                let events = EventBuffer::default();
                let cx = StageContext {
                    run: &run,
                    outputs: &outputs,
                    connectors: &self.connectors,
                    blobs: self.blobs.as_ref(),
                    progress: &events,
                    cancel: &signals.stop,
                };
                let work = AssertUnwindSafe(self.stages.run(stage, &cx)).catch_unwind();
                tokio::pin!(work);
                let mut flush = tokio::time::interval(Duration::from_millis(250));
                let time_limit = tokio::time::sleep(limit);
                tokio::pin!(time_limit);
                flush.tick().await;
                let outcome = loop {
                    tokio::select! {
                        result = &mut work => break Some(result),
                        () = &mut time_limit => break None,
                        _ = flush.tick() => {
                            let pending = events.take();
                            if let Err(StoreError::LeaseLost) = self.store.append_events(lease, run_id, &pending).await {
                                signals.lease_lost.cancel();
                                signals.stop.cancel();
                            }
                        }
                    }
                };
                if signals.lease_lost.is_cancelled() {
                    return Stop::LeaseLost;
                }
                let pending = events.take();
                if let Err(StoreError::LeaseLost) =
                    self.store.append_events(lease, run_id, &pending).await
                {
                    return Stop::LeaseLost;
                }
                match outcome {
                    None => {
                        let what = if limit_code == FailureCode::RunTimeout {
                            "the run"
                        } else {
                            "the stage"
                        };
                        return Stop::End(failed(
                            limit_code,
                            format!(
                                "{what} exceeded its time limit ({} s) in {stage}",
                                limit.as_secs()
                            ),
                            stage,
                        ));
                    }
                    Some(Err(panic)) => {
                        let message = panic_message(panic.as_ref());
                        tracing::error!(run.id = %run_id, %stage, panic = %message, "stage panicked");
                        return Stop::End(failed(
                            FailureCode::InternalError,
                            format!("the {stage} stage crashed: {message}"),
                            stage,
                        ));
                    }
                    Some(Ok(Err(StageError::Canceled))) => {
                        return if signals.cancel_requested.is_cancelled() {
                            Stop::End(RunEnd::Canceled)
                        } else {
                            Stop::LeaseLost
                        };
                    }
                    Some(Ok(Err(StageError::Fatal { code, reason }))) => {
                        return Stop::End(failed(code, reason, stage));
                    }
                    Some(Ok(Err(StageError::Retryable(reason)))) => {
                        return self.retryable(job, format!("{stage}: {reason}"));
                    }
                    Some(Ok(Ok(commit))) => commit,
                }
            };
            let output = commit.output.clone();
            match self.store.finish_stage(lease, run_id, stage, commit).await {
                Ok(()) => {}
                Err(StoreError::LeaseLost) => return Stop::LeaseLost,
                Err(e) => return self.store_failure(job, e),
            }
            outputs.insert(stage, output);
            next = stage.next();
        }
        Stop::End(RunEnd::Succeeded)
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
