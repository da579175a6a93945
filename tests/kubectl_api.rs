//! kubectl for API objects, for real: the installed kubectl talks to a loopback API
//! server started in the test (`tests/support/api_server.rs`), which answers the
//! discovery requests kubectl makes and the list requests from recorded JSON.

#[path = "support/api_server.rs"]
mod api_server;
mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use api_server::{kubectl_installed, RecordedApiServer};
use cisgate::facts::kubectl::{Kubectl, KubectlOptions};
use cisgate::facts::FactError;
use serde_json::Value;

const POD_LIST: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"4242"},"items":[
  {"metadata":{"name":"kube-apiserver-cp-1","namespace":"kube-system"},"spec":{"hostNetwork":true,"containers":[{"name":"kube-apiserver","image":"registry.k8s.io/kube-apiserver:v1.33.1"}]}},
  {"metadata":{"name":"web-7d9c","namespace":"default"},"spec":{"containers":[{"name":"web","image":"nginx:1.27","securityContext":{"privileged":true}}]}}]}"#;
const ROLE_BINDING_LIST: &str = r#"{"kind":"RoleBindingList","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{},"items":[
  {"metadata":{"name":"admins","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"Group","name":"team-a"}]}]}"#;
const EMPTY_NAMESPACE_LIST: &str =
    r#"{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":null}"#;

/// A loopback API server with two pods, one RoleBinding and no namespaces.
fn recorded_cluster() -> RecordedApiServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pods.json"), POD_LIST).unwrap();
    std::fs::write(dir.path().join("rolebindings.json"), ROLE_BINDING_LIST).unwrap();
    std::fs::write(dir.path().join("namespaces.json"), EMPTY_NAMESPACE_LIST).unwrap();
    RecordedApiServer::for_recorded_lists(dir.path())
}

fn kubeconfig_for(dir: &Path, server: &RecordedApiServer) -> PathBuf {
    server.kubeconfig(dir)
}

fn kubectl_against(server: &RecordedApiServer, dir: &Path) -> Kubectl {
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
        support::missing("kubectl is not installed");
        return;
    }
    let server = recorded_cluster();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = kubectl_against(&server, dir.path());

    let listed = kubectl.list("pods").unwrap();
    let pods: Vec<Value> = listed.iter().map(|pod| pod.to_value()).collect();
    let names: Vec<&str> = pods
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["kube-apiserver-cp-1", "web-7d9c"]);
    assert_eq!(
        pods[1]["spec"]["containers"][0]["securityContext"]["privileged"],
        true
    );

    assert_eq!(kubectl.list("pods").unwrap(), listed);
    assert_eq!(server.requests_for("/api/v1/pods"), 1);
}

#[test]
fn real_kubectl_lists_a_grouped_kind_and_an_empty_list() {
    if !kubectl_installed() {
        support::missing("kubectl is not installed");
        return;
    }
    let server = recorded_cluster();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = kubectl_against(&server, dir.path());

    let bindings = kubectl
        .list("rolebindings.rbac.authorization.k8s.io")
        .unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].to_value()["roleRef"]["name"], "cluster-admin");
    assert!(kubectl.list("namespaces").unwrap().is_empty());
}

#[test]
fn real_kubectl_reports_the_server_version_when_reachable() {
    if !kubectl_installed() {
        support::missing("kubectl is not installed");
        return;
    }
    let server = recorded_cluster();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = kubectl_against(&server, dir.path());
    assert!(kubectl.reachable());
    assert_eq!(kubectl.server_version().as_deref(), Some("v1.33.1"));
}

#[test]
fn live_facts_answer_api_questions_through_real_kubectl() {
    use cisgate::facts::live::{LiveFacts, LiveOptions};
    use cisgate::facts::Facts;
    if !kubectl_installed() {
        support::missing("kubectl is not installed");
        return;
    }
    let server = recorded_cluster();
    let dir = tempfile::tempdir().unwrap();
    let facts = LiveFacts::new(LiveOptions {
        kubectl: KubectlOptions {
            kubeconfig: Some(kubeconfig_for(dir.path(), &server)),
            cache_dir: Some(dir.path().join("cache")),
            ..KubectlOptions::default()
        },
        ..LiveOptions::default()
    });
    assert!(facts.api_reachable());
    assert_eq!(facts.api_server_version().as_deref(), Some("v1.33.1"));
    assert_eq!(facts.api_objects("pods").unwrap().len(), 2);
    assert_eq!(facts.api_objects("pods").unwrap().len(), 2);
    assert_eq!(server.requests_for("/api/v1/pods"), 1);
}

#[test]
fn no_cluster_is_an_api_error_carrying_kubectls_message() {
    if !kubectl_installed() {
        support::missing("kubectl is not installed");
        return;
    }
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let unreachable = RecordedApiServer::start(BTreeMap::new());
    let kubeconfig = unreachable.kubeconfig(dir.path());
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    std::fs::write(
        &kubeconfig,
        text.replace(&unreachable.url(), &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let kubectl = Kubectl::new(KubectlOptions {
        kubeconfig: Some(kubeconfig),
        cache_dir: Some(dir.path().join("cache")),
        list_timeout: Duration::from_secs(20),
        reach_timeout: Duration::from_secs(10),
        ..KubectlOptions::default()
    });

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
