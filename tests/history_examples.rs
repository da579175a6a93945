//! The nightly examples that use the results store do what they say: the GitLab scheduled
//! jobs are run (installing the binary under test from a release served on 127.0.0.1, as
//! they do on a runner), the GitHub workflow's store wiring is checked (its scan step runs in
//! `pipeline_github_action.rs`). The Kubernetes CronJobs run from the container image in
//! `pipeline_kubernetes.rs`.

mod pipeline_common;
#[path = "support/release.rs"]
mod release;
#[path = "support/served_release.rs"]
mod served_release;
#[path = "support/static_http.rs"]
mod static_http;

use std::path::Path;
use std::process::{Command, Output};

use pipeline_common::*;
use serde_json::Value;
use served_release::ServedRelease;

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn copy_snapshots(to: &Path) {
    for node in ["control-plane-1", "worker-1"] {
        let status = Command::new("cp")
            .arg("-R")
            .arg(repo_root().join("examples/snapshots").join(node))
            .arg(to.join(node))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn stored_runs(store: &Path) -> Vec<Value> {
    let output = Command::new(cisgate_bin())
        .args(["history", "runs", "--json", "--store"])
        .arg(store)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A GitLab job of the nightly file, with `extends` resolved as GitLab does for the fields
/// used (variables merged, the rest replaced), as (before_script + script, variables).
fn gitlab_job(name: &str) -> (Vec<String>, Vec<(String, String)>) {
    let dir = repo_root().join("examples/gitlab");
    let template = yaml(&dir.join("cisgate.gitlab-ci.yml"));
    let nightly = yaml(&dir.join("nightly-report.gitlab-ci.yml"));
    let lookup = |job: &str| -> Value {
        let found = if nightly[job].is_object() {
            &nightly[job]
        } else {
            &template[job]
        };
        assert!(found.is_object(), "no job {job}");
        found.clone()
    };
    // The chain from the job up to its last ancestor.
    let mut chain = vec![lookup(name)];
    while let Some(parent) = chain.last().unwrap()["extends"].as_str() {
        chain.push(lookup(parent));
    }
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut add = |scope: &Value| {
        for (key, value) in scope.as_object().into_iter().flatten() {
            variables.retain(|(k, _)| k != key);
            variables.push((key.clone(), value.as_str().unwrap_or_default().to_string()));
        }
    };
    add(&template["variables"]);
    add(&nightly["variables"]);
    for job in chain.iter().rev() {
        add(&job["variables"]);
    }
    let lines = |key: &str| -> Vec<String> {
        let source = chain.iter().find(|job| job.get(key).is_some()).unwrap();
        source[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    (
        [lines("before_script"), lines("script")].concat(),
        variables,
    )
}

fn run_gitlab_job(name: &str, repo: &Path, release: &ServedRelease) -> Output {
    let (script, variables) = gitlab_job(name);
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-ec")
        .arg(script.join("\n"))
        .current_dir(repo)
        .env("TMPDIR", scratch.path())
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_DIR", repo)
        .env_remove("CISGATE_STORE")
        .env_remove("CISGATE_TODAY");
    for (key, value) in variables {
        command.env(key, value);
    }
    command.env("CISGATE_DOWNLOAD_BASE", release.server.url());
    command.output().unwrap()
}

#[test]
fn the_gitlab_nightly_jobs_store_each_night_and_publish_the_trend() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("snapshots")).unwrap();
    copy_snapshots(&repo.path().join("snapshots"));
    let release = ServedRelease::shared();
    for night in 1..=2 {
        let run = run_gitlab_job("cisgate-nightly", repo.path(), release);
        assert_eq!(
            run.status.code(),
            Some(1),
            "night {night}: {}",
            describe(&run)
        );
    }
    let runs = stored_runs(&repo.path().join(".cisgate/history.db"));
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["cluster"] == "prod-eu-1"));
    let trend = run_gitlab_job("cisgate-trend", repo.path(), release);
    assert!(trend.status.success(), "{}", describe(&trend));
    let page = std::fs::read_to_string(repo.path().join("cisgate-trend/trend.html")).unwrap();
    assert!(page.contains("prod-eu-1"));
    // The store the jobs use is the path both cache it under.
    let nightly = yaml(&repo_root().join("examples/gitlab/nightly-report.gitlab-ci.yml"));
    for job in ["cisgate-nightly", "cisgate-trend"] {
        assert_eq!(
            nightly[job]["cache"]["paths"][0],
            nightly[job]["variables"]["CISGATE_STORE"]
        );
        assert_eq!(nightly[job]["cache"]["key"], "cisgate-history");
    }
}

#[test]
fn the_github_workflow_caches_the_store_it_scans_into_and_reports_from() {
    let workflow = yaml(&repo_root().join("examples/github/nightly-report.yml"));
    let steps = |job: &str| workflow["jobs"][job]["steps"].as_array().unwrap().clone();
    let nightly = steps("nightly");
    let scan = nightly
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("cisgate/cisgate@"))
        })
        .unwrap();
    let args = scan["with"]["args"].as_str().unwrap();
    assert!(
        args.contains("--store .cisgate/history.db") && args.contains("--previous store"),
        "{args}"
    );
    let uses = |steps: &[Value], prefix: &str| -> Vec<Value> {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .cloned()
            .collect()
    };
    let restore = &uses(&nightly, "actions/cache/restore@")[0];
    let save = &uses(&nightly, "actions/cache/save@")[0];
    assert_eq!(restore["with"]["path"], ".cisgate/history.db");
    assert_eq!(save["with"]["path"], ".cisgate/history.db");
    assert_eq!(save["if"], "always()");
    let trend = steps("trend");
    let trend_restore = &uses(&trend, "actions/cache/restore@")[0];
    assert_eq!(trend_restore["with"]["key"], save["with"]["key"]);
    let report = trend
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("history report")))
        .unwrap();
    assert!(
        report.contains("--store .cisgate/history.db")
            && report.contains("--html cisgate-trend.html")
    );
    let uploaded = &uses(&trend, "actions/upload-artifact@")[0];
    assert_eq!(uploaded["with"]["path"], "cisgate-trend.html");
    assert_eq!(workflow["jobs"]["trend"]["needs"], "nightly");
}
