//! Allowlisting: what `collect` keeps of a node's text. A snapshot stores only what the
//! benchmark's checks read — the flags, environment names, keys and API fields named by
//! their tests and probes, paths and program names — and replaces every other value by
//! [`REMOVED`] (inline) or [`REMOVED_LINE`] (a whole YAML line), so that nothing a check
//! does not read (passwords, tokens, environment values, annotations) leaves the node.
//!
//! The facts layer does not know checks: the engine fills an [`Allowlist`] from the
//! selected benchmark, and `RecordingFacts` reduces every answer with it when the snapshot
//! is written.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What replaces a value no check reads, inside a line.
pub const REMOVED: &str = "<removed:not-read-by-any-check>";
/// What replaces a YAML line (key and value) no check reads; a comment, so the document
/// keeps its shape and its line numbers.
pub const REMOVED_LINE: &str = "# <removed: not read by any check>";

/// The names a benchmark's checks read. Filled by the engine from the selected benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Test-item `flag`s as written (`--profiling`, `permissions`, `root:root`), and the
    /// flags the engine itself reads (the kubelet's configuration flags, `--config`).
    pub flags: BTreeSet<String>,
    /// Test-item `env` names.
    pub envs: BTreeSet<String>,
    /// Every key a `path` expression names.
    pub path_keys: BTreeSet<String>,
    /// The keys a `path` expression ends at (their whole value is read).
    pub path_leaves: BTreeSet<String>,
    /// Keys named after `..` (read at any depth).
    pub path_anywhere: BTreeSet<String>,
    /// Keys and string literals of the `jq` filters over API objects.
    pub api_keys: BTreeSet<String>,
    /// API fields a `jq` filter prints whole (`.spec.unsupportedConfigOverrides` at the end
    /// of a filter or before `|`): kept with everything under them.
    pub api_whole: BTreeSet<String>,
    /// Program names of the benchmark's components (`kube-apiserver`, `kubelet`) and the
    /// words that start them (`k3s server`).
    pub programs: BTreeSet<String>,
    /// Node files the engine reads whole (`/etc/hostname`): kept as they are.
    pub whole_files: BTreeSet<String>,
}

static PATH_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(\.\.|\.|@\.)([A-Za-z_][A-Za-z0-9_-]*)|\[\s*['"]([^'"]+)['"]\s*\]"#)
        .expect("valid regex")
});
static JQ_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex"));
/// A key path that ends a filter or feeds a pipe: its value is output whole.
static JQ_WHOLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:\||$)")
        .expect("valid regex")
});
/// Fields that hold arbitrary user data: never kept whole, only the keys a filter names.
const NEVER_WHOLE: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "containers",
    "initContainers",
    "ephemeralContainers",
    "env",
    "envFrom",
    "args",
    "command",
    "annotations",
    "labels",
    "data",
    "stringData",
    "binaryData",
    "items",
    "volumes",
];
static JQ_STRING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""((?:[^"\\]|\\.)*)""#).expect("valid regex"));
static SAFE_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^/[A-Za-z0-9._/%+~-]*$").expect("valid regex"));
/// `[Service]`: a section header of a systemd unit or an INI file.
static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[[A-Za-z][A-Za-z0-9 _.-]*\]$").expect("valid regex"));
static FLAG_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^--[a-z0-9][a-z0-9-]*$").expect("valid regex"));
static ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)=").expect("valid regex"));
static KEY_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_.-]*:$").expect("valid regex"));
static URL_USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"://[^/@\s]*@").expect("valid regex"));

/// Keys the engine reads in static pod manifests (to derive a component's command line,
/// its image tag and its `hostPath` volumes), kept whatever the checks read.
const MANIFEST_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "containers",
    "initContainers",
    "image",
    "command",
    "args",
    "volumeMounts",
    "mountPath",
    "volumes",
    "hostPath",
    "path",
];
const MANIFEST_LEAVES: &[&str] = &[
    "apiVersion",
    "kind",
    "name",
    "namespace",
    "image",
    "mountPath",
    "path",
];
/// API fields every object keeps: its identity, which a probe without `jq` prints.
const API_IDENTITY: &[&str] = &["apiVersion", "kind", "metadata", "name", "namespace"];

impl Allowlist {
    /// An allowlist holding the keys the engine itself always reads.
    pub fn new() -> Self {
        let mut allow = Allowlist::default();
        allow
            .path_keys
            .extend(MANIFEST_KEYS.iter().map(|k| k.to_string()));
        allow
            .path_leaves
            .extend(MANIFEST_LEAVES.iter().map(|k| k.to_string()));
        allow
            .api_keys
            .extend(API_IDENTITY.iter().map(|k| k.to_string()));
        allow
    }

    pub fn add_flag(&mut self, flag: &str) {
        let flag = flag.trim();
        if !flag.is_empty() {
            self.flags.insert(flag.to_owned());
        }
    }

    pub fn add_env(&mut self, env: &str) {
        let env = env.trim();
        if !env.is_empty() {
            self.envs.insert(env.to_owned());
        }
    }

    /// Adds the keys of a kube-bench JSONPath template (`{.a.b}`, `{range .l[*]}{.x}{end}`,
    /// `{..x}`, `[?(@.k=="v")]`). Each `{...}` block's last key is read whole.
    pub fn add_path(&mut self, expression: &str) {
        for block in expression.split('{') {
            let block = block.split('}').next().unwrap_or_default();
            let mut last = None;
            for caps in PATH_SEGMENT.captures_iter(block) {
                let (prefix, key) = match (caps.get(2), caps.get(3)) {
                    (Some(key), _) => (caps.get(1).map_or("", |m| m.as_str()), key.as_str()),
                    (None, Some(key)) => ("", key.as_str()),
                    _ => continue,
                };
                self.path_keys.insert(key.to_owned());
                match prefix {
                    ".." => {
                        self.path_anywhere.insert(key.to_owned());
                    }
                    "@." => {
                        self.path_leaves.insert(key.to_owned());
                    }
                    _ => {}
                }
                last = Some(key.to_owned());
            }
            if let Some(last) = last {
                self.path_leaves.insert(last);
            }
        }
    }

    /// Adds the keys and string literals a `jq` filter over API objects names.
    pub fn add_jq(&mut self, filter: &str) {
        // Keys anywhere, string interpolations (`"\\(.hostPath.path)"`) included; string
        // literals as keys too (`.labels["pod-security.kubernetes.io/enforce"]`).
        let names = JQ_KEY
            .captures_iter(filter)
            .chain(JQ_STRING.captures_iter(filter))
            .filter_map(|caps| caps.get(1));
        for name in names {
            self.api_keys.insert(name.as_str().to_owned());
        }
        for line in filter.lines() {
            for caps in JQ_WHOLE.captures_iter(line.trim_end()) {
                let key = &caps[1];
                if !NEVER_WHOLE.contains(&key) {
                    self.api_whole.insert(key.to_owned());
                }
            }
        }
    }

    pub fn add_program(&mut self, program: &str) {
        if !program.is_empty() {
            self.programs.insert(program.to_owned());
        }
    }

    /// Whether the value after `name=` (or `name: `) is read: `name` is a tested flag or
    /// environment name, or holds a tested `--flag` as kube-bench's substring match does.
    fn reads_value_of(&self, name: &str) -> bool {
        let bare = name.trim_start_matches('-');
        self.envs.contains(name)
            || self.flags.contains(name)
            || self.flags.contains(&format!("--{bare}"))
            || self
                .flags
                .iter()
                .any(|flag| flag.starts_with('-') && flag.len() > 2 && name.contains(flag.as_str()))
    }

    fn is_program(&self, token: &str) -> bool {
        let base = token.rsplit('/').next().unwrap_or(token);
        self.programs.contains(token) || self.programs.contains(base)
    }

    fn key_role(&self, path: &[String]) -> Role {
        if path.iter().any(|k| self.path_anywhere.contains(k)) {
            return Role::Read;
        }
        // A key a `flag` test looks for (`client-key-data` in `cat admin.conf`, k3s
        // `protect-kernel-defaults: true`): the flag lookup reads its value.
        if path.iter().any(|key| self.reads_value_of(key)) {
            return Role::Read;
        }
        for key in path {
            if !self.path_keys.contains(key) {
                return if self.path_anywhere.is_empty() {
                    Role::Unread
                } else {
                    Role::Ancestor
                };
            }
            if self.path_leaves.contains(key) {
                return Role::Read;
            }
        }
        Role::Ancestor
    }
}

/// What a key path is to the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// At or under a key a check reads: kept.
    Read,
    /// On the way to a key a check reads: the key is kept, its own scalar is not.
    Ancestor,
    /// Nothing reads it.
    Unread,
}

/// Text reduced to what the checks read, and how many values were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reduced {
    pub text: String,
    pub removed: usize,
}

/// Reduces a process's argv: the program and every `--flag` name stay (a check may ask
/// whether a flag is set); a value stays only when a check reads that flag, or when it
/// is a path. Elements are never dropped, so flags and values keep their positions.
pub fn reduce_argv(argv: &[String], allow: &Allowlist) -> (Vec<String>, usize) {
    let mut removed = 0;
    let mut reader = TokenReader::new(allow, &mut removed);
    let out = argv
        .iter()
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 && (is_safe_path(arg) || allow.is_program(arg)) {
                arg.clone()
            } else {
                reader.element(arg)
            }
        })
        .collect::<Vec<String>>();
    let out = out
        .iter()
        .map(|arg| scrub_userinfo(arg, &mut removed))
        .collect();
    (out, removed)
}

/// Reduces file content or shell output: JSON documents and YAML mappings keep the keys
/// checks read (other lines become [`REMOVED_LINE`]); any other text is reduced word by
/// word like an argv.
pub fn reduce_text(text: &str, allow: &Allowlist) -> Reduced {
    let mut removed = 0;
    let trimmed = text.trim_start();
    let reduced = if trimmed.starts_with(['{', '[']) {
        serde_json::from_str::<Value>(text).ok().map(|mut value| {
            reduce_json(&mut value, &mut Vec::new(), allow, &mut removed);
            let mut out = if text.trim_end().contains('\n') {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            }
            .expect("a JSON value serialises");
            if text.ends_with('\n') {
                out.push('\n');
            }
            out
        })
    } else {
        None
    };
    let text = match reduced {
        Some(text) => text,
        None if is_yaml_mapping(text) => reduce_yaml_lines(text, allow, &mut removed),
        None => reduce_free_text(text, allow, &mut removed),
    };
    Reduced {
        text: scrub_userinfo(&text, &mut removed),
        removed,
    }
}

/// Reduces an API object to the fields the benchmark's `jq` filters name (identity kept);
/// strings in `command` and `args` lists are reduced like an argv.
pub fn reduce_api_object(object: &mut Value, allow: &Allowlist) -> usize {
    let mut removed = 0;
    reduce_api_value(object, None, allow, &mut removed);
    removed
}

fn reduce_api_value(value: &mut Value, key: Option<&str>, allow: &Allowlist, removed: &mut usize) {
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| allow.api_keys.contains(k));
            *removed += before - map.len();
            for (k, child) in map.iter_mut() {
                if !allow.api_whole.contains(k) {
                    reduce_api_value(child, Some(k), allow, removed);
                }
            }
        }
        Value::Array(items) => {
            if matches!(key, Some("command" | "args")) {
                let argv: Vec<String> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).unwrap_or_default())
                    .collect();
                let mut reader = TokenReader::new(allow, removed);
                for (item, arg) in items.iter_mut().zip(argv) {
                    if item.is_string() {
                        *item = Value::String(reader.element(&arg));
                    }
                }
            } else {
                for item in items {
                    reduce_api_value(item, key, allow, removed);
                }
            }
        }
        _ => {}
    }
}

fn reduce_json(value: &mut Value, path: &mut Vec<String>, allow: &Allowlist, removed: &mut usize) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                path.push(key.clone());
                match allow.key_role(path) {
                    Role::Read => {}
                    Role::Ancestor => {
                        if let Some(child) = map.get_mut(&key) {
                            reduce_json(child, path, allow, removed);
                        }
                    }
                    Role::Unread => {
                        map.remove(&key);
                        *removed += 1;
                    }
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let mut reader_removed = 0;
            for item in items.iter_mut() {
                match item {
                    Value::String(text) => {
                        *text = TokenReader::new(allow, &mut reader_removed).element(text);
                    }
                    other => reduce_json(other, path, allow, removed),
                }
            }
            *removed += reader_removed;
        }
        Value::String(text) => {
            *text = REMOVED.to_owned();
            *removed += 1;
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => {
            if !path.is_empty() {
                *value = Value::String(REMOVED.to_owned());
                *removed += 1;
            }
        }
    }
}

fn is_yaml_mapping(text: &str) -> bool {
    let has_key_line = text.lines().any(|line| {
        let body = line.trim_start().trim_start_matches("- ");
        split_key(body).is_some()
    });
    has_key_line
        && matches!(
            serde_saphyr::from_str::<Value>(text),
            Ok(Value::Object(_) | Value::Array(_))
        )
}

/// One open key of a YAML block: its indentation, name and whether it opened a list item.
struct OpenKey {
    indent: usize,
    key: String,
}

/// YAML, line by line: keys nobody reads become [`REMOVED_LINE`]; keys on the way to a
/// read key stay with their own scalar removed; list items (argv in manifests, k3s
/// `kube-apiserver-arg`) are reduced like argv elements.
fn reduce_yaml_lines(text: &str, allow: &Allowlist, removed: &mut usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Vec<OpenKey> = Vec::new();
    // A block scalar or a multi-line value: lines more indented than `indent` belong to it.
    let mut continuation: Option<(usize, Role)> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        let trimmed = body.trim_start();
        if trimmed.is_empty() || trimmed == "---" || trimmed == "..." {
            out.push_str(line);
            continue;
        }
        if let Some((key_indent, role)) = continuation {
            if indent > key_indent {
                if role == Role::Read {
                    out.push_str(line);
                } else {
                    removed_line(&mut out, indent, ending, removed);
                }
                continue;
            }
            continuation = None;
        }
        if trimmed.starts_with('#') {
            removed_line(&mut out, indent, ending, removed);
            continue;
        }
        let (item_prefix, rest) = strip_list_markers(trimmed);
        let is_item = !item_prefix.is_empty();
        let key_indent = indent + item_prefix.len();
        open.retain(|k| k.indent < indent || (is_item && k.indent == indent));
        let mut path: Vec<String> = open.iter().map(|k| k.key.clone()).collect();
        match split_key(rest) {
            Some((key, value)) => {
                path.push(key.to_owned());
                let role = allow.key_role(&path);
                open.push(OpenKey {
                    indent: key_indent,
                    key: key.to_owned(),
                });
                let value = value.trim();
                if value.is_empty() {
                    out.push_str(line); // a key with its value below: each line decides
                } else if value.starts_with(['|', '>']) {
                    continuation = Some((key_indent, role));
                    out.push_str(line);
                } else if role != Role::Read && is_flow_list_of_scalars(value) {
                    // `kube-apiserver-arg: ["a=b", "c=d"]`: reduced item by item, like argv
                    let key_end = body.len() - value.len();
                    out.push_str(&body[..key_end]);
                    out.push_str(&reduce_flow_list(value, allow, removed));
                    out.push_str(ending);
                } else {
                    match role {
                        Role::Read => out.push_str(line),
                        Role::Unread => removed_line(&mut out, indent, ending, removed),
                        Role::Ancestor => {
                            let key_end = body.len() - value.len();
                            out.push_str(&body[..key_end]);
                            out.push_str(REMOVED);
                            *removed += 1;
                            out.push_str(ending);
                        }
                    }
                }
            }
            None => {
                let role = allow.key_role(&path);
                if role == Role::Read {
                    out.push_str(line);
                } else if is_item && !rest.starts_with(['{', '[']) {
                    let mut reader = TokenReader::new(allow, removed);
                    out.push_str(&body[..key_indent]);
                    out.push_str(&reader.yaml_scalar(rest));
                    out.push_str(ending);
                } else {
                    // a value on the line after its key, or flow content nobody reads
                    removed_line(&mut out, indent, ending, removed);
                }
            }
        }
    }
    out
}

fn is_flow_list_of_scalars(value: &str) -> bool {
    value.starts_with('[') && value.ends_with(']') && !value[1..].contains(['[', '{', '#'])
}

fn reduce_flow_list(value: &str, allow: &Allowlist, removed: &mut usize) -> String {
    let inner = &value[1..value.len() - 1];
    let mut reader = TokenReader::new(allow, removed);
    let items: Vec<String> = inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| reader.yaml_scalar(item))
        .collect();
    format!("[{}]", items.join(", "))
}

fn removed_line(out: &mut String, indent: usize, ending: &str, removed: &mut usize) {
    out.push_str(&" ".repeat(indent));
    out.push_str(REMOVED_LINE);
    out.push_str(ending);
    *removed += 1;
}

/// `- - x` → (`- - `, `x`).
fn strip_list_markers(trimmed: &str) -> (&str, &str) {
    let mut rest = trimmed;
    while let Some(after) = rest
        .strip_prefix("- ")
        .or_else(|| (rest == "-").then_some(""))
    {
        rest = after.trim_start();
        if rest.is_empty() {
            break;
        }
    }
    let prefix_len = trimmed.len() - rest.len();
    (&trimmed[..prefix_len], rest)
}

/// A YAML block mapping entry: `key: value`, `"key": value`, `key:`.
fn split_key(body: &str) -> Option<(&str, &str)> {
    if let Some(quote @ ('"' | '\'')) = body.chars().next() {
        let end = body[1..].find(quote)? + 1;
        let after = &body[end + 1..];
        let value = after.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((&body[1..end], value));
    }
    if body.starts_with(['{', '[', '#', '&', '*', '!', '|', '>', '%', '@', '`']) {
        return None;
    }
    let mut search = 0;
    while let Some(found) = body[search..].find(':') {
        let colon = search + found;
        let after = &body[colon + 1..];
        if after.is_empty() || after.starts_with([' ', '\t']) {
            let key = &body[..colon];
            if key.contains(" #") {
                return None;
            }
            return Some((key.trim_end(), after));
        }
        search = colon + 1;
    }
    None
}

/// Free text (shell output, unit files, env files): line by line, word by word.
fn reduce_free_text(text: &str, allow: &Allowlist, removed: &mut usize) -> String {
    text.split_inclusive('\n')
        .map(|line| TokenReader::new(allow, removed).words(line))
        .collect()
}

/// Reads argv-like words in order, remembering whether the previous word was a read flag
/// whose value follows after a space (`--token-auth-file /x`, `key: value`).
struct TokenReader<'a> {
    allow: &'a Allowlist,
    removed: &'a mut usize,
    value_follows: bool,
}

impl<'a> TokenReader<'a> {
    fn new(allow: &'a Allowlist, removed: &'a mut usize) -> Self {
        TokenReader {
            allow,
            removed,
            value_follows: false,
        }
    }

    /// A YAML list item: quotes kept around the reduced word.
    fn yaml_scalar(&mut self, scalar: &str) -> String {
        match unquote(scalar) {
            Some((quote, inner)) => format!("{quote}{}{quote}", self.element(inner)),
            None => self.element(scalar),
        }
    }

    /// One argv element or word.
    fn element(&mut self, word: &str) -> String {
        let value_follows = std::mem::take(&mut self.value_follows);
        if word.is_empty() {
            return String::new();
        }
        if value_follows && !word.starts_with('-') {
            return word.to_owned();
        }
        if word.chars().any(char::is_whitespace) {
            return self.words(word);
        }
        self.word(word)
    }

    /// Whitespace-separated words, each reduced; the whitespace stays as it was.
    fn words(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word_start = None;
        for (index, c) in text.char_indices() {
            if c.is_whitespace() {
                if let Some(start) = word_start.take() {
                    out.push_str(&self.element(&text[start..index]));
                }
                out.push(c);
            } else if word_start.is_none() {
                word_start = Some(index);
            }
        }
        if let Some(start) = word_start {
            out.push_str(&self.element(&text[start..]));
        }
        out
    }

    fn word(&mut self, word: &str) -> String {
        let allow = self.allow;
        if allow.flags.contains(word)
            || is_safe_path(word)
            || allow.is_program(word)
            || SECTION.is_match(word)
            || !word.chars().any(char::is_alphanumeric)
        {
            self.value_follows = allow.reads_value_of(word) && word.starts_with('-');
            return word.to_owned();
        }
        let (open, inner, close) = split_quotes(word);
        if !open.is_empty() || !close.is_empty() {
            return format!("{open}{}{close}", self.element(inner));
        }
        if let Some(caps) = ASSIGNMENT.captures(word) {
            let name = caps.get(1).map_or("", |m| m.as_str());
            let value = &word[name.len() + 1..];
            if allow.reads_value_of(name) || value.is_empty() {
                return word.to_owned();
            }
            return format!("{name}={}", self.value(value));
        }
        if KEY_NAME.is_match(word) {
            self.value_follows = allow.reads_value_of(word.trim_end_matches(':'));
            return word.to_owned();
        }
        if FLAG_NAME.is_match(word) {
            self.value_follows = allow.reads_value_of(word);
            return word.to_owned();
        }
        self.remove(word)
    }

    /// The value of a `name=value` nobody reads: a nested assignment or quoted list of
    /// them (`Environment="ARGS=--a=1 --b=2"`) is reduced in turn; anything else goes.
    fn value(&mut self, value: &str) -> String {
        let (open, inner, close) = split_quotes(value);
        if !open.is_empty() || !close.is_empty() {
            return format!("{open}{}{close}", self.value(inner));
        }
        if is_safe_path(value.strip_prefix('-').unwrap_or(value)) {
            return value.to_owned(); // `EnvironmentFile=-/etc/default/k3s`
        }
        if value.chars().any(char::is_whitespace)
            || ASSIGNMENT.is_match(value)
            || FLAG_NAME.is_match(value.split('=').next().unwrap_or_default())
        {
            let mut nested = TokenReader::new(self.allow, self.removed);
            return nested.words(value);
        }
        self.remove(value)
    }

    fn remove(&mut self, word: &str) -> String {
        *self.removed += 1;
        // A removed word that looked like a flag still reads as one, so a kubelet that
        // takes `--token -x` keeps parsing the rest of its flags the same way.
        if word.starts_with('-') {
            format!("-{REMOVED}")
        } else {
            REMOVED.to_owned()
        }
    }
}

fn unquote(word: &str) -> Option<(char, &str)> {
    let quote = word.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = word[1..].strip_suffix(quote)?;
    Some((quote, inner))
}

/// `"a=b` → (`"`, `a=b`, ``): quotes on either end, balanced or not.
fn split_quotes(word: &str) -> (&str, &str, &str) {
    let is_quote = |c: char| c == '"' || c == '\'';
    let inner = word.trim_start_matches(is_quote);
    let open = &word[..word.len() - inner.len()];
    let trimmed = inner.trim_end_matches(is_quote);
    let close = &inner[trimmed.len()..];
    (open, trimmed, close)
}

fn is_safe_path(word: &str) -> bool {
    word.len() > 1 && SAFE_PATH.is_match(word)
}

/// `scheme://user:password@host` keeps no credentials, whatever reads it.
fn scrub_userinfo(text: &str, removed: &mut usize) -> String {
    URL_USERINFO
        .replace_all(text, |_: &regex::Captures| {
            *removed += 1;
            format!("://{REMOVED}@")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> Allowlist {
        let mut allow = Allowlist::new();
        for flag in [
            "--profiling",
            "--authorization-mode",
            "--basic-auth",
            "permissions",
            "root:root",
            "--protect-kernel-defaults",
        ] {
            allow.add_flag(flag);
        }
        allow.add_env("KUBE_TEST");
        allow.add_path("{.authentication.anonymous.enabled}");
        allow.add_path("{range .tlsCipherSuites[:]}{}{','}{end}");
        allow.add_program("kube-apiserver");
        allow
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn argv_keeps_flag_names_tested_values_and_paths_only() {
        let argv = strings(&[
            "/usr/local/bin/kube-apiserver",
            "--profiling=false",
            "--password",
            "Hunter2Secret",
            "--token",
            "-XyZsecret",
            "--certificate-key=c0ffee",
            "DB_PASSWORD=pw1",
            "--etcd-servers=https://user:pw2@etcd:2379",
            "--basic-auth-file=/etc/x.csv",
            "--tls-cert-file=/etc/pki/a.crt",
            "--authorization-mode=Node,RBAC",
        ]);
        let (out, removed) = reduce_argv(&argv, &allow());
        let joined = out.join(" ");
        for secret in ["Hunter2Secret", "XyZsecret", "c0ffee", "pw1", "pw2", "user"] {
            assert!(!joined.contains(secret), "{secret} in {joined}");
        }
        assert_eq!(out.len(), argv.len());
        assert_eq!(out[0], "/usr/local/bin/kube-apiserver");
        assert_eq!(out[1], "--profiling=false");
        assert_eq!(out[2], "--password");
        assert_eq!(out[5], format!("-{REMOVED}"));
        assert_eq!(out[7], format!("DB_PASSWORD={REMOVED}"));
        assert_eq!(out[9], "--basic-auth-file=/etc/x.csv");
        assert_eq!(out[10], "--tls-cert-file=/etc/pki/a.crt");
        assert_eq!(out[11], "--authorization-mode=Node,RBAC");
        assert!(removed >= 5);
    }

    #[test]
    fn yaml_keeps_read_keys_and_drops_the_rest_line_by_line() {
        let config = "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    token: s3cr3tA\nstaticPodURLHeader:\n  Authorization: [\"Bearer s3cr3tB\"]\nstaticPodURL: https://u:s3cr3tC@h/x\ntoken:\n  s3cr3tD\ntlsCipherSuites:\n- TLS_A\n- TLS_B\nsecret: |\n  s3cr3tE\n";
        let reduced = reduce_text(config, &allow());
        for secret in ["s3cr3tA", "s3cr3tB", "s3cr3tC", "s3cr3tD", "s3cr3tE"] {
            assert!(
                !reduced.text.contains(secret),
                "{secret} in {}",
                reduced.text
            );
        }
        assert_eq!(reduced.text.lines().count(), config.lines().count());
        assert!(reduced.text.contains("    enabled: false\n"));
        assert!(reduced.text.contains("- TLS_A\n- TLS_B\n"));
        let parsed: Value = serde_saphyr::from_str(&reduced.text).unwrap();
        assert_eq!(parsed["authentication"]["anonymous"]["enabled"], false);
    }

    #[test]
    fn manifests_keep_argv_structure_and_drop_env_values() {
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"x\":\"s3cr3tA\"}'\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling=false\n    - --password\n    - s3cr3tB\n    - --etcd-servers=https://etcd:2379\n    env:\n    - name: DB_PASSWORD\n      value: s3cr3tC\n    image: registry.k8s.io/kube-apiserver:v1.31.0\n    name: kube-apiserver\n    volumeMounts:\n    - mountPath: /etc/kubernetes/pki\n      name: k8s-certs\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki\n    name: k8s-certs\n";
        let reduced = reduce_text(manifest, &allow());
        for secret in ["s3cr3tA", "s3cr3tB", "s3cr3tC"] {
            assert!(
                !reduced.text.contains(secret),
                "{secret} in {}",
                reduced.text
            );
        }
        for kept in [
            "    - kube-apiserver\n",
            "    - --profiling=false\n",
            "    - --password\n",
            "image: registry.k8s.io/kube-apiserver:v1.31.0",
            "      path: /etc/kubernetes/pki\n",
            "    - mountPath: /etc/kubernetes/pki\n",
        ] {
            assert!(
                reduced.text.contains(kept),
                "{kept} not in {}",
                reduced.text
            );
        }
        let parsed: Value = serde_saphyr::from_str(&reduced.text).unwrap();
        assert_eq!(parsed["spec"]["volumes"][0]["name"], "k8s-certs");
    }

    #[test]
    fn free_text_keeps_tested_words_and_removes_the_rest() {
        let text = "permissions=600 root:root\nMYSQL_PWD=s3cr3tA\nKUBE_TEST=kept\nDATABASE_URL=postgres://u:s3cr3tB@db/x\ns3cr3tC,admin,1,\"system:masters\"\nEnvironment=\"KUBELET_ARGS=--profiling=true --token=s3cr3tD\"\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBGs3cr3tE\n";
        let reduced = reduce_text(text, &allow());
        for secret in ["s3cr3tA", "s3cr3tB", "s3cr3tC", "s3cr3tD", "s3cr3tE"] {
            assert!(
                !reduced.text.contains(secret),
                "{secret} in {}",
                reduced.text
            );
        }
        assert!(reduced.text.starts_with("permissions=600 root:root\n"));
        assert!(reduced.text.contains("KUBE_TEST=kept\n"));
        assert!(reduced.text.contains("--profiling=true"));
        assert_eq!(reduced.text.lines().count(), text.lines().count());
    }

    #[test]
    fn flow_mappings_and_json_keep_only_read_keys() {
        let encryption = "kind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n    - aescbc:\n        keys: [{name: k, secret: s3cr3tA}]\n";
        let reduced = reduce_text(encryption, &allow());
        assert!(!reduced.text.contains("s3cr3tA"), "{}", reduced.text);
        let k3s = "kube-scheduler-arg: [\"oidc-client-secret=s3cr3tC\", \"profiling=false\"]\n";
        let reduced = reduce_text(k3s, &allow());
        assert_eq!(
            reduced.text,
            format!(
                "kube-scheduler-arg: [\"oidc-client-secret={REMOVED}\", \"profiling=false\"]\n"
            )
        );
        let json = "{\"authentication\":{\"anonymous\":{\"enabled\":false}},\"token\":\"s3cr3tB\",\"n\":1}";
        let reduced = reduce_text(json, &allow());
        assert_eq!(
            reduced.text,
            "{\"authentication\":{\"anonymous\":{\"enabled\":false}}}"
        );
    }

    #[test]
    fn api_objects_keep_only_the_fields_jq_names() {
        let mut allow = allow();
        allow.add_jq(".spec.containers[] | select(.securityContext.privileged) | .name, .metadata.labels[\"pod-security.kubernetes.io/enforce\"], .env[]?.valueFrom.secretKeyRef, .spec.volumes[] | \"vol \\(.hostPath.path)\"");
        let mut pod: Value = serde_json::from_str(r#"{"kind":"Pod","metadata":{"name":"p","namespace":"n","labels":{"pod-security.kubernetes.io/enforce":"restricted","other":"s3cr3tL"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"s3cr3tA"}},"spec":{"containers":[{"name":"c","args":["--password","s3cr3tB","--profiling=false"],"env":[{"name":"DB_PASSWORD","value":"s3cr3tC"},{"name":"T","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}],"securityContext":{"privileged":true}}],"volumes":[{"name":"v","hostPath":{"path":"/","type":"Directory"}}]}}"#).unwrap();
        let removed = reduce_api_object(&mut pod, &allow);
        let text = pod.to_string();
        for secret in ["s3cr3tL", "s3cr3tA", "s3cr3tC"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(removed >= 3);
        assert_eq!(
            pod["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );
        assert_eq!(pod["spec"]["volumes"][0]["hostPath"]["path"], "/");
        let mut overrides = allow.clone();
        overrides
            .add_jq("select(.metadata.name == \"cluster\") | .spec.unsupportedConfigOverrides");
        let mut server: Value = serde_json::from_str(r#"{"metadata":{"name":"cluster"},"spec":{"unsupportedConfigOverrides":{"apiServerArguments":{"x":["1"]}},"other":"s3cr3tO"}}"#).unwrap();
        reduce_api_object(&mut server, &overrides);
        assert_eq!(
            server["spec"]["unsupportedConfigOverrides"]["apiServerArguments"]["x"][0],
            "1"
        );
        assert!(server["spec"].get("other").is_none());
        assert_eq!(
            pod["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["name"],
            "s"
        );
    }
}
