//! Document sources for ResearchOps Studio: where evidence comes from and how it is read.
//!
//! This crate owns loading and searching sources (today: the server's local corpus, a
//! BEIR-style JSONL file or a folder of Markdown/text files) and offers each to runs through the
//! core [`Connector`](researchops_core::Connector) port. It also holds the pure parsers of the
//! scholarly APIs' answers ([`openalex`], [`arxiv`]) that the online connectors will build on; they
//! do no I/O and are not registered yet. It must not write to any database; callers persist
//! whatever they keep.

pub mod arxiv;
mod error;
pub mod local;
pub mod openalex;

pub use error::CorpusError;
pub use local::{CorpusDocument, LOCAL_CONNECTOR, LocalConnector, LocalCorpus, LocalSearch};
