//! Redaction: the second pass of what `collect` removes before anything is stored. The
//! first pass keeps only what checks read ([`super::allowlist`]); this one removes, from
//! what is kept, every value that looks like a secret: a check never needs one.
//!
//! Keys and flags keep their names (a check asking "is `--token` set?" still gets its
//! answer); only secret values are replaced by [`REDACTED`].

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What replaces a secret value.
pub const REDACTED: &str = "<redacted>";

/// Whether a value is already a marker (this module's or the allowlist's).
fn is_marker(value: &str) -> bool {
    value.trim_matches(['"', '\'', ',']) == REDACTED || value.contains(super::allowlist::REMOVED)
}

/// The rules, as stated in every snapshot's `redactions.rules`.
pub const RULES: &[&str] = &[
    "allowlist: a snapshot keeps only what the selected benchmark's checks read: the flags, environment names and keys their tests name, the API fields their jq filters name, modes, owners, paths and program names; every other value is replaced by <removed:not-read-by-any-check> (a whole YAML line by `# <removed: not read by any check>`)",
    "process argv: the program, every --flag name and the values of the flags a check reads (or that the engine reads: the kubelet's configuration flags, k3s settings) are kept, and values that are plain absolute paths; every other element is replaced in place, so positions do not move",
    "file content and shell output: YAML and JSON keep the keys on a path a check reads (and the static pod structure the engine reads: kind, name, image, command, args, volume mounts, hostPath volumes); list items are reduced like argv; other text is reduced word by word like argv (`NAME=value` keeps NAME and drops the value unless a check reads NAME)",
    "API objects: reduced to the fields the benchmark's jq filters name (keys and string literals) plus apiVersion, kind and metadata name and namespace; command and args lists are reduced like argv",
    "whatever is kept then loses every value that looks like a secret: PEM and PGP private key blocks, values of keys and flags whose name ends in token, password, passwd, secret, secretkey, privatekey, apikey, accesskey or keydata, the data of Secrets, and user:password@ in URLs",
    "file content is stored only for files a check read; every other file has stat facts only; only the processes of the benchmark's components are recorded",
    "redactions.applied names each stored fact that lost values and how many, never the removed values or their keys",
];

const SECRET_NAME_ENDINGS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "secretkey",
    "privatekey",
    "apikey",
    "accesskey",
    "keydata",
];

/// Whether a key or flag name names a secret value (`client-key-data`, `bootstrapToken`, ...).
pub fn is_secret_name(name: &str) -> bool {
    let normalized: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_NAME_ENDINGS
        .iter()
        .any(|ending| normalized.ends_with(ending))
}

static PEM_PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----|\z)",
    )
    .expect("valid regex")
});

static INLINE_JSON_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""([A-Za-z0-9_.-]+)"(\s*:\s*)"((?:[^"\\]|\\.)*)""#).expect("valid regex")
});

/// An entry of a YAML flow mapping: `{name: k, secret: X}`.
static FLOW_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([{,][ \t]*)(["']?)([A-Za-z0-9_.-]+)(["']?[ \t]*:[ \t]+)("[^"]*"|'[^']*'|[^,}\s][^,}\n]*)"#)
        .expect("valid regex")
});

static FLAG_WITH_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(^|[\s"'=])(--?[A-Za-z0-9][A-Za-z0-9_.-]*)(=|[ \t]+)("[^"]*"|'[^']*'|[^\s"']+)"#)
        .expect("valid regex")
});

/// Text with secrets replaced, and how many values were replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub count: usize,
}

/// Redacts file content. `path` decides the key-file rule (`*.key`).
pub fn redact_file_content(path: &str, content: &str) -> Redacted {
    let mut redacted = redact_text(content);
    if path.ends_with(".key") && !PEM_PRIVATE_KEY.is_match(content) && !content.is_empty() {
        redacted = Redacted {
            text: format!("{REDACTED} (key file)\n"),
            count: 1,
        };
    }
    redacted
}

/// Redacts free text: PEM private keys, secret `key: value` lines, inline JSON pairs and flags.
pub fn redact_text(text: &str) -> Redacted {
    let mut count = 0;
    let text = PEM_PRIVATE_KEY.replace_all(text, |caps: &Captures| {
        count += 1;
        let end = caps.get(3).map_or("", |m| m.as_str());
        format!("{}\n{REDACTED}\n{end}", &caps[1])
    });
    let (text, line_count) = redact_key_value_lines(&text);
    count += line_count;
    let text = INLINE_JSON_PAIR.replace_all(&text, |caps: &Captures| {
        if is_secret_name(&caps[1]) && !is_marker(&caps[3]) {
            count += 1;
            format!("\"{}\"{}\"{REDACTED}\"", &caps[1], &caps[2])
        } else {
            caps[0].to_string()
        }
    });
    let text = FLOW_PAIR.replace_all(&text, |caps: &Captures| {
        if is_secret_name(&caps[3]) && !is_marker(&caps[5]) {
            count += 1;
            format!(
                "{}{}{}{}{}",
                &caps[1],
                &caps[2],
                &caps[3],
                &caps[4],
                quoted_like(&caps[5])
            )
        } else {
            caps[0].to_string()
        }
    });
    let text = redact_flags_in_text(&text, &mut count);
    Redacted { text, count }
}

fn redact_flags_in_text(text: &str, count: &mut usize) -> String {
    FLAG_WITH_VALUE
        .replace_all(text, |caps: &Captures| {
            let flag = &caps[2];
            let separator = &caps[3];
            let value = &caps[4];
            let value_is_a_flag = separator != "=" && value.starts_with('-');
            if is_secret_name(flag.trim_start_matches('-')) && !value_is_a_flag && !is_marker(value)
            {
                *count += 1;
                format!("{}{flag}{separator}{}", &caps[1], quoted_like(value))
            } else {
                caps[0].to_string()
            }
        })
        .into_owned()
}

/// `<redacted>` in the same quotes as the value it replaces.
fn quoted_like(value: &str) -> String {
    match value.chars().next() {
        Some(quote @ ('"' | '\'')) => format!("{quote}{REDACTED}{quote}"),
        _ => REDACTED.to_string(),
    }
}

/// YAML, INI and env-file lines: `key: value`, `- key: value`, `KEY=value`, `"key": "value",`.
/// A block scalar (`key: |`) has its more-indented lines replaced as well.
fn redact_key_value_lines(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut block_indent: Option<usize> = None;
    // `secret:` with its value on the lines below: each such line is counted
    let mut value_below = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if let Some(key_indent) = block_indent {
            if body.trim().is_empty() || indent > key_indent {
                if !body.trim().is_empty() && !is_marker(body.trim()) {
                    count += usize::from(value_below);
                    out.push_str(&body[..indent]);
                    out.push_str(REDACTED);
                }
                out.push_str(ending);
                continue;
            }
            block_indent = None;
        }
        match secret_entry(body) {
            Some(entry) if entry.value.starts_with('|') || entry.value.starts_with('>') => {
                count += 1;
                block_indent = Some(indent);
                value_below = false;
                out.push_str(line);
            }
            Some(entry) if entry.value.is_empty() => {
                block_indent = Some(indent);
                value_below = true;
                out.push_str(line);
            }
            Some(entry)
                if !entry.value.is_empty()
                    && !entry.value.contains(REDACTED)
                    && !is_marker(entry.value) =>
            {
                count += 1;
                out.push_str(&body[..entry.value_start]);
                out.push_str(&replace_scalar(entry.value));
                out.push_str(ending);
            }
            _ => out.push_str(line),
        }
    }
    (out, count)
}

struct Entry<'a> {
    value_start: usize,
    value: &'a str,
}

/// The value of a line whose key names a secret.
fn secret_entry(line: &str) -> Option<Entry<'_>> {
    let mut rest = line.trim_start();
    rest = rest.strip_prefix("- ").map(str::trim_start).unwrap_or(rest);
    rest = rest.strip_prefix("export ").unwrap_or(rest);
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    if let Some(quote) = quote {
        rest = &rest[1..];
        let end = rest.find(quote)?;
        let key = &rest[..end];
        rest = &rest[end + 1..];
        return entry_after_key(line, key, rest);
    }
    let key_end = rest.find([':', '='])?;
    let key = &rest[..key_end];
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    entry_after_key(line, key, &rest[key_end..])
}

fn entry_after_key<'a>(line: &'a str, key: &str, after_key: &'a str) -> Option<Entry<'a>> {
    if !is_secret_name(key) {
        return None;
    }
    let after = after_key.trim_start();
    let separator = after.chars().next().filter(|c| *c == ':' || *c == '=')?;
    let after_separator = &after[separator.len_utf8()..];
    if separator == ':' && !(after_separator.is_empty() || after_separator.starts_with([' ', '\t']))
    {
        return None; // `key:value` is not a YAML mapping entry (a URL, a port)
    }
    let value = after_separator.trim();
    let value_start = if value.is_empty() {
        line.len()
    } else {
        line.len() - after_separator.trim_start().len()
    };
    Some(Entry { value_start, value })
}

/// Replaces a scalar keeping its quoting and a trailing JSON comma.
fn replace_scalar(value: &str) -> String {
    let comma = if value.ends_with(',') { "," } else { "" };
    format!("{}{comma}", quoted_like(value))
}

/// Redacts one argv, element by element: `--token=x` and `--token x`.
pub fn redact_argv(argv: &[String]) -> (Vec<String>, usize) {
    let mut out = Vec::with_capacity(argv.len());
    let mut count = 0;
    let mut redact_next = false;
    for arg in argv {
        if redact_next && !arg.starts_with('-') && !is_marker(arg) {
            out.push(REDACTED.to_string());
            count += 1;
            redact_next = false;
            continue;
        }
        redact_next = false;
        match arg.split_once('=') {
            Some((flag, value))
                if flag.starts_with('-')
                    && is_secret_name(flag.trim_start_matches('-'))
                    && !is_marker(value) =>
            {
                out.push(format!("{flag}={REDACTED}"));
                count += 1;
            }
            None if arg.starts_with('-') && is_secret_name(arg.trim_start_matches('-')) => {
                redact_next = true;
                out.push(arg.clone());
            }
            _ => out.push(arg.clone()),
        }
    }
    (out, count)
}

/// Redacts an API object in place; returns how many values were replaced.
pub fn redact_api_object(object: &mut serde_json::Value) -> usize {
    let mut count = 0;
    if object.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
        count += redact_secret_payload(object);
    }
    count + redact_json_value(object)
}

fn redact_secret_payload(secret: &mut serde_json::Value) -> usize {
    let mut count = 0;
    for field in ["data", "stringData"] {
        if let Some(map) = secret.get_mut(field).and_then(|v| v.as_object_mut()) {
            for value in map.values_mut() {
                *value = serde_json::Value::String(REDACTED.into());
                count += 1;
            }
        }
    }
    if let Some(annotations) = secret
        .pointer_mut("/metadata/annotations")
        .and_then(|v| v.as_object_mut())
    {
        if annotations
            .remove("kubectl.kubernetes.io/last-applied-configuration")
            .is_some()
        {
            count += 1;
        }
    }
    count
}

fn redact_json_value(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => map
            .iter_mut()
            .map(|(key, child)| match child {
                serde_json::Value::String(text) if is_secret_name(key) && !is_marker(text) => {
                    *text = REDACTED.into();
                    1
                }
                _ => redact_json_value(child),
            })
            .sum(),
        serde_json::Value::Array(items) => items.iter_mut().map(redact_json_value).sum(),
        serde_json::Value::String(text) => {
            let redacted = redact_text(text);
            if redacted.count > 0 {
                *text = redacted.text;
            }
            redacted.count
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised_but_file_flags_are_not() {
        for name in [
            "token",
            "client-key-data",
            "bootstrapToken",
            "oidc-client-secret",
            "PASSWORD",
            "id-token",
            "secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "token-auth-file",
            "tokenFile",
            "client-certificate-data",
            "client-key",
            "service-account-key-file",
            "enable-bootstrap-token-auth",
            "tlsPrivateKeyFile",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn kubeconfig_credentials_are_redacted_and_structure_kept() {
        let kubeconfig = "users:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZU0VDUkVU\n    token: abc.def\n";
        let redacted = redact_file_content("/etc/kubernetes/admin.conf", kubeconfig);
        assert_eq!(redacted.count, 2);
        assert!(!redacted.text.contains("S0VZU0VDUkVU"));
        assert!(!redacted.text.contains("abc.def"));
        assert!(redacted.text.contains("client-certificate-data: Q0VSVA=="));
        assert!(redacted.text.contains("    client-key-data: <redacted>\n"));
    }

    #[test]
    fn pem_private_key_blocks_lose_their_body() {
        let pem = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n-----BEGIN RSA PRIVATE KEY-----\nTUlJRXBBSUJBQUtD\nU0VDUkVU\n-----END RSA PRIVATE KEY-----\n";
        let redacted = redact_file_content("/var/lib/kubelet/pki/kubelet.pem", pem);
        assert_eq!(redacted.count, 1);
        assert!(!redacted.text.contains("TUlJRXBBSUJBQUtD"));
        assert!(redacted.text.contains("Q0VSVA=="));
        assert!(redacted.text.contains(
            "-----BEGIN RSA PRIVATE KEY-----\n<redacted>\n-----END RSA PRIVATE KEY-----"
        ));
    }

    #[test]
    fn a_truncated_pem_block_is_redacted_to_the_end() {
        let redacted = redact_text("x\n-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n");
        assert!(!redacted.text.contains("U0VDUkVU"));
    }

    #[test]
    fn key_files_without_pem_are_replaced_whole() {
        let redacted = redact_file_content("/etc/kubernetes/pki/sa.key", "binary-ish secret");
        assert!(!redacted.text.contains("secret"));
    }

    #[test]
    fn env_files_json_and_block_scalars_are_redacted() {
        let text = "PASSWORD=\"hunter2\"\nexport API_TOKEN=t0k3n\nNAME=x\n{\"password\": \"p4ss\", \"user\": \"u\"}\n  \"secret\": \"s3cr3t\",\nsecret: |\n  bGluZTE=\n  bGluZTI=\nafter: kept\n";
        let redacted = redact_text(text);
        for secret in ["hunter2", "t0k3n", "p4ss", "s3cr3t", "bGluZTE=", "bGluZTI="] {
            assert!(
                !redacted.text.contains(secret),
                "{secret} in {}",
                redacted.text
            );
        }
        assert!(redacted.text.contains("PASSWORD=\"<redacted>\"\n"));
        assert!(redacted.text.contains("  \"secret\": \"<redacted>\",\n"));
        assert!(redacted.text.contains("NAME=x\n"));
        assert!(redacted.text.contains("\"user\": \"u\""));
        assert!(redacted.text.contains("after: kept\n"));
    }

    #[test]
    fn flow_mappings_values_on_the_next_line_and_pgp_blocks_are_redacted() {
        let config = "keys:\n  - {name: k1, secret: c2VjcmV0QQ==}\n  - {\"name\": \"k2\", \"secret\": \"c2VjcmV0Qg==\"}\n  - name: k3\n    secret:\n      c2VjcmV0Qw==\n  - name: k4\ntoken:\n  c2VjcmV0RA==\nafter: kept\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nc2VjcmV0RQ==\n-----END PGP PRIVATE KEY BLOCK-----\n";
        let redacted = redact_text(config);
        for secret in ["QQ==", "Qg==", "Qw==", "RA==", "RQ=="] {
            assert!(
                !redacted.text.contains(secret),
                "{secret} in {}",
                redacted.text
            );
        }
        assert!(redacted.text.contains("{name: k1, secret: <redacted>}"));
        assert!(redacted.text.contains("  - name: k4\n"));
        assert!(redacted.text.contains("after: kept\n"));
        assert_eq!(redacted.count, 5);
    }

    #[test]
    fn encryption_provider_secrets_are_redacted() {
        let config = "resources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: c2VjcmV0IGlzIHNlY3VyZQ==\n      - identity: {}\n";
        let redacted = redact_text(config);
        assert!(!redacted.text.contains("c2VjcmV0IGlzIHNlY3VyZQ=="));
        assert!(redacted.text.contains("      - aescbc:\n"));
    }

    #[test]
    fn flags_in_shell_output_are_redacted() {
        let ps = "root 1 kubectl --token=abc123 get pods\nroot 2 x --password 'p w' --token-auth-file=/etc/tokens.csv --secret --other\n";
        let redacted = redact_text(ps);
        assert!(!redacted.text.contains("abc123"));
        assert!(!redacted.text.contains("p w"));
        assert!(redacted.text.contains("--token-auth-file=/etc/tokens.csv"));
        assert!(redacted.text.contains("--secret --other"));
        assert!(redacted.text.contains("--password '<redacted>'"));
    }

    #[test]
    fn argv_flags_are_redacted_in_both_spellings() {
        let argv: Vec<String> = [
            "kube-apiserver",
            "--token-auth-file=/etc/tokens.csv",
            "--oidc-client-secret=s3",
            "--token",
            "abc",
            "--anonymous-auth=false",
        ]
        .map(String::from)
        .to_vec();
        let (redacted, count) = redact_argv(&argv);
        assert_eq!(count, 2);
        assert_eq!(
            redacted,
            [
                "kube-apiserver",
                "--token-auth-file=/etc/tokens.csv",
                "--oidc-client-secret=<redacted>",
                "--token",
                "<redacted>",
                "--anonymous-auth=false",
            ]
        );
    }

    #[test]
    fn secrets_keep_metadata_only() {
        let mut secret = serde_json::json!({
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"a\":\"c2VjcmV0\"}}"}},
            "data": {"a": "c2VjcmV0"},
            "stringData": {"b": "plain"}
        });
        let count = redact_api_object(&mut secret);
        let text = secret.to_string();
        assert_eq!(count, 3);
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("plain"),
            "{text}"
        );
        assert_eq!(secret["metadata"]["name"], "s");
    }

    #[test]
    fn redaction_is_idempotent() {
        let text = "token: abc\n--password=x\n";
        let once = redact_text(text);
        let twice = redact_text(&once.text);
        assert_eq!(twice.text, once.text);
        assert_eq!(twice.count, 0);
    }
}
