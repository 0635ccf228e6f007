//! The local corpus as a [`Connector`] named `local`: BM25 over the loaded corpus, on a blocking
//! thread so a search never stalls the async runtime.

use std::sync::Arc;

use async_trait::async_trait;
use researchops_core::{Connector, ConnectorError, FoundDocument, SearchQuery};
use tokio_util::sync::CancellationToken;

use crate::LocalSearch;

/// The name runs select the local corpus by.
pub const LOCAL_CONNECTOR: &str = researchops_core::LOCAL_SOURCE;

/// [`LocalSearch`] behind the [`Connector`] port.
#[derive(Clone, Debug)]
pub struct LocalConnector {
    search: Arc<LocalSearch>,
}

impl LocalConnector {
    /// Wraps an opened corpus.
    pub fn new(search: Arc<LocalSearch>) -> Self {
        Self { search }
    }

    /// The corpus and its index.
    pub fn search_index(&self) -> &LocalSearch {
        &self.search
    }
}

#[async_trait]
impl Connector for LocalConnector {
    fn name(&self) -> &str {
        LOCAL_CONNECTOR
    }

    fn fingerprint(&self) -> Option<String> {
        Some(self.search.corpus().fingerprint().to_owned())
    }

    async fn search(
        &self,
        query: &SearchQuery,
        cancel: &CancellationToken,
    ) -> Result<Vec<FoundDocument>, ConnectorError> {
        if cancel.is_cancelled() {
            return Err(ConnectorError::Canceled);
        }
        let search = self.search.clone();
        let text = query.text.clone();
        let limit = query.limit;
        let task = tokio::task::spawn_blocking(move || {
            let hits = search.search(&text, limit)?;
            Ok::<_, crate::CorpusError>(
                hits.into_iter()
                    .map(|(score, doc)| FoundDocument {
                        external_id: doc.id.clone(),
                        title: doc.title.clone(),
                        text: doc.text.clone(),
                        sentences: doc.sentences.clone(),
                        raw: None,
                        authors: Vec::new(),
                        year: None,
                        doi: None,
                        url: None,
                        score: f64::from(score),
                        ..FoundDocument::default()
                    })
                    .collect(),
            )
        });
        tokio::select! {
            () = cancel.cancelled() => Err(ConnectorError::Canceled),
            joined = task => match joined {
                Ok(Ok(documents)) => Ok(documents),
                Ok(Err(e)) => Err(ConnectorError::Internal(format!("local search failed: {e}"))),
                Err(e) => Err(ConnectorError::Internal(format!("local search task failed: {e}"))),
            },
        }
    }
}
