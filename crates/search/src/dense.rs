//! Brute-force dense retrieval: document vectors in one flat array, scored by cosine similarity
//! against a query vector. Exact, and fast enough for tens of thousands of 384-wide vectors (one
//! pass over the array per query).
//!
//! It owns storing vectors and ranking them; it does not compute embeddings (see
//! [`embed`](crate::embed)) or persist anything.

use crate::SearchError;
use crate::bm25::Hit;

/// Document vectors under their ids, searchable by cosine similarity.
#[derive(Clone, Debug, Default)]
pub struct DenseIndex {
    dim: usize,
    doc_ids: Vec<String>,
    /// Unit-length vectors, `dim` floats per document, in insertion order.
    vectors: Vec<f32>,
}

impl DenseIndex {
    /// An empty index of `dim`-wide vectors.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            doc_ids: Vec::new(),
            vectors: Vec::new(),
        }
    }

    /// Adds a document. The vector is normalised to unit length here, so scores are cosines
    /// whatever the caller passes; an all-zero vector scores 0 against everything.
    pub fn push(&mut self, doc_id: impl Into<String>, vector: &[f32]) -> Result<(), SearchError> {
        let doc_id = doc_id.into();
        if vector.len() != self.dim {
            return Err(SearchError::DimensionMismatch {
                expected: self.dim,
                found: vector.len(),
                doc_id,
            });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(SearchError::NonFiniteVector(doc_id));
        }
        self.doc_ids.push(doc_id);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        self.vectors.extend(vector.iter().map(|x| x * scale));
        Ok(())
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    /// Whether the index holds no documents.
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }

    /// The cosine similarity of every document to `query`, in insertion order (for fusion or
    /// calibration over a whole candidate set).
    pub fn scores(&self, query: &[f32]) -> Result<Vec<f32>, SearchError> {
        if query.len() != self.dim {
            return Err(SearchError::DimensionMismatch {
                expected: self.dim,
                found: query.len(),
                doc_id: "(query)".to_string(),
            });
        }
        let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
        let scale = if norm > 0.0 && norm.is_finite() {
            1.0 / norm
        } else {
            0.0
        };
        if self.dim == 0 {
            return Ok(vec![0.0; self.len()]);
        }
        Ok(self
            .vectors
            .chunks_exact(self.dim)
            .map(|doc| doc.iter().zip(query).map(|(d, q)| d * q).sum::<f32>() * scale)
            .collect())
    }

    /// The `k` documents most similar to `query`, best first, equal scores by `doc_id`.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        let scores = self.scores(query)?;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        let by_rank = |&a: &usize, &b: &usize| {
            scores[b]
                .total_cmp(&scores[a])
                .then_with(|| self.doc_ids[a].cmp(&self.doc_ids[b]))
        };
        if k < order.len() {
            order.select_nth_unstable_by(k, by_rank);
            order.truncate(k);
        }
        order.sort_by(by_rank);
        Ok(order
            .into_iter()
            .map(|i| Hit {
                doc_id: self.doc_ids[i].clone(),
                score: scores[i],
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn index() -> DenseIndex {
        let mut index = DenseIndex::new(3);
        index.push("x", &[1.0, 0.0, 0.0]).unwrap();
        index.push("y", &[0.0, 2.0, 0.0]).unwrap();
        index.push("xy", &[1.0, 1.0, 0.0]).unwrap();
        index.push("yx", &[2.0, 2.0, 0.0]).unwrap();
        index.push("zero", &[0.0, 0.0, 0.0]).unwrap();
        index
    }

    #[test]
    fn search_ranks_by_cosine_whatever_the_vector_lengths() {
        let hits = index().search(&[0.0, 5.0, 0.0], 3).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| h.doc_id.as_str()).collect();
        // xy and yx point the same way (lengths a power of two apart, so the cosines are equal to the
        // bit): ordered by id.
        assert_eq!(ids, ["y", "xy", "yx"]);
        assert!((hits[0].score - 1.0).abs() < 1e-6);
        assert!((hits[1].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(hits[1].score, hits[2].score);
    }

    #[test]
    fn k_larger_than_the_index_returns_everything_and_zero_vectors_score_zero() {
        let index = index();
        let hits = index.search(&[1.0, 0.0, 0.0], 100).unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits.last().unwrap().doc_id, "zero");
        assert_eq!(hits.last().unwrap().score, 0.0);
        assert!(index.search(&[1.0, 0.0, 0.0], 0).unwrap().is_empty());
        assert_eq!(index.scores(&[0.0, 0.0, 0.0]).unwrap(), vec![0.0; 5]);
        assert!(
            DenseIndex::new(3)
                .search(&[1.0, 0.0, 0.0], 5)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn vectors_of_the_wrong_width_or_with_nan_are_refused() {
        let mut index = index();
        let err = index.push("w", &[1.0, 2.0]).unwrap_err();
        assert!(err.to_string().contains("expected 3"), "{err}");
        assert!(index.push("n", &[f32::NAN, 0.0, 0.0]).is_err());
        assert!(index.search(&[1.0], 1).is_err());
        assert_eq!(index.len(), 5);
    }
}
