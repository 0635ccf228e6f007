//! Lexical similarity: tf-idf vectors over [`crate::text::analyze`] terms and their cosine.
//!
//! A [`TfIdf`] model is fitted on one collection (the sentences or documents of a run) and
//! then turns any text into an L2-normalised [`SparseVec`]. Terms unseen at fit time still
//! count: they get a stable hashed id and the largest idf, so two texts sharing a rare new
//! word remain similar.

use std::collections::HashMap;

use crate::text::{analyze, content_terms};

/// Ids at or above this value are hashed out-of-vocabulary terms.
const OOV_BASE: u32 = 1 << 31;

/// A sparse vector: `(term id, weight)` pairs sorted by id, ids unique, zero weights absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVec {
    entries: Vec<(u32, f32)>,
}

impl SparseVec {
    /// Builds a vector from unsorted entries; duplicate ids are summed, zeros dropped.
    pub fn from_entries(mut entries: Vec<(u32, f32)>) -> Self {
        entries.sort_by_key(|(id, _)| *id);
        let mut merged: Vec<(u32, f32)> = Vec::with_capacity(entries.len());
        for (id, weight) in entries {
            match merged.last_mut() {
                Some((last, sum)) if *last == id => *sum += weight,
                _ => merged.push((id, weight)),
            }
        }
        merged.retain(|(_, weight)| *weight != 0.0);
        SparseVec { entries: merged }
    }

    /// The `(term id, weight)` pairs, sorted by id.
    pub fn entries(&self) -> &[(u32, f32)] {
        &self.entries
    }

    /// Number of non-zero entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the vector is zero.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Euclidean norm.
    pub fn norm(&self) -> f32 {
        self.entries.iter().map(|(_, w)| w * w).sum::<f32>().sqrt()
    }

    /// Dot product (a merge over the sorted entries).
    pub fn dot(&self, other: &SparseVec) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while let (Some(&(a, wa)), Some(&(b, wb))) = (self.entries.get(i), other.entries.get(j)) {
            match a.cmp(&b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += wa * wb;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }

    /// Element-wise sum (used for cluster centroids; cosine ignores the scale).
    pub fn add(&self, other: &SparseVec) -> SparseVec {
        let mut entries = Vec::with_capacity(self.entries.len() + other.entries.len());
        entries.extend_from_slice(&self.entries);
        entries.extend_from_slice(&other.entries);
        SparseVec::from_entries(entries)
    }
}

/// Cosine similarity in `[0, 1]` for tf-idf vectors; 0 when either vector is zero.
pub fn cosine(a: &SparseVec, b: &SparseVec) -> f32 {
    let denominator = a.norm() * b.norm();
    if denominator <= 0.0 {
        return 0.0;
    }
    (a.dot(b) / denominator).clamp(-1.0, 1.0)
}

/// A tf-idf model: vocabulary and smoothed idf `ln((1 + n) / (1 + df)) + 1`.
#[derive(Clone, Debug, Default)]
pub struct TfIdf {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
    num_docs: usize,
}

impl TfIdf {
    /// Fits document frequencies on `texts`. Term ids follow first appearance.
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        let mut num_docs = 0usize;
        for text in texts {
            num_docs += 1;
            for term in content_terms(text) {
                let next_id = u32::try_from(df.len()).unwrap_or(OOV_BASE - 1);
                let id = *vocabulary.entry(term).or_insert(next_id);
                match df.get_mut(id as usize) {
                    Some(count) => *count += 1,
                    None => df.push(1),
                }
            }
        }
        let idf = df
            .into_iter()
            .map(|df| smoothed_idf(num_docs, df as usize))
            .collect();
        TfIdf {
            vocabulary,
            idf,
            num_docs,
        }
    }

    /// Number of texts the model was fitted on.
    pub fn num_docs(&self) -> usize {
        self.num_docs
    }

    /// Number of distinct terms seen at fit time.
    pub fn vocabulary_len(&self) -> usize {
        self.idf.len()
    }

    /// Idf of an analysed term (a stem such as `"macrophag"`); a plain word that analyses to a
    /// single term is accepted too. Unknown terms get the largest idf.
    pub fn idf(&self, term: &str) -> f32 {
        if let Some(&id) = self.vocabulary.get(term) {
            return self.idf[id as usize];
        }
        match analyze(term).as_slice() {
            [single] => self.term_idf(single),
            _ => self.unseen_idf(),
        }
    }

    fn term_idf(&self, term: &str) -> f32 {
        self.vocabulary
            .get(term)
            .map_or_else(|| self.unseen_idf(), |&id| self.idf[id as usize])
    }

    fn unseen_idf(&self) -> f32 {
        smoothed_idf(self.num_docs, 0)
    }

    /// Cosine similarity of two vectors (same as [`cosine`]).
    pub fn cosine(a: &SparseVec, b: &SparseVec) -> f32 {
        cosine(a, b)
    }

    /// Id of an analysed term: its vocabulary id, or a stable hash above the vocabulary.
    pub fn term_id(&self, term: &str) -> u32 {
        self.vocabulary
            .get(term)
            .copied()
            .unwrap_or_else(|| OOV_BASE | (fnv1a(term) & (OOV_BASE - 1)))
    }

    /// The L2-normalised tf-idf vector of `text` (raw term counts × idf). Zero when the text
    /// has no content terms.
    pub fn vector(&self, text: &str) -> SparseVec {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for term in analyze(text) {
            *counts.entry(term).or_default() += 1;
        }
        let entries = counts
            .iter()
            .map(|(term, &count)| (self.term_id(term), count as f32 * self.term_idf(term)))
            .collect();
        let mut vector = SparseVec::from_entries(entries);
        let norm = vector.norm();
        if norm > 0.0 {
            for (_, weight) in &mut vector.entries {
                *weight /= norm;
            }
        }
        vector
    }
}

fn smoothed_idf(num_docs: usize, df: usize) -> f32 {
    (((1 + num_docs) as f64 / (1 + df) as f64).ln() + 1.0) as f32
}

/// 32-bit FNV-1a: a stable hash (std's hasher is randomly seeded).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: [&str; 4] = [
        "Macrophages regulate inflammation in adipose tissue.",
        "Adipose tissue macrophages drive insulin resistance.",
        "Vitamin D supplementation did not prevent fractures.",
        "Fractures in older adults and vitamin D levels.",
    ];

    #[test]
    fn vectors_are_unit_length_and_sorted() {
        let model = TfIdf::fit(TEXTS);
        let v = model.vector(TEXTS[0]);
        assert!((v.norm() - 1.0).abs() < 1e-5);
        assert!(v.entries().windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn related_texts_are_more_similar_than_unrelated_ones() {
        let model = TfIdf::fit(TEXTS);
        let v: Vec<SparseVec> = TEXTS.iter().map(|t| model.vector(t)).collect();
        assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]));
        assert!(cosine(&v[2], &v[3]) > cosine(&v[2], &v[1]));
        assert!((cosine(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        assert_eq!(cosine(&v[0], &SparseVec::default()), 0.0);
    }

    #[test]
    fn rare_terms_get_higher_idf_and_unknown_terms_the_highest() {
        let model = TfIdf::fit(TEXTS);
        assert!(model.idf("insulin") > model.idf("macrophag"));
        assert_eq!(model.idf("macrophages"), model.idf("macrophag"));
        assert!(model.idf("zebrafish") > model.idf("insulin"));
        assert_eq!(model.num_docs(), 4);
    }

    #[test]
    fn unseen_terms_still_match_each_other() {
        let model = TfIdf::fit(TEXTS);
        let a = model.vector("zebrafish regeneration");
        let b = model.vector("regeneration in zebrafish fins");
        assert!(cosine(&a, &b) > 0.5);
        assert!(model.vector("the of and").is_empty());
    }

    #[test]
    fn sparse_vectors_merge_duplicates_and_add() {
        let a = SparseVec::from_entries(vec![(3, 1.0), (1, 2.0), (3, 0.5)]);
        assert_eq!(a.entries(), &[(1, 2.0), (3, 1.5)]);
        let b = SparseVec::from_entries(vec![(2, 1.0), (3, -1.5)]);
        assert_eq!(a.add(&b).entries(), &[(1, 2.0), (2, 1.0)]);
        assert_eq!(a.dot(&b), -2.25);
    }
}
