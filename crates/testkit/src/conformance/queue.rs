//! Claims, leases, fencing, rescue and batched completion.

use super::*;
use researchops_core::{
    CreateRunOutcome, EventType, JobOutcome, NewEvent, NewJob, RunEnd, RunStatus, Stage,
    StageCommit, Store, StoreError,
};
use std::sync::Arc;
use std::time::Duration;

pub async fn claims_respect_the_slot_count_and_rotate_across_tenants(store: Arc<dyn Store>) {
    let busy = tenant(&store).await;
    let quiet = tenant(&store).await;
    let noop = |t| NewJob::noop(t, Lane::default());
    store
        .enqueue(&(0..10).map(|_| noop(busy)).collect::<Vec<_>>())
        .await
        .unwrap();
    let first = store.claim(&Lane::default(), "w", 2, LEASE).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|j| j.tenant_id == busy));
    store.enqueue(&[noop(quiet)]).await.unwrap();
    // The quiet tenant's single job is claimed before the busy tenant's backlog drains.
    let next = store.claim(&Lane::default(), "w", 1, LEASE).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].tenant_id, quiet);
    let rest = store
        .claim(&Lane::default(), "w", 100, LEASE)
        .await
        .unwrap();
    assert_eq!(rest.len(), 8);
    assert!(nothing_due(store.as_ref(), &Lane::default()).await);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.queued, stats.running), (0, 11));
}

pub async fn a_stale_lease_can_commit_nothing(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    let old = store
        .claim(&Lane::default(), "old", 1, Duration::from_millis(50))
        .await
        .unwrap()
        .remove(0);
    store.start_run(old.lease, run).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.rescue_expired().await.unwrap(), 1);
    let new = store
        .claim(&Lane::default(), "new", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    assert_ne!(new.lease.token, old.lease.token);
    assert_eq!(new.attempt, 2);
    let commit = StageCommit {
        output: serde_json::json!({ "by": "old" }),
        ..StageCommit::default()
    };
    assert!(matches!(
        store
            .finish_stage(old.lease, run, Stage::Retrieve, commit)
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.heartbeat(old.lease, LEASE).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.begin_stage(old.lease, run, Stage::Retrieve).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store
            .append_events(old.lease, run, &[NewEvent::warn(None, "x")])
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.finish_run(old.lease, run, RunEnd::Succeeded).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(store.stage_outputs(t, run).await.unwrap().is_empty());
    assert_eq!(
        store.get_run(t, run).await.unwrap().status,
        RunStatus::Running
    );
    // The new owner can.
    store.start_run(new.lease, run).await.unwrap();
    let commit = StageCommit {
        output: serde_json::json!({ "by": "new" }),
        ..StageCommit::default()
    };
    store
        .finish_stage(new.lease, run, Stage::Retrieve, commit)
        .await
        .unwrap();
    assert_eq!(
        store.stage_outputs(t, run).await.unwrap()[&Stage::Retrieve],
        serde_json::json!({ "by": "new" })
    );
}

pub async fn expired_leases_are_rescued_and_the_run_resumes_with_a_warning(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    let first = store
        .claim(&Lane::default(), "crashed", 1, Duration::from_millis(50))
        .await
        .unwrap()
        .remove(0);
    store.start_run(first.lease, run).await.unwrap();
    store
        .begin_stage(first.lease, run, Stage::Retrieve)
        .await
        .unwrap();
    store
        .finish_stage(
            first.lease,
            run,
            Stage::Retrieve,
            StageCommit {
                output: serde_json::json!(1),
                ..StageCommit::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    store.rescue_expired().await.unwrap();
    let during = store.get_run(t, run).await.unwrap();
    assert_eq!(
        during.status,
        RunStatus::Running,
        "automatic recovery keeps the run running"
    );
    let events = store.list_events(t, run, None, 100).await.unwrap();
    let warn = events.last().unwrap();
    assert_eq!(
        (warn.event_type, warn.level),
        (EventType::Log, researchops_core::EventLevel::Warn)
    );
    let second = store
        .claim(&Lane::default(), "healthy", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let start = store.start_run(second.lease, run).await.unwrap();
    assert_eq!(start.run.attempt, 2);
    assert_eq!(
        start.run.retry_count, 0,
        "automatic recovery is not a requested retry"
    );
    assert_eq!(start.run.checkpoint, Some(Stage::Retrieve));
    assert_eq!(
        start.outputs.get(&Stage::Retrieve),
        Some(&serde_json::json!(1))
    );
}

pub async fn exhausted_attempts_fail_the_run(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = match store.create_run(t, new_run(p, "q", None), 1).await.unwrap() {
        CreateRunOutcome::Created(id) => id,
        other => panic!("{other:?}"),
    };
    let job = store
        .claim(&Lane::default(), "w", 1, Duration::from_millis(30))
        .await
        .unwrap()
        .remove(0);
    store.start_run(job.lease, run).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    store.rescue_expired().await.unwrap();
    let failed = store.get_run(t, run).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_code.as_deref()),
        (
            RunStatus::Failed,
            Some(FailureCode::AttemptsExhausted.as_str())
        )
    );
    assert!(
        store
            .claim(&Lane::default(), "w", 1, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        event_types(&store, t, run).await.last().map(String::as_str),
        Some("state")
    );
}

pub async fn noop_jobs_complete_in_batches_and_stale_completions_are_fenced(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let jobs: Vec<NewJob> = (0..5)
        .map(|_| NewJob {
            max_attempts: 2,
            ..NewJob::noop(t, Lane::default())
        })
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let claimed = store.claim(&Lane::default(), "w", 5, LEASE).await.unwrap();
    let mut done: Vec<_> = claimed
        .iter()
        .map(|j| (j.lease, JobOutcome::Completed))
        .collect();
    let mut stale = done[0].0;
    stale.token = uuid::Uuid::new_v4();
    done.push((stale, JobOutcome::Completed));
    // The stale one is reported lost (its real lease was completed in the same batch).
    assert_eq!(store.finish_jobs(&done).await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.queued, stats.running, stats.failed), (0, 0, 0));
    store.enqueue(&jobs[..1]).await.unwrap();
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    store
        .finish_job(
            job.lease,
            JobOutcome::Failed {
                error: "boom".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().failed, 1);
    assert!(matches!(
        store.finish_job(job.lease, JobOutcome::Completed).await,
        Err(StoreError::LeaseLost)
    ));
}

pub async fn claims_take_jobs_from_their_own_lane_only(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let u = tenant(&store).await;
    let a = Lane::private("a");
    let b = Lane::private("b");
    let jobs = [
        NewJob::noop(t, a.clone()),
        NewJob::noop(u, a.clone()),
        NewJob::noop(t, b.clone()),
        NewJob::noop(u, b.clone()),
        NewJob::noop(u, Lane::default()),
    ];
    store.enqueue(&jobs).await.unwrap();
    let p = project(&store, t, "p").await;
    let run = match store
        .create_run(
            t,
            NewRun {
                lane: a.clone(),
                ..new_run(p, "q", None)
            },
            3,
        )
        .await
        .unwrap()
    {
        CreateRunOutcome::Created(id) => id,
        other => panic!("expected a new run, got {other:?}"),
    };
    // Both rounds of the claim (one per tenant, then the oldest) stay inside the lane.
    let in_b = store.claim(&b, "w", 100, LEASE).await.unwrap();
    assert_eq!(in_b.len(), 2);
    assert!(in_b.iter().all(|j| j.run_id.is_none()));
    let in_default = store
        .claim(&Lane::default(), "w", 100, LEASE)
        .await
        .unwrap();
    assert_eq!(in_default.len(), 1);
    assert!(in_default[0].run_id.is_none());
    let lease = Duration::from_millis(50);
    let in_a = store.claim(&a, "w", 100, lease).await.unwrap();
    assert_eq!(in_a.len(), 3);
    assert_eq!(in_a.iter().filter(|j| j.run_id == Some(run)).count(), 1);
    for lane in [&a, &b, &Lane::default()] {
        assert!(store.claim(lane, "w", 100, LEASE).await.unwrap().is_empty());
    }
    // A rescued job goes back to its own lane.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(store.rescue_expired().await.unwrap() >= 3);
    assert!(nothing_due(store.as_ref(), &Lane::default()).await);
    let again = store.claim(&a, "w", 100, LEASE).await.unwrap();
    assert_eq!(again.len(), 3);
    // A run is retried only from its own lane (the API's is `default`), and its new job waits there.
    let job = again.iter().find(|j| j.run_id == Some(run)).unwrap();
    store.start_run(job.lease, run).await.unwrap();
    let end = RunEnd::Failed {
        code: FailureCode::InternalError,
        reason: "boom".into(),
        stage: None,
    };
    store.finish_run(job.lease, run, end).await.unwrap();
    assert!(matches!(
        store.retry_run(t, run, 3, &Lane::default()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_run(t, run).await.unwrap().status,
        RunStatus::Failed
    );
    store.retry_run(t, run, 3, &a).await.unwrap();
    assert!(nothing_due(store.as_ref(), &Lane::default()).await);
    let retried = store.claim(&a, "w", 100, LEASE).await.unwrap();
    assert_eq!(
        retried.iter().map(|j| j.run_id).collect::<Vec<_>>(),
        [Some(run)]
    );
}

/// Whether a claim in `lane` finds nothing due.
async fn nothing_due(store: &dyn Store, lane: &Lane) -> bool {
    store.claim(lane, "w", 100, LEASE).await.unwrap().is_empty()
}
