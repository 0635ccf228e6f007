//! Grouping of relevance-ordered items into themes (leader clustering over tf-idf vectors)
//! and readable labels for a group (its most distinctive words).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::similarity::{SparseVec, TfIdf, cosine};
use crate::text::{analyze_spans, content_terms};

/// Clusters `vectors`, which must be in relevance order (most relevant first).
///
/// Each item joins the existing cluster whose centroid it is most similar to when that
/// similarity is at least `threshold`; otherwise it founds a new cluster while fewer than
/// `max_clusters` exist (at least one is always allowed), else joins the most similar one.
/// Clusters come back in the order of their first (most relevant) member, members in input
/// order. Deterministic: similarity ties go to the earlier cluster.
pub fn leader_clusters(
    vectors: &[SparseVec],
    threshold: f32,
    max_clusters: usize,
) -> Vec<Vec<usize>> {
    let max_clusters = max_clusters.max(1);
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut centroids: Vec<SparseVec> = Vec::new();
    for (i, vector) in vectors.iter().enumerate() {
        let mut best: Option<(usize, f32)> = None;
        for (c, centroid) in centroids.iter().enumerate() {
            let similarity = cosine(vector, centroid);
            if best.is_none_or(|(_, s)| similarity > s) {
                best = Some((c, similarity));
            }
        }
        let target = match best {
            Some((c, similarity)) if similarity >= threshold => Some(c),
            _ if clusters.len() < max_clusters => None,
            Some((c, _)) => Some(c),
            None => None,
        };
        match target {
            Some(c) => {
                clusters[c].push(i);
                centroids[c] = centroids[c].add(vector);
            }
            None => {
                clusters.push(vec![i]);
                centroids.push(vector.clone());
            }
        }
    }
    clusters
}

/// The `n` words most characteristic of a cluster, as readable lowercase surface words.
///
/// A term scores `share · idf · log2(1 + lift)`, where `share` is the fraction of
/// `cluster_texts` containing it, `idf` comes from `tfidf`, and `lift` is `share` divided by
/// the fraction of `all_texts` containing it (terms concentrated in the cluster win). Ties go
/// to the alphabetically first term; numbers are skipped. Each stem is shown as the surface
/// form it most often had in the cluster ("macrophages" for `macrophag`).
pub fn distinctive_terms(
    tfidf: &TfIdf,
    cluster_texts: &[&str],
    all_texts: &[&str],
    n: usize,
) -> Vec<String> {
    if cluster_texts.is_empty() || n == 0 {
        return Vec::new();
    }
    let mut cluster_df: HashMap<String, usize> = HashMap::new();
    let mut surfaces: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    for text in cluster_texts {
        let mut seen = HashSet::new();
        for (term, span) in analyze_spans(text) {
            let surface = text[span].to_lowercase();
            *surfaces
                .entry(term.clone())
                .or_default()
                .entry(surface)
                .or_default() += 1;
            if seen.insert(term.clone()) {
                *cluster_df.entry(term).or_default() += 1;
            }
        }
    }
    let mut all_df: HashMap<String, usize> = HashMap::new();
    for text in all_texts {
        for term in content_terms(text) {
            *all_df.entry(term).or_default() += 1;
        }
    }

    let cluster_len = cluster_texts.len() as f32;
    let all_len = all_texts.len().max(cluster_texts.len()) as f32;
    let mut scored: Vec<(f32, &str)> = cluster_df
        .iter()
        .filter(|(term, _)| term.chars().any(char::is_alphabetic))
        .map(|(term, &df)| {
            let share = df as f32 / cluster_len;
            let overall = all_df.get(term).copied().unwrap_or(0).max(df) as f32 / all_len;
            let lift = share / overall;
            (share * tfidf.idf(term) * (1.0 + lift).log2(), term.as_str())
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));

    let mut words = Vec::with_capacity(n);
    for (_, term) in scored {
        let surface = surfaces
            .get(term)
            .and_then(|forms| {
                // Most frequent form; BTreeMap order makes the alphabetically first win ties.
                forms.iter().fold(
                    None::<(&String, usize)>,
                    |best, (form, &count)| match best {
                        Some((_, best_count)) if best_count >= count => best,
                        _ => Some((form, count)),
                    },
                )
            })
            .map_or_else(|| term.to_owned(), |(form, _)| form.clone());
        if !words.contains(&surface) {
            words.push(surface);
        }
        if words.len() == n {
            break;
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: [&str; 6] = [
        "Adipose tissue macrophages drive insulin resistance.",
        "Macrophages in adipose tissue promote inflammation.",
        "Vitamin D supplementation and fracture risk in adults.",
        "Obese mice show more adipose macrophages.",
        "Fracture risk was unchanged by vitamin D.",
        "Sleep duration in teenagers.",
    ];

    fn vectors(model: &TfIdf) -> Vec<SparseVec> {
        TEXTS.iter().map(|t| model.vector(t)).collect()
    }

    #[test]
    fn similar_items_share_a_cluster_in_relevance_order() {
        let model = TfIdf::fit(TEXTS);
        let clusters = leader_clusters(&vectors(&model), 0.2, 10);
        assert_eq!(clusters, vec![vec![0, 1, 3], vec![2, 4], vec![5]]);
    }

    #[test]
    fn the_cluster_cap_sends_outliers_to_the_most_similar_cluster() {
        let model = TfIdf::fit(TEXTS);
        let clusters = leader_clusters(&vectors(&model), 0.2, 2);
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0][0], 0);
        assert_eq!(clusters[1][0], 2);
        let total: usize = clusters.iter().map(Vec::len).sum();
        assert_eq!(total, TEXTS.len());
    }

    #[test]
    fn degenerate_inputs_are_handled() {
        assert!(leader_clusters(&[], 0.5, 3).is_empty());
        let zero = vec![SparseVec::default(), SparseVec::default()];
        assert_eq!(leader_clusters(&zero, 0.5, 0), vec![vec![0, 1]]);
        assert_eq!(leader_clusters(&zero, 0.0, 5), vec![vec![0, 1]]);
    }

    #[test]
    fn distinctive_terms_are_readable_words_concentrated_in_the_cluster() {
        let model = TfIdf::fit(TEXTS);
        let cluster = [TEXTS[0], TEXTS[1], TEXTS[3]];
        let terms = distinctive_terms(&model, &cluster, &TEXTS, 2);
        assert_eq!(terms, vec!["adipose", "macrophages"]);
        let other = distinctive_terms(&model, &[TEXTS[2], TEXTS[4]], &TEXTS, 3);
        assert_eq!(other, vec!["fracture", "risk", "vitamin"]);
        assert!(distinctive_terms(&model, &[], &TEXTS, 3).is_empty());
    }
}
