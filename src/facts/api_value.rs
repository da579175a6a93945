//! API objects as compact JSON trees: what a kind's listing is parsed into and what the
//! engine's jq evaluation reads.
//!
//! Why not `serde_json::Value`: its object is a B-tree whose smallest node holds eleven
//! entries, so a pod of 1.5 KB of JSON became ~10 KB of nodes; a section 5 scan of 10,000
//! objects spent a quarter of its time faulting in that memory and a fifth looking up
//! fields in it (docs/performance.md). Here an object is one exactly sized slice of its
//! fields, sorted by key (the order `Value`'s map iterates, so whatever prints or walks an
//! object sees the same order), looked up by binary search.
//!
//! It reads and writes the same JSON as `Value` (a duplicate key keeps its last value,
//! numbers are `serde_json::Number`), so a snapshot's bytes do not change.

use std::cell::RefCell;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// Objects up to this many fields are searched field by field (measured on section 5's
/// pods: the lookups took a third less time than a binary search).
const LINEAR_SEARCH_FIELDS: usize = 24;

/// Whether two keys are equal, looking at their lengths and end bytes before comparing
/// them whole: most keys of an object differ there already.
#[inline]
fn same_key(field: &str, key: &str) -> bool {
    let (field, key) = (field.as_bytes(), key.as_bytes());
    field.len() == key.len()
        && field.first() == key.first()
        && field.last() == key.last()
        && field == key
}

/// One JSON value of an API object.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ApiValue {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Box<str>),
    Array(Box<[ApiValue]>),
    /// Fields sorted by key, each key once.
    Object(Box<[(Box<str>, ApiValue)]>),
}

impl ApiValue {
    /// The field `key` of an object; `None` for a missing field or a value that is not one.
    pub fn get(&self, key: &str) -> Option<&ApiValue> {
        match self {
            // most objects have a handful of fields: comparing lengths first finds the
            // field with one comparison of bytes, where a binary search makes several
            ApiValue::Object(fields) if fields.len() <= LINEAR_SEARCH_FIELDS => fields
                .iter()
                .find(|(field, _)| same_key(field, key))
                .map(|(_, value)| value),
            ApiValue::Object(fields) => fields
                .binary_search_by(|(field, _)| (**field).cmp(key))
                .ok()
                .map(|at| &fields[at].1),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ApiValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// An object from fields in any order; of a key given twice the last value stays, as
    /// in JSON read by `serde_json`.
    pub fn object(mut fields: Vec<(Box<str>, ApiValue)>) -> ApiValue {
        if !fields.is_sorted_by(|(a, _), (b, _)| a < b) {
            // stable: of equal keys the one given last is last
            fields.sort_by(|(a, _), (b, _)| a.cmp(b));
            let mut kept: Vec<(Box<str>, ApiValue)> = Vec::with_capacity(fields.len());
            for field in fields {
                match kept.last_mut() {
                    Some(last) if last.0 == field.0 => *last = field,
                    _ => kept.push(field),
                }
            }
            fields = kept;
        }
        ApiValue::Object(fields.into_boxed_slice())
    }

    /// The same value as a `serde_json::Value` (for code that edits objects, such as the
    /// reductions of `collect`).
    pub fn to_value(&self) -> Value {
        match self {
            ApiValue::Null => Value::Null,
            ApiValue::Bool(b) => Value::Bool(*b),
            ApiValue::Number(n) => Value::Number(n.clone()),
            ApiValue::String(s) => Value::String(s.to_string()),
            ApiValue::Array(items) => Value::Array(items.iter().map(ApiValue::to_value).collect()),
            ApiValue::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_value()))
                    .collect(),
            ),
        }
    }
}

impl From<&Value> for ApiValue {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => ApiValue::Null,
            Value::Bool(b) => ApiValue::Bool(*b),
            Value::Number(n) => ApiValue::Number(n.clone()),
            Value::String(s) => ApiValue::String(s.as_str().into()),
            Value::Array(items) => ApiValue::Array(items.iter().map(ApiValue::from).collect()),
            // a map's keys are sorted and distinct already
            Value::Object(fields) => ApiValue::Object(
                fields
                    .iter()
                    .map(|(key, value)| (key.as_str().into(), ApiValue::from(value)))
                    .collect(),
            ),
        }
    }
}

impl From<Value> for ApiValue {
    fn from(value: Value) -> Self {
        ApiValue::from(&value)
    }
}

impl Serialize for ApiValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ApiValue::Null => serializer.serialize_unit(),
            ApiValue::Bool(b) => serializer.serialize_bool(*b),
            ApiValue::Number(n) => n.serialize(serializer),
            ApiValue::String(s) => serializer.serialize_str(s),
            ApiValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            ApiValue::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields.iter() {
                    map.serialize_entry(&**key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ApiValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ApiValueVisitor)
    }
}

struct ApiValueVisitor;

impl<'de> Visitor<'de> for ApiValueVisitor {
    type Value = ApiValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<ApiValue, E> {
        Ok(ApiValue::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<ApiValue, E> {
        Ok(ApiValue::Number(i.into()))
    }

    fn visit_u64<E>(self, u: u64) -> Result<ApiValue, E> {
        Ok(ApiValue::Number(u.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<ApiValue, E> {
        // as serde_json's Value: a float that is not finite becomes null
        Ok(Number::from_f64(f).map_or(ApiValue::Null, ApiValue::Number))
    }

    fn visit_str<E>(self, text: &str) -> Result<ApiValue, E> {
        Ok(ApiValue::String(text.into()))
    }

    fn visit_string<E>(self, text: String) -> Result<ApiValue, E> {
        Ok(ApiValue::String(text.into_boxed_str()))
    }

    fn visit_unit<E>(self) -> Result<ApiValue, E> {
        Ok(ApiValue::Null)
    }

    fn visit_none<E>(self) -> Result<ApiValue, E> {
        Ok(ApiValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<ApiValue, D::Error> {
        ApiValue::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ApiValue, A::Error> {
        let items = ITEMS.with(|stack| -> Result<_, A::Error> {
            let top = Top::of(stack);
            while let Some(item) = seq.next_element()? {
                stack.borrow_mut().push(item);
            }
            Ok(top.taken())
        })?;
        Ok(ApiValue::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ApiValue, A::Error> {
        let fields = FIELDS.with(|stack| -> Result<_, A::Error> {
            let top = Top::of(stack);
            while let Some(key) = map.next_key::<KeyText>()? {
                let value = map.next_value()?;
                stack.borrow_mut().push((key.0, value));
            }
            Ok(top.taken())
        })?;
        Ok(ApiValue::object(fields))
    }
}

// The elements and fields being read, innermost last: each array or object is gathered
// here and then moved into one exactly sized allocation. Growing a vector per object and
// shrinking it to size took a fifth of reading a listing (docs/performance.md).
thread_local! {
    static ITEMS: RefCell<Vec<ApiValue>> = const { RefCell::new(Vec::new()) };
    static FIELDS: RefCell<Vec<(Box<str>, ApiValue)>> = const { RefCell::new(Vec::new()) };
}

/// Where one array's or object's entries start on its stack. Dropped without
/// [`taken`](Top::taken) (the JSON had an error), it removes them.
struct Top<'s, T> {
    stack: &'s RefCell<Vec<T>>,
    start: usize,
}

impl<'s, T> Top<'s, T> {
    fn of(stack: &'s RefCell<Vec<T>>) -> Self {
        let start = stack.borrow().len();
        Top { stack, start }
    }

    /// The entries pushed since [`of`](Top::of), in an exactly sized vector.
    fn taken(self) -> Vec<T> {
        self.stack.borrow_mut().drain(self.start..).collect()
    }
}

impl<T> Drop for Top<'_, T> {
    fn drop(&mut self) {
        self.stack.borrow_mut().truncate(self.start);
    }
}

/// An object key, borrowed from the input while it is read when it can be.
struct KeyText(Box<str>);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, text: &str) -> Result<KeyText, E> {
                Ok(KeyText(text.into()))
            }
            fn visit_string<E>(self, text: String) -> Result<KeyText, E> {
                Ok(KeyText(text.into_boxed_str()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(text: &str) -> ApiValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_and_writes_the_json_serde_json_reads_and_writes() {
        for text in [
            r#"{"b":1,"a":[true,null,"x\u0001y",-3,1.5,18446744073709551615],"c":{}}"#,
            r#"[{"z":{"y":[]}},"é",0]"#,
            r#""plain""#,
            "1e400",
        ] {
            let value: Result<Value, _> = serde_json::from_str(text);
            let api: Result<ApiValue, _> = serde_json::from_str(text);
            match (value, api) {
                (Ok(value), Ok(api)) => {
                    assert_eq!(api.to_value(), value, "{text}");
                    assert_eq!(ApiValue::from(&value), api, "{text}");
                    assert_eq!(
                        serde_json::to_string(&api).unwrap(),
                        serde_json::to_string(&value).unwrap()
                    );
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (value, api) => panic!("{text}: {value:?} vs {api:?}"),
            }
        }
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_value_as_serde_json_does() {
        let text = r#"{"b":1,"a":2,"b":3,"a":{"x":1},"c":0}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let api = parsed(text);
        assert_eq!(api.to_value(), value);
        assert_eq!(api.get("a"), Some(&ApiValue::from(json!({"x": 1}))));
        assert_eq!(api.get("b"), Some(&ApiValue::from(json!(3))));
    }

    #[test]
    fn fields_are_found_by_key_and_missing_ones_are_none() {
        let api = ApiValue::from(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"hostPID": true},
            "apiVersion": "v1",
        }));
        assert_eq!(
            api.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(ApiValue::as_str),
            Some("p")
        );
        assert_eq!(
            api.get("spec").and_then(|s| s.get("hostPID")),
            Some(&ApiValue::Bool(true))
        );
        assert_eq!(api.get("status"), None);
        assert_eq!(api.get("apiVersion").and_then(|v| v.get("x")), None);
    }
}
