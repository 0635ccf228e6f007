//! Stage commits and the event log.

use super::*;
use chrono::Utc;
use researchops_core::{
    Artifact, ArtifactId, Claim, EvidenceRecord, NewEvent, RunEvent, RunId, Snapshot, SnapshotId,
    Snippet, SnippetId, Source, SourceId, Stage, StageCommit, Store, StoreError, Verdict,
};
use std::sync::Arc;
use std::time::Duration;

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
            venue: Some("Journal of Tests".into()),
            arxiv_id: Some("2101.00001".into()),
            rank: 1,
            score: 3.5,
        },
        snapshot: Snapshot {
            id: snapshot,
            source_id: source,
            sha256: "ab".repeat(32),
            size_bytes: 300,
            mime_type: "application/pdf".into(),
            retrieved_at: Utc::now(),
            text_sha256: "ef".repeat(32),
            text_size_bytes: 30,
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
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
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
    assert_eq!(
        (
            stored[0].source.venue.as_deref(),
            stored[0].source.arxiv_id.as_deref()
        ),
        (Some("Journal of Tests"), Some("2101.00001")),
        "venue and arXiv id are kept on the source row"
    );
    assert_eq!(stored[0].source, record.source);
    assert_eq!(stored[0].snippets, record.snippets);
    let snapshot = &stored[0].snapshot;
    assert_eq!(
        (
            snapshot.id,
            snapshot.sha256.as_str(),
            snapshot.size_bytes,
            snapshot.mime_type.as_str()
        ),
        (
            record.snapshot.id,
            "ab".repeat(32).as_str(),
            300,
            "application/pdf"
        ),
        "the raw blob's key, size and type round-trip"
    );
    assert_eq!(
        (snapshot.text_sha256.as_str(), snapshot.text_size_bytes),
        ("ef".repeat(32).as_str(), 30),
        "the text blob's key and size round-trip separately from the raw blob's"
    );
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
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let mut hints = store.events().watch(run);
    let before = store.list_events(t, run, None, 1000).await.unwrap();
    let before = before.last().unwrap().id;
    store.start_run(job.lease, run).await.unwrap();
    // The commit's hint reaches the run's watcher at once (published after commit, not polled).
    let hinted = tokio::time::timeout(Duration::from_secs(5), hints.wait_beyond(before))
        .await
        .unwrap();
    assert!(hinted > before);
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

pub async fn the_fallback_poll_reports_the_newest_event_of_each_watched_run(store: Arc<dyn Store>) {
    let (t1, t2) = (tenant(&store).await, tenant(&store).await);
    let (p1, p2) = (
        project(&store, t1, "p").await,
        project(&store, t2, "p").await,
    );
    let a = create(&store, t1, p1, "a").await;
    let b = create(&store, t2, p2, "b").await;
    let newest = |events: Vec<RunEvent>| events.last().unwrap().id;
    let last_a = newest(store.list_events(t1, a, None, 1000).await.unwrap());
    let last_b = newest(store.list_events(t2, b, None, 1000).await.unwrap());
    // Runs of any tenant in one call; a run without events (here: unknown) is left out.
    let mut latest = store.latest_event_ids(&[a, b, RunId::new()]).await.unwrap();
    latest.sort();
    let mut expected = vec![(a, last_a), (b, last_b)];
    expected.sort();
    assert_eq!(latest, expected);
    assert!(store.latest_event_ids(&[]).await.unwrap().is_empty());

    // A watcher that registered after the commits (so it heard no hint) learns of them from one
    // refresh, and only its own run's watcher entry exists to be asked about.
    let hub = store.events();
    let mut watch = hub.watch(a);
    assert_eq!(watch.latest(), 0);
    assert_eq!(hub.refresh(store.as_ref()).await.unwrap(), 1);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), watch.wait_beyond(0))
            .await
            .unwrap(),
        last_a
    );
    drop(watch);
    assert_eq!(hub.refresh(store.as_ref()).await.unwrap(), 0);
}
