//! Unit tests of `eval claims`: loaders and scoring.

#![expect(clippy::unwrap_used, reason = "tests")]
use super::*;
use std::io::Write;

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

#[test]
fn claims_are_read_with_their_gold_rationales() {
    let f = file(concat!(
        "{\"id\": 2, \"claim\": \"A causes B.\", \"evidence\": {\"13\": [{\"label\": \"SUPPORT\", \"sentences\": [4]}, {\"label\": \"SUPPORT\", \"sentences\": [1, 4]}]}, \"cited_doc_ids\": [13]}\n",
        "\n",
        "{\"id\": \"x\", \"claim\": \" C. \", \"evidence\": {}}\n",
    ));
    let claims = load_claims(f.path()).unwrap();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[0].id, "2");
    assert_eq!(claims[0].gold.get("13").unwrap(), &BTreeSet::from([1, 4]));
    assert_eq!(claims[1].text, "C.");
    assert!(claims[1].gold.is_empty());
    assert_eq!(select_claims(claims.clone(), Some(5)).len(), 1);
    assert_eq!(select_claims(claims, None).len(), 2);
}

#[test]
fn a_bad_claims_line_is_reported_with_its_file_and_line() {
    let f = file("{\"id\": 1, \"claim\": \"ok\"}\n{\"id\": 2}\n");
    let error = format!("{:#}", load_claims(f.path()).unwrap_err());
    assert!(
        error.starts_with(&format!("{}:2:", f.path().display())),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    let f = file("{\"id\": 1, \"claim\": \"ok\"}\nnot json\n");
    let error = format!("{:#}", load_claims(f.path()).unwrap_err());
    assert!(error.contains(":2: not a claim record"), "{error}");
    let f = file("{\"id\": null, \"claim\": \"ok\"}\n");
    assert!(format!("{:#}", load_claims(f.path()).unwrap_err()).contains(":1: `id`"));
}

#[test]
fn offtopic_files_skip_blank_lines_and_comments() {
    let f = file("# sports\nWho won?\n\n  How far is the Moon?  \n");
    assert_eq!(
        load_offtopic(f.path()).unwrap(),
        vec!["Who won?".to_string(), "How far is the Moon?".to_string()]
    );
    assert!(load_offtopic(&f.path().join("missing")).is_err());
}

#[test]
fn scores_count_gold_documents_and_rationale_sentences() {
    let gold = BTreeMap::from([(
        "13".to_string(),
        BTreeSet::from(["Gold sentence.".to_string()]),
    )]);
    let cited = Cited {
        documents: BTreeSet::from(["13".to_string(), "99".to_string()]),
        sentences: BTreeSet::from([
            ("13".to_string(), "Other sentence.".to_string()),
            ("99".to_string(), "Gold sentence.".to_string()),
        ]),
    };
    let result = score(&gold, &cited);
    assert!(result.document_hit);
    assert!(
        !result.rationale_hit,
        "the gold text in another document is no rationale"
    );
    assert_eq!((result.gold_cited, result.cited), (1, 2));
    let mut with_rationale = cited.clone();
    with_rationale
        .sentences
        .insert(("13".to_string(), "Gold sentence.".to_string()));
    assert!(score(&gold, &with_rationale).rationale_hit);
    let none = score(&gold, &Cited::default());
    assert!(!none.document_hit && !none.rationale_hit);
}

#[test]
fn percentiles_and_ratios_handle_empty_inputs() {
    assert_eq!(percentile(&[], 0.5), None);
    assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
    assert_eq!(ratio(1, 0), None);
    assert_eq!(ratio(1, 4), Some(0.25));
}
