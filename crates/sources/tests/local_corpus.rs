//! The local corpus against real data: the SciFact sample in `samples/scifact` (400 abstracts,
//! 150 claims with relevance judgements), plus small corpora written to temp dirs.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use researchops_search::{ndcg_at_k, recall_at_k, split_sentences};
use researchops_sources::{CorpusError, LocalCorpus, LocalSearch};

fn sample(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples/scifact")
        .join(file)
}

/// `(query id, claim)` in file order.
fn queries() -> Vec<(String, String)> {
    let content = fs::read_to_string(sample("queries.jsonl")).expect("queries.jsonl is readable");
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("query is JSON");
            let id = match &value["_id"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let text = value["text"].as_str().expect("query has text").to_owned();
            (id, text)
        })
        .collect()
}

/// query id → (doc id → relevance).
fn qrels() -> HashMap<String, HashMap<String, u32>> {
    let content = fs::read_to_string(sample("qrels.tsv")).expect("qrels.tsv is readable");
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for line in content.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let score = fields[2].parse().expect("qrels score is a number");
        qrels
            .entry(fields[0].to_owned())
            .or_default()
            .insert(fields[1].to_owned(), score);
    }
    qrels
}

fn write(dir: &Path, relative: &str, content: &[u8]) {
    let path = dir.join(relative);
    fs::create_dir_all(path.parent().expect("file has a parent")).expect("create parent dirs");
    fs::write(path, content).expect("write file");
}

#[test]
fn the_scifact_sample_loads_all_400_documents_with_sentences() {
    let corpus = LocalCorpus::load(&sample("corpus.jsonl")).expect("sample loads");
    assert_eq!(corpus.len(), 400);
    assert_eq!(corpus.fingerprint().len(), 64);
    let first = &corpus.documents()[0];
    assert_eq!(corpus.get(&first.id), Some(first));
    assert!(first.sentences.as_ref().is_some_and(|s| !s.is_empty()));
    let again = LocalCorpus::load(&sample("corpus.jsonl")).expect("sample loads");
    assert_eq!(again.fingerprint(), corpus.fingerprint());
}

#[test]
fn claims_retrieve_their_evidence_abstracts_in_the_top_ten() {
    let index_root = tempfile::tempdir().expect("tempdir");
    let search = LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("opens");
    let qrels = qrels();
    let queries = queries();
    assert_eq!(queries.len(), 150);
    let (mut recall, mut ndcg) = (0.0, 0.0);
    for (id, claim) in &queries {
        let relevant = &qrels[id];
        let ranked: Vec<String> = search
            .search(claim, 10)
            .expect("search")
            .into_iter()
            .map(|(_, doc)| doc.id.clone())
            .collect();
        recall += recall_at_k(&ranked, relevant, 10);
        ndcg += ndcg_at_k(&ranked, relevant, 10);
    }
    let recall = recall / queries.len() as f64;
    let ndcg = ndcg / queries.len() as f64;
    println!("SciFact sample BM25: Recall@10 = {recall:.3}, nDCG@10 = {ndcg:.3}");
    assert!(recall >= 0.85, "Recall@10 fell to {recall:.3}");
    assert!(ndcg >= 0.75, "nDCG@10 fell to {ndcg:.3}");
}

#[test]
fn search_results_are_scored_best_first_and_deterministic() {
    let index_root = tempfile::tempdir().expect("tempdir");
    let search = LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("opens");
    let hits = search
        .search("macrophages inflammation", 20)
        .expect("search");
    assert_eq!(hits.len(), 20);
    assert!(hits.windows(2).all(|w| w[0].0 >= w[1].0));
    let again = search
        .search("macrophages inflammation", 20)
        .expect("search");
    let ids = |h: &[(f32, &researchops_sources::CorpusDocument)]| {
        h.iter().map(|(_, d)| d.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&hits), ids(&again));
}

#[test]
fn a_query_of_only_stop_words_and_punctuation_returns_no_hits() {
    let index_root = tempfile::tempdir().expect("tempdir");
    let search = LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("opens");
    for query in ["", "the of and", "\"(AND):\" ?!", "  -- ... "] {
        assert!(
            search.search(query, 10).expect("search").is_empty(),
            "{query:?}"
        );
    }
}

#[test]
fn the_index_is_built_once_and_reused_on_the_next_open() {
    let index_root = tempfile::tempdir().expect("tempdir");
    let first = LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("opens");
    assert!(first.index().was_built());
    let marker = first
        .index()
        .path()
        .join(researchops_search::bm25::COMPLETE_MARKER);
    let modified = fs::metadata(&marker)
        .and_then(|m| m.modified())
        .expect("marker exists");
    assert_eq!(
        first.index().path(),
        index_root.path().join(first.corpus().fingerprint())
    );

    let second = LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("reopens");
    assert!(!second.index().was_built());
    assert_eq!(second.index().num_docs(), 400);
    let unchanged = fs::metadata(&marker)
        .and_then(|m| m.modified())
        .expect("marker exists");
    assert_eq!(modified, unchanged);
    let entries = fs::read_dir(index_root.path())
        .expect("read index root")
        .count();
    assert_eq!(entries, 1, "no temporary directories are left behind");
}

#[test]
fn a_folder_of_markdown_and_text_files_loads_with_titles() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "b.md",
        b"# Sleep and memory\n\nSleep consolidates memory. Naps help too.\n",
    );
    write(
        dir.path(),
        "a/notes.txt",
        b"Field notes\nMacrophages were seen in adipose tissue.\n",
    );
    write(
        dir.path(),
        "a/deep/c.markdown",
        b"Preface line.\n\n# Vitamin D\nNo effect on fractures.",
    );
    write(dir.path(), "ignored.pdf", b"%PDF-1.4");
    write(dir.path(), ".hidden/x.md", b"# Hidden\nnot loaded");
    write(dir.path(), "empty.md", b"  \n\n");

    let corpus = LocalCorpus::load(dir.path()).expect("folder loads");
    let summary: Vec<(&str, &str)> = corpus
        .documents()
        .iter()
        .map(|d| (d.id.as_str(), d.title.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a/deep/c.markdown", "Vitamin D"),
            ("a/notes.txt", "Field notes"),
            ("b.md", "Sleep and memory"),
        ]
    );
    let notes = corpus.get("a/notes.txt").expect("notes loaded");
    assert_eq!(notes.text, "Macrophages were seen in adipose tissue.");
    assert_eq!(notes.path.as_deref(), Some("a/notes.txt"));
    assert_eq!(
        corpus.get("a/deep/c.markdown").expect("c loaded").text,
        "Preface line.\n\nNo effect on fractures."
    );

    let index_root = tempfile::tempdir().expect("tempdir");
    let search = LocalSearch::open(dir.path(), index_root.path()).expect("opens");
    let hits = search.search("sleep", 5).expect("search");
    assert_eq!(hits[0].1.id, "b.md");
}

#[test]
fn the_folder_fingerprint_changes_when_a_file_is_edited_or_renamed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.md", b"# A\nalpha");
    let before = LocalCorpus::load(dir.path())
        .expect("loads")
        .fingerprint()
        .to_owned();
    assert_eq!(
        LocalCorpus::load(dir.path()).expect("loads").fingerprint(),
        before
    );
    write(dir.path(), "a.md", b"# A\nalpha!");
    let edited = LocalCorpus::load(dir.path())
        .expect("loads")
        .fingerprint()
        .to_owned();
    assert_ne!(edited, before);
    fs::rename(dir.path().join("a.md"), dir.path().join("b.md")).expect("rename");
    assert_ne!(
        LocalCorpus::load(dir.path()).expect("loads").fingerprint(),
        edited
    );
}

#[test]
fn a_malformed_jsonl_line_is_reported_with_its_line_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corpus.jsonl");
    fs::write(
        &path,
        "{\"_id\": \"1\", \"text\": \"one\"}\n{\"_id\": 2, \"text\": \"two\"}\n{\"_id\": \"3\", \"text\": oops}\n",
    )
    .expect("write");
    let error = LocalCorpus::load(&path).expect_err("line 3 is malformed");
    assert!(
        matches!(error, CorpusError::MalformedJson { line: 3, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("corpus.jsonl"), "{message}");
    assert!(error.is_user_error());
}

#[test]
fn empty_corpora_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corpus.jsonl");
    fs::write(&path, "\n  \n").expect("write");
    let error = LocalCorpus::load(&path).expect_err("no documents");
    assert!(matches!(error, CorpusError::Empty { .. }), "{error:?}");
    assert!(error.to_string().contains("contains no documents"));

    let folder = tempfile::tempdir().expect("tempdir");
    write(folder.path(), "image.png", b"\x89PNG");
    let error = LocalCorpus::load(folder.path()).expect_err("no documents");
    assert!(matches!(error, CorpusError::Empty { .. }), "{error:?}");
}

#[test]
fn missing_paths_and_invalid_utf8_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.jsonl");
    let error = LocalCorpus::load(&missing).expect_err("missing");
    assert!(matches!(error, CorpusError::NotFound { .. }));
    assert!(error.to_string().contains("nope.jsonl"));

    write(
        dir.path(),
        "docs/bad.txt",
        b"Title\nfine line\nbroken \xff byte\n",
    );
    let error = LocalCorpus::load(&dir.path().join("docs")).expect_err("invalid UTF-8");
    assert!(
        matches!(error, CorpusError::NotUtf8 { line: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("bad.txt"), "{error}");
}

#[test]
fn the_sentence_splitter_agrees_with_scifacts_own_sentence_split() {
    let corpus = LocalCorpus::load(&sample("corpus.jsonl")).expect("sample loads");
    let (mut agree, mut total) = (0usize, 0usize);
    for doc in corpus.documents() {
        let Some(given) = &doc.sentences else {
            continue;
        };
        total += 1;
        let ours: Vec<&str> = split_sentences(&doc.text)
            .into_iter()
            .map(|r| &doc.text[r])
            .collect();
        let theirs: Vec<&str> = given.iter().map(|s| s.trim()).collect();
        if ours == theirs {
            agree += 1;
        }
    }
    let share = agree as f64 / total as f64;
    println!("split_sentences matches SciFact's split exactly for {agree}/{total} abstracts");
    assert!(share >= 0.9, "agreement fell to {share:.3}");
}

#[test]
fn local_search_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LocalSearch>();
}

#[tokio::test]
async fn the_local_corpus_answers_through_the_connector_port_and_honours_cancellation() {
    use researchops_core::{Connector, ConnectorError, SearchQuery};
    use researchops_sources::{LOCAL_CONNECTOR, LocalConnector};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    let index_root = tempfile::tempdir().expect("temp dir");
    let search =
        Arc::new(LocalSearch::open(&sample("corpus.jsonl"), index_root.path()).expect("opens"));
    let connector = LocalConnector::new(search.clone());
    assert_eq!(connector.name(), LOCAL_CONNECTOR);
    assert_eq!(
        connector.fingerprint().as_deref(),
        Some(search.corpus().fingerprint())
    );
    let query = SearchQuery {
        text: "vitamin D bone mineral density".into(),
        limit: 5,
    };
    let found = connector
        .search(&query, &CancellationToken::new())
        .await
        .expect("searches");
    let direct = search.search(&query.text, 5).expect("searches");
    assert_eq!(found.len(), direct.len());
    for (doc, (score, expected)) in found.iter().zip(&direct) {
        assert_eq!(doc.external_id, expected.id);
        assert_eq!(doc.text, expected.text);
        assert_eq!(doc.sentences, expected.sentences);
        assert_eq!(doc.score, f64::from(*score));
        assert!(doc.raw.is_none(), "the corpus text is the raw content");
    }
    let canceled = CancellationToken::new();
    canceled.cancel();
    assert_eq!(
        connector.search(&query, &canceled).await,
        Err(ConnectorError::Canceled)
    );
}
