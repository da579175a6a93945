//! Cleaning whole results for a report: every text passes through one of the rules in
//! [`crate::sanitize`] (re-exported here for the emitters).

use std::borrow::Cow;

use serde_json::Value;

use crate::results::RunResults;
pub use crate::sanitize::*;

/// The results with every text (names, paths, evidence, reasons, map keys) passed through
/// `clean`; borrowed as they are when no text needs it (the common case costs one
/// serialisation).
pub fn results_with<'r>(
    results: &'r RunResults,
    clean: fn(&str) -> Cow<'_, str>,
) -> anyhow::Result<Cow<'r, RunResults>> {
    if !may_need_cleaning(results)? {
        return Ok(Cow::Borrowed(results));
    }
    let mut value = serde_json::to_value(results)?;
    if !clean_strings(&mut value, clean) {
        return Ok(Cow::Borrowed(results));
    }
    Ok(Cow::Owned(serde_json::from_value(value)?))
}

/// Whether any text of `value` may hold a character some cleaner changes: any control
/// character (JSON escapes them as `\r`, `\b`, `\f` or `\uXXXX`) or any character
/// [`is_hostile`] names. Quick (one serialisation into a buffer, no tree); a `true` for
/// clean text (a path with `\u` in it) only costs the slow path.
fn may_need_cleaning<T: serde::Serialize>(value: &T) -> anyhow::Result<bool> {
    let text = serde_json::to_string(value)?;
    Ok(["\\u", "\\r", "\\b", "\\f"]
        .iter()
        .any(|escape| text.contains(escape))
        || text.chars().any(is_hostile))
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

    #[test]
    fn the_quick_check_sees_every_character_a_cleaner_changes() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            let changed = [strip_controls, for_terminal, for_xml]
                .iter()
                .any(|clean| matches!(clean(&text), Cow::Owned(_)));
            if changed {
                assert!(may_need_cleaning(&text).unwrap(), "U+{:04X}", c as u32);
            }
        }
        assert!(!may_need_cleaning(&"plain text\nwith a tab\t").unwrap());
    }
}
