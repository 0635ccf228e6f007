//! BEIR-style JSONL corpora: one JSON object per line with `_id` (string or number), `text`,
//! optional `title` and optional `sentences` (array of strings); other fields are ignored and
//! blank lines skipped.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{CorpusDocument, line_of, strip_bom};
use crate::CorpusError;

/// Reads and parses the file, feeding its bytes to `hasher`.
pub(super) fn load(path: &Path, hasher: &mut Sha256) -> Result<Vec<CorpusDocument>, CorpusError> {
    let bytes = std::fs::read(path).map_err(|source| CorpusError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    hasher.update(&bytes);
    let content = std::str::from_utf8(strip_bom(&bytes)).map_err(|e| CorpusError::NotUtf8 {
        path: path.to_owned(),
        line: line_of(strip_bom(&bytes), e.valid_up_to()),
    })?;
    parse(path, content)
}

/// Parses JSONL `content`; `path` only labels errors.
pub(super) fn parse(path: &Path, content: &str) -> Result<Vec<CorpusDocument>, CorpusError> {
    let mut documents = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (index, line) in content.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let document = parse_line(path, line_no, line)?;
        if let Some(&first_line) = first_line_of.get(&document.id) {
            return Err(CorpusError::DuplicateId {
                path: path.to_owned(),
                line: line_no,
                first_line,
                id: document.id,
            });
        }
        first_line_of.insert(document.id.clone(), line_no);
        documents.push(document);
    }
    Ok(documents)
}

fn parse_line(path: &Path, line: usize, raw: &str) -> Result<CorpusDocument, CorpusError> {
    let value: Value = serde_json::from_str(raw).map_err(|e| CorpusError::MalformedJson {
        path: path.to_owned(),
        line,
        message: describe(&e),
    })?;
    let Value::Object(object) = value else {
        return Err(CorpusError::MalformedJson {
            path: path.to_owned(),
            line,
            message: "expected a JSON object".to_owned(),
        });
    };
    let invalid = |field, expected| CorpusError::InvalidField {
        path: path.to_owned(),
        line,
        field,
        expected,
    };
    let missing = |field| CorpusError::MissingField {
        path: path.to_owned(),
        line,
        field,
    };

    let id = match object.get("_id") {
        None | Some(Value::Null) => return Err(missing("_id")),
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        Some(_) => return Err(invalid("_id", "a non-empty string or a number")),
    };
    let text = match object.get("text") {
        None | Some(Value::Null) => return Err(missing("text")),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(invalid("text", "a string")),
    };
    let title = optional_string(&object, "title").map_err(|()| invalid("title", "a string"))?;
    let sentences = match object.get("sentences") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("sentences", "an array of strings"))?,
        ),
        Some(_) => return Err(invalid("sentences", "an array of strings")),
    };
    Ok(CorpusDocument {
        id,
        title: title.unwrap_or_default(),
        text,
        sentences,
        path: None,
    })
}

fn optional_string(object: &Map<String, Value>, key: &str) -> Result<Option<String>, ()> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// serde_json's message without its "at line 1 column N" suffix (we report our own line).
fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let base = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(base, _)| base);
    format!("{base} (column {})", error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(content: &str) -> Result<Vec<CorpusDocument>, CorpusError> {
        parse(Path::new("corpus.jsonl"), content)
    }

    #[test]
    fn records_parse_with_numeric_ids_optional_fields_and_blank_lines() {
        let docs = parse_str(
            "{\"_id\": 7, \"title\": \"T\", \"text\": \"Body.\", \"sentences\": [\"Body.\"], \"x\": 1}\n\
             \n   \n\
             {\"_id\": \"a\", \"text\": \"Other.\", \"title\": null}\r\n",
        )
        .expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].id, "7");
        assert_eq!(
            docs[0].sentences.as_deref(),
            Some(&["Body.".to_owned()][..])
        );
        assert_eq!(docs[1].title, "");
        assert_eq!(docs[1].sentences, None);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            (
                "{\"_id\": \"1\", \"text\": \"ok\"}\n{\"_id\": \"2\", \"text\": ",
                "line 2 is not a valid JSON object",
            ),
            (
                "[1, 2]",
                "line 1 is not a valid JSON object: expected a JSON object",
            ),
            (
                "{\"text\": \"no id\"}",
                "line 1 is missing the required field `_id`",
            ),
            (
                "{\"_id\": \"1\"}",
                "line 1 is missing the required field `text`",
            ),
            (
                "{\"_id\": true, \"text\": \"t\"}",
                "line 1: field `_id` must be",
            ),
            (
                "{\"_id\": \"1\", \"text\": \"t\", \"sentences\": [1]}",
                "field `sentences` must be an array of strings",
            ),
            (
                "{\"_id\": 1, \"text\": \"a\"}\n\n{\"_id\": \"1\", \"text\": \"b\"}",
                "line 3 repeats document id `1` (first seen on line 1)",
            ),
        ];
        for (content, expected) in cases {
            let message = parse_str(content).expect_err(content).to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            assert!(message.starts_with("corpus.jsonl: "), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }
}
