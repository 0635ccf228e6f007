//! The server's local corpus: a BEIR-style JSONL file or a folder of `.md`/`.markdown`/`.txt`
//! files, loaded into memory ([`LocalCorpus`]) and searchable with a persistent BM25 index
//! ([`LocalSearch`]), and offered to runs as the `local` connector ([`LocalConnector`]).
//!
//! Loading is strict and deterministic: every problem is reported with the file (and line) at
//! fault, and the same bytes always give the same documents, order and fingerprint. Nothing
//! here writes anywhere except the index directory handed to [`LocalSearch::open`].

mod connector;
mod folder;
mod jsonl;

pub use connector::{LOCAL_CONNECTOR, LocalConnector};

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use researchops_search::{CorpusIndex, IndexDoc, align_sentences, split_sentences};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::CorpusError;

/// One document of the local corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusDocument {
    /// Stable id: the JSONL `_id`, or the path relative to the corpus folder (with `/`).
    pub id: String,
    /// Title (may be empty for JSONL records without one).
    pub title: String,
    /// Body text.
    pub text: String,
    /// Pre-split sentences when the source provides them (JSONL `sentences`).
    pub sentences: Option<Vec<String>>,
    /// Path relative to the corpus folder, for folder corpora.
    pub path: Option<String>,
}

impl CorpusDocument {
    /// Byte ranges of the sentences of [`CorpusDocument::text`]: the source's own split when
    /// it has one that matches the text, otherwise the house sentence splitter.
    pub fn sentence_ranges(&self) -> Vec<Range<usize>> {
        match &self.sentences {
            Some(sentences) => align_sentences(&self.text, sentences),
            None => split_sentences(&self.text),
        }
    }
}

/// A corpus loaded in memory, with an id lookup and a content fingerprint.
#[derive(Debug)]
pub struct LocalCorpus {
    path: PathBuf,
    documents: Vec<CorpusDocument>,
    by_id: HashMap<String, usize>,
    fingerprint: String,
}

impl LocalCorpus {
    /// Loads a JSONL file (`_id`, `title`, `text`, optional `sentences` per line) or a folder
    /// of Markdown/text files (read recursively, sorted by relative path; hidden entries
    /// skipped).
    pub fn load(path: &Path) -> Result<LocalCorpus, CorpusError> {
        let started = Instant::now();
        let metadata = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CorpusError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                CorpusError::Unreadable {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let mut hasher = Sha256::new();
        hasher.update(b"researchops-corpus-v1\0");
        let (documents, hint) = if metadata.is_dir() {
            hasher.update(b"folder\0");
            let documents = folder::load(path, &mut hasher)?;
            (documents, " (no .md, .markdown or .txt files with text)")
        } else {
            hasher.update(b"jsonl\0");
            (jsonl::load(path, &mut hasher)?, "")
        };
        if documents.is_empty() {
            return Err(CorpusError::Empty {
                path: path.to_owned(),
                hint,
            });
        }
        let by_id = documents
            .iter()
            .enumerate()
            .map(|(i, doc)| (doc.id.clone(), i))
            .collect();
        let corpus = LocalCorpus {
            path: path.to_owned(),
            documents,
            by_id,
            fingerprint: hex::encode(hasher.finalize()),
        };
        tracing::info!(
            corpus.path = %path.display(),
            corpus.docs = corpus.len(),
            corpus.fingerprint = %corpus.fingerprint,
            duration_ms = started.elapsed().as_millis() as u64,
            "loaded local corpus"
        );
        Ok(corpus)
    }

    /// Hex SHA-256 over the corpus bytes (file contents in order, plus relative paths for
    /// folders). Identical inputs always give the same fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The path the corpus was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of documents (never 0).
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Always false: an empty corpus fails to load.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The document with this id.
    pub fn get(&self, id: &str) -> Option<&CorpusDocument> {
        self.by_id.get(id).map(|&i| &self.documents[i])
    }

    /// All documents, in file (or sorted path) order.
    pub fn documents(&self) -> &[CorpusDocument] {
        &self.documents
    }
}

/// A loaded corpus plus its BM25 index. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct LocalSearch {
    corpus: LocalCorpus,
    index: CorpusIndex,
}

impl LocalSearch {
    /// Loads the corpus at `path` and opens (or builds, on first use or after the corpus
    /// changed) its index under `index_root/<fingerprint>/`.
    pub fn open(path: &Path, index_root: &Path) -> Result<Self, CorpusError> {
        let corpus = LocalCorpus::load(path)?;
        let index = CorpusIndex::open_or_build(
            index_root,
            corpus.fingerprint(),
            corpus.documents().iter().map(|doc| IndexDoc {
                id: &doc.id,
                title: &doc.title,
                text: &doc.text,
            }),
        )?;
        Ok(LocalSearch { corpus, index })
    }

    /// The `k` best documents for `query` with their BM25 scores, best first (ties by id).
    /// A query without content words gives an empty list.
    pub fn search(
        &self,
        query: &str,
        k: usize,
    ) -> Result<Vec<(f32, &CorpusDocument)>, CorpusError> {
        let hits = self.index.search(query, k)?;
        Ok(hits
            .into_iter()
            .filter_map(|hit| match self.corpus.get(&hit.doc_id) {
                Some(doc) => Some((hit.score, doc)),
                None => {
                    tracing::warn!(doc.id = %hit.doc_id, "index returned an unknown document");
                    None
                }
            })
            .collect())
    }

    /// The loaded corpus.
    pub fn corpus(&self) -> &LocalCorpus {
        &self.corpus
    }

    /// The BM25 index.
    pub fn index(&self) -> &CorpusIndex {
        &self.index
    }
}

/// 1-based line number of byte offset `at` in `bytes`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Strips a UTF-8 byte order mark.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentence_ranges_use_the_given_split_when_it_matches() {
        let doc = CorpusDocument {
            id: "1".into(),
            title: String::new(),
            text: "First e.g. Second. Third.".into(),
            sentences: Some(vec!["First e.g.".into(), "Second.".into(), "Third.".into()]),
            path: None,
        };
        let got: Vec<&str> = doc
            .sentence_ranges()
            .into_iter()
            .map(|r| &doc.text[r])
            .collect();
        assert_eq!(got, vec!["First e.g.", "Second.", "Third."]);
        let unsplit = CorpusDocument {
            sentences: None,
            ..doc.clone()
        };
        assert_eq!(unsplit.sentence_ranges().len(), 2);
    }

    #[test]
    fn line_numbers_are_one_based() {
        assert_eq!(line_of(b"a\nb\nc", 0), 1);
        assert_eq!(line_of(b"a\nb\nc", 2), 2);
        assert_eq!(line_of(b"a\nb\nc", 99), 3);
    }
}
