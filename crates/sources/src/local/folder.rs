//! Folder corpora: every `.md`, `.markdown` and `.txt` file below a directory is a document.
//!
//! Files are visited in sorted relative-path order; hidden files and directories (leading `.`)
//! and symlinked directories are skipped. The id is the relative path with `/`; the title is
//! the first level-1 Markdown heading (`# Title`), or else the first non-empty line, and that
//! line is removed from the text. Files with no text at all are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{CorpusDocument, line_of, strip_bom};
use crate::CorpusError;

const EXTENSIONS: &[&str] = &["md", "markdown", "txt"];

/// Reads the folder, feeding relative paths and file bytes to `hasher` in order.
pub(super) fn load(root: &Path, hasher: &mut Sha256) -> Result<Vec<CorpusDocument>, CorpusError> {
    let mut files = Vec::new();
    collect(root, "", &mut files)?;
    files.sort();
    let mut documents = Vec::with_capacity(files.len());
    for (relative, absolute) in files {
        let bytes = fs::read(&absolute).map_err(|source| CorpusError::Unreadable {
            path: absolute.clone(),
            source,
        })?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        let content = std::str::from_utf8(strip_bom(&bytes)).map_err(|e| CorpusError::NotUtf8 {
            path: absolute.clone(),
            line: line_of(strip_bom(&bytes), e.valid_up_to()),
        })?;
        match split_title(content) {
            Some((title, text)) => documents.push(CorpusDocument {
                id: relative.clone(),
                title,
                text,
                sentences: None,
                path: Some(relative),
            }),
            None => tracing::warn!(file = %absolute.display(), "skipping empty corpus file"),
        }
    }
    Ok(documents)
}

/// Appends `(relative path, absolute path)` of matching files below `dir`.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), CorpusError> {
    let unreadable = |source| CorpusError::Unreadable {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(file = %entry.path().display(), "skipping file with a non-UTF-8 name");
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let relative = format!("{prefix}{name}");
        let file_type = entry.file_type().map_err(unreadable)?;
        let is_file = if file_type.is_symlink() {
            fs::metadata(entry.path()).is_ok_and(|m| m.is_file())
        } else {
            file_type.is_file()
        };
        if file_type.is_dir() {
            collect(&entry.path(), &format!("{relative}/"), out)?;
        } else if is_file && has_corpus_extension(name) {
            out.push((relative, entry.path()));
        }
    }
    Ok(())
}

fn has_corpus_extension(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
    })
}

/// `(title, text)` of a file, or `None` when it has no non-blank line.
fn split_title(content: &str) -> Option<(String, String)> {
    let mut first_non_empty = None;
    let mut heading = None;
    let mut in_fence = false;
    let mut offset = 0;
    for raw in content.split_inclusive('\n') {
        let range = offset..offset + raw.len();
        offset += raw.len();
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if line.is_empty() {
            continue;
        }
        first_non_empty.get_or_insert(range.clone());
        if !in_fence && (line == "#" || line.starts_with("# ")) {
            heading = Some(range);
            break;
        }
    }
    let title_range = heading.or(first_non_empty)?;
    let title = content[title_range.clone()]
        .trim()
        .trim_matches('#')
        .trim()
        .to_owned();
    let text = format!(
        "{}{}",
        &content[..title_range.start],
        &content[title_range.end..]
    );
    Some((title, text.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_level_one_heading_is_the_title() {
        let (title, text) =
            split_title("Intro line.\n\n# Real Title #\nBody text.\n## Section\n").expect("title");
        assert_eq!(title, "Real Title");
        assert_eq!(text, "Intro line.\n\nBody text.\n## Section");
    }

    #[test]
    fn without_a_heading_the_first_non_empty_line_is_the_title() {
        let (title, text) = split_title("\n\n  Plain title  \r\nFirst para.\n").expect("title");
        assert_eq!(title, "Plain title");
        assert_eq!(text, "First para.");
        let (title, _) = split_title("## Sub heading\ntext").expect("title");
        assert_eq!(title, "Sub heading");
    }

    #[test]
    fn headings_inside_code_fences_are_ignored_and_blank_files_skipped() {
        let (title, _) = split_title("Notes\n```\n# comment\n```\n").expect("title");
        assert_eq!(title, "Notes");
        assert!(split_title(" \n\t\n").is_none());
    }

    #[test]
    fn only_markdown_and_text_extensions_count() {
        assert!(has_corpus_extension("a.md") && has_corpus_extension("b.TXT"));
        assert!(has_corpus_extension("c.markdown"));
        assert!(!has_corpus_extension("d.pdf") && !has_corpus_extension("md"));
    }
}
