//! Run creation, idempotency keys, cancel and retry.

use super::*;
use researchops_core::{
    CreateRunOutcome, JobKind, PageRequest, RunEnd, RunId, RunStatus, Stage, StageGate, Store,
    StoreError, TenantId,
};
use std::sync::Arc;

pub async fn runs_are_created_with_their_events_and_job_in_one_step(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run_id = create(&store, t, p, "What does vitamin D do?").await;
    let run = store.get_run(t, run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!((run.retry_count, run.attempt), (0, 0));
    assert!(run.queued_at.is_some() && run.started_at.is_none());
    assert_eq!(
        event_types(&store, t, run_id).await,
        ["run.created", "run.queued"]
    );
    let jobs = store.claim(&Lane::default(), "w", 10, LEASE).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].kind, jobs[0].run_id, jobs[0].attempt),
        (Some(JobKind::Run), Some(run_id), 1)
    );
    let other = tenant(&store).await;
    assert!(matches!(
        store.get_run(other, run_id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_events(other, run_id, None, 10).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create_run(other, new_run(p, "q", None), 3).await,
        Err(StoreError::NotFound)
    ));
    let listed = store
        .list_runs(t, p, &PageRequest::new(None, None))
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [run_id]
    );
}

pub async fn a_repeated_client_request_id_returns_the_same_run_or_conflicts(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let first = store
        .create_run(t, new_run(p, "q1", Some("key-1")), 3)
        .await
        .unwrap();
    let CreateRunOutcome::Created(id) = first else {
        panic!("expected a new run")
    };
    let again = store
        .create_run(t, new_run(p, "q1", Some("key-1")), 3)
        .await
        .unwrap();
    assert_eq!(again, CreateRunOutcome::Existing(id, RunStatus::Queued));
    assert!(matches!(
        store
            .create_run(t, new_run(p, "other", Some("key-1")), 3)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The key is per tenant.
    let other = tenant(&store).await;
    let p2 = project(&store, other, "p").await;
    assert!(matches!(
        store
            .create_run(other, new_run(p2, "q1", Some("key-1")), 3)
            .await
            .unwrap(),
        CreateRunOutcome::Created(_)
    ));
}

pub async fn concurrent_identical_requests_create_exactly_one_run(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let attempts = (0..24).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_run(t, new_run(p, "same", Some("dup")), 3)
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<CreateRunOutcome> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, CreateRunOutcome::Created(_)))
        .count();
    assert_eq!(created, 1);
    let ids: std::collections::HashSet<RunId> = outcomes
        .iter()
        .map(|o| match o {
            CreateRunOutcome::Created(id) | CreateRunOutcome::Existing(id, _) => *id,
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        store
            .list_runs(t, p, &PageRequest::new(None, None))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

pub async fn cancel_and_retry_follow_the_state_machine(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    // Queued → canceled at once, and its job is gone.
    let queued = create(&store, t, p, "q").await;
    let canceled = store.cancel_run(t, queued).await.unwrap();
    assert_eq!(canceled.status, RunStatus::Canceled);
    assert_eq!(canceled.finish_reason.as_deref(), Some("canceled"));
    assert!(
        store
            .claim(&Lane::default(), "w", 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    // Terminal → unchanged.
    assert_eq!(
        store.cancel_run(t, queued).await.unwrap().status,
        RunStatus::Canceled
    );
    assert!(matches!(
        store.retry_run(t, queued, 3, &Lane::default()).await,
        Err(StoreError::Conflict(_))
    ));
    // Running → cancel requested, the worker sees it at the next stage.
    let running = create(&store, t, p, "q2").await;
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    store.start_run(job.lease, running).await.unwrap();
    let requested = store.cancel_run(t, running).await.unwrap();
    assert_eq!(requested.status, RunStatus::Running);
    assert!(requested.cancel_requested_at.is_some());
    assert!(
        store
            .heartbeat(job.lease, LEASE)
            .await
            .unwrap()
            .cancel_requested
    );
    assert_eq!(
        store
            .begin_stage(job.lease, running, Stage::Retrieve)
            .await
            .unwrap(),
        StageGate::CancelRequested
    );
    assert_eq!(
        store
            .finish_run(job.lease, running, RunEnd::Canceled)
            .await
            .unwrap()
            .status,
        RunStatus::Canceled
    );
    // Failed → retry → queued with retry_count + 1 and the failure cleared.
    let failing = create(&store, t, p, "q3").await;
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    store.start_run(job.lease, failing).await.unwrap();
    let reason = RunEnd::Failed {
        code: FailureCode::NoEvidence,
        reason: "nothing".into(),
        stage: Some(Stage::Retrieve),
    };
    let failed = store.finish_run(job.lease, failing, reason).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_code.as_deref()),
        (RunStatus::Failed, Some("no_evidence"))
    );
    assert!(matches!(
        store
            .retry_run(TenantId::new(), failing, 3, &Lane::default())
            .await,
        Err(StoreError::NotFound)
    ));
    let retried = store
        .retry_run(t, failing, 3, &Lane::default())
        .await
        .unwrap();
    assert_eq!(
        (retried.status, retried.retry_count),
        (RunStatus::Queued, 1)
    );
    assert!(
        retried.error_code.is_none()
            && retried.failure_reason.is_none()
            && retried.finished_at.is_none()
    );
    assert!(matches!(
        store.retry_run(t, failing, 3, &Lane::default()).await,
        Err(StoreError::Conflict(_))
    ));
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.run_id, Some(failing));
    let types = event_types(&store, t, failing).await;
    assert_eq!(types.iter().filter(|t| *t == "error").count(), 1);
    assert_eq!(
        types.iter().filter(|t| *t == "state").count(),
        3,
        "{types:?}"
    );
}
