//! Which gathered documents address the question: the pure decision `retrieve` applies after
//! re-scoring every candidate in the run's own BM25 index (so no connector's score scale matters).
//!
//! A document is kept when (a) its run-index score is within [`SCORE_FLOOR`] of the best hit's and
//! (b) it contains enough of the question's informative terms: each question term is weighted by its
//! rarity among the gathered documents (a term no document contains weighs most, so a question whose
//! key words appear nowhere cannot be answered), and the document's share of that weight must reach
//! [`MIN_COVERAGE`]. Kept counts are never padded: `max_sources` is a ceiling applied afterwards.
//!
//! With sentence embeddings, lexical and dense evidence must agree: a document that passes on its
//! words is kept only if its meaning is also close to the question's ([`DENSE_AGREE`]), and a document
//! that says the same thing in other words (close in meaning to the question, within
//! [`DENSE_MARGIN`] of the closest document, covering some of its terms) is kept although it misses
//! the lexical floor. Cosines of one model are on one scale whatever the source, so these thresholds
//! hold for any run's documents. This module computes; it reads no store and knows no connector.

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
/// Only documents scoring at least this share of the best BM25 score are embedded (the rest cannot
/// pass: [`SCORE_FLOOR`] is higher), which spares the model ~40 % of what a run gathers.
pub(crate) const DENSE_MIN_SCORE: f32 = 0.3;
/// With embeddings, the lexical test is stricter (meaning can rescue what it misses): this share of
/// the best score…
pub(crate) const DENSE_SCORE_FLOOR: f32 = 0.8;
/// …and this share of the question's term weight…
pub(crate) const DENSE_LEXICAL_COVERAGE: f32 = 0.4;
/// …and at least this cosine with the question.
pub(crate) const DENSE_AGREE: f32 = 0.35;
/// A document missing the lexical test is kept on meaning when its cosine reaches this…
pub(crate) const DENSE_STRONG: f32 = 0.5;
/// …is within this of the closest document's cosine…
pub(crate) const DENSE_MARGIN: f32 = 0.08;
/// …and covers at least this share of the question's term weight.
pub(crate) const DENSE_MIN_COVERAGE: f32 = 0.2;

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
    /// Cosine between the document's and the question's embeddings, when embeddings are on.
    pub dense: Option<f32>,
}

/// How one document fared, in input order (reported in the `retrieve` stage's relevance event).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct Judged {
    /// Share of the question's key-term weight the document contains.
    pub coverage: f32,
    /// Key terms it contains.
    pub matched: usize,
    /// Its BM25 score over the best one's.
    pub relative_score: f32,
    /// Whether it passed.
    pub kept: bool,
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
    /// Every document's signals and outcome, in input order.
    pub judged: Vec<Judged>,
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
    let best_dense = docs
        .iter()
        .filter_map(|d| d.dense)
        .fold(f32::NEG_INFINITY, f32::max);
    let need_terms = key_terms.len().min(2);
    let judged: Vec<Judged> = docs
        .iter()
        .map(|d| {
            let coverage = coverage(&key_terms, &d.terms);
            let matched = key_terms
                .iter()
                .filter(|t| d.terms.contains(&t.stem))
                .count();
            let relative_score = if best > 0.0 { d.score / best } else { 0.0 };
            let lexical = |floor: f32, min_coverage: f32| {
                best > 0.0
                    && relative_score >= floor
                    && coverage >= min_coverage
                    && matched >= need_terms
            };
            let kept = match d.dense {
                None => lexical(SCORE_FLOOR, MIN_COVERAGE),
                Some(dense) => {
                    (lexical(DENSE_SCORE_FLOOR, DENSE_LEXICAL_COVERAGE) && dense >= DENSE_AGREE)
                        || (dense >= DENSE_STRONG
                            && dense >= best_dense - DENSE_MARGIN
                            && coverage >= DENSE_MIN_COVERAGE
                            && matched >= 1)
                }
            };
            Judged {
                coverage,
                matched,
                relative_score,
                kept,
            }
        })
        .collect();
    // Most relevant first: relative score plus coverage, plus the cosine relative to the closest
    // document when embeddings are on; ties by input position.
    let strength = |i: usize| {
        let dense = match docs[i].dense {
            Some(d) if best_dense > 0.0 => d / best_dense,
            _ => 0.0,
        };
        judged[i].relative_score + judged[i].coverage + dense
    };
    let by_relevance = |a: &usize, b: &usize| strength(*b).total_cmp(&strength(*a)).then(a.cmp(b));
    let mut kept: Vec<usize> = (0..docs.len()).filter(|&i| judged[i].kept).collect();
    kept.sort_by(by_relevance);
    let near_misses = if kept.is_empty() {
        let mut rejected: Vec<usize> = (0..docs.len()).collect();
        rejected.sort_by(by_relevance);
        rejected
            .into_iter()
            .take(NEAR_MISSES)
            .map(|index| NearMiss {
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
        kept,
        key_terms,
        near_misses,
        judged,
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
            dense: None,
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
    fn with_embeddings_words_and_meaning_must_agree() {
        let with = |mut d: Scored, dense: f32| {
            d.dense = Some(dense);
            d
        };
        let docs = vec![
            // Passes on words, close in meaning: kept.
            with(
                doc(
                    "Vitamin D and bone density",
                    "supplementation raised bone density",
                    9.0,
                ),
                0.72,
            ),
            // Passes on words, far in meaning (the words are there, the subject is not): dropped.
            with(
                doc(
                    "Vitamin supplementation in bone marrow",
                    "density of cells",
                    8.0,
                ),
                0.12,
            ),
            // Misses the lexical floor but says the same in other words: kept.
            with(
                doc(
                    "Cholecalciferol and skeletal mass",
                    "vitamin supplementation and fracture",
                    2.0,
                ),
                0.69,
            ),
            // Close in meaning but shares no key term: dropped.
            with(doc("Skeletal health", "calcium intake", 1.0), 0.7),
        ];
        let decision = decide(
            "Does vitamin D supplementation affect bone mineral density?",
            &docs,
        );
        assert_eq!(decision.kept, vec![0, 2]);
        assert_eq!(decision.judged.len(), 4);
        assert!(decision.judged[1].relative_score > SCORE_FLOOR);
        assert!(!decision.judged[1].kept && !decision.judged[3].kept);
    }

    #[test]
    fn nothing_gathered_keeps_nothing() {
        let decision = decide("vitamin", &[]);
        assert!(decision.kept.is_empty() && decision.near_misses.is_empty());
    }
}
