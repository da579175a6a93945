//! Go (RE2) regular expressions on top of the `regex` crate.
//!
//! Benchmark files are written for Go's `regexp`. Both engines are RE2-like (no
//! backreferences, no lookaround, leftmost-first matching), but their syntax and a few
//! classes differ. [`translate`] rewrites a Go pattern into a Rust pattern that matches the
//! same texts:
//!
//! - `\d \s \w \b` (and their negations) are ASCII-only in Go, Unicode-aware in Rust;
//!   they become explicit ASCII classes (`\s` is `[\t\n\f\r ]`: Go's `\s` has no `\v`).
//! - `\Q...\E` quotes literal text in Go; Rust has no such escape.
//! - `\0`, `\012`, `\101`: Go reads octal escapes; Rust reads them as backreferences.
//! - A `{` that does not start a valid `{n}`, `{n,}` or `{n,m}` is a literal in Go and an
//!   error in Rust; so is a lone `}`.
//! - Inside a class, Go reads `[` (other than `[:alpha:]`), `&&`, `~~` and `--` as
//!   literals; Rust reads them as a nested class and set operations.
//!
//! Remaining differences only concern patterns Go rejects and Rust accepts (the `x` flag,
//! repetition counts above 1000): kube-bench would crash on those, we run them.
//!
//! Compiled patterns are cached, because the same flag and compare patterns are used on
//! every check and every line of output.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;

use crate::sync::locked;

/// Compiles a Go regular expression, reusing an earlier compilation of the same pattern.
/// The error is the `regex` crate's message for the translated pattern.
///
/// The compilation is shared behind an `Arc`, not cloned: a cloned `Regex` starts with an
/// empty search cache and rebuilds its lazy DFA, which cost half of a snapshot scan.
pub fn compile(go_pattern: &str) -> Result<Arc<Regex>, String> {
    type Compiled = Result<Arc<Regex>, String>;
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = locked(cache).get(go_pattern) {
        return hit.clone();
    }
    let compiled = Regex::new(&translate(go_pattern))
        .map(Arc::new)
        .map_err(|error| error.to_string());
    locked(cache).insert(go_pattern.to_owned(), compiled.clone());
    compiled
}

/// True when a Go pattern has no regular-expression syntax: it matches only its own text,
/// so callers can search for it as plain text.
pub fn is_literal(go_pattern: &str) -> bool {
    !go_pattern.contains([
        '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
    ])
}

const ASCII_DIGIT: &str = "0-9";
const ASCII_SPACE: &str = r"\t\n\f\r ";
const ASCII_WORD: &str = "0-9A-Za-z_";

/// Rewrites Go regex syntax into `regex` crate syntax with the same meaning.
pub fn translate(go_pattern: &str) -> String {
    let chars: Vec<char> = go_pattern.chars().collect();
    let mut out = String::with_capacity(go_pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        i = match chars[i] {
            '\\' => translate_escape(&chars, i, &mut out, false),
            '[' => translate_class(&chars, i, &mut out),
            '{' => translate_brace(&chars, i, &mut out),
            '}' => {
                out.push_str(r"\}");
                i + 1
            }
            c => {
                out.push(c);
                i + 1
            }
        };
    }
    out
}

/// Translates the escape starting at `chars[start] == '\\'`; returns the index after it.
fn translate_escape(chars: &[char], start: usize, out: &mut String, in_class: bool) -> usize {
    let Some(&c) = chars.get(start + 1) else {
        // A trailing backslash is an error in both engines; keep it so Rust reports it.
        out.push('\\');
        return start + 1;
    };
    let after = start + 2;
    match c {
        'd' | 's' | 'w' => {
            let members = perl_class_members(c);
            if in_class {
                out.push_str(members);
            } else {
                out.push('[');
                out.push_str(members);
                out.push(']');
            }
            after
        }
        'D' | 'S' | 'W' => {
            out.push_str("[^");
            out.push_str(perl_class_members(c.to_ascii_lowercase()));
            out.push(']');
            after
        }
        'b' | 'B' if !in_class => {
            out.push_str("(?-u:\\");
            out.push(c);
            out.push(')');
            after
        }
        'Q' if !in_class => quote_literal(chars, after, out),
        '0'..='7' => translate_octal(chars, start, out),
        'p' | 'P' | 'x' if chars.get(after) == Some(&'{') => {
            // `\p{Greek}`, `\x{41}`: copy through the closing brace untouched.
            let end = chars[after..]
                .iter()
                .position(|&ch| ch == '}')
                .map_or(chars.len(), |offset| after + offset + 1);
            out.extend(&chars[start..end]);
            end
        }
        // An escaped punctuation character is that literal character in Go; in Rust some
        // escapes are assertions (`\<` and `\>` are word boundaries), so escape it anew.
        c if c.is_ascii_punctuation() => {
            out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            after
        }
        _ => {
            out.push('\\');
            out.push(c);
            after
        }
    }
}

fn perl_class_members(class: char) -> &'static str {
    match class {
        'd' => ASCII_DIGIT,
        's' => ASCII_SPACE,
        _ => ASCII_WORD,
    }
}

/// `\Q...\E` (or to the end of the pattern): the text in between is literal.
fn quote_literal(chars: &[char], from: usize, out: &mut String) -> usize {
    let mut end = from;
    while end < chars.len() && !(chars[end] == '\\' && chars.get(end + 1) == Some(&'E')) {
        end += 1;
    }
    let literal: String = chars[from..end].iter().collect();
    out.push_str(&regex::escape(&literal));
    if end < chars.len() {
        end + 2
    } else {
        end
    }
}

/// Go's octal escapes: `\0` plus up to two octal digits, or `\1`..`\7` followed by one or
/// two more. A lone `\1`..`\7` is a backreference, an error in both engines.
fn translate_octal(chars: &[char], start: usize, out: &mut String) -> usize {
    let is_octal = |i: usize| chars.get(i).is_some_and(|c| ('0'..='7').contains(c));
    let first = chars[start + 1];
    if first != '0' && !is_octal(start + 2) {
        out.push('\\');
        out.push(first);
        return start + 2;
    }
    let mut value = first.to_digit(8).unwrap_or(0);
    let mut end = start + 2;
    while end < start + 4 && is_octal(end) {
        value = value * 8 + chars[end].to_digit(8).unwrap_or(0);
        end += 1;
    }
    out.push_str(&format!("\\x{{{value:x}}}"));
    end
}

/// Translates the class starting at `chars[start] == '['`; returns the index after it.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> usize {
    out.push('[');
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        // A `]` right after the opening bracket (and `^`) is a literal in Go.
        out.push_str(r"\]");
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            ']' => {
                out.push(']');
                return i + 1;
            }
            '\\' => i = translate_escape(chars, i, out, true),
            '[' => i = translate_bracket_in_class(chars, i, out),
            c @ ('&' | '~') => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if i > 0 && chars[i - 1] == '-' => {
                out.push_str(r"\-");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Unclosed: Rust reports the error, as Go does.
    i
}

/// Inside a class, `[:alpha:]` is a POSIX class (both engines); any other `[` is literal.
fn translate_bracket_in_class(chars: &[char], start: usize, out: &mut String) -> usize {
    if chars.get(start + 1) == Some(&':') {
        let rest = &chars[start + 2..];
        if let Some(offset) = rest.windows(2).position(|pair| pair == [':', ']']) {
            let end = start + 2 + offset + 2;
            out.extend(&chars[start..end]);
            return end;
        }
    }
    out.push_str(r"\[");
    start + 1
}

/// `{n}`, `{n,}` and `{n,m}` are repetitions; any other `{` is a literal in Go.
fn translate_brace(chars: &[char], start: usize, out: &mut String) -> usize {
    match repetition_end(chars, start) {
        Some(end) => {
            out.extend(&chars[start..end]);
            end
        }
        None => {
            out.push_str(r"\{");
            start + 1
        }
    }
}

fn repetition_end(chars: &[char], start: usize) -> Option<usize> {
    let digits_from = |mut i: usize| {
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let min_end = digits_from(start + 1);
    if min_end == start + 1 {
        return None;
    }
    let close = match chars.get(min_end) {
        Some('}') => min_end,
        Some(',') => digits_from(min_end + 1),
        _ => return None,
    };
    (chars.get(close) == Some(&'}')).then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_matches(pattern: &str, text: &str) -> bool {
        compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    #[test]
    fn translation_table() {
        let cases = [
            // (go pattern, rust pattern)
            (r"plain-text", r"plain-text"),
            (r"\d+", r"[0-9]+"),
            (r"\D", r"[^0-9]"),
            (r"\s*", r"[\t\n\f\r ]*"),
            (r"[^\s]*", r"[^\t\n\f\r ]*"),
            (r"[\w.]", r"[0-9A-Za-z_.]"),
            (r"[a\D]", r"[a[^0-9]]"),
            (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
            (r"\Qa.b\E+", r"a\.b+"),
            (r"\Qa.b", r"a\.b"),
            (r"\0", r"\x{0}"),
            (r"\101", r"\x{41}"),
            (r"\12", r"\x{a}"),
            (r"\1", r"\1"),
            (r"x{2}", r"x{2}"),
            (r"x{2,}", r"x{2,}"),
            (r"x{2,5}", r"x{2,5}"),
            (r"x{,5}", r"x\{,5\}"),
            (r"a{", r"a\{"),
            (r"a{x}", r"a\{x\}"),
            (r"[[]", r"[\[]"),
            (r"[]a]", r"[\]a]"),
            (r"[^]a]", r"[^\]a]"),
            (r"[[:alpha:]]", r"[[:alpha:]]"),
            (r"[a&&b]", r"[a\&\&b]"),
            (r"[+--]", r"[+-\-]"),
            (r"\p{Greek}\x{41}", r"\p{Greek}\x{41}"),
            (r"\/etc\/x", r"/etc/x"),
            (r"\<a\>", r"<a>"),
            (r"\.\*\{", r"\.\*\{"),
            (r"[\-\]\&]", r"[\-\]\&]"),
        ];
        for (go, rust) in cases {
            assert_eq!(translate(go), rust, "translating {go}");
        }
    }

    #[test]
    fn perl_classes_are_ascii_only_as_in_go() {
        assert!(!go_matches(r"^\d$", "٣")); // Arabic-Indic digit three
        assert!(!go_matches(r"^\w$", "é"));
        assert!(!go_matches(r"^\s$", "\u{a0}"));
        assert!(!go_matches(r"^\s$", "\u{b}")); // Go's \s has no vertical tab
        assert!(go_matches(r"^\S$", "\u{a0}"));
        assert!(go_matches(r"^\d\s\w$", "1 a"));
    }

    #[test]
    fn go_literals_that_rust_would_reject_match_literally() {
        assert!(go_matches(r"a{,5}", "a{,5}"));
        assert!(go_matches(r"[[]", "["));
        assert!(go_matches(r"\Q*.*\E", "x*.*y"));
        assert!(go_matches(r"\101", "A"));
        assert!(go_matches(r"\<a\>", "<a>"));
        assert!(!go_matches(r"\<a\>", "a"));
    }

    #[test]
    fn shipped_openshift_patterns_compile() {
        let shipped = [
            r"\/etc\/kubernetes\/static-pod-certs\/secrets\/etcd-all-(peer|certs)\/etcd-peer-.*\.(?:crt|key)",
            r"\s*(?:6443\s*){1,}$",
            r"(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256|TLS_RSA_WITH_AES_128_GCM_SHA256)",
        ];
        for pattern in shipped {
            assert!(compile(pattern).is_ok(), "{pattern}");
        }
        assert!(go_matches(shipped[1], "6443 6443"));
    }

    #[test]
    fn invalid_patterns_are_errors_and_stay_errors_when_cached() {
        for pattern in ["(", "a)", "[a", r"\1", "x\\"] {
            assert!(compile(pattern).is_err(), "{pattern}");
            assert!(compile(pattern).is_err(), "{pattern} (cached)");
        }
    }
}
