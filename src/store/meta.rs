//! What a run is, besides its results: when it ran, on which cluster, from which commit and
//! pipeline, under which run id.
//!
//! - **Cluster**: `--cluster`, else the cluster the nodes name (a snapshot's `cluster`, a live
//!   node's kubeconfig `current-context`), else `default`.
//! - **CI**: the commit and pipeline from GitHub Actions or GitLab CI variables.
//! - **Run id**: `--run-id`, else one derived from the CI pipeline and job (so a retried
//!   job does not store its run twice), else one unique to this process and time.

use std::collections::BTreeSet;

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

/// The cluster a run belongs to when `--cluster` is not given: the one its nodes name (a
/// snapshot's `cluster`, a live node's kubeconfig context), else `default`. Nodes that name
/// different clusters are an error: one run is one cluster in the store.
pub fn default_cluster(results: &RunResults) -> anyhow::Result<String> {
    let named: BTreeSet<&str> = results
        .nodes
        .iter()
        .filter_map(|node| node.node.cluster.as_deref())
        .map(str::trim)
        .filter(|cluster| !cluster.is_empty())
        .collect();
    match named.len() {
        0 => Ok("default".to_string()),
        1 => Ok(named.into_iter().next().unwrap_or_default().to_string()),
        _ => anyhow::bail!(
            "the nodes belong to different clusters ({}): scan one cluster at a time, \
             or name the run's cluster with --cluster",
            named.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
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
    fn the_cluster_is_the_one_the_nodes_name_else_default() {
        let mut results = crate::baseline::testing::run("cis-1.12", vec![]);
        assert_eq!(default_cluster(&results).unwrap(), "default");
        for (name, cluster) in [("a", None), ("b", Some("prod-eu")), ("c", Some("prod-eu"))] {
            let mut node = crate::baseline::testing::node(name, "node", vec![]);
            node.node.cluster = cluster.map(str::to_string);
            results.nodes.push(node);
        }
        assert_eq!(default_cluster(&results).unwrap(), "prod-eu");
        results.nodes[0].node.cluster = Some("staging".into());
        let error = default_cluster(&results).unwrap_err().to_string();
        assert!(
            error.contains("prod-eu, staging") && error.contains("--cluster"),
            "{error}"
        );
    }

    #[test]
    fn importing_the_same_file_gives_the_same_run_id() {
        assert_eq!(import_run_id(b"{}", "a"), import_run_id(b"{}", "a"));
        assert_ne!(import_run_id(b"{}", "a"), import_run_id(b"{}", "b"));
        assert_ne!(import_run_id(b"{}", "a"), import_run_id(b"[]", "a"));
    }
}
