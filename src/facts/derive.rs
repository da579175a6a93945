//! Derived processes: the command lines a node would run, worked out from its files.
//!
//! - Each static pod manifest yields one process per container with a `command`:
//!   argv = `command` followed by `args` (the kubelet appends args to command), with
//!   Kubernetes `$(VAR)` references expanded from the container's literal `env`.
//! - The kubelet's systemd unit (`kubelet.service` plus `kubelet.service.d/*.conf`
//!   drop-ins, `Environment=` and `EnvironmentFile=`) yields the kubelet's argv with
//!   systemd's `$VAR` / `${VAR}` expansion.
//!
//! Derivation reads through the `Facts` trait, so any source with files can be derived from.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use super::{FactError, Facts};
use crate::matching::block_yaml;
use crate::matching::document::scalar_text;
use crate::matching::recent_parses::{parse_or_reuse, RecentParses};
use crate::sanitize;

/// A process worked out from the file that defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedProcess {
    pub argv: Vec<String>,
    /// The node path of the manifest or unit that defines the command line.
    pub source: String,
    /// The container image, for static pods.
    pub image: Option<String>,
}

/// Directories systemd loads units from, highest precedence first.
pub const SYSTEMD_UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

pub const DEFAULT_STATIC_POD_PATH: &str = "/etc/kubernetes/manifests";

/// The kernel's `comm` for a program: the basename of `argv[0]`, cut to 15 bytes.
pub fn comm_of(argv0: &str) -> String {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// The kubelet (from its unit) followed by every static pod container, in file-name order.
/// A node whose kubelet has no unit (RKE2's `rke2` process starts it) may declare it:
/// `declared_kubelet` is then the argv its static pod directory is read from, and the
/// kubelet itself is not derived (it is already declared).
pub fn derive_processes(
    facts: &dyn Facts,
    declared_kubelet: Option<&[String]>,
) -> Result<Vec<DerivedProcess>, FactError> {
    let kubelet = kubelet_process(facts)?;
    let declared = declared_kubelet.map(|argv| DerivedProcess {
        argv: argv.to_vec(),
        source: String::new(),
        image: None,
    });
    let manifest_dir = static_pod_path(facts, kubelet.as_ref().or(declared.as_ref()))?;
    let mut processes: Vec<DerivedProcess> = kubelet.into_iter().collect();
    processes.extend(static_pod_processes(facts, &manifest_dir)?);
    Ok(processes)
}

fn unreadable(path: &str, reason: impl Into<String>) -> FactError {
    FactError::Unreadable {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// The value of `--name=value` or `--name value` (the last one wins, as in the kubelet).
pub fn flag_value(argv: &[String], name: &str) -> Option<String> {
    let mut found = None;
    let mut iter = argv.iter().skip(1).peekable();
    while let Some(arg) = iter.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        match flag.split_once('=') {
            Some((flag_name, value)) if flag_name == name => found = Some(value.to_string()),
            None if flag == name => found = iter.next().cloned(),
            _ => {}
        }
    }
    found
}

/// Where the kubelet reads static pods: `staticPodPath` of its `--config` file, else
/// `--pod-manifest-path`, else kubeadm's `/etc/kubernetes/manifests`.
fn static_pod_path(
    facts: &dyn Facts,
    kubelet: Option<&DerivedProcess>,
) -> Result<String, FactError> {
    let Some(kubelet) = kubelet else {
        return Ok(DEFAULT_STATIC_POD_PATH.into());
    };
    if let Some(config) = flag_value(&kubelet.argv, "config") {
        if let Some(text) = facts.read_file(&config)? {
            let parsed = parsed_kubelet_config(&text)
                .map_err(|error| unreadable(&config, format!("invalid kubelet config: {error}")))?;
            let path = match &parsed {
                Value::Object(fields) => fields.get("staticPodPath"),
                Value::Null => None,
                _ => {
                    return Err(unreadable(
                        &config,
                        "invalid kubelet config: expected a mapping",
                    ))
                }
            };
            if let Some(path) = path.and_then(scalar_text).filter(|p| !p.is_empty()) {
                return Ok(path);
            }
        }
    }
    Ok(flag_value(&kubelet.argv, "pod-manifest-path")
        .unwrap_or_else(|| DEFAULT_STATIC_POD_PATH.into()))
}

/// A kubelet configuration file's YAML as a value. Deriving processes reads its
/// `staticPodPath` and the kubelet probe reads all of it, so each text is parsed once per
/// thread (the nodes of a cluster share one text, too).
pub fn parsed_kubelet_config(text: &str) -> Result<Value, String> {
    thread_local! {
        static RECENT: RecentParses<Value> = const { RefCell::new(VecDeque::new()) };
    }
    parse_or_reuse(&RECENT, text, |text| {
        block_yaml::from_str(text).map_err(|e| sanitize::yaml_error(&e))
    })
}

// ---------------------------------------------------------------------------------------
// Static pods

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct PodManifest {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    spec: Option<PodSpec>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Container {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

/// Every container of every static pod manifest directly in `dir`, in file-name order.
/// Like the kubelet, files whose names start with `.` are ignored.
pub fn static_pod_processes(
    facts: &dyn Facts,
    dir: &str,
) -> Result<Vec<DerivedProcess>, FactError> {
    let mut processes = Vec::new();
    for path in direct_children(facts, dir)? {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if name.starts_with('.') {
            continue;
        }
        let Some(stat) = facts.stat(&path)? else {
            continue;
        };
        if stat.kind != super::FileKind::File {
            continue;
        }
        let Some(text) = facts.read_file(&path)? else {
            continue;
        };
        let containers =
            pod_manifest_containers(&text).map_err(|reason| unreadable(&path, reason))?;
        processes.extend(containers.into_iter().map(|container| DerivedProcess {
            argv: container.argv,
            source: path.clone(),
            image: container.image,
        }));
    }
    Ok(processes)
}

fn direct_children(facts: &dyn Facts, dir: &str) -> Result<Vec<String>, FactError> {
    let dir = dir.trim_end_matches('/');
    Ok(facts
        .list_tree(dir)?
        .iter()
        .filter(|path| {
            path.strip_prefix(dir)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        })
        .cloned()
        .collect())
}

/// The argv of each container (with a `command`) of a pod manifest; other kinds yield none.
pub fn pod_manifest_argvs(text: &str) -> Result<Vec<Vec<String>>, String> {
    Ok(pod_manifest_containers(text)?
        .into_iter()
        .map(|container| container.argv)
        .collect())
}

struct ContainerCommand {
    argv: Vec<String>,
    image: Option<String>,
}

/// Each container with a `command`: its argv and image.
fn pod_manifest_containers(text: &str) -> Result<Vec<ContainerCommand>, String> {
    let manifest: PodManifest = block_yaml::from_str(text)
        .map_err(|error| format!("invalid pod manifest: {}", sanitize::yaml_error(&error)))?;
    if manifest.kind.as_deref() != Some("Pod") {
        return Ok(Vec::new());
    }
    let containers = manifest
        .spec
        .map(|spec| spec.containers)
        .unwrap_or_default();
    Ok(containers
        .into_iter()
        .filter(|container| !container.command.is_empty())
        .map(|container| {
            let env: HashMap<&str, &str> = container
                .env
                .iter()
                .filter_map(|var| Some((var.name.as_str(), var.value.as_deref()?)))
                .collect();
            let argv = container
                .command
                .iter()
                .chain(&container.args)
                .map(|arg| expand_kubernetes_references(arg, &env))
                .collect();
            ContainerCommand {
                argv,
                image: container.image.clone(),
            }
        })
        .collect())
}

/// Kubernetes `$(VAR)` expansion: defined references are replaced, undefined ones are
/// kept as written, and `$$` is an escaped `$`.
pub fn expand_kubernetes_references(text: &str, env: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        if let Some(after_escape) = after.strip_prefix('$') {
            out.push('$');
            rest = after_escape;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
        {
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// The kubelet's systemd unit

/// The `[Service]` settings that decide the kubelet's command line, after all files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// `ExecStart=` lines still in effect (an empty `ExecStart=` clears earlier ones).
    pub exec_start: Vec<String>,
    /// `Environment=` assignments in order.
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths in order; `true` when prefixed with `-` (optional).
    pub environment_files: Vec<(String, bool)>,
}

/// The unit file and its drop-ins, in the order systemd applies them.
pub fn kubelet_unit_files(facts: &dyn Facts) -> Result<Vec<String>, FactError> {
    let mut unit = None;
    for dir in SYSTEMD_UNIT_DIRS {
        let path = format!("{dir}/kubelet.service");
        if facts
            .stat(&path)?
            .is_some_and(|stat| stat.kind == super::FileKind::File)
        {
            unit = Some(path);
            break;
        }
    }
    let Some(unit) = unit else {
        return Ok(Vec::new());
    };
    // Same-named drop-ins: the higher-precedence directory wins; all run sorted by name.
    let mut drop_ins: BTreeMap<String, String> = BTreeMap::new();
    for dir in SYSTEMD_UNIT_DIRS {
        for path in direct_children(facts, &format!("{dir}/kubelet.service.d"))? {
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            if name.ends_with(".conf") {
                drop_ins.entry(name).or_insert(path);
            }
        }
    }
    Ok(std::iter::once(unit)
        .chain(drop_ins.into_values())
        .collect())
}

/// The kubelet's process, derived from its unit; `None` when the node has no kubelet unit.
pub fn kubelet_process(facts: &dyn Facts) -> Result<Option<DerivedProcess>, FactError> {
    let files = kubelet_unit_files(facts)?;
    let Some(unit) = files.first().cloned() else {
        return Ok(None);
    };
    let mut settings = ServiceSettings::default();
    for path in &files {
        if let Some(text) = facts.read_file(path)? {
            apply_unit_file(&mut settings, &text).map_err(|reason| unreadable(path, reason))?;
        }
    }
    let env = unit_environment(facts, &settings)?;
    let exec_start = match settings.exec_start.as_slice() {
        [one] => one.clone(),
        [] => return Err(unreadable(&unit, "kubelet.service has no ExecStart= after its drop-ins: systemd would not start it")),
        _ => return Err(unreadable(&unit, "kubelet.service has more than one ExecStart= after its drop-ins (a drop-in needs an empty `ExecStart=` first): systemd would not start it")),
    };
    let argv = expand_exec_start(&exec_start, &env).map_err(|reason| unreadable(&unit, reason))?;
    let source = files.last().cloned().unwrap_or(unit);
    Ok(Some(DerivedProcess {
        argv,
        source,
        image: None,
    }))
}

/// The environment the service starts with: `Environment=` first, then each
/// `EnvironmentFile=` in order, overriding (systemd's documented order).
fn unit_environment(
    facts: &dyn Facts,
    settings: &ServiceSettings,
) -> Result<HashMap<String, String>, FactError> {
    let mut env: HashMap<String, String> = settings.environment.iter().cloned().collect();
    for (path, optional) in &settings.environment_files {
        match facts.read_file(path)? {
            Some(text) => {
                let assignments =
                    parse_environment_file(&text).map_err(|reason| unreadable(path, reason))?;
                env.extend(assignments);
            }
            None if *optional => {}
            None => {
                return Err(unreadable(
                    path,
                    "EnvironmentFile= does not exist and is not optional (`-`): systemd would not start kubelet",
                ))
            }
        }
    }
    Ok(env)
}

/// Unit file lines with `\` continuations joined (the backslash becomes a space) and
/// comment lines dropped, each with its 1-based line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        let is_comment = trimmed.starts_with('#') || trimmed.starts_with(';');
        if is_comment {
            continue;
        }
        let (number, mut line) = pending.take().unwrap_or((index + 1, String::new()));
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                line.push_str(head);
                line.push(' ');
                pending = Some((number, line));
            }
            None => {
                line.push_str(trimmed);
                lines.push((number, line));
            }
        }
    }
    lines.extend(pending);
    lines
}

/// Applies one unit file (or drop-in) to the settings, as systemd does.
pub fn apply_unit_file(settings: &mut ServiceSettings, text: &str) -> Result<(), String> {
    let mut section = String::new();
    for (number, line) in logical_lines(text) {
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        if section != "Service" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue; // systemd ignores a line without `=` (with a warning)
        };
        let value = value.trim();
        match key.trim() {
            "ExecStart" if value.is_empty() => settings.exec_start.clear(),
            "ExecStart" => settings.exec_start.push(value.to_string()),
            "Environment" if value.is_empty() => settings.environment.clear(),
            "Environment" => {
                let words = shlex::split(value)
                    .ok_or_else(|| format!("line {number}: unbalanced quotes in Environment="))?;
                for word in words {
                    let (name, value) = word.split_once('=').ok_or_else(|| {
                        format!("line {number}: Environment= entry `{word}` is not NAME=value")
                    })?;
                    settings
                        .environment
                        .push((name.to_string(), value.to_string()));
                }
            }
            "EnvironmentFile" if value.is_empty() => settings.environment_files.clear(),
            "EnvironmentFile" => {
                let (path, optional) = match value.strip_prefix('-') {
                    Some(path) => (path, true),
                    None => (value, false),
                };
                settings
                    .environment_files
                    .push((path.trim().to_string(), optional));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses an `EnvironmentFile=`: `NAME=value` lines, `#`/`;` comments, quoted values
/// (quotes removed), `\` line continuations.
pub fn parse_environment_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut assignments = Vec::new();
    for (number, line) in logical_lines(text) {
        if line.is_empty() {
            continue;
        }
        // systemd skips lines that are not valid assignments and starts the unit anyway
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if !is_variable_name(name) {
            continue;
        }
        let value = value.trim();
        let value = if value.starts_with(['"', '\'']) {
            shlex::split(value)
                .ok_or_else(|| format!("line {number}: unbalanced quotes in the value of {name}"))?
                .join(" ")
        } else {
            value.to_string()
        };
        assignments.push((name.to_string(), value));
    }
    Ok(assignments)
}

/// Splits an `ExecStart=` command line into argv and expands variables: a word that is
/// exactly `$VAR` becomes the value split on whitespace (zero or more words, so an unset
/// variable disappears); `${VAR}` (or `$VAR` inside a word) is replaced in place and stays
/// one word. `$$` is a literal `$`. Systemd's `-`, `@`, `:`, `+`, `!` prefixes are honoured.
pub fn expand_exec_start(line: &str, env: &HashMap<String, String>) -> Result<Vec<String>, String> {
    let mut command = line.trim_start();
    let mut argv0_given = false;
    while let Some(prefix) = command.chars().next().filter(|c| "-@:+!".contains(*c)) {
        argv0_given |= prefix == '@';
        command = &command[1..];
    }
    let words =
        shlex::split(command).ok_or_else(|| format!("unbalanced quotes in ExecStart={line}"))?;
    let mut argv = Vec::new();
    for word in words {
        match whole_word_variable(&word) {
            Some(name) => argv.extend(
                env.get(name)
                    .map(|value| {
                        value
                            .split_whitespace()
                            .map(String::from)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            ),
            None => argv.push(expand_within_word(&word, env)),
        }
    }
    if argv0_given && !argv.is_empty() {
        argv.remove(0); // `@path argv0 args…`: the first word is the program, not argv[0]
    }
    if argv.is_empty() {
        return Err(format!("ExecStart={line} has no command"));
    }
    Ok(argv)
}

fn whole_word_variable(word: &str) -> Option<&str> {
    let name = word.strip_prefix('$')?;
    is_variable_name(name).then_some(name)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expand_within_word(word: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|inner| inner.split_once('}'))
            .filter(|(name, _)| is_variable_name(name))
        {
            out.push_str(env.get(name).map_or("", String::as_str));
            rest = tail;
        } else {
            let length = after
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
                })
                .map_or(after.len(), |(i, _)| i);
            if length == 0 {
                out.push('$');
            } else {
                out.push_str(env.get(&after[..length]).map_or("", String::as_str));
            }
            rest = &after[length..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_manifest_that_does_not_parse_is_quoted_in_at_most_300_characters() {
        let long_line = format!("a: {}\n", "x".repeat(500));
        let text = format!("{long_line}{long_line}b: [\n{long_line}: : :\n{long_line}");
        let error = pod_manifest_argvs(&text).unwrap_err();
        let excerpt = error.trim_start_matches("invalid pod manifest: ");
        assert!(excerpt.chars().count() <= 301, "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn comm_is_the_basename_cut_to_15_bytes() {
        assert_eq!(
            comm_of("/usr/local/bin/kube-controller-manager"),
            "kube-controller"
        );
        assert_eq!(comm_of("etcd"), "etcd");
    }

    #[test]
    fn args_are_appended_to_command_across_both_fields() {
        let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.33.1
    command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    args:
    - "--authorization-mode=Node,RBAC"
    - '--tls-cipher-suites=TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384'
    - --enable-admission-plugins=NodeRestriction
    - --enable-admission-plugins=NodeRestriction,AlwaysPullImages
    - --secure-port
    - 6443
"#;
        assert_eq!(
            pod_manifest_argvs(manifest).unwrap(),
            vec![strings(&[
                "kube-apiserver",
                "--advertise-address=10.0.0.10",
                "--authorization-mode=Node,RBAC",
                "--tls-cipher-suites=TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-admission-plugins=NodeRestriction,AlwaysPullImages",
                "--secure-port",
                "6443",
            ])]
        );
    }

    /// The manifests go through `matching::block_yaml`; whether it reads a text itself or
    /// leaves it to serde-saphyr, the manifest is the one serde-saphyr reads.
    #[test]
    fn manifests_read_the_same_as_serde_saphyr_reads_them() {
        let mut texts: Vec<String> = ["kube-apiserver", "etcd", "kube-scheduler"]
            .iter()
            .map(|name| {
                let path = format!(
                    "{}/examples/snapshots/control-plane-1/etc/kubernetes/manifests/{name}.yaml",
                    env!("CARGO_MANIFEST_DIR")
                );
                std::fs::read_to_string(path).unwrap()
            })
            .collect();
        texts.push(
            "kind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n    - 6443\n    env:\n    - name: N\n      value: 4\n".into(),
        );
        texts.push("kind: Pod\nspec:\n  containers:\n  - image:\n    command: [a]\n".into());
        texts.push(
            "kind: Pod\nspec:\n  containers:\n  - command:\n    - a\n    env:\n    - value: x\n"
                .into(),
        );
        for text in &texts {
            let fast = block_yaml::from_str::<PodManifest>(text).map_err(|e| e.to_string());
            let full = serde_saphyr::from_str::<PodManifest>(text).map_err(|e| e.to_string());
            assert_eq!(fast, full, "text:\n{text}");
        }
    }

    #[test]
    fn every_container_with_a_command_is_a_process() {
        let manifest = "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [etcd, --data-dir=/var/lib/etcd]\n  - name: sidecar\n    image: x\n    args: [--only-args]\n";
        assert_eq!(
            pod_manifest_argvs(manifest).unwrap(),
            vec![strings(&["etcd", "--data-dir=/var/lib/etcd"])]
        );
    }

    #[test]
    fn non_pod_documents_yield_nothing_and_bad_yaml_is_an_error() {
        assert!(pod_manifest_argvs("kind: ConfigMap\ndata: {}\n")
            .unwrap()
            .is_empty());
        assert!(pod_manifest_argvs("kind: Pod\nspec: [\n").is_err());
    }

    #[test]
    fn kubernetes_references_expand_from_literal_env() {
        let manifest = "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [app, '--ip=$(POD_IP)', '--dir=$(DIR)/x', '--literal=$$(DIR)', '--cost=$5']\n    env:\n    - name: DIR\n      value: /var/lib/app\n    - name: POD_IP\n      valueFrom: {fieldRef: {fieldPath: status.podIP}}\n";
        assert_eq!(
            pod_manifest_argvs(manifest).unwrap(),
            vec![strings(&[
                "app",
                "--ip=$(POD_IP)",
                "--dir=/var/lib/app/x",
                "--literal=$(DIR)",
                "--cost=$5",
            ])]
        );
    }

    #[test]
    fn a_drop_in_with_an_empty_exec_start_replaces_the_unit_command() {
        let mut settings = ServiceSettings::default();
        apply_unit_file(
            &mut settings,
            "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
        )
        .unwrap();
        apply_unit_file(
            &mut settings,
            "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n",
        )
        .unwrap();
        assert_eq!(settings.exec_start.len(), 1);
        assert_eq!(
            settings.environment_files,
            vec![
                ("/var/lib/kubelet/kubeadm-flags.env".to_string(), true),
                ("/etc/default/kubelet".to_string(), true)
            ]
        );
        let env: HashMap<String, String> = settings.environment.iter().cloned().collect();
        let argv = expand_exec_start(&settings.exec_start[0], &env).unwrap();
        // $KUBELET_KUBEADM_ARGS and $KUBELET_EXTRA_ARGS are unset: they vanish
        assert_eq!(
            argv,
            strings(&[
                "/usr/bin/kubelet",
                "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                "--kubeconfig=/etc/kubernetes/kubelet.conf",
                "--config=/var/lib/kubelet/config.yaml",
            ])
        );
    }

    #[test]
    fn two_exec_starts_without_a_reset_accumulate() {
        let mut settings = ServiceSettings::default();
        apply_unit_file(&mut settings, "[Service]\nExecStart=/usr/bin/kubelet\n").unwrap();
        apply_unit_file(
            &mut settings,
            "[Service]\nExecStart=/usr/bin/kubelet --v=2\n",
        )
        .unwrap();
        assert_eq!(settings.exec_start.len(), 2);
    }

    #[test]
    fn braced_variables_stay_one_word_and_bare_ones_split() {
        let env = env(&[("ARGS", "--a=1   --b=2"), ("EMPTY", "")]);
        assert_eq!(
            expand_exec_start(
                "/bin/k $ARGS ${ARGS} --x=${ARGS}y $UNSET ${UNSET} $$HOME $EMPTY",
                &env
            )
            .unwrap(),
            strings(&[
                "/bin/k",
                "--a=1",
                "--b=2",
                "--a=1   --b=2",
                "--x=--a=1   --b=2y",
                "",
                "$HOME"
            ])
        );
    }

    #[test]
    fn exec_start_prefixes_are_stripped() {
        assert_eq!(
            expand_exec_start("-/usr/bin/kubelet --v=2", &HashMap::new()).unwrap(),
            strings(&["/usr/bin/kubelet", "--v=2"])
        );
        assert_eq!(
            expand_exec_start("@/usr/bin/kubelet kubelet --v=2", &HashMap::new()).unwrap(),
            strings(&["kubelet", "--v=2"])
        );
    }

    #[test]
    fn quoted_values_in_environment_files_lose_their_quotes() {
        let text = "# written by kubeadm\nKUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\nSINGLE='--node-ip=10.0.0.11'\nPLAIN=--v=2  \nLONG=--a=1 \\\n  --b=2\n; comment\nKUBELET_EXTRA_ARGS=\n";
        assert_eq!(
            parse_environment_file(text).unwrap(),
            vec![
                (
                    "KUBELET_KUBEADM_ARGS".to_string(),
                    "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10".to_string()
                ),
                ("SINGLE".to_string(), "--node-ip=10.0.0.11".to_string()),
                ("PLAIN".to_string(), "--v=2".to_string()),
                ("LONG".to_string(), "--a=1  --b=2".to_string()),
                ("KUBELET_EXTRA_ARGS".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn invalid_environment_lines_are_skipped_and_unbalanced_quotes_are_named() {
        let assignments = parse_environment_file("A=1\nnot an assignment\nB C=2\nD=4\n").unwrap();
        assert_eq!(
            assignments,
            vec![
                ("A".to_string(), "1".to_string()),
                ("D".to_string(), "4".to_string())
            ]
        );
        let error = parse_environment_file("A=1\nB=\"open\n").unwrap_err();
        assert!(
            error.starts_with("line 2:") && error.contains("unbalanced"),
            "{error}"
        );
    }

    #[test]
    fn unit_line_continuations_are_joined() {
        let mut settings = ServiceSettings::default();
        apply_unit_file(
            &mut settings,
            "[Service]\nExecStart=/usr/bin/kubelet \\\n  --v=2 \\\n# a comment inside\n  --node-ip=10.0.0.1\n",
        )
        .unwrap();
        assert_eq!(
            expand_exec_start(&settings.exec_start[0], &HashMap::new()).unwrap(),
            strings(&["/usr/bin/kubelet", "--v=2", "--node-ip=10.0.0.1"])
        );
    }

    #[test]
    fn flag_values_take_the_last_occurrence_in_both_spellings() {
        let argv = strings(&[
            "kubelet",
            "--config",
            "/a.yaml",
            "--v=2",
            "--config=/b.yaml",
        ]);
        assert_eq!(flag_value(&argv, "config").as_deref(), Some("/b.yaml"));
        assert_eq!(flag_value(&argv, "missing"), None);
    }
}
