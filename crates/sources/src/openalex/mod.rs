//! The OpenAlex source: reading what OpenAlex's `GET /works?search=…` answers.
//!
//! This module owns the pure parsing only: a page of works into [`OpenAlexPage`] (documents with
//! abstracts rebuilt from the inverted index, paging info), and the DOI and id normalisation the
//! cross-source dedupe relies on. It does no HTTP and is not yet registered as a connector: the
//! `openalex` connector (polite-pool `mailto`, cursor paging, retries) builds on it later.

mod inverted_index;
mod parse;

pub use inverted_index::InvertedIndex;
pub use parse::{
    OpenAlexPage, OpenAlexWork, SkippedWork, normalize_doi, parse_works_page, short_openalex_id,
};
