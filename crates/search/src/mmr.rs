//! Maximal marginal relevance: picks items that are relevant yet unlike the ones already
//! picked. Pure selection over indices; callers supply relevance and pairwise similarity.

/// Selects up to `k` indices into `relevance` greedily by
/// `lambda · relevance[i] − (1 − lambda) · max_{j selected} similarity(i, j)`.
///
/// `lambda = 1` is plain relevance order, `lambda = 0` maximal diversity. Deterministic: equal
/// scores go to the lower index; NaN relevance ranks last. `similarity` is called at most once
/// per (candidate, selected) pair.
pub fn mmr(
    relevance: &[f32],
    similarity: impl Fn(usize, usize) -> f32,
    lambda: f32,
    k: usize,
) -> Vec<usize> {
    let n = relevance.len();
    let k = k.min(n);
    let mut selected = Vec::with_capacity(k);
    let mut chosen = vec![false; n];
    // Highest similarity of each candidate to anything selected so far.
    let mut max_similarity = vec![f32::NEG_INFINITY; n];
    while selected.len() < k {
        let mut best: Option<(usize, f32)> = None;
        for i in (0..n).filter(|&i| !chosen[i]) {
            let redundancy = if selected.is_empty() {
                0.0
            } else {
                max_similarity[i]
            };
            let mut score = lambda * relevance[i] - (1.0 - lambda) * redundancy;
            if score.is_nan() {
                score = f32::NEG_INFINITY;
            }
            if best.is_none_or(|(_, best_score)| score > best_score) {
                best = Some((i, score));
            }
        }
        let Some((pick, _)) = best else {
            break;
        };
        chosen[pick] = true;
        selected.push(pick);
        for i in (0..n).filter(|&i| !chosen[i]) {
            let sim = similarity(i, pick);
            if sim > max_similarity[i] {
                max_similarity[i] = sim;
            }
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items 0 and 1 are near-duplicates; 2 is different.
    fn sim(i: usize, j: usize) -> f32 {
        if i == j || (i.min(j), i.max(j)) == (0, 1) {
            0.95
        } else {
            0.1
        }
    }

    #[test]
    fn lambda_one_is_relevance_order() {
        assert_eq!(mmr(&[0.9, 0.8, 0.5], sim, 1.0, 3), vec![0, 1, 2]);
    }

    #[test]
    fn a_balanced_lambda_skips_near_duplicates() {
        assert_eq!(mmr(&[0.9, 0.8, 0.5], sim, 0.5, 2), vec![0, 2]);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        assert_eq!(
            mmr(&[0.5, 0.7, 0.7, 0.5], |_, _| 0.0, 0.7, 4),
            vec![1, 2, 0, 3]
        );
    }

    #[test]
    fn empty_input_and_oversized_k_are_handled() {
        assert!(mmr(&[], sim, 0.5, 5).is_empty());
        assert!(mmr(&[0.3, 0.2], sim, 0.5, 0).is_empty());
        assert_eq!(mmr(&[0.3, 0.2], |_, _| 0.0, 0.5, 10), vec![0, 1]);
    }

    #[test]
    fn nan_relevance_ranks_last() {
        assert_eq!(
            mmr(&[f32::NAN, 0.1, 0.2], |_, _| 0.0, 0.5, 3),
            vec![2, 1, 0]
        );
    }
}
