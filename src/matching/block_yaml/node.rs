//! What the subset reader builds: a tree borrowing the text's scalars, read into any
//! `Deserialize` type the way `serde_json::Value` would be (null, booleans, integers as
//! `u64` when not negative, strings, sequences, mappings). Fields a type ignores are
//! skipped without building anything: most of a pod manifest is volumes and probes that
//! deriving a process never reads.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// A value of the subset.
#[derive(Debug)]
pub(super) enum Node<'a> {
    Null,
    Bool(bool),
    Integer(i64),
    Text(&'a str),
    /// A plain scalar resolved by serde-saphyr (`0644`, `1.5`, ...).
    Resolved(Value),
    Sequence(Vec<Node<'a>>),
    Mapping(Vec<(&'a str, Node<'a>)>),
}

/// Why a node could not be read as the type asked for; the caller then asks serde-saphyr,
/// whose error is the one reported.
#[derive(Debug)]
pub(super) struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

impl de::Error for Mismatch {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Mismatch(message.to_string())
    }
}

impl<'de> Deserializer<'de> for &'de Node<'de> {
    type Error = Mismatch;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(flag) => visitor.visit_bool(*flag),
            Node::Integer(number) => match u64::try_from(*number) {
                Ok(unsigned) => visitor.visit_u64(unsigned),
                Err(_) => visitor.visit_i64(*number),
            },
            Node::Text(text) => visitor.visit_borrowed_str(text),
            Node::Resolved(value) => value
                .deserialize_any(visitor)
                .map_err(|error| Mismatch(error.to_string())),
            Node::Sequence(items) => visitor.visit_seq(Items(items.iter())),
            Node::Mapping(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        match self {
            Node::Text(text) => visitor.visit_enum((*text).into_deserializer()),
            _ => Err(Mismatch("only unit variants are read here".into())),
        }
    }

    fn deserialize_ignored_any<V: de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Items<'de>(std::slice::Iter<'de, Node<'de>>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Mismatch;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Mismatch> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de> {
    entries: std::slice::Iter<'de, (&'de str, Node<'de>)>,
    value: Option<&'de Node<'de>>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Mismatch;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Mismatch> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let key: de::value::BorrowedStrDeserializer<'de, Mismatch> =
            de::value::BorrowedStrDeserializer::new(key);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Mismatch> {
        let value = self
            .value
            .take()
            .ok_or_else(|| Mismatch("a value before its key".into()))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
