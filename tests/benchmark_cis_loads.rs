//! Our generic CIS benchmarks (cis-1.10 for Kubernetes 1.28, cis-1.11 for 1.29–1.31, cis-1.12
//! for 1.32 and later) load, cover every recommendation kube-bench's tree of the same name
//! has (same ids, same `scored`; same type unless the differences doc says why), and are
//! automated with typed probes only: no check may fall back to a shell, and every
//! `$variable` a check uses is defined for its node type (`cfg/config.yaml` merged with the
//! benchmark's own `config.yaml`).

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cisgate::definitions::model::{Audit, Check, Controls};
use live_tree::documented_differences;
use serde_json::Value;
use support::definitions::{
    checks, controls_files, is_automated, load_benchmark, merged_config, ours, yaml_file,
};
use support::repo_root;

/// One benchmark under test.
struct Benchmark {
    name: &'static str,
    /// The Kubernetes minor versions `version_mapping` sends to it.
    versions: &'static [&'static str],
}

const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "cis-1.10",
        versions: &["1.28"],
    },
    Benchmark {
        name: "cis-1.11",
        versions: &["1.29", "1.30", "1.31"],
    },
    Benchmark {
        name: "cis-1.12",
        versions: &[
            "1.32", "1.33", "1.34", "1.35", "1.36", "1.37", "1.38", "1.39", "1.40",
        ],
    },
];

fn top_config() -> Value {
    yaml_file(&repo_root().join("cfg").join("config.yaml"))
}

#[test]
fn every_file_under_cfg_parses() {
    let cfg = repo_root().join("cfg");
    for benchmark in BENCHMARKS {
        let files = load_benchmark(&cfg.join(benchmark.name)).len();
        assert_eq!(
            files, 5,
            "{}: expected five controls files, found {files}",
            benchmark.name
        );
        merged_config(benchmark.name);
    }
    top_config();
}

#[test]
fn each_controls_file_is_for_the_node_type_it_is_named_after() {
    for benchmark in BENCHMARKS {
        for (path, controls) in ours(benchmark.name) {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            assert_eq!(controls.node_type, stem, "{}: type", path.display());
            assert_eq!(
                controls.version,
                benchmark.name,
                "{}: version",
                path.display()
            );
        }
    }
}

#[test]
fn check_ids_are_unique() {
    for benchmark in BENCHMARKS {
        let controls = ours(benchmark.name);
        let mut seen = BTreeSet::new();
        for (_, check) in checks(&controls) {
            assert!(
                seen.insert(check.id.clone()),
                "{}: check id {} appears twice",
                benchmark.name,
                check.id
            );
        }
    }
}

#[test]
fn every_kube_bench_recommendation_is_present_with_the_same_scored_flag_and_type() {
    let Some(reference) = support::kube_bench_cfg() else {
        return;
    };
    for benchmark in BENCHMARKS {
        compare_with_kube_bench(benchmark, &reference.join(benchmark.name));
    }
}

fn compare_with_kube_bench(benchmark: &Benchmark, reference: &Path) {
    let name = benchmark.name;
    let theirs = load_benchmark(reference);
    let controls = ours(name);
    let our_checks: BTreeMap<&str, (&Controls, &Check)> = checks(&controls)
        .map(|(controls, check)| (check.id.as_str(), (controls, check)))
        .collect();
    let documented = documented_differences(name);
    assert!(
        !documented.is_empty(),
        "no `## {name}` section in docs/differences-from-kube-bench.md"
    );

    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (their_controls, their_check) in checks(&theirs) {
        let id = their_check.id.as_str();
        let Some((our_controls, our_check)) = our_checks.get(id) else {
            missing.push(id.to_string());
            continue;
        };
        if our_check.scored != their_check.scored
            || our_controls.node_type != their_controls.node_type
        {
            mismatched.push(format!(
                "{id}: ours scored={} in {}, kube-bench scored={} in {}",
                our_check.scored,
                our_controls.node_type,
                their_check.scored,
                their_controls.node_type
            ));
        }
        let same_type = is_automated(our_check) == is_automated(their_check);
        if !same_type && !documented.contains(id) {
            mismatched.push(format!(
                "{id}: ours type={:?}, kube-bench type={:?}, and `## {name}` does not say why",
                our_check.check_type, their_check.check_type
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "{name}: missing recommendations: {missing:?}"
    );
    assert!(
        mismatched.is_empty(),
        "{name}: different from kube-bench: {mismatched:#?}"
    );

    let their_ids: BTreeSet<&str> = checks(&theirs).map(|(_, c)| c.id.as_str()).collect();
    let extra: Vec<&str> = our_checks
        .keys()
        .copied()
        .filter(|id| !their_ids.contains(id))
        .collect();
    assert!(
        extra.is_empty(),
        "{name}: checks that kube-bench's {name} does not have: {extra:?}"
    );
}

#[test]
fn documented_differences_name_checks_of_the_benchmark() {
    for benchmark in BENCHMARKS {
        let controls = ours(benchmark.name);
        let ids: BTreeSet<&str> = checks(&controls).map(|(_, c)| c.id.as_str()).collect();
        for id in documented_differences(benchmark.name) {
            assert!(
                ids.contains(id.as_str()),
                "`## {}` names {id}, which the benchmark does not have",
                benchmark.name
            );
        }
    }
}

#[test]
fn automated_checks_have_tests_and_use_typed_probes_only() {
    for benchmark in BENCHMARKS {
        let controls = ours(benchmark.name);
        let mut automated = 0;
        for (controls, check) in checks(&controls) {
            let where_ = format!("{} {} {}", benchmark.name, controls.node_type, check.id);
            if assert_typed_and_tested(&where_, check) {
                automated += 1;
            }
        }
        assert!(
            automated >= 90,
            "{}: expected most checks automated, got {automated}",
            benchmark.name
        );
    }
}

/// Panics where a check uses a shell or an automated check cannot decide; whether it is
/// automated.
fn assert_typed_and_tested(where_: &str, check: &Check) -> bool {
    for (field, audit) in [
        ("audit", &check.audit),
        ("audit_config", &check.audit_config),
        ("audit_env", &check.audit_env),
    ] {
        assert!(
            !matches!(audit, Audit::Shell(_)),
            "{where_}: {field} is a shell command; use a typed probe"
        );
    }
    if !is_automated(check) {
        assert!(
            check.audit.is_empty() && check.audit_config.is_empty(),
            "{where_}: a manual check should not carry an audit"
        );
        return false;
    }
    let tests = check
        .tests
        .as_ref()
        .unwrap_or_else(|| panic!("{where_}: automated check without tests"));
    assert!(!tests.test_items.is_empty(), "{where_}: no test items");
    assert!(
        !(check.audit.is_empty() && check.audit_config.is_empty()),
        "{where_}: automated check without an audit"
    );
    // kube-bench generates a shell `audit_env` for `env` items when none is given.
    if tests.test_items.iter().any(|item| !item.env.is_empty()) {
        assert!(
            !check.audit_env.is_empty() || check.disableenvtesting,
            "{where_}: `env` test items need a typed audit_env, or a shell one is generated"
        );
    }
    for item in &tests.test_items {
        assert!(
            !(item.flag.is_empty() && item.path.is_empty() && item.env.is_empty()),
            "{where_}: a test item names no flag, path or env"
        );
    }
    true
}

#[test]
fn manual_checks_tell_a_human_what_to_do() {
    for benchmark in BENCHMARKS {
        let controls = ours(benchmark.name);
        for (_, check) in checks(&controls) {
            assert!(
                check.remediation.trim().len() > 40,
                "{} {}: remediation too short to act on",
                benchmark.name,
                check.id
            );
            assert!(
                check.text.ends_with("(Automated)") || check.text.ends_with("(Manual)"),
                "{} {}: title should end with the benchmark's (Automated) or (Manual)",
                benchmark.name,
                check.id
            );
        }
    }
}

/// `$<component><kind>` names a check uses must be defined for its node type, or they would
/// reach the report unsubstituted.
#[test]
fn every_variable_is_defined_for_its_node_type() {
    let variable =
        regex::Regex::new(r"\$([a-z]+?)(bin|conf|svc|kubeconfig|cafile|datadir)\b").expect("regex");
    for benchmark in BENCHMARKS {
        let config = merged_config(benchmark.name);
        for path in controls_files(&repo_root().join("cfg").join(benchmark.name)) {
            let node_type = path.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).expect("controls file");
            for capture in variable.captures_iter(&text) {
                let (component, kind) = (&capture[1], &capture[2]);
                assert_variable_defined(&config[&node_type], component, kind, &path, &node_type);
            }
        }
    }
}

fn assert_variable_defined(
    section: &Value,
    component: &str,
    kind: &str,
    path: &Path,
    node_type: &str,
) {
    let components: Vec<&str> = section["components"]
        .as_array()
        .unwrap_or_else(|| panic!("config.yaml has no components for {node_type}"))
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        components.contains(&component),
        "{}: ${component}{kind} but {component} is not a {node_type} component",
        path.display()
    );
    let keys: &[&str] = match kind {
        "bin" => &["bins"],
        "conf" => &["confs", "defaultconf"],
        "svc" => &["svc", "defaultsvc"],
        "kubeconfig" => &["kubeconfig", "defaultkubeconfig"],
        "cafile" => &["cafile", "defaultcafile"],
        "datadir" => &["datadirs", "defaultdatadir"],
        _ => unreachable!(),
    };
    assert!(
        keys.iter().any(|key| !section[component][*key].is_null()),
        "{}: ${component}{kind} has no {keys:?} under {node_type}.{component}",
        path.display()
    );
}

#[test]
fn version_mapping_sends_each_kubernetes_version_to_its_benchmark() {
    let config = top_config();
    for benchmark in BENCHMARKS {
        for version in benchmark.versions {
            assert_eq!(
                config["version_mapping"][*version].as_str(),
                Some(benchmark.name),
                "version_mapping {version}"
            );
        }
        let targets: Vec<&str> = config["target_mapping"][benchmark.name]
            .as_array()
            .unwrap_or_else(|| panic!("no target_mapping for {}", benchmark.name))
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        assert_eq!(
            targets,
            ["master", "node", "controlplane", "etcd", "policies"],
            "target_mapping {}",
            benchmark.name
        );
    }
}
