//! The `k3s_args` probe: the command line k3s runs one of its embedded components with.
//!
//! k3s runs the API server, controller manager, scheduler, kubelet and kube-proxy inside its
//! own process, so no `ps` shows their flags; k3s only logs them (`Running kube-apiserver
//! --advertise-port=6443 ...`). This probe derives the same line from what decides it on
//! the node: k3s's config file and its `config.yaml.d/` drop-ins, merged as k3s merges them,
//! over the defaults k3s passes (v1.28 release line, `pkg/daemons/control/server.go` and
//! `pkg/daemons/agent/agent_linux.go`), with `<component>-arg` entries applied the way
//! k3s's `config.GetArgs` applies them. Flags are printed `--name=value`, sorted by name,
//! as k3s logs them. Flags on the `k3s server`/`k3s agent` command line of k3s's unit count
//! too. See `docs/probes.md` for what is and is not derived.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::facts::derive::{
    apply_unit_file, expand_exec_start, parse_environment_file, ServiceSettings,
};
use crate::facts::{FactError, Facts, FileKind};
use crate::matching::document::scalar_text;

use super::probes::ProbeError;

/// Where k3s reads its configuration unless `--config` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";
const DEFAULT_DATA_DIR: &str = "/var/lib/rancher/k3s";

/// The embedded components, whether each runs on servers only, the config key holding its
/// extra arguments and the key that disables it.
const COMPONENTS: &[(&str, Role, &str, Option<&str>)] = &[
    (
        "kube-apiserver",
        Role::Server,
        "kube-apiserver-arg",
        Some("disable-apiserver"),
    ),
    (
        "kube-controller-manager",
        Role::Server,
        "kube-controller-manager-arg",
        Some("disable-controller-manager"),
    ),
    (
        "kube-scheduler",
        Role::Server,
        "kube-scheduler-arg",
        Some("disable-scheduler"),
    ),
    ("kubelet", Role::Agent, "kubelet-arg", None),
    (
        "kube-proxy",
        Role::Agent,
        "kube-proxy-arg",
        Some("disable-kube-proxy"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Runs on `k3s server` nodes, which have `<data-dir>/server`.
    Server,
    /// Runs on every node (servers run an agent too), which have `<data-dir>/agent`.
    Agent,
}

/// `component --flag=value ...` as k3s would run it on this node; empty when the node does
/// not run the component (not a k3s node of that role, or the component is disabled).
pub fn command_line(
    facts: &dyn Facts,
    component: &str,
    config: Option<&str>,
) -> Result<String, ProbeError> {
    let Some(&(_, role, extra_key, disable_key)) =
        COMPONENTS.iter().find(|(name, ..)| *name == component)
    else {
        let known: Vec<&str> = COMPONENTS.iter().map(|(name, ..)| *name).collect();
        return Err(ProbeError::Invalid(format!(
            "k3s_args: unknown component `{component}` (one of {})",
            known.join(", ")
        )));
    };
    let mut settings = K3sConfig::read(facts, config.unwrap_or(DEFAULT_CONFIG))?;
    settings.apply_unit_command_line(facts, role)?;
    let data_dir = settings
        .text("data-dir")
        .unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned());
    let role_dir = match role {
        Role::Server => format!("{data_dir}/server"),
        Role::Agent => format!("{data_dir}/agent"),
    };
    if !is_dir(facts, &role_dir)? || disable_key.is_some_and(|key| settings.flag(key)) {
        return Ok(String::new());
    }
    let defaults = match component {
        "kube-apiserver" => apiserver_defaults(facts, &settings, &data_dir)?,
        "kube-controller-manager" => controller_manager_defaults(&settings, &data_dir),
        "kube-scheduler" => scheduler_defaults(&data_dir),
        "kubelet" => kubelet_defaults(facts, &settings, &data_dir)?,
        _ => proxy_defaults(facts, &settings, &data_dir)?,
    };
    let args = merged_args(defaults, &settings.list(extra_key));
    Ok(std::iter::once(component.to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" "))
}

fn is_dir(facts: &dyn Facts, path: &str) -> Result<bool, FactError> {
    Ok(facts
        .stat(path)?
        .is_some_and(|stat| stat.kind == FileKind::Dir))
}

/// k3s's settings: the config file, then each `*.yaml`/`*.yml` of `<config>.d/` in lexical
/// order. A later file's key replaces the earlier value; a key ending in `+` appends to it.
#[derive(Debug, Default)]
struct K3sConfig {
    values: BTreeMap<String, Value>,
}

impl K3sConfig {
    fn read(facts: &dyn Facts, path: &str) -> Result<Self, ProbeError> {
        let mut config = K3sConfig::default();
        let drop_in_dir = format!("{path}.d");
        let mut drop_ins: Vec<String> = facts
            .list_tree(&drop_in_dir)?
            .iter()
            .filter(|p| {
                p.rsplit_once('/').is_some_and(|(parent, name)| {
                    parent == drop_in_dir && (name.ends_with(".yaml") || name.ends_with(".yml"))
                })
            })
            .cloned()
            .collect();
        drop_ins.sort();
        for file in std::iter::once(path.to_owned()).chain(drop_ins) {
            if let Some(text) = facts.read_file(&file)? {
                config.merge_file(&file, &text)?;
            }
        }
        Ok(config)
    }

    fn merge_file(&mut self, path: &str, text: &str) -> Result<(), ProbeError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let parsed: Value = serde_saphyr::from_str(text).map_err(|error| {
            ProbeError::Fact(FactError::Unreadable {
                path: path.to_owned(),
                reason: format!("invalid k3s config: {error}"),
            })
        })?;
        let Value::Object(entries) = parsed else {
            if parsed.is_null() {
                return Ok(());
            }
            return Err(ProbeError::Fact(FactError::Unreadable {
                path: path.to_owned(),
                reason: "invalid k3s config: not a mapping of settings".into(),
            }));
        };
        for (key, value) in entries {
            match key.strip_suffix('+') {
                Some(key) => {
                    let mut items = self.list(key);
                    items.extend(as_list(&value));
                    self.values.insert(key.to_owned(), Value::from(items));
                }
                None => {
                    self.values.insert(key, value);
                }
            }
        }
        Ok(())
    }

    /// Flags on the `k3s server` / `k3s agent` command line of k3s's unit (what
    /// `INSTALL_K3S_EXEC` puts there). k3s reads the config file as if its settings came
    /// first on the command line, so a flag given there replaces a config value, and adds
    /// to it for list settings (`--kube-apiserver-arg`, `--node-label`, ...).
    fn apply_unit_command_line(&mut self, facts: &dyn Facts, role: Role) -> Result<(), ProbeError> {
        let units: &[&str] = match role {
            Role::Server => &["k3s.service"],
            Role::Agent => &["k3s-agent.service", "k3s.service"],
        };
        let Some(argv) = unit_command_line(facts, units)? else {
            return Ok(());
        };
        let mut args = argv.iter().skip(2).peekable();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                continue;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => match args.peek() {
                    Some(next) if !next.starts_with('-') => {
                        (flag.to_owned(), args.next().cloned().unwrap_or_default())
                    }
                    _ => (flag.to_owned(), "true".to_owned()),
                },
            };
            if is_list_setting(&name) {
                let mut items = self.list(&name);
                items.push(value);
                self.values.insert(name, Value::from(items));
            } else {
                self.values.insert(name, Value::from(value));
            }
        }
        Ok(())
    }

    /// A scalar setting as text.
    fn text(&self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A boolean setting (`true`, or a string k3s's flag parser reads as true).
    fn flag(&self, key: &str) -> bool {
        match self.values.get(key) {
            Some(Value::Bool(value)) => *value,
            Some(Value::String(text)) => {
                matches!(text.as_str(), "true" | "1" | "t" | "T" | "TRUE" | "True")
            }
            _ => false,
        }
    }

    /// A list setting; a single value is a list of one.
    fn list(&self, key: &str) -> Vec<String> {
        self.values.get(key).map(as_list).unwrap_or_default()
    }
}

/// Settings k3s takes as lists (`StringSlice` flags).
fn is_list_setting(name: &str) -> bool {
    name.ends_with("-arg")
        || matches!(
            name,
            "node-label" | "node-taint" | "tls-san" | "disable" | "kubelet-arg"
        )
}

/// Where the install script and packages put k3s's units, in systemd's order.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The argv of the first of `units` found, as systemd would start it (`ExecStart=` with its
/// environment expanded); `None` when there is no such unit.
fn unit_command_line(facts: &dyn Facts, units: &[&str]) -> Result<Option<Vec<String>>, ProbeError> {
    for unit in units {
        for dir in UNIT_DIRS {
            let path = format!("{dir}/{unit}");
            let Some(text) = facts.read_file(&path)? else {
                continue;
            };
            let unreadable = |reason: String| {
                ProbeError::Fact(FactError::Unreadable {
                    path: path.clone(),
                    reason,
                })
            };
            let mut settings = ServiceSettings::default();
            apply_unit_file(&mut settings, &text).map_err(unreadable)?;
            let mut env: HashMap<String, String> = settings.environment.iter().cloned().collect();
            for (file, optional) in &settings.environment_files {
                match facts.read_file(file)? {
                    Some(text) => env.extend(parse_environment_file(&text).map_err(|reason| {
                        ProbeError::Fact(FactError::Unreadable {
                            path: file.clone(),
                            reason,
                        })
                    })?),
                    None if *optional => {}
                    None => {
                        return Err(unreadable(format!("EnvironmentFile {file} does not exist")))
                    }
                }
            }
            let Some(line) = settings.exec_start.last() else {
                return Err(unreadable("no ExecStart=".into()));
            };
            return expand_exec_start(line, &env).map(Some).map_err(unreadable);
        }
    }
    Ok(None)
}

fn as_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
        other => scalar_text(other).into_iter().collect(),
    }
}

/// k3s's `config.GetArgs`: each extra `name=value` (a bare `name` means `true`) replaces
/// the default of that name; `name+=value` appends after it and `name-=value` puts itself
/// before it, each as a repeated flag. The result is sorted by name, repeated flags in the
/// order given.
fn merged_args(mut defaults: BTreeMap<String, String>, extra: &[String]) -> Vec<String> {
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for arg in extra {
        let arg = arg.trim_start_matches("--");
        let (name, value) = arg.split_once('=').unwrap_or((arg, "true"));
        let clean = name.trim_end_matches(['+', '-']);
        let initial = defaults.remove(clean);
        let existing = merged.remove(clean).unwrap_or_default();
        let values = if name.ends_with('+') {
            initial
                .into_iter()
                .chain(existing)
                .chain([value.to_owned()])
                .collect()
        } else if name.ends_with('-') {
            std::iter::once(value.to_owned())
                .chain(initial)
                .chain(existing)
                .collect()
        } else {
            existing.into_iter().chain([value.to_owned()]).collect()
        };
        merged.insert(clean.to_owned(), values);
    }
    for (name, value) in defaults {
        merged.insert(name, vec![value]);
    }
    merged
        .into_iter()
        .flat_map(|(name, values)| {
            values
                .into_iter()
                .map(move |value| format!("--{name}={value}"))
        })
        .collect()
}

fn args(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn setting_or(settings: &K3sConfig, key: &str, default: &str) -> String {
    settings.text(key).unwrap_or_else(|| default.to_owned())
}

/// The node name k3s registers: `node-name`, else the host name.
fn node_name(facts: &dyn Facts, settings: &K3sConfig) -> Result<Option<String>, FactError> {
    if let Some(name) = settings.text("node-name") {
        return Ok(Some(name));
    }
    Ok(facts
        .read_file("/etc/hostname")?
        .map(|text| text.trim().to_owned())
        .filter(|name| !name.is_empty()))
}

fn apiserver_defaults(
    facts: &dyn Facts,
    settings: &K3sConfig,
    data_dir: &str,
) -> Result<BTreeMap<String, String>, FactError> {
    let server = format!("{data_dir}/server");
    let tls = format!("{server}/tls");
    let domain = setting_or(settings, "cluster-domain", "cluster.local");
    let https_port = setting_or(settings, "https-listen-port", "6443");
    let mut map = args(&[
        ("advertise-port", https_port.clone()),
        ("allow-privileged", "true".into()),
        ("anonymous-auth", "false".into()),
        (
            "api-audiences",
            format!("https://kubernetes.default.svc.{domain},k3s"),
        ),
        ("authorization-mode", "Node,RBAC".into()),
        ("bind-address", "127.0.0.1".into()),
        ("cert-dir", format!("{tls}/temporary-certs")),
        ("client-ca-file", format!("{tls}/client-ca.crt")),
        (
            "egress-selector-config-file",
            format!("{server}/etc/egress-selector-config.yaml"),
        ),
        ("enable-admission-plugins", "NodeRestriction".into()),
        ("enable-aggregator-routing", "true".into()),
        ("enable-bootstrap-token-auth", "true".into()),
        (
            "kubelet-certificate-authority",
            format!("{tls}/server-ca.crt"),
        ),
        (
            "kubelet-client-certificate",
            format!("{tls}/client-kube-apiserver.crt"),
        ),
        (
            "kubelet-client-key",
            format!("{tls}/client-kube-apiserver.key"),
        ),
        ("profiling", "false".into()),
        (
            "proxy-client-cert-file",
            format!("{tls}/client-auth-proxy.crt"),
        ),
        (
            "proxy-client-key-file",
            format!("{tls}/client-auth-proxy.key"),
        ),
        ("requestheader-allowed-names", "system:auth-proxy".into()),
        (
            "requestheader-client-ca-file",
            format!("{tls}/request-header-ca.crt"),
        ),
        (
            "requestheader-extra-headers-prefix",
            "X-Remote-Extra-".into(),
        ),
        ("requestheader-group-headers", "X-Remote-Group".into()),
        ("requestheader-username-headers", "X-Remote-User".into()),
        ("secure-port", "6444".into()),
        (
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{domain}"),
        ),
        ("service-account-key-file", format!("{tls}/service.key")),
        (
            "service-account-signing-key-file",
            format!("{tls}/service.current.key"),
        ),
        (
            "service-cluster-ip-range",
            setting_or(settings, "service-cidr", "10.43.0.0/16"),
        ),
        (
            "service-node-port-range",
            setting_or(settings, "service-node-port-range", "30000-32767"),
        ),
        ("storage-backend", "etcd3".into()),
        ("tls-cert-file", format!("{tls}/serving-kube-apiserver.crt")),
        (
            "tls-private-key-file",
            format!("{tls}/serving-kube-apiserver.key"),
        ),
    ]);
    if let Some(address) = settings.text("advertise-address") {
        map.insert("advertise-address".into(), address);
    }
    if let Some(endpoint) = settings.text("datastore-endpoint") {
        map.insert("etcd-servers".into(), without_password(&endpoint));
        for (key, flag) in [
            ("datastore-cafile", "etcd-cafile"),
            ("datastore-certfile", "etcd-certfile"),
            ("datastore-keyfile", "etcd-keyfile"),
        ] {
            if let Some(file) = settings.text(key) {
                map.insert(flag.into(), file);
            }
        }
    } else if settings.flag("cluster-init") || is_dir(facts, &format!("{server}/db/etcd"))? {
        map.insert("etcd-servers".into(), "https://127.0.0.1:2379".into());
        map.insert("etcd-cafile".into(), format!("{tls}/etcd/server-ca.crt"));
        map.insert("etcd-certfile".into(), format!("{tls}/etcd/client.crt"));
        map.insert("etcd-keyfile".into(), format!("{tls}/etcd/client.key"));
    } else {
        // SQLite through kine, which listens on a socket in k3s's working directory.
        map.insert("etcd-servers".into(), "unix://kine.sock".into());
    }
    if settings.flag("secrets-encryption") {
        map.insert(
            "encryption-provider-config".into(),
            format!("{server}/cred/encryption-config.json"),
        );
    }
    Ok(map)
}

/// A datastore endpoint with the password of its user part replaced
/// (`postgres://k3s:<redacted>@db:5432/k3s`): k3s logs the endpoint, but a report should
/// not carry the password.
fn without_password(endpoint: &str) -> String {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_owned();
    };
    let Some((user_info, host)) = rest.rsplit_once('@') else {
        return endpoint.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => endpoint.to_owned(),
    }
}

fn controller_manager_defaults(settings: &K3sConfig, data_dir: &str) -> BTreeMap<String, String> {
    let server = format!("{data_dir}/server");
    let tls = format!("{server}/tls");
    let kubeconfig = format!("{server}/cred/controller.kubeconfig");
    args(&[
        ("allocate-node-cidrs", "true".into()),
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".into()),
        (
            "cluster-cidr",
            setting_or(settings, "cluster-cidr", "10.42.0.0/16"),
        ),
        (
            "cluster-signing-kube-apiserver-client-cert-file",
            format!("{tls}/client-ca.nochain.crt"),
        ),
        (
            "cluster-signing-kube-apiserver-client-key-file",
            format!("{tls}/client-ca.key"),
        ),
        (
            "cluster-signing-kubelet-client-cert-file",
            format!("{tls}/client-ca.nochain.crt"),
        ),
        (
            "cluster-signing-kubelet-client-key-file",
            format!("{tls}/client-ca.key"),
        ),
        (
            "cluster-signing-kubelet-serving-cert-file",
            format!("{tls}/server-ca.nochain.crt"),
        ),
        (
            "cluster-signing-kubelet-serving-key-file",
            format!("{tls}/server-ca.key"),
        ),
        (
            "cluster-signing-legacy-unknown-cert-file",
            format!("{tls}/server-ca.nochain.crt"),
        ),
        (
            "cluster-signing-legacy-unknown-key-file",
            format!("{tls}/server-ca.key"),
        ),
        ("configure-cloud-routes", "false".into()),
        (
            "controllers",
            "*,tokencleaner,-service,-route,-cloud-node-lifecycle".into(),
        ),
        ("kubeconfig", kubeconfig),
        ("profiling", "false".into()),
        ("root-ca-file", format!("{tls}/server-ca.crt")),
        ("secure-port", "10257".into()),
        (
            "service-account-private-key-file",
            format!("{tls}/service.current.key"),
        ),
        (
            "service-cluster-ip-range",
            setting_or(settings, "service-cidr", "10.43.0.0/16"),
        ),
        ("use-service-account-credentials", "true".into()),
    ])
}

fn scheduler_defaults(data_dir: &str) -> BTreeMap<String, String> {
    let kubeconfig = format!("{data_dir}/server/cred/scheduler.kubeconfig");
    args(&[
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".into()),
        ("kubeconfig", kubeconfig),
        ("profiling", "false".into()),
        ("secure-port", "10259".into()),
    ])
}

fn kubelet_defaults(
    facts: &dyn Facts,
    settings: &K3sConfig,
    data_dir: &str,
) -> Result<BTreeMap<String, String>, FactError> {
    let agent = format!("{data_dir}/agent");
    let mut map = args(&[
        ("address", "0.0.0.0".into()),
        ("anonymous-auth", "false".into()),
        ("authentication-token-webhook", "true".into()),
        ("authorization-mode", "Webhook".into()),
        ("client-ca-file", format!("{agent}/client-ca.crt")),
        (
            "cluster-dns",
            setting_or(settings, "cluster-dns", "10.43.0.10"),
        ),
        (
            "cluster-domain",
            setting_or(settings, "cluster-domain", "cluster.local"),
        ),
        (
            "container-runtime-endpoint",
            "unix:///run/k3s/containerd/containerd.sock".into(),
        ),
        (
            "eviction-hard",
            "imagefs.available<5%,nodefs.available<5%".into(),
        ),
        (
            "eviction-minimum-reclaim",
            "imagefs.available=10%,nodefs.available=10%".into(),
        ),
        ("fail-swap-on", "false".into()),
        ("healthz-bind-address", "127.0.0.1".into()),
        ("kubeconfig", format!("{agent}/kubelet.kubeconfig")),
        ("node-labels", settings.list("node-label").join(",")),
        ("pod-manifest-path", format!("{agent}/pod-manifests")),
        ("read-only-port", "0".into()),
        ("serialize-image-pulls", "false".into()),
        ("tls-cert-file", format!("{agent}/serving-kubelet.crt")),
        (
            "tls-private-key-file",
            format!("{agent}/serving-kubelet.key"),
        ),
    ]);
    if let Some(name) = node_name(facts, settings)? {
        map.insert("hostname-override".into(), name);
    }
    if let Some(ip) = settings.text("node-ip") {
        map.insert("node-ip".into(), ip);
    }
    if settings.flag("protect-kernel-defaults") {
        map.insert("protect-kernel-defaults".into(), "true".into());
    }
    if !settings.flag("disable-cloud-controller") {
        map.insert("cloud-provider".into(), "external".into());
    }
    Ok(map)
}

fn proxy_defaults(
    facts: &dyn Facts,
    settings: &K3sConfig,
    data_dir: &str,
) -> Result<BTreeMap<String, String>, FactError> {
    let mut map = args(&[
        (
            "cluster-cidr",
            setting_or(settings, "cluster-cidr", "10.42.0.0/16"),
        ),
        ("conntrack-max-per-core", "0".into()),
        ("conntrack-tcp-timeout-close-wait", "0s".into()),
        ("conntrack-tcp-timeout-established", "0s".into()),
        ("healthz-bind-address", "127.0.0.1".into()),
        (
            "kubeconfig",
            format!("{data_dir}/agent/kubeproxy.kubeconfig"),
        ),
        ("proxy-mode", "iptables".into()),
    ]);
    if let Some(name) = node_name(facts, settings)? {
        map.insert("hostname-override".into(), name);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn extra_args_replace_append_and_prepend_as_k3s_does() {
        let defaults = args(&[
            ("enable-admission-plugins", "NodeRestriction".into()),
            ("profiling", "false".into()),
        ]);
        let merged = merged_args(
            defaults,
            &strings(&[
                "--profiling=true",
                "enable-admission-plugins+=EventRateLimit",
                "audit-log-path=/var/log/audit.log",
                "feature-gates=A=true",
                "feature-gates=B=false",
            ]),
        );
        assert_eq!(
            merged,
            strings(&[
                "--audit-log-path=/var/log/audit.log",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-admission-plugins=EventRateLimit",
                "--feature-gates=A=true",
                "--feature-gates=B=false",
                "--profiling=true",
            ])
        );
    }

    #[test]
    fn datastore_passwords_stay_out_of_the_line() {
        assert_eq!(
            without_password("mysql://k3s:s3cret@tcp(db:3306)/k3s"),
            "mysql://k3s:<redacted>@tcp(db:3306)/k3s"
        );
        assert_eq!(
            without_password("postgres://k3s:p@ss@db:5432/k3s"),
            "postgres://k3s:<redacted>@db:5432/k3s"
        );
        assert_eq!(
            without_password("https://10.0.0.5:2379"),
            "https://10.0.0.5:2379"
        );
    }

    #[test]
    fn a_bare_extra_arg_means_true() {
        let merged = merged_args(BTreeMap::new(), &strings(&["protect-kernel-defaults"]));
        assert_eq!(merged, strings(&["--protect-kernel-defaults=true"]));
    }

    #[test]
    fn later_files_replace_keys_and_plus_keys_append() {
        let mut config = K3sConfig::default();
        config
            .merge_file(
                "a",
                "kube-apiserver-arg: [a=1]\nprotect-kernel-defaults: true\n",
            )
            .unwrap();
        config
            .merge_file(
                "b",
                "kube-apiserver-arg+: [b=2]\nprotect-kernel-defaults: false\n",
            )
            .unwrap();
        assert_eq!(config.list("kube-apiserver-arg"), strings(&["a=1", "b=2"]));
        assert!(!config.flag("protect-kernel-defaults"));
        config.merge_file("c", "kube-apiserver-arg: c=3\n").unwrap();
        assert_eq!(config.list("kube-apiserver-arg"), strings(&["c=3"]));
    }

    #[test]
    fn a_config_that_is_not_a_mapping_is_named() {
        let mut config = K3sConfig::default();
        let error = config.merge_file("/etc/rancher/k3s/config.yaml", "- a\n- b\n");
        assert!(
            matches!(error, Err(ProbeError::Fact(FactError::Unreadable { ref path, .. })) if path == "/etc/rancher/k3s/config.yaml"),
            "{error:?}"
        );
    }
}
