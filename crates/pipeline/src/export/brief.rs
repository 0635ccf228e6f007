//! The order of a section's sentences, so the section reads as a brief rather than as a ranked list:
//! the most direct answer first (the section's best-ranked sentence that is not a hedge), then the
//! other sentences grouped by source — the lead's source first, then the others in order of their
//! best-ranked sentence — each source's sentences in document order, so its context, finding and
//! caveat read as the source wrote them; hedges and limitations ("however", "further studies are
//! needed", "remains unclear") close the section.
//!
//! It only reorders: which sentences a section has is decided by `draft` and `factcheck`. It is a pure
//! function of its input (ties fall back to the drafted order), so the same report is written every
//! time. Key findings are not ordered here: they stay most relevant first.

use researchops_core::SourceId;
use std::collections::HashMap;

/// Where a section's sentence comes from, in drafted (best-ranked first) order.
#[derive(Clone, Debug)]
pub(crate) struct Placed<'a> {
    /// The source of its (first) cited snippet.
    pub source: Option<SourceId>,
    /// Byte offset of that snippet in its source's text.
    pub start_byte: i64,
    /// The sentence.
    pub text: &'a str,
}

/// Phrases (as lowercase word sequences) that mark a sentence as a hedge or a limitation.
/// "However" is one (its sentence answers something said before it); concessive openings such as
/// "although" and "nevertheless" are not: their main clause usually states a finding ("Although much
/// attention has addressed early steps, insulin resistance seems to be elicited downstream").
const HEDGES: &[&str] = &[
    "however",
    "limitation",
    "limitations",
    "caution",
    "cautious",
    "inconclusive",
    "uncertain",
    "further studies",
    "further study",
    "further research",
    "further investigation",
    "further investigations",
    "further work",
    "future studies",
    "future research",
    "more research",
    "more studies",
    "additional studies",
    "additional research",
    "larger studies",
    "are needed",
    "is needed",
    "are required",
    "is warranted",
    "are warranted",
    "remains unclear",
    "remain unclear",
    "remains unknown",
    "remain unknown",
    "remains to be",
    "remain to be",
    "is unclear",
    "are unclear",
    "is not clear",
    "not yet clear",
    "poorly understood",
    "not well understood",
    "unknown whether",
];

/// Whether `text` hedges or states a limitation rather than a finding.
pub(crate) fn is_hedge(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    HEDGES.iter().any(|phrase| {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        words.windows(phrase.len()).any(|w| w == phrase.as_slice())
    })
}

/// The brief's order of `sentences` (given best-ranked first), as indices into it.
pub(crate) fn brief_order(sentences: &[Placed<'_>]) -> Vec<usize> {
    if sentences.is_empty() {
        return Vec::new();
    }
    let hedge: Vec<bool> = sentences.iter().map(|s| is_hedge(s.text)).collect();
    let lead = hedge.iter().position(|h| !h).unwrap_or(0);
    // Sources in the order they first appear, starting with the lead's.
    let mut group: HashMap<Option<SourceId>, usize> = HashMap::new();
    for i in std::iter::once(lead).chain(0..sentences.len()) {
        let next = group.len();
        group.entry(sentences[i].source).or_insert(next);
    }
    let mut rest: Vec<usize> = (0..sentences.len()).filter(|&i| i != lead).collect();
    rest.sort_by_key(|&i| {
        (
            hedge[i],
            group[&sentences[i].source],
            sentences[i].start_byte,
            i,
        )
    });
    std::iter::once(lead).chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(source: SourceId, start_byte: i64, text: &str) -> Placed<'_> {
        Placed {
            source: Some(source),
            start_byte,
            text,
        }
    }

    fn texts<'a>(sentences: &[Placed<'a>]) -> Vec<&'a str> {
        brief_order(sentences)
            .into_iter()
            .map(|i| sentences[i].text)
            .collect()
    }

    #[test]
    fn hedges_and_limitations_are_recognised_as_whole_words() {
        for hedge in [
            "However, the effect on hip fractures was not significant.",
            "The effect, however, was small.",
            "Further studies are needed to confirm these findings.",
            "Whether the effect persists remains unclear.",
            "A limitation of this trial is its short follow-up.",
            "Larger trials are warranted.",
        ] {
            assert!(is_hedge(hedge), "{hedge}");
        }
        for finding in [
            "Vitamin D supplementation increased bone mineral density by 2%.",
            "Supplementation neededless doses were unclearly reported.",
            "The trial enrolled 300 women over four years.",
            "Although calcium intake was low, density rose in the treated arm.",
        ] {
            assert!(!is_hedge(finding), "{finding}");
        }
    }

    #[test]
    fn a_section_reads_answer_first_then_source_by_source_in_document_order_then_caveats() {
        let (a, b) = (SourceId::new(), SourceId::new());
        // As drafted: most relevant first, then novel.
        let drafted = [
            placed(a, 900, "Supplementation raised lumbar spine density by 2%."),
            placed(b, 400, "In a second cohort, hip density did not change."),
            placed(
                a,
                100,
                "We randomised 300 postmenopausal women to vitamin D or placebo.",
            ),
            placed(a, 1200, "However, the effect on fractures remains unclear."),
            placed(b, 50, "Older men were followed for five years."),
            placed(a, 1500, "Adherence was above 90% in both arms."),
        ];
        assert_eq!(
            texts(&drafted),
            [
                "Supplementation raised lumbar spine density by 2%.",
                "We randomised 300 postmenopausal women to vitamin D or placebo.",
                "Adherence was above 90% in both arms.",
                "Older men were followed for five years.",
                "In a second cohort, hip density did not change.",
                "However, the effect on fractures remains unclear.",
            ]
        );
    }

    #[test]
    fn a_hedge_never_leads_unless_the_section_has_nothing_else() {
        let (a, b) = (SourceId::new(), SourceId::new());
        let drafted = [
            placed(a, 10, "However, bone density fell in the placebo arm."),
            placed(b, 20, "Bone density rose with supplementation."),
            placed(a, 5, "Calcium intake was recorded at baseline."),
        ];
        // The lead is the first non-hedge; its source (b) comes first, then a in document order.
        assert_eq!(
            texts(&drafted),
            [
                "Bone density rose with supplementation.",
                "Calcium intake was recorded at baseline.",
                "However, bone density fell in the placebo arm.",
            ]
        );
        let only_hedges = [
            placed(a, 30, "Further studies are needed."),
            placed(a, 10, "The mechanism remains unclear."),
        ];
        assert_eq!(
            texts(&only_hedges),
            [
                "Further studies are needed.",
                "The mechanism remains unclear."
            ]
        );
        assert!(brief_order(&[]).is_empty());
    }

    /// `build_report` applies the order, numbers references by first citation in it, and leaves
    /// key findings most relevant first with ties in drafted order.
    #[test]
    fn the_report_sections_read_as_briefs_while_key_findings_stay_answer_first() {
        use crate::export::build_report;
        use crate::model::{
            CheckedClaim, Evidence, EvidenceSnippet, EvidenceSource, FactcheckOutput, SourceMeta,
        };
        use researchops_core::{SnippetId, Verdict};

        // (source, start byte, text, relevance, verdict, section), as drafted.
        let drafted = [
            (
                0,
                900,
                "Supplementation raised lumbar spine density by 2%.",
                0.8,
                Verdict::Supported,
                "Bone",
            ),
            (
                1,
                400,
                "In a second cohort, hip density did not change.",
                0.9,
                Verdict::Supported,
                "Bone",
            ),
            (
                0,
                1200,
                "However, the effect on fractures remains unclear.",
                0.4,
                Verdict::Supported,
                "Bone",
            ),
            (
                0,
                100,
                "We randomised 300 postmenopausal women to vitamin D or placebo.",
                0.9,
                Verdict::Supported,
                "Bone",
            ),
            (1, 50, "Older men were weighed.", 0.1, Verdict::Weak, "Bone"),
            (
                2,
                10,
                "Fracture rates were similar in both arms of the trial.",
                0.5,
                Verdict::Supported,
                "Fractures",
            ),
        ];
        let ids: Vec<SnippetId> = drafted.iter().map(|_| SnippetId::new()).collect();
        let sources: Vec<EvidenceSource> = (0..3)
            .map(|n| {
                let id = SourceId::new();
                EvidenceSource {
                    id,
                    meta: SourceMeta {
                        connector: "local".into(),
                        external_id: format!("doc{n}"),
                        title: format!("Document {n}"),
                        ..SourceMeta::default()
                    },
                    sha256: String::new(),
                    text_sha256: String::new(),
                    rank: n + 1,
                    snippets: drafted
                        .iter()
                        .zip(&ids)
                        .filter(|(d, _)| d.0 == n)
                        .map(|(d, snippet)| EvidenceSnippet {
                            id: *snippet,
                            source_id: id,
                            text: d.2.into(),
                            start_byte: d.1,
                            end_byte: d.1 + d.2.len() as i64,
                        })
                        .collect(),
                }
            })
            .collect();
        let checked = FactcheckOutput {
            claims: drafted
                .iter()
                .zip(&ids)
                .enumerate()
                .map(|(i, (d, snippet))| CheckedClaim {
                    claim_id: format!("c{}", i + 1),
                    section: d.5.into(),
                    text: d.2.into(),
                    snippet_ids: vec![*snippet],
                    support: 1.0,
                    verdict: d.4,
                    relevance: d.3,
                    reason: None,
                })
                .collect(),
            completed_with_gaps: false,
        };
        let report = build_report("q", &Evidence { sources }, &checked);

        let ids_of = |claims: &[crate::model::ReportClaim]| {
            claims
                .iter()
                .map(|c| c.claim_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(report.sections.len(), 2);
        assert_eq!(ids_of(&report.sections[0].claims), ["c1", "c4", "c2", "c3"]);
        assert_eq!(ids_of(&report.sections[1].claims), ["c6"]);
        assert_eq!(
            report.sections[0].text,
            "Supplementation raised lumbar spine density by 2%. [1] We randomised 300 \
             postmenopausal women to vitamin D or placebo. [1] In a second cohort, hip density did \
             not change. [2] However, the effect on fractures remains unclear. [1]"
        );
        let titles: Vec<&str> = report.references.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(titles, ["Document 0", "Document 1", "Document 2"]);
        // Most relevant first; c2 and c4 tie and keep their drafted order.
        assert_eq!(ids_of(&report.key_findings.claims), ["c2", "c4", "c1"]);
        assert_eq!(report.removed_claims.len(), 1);
        assert_eq!(report.removed_claims[0].claim_id, "c5");
    }
}
