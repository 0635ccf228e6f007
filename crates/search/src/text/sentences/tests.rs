//! Sentence splitter cases: abbreviations, decimals, initials, parentheses, Markdown
//! structure, soft wraps, Unicode, and alignment of pre-split sentences.

use super::*;

fn sentences(text: &str) -> Vec<&str> {
    split_sentences(text)
        .into_iter()
        .map(|r| &text[r])
        .collect()
}

#[test]
fn plain_sentences_are_split_and_trimmed() {
    assert_eq!(
        sentences("  First one. Second one!  Third one?\n"),
        vec!["First one.", "Second one!", "Third one?"]
    );
}

#[test]
fn common_abbreviations_do_not_end_sentences() {
    let text = "Smith et al. Reported it first. Use e.g. Tables or i.e. Figures. \
                See Fig. 2 and Dr. Who vs. Daleks. We saw approx. Ten cases.";
    assert_eq!(
        sentences(text),
        vec![
            "Smith et al. Reported it first.",
            "Use e.g. Tables or i.e. Figures.",
            "See Fig. 2 and Dr. Who vs. Daleks.",
            "We saw approx. Ten cases."
        ]
    );
}

#[test]
fn number_abbreviation_continues_only_before_a_number() {
    assert_eq!(
        sentences("Patient No. 5 improved. The answer was No. Then we left."),
        vec![
            "Patient No. 5 improved.",
            "The answer was No.",
            "Then we left."
        ]
    );
}

#[test]
fn decimals_and_initials_do_not_end_sentences() {
    assert_eq!(
        sentences("The ratio was 3.5 overall. J. R. R. Tolkien wrote in the U.S. Army era."),
        vec![
            "The ratio was 3.5 overall.",
            "J. R. R. Tolkien wrote in the U.S. Army era."
        ]
    );
}

#[test]
fn parentheses_keep_their_content_in_one_sentence() {
    assert_eq!(
        sentences(
            "Rates fell (p < 0.05) in mice. Values differed (see Fig. 3A. Means shown) \
             across groups. Done."
        ),
        vec![
            "Rates fell (p < 0.05) in mice.",
            "Values differed (see Fig. 3A. Means shown) across groups.",
            "Done."
        ]
    );
}

#[test]
fn sentences_may_start_with_lowercase_gene_and_symbol_names() {
    assert_eq!(
        sentences(
            "It binds RNA. p62 binds introns. Levels fell (75%). β-amyloid rose. \
             We used e.g. mtDNA and vs. p53 here. the end"
        ),
        vec![
            "It binds RNA.",
            "p62 binds introns.",
            "Levels fell (75%).",
            "β-amyloid rose.",
            "We used e.g. mtDNA and vs. p53 here. the end"
        ]
    );
}

#[test]
fn markdown_headings_paragraphs_and_lists_are_hard_breaks() {
    let text = "# Title #\n\nFirst paragraph. Second sentence\n\n## Methods\n\
                - item one\n- item two\n1. numbered item\n\n---\n> quoted text\n";
    assert_eq!(
        sentences(text),
        vec![
            "Title",
            "First paragraph.",
            "Second sentence",
            "Methods",
            "item one",
            "item two",
            "numbered item",
            "quoted text"
        ]
    );
}

#[test]
fn short_lines_without_punctuation_are_separate_sentences() {
    assert_eq!(
        sentences("Introduction\nThe cells grew.\r\nResults\nThey died."),
        vec!["Introduction", "The cells grew.", "Results", "They died."]
    );
}

#[test]
fn soft_wrapped_paragraph_lines_are_joined() {
    let text = "This sentence was wrapped by an editor at a fixed column of eighty and\n\
                Continues here. A second sentence is\nwrapped as well. And Dr.\nSmith agrees.";
    assert_eq!(
        sentences(text),
        vec![
            "This sentence was wrapped by an editor at a fixed column of eighty and\nContinues here.",
            "A second sentence is\nwrapped as well.",
            "And Dr.\nSmith agrees."
        ]
    );
}

#[test]
fn fenced_code_lines_are_kept_apart() {
    assert_eq!(
        sentences("Run this:\n```\nlet x = 1;\nlet y = 2;\n```\nDone."),
        vec!["Run this:", "let x = 1;", "let y = 2;", "Done."]
    );
}

#[test]
fn quotes_and_unicode_are_handled_on_char_boundaries() {
    assert_eq!(
        sentences(
            "He said “Stop.” Then café owners left… quietly! Naïve über-test. 細胞が増えた。次へ。"
        ),
        vec![
            "He said “Stop.”",
            "Then café owners left… quietly!",
            "Naïve über-test.",
            "細胞が増えた。",
            "次へ。"
        ]
    );
}

#[test]
fn empty_and_punctuation_only_text_has_no_sentences() {
    assert!(split_sentences("").is_empty());
    assert!(split_sentences("  \n\n \t").is_empty());
    assert!(split_sentences("--- *** ...\n\n* \n").is_empty());
}

#[test]
fn ranges_are_in_order_trimmed_and_non_empty_for_odd_inputs() {
    let inputs = [
        "a.b.c. d",
        "(((unclosed. Sentence. Here",
        "))) closing first. Then.",
        "1. 2. 3.",
        "e.g.",
        "?!?! ok. ...",
        "x\n\n\ny\r\n\r\nz",
        "# \n##\n#not a heading. fine",
    ];
    for input in inputs {
        let ranges = split_sentences(input);
        let mut last_end = 0;
        for range in &ranges {
            assert!(range.start >= last_end, "{input:?}: {ranges:?}");
            let s = &input[range.clone()];
            assert!(!s.is_empty() && s.trim() == s, "{input:?}: {s:?}");
            last_end = range.end;
        }
    }
}

#[test]
fn align_finds_given_sentences_in_order() {
    let given = vec![
        "Alpha one.".to_string(),
        "Beta (n = 3).".into(),
        "Gamma.".into(),
    ];
    let text = given.join(" ");
    let ranges = align_sentences(&text, &given);
    let got: Vec<&str> = ranges.into_iter().map(|r| &text[r]).collect();
    assert_eq!(got, vec!["Alpha one.", "Beta (n = 3).", "Gamma."]);
}

#[test]
fn align_skips_sentences_not_found_verbatim() {
    let text = "Alpha one. Beta two. Gamma three.";
    let given = vec![
        "Alpha one.".to_string(),
        "Missing here.".into(),
        "Gamma three.".into(),
    ];
    let ranges = align_sentences(text, &given);
    assert_eq!(ranges, vec![0..10, 21..33]);
}

#[test]
fn align_falls_back_to_splitting_when_most_sentences_are_missing() {
    let text = "Alpha one. Beta two. Gamma three.";
    let given = vec!["Nope.".to_string(), "Nada.".into(), "Alpha one.".into()];
    assert_eq!(align_sentences(text, &given), split_sentences(text));
    assert_eq!(align_sentences(text, &[]), split_sentences(text));
}
