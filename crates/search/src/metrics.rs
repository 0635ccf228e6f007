//! Ranking quality metrics for evaluating retrieval against graded relevance judgements
//! (qrels): nDCG@k and Recall@k. Documents are identified by id strings.

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
}
