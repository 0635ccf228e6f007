//! OpenAlex's `abstract_inverted_index` (`{"word": [positions…]}`) turned back into text.
//!
//! OpenAlex ships abstracts only in this form. The rebuild puts every word at its exact
//! position and joins them with single spaces. Real indexes are not always clean, so it is
//! lenient: gaps in the positions are closed up (no placeholder), a position claimed by several
//! words keeps the word that comes first in the JSON object, a word listing the same position
//! twice counts once, positions that are not non-negative integers are ignored, and
//! whitespace-only words are dropped. Key order is read from the JSON text itself, so the result
//! does not depend on how `serde_json` orders maps.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// An inverted index in the order its words appear in the JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvertedIndex(Vec<(String, Vec<Value>)>);

impl InvertedIndex {
    /// The text: words at their positions, joined by single spaces (empty for an empty index).
    pub fn rebuild(&self) -> String {
        let mut placed: Vec<(u64, usize, &str)> = Vec::new();
        for (order, (word, positions)) in self.0.iter().enumerate() {
            let word = word.trim();
            if word.is_empty() {
                continue;
            }
            placed.extend(
                positions
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|position| (position, order, word)),
            );
        }
        // By position, then by the word's order in the object: the first claim of a position wins.
        placed.sort_unstable();
        placed.dedup_by_key(|(position, _, _)| *position);
        let mut text = String::new();
        for (_, _, word) in placed {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        text
    }
}

impl<'de> Deserialize<'de> for InvertedIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = InvertedIndex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping words to arrays of positions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InvertedIndex, A::Error> {
                let mut words = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((word, positions)) = map.next_entry::<String, Positions>()? {
                    words.push((word, positions.0));
                }
                Ok(InvertedIndex(words))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// A word's positions: an array (its non-integer members are ignored later) or a lone number.
struct Positions(Vec<Value>);

impl<'de> Deserialize<'de> for Positions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Positions(match Value::deserialize(deserializer)? {
            Value::Array(values) => values,
            Value::Null => Vec::new(),
            other => vec![other],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuild(json: &str) -> String {
        serde_json::from_str::<InvertedIndex>(json)
            .expect("a valid index")
            .rebuild()
    }

    #[test]
    fn words_go_back_to_their_positions_and_repeat() {
        assert_eq!(
            rebuild(r#"{"the":[0,3],"cat":[1],"saw":[2],"dog.":[4]}"#),
            "the cat saw the dog."
        );
    }

    #[test]
    fn key_order_does_not_decide_word_order() {
        assert_eq!(rebuild(r#"{"b":[1],"c":[2],"a":[0]}"#), "a b c");
    }

    #[test]
    fn gaps_are_closed_up() {
        assert_eq!(
            rebuild(r#"{"start":[0],"middle":[7],"end":[1000000]}"#),
            "start middle end"
        );
    }

    #[test]
    fn a_position_claimed_twice_keeps_the_first_word_in_the_object() {
        assert_eq!(rebuild(r#"{"zeta":[0],"alpha":[0],"two":[1]}"#), "zeta two");
        assert_eq!(
            rebuild(r#"{"alpha":[0],"zeta":[0],"two":[1]}"#),
            "alpha two"
        );
        assert_eq!(rebuild(r#"{"once":[0,0],"more":[1,1]}"#), "once more");
    }

    #[test]
    fn unicode_words_survive_intact() {
        assert_eq!(
            rebuild(r#"{"naïve":[0],"Bayes—":[1],"日本語":[2],"🧬":[3],"Ünïcödé":[4]}"#),
            "naïve Bayes— 日本語 🧬 Ünïcödé"
        );
    }

    #[test]
    fn junk_positions_and_blank_words_are_ignored() {
        assert_eq!(
            rebuild(r#"{"a":[0,-1,1.5,"2",null],"b":1,"c":null,"  ":[2],"d":[3]}"#),
            "a b d"
        );
    }

    #[test]
    fn an_empty_index_gives_an_empty_text() {
        assert_eq!(rebuild("{}"), "");
    }

    #[test]
    fn an_index_that_is_not_an_object_is_an_error() {
        assert!(serde_json::from_str::<InvertedIndex>("[1,2]").is_err());
        assert!(serde_json::from_str::<InvertedIndex>(r#""text""#).is_err());
    }
}
