//! Author names and citation keys for the bibliography files: splitting a display name ("Ludwig van
//! Beethoven", "Smith, John", "Martin Luther King Jr.") into the parts BibTeX and RIS want, telling
//! organisations from people, and making stable ASCII citation keys (`smith2020vitamin`). Pure
//! string functions; no escaping (that belongs to each format's writer).

use std::collections::{HashMap, HashSet};

/// An author as the bibliography formats need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Author {
    /// A person: `last` includes lowercase particles ("van Beethoven"); `first` and `suffix` may be
    /// empty.
    Person {
        /// Given names or initials.
        first: String,
        /// Particles and surname.
        last: String,
        /// `Jr.`, `III`, …
        suffix: String,
    },
    /// An organisation or anything not parseable as a person, kept as written.
    Literal(String),
}

const SUFFIXES: [&str; 9] = ["jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "2nd", "3rd"];

/// Words that mark an organisation rather than a person.
const ORGANISATION_WORDS: [&str; 20] = [
    "group",
    "consortium",
    "collaboration",
    "collaborators",
    "collaborative",
    "committee",
    "organization",
    "organisation",
    "society",
    "association",
    "institute",
    "university",
    "investigators",
    "team",
    "network",
    "council",
    "foundation",
    "agency",
    "department",
    "program",
];

fn is_suffix(word: &str) -> bool {
    SUFFIXES.contains(&word.to_lowercase().as_str())
}

/// Parses a display name; `None` when it is blank.
pub(crate) fn parse_author(raw: &str) -> Option<Author> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return None;
    }
    let words: Vec<&str> = name.split(' ').collect();
    let organisation = words.len() > 5
        || words.iter().any(|w| {
            let w = w.to_lowercase();
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            w == "and" || w == "&" || ORGANISATION_WORDS.contains(&w)
        })
        || name.contains('&');
    if organisation {
        return Some(Author::Literal(name));
    }
    if name.contains(',') {
        let parts: Vec<&str> = name.split(',').map(str::trim).collect();
        return Some(match parts.as_slice() {
            [last, first] if !last.is_empty() => Author::Person {
                first: (*first).to_owned(),
                last: (*last).to_owned(),
                suffix: String::new(),
            },
            // "King, Jr., Martin Luther" (BibTeX order) or "King, Martin Luther, Jr.".
            [last, middle, end] if !last.is_empty() => {
                let (first, suffix) = if is_suffix(middle) {
                    (*end, *middle)
                } else {
                    (*middle, *end)
                };
                Author::Person {
                    first: first.to_owned(),
                    last: (*last).to_owned(),
                    suffix: suffix.to_owned(),
                }
            }
            _ => Author::Literal(name),
        });
    }
    let mut words = words;
    let suffix = match words.last() {
        Some(w) if words.len() > 2 && is_suffix(w) => words.pop().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let Some((surname, rest)) = words.split_last() else {
        return Some(Author::Literal(name));
    };
    // Lowercase words just before the surname are particles ("van", "de la"), except the first word.
    let mut split = rest.len();
    while split > 1
        && rest[split - 1]
            .chars()
            .next()
            .is_some_and(char::is_lowercase)
    {
        split -= 1;
    }
    let mut last: Vec<&str> = rest[split..].to_vec();
    last.push(surname);
    Some(Author::Person {
        first: rest[..split].join(" "),
        last: last.join(" "),
        suffix,
    })
}

impl Author {
    /// The word a citation key starts with: the surname without particles, or an organisation's
    /// first word.
    fn key_word(&self) -> &str {
        match self {
            Author::Person { last, .. } => last.rsplit(' ').next().unwrap_or(last),
            Author::Literal(name) => name
                .split(' ')
                .find(|w| !is_stop_word(&fold_ascii(w)))
                .unwrap_or(name),
        }
    }
}

/// Lowercase ASCII letters and digits of `text`, with common accented Latin letters folded
/// (`Müller` → `muller`, `Łukasz` → `lukasz`) and anything else dropped.
pub(crate) fn fold_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            continue;
        }
        let folded = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' | 'ĉ' => "c",
            'ð' | 'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' | 'ĝ' | 'ģ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ķ' => "k",
            'ł' | 'ľ' | 'ļ' | 'ĺ' => "l",
            'ñ' | 'ń' | 'ň' | 'ņ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ř' => "r",
            'ś' | 'š' | 'ş' | 'ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "" | "a"
            | "an"
            | "the"
            | "on"
            | "of"
            | "in"
            | "for"
            | "and"
            | "to"
            | "with"
            | "at"
            | "by"
            | "from"
            | "is"
            | "are"
            | "do"
            | "does"
    )
}

/// `surname + year + first title word`, lowercase ASCII: `smith2020vitamin`; `anon` without an
/// author, `nd` without a year, `untitled` without a usable title word.
pub(crate) fn base_key(first_author: Option<&Author>, year: Option<i32>, title: &str) -> String {
    let surname = first_author
        .map(|a| fold_ascii(a.key_word()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "anon".into());
    let year = year.map_or_else(|| "nd".into(), |y| y.to_string());
    let words: Vec<String> = title
        .split(|c: char| !c.is_alphanumeric())
        .map(fold_ascii)
        .filter(|w| !w.is_empty())
        .collect();
    let word = words
        .iter()
        .find(|w| !is_stop_word(w))
        .or(words.first())
        .cloned()
        .unwrap_or_else(|| "untitled".into());
    format!("{surname}{year}{word}")
}

/// `a`, `b`, …, `z`, `aa`, `ab`, …
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Unique keys for `bases`, in order: a key that occurs once stays as is; every occurrence of a
/// repeated key gets a suffix `a`, `b`, … in order (skipping any that would collide with another key).
pub(crate) fn unique_keys(bases: &[String]) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for base in bases {
        *counts.entry(base).or_default() += 1;
    }
    let mut taken: HashSet<String> = bases
        .iter()
        .filter(|b| counts[b.as_str()] == 1)
        .cloned()
        .collect();
    let mut next: HashMap<&str, usize> = HashMap::new();
    bases
        .iter()
        .map(|base| {
            if counts[base.as_str()] == 1 {
                return base.clone();
            }
            let n = next.entry(base).or_default();
            loop {
                let key = format!("{base}{}", letters(*n));
                *n += 1;
                if taken.insert(key.clone()) {
                    return key;
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(first: &str, last: &str, suffix: &str) -> Option<Author> {
        Some(Author::Person {
            first: first.into(),
            last: last.into(),
            suffix: suffix.into(),
        })
    }

    #[test]
    fn display_names_split_into_first_particles_surname_and_suffix() {
        assert_eq!(parse_author("John Smith"), person("John", "Smith", ""));
        assert_eq!(
            parse_author("  J.  R. R.\tTolkien "),
            person("J. R. R.", "Tolkien", "")
        );
        assert_eq!(
            parse_author("Ludwig van Beethoven"),
            person("Ludwig", "van Beethoven", "")
        );
        assert_eq!(
            parse_author("Martin Luther King Jr."),
            person("Martin Luther", "King", "Jr.")
        );
        assert_eq!(parse_author("Smith, John"), person("John", "Smith", ""));
        assert_eq!(
            parse_author("King, Jr., Martin Luther"),
            person("Martin Luther", "King", "Jr.")
        );
        assert_eq!(parse_author("Plato"), person("", "Plato", ""));
        assert_eq!(parse_author("José Núñez"), person("José", "Núñez", ""));
        assert_eq!(parse_author("   "), None);
    }

    #[test]
    fn organisations_and_names_with_and_are_kept_whole() {
        for name in [
            "World Health Organization",
            "The ATLAS Collaboration",
            "Smith and Jones",
            "Procter & Gamble",
            "a b c d e f",
        ] {
            assert_eq!(parse_author(name), Some(Author::Literal(name.into())));
        }
    }

    #[test]
    fn keys_are_ascii_surname_year_and_first_significant_title_word() {
        let mueller = parse_author("Jürgen Müller");
        assert_eq!(
            base_key(mueller.as_ref(), Some(2020), "The Effect of Vitamin D"),
            "muller2020effect"
        );
        let beethoven = parse_author("Ludwig van Beethoven");
        assert_eq!(
            base_key(beethoven.as_ref(), Some(1808), "On {symphonies} & more"),
            "beethoven1808symphonies"
        );
        let who = parse_author("World Health Organization");
        assert_eq!(base_key(who.as_ref(), None, ""), "worldnduntitled");
        assert_eq!(base_key(None, Some(2001), "A"), "anon2001a");
        let chinese = parse_author("王 伟");
        assert_eq!(
            base_key(chinese.as_ref(), Some(2019), "维生素 D"),
            "anon2019d"
        );
    }

    #[test]
    fn repeated_keys_all_get_letter_suffixes_that_collide_with_nothing() {
        let bases: Vec<String> = [
            "smith2020a",
            "jones2019b",
            "smith2020a",
            "smith2020aa",
            "smith2020a",
        ]
        .map(String::from)
        .to_vec();
        let keys = unique_keys(&bases);
        assert_eq!(
            keys,
            [
                "smith2020ab",
                "jones2019b",
                "smith2020ac",
                "smith2020aa",
                "smith2020ad"
            ]
        );
        assert_eq!(letters(0), "a");
        assert_eq!(letters(25), "z");
        assert_eq!(letters(26), "aa");
        assert_eq!(letters(27), "ab");
    }
}
