//! The GitLab CI example: `.gitlab-ci.yml` + the `include:`-able template, resolved as GitLab
//! does for the fields they use (include: local, extends, variables), and the job's
//! `before_script` and `script` run as one shell script in a repository of node configuration
//! made from the bundled example nodes. No cisgate is on PATH: the job installs the release
//! (laid out by scripts/release-layout.sh, served on 127.0.0.1) after checking its SHA-256, as
//! it does in a shell image on a runner (the cisgate image has no shell).

mod pipeline_common;
#[path = "support/release.rs"]
mod release;
#[path = "support/served_release.rs"]
mod served_release;
#[path = "support/static_http.rs"]
mod static_http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipeline_common::*;
use serde_json::Value;
use served_release::ServedRelease;

fn gitlab_dir() -> PathBuf {
    repo_root().join("examples/gitlab")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A job as GitLab sees it: `extends` merged (hashes deeply, other values replaced), plus
/// the global variables of every file.
struct Job {
    image: String,
    variables: Vec<(String, String)>,
    before_script: Vec<String>,
    script: Vec<String>,
    artifacts: Value,
}

fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(a), Value::Object(b)) => {
            let mut merged = a.clone();
            for (key, value) in b {
                let next = match a.get(key) {
                    Some(old) => merge(old, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), next);
            }
            Value::Object(merged)
        }
        _ => over.clone(),
    }
}

fn resolve_job(name: &str) -> Job {
    let main = yaml(&gitlab_dir().join(".gitlab-ci.yml"));
    let mut config = serde_json::Map::new();
    for include in main["include"].as_array().expect("include: list") {
        let local = include["local"].as_str().expect("include: local");
        let included = yaml(&gitlab_dir().join(local.trim_start_matches('/')));
        config = merge(&Value::Object(config), &included)
            .as_object()
            .unwrap()
            .clone();
    }
    let config = merge(&Value::Object(config), &main);
    let mut job = config[name].clone();
    assert!(job.is_object(), "no job {name}");
    while let Some(parent) = job
        .as_object_mut()
        .unwrap()
        .remove("extends")
        .and_then(|p| p.as_str().map(str::to_string))
    {
        job = merge(&config[parent.as_str()], &job);
    }
    let mut variables = Vec::new();
    for scope in [&config["variables"], &job["variables"]] {
        for (key, value) in scope.as_object().into_iter().flatten() {
            variables.retain(|(k, _): &(String, String)| k != key);
            variables.push((key.clone(), value.as_str().unwrap_or_default().to_string()));
        }
    }
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: list"))
            .iter()
            .map(|line| line.as_str().unwrap().to_string())
            .collect()
    };
    Job {
        image: job["image"].as_str().expect("image: NAME").to_string(),
        variables,
        before_script: lines("before_script"),
        script: lines("script"),
        artifacts: job["artifacts"].clone(),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A repository of node configuration: `nodes/control-plane-1`, `nodes/worker-1`.
fn config_repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for node in ["control-plane-1", "worker-1"] {
        copy_tree(
            &repo_root().join("examples/snapshots").join(node),
            &repo.path().join("nodes").join(node),
        );
    }
    repo
}

/// The release the jobs install, of the binary under test.
fn served_release() -> &'static ServedRelease {
    ServedRelease::shared()
}

/// Runs the job's `before_script` and `script` lines as GitLab's shell executor does: one
/// shell, stop at the first failing line; the release comes from `release`.
fn run_script(job: &Job, repo: &Path, release: &ServedRelease) -> Output {
    assert!(
        which("cisgate").is_none(),
        "cisgate must not be on PATH: the job installs it"
    );
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-ec")
        .arg(
            [job.before_script.clone(), job.script.clone()]
                .concat()
                .join("\n"),
        )
        .current_dir(repo)
        .env("TMPDIR", scratch.path())
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_DIR", repo)
        .env_remove("CISGATE_CONFIG_DIR")
        .env_remove("CISGATE_TODAY");
    for (key, value) in &job.variables {
        command.env(key, value);
    }
    // A CI/CD variable of the project: where the release is served from.
    command.env("CISGATE_DOWNLOAD_BASE", release.server.url());
    command.output().expect("sh runs")
}

fn report_path(job: &Job, repo: &Path, kind: &str) -> PathBuf {
    repo.join(
        job.artifacts["reports"][kind]
            .as_str()
            .unwrap_or_else(|| panic!("artifacts:reports:{kind}")),
    )
}

#[test]
fn the_merge_request_job_fails_on_regressions_and_publishes_junit_code_quality_and_html() {
    let job = resolve_job("cis-benchmark");
    assert!(
        !job.image.contains("cisgate/cisgate"),
        "the job image has a shell; the cisgate image has none: {}",
        job.image
    );
    let repo = config_repository();
    let run = run_script(&job, repo.path(), served_release());

    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let log = text(&run.stdout);
    assert!(
        log.contains("--snapshot nodes --source-root"),
        "the job's variables reach the scan: {log}"
    );
    assert!(log.contains("--benchmark cis-1.12"), "{log}");

    let junit = std::fs::read_to_string(report_path(&job, repo.path(), "junit")).unwrap();
    let document = roxmltree::Document::parse(&junit).expect("JUnit is XML");
    let failures = document
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert!(failures > 0, "regressions are JUnit failures");
    for node in ["control-plane-1", "worker-1"] {
        assert!(junit.contains(node), "a suite for {node}");
    }

    let codequality: Value = serde_json::from_slice(
        &std::fs::read(report_path(&job, repo.path(), "codequality")).unwrap(),
    )
    .unwrap();
    let issues = codequality
        .as_array()
        .expect("Code Quality is a JSON array");
    assert_eq!(issues.len(), failures, "one issue per regression");
    for issue in issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[field].is_string(), "{field} in {issue}");
        }
        assert!(issue["location"]["path"].is_string(), "{issue}");
        assert!(issue["location"]["lines"]["begin"].is_u64(), "{issue}");
    }

    for path in job.artifacts["paths"].as_array().unwrap() {
        assert!(
            repo.path().join(path.as_str().unwrap()).exists(),
            "artifact path {path}"
        );
    }
    let html = std::fs::read_to_string(repo.path().join("cisgate-reports/report.html")).unwrap();
    assert!(html.contains("control-plane-1") && html.contains("worker-1"));
    assert_eq!(
        job.artifacts["when"], "always",
        "reports kept when the job fails"
    );
}

#[test]
fn a_baseline_committed_in_the_repository_lets_the_job_pass() {
    let job = resolve_job("cis-benchmark");
    let repo = config_repository();
    let release = served_release();
    let first = run_script(&job, repo.path(), release);
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));

    let create = Command::new(cisgate_bin())
        .current_dir(repo.path())
        .args([
            "baseline",
            "create",
            "--from",
            "cisgate-reports/results.json",
        ])
        .output()
        .unwrap();
    assert!(create.status.success(), "{}", describe(&create));
    assert!(repo.path().join(".cisgate/baseline.yaml").is_file());

    let second = run_script(&job, repo.path(), release);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let codequality: Value = serde_json::from_slice(
        &std::fs::read(report_path(&job, repo.path(), "codequality")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        codequality,
        serde_json::json!([]),
        "accepted findings are no issues"
    );
}

#[test]
fn a_job_that_cannot_run_fails_with_exit_code_2() {
    let mut job = resolve_job("cis-benchmark");
    job.variables
        .push(("CISGATE_BENCHMARK".into(), "cis-0.0-no-such".into()));
    let repo = config_repository();
    let run = run_script(&job, repo.path(), served_release());

    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));
    assert!(text(&run.stdout).contains("could not be done as asked"));
}

#[test]
fn the_template_job_scans_the_live_node_when_no_snapshots_are_given() {
    let mut job = resolve_job(".cisgate");
    job.variables.extend([
        (
            "CISGATE_ROOT".to_string(),
            repo_root()
                .join("examples/snapshots/worker-1")
                .display()
                .to_string(),
        ),
        ("CISGATE_K8S_VERSION".into(), "1.33".into()),
        ("CISGATE_TARGETS".into(), "node".into()),
        (
            "CISGATE_ARGS".into(),
            "--check 4.2.1 --node-name gitlab-runner".into(),
        ),
    ]);
    let repo = tempfile::tempdir().unwrap();
    let run = run_script(&job, repo.path(), served_release());

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let log = text(&run.stdout);
    assert!(
        log.contains("--root ") && !log.contains("--snapshot"),
        "{log}"
    );
    let junit = std::fs::read_to_string(repo.path().join("cisgate-reports/junit.xml")).unwrap();
    assert!(junit.contains("gitlab-runner"));
    assert!(junit.contains("4.2.1"));
}

#[test]
fn the_template_installs_this_release_of_the_project_repository() {
    let job = resolve_job(".cisgate");
    let variable = |name: &str| {
        job.variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(variable("CISGATE_VERSION"), release::VERSION);
    assert_eq!(variable("CISGATE_REPOSITORY"), release::repository());
    assert_eq!(variable("CISGATE_DOWNLOAD_BASE"), "https://github.com");
}

#[test]
fn a_tampered_release_is_not_installed_and_the_job_fails_before_scanning() {
    let job = resolve_job("cis-benchmark");
    let release = &ServedRelease::new("tampered");
    let archive = std::fs::read_dir(release.assets())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let repo = config_repository();
    let run = run_script(&job, repo.path(), release);

    assert_ne!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains("checksum mismatch"),
        "{}",
        describe(&run)
    );
    assert!(!repo.path().join("cisgate-reports").exists(), "no scan ran");
}
