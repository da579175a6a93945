//! The GitHub Action: `scripts/github-action.sh` run end to end against the bundled example
//! nodes with a fake GitHub environment (step summary and output files), and `action.yml`
//! checked against the script it runs.

mod pipeline_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipeline_common::*;
use serde_json::Value;

struct FakeGithub {
    dir: tempfile::TempDir,
    summary: PathBuf,
    output: PathBuf,
}

impl FakeGithub {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("step_summary.md");
        let output = dir.path().join("github_output");
        std::fs::write(&summary, "## earlier step\n\n").unwrap();
        std::fs::write(&output, "").unwrap();
        FakeGithub {
            dir,
            summary,
            output,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the action's script in the repository root with the given `INPUT_*` values.
    fn run(&self, inputs: &[(&str, &str)]) -> Output {
        self.run_with_path(inputs, None)
    }

    fn run_with_path(&self, inputs: &[(&str, &str)], path: Option<&str>) -> Output {
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("scripts/github-action.sh"))
            .current_dir(repo_root())
            .env("CISGATE", cisgate_bin())
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_OUTPUT", &self.output)
            .env("GITHUB_WORKSPACE", repo_root())
            .env("RUNNER_TEMP", self.dir.path())
            .env_remove("NO_COLOR");
        for (name, _) in std::env::vars() {
            if name.starts_with("INPUT_") || name.starts_with("CISGATE_") {
                command.env_remove(name);
            }
        }
        for (name, value) in inputs {
            command.env(name, value);
        }
        if let Some(path) = path {
            command.env("PATH", path);
        }
        command.output().expect("bash runs")
    }

    fn output(&self, key: &str) -> Option<String> {
        output_value(&self.output, key)
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(&self.summary).unwrap()
    }
}

fn control_plane_inputs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("INPUT_ROOT", "examples/snapshots/control-plane-1"),
        ("INPUT_K8S_VERSION", "1.33"),
        ("INPUT_TARGETS", "master,etcd,node"),
    ]
}

fn json_of(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn regressions_fail_the_step_and_fill_the_summary_and_outputs() {
    let gh = FakeGithub::new();
    let sarif = gh.path("cisgate.sarif");
    let json = gh.path("results.json");
    let mut inputs = control_plane_inputs();
    inputs.push(("INPUT_SARIF", sarif.to_str().unwrap()));
    inputs.push(("INPUT_JSON", json.to_str().unwrap()));
    let run = gh.run(&inputs);

    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let results = json_of(&json);
    let regressions = results["gate"]["regressions"].as_u64().unwrap();
    assert!(regressions > 0);
    assert_eq!(gh.output("exit-code").as_deref(), Some("1"));
    assert_eq!(gh.output("regressions"), Some(regressions.to_string()));
    assert_eq!(gh.output("accepted").as_deref(), Some("0"));
    assert_eq!(gh.output("stale").as_deref(), Some("0"));
    assert_eq!(gh.output("sarif-file"), Some(sarif.display().to_string()));
    assert_eq!(gh.output("json-file"), Some(json.display().to_string()));

    let sarif_log = json_of(&sarif);
    assert_eq!(sarif_log["version"], "2.1.0");
    assert!(!sarif_log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .is_empty());

    let summary = gh.summary();
    assert!(
        summary.starts_with("## earlier step\n\n"),
        "appended, not replaced: {summary}"
    );
    assert!(summary.contains("cisgate: gate failed"), "{summary}");
    assert!(
        summary.contains(&format!("{regressions} regression(s)")),
        "{summary}"
    );
    assert!(text(&run.stdout).contains("::error title=cisgate::"));
}

#[test]
fn fail_false_reports_regressions_without_failing_the_step() {
    let gh = FakeGithub::new();
    let mut inputs = control_plane_inputs();
    inputs.push(("INPUT_FAIL", "false"));
    let run = gh.run(&inputs);

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert_eq!(gh.output("exit-code").as_deref(), Some("1"));
    assert_ne!(gh.output("regressions").as_deref(), Some("0"));
    assert_eq!(gh.output("sarif-file").as_deref(), Some(""));
}

#[test]
fn a_baseline_accepting_every_finding_passes_and_counts_accepted_and_stale() {
    let gh = FakeGithub::new();
    let json = gh.path("first.json");
    let mut inputs = control_plane_inputs();
    inputs.push(("INPUT_JSON", json.to_str().unwrap()));
    inputs.push(("INPUT_FAIL", "false"));
    gh.run(&inputs);
    let regressions: u64 = gh.output("regressions").unwrap().parse().unwrap();

    let baseline = gh.path("baseline.yaml");
    let create = Command::new(cisgate_bin())
        .args(["baseline", "create", "--from"])
        .arg(&json)
        .arg("--output")
        .arg(&baseline)
        .output()
        .unwrap();
    assert!(create.status.success(), "{}", describe(&create));
    let mut text = std::fs::read_to_string(&baseline).unwrap();
    text.push_str("  - check: 9.9.9\n    reason: a check that does not exist any more\n");
    std::fs::write(&baseline, text).unwrap();

    let gh = FakeGithub::new();
    let mut inputs = control_plane_inputs();
    inputs.push(("INPUT_BASELINE", baseline.to_str().unwrap()));
    let run = gh.run(&inputs);

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert_eq!(gh.output("exit-code").as_deref(), Some("0"));
    assert_eq!(gh.output("regressions").as_deref(), Some("0"));
    assert_eq!(gh.output("accepted"), Some(regressions.to_string()));
    assert_eq!(gh.output("stale").as_deref(), Some("1"));
    assert!(gh.summary().contains("passed"), "{}", gh.summary());
}

#[test]
fn a_run_that_cannot_be_done_fails_with_exit_code_2_and_no_counts() {
    let gh = FakeGithub::new();
    let mut inputs = control_plane_inputs();
    inputs.retain(|(name, _)| *name != "INPUT_K8S_VERSION");
    inputs.push(("INPUT_BENCHMARK", "cis-0.0-no-such-benchmark"));
    let run = gh.run(&inputs);

    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));
    assert_eq!(gh.output("exit-code").as_deref(), Some("2"));
    assert_eq!(gh.output("regressions"), None);
    assert!(text(&run.stdout).contains("could not be done as asked"));
    assert_eq!(gh.summary(), "## earlier step\n\n");
}

#[test]
fn every_input_reaches_the_scan_command() {
    let gh = FakeGithub::new();
    let junit = gh.path("junit.xml");
    let html = gh.path("report.html");
    let codequality = gh.path("codequality.json");
    let mut inputs = control_plane_inputs();
    inputs.extend([
        ("INPUT_FAIL_ON", "warn"),
        ("INPUT_ALLOW_ERRORS", "true"),
        ("INPUT_JUNIT", junit.to_str().unwrap()),
        ("INPUT_HTML", html.to_str().unwrap()),
        ("INPUT_CODEQUALITY", codequality.to_str().unwrap()),
        ("INPUT_SUMMARY", "false"),
        (
            "INPUT_ARGS",
            "--check 1.1.1,1.1.2  --node-name cp-from-args",
        ),
        ("INPUT_FAIL", "false"),
    ]);
    let run = gh.run(&inputs);

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let log = text(&run.stdout);
    assert!(log.contains("--fail-on warn --allow-errors"), "{log}");
    assert!(
        log.contains("--check 1.1.1,1.1.2 --node-name cp-from-args"),
        "{log}"
    );
    let junit_text = std::fs::read_to_string(&junit).unwrap();
    let document = roxmltree::Document::parse(&junit_text).unwrap();
    let cases = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 2, "only the two checks of --check ran");
    assert!(junit_text.contains("cp-from-args"));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<html"));
    assert!(json_of(&codequality).is_array());
    assert_eq!(gh.summary(), "## earlier step\n\n", "summary: false");
    // 1.1.1 fails on the kubeadm example (manifest mode 644)
    assert_eq!(gh.output("exit-code").as_deref(), Some("1"));
}

#[test]
fn the_counts_are_the_same_without_jq() {
    if !tool_available("python3", "the fallback reader of the results") {
        return;
    }
    // A snapshot directory, not a live `--root`: a live scan also reads this machine's
    // processes, and tests running beside this one start kube-shaped processes.
    let with_jq = FakeGithub::new();
    let inputs = [
        ("INPUT_SNAPSHOTS", "examples/snapshots/control-plane-1"),
        ("INPUT_BENCHMARK", "cis-1.12"),
        ("INPUT_FAIL", "false"),
    ];
    with_jq.run(&inputs);

    let without_jq = FakeGithub::new();
    let bin = bin_dir(
        without_jq.dir.path(),
        &["bash", "python3", "mktemp", "cat", "rm", "env"],
    );
    assert!(!bin.join("jq").exists());
    let run = without_jq.run_with_path(&inputs, Some(bin.to_str().unwrap()));

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    for key in ["exit-code", "regressions", "accepted", "stale"] {
        assert_eq!(with_jq.output(key), without_jq.output(key), "{key}");
    }
    assert!(with_jq.output("regressions").is_some());
}

#[test]
fn snapshot_directories_from_a_repository_are_scanned() {
    if !snapshot_scans_available() {
        return;
    }
    let gh = FakeGithub::new();
    let sarif = gh.path("cisgate.sarif");
    let run = gh.run(&[
        (
            "INPUT_SNAPSHOTS",
            "examples/snapshots/control-plane-1\n  examples/snapshots/worker-1  \n",
        ),
        ("INPUT_BENCHMARK", "cis-1.12"),
        ("INPUT_SARIF", sarif.to_str().unwrap()),
    ]);

    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let log = text(&run.stdout);
    assert!(
        log.contains(
            "--snapshot examples/snapshots/control-plane-1 --snapshot examples/snapshots/worker-1"
        ),
        "{log}"
    );
    let summary = gh.summary();
    assert!(summary.contains("on 2 node(s)"), "{summary}");
    let sarif_text = std::fs::read_to_string(&sarif).unwrap();
    for node in ["control-plane-1", "worker-1"] {
        assert!(
            sarif_text.contains(&format!("{node}/var/lib/kubelet/config.yaml")),
            "{node}"
        );
    }
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `INPUT_X` the script reads, from its text.
fn inputs_read_by_script() -> BTreeSet<String> {
    let script = std::fs::read_to_string(repo_root().join("scripts/github-action.sh")).unwrap();
    regex::Regex::new(r"\$\{(INPUT_[A-Z0-9_]+)")
        .unwrap()
        .captures_iter(&script)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn action_yml_passes_every_input_to_the_script_and_exposes_its_outputs() {
    let action = yaml(&repo_root().join("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().unwrap();
    let scan = steps.iter().find(|s| s["id"] == "scan").unwrap();
    assert!(scan["run"]
        .as_str()
        .unwrap()
        .contains("scripts/github-action.sh"));
    let env = scan["env"].as_object().unwrap();

    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut passed = BTreeSet::new();
    for (name, value) in env {
        if let Some(input) = value
            .as_str()
            .unwrap()
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.strip_suffix(" }}"))
        {
            assert_eq!(
                name,
                &format!("INPUT_{}", input.replace('-', "_").to_uppercase())
            );
            passed.insert(input.to_string());
        }
    }
    let handled_elsewhere: BTreeSet<String> = ["version", "working-directory"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let expected: BTreeSet<String> = declared.difference(&handled_elsewhere).cloned().collect();
    assert_eq!(passed, expected, "inputs not passed to the scan step");

    let read: BTreeSet<String> = inputs_read_by_script();
    let given: BTreeSet<String> = env
        .keys()
        .filter(|k| k.starts_with("INPUT_"))
        .cloned()
        .collect();
    assert_eq!(
        read, given,
        "the script reads exactly the INPUT_ variables the action sets"
    );

    let script = std::fs::read_to_string(repo_root().join("scripts/github-action.sh")).unwrap();
    for (name, output) in action["outputs"].as_object().unwrap() {
        assert_eq!(
            output["value"],
            format!("${{{{ steps.scan.outputs.{name} }}}}"),
            "{name}"
        );
        assert!(
            script.contains(&format!("set_output {name} ")),
            "the script never writes the output {name}"
        );
    }
}

#[test]
fn the_install_script_names_the_release_asset_for_the_runner_machine() {
    let url = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/install-cisgate.sh"))
            .arg("--asset-url")
            .args(args)
            .env("CISGATE_REPOSITORY", "acme/cisgate")
            .env_remove("CISGATE_DOWNLOAD_BASE")
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    assert_eq!(
        url(&["0.1.0", "x86_64"]).1,
        "https://github.com/acme/cisgate/releases/download/v0.1.0/cisgate-v0.1.0-x86_64-unknown-linux-gnu.tar.gz\n"
    );
    assert_eq!(
        url(&["v0.1.0", "arm64"]).1,
        "https://github.com/acme/cisgate/releases/download/v0.1.0/cisgate-v0.1.0-aarch64-unknown-linux-gnu.tar.gz\n"
    );
    let (code, _, err) = url(&["0.1.0", "riscv64"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("leave 'version' empty"), "{err}");
}

/// The `uses: cisgate/cisgate@…` step of an example workflow (the repository of Cargo.toml),
/// and the workflow's steps.
fn cisgate_step(workflow: &Value) -> (Value, Vec<Value>) {
    let jobs = workflow["jobs"].as_object().unwrap();
    let steps = jobs.values().next().unwrap()["steps"]
        .as_array()
        .unwrap()
        .clone();
    let step = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("cisgate/cisgate@"))
        })
        .expect("a step using the cisgate action")
        .clone();
    (step, steps)
}

/// The action's environment for a step's `with:`: action.yml's defaults, then the step's
/// values (expressions, which only GitHub evaluates, are left out).
fn inputs_for(step: &Value, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let action = yaml(&repo_root().join("action.yml"));
    let mut values: std::collections::BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].as_str().unwrap_or("").to_string()))
        .collect();
    for (key, value) in step["with"].as_object().unwrap() {
        assert!(values.contains_key(key), "the action has no input {key}");
        let value = value
            .as_str()
            .map(str::to_string)
            .unwrap_or(value.to_string());
        if !value.contains("${{") {
            values.insert(key.clone(), value);
        }
    }
    for (key, value) in overrides {
        values.insert(key.to_string(), value.to_string());
    }
    values
        .into_iter()
        .filter(|(k, _)| k != "version" && k != "working-directory")
        .map(|(k, v)| (format!("INPUT_{}", k.replace('-', "_").to_uppercase()), v))
        .collect()
}

/// Every `steps.cisgate.outputs.X` a workflow reads is an output of action.yml.
fn assert_outputs_exist(steps: &[Value]) {
    let action = yaml(&repo_root().join("action.yml"));
    let text = serde_json::to_string(steps).unwrap();
    let used = regex::Regex::new(r"steps\.cisgate\.outputs\.([a-z-]+)").unwrap();
    for capture in used.captures_iter(&text) {
        assert!(
            action["outputs"].get(&capture[1]).is_some(),
            "no output {}",
            &capture[1]
        );
    }
}

fn example_repository(layout: &str) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join(layout);
    std::fs::create_dir_all(&dir).unwrap();
    for node in ["control-plane-1", "worker-1"] {
        let status = Command::new("cp")
            .arg("-R")
            .arg(repo_root().join("examples/snapshots").join(node))
            .arg(dir.join(node))
            .status()
            .unwrap();
        assert!(status.success());
    }
    repo
}

fn run_in(gh: &FakeGithub, repo: &Path, inputs: &[(String, String)]) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(repo_root().join("scripts/github-action.sh"))
        .current_dir(repo)
        .env("CISGATE", cisgate_bin())
        .env("GITHUB_STEP_SUMMARY", &gh.summary)
        .env("GITHUB_OUTPUT", &gh.output)
        .env("GITHUB_WORKSPACE", repo)
        .env("RUNNER_TEMP", gh.dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("INPUT_") || name.starts_with("CISGATE_") {
            command.env_remove(name);
        }
    }
    command.envs(inputs.iter().map(|(k, v)| (k, v)));
    command.output().unwrap()
}

#[test]
fn the_pull_request_gate_example_fails_on_regressions_and_passes_with_its_baseline() {
    let workflow = yaml(&repo_root().join("examples/github/pull-request-gate.yml"));
    let (step, steps) = cisgate_step(&workflow);
    assert_outputs_exist(&steps);
    assert!(steps.iter().any(|s| s["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))));
    let repo = example_repository("nodes");
    let baseline = step["with"]["baseline"].as_str().unwrap();

    // the baseline named in the example does not exist yet: the run cannot be done as asked
    let gh = FakeGithub::new();
    let run = run_in(&gh, repo.path(), &inputs_for(&step, &[]));
    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));

    let gh = FakeGithub::new();
    let run = run_in(&gh, repo.path(), &inputs_for(&step, &[("baseline", "")]));
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let sarif = PathBuf::from(gh.output("sarif-file").unwrap());
    assert!(sarif.starts_with(repo.path()) && sarif.is_file());
    assert!(repo.path().join("cisgate-junit.xml").is_file());

    let results = gh.path("results.json");
    let gh2 = FakeGithub::new();
    let first = run_in(
        &gh2,
        repo.path(),
        &inputs_for(
            &step,
            &[("baseline", ""), ("json", results.to_str().unwrap())],
        ),
    );
    assert_eq!(first.status.code(), Some(1));
    let create = Command::new(cisgate_bin())
        .current_dir(repo.path())
        .args(["baseline", "create", "--output", baseline, "--from"])
        .arg(&results)
        .output()
        .unwrap();
    assert!(create.status.success(), "{}", describe(&create));
    let gh = FakeGithub::new();
    let run = run_in(&gh, repo.path(), &inputs_for(&step, &[]));
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert_ne!(gh.output("accepted").as_deref(), Some("0"));
}

#[test]
fn the_nightly_example_reports_without_failing_and_writes_the_html_it_uploads() {
    let workflow = yaml(&repo_root().join("examples/github/nightly-report.yml"));
    let (step, steps) = cisgate_step(&workflow);
    assert_outputs_exist(&steps);
    let uploaded: Vec<&str> = steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .map(|s| s["with"]["path"].as_str().unwrap())
        .collect();
    let html = step["with"]["html"].as_str().unwrap();
    assert!(uploaded.contains(&html), "the HTML report is uploaded");

    let repo = example_repository(step["with"]["snapshots"].as_str().unwrap());
    let gh = FakeGithub::new();
    let run = run_in(&gh, repo.path(), &inputs_for(&step, &[]));
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert_eq!(gh.output("exit-code").as_deref(), Some("1"));
    for path in uploaded {
        assert!(repo.path().join(path).is_file(), "{path}");
    }
    let page = std::fs::read_to_string(repo.path().join(html)).unwrap();
    assert!(page.contains("control-plane-1") && page.contains("worker-1"));

    // the next night, with the previous results as the workflow passes them
    std::fs::create_dir_all(repo.path().join("previous")).unwrap();
    std::fs::copy(
        repo.path().join("cisgate-results.json"),
        repo.path().join("previous/cisgate-results.json"),
    )
    .unwrap();
    let gh = FakeGithub::new();
    let run = run_in(
        &gh,
        repo.path(),
        &inputs_for(
            &step,
            &[("args", "--previous previous/cisgate-results.json")],
        ),
    );
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let results = json_of(&repo.path().join("cisgate-results.json"));
    assert_eq!(results["previous"]["new"], 0);
}
