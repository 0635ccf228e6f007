//! Fusion of ranked lists (BM25 and dense, or any others) into one ranking: reciprocal rank fusion
//! and a convex combination of min-max-normalised scores.
//!
//! Pure functions over [`Hit`] lists: they do not retrieve anything themselves. Both are
//! deterministic: equal fused scores are ordered by `doc_id`, and a document listed twice in one
//! input counts once, at its best position.

use crate::bm25::Hit;
use std::collections::{HashMap, HashSet};

/// The usual reciprocal rank fusion constant (Cormack, Clarke and Büttcher, 2009).
pub const RRF_K: f32 = 60.0;

/// Reciprocal rank fusion: each document scores `Σ 1 / (k + rank)` over the lists it appears in
/// (`rank` from 1). Scores of the inputs are ignored, only their order counts. Returns at most
/// `limit` hits, best first, ties by `doc_id`.
pub fn reciprocal_rank_fusion(lists: &[&[Hit]], k: f32, limit: usize) -> Vec<Hit> {
    let mut fused: HashMap<&str, f32> = HashMap::new();
    for list in lists {
        let mut seen: HashSet<&str> = HashSet::with_capacity(list.len());
        for (position, hit) in list.iter().enumerate() {
            if !seen.insert(hit.doc_id.as_str()) {
                continue;
            }
            *fused.entry(hit.doc_id.as_str()).or_default() += 1.0 / (k + position as f32 + 1.0);
        }
    }
    ranked(fused, limit)
}

/// Convex combination `alpha · lexical + (1 − alpha) · dense` of scores min-max-normalised per
/// list to [0, 1] (a list whose scores are all equal normalises to 1). A document missing from a
/// list gets 0 for it; non-finite scores count as that list's minimum. `alpha = 1` is the lexical
/// order, `alpha = 0` the dense one (clamped to [0, 1]). Returns at most `limit` hits, best first,
/// ties by `doc_id`.
pub fn convex_fusion(lexical: &[Hit], dense: &[Hit], alpha: f32, limit: usize) -> Vec<Hit> {
    let alpha = if alpha.is_nan() {
        0.5
    } else {
        alpha.clamp(0.0, 1.0)
    };
    let mut fused: HashMap<&str, f32> = HashMap::new();
    for (list, weight) in [(lexical, alpha), (dense, 1.0 - alpha)] {
        for (doc_id, normalised) in min_max(list) {
            *fused.entry(doc_id).or_default() += weight * normalised;
        }
    }
    ranked(fused, limit)
}

/// Each distinct document of `list` with its score scaled to [0, 1] (best occurrence kept).
fn min_max(list: &[Hit]) -> HashMap<&str, f32> {
    let finite = list.iter().map(|h| h.score).filter(|s| s.is_finite());
    let (low, high) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    let mut normalised: HashMap<&str, f32> = HashMap::with_capacity(list.len());
    for hit in list {
        let value = if !hit.score.is_finite() || low > high {
            0.0
        } else if high > low {
            (hit.score - low) / (high - low)
        } else {
            1.0
        };
        let entry = normalised.entry(hit.doc_id.as_str()).or_insert(value);
        *entry = entry.max(value);
    }
    normalised
}

fn ranked(fused: HashMap<&str, f32>, limit: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = fused
        .into_iter()
        .map(|(doc_id, score)| Hit {
            doc_id: doc_id.to_string(),
            score,
        })
        .collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.doc_id.cmp(&b.doc_id))
    });
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(list: &[(&str, f32)]) -> Vec<Hit> {
        list.iter()
            .map(|(id, score)| Hit {
                doc_id: id.to_string(),
                score: *score,
            })
            .collect()
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.doc_id.as_str()).collect()
    }

    #[test]
    fn reciprocal_rank_fusion_rewards_documents_both_lists_rank_well() {
        let lexical = hits(&[("a", 30.0), ("b", 20.0), ("c", 10.0)]);
        let dense = hits(&[("c", 0.9), ("b", 0.8), ("d", 0.7)]);
        let fused = reciprocal_rank_fusion(&[&lexical, &dense], RRF_K, 10);
        // c: 1/63 + 1/61 edges out b: 1/62 + 1/62; a and d appear once each.
        assert_eq!(ids(&fused), ["c", "b", "a", "d"]);
        assert!((fused[0].score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert!((fused[1].score - 2.0 / 62.0).abs() < 1e-7);
        assert_eq!(
            reciprocal_rank_fusion(&[&lexical, &dense], RRF_K, 2).len(),
            2
        );
    }

    #[test]
    fn reciprocal_rank_fusion_breaks_ties_by_id_and_counts_a_repeat_once() {
        let first = hits(&[("z", 1.0), ("y", 0.5)]);
        let second = hits(&[("y", 1.0), ("z", 0.5), ("y", 0.1)]);
        let fused = reciprocal_rank_fusion(&[&first, &second], RRF_K, 10);
        assert_eq!(ids(&fused), ["y", "z"]);
        assert_eq!(fused[0].score, fused[1].score);
        assert!(reciprocal_rank_fusion(&[], RRF_K, 10).is_empty());
    }

    #[test]
    fn convex_fusion_at_the_extremes_is_one_list_and_in_between_a_blend() {
        let lexical = hits(&[("a", 12.0), ("b", 8.0), ("c", 4.0)]);
        let dense = hits(&[("c", 0.9), ("b", 0.7), ("a", 0.1)]);
        assert_eq!(
            ids(&convex_fusion(&lexical, &dense, 1.0, 10)),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids(&convex_fusion(&lexical, &dense, 0.0, 10)),
            ["c", "b", "a"]
        );
        let half = convex_fusion(&lexical, &dense, 0.5, 10);
        // a: 0.5·1 + 0.5·0 = 0.5; b: 0.5·0.5 + 0.5·0.75 = 0.625; c: 0.5·0 + 0.5·1 = 0.5.
        assert_eq!(ids(&half), ["b", "a", "c"]);
        assert!((half[0].score - 0.625).abs() < 1e-6);
        assert_eq!(half[1].score, half[2].score, "a and c tie, ordered by id");
    }

    #[test]
    fn convex_fusion_handles_missing_documents_flat_lists_and_bad_scores() {
        let lexical = hits(&[("a", 5.0), ("b", f32::NAN)]);
        let dense = hits(&[("c", 0.4)]);
        let fused = convex_fusion(&lexical, &dense, 0.7, 10);
        // a: 0.7·1; c (one score, flat list): 0.3·1; b: NaN counts as the minimum.
        assert_eq!(ids(&fused), ["a", "c", "b"]);
        assert!((fused[0].score - 0.7).abs() < 1e-6);
        assert!((fused[1].score - 0.3).abs() < 1e-6);
        assert_eq!(fused[2].score, 0.0);
        assert!(convex_fusion(&[], &[], 0.5, 10).is_empty());
        assert_eq!(convex_fusion(&lexical, &dense, f32::NAN, 1).len(), 1);
    }
}
