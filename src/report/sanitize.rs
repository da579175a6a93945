//! Cleaning whole results for a report: every text passes through one of the rules in
//! [`crate::sanitize`] (re-exported here for the emitters).

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::ser::{self, Serialize};
use serde_json::Value;

use crate::results::RunResults;
pub use crate::sanitize::*;

/// The results with every text (names, paths, evidence, reasons, map keys) passed through
/// `clean`; borrowed as they are when no text needs it.
pub fn results_with<'r>(
    results: &'r RunResults,
    clean: fn(&str) -> Cow<'_, str>,
) -> anyhow::Result<Cow<'r, RunResults>> {
    cleaned(results, clean)
}

/// `value` (results, a node) with every text passed through `clean`; borrowed as it is when
/// no text needs it (the common case: one walk over its texts, nothing copied).
pub fn cleaned<'v, T: Serialize + DeserializeOwned + Clone>(
    value: &'v T,
    clean: fn(&str) -> Cow<'_, str>,
) -> anyhow::Result<Cow<'v, T>> {
    if !needs_cleaning(value, clean) {
        return Ok(Cow::Borrowed(value));
    }
    let mut tree = serde_json::to_value(value)?;
    if !clean_strings(&mut tree, clean) {
        return Ok(Cow::Borrowed(value));
    }
    Ok(Cow::Owned(serde_json::from_value(tree)?))
}

/// Whether `clean` changes any text of `value` (strings and map keys, wherever serde
/// reaches them, so a field added later is covered too). Walks the value in place.
fn needs_cleaning<T: Serialize>(value: &T, clean: fn(&str) -> Cow<'_, str>) -> bool {
    value.serialize(&mut TextCheck { clean }).is_err()
}

/// A serializer that only looks at texts: it stops (with [`Dirty`]) at the first one
/// `clean` would change.
struct TextCheck {
    clean: fn(&str) -> Cow<'_, str>,
}

#[derive(Debug)]
struct Dirty;

impl std::fmt::Display for Dirty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a text needs cleaning")
    }
}

impl std::error::Error for Dirty {}

impl ser::Error for Dirty {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        // A value that cannot be walked is treated as one that needs cleaning: the slow
        // path then reports the real error.
        Dirty
    }
}

type Checked = Result<(), Dirty>;

impl TextCheck {
    fn text(&self, text: &str) -> Checked {
        if is_plain(text) || matches!((self.clean)(text), Cow::Borrowed(_)) {
            Ok(())
        } else {
            Err(Dirty)
        }
    }
}

impl ser::Serializer for &mut TextCheck {
    type Ok = ();
    type Error = Dirty;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Checked {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Checked {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Checked {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Checked {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Checked {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Checked {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Checked {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Checked {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Checked {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Checked {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Checked {
        Ok(())
    }
    fn serialize_char(self, c: char) -> Checked {
        self.text(c.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, text: &str) -> Checked {
        self.text(text)
    }
    fn serialize_bytes(self, _: &[u8]) -> Checked {
        Ok(())
    }
    fn serialize_none(self) -> Checked {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Checked {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Checked {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Checked {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Checked {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Checked {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Checked {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Dirty> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Dirty> {
        Ok(self)
    }
}

/// The compound parts of a value: each element or field is checked in turn (the field's
/// name is the type's own, not node text).
macro_rules! check_each {
    ($($part:ident :: $method:ident $(($name:ty))?),* $(,)?) => {$(
        impl ser::$part for &mut TextCheck {
            type Ok = ();
            type Error = Dirty;
            fn $method<T: ?Sized + Serialize>(&mut self, $(_: $name,)? value: &T) -> Checked {
                value.serialize(&mut **self)
            }
            fn end(self) -> Checked {
                Ok(())
            }
        }
    )*};
}

check_each!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str),
);

impl ser::SerializeMap for &mut TextCheck {
    type Ok = ();
    type Error = Dirty;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Checked {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Checked {
        value.serialize(&mut **self)
    }
    fn end(self) -> Checked {
        Ok(())
    }
}

/// Cleans every string in place; whether any changed.
fn clean_strings(value: &mut Value, clean: fn(&str) -> Cow<'_, str>) -> bool {
    match value {
        Value::String(text) => match clean(text) {
            Cow::Borrowed(_) => false,
            Cow::Owned(cleaned) => {
                *text = cleaned;
                true
            }
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| clean_strings(item, clean) | changed),
        Value::Object(fields) => {
            let dirty_keys: Vec<String> = fields
                .keys()
                .filter(|key| matches!(clean(key), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in &dirty_keys {
                if let Some(field) = fields.remove(key) {
                    fields.insert(clean(key).into_owned(), field);
                }
            }
            fields
                .values_mut()
                .fold(!dirty_keys.is_empty(), |changed, field| {
                    clean_strings(field, clean) | changed
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEANERS: [fn(&str) -> Cow<'_, str>; 3] = [strip_controls, for_terminal, for_xml];

    #[test]
    fn the_check_agrees_with_each_cleaner_on_every_character() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            for clean in CLEANERS {
                let changed = matches!(clean(&text), Cow::Owned(_));
                assert_eq!(needs_cleaning(&text, clean), changed, "U+{:04X}", c as u32);
                if is_plain(&text) {
                    assert!(!changed, "U+{:04X} is plain but changed", c as u32);
                }
            }
        }
        assert!(!needs_cleaning(&"plain text\nwith a tab\t", strip_controls));
    }

    #[test]
    fn the_check_reaches_map_keys_options_and_nested_texts() {
        let key: std::collections::BTreeMap<String, u32> = [("k\u{1b}".to_owned(), 1)].into();
        assert!(needs_cleaning(&key, strip_controls));
        let deep = vec![(1, Some(vec![String::new(), "x\u{202e}y".to_owned()]))];
        assert!(needs_cleaning(&deep, strip_controls));
        let long = format!("{}\u{7}", "a".repeat(100));
        assert!(needs_cleaning(&Some(long.as_str()), for_xml));
        assert!(!needs_cleaning(&Some("a".repeat(100)), for_xml));
    }
}
