//! HTTP conditional and partial requests for artifact downloads: `Range: bytes=…` parsing (RFC 9110
//! §14) and `If-None-Match` / `If-Range` matching against an ETag. Pure functions, no I/O.

use std::ops::Range;

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: send everything with 200. Invalid syntax, other units and multiple ranges end
    /// up here, as RFC 9110 allows.
    Full,
    /// One satisfiable range: send it with 206.
    Partial(Range<u64>),
    /// A well-formed range that lies outside the representation: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a representation of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Full;
    };
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());

    match (first.is_empty(), last.is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => {
            let Some(n) = digits(last).then(|| last.parse::<u64>().ok()).flatten() else {
                return RangeRequest::Full;
            };
            if n == 0 || len == 0 {
                return RangeRequest::Unsatisfiable;
            }
            RangeRequest::Partial(len.saturating_sub(n)..len)
        }
        // `a-` or `a-b`.
        (false, _) => {
            let Some(start) = digits(first).then(|| first.parse::<u64>().ok()).flatten() else {
                return RangeRequest::Full;
            };
            let end_inclusive = if last.is_empty() {
                None
            } else {
                match digits(last).then(|| last.parse::<u64>().ok()).flatten() {
                    Some(end) if end >= start => Some(end),
                    _ => return RangeRequest::Full,
                }
            };
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end = end_inclusive.map_or(len, |e| e.saturating_add(1).min(len));
            RangeRequest::Partial(start..end)
        }
        (true, true) => RangeRequest::Full,
    }
}

/// The `Content-Range` value of a partial response.
pub fn content_range(range: &Range<u64>, len: u64) -> String {
    format!(
        "bytes {}-{}/{len}",
        range.start,
        range.end.saturating_sub(1)
    )
}

/// The `Content-Range` value of a 416.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, `*` matches anything).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Whether an `If-Range` value still allows a partial response (strong comparison; dates never do,
/// since artifacts carry no `Last-Modified`).
pub fn if_range_allows(if_range: Option<&str>, etag: &str) -> bool {
    if_range.is_none_or(|value| value.trim() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_served_partially() {
        assert_eq!(
            parse_range(Some("bytes=0-9"), 100),
            RangeRequest::Partial(0..10)
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            RangeRequest::Partial(90..100)
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            RangeRequest::Partial(90..100)
        );
        assert_eq!(
            parse_range(Some("bytes=-500"), 100),
            RangeRequest::Partial(0..100)
        );
        assert_eq!(
            parse_range(Some("bytes=50-5000"), 100),
            RangeRequest::Partial(50..100)
        );
        assert_eq!(
            parse_range(Some("Bytes = 5-5"), 100),
            RangeRequest::Partial(5..6)
        );
    }

    #[test]
    fn ranges_outside_the_file_are_unsatisfiable() {
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=100-200"), 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-5"), 0),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn absent_invalid_and_multiple_ranges_mean_the_whole_file() {
        for header in [
            None,
            Some("bytes=5-1"),
            Some("bytes=a-b"),
            Some("bytes=-"),
            Some("items=0-1"),
            Some("bytes=0-1,5-6"),
            Some("bytes 0-1"),
            Some("bytes=+1-2"),
            Some("bytes=99999999999999999999999-"),
        ] {
            assert_eq!(parse_range(header, 100), RangeRequest::Full, "{header:?}");
        }
    }

    #[test]
    fn content_range_values_follow_the_rfc() {
        assert_eq!(content_range(&(0..10), 100), "bytes 0-9/100");
        assert_eq!(unsatisfied_range(100), "bytes */100");
    }

    #[test]
    fn etags_match_weakly_for_if_none_match_and_strongly_for_if_range() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("\"x\", W/\"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abd\"", etag));
        assert!(if_range_allows(None, etag));
        assert!(if_range_allows(Some("\"abc\""), etag));
        assert!(!if_range_allows(Some("W/\"abc\""), etag));
        assert!(!if_range_allows(
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            etag
        ));
    }
}
