//! The kubelet's effective configuration, merged the way the kubelet merges it: the
//! `--config` file, then the `--config-dir` drop-ins in lexical order, then the
//! command-line flags that have a `KubeletConfiguration` field (flags win).

use serde_json::{Map, Value};

use crate::definitions::config::merge;
use crate::facts::derive::parsed_kubelet_config;
use crate::facts::{FactError, Facts, Process};

use super::substitute::runs_binary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Int,
    Text,
    Duration,
    List,
    Map,
}

/// Kubelet flags and the `KubeletConfiguration` fields they set.
const FLAG_FIELDS: &[(&str, &str, FlagType)] = &[
    ("address", "address", FlagType::Text),
    (
        "anonymous-auth",
        "authentication.anonymous.enabled",
        FlagType::Bool,
    ),
    (
        "authentication-token-webhook",
        "authentication.webhook.enabled",
        FlagType::Bool,
    ),
    (
        "authentication-token-webhook-cache-ttl",
        "authentication.webhook.cacheTTL",
        FlagType::Duration,
    ),
    ("authorization-mode", "authorization.mode", FlagType::Text),
    (
        "authorization-webhook-cache-authorized-ttl",
        "authorization.webhook.cacheAuthorizedTTL",
        FlagType::Duration,
    ),
    (
        "authorization-webhook-cache-unauthorized-ttl",
        "authorization.webhook.cacheUnauthorizedTTL",
        FlagType::Duration,
    ),
    ("cgroup-driver", "cgroupDriver", FlagType::Text),
    ("cgroup-root", "cgroupRoot", FlagType::Text),
    (
        "client-ca-file",
        "authentication.x509.clientCAFile",
        FlagType::Text,
    ),
    ("cluster-dns", "clusterDNS", FlagType::List),
    ("cluster-domain", "clusterDomain", FlagType::Text),
    (
        "container-log-max-files",
        "containerLogMaxFiles",
        FlagType::Int,
    ),
    (
        "container-log-max-size",
        "containerLogMaxSize",
        FlagType::Text,
    ),
    ("enable-server", "enableServer", FlagType::Bool),
    (
        "enforce-node-allocatable",
        "enforceNodeAllocatable",
        FlagType::List,
    ),
    ("event-burst", "eventBurst", FlagType::Int),
    ("event-qps", "eventRecordQPS", FlagType::Int),
    ("eviction-hard", "evictionHard", FlagType::Map),
    ("fail-swap-on", "failSwapOn", FlagType::Bool),
    ("feature-gates", "featureGates", FlagType::Map),
    (
        "file-check-frequency",
        "fileCheckFrequency",
        FlagType::Duration,
    ),
    ("hairpin-mode", "hairpinMode", FlagType::Text),
    ("healthz-bind-address", "healthzBindAddress", FlagType::Text),
    ("healthz-port", "healthzPort", FlagType::Int),
    (
        "http-check-frequency",
        "httpCheckFrequency",
        FlagType::Duration,
    ),
    (
        "image-gc-high-threshold",
        "imageGCHighThresholdPercent",
        FlagType::Int,
    ),
    (
        "image-gc-low-threshold",
        "imageGCLowThresholdPercent",
        FlagType::Int,
    ),
    ("kube-api-burst", "kubeAPIBurst", FlagType::Int),
    ("kube-api-qps", "kubeAPIQPS", FlagType::Int),
    (
        "make-iptables-util-chains",
        "makeIPTablesUtilChains",
        FlagType::Bool,
    ),
    ("max-pods", "maxPods", FlagType::Int),
    (
        "node-status-update-frequency",
        "nodeStatusUpdateFrequency",
        FlagType::Duration,
    ),
    ("oom-score-adj", "oomScoreAdj", FlagType::Int),
    ("pod-manifest-path", "staticPodPath", FlagType::Text),
    ("pod-max-pids", "podPidsLimit", FlagType::Int),
    ("port", "port", FlagType::Int),
    (
        "protect-kernel-defaults",
        "protectKernelDefaults",
        FlagType::Bool,
    ),
    ("provider-id", "providerID", FlagType::Text),
    ("read-only-port", "readOnlyPort", FlagType::Int),
    ("registry-burst", "registryBurst", FlagType::Int),
    ("registry-qps", "registryPullQPS", FlagType::Int),
    ("resolv-conf", "resolvConf", FlagType::Text),
    ("rotate-certificates", "rotateCertificates", FlagType::Bool),
    (
        "rotate-server-certificates",
        "serverTLSBootstrap",
        FlagType::Bool,
    ),
    (
        "runtime-request-timeout",
        "runtimeRequestTimeout",
        FlagType::Duration,
    ),
    ("seccomp-default", "seccompDefault", FlagType::Bool),
    (
        "serialize-image-pulls",
        "serializeImagePulls",
        FlagType::Bool,
    ),
    (
        "streaming-connection-idle-timeout",
        "streamingConnectionIdleTimeout",
        FlagType::Duration,
    ),
    ("sync-frequency", "syncFrequency", FlagType::Duration),
    ("tls-cert-file", "tlsCertFile", FlagType::Text),
    ("tls-cipher-suites", "tlsCipherSuites", FlagType::List),
    ("tls-min-version", "tlsMinVersion", FlagType::Text),
    ("tls-private-key-file", "tlsPrivateKeyFile", FlagType::Text),
    ("volume-plugin-dir", "volumePluginDir", FlagType::Text),
];

/// Configuration fields that hold a Go duration, printed canonically whatever the spelling.
const DURATION_FIELDS: &[&str] = &[
    "authentication.webhook.cacheTTL",
    "authorization.webhook.cacheAuthorizedTTL",
    "authorization.webhook.cacheUnauthorizedTTL",
    "cpuManagerReconcilePeriod",
    "evictionPressureTransitionPeriod",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "imageMaximumGCAge",
    "imageMinimumGCAge",
    "nodeLeaseDurationSeconds",
    "nodeStatusReportFrequency",
    "nodeStatusUpdateFrequency",
    "runtimeRequestTimeout",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "streamingConnectionIdleTimeout",
    "syncFrequency",
];

/// The effective configuration as JSON text; empty when there is neither a kubelet
/// process nor a config file.
pub fn effective_config(
    facts: &dyn Facts,
    bin: Option<&str>,
    fallback_config: Option<&str>,
) -> Result<String, String> {
    let processes = facts.processes().map_err(|e| e.to_string())?;
    let bin = bin.unwrap_or("kubelet");
    let kubelet = processes.iter().find(|p| runs_binary(p, bin));
    let flags = kubelet.map(flags_of).unwrap_or_default();
    let config_path = flag_value(&flags, "config").or(fallback_config.map(str::to_owned));
    let mut config = Value::Object(Map::new());
    let mut read_a_file = false;
    if let Some(path) = config_path.as_deref() {
        if let Some(file) = read_config(facts, path)? {
            merge(&mut config, file);
            read_a_file = true;
        }
    }
    if let Some(dir) = flag_value(&flags, "config-dir") {
        for drop_in in drop_in_files(facts, &dir).map_err(|e| e.to_string())? {
            if let Some(file) = read_config(facts, &drop_in)? {
                merge(&mut config, file);
                read_a_file = true;
            }
        }
    }
    if kubelet.is_none() && !read_a_file {
        return Ok(String::new());
    }
    normalize_durations(&mut config)?;
    default_zero_durations(&mut config);
    if read_a_file {
        default_absent_access_fields(&mut config);
    }
    apply_flags(&mut config, &flags)?;
    normalize_durations(&mut config)?;
    serde_json::to_string(&config).map_err(|e| e.to_string())
}

/// The command line as `(name, value)` pairs the way the kubelet's flag parser reads it:
/// `--name=value`, `--name value` for non-boolean flags, and bare booleans as `true`.
fn flags_of(process: &Process) -> Vec<(String, String)> {
    let mut flags = Vec::new();
    let mut args = process.argv.iter().skip(1).peekable();
    while let Some(arg) = args.next() {
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        if let Some((name, value)) = body.split_once('=') {
            flags.push((name.to_owned(), value.to_owned()));
            continue;
        }
        let takes_value = !matches!(flag_type(body), Some(FlagType::Bool))
            && !matches!(body, "v" | "help" | "version");
        let next_is_value = args.peek().is_some_and(|next| !next.starts_with('-'));
        if takes_value && next_is_value {
            flags.push((body.to_owned(), args.next().cloned().unwrap_or_default()));
        } else {
            flags.push((body.to_owned(), "true".to_owned()));
        }
    }
    flags
}

/// Every flag this module reads from the kubelet's command line (`collect` keeps their values).
pub fn flags_read() -> impl Iterator<Item = &'static str> {
    ["config", "config-dir", "kubeconfig", "hostname-override"]
        .into_iter()
        .chain(FLAG_FIELDS.iter().map(|(flag, _, _)| *flag))
}

fn flag_type(name: &str) -> Option<FlagType> {
    match name {
        "config" | "config-dir" | "kubeconfig" | "hostname-override" => Some(FlagType::Text),
        _ => FLAG_FIELDS
            .iter()
            .find(|(flag, _, _)| *flag == name)
            .map(|(_, _, t)| *t),
    }
}

/// The last value given for a flag (later flags win, as in the kubelet).
fn flag_value(flags: &[(String, String)], name: &str) -> Option<String> {
    flags
        .iter()
        .rev()
        .find(|(flag, _)| flag == name)
        .map(|(_, v)| v.clone())
}

fn read_config(facts: &dyn Facts, path: &str) -> Result<Option<Value>, String> {
    let Some(text) = facts.read_file(path).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if text.trim().is_empty() {
        return Ok(Some(Value::Object(Map::new())));
    }
    let value = parsed_kubelet_config(&text)
        .map_err(|e| format!("{path}: not a kubelet configuration: {e}"))?;
    match value {
        Value::Object(_) => Ok(Some(value)),
        Value::Null => Ok(Some(Value::Object(Map::new()))),
        _ => Err(format!(
            "{path}: not a kubelet configuration: expected a mapping"
        )),
    }
}

fn drop_in_files(facts: &dyn Facts, dir: &str) -> Result<Vec<String>, FactError> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let mut files: Vec<String> = facts
        .list_tree(dir)?
        .iter()
        .filter(|p| {
            p.strip_prefix(&prefix)
                .is_some_and(|name| !name.contains('/') && name.ends_with(".conf"))
        })
        .cloned()
        .collect();
    files.sort();
    Ok(files)
}

fn apply_flags(config: &mut Value, flags: &[(String, String)]) -> Result<(), String> {
    for (flag, value) in flags {
        let Some((_, field, kind)) = FLAG_FIELDS.iter().find(|(f, _, _)| f == flag) else {
            continue;
        };
        let typed =
            typed_value(*kind, value).map_err(|e| format!("kubelet flag --{flag}={value}: {e}"))?;
        let slot = field_slot(config, field);
        match (kind, slot.as_object_mut(), typed) {
            (FlagType::Map, Some(existing), Value::Object(entries)) => existing.extend(entries),
            (_, _, typed) => *slot = typed,
        }
    }
    Ok(())
}

fn typed_value(kind: FlagType, text: &str) -> Result<Value, String> {
    Ok(match kind {
        FlagType::Bool => Value::Bool(parse_bool(text)?),
        FlagType::Int => Value::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| "expected a whole number".to_string())?,
        ),
        FlagType::Text | FlagType::Duration => Value::String(text.to_owned()),
        FlagType::List => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        FlagType::Map => Value::Object(
            text.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|pair| {
                    let (k, v) = pair
                        .split_once('=')
                        .or_else(|| pair.split_once('<'))
                        .unwrap_or((pair, ""));
                    let v = v.trim();
                    let value = parse_bool(v).map(Value::Bool).unwrap_or_else(|_| v.into());
                    (k.trim().to_owned(), value)
                })
                .collect(),
        ),
    })
}

/// Go's `strconv.ParseBool`, which the kubelet's flag parser uses.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("`{text}` is not a boolean")),
    }
}

/// The value at a dotted field path, created as null (with its parents) when missing.
fn field_slot<'a>(config: &'a mut Value, field: &str) -> &'a mut Value {
    let mut slot = config;
    for part in field.split('.') {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot = slot
            .as_object_mut()
            .expect("just made an object")
            .entry(part)
            .or_insert(Value::Null);
    }
    slot
}

fn normalize_durations(config: &mut Value) -> Result<(), String> {
    for field in DURATION_FIELDS {
        let mut slot = Some(&mut *config);
        for part in field.split('.') {
            slot = slot.and_then(|v| v.get_mut(part));
        }
        if let Some(value) = slot {
            let canonical = match &*value {
                Value::String(text) => canonical_duration(text)
                    .map_err(|e| format!("{field}: `{text}` is not a duration: {e}"))?,
                Value::Number(n) if n.as_f64() == Some(0.0) => "0s".to_owned(),
                _ => continue,
            };
            *value = Value::String(canonical);
        }
    }
    Ok(())
}

/// Durations the kubelet's `v1beta1` defaulting replaces when a config file sets them to
/// zero (`0s` in a file means "the default"; only a flag can really set zero).
const DURATION_DEFAULTS: &[(&str, &str)] = &[
    ("authentication.webhook.cacheTTL", "2m0s"),
    ("authorization.webhook.cacheAuthorizedTTL", "5m0s"),
    ("authorization.webhook.cacheUnauthorizedTTL", "30s"),
    ("cpuManagerReconcilePeriod", "10s"),
    ("evictionPressureTransitionPeriod", "5m0s"),
    ("fileCheckFrequency", "20s"),
    ("httpCheckFrequency", "20s"),
    ("imageMinimumGCAge", "2m0s"),
    ("nodeStatusReportFrequency", "5m0s"),
    ("nodeStatusUpdateFrequency", "10s"),
    ("runtimeRequestTimeout", "2m0s"),
    ("streamingConnectionIdleTimeout", "4h0m0s"),
    ("syncFrequency", "1m0s"),
];

/// Access settings whose `v1beta1` default (applied to a config file) is the secure value,
/// while the flag default is not: a file that leaves them out gets these, so only a
/// flag or an explicit file value can open them up (AKS, for one, omits them from its
/// config file: `"anonymous": {}` and no `readOnlyPort`).
fn absent_field_defaults() -> [(&'static str, Value); 4] {
    [
        ("authentication.anonymous.enabled", Value::Bool(false)),
        ("authentication.webhook.enabled", Value::Bool(true)),
        ("authorization.mode", Value::String("Webhook".to_owned())),
        ("readOnlyPort", Value::from(0)),
    ]
}

fn default_absent_access_fields(config: &mut Value) {
    for (field, default) in absent_field_defaults() {
        let slot = field_slot(config, field);
        if slot.is_null() {
            *slot = default;
        }
    }
}

fn default_zero_durations(config: &mut Value) {
    for (field, default) in DURATION_DEFAULTS {
        let mut slot = Some(&mut *config);
        for part in field.split('.') {
            slot = slot.and_then(|v| v.get_mut(part));
        }
        if let Some(value) = slot {
            if value.as_str() == Some("0s") {
                *value = Value::String((*default).to_owned());
            }
        }
    }
}

/// Parses a Go duration (`5m`, `4h0m0s`, `1.5h`, `300ms`, `0`) and prints it the way Go's
/// `time.Duration.String` does.
pub fn canonical_duration(text: &str) -> Result<String, String> {
    Ok(format_duration(parse_duration(text.trim())?))
}

fn parse_duration(text: &str) -> Result<i128, String> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("empty".into());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or("missing unit")?;
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| "bad number".to_string())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("unknown unit `{other}`")),
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

fn format_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, scale) = match n {
            0..1_000 => ("ns", 1u128),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    let mut out = String::from(sign);
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

/// `value / scale` with the fractional digits Go prints (no trailing zeros).
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let remainder = value % scale;
    if remainder == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let fraction = format!("{remainder:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_that_does_not_parse_is_quoted_in_at_most_300_characters() {
        let long_line = format!("a: {}\n", "x".repeat(500));
        for text in [
            format!("{long_line}{long_line}b: [\n{long_line}: : :\n\t{long_line}"),
            format!("k: \"{}", "y".repeat(2000)),
            format!("{}: [1\n", "z".repeat(1000)),
            format!("{}\n- ]\n", "q: r\n".repeat(100)),
        ] {
            let error = parsed_kubelet_config(&text).unwrap_err();
            assert!(
                error.chars().count() <= 301,
                "{} chars: {error}",
                error.len()
            );
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn durations_print_like_go() {
        for (input, expected) in [
            ("0", "0s"),
            ("0s", "0s"),
            ("5m", "5m0s"),
            ("4h", "4h0m0s"),
            ("4h0m0s", "4h0m0s"),
            ("1.5h", "1h30m0s"),
            ("300ms", "300ms"),
            ("90s", "1m30s"),
            ("1.5s", "1.5s"),
            ("2m0.5s", "2m0.5s"),
        ] {
            assert_eq!(canonical_duration(input).unwrap(), expected, "{input}");
        }
        assert!(canonical_duration("30").is_err());
        assert!(canonical_duration("5 minutes").is_err());
    }

    fn kubelet(args: &[&str]) -> Process {
        let mut argv = vec!["/usr/bin/kubelet".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        Process {
            pid: 1,
            comm: "kubelet".into(),
            argv,
        }
    }

    #[test]
    fn flags_read_like_the_kubelet_reads_them() {
        let p = kubelet(&[
            "--config=/var/lib/kubelet/config.yaml",
            "--read-only-port",
            "0",
            "--anonymous-auth",
            "--rotate-certificates=false",
            "-v=2",
        ]);
        let flags = flags_of(&p);
        assert_eq!(flag_value(&flags, "read-only-port").as_deref(), Some("0"));
        assert_eq!(
            flag_value(&flags, "anonymous-auth").as_deref(),
            Some("true")
        );
        assert_eq!(
            flag_value(&flags, "rotate-certificates").as_deref(),
            Some("false")
        );
    }

    #[test]
    fn flags_win_over_the_config_file_and_maps_merge() {
        let mut config = serde_json::json!({
            "authentication": {"anonymous": {"enabled": true}, "webhook": {"enabled": true}},
            "featureGates": {"A": true},
            "readOnlyPort": 10255
        });
        let flags = vec![
            ("anonymous-auth".to_string(), "false".to_string()),
            ("feature-gates".to_string(), "B=false,C=true".to_string()),
            ("read-only-port".to_string(), "0".to_string()),
            ("tls-cipher-suites".to_string(), "X,Y".to_string()),
        ];
        apply_flags(&mut config, &flags).unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "authentication": {"anonymous": {"enabled": false}, "webhook": {"enabled": true}},
                "featureGates": {"A": true, "B": false, "C": true},
                "readOnlyPort": 0,
                "tlsCipherSuites": ["X", "Y"]
            })
        );
    }

    #[test]
    fn a_zero_duration_in_the_file_means_the_kubelet_default() {
        let mut config = serde_json::json!({"streamingConnectionIdleTimeout": "0s"});
        default_zero_durations(&mut config);
        assert_eq!(config["streamingConnectionIdleTimeout"], "4h0m0s");
    }

    #[test]
    fn a_config_file_that_leaves_out_access_settings_gets_the_v1beta1_defaults() {
        let mut config = serde_json::json!({
            "authentication": {"anonymous": {}, "webhook": {"enabled": false}},
            "readOnlyPort": 10255
        });
        default_absent_access_fields(&mut config);
        assert_eq!(
            config,
            serde_json::json!({
                "authentication": {"anonymous": {"enabled": false}, "webhook": {"enabled": false}},
                "authorization": {"mode": "Webhook"},
                "readOnlyPort": 10255
            })
        );
    }

    #[test]
    fn a_zero_duration_flag_really_means_zero() {
        let mut config = serde_json::json!({"streamingConnectionIdleTimeout": "4h0m0s"});
        let flags = vec![(
            "streaming-connection-idle-timeout".to_string(),
            "0".to_string(),
        )];
        apply_flags(&mut config, &flags).unwrap();
        normalize_durations(&mut config).unwrap();
        assert_eq!(config["streamingConnectionIdleTimeout"], "0s");
    }

    #[test]
    fn a_zero_idle_timeout_reads_zero_however_written() {
        let mut config = serde_json::json!({"streamingConnectionIdleTimeout": "0"});
        normalize_durations(&mut config).unwrap();
        assert_eq!(config["streamingConnectionIdleTimeout"], "0s");
    }
}
