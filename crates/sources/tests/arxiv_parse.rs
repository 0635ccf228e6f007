//! The arXiv Atom parser against recorded feeds and hand-made edge cases.

use researchops_core::ConnectorError;
use researchops_sources::arxiv::{ARXIV_VENUE, ArxivFeed, parse_feed};

fn fixture(name: &str) -> ArxivFeed {
    let path = format!("{}/tests/fixtures/arxiv/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(path).expect("the fixture is readable");
    parse_feed(&body).expect("the recorded feed parses")
}

#[test]
fn the_recorded_feed_gives_both_entries_and_the_paging_numbers() {
    let feed = fixture("query_cs_ro_neural.xml");
    assert_eq!(feed.total_results, Some(5619));
    assert_eq!(feed.start_index, Some(0));
    assert_eq!(feed.items_per_page, Some(2));
    assert_eq!(feed.skipped, 0);
    let ids: Vec<&str> = feed
        .entries
        .iter()
        .map(|e| e.document.external_id.as_str())
        .collect();
    assert_eq!(ids, ["2510.14968v1", "2510.14827v1"]);
    assert!(feed.entries[0].document.score > feed.entries[1].document.score);
}

#[test]
fn an_entry_carries_every_field_with_whitespace_collapsed() {
    let feed = fixture("query_cs_ro_neural.xml");
    let entry = &feed.entries[0];
    let doc = &entry.document;
    assert_eq!(doc.arxiv_id.as_deref(), Some("2510.14968"));
    assert_eq!(entry.version, Some(1));
    let title = "RDD: Retrieval-Based Demonstration Decomposer for Planner Alignment in \
                 Long-Horizon Tasks";
    assert_eq!(doc.title, title);
    let summary_start = "To tackle long-horizon tasks, recent hierarchical vision-language-action \
                         (VLAs) frameworks employ";
    assert!(
        doc.text.starts_with(&format!("{title}\n\n{summary_start}")),
        "{:?}",
        doc.text
    );
    assert!(
        doc.text
            .ends_with("Code and more results are available at rdd-neurips.github.io.")
    );
    assert!(!doc.text.contains("  ") && doc.text.matches('\n').count() == 2);
    assert_eq!(
        doc.authors,
        ["Mingxuan Yan", "Yuping Wang", "Zechun Liu", "Jiachen Li"]
    );
    assert_eq!(doc.year, Some(2025));
    assert_eq!(doc.venue.as_deref(), Some(ARXIV_VENUE));
    assert_eq!(
        doc.url.as_deref(),
        Some("http://arxiv.org/abs/2510.14968v1")
    );
    assert_eq!(doc.doi, None);
    assert_eq!(
        entry.pdf_url.as_deref(),
        Some("http://arxiv.org/pdf/2510.14968v1")
    );
    assert_eq!(entry.primary_category.as_deref(), Some("cs.RO"));
    assert_eq!(
        entry.categories,
        ["cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"]
    );
    assert_eq!(entry.journal_ref, None);
    assert_eq!(
        entry.comment.as_deref(),
        Some(
            "39th Conference on Neural Information Processing Systems (NeurIPS 2025); \
             Project Website: rdd-neurips.github.io"
        )
    );
    assert_eq!(entry.published.as_deref(), Some("2025-10-16T17:59:37Z"));

    let second = &feed.entries[1];
    assert_eq!(
        second.document.title,
        "Neural Implicit Flow Fields for Spatio-Temporal Motion Mapping"
    );
    assert_eq!(second.document.authors.len(), 6);
    assert_eq!(second.document.authors[5], "Martin Magnusson");
    assert_eq!(second.categories, ["cs.RO"]);
    assert!(second.document.text.contains(
        "\n\nSafe and efficient robot operation in complex human environments can benefit from good models"
    ));
}

#[test]
fn the_empty_feed_gives_no_documents() {
    let feed = fixture("query_empty.xml");
    assert!(feed.entries.is_empty());
    assert_eq!(feed.total_results, Some(0));
    assert_eq!(feed.start_index, Some(0));
}

#[test]
fn doi_journal_ref_and_old_style_ids_are_read() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">30</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">10</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/hep-th/9901001v3</id>
    <published>1999-01-04T00:00:00Z</published>
    <title>Strings &amp; things</title>
    <summary>Short.</summary>
    <author><name>A. Author</name><arxiv:affiliation xmlns:arxiv="http://arxiv.org/schemas/atom">Somewhere</arxiv:affiliation></author>
    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">10.1103/PhysRevD.60.1</arxiv:doi>
    <arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">Phys. Rev.
      D 60 (1999) 1</arxiv:journal_ref>
    <link title="pdf" href="http://arxiv.org/pdf/hep-th/9901001v3" rel="related" type="application/pdf"/>
  </entry>
  <entry>
    <id>http://example.org/not-arxiv</id>
    <title>Skipped</title>
  </entry>
</feed>"#;
    let feed = parse_feed(xml).expect("valid feed");
    assert_eq!(feed.skipped, 1);
    let entry = &feed.entries[0];
    assert_eq!(entry.document.arxiv_id.as_deref(), Some("hep-th/9901001"));
    assert_eq!(entry.document.external_id, "hep-th/9901001v3");
    assert_eq!(entry.version, Some(3));
    assert_eq!(entry.document.title, "Strings & things");
    assert_eq!(entry.document.text, "Strings & things\n\nShort.");
    assert_eq!(entry.document.doi.as_deref(), Some("10.1103/physrevd.60.1"));
    assert_eq!(
        entry.journal_ref.as_deref(),
        Some("Phys. Rev. D 60 (1999) 1")
    );
    assert_eq!(entry.document.year, Some(1999));
    // No alternate link: the id URL is where it can be read.
    assert_eq!(
        entry.document.url.as_deref(),
        Some("http://arxiv.org/abs/hep-th/9901001v3")
    );
    // Rank 10 in the whole result list.
    assert_eq!(entry.document.score, 1.0 / 11.0);
    assert!(entry.categories.is_empty());
}

#[test]
fn bodies_that_are_not_an_atom_feed_are_malformed() {
    for body in [
        &b""[..],
        b"not xml at all",
        b"<feed><entry><id>http://arxiv.org/abs/2101.00001</id></feed>",
        b"<html><body>Rate exceeded</body></html>",
        b"\xff\xfe<feed/>",
    ] {
        match parse_feed(body) {
            Err(ConnectorError::Malformed(message)) => assert!(message.contains("arXiv feed")),
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn arxivs_error_feed_is_a_refused_query_with_its_reason() {
    // The shape arXiv documents for a query it cannot run (here: a bad id_list).
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345v</summary>
    <updated>2025-01-15T00:00:00-05:00</updated>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v" rel="alternate" type="text/html"/>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>"#;
    assert_eq!(
        parse_feed(xml),
        Err(ConnectorError::InvalidQuery(
            "arXiv refused the query: incorrect id format for 1234.12345v".to_owned()
        ))
    );
}
