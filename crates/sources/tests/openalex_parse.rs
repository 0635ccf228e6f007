//! The OpenAlex page parser against a recorded `/works?search=` response and hand-made edge cases.

use researchops_core::ConnectorError;
use researchops_sources::openalex::{
    OpenAlexPage, OpenAlexWork, normalize_doi, parse_works_page, short_openalex_id,
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/openalex/works_search_public_health.json"
);

fn fixture_page() -> OpenAlexPage {
    let body = std::fs::read(FIXTURE).expect("the fixture is readable");
    parse_works_page(&body).expect("the recorded page parses")
}

fn work<'a>(page: &'a OpenAlexPage, id: &str) -> &'a OpenAlexWork {
    page.works
        .iter()
        .find(|w| w.document.external_id == id)
        .unwrap_or_else(|| panic!("{id} is in the page"))
}

#[test]
fn the_recorded_page_gives_every_work_in_order_and_the_count() {
    let page = fixture_page();
    let ids: Vec<&str> = page
        .works
        .iter()
        .map(|w| w.document.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "W2068311567",
            "W2489662619",
            "W3197265335",
            "W4365441044",
            "W3096165595"
        ]
    );
    assert_eq!(page.count, Some(49));
    assert_eq!(page.next_cursor, None);
    assert!(page.skipped.is_empty());
}

#[test]
fn a_work_with_an_abstract_carries_all_its_metadata() {
    let page = fixture_page();
    let w = work(&page, "W2068311567");
    let doc = &w.document;
    let title = "Redefining climate regions in the United States of America using satellite remote \
                 sensing and machine learning for public health applications";
    assert_eq!(doc.title, title);
    assert_eq!(
        doc.authors,
        ["Alexander Liss", "Magaly Koch", "Elena N. Naumova"]
    );
    assert_eq!(doc.year, Some(2014));
    assert_eq!(doc.venue.as_deref(), Some("Geospatial Health"));
    assert_eq!(doc.doi.as_deref(), Some("10.4081/gh.2014.294"));
    assert_eq!(doc.arxiv_id, None);
    assert!(!doc.retracted);
    assert_eq!(doc.score, 69.18403);
    assert_eq!(w.cited_by_count, Some(8));
    let pdf = "https://www.geospatialhealth.net/index.php/gh/article/download/294/291";
    assert_eq!(w.pdf_url.as_deref(), Some(pdf));
    assert_eq!(w.oa_url.as_deref(), Some(pdf));
    assert_eq!(
        w.landing_url.as_deref(),
        Some("https://doi.org/10.4081/gh.2014.294")
    );
    assert_eq!(
        doc.url.as_deref(),
        Some("https://doi.org/10.4081/gh.2014.294")
    );
    assert!(w.abstract_text.starts_with(
        "Existing climate classification has not been designed for an efficient handling of \
         public health scenarios. This work aims to design"
    ));
    assert!(
        w.abstract_text
            .ends_with("forecasting and mitigating these effects has to be further explored.")
    );
    // 240 positions 0..=239, none missing, none repeated: 240 words.
    assert_eq!(w.abstract_text.split(' ').count(), 240);
    assert_eq!(doc.text, format!("{title}\n\n{}", w.abstract_text));
}

#[test]
fn a_work_without_an_abstract_or_doi_is_its_title_alone() {
    let page = fixture_page();
    let w = work(&page, "W2489662619");
    assert_eq!(
        w.document.title,
        "BigData and Machine Learning for Public Health"
    );
    assert_eq!(w.document.text, w.document.title);
    assert_eq!(w.abstract_text, "");
    assert_eq!(w.document.doi, None);
    assert_eq!(w.document.authors, ["David J. Lary"]);
    assert_eq!(
        w.document.venue.as_deref(),
        Some("142nd APHA Annual Meeting and Exposition (November 15 - November 19, 2014)")
    );
    assert_eq!((w.pdf_url.as_ref(), w.oa_url.as_ref()), (None, None));
    assert_eq!(w.cited_by_count, Some(0));
    // No open-access location and no DOI: the primary landing page.
    assert_eq!(
        w.document.url.as_deref(),
        Some("https://apha.confex.com/apha/142am/webprogram/Paper313152.html")
    );

    let no_source = work(&page, "W3197265335");
    assert_eq!(no_source.document.venue, None);
    assert_eq!(no_source.document.year, Some(2021));
    assert_eq!(no_source.document.authors.len(), 5);
    assert_eq!(no_source.document.authors[0], "Md. Asadullah");
}

#[test]
fn an_arxiv_preprint_names_its_arxiv_id() {
    let page = fixture_page();
    let w = work(&page, "W4365441044");
    assert_eq!(w.document.arxiv_id.as_deref(), Some("2304.04761"));
    assert_eq!(w.document.doi.as_deref(), Some("10.48550/arxiv.2304.04761"));
    assert_eq!(
        w.document.venue.as_deref(),
        Some("arXiv (Cornell University)")
    );
    assert_eq!(w.document.year, Some(2023));
    assert_eq!(w.document.authors, ["Shaina Raza"]);
    assert_eq!(
        w.landing_url.as_deref(),
        Some("https://arxiv.org/abs/2304.04761")
    );
    assert_eq!(w.pdf_url, None);
    assert!(w.abstract_text.starts_with(
        "Machine learning (ML) has become a critical tool in public health, offering the potential"
    ));
}

#[test]
fn an_open_access_journal_article_has_its_pdf_and_citations() {
    let page = fixture_page();
    let w = work(&page, "W3096165595");
    assert_eq!(w.cited_by_count, Some(30));
    assert_eq!(w.document.venue.as_deref(), Some("PLoS medicine"));
    assert_eq!(
        w.document.doi.as_deref(),
        Some("10.1371/journal.pmed.1003373")
    );
    assert_eq!(
        w.pdf_url.as_deref(),
        Some(
            "https://journals.plos.org/plosmedicine/article/file?id=10.1371/journal.pmed.1003373&type=printable"
        )
    );
    assert_eq!(
        w.abstract_text,
        "Muin Khoury and co-authors discuss anticipated contributions of genomics and other forms \
         of large-scale data in public health."
    );
}

#[test]
fn cursor_paging_retraction_and_an_arxiv_location_are_read() {
    let body = br#"{
      "meta": {"count": 1234, "next_cursor": "IlsxMDAuMF0i", "per_page": 1},
      "results": [{
        "id": "https://openalex.org/W42",
        "doi": "HTTPS://DOI.ORG/10.1000/ABC.Def",
        "title": "  A   retracted\n paper ",
        "is_retracted": true,
        "locations": [{"landing_page_url": "https://example.org/x", "pdf_url": "http://arxiv.org/pdf/2101.00001v2"}],
        "authorships": [{"author": null, "raw_author_name": "Raw Name"}],
        "abstract_inverted_index": null
      }]
    }"#;
    let page = parse_works_page(body).expect("valid page");
    assert_eq!(page.count, Some(1234));
    assert_eq!(page.next_cursor.as_deref(), Some("IlsxMDAuMF0i"));
    let doc = &page.works[0].document;
    assert_eq!(doc.external_id, "W42");
    assert_eq!(doc.title, "A retracted paper");
    assert_eq!(doc.text, "A retracted paper");
    assert!(doc.retracted);
    assert_eq!(doc.doi.as_deref(), Some("10.1000/abc.def"));
    assert_eq!(doc.arxiv_id.as_deref(), Some("2101.00001"));
    assert_eq!(doc.authors, ["Raw Name"]);
    assert_eq!(doc.url.as_deref(), Some("https://doi.org/10.1000/abc.def"));
    assert_eq!(doc.score, 0.0);
}

#[test]
fn one_unreadable_work_is_skipped_and_the_others_kept() {
    let body = br#"{"meta": {"count": 4}, "results": [
      {"id": "https://openalex.org/W1", "title": "Good one"},
      {"id": "https://openalex.org/W2", "title": 17},
      {"title": "No id"},
      {"id": "https://openalex.org/W3", "title": null, "abstract_inverted_index": {}},
      {"id": "https://openalex.org/W4", "title": null, "abstract_inverted_index": {"only": [0], "abstract": [1]}}
    ]}"#;
    let page = parse_works_page(body).expect("the page itself is fine");
    let ids: Vec<&str> = page
        .works
        .iter()
        .map(|w| w.document.external_id.as_str())
        .collect();
    assert_eq!(ids, ["W1", "W4"]);
    assert_eq!(page.works[1].document.text, "only abstract");
    let skipped: Vec<usize> = page.skipped.iter().map(|s| s.index).collect();
    assert_eq!(skipped, [1, 2, 3]);
    assert_eq!(
        page.skipped[0].id.as_deref(),
        Some("https://openalex.org/W2")
    );
    assert!(
        page.skipped[0].reason.contains("invalid type"),
        "{:?}",
        page.skipped[0]
    );
    assert_eq!(page.skipped[2].reason, "neither a title nor an abstract");
}

#[test]
fn bodies_that_are_not_a_works_page_are_malformed() {
    for (body, needle) in [
        (&b"not json"[..], "not a JSON object"),
        (b"{\"results\": [", "not a JSON object"),
        (b"[]", "not a JSON object"),
        (b"{\"meta\": {\"count\": 0}}", "no `results` array"),
        (b"{\"results\": null}", "no `results` array"),
        (b"{\"results\": {}}", "not a JSON object"),
        (b"\xff\xfe", "not a JSON object"),
    ] {
        match parse_works_page(body) {
            Err(ConnectorError::Malformed(message)) => {
                assert!(message.contains(needle), "{message:?} for {body:?}")
            }
            other => panic!("{body:?} gave {other:?}"),
        }
    }
}

#[test]
fn an_empty_results_array_is_an_empty_page() {
    let page = parse_works_page(br#"{"meta":{"count":0},"results":[]}"#).expect("valid");
    assert!(page.works.is_empty());
    assert_eq!(page.count, Some(0));
}

#[test]
fn dois_and_ids_are_normalised() {
    assert_eq!(
        normalize_doi("https://doi.org/10.1016/S2589-7500(22)00097-8").as_deref(),
        Some("10.1016/s2589-7500(22)00097-8")
    );
    assert_eq!(normalize_doi("doi: 10.1/X").as_deref(), Some("10.1/x"));
    assert_eq!(
        normalize_doi("http://dx.doi.org/10.1/x").as_deref(),
        Some("10.1/x")
    );
    assert_eq!(normalize_doi("https://example.org/10.1/x"), None);
    assert_eq!(normalize_doi(""), None);
    assert_eq!(
        short_openalex_id("https://openalex.org/W2068311567").as_deref(),
        Some("W2068311567")
    );
    assert_eq!(short_openalex_id("W1").as_deref(), Some("W1"));
    assert_eq!(short_openalex_id("https://openalex.org/A5023888391"), None);
    assert_eq!(short_openalex_id("https://openalex.org/W"), None);
}
