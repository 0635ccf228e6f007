//! The domain of ResearchOps Studio: identifiers, the run state machine, stages, events, evidence
//! records, the error-code table and the **ports** (traits) every backend and adapter implements.
//!
//! This crate does no I/O and knows neither axum nor sqlx: the store crates implement [`Store`] and
//! [`Queue`], the HTTP crate maps [`ErrorCode`] to responses, the worker drives runs through the ports.

pub mod connector;
pub mod decide;
pub mod embedding;
pub mod error;
pub mod event;
pub mod evidence;
pub mod failure;
pub mod hub;
pub mod identity;
pub mod ids;
pub mod page;
pub mod ports;
pub mod project;
pub mod queue;
pub mod run;
pub mod transfer;

pub use connector::{
    Connector, ConnectorError, Connectors, FoundDocument, KNOWN_SOURCES, LOCAL_SOURCE, RawContent,
    SearchQuery,
};
pub use embedding::{EmbedError, Embedder};
pub use error::{ErrorCode, StoreError};
pub use event::{EventLevel, EventType, NewEvent, RunEvent};
pub use evidence::{
    Artifact, ArtifactKind, Claim, EvidenceRecord, RunEnd, Snapshot, Snippet, Source, StageCommit,
    Verdict,
};
pub use failure::FailureCode;
pub use hub::{EventHub, EventNotice, EventWatch, JobWakeup};
pub use identity::{Identity, Role};
pub use ids::*;
pub use page::{Page, PageRequest};
pub use ports::{BlobInfo, BlobStore, RunStart, StageGate, Store};
pub use project::{NewProject, Project, ProjectPatch};
pub use queue::{
    ClaimedJob, Heartbeat, JobKind, JobOutcome, Lane, Lease, NewJob, Queue, QueueStats,
};
pub use run::{CreateRunOutcome, NewRun, Run, RunOptions, RunStatus, Stage};
