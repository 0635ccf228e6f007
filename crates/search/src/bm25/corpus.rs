//! The persistent BM25 index over a whole corpus, stored in `<root>/<fingerprint>/`.
//!
//! An index directory is either complete or absent: it is built in a private temporary
//! directory under `<root>`, a marker file is written last, and the directory is renamed into
//! place. Concurrent builders of the same fingerprint both succeed; the one whose rename loses
//! discards its copy and opens the winner's. A directory without a valid marker (a crash, an
//! older index format) is moved aside and rebuilt.
//!
//! tantivy is the storage format only: opening an index reads its postings (term frequencies
//! per field) into an in-memory BM25F [`Scorer`], which answers every search. Documents are
//! numbered in id order there, so equal scores come out ordered by id.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tantivy::postings::Postings as _;
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, Value};
use tantivy::{DocSet, Index, ReloadPolicy, TERMINATED, TantivyDocument, doc};

use super::scorer::{Bm25Params, FieldKind, Postings, Scorer};
use super::{Hit, analysed_text, register_analyzer};
use crate::SearchError;

/// Name of the file written last into a finished index directory.
pub const COMPLETE_MARKER: &str = "researchops-index.json";

/// Bumped whenever the schema or the analyser changes, so stale indexes are rebuilt.
const INDEX_FORMAT: u32 = 1;

/// Indexing memory budget (one indexing thread keeps builds deterministic and light).
const WRITER_MEMORY_BYTES: usize = 64_000_000;

/// One document to index.
#[derive(Clone, Copy, Debug)]
pub struct IndexDoc<'a> {
    /// Stable document id, returned in [`Hit::doc_id`].
    pub id: &'a str,
    /// Title (matches weigh [`super::Bm25Params::title_boost`]).
    pub title: &'a str,
    /// Body text.
    pub text: &'a str,
}

/// Contents of the completion marker.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: u32,
    fingerprint: String,
    num_docs: u64,
}

/// A BM25 index over a corpus, opened read-only. `Send + Sync`: share it behind an `Arc`.
pub struct CorpusIndex {
    /// Document ids, sorted; a document's number in `postings` and `scorer` is its position.
    ids: Vec<String>,
    postings: Postings,
    params: Bm25Params,
    scorer: Scorer,
    path: PathBuf,
    built: bool,
}

impl std::fmt::Debug for CorpusIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorpusIndex")
            .field("path", &self.path)
            .field("num_docs", &self.num_docs())
            .field("built", &self.built)
            .finish()
    }
}

impl CorpusIndex {
    /// Opens the complete index in `dir/<fingerprint>/`, or builds it from `docs` when it is
    /// missing or incomplete. `docs` is only consumed when a build is needed.
    ///
    /// The fingerprint must identify the corpus contents (e.g. a content hash) and be a single
    /// path component.
    pub fn open_or_build<'a>(
        dir: &Path,
        fingerprint: &str,
        docs: impl Iterator<Item = IndexDoc<'a>>,
    ) -> Result<CorpusIndex, SearchError> {
        if !is_path_component(fingerprint) {
            return Err(SearchError::InvalidFingerprint(fingerprint.to_owned()));
        }
        let final_dir = dir.join(fingerprint);
        // Checked twice: a concurrent builder may rename its finished index into place between
        // the first look and the existence check, and that index must not be moved aside.
        let complete = read_marker(&final_dir, fingerprint).is_some()
            || (final_dir.exists() && read_marker(&final_dir, fingerprint).is_some());
        if complete {
            match Self::open(&final_dir, false) {
                Ok(index) => return Ok(index),
                Err(error) => tracing::warn!(
                    index.path = %final_dir.display(),
                    error = %error,
                    "index marked complete failed to open; rebuilding"
                ),
            }
        }
        if final_dir.exists() {
            move_aside(dir, &final_dir, fingerprint);
        }
        sweep_abandoned(dir, fingerprint);
        let tmp = unique_dir(dir, ".tmp", fingerprint);
        fs::create_dir_all(&tmp).map_err(|e| SearchError::io(&tmp, e))?;
        if let Err(error) = build_into(&tmp, fingerprint, docs) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(error);
        }
        match fs::rename(&tmp, &final_dir) {
            Ok(()) => Self::open(&final_dir, true),
            Err(rename_error) => {
                let _ = fs::remove_dir_all(&tmp);
                if read_marker(&final_dir, fingerprint).is_some() {
                    tracing::debug!(
                        index.path = %final_dir.display(),
                        "another builder finished first; using its index"
                    );
                    Self::open(&final_dir, false)
                } else {
                    Err(SearchError::io(&final_dir, rename_error))
                }
            }
        }
    }

    fn open(path: &Path, built: bool) -> Result<CorpusIndex, SearchError> {
        let index = Index::open_in_dir(path)?;
        register_analyzer(&index);
        let schema = index.schema();
        let field = |name: &str| {
            schema.get_field(name).map_err(|_| SearchError::Corrupt {
                path: path.to_owned(),
                reason: format!("missing field `{name}`"),
            })
        };
        let (id, title, text) = (field("id")?, field("title")?, field("text")?);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let corrupt = |reason: &str| SearchError::Corrupt {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };

        // Every (segment, tantivy doc) gets the position of its id in sorted order.
        let mut stored: Vec<(String, usize, u32)> = Vec::new();
        for (segment, segment_reader) in searcher.segment_readers().iter().enumerate() {
            let store = segment_reader
                .get_store_reader(1)
                .map_err(|e| SearchError::io(path, e))?;
            for doc in segment_reader.doc_ids_alive() {
                let document: TantivyDocument = store.get(doc)?;
                let doc_id = document
                    .get_first(id)
                    .and_then(|value| value.as_str())
                    .ok_or_else(|| corrupt("a document has no stored id"))?;
                stored.push((doc_id.to_owned(), segment, doc));
            }
        }
        stored.sort();
        let mut number: Vec<Vec<u32>> = searcher
            .segment_readers()
            .iter()
            .map(|r| vec![u32::MAX; r.max_doc() as usize])
            .collect();
        for (position, (_, segment, doc)) in stored.iter().enumerate() {
            number[*segment][*doc as usize] =
                u32::try_from(position).map_err(|_| corrupt("too many documents"))?;
        }

        let mut postings = Postings::with_docs(stored.len());
        for (segment, segment_reader) in searcher.segment_readers().iter().enumerate() {
            for (field, kind) in [(title, FieldKind::Title), (text, FieldKind::Text)] {
                let inverted = segment_reader.inverted_index(field)?;
                let mut terms = inverted
                    .terms()
                    .stream()
                    .map_err(|e| SearchError::io(path, e))?;
                while terms.advance() {
                    let term = std::str::from_utf8(terms.key())
                        .map_err(|_| corrupt("a term is not UTF-8"))?;
                    let mut docs = inverted
                        .read_postings_from_terminfo(terms.value(), IndexRecordOption::WithFreqs)
                        .map_err(|e| SearchError::io(path, e))?;
                    while docs.doc() != TERMINATED {
                        let doc = number[segment][docs.doc() as usize];
                        postings.add(kind, term, doc, docs.term_freq());
                        docs.advance();
                    }
                }
            }
        }
        postings.sort();
        let params = Bm25Params::default();
        Ok(CorpusIndex {
            ids: stored.into_iter().map(|(doc_id, _, _)| doc_id).collect(),
            scorer: postings.scorer(params),
            postings,
            params,
            path: path.to_owned(),
            built,
        })
    }

    /// BM25F search for the analysed terms of `query` (OR semantics), best first; equal scores
    /// are ordered by document id. No content terms or no match gives an empty list.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>, SearchError> {
        Ok(self
            .scorer
            .search(query, k)
            .into_iter()
            .map(|(doc, score)| Hit {
                doc_id: self.ids[doc as usize].clone(),
                score,
            })
            .collect())
    }

    /// Replaces the scoring parameters (default: [`Bm25Params::default`]).
    pub fn set_params(&mut self, params: Bm25Params) {
        self.scorer = self.postings.scorer(params);
        self.params = params;
    }

    /// The scoring parameters in use.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Number of indexed documents.
    pub fn num_docs(&self) -> u64 {
        self.ids.len() as u64
    }

    /// The index directory (`<root>/<fingerprint>`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this call built the index (false when an existing one was reused).
    pub fn was_built(&self) -> bool {
        self.built
    }
}

fn schema() -> (Schema, Field, Field, Field) {
    let mut builder = Schema::builder();
    let id = builder.add_text_field("id", STRING | STORED);
    let title = builder.add_text_field("title", analysed_text());
    let text = builder.add_text_field("text", analysed_text());
    (builder.build(), id, title, text)
}

/// Builds a complete index (marker included) in the empty directory `tmp`.
fn build_into<'a>(
    tmp: &Path,
    fingerprint: &str,
    docs: impl Iterator<Item = IndexDoc<'a>>,
) -> Result<(), SearchError> {
    let started = Instant::now();
    let (schema, id, title, text) = schema();
    let index = Index::create_in_dir(tmp, schema)?;
    register_analyzer(&index);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY_BYTES)?;
    let mut num_docs = 0u64;
    for document in docs {
        writer.add_document(doc!(
            id => document.id,
            title => document.title,
            text => document.text,
        ))?;
        num_docs += 1;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    let marker = Marker {
        format: INDEX_FORMAT,
        fingerprint: fingerprint.to_owned(),
        num_docs,
    };
    let marker_path = tmp.join(COMPLETE_MARKER);
    let bytes = serde_json::to_vec(&marker).map_err(|e| SearchError::io(&marker_path, e.into()))?;
    write_synced(&marker_path, &bytes)?;
    tracing::info!(
        index.path = %tmp.display(),
        index.docs = num_docs,
        duration_ms = started.elapsed().as_millis() as u64,
        "built corpus index"
    );
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SearchError> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(|e| SearchError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| SearchError::io(path, e))
}

/// The marker of a complete index of the current format for `fingerprint`, if present.
fn read_marker(dir: &Path, fingerprint: &str) -> Option<Marker> {
    let bytes = fs::read(dir.join(COMPLETE_MARKER)).ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    (marker.format == INDEX_FORMAT && marker.fingerprint == fingerprint).then_some(marker)
}

/// Moves an incomplete or outdated index directory out of the way and deletes it (best
/// effort: a reader of the old directory keeps working on its open files).
fn move_aside(root: &Path, dir: &Path, fingerprint: &str) {
    let stale = unique_dir(root, ".stale", fingerprint);
    if fs::rename(dir, &stale).is_ok() {
        tracing::info!(index.path = %dir.display(), "discarding incomplete or outdated index");
        let _ = fs::remove_dir_all(&stale);
    }
}

/// Deletes temporary or stale directories of `fingerprint` left by builders that died more
/// than an hour ago (best effort).
fn sweep_abandoned(root: &Path, fingerprint: &str) {
    const ABANDONED_AFTER: Duration = Duration::from_secs(3600);
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let prefixes = [
        format!(".tmp-{fingerprint}-"),
        format!(".stale-{fingerprint}-"),
    ];
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > ABANDONED_AFTER);
        if old && prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            tracing::info!(index.path = %entry.path().display(), "removing abandoned index build");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh sibling path that no other process or thread will pick.
fn unique_dir(root: &Path, prefix: &str, fingerprint: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    root.join(format!(
        "{prefix}-{fingerprint}-{}-{n}-{nanos}",
        std::process::id()
    ))
}

fn is_path_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.starts_with('.') && !s.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<(String, String, String)> {
        vec![
            (
                "d1".into(),
                "Macrophages in tumours".into(),
                "Tumour-associated macrophages suppress immunity.".into(),
            ),
            (
                "d2".into(),
                "Bone density".into(),
                "Vitamin D supplements and bone density in adults.".into(),
            ),
            (
                "d3".into(),
                "Sleep".into(),
                "Sleep deprivation alters macrophage function in mice.".into(),
            ),
            (
                "d0".into(),
                "Twin".into(),
                "Identical wording for ties.".into(),
            ),
            (
                "d9".into(),
                "Twin".into(),
                "Identical wording for ties.".into(),
            ),
        ]
    }

    fn build(dir: &Path, fingerprint: &str) -> CorpusIndex {
        let docs = docs();
        CorpusIndex::open_or_build(
            dir,
            fingerprint,
            docs.iter()
                .map(|(id, title, text)| IndexDoc { id, title, text }),
        )
        .expect("index builds")
    }

    #[test]
    fn search_ranks_matching_documents_and_boosts_titles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = build(dir.path(), "fp1");
        assert_eq!(index.num_docs(), 5);
        let hits = index.search("macrophage", 10).expect("search");
        let ids: Vec<&str> = hits.iter().map(|h| h.doc_id.as_str()).collect();
        assert_eq!(ids, vec!["d1", "d3"]);
        assert!(hits[0].score > hits[1].score);
    }

    #[test]
    fn equal_scores_are_ordered_by_document_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = build(dir.path(), "fp1");
        let hits = index.search("identical ties", 1).expect("search");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].doc_id, "d0");
        let both = index.search("identical ties", 5).expect("search");
        assert_eq!(both[0].score, both[1].score);
        assert_eq!(
            (both[0].doc_id.as_str(), both[1].doc_id.as_str()),
            ("d0", "d9")
        );
    }

    #[test]
    fn punctuation_and_operators_in_queries_never_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = build(dir.path(), "fp1");
        for query in [
            "\"bone",
            "title:(bone AND",
            "vitamin) OR -",
            "*?~^",
            "AND OR NOT",
        ] {
            assert!(index.search(query, 5).is_ok(), "{query}");
        }
        assert_eq!(
            index.search("title:(bone AND", 5).expect("search")[0].doc_id,
            "d2"
        );
        assert!(
            index
                .search("the of and, ?!", 5)
                .expect("search")
                .is_empty()
        );
        assert!(index.search("zebrafish", 5).expect("search").is_empty());
        assert!(index.search("bone", 0).expect("search").is_empty());
    }

    #[test]
    fn a_complete_index_is_reused_and_an_incomplete_one_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = build(dir.path(), "fp1");
        assert!(first.was_built());
        let second = build(dir.path(), "fp1");
        assert!(!second.was_built());
        assert_eq!(second.search("bone", 1).expect("search")[0].doc_id, "d2");

        fs::remove_file(dir.path().join("fp1").join(COMPLETE_MARKER)).expect("remove marker");
        let third = build(dir.path(), "fp1");
        assert!(third.was_built());
        assert_eq!(third.num_docs(), 5);
    }

    #[test]
    fn concurrent_builders_both_end_with_a_usable_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let root = dir.path().to_owned();
                std::thread::spawn(move || build(&root, "shared").num_docs())
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().expect("builder thread"), 5);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("read root")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("shared")]);
    }

    #[test]
    fn fingerprints_that_are_not_a_single_path_component_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "..", "a/b", ".hidden"] {
            let result = CorpusIndex::open_or_build(dir.path(), bad, std::iter::empty());
            assert!(
                matches!(result, Err(SearchError::InvalidFingerprint(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn corpus_index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CorpusIndex>();
    }
}
