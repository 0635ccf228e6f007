//! Progress events over a store that refuses writes for a while: none is lost or stored twice, their
//! order holds, and a stage whose events cannot be stored is not committed. Also `duration_ms` on every
//! `stage_finish` event.

#![expect(clippy::unwrap_used, reason = "tests")]

mod support;

use researchops_core::{EventType, RunStatus, Stage, Store};
use std::sync::Arc;
use std::time::Duration;
use support::{Act, FlakyEvents, Harness, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_refused_by_a_passing_fault_are_kept_and_stored_later_in_order() {
    let h = Harness::new().await;
    let run = h.run(1).await;
    let flaky = FlakyEvents::new(h.sqlite.clone(), 3);
    let in_stage = flaky.clone();
    let (stop, task) = h.start_over(
        flaky.clone() as Arc<dyn Store>,
        move |stage, _| {
            if stage == Stage::Ingest {
                Act::EmitAcrossFailedFlushes {
                    flaky: in_stage.clone(),
                    failures: 2,
                }
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Succeeded, "{:?}", end.failure_reason);
    assert_eq!(flaky.failures(), 3, "the store refused three writes");
    let events = h.events(run).await;
    let ingest: Vec<(EventType, String)> = events
        .iter()
        .filter(|e| e.stage == Some(Stage::Ingest))
        .map(|e| (e.event_type, e.message.clone()))
        .collect();
    let progress = |n: u64| (EventType::Progress, format!("step {n}"));
    assert_eq!(
        ingest,
        [
            (EventType::StageStart, ingest[0].1.clone()),
            progress(1),
            progress(2),
            progress(3),
            progress(4),
            progress(5),
            (EventType::StageFinish, ingest[6].1.clone()),
        ],
        "every event once, in order, before the stage's commit"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_whose_events_cannot_be_stored_is_not_committed() {
    let h = Harness::new().await;
    let run = h.run(1).await;
    let flaky = FlakyEvents::new(h.sqlite.clone(), usize::MAX);
    let (stop, task) = h.start_over(
        flaky.clone() as Arc<dyn Store>,
        |stage, _| {
            if stage == Stage::Retrieve {
                Act::Emit
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        (end.status, end.error_code.as_deref()),
        (RunStatus::Failed, Some("attempts_exhausted")),
        "a storage fault is retryable; this run had one attempt"
    );
    assert!(end.failure_reason.unwrap().contains("storage"));
    assert_eq!(end.checkpoint, None);
    assert_eq!(h.finished(run, Stage::Retrieve).await, 0);
    assert!(flaky.failures() >= 2, "the last flush was retried");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_finish_event_carries_the_stage_duration() {
    let h = Harness::new().await;
    let run = h.run(1).await;
    let (stop, task) = h.start(
        |stage, _| {
            if stage == Stage::Draft {
                Act::Take(Duration::from_millis(120))
            } else {
                Act::Succeed
            }
        },
        config(),
    );
    let end = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(end.status, RunStatus::Succeeded);
    let finishes: Vec<_> = h
        .events(run)
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::StageFinish)
        .collect();
    assert_eq!(finishes.len(), 7);
    for e in &finishes {
        let ms = e.payload["duration_ms"].as_u64();
        assert!(ms.is_some(), "{:?}: {}", e.stage, e.payload);
        if e.stage == Some(Stage::Draft) {
            assert!(ms.unwrap() >= 120, "{}", e.payload);
        }
    }
    assert!(
        end.usage.get("duration_ms").is_none(),
        "durations stay on the events"
    );
    stop.cancel();
    task.await.unwrap();
}
