//! The arXiv source: reading what the arXiv API (`export.arxiv.org/api/query`, an Atom feed)
//! answers, and recognising arXiv identifiers wherever they appear.
//!
//! This module owns the pure parsing only ([`parse_feed`], [`arxiv_id_in`]). It does no HTTP and
//! is not yet registered as a connector: the `arxiv` connector (requests, the one-request-per-3-s
//! rule, retries) builds on it later.

mod id;
mod parse;

pub use id::{ArxivId, arxiv_id_in, parse_arxiv_id};
pub use parse::{ARXIV_VENUE, ArxivEntry, ArxivFeed, parse_feed};
