//! arXiv identifiers: recognising them in abs/pdf URLs, arXiv DOIs (`10.48550/arXiv.…`) and bare
//! strings, and splitting off the version. Shared by the arXiv and OpenAlex parsers so both sides of
//! a cross-source dedupe name a paper the same way.

/// An arXiv identifier without its version (`2101.00001`, `hep-th/9901001`) and the version when
/// one was given (`v2` → `Some(2)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArxivId {
    /// The identifier without version suffix.
    pub id: String,
    /// The version number, when the source named one.
    pub version: Option<u32>,
}

/// Parses a bare identifier (`2101.00001v2`, `arXiv:2101.00001`, `hep-th/9901001v1`).
pub fn parse_arxiv_id(raw: &str) -> Option<ArxivId> {
    let raw = raw.trim();
    let raw = strip_prefix_ci(raw, "arxiv:").unwrap_or(raw);
    let raw = raw.strip_suffix(".pdf").unwrap_or(raw);
    let (id, version) = split_version(raw);
    if is_new_style(id) || is_old_style(id) {
        Some(ArxivId {
            id: id.to_owned(),
            version,
        })
    } else {
        None
    }
}

/// Finds the arXiv identifier an URL or DOI names: `arxiv.org/abs/<id>`, `arxiv.org/pdf/<id>`
/// (any host ending in `arxiv.org`, any scheme) or the DOI `10.48550/arXiv.<id>` (with or without a
/// resolver prefix). Anything else gives `None`.
pub fn arxiv_id_in(text: &str) -> Option<ArxivId> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some(at) = lower.find("10.48550/arxiv.") {
        return parse_arxiv_id(&text.trim()[at + "10.48550/arxiv.".len()..]);
    }
    for marker in ["arxiv.org/abs/", "arxiv.org/pdf/"] {
        if let Some(at) = lower.find(marker) {
            let rest = &text.trim()[at + marker.len()..];
            let end = rest.find(['?', '#']).unwrap_or(rest.len());
            return parse_arxiv_id(rest[..end].trim_end_matches('/'));
        }
    }
    None
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `…vN` into the identifier and `N`; leaves strings without a numeric suffix alone.
fn split_version(raw: &str) -> (&str, Option<u32>) {
    if let Some(at) = raw.rfind('v') {
        let digits = &raw[at + 1..];
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(version) = digits.parse()
        {
            return (&raw[..at], Some(version));
        }
    }
    (raw, None)
}

/// `YYMM.NNNN` or `YYMM.NNNNN` (identifiers since 2007).
fn is_new_style(id: &str) -> bool {
    let Some((yymm, number)) = id.split_once('.') else {
        return false;
    };
    yymm.len() == 4
        && yymm.bytes().all(|b| b.is_ascii_digit())
        && (4..=5).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `archive(.SUBJ)/YYMMNNN`, e.g. `hep-th/9901001`, `math.GT/0309136`.
fn is_old_style(id: &str) -> bool {
    let Some((archive, number)) = id.split_once('/') else {
        return false;
    };
    let name = archive.split('.').next().unwrap_or_default();
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && number.len() == 7
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str, version: Option<u32>) -> Option<ArxivId> {
        Some(ArxivId {
            id: id.to_owned(),
            version,
        })
    }

    #[test]
    fn abs_and_pdf_urls_name_the_id_and_version() {
        assert_eq!(
            arxiv_id_in("https://arxiv.org/abs/2101.00001v2"),
            id("2101.00001", Some(2))
        );
        assert_eq!(
            arxiv_id_in("http://export.arxiv.org/pdf/2304.04761.pdf"),
            id("2304.04761", None)
        );
        assert_eq!(
            arxiv_id_in("https://arxiv.org/pdf/2304.04761v3?download=1"),
            id("2304.04761", Some(3))
        );
        assert_eq!(
            arxiv_id_in("http://arxiv.org/abs/hep-th/9901001v1"),
            id("hep-th/9901001", Some(1))
        );
        assert_eq!(
            arxiv_id_in("https://arxiv.org/abs/math.GT/0309136"),
            id("math.GT/0309136", None)
        );
    }

    #[test]
    fn arxiv_dois_name_the_id() {
        assert_eq!(
            arxiv_id_in("https://doi.org/10.48550/arxiv.2304.04761"),
            id("2304.04761", None)
        );
        assert_eq!(
            arxiv_id_in("10.48550/arXiv.2310.08532"),
            id("2310.08532", None)
        );
    }

    #[test]
    fn other_urls_and_junk_name_no_id() {
        assert_eq!(arxiv_id_in("https://doi.org/10.4081/gh.2014.294"), None);
        assert_eq!(arxiv_id_in("https://arxiv.org/abs/"), None);
        assert_eq!(arxiv_id_in("https://arxiv.org/abs/not-an-id"), None);
        assert_eq!(arxiv_id_in("https://arxiv.org/abs/21010.0001"), None);
        assert_eq!(parse_arxiv_id("v2"), None);
        assert_eq!(parse_arxiv_id("arXiv:2101.00001"), id("2101.00001", None));
    }
}
