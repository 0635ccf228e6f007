//! The seven stages of a research run as plain async functions over ports:
//! `retrieve → ingest → outline → draft → validate → factcheck → export`.
//!
//! Evidence comes from [`Connector`](researchops_core::Connector)s selected by name from the
//! [`Connectors`] registry; snapshot bytes and text live in the [`BlobStore`], and stage outputs
//! reference them by hash rather than carrying document text.
//!
//! Each stage reads the committed outputs of the stages before it (so a crashed run resumes from its
//! checkpoint with identical inputs) and returns a [`StageCommit`] that the worker commits atomically
//! with the checkpoint. This crate knows neither HTTP nor SQL, and never writes to the store itself.
//! Everything is deterministic: rankings break ties by stable keys, so the same question over the same
//! corpus gives the same report text.

mod check;
mod compose;
mod evidence;
mod export;
mod ingest;
pub mod model;
mod relevance;
mod retrieve;
mod semantic;

use model::Evidence;
use researchops_core::{BlobStore, Embedder, FailureCode, NewEvent, Run, Stage, StageCommit};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

pub use researchops_core::Connectors;

pub use export::{Quote, quotes, render_bibtex, render_html, render_markdown, render_ris};

/// The version of the pipeline's logic, recorded in every context bundle.
pub const PIPELINE_VERSION: &str = concat!("extractive-", env!("CARGO_PKG_VERSION"));

/// Receives progress and log events from inside a stage (non-blocking; the worker persists them).
pub trait Progress: Send + Sync {
    /// Records an event.
    fn emit(&self, event: NewEvent);
}

/// Everything a stage may use.
pub struct StageContext<'a> {
    /// The run (question, options, sources).
    pub run: &'a Run,
    /// Outputs of the stages already committed.
    pub outputs: &'a BTreeMap<Stage, serde_json::Value>,
    /// Enabled connectors.
    pub connectors: &'a Connectors,
    /// Sentence vectors, when a model is configured; without one every decision is lexical.
    pub embedder: Option<&'a dyn Embedder>,
    /// Where snapshot bytes and artifacts go.
    pub blobs: &'a dyn BlobStore,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    /// Set when the run must stop (cancel requested, lease lost, shutdown).
    pub cancel: &'a CancellationToken,
}

/// Why a stage did not produce its outputs.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The run cannot succeed.
    #[error("{reason}")]
    Fatal {
        /// Stable code.
        code: FailureCode,
        /// For people.
        reason: String,
    },
    /// A passing fault (storage, a connector): worth retrying after a backoff.
    #[error("{0}")]
    Retryable(String),
    /// The cancel token fired.
    #[error("canceled")]
    Canceled,
}

impl StageError {
    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        StageError::Fatal {
            code: FailureCode::InternalError,
            reason: reason.into(),
        }
    }

    pub(crate) fn from_store(e: researchops_core::StoreError) -> Self {
        if e.is_retryable() {
            StageError::Retryable(e.to_string())
        } else {
            StageError::internal(e.to_string())
        }
    }
}

impl StageContext<'_> {
    /// Fails with `Canceled` once the token fired; call inside long loops.
    pub fn checkpoint(&self) -> Result<(), StageError> {
        if self.cancel.is_cancelled() {
            Err(StageError::Canceled)
        } else {
            Ok(())
        }
    }

    /// The committed output of an earlier stage, decoded.
    pub(crate) fn output<T: serde::de::DeserializeOwned>(
        &self,
        stage: Stage,
    ) -> Result<T, StageError> {
        let value = self.outputs.get(&stage).ok_or_else(|| {
            StageError::internal(format!("the {stage} stage's output is missing"))
        })?;
        serde_json::from_value(value.clone()).map_err(|e| {
            StageError::internal(format!("the {stage} stage's output cannot be read: {e}"))
        })
    }
}

/// Runs one stage. The worker runs each stage on a thread of its own, so the CPU-bound stages compute
/// in place; every long loop calls [`StageContext::checkpoint`] so a canceled or abandoned stage stops.
pub async fn run_stage(stage: Stage, cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    cx.checkpoint()?;
    match stage {
        Stage::Retrieve => retrieve::retrieve(cx).await,
        Stage::Ingest => ingest::ingest(cx).await,
        Stage::Outline => {
            let evidence = Evidence::load(cx).await?;
            let cosines = semantic::snippet_cosines(cx, &evidence).await?;
            compose::outline(cx, &evidence, cosines.as_ref())
        }
        Stage::Draft => compose::draft(cx, &Evidence::load(cx).await?),
        Stage::Validate => check::validate(cx),
        Stage::Factcheck => {
            let evidence = Evidence::load(cx).await?;
            let cosines = semantic::snippet_cosines(cx, &evidence).await?;
            check::factcheck(cx, &evidence, cosines.as_ref())
        }
        Stage::Export => export::export(cx).await,
    }
}

pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, StageError> {
    serde_json::to_value(value)
        .map_err(|e| StageError::internal(format!("cannot encode stage output: {e}")))
}

pub(crate) fn usage(pairs: &[(&str, usize)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
        .collect()
}

/// How a worker executes stages: the research pipeline in production; tests substitute scripted
/// stages to exercise failures (panics, time-outs, retryable errors) the real stages never produce.
///
/// The worker runs each call on a thread of its own (its async parts driven by the runtime's handle),
/// so an implementation may compute or block; it must call [`StageContext::checkpoint`] in every long
/// loop, because a stage past its time limit or whose run was canceled is abandoned, not interrupted.
#[async_trait::async_trait]
pub trait Stages: Send + Sync + 'static {
    /// Runs one stage.
    async fn run(&self, stage: Stage, cx: &StageContext<'_>) -> Result<StageCommit, StageError>;
}

/// The seven research stages of this crate.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResearchPipeline;

#[async_trait::async_trait]
impl Stages for ResearchPipeline {
    async fn run(&self, stage: Stage, cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
        run_stage(stage, cx).await
    }
}
