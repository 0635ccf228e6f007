//! The worker's failure handling, end to end over the real SQLite store, with scripted stages:
//! panics, stage and run time limits (also for stages that spin on the CPU and never yield),
//! retryable errors with backoff, cancellation inside a long stage, and graceful shutdown handing a
//! run to another worker. Tests hold stages with gates instead of sleeping and hoping.

#![expect(clippy::unwrap_used, reason = "tests")]

mod support;

use researchops_core::{EventType, RunStatus, Stage};
use researchops_worker::WorkerConfig;
use std::time::{Duration, Instant};
use support::{Act, Gate, Harness, config};

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
    let gate = Gate::new();
    let spin = gate.clone();
    let (stop, task) = h.start(
        move |stage, _| {
            if stage == Stage::Ingest {
                Act::SpinUntilCanceled(spin.clone())
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    gate.entered().await;
    let requested = h.store.cancel_run(h.tenant, run).await.unwrap();
    assert_eq!(requested.status, RunStatus::Running);
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Canceled);
    gate.exited().await;
    assert_eq!(h.finished(run, Stage::Ingest).await, 0);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_ends_the_run_even_while_a_stage_spins_without_checking() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let gate = Gate::new();
    let spin = gate.clone();
    let (stop, task) = h.start(
        move |stage, _| {
            if stage == Stage::Draft {
                Act::SpinIgnoringToken(spin.clone())
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    gate.entered().await;
    h.store.cancel_run(h.tenant, run).await.unwrap();
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Canceled);
    assert!(
        !gate.has_exited(),
        "the run ended while its stage still spun"
    );
    gate.release();
    gate.exited().await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        h.finished(run, Stage::Draft).await,
        0,
        "the abandoned stage's result was discarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_spinning_on_the_cpu_and_ignoring_its_token_still_times_out() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let limit = Duration::from_millis(300);
    let config = WorkerConfig {
        stage_timeout: limit,
        ..config()
    };
    let gate = Gate::new();
    let spin = gate.clone();
    let (stop, task) = h.start(
        move |stage, _| {
            if stage == Stage::Outline {
                Act::SpinIgnoringToken(spin.clone())
            } else {
                Act::Succeed
            }
        },
        config,
    );
    gate.entered().await;
    let entered = Instant::now();
    let end = h.wait(run, RunStatus::is_terminal).await;
    let took = entered.elapsed();
    assert_eq!(
        (end.status, end.error_code.as_deref(), end.current_stage),
        (
            RunStatus::Failed,
            Some("stage_timeout"),
            Some(Stage::Outline)
        )
    );
    assert!(
        took < limit + Duration::from_secs(3),
        "ended {took:?} after the stage started; the limit is {limit:?}"
    );
    assert!(
        !gate.has_exited(),
        "the run ended while its stage still spun"
    );
    // The stage finally returns a result: nobody takes it.
    gate.release();
    gate.exited().await;
    stop.cancel();
    task.await.unwrap();
    let after = h.store.get_run(h.tenant, run).await.unwrap();
    assert_eq!(after.checkpoint, Some(Stage::Ingest));
    assert_eq!(h.finished(run, Stage::Outline).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_stage_that_checks_its_token_stops_its_thread_at_the_time_limit() {
    let h = Harness::new().await;
    let run = h.run(3).await;
    let config = WorkerConfig {
        stage_timeout: Duration::from_millis(300),
        ..config()
    };
    let gate = Gate::new();
    let spin = gate.clone();
    let (stop, task) = h.start(
        move |stage, _| {
            if stage == Stage::Factcheck {
                Act::SpinUntilCanceled(spin.clone())
            } else {
                Act::Succeed
            }
        },
        config,
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.error_code.as_deref(), Some("stage_timeout"));
    // Never released: only the token can have stopped it.
    gate.exited().await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_lets_the_stage_finish_and_hands_the_run_to_another_worker() {
    let h = Harness::new().await;
    let run = h.run(5).await;
    let gate = Gate::new();
    let held = gate.clone();
    let (stop, task) = h.start(
        move |stage, _| {
            if stage == Stage::Outline {
                Act::Held(held.clone())
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    gate.entered().await;
    // Shut down while the stage runs, then let it finish within the grace period.
    stop.cancel();
    gate.release();
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
