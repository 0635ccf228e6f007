//! Sentence segmentation: byte ranges of sentences in a text, for extractive citation.
//!
//! Two layers. First the text is cut into *blocks* at hard breaks: blank lines, Markdown
//! headings, list items, block quotes, table rows, fenced code lines and line breaks that do
//! not look like a soft wrap. Then each block is segmented with Unicode sentence bounds
//! (UAX #29) and segments are merged back where UAX #29 over-splits scientific prose:
//! abbreviations (e.g., et al., Fig., vs.), initials, breaks inside parentheses, breaks
//! that do not follow terminal punctuation, and fragments without letters.
//!
//! It owns only ranges: no allocation of sentence strings, no knowledge of documents.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Abbreviations after which a sentence never ends (compared lowercased).
#[rustfmt::skip]
const ABBREVIATIONS: &[&str] = &[
    "al.", "approx.", "ca.", "cf.", "ch.", "dept.", "dr.", "drs.", "e.g.", "eg.", "eq.", "eqs.",
    "fig.", "figs.", "i.e.", "ie.", "jr.", "mr.", "mrs.", "ms.", "mt.", "pp.", "prof.", "ref.",
    "refs.", "resp.", "sec.", "sr.", "st.", "suppl.", "tab.", "univ.", "v.", "viz.", "vol.", "vs.",
];

/// Abbreviations that only continue the sentence when a number follows ("No. 5").
const NUMERIC_ABBREVIATIONS: &[&str] = &["no.", "nos.", "p.", "pp."];

/// Lines at least this long that end without punctuation are treated as hard-wrapped prose.
const SOFT_WRAP_MIN_CHARS: usize = 60;

/// Parenthesised spans longer than this are not trusted to suppress sentence breaks.
const MAX_PAREN_SPAN: usize = 600;

/// Byte ranges of the sentences of `text`, in order, trimmed of surrounding whitespace and
/// never empty. Fragments without any letter or digit (rules, bullets) are dropped.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for block in blocks(text) {
        split_block(text, block, &mut out);
    }
    out
}

/// Locates pre-split `sentences` in `text`, in order (the text is usually the sentences
/// joined by spaces). A sentence not found verbatim after the previous match is skipped. When
/// fewer than half of the non-empty sentences are found, the given split is not trusted and
/// [`split_sentences`] is used instead.
pub fn align_sentences(text: &str, sentences: &[String]) -> Vec<Range<usize>> {
    let mut cursor = 0;
    let mut wanted = 0usize;
    let mut found = Vec::with_capacity(sentences.len());
    for sentence in sentences {
        let needle = sentence.trim();
        if needle.is_empty() {
            continue;
        }
        wanted += 1;
        if let Some(pos) = text[cursor..].find(needle) {
            let start = cursor + pos;
            found.push(start..start + needle.len());
            cursor = start + needle.len();
        }
    }
    if wanted == 0 || found.len() * 2 < wanted {
        return split_sentences(text);
    }
    found
}

/// What a line is, for block detection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LineKind {
    Blank,
    Fence,
    /// Thematic break or setext underline: no content.
    Rule,
    /// A heading, table row or similar: always a block of its own.
    Standalone,
    /// A list item or block quote: starts a new block that soft-wrapped lines may continue.
    Opener,
    Text,
}

/// Classifies a line and returns the byte offset (within the line) where its content starts.
fn classify(line: &str) -> (LineKind, usize) {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let trimmed_end = trimmed.trim_end();
    if trimmed_end.is_empty() {
        return (LineKind::Blank, 0);
    }
    if trimmed_end.starts_with("```") || trimmed_end.starts_with("~~~") {
        return (LineKind::Fence, 0);
    }
    let rule_chars = trimmed_end.chars().filter(|c| !c.is_whitespace());
    if trimmed_end.chars().count() >= 3
        && rule_chars
            .clone()
            .all(|c| matches!(c, '-' | '=' | '*' | '_'))
        && rule_chars
            .clone()
            .collect::<std::collections::HashSet<_>>()
            .len()
            == 1
    {
        return (LineKind::Rule, 0);
    }
    let hashes = trimmed.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes)
        && trimmed[hashes..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    {
        return (LineKind::Standalone, indent + hashes);
    }
    if trimmed.starts_with('|') {
        return (LineKind::Standalone, indent);
    }
    if trimmed.starts_with('>') {
        return (LineKind::Opener, indent + 1);
    }
    if let Some(marker) = list_marker_len(trimmed) {
        return (LineKind::Opener, indent + marker);
    }
    (LineKind::Text, indent)
}

/// Length of a list marker ("- ", "* ", "+ ", "1. ", "2) ") at the start of `s`, if any.
fn list_marker_len(s: &str) -> Option<usize> {
    let first = s.chars().next()?;
    if matches!(first, '-' | '*' | '+' | '•') {
        let rest = &s[first.len_utf8()..];
        return rest
            .starts_with(char::is_whitespace)
            .then_some(first.len_utf8());
    }
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if (1..=3).contains(&digits)
        && matches!(bytes.get(digits), Some(b'.' | b')'))
        && bytes.get(digits + 1).is_some_and(u8::is_ascii_whitespace)
    {
        return Some(digits + 1);
    }
    None
}

/// Whether a line break between `prev` and `next` (both trimmed, non-empty) is a soft wrap
/// inside one paragraph rather than a hard break.
fn is_soft_wrap(prev: &str, next: &str) -> bool {
    let Some(first) = next.chars().next() else {
        return false;
    };
    if first.is_lowercase() || matches!(first, ',' | ';' | ')' | ']' | '%') {
        return true;
    }
    if last_significant_char(prev).is_some_and(is_terminal) {
        // The sentence splitter decides; joining keeps "Dr.\nSmith" together.
        return true;
    }
    prev.chars().count() >= SOFT_WRAP_MIN_CHARS && !prev.ends_with(':')
}

/// Drops a Markdown heading's optional closing sequence ("## Methods ##").
fn strip_closing_hashes(text: &str, range: Range<usize>) -> Range<usize> {
    let content = text[range.clone()].trim_end();
    let without = content.trim_end_matches('#');
    if without.len() < content.len()
        && (without.is_empty() || without.ends_with(char::is_whitespace))
    {
        range.start..range.start + without.trim_end().len()
    } else {
        range
    }
}

/// Splits `text` into blocks: byte ranges that never contain a hard break.
fn blocks(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut prev_line = "";
    let mut in_fence = false;
    let mut line_start = 0;
    for raw in text.split_inclusive('\n') {
        let start = line_start;
        line_start += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let (kind, content) = classify(line);
        let content_range = start + content..start + line.trim_end().len();
        if in_fence {
            if kind == LineKind::Fence {
                in_fence = false;
            } else if kind != LineKind::Blank {
                out.push(content_range);
            }
            continue;
        }
        match kind {
            LineKind::Blank | LineKind::Rule | LineKind::Fence => {
                out.extend(current.take());
                in_fence = kind == LineKind::Fence;
            }
            LineKind::Standalone => {
                out.extend(current.take());
                out.push(strip_closing_hashes(text, content_range));
            }
            LineKind::Opener => {
                out.extend(current.take());
                prev_line = text[content_range.clone()].trim();
                current = Some(content_range);
            }
            LineKind::Text => {
                let here = text[content_range.clone()].trim();
                match current.as_mut() {
                    Some(block) if is_soft_wrap(prev_line, here) => block.end = content_range.end,
                    _ => {
                        out.extend(current.take());
                        current = Some(content_range);
                    }
                }
                prev_line = here;
            }
        }
    }
    out.extend(current);
    out
}

/// Appends the sentences of `text[block]` to `out`.
fn split_block(text: &str, block: Range<usize>, out: &mut Vec<Range<usize>>) {
    let slice = &text[block.clone()];
    let parens = paren_spans(slice);
    let mut bounds: Vec<usize> = slice
        .split_sentence_bound_indices()
        .map(|(offset, _)| offset)
        .skip(1)
        .chain(lowercase_sentence_starts(slice))
        .chain(std::iter::once(slice.len()))
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut start = 0;
    for (i, &end) in bounds.iter().enumerate() {
        let is_last = i + 1 == bounds.len();
        if !is_last && should_merge(slice, start..end, &parens) {
            continue;
        }
        if let Some(range) = trim_range(slice, start..end) {
            out.push(block.start + range.start..block.start + range.end);
        }
        start = end;
    }
}

/// Whether the candidate sentence `slice[seg]` must continue into the following segment.
fn should_merge(slice: &str, seg: Range<usize>, parens: &[Range<usize>]) -> bool {
    let current = slice[seg.clone()].trim_end();
    let next = slice[seg.end..].trim_start();
    let Some(next_first) = next.chars().next() else {
        return false;
    };
    if !current.chars().any(char::is_alphabetic) {
        return true;
    }
    if !last_significant_char(current).is_some_and(is_terminal) {
        return true;
    }
    if (next_first.is_lowercase() && !is_lowercase_sentence_start(next))
        || matches!(next_first, ',' | ';' | ':' | ')' | ']')
    {
        return true;
    }
    if parens.iter().any(|p| p.start < seg.end && seg.end <= p.end) {
        return true;
    }
    let last_word = current
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or(current)
        .trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘']);
    let lower = last_word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    if NUMERIC_ABBREVIATIONS.contains(&lower.as_str()) && next_first.is_ascii_digit() {
        return true;
    }
    is_initial_or_acronym(last_word)
}

/// Sentence starts UAX #29 misses because the next word begins in lowercase: after `.`, `!`
/// or `?` (and closing quotes/brackets) and whitespace comes a symbol-like word such as
/// "mtDNA", "p53", "miR-375" or "β-amyloid". Returns the byte offsets of those words.
fn lowercase_sentence_starts(slice: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut chars = slice.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        while chars.next_if(|(_, c)| is_closer(*c)).is_some() {}
        let mut spaced = false;
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {
            spaced = true;
        }
        if let Some(&(at, _)) = chars.peek()
            && spaced
            && is_lowercase_sentence_start(&slice[at..])
        {
            starts.push(at);
        }
    }
    starts
}

/// Whether `next` begins with a lowercase word that can start a sentence in scientific text:
/// a symbol with an inner capital or digit ("mtDNA", "p53", "daf-2") or a Greek letter.
fn is_lowercase_sentence_start(next: &str) -> bool {
    let word = next
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | ')'))
        .next()
        .unwrap_or(next);
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_lowercase()
        && (('α'..='ω').contains(&first) || chars.any(|c| c.is_uppercase() || c.is_ascii_digit()))
}

/// "J." or dotted acronyms such as "U.S." / "e.g." (letters each followed by a period).
fn is_initial_or_acronym(word: &str) -> bool {
    let mut chars = word.chars();
    let mut letters = 0;
    loop {
        match (chars.next(), chars.next()) {
            (None, _) => break,
            (Some(c), Some('.')) if c.is_alphabetic() => letters += 1,
            _ => return false,
        }
    }
    match letters {
        0 => false,
        1 => word.chars().next().is_some_and(char::is_uppercase),
        _ => true,
    }
}

/// Last character that is not a closing quote or bracket.
fn last_significant_char(s: &str) -> Option<char> {
    s.chars().rev().find(|c| !is_closer(*c))
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        ')' | ']' | '}' | '"' | '\'' | '”' | '’' | '»' | '*' | '_'
    )
}

/// Sentence-final punctuation: ASCII `.!?` and any non-ASCII, non-alphanumeric character
/// (covers `…`, `。`, `？`, `।` and friends that UAX #29 treats as terminators).
fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?') || (!c.is_ascii() && !c.is_alphanumeric() && !is_closer(c))
}

/// Byte spans (open..=close offsets, as open..close) of balanced brackets in `s`.
fn paren_spans(s: &str) -> Vec<Range<usize>> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut spans = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => stack.push((c, i)),
            ')' | ']' => {
                let open = if c == ')' { '(' } else { '[' };
                if let Some(pos) = stack.iter().rposition(|(o, _)| *o == open) {
                    let (_, start) = stack[pos];
                    stack.truncate(pos);
                    if i - start <= MAX_PAREN_SPAN {
                        spans.push(start..i);
                    }
                }
            }
            _ => {}
        }
    }
    spans
}

/// `range` shrunk to exclude surrounding whitespace; `None` when nothing alphanumeric is left.
fn trim_range(slice: &str, range: Range<usize>) -> Option<Range<usize>> {
    let part = &slice[range.clone()];
    let trimmed_start = part.trim_start();
    let start = range.start + (part.len() - trimmed_start.len());
    let end = start + trimmed_start.trim_end().len();
    slice[start..end]
        .chars()
        .any(char::is_alphanumeric)
        .then_some(start..end)
}

#[cfg(test)]
mod tests;
