//! A strict reading of a parsed JSON value into a request type: [`from_value`].
//!
//! serde's derived structs also accept a JSON *array* (field values by position), so through
//! `serde_json` a body like `{"options": [1]}` silently sets `options.max_sources`. [`Strict`] is a
//! `Deserializer` over a borrowed [`serde_json::Value`] that behaves like `serde_json`'s own except
//! that a struct must be a JSON object, at every depth (it wraps every nested value it hands out).

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// Deserialises `T` from `value`, refusing an array (or anything else) where `T` has a struct.
pub fn from_value<'a, T: de::Deserialize<'a>>(value: &'a Value) -> Result<T, serde_json::Error> {
    T::deserialize(Strict(value))
}

/// A strict deserializer over a borrowed JSON value.
#[derive(Clone, Copy, Debug)]
pub struct Strict<'a>(pub &'a Value);

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => de::Unexpected::Unsigned(u),
            (None, Some(i), _) => de::Unexpected::Signed(i),
            (None, None, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

enum Integral {
    Unsigned(u64),
    Signed(i64),
}

/// `f` as an integer when it has no fractional part and fits 64 bits.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "the value is integral and checked to lie inside the target range first"
)]
fn integral(f: f64) -> Option<Integral> {
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    if f >= 0.0 && f < u64::MAX as f64 {
        Some(Integral::Unsigned(f as u64))
    } else if f < 0.0 && f >= i64::MIN as f64 {
        Some(Integral::Signed(f as i64))
    } else {
        None
    }
}

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    // JSON has one number type: `12.0` is the integer 12 (as JSON Schema reads it).
                    match integral(f) {
                        Some(Integral::Unsigned(u)) => visitor.visit_u64(u),
                        Some(Integral::Signed(i)) => visitor.visit_i64(i),
                        None => visitor.visit_f64(f),
                    }
                } else {
                    Err(de::Error::custom("number out of range"))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            // Unit variants, the only enums request bodies use; others keep serde_json's reading.
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|value| seed.deserialize(Strict(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Entries<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            iter: map.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let key: de::value::BorrowedStrDeserializer<'de, serde_json::Error> =
            de::value::BorrowedStrDeserializer::new(key);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Strict(value)),
            None => Err(de::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        extra: BTreeMap<String, u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        count: u32,
        kind: Kind,
    }

    impl Default for Inner {
        fn default() -> Self {
            Self {
                count: 7,
                kind: Kind::Plain,
            }
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Fancy,
    }

    fn read<T: for<'a> Deserialize<'a>>(json: &str) -> Result<T, serde_json::Error> {
        let value: Value = serde_json::from_str(json).expect("json");
        from_value(&value)
    }

    #[test]
    fn objects_read_like_serde_json() {
        let outer: Outer = read(
            r#"{"name":"n","inner":{"kind":"fancy"},"tags":["a","b"],"extra":{"x":1},"unknown":[1]}"#,
        )
        .expect("valid");
        assert_eq!(outer.name, "n");
        assert_eq!(
            outer.inner,
            Some(Inner {
                count: 7,
                kind: Kind::Fancy
            })
        );
        assert_eq!(outer.tags, ["a", "b"]);
        assert_eq!(outer.extra["x"], 1);
        let null_inner: Outer = read(r#"{"name":"n","inner":null}"#).expect("valid");
        assert_eq!(null_inner.inner, None);
    }

    #[test]
    fn arrays_are_refused_where_a_struct_is_expected_at_any_depth() {
        // serde_json itself accepts these (fields by position): the reason this module exists.
        assert!(serde_json::from_str::<Outer>(r#"{"name":"n","inner":[1]}"#).is_ok());

        let nested = read::<Outer>(r#"{"name":"n","inner":[1]}"#).expect_err("array");
        assert!(
            nested.to_string().contains("invalid type: sequence"),
            "{nested}"
        );
        assert!(read::<Outer>(r#"["n"]"#).is_err());
        assert!(read::<Outer>(r#""n""#).is_err());
        assert!(read::<Outer>("null").is_err());
        assert!(read::<Outer>(r#"{"name":"n","inner":"x"}"#).is_err());
    }

    #[test]
    fn numbers_keep_their_range_checks_and_enums_their_names() {
        assert!(read::<Inner>(r#"{"count":-1}"#).is_err());
        assert!(read::<Inner>(r#"{"count":4294967296}"#).is_err());
        assert!(read::<Inner>(r#"{"count":1.5}"#).is_err());
        assert!(read::<Inner>(r#"{"kind":"odd"}"#).is_err());
        assert_eq!(read::<Inner>(r#"{"count":3}"#).expect("valid").count, 3);
        // JSON has one number type: an integral float is that integer.
        assert_eq!(read::<Inner>(r#"{"count":12.0}"#).expect("valid").count, 12);
        assert!(read::<Inner>(r#"{"count":-1.0}"#).is_err());
        assert!(read::<Inner>(r#"{"count":1e300}"#).is_err());
    }
}
