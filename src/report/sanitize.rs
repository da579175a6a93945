//! The one place text from a node (names, paths, evidence, error messages) is made safe for
//! where it goes:
//!
//! - [`for_terminal`]: the console; control characters are shown escaped (`\e`, `\r`,
//!   `\u{7}`), so no node can move the cursor, rewrite a line or ring a bell.
//! - [`strip_controls`]: HTML, Markdown and other text reports; control characters are
//!   removed (tab and newline kept where a report keeps lines).
//! - [`for_xml`]: every XML writer; characters XML 1.0 forbids are removed (controls other
//!   than tab/newline/CR, surrogates, U+FFFE and U+FFFF).
//! - [`excerpt`]: parse errors that quote an untrusted file quote at most a short,
//!   sanitised excerpt of it.

use std::borrow::Cow;

use serde_json::Value;

use crate::results::RunResults;

/// Whether a character is one a terminal or a report must not get raw: C0 controls but
/// tab and newline, DEL, C1 controls, the Unicode bidi overrides and isolates that reorder
/// what a reader sees, and noncharacters.
fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || is_noncharacter(c)
}

/// Unicode noncharacters (U+FDD0–U+FDEF, U+xFFFE and U+xFFFF of every plane): XML forbids
/// two of them, HTML calls them all parse errors.
fn is_noncharacter(c: char) -> bool {
    matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32 & 0xFFFE) == 0xFFFE
}

/// Console text: every hostile character escaped, newlines and tabs kept.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_hostile(c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{8}' => out.push_str("\\b"),
            other => out.push_str(&format!("\\u{{{:x}}}", other as u32)),
        }
    }
    Cow::Owned(out)
}

/// Report text: hostile characters removed, newlines and tabs kept.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hostile) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| !is_hostile(*c)).collect())
}

/// Whether XML 1.0 allows a character in a document
/// (`#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`).
pub fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML text: characters XML 1.0 forbids removed, and the remaining controls (which it
/// allows but a reader's terminal would obey) removed too; newlines and tabs kept.
pub fn for_xml(text: &str) -> Cow<'_, str> {
    let keep = |c: char| xml_allows(c) && !is_hostile(c);
    if text.chars().all(keep) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| keep(*c)).collect())
}

/// The longest quoted run an [`excerpt`] keeps.
const QUOTED_MAX: usize = 40;
/// The longest message an [`excerpt`] keeps.
const MESSAGE_MAX: usize = 300;

/// A parser's message about an untrusted file, safe to print: whatever it quotes
/// (between `` ` `` or `"`) is cut to 40 characters, the whole to 300, and control
/// characters are shown escaped.
pub fn excerpt(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MESSAGE_MAX + 8));
    let mut quote: Option<char> = None;
    let mut quoted_len = 0;
    for (count, c) in message.chars().enumerate() {
        if count >= MESSAGE_MAX {
            out.push('…');
            break;
        }
        match quote {
            Some(open) if c == open => {
                quote = None;
                out.push(c);
            }
            Some(_) => {
                quoted_len += 1;
                if quoted_len <= QUOTED_MAX {
                    out.push(c);
                } else if quoted_len == QUOTED_MAX + 1 {
                    out.push('…');
                }
            }
            None => {
                if c == '`' || c == '"' {
                    quote = Some(c);
                    quoted_len = 0;
                }
                out.push(c);
            }
        }
    }
    for_terminal(&out).into_owned()
}

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

    const HOSTILE: &str = "node\u{1b}[2J\rname\u{8}\u{7}\0\u{9b}\u{202e}end\tok\n";

    #[test]
    fn terminal_text_shows_controls_escaped() {
        assert_eq!(
            for_terminal(HOSTILE),
            "node\\e[2J\\rname\\b\\u{7}\\0\\u{9b}\\u{202e}end\tok\n"
        );
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
    }

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

    #[test]
    fn reports_get_the_controls_removed() {
        assert_eq!(strip_controls(HOSTILE), "node[2Jnameend\tok\n");
    }

    #[test]
    fn xml_text_loses_what_xml_forbids() {
        assert_eq!(
            for_xml("a\u{fffe}b\u{ffff}c\u{1}d\u{1b}e\u{10000}"),
            "abcde\u{10000}"
        );
        assert_eq!(for_xml(HOSTILE), "node[2Jnameend\tok\n");
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        let secret = "root:$6$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ:19000:0:99999:7:::";
        let message = format!("invalid type: string \"{secret}\", expected struct Metadata");
        let shown = excerpt(&message);
        assert!(!shown.contains("ABCDEFGHIJ"), "{shown}");
        assert!(
            shown.contains("\"root:$6$abcdefghijklmnopqrstuvwxyz012345…\""),
            "{shown}"
        );
        assert!(shown.ends_with(", expected struct Metadata"), "{shown}");
        assert_eq!(excerpt("bad `\u{1b}[31m`"), "bad `\\e[31m`");
        assert!(excerpt(&"x".repeat(1000)).chars().count() <= MESSAGE_MAX + 1);
    }
}
