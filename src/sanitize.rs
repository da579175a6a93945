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

/// Whether a character is one a terminal or a report must not get raw: C0 controls but
/// tab and newline, DEL, C1 controls, the Unicode bidi overrides and isolates that reorder
/// what a reader sees, and noncharacters.
pub fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || is_noncharacter(c)
}

/// Unicode noncharacters (U+FDD0–U+FDEF, U+xFFFE and U+xFFFF of every plane): XML forbids
/// two of them, HTML calls them all parse errors.
fn is_noncharacter(c: char) -> bool {
    matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32 & 0xFFFE) == 0xFFFE
}

/// Whether every cleaner here leaves `text` as it is, decided without decoding characters:
/// printable ASCII, tab and newline only (most text is). Checked in blocks so the compiler
/// can vectorise it.
pub fn is_plain(text: &str) -> bool {
    let allowed = |byte: u8| (0x20..0x7f).contains(&byte) || byte == b'\n' || byte == b'\t';
    text.as_bytes()
        .chunks(32)
        .all(|block| block.iter().fold(true, |all, &byte| all & allowed(byte)))
}

/// Console text: every hostile character escaped, newlines and tabs kept.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if is_plain(text) || !text.chars().any(is_hostile) {
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
    if is_plain(text) || !text.chars().any(is_hostile) {
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
    if is_plain(text) || text.chars().all(keep) {
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

/// A YAML parser's error as one short excerpt, without the parser's quoted snippet of
/// the file (the file may be a node's).
pub fn yaml_error(error: &serde_saphyr::Error) -> String {
    excerpt(&error.without_snippet().to_string())
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
