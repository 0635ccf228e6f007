//! The seven stages end to end over the real SQLite store and a blob directory, committed the way the
//! worker commits them: where document text is stored, how connectors plug in, and determinism.

#![expect(clippy::unwrap_used, reason = "tests")]

use async_trait::async_trait;
use bytes::Bytes;
use researchops_blobs::LocalBlobStore;
use researchops_core::{
    ArtifactKind, BlobStore, Connector, ConnectorError, Connectors, CreateRunOutcome, EventLevel,
    FoundDocument, Lease, NewEvent, NewProject, NewRun, RawContent, RunEnd, RunId, RunOptions,
    RunStart, SearchQuery, Stage, Store, TenantId,
};
use researchops_pipeline::{Progress, StageContext, run_stage};
use researchops_sources::{LocalConnector, LocalSearch};
use researchops_store_sqlite::{Durability, SqliteStore};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const QUESTION: &str = "Does vitamin D supplementation affect bone mineral density?";

#[derive(Default)]
struct Events(Mutex<Vec<NewEvent>>);

impl Progress for Events {
    fn emit(&self, event: NewEvent) {
        self.0.lock().unwrap().push(event);
    }
}

struct Harness {
    store: Arc<dyn Store>,
    blobs: Arc<LocalBlobStore>,
    blob_dir: PathBuf,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("db"), Durability::Normal)
                .await
                .unwrap(),
        );
        let blob_dir = dir.path().join("blobs");
        let blobs = Arc::new(LocalBlobStore::open(&blob_dir).unwrap());
        let tenant = TenantId::new();
        store.ensure_tenant(tenant, "t").await.unwrap();
        Self {
            store,
            blobs,
            blob_dir,
            tenant,
            _dir: dir,
        }
    }

    /// Creates a run and starts it under a fresh lease.
    async fn start(&self, sources: &[&str]) -> (RunStart, Lease) {
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
        let new = NewRun {
            project_id: project.id,
            question: QUESTION.into(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            options: RunOptions::default(),
            client_request_id: None,
            lane: researchops_core::Lane::default(),
        };
        let CreateRunOutcome::Created(id) =
            self.store.create_run(self.tenant, new, 1).await.unwrap()
        else {
            panic!("the run is new");
        };
        let job = self
            .store
            .claim(
                &researchops_core::Lane::default(),
                "test",
                1,
                Duration::from_secs(60),
            )
            .await
            .unwrap()
            .remove(0);
        (
            self.store.start_run(job.lease, id).await.unwrap(),
            job.lease,
        )
    }

    /// Creates a run and executes all its stages, committing each like the worker does.
    async fn research(&self, connectors: &Connectors, sources: &[&str]) -> (RunId, Vec<NewEvent>) {
        let (start, lease) = self.start(sources).await;
        let id = start.run.id;
        let mut outputs = start.outputs;
        let events = Events::default();
        let cancel = CancellationToken::new();
        let mut next = Stage::after_checkpoint(None);
        while let Some(stage) = next {
            self.store.begin_stage(lease, id, stage).await.unwrap();
            let cx = StageContext {
                run: &start.run,
                outputs: &outputs,
                connectors,
                embedder: None,
                blobs: self.blobs.as_ref(),
                progress: &events,
                cancel: &cancel,
            };
            let commit = run_stage(stage, &cx)
                .await
                .unwrap_or_else(|e| panic!("{stage} failed: {e}"));
            outputs.insert(stage, commit.output.clone());
            self.store
                .finish_stage(lease, id, stage, commit)
                .await
                .unwrap();
            next = Stage::after_checkpoint(Some(stage));
        }
        self.store
            .finish_run(lease, id, RunEnd::Succeeded)
            .await
            .unwrap();
        (id, events.0.into_inner().unwrap())
    }

    async fn artifact(&self, run: RunId, kind: ArtifactKind) -> Bytes {
        let artifacts = self.store.list_artifacts(self.tenant, run).await.unwrap();
        let artifact = artifacts
            .iter()
            .find(|a| a.name == kind.file_name())
            .unwrap_or_else(|| panic!("{kind} was written"));
        self.blobs.get(&artifact.sha256).await.unwrap()
    }
}

fn sample_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/scifact/corpus.jsonl")
}

fn local(index_root: &Path) -> Arc<dyn Connector> {
    let search = LocalSearch::open(&sample_corpus(), index_root).unwrap();
    Arc::new(LocalConnector::new(Arc::new(search)))
}

/// Every file under the blob directory except the temporary-file folder.
fn blob_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tmp") {
                    stack.push(path);
                }
            } else {
                found.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_outputs_reference_document_text_by_hash_and_each_text_is_stored_once() {
    let h = Harness::new().await;
    let index = tempfile::tempdir().unwrap();
    let connectors = Connectors::new([local(index.path())]);
    let (run, _) = h.research(&connectors, &["local"]).await;

    let evidence = h.store.list_evidence(h.tenant, run).await.unwrap();
    assert!(
        evidence.len() >= 3,
        "the sample corpus answers the question"
    );
    let claims = h.store.list_claims(h.tenant, run).await.unwrap();
    let cited: HashSet<&str> = claims.iter().map(|c| c.text.as_str()).collect();
    let outputs = h.store.stage_outputs(h.tenant, run).await.unwrap();
    let encoded: BTreeMap<Stage, String> = outputs
        .iter()
        .map(|(stage, value)| (*stage, value.to_string()))
        .collect();

    let mut text_bytes = 0;
    let mut sentences = 0;
    for record in &evidence {
        let snapshot = &record.snapshot;
        let text = h.blobs.get(&snapshot.text_sha256).await.unwrap();
        assert_eq!(text.len() as i64, snapshot.text_size_bytes);
        assert_eq!(
            snapshot.sha256, snapshot.text_sha256,
            "a plain-text source's raw bytes are its text: one blob"
        );
        text_bytes += text.len();
        let text = std::str::from_utf8(&text).unwrap();
        for snippet in &record.snippets {
            assert_eq!(
                &text[snippet.start_byte as usize..snippet.end_byte as usize],
                snippet.text,
                "snippet offsets index into the text blob"
            );
            if snippet.text.len() < 30 || cited.contains(snippet.text.as_str()) {
                continue;
            }
            sentences += 1;
            for (stage, json) in &encoded {
                assert!(
                    !json.contains(&snippet.text),
                    "the {stage} output embeds a sentence of {}: {}",
                    record.source.external_id,
                    snippet.text
                );
            }
        }
    }
    assert!(sentences > 20, "enough uncited sentences were checked");
    for stage in [Stage::Retrieve, Stage::Ingest] {
        for claim in &cited {
            assert!(!encoded[&stage].contains(claim), "{stage} embeds no text");
        }
    }

    // Content addressing: one file per distinct blob (snapshot texts and the artifacts).
    let artifacts = h.store.list_artifacts(h.tenant, run).await.unwrap();
    let expected: HashSet<String> = evidence
        .iter()
        .flat_map(|r| [r.snapshot.sha256.clone(), r.snapshot.text_sha256.clone()])
        .chain(artifacts.iter().map(|a| a.sha256.clone()))
        .collect();
    let mut files = blob_files(&h.blob_dir);
    files.sort();
    let mut expected: Vec<String> = expected.into_iter().collect();
    expected.sort();
    assert_eq!(files, expected, "every blob is stored exactly once");

    let output_bytes: usize = encoded.values().map(String::len).sum();
    eprintln!(
        "{} sources, {text_bytes} bytes of text stored once; stage outputs {output_bytes} bytes \
         (retrieve {}, ingest {})",
        evidence.len(),
        encoded[&Stage::Retrieve].len(),
        encoded[&Stage::Ingest].len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_question_over_the_same_corpus_gives_the_same_report() {
    let h = Harness::new().await;
    let index = tempfile::tempdir().unwrap();
    let connectors = Connectors::new([local(index.path())]);
    let (first, _) = h.research(&connectors, &["local"]).await;
    let (second, _) = h.research(&connectors, &["local"]).await;
    for kind in [
        ArtifactKind::ReportMd,
        ArtifactKind::ReportHtml,
        ArtifactKind::ReferencesBib,
        ArtifactKind::ReferencesRis,
    ] {
        assert_eq!(
            h.artifact(first, kind).await,
            h.artifact(second, kind).await,
            "{kind} is identical"
        );
    }
    let bundle = |b: Bytes| -> serde_json::Value { serde_json::from_slice(&b).unwrap() };
    let one = bundle(h.artifact(first, ArtifactKind::ContextBundle).await);
    let two = bundle(h.artifact(second, ArtifactKind::ContextBundle).await);
    assert_eq!(one["corpus_fingerprint"], two["corpus_fingerprint"]);
    assert!(one["corpus_fingerprint"].is_string());
}

/// A connector serving PDF-like raw bytes with extracted text, as full-text sources will.
struct Papers;

const PAPER_TEXT: &str = "Vitamin D supplementation increased bone mineral density in older adults. \
    The effect on bone density was largest in the lumbar spine. Supplementation with vitamin D \
    did not change fracture rates.";

#[async_trait]
impl Connector for Papers {
    fn name(&self) -> &str {
        "papers"
    }

    async fn search(
        &self,
        query: &SearchQuery,
        _cancel: &CancellationToken,
    ) -> Result<Vec<FoundDocument>, ConnectorError> {
        assert_eq!(query.text, QUESTION);
        Ok(vec![FoundDocument {
            external_id: "paper-1".into(),
            title: "Vitamin D and bone mineral density in older adults".into(),
            text: PAPER_TEXT.into(),
            sentences: None,
            raw: Some(RawContent {
                bytes: Bytes::from_static(b"%PDF-1.7 not really a pdf, but not the text either"),
                mime_type: "application/pdf".into(),
            }),
            authors: vec!["A. Author".into()],
            year: Some(2021),
            doi: Some("10.1000/paper-1".into()),
            url: Some("https://example.org/paper-1.pdf".into()),
            venue: Some("Journal of Bone & Mineral Research".into()),
            arxiv_id: Some("2101.00001".into()),
            score: 1.0,
            ..FoundDocument::default()
        }])
    }
}

/// A connector whose service is down.
struct Down;

#[async_trait]
impl Connector for Down {
    fn name(&self) -> &str {
        "down"
    }

    async fn search(
        &self,
        _query: &SearchQuery,
        _cancel: &CancellationToken,
    ) -> Result<Vec<FoundDocument>, ConnectorError> {
        Err(ConnectorError::Unavailable("503 from upstream".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_connector_plugs_in_and_a_failing_one_is_a_warning() {
    let h = Harness::new().await;
    let connectors = Connectors::new([Arc::new(Papers) as Arc<dyn Connector>, Arc::new(Down)]);
    let (run, events) = h.research(&connectors, &["papers", "down", "arxiv"]).await;

    let warnings: Vec<&NewEvent> = events
        .iter()
        .filter(|e| e.level == EventLevel::Warn)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|e| e.payload["connector"] == "down" && e.payload["error_code"] == "unavailable"),
        "the failing connector is a typed warning: {warnings:?}"
    );
    assert!(
        warnings.iter().any(|e| e.message.contains("`arxiv`")),
        "an unknown source is a warning"
    );

    let evidence = h.store.list_evidence(h.tenant, run).await.unwrap();
    assert_eq!(evidence.len(), 1);
    let record = &evidence[0];
    assert_eq!(record.source.connector, "papers");
    assert_eq!(record.source.doi.as_deref(), Some("10.1000/paper-1"));
    assert_eq!(record.source.year, Some(2021));
    assert_eq!(
        (
            record.source.venue.as_deref(),
            record.source.arxiv_id.as_deref()
        ),
        (
            Some("Journal of Bone & Mineral Research"),
            Some("2101.00001")
        ),
        "the source row keeps venue and arXiv id"
    );
    let snapshot = &record.snapshot;
    assert_eq!(snapshot.mime_type, "application/pdf");
    assert_ne!(
        snapshot.sha256, snapshot.text_sha256,
        "raw bytes and text are two blobs"
    );
    assert_eq!(
        h.blobs.get(&snapshot.text_sha256).await.unwrap(),
        PAPER_TEXT.as_bytes()
    );
    assert!(
        h.blobs
            .get(&snapshot.sha256)
            .await
            .unwrap()
            .starts_with(b"%PDF")
    );
    assert_eq!(record.snippets.len(), 3);
    for snippet in &record.snippets {
        assert_eq!(
            &PAPER_TEXT[snippet.start_byte as usize..snippet.end_byte as usize],
            snippet.text
        );
    }
    let md = h.artifact(run, ArtifactKind::ReportMd).await;
    assert!(String::from_utf8_lossy(&md).contains("Vitamin D and bone mineral density"));

    // Venue and arXiv id travel from the connector to the report and the bibliography files.
    let report: serde_json::Value =
        serde_json::from_slice(&h.artifact(run, ArtifactKind::ReportJson).await).unwrap();
    let reference = &report["references"][0];
    assert_eq!(reference["ref"], 1);
    assert_eq!(reference["venue"], "Journal of Bone & Mineral Research");
    assert_eq!(reference["arxiv_id"], "2101.00001");
    assert_eq!(reference["doi"], "10.1000/paper-1");
    assert_eq!(reference["retracted"], false);
    assert_eq!(reference["authors"][0], "A. Author");
    let bib =
        String::from_utf8(h.artifact(run, ArtifactKind::ReferencesBib).await.to_vec()).unwrap();
    assert!(
        bib.contains("@article{author2021vitamin,\n  author = {Author, A.},"),
        "{bib}"
    );
    assert!(
        bib.contains("  journal = {Journal of Bone \\& Mineral Research},\n"),
        "{bib}"
    );
    assert!(
        bib.contains("  eprint = {2101.00001},\n  archivePrefix = {arXiv},\n"),
        "{bib}"
    );
    let ris =
        String::from_utf8(h.artifact(run, ArtifactKind::ReferencesRis).await.to_vec()).unwrap();
    assert!(
        ris.starts_with("TY  - JOUR\r\nID  - author2021vitamin\r\nAU  - Author, A.\r\n"),
        "{ris}"
    );
    assert!(
        ris.contains("DO  - 10.1000/paper-1\r\n") && ris.ends_with("ER  - \r\n\r\n"),
        "{ris}"
    );
    let html = String::from_utf8(h.artifact(run, ArtifactKind::ReportHtml).await.to_vec()).unwrap();
    assert!(html.contains("<a href=\"#quote-1\">[1]</a>"), "{html}");
    assert!(html.contains("<li id=\"quote-1\"><blockquote>"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_written_before_snapshots_moved_to_retrieve_still_resume() {
    let h = Harness::new().await;
    let (start, _lease) = h.start(&["local"]).await;
    let text = "Vitamin D raised bone mineral density. It did not change falls.";
    // The shapes an older binary committed: text inline in retrieve and in ingest.
    let legacy_retrieve = serde_json::json!({
        "query": QUESTION, "corpus_fingerprint": "fp",
        "documents": [{
            "connector": "local", "external_id": "d1", "title": "Vitamin D trial", "text": text,
            "sentences": ["Vitamin D raised bone mineral density.", "It did not change falls."],
            "authors": [], "year": null, "doi": null, "url": null, "score": 2.0,
        }],
    });
    let outputs = BTreeMap::from([(Stage::Retrieve, legacy_retrieve)]);
    let events = Events::default();
    let cancel = CancellationToken::new();
    let connectors = Connectors::default();
    let cx = StageContext {
        run: &start.run,
        outputs: &outputs,
        connectors: &connectors,
        embedder: None,
        blobs: h.blobs.as_ref(),
        progress: &events,
        cancel: &cancel,
    };
    let commit = run_stage(Stage::Ingest, &cx).await.unwrap();
    let record = &commit.evidence[0];
    assert_eq!(record.snapshot.sha256, record.snapshot.text_sha256);
    assert_eq!(
        h.blobs.get(&record.snapshot.text_sha256).await.unwrap(),
        text.as_bytes()
    );
    let texts: Vec<&str> = record.snippets.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Vitamin D raised bone mineral density.",
            "It did not change falls."
        ]
    );

    // An old ingest output (snippet text inline, one blob key) still feeds the later stages.
    let source = record.source.id;
    let legacy_ingest = serde_json::json!({
        "sources": [{
            "id": source, "connector": "local", "external_id": "d1", "title": "Vitamin D trial",
            "authors": [], "year": null, "doi": null, "url": null,
            "sha256": record.snapshot.sha256, "rank": 1,
            "snippets": record.snippets.iter().map(|s| serde_json::json!({
                "id": s.id, "source_id": source, "text": s.text,
                "start_byte": s.start_byte, "end_byte": s.end_byte,
            })).collect::<Vec<_>>(),
        }],
    });
    let outputs = BTreeMap::from([(Stage::Ingest, legacy_ingest)]);
    let cx = StageContext {
        outputs: &outputs,
        ..cx
    };
    let outline = run_stage(Stage::Outline, &cx).await.unwrap();
    assert!(
        outline
            .output
            .to_string()
            .contains(&record.snippets[0].id.to_string()),
        "the outline cites the old checkpoint's snippets"
    );
}
