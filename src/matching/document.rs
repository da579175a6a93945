//! Audit output as a document, read and printed the way kube-bench (Go) does.
//!
//! kube-bench tries `encoding/json` first and falls back to `gopkg.in/yaml.v2`, so the same
//! key can hold a float64 (JSON: every number) or an int (YAML), and a YAML mapping cannot be
//! printed as JSON. [`Document`] keeps the [`Origin`] for that reason. The printing helpers
//! reproduce Go's `fmt` `%v`, `strconv` and `encoding/json` output byte for byte.
//!
//! Checked against Go 1.19 with yaml.v2 2.4.0 on 147 inputs; the known differences, all
//! rare in configuration files: mixed-case booleans (`tRue`) are booleans here, strings in
//! yaml.v2; `1__0` stays a string; an overflowing `1e400` becomes `+Inf`; non-finite floats
//! are strings (they print the same); non-string keys become their Go spelling (`y:` is
//! the key `"true"`); a null first document is skipped, where yaml.v2 stops at it; a syntax
//! error in a later document fails the whole text.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Which parser accepted the text. It decides how numbers and mappings print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `encoding/json`: every number is a float64, objects print as JSON.
    Json,
    /// `yaml.v2` (YAML 1.1): integers stay integers, mappings cannot be printed as JSON.
    Yaml,
}

/// A parsed audit output.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    value: Value,
    origin: Origin,
}

impl Document {
    /// The parsed tree. Empty text gives `Null`. YAML non-finite floats are the strings
    /// `+Inf`, `-Inf` and `NaN` (what Go prints for them).
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    pub fn into_value(self) -> Value {
        self.value
    }
}

/// Parses text as JSON, else as YAML 1.1 (`0644` → 420, `yes`/`on` → true, merges applied,
/// duplicate keys: the last wins, only the first YAML document counts). Empty or
/// whitespace-only text is an empty document (`Null`).
pub fn parse_document(text: &str) -> Result<Document, String> {
    if let Ok(GoValue(value)) = serde_json::from_str::<GoValue>(text) {
        return Ok(Document {
            value,
            origin: Origin::Json,
        });
    }
    parse_yaml(text).map(|value| Document {
        value,
        origin: Origin::Yaml,
    })
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    options.with_snippet = false;
    // yaml.v2 decodes the first document only. Parsing all of them is stricter (a syntax
    // error in a later document fails too), but it also rejects junk after the first
    // document, as yaml.v2 does; streaming would accept it.
    let documents: Vec<GoValue> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|err| format!("not valid JSON or YAML: {err}"))?;
    Ok(documents
        .into_iter()
        .next()
        .map_or(Value::Null, |document| document.0))
}

/// A `serde_json::Value` built the way Go decodes into `interface{}`: last duplicate key
/// wins, and non-finite floats survive as their Go spelling instead of turning into null.
struct GoValue(Value);

impl<'de> Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoValueVisitor).map(GoValue)
    }
}

struct GoValueVisitor;

impl<'de> Visitor<'de> for GoValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(small) => self.visit_i64(small),
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(small) => self.visit_u64(small),
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or_else(|| Value::String(format_float(v)), Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        GoValue::deserialize(deserializer).map(|value| value.0)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        GoValue::deserialize(deserializer).map(|value| value.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(GoValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Map::new();
        while let Some(GoKey(key)) = map.next_key()? {
            let GoValue(value) = map.next_value()?;
            entries.insert(key, value);
        }
        Ok(Value::Object(entries))
    }
}

/// A mapping key. yaml.v2 resolves keys like values (`y:` is the boolean true, `1:` an int),
/// and Go prints such a key with `fmt`; keeping that spelling means `.y` does not find a
/// `y:` key, as in kube-bench, and a printed map shows `true`.
struct GoKey(String);

impl<'de> Deserialize<'de> for GoKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoKeyVisitor).map(GoKey)
    }
}

struct GoKeyVisitor;

impl Visitor<'_> for GoKeyVisitor {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a scalar mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(format_float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<String, E> {
        Ok(String::from_utf8_lossy(v).into_owned())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok("<nil>".to_owned())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok("<nil>".to_owned())
    }
}

/// Go's `fmt.Sprint(f)` for a float64 (`%v`, i.e. `strconv.FormatFloat(f, 'g', -1, 64)`
/// with the exponent form from 1e+06 up and below 1e-04): `15000`, `1e+06`, `0.5`, `1e-05`.
pub fn format_float(f: f64) -> String {
    if let Some(special) = non_finite(f) {
        return special.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (digits, point) = shortest_digits(f);
    let exponent = point - 1;
    let body = if !(-4..6).contains(&exponent) {
        exponent_form(&digits, exponent)
    } else {
        fixed_form(&digits, point)
    };
    signed(f, body)
}

/// Go's `encoding/json` spelling of a float64: fixed notation between 1e-6 and 1e21,
/// otherwise `1e+21` / `1e-7`.
fn json_float(f: f64) -> Result<String, String> {
    if let Some(special) = non_finite(f) {
        return Err(format!("json: unsupported value: {special}"));
    }
    if f == 0.0 {
        return Ok(if f.is_sign_negative() { "-0" } else { "0" }.to_owned());
    }
    let (digits, point) = shortest_digits(f);
    let magnitude = f.abs();
    let body = if !(1e-6..1e21).contains(&magnitude) {
        // encoding/json shortens "e-07" to "e-7"; positive exponents keep two digits.
        exponent_form(&digits, point - 1).replace("e-0", "e-")
    } else {
        fixed_form(&digits, point)
    };
    Ok(signed(f, body))
}

fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

fn signed(f: f64, body: String) -> String {
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// The shortest decimal digits that round-trip |f| (finite, non-zero), and the position of
/// the decimal point relative to them (Go's `decimal.dp`).
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints exactly the shortest round-trip digits, e.g. "1.2345e-5".
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent
        .parse()
        .expect("`{:e}` always writes an integer exponent");
    (digits, exponent + 1)
}

fn exponent_form(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let mut out = first.to_owned();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    out.push_str(&format!("e{sign}{:02}", exponent.unsigned_abs()));
    out
}

fn fixed_form(digits: &str, point: i32) -> String {
    let length = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= length {
        format!("{digits}{}", "0".repeat((point - length) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

/// A number as Go prints it with `%v`: JSON numbers are float64, YAML integers are ints.
pub fn format_number(number: &Number, origin: Origin) -> String {
    match (origin, number.as_i64(), number.as_u64()) {
        (Origin::Yaml, Some(int), _) => int.to_string(),
        (Origin::Yaml, None, Some(uint)) => uint.to_string(),
        _ => format_float(number.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Go's `fmt.Sprint(v)` for a decoded value: `map[a:1 b:[x y]]`, `<nil>`, raw strings.
pub fn format_go_value(value: &Value, origin: Origin) -> String {
    let mut out = String::new();
    write_go_value(&mut out, value, origin);
    out
}

fn write_go_value(out: &mut String, value: &Value, origin: Origin) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n, origin)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                write_go_value(out, item, origin);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push_str("map[");
            for (index, (key, item)) in sorted_entries(entries).into_iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go_value(out, item, origin);
            }
            out.push(']');
        }
    }
}

/// Map entries in Go's order (`fmt` and `encoding/json` sort keys), whatever order the
/// map keeps (serde_json's `preserve_order` feature would keep insertion order).
pub fn sorted_entries(entries: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

/// Go's `json.Marshal(v)`: compact, keys sorted, `<>&` escaped. A YAML mapping is a
/// `map[interface{}]interface{}` in Go, which `encoding/json` refuses.
pub fn marshal_go_json(value: &Value, origin: Origin) -> Result<String, String> {
    let mut out = String::new();
    write_go_json(&mut out, value, origin)?;
    Ok(out)
}

fn write_go_json(out: &mut String, value: &Value, origin: Origin) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (origin, n.as_i64(), n.as_u64()) {
            (Origin::Yaml, Some(int), _) => out.push_str(&int.to_string()),
            (Origin::Yaml, None, Some(uint)) => out.push_str(&uint.to_string()),
            _ => out.push_str(&json_float(n.as_f64().unwrap_or(f64::NAN))?),
        },
        Value::String(s) => write_go_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_go_json(out, item, origin)?;
            }
            out.push(']');
        }
        Value::Object(_) if origin == Origin::Yaml => {
            return Err("json: unsupported type: map[interface {}]interface {}".to_owned());
        }
        Value::Object(entries) => {
            out.push('{');
            for (index, (key, item)) in sorted_entries(entries).into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_go_json_string(out, key);
                out.push(':');
                write_go_json(out, item, origin)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A scalar as the text a `String` field would take (`123` reads "123", `true` "true");
/// `None` for null, lists and maps.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Document {
        parse_document(text).unwrap_or_else(|err| panic!("{text:?} did not parse: {err}"))
    }

    #[test]
    fn json_object_is_read_as_json() {
        let doc = parse(r#"{"a": {"b": 15000}}"#);
        assert_eq!(doc.origin(), Origin::Json);
        assert_eq!(doc.value(), &json!({"a": {"b": 15000}}));
    }

    #[test]
    fn json_scalars_at_top_level_are_json() {
        assert_eq!(parse("123").origin(), Origin::Json);
        assert_eq!(parse("\"x\"").value(), &json!("x"));
        assert_eq!(parse("true").value(), &json!(true));
        assert_eq!(parse("null").value(), &Value::Null);
    }

    #[test]
    fn json_duplicate_keys_keep_the_last() {
        assert_eq!(parse(r#"{"a":1,"a":2}"#).value(), &json!({"a": 2}));
    }

    #[test]
    fn text_that_is_not_json_falls_back_to_yaml() {
        let doc = parse("a:\n  b: c\n");
        assert_eq!(doc.origin(), Origin::Yaml);
        assert_eq!(doc.value(), &json!({"a": {"b": "c"}}));
    }

    #[test]
    fn json_followed_by_a_comment_is_read_as_yaml() {
        let doc = parse("{\"a\": 1} # kubelet config");
        assert_eq!(doc.origin(), Origin::Yaml);
        assert_eq!(doc.value(), &json!({"a": 1}));
    }

    #[test]
    fn json_followed_by_text_is_neither() {
        assert!(parse_document("{\"a\": 1} trailing").is_err());
    }

    #[test]
    fn yaml_single_letter_booleans_are_booleans() {
        assert_eq!(
            parse("a: y\nb: n\nc: Y\n").value(),
            &json!({"a": true, "b": false, "c": true})
        );
    }

    #[test]
    fn yaml_integer_spellings_resolve_like_go_parse_int() {
        let doc = parse("a: 08\nb: 0o17\nc: 1_000\nd: 0b101\ne: +12\nf: 0xff_ff\n");
        let v = doc.value();
        assert_eq!(
            v["a"].as_f64(),
            Some(8.0),
            "08 is not octal, so yaml.v2 reads a float"
        );
        assert!(v["a"].is_f64());
        assert_eq!(v["b"], json!(15));
        assert_eq!(v["c"], json!(1000));
        assert_eq!(v["d"], json!(5));
        assert_eq!(v["e"], json!(12));
        assert_eq!(v["f"], json!(65535));
    }

    #[test]
    fn empty_and_whitespace_text_is_an_empty_document() {
        for text in ["", "   ", "\n\n", " \t\n", "# only a comment\n"] {
            let doc = parse(text);
            assert_eq!(doc.value(), &Value::Null, "{text:?}");
            assert_eq!(doc.origin(), Origin::Yaml, "{text:?}");
        }
    }

    #[test]
    fn yaml_legacy_octal_becomes_decimal() {
        assert_eq!(parse("mode: 0644").value(), &json!({"mode": 420}));
        assert_eq!(parse("mode: 0600").value(), &json!({"mode": 384}));
    }

    #[test]
    fn yaml_quoted_octal_stays_a_string() {
        assert_eq!(parse("mode: '0644'").value(), &json!({"mode": "0644"}));
    }

    #[test]
    fn yaml_1_1_booleans_are_booleans() {
        let doc = parse("a: yes\nb: on\nc: off\nd: no\ne: True\nf: FALSE\n");
        assert_eq!(
            doc.value(),
            &json!({"a": true, "b": true, "c": false, "d": false, "e": true, "f": false})
        );
    }

    #[test]
    fn yaml_decimal_with_trailing_zero_is_a_float() {
        let doc = parse("version: 1.10");
        assert_eq!(doc.value()["version"].as_f64(), Some(1.1));
        assert!(doc.value()["version"].is_f64());
    }

    #[test]
    fn yaml_plain_scalars_resolve_like_yaml_v2() {
        let doc = parse("i: 10250\nneg: -3\nhex: 0x1F\nexp: 1e3\nnull1: ~\nnull2: null\nnull3:\n");
        let v = doc.value();
        assert_eq!(v["i"], json!(10250));
        assert_eq!(v["neg"], json!(-3));
        assert_eq!(v["hex"], json!(31));
        assert_eq!(v["exp"].as_f64(), Some(1000.0));
        assert_eq!(v["null1"], Value::Null);
        assert_eq!(v["null2"], Value::Null);
        assert_eq!(v["null3"], Value::Null);
    }

    #[test]
    fn yaml_timestamps_stay_strings() {
        assert_eq!(parse("t: 2001-12-14").value(), &json!({"t": "2001-12-14"}));
    }

    #[test]
    fn yaml_keys_resolve_like_values_and_keep_their_go_spelling() {
        let doc = parse("y: 1\non: 2\n7: 3\n1.50: 4\n~: 5\nname: 6\n");
        assert_eq!(
            doc.value(),
            &json!({"true": 2, "7": 3, "1.5": 4, "<nil>": 5, "name": 6})
        );
    }

    #[test]
    fn json_keys_are_kept_verbatim() {
        assert_eq!(
            parse(r#"{"y": 1, "1.50": 2}"#).value(),
            &json!({"y": 1, "1.50": 2})
        );
    }

    #[test]
    fn yaml_merge_keys_are_applied() {
        let doc = parse("base: &b\n  x: 1\nderived:\n  <<: *b\n  z: 2\n");
        assert_eq!(doc.value()["derived"], json!({"x": 1, "z": 2}));
    }

    #[test]
    fn yaml_duplicate_keys_keep_the_last() {
        assert_eq!(parse("a: 1\na: 2\n").value(), &json!({"a": 2}));
    }

    #[test]
    fn yaml_only_the_first_document_counts() {
        assert_eq!(parse("a: 1\n---\nb: 2\n").value(), &json!({"a": 1}));
    }

    #[test]
    fn yaml_non_finite_floats_keep_their_go_spelling() {
        let doc = parse("a: .inf\nb: -.inf\nc: .nan\n");
        assert_eq!(doc.value(), &json!({"a": "+Inf", "b": "-Inf", "c": "NaN"}));
    }

    #[test]
    fn free_text_is_a_yaml_string() {
        let doc = parse("kubelet is running");
        assert_eq!(doc.value(), &json!("kubelet is running"));
    }

    #[test]
    fn broken_yaml_is_an_error() {
        let err = parse_document("a: [1, 2\nb: {").unwrap_err();
        assert!(err.contains("not valid JSON or YAML"), "{err}");
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        let cases: &[(f64, &str)] = &[
            (15000.0, "15000"),
            (1000000.0, "1e+06"),
            (999999.0, "999999"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.5, "0.5"),
            (1.1, "1.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (123456789.0, "1.23456789e+08"),
            (5.0, "5"),
            (100.0, "100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (12345678901234567890.0, "1.2345678901234567e+19"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_float(*value), *expected, "{value:e}");
        }
    }

    #[test]
    fn floats_marshal_like_go_encoding_json() {
        let cases: &[(f64, &str)] = &[
            (1000000.0, "1000000"),
            (15000.0, "15000"),
            (0.5, "0.5"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-3.25, "-3.25"),
            (0.0, "0"),
        ];
        for (value, expected) in cases {
            assert_eq!(json_float(*value).unwrap(), *expected, "{value:e}");
        }
        assert_eq!(
            json_float(f64::INFINITY).unwrap_err(),
            "json: unsupported value: +Inf"
        );
    }

    #[test]
    fn numbers_print_by_origin() {
        let int = Number::from(1000000);
        assert_eq!(format_number(&int, Origin::Json), "1e+06");
        assert_eq!(format_number(&int, Origin::Yaml), "1000000");
        let float = Number::from_f64(1.1).unwrap();
        assert_eq!(format_number(&float, Origin::Yaml), "1.1");
        assert_eq!(
            format_number(&Number::from(u64::MAX), Origin::Yaml),
            "18446744073709551615"
        );
    }

    #[test]
    fn json_marshal_is_compact_sorted_and_html_escaped() {
        let value = json!({"b": [1, "x<y>&z"], "a": null, "c": {"d": true}, "e": "q\"\\\n\t\u{1}"});
        assert_eq!(
            marshal_go_json(&value, Origin::Json).unwrap(),
            r#"{"a":null,"b":[1,"x\u003cy\u003e\u0026z"],"c":{"d":true},"e":"q\"\\\n\t\u0001"}"#
        );
    }

    #[test]
    fn json_marshal_of_yaml_list_of_scalars_works() {
        let value = json!(["A", 420, 1.5, true, null]);
        assert_eq!(
            marshal_go_json(&value, Origin::Yaml).unwrap(),
            r#"["A",420,1.5,true,null]"#
        );
    }

    #[test]
    fn json_marshal_of_a_yaml_mapping_fails() {
        for value in [json!({"a": 1}), json!([{"a": 1}]), json!([[{"a": 1}]])] {
            assert_eq!(
                marshal_go_json(&value, Origin::Yaml).unwrap_err(),
                "json: unsupported type: map[interface {}]interface {}"
            );
        }
    }

    #[test]
    fn go_value_formatting_matches_fmt_sprint() {
        let value = json!({"b": [1, "x", null], "a": {"c": 0.5}});
        assert_eq!(
            format_go_value(&value, Origin::Yaml),
            "map[a:map[c:0.5] b:[1 x <nil>]]"
        );
        assert_eq!(format_go_value(&json!(1000000), Origin::Json), "1e+06");
        assert_eq!(format_go_value(&Value::Null, Origin::Json), "<nil>");
    }
}
