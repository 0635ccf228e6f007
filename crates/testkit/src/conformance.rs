//! The store conformance suite: each function is one behaviour, asserted through the `Store` and
//! `Queue` traits only. Backends run all of them via `store_conformance_tests!`.

use chrono::Utc;
use researchops_core::{
    Artifact, ArtifactId, Claim, CreateRunOutcome, EventType, EvidenceRecord, JobKind, JobOutcome,
    NewEvent, NewJob, NewProject, NewRun, PageRequest, ProjectId, ProjectPatch, RunEnd, RunId,
    RunOptions, RunStatus, Snapshot, SnapshotId, Snippet, SnippetId, Source, SourceId, Stage,
    StageCommit, StageGate, Store, StoreError, TenantId, Verdict, run_error,
};
use std::sync::Arc;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

async fn tenant(store: &Arc<dyn Store>) -> TenantId {
    let t = TenantId::new();
    store.ensure_tenant(t, "tenant").await.unwrap();
    t
}

async fn project(store: &Arc<dyn Store>, t: TenantId, name: &str) -> ProjectId {
    store
        .create_project(
            t,
            NewProject {
                name: name.into(),
                description: None,
            },
        )
        .await
        .unwrap()
        .id
}

fn new_run(project: ProjectId, question: &str, key: Option<&str>) -> NewRun {
    NewRun {
        project_id: project,
        question: question.into(),
        sources: vec!["local".into()],
        options: RunOptions::default(),
        client_request_id: key.map(str::to_string),
    }
}

async fn create(store: &Arc<dyn Store>, t: TenantId, p: ProjectId, question: &str) -> RunId {
    match store
        .create_run(t, new_run(p, question, None), 3)
        .await
        .unwrap()
    {
        CreateRunOutcome::Created(id) => id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

async fn event_types(store: &Arc<dyn Store>, t: TenantId, run: RunId) -> Vec<String> {
    store
        .list_events(t, run, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_type.as_str().to_string())
        .collect()
}

pub async fn projects_are_tenant_scoped_paginated_and_patched(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(project(&store, a, &format!("p{i}")).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let first = store
        .list_projects(a, &PageRequest::new(Some(2), None))
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p4", "p3"]
    );
    let second = store
        .list_projects(a, &PageRequest::new(Some(2), first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p2", "p1"]
    );
    let third = store
        .list_projects(a, &PageRequest::new(Some(2), second.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(third.items.len(), 1);
    assert!(third.next_cursor.is_none());
    assert!(matches!(
        store
            .list_projects(a, &PageRequest::new(None, Some("garbage".into())))
            .await,
        Err(StoreError::BadCursor)
    ));
    assert!(
        store
            .list_projects(b, &PageRequest::new(None, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        store.get_project(b, ids[0]).await,
        Err(StoreError::NotFound)
    ));
    let patched = store
        .update_project(
            a,
            ids[0],
            ProjectPatch {
                name: Some("renamed".into()),
                description: Some(Some("d".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.name.as_str(), patched.description.as_deref()),
        ("renamed", Some("d"))
    );
    let cleared = store
        .update_project(
            a,
            ids[0],
            ProjectPatch {
                name: None,
                description: Some(None),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (cleared.name.as_str(), cleared.description),
        ("renamed", None)
    );
    assert!(matches!(
        store
            .update_project(b, ids[0], ProjectPatch::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_project(b, ids[0]).await,
        Err(StoreError::NotFound)
    ));
}

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
    let jobs = store.claim("w", 10, LEASE).await.unwrap();
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
    assert!(store.claim("w", 10, LEASE).await.unwrap().is_empty());
    // Terminal → unchanged.
    assert_eq!(
        store.cancel_run(t, queued).await.unwrap().status,
        RunStatus::Canceled
    );
    assert!(matches!(
        store.retry_run(t, queued, 3).await,
        Err(StoreError::Conflict(_))
    ));
    // Running → cancel requested, the worker sees it at the next stage.
    let running = create(&store, t, p, "q2").await;
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
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
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    store.start_run(job.lease, failing).await.unwrap();
    let reason = RunEnd::Failed {
        code: run_error::NO_EVIDENCE.into(),
        reason: "nothing".into(),
        stage: Some(Stage::Retrieve),
    };
    let failed = store.finish_run(job.lease, failing, reason).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_code.as_deref()),
        (RunStatus::Failed, Some("no_evidence"))
    );
    assert!(matches!(
        store.retry_run(TenantId::new(), failing, 3).await,
        Err(StoreError::NotFound)
    ));
    let retried = store.retry_run(t, failing, 3).await.unwrap();
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
        store.retry_run(t, failing, 3).await,
        Err(StoreError::Conflict(_))
    ));
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    assert_eq!(job.run_id, Some(failing));
    let types = event_types(&store, t, failing).await;
    assert_eq!(types.iter().filter(|t| *t == "error").count(), 1);
    assert_eq!(
        types.iter().filter(|t| *t == "state").count(),
        3,
        "{types:?}"
    );
}

pub async fn claims_respect_the_slot_count_and_rotate_across_tenants(store: Arc<dyn Store>) {
    let busy = tenant(&store).await;
    let quiet = tenant(&store).await;
    let noop = |t| NewJob {
        tenant_id: t,
        kind: JobKind::Noop,
        run_id: None,
        payload: serde_json::json!({}),
        max_attempts: 3,
    };
    store
        .enqueue(&(0..10).map(|_| noop(busy)).collect::<Vec<_>>())
        .await
        .unwrap();
    let first = store.claim("w", 2, LEASE).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|j| j.tenant_id == busy));
    store.enqueue(&[noop(quiet)]).await.unwrap();
    // The quiet tenant's single job is claimed before the busy tenant's backlog drains.
    let next = store.claim("w", 1, LEASE).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].tenant_id, quiet);
    let rest = store.claim("w", 100, LEASE).await.unwrap();
    assert_eq!(rest.len(), 8);
    assert!(store.claim("w", 100, LEASE).await.unwrap().is_empty());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.queued, stats.running), (0, 11));
}

pub async fn a_stale_lease_can_commit_nothing(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    let old = store
        .claim("old", 1, Duration::from_millis(50))
        .await
        .unwrap()
        .remove(0);
    store.start_run(old.lease, run).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.rescue_expired().await.unwrap(), 1);
    let new = store.claim("new", 1, LEASE).await.unwrap().remove(0);
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
        .claim("crashed", 1, Duration::from_millis(50))
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
    let second = store.claim("healthy", 1, LEASE).await.unwrap().remove(0);
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
        .claim("w", 1, Duration::from_millis(30))
        .await
        .unwrap()
        .remove(0);
    store.start_run(job.lease, run).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    store.rescue_expired().await.unwrap();
    let failed = store.get_run(t, run).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_code.as_deref()),
        (RunStatus::Failed, Some(run_error::ATTEMPTS_EXHAUSTED))
    );
    assert!(store.claim("w", 1, LEASE).await.unwrap().is_empty());
    assert_eq!(
        event_types(&store, t, run).await.last().map(String::as_str),
        Some("state")
    );
}

fn evidence(run: RunId) -> EvidenceRecord {
    let source = SourceId::new();
    let snapshot = SnapshotId::new();
    EvidenceRecord {
        source: Source {
            id: source,
            run_id: run,
            connector: "local".into(),
            external_id: "doc-1".into(),
            title: "A title".into(),
            authors: vec!["A. Author".into()],
            year: Some(2020),
            doi: Some("10.1/x".into()),
            url: None,
            rank: 1,
            score: 3.5,
        },
        snapshot: Snapshot {
            id: snapshot,
            source_id: source,
            sha256: "ab".repeat(32),
            size_bytes: 30,
            mime_type: "text/plain".into(),
            retrieved_at: Utc::now(),
        },
        snippets: (0..2)
            .map(|i| Snippet {
                id: SnippetId::new(),
                snapshot_id: snapshot,
                source_id: source,
                ord: i,
                text: format!("Sentence {i}."),
                start_byte: i64::from(i) * 12,
                end_byte: i64::from(i) * 12 + 11,
            })
            .collect(),
    }
}

pub async fn stage_commits_are_atomic_and_readable(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    store.start_run(job.lease, run).await.unwrap();
    let record = evidence(run);
    let snippet = record.snippets[0].id;
    let mut usage = serde_json::Map::new();
    usage.insert("sources".into(), 1.into());
    store
        .begin_stage(job.lease, run, Stage::Ingest)
        .await
        .unwrap();
    let commit = StageCommit {
        output: serde_json::json!({"n": 1}),
        evidence: vec![record.clone()],
        usage,
        ..StageCommit::default()
    };
    store
        .finish_stage(job.lease, run, Stage::Ingest, commit)
        .await
        .unwrap();
    let claim = Claim {
        claim_id: "c1".into(),
        section: "S".into(),
        text: "Sentence 0.".into(),
        snippet_ids: vec![snippet],
        support: 1.0,
        verdict: Verdict::Supported,
    };
    let artifact = Artifact {
        id: ArtifactId::new(),
        run_id: run,
        name: "report.md".into(),
        kind: "report".into(),
        mime_type: "text/markdown".into(),
        size_bytes: 10,
        sha256: "cd".repeat(32),
        created_at: Utc::now(),
    };
    let commit = StageCommit {
        output: serde_json::json!({}),
        claims: vec![claim.clone()],
        artifacts: vec![artifact.clone()],
        ..StageCommit::default()
    };
    store
        .finish_stage(job.lease, run, Stage::Factcheck, commit)
        .await
        .unwrap();
    let stored = store.list_evidence(t, run).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source.title, record.source.title);
    assert_eq!(stored[0].source.authors, record.source.authors);
    assert_eq!(stored[0].snippets, record.snippets);
    assert_eq!(store.list_claims(t, run).await.unwrap(), vec![claim]);
    let artifacts = store.list_artifacts(t, run).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        store
            .get_artifact(t, run, artifact.id)
            .await
            .unwrap()
            .sha256,
        artifact.sha256
    );
    let other = tenant(&store).await;
    assert!(matches!(
        store.get_artifact(other, run, artifact.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_evidence(other, run).await,
        Err(StoreError::NotFound)
    ));
    let run_row = store.get_run(t, run).await.unwrap();
    assert_eq!(run_row.checkpoint, Some(Stage::Factcheck));
    assert_eq!(run_row.usage["sources"], 1);
    let finished = event_types(&store, t, run)
        .await
        .iter()
        .filter(|e| *e == "stage_finish")
        .count();
    assert_eq!(finished, 2);
    // A stage commit that fails part-way leaves nothing behind (a duplicate primary key here).
    let duplicate = StageCommit {
        output: serde_json::json!({}),
        evidence: vec![record],
        ..StageCommit::default()
    };
    assert!(
        store
            .finish_stage(job.lease, run, Stage::Export, duplicate)
            .await
            .is_err()
    );
    assert!(
        !store
            .stage_outputs(t, run)
            .await
            .unwrap()
            .contains_key(&Stage::Export)
    );
    assert_eq!(
        store.get_run(t, run).await.unwrap().checkpoint,
        Some(Stage::Factcheck)
    );
}

pub async fn events_are_ordered_and_resumable_by_id(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    let mut hints = store.events().subscribe();
    store.start_run(job.lease, run).await.unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), hints.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.run_id, run);
    let batch: Vec<NewEvent> = (0..20)
        .map(|i| NewEvent::progress(Stage::Ingest, i, 20, "step"))
        .collect();
    store.append_events(job.lease, run, &batch).await.unwrap();
    let all = store.list_events(t, run, None, 1000).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(all.len(), 23);
    let cut = all[9].id;
    let rest = store.list_events(t, run, Some(cut), 1000).await.unwrap();
    assert_eq!(rest, all[10..].to_vec());
    let limited = store.list_events(t, run, Some(cut), 5).await.unwrap();
    assert_eq!(limited, all[10..15].to_vec());
    assert!(
        store
            .list_events(t, run, Some(all.last().unwrap().id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn projects_with_active_runs_cannot_be_deleted_and_deletion_cascades(
    store: Arc<dyn Store>,
) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    assert!(matches!(
        store.delete_project(t, p).await,
        Err(StoreError::Conflict(_))
    ));
    store.cancel_run(t, run).await.unwrap();
    store.delete_project(t, p).await.unwrap();
    assert!(matches!(
        store.get_project(t, p).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_run(t, run).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_events(t, run, None, 10).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn noop_jobs_complete_in_batches_and_stale_completions_are_fenced(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let jobs: Vec<NewJob> = (0..5)
        .map(|_| NewJob {
            tenant_id: t,
            kind: JobKind::Noop,
            run_id: None,
            payload: serde_json::json!({}),
            max_attempts: 2,
        })
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let claimed = store.claim("w", 5, LEASE).await.unwrap();
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
    let job = store.claim("w", 1, LEASE).await.unwrap().remove(0);
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
