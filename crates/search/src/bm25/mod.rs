//! BM25 retrieval: a persistent, fingerprinted corpus index stored with tantivy and scored by
//! our own BM25F ([`CorpusIndex`], [`Scorer`]), and a throw-away in-memory tantivy index over
//! short texts ([`SnippetIndex`]).
//!
//! Queries never go through tantivy's query parser: the query is analysed with
//! [`crate::text::analyze`] and its terms are OR-ed, so user punctuation (`"`, `:`, `(`, `AND`)
//! can never cause a parse error. Results are ordered by score, then by a stable key, so equal
//! scores rank the same way on every run.

mod corpus;
mod scorer;
mod snippet;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, TextFieldIndexing, TextOptions};
use tantivy::{DocAddress, Index, Searcher, Term};

use crate::SearchError;
use crate::text::{ANALYZER_NAME, content_terms, text_analyzer};

pub use corpus::{COMPLETE_MARKER, CorpusIndex, IndexDoc};
pub use scorer::{Bm25Params, FieldKind, Postings, Scorer};
pub use snippet::SnippetIndex;

/// One retrieved corpus document.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The document's id as given to [`CorpusIndex::open_or_build`].
    pub doc_id: String,
    /// BM25F score (see [`Scorer`]; title matches weigh [`Bm25Params::title_boost`]).
    pub score: f32,
}

/// Options for a full-text field analysed with the shared analyser (not stored).
fn analysed_text() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqs),
    )
}

/// Registers the shared analyser on an index (needed after every create or open).
fn register_analyzer(index: &Index) {
    index.tokenizers().register(ANALYZER_NAME, text_analyzer());
}

/// OR query over the analysed terms of `query` in the given `(field, boost)` pairs, or `None`
/// when the query has no content terms.
fn or_query(query: &str, fields: &[(Field, f32)]) -> Option<BooleanQuery> {
    let terms = content_terms(query);
    if terms.is_empty() {
        return None;
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * fields.len());
    for term in &terms {
        for &(field, boost) in fields {
            let term_query = TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::WithFreqs,
            );
            let clause: Box<dyn Query> = if (boost - 1.0).abs() < f32::EPSILON {
                Box::new(term_query)
            } else {
                Box::new(BoostQuery::new(Box::new(term_query), boost))
            };
            clauses.push((Occur::Should, clause));
        }
    }
    Some(BooleanQuery::new(clauses))
}

/// Top documents for `query`, fetching past `k` until every document tied with the k-th
/// score is included, so the caller's tie-break sees all candidates.
fn top_with_ties(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
) -> Result<Vec<(f32, DocAddress)>, SearchError> {
    let mut limit = k.saturating_add(k.max(16));
    loop {
        let hits = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        let saturated = hits.len() == limit
            && k > 0
            && hits
                .get(k - 1)
                .zip(hits.last())
                .is_some_and(|(kth, last)| last.0 >= kth.0);
        if !saturated || limit as u64 >= searcher.num_docs() {
            return Ok(hits);
        }
        limit = limit.saturating_mul(2);
    }
}

/// Sorts by score descending then key ascending, and keeps the first `k`.
fn rank<K: Ord>(mut hits: Vec<(K, f32)>, k: usize) -> Vec<(K, f32)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_orders_by_score_then_key_and_truncates() {
        let ranked = rank(vec![("b", 1.0), ("c", 2.0), ("a", 1.0), ("d", 0.5)], 3);
        assert_eq!(ranked, vec![("c", 2.0), ("a", 1.0), ("b", 1.0)]);
    }

    #[test]
    fn a_query_without_content_terms_builds_no_query() {
        let field = Field::from_field_id(0);
        assert!(or_query("the \"of\": (AND) ?", &[(field, 1.0)]).is_none());
        assert!(or_query("macrophage AND (\"mice\"", &[(field, 1.0)]).is_some());
    }
}
