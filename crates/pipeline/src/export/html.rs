//! `report.html`: one self-contained page (inline CSS, no scripts, a Content-Security-Policy that
//! forbids loading anything) that reads well on screen and in print. Each citation `[n]` links to the
//! exact quote it rests on in the "Evidence" list at the end, which shows the snippet's text, its
//! source and where in the snapshot it sits; references link their DOI, arXiv id and URL. Every piece
//! of text is escaped, and only `http(s)` links are ever emitted. Anchors are numbered (`quote-3`),
//! never ids, so the same report gives the same bytes.

use super::reference_label;
use crate::model::{Reference, Report, ReportSection};
use researchops_core::SnippetId;
use std::collections::HashMap;
use std::fmt::Write;

/// A cited snippet as the Evidence list shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    /// The snippet.
    pub snippet_id: SnippetId,
    /// Its source's reference number.
    pub reference: usize,
    /// The exact text.
    pub text: String,
    /// Byte offset into the snapshot's text.
    pub start_byte: i64,
    /// End offset (exclusive).
    pub end_byte: i64,
}

const STYLE: &str = "\
:root{color-scheme:light}\
body{font-family:Charter,'Bitstream Charter','Sitka Text',Cambria,Georgia,serif;font-size:1.0625rem;\
line-height:1.6;color:#1b1b1b;background:#fff;max-width:42rem;margin:2.5rem auto;padding:0 1.25rem}\
h1{font-size:1.9rem;line-height:1.25;margin:0 0 .5rem}\
h2{font-size:1.3rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
.lede{color:#555;font-style:italic}\
a{color:#0b57a4}\
sup.cite a{text-decoration:none;font-size:.8em;padding:0 .05em}\
ol.references li,ol.evidence li{margin:.5rem 0}\
.locator,.where{color:#666;font-size:.9em}\
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}\
blockquote{margin:.2rem 0;padding:.1rem .8rem;border-left:3px solid #c8c8c8;background:#fafafa}\
.retracted{color:#a40000;font-weight:bold}\
:target{background:#fff3b0;outline:2px solid #f0d000}\
@media print{body{margin:0;max-width:none;font-size:11pt;color:#000}a{color:#000;text-decoration:none}\
.references a[href]::after{content:\" <\" attr(href) \">\";font-size:.85em;word-break:break-all}\
h2{break-after:avoid}li,blockquote{break-inside:avoid}:target{background:none;outline:none}}";

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes what may not stand in a URL path (for DOIs and arXiv ids).
fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.trim().bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/:;()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `url` when it is an absolute `http(s)` URL without whitespace, else `None`.
fn web_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let web = lower.starts_with("https://") || lower.starts_with("http://");
    (web && !url.chars().any(|c| c.is_whitespace() || c.is_control())).then_some(url)
}

fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

fn reference_item(r: &Reference) -> String {
    let mut item = format!("<li id=\"ref-{}\">", r.number);
    if !r.authors.is_empty() {
        let _ = write!(item, "{}. ", escape(&r.authors.join(", ")));
    }
    if let Some(year) = r.year {
        let _ = write!(item, "({year}). ");
    }
    let _ = write!(
        item,
        "<cite>{}</cite>.",
        escape(reference_label(r).trim_end_matches('.'))
    );
    if let Some(venue) = r.venue.as_deref().filter(|v| !v.trim().is_empty()) {
        let _ = write!(item, " <i>{}</i>.", escape(venue.trim()));
    }
    if r.retracted {
        item.push_str(" <span class=\"retracted\">Retracted.</span>");
    }
    if let Some(doi) = r.doi.as_deref().filter(|d| !d.trim().is_empty()) {
        let href = format!("https://doi.org/{}", encode_path(doi));
        let _ = write!(item, " {}", link(&href, &format!("doi:{}", doi.trim())));
    }
    if let Some(arxiv) = r.arxiv_id.as_deref().filter(|a| !a.trim().is_empty()) {
        let href = format!("https://arxiv.org/abs/{}", encode_path(arxiv));
        let _ = write!(item, " {}", link(&href, &format!("arXiv:{}", arxiv.trim())));
    }
    if let Some(url) = r.url.as_deref() {
        match web_url(url) {
            Some(url) => {
                let _ = write!(item, " {}", link(url, url));
            }
            None if !url.trim().is_empty() => {
                let _ = write!(item, " {}", escape(url.trim()));
            }
            None => {}
        }
    }
    let _ = write!(
        item,
        " <span class=\"locator\"><code>{}</code></span></li>",
        escape(&r.locator)
    );
    item
}

/// The report as a standalone HTML page; `quotes` are the cited snippets in order of first citation.
pub fn render_html(report: &Report, quotes: &[Quote]) -> String {
    let title = escape(report.question.trim());
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n"
    );
    let claims: usize = report.sections.iter().map(|s| s.claims.len()).sum();
    let _ = writeln!(
        html,
        "<p class=\"lede\">An extractive report: each of its {claims} sentences is quoted from the cited \
         evidence ({} sources). Each citation links to the quote it rests on.</p>",
        report.references.len()
    );
    let anchor: HashMap<SnippetId, usize> = quotes
        .iter()
        .enumerate()
        .map(|(i, q)| (q.snippet_id, i + 1))
        .collect();
    if let Some(note) = super::gaps_note(report) {
        let _ = writeln!(
            html,
            "<p class=\"note\"><strong>Note:</strong> {}</p>",
            escape(&note)
        );
    }
    let key_findings = ReportSection {
        title: "Key findings".into(),
        text: report.key_findings.text.clone(),
        claims: report.key_findings.claims.clone(),
    };
    let shown = (!key_findings.claims.is_empty()).then_some(&key_findings);
    let mut cited_by: HashMap<usize, Vec<&str>> = HashMap::new();
    for section in shown.into_iter().chain(&report.sections) {
        // Key findings repeat claims of the sections; only the section's copy carries the claim's id
        // and is listed as citing the quote.
        let is_key = std::ptr::eq(section, &key_findings);
        let prefix = if is_key { "key-" } else { "claim-" };
        let _ = writeln!(html, "<section>\n<h2>{}</h2>\n<p>", escape(&section.title));
        for claim in &section.claims {
            let mut cites = String::new();
            for &number in &claim.refs {
                // The claim's first snippet from this reference.
                let quote = claim.snippet_ids.iter().find_map(|id| {
                    anchor
                        .get(id)
                        .filter(|&&n| quotes[n - 1].reference == number)
                });
                match quote {
                    Some(&n) => {
                        let _ = write!(cites, "<a href=\"#quote-{n}\">[{number}]</a>");
                    }
                    None => {
                        let _ = write!(cites, "<a href=\"#ref-{number}\">[{number}]</a>");
                    }
                }
            }
            for id in claim.snippet_ids.iter().filter(|_| !is_key) {
                if let Some(&n) = anchor.get(id) {
                    let list = cited_by.entry(n).or_default();
                    if !list.contains(&claim.claim_id.as_str()) {
                        list.push(&claim.claim_id);
                    }
                }
            }
            let _ = writeln!(
                html,
                "<span class=\"claim\" id=\"{prefix}{}\">{}</span><sup class=\"cite\">{cites}</sup>",
                escape(&claim.claim_id),
                escape(claim.text.trim())
            );
        }
        html.push_str("</p>\n</section>\n");
    }
    html.push_str("<section>\n<h2>References</h2>\n<ol class=\"references\">\n");
    for r in &report.references {
        html.push_str(&reference_item(r));
        html.push('\n');
    }
    html.push_str("</ol>\n</section>\n");
    if !quotes.is_empty() {
        html.push_str("<section>\n<h2>Evidence</h2>\n<ol class=\"evidence\">\n");
        let by_number: HashMap<usize, &Reference> =
            report.references.iter().map(|r| (r.number, r)).collect();
        for (i, quote) in quotes.iter().enumerate() {
            let n = i + 1;
            let source = by_number.get(&quote.reference);
            let label = source.map(|r| reference_label(r)).unwrap_or_default();
            let locator = source.map(|r| r.locator.as_str()).unwrap_or_default();
            let back: Vec<String> = cited_by
                .get(&n)
                .into_iter()
                .flatten()
                .map(|c| format!("<a href=\"#claim-{0}\">{0}</a>", escape(c)))
                .collect();
            let _ = writeln!(
                html,
                "<li id=\"quote-{n}\"><blockquote>{}</blockquote>\n<span class=\"where\">\
                 <a href=\"#ref-{r}\">[{r}]</a> {} — <code>{}</code>, bytes {}–{}{}</span></li>",
                escape(quote.text.trim()),
                escape(&label),
                escape(locator),
                quote.start_byte,
                quote.end_byte,
                if back.is_empty() {
                    String::new()
                } else {
                    format!("; cited by {}", back.join(", "))
                },
                r = quote.reference,
            );
        }
        html.push_str("</ol>\n</section>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyFindings, ReportClaim};
    use researchops_core::{SourceId, Verdict};

    fn report(title: &str, url: Option<&str>) -> (Report, Vec<Quote>) {
        let (a, b, c) = (SnippetId::new(), SnippetId::new(), SnippetId::new());
        let claim =
            |id: &str, text: &str, snippet_ids: Vec<SnippetId>, refs: Vec<usize>| ReportClaim {
                claim_id: id.into(),
                text: text.into(),
                snippet_ids,
                refs,
                verdict: Verdict::Supported,
                support: 1.0,
            };
        let reference = |number: usize, title: &str| Reference {
            number,
            source_id: SourceId::new(),
            title: title.into(),
            authors: vec!["Ann O'Neil".into()],
            year: Some(2020),
            venue: Some("Bone & Joint".into()),
            doi: Some("10.1000/x<y>".into()),
            arxiv_id: None,
            url: url.map(str::to_owned),
            retracted: false,
            locator: format!("local:{number}"),
        };
        let report = Report {
            question: "Does <b>vitamin D</b> help?".into(),
            finish_reason: "completed".into(),
            key_findings: KeyFindings::default(),
            removed_claims: Vec::new(),
            sections: vec![ReportSection {
                title: "Bone & density".into(),
                text: String::new(),
                claims: vec![
                    claim("c1", "D raised density <a lot>.", vec![a, b], vec![1, 2]),
                    claim("c2", "It did not prevent falls.", vec![c], vec![1]),
                ],
            }],
            references: vec![reference(1, title), reference(2, "")],
        };
        let quote = |snippet_id, reference, text: &str| Quote {
            snippet_id,
            reference,
            text: text.into(),
            start_byte: 10,
            end_byte: 40,
        };
        let quotes = vec![
            quote(a, 1, "Density rose by 3% & more."),
            quote(b, 2, "Second source's sentence."),
            quote(c, 1, "Falls did not change."),
        ];
        (report, quotes)
    }

    #[test]
    fn each_citation_links_to_the_exact_quote_it_rests_on() {
        let (report, quotes) = report("Vitamin D trial", Some("https://example.org/a?b=1&c=2"));
        let html = render_html(&report, &quotes);
        assert!(html.contains(
            "<span class=\"claim\" id=\"claim-c1\">D raised density &lt;a lot&gt;.</span>\
             <sup class=\"cite\"><a href=\"#quote-1\">[1]</a><a href=\"#quote-2\">[2]</a></sup>"
        ));
        assert!(
            html.contains("<a href=\"#quote-3\">[1]</a>"),
            "c2 cites its own quote"
        );
        assert!(html.contains(
            "<li id=\"quote-1\"><blockquote>Density rose by 3% &amp; more.</blockquote>\n\
             <span class=\"where\"><a href=\"#ref-1\">[1]</a> Vitamin D trial — <code>local:1</code>, \
             bytes 10–40; cited by <a href=\"#claim-c1\">c1</a></span></li>"
        ));
        assert!(
            html.contains("<a href=\"#ref-2\">[2]</a> local:2 — "),
            "an untitled source is named by its locator"
        );
        assert!(
            html.contains(
                "<a href=\"https://doi.org/10.1000/x%3Cy%3E\">doi:10.1000/x&lt;y&gt;</a>"
            )
        );
        assert!(html.contains("<a href=\"https://example.org/a?b=1&amp;c=2\">"));
        assert!(html.contains(
            "Ann O&#39;Neil. (2020). <cite>Vitamin D trial</cite>. <i>Bone &amp; Joint</i>."
        ));
    }

    #[test]
    fn a_script_in_a_title_renders_as_text_and_nothing_is_loaded_from_elsewhere() {
        let (report, quotes) = report("<script>alert('x')</script>", Some("javascript:alert(1)"));
        let html = render_html(&report, &quotes);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!html.contains("href=\"javascript"), "only http(s) links");
        assert!(html.contains("<title>Does &lt;b&gt;vitamin D&lt;/b&gt; help?</title>"));
        assert!(html.contains("default-src 'none'"));
        for external in ["src=", "<link", "@import", "url("] {
            assert!(!html.contains(external), "no {external}");
        }
    }

    #[test]
    fn a_citation_without_a_quote_falls_back_to_its_reference() {
        let (report, _) = report("T", None);
        let html = render_html(&report, &[]);
        assert!(html.contains("<a href=\"#ref-1\">[1]</a><a href=\"#ref-2\">[2]</a>"));
        assert!(!html.contains("<h2>Evidence</h2>"));
    }
}
