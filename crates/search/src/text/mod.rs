//! The one lexical analyser used everywhere (BM25 indexing, query terms, tf-idf similarity,
//! cluster labels) plus sentence segmentation ([`split_sentences`], [`align_sentences`]).
//!
//! Analysis: split on non-alphanumeric characters, drop tokens longer than 40 bytes, lowercase,
//! drop 1-character tokens and English stop words, then Snowball English stemming. The BM25
//! index registers exactly this pipeline under [`ANALYZER_NAME`], so lexical similarity and
//! retrieval always agree on what a "term" is.

mod sentences;

use std::cell::RefCell;
use std::ops::Range;

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};

pub use sentences::{align_sentences, split_sentences};

/// Name under which [`text_analyzer`] is registered in tantivy indexes.
pub const ANALYZER_NAME: &str = "researchops_en";

/// Tokens longer than this many bytes are dropped (base64 blobs, URLs glued together...).
const MAX_TOKEN_BYTES: usize = 40;

/// English stop words: Lucene's English list (what tantivy's `StopWordFilter` uses for
/// English) extended with common pronouns, auxiliaries, determiners and prepositions, which
/// otherwise dominate tf-idf similarity and cluster labels. Matched after lowercasing, before
/// stemming.
#[rustfmt::skip]
pub const STOP_WORDS: &[&str] = &[
    // Lucene's English list.
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
    // Extensions.
    "about", "after", "all", "also", "am", "any", "been", "before", "being", "both", "can",
    "could", "did", "do", "does", "doing", "done", "each", "either", "from", "had", "has", "have",
    "having", "he", "her", "here", "hers", "him", "his", "how", "i", "its", "itself", "may", "me",
    "might", "more", "most", "much", "must", "my", "nor", "off", "only", "other", "our", "ours",
    "out", "over", "own", "same", "shall", "she", "should", "so", "some", "than", "them",
    "themselves", "those", "through", "thus", "too", "under", "until", "up", "upon", "very", "via",
    "we", "were", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose",
    "why", "would", "yet", "you", "your",
];

/// Builds the analysis pipeline described in the module docs.
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(LowerCaser)
        .filter(RemoveShortFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|word| (*word).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

thread_local! {
    static ANALYZER: RefCell<TextAnalyzer> = RefCell::new(text_analyzer());
}

/// Analysed terms of `text`, in order, with repetitions.
///
/// `analyze("The macrophages were activated")` is `["macrophag", "activ"]`.
pub fn analyze(text: &str) -> Vec<String> {
    analyze_spans(text)
        .into_iter()
        .map(|(term, _)| term)
        .collect()
}

/// Analysed terms with the byte range of the original word each came from, so callers can map
/// a stem back to the surface text (`"macrophag"` ← `"Macrophages"`).
pub fn analyze_spans(text: &str) -> Vec<(String, Range<usize>)> {
    ANALYZER.with(|analyzer| {
        let mut analyzer = analyzer.borrow_mut();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push((token.text.clone(), token.offset_from..token.offset_to));
        }
        out
    })
}

/// [`analyze`], deduplicated, in first-seen order.
pub fn content_terms(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    analyze(text)
        .into_iter()
        .filter(|term| seen.insert(term.clone()))
        .collect()
}

/// Token filter dropping tokens of a single character ("a", "p", "5").
#[derive(Clone, Copy, Debug, Default)]
struct RemoveShortFilter;

impl TokenFilter for RemoveShortFilter {
    type Tokenizer<T: Tokenizer> = RemoveShortWrapper<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> RemoveShortWrapper<T> {
        RemoveShortWrapper { inner: tokenizer }
    }
}

#[derive(Clone)]
struct RemoveShortWrapper<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for RemoveShortWrapper<T> {
    type TokenStream<'a> = RemoveShortStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        RemoveShortStream {
            tail: self.inner.token_stream(text),
        }
    }
}

struct RemoveShortStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for RemoveShortStream<T> {
    fn advance(&mut self) -> bool {
        while self.tail.advance() {
            if self.tail.token().text.chars().nth(1).is_some() {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_lowercases_stems_and_drops_stop_words_and_single_characters() {
        assert_eq!(
            analyze("The Macrophages were ACTIVATED in 5 mice, a p-value"),
            vec!["macrophag", "activ", "mice", "valu"]
        );
    }

    #[test]
    fn analyze_splits_on_punctuation_and_keeps_numbers_of_two_or_more_characters() {
        assert_eq!(
            analyze("IL-6/TNF-α (p < 0.05); 2010"),
            vec!["il", "tnf", "05", "2010"]
        );
    }

    #[test]
    fn analyze_of_only_stop_words_and_punctuation_is_empty() {
        assert!(analyze("The of and -- to, in?! \"(a)\" : AND").is_empty());
        assert!(analyze("").is_empty());
    }

    #[test]
    fn analyze_drops_tokens_longer_than_forty_bytes() {
        let long = "x".repeat(41);
        let exact = "k".repeat(40);
        assert_eq!(
            analyze(&format!("{long} {exact} cells")),
            vec![exact, "cell".into()]
        );
    }

    #[test]
    fn content_terms_deduplicate_in_first_seen_order() {
        assert_eq!(
            content_terms("cells divide; the cell divided, cells grow"),
            vec!["cell", "divid", "grow"]
        );
    }

    #[test]
    fn analyze_spans_point_at_the_original_words() {
        let text = "Activated Macrophages";
        let spans = analyze_spans(text);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].0, "macrophag");
        assert_eq!(&text[spans[1].1.clone()], "Macrophages");
    }
}
