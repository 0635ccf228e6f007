//! Ranking quality metrics for evaluating retrieval against graded relevance judgements
//! (qrels): nDCG@k, Recall@k and MRR@k, as trec_eval / BEIR define them (`ndcg_cut`,
//! `recall`, `recip_rank` cut at k). Documents are identified by id strings; a judgement of 0
//! means "not relevant".

use std::collections::{HashMap, HashSet};

/// nDCG@k with linear gain: `Σ rel_i / log2(i + 2)` over the first `k` ranked ids, divided by
/// the same sum for the ideal order. Repeated ids count once. 0 when nothing is relevant.
pub fn ndcg_at_k(ranked: &[String], relevant: &HashMap<String, u32>, k: usize) -> f64 {
    let mut seen = HashSet::new();
    let dcg: f64 = ranked
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .take(k)
        .enumerate()
        .map(|(i, id)| gain(relevant.get(id).copied().unwrap_or(0), i))
        .sum();
    let mut ideal: Vec<u32> = relevant.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .into_iter()
        .take(k)
        .enumerate()
        .map(|(i, rel)| gain(rel, i))
        .sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

fn gain(relevance: u32, rank: usize) -> f64 {
    f64::from(relevance) / (rank as f64 + 2.0).log2()
}

/// Fraction of the relevant ids (relevance > 0) found among the first `k` ranked ids.
/// 0 when nothing is relevant.
pub fn recall_at_k(ranked: &[String], relevant: &HashMap<String, u32>, k: usize) -> f64 {
    let wanted: HashSet<&str> = relevant
        .iter()
        .filter(|(_, rel)| **rel > 0)
        .map(|(id, _)| id.as_str())
        .collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let found: HashSet<&str> = ranked
        .iter()
        .take(k)
        .map(String::as_str)
        .filter(|id| wanted.contains(id))
        .collect();
    found.len() as f64 / wanted.len() as f64
}

/// Reciprocal rank of the first relevant id (relevance > 0) among the first `k` ranked ids:
/// `1 / rank` (1-based), 0 when none is relevant within `k`.
pub fn mrr_at_k(ranked: &[String], relevant: &HashMap<String, u32>, k: usize) -> f64 {
    let mut seen = HashSet::new();
    ranked
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .take(k)
        .position(|id| relevant.get(id).is_some_and(|&rel| rel > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn qrels(list: &[(&str, u32)]) -> HashMap<String, u32> {
        list.iter().map(|(id, r)| ((*id).to_owned(), *r)).collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let rel = qrels(&[("a", 2), ("b", 1)]);
        assert!((ndcg_at_k(&ids(&["a", "b", "c"]), &rel, 10) - 1.0).abs() < 1e-12);
        assert_eq!(recall_at_k(&ids(&["a", "b"]), &rel, 2), 1.0);
    }

    #[test]
    fn ndcg_discounts_relevant_documents_ranked_lower() {
        let rel = qrels(&[("a", 1)]);
        let second = ndcg_at_k(&ids(&["x", "a"]), &rel, 10);
        assert!((second - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&ids(&["x", "a"]), &rel, 1), 0.0);
    }

    #[test]
    fn recall_counts_only_positive_judgements_within_k() {
        let rel = qrels(&[("a", 1), ("b", 1), ("z", 0)]);
        assert_eq!(recall_at_k(&ids(&["a", "z", "b"]), &rel, 2), 0.5);
        assert_eq!(recall_at_k(&ids(&["a", "a"]), &rel, 2), 0.5);
        assert_eq!(recall_at_k(&ids(&["a"]), &qrels(&[("z", 0)]), 5), 0.0);
    }

    #[test]
    fn repeated_ids_do_not_inflate_ndcg() {
        let rel = qrels(&[("a", 1), ("b", 1)]);
        let repeated = ndcg_at_k(&ids(&["a", "a", "b"]), &rel, 2);
        assert!((repeated - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ndcg_with_graded_relevance_matches_a_hand_computed_value() {
        // Ranked: b (rel 1), x (0), a (rel 2). DCG = 1/log2(2) + 0 + 2/log2(4) = 1 + 1 = 2.
        // Ideal: a (2), b (1): IDCG = 2/log2(2) + 1/log2(3) = 2 + 0.63093 = 2.63093.
        let rel = qrels(&[("a", 2), ("b", 1)]);
        let ndcg = ndcg_at_k(&ids(&["b", "x", "a"]), &rel, 10);
        assert!((ndcg - 2.0 / (2.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
        // Cut at 2: DCG = 1; IDCG unchanged (both ideal documents fit in 2).
        let cut = ndcg_at_k(&ids(&["b", "x", "a"]), &rel, 2);
        assert!((cut - 1.0 / (2.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
    }

    #[test]
    fn ndcg_ideal_is_cut_at_k_and_nothing_relevant_scores_zero() {
        // Three relevant, k = 1: the ideal list holds one document, so a hit at rank 1 is 1.0.
        let rel = qrels(&[("a", 1), ("b", 1), ("c", 1)]);
        assert!((ndcg_at_k(&ids(&["c", "x"]), &rel, 1) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&ids(&["x", "y"]), &rel, 10), 0.0);
        assert_eq!(ndcg_at_k(&ids(&["a"]), &qrels(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn mrr_is_the_reciprocal_rank_of_the_first_relevant_document_within_k() {
        let rel = qrels(&[("a", 1), ("b", 2), ("z", 0)]);
        assert_eq!(mrr_at_k(&ids(&["a", "b"]), &rel, 10), 1.0);
        assert!((mrr_at_k(&ids(&["z", "x", "b", "a"]), &rel, 10) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr_at_k(&ids(&["z", "x", "b"]), &rel, 2), 0.0);
        assert_eq!(mrr_at_k(&ids(&["x", "x", "a"]), &rel, 2), 0.5);
        assert_eq!(mrr_at_k(&[], &rel, 10), 0.0);
    }
}
