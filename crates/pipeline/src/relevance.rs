//! Which gathered documents address the question: the pure decision `retrieve` applies after
//! re-scoring every candidate in the run's own BM25 index (so no connector's score scale matters).
//!
//! A document is kept when (a) its run-index score is within [`SCORE_FLOOR`] of the best hit's and
//! (b) it contains enough of the question's informative terms: each question term is weighted by its
//! rarity among the gathered documents (a term no document contains weighs most, so a question whose
//! key words appear nowhere cannot be answered), and the document's share of that weight must reach
//! [`MIN_COVERAGE`]. Kept counts are never padded: `max_sources` is a ceiling applied afterwards.
//! This module computes; it reads no store and knows no connector.

use researchops_search::text::analyze_spans;
use std::collections::{HashMap, HashSet};

/// A kept document scores at least this share of the best hit's run-index BM25 score.
pub(crate) const SCORE_FLOOR: f32 = 0.5;
/// A kept document covers at least this share of the question's term weight.
pub(crate) const MIN_COVERAGE: f32 = 0.4;
/// The gathered documents are treated as a sample of a collection this many times larger when
/// weighting terms, so a term every candidate shares (the topic) still counts.
const SAMPLE_FACTOR: f32 = 10.0;
/// Near-misses named when nothing passes.
const NEAR_MISSES: usize = 3;

/// Question words that frame a question rather than name its subject (stems).
const FRAME_TERMS: &[&str] = &[
    "affect",
    "effect",
    "impact",
    "influenc",
    "role",
    "know",
    "known",
    "associ",
    "relat",
    "relationship",
    "exist",
    "caus",
    "way",
    "mean",
    "happen",
    "work",
];

/// A question term: its stem, the word it came from and its weight.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyTerm {
    /// Analysed stem.
    pub stem: String,
    /// The question's word for it.
    pub word: String,
    /// Rarity weight among the gathered documents.
    pub weight: f32,
}

/// One gathered document as the decision sees it.
#[derive(Clone, Debug)]
pub(crate) struct Scored {
    /// Title (for near-miss messages).
    pub title: String,
    /// Analysed terms of title and text.
    pub terms: HashSet<String>,
    /// BM25 score in the run's own index of the gathered documents.
    pub score: f32,
}

/// A document that came closest without passing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NearMiss {
    /// Its position in the input.
    pub index: usize,
    /// Key-term words it lacks.
    pub missing: Vec<String>,
}

/// The outcome.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decision {
    /// Positions of the documents that pass, most relevant first.
    pub kept: Vec<usize>,
    /// The question's terms, heaviest first.
    pub key_terms: Vec<KeyTerm>,
    /// The closest rejected documents when nothing passes (empty otherwise).
    pub near_misses: Vec<NearMiss>,
}

/// The question's content terms with the word each came from, first occurrence, frame words dropped
/// unless nothing else is left.
pub(crate) fn question_terms(question: &str) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let all: Vec<(String, String)> = analyze_spans(question)
        .into_iter()
        .filter(|(stem, _)| seen.insert(stem.clone()))
        .map(|(stem, range)| (stem, question[range].to_lowercase()))
        .collect();
    let subject: Vec<_> = all
        .iter()
        .filter(|(stem, _)| !FRAME_TERMS.contains(&stem.as_str()))
        .cloned()
        .collect();
    if subject.is_empty() { all } else { subject }
}

/// Weights each question term by its rarity among `docs` (smoothed idf, see [`SAMPLE_FACTOR`]).
pub(crate) fn weigh_terms(terms: &[(String, String)], docs: &[&HashSet<String>]) -> Vec<KeyTerm> {
    let n = docs.len() as f32;
    let mut weighted: Vec<KeyTerm> = terms
        .iter()
        .map(|(stem, word)| {
            let df = docs.iter().filter(|d| d.contains(stem)).count() as f32;
            KeyTerm {
                stem: stem.clone(),
                word: word.clone(),
                weight: ((SAMPLE_FACTOR * n + 1.0) / (df + 0.5)).ln().max(0.1),
            }
        })
        .collect();
    weighted.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.stem.cmp(&b.stem)));
    weighted
}

/// Share of the key terms' weight that `terms` contains.
pub(crate) fn coverage(key_terms: &[KeyTerm], terms: &HashSet<String>) -> f32 {
    let total: f32 = key_terms.iter().map(|t| t.weight).sum();
    if total <= 0.0 {
        return 0.0;
    }
    key_terms
        .iter()
        .filter(|t| terms.contains(&t.stem))
        .map(|t| t.weight)
        .sum::<f32>()
        / total
}

/// Decides which of `docs` address `question`.
pub(crate) fn decide(question: &str, docs: &[Scored]) -> Decision {
    let terms = question_terms(question);
    let sets: Vec<&HashSet<String>> = docs.iter().map(|d| &d.terms).collect();
    let key_terms = weigh_terms(&terms, &sets);
    let best = docs.iter().map(|d| d.score).fold(0.0f32, f32::max);
    let need_terms = key_terms.len().min(2);
    let judged: Vec<(usize, f32, bool)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let cov = coverage(&key_terms, &d.terms);
            let matched = key_terms
                .iter()
                .filter(|t| d.terms.contains(&t.stem))
                .count();
            let passes = best > 0.0
                && d.score >= SCORE_FLOOR * best
                && cov >= MIN_COVERAGE
                && matched >= need_terms;
            (i, cov, passes)
        })
        .collect();
    let by_relevance = |a: &(usize, f32, bool), b: &(usize, f32, bool)| {
        let (sa, sb) = (
            docs[a.0].score / best.max(f32::EPSILON),
            docs[b.0].score / best.max(f32::EPSILON),
        );
        (sb + b.1).total_cmp(&(sa + a.1)).then(a.0.cmp(&b.0))
    };
    let mut kept: Vec<(usize, f32, bool)> = judged.iter().copied().filter(|j| j.2).collect();
    kept.sort_by(by_relevance);
    let near_misses = if kept.is_empty() {
        let mut rejected = judged.clone();
        rejected.sort_by(by_relevance);
        rejected
            .into_iter()
            .take(NEAR_MISSES)
            .map(|(index, _, _)| NearMiss {
                index,
                missing: key_terms
                    .iter()
                    .filter(|t| !docs[index].terms.contains(&t.stem))
                    .map(|t| t.word.clone())
                    .collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Decision {
        kept: kept.into_iter().map(|(i, _, _)| i).collect(),
        key_terms,
        near_misses,
    }
}

/// The `no_evidence` message: what was searched and the closest near-misses.
pub(crate) fn no_evidence_message(
    sources: &[String],
    examined: usize,
    decision: &Decision,
    docs: &[Scored],
) -> String {
    let words: Vec<String> = decision
        .key_terms
        .iter()
        .map(|t| format!("\"{}\"", t.word))
        .collect();
    let mut message = format!(
        "no evidence addresses the question: searched {} and examined {examined} documents for its key terms {}",
        sources.join(", "),
        if words.is_empty() {
            "(none)".to_string()
        } else {
            words.join(", ")
        }
    );
    if !decision.near_misses.is_empty() {
        let titles: HashMap<usize, &str> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.title.as_str()))
            .collect();
        let misses: Vec<String> = decision
            .near_misses
            .iter()
            .map(|m| {
                format!(
                    "\"{}\" (lacks {})",
                    titles.get(&m.index).copied().unwrap_or("").trim(),
                    m.missing.join(", ")
                )
            })
            .collect();
        message.push_str("; closest: ");
        message.push_str(&misses.join("; "));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use researchops_search::analyze;

    fn doc(title: &str, text: &str, score: f32) -> Scored {
        Scored {
            title: title.into(),
            terms: analyze(&format!("{title} {text}")).into_iter().collect(),
            score,
        }
    }

    #[test]
    fn frame_words_are_dropped_from_the_question_terms() {
        let terms: Vec<String> =
            question_terms("Does vitamin D supplementation affect bone density?")
                .into_iter()
                .map(|(_, w)| w)
                .collect();
        assert_eq!(terms, ["vitamin", "supplementation", "bone", "density"]);
        // Only frame words: they are all there is.
        assert_eq!(question_terms("What is the effect?").len(), 1);
    }

    #[test]
    fn on_topic_documents_pass_and_one_shared_word_does_not() {
        let docs = vec![
            doc(
                "Vitamin D and bone density",
                "supplementation raised bone mineral density",
                9.0,
            ),
            doc(
                "Folic acid and stroke",
                "supplementation lowered stroke risk",
                3.0,
            ),
            doc(
                "Bone density in athletes",
                "vitamin intake and bone density were measured",
                7.0,
            ),
        ];
        let decision = decide(
            "Does vitamin D supplementation affect bone mineral density?",
            &docs,
        );
        assert_eq!(decision.kept, vec![0, 2]);
        assert!(decision.near_misses.is_empty());
    }

    #[test]
    fn a_question_whose_key_words_appear_nowhere_keeps_nothing_and_names_near_misses() {
        let docs = vec![
            doc(
                "Pulse wave velocity in adults",
                "arterial stiffness and velocity",
                5.0,
            ),
            doc("Swallowing disorders", "patients could not swallow", 4.0),
            doc("Growth velocity of children", "velocity of growth", 3.0),
            doc("Unrelated", "kidney cells", 0.5),
        ];
        let decision = decide(
            "What is the airspeed velocity of an unladen swallow?",
            &docs,
        );
        assert!(decision.kept.is_empty());
        assert_eq!(decision.near_misses.len(), 3);
        assert_eq!(decision.key_terms[0].word, "airspeed");
        let message = no_evidence_message(&["local".into()], 4, &decision, &docs);
        assert!(message.contains("examined 4 documents"), "{message}");
        assert!(message.contains("\"unladen\""), "{message}");
        assert!(
            message.contains("Pulse wave velocity in adults\" (lacks airspeed, unladen, swallow)"),
            "{message}"
        );
    }

    #[test]
    fn a_document_far_below_the_best_score_is_dropped_even_when_it_covers_the_terms() {
        let docs = vec![
            doc(
                "Bone density and vitamin D",
                "bone density vitamin bone density",
                10.0,
            ),
            doc("Vitamin and bone density", "a passing mention", 2.0),
        ];
        assert_eq!(decide("vitamin bone density", &docs).kept, vec![0]);
    }

    #[test]
    fn rare_terms_weigh_more_than_terms_every_document_shares() {
        let a: HashSet<String> = ["bone", "vitamin"].map(String::from).into_iter().collect();
        let b: HashSet<String> = ["bone"].map(String::from).into_iter().collect();
        let terms = vec![
            ("bone".into(), "bone".into()),
            ("vitamin".into(), "vitamin".into()),
        ];
        let weighted = weigh_terms(&terms, &[&a, &b]);
        assert_eq!(weighted[0].stem, "vitamin");
        assert!(weighted[0].weight > weighted[1].weight);
        assert!((coverage(&weighted, &a) - 1.0).abs() < 1e-6);
        assert!(coverage(&weighted, &b) < 0.5);
    }

    #[test]
    fn nothing_gathered_keeps_nothing() {
        let decision = decide("vitamin", &[]);
        assert!(decision.kept.is_empty() && decision.near_misses.is_empty());
    }
}
