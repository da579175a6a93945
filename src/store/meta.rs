//! What a run is, besides its results: when it ran, on which cluster, from which commit and
//! pipeline, under which run id.
//!
//! - **Cluster**: `--cluster`, else the `cluster` recorded in the first node's snapshot file
//!   (`node.cluster`), else the kubeconfig's `current-context`, else `default`.
//! - **CI**: the commit and pipeline from GitHub Actions or GitLab CI variables.
//! - **Run id**: `--run-id`, else one derived from the CI pipeline and job (so a retried
//!   job does not store its run twice), else one unique to this process and time.

use std::io::Read;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::results::RunResults;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMeta {
    /// Unique per run; writing a run id that is already stored changes nothing.
    pub run_id: String,
    pub started_at: Timestamp,
    pub cluster: String,
    pub git_commit: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_url: Option<String>,
}

/// The commit and pipeline a CI job runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiInfo {
    pub git_commit: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_url: Option<String>,
    /// What identifies this job's run across retries: `github:<repo>/<run>/<job>`.
    pub job_key: Option<String>,
}

impl CiInfo {
    /// From the environment (`var` looks a variable up; empty counts as unset).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> CiInfo {
        let get = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if let Some(run) = get("GITHUB_RUN_ID") {
            let repository = get("GITHUB_REPOSITORY").unwrap_or_default();
            let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            return CiInfo {
                git_commit: get("GITHUB_SHA"),
                pipeline_url: (!repository.is_empty())
                    .then(|| format!("{server}/{repository}/actions/runs/{run}")),
                job_key: Some(format!(
                    "github:{repository}/{run}/{}",
                    get("GITHUB_JOB").unwrap_or_default()
                )),
                pipeline_id: Some(run),
            };
        }
        if let Some(pipeline) = get("CI_PIPELINE_ID") {
            return CiInfo {
                git_commit: get("CI_COMMIT_SHA"),
                pipeline_url: get("CI_PIPELINE_URL"),
                job_key: Some(format!(
                    "gitlab:{}/{pipeline}/{}",
                    get("CI_PROJECT_PATH").unwrap_or_default(),
                    get("CI_JOB_NAME").unwrap_or_default()
                )),
                pipeline_id: Some(pipeline),
            };
        }
        CiInfo {
            git_commit: get("GIT_COMMIT"),
            ..CiInfo::default()
        }
    }

    pub fn from_process_env() -> CiInfo {
        CiInfo::from_env(|name| std::env::var(name).ok())
    }
}

/// The run id of a scan: the CI job's (with cluster and benchmark, since one job may scan
/// several), else one unique to this host, process and instant.
pub fn scan_run_id(ci: &CiInfo, cluster: &str, benchmark: &str, started_at: Timestamp) -> String {
    match &ci.job_key {
        Some(job) => format!("{job}/{cluster}/{benchmark}"),
        None => format!(
            "local:{cluster}/{benchmark}/{}/{}",
            started_at.as_nanosecond(),
            std::process::id()
        ),
    }
}

/// The run id of an imported results file: its content and cluster, so importing the
/// same file again changes nothing.
pub fn import_run_id(bytes: &[u8], cluster: &str) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("import:{cluster}/{hex}")
}

/// Where the cluster name comes from when `--cluster` is not given.
#[derive(Debug, Clone, Default)]
pub struct ClusterSources {
    /// `--kubeconfig`, when given.
    pub kubeconfig: Option<PathBuf>,
    /// `$KUBECONFIG`.
    pub kubeconfig_env: Option<String>,
    /// The home directory (for `~/.kube/config`).
    pub home: Option<PathBuf>,
}

impl ClusterSources {
    pub fn from_process_env(kubeconfig: Option<PathBuf>) -> ClusterSources {
        ClusterSources {
            kubeconfig,
            kubeconfig_env: std::env::var("KUBECONFIG").ok(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// The cluster a run belongs to (see the module documentation for the order).
pub fn default_cluster(results: &RunResults, sources: &ClusterSources) -> String {
    snapshot_cluster(results)
        .or_else(|| kubeconfig_context(sources))
        .unwrap_or_else(|| "default".to_string())
}

/// `node.cluster` (or a top-level `cluster`) of the first node's snapshot file, when the
/// node came from one.
fn snapshot_cluster(results: &RunResults) -> Option<String> {
    let source = Path::new(&results.nodes.first()?.node.source);
    if !source.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(source)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .ok()?;
        bytes = text;
    }
    let document: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let cluster = document
        .pointer("/node/cluster")
        .or_else(|| document.get("cluster"))?
        .as_str()?
        .trim();
    (!cluster.is_empty()).then(|| cluster.to_string())
}

/// The `current-context` kubectl would use: the first kubeconfig file that sets one.
fn kubeconfig_context(sources: &ClusterSources) -> Option<String> {
    let files: Vec<PathBuf> = if let Some(file) = &sources.kubeconfig {
        vec![file.clone()]
    } else if let Some(list) = sources.kubeconfig_env.as_deref().filter(|l| !l.is_empty()) {
        std::env::split_paths(list).collect()
    } else {
        vec![sources.home.as_ref()?.join(".kube/config")]
    };
    #[derive(serde::Deserialize)]
    struct Kubeconfig {
        #[serde(rename = "current-context", default)]
        current_context: Option<String>,
    }
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        let config: Kubeconfig = serde_saphyr::from_str(&text).ok()?;
        config.current_context.filter(|c| !c.trim().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn github_and_gitlab_variables_name_the_commit_and_pipeline() {
        let github = CiInfo::from_env(env(&[
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_REPOSITORY", "acme/fleet"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_JOB", "nightly"),
        ]));
        assert_eq!(github.git_commit.as_deref(), Some("abc123"));
        assert_eq!(github.pipeline_id.as_deref(), Some("42"));
        assert_eq!(
            github.pipeline_url.as_deref(),
            Some("https://github.com/acme/fleet/actions/runs/42")
        );
        assert_eq!(
            scan_run_id(&github, "prod", "cis-1.12", Timestamp::UNIX_EPOCH),
            "github:acme/fleet/42/nightly/prod/cis-1.12"
        );
        let gitlab = CiInfo::from_env(env(&[
            ("CI_PIPELINE_ID", "7"),
            ("CI_COMMIT_SHA", "def"),
            ("CI_PIPELINE_URL", "https://gitlab.example/p/-/pipelines/7"),
            ("CI_PROJECT_PATH", "ops/fleet"),
            ("CI_JOB_NAME", "cisgate"),
        ]));
        assert_eq!(gitlab.git_commit.as_deref(), Some("def"));
        assert_eq!(
            gitlab.job_key.as_deref(),
            Some("gitlab:ops/fleet/7/cisgate")
        );
        assert_eq!(CiInfo::from_env(env(&[])), CiInfo::default());
    }

    #[test]
    fn the_cluster_comes_from_the_snapshot_then_the_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("node.json");
        std::fs::write(
            &snapshot,
            r#"{"snapshot_version":1,"node":{"name":"n","cluster":"prod-eu"}}"#,
        )
        .unwrap();
        let mut results = crate::baseline::testing::run("cis-1.12", vec![]);
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\ncurrent-context: staging\ncontexts: []\n",
        )
        .unwrap();
        let sources = ClusterSources {
            kubeconfig: None,
            kubeconfig_env: Some(kubeconfig.display().to_string()),
            home: None,
        };
        assert_eq!(default_cluster(&results, &sources), "staging");
        results
            .nodes
            .push(crate::baseline::testing::node("n", "node", vec![]));
        results.nodes[0].node.source = snapshot.display().to_string();
        assert_eq!(default_cluster(&results, &sources), "prod-eu");
        assert_eq!(
            default_cluster(
                &crate::baseline::testing::run("cis-1.12", vec![]),
                &ClusterSources::default()
            ),
            "default"
        );
    }

    #[test]
    fn importing_the_same_file_gives_the_same_run_id() {
        assert_eq!(import_run_id(b"{}", "a"), import_run_id(b"{}", "a"));
        assert_ne!(import_run_id(b"{}", "a"), import_run_id(b"{}", "b"));
        assert_ne!(import_run_id(b"{}", "a"), import_run_id(b"[]", "a"));
    }
}
