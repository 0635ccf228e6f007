//! `outline` and `draft`, extractive: sections are clusters of the snippets most relevant to the
//! question, titled by their distinctive terms; each section's claims are its most relevant,
//! non-redundant sentences (MMR over TF-IDF similarity), quoted verbatim and citing their snippet.

use crate::check::{COSINE_SUPPORTED, SUPPORTED_RELEVANCE, question_key_terms, sentence_relevance};
use crate::model::{
    DraftClaim, DraftOutput, DraftSection, Evidence, EvidenceSnippet, OutlineOutput, SectionPlan,
};
use crate::{StageContext, StageError, to_value, usage};
use researchops_core::{FailureCode, NewEvent, SnippetId, Stage, StageCommit};
use researchops_search::similarity::cosine;
use researchops_search::{
    SnippetIndex, SparseVec, TfIdf, content_terms, distinctive_terms, leader_clusters, mmr,
};
use std::collections::{HashMap, HashSet};

/// Snippets considered for the outline.
const POOL: usize = 60;
/// Enough snippets covering two question terms to drop those covering one.
const MIN_FOCUSED: usize = 6;
/// Similarity above which a snippet joins an existing section.
const CLUSTER_THRESHOLD: f32 = 0.12;
/// Relevance vs. novelty in MMR.
const MMR_LAMBDA: f32 = 0.7;
/// Items handled between two cancellation checkpoints in loops over every snippet.
const CHECK_EVERY: usize = 256;

/// Words that say nothing about a section's topic (reporting verbs, connectives, generic nouns).
const TITLE_FILLER: &[&str] = &[
    "affect",
    "affects",
    "affected",
    "also",
    "analysis",
    "associated",
    "based",
    "compared",
    "data",
    "demonstrate",
    "demonstrated",
    "effect",
    "effects",
    "evidence",
    "examined",
    "find",
    "findings",
    "found",
    "however",
    "including",
    "increased",
    "decreased",
    "investigated",
    "may",
    "method",
    "methods",
    "observed",
    "overall",
    "performed",
    "present",
    "report",
    "reported",
    "almost",
    "account",
    "analyzed",
    "analysed",
    "moreover",
    "furthermore",
    "play",
    "plays",
    "date",
    "type",
    "types",
    "level",
    "levels",
    "functional",
    "important",
    "respectively",
    "previously",
    "recently",
    "currently",
    "significantly",
    "significant",
    "although",
    "addition",
    "result",
    "results",
    "role",
    "show",
    "showed",
    "shown",
    "studies",
    "study",
    "suggest",
    "suggests",
    "therefore",
    "thus",
    "use",
    "used",
    "using",
    "well",
    "whether",
    "within",
];

/// A good title word: not filler, no digits, at least 3 letters, and recurring in the evidence (a word
/// seen once says more about one sentence than about a topic).
fn is_title_word(term: &str, texts: &[&str]) -> bool {
    if TITLE_FILLER.contains(&term)
        || term.chars().count() < 3
        || term.chars().any(|c| c.is_ascii_digit())
    {
        return false;
    }
    texts
        .iter()
        .filter(|t| t.to_lowercase().contains(term))
        .take(2)
        .count()
        >= 2
}

/// Folds one-snippet sections into the section whose leader is most similar, as long as at least two
/// sections of two or more remain — a section of one sentence is a footnote, not a topic.
fn merge_singletons(clusters: Vec<Vec<usize>>, vectors: &[SparseVec]) -> Vec<Vec<usize>> {
    let (mut kept, singles): (Vec<Vec<usize>>, Vec<Vec<usize>>) =
        clusters.into_iter().partition(|c| c.len() >= 2);
    if kept.len() < 2 {
        kept.extend(singles);
        kept.sort_by_key(|c| c.iter().min().copied());
        return kept;
    }
    for single in singles {
        let item = single[0];
        let best = (0..kept.len())
            .max_by(|&a, &b| {
                let sa = cosine(&vectors[item], &vectors[kept[a][0]]);
                let sb = cosine(&vectors[item], &vectors[kept[b][0]]);
                sa.total_cmp(&sb).then(b.cmp(&a))
            })
            .unwrap_or(0);
        kept[best].push(item);
    }
    for cluster in &mut kept {
        cluster.sort_unstable();
    }
    kept.sort_by_key(|c| c.first().copied());
    kept
}

/// Whether a sentence can stand alone as a claim.
fn citeable(text: &str) -> bool {
    let words = text.split_whitespace().count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    (6..=120).contains(&words) && letters * 2 >= text.chars().count()
}

fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn search_err(e: researchops_search::SearchError) -> StageError {
    StageError::internal(format!("evidence search failed: {e}"))
}

/// "Insulin, adipose tissue and obesity" from `["insulin", "adipose", "obesity"]`.
fn title_from_terms(terms: &[String]) -> String {
    let mut title = match terms {
        [] => String::from("Findings"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    if let Some(first) = title.get(..1) {
        title = first.to_uppercase() + &title[1..];
    }
    title
}

/// Words at most in a section title taken from a document title.
const TITLE_WORDS: usize = 10;

/// A document title as a section title: its main clause (before a colon or full stop, when that
/// leaves three words or more), at most [`TITLE_WORDS`] words, not ending on a joining word.
fn short_title(title: &str) -> String {
    let title = title.trim();
    let main = title
        .split([':', '.', '?'])
        .next()
        .filter(|head| head.split_whitespace().count() >= 3)
        .unwrap_or(title);
    let mut words: Vec<&str> = main.split_whitespace().take(TITLE_WORDS).collect();
    while words.last().is_some_and(|w| {
        matches!(
            w.to_lowercase()
                .trim_matches(|c: char| !c.is_alphanumeric()),
            "and"
                | "or"
                | "of"
                | "in"
                | "on"
                | "the"
                | "a"
                | "an"
                | "for"
                | "with"
                | "to"
                | "by"
                | "from"
                | "at"
                | ""
        )
    }) {
        words.pop();
    }
    words
        .join(" ")
        .trim_end_matches([',', ';', '-', '—'])
        .to_string()
}

pub(crate) fn outline(
    cx: &StageContext<'_>,
    ingest: &Evidence,
    cosines: Option<&HashMap<SnippetId, f32>>,
) -> Result<StageCommit, StageError> {
    let pool: Vec<&EvidenceSnippet> = ingest.snippets().filter(|s| citeable(&s.text)).collect();
    if pool.is_empty() {
        return Err(StageError::Fatal {
            code: FailureCode::NoEvidence,
            reason: "the retrieved documents contain no citeable sentences".into(),
        });
    }
    let ranked = rank_snippets(cx, ingest, &pool, cosines)?;
    cx.checkpoint()?;
    let all_texts: Vec<&str> = pool.iter().map(|s| s.text.as_str()).collect();
    let tfidf = TfIdf::fit(all_texts.iter().copied());
    cx.checkpoint()?;
    let vectors: Vec<SparseVec> = ranked
        .iter()
        .map(|(i, _)| tfidf.vector(&pool[*i].text))
        .collect();
    let max_sections = cx.run.options.max_sections as usize;
    let clusters = merge_singletons(
        leader_clusters(&vectors, CLUSTER_THRESHOLD, max_sections),
        &vectors,
    );
    let titles_by_source: HashMap<_, &str> = ingest
        .sources
        .iter()
        .map(|s| (s.id, s.meta.title.as_str()))
        .collect();
    let mut titles = HashSet::new();
    let mut sections = Vec::with_capacity(clusters.len());
    for members in clusters {
        cx.checkpoint()?;
        let texts: Vec<&str> = members
            .iter()
            .map(|&m| pool[ranked[m].0].text.as_str())
            .collect();
        let terms: Vec<String> = distinctive_terms(&tfidf, &texts, &all_texts, 12)
            .into_iter()
            .filter(|t| is_title_word(t, &all_texts))
            .take(3)
            .collect();
        // The title of the best-ranked member's document, else of the next one not already a
        // section's title, else the cluster's distinctive terms.
        let from_documents = members.iter().find_map(|&m| {
            let title = titles_by_source
                .get(&pool[ranked[m].0].source_id)
                .map(|t| short_title(t))?;
            (!title.is_empty() && !titles.contains(&title)).then_some(title)
        });
        let base = from_documents.unwrap_or_else(|| title_from_terms(&terms));
        let mut title = base.clone();
        let mut n = 2;
        while !titles.insert(title.clone()) {
            title = format!("{base} ({n})");
            n += 1;
        }
        let candidates = members
            .iter()
            .map(|&m| (pool[ranked[m].0].id, ranked[m].1))
            .collect();
        sections.push(SectionPlan {
            title,
            terms,
            candidates,
        });
    }
    let count = sections.len();
    Ok(StageCommit {
        output: to_value(&OutlineOutput { sections })?,
        usage: usage(&[("sections_planned", count)]),
        message: format!("planned {count} sections"),
        ..StageCommit::default()
    })
}

/// The pool's snippets most relevant to the question, best first, as `(pool index, relevance)`.
///
/// Relevance blends the snippet's own BM25 score (normalised), how many distinct question terms it
/// covers, its document's retrieval rank and, with embeddings, its cosine with the question
/// (normalised by the best); snippets matching a single question term are dropped when enough
/// snippets match two or more (one rare shared word is how off-topic sections arise), unless their
/// meaning is as close to the question as a supported claim's must be.
fn rank_snippets(
    cx: &StageContext<'_>,
    ingest: &Evidence,
    pool: &[&EvidenceSnippet],
    cosines: Option<&HashMap<SnippetId, f32>>,
) -> Result<Vec<(usize, f32)>, StageError> {
    let question = cx.run.question.as_str();
    let index = SnippetIndex::build(pool.iter().map(|s| s.text.as_str())).map_err(search_err)?;
    cx.checkpoint()?;
    let hits = index.search(question, pool.len()).map_err(search_err)?;
    cx.checkpoint()?;
    let terms: HashSet<String> = content_terms(question).into_iter().collect();
    let ranks: HashMap<_, i32> = ingest.sources.iter().map(|s| (s.id, s.rank)).collect();
    let sources = ingest.sources.len().max(1) as f32;
    let top = hits.first().map_or(1.0, |h| h.1).max(f32::EPSILON);
    let key_terms = question_key_terms(question, ingest);
    let cosine = |i: usize| cosines.and_then(|c| c.get(&pool[i].id).copied());
    let best_cosine = (0..pool.len())
        .filter_map(cosine)
        .fold(f32::EPSILON, f32::max);
    // Every snippet is considered, not only BM25's hits: with embeddings, a sentence that shares no
    // word with the question can still say what it asks (without, such a sentence fails the
    // relevance test below anyway).
    let mut bm25_of = vec![0.0f32; pool.len()];
    for &(i, score) in &hits {
        bm25_of[i] = score;
    }
    let mut scored: Vec<(usize, f32, usize)> = Vec::with_capacity(pool.len());
    for (i, &bm25) in bm25_of.iter().enumerate() {
        if i % CHECK_EVERY == 0 {
            cx.checkpoint()?;
        }
        // Draft only what the fact check would keep.
        if sentence_relevance(&key_terms, &pool[i].text, cosine(i)) < SUPPORTED_RELEVANCE {
            continue;
        }
        let covered = content_terms(&pool[i].text)
            .into_iter()
            .filter(|t| terms.contains(t))
            .collect::<HashSet<_>>()
            .len();
        let coverage = covered as f32 / terms.len().max(1) as f32;
        let rank = ranks.get(&pool[i].source_id).copied().unwrap_or(1) as f32;
        let prior = (sources - rank + 1.0) / sources;
        let relevance = match cosine(i) {
            Some(c) => {
                0.35 * bm25 / top + 0.2 * coverage + 0.15 * prior + 0.3 * c.max(0.0) / best_cosine
            }
            None => 0.5 * bm25 / top + 0.3 * coverage + 0.2 * prior,
        };
        // Close in meaning counts as focused as two question terms.
        let focus = if cosine(i).is_some_and(|c| c >= COSINE_SUPPORTED) {
            usize::MAX
        } else {
            covered
        };
        scored.push((i, relevance, focus));
    }
    let min_terms = if terms.len() >= 2 { 2 } else { 1 };
    if scored.iter().filter(|s| s.2 >= min_terms).count() >= MIN_FOCUSED {
        scored.retain(|s| s.2 >= min_terms);
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(POOL);
    if scored.is_empty() {
        // Documents matched on their titles only: fall back to each source's lead sentences.
        return Ok(pool
            .iter()
            .enumerate()
            .take(POOL)
            .map(|(i, _)| (i, 1.0 / (i as f32 + 1.0)))
            .collect());
    }
    Ok(scored.into_iter().map(|(i, r, _)| (i, r)).collect())
}

pub(crate) fn draft(cx: &StageContext<'_>, ingest: &Evidence) -> Result<StageCommit, StageError> {
    let outline: OutlineOutput = cx.output(Stage::Outline)?;
    let by_id: HashMap<SnippetId, &EvidenceSnippet> =
        ingest.snippets().map(|s| (s.id, s)).collect();
    let tfidf = TfIdf::fit(
        ingest
            .snippets()
            .filter(|s| citeable(&s.text))
            .map(|s| s.text.as_str()),
    );
    cx.checkpoint()?;
    let per_section = cx.run.options.claims_per_section as usize;
    let mut used_texts: HashSet<String> = HashSet::new();
    let mut next_claim = 1;
    let mut sections = Vec::new();
    let total = outline.sections.len() as u64;
    for (i, plan) in outline.sections.iter().enumerate() {
        cx.checkpoint()?;
        let candidates: Vec<(&EvidenceSnippet, f32)> = plan
            .candidates
            .iter()
            .filter_map(|(id, score)| by_id.get(id).map(|s| (*s, *score)))
            .filter(|(s, _)| !used_texts.contains(&normalized(&s.text)))
            .collect();
        let top = candidates
            .iter()
            .map(|(_, s)| *s)
            .fold(f32::MIN, f32::max)
            .max(f32::EPSILON);
        let relevance: Vec<f32> = candidates.iter().map(|(_, s)| s / top).collect();
        let vectors: Vec<SparseVec> = candidates
            .iter()
            .map(|(s, _)| tfidf.vector(&s.text))
            .collect();
        let picked = mmr(
            &relevance,
            |a, b| cosine(&vectors[a], &vectors[b]),
            MMR_LAMBDA,
            candidates.len(),
        );
        let mut claims = Vec::new();
        for idx in picked {
            if claims.len() == per_section {
                break;
            }
            let snippet = candidates[idx].0;
            if !used_texts.insert(normalized(&snippet.text)) {
                continue;
            }
            claims.push(DraftClaim {
                claim_id: format!("c{next_claim}"),
                text: snippet.text.clone(),
                snippet_ids: vec![snippet.id],
            });
            next_claim += 1;
        }
        if !claims.is_empty() {
            sections.push(DraftSection {
                title: plan.title.clone(),
                claims,
            });
        }
        cx.progress.emit(NewEvent::progress(
            Stage::Draft,
            i as u64 + 1,
            total,
            format!("drafted section {}", plan.title),
        ));
    }
    let claims = next_claim - 1;
    let count = sections.len();
    Ok(StageCommit {
        output: to_value(&DraftOutput { sections })?,
        usage: usage(&[("claims_drafted", claims)]),
        message: format!("drafted {claims} claims in {count} sections"),
        ..StageCommit::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_titles_are_trimmed_to_their_main_clause() {
        assert_eq!(
            short_title("Vitamin D supplementation and bone density: a randomized trial."),
            "Vitamin D supplementation and bone density"
        );
        assert_eq!(
            short_title("Effects of one two three four five six seven eight and nine ten"),
            "Effects of one two three four five six seven eight"
        );
        assert_eq!(short_title("Ab: cd"), "Ab: cd");
        assert_eq!(short_title(""), "");
    }

    #[test]
    fn titles_read_as_a_list_of_terms() {
        let terms = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            title_from_terms(&terms(&["insulin", "adipose", "obesity"])),
            "Insulin, adipose and obesity"
        );
        assert_eq!(title_from_terms(&terms(&["insulin"])), "Insulin");
        assert_eq!(title_from_terms(&[]), "Findings");
    }

    #[test]
    fn single_sentence_sections_join_their_nearest_section() {
        let tfidf = TfIdf::fit([
            "bone density calcium",
            "bone mineral calcium",
            "tumour macrophage growth",
            "macrophage tumour",
            "bone calcium intake",
        ]);
        let texts = [
            "bone density calcium",
            "bone mineral calcium",
            "tumour macrophage growth",
            "macrophage tumour",
            "bone calcium intake",
        ];
        let vectors: Vec<SparseVec> = texts.iter().map(|t| tfidf.vector(t)).collect();
        let merged = merge_singletons(vec![vec![0, 1], vec![2, 3], vec![4]], &vectors);
        assert_eq!(merged, vec![vec![0, 1, 4], vec![2, 3]]);
        // With fewer than two real sections, nothing is merged.
        assert_eq!(merge_singletons(vec![vec![0], vec![2]], &vectors).len(), 2);
    }

    #[test]
    fn title_words_recur_and_carry_meaning() {
        let texts = [
            "Bone density fell.",
            "Bone loss in 2years.",
            "Therefore bone.",
        ];
        assert!(is_title_word("bone", &texts));
        assert!(!is_title_word("density", &texts), "seen once");
        assert!(!is_title_word("2years", &texts));
        assert!(!is_title_word("therefore", &texts));
    }

    #[test]
    fn fragments_and_numeric_rows_are_not_citeable() {
        assert!(!citeable("Results follow."));
        assert!(!citeable("12.5 13.1 14.2 15.9 11.0 10.2 99.1"));
        assert!(citeable(
            "Vitamin D supplementation reduced the risk of fractures in older adults."
        ));
    }
}
