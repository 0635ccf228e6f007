//! An in-memory BM25 index over short texts (sentences, passages of one document), for ranking
//! them against a query. Built per use and dropped; nothing touches the disk.

use tantivy::schema::{Field, STORED, Schema, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, doc};

use super::{analysed_text, or_query, rank, register_analyzer, top_with_ties};
use crate::SearchError;

/// Smallest per-thread budget tantivy accepts.
const WRITER_MEMORY_BYTES: usize = 15_000_000;

/// BM25 over a list of short texts; hits are positions in the input order.
pub struct SnippetIndex {
    reader: IndexReader,
    text: Field,
    ord: Field,
    len: usize,
}

impl std::fmt::Debug for SnippetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnippetIndex")
            .field("len", &self.len)
            .finish()
    }
}

impl SnippetIndex {
    /// Indexes `texts`; hit `i` refers to the `i`-th text.
    pub fn build<'a>(texts: impl Iterator<Item = &'a str>) -> Result<Self, SearchError> {
        let mut builder = Schema::builder();
        let text = builder.add_text_field("text", analysed_text());
        let ord = builder.add_u64_field("ord", STORED);
        let index = Index::create_in_ram(builder.build());
        register_analyzer(&index);
        let mut writer =
            index.writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY_BYTES)?;
        let mut len = 0usize;
        for (i, snippet) in texts.enumerate() {
            writer.add_document(doc!(text => snippet, ord => i as u64))?;
            len = i + 1;
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SnippetIndex {
            reader,
            text,
            ord,
            len,
        })
    }

    /// Number of indexed texts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no text was indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k` best `(input index, BM25 score)` pairs for `query`, score descending, lower
    /// index first on ties. A query without content terms gives an empty list.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<(usize, f32)>, SearchError> {
        let Some(query) = or_query(query, &[(self.text, 1.0)]) else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let mut hits = Vec::new();
        for (score, address) in top_with_ties(&searcher, &query, k)? {
            let doc: TantivyDocument = searcher.doc(address)?;
            let ord = doc
                .get_first(self.ord)
                .and_then(|value| value.as_u64())
                .and_then(|ord| usize::try_from(ord).ok())
                .ok_or_else(|| SearchError::Corrupt {
                    path: "<memory>".into(),
                    reason: "a snippet has no stored position".to_owned(),
                })?;
            hits.push((ord, score));
        }
        Ok(rank(hits, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_ranked_by_bm25_with_input_positions() {
        let texts = [
            "Vitamin D had no effect on fractures.",
            "Macrophages drive inflammation in adipose tissue.",
            "Adipose tissue macrophages were counted; macrophages increased.",
            "Unrelated sentence.",
        ];
        let index = SnippetIndex::build(texts.iter().copied()).expect("build");
        assert_eq!(index.len(), 4);
        let hits = index.search("adipose macrophages", 10).expect("search");
        let order: Vec<usize> = hits.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![2, 1]);
        assert!(hits[0].1 > hits[1].1);
    }

    #[test]
    fn ties_go_to_the_earlier_text_and_k_truncates() {
        let texts = [
            "same words here",
            "other",
            "same words here",
            "same words here",
        ];
        let index = SnippetIndex::build(texts.iter().copied()).expect("build");
        let hits = index.search("words", 2).expect("search");
        assert_eq!(hits.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn empty_inputs_and_contentless_queries_give_no_hits() {
        let empty = SnippetIndex::build(std::iter::empty()).expect("build");
        assert!(empty.is_empty());
        assert!(empty.search("anything", 3).expect("search").is_empty());
        let index = SnippetIndex::build(["a cell"].into_iter()).expect("build");
        assert!(
            index
                .search("\"the\" (and) :", 3)
                .expect("search")
                .is_empty()
        );
    }
}
