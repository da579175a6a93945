//! The `static_pod_file` probe: a file as a static pod's containers see it, read on the
//! node through the pod's `hostPath` volumes.
//!
//! OpenShift's control plane reads its settings from paths inside its static pods
//! (`/etc/kubernetes/static-pod-resources/configmaps/config/config.yaml`), which the pod
//! mounts from a per-revision directory on the node
//! (`/etc/kubernetes/static-pod-resources/kube-apiserver-pod-7`). The manifest the kubelet
//! runs names that directory, so the probe follows it: the same file the running
//! container reads, without `oc exec`.

use serde::Deserialize;

use crate::definitions::probe::StaticPodShow;
use crate::facts::Facts;
use crate::matching::block_yaml;

use super::probes::ProbeError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Manifest {
    kind: String,
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Container {
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Volume {
    name: String,
    host_path: Option<HostPath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HostPath {
    path: String,
}

/// Answers the probe: the file's content, `permissions=600` or `root:root`; nothing when
/// the manifest or the file does not exist on the node.
pub fn answer(
    facts: &dyn Facts,
    manifest: &str,
    path: &str,
    show: StaticPodShow,
) -> Result<String, ProbeError> {
    let Some(node_path) = node_path(facts, manifest, path)? else {
        return Ok(String::new());
    };
    match show {
        StaticPodShow::Content => Ok(facts.read_file(&node_path)?.unwrap_or_default()),
        StaticPodShow::Mode => Ok(facts
            .stat(&node_path)?
            .map(|stat| stat.permissions_text())
            .unwrap_or_default()),
        StaticPodShow::Owner => Ok(facts
            .stat(&node_path)?
            .map(|stat| stat.owner_text())
            .unwrap_or_default()),
    }
}

/// The node path of `path` as the pod's containers see it; `None` when the manifest does
/// not exist. A path that no `hostPath` volume holds lives in the container image, which
/// the node does not show: that is an error, not an empty answer.
pub fn node_path(
    facts: &dyn Facts,
    manifest: &str,
    path: &str,
) -> Result<Option<String>, ProbeError> {
    let Some(text) = facts.read_file(manifest)? else {
        return Ok(None);
    };
    let pod: Manifest = block_yaml::from_str(&text)
        .map_err(|e| ProbeError::Invalid(format!("{manifest} is not a valid pod manifest: {e}")))?;
    if pod.kind != "Pod" {
        return Err(ProbeError::Invalid(format!("{manifest} is not a Pod")));
    }
    resolve(&pod, path).map(Some).ok_or_else(|| {
        ProbeError::Invalid(format!(
            "{path} is not on a hostPath volume of the pod in {manifest}"
        ))
    })
}

/// The node path through the mount with the longest mount path that holds `path`.
fn resolve(pod: &Manifest, path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    pod.spec
        .containers
        .iter()
        .chain(&pod.spec.init_containers)
        .flat_map(|container| &container.volume_mounts)
        .filter_map(|mount| {
            let mount_path = mount.mount_path.trim_end_matches('/');
            let rest = path.strip_prefix(mount_path)?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let host = pod
                .spec
                .volumes
                .iter()
                .find(|volume| volume.name == mount.name)?
                .host_path
                .as_ref()?;
            Some((
                mount_path.len(),
                format!("{}{rest}", host.path.trim_end_matches('/')),
            ))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, node_path)| node_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kube-apiserver
    volumeMounts:
    - mountPath: /etc/kubernetes/static-pod-resources
      name: resource-dir
    - mountPath: /etc/kubernetes/static-pod-certs
      name: cert-dir
    - mountPath: /etc/kubernetes/static-pod-resources/nested
      name: nested
  - name: other
    volumeMounts:
    - mountPath: /tmp
      name: tmp-dir
  volumes:
  - hostPath:
      path: /etc/kubernetes/static-pod-resources/kube-apiserver-pod-7
    name: resource-dir
  - hostPath:
      path: /etc/kubernetes/static-pod-resources/kube-apiserver-certs/
    name: cert-dir
  - hostPath:
      path: /srv/nested
    name: nested
  - emptyDir: {}
    name: tmp-dir
"#;

    fn pod() -> Manifest {
        serde_saphyr::from_str(POD).expect("pod parses")
    }

    #[test]
    fn a_container_path_maps_through_its_hostpath_volume() {
        assert_eq!(
            resolve(
                &pod(),
                "/etc/kubernetes/static-pod-resources/configmaps/config/config.yaml"
            )
            .as_deref(),
            Some("/etc/kubernetes/static-pod-resources/kube-apiserver-pod-7/configmaps/config/config.yaml")
        );
        assert_eq!(
            resolve(&pod(), "/etc/kubernetes/static-pod-certs/secrets/a/tls.key").as_deref(),
            Some("/etc/kubernetes/static-pod-resources/kube-apiserver-certs/secrets/a/tls.key")
        );
    }

    #[test]
    fn the_longest_mount_wins_and_prefixes_match_whole_components() {
        assert_eq!(
            resolve(&pod(), "/etc/kubernetes/static-pod-resources/nested/x").as_deref(),
            Some("/srv/nested/x")
        );
        assert_eq!(
            resolve(&pod(), "/etc/kubernetes/static-pod-resourcesX/y"),
            None
        );
    }

    /// A snapshot holding the pod above as a manifest, its config file, and a JSON list.
    fn facts() -> crate::facts::snapshot::SnapshotFacts {
        let stat = |mode: &str, user: &str| {
            serde_json::json!({"kind": "file", "mode": mode, "uid": 0, "gid": 0,
                               "user": user, "group": "root", "size": 10})
        };
        let config = "/etc/kubernetes/static-pod-resources/kube-apiserver-pod-7/configmaps/config/config.yaml";
        let document = serde_json::json!({
            "snapshot_version": 1,
            "node": {"name": "master-0"},
            "files": {
                "/etc/kubernetes/manifests/kube-apiserver-pod.yaml":
                    {"stat": stat("0600", "root"), "content": POD},
                "/etc/kubernetes/manifests/list.yaml":
                    {"stat": stat("0600", "root"), "content": "kind: List\nitems: []\n"},
                "/etc/kubernetes/manifests/absent-pod.yaml": {"absent": true},
                config: {"stat": stat("0640", "core"), "content": "{\"a\":1}"},
            },
        });
        let snapshot = crate::facts::snapshot::Snapshot::from_bytes(
            document.to_string().as_bytes(),
            std::path::Path::new("test.json"),
        )
        .expect("snapshot");
        crate::facts::snapshot::SnapshotFacts::new("test.json".into(), snapshot)
    }

    const MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver-pod.yaml";
    const CONFIG: &str = "/etc/kubernetes/static-pod-resources/configmaps/config/config.yaml";

    #[test]
    fn the_probe_prints_the_content_mode_or_owner_of_the_file_behind_the_mount() {
        let facts = facts();
        let ask = |show| answer(&facts, MANIFEST, CONFIG, show).expect("answered");
        assert_eq!(ask(StaticPodShow::Content), "{\"a\":1}");
        assert_eq!(ask(StaticPodShow::Mode), "permissions=640");
        assert_eq!(ask(StaticPodShow::Owner), "core:root");
    }

    #[test]
    fn an_absent_manifest_prints_nothing_and_a_path_outside_the_volumes_is_an_error() {
        let facts = facts();
        let absent = "/etc/kubernetes/manifests/absent-pod.yaml";
        assert_eq!(
            answer(&facts, absent, CONFIG, StaticPodShow::Mode).expect("answered"),
            ""
        );
        let outside = answer(
            &facts,
            MANIFEST,
            "/usr/bin/kube-apiserver",
            StaticPodShow::Mode,
        );
        assert!(
            matches!(&outside, Err(ProbeError::Invalid(m)) if m.contains("not on a hostPath volume")),
            "{outside:?}"
        );
        let not_a_pod = answer(
            &facts,
            "/etc/kubernetes/manifests/list.yaml",
            CONFIG,
            StaticPodShow::Content,
        );
        assert!(
            matches!(&not_a_pod, Err(ProbeError::Invalid(m)) if m.contains("is not a Pod")),
            "{not_a_pod:?}"
        );
    }

    #[test]
    fn paths_outside_hostpath_volumes_do_not_resolve() {
        assert_eq!(resolve(&pod(), "/tmp/x"), None);
        assert_eq!(resolve(&pod(), "/usr/bin/kube-apiserver"), None);
    }
}
