//! The crate's error type. Apart from [`SearchError::InvalidFingerprint`],
//! [`SearchError::DimensionMismatch`] and [`SearchError::NonFiniteVector`] (caller bugs), every failure is an internal fault (an unwritable index directory, a tantivy error): bad
//! *input text* never produces an error, it produces empty results.

use std::path::PathBuf;

/// Failures of the search indexes.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A filesystem operation on the index directory failed.
    #[error("index I/O failed on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// tantivy reported an error while building, opening or querying an index.
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The caller passed a fingerprint that is not usable as a directory name.
    #[error("index fingerprint {0:?} must be a non-empty name without '/', '\\' or a leading '.'")]
    InvalidFingerprint(String),
    /// A vector's width differs from the dense index's.
    #[error("vector for {doc_id} has {found} dimensions, expected {expected}")]
    DimensionMismatch {
        /// The index's width.
        expected: usize,
        /// The vector's width.
        found: usize,
        /// The document (or `(query)`).
        doc_id: String,
    },
    /// A document vector holds NaN or infinity.
    #[error("vector for {0} holds a non-finite value")]
    NonFiniteVector(String),
    /// An index on disk does not have the expected shape (missing field, stored value, ...).
    #[error("search index at {path} is unusable: {reason}")]
    Corrupt {
        /// The index directory.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl SearchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
