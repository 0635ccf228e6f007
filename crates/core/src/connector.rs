//! The [`Connector`] port: where a run's evidence comes from. A connector has a name (`local`, later
//! `openalex`, `arxiv`, `url`, `kb`), answers a [`SearchQuery`] with [`FoundDocument`]s, and reports
//! failures as [`ConnectorError`]s, which the pipeline turns into `warn` events rather than failed
//! runs. [`Connectors`] is the registry a server or CLI builds once and hands to every run.
//!
//! Connectors never write to the store: the pipeline snapshots what they return.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a run asks every selected connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// The query text (today: the run's question).
    pub text: String,
    /// At most this many documents, best first.
    pub limit: usize,
}

/// The bytes of a document as its source served them, when they differ from the extracted text
/// (a PDF, an HTML page). Stored as the snapshot's raw blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawContent {
    /// The bytes.
    pub bytes: Bytes,
    /// Their media type, e.g. `application/pdf`.
    pub mime_type: String,
}

/// A document a connector found, with whatever metadata the source knows. `Default` gives an empty
/// document, so a connector can spell out only the fields its source has (`..Default::default()`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FoundDocument {
    /// The connector's own id for it (corpus `_id`, OpenAlex id, arXiv id, URL).
    pub external_id: String,
    /// Title (may be empty).
    pub title: String,
    /// Extracted UTF-8 text: what snippets are cut from and their byte offsets index into.
    pub text: String,
    /// The source's own sentence split of `text`, when it has one.
    pub sentences: Option<Vec<String>>,
    /// The original bytes when they are not `text` itself; `None` for plain-text sources.
    pub raw: Option<RawContent>,
    /// Authors, in order.
    pub authors: Vec<String>,
    /// Publication year.
    pub year: Option<i32>,
    /// DOI without the resolver prefix.
    pub doi: Option<String>,
    /// Where it can be read.
    pub url: Option<String>,
    /// Where it was published: the journal, proceedings or repository name.
    pub venue: Option<String>,
    /// The arXiv identifier (`2101.00001` or `hep-th/9901001`, no version suffix needed), when it has one.
    pub arxiv_id: Option<String>,
    /// Whether the source says it has been retracted (`false` when it does not say).
    pub retracted: bool,
    /// The connector's relevance score (higher is better; only comparable within one connector).
    pub score: f64,
}

/// Why a connector returned no documents. The pipeline reports it as a `warn` event with
/// [`ConnectorError::code`] and goes on with the other connectors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The service could not be reached, timed out or answered with a server error.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The service asked for fewer requests.
    #[error("rate limited{}", .retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the service asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The query cannot be searched here (e.g. no searchable words, too long).
    #[error("query refused: {0}")]
    InvalidQuery(String),
    /// The source's answer or data could not be read.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The cancel token fired.
    #[error("canceled")]
    Canceled,
    /// A fault inside the connector (a broken index, a failed task).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ConnectorError {
    /// Stable code for event payloads and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectorError::Unavailable(_) => "unavailable",
            ConnectorError::RateLimited { .. } => "rate_limited",
            ConnectorError::InvalidQuery(_) => "invalid_query",
            ConnectorError::Malformed(_) => "malformed",
            ConnectorError::Canceled => "canceled",
            ConnectorError::Internal(_) => "internal",
        }
    }

    /// Whether asking again later may succeed (a run with no evidence because of it is retried
    /// rather than failed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectorError::Unavailable(_) | ConnectorError::RateLimited { .. }
        )
    }
}

/// The source name of the tenant's local corpus.
pub const LOCAL_SOURCE: &str = "local";

/// Every source name the product knows, enabled here or not (what clients pass in a run's
/// `sources`): a name outside it is unknown, one inside it but not registered is disabled. Each
/// [`Connector`] the binary builds is named from this list.
pub const KNOWN_SOURCES: [&str; 5] = [LOCAL_SOURCE, "kb", "openalex", "arxiv", "url"];

/// A source of documents.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The name runs select it by (`local`, `openalex`, …): lowercase, stable, unique per registry.
    fn name(&self) -> &str;

    /// A fingerprint of the content it searches when that content is fixed (a local corpus, a
    /// knowledge base snapshot), recorded in the context bundle; `None` for live services.
    fn fingerprint(&self) -> Option<String> {
        None
    }

    /// The best documents for `query`, best first, at most `query.limit`. Must return
    /// [`ConnectorError::Canceled`] promptly once `cancel` fires. Deterministic for fixed content:
    /// equal scores are ordered by a stable key.
    async fn search(
        &self,
        query: &SearchQuery,
        cancel: &CancellationToken,
    ) -> Result<Vec<FoundDocument>, ConnectorError>;
}

/// The connectors a server (or one CLI run) has enabled, by name.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: BTreeMap<String, Arc<dyn Connector>>,
}

impl Connectors {
    /// A registry of `connectors`; a later connector with the same name replaces an earlier one.
    pub fn new(connectors: impl IntoIterator<Item = Arc<dyn Connector>>) -> Self {
        let by_name = connectors
            .into_iter()
            .map(|c| (c.name().to_owned(), c))
            .collect();
        Self { by_name }
    }

    /// The connector named `name`, if enabled.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.by_name.get(name)
    }

    /// Names of the enabled connectors, sorted, as clients pass them in `sources`.
    pub fn enabled(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Whether none is enabled.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Connector for Named {
        fn name(&self) -> &str {
            self.0
        }
        async fn search(
            &self,
            _query: &SearchQuery,
            _cancel: &CancellationToken,
        ) -> Result<Vec<FoundDocument>, ConnectorError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn the_registry_finds_connectors_by_name_and_lists_them_sorted() {
        let registry = Connectors::new([
            Arc::new(Named("openalex")) as Arc<dyn Connector>,
            Arc::new(Named("local")),
        ]);
        assert_eq!(registry.enabled(), ["local", "openalex"]);
        assert_eq!(registry.get("local").map(|c| c.name()), Some("local"));
        assert!(registry.get("arxiv").is_none());
        assert!(Connectors::default().is_empty());
    }

    #[test]
    fn only_unavailable_and_rate_limited_are_transient() {
        assert!(ConnectorError::Unavailable("down".into()).is_transient());
        assert!(ConnectorError::RateLimited { retry_after: None }.is_transient());
        assert!(!ConnectorError::Internal("broken index".into()).is_transient());
        assert!(!ConnectorError::Canceled.is_transient());
        assert_eq!(
            ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
            .to_string(),
            "rate limited (retry after 3 s)"
        );
    }
}
