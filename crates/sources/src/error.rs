//! Errors of the document sources. Messages are one line, meant for the user who pointed the
//! server at a corpus: they name the file (and line) at fault. [`CorpusError::is_user_error`]
//! separates a bad corpus from internal faults.

use std::path::PathBuf;

use researchops_search::SearchError;

/// Failures while loading or searching a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The corpus path does not exist.
    #[error("corpus not found: {path} does not exist")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid UTF-8 text.
    #[error("{path} is not valid UTF-8 text (line {line})")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// A JSONL line is not valid JSON (or not a JSON object).
    #[error("{path}: line {line} is not a valid JSON object: {message}")]
    MalformedJson {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser objected to.
        message: String,
    },
    /// A JSONL record lacks a required field.
    #[error("{path}: line {line} is missing the required field `{field}`")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// `_id` or `text`.
        field: &'static str,
    },
    /// A JSONL field has the wrong type.
    #[error("{path}: line {line}: field `{field}` must be {expected}")]
    InvalidField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: &'static str,
        /// The accepted types.
        expected: &'static str,
    },
    /// Two documents share an id.
    #[error("{path}: line {line} repeats document id `{id}` (first seen on line {first_line})")]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// 1-based line of the repetition.
        line: usize,
        /// 1-based line of the first occurrence.
        first_line: usize,
        /// The repeated id.
        id: String,
    },
    /// The corpus holds no documents.
    #[error("corpus {path} contains no documents{hint}")]
    Empty {
        /// The file or directory.
        path: PathBuf,
        /// What was looked for.
        hint: &'static str,
    },
    /// The search index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl CorpusError {
    /// Whether the corpus the user pointed at is at fault (missing, unreadable, malformed,
    /// empty), as opposed to an internal fault of the search index.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, CorpusError::Search(_))
    }
}
