//! Looking a test item's key up in an audit output (`../shared/KUBE_BENCH_FORMAT.md` §3.5).
//!
//! Every lookup answers `Ok(Some(value))` when the key is present, `Ok(None)` when it is
//! not, and `Err` when the item cannot be evaluated (the item then fails). A present key
//! always has a non-empty value, so comparisons never see `""`.

use std::sync::Arc;

use regex::Regex;

use super::go_regex;
use super::jsonpath;

/// The outcome of one lookup: the value when present, `None` when not.
pub type Lookup = Result<Option<String>, String>;

/// Looks `flag` up in the command output `source`, kube-bench's way:
/// a case-sensitive substring test, then the leftmost match of the unescaped regex
/// `(F)(=|: *)*([^\s]*) *`. Values after a space are never read (`--port 0` gives `true`).
pub fn flag(source: &str, flag: &str) -> Lookup {
    if source.is_empty() || flag.is_empty() {
        return Ok(None);
    }
    // One search answers both "is it there" and "where": flag lookups are most of a check.
    let Some(first) = memchr::memmem::find(source.as_bytes(), flag.as_bytes()) else {
        return Ok(None);
    };
    if go_regex::is_literal(flag) {
        let value = value_after_literal_flag(source, first + flag.len());
        return Ok(non_empty(flag_value(flag, flag, value)));
    }
    let pattern = flag_regex(flag)?;
    let Some(captures) = pattern.captures(source) else {
        return Err(format!("invalid flag in testItem definition: {flag}"));
    };
    // Group numbers as Go counts them: a group inside the flag shifts them, as in kube-bench.
    let group = |index: usize| captures.get(index).map_or("", |m| m.as_str());
    Ok(non_empty(flag_value(flag, group(1), group(3))))
}

/// The value kube-bench reads: the text after the flag, else `true` for a `--` flag, else
/// the flag as matched.
fn flag_value(flag: &str, matched_flag: &str, after: &str) -> String {
    if !after.is_empty() {
        after.to_owned()
    } else if flag.starts_with("--") {
        "true".to_owned()
    } else {
        matched_flag.to_owned()
    }
}

/// What `(F)(=|: *)*([^\s]*) *` captures as its third group for a `flag` without regex
/// syntax (`--profiling`, `root:root`) present in `source`, whose first occurrence ends at
/// `start`. The pattern then matches at that occurrence; separators (`=`, or `:` and
/// spaces) are skipped greedily, then the value runs to the next ASCII white space (Go's
/// `\s`).
fn value_after_literal_flag(source: &str, start: usize) -> &str {
    let rest = &source.as_bytes()[start..];
    let mut at = 0;
    loop {
        match rest.get(at) {
            Some(b'=') => at += 1,
            Some(b':') => {
                at += 1;
                while rest.get(at) == Some(&b' ') {
                    at += 1;
                }
            }
            _ => break,
        }
    }
    let value = &source[start + at..];
    let end = value
        .find(['\t', '\n', '\x0c', '\r', ' '])
        .unwrap_or(value.len());
    &value[..end]
}

/// Checks at load time that a flag makes a valid lookup pattern (kube-bench would panic).
/// A flag without regex syntax always makes one (and is looked up without a regex), so
/// only the others are compiled.
pub fn validate_flag(flag: &str) -> Result<(), String> {
    if flag.is_empty() || go_regex::is_literal(flag) {
        return Ok(());
    }
    flag_regex(flag).map(drop)
}

/// The lookup pattern for `flag`. It must compile and keep its third group: a flag such as
/// `--a[` swallows the rest of the pattern into a class, and kube-bench then panics.
fn flag_regex(flag: &str) -> Result<Arc<Regex>, String> {
    let pattern = go_regex::compile(&format!(r"({flag})(=|: *)*([^\s]*) *")).map_err(|error| {
        format!("invalid flag {flag:?}: not a valid regular expression: {error}")
    })?;
    if pattern.captures_len() < 4 {
        return Err(format!(
            "invalid flag {flag:?}: not a valid regular expression: it unbalances the lookup pattern"
        ));
    }
    Ok(pattern)
}

/// Looks the environment variable `name` up in `KEY=value` lines. The match is not
/// anchored to a line start (`PORT` finds `INSECURE_PORT=8080`), and an empty value counts
/// as not present.
pub fn env(source: &str, name: &str) -> Lookup {
    if source.is_empty() || name.is_empty() {
        return Ok(None);
    }
    let pattern = go_regex::compile(&env_pattern(name))
        .map_err(|error| format!("invalid env {name:?} in testItem definition: {error}"))?;
    let matched = pattern.find(source).map_or("", |m| m.as_str());
    // kube-bench strips the first newline and the first literal `NAME=` from the match; with
    // regex characters in the name the literal may be missing, and then nothing is stripped.
    let value = matched
        .replacen('\n', "", 1)
        .replacen(&format!("{name}="), "", 1);
    Ok(non_empty(value))
}

/// Checks at load time that an env name makes a valid lookup pattern (kube-bench would
/// crash on a nil regex).
/// A name without regex syntax always makes one, so only the others are compiled.
pub fn validate_env(name: &str) -> Result<(), String> {
    if name.is_empty() || go_regex::is_literal(name) {
        return Ok(());
    }
    go_regex::compile(&env_pattern(name))
        .map(drop)
        .map_err(|error| format!("invalid env {name:?}: not a valid regular expression: {error}"))
}

fn env_pattern(name: &str) -> String {
    format!(r"{name}=.*(?:$|\n)")
}

/// Renders the JSONPath template `expression` over `source` parsed as JSON or YAML; the
/// key is present when the rendered text is non-empty.
pub fn path(source: &str, expression: &str) -> Lookup {
    jsonpath::lookup_path(source, expression).map(non_empty)
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (source, flag, expected lookup: None = not found, Some(value) = found).
    type FlagCase = (&'static str, &'static str, Option<&'static str>);

    #[test]
    fn flag_lookup_table() {
        let cases: &[FlagCase] = &[
            // The usual shapes.
            (
                "kubelet --anonymous-auth=false",
                "--anonymous-auth",
                Some("false"),
            ),
            (
                "authorization-mode: Webhook",
                "authorization-mode",
                Some("Webhook"),
            ),
            (
                "authorization-mode:Webhook",
                "authorization-mode",
                Some("Webhook"),
            ),
            (
                "authorization-mode:   Webhook",
                "authorization-mode",
                Some("Webhook"),
            ),
            ("x --f==v", "--f", Some("v")),
            ("x --f=:=v", "--f", Some("v")),
            // Quotes are kept.
            ("x --m=\"Webhook\" y", "--m", Some("\"Webhook\"")),
            // No value: `--` flags read `true`, others read the flag itself.
            ("x --profiling y", "--profiling", Some("true")),
            ("x --profiling", "--profiling", Some("true")),
            ("x --profiling= y", "--profiling", Some("true")),
            ("root:root", "root:root", Some("root:root")),
            ("permissions=600", "permissions", Some("600")),
            ("600", "600", Some("600")),
            // Space-separated values are never read.
            ("apiserver --secure-port 0", "--secure-port", Some("true")),
            ("apiserver --port 0 --x=1", "--port", Some("true")),
            // A case-sensitive substring test decides presence.
            ("x --basic-auth-file=/f", "--basic-auth", Some("-file=/f")),
            ("x --Profiling=false", "--profiling", None),
            ("x --other=1", "--profiling", None),
            // The first occurrence wins, even inside a longer flag.
            (
                "x --profiling-x=1 --profiling=false",
                "--profiling",
                Some("-x=1"),
            ),
            ("x --a=1 --a=2", "--a", Some("1")),
            // Tabs end a value; a non-breaking space does not (Go's \s is ASCII).
            ("x --f=a\tb", "--f", Some("a")),
            ("x --f=a\u{a0}b", "--f", Some("a\u{a0}b")),
            ("x --f=a\rb", "--f", Some("a")),
            // Empty source or flag: not found.
            ("", "--f", None),
            ("x --f=1", "", None),
            // The flag is an unescaped regex: `.` matches any character once present.
            ("x --a.b=1", "--a.b", Some("1")),
            ("x --aXb=2 --a.b=1", "--a.b", Some("2")),
        ];
        for &(source, flag_name, expected) in cases {
            assert_eq!(
                flag(source, flag_name),
                Ok(expected.map(str::to_owned)),
                "flag {flag_name:?} in {source:?}"
            );
        }
    }

    #[test]
    fn plain_flags_read_the_same_value_as_the_lookup_regex() {
        let sources = [
            "kubelet --anonymous-auth=false --port 0 --a=1 --a=2",
            "authorization-mode:   Webhook\nx: y",
            "x --f=:=v --f==w --f: :x",
            "x --f=a\tb --g=a\u{a0}b --h=\r",
            "--profiling-x=1 --profiling --profiling=false",
            "permissions=600\npermissions=644",
        ];
        let flags = [
            "--anonymous-auth",
            "--port",
            "--a",
            "authorization-mode",
            "x",
            "--f",
        ];
        let more = ["--g", "--h", "--profiling", "permissions", "600", "a"];
        for source in sources {
            for flag in flags.iter().chain(&more) {
                let Some(first) = source.find(flag) else {
                    continue;
                };
                let pattern = flag_regex(flag).unwrap();
                let by_regex = pattern.captures(source).unwrap().get(3).unwrap().as_str();
                assert_eq!(
                    value_after_literal_flag(source, first + flag.len()),
                    by_regex,
                    "{flag:?} in {source:?}"
                );
            }
        }
    }

    #[test]
    fn a_flag_found_as_text_but_not_as_regex_is_an_error() {
        // `a+b` is a substring, but as a regex it needs `ab`, `aab`, ...
        let error = flag("x a+b=1", "a+b").expect_err("regex does not match");
        assert!(
            error.starts_with("invalid flag in testItem definition"),
            "{error}"
        );
    }

    #[test]
    fn a_group_inside_the_flag_shifts_the_value_group_as_in_go() {
        // Pattern `(--(a))(=|: *)*([^\s]*) *`: group 3 is the separator group now.
        assert_eq!(flag("x --a=1", "--(a)"), Ok(None));
        assert!(
            flag("x --(a)=1", "--(a)").is_err(),
            "literal parens do not match"
        );
        assert_eq!(flag("x --a=1 --(a)", "--(a)"), Ok(Some("=".to_owned())));
    }

    #[test]
    fn validate_flag_rejects_flags_that_are_not_regexes() {
        assert!(validate_flag("--anonymous-auth").is_ok());
        assert!(validate_flag("").is_ok());
        assert!(validate_flag("/etc/kubernetes/pki/ca.crt").is_ok());
        for invalid in ["--a(b", "--a[", r"\1", "*x"] {
            let error = validate_flag(invalid).expect_err(invalid);
            assert!(error.contains("not a valid regular expression"), "{error}");
        }
    }

    #[test]
    fn an_invalid_flag_reaching_lookup_is_an_error_not_a_panic() {
        assert!(flag("x --a(b=1", "--a(b").is_err());
    }

    /// (source, env name, expected lookup).
    type EnvCase = (&'static str, &'static str, Option<&'static str>);

    #[test]
    fn env_lookup_table() {
        let cases: &[EnvCase] = &[
            ("ETCD_AUTO_TLS=false", "ETCD_AUTO_TLS", Some("false")),
            (
                "A=1\nETCD_AUTO_TLS=true\nB=2",
                "ETCD_AUTO_TLS",
                Some("true"),
            ),
            ("A=1\nB=2", "ETCD_AUTO_TLS", None),
            // Not anchored: the first `PORT=` anywhere wins.
            ("INSECURE_PORT=8080\nPORT=0", "PORT", Some("8080")),
            ("PORT=0\nINSECURE_PORT=8080", "PORT", Some("0")),
            // An empty value is not present, even when a later line has one.
            ("X=\nY=1", "X", None),
            ("X=", "X", None),
            // The value is the rest of the line, spaces, `=` and `\r` included.
            ("X=a b=c\r\nY=1", "X", Some("a b=c\r")),
            ("X==1", "X", Some("=1")),
            ("X= ", "X", Some(" ")),
            // Case-sensitive.
            ("x=1", "X", None),
            ("", "X", None),
            ("X=1", "", None),
            // An unescaped `.` in the name matches any character; the literal `A.B=` is
            // then absent from the match, so nothing is stripped.
            ("AXB=1", "A.B", Some("AXB=1")),
            ("A.B=1", "A.B", Some("1")),
        ];
        for &(source, name, expected) in cases {
            assert_eq!(
                env(source, name),
                Ok(expected.map(str::to_owned)),
                "env {name:?} in {source:?}"
            );
        }
    }

    #[test]
    fn validate_env_rejects_names_that_are_not_regexes() {
        assert!(validate_env("ETCD_CERT_FILE").is_ok());
        assert!(validate_env("").is_ok());
        assert!(validate_env("BAD(").is_err());
        assert!(env("BAD(=1", "BAD(").is_err());
    }

    /// Whether the real JSONPath backend is linked in (this branch carries a placeholder
    /// that always errors; the path tests below run for real once the backend lands).
    fn jsonpath_available() -> bool {
        jsonpath::lookup_path("a: 1", "{.a}") != Err("jsonpath not available".to_owned())
    }

    #[test]
    fn path_lookup_finds_a_nested_key_once_jsonpath_lands() {
        if !jsonpath_available() {
            return;
        }
        assert_eq!(path("a:\n  b: x\n", "{.a.b}"), Ok(Some("x".to_owned())));
        assert_eq!(
            path("{\"a\": {\"b\": false}}", "{.a.b}"),
            Ok(Some("false".to_owned()))
        );
    }

    #[test]
    fn path_lookup_of_a_missing_key_is_not_found_once_jsonpath_lands() {
        if !jsonpath_available() {
            return;
        }
        assert_eq!(path("a:\n  b: x\n", "{.a.c}"), Ok(None));
        assert!(path("a: 1", "{.a").is_err(), "unclosed template");
    }

    #[test]
    fn path_lookup_passes_backend_errors_through() {
        if jsonpath_available() {
            return;
        }
        assert_eq!(
            path("a: 1", "{.a}"),
            Err("jsonpath not available".to_owned())
        );
    }
}
