//! A loopback Kubernetes API server for tests: the real kubectl talks to it over HTTP on
//! 127.0.0.1 and gets recorded JSON — discovery documents and object lists. It serves
//! one request per connection, logs every path, and stops when dropped (after 120 s in
//! any case). Use from a test with `#[path = "support/api_server.rs"] mod api_server;`.

#![allow(dead_code)] // each test uses the part it needs

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Where each kind is listed, and its discovery entry.
const KINDS: &[(&str, &str, &str, bool)] = &[
    // (plural, group/version path, Kind, namespaced)
    ("pods", "/api/v1", "Pod", true),
    ("namespaces", "/api/v1", "Namespace", false),
    ("serviceaccounts", "/api/v1", "ServiceAccount", true),
    ("services", "/api/v1", "Service", true),
    ("secrets", "/api/v1", "Secret", true),
    ("roles", "/apis/rbac.authorization.k8s.io/v1", "Role", true),
    (
        "rolebindings",
        "/apis/rbac.authorization.k8s.io/v1",
        "RoleBinding",
        true,
    ),
    (
        "clusterroles",
        "/apis/rbac.authorization.k8s.io/v1",
        "ClusterRole",
        false,
    ),
    (
        "clusterrolebindings",
        "/apis/rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        false,
    ),
    (
        "networkpolicies",
        "/apis/networking.k8s.io/v1",
        "NetworkPolicy",
        true,
    ),
    ("ingresses", "/apis/networking.k8s.io/v1", "Ingress", true),
    (
        "certificatesigningrequests",
        "/apis/certificates.k8s.io/v1",
        "CertificateSigningRequest",
        false,
    ),
    // GKE's ManagedCertificate custom resource.
    (
        "managedcertificates",
        "/apis/networking.gke.io/v1",
        "ManagedCertificate",
        true,
    ),
    // OpenShift's own kinds, for the rh benchmarks.
    (
        "securitycontextconstraints",
        "/apis/security.openshift.io/v1",
        "SecurityContextConstraints",
        false,
    ),
    (
        "kubeapiservers",
        "/apis/operator.openshift.io/v1",
        "KubeAPIServer",
        false,
    ),
];

const VERSION: &str =
    r#"{"major":"1","minor":"33","gitVersion":"v1.33.1","platform":"linux/amd64"}"#;

pub struct RecordedApiServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl RecordedApiServer {
    /// Serves `responses` (request path without query → JSON body); 404 for anything else.
    pub fn start(responses: BTreeMap<String, String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(120);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < give_up {
                match listener.accept() {
                    Ok((stream, _)) => serve_one(stream, &responses, &log),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RecordedApiServer {
            port,
            requests,
            stop,
        }
    }

    /// A server for the object lists in `dir` (`<kind>.json`, as `kubectl get <kind> -A -o
    /// json` prints them), with the discovery documents kubectl asks for first. Kinds
    /// without a file are served as empty lists.
    pub fn for_recorded_lists(dir: &Path) -> Self {
        let mut responses = discovery();
        let mut lists = Vec::new();
        for (plural, group_version, kind, namespaced) in KINDS {
            let body =
                std::fs::read_to_string(dir.join(format!("{plural}.json"))).unwrap_or_else(|_| {
                    format!(
                        r#"{{"kind":"{kind}List","apiVersion":"v1","metadata":{{}},"items":[]}}"#
                    )
                });
            let list: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{}/{plural}.json: {e}", dir.display()));
            responses.insert(format!("{group_version}/{plural}"), body);
            lists.push((*plural, *group_version, *namespaced, list));
        }
        responses.extend(single_objects_and_namespaced_lists(&lists));
        Self::start(responses)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How often a path (without query) was requested.
    pub fn requests_for(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("request log")
            .iter()
            .filter(|request| request.split('?').next() == Some(path))
            .count()
    }

    /// How often each kind's list was requested.
    pub fn list_requests(&self) -> BTreeMap<&'static str, usize> {
        KINDS
            .iter()
            .map(|(plural, group_version, _, _)| {
                (
                    *plural,
                    self.requests_for(&format!("{group_version}/{plural}")),
                )
            })
            .collect()
    }

    /// A kubeconfig for this server (no credentials: it asks for none), in `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: recorded\n  cluster:\n    server: {}\n\
             contexts:\n- name: recorded\n  context:\n    cluster: recorded\n    user: nobody\n\
             current-context: recorded\nusers:\n- name: nobody\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for RecordedApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Whether the real kubectl is installed (tests skip with a printed reason otherwise).
pub fn kubectl_installed() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false)
}

/// What `kubectl get KIND NAME` and `kubectl get KIND -n NS` ask for: each recorded object at
/// its own path, and each namespaced kind's list per namespace (empty where it has none).
fn single_objects_and_namespaced_lists(
    lists: &[(&str, &str, bool, serde_json::Value)],
) -> BTreeMap<String, String> {
    let items = |list: &serde_json::Value| list["items"].as_array().cloned().unwrap_or_default();
    let namespaces: std::collections::BTreeSet<String> = lists
        .iter()
        .flat_map(|(plural, _, namespaced, list)| {
            items(list).into_iter().filter_map(move |item| {
                let field = if *plural == "namespaces" {
                    &item["metadata"]["name"]
                } else if *namespaced {
                    &item["metadata"]["namespace"]
                } else {
                    return None;
                };
                field.as_str().map(str::to_owned)
            })
        })
        .collect();
    let mut responses = BTreeMap::new();
    for (plural, group_version, namespaced, list) in lists {
        for item in items(list) {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            let path = match item["metadata"]["namespace"].as_str() {
                Some(namespace) if *namespaced => {
                    format!("{group_version}/namespaces/{namespace}/{plural}/{name}")
                }
                _ => format!("{group_version}/{plural}/{name}"),
            };
            responses.insert(path, item.to_string());
        }
        if !namespaced {
            continue;
        }
        for namespace in &namespaces {
            let in_namespace: Vec<serde_json::Value> = items(list)
                .into_iter()
                .filter(|item| item["metadata"]["namespace"].as_str() == Some(namespace))
                .collect();
            let mut namespaced_list = list.clone();
            namespaced_list["items"] = serde_json::Value::Array(in_namespace);
            responses.insert(
                format!("{group_version}/namespaces/{namespace}/{plural}"),
                namespaced_list.to_string(),
            );
        }
    }
    responses
}

/// kubectl's short names for the served kinds, and whether `kubectl get all` includes them.
fn short_names_and_categories(plural: &str) -> (&'static str, &'static str) {
    match plural {
        "pods" => (r#"["po"]"#, r#"["all"]"#),
        "services" => (r#"["svc"]"#, r#"["all"]"#),
        "namespaces" => (r#"["ns"]"#, "[]"),
        "serviceaccounts" => (r#"["sa"]"#, "[]"),
        "networkpolicies" => (r#"["netpol"]"#, "[]"),
        "ingresses" => (r#"["ing"]"#, "[]"),
        "certificatesigningrequests" => (r#"["csr"]"#, "[]"),
        "managedcertificates" => (r#"["mcrt"]"#, "[]"),
        _ => ("[]", "[]"),
    }
}

/// `/version`, `/api`, `/apis` and each group version's resource list.
fn discovery() -> BTreeMap<String, String> {
    let mut responses = BTreeMap::new();
    responses.insert("/version".into(), VERSION.into());
    responses.insert(
        "/api".into(),
        r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#.into(),
    );
    let group_names: std::collections::BTreeSet<&str> = KINDS
        .iter()
        .filter_map(|(_, group_version, _, _)| group_version.strip_prefix("/apis/"))
        .filter_map(|group_version| group_version.strip_suffix("/v1"))
        .collect();
    let groups = group_names
        .iter()
        .map(|g| {
            format!(
                r#"{{"name":"{g}","versions":[{{"groupVersion":"{g}/v1","version":"v1"}}],"preferredVersion":{{"groupVersion":"{g}/v1","version":"v1"}}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    responses.insert(
        "/apis".into(),
        format!(r#"{{"kind":"APIGroupList","apiVersion":"v1","groups":[{groups}]}}"#),
    );
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (plural, group_version, kind, namespaced) in KINDS {
        let singular = kind.to_lowercase();
        let (short_names, categories) = short_names_and_categories(plural);
        by_group.entry(group_version).or_default().push(format!(
            r#"{{"name":"{plural}","singularName":"{singular}","namespaced":{namespaced},"kind":"{kind}","verbs":["get","list"],"shortNames":{short_names},"categories":{categories}}}"#
        ));
    }
    for (group_version, resources) in by_group {
        let name = group_version
            .trim_start_matches("/apis/")
            .trim_start_matches("/api/");
        responses.insert(
            group_version.to_owned(),
            format!(
                r#"{{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"{name}","resources":[{}]}}"#,
                resources.join(",")
            ),
        );
    }
    responses
}

fn serve_one(stream: TcpStream, responses: &BTreeMap<String, String>, log: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    for _ in 0..100 {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    log.lock().expect("request log").push(path.clone());
    let (status, body) = match responses.get(path.split('?').next().unwrap_or("")) {
        Some(body) => ("200 OK", body.as_str()),
        None => ("404 Not Found", r#"{"kind":"Status","code":404}"#),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}
