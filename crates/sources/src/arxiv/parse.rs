//! Parsing an arXiv API Atom feed (`GET /api/query?search_query=…`) into [`ArxivFeed`]: one
//! [`ArxivEntry`] per `<entry>` (a [`FoundDocument`] plus what it has no field for) and the
//! OpenSearch paging numbers. Pure: bytes in, values out; no I/O.
//!
//! Elements are matched by local name (quick-xml's serde reader drops the `arxiv:` and
//! `opensearch:` prefixes), after checking that the root element is an Atom `<feed>`. An entry whose `<id>` names no arXiv identifier is skipped with a `warn` log
//! and counted in [`ArxivFeed::skipped`]; a document that is not an Atom feed is
//! [`ConnectorError::Malformed`]; arXiv's own error feed (an entry with an `…/api/errors#…` id) is
//! [`ConnectorError::InvalidQuery`] carrying arXiv's reason.

use quick_xml::events::Event;
use researchops_core::{ConnectorError, FoundDocument};
use serde::Deserialize;

use super::id::arxiv_id_in;

/// The venue every arXiv document carries: the repository (a journal reference, when the authors
/// gave one, is in [`ArxivEntry::journal_ref`]).
pub const ARXIV_VENUE: &str = "arXiv";

/// One page of an arXiv search.
#[derive(Clone, Debug, PartialEq)]
pub struct ArxivFeed {
    /// The entries, in feed order (arXiv's ranking).
    pub entries: Vec<ArxivEntry>,
    /// `opensearch:totalResults`: how many entries match the query in all.
    pub total_results: Option<u64>,
    /// `opensearch:startIndex`: the 0-based position of the first entry of this page.
    pub start_index: Option<u64>,
    /// `opensearch:itemsPerPage`: the page size asked for.
    pub items_per_page: Option<u64>,
    /// Entries left out because their `<id>` named no arXiv identifier.
    pub skipped: usize,
}

/// One arXiv paper.
#[derive(Clone, Debug, PartialEq)]
pub struct ArxivEntry {
    /// The paper as a connector returns it: `external_id` is the versioned id (`2510.14968v1`),
    /// `arxiv_id` the id without version, `title` and `text` (title, blank line, summary) with
    /// whitespace collapsed, authors in order, `year` of first publication, `doi` (lowercase),
    /// `url` the abstract page, `venue` [`ARXIV_VENUE`], and `score` decreasing with the
    /// entry's position in the whole result list (`1 / (1 + start_index + i)`).
    pub document: FoundDocument,
    /// The version the feed describes (`v1` → 1), when the id carries one.
    pub version: Option<u32>,
    /// `arxiv:primary_category`, e.g. `cs.RO`.
    pub primary_category: Option<String>,
    /// Every `category` term, in feed order (the primary one included).
    pub categories: Vec<String>,
    /// `arxiv:journal_ref`: where it was published, as the authors wrote it.
    pub journal_ref: Option<String>,
    /// `arxiv:comment`, whitespace collapsed.
    pub comment: Option<String>,
    /// The PDF link (`<link title="pdf">`).
    pub pdf_url: Option<String>,
    /// `published` as given (RFC 3339).
    pub published: Option<String>,
    /// `updated` as given (RFC 3339): when this version appeared.
    pub updated: Option<String>,
}

/// Parses an Atom feed (UTF-8 bytes) from the arXiv API. A feed without entries gives an empty
/// page.
pub fn parse_feed(body: &[u8]) -> Result<ArxivFeed, ConnectorError> {
    let xml = std::str::from_utf8(body)
        .map_err(|e| ConnectorError::Malformed(format!("arXiv feed is not UTF-8: {e}")))?;
    check_root(xml)?;
    let feed: Feed = quick_xml::de::from_str(xml).map_err(|e| {
        ConnectorError::Malformed(format!("arXiv feed is not a valid Atom feed: {e}"))
    })?;
    if let Some(error) = feed.entries.iter().find(|e| is_error_entry(e)) {
        let reason = collapse(error.summary.as_deref().unwrap_or("no reason given"));
        return Err(ConnectorError::InvalidQuery(format!(
            "arXiv refused the query: {reason}"
        )));
    }
    let start = feed.start_index.unwrap_or(0);
    let mut entries = Vec::with_capacity(feed.entries.len());
    let mut skipped = 0;
    for entry in feed.entries {
        let rank = start + entries.len() as u64;
        match convert(entry, rank) {
            Some(entry) => entries.push(entry),
            None => skipped += 1,
        }
    }
    Ok(ArxivFeed {
        entries,
        total_results: feed.total_results,
        start_index: feed.start_index,
        items_per_page: feed.items_per_page,
        skipped,
    })
}

fn convert(entry: Entry, rank: u64) -> Option<ArxivEntry> {
    let raw_id = entry.id.unwrap_or_default();
    let Some(id) = arxiv_id_in(&raw_id) else {
        tracing::warn!(arxiv.entry_id = %raw_id, "skipping an arXiv entry without an arXiv id");
        return None;
    };
    let title = collapse(entry.title.as_deref().unwrap_or_default());
    let summary = collapse(entry.summary.as_deref().unwrap_or_default());
    let text = match (title.is_empty(), summary.is_empty()) {
        (_, true) => title.clone(),
        (true, false) => summary,
        (false, false) => format!("{title}\n\n{summary}"),
    };
    let external_id = match id.version {
        Some(v) => format!("{}v{v}", id.id),
        None => id.id.clone(),
    };
    let link = |pick: fn(&Link) -> bool| {
        entry
            .links
            .iter()
            .find(|l| pick(l))
            .and_then(|l| l.href.clone())
    };
    let pdf_url = link(|l| l.title.as_deref() == Some("pdf"));
    let abs_url =
        link(|l| l.rel.as_deref() == Some("alternate")).or(Some(raw_id.trim().to_owned()));
    let year = entry
        .published
        .as_deref()
        .and_then(|p| p.get(..4))
        .and_then(|y| y.parse().ok());
    let document = FoundDocument {
        external_id,
        title,
        text,
        authors: entry
            .authors
            .into_iter()
            .filter_map(|a| a.name.map(|n| collapse(&n)))
            .filter(|n| !n.is_empty())
            .collect(),
        year,
        doi: entry
            .doi
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty()),
        url: abs_url,
        venue: Some(ARXIV_VENUE.to_owned()),
        arxiv_id: Some(id.id),
        score: 1.0 / (1.0 + rank as f64),
        ..FoundDocument::default()
    };
    Some(ArxivEntry {
        document,
        version: id.version,
        primary_category: entry.primary_category.and_then(|c| c.term),
        categories: entry
            .categories
            .into_iter()
            .filter_map(|c| c.term)
            .collect(),
        journal_ref: entry
            .journal_ref
            .map(|j| collapse(&j))
            .filter(|j| !j.is_empty()),
        comment: entry
            .comment
            .map(|c| collapse(&c))
            .filter(|c| !c.is_empty()),
        pdf_url,
        published: entry.published,
        updated: entry.updated,
    })
}

/// arXiv answers a query it cannot run with a feed of one entry whose id is
/// `http://arxiv.org/api/errors#…` and whose summary says why.
fn is_error_entry(entry: &Entry) -> bool {
    entry
        .id
        .as_deref()
        .is_some_and(|id| id.to_ascii_lowercase().contains("arxiv.org/api/errors"))
}

/// Refuses a document whose root element is not `<feed>` (an HTML error page, say), which the
/// serde reader would otherwise read as an empty feed.
fn check_root(xml: &str) -> Result<(), ConnectorError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag) | Event::Empty(tag)) => {
                return if tag.local_name().as_ref() == b"feed" {
                    Ok(())
                } else {
                    Err(ConnectorError::Malformed(format!(
                        "arXiv feed is not an Atom feed: its root element is <{}>",
                        String::from_utf8_lossy(tag.name().as_ref())
                    )))
                };
            }
            Ok(Event::Eof) => {
                return Err(ConnectorError::Malformed(
                    "arXiv feed is empty: no root element".to_owned(),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ConnectorError::Malformed(format!(
                    "arXiv feed is not valid XML: {e}"
                )));
            }
        }
    }
}

/// Collapses every run of whitespace (the feed wraps titles and summaries) into one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Deserialize)]
#[serde(rename = "feed")]
struct Feed {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "startIndex")]
    start_index: Option<u64>,
    #[serde(rename = "itemsPerPage")]
    items_per_page: Option<u64>,
    #[serde(rename = "entry", default)]
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    published: Option<String>,
    updated: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    #[serde(rename = "author", default)]
    authors: Vec<Author>,
    #[serde(rename = "doi")]
    doi: Option<String>,
    #[serde(rename = "journal_ref")]
    journal_ref: Option<String>,
    #[serde(rename = "comment")]
    comment: Option<String>,
    #[serde(rename = "link", default)]
    links: Vec<Link>,
    #[serde(rename = "primary_category")]
    primary_category: Option<Category>,
    #[serde(rename = "category", default)]
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct Author {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Link {
    #[serde(rename = "@href")]
    href: Option<String>,
    #[serde(rename = "@rel")]
    rel: Option<String>,
    #[serde(rename = "@title")]
    title: Option<String>,
}

#[derive(Deserialize)]
struct Category {
    #[serde(rename = "@term")]
    term: Option<String>,
}
