//! YAML read quickly when it keeps to the plain block style that configuration writers
//! emit (kubeadm's static pod manifests, kubelet configuration files, snapshot metadata),
//! and by serde-saphyr otherwise.
//!
//! serde-saphyr spends ~450 instructions per byte on such files, most of a one-node scan's
//! time. The subset here is read line by line: block mappings whose keys are plain words,
//! block sequences (indentless ones too), one-line scalars (plain ones, and quoted ones
//! without escapes), `{}`, `[]` and flow sequences of plain words. Anything else (comments
//! after a value, other flow collections, block scalars, anchors, tags, escapes,
//! multi-line scalars, duplicate keys, tabs, non-ASCII bytes, several documents) makes the
//! reader give up, and serde-saphyr reads the whole text: the subset never decides what a
//! text means where YAML could be read two ways, and every error comes from serde-saphyr.
//! A plain scalar that is not obviously a string or a decimal integer (`10.0.0.1:6443` is
//! obvious, `0644`, `yes` and `1e3` are not) is resolved by serde-saphyr itself. Unit tests
//! compare both readers on generated texts.

use serde::de::DeserializeOwned;
use serde_json::Value;

mod node;

use super::lines::lines_of;
use node::Node;

/// Texts longer than this go to serde-saphyr, whose budgets (nodes, depth) then apply.
const MAX_SUBSET_BYTES: usize = 256 * 1024;
/// Deeper nesting goes to serde-saphyr (its own limit is 64).
const MAX_SUBSET_DEPTH: usize = 32;

/// `T` from YAML text, exactly as `serde_saphyr::from_str` gives it.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    from_str_with_options(text, serde_saphyr::Options::default())
}

/// `T` from YAML text as `serde_saphyr::from_str_with_options` gives it, but that a
/// `serde_saphyr::Spanned` read within the subset has no position (`Location::UNKNOWN`):
/// a caller that reports positions reads the text again with serde-saphyr to find them.
pub fn from_str_with_options<T: DeserializeOwned>(
    text: &str,
    options: serde_saphyr::Options,
) -> Result<T, serde_saphyr::Error> {
    if let Some(node) = subset_node(text, &options) {
        if let Ok(parsed) = T::deserialize(&node) {
            return Ok(parsed);
        }
    }
    serde_saphyr::from_str_with_options(text, options)
}

/// The value of a text within the subset, `None` outside it.
#[cfg(test)]
fn subset_value(text: &str, options: &serde_saphyr::Options) -> Option<Value> {
    serde::Deserialize::deserialize(&subset_node(text, options)?).ok()
}

/// The tree of a text within the subset, `None` outside it. `options` resolve the plain
/// scalars left to serde-saphyr.
fn subset_node<'a>(text: &'a str, options: &serde_saphyr::Options) -> Option<Node<'a>> {
    if text.len() > MAX_SUBSET_BYTES {
        return None;
    }
    let lines = content_lines(text)?;
    let first = lines.first()?;
    if first.indent != 0 {
        return None;
    }
    let mut reader = Reader {
        lines,
        next: 0,
        depth: 0,
        options,
    };
    let value = reader.block(0)?;
    (reader.next == reader.lines.len()).then_some(value)
}

/// A line with content: its indentation and the text after it, trailing spaces cut.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The lines that carry content, or `None` when a byte or line is outside the subset.
/// Blank lines and whole-line comments are left out; one leading `---` is allowed.
fn content_lines(text: &str) -> Option<Vec<Line<'_>>> {
    // Without a branch per byte, so that it vectorizes (`all` stops at each byte to ask).
    let allowed = |ok: bool, byte: &u8| ok & (matches!(byte, b' '..=b'~') | (*byte == b'\n'));
    if !text.as_bytes().iter().fold(true, allowed) {
        return None;
    }
    let mut lines = Vec::with_capacity(text.len() / 16);
    for (number, raw) in lines_of(text).enumerate() {
        let unindented = raw.trim_start_matches(' ');
        let content = unindented.trim_end_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if number == 0 && content == "---" && raw == "---" {
            continue;
        }
        if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - unindented.len(),
            text: content,
        });
    }
    Some(lines)
}

struct Reader<'a, 'o> {
    lines: Vec<Line<'a>>,
    next: usize,
    depth: usize,
    options: &'o serde_saphyr::Options,
}

impl<'a> Reader<'a, '_> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.next).copied()
    }

    /// The block (mapping or sequence) whose lines start at `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        self.depth += 1;
        if self.depth > MAX_SUBSET_DEPTH {
            return None;
        }
        let line = self.peek()?;
        let value = if is_sequence_item(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        };
        self.depth -= 1;
        value
    }

    fn mapping(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut entries = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_sequence_item(line.text) {
                return None;
            }
            let (key, rest) = split_entry(line.text)?;
            self.next += 1;
            let value = if rest.is_empty() {
                self.nested_value(indent)?
            } else {
                let value = inline_value(rest, self.options)?;
                self.no_continuation(indent)?;
                value
            };
            entries.push((key, value));
        }
        (!has_duplicate_key(&entries)).then_some(Node::Mapping(entries))
    }

    /// The value of `key:` with nothing after it: a block on the following lines (a
    /// sequence may stand at the key's own indentation), else null.
    fn nested_value(&mut self, indent: usize) -> Option<Node<'a>> {
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next.indent),
            Some(next) if next.indent == indent && is_sequence_item(next.text) => {
                self.block(indent)
            }
            _ => Some(Node::Null),
        }
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_sequence_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let after_dash = line.text.strip_prefix('-')?;
            let content = after_dash.trim_start_matches(' ');
            if content.is_empty() || is_sequence_item(content) {
                return None;
            }
            let column = indent + 1 + (after_dash.len() - content.len());
            if split_entry(content).is_some() {
                // `- key: value`: a mapping whose keys stand at the first key's column.
                self.lines[self.next] = Line {
                    indent: column,
                    text: content,
                };
                items.push(self.block(column)?);
            } else {
                self.next += 1;
                items.push(inline_value(content, self.options)?);
                self.no_continuation(indent)?;
            }
        }
        Some(Node::Sequence(items))
    }

    /// `None` when the line after a one-line value is indented deeper: a multi-line scalar
    /// or something malformed, either way for serde-saphyr.
    fn no_continuation(&self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }
}

fn is_sequence_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `key: rest` or `key:` with a plain word for a key. `None` for anything else, including
/// text that is no mapping entry at all.
fn split_entry(text: &str) -> Option<(&str, &str)> {
    // The key's bytes are read up to the first that cannot be in a plain key, which must be
    // the colon: a sequence item's `--flag=value` stops at its first byte.
    let bytes = text.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let colon = bytes.iter().position(|&b| !is_plain_key_byte(b))?;
    if bytes[colon] != b':' {
        return None;
    }
    let (key, rest) = (&text[..colon], &text[colon + 1..]);
    if !(rest.is_empty() || rest.starts_with(' ')) || is_special_word(key) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// A byte that may stand in a key every YAML reading takes as that very string; such a key
/// also starts with a letter and is no special word ([`split_entry`] checks both).
fn is_plain_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'/')
}

/// A one-line value after `key: ` or `- `.
fn inline_value<'a>(text: &'a str, options: &serde_saphyr::Options) -> Option<Node<'a>> {
    match text {
        "{}" => return Some(Node::Mapping(Vec::new())),
        "[]" => return Some(Node::Sequence(Vec::new())),
        _ => {}
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return flow_sequence(inner, options);
    }
    if let Some(quoted) = text.strip_prefix('"') {
        let inner = quoted.strip_suffix('"')?;
        return (!inner.bytes().any(|b| b == b'"' || b == b'\\')).then_some(Node::Text(inner));
    }
    if let Some(quoted) = text.strip_prefix('\'') {
        let inner = quoted.strip_suffix('\'')?;
        return (!inner.contains('\'')).then_some(Node::Text(inner));
    }
    let first = text.as_bytes()[0];
    let starts_with_indicator = b"[]{}#&*!|>%@`,?:\"'".contains(&first)
        || (first == b'-' && text.as_bytes().get(1).is_none_or(|b| *b == b' '));
    if starts_with_indicator || has_space_after_colon_or_before_hash(text) || text.ends_with(':') {
        return None;
    }
    plain_scalar(text, options)
}

/// Whether `text` holds `: ` or ` #` (a mapping or a comment inside a one-line value). Found
/// from its spaces, which most values (flags, paths) have none of.
fn has_space_after_colon_or_before_hash(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b' ', bytes)
        .any(|space| (space > 0 && bytes[space - 1] == b':') || bytes.get(space + 1) == Some(&b'#'))
}

/// `[a, b]`: a flow sequence of plain words, paths and flags (letters, digits and
/// `/._=-`, no `-` alone); anything else in brackets is left to serde-saphyr.
fn flow_sequence<'a>(inner: &'a str, options: &serde_saphyr::Options) -> Option<Node<'a>> {
    let item = |item: &'a str| {
        let item = item.trim_matches(' ');
        let simple = !item.is_empty()
            && item != "-"
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._=-".contains(&b));
        if simple {
            plain_scalar(item, options)
        } else {
            None
        }
    };
    inner
        .split(',')
        .map(item)
        .collect::<Option<_>>()
        .map(Node::Sequence)
}

/// A plain scalar's value: nulls, booleans, obvious strings and decimal integers here, the
/// rest as serde-saphyr resolves it.
fn plain_scalar<'a>(text: &'a str, options: &serde_saphyr::Options) -> Option<Node<'a>> {
    match text {
        "null" | "~" => return Some(Node::Null),
        "true" => return Some(Node::Bool(true)),
        "false" => return Some(Node::Bool(false)),
        _ => {}
    }
    if is_obviously_string(text) {
        return Some(Node::Text(text));
    }
    if let Some(number) = decimal_integer(text) {
        return Some(Node::Integer(number));
    }
    match serde_saphyr::from_str_with_options::<Value>(text, options.clone()).ok()? {
        scalar @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)) => {
            Some(Node::Resolved(scalar))
        }
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A plain scalar no YAML reading takes for anything but a string: a word, a path, a
/// flag, or a numeral-shaped text that no number can be spelled as (`0s`, `250m`,
/// `10.0.0.1`).
fn is_obviously_string(text: &str) -> bool {
    match text.as_bytes() {
        [first, ..] if first.is_ascii_alphabetic() => !is_special_word(text),
        [b'/', ..] => true,
        [b'-', b'-', third, ..] => third.is_ascii_alphabetic(),
        [b'-', second, ..] if second.is_ascii_alphabetic() => !is_special_word(&text[1..]),
        [first, ..] if first.is_ascii_digit() => cannot_be_a_number(text),
        [b'+' | b'-', second, ..] if second.is_ascii_digit() => cannot_be_a_number(text),
        _ => false,
    }
}

/// Numbers that start with a digit, in any YAML spelling (integers in every radix, with
/// `_` or sexagesimal `:`; floats with one `.` and an exponent), use only hex digits and
/// `xXoObB._+-:`, and at most one `.`.
fn cannot_be_a_number(text: &str) -> bool {
    let foreign = |b: u8| !(b.is_ascii_hexdigit() || b"xXoObB._+-:".contains(&b));
    text.bytes().any(foreign) || text.bytes().filter(|b| *b == b'.').count() >= 2
}

/// `0`, `42`, `-7`: the integers every YAML reading agrees on (no sign `+`, no leading
/// zero, no `_`, within 18 digits).
fn decimal_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain || text == "-0" {
        return None;
    }
    text.parse().ok()
}

/// Whether two entries of a mapping have the same key (serde-saphyr's default is an
/// error; the subset leaves the text to it).
fn has_duplicate_key(entries: &[(&str, Node<'_>)]) -> bool {
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(at, (key, _))| entries[..at].iter().any(|(seen, _)| seen == key));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

/// Words some YAML reading takes for a null, a boolean or a non-finite number, whatever
/// their case (YAML 1.1's `yes`/`off`/`y` included): a plain scalar spelled so may not
/// read as the string.
pub fn is_special_word(word: &str) -> bool {
    const SPECIAL: [&str; 12] = [
        "null", "true", "false", "yes", "no", "y", "n", "on", "off", "inf", "nan", "infinity",
    ];
    word.len() <= 8
        && SPECIAL
            .iter()
            .any(|special| word.eq_ignore_ascii_case(special))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_or_comment_inside_a_value_is_found_from_its_spaces() {
        for text in [
            "a: b", "a:b", "a #c", "a#c", ": ", " #", "x:", "", " ", "a :b", "a  #", "::  ",
        ] {
            let pairs = |pair: &[u8]| text.as_bytes().windows(2).any(|w| w == pair);
            assert_eq!(
                has_space_after_colon_or_before_hash(text),
                pairs(b": ") || pairs(b" #"),
                "{text:?}"
            );
        }
    }

    fn quick(text: &str) -> Option<Value> {
        subset_value(text, &serde_saphyr::Options::default())
    }

    fn saphyr(text: &str) -> Option<Value> {
        serde_saphyr::from_str::<Value>(text).ok()
    }

    /// Whenever the subset reads a text, serde-saphyr reads it the same.
    fn assert_agrees(text: &str) -> bool {
        let Some(fast) = quick(text) else {
            return false;
        };
        assert_eq!(Some(&fast), saphyr(text).as_ref(), "text:\n{text}");
        true
    }

    #[test]
    fn kubeadm_shaped_manifests_are_within_the_subset_and_read_as_serde_saphyr_reads_them() {
        let manifest = "\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.1:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.1
    - --authorization-mode=Node,RBAC
    - --secure-port=6443
    image: registry.k8s.io/kube-apiserver:v1.32.0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 10.0.0.1
        path: /livez
        port: 6443
        scheme: HTTPS
      initialDelaySeconds: 10
    resources:
      requests:
        cpu: 250m
    env:
    - name: GOMAXPROCS
      value: \"4\"
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  priority: 2000001000
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
status: {}
";
        assert!(assert_agrees(manifest));
    }

    #[test]
    fn the_example_snapshots_yaml_is_within_the_subset() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshots");
        let mut read = 0;
        for node in ["control-plane-1", "worker-1"] {
            for dir in ["", "etc/kubernetes/manifests", "var/lib/kubelet"] {
                let Ok(entries) = std::fs::read_dir(format!("{root}/{node}/{dir}")) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|e| e == "yaml") {
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(assert_agrees(&text), "{} is outside", path.display());
                        read += 1;
                    }
                }
            }
        }
        // The metadata files (`cisgate-node.yaml`) too.
        assert!(read >= 7, "only {read} files read");
    }

    #[test]
    fn block_layouts_read_as_serde_saphyr_reads_them() {
        for text in [
            "a:\n- 1\n- two\nb: x\n",
            "a:\n  - x\n  - y\n",
            "- a: 1\n  b: 2\n- c\n",
            "-   a: 1\n    b: 2\n",
            "a:\n  b:\n  c: 1\n",
            "a:\n- b:\n  - x\n  c: 1\n- d\n",
            "a: x\n\n\nb: y\n# comment\n  # indented comment\nc: z\n",
            "---\na: 1\n",
            "a: 'x'\nb: \"y\"\nc: ''\n",
            "a:    spaced\n",
            "a: x   \nb: y\n",
            "a:\n  b:\n    c:\n      d: deep\n  e: 1\n",
            "a:\n",
            "a: {}\nb: []\n",
            "argv: [/usr/bin/containerd, --flag=1, x.y]\nb:\n- [a, 1]\n",
        ] {
            assert!(assert_agrees(text), "outside the subset:\n{text}");
        }
        for malformed in ["a:\n  - x\n  b: 1\n", "a:\n - x\n- y\n", "- a\n -b\n"] {
            assert_eq!(quick(malformed), None, "text:\n{malformed}");
        }
    }

    #[test]
    fn the_options_resolve_the_scalars_left_to_serde_saphyr() {
        let mut options = serde_saphyr::Options::default();
        options.leading_zero_numbers_as_strings = true;
        let text = "mode: 0600\nother: 600\n";
        let full: Value = serde_saphyr::from_str_with_options(text, options.clone()).unwrap();
        assert_eq!(subset_value(text, &options), Some(full.clone()));
        assert_eq!(full["mode"], "0600");
        assert_ne!(
            quick(text),
            Some(full),
            "the default options read 0600 as a number"
        );
    }

    #[test]
    fn texts_outside_the_subset_are_left_to_serde_saphyr() {
        for text in [
            "a: 1\na: 2\n",
            "a: b # comment\n",
            "a: |\n  text\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n",
            "a: [1, \"2\"]\n",
            "a: [x: 1]\n",
            "a: [-]\n",
            "a: \"esc\\n\"\n",
            "a: plain\n  continued\n",
            "a:\n\tb: 1\n",
            "a: é\n",
            "a: 1\n---\nb: 2\n",
            "\"a\": 1\n",
            "- - 1\n",
            "-\n  a: 1\n",
            "  a: 1\n",
            "a: 1\n b: 2\n",
            "a:\nb\n",
            "",
            "a: b: c\n",
        ] {
            assert_eq!(quick(text), None, "text:\n{text}");
        }
    }

    #[test]
    fn plain_scalars_resolve_as_serde_saphyr_resolves_them() {
        let scalars = [
            "0",
            "7",
            "-7",
            "6443",
            "007",
            "+5",
            "0x1F",
            "0o644",
            "0644",
            "1_000",
            "1e3",
            "1.5",
            "-1.5",
            ".5",
            ".inf",
            "-.inf",
            ".nan",
            "10.0.0.1",
            "10.0.0.1:6443",
            "1:20",
            "2001-12-14",
            "250m",
            "100Mi",
            "10%",
            "1h0m0s",
            "null",
            "Null",
            "NULL",
            "~",
            "true",
            "True",
            "TRUE",
            "false",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "inf",
            "nan",
            "-inf",
            "-v",
            "--port=6443",
            "-",
            "/etc/x",
            "a b",
            "x,y",
            "a:b",
            "a#b",
            "9223372036854775807",
            "99999999999999999999",
            "-0",
            "0.",
            "=",
            "<<",
            "0s",
            "100m",
            "1e5s",
            "127.0.0.1",
            "1.2.3",
            "1..2",
            "1.2.3e4",
            "1.2e3",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "1_0.5",
            "0b101",
            "0B101",
            "0xFF",
            "+12",
            "+1.5e3",
            "-1e400",
            "1e400",
            "+.inf",
            "-.nan",
            ".NaN",
            "-e5",
            "-Inf",
            "-infinity",
            "12:30:45",
            "190:20:30.15",
            "1f",
            "0x1g",
            "~x",
        ];
        let mut unread = Vec::new();
        for scalar in scalars {
            let text = format!("key: {scalar}\n");
            if quick(&text).is_some() {
                assert_agrees(&text);
            } else {
                unread.push(scalar);
            }
            let text = format!("- {scalar}\n");
            if quick(&text).is_some() {
                assert_agrees(&text);
            }
        }
        // serde-saphyr refuses non-finite numbers as values; a lone `-` is an empty item.
        let left = [
            ".inf", "-.inf", ".nan", "-", "-1e400", "1e400", "+.inf", ".NaN",
        ];
        assert_eq!(unread, left);
    }

    /// Generated block documents: nested mappings and sequences (indentless and indented,
    /// compact `- key:` items) with scalars from a mixed pool. Each is compared whenever
    /// the subset reads it, and most must be read.
    #[test]
    fn generated_documents_read_the_same_by_both_readers() {
        const SCALARS: [&str; 31] = [
            "plain",
            "v1",
            "6443",
            "-3",
            "0644",
            "true",
            "null",
            "\"quoted\"",
            "'single'",
            "\"\"",
            "{}",
            "[]",
            "10.0.0.1:6443",
            "--flag=a,b",
            "/var/lib",
            "1.5",
            "yes",
            "a b c",
            "x:y",
            "~",
            "-v",
            "\"a # b\"",
            "'it''s'",
            "250m",
            "[a, b]",
            "[/usr/bin/x]",
            "[1, two, 0644]",
            "[a,b]",
            "[ a ]",
            "[a, , b]",
            "[a, [b]]",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut read = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            write_mapping(&mut text, 0, 0, &mut random, &SCALARS);
            if assert_agrees(&text) {
                read += 1;
            }
        }
        assert!(
            read > 1500,
            "only {read} of 3000 generated texts were within the subset"
        );
    }

    fn write_mapping(
        out: &mut String,
        indent: usize,
        depth: usize,
        random: &mut impl FnMut(usize) -> usize,
        scalars: &[&str],
    ) {
        let keys = 1 + random(4);
        for k in 0..keys {
            let key = format!("k{}", k + random(2) * 10);
            write_entry(out, indent, &key, depth, random, scalars);
        }
    }

    fn write_entry(
        out: &mut String,
        indent: usize,
        key: &str,
        depth: usize,
        random: &mut impl FnMut(usize) -> usize,
        scalars: &[&str],
    ) {
        let pad = " ".repeat(indent);
        match if depth >= 4 { 0 } else { random(5) } {
            0 | 1 => out.push_str(&format!("{pad}{key}: {}\n", scalars[random(scalars.len())])),
            2 => {
                out.push_str(&format!("{pad}{key}:\n"));
                write_mapping(out, indent + 2, depth + 1, random, scalars);
            }
            3 => {
                out.push_str(&format!("{pad}{key}:\n"));
                let items_indent = indent + 2 * random(2);
                write_sequence(out, items_indent, depth + 1, random, scalars);
            }
            _ => out.push_str(&format!("{pad}{key}:\n")),
        }
    }

    fn write_sequence(
        out: &mut String,
        indent: usize,
        depth: usize,
        random: &mut impl FnMut(usize) -> usize,
        scalars: &[&str],
    ) {
        let pad = " ".repeat(indent);
        for _ in 0..1 + random(3) {
            if random(2) == 0 {
                out.push_str(&format!("{pad}- {}\n", scalars[random(scalars.len())]));
            } else {
                let mut item = String::new();
                write_mapping(&mut item, indent + 2, depth + 1, random, scalars);
                out.push_str(&format!("{pad}- {}", &item[indent + 2..]));
            }
        }
    }
}
