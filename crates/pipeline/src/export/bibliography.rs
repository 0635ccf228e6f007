//! `references.bib` and `references.ris`: the report's cited references, one entry each in reference
//! order, with the same stable citation key in both (BibTeX key, RIS `ID`).
//!
//! BibTeX: `@article` when the venue is known (as `journal`), else `@misc`; an arXiv id becomes
//! `eprint` + `archivePrefix = {arXiv}`. Text fields escape LaTeX's special characters (braces become
//! `\textbraceleft{}`/`\textbraceright{}` so an unbalanced brace in a title cannot break the file);
//! non-ASCII is kept as UTF-8 (biber, or bibtex with `inputenc`). `doi`, `url` and `eprint` are
//! verbatim fields: they are not LaTeX-escaped, only braces, backslashes and whitespace are
//! percent-encoded.
//!
//! RIS: `TY  - JOUR` when the venue is known (as `T2`), else `GEN`; `AU` per author as `Last, First`;
//! `PY`, `DO`, `UR`, the arXiv id as `AN  - arXiv:…`; each record ends with `ER  - `. Lines end with
//! CRLF, as the RIS specification (and Zotero's export) has it; values are single lines.

use super::names::{Author, base_key, parse_author, unique_keys};
use crate::model::Reference;
use std::fmt::Write;

/// The prefix of DataCite DOIs that arXiv assigns (`10.48550/arXiv.2101.00001`).
const ARXIV_DOI_PREFIX: &str = "10.48550/arxiv.";

/// The arXiv id an arXiv-assigned DOI names.
pub(crate) fn arxiv_from_doi(doi: &str) -> Option<String> {
    let head = doi.get(..ARXIV_DOI_PREFIX.len())?;
    let id = &doi[ARXIV_DOI_PREFIX.len()..];
    (head.eq_ignore_ascii_case(ARXIV_DOI_PREFIX) && !id.is_empty()).then(|| id.to_owned())
}

/// One line of text: control characters and runs of whitespace become one space.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes a text field for BibTeX/LaTeX.
pub(crate) fn escape_bibtex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' => out.push_str("\\textbraceleft{}"),
            '}' => out.push_str("\\textbraceright{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '%' | '&' | '$' | '#' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A verbatim field (`doi`, `url`, `eprint`): braces, backslashes and whitespace percent-encoded.
fn verbatim(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            '\\' => out.push_str("%5C"),
            c if c.is_whitespace() || c.is_control() => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

fn authors(reference: &Reference) -> Vec<Author> {
    reference
        .authors
        .iter()
        .filter_map(|a| parse_author(a))
        .collect()
}

/// The citation key of each reference, in order (the same in both files).
pub(crate) fn citation_keys(references: &[Reference]) -> Vec<String> {
    let bases: Vec<String> = references
        .iter()
        .map(|r| base_key(authors(r).first(), r.year, &r.title))
        .collect();
    unique_keys(&bases)
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn bibtex_name(author: &Author) -> String {
    match author {
        Author::Literal(name) => format!("{{{}}}", escape_bibtex(name)),
        Author::Person {
            first,
            last,
            suffix,
        } => {
            let mut name = escape_bibtex(last);
            if !suffix.is_empty() {
                let _ = write!(name, ", {}", escape_bibtex(suffix));
            }
            if !first.is_empty() {
                let _ = write!(name, ", {}", escape_bibtex(first));
            }
            name
        }
    }
}

/// The references as a BibTeX file.
pub fn render_bibtex(references: &[Reference]) -> String {
    let mut out = format!(
        "% {} references cited by the report, in the order it cites them.\n",
        references.len()
    );
    for (reference, key) in references.iter().zip(citation_keys(references)) {
        let venue = non_empty(reference.venue.as_ref());
        let mut fields: Vec<(&str, String)> = Vec::new();
        let names: Vec<String> = authors(reference).iter().map(bibtex_name).collect();
        if !names.is_empty() {
            fields.push(("author", names.join(" and ")));
        }
        if !reference.title.trim().is_empty() {
            fields.push(("title", escape_bibtex(&reference.title)));
        }
        if let Some(venue) = venue {
            fields.push(("journal", escape_bibtex(venue)));
        }
        if let Some(year) = reference.year {
            fields.push(("year", year.to_string()));
        }
        if let Some(doi) = non_empty(reference.doi.as_ref()) {
            fields.push(("doi", verbatim(doi)));
        }
        if let Some(arxiv) = non_empty(reference.arxiv_id.as_ref()) {
            fields.push(("eprint", verbatim(arxiv)));
            fields.push(("archivePrefix", "arXiv".into()));
        }
        if let Some(url) = non_empty(reference.url.as_ref()) {
            fields.push(("url", verbatim(url)));
        }
        if reference.retracted {
            fields.push(("note", "Retracted".into()));
        }
        let kind = if venue.is_some() { "article" } else { "misc" };
        let _ = write!(out, "\n@{kind}{{{key}");
        for (name, value) in fields {
            let _ = write!(out, ",\n  {name} = {{{value}}}");
        }
        out.push_str("\n}\n");
    }
    out
}

fn ris_name(author: &Author) -> String {
    match author {
        Author::Literal(name) => name.clone(),
        Author::Person {
            first,
            last,
            suffix,
        } => [last, first, suffix]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The references as an RIS file (CRLF line ends).
pub fn render_ris(references: &[Reference]) -> String {
    let mut out = String::new();
    for (reference, key) in references.iter().zip(citation_keys(references)) {
        let venue = non_empty(reference.venue.as_ref());
        let mut line = |tag: &str, value: &str| {
            let value = one_line(value);
            if !value.is_empty() {
                let _ = write!(out, "{tag}  - {value}\r\n");
            }
        };
        line("TY", if venue.is_some() { "JOUR" } else { "GEN" });
        line("ID", &key);
        for author in authors(reference) {
            line("AU", &ris_name(&author));
        }
        line("TI", &reference.title);
        if let Some(venue) = venue {
            line("T2", venue);
        }
        if let Some(year) = reference.year {
            line("PY", &year.to_string());
        }
        if let Some(doi) = non_empty(reference.doi.as_ref()) {
            line("DO", doi);
        }
        if let Some(arxiv) = non_empty(reference.arxiv_id.as_ref()) {
            line("AN", &format!("arXiv:{arxiv}"));
        }
        if let Some(url) = non_empty(reference.url.as_ref()) {
            line("UR", url);
        }
        if reference.retracted {
            line("N1", "Retracted");
        }
        out.push_str("ER  - \r\n\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use researchops_core::SourceId;

    fn reference(number: usize, title: &str, authors: &[&str], year: Option<i32>) -> Reference {
        Reference {
            number,
            source_id: SourceId::new(),
            title: title.into(),
            authors: authors.iter().map(|a| a.to_string()).collect(),
            year,
            venue: None,
            doi: None,
            arxiv_id: None,
            url: None,
            retracted: false,
            locator: format!("local:{number}"),
        }
    }

    /// Whether `{` and `}` balance in `text` the way BibTeX counts them (backslashes do not escape).
    fn braces_balance(text: &str) -> bool {
        let mut depth = 0i32;
        for c in text.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0
    }

    #[test]
    fn latex_specials_are_escaped_and_unicode_is_kept() {
        assert_eq!(
            escape_bibtex("50% of R&D costs $5 #1 a_b ~x^2 \\ {set}"),
            "50\\% of R\\&D costs \\$5 \\#1 a\\_b \\textasciitilde{}x\\textasciicircum{}2 \
             \\textbackslash{} \\textbraceleft{}set\\textbraceright{}"
        );
        assert_eq!(
            escape_bibtex("Müller–Ølsen:\n  β-cells"),
            "Müller–Ølsen: β-cells"
        );
        assert!(braces_balance(&escape_bibtex("an } unbalanced { title }")));
    }

    #[test]
    fn a_full_reference_becomes_an_article_with_every_known_field() {
        let mut r = reference(
            1,
            "Vitamin D & bone: {a} 100% review",
            &[
                "Jürgen Müller",
                "Ludwig van Beethoven",
                "World Health Organization",
            ],
            Some(2020),
        );
        r.venue = Some("J. Bone & Mineral Res.".into());
        r.doi = Some("10.1000/abc_{1}".into());
        r.arxiv_id = Some("2101.00001".into());
        r.url = Some("https://example.org/a b?x=1&y=%20".into());
        r.retracted = true;
        let bib = render_bibtex(&[r]);
        assert!(braces_balance(&bib), "{bib}");
        assert_eq!(
            bib,
            "% 1 references cited by the report, in the order it cites them.\n\
             \n@article{muller2020vitamin,\n\
             \x20 author = {Müller, Jürgen and van Beethoven, Ludwig and {World Health Organization}},\n\
             \x20 title = {Vitamin D \\& bone: \\textbraceleft{}a\\textbraceright{} 100\\% review},\n\
             \x20 journal = {J. Bone \\& Mineral Res.},\n\
             \x20 year = {2020},\n\
             \x20 doi = {10.1000/abc_%7B1%7D},\n\
             \x20 eprint = {2101.00001},\n\
             \x20 archivePrefix = {arXiv},\n\
             \x20 url = {https://example.org/a%20b?x=1&y=%20},\n\
             \x20 note = {Retracted}\n}\n"
        );
    }

    #[test]
    fn missing_authors_year_and_venue_give_a_misc_entry_with_a_fallback_key() {
        let bib = render_bibtex(&[reference(1, "", &[" "], None)]);
        assert_eq!(
            bib,
            "% 1 references cited by the report, in the order it cites them.\n\n@misc{anonnduntitled\n}\n"
        );
        let ris = render_ris(&[reference(1, "", &[], None)]);
        assert_eq!(ris, "TY  - GEN\r\nID  - anonnduntitled\r\nER  - \r\n\r\n");
    }

    #[test]
    fn duplicate_keys_get_suffixes_and_both_files_use_the_same_keys_in_reference_order() {
        let refs = vec![
            reference(1, "Vitamin D in winter", &["John Smith"], Some(2020)),
            reference(2, "Unrelated", &["Ann Jones"], Some(2019)),
            reference(3, "Vitamin D in summer", &["Smith, Jane"], Some(2020)),
        ];
        assert_eq!(
            citation_keys(&refs),
            [
                "smith2020vitamina",
                "jones2019unrelated",
                "smith2020vitaminb"
            ]
        );
        let bib = render_bibtex(&refs);
        let ris = render_ris(&refs);
        let bib_keys: Vec<&str> = bib
            .lines()
            .filter_map(|l| l.strip_prefix("@misc{"))
            .map(|l| l.trim_end_matches(','))
            .collect();
        let ris_keys: Vec<&str> = ris
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("ID  - "))
            .collect();
        assert_eq!(bib_keys, ris_keys);
        assert_eq!(bib_keys, citation_keys(&refs));
    }

    #[test]
    fn ris_records_have_one_line_values_and_crlf_line_ends() {
        let mut r = reference(
            1,
            "A title\nwith a line break\r\nER  - injected",
            &["Martin Luther King Jr.", "Zoë Ødegård"],
            Some(1963),
        );
        r.venue = Some("Letters & Essays".into());
        r.doi = Some("10.48550/arXiv.2101.00001".into());
        r.arxiv_id = arxiv_from_doi("10.48550/arXiv.2101.00001");
        r.url = Some("https://arxiv.org/abs/2101.00001".into());
        let ris = render_ris(&[r]);
        assert_eq!(
            ris,
            "TY  - JOUR\r\nID  - king1963title\r\nAU  - King, Martin Luther, Jr.\r\nAU  - Ødegård, Zoë\r\n\
             TI  - A title with a line break ER - injected\r\nT2  - Letters & Essays\r\nPY  - 1963\r\n\
             DO  - 10.48550/arXiv.2101.00001\r\nAN  - arXiv:2101.00001\r\n\
             UR  - https://arxiv.org/abs/2101.00001\r\nER  - \r\n\r\n"
        );
        assert!(!ris.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn arxiv_ids_are_read_from_arxiv_dois_only() {
        assert_eq!(
            arxiv_from_doi("10.48550/ARXIV.2101.00001").as_deref(),
            Some("2101.00001")
        );
        assert_eq!(arxiv_from_doi("10.1000/arxiv.1"), None);
        assert_eq!(arxiv_from_doi("10.48550/arXiv."), None);
        assert_eq!(arxiv_from_doi("10.4"), None);
    }
}
