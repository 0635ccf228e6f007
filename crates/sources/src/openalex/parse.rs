//! Parsing one page of OpenAlex `GET /works?search=…` into [`OpenAlexPage`]: one [`OpenAlexWork`]
//! per result (a [`FoundDocument`] plus what it has no field for) and the paging info. Pure: bytes
//! in, values out; no I/O.
//!
//! Failure policy: bytes that are not JSON, or JSON without a `results` array, are
//! [`ConnectorError::Malformed`] for the whole page. A single result that cannot be read (a field
//! of the wrong type, no `W…` id, neither title nor abstract) is skipped with a `warn` log and
//! listed in [`OpenAlexPage::skipped`], so one bad record never costs the other works.

use researchops_core::{ConnectorError, FoundDocument};
use serde::Deserialize;
use serde_json::Value;

use super::inverted_index::InvertedIndex;
use crate::arxiv::arxiv_id_in;

/// One page of an OpenAlex works search.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAlexPage {
    /// The works that could be read, in OpenAlex's order (best first for a search).
    pub works: Vec<OpenAlexWork>,
    /// `meta.count`: how many works match the query in all.
    pub count: Option<u64>,
    /// `meta.next_cursor`: pass it as `cursor=` for the next page; `None` when the request did not
    /// use cursor paging or this is the last page.
    pub next_cursor: Option<String>,
    /// The results left out, with why.
    pub skipped: Vec<SkippedWork>,
}

/// A result that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedWork {
    /// 0-based position in `results`.
    pub index: usize,
    /// Its `id` as given, when it had a string one.
    pub id: Option<String>,
    /// What was wrong.
    pub reason: String,
}

/// One OpenAlex work.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAlexWork {
    /// The work as a connector returns it: `external_id` the short OpenAlex id (`W2068311567`),
    /// `title` (`title`, else `display_name`), `text` (the title, then a blank line and the
    /// abstract rebuilt from `abstract_inverted_index`; the title alone when there is none),
    /// authors in order, `publication_year`, `doi` (lowercase, no resolver prefix), `url` (best
    /// open-access landing page, else `open_access.oa_url`, else the DOI link, else the primary
    /// landing page, else the OpenAlex page), `venue` (primary location's source), `arxiv_id` (from
    /// the DOI, `ids` or any location URL, without version), `retracted` (`is_retracted`) and
    /// `score` (`relevance_score`, 0 without one).
    pub document: FoundDocument,
    /// The abstract alone (empty when OpenAlex has none).
    pub abstract_text: String,
    /// `cited_by_count`.
    pub cited_by_count: Option<u64>,
    /// Open-access PDF: `best_oa_location.pdf_url`.
    pub pdf_url: Option<String>,
    /// Open-access landing page: `best_oa_location.landing_page_url`.
    pub landing_url: Option<String>,
    /// `open_access.oa_url`: OpenAlex's pick of the best open-access link (PDF or page).
    pub oa_url: Option<String>,
}

/// Parses a `/works` response body.
pub fn parse_works_page(body: &[u8]) -> Result<OpenAlexPage, ConnectorError> {
    let page: Page = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::Malformed(format!("OpenAlex response is not a JSON object: {e}"))
    })?;
    let results = page.results.ok_or_else(|| {
        ConnectorError::Malformed("OpenAlex response has no `results` array".to_owned())
    })?;
    let meta = page.meta.unwrap_or(Value::Null);
    let mut works = Vec::with_capacity(results.len());
    let mut skipped = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        let id = result.get("id").and_then(Value::as_str).map(str::to_owned);
        match read_work(result) {
            Ok(work) => works.push(work),
            Err(reason) => {
                tracing::warn!(
                    openalex.index = index,
                    openalex.id = id.as_deref().unwrap_or(""),
                    reason = %reason,
                    "skipping an unreadable OpenAlex work"
                );
                skipped.push(SkippedWork { index, id, reason });
            }
        }
    }
    Ok(OpenAlexPage {
        works,
        count: meta.get("count").and_then(Value::as_u64),
        next_cursor: meta
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        skipped,
    })
}

/// Normalises a DOI: trimmed, lowercase, without `https://doi.org/`, `dx.doi.org` or `doi:`
/// prefixes; `None` unless it then starts with `10.`.
pub fn normalize_doi(raw: &str) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let mut doi = lower.as_str();
    for prefix in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi.org/",
        "doi:",
    ] {
        if let Some(rest) = doi.strip_prefix(prefix) {
            doi = rest.trim_start();
            break;
        }
    }
    doi.starts_with("10.").then(|| doi.to_owned())
}

/// The short OpenAlex id (`W123…`) of `https://openalex.org/W123…` or `W123…`.
pub fn short_openalex_id(raw: &str) -> Option<String> {
    let last = raw.trim().trim_end_matches('/').rsplit('/').next()?;
    let digits = last.strip_prefix(['W', 'w'])?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| format!("W{digits}"))
}

fn read_work(value: Value) -> Result<OpenAlexWork, String> {
    let work: Work = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let raw_id = work.id.as_deref().ok_or("no `id`")?;
    let external_id = short_openalex_id(raw_id)
        .ok_or_else(|| format!("`id` {raw_id:?} is not an OpenAlex work id"))?;
    let title = work
        .title
        .as_deref()
        .or(work.display_name.as_deref())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let abstract_text = work
        .abstract_inverted_index
        .as_ref()
        .map(InvertedIndex::rebuild)
        .unwrap_or_default();
    let text = match (title.is_empty(), abstract_text.is_empty()) {
        (true, true) => return Err("neither a title nor an abstract".to_owned()),
        (_, true) => title.clone(),
        (true, false) => abstract_text.clone(),
        (false, false) => format!("{title}\n\n{abstract_text}"),
    };
    let ids = work.ids.unwrap_or_default();
    let doi = work
        .doi
        .as_deref()
        .or(ids.doi.as_deref())
        .and_then(normalize_doi);
    let best = work.best_oa_location.unwrap_or_default();
    let primary = work.primary_location.unwrap_or_default();
    let oa_url = work.open_access.and_then(|oa| oa.oa_url);
    let arxiv_id = doi
        .iter()
        .chain(ids.arxiv.iter())
        .map(String::as_str)
        .chain(
            std::iter::once(&primary)
                .chain(std::iter::once(&best))
                .chain(work.locations.iter())
                .flat_map(|l| [l.landing_page_url.as_deref(), l.pdf_url.as_deref()])
                .flatten(),
        )
        .find_map(arxiv_id_in)
        .map(|id| id.id);
    let url = best
        .landing_page_url
        .clone()
        .or_else(|| oa_url.clone())
        .or_else(|| doi.as_ref().map(|d| format!("https://doi.org/{d}")))
        .or_else(|| primary.landing_page_url.clone())
        .or_else(|| Some(format!("https://openalex.org/{external_id}")));
    let document = FoundDocument {
        external_id,
        title,
        text,
        authors: work
            .authorships
            .into_iter()
            .filter_map(|a| {
                a.author
                    .and_then(|author| author.display_name)
                    .or(a.raw_author_name)
            })
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect(),
        year: work.publication_year,
        doi,
        url,
        venue: primary
            .source
            .and_then(|s| s.display_name)
            .filter(|v| !v.trim().is_empty()),
        arxiv_id,
        retracted: work.is_retracted.unwrap_or(false),
        score: work.relevance_score.unwrap_or(0.0),
        ..FoundDocument::default()
    };
    Ok(OpenAlexWork {
        document,
        abstract_text,
        cited_by_count: work.cited_by_count,
        pdf_url: best.pdf_url,
        landing_url: best.landing_page_url,
        oa_url,
    })
}

#[derive(Deserialize)]
struct Page {
    meta: Option<Value>,
    results: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Work {
    id: Option<String>,
    doi: Option<String>,
    title: Option<String>,
    display_name: Option<String>,
    publication_year: Option<i32>,
    ids: Option<Ids>,
    primary_location: Option<Location>,
    best_oa_location: Option<Location>,
    #[serde(default, deserialize_with = "null_as_empty")]
    locations: Vec<Location>,
    open_access: Option<OpenAccess>,
    #[serde(default, deserialize_with = "null_as_empty")]
    authorships: Vec<Authorship>,
    cited_by_count: Option<u64>,
    is_retracted: Option<bool>,
    relevance_score: Option<f64>,
    abstract_inverted_index: Option<InvertedIndex>,
}

#[derive(Default, Deserialize)]
struct Ids {
    doi: Option<String>,
    arxiv: Option<String>,
}

#[derive(Default, Deserialize)]
struct Location {
    landing_page_url: Option<String>,
    pdf_url: Option<String>,
    source: Option<Source>,
}

#[derive(Deserialize)]
struct Source {
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct OpenAccess {
    oa_url: Option<String>,
}

#[derive(Deserialize)]
struct Authorship {
    author: Option<Author>,
    raw_author_name: Option<String>,
}

#[derive(Deserialize)]
struct Author {
    display_name: Option<String>,
}

/// `null` (which OpenAlex sometimes sends for lists) reads as an empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
