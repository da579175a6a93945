//! Kubernetes API objects through kubectl: it already resolves kubeconfigs, contexts and
//! auth plugins the way users expect. Arguments go to kubectl as an argv vector, never
//! through a shell.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use super::live::{run_bounded, whole_seconds, Capture, Finished, RunError};
use super::FactError;

/// Which kubectl to run and against which cluster.
#[derive(Debug, Clone)]
pub struct KubectlOptions {
    /// The kubectl program (`kubectl`, looked up on `PATH`).
    pub binary: PathBuf,
    /// `--kubeconfig`; kubectl's own resolution (`KUBECONFIG`, `~/.kube/config`, in-cluster) when unset.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cache-dir` for kubectl's discovery cache; kubectl's default when unset.
    pub cache_dir: Option<PathBuf>,
    /// How long listing one kind may take.
    pub list_timeout: Duration,
    /// How long the reachability question may take.
    pub reach_timeout: Duration,
}

impl Default for KubectlOptions {
    fn default() -> Self {
        KubectlOptions {
            binary: PathBuf::from("kubectl"),
            kubeconfig: None,
            context: None,
            cache_dir: None,
            list_timeout: Duration::from_secs(60),
            reach_timeout: Duration::from_secs(5),
        }
    }
}

type Listing = Result<Vec<Value>, FactError>;

/// Lists API objects, each kind fetched once: a scan asks for the same kind many times.
pub struct Kubectl {
    options: KubectlOptions,
    lists: Mutex<HashMap<String, Arc<OnceLock<Listing>>>>,
    server_version: OnceLock<Option<String>>,
}

impl Kubectl {
    pub fn new(options: KubectlOptions) -> Self {
        Kubectl {
            options,
            lists: Mutex::new(HashMap::new()),
            server_version: OnceLock::new(),
        }
    }

    /// `kubectl get <kind> --all-namespaces -o json`, its `items`.
    pub fn list(&self, kind: &str) -> Listing {
        // One slot per kind: two threads asking for the same kind wait for one kubectl,
        // while different kinds are fetched side by side.
        let slot = {
            let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(lists.entry(kind.to_string()).or_default())
        };
        slot.get_or_init(|| self.fetch(kind)).clone()
    }

    /// Whether the API server answers at all (cached).
    pub fn reachable(&self) -> bool {
        self.server_version().is_some()
    }

    /// The API server's `gitVersion`, or `None` when it cannot be reached (cached).
    pub fn server_version(&self) -> Option<String> {
        self.server_version
            .get_or_init(|| self.ask_version())
            .clone()
    }

    fn ask_version(&self) -> Option<String> {
        let command = self.command(&["get", "--raw", "/version"]);
        let finished =
            run_bounded(command, None, Capture::Separate, self.options.reach_timeout).ok()?;
        if !finished.status.success() {
            return None;
        }
        let version: Value = serde_json::from_slice(&finished.stdout).ok()?;
        Some(version.get("gitVersion")?.as_str()?.to_string())
    }

    fn fetch(&self, kind: &str) -> Listing {
        let api_error = |reason: String| FactError::Api {
            kind: kind.to_string(),
            reason,
        };
        if kind.is_empty() || kind.starts_with('-') || kind.contains(char::is_whitespace) {
            return Err(api_error(format!("`{kind}` is not a resource kind")));
        }
        let arguments = ["get", kind, "--all-namespaces", "-o", "json"];
        let command = self.command(&arguments);
        let finished =
            match run_bounded(command, None, Capture::Separate, self.options.list_timeout) {
                Ok(finished) => finished,
                Err(RunError::Timeout) => {
                    return Err(FactError::Timeout {
                        command: self.display(&arguments),
                        seconds: whole_seconds(self.options.list_timeout),
                    })
                }
                Err(RunError::Spawn(error)) => {
                    return Err(api_error(format!(
                        "could not start `{}`: {error}",
                        self.options.binary.display()
                    )))
                }
            };
        if !finished.status.success() {
            return Err(api_error(failure_text(&finished)));
        }
        items_of(&finished.stdout).map_err(api_error)
    }

    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(&self.options.binary);
        if let Some(kubeconfig) = &self.options.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        if let Some(context) = &self.options.context {
            command.arg("--context").arg(context);
        }
        if let Some(cache_dir) = &self.options.cache_dir {
            command.arg("--cache-dir").arg(cache_dir);
        }
        command.args(arguments);
        command
    }

    fn display(&self, arguments: &[&str]) -> String {
        format!("{} {}", self.options.binary.display(), arguments.join(" "))
    }
}

fn failure_text(finished: &Finished) -> String {
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        format!("kubectl failed ({})", finished.status)
    } else {
        stderr.to_string()
    }
}

fn items_of(stdout: &[u8]) -> Result<Vec<Value>, String> {
    let list: Value = serde_json::from_slice(stdout)
        .map_err(|error| format!("kubectl printed something that is not JSON: {error}"))?;
    match list.get("items") {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err("kubectl's list has an `items` that is not an array".to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! These tests run the real kubectl (when installed) against a loopback HTTP server
    //! started in the test, which answers the discovery requests kubectl makes
    //! (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) and the list
    //! requests from recorded JSON.

    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::Instant;

    const POD_LIST: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"4242"},"items":[
      {"metadata":{"name":"kube-apiserver-cp-1","namespace":"kube-system"},"spec":{"hostNetwork":true,"containers":[{"name":"kube-apiserver","image":"registry.k8s.io/kube-apiserver:v1.30.2"}]}},
      {"metadata":{"name":"web-7d9c","namespace":"default"},"spec":{"containers":[{"name":"web","image":"nginx:1.27","securityContext":{"privileged":true}}]}}]}"#;
    const ROLE_BINDING_LIST: &str = r#"{"kind":"RoleBindingList","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{},"items":[
      {"metadata":{"name":"admins","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"Group","name":"team-a"}]}]}"#;
    const VERSION: &str =
        r#"{"major":"1","minor":"30","gitVersion":"v1.30.2","platform":"linux/amd64"}"#;
    const CORE_VERSIONS: &str = r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#;
    const GROUPS: &str = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"rbac.authorization.k8s.io","versions":[{"groupVersion":"rbac.authorization.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"rbac.authorization.k8s.io/v1","version":"v1"}}]}"#;
    const CORE_RESOURCES: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]},{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"],"shortNames":["ns"]}]}"#;
    const RBAC_RESOURCES: &str = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"rbac.authorization.k8s.io/v1","resources":[{"name":"rolebindings","singularName":"rolebinding","namespaced":true,"kind":"RoleBinding","verbs":["get","list"]}]}"#;
    const EMPTY_NAMESPACE_LIST: &str =
        r#"{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":null}"#;

    fn recorded_response(path: &str) -> Option<&'static str> {
        let path = path.split('?').next().unwrap_or(path);
        Some(match path {
            "/version" => VERSION,
            "/api" => CORE_VERSIONS,
            "/apis" => GROUPS,
            "/api/v1" => CORE_RESOURCES,
            "/apis/rbac.authorization.k8s.io/v1" => RBAC_RESOURCES,
            "/api/v1/pods" => POD_LIST,
            "/api/v1/namespaces" => EMPTY_NAMESPACE_LIST,
            "/apis/rbac.authorization.k8s.io/v1/rolebindings" => ROLE_BINDING_LIST,
            _ => return None,
        })
    }

    /// A loopback API server answering from recorded JSON; stops when dropped and after
    /// 60 s in any case.
    struct RecordedApiServer {
        port: u16,
        requests: Arc<Mutex<Vec<String>>>,
        stop: Arc<AtomicBool>,
    }

    impl RecordedApiServer {
        fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let (log, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                let give_up = Instant::now() + Duration::from_secs(60);
                while !stopped.load(Ordering::SeqCst) && Instant::now() < give_up {
                    match listener.accept() {
                        Ok((stream, _)) => serve_one(stream, &log),
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

        fn requests_for(&self, path: &str) -> usize {
            let requests = self.requests.lock().unwrap();
            requests
                .iter()
                .filter(|request| request.split('?').next() == Some(path))
                .count()
        }
    }

    impl Drop for RecordedApiServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    /// One request per connection (`Connection: close`), which kubectl's client accepts.
    fn serve_one(stream: TcpStream, log: &Mutex<Vec<String>>) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
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
            .to_string();
        log.lock().unwrap().push(path.clone());
        let (status, body) = match recorded_response(&path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", r#"{"kind":"Status","code":404}"#),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = (&stream).write_all(response.as_bytes());
    }

    fn kubeconfig_for(dir: &Path, server: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: recorded\n  cluster:\n    server: {server}\n\
             contexts:\n- name: recorded\n  context:\n    cluster: recorded\n    user: nobody\n\
             current-context: recorded\nusers:\n- name: nobody\n  user: {{}}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn kubectl_installed() -> bool {
        Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false)
    }

    fn kubectl_against(server: &str, dir: &Path) -> Kubectl {
        Kubectl::new(KubectlOptions {
            kubeconfig: Some(kubeconfig_for(dir, server)),
            cache_dir: Some(dir.join("cache")),
            list_timeout: Duration::from_secs(20),
            reach_timeout: Duration::from_secs(10),
            ..KubectlOptions::default()
        })
    }

    #[test]
    fn real_kubectl_lists_recorded_pods_across_namespaces_once() {
        if !kubectl_installed() {
            eprintln!("skipped: kubectl is not installed");
            return;
        }
        let server = RecordedApiServer::start();
        let dir = tempfile::tempdir().unwrap();
        let kubectl = kubectl_against(&format!("http://127.0.0.1:{}", server.port), dir.path());

        let pods = kubectl.list("pods").unwrap();
        let names: Vec<&str> = pods
            .iter()
            .map(|pod| pod["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["kube-apiserver-cp-1", "web-7d9c"]);
        assert_eq!(
            pods[1]["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );

        assert_eq!(kubectl.list("pods").unwrap(), pods);
        assert_eq!(server.requests_for("/api/v1/pods"), 1);
    }

    #[test]
    fn real_kubectl_lists_a_grouped_kind_and_an_empty_list() {
        if !kubectl_installed() {
            eprintln!("skipped: kubectl is not installed");
            return;
        }
        let server = RecordedApiServer::start();
        let dir = tempfile::tempdir().unwrap();
        let kubectl = kubectl_against(&format!("http://127.0.0.1:{}", server.port), dir.path());

        let bindings = kubectl
            .list("rolebindings.rbac.authorization.k8s.io")
            .unwrap();
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings[0]["roleRef"]["name"], "cluster-admin");
        assert_eq!(kubectl.list("namespaces").unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn real_kubectl_reports_the_server_version_when_reachable() {
        if !kubectl_installed() {
            eprintln!("skipped: kubectl is not installed");
            return;
        }
        let server = RecordedApiServer::start();
        let dir = tempfile::tempdir().unwrap();
        let kubectl = kubectl_against(&format!("http://127.0.0.1:{}", server.port), dir.path());
        assert!(kubectl.reachable());
        assert_eq!(kubectl.server_version().as_deref(), Some("v1.30.2"));
    }

    #[test]
    fn live_facts_answer_api_questions_through_real_kubectl() {
        use crate::facts::live::{LiveFacts, LiveOptions};
        use crate::facts::Facts;
        if !kubectl_installed() {
            eprintln!("skipped: kubectl is not installed");
            return;
        }
        let server = RecordedApiServer::start();
        let dir = tempfile::tempdir().unwrap();
        let facts = LiveFacts::new(LiveOptions {
            kubectl: KubectlOptions {
                kubeconfig: Some(kubeconfig_for(
                    dir.path(),
                    &format!("http://127.0.0.1:{}", server.port),
                )),
                cache_dir: Some(dir.path().join("cache")),
                ..KubectlOptions::default()
            },
            ..LiveOptions::default()
        });
        assert!(facts.api_reachable());
        assert_eq!(facts.api_server_version().as_deref(), Some("v1.30.2"));
        assert_eq!(facts.api_objects("pods").unwrap().len(), 2);
        assert_eq!(facts.api_objects("pods").unwrap().len(), 2);
        assert_eq!(server.requests_for("/api/v1/pods"), 1);
    }

    #[test]
    fn no_cluster_is_an_api_error_carrying_kubectls_message() {
        if !kubectl_installed() {
            eprintln!("skipped: kubectl is not installed");
            return;
        }
        // A port that was free a moment ago: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let kubectl = kubectl_against(&format!("http://127.0.0.1:{port}"), dir.path());

        let error = kubectl.list("pods").unwrap_err();
        match &error {
            FactError::Api { kind, reason } => {
                assert_eq!(kind, "pods");
                assert!(reason.contains("refused"), "{reason}");
            }
            other => panic!("expected an API error, got {other:?}"),
        }
        assert!(!kubectl.reachable());
    }

    #[test]
    fn a_missing_kubectl_is_an_api_error() {
        let kubectl = Kubectl::new(KubectlOptions {
            binary: PathBuf::from("/nonexistent/kubectl"),
            ..KubectlOptions::default()
        });
        let error = kubectl.list("pods").unwrap_err();
        assert!(
            matches!(&error, FactError::Api { reason, .. } if reason.contains("/nonexistent/kubectl")),
            "{error:?}"
        );
        assert!(!kubectl.reachable());
    }

    #[test]
    fn a_kind_that_looks_like_a_flag_is_refused_before_running_kubectl() {
        let kubectl = Kubectl::new(KubectlOptions {
            binary: PathBuf::from("/nonexistent/kubectl"),
            ..KubectlOptions::default()
        });
        let error = kubectl.list("--raw=/").unwrap_err();
        assert!(
            matches!(&error, FactError::Api { reason, .. } if reason.contains("not a resource kind")),
            "{error:?}"
        );
    }

    #[test]
    fn items_must_be_an_array_in_json() {
        assert!(items_of(b"not json").unwrap_err().contains("not JSON"));
        assert!(items_of(br#"{"items":{}}"#).is_err());
        assert_eq!(items_of(br#"{"items":[1,2]}"#).unwrap().len(), 2);
    }
}
