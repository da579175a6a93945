//! One scan of a fleet whose nodes need different benchmarks (kubeadm nodes on Kubernetes
//! 1.28, 1.30 and 1.33): each node gets its own benchmark, and the results, the baseline and
//! the reports keep them apart (SARIF: one run per benchmark, each its own category).

#[path = "support/github_sarif.rs"]
mod github_sarif;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::benchmark_fixture;

/// Fixture → the node's name in the fleet and the benchmark it must get.
const FLEET: [(&str, &str, &str); 3] = [
    ("cis-1.10/nodes/kubeadm-control-plane", "cp-128", "cis-1.10"),
    ("cis-1.11/nodes/kubeadm-control-plane", "cp-130", "cis-1.11"),
    ("cis-1.12/nodes/kubeadm-control-plane", "cp-133", "cis-1.12"),
];

/// The fleet in one folder, each node renamed in its metadata.
fn fleet() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let fleet = dir.path().join("fleet");
    for (fixture, name, _) in FLEET {
        let node = fleet.join(name);
        support::copy_tree(&benchmark_fixture(fixture), &node);
        let metadata = node.join("cisgate-node.yaml");
        let text = std::fs::read_to_string(&metadata).unwrap();
        let renamed: String = text
            .lines()
            .map(|line| match line.trim_start().strip_prefix("name:") {
                Some(_) if line.starts_with("  name:") => format!("  name: {name}\n"),
                _ => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&metadata, renamed).unwrap();
    }
    (dir, fleet)
}

struct Scanned {
    code: i32,
    results: Value,
    sarif: Value,
    html: String,
    console: String,
}

fn scan(fleet: &Path, extra: &[&str]) -> Scanned {
    let out = tempfile::TempDir::new().unwrap();
    let json = out.path().join("results.json");
    let sarif = out.path().join("results.sarif");
    let html = out.path().join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_cisgate"))
        .args(["scan", "--no-color", "--snapshot"])
        .arg(fleet)
        .arg("--json")
        .arg(&json)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--html")
        .arg(&html)
        .args(extra)
        .output()
        .unwrap();
    let read = |path: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            )
        }))
        .unwrap()
    };
    Scanned {
        code: output.status.code().unwrap_or(-1),
        results: read(&json),
        sarif: read(&sarif),
        html: std::fs::read_to_string(&html).unwrap(),
        console: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

#[test]
fn each_node_runs_its_own_benchmark_and_every_report_keeps_them_apart() {
    let (_dir, fleet) = fleet();
    let Scanned {
        code,
        results,
        sarif,
        html,
        console,
    } = scan(&fleet, &[]);
    assert_eq!(code, 1, "kubeadm defaults have findings");
    let names: Vec<&str> = results["benchmarks"]
        .as_array()
        .expect("a mixed fleet lists its benchmarks")
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cis-1.10", "cis-1.11", "cis-1.12"]);
    for node in results["nodes"].as_array().unwrap() {
        let name = node["node"]["name"].as_str().unwrap();
        let (_, _, benchmark) = FLEET.iter().find(|(_, n, _)| *n == name).unwrap();
        assert_eq!(node["node"]["benchmark"], *benchmark, "{name}");
        for section in node["sections"].as_array().unwrap() {
            assert_eq!(
                section["version"], *benchmark,
                "{name}: sections of its own benchmark"
            );
        }
        assert!(
            console.contains(&format!("benchmark {benchmark})")),
            "{console}"
        );
    }
    let runs = sarif["runs"].as_array().unwrap();
    let categories: Vec<&str> = runs
        .iter()
        .map(|run| run["automationDetails"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 3, "{categories:?}");
    for (run, benchmark) in runs.iter().zip(["cis-1.10", "cis-1.11", "cis-1.12"]) {
        assert!(
            run["automationDetails"]["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cisgate/{benchmark}/")),
            "{categories:?}"
        );
        for result in run["results"].as_array().unwrap() {
            assert_eq!(result["properties"]["node"].as_str().unwrap()[..2], *"cp");
        }
    }
    let violations = github_sarif::violations(&sarif);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    for benchmark in ["cis-1.10", "cis-1.11", "cis-1.12"] {
        assert_eq!(
            html.matches(&format!("Benchmark {benchmark}<")).count(),
            2,
            "a fleet table and a check matrix for {benchmark}"
        );
    }
    support::assert_valid_html(html.as_bytes());
}

#[test]
fn a_baseline_entry_that_names_a_benchmark_accepts_only_that_benchmarks_nodes() {
    let (dir, fleet) = fleet();
    let baseline = dir.path().join("baseline.yaml");
    std::fs::write(
        &baseline,
        "version: 1\nexceptions:\n  - check: \"1.2.15\"\n    benchmark: cis-1.10\n    reason: profiling stays on until the 1.29 upgrade\n",
    )
    .unwrap();
    let results = scan(&fleet, &["--baseline", baseline.to_str().unwrap()]).results;
    for node in results["nodes"].as_array().unwrap() {
        let check = node["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["groups"].as_array().unwrap())
            .flat_map(|g| g["checks"].as_array().unwrap())
            .find(|c| c["id"] == "1.2.15")
            .unwrap();
        assert_eq!(check["state"], "FAIL");
        let expected = if node["node"]["benchmark"] == "cis-1.10" {
            "accepted"
        } else {
            "regression"
        };
        assert_eq!(
            check["baseline"]["classification"], expected,
            "{}",
            node["node"]["name"]
        );
    }
}
