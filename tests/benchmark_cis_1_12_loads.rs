//! Our cis-1.12 benchmark loads, covers every recommendation kube-bench's cis-1.12 has (same
//! ids, same `scored`), and is automated with typed probes only: no check may fall back to a
//! shell, and every `$variable` it uses is defined for its node type in `cfg/config.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cisgate::definitions::model::{Audit, Check, Controls};

const BENCHMARK: &str = "cis-1.12";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The controls files (every `*.yaml` but `config.yaml`) of a benchmark directory, sorted.
fn controls_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter(|path| path.file_name().is_some_and(|name| name != "config.yaml"))
        .collect();
    files.sort();
    files
}

fn load_controls(path: &Path) -> Controls {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut documents = serde_saphyr::from_multiple::<Controls>(&text)
        .unwrap_or_else(|e| panic!("{} does not parse as a controls file: {e}", path.display()));
    assert_eq!(
        documents.len(),
        1,
        "{} should hold exactly one YAML document",
        path.display()
    );
    documents.remove(0)
}

fn load_benchmark(dir: &Path) -> Vec<(PathBuf, Controls)> {
    controls_files(dir)
        .into_iter()
        .map(|path| {
            let controls = load_controls(&path);
            (path, controls)
        })
        .collect()
}

fn checks(benchmark: &[(PathBuf, Controls)]) -> impl Iterator<Item = (&Controls, &Check)> {
    benchmark.iter().flat_map(|(_, controls)| {
        controls
            .groups
            .iter()
            .flat_map(move |group| group.checks.iter().map(move |check| (controls, check)))
    })
}

/// kube-bench's benchmark tree, kept next to the repository in `shared/` (`<repo>/../shared`,
/// or two levels up for a git worktree under `<project>/wt/`), or where `$CISGATE_SHARED` says.
fn kube_bench_reference() -> Option<PathBuf> {
    let root = repo_root();
    let candidates = std::env::var_os("CISGATE_SHARED")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            root.join("..").join("shared"),
            root.join("../..").join("shared"),
        ]);
    candidates
        .map(|shared| shared.join("kube-bench-cfg").join(BENCHMARK))
        .find(|dir| dir.is_dir())
}

fn is_automated(check: &Check) -> bool {
    check.check_type != "manual" && check.check_type != "skip"
}

fn ours() -> Vec<(PathBuf, Controls)> {
    load_benchmark(&repo_root().join("cfg").join(BENCHMARK))
}

#[test]
fn every_file_under_cfg_parses() {
    let cfg = repo_root().join("cfg");
    let mut seen = 0;
    for entry in std::fs::read_dir(&cfg).expect("cfg/ exists") {
        let dir = entry.expect("directory entry").path();
        if dir.is_dir() {
            seen += load_benchmark(&dir).len();
        }
    }
    assert!(
        seen >= 5,
        "expected the five cis-1.12 controls files, found {seen}"
    );

    let config_text = std::fs::read_to_string(cfg.join("config.yaml")).expect("cfg/config.yaml");
    serde_saphyr::from_str::<serde_json::Value>(&config_text)
        .unwrap_or_else(|e| panic!("cfg/config.yaml does not parse: {e}"));
}

#[test]
fn each_controls_file_is_for_the_node_type_it_is_named_after() {
    for (path, controls) in ours() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(controls.node_type, stem, "{}: type", path.display());
        assert_eq!(controls.version, BENCHMARK, "{}: version", path.display());
    }
}

#[test]
fn check_ids_are_unique() {
    let benchmark = ours();
    let mut seen = BTreeSet::new();
    for (_, check) in checks(&benchmark) {
        assert!(
            seen.insert(check.id.clone()),
            "check id {} appears twice",
            check.id
        );
    }
}

#[test]
fn every_kube_bench_recommendation_is_present_with_the_same_scored_flag() {
    let Some(reference) = kube_bench_reference() else {
        println!(
            "skipped: kube-bench's {BENCHMARK} reference (shared/kube-bench-cfg next to the \
             repository, or $CISGATE_SHARED) is not on this machine"
        );
        return;
    };
    let theirs = load_benchmark(&reference);
    let benchmark = ours();
    let our_checks: BTreeMap<&str, (&Controls, &Check)> = checks(&benchmark)
        .map(|(controls, check)| (check.id.as_str(), (controls, check)))
        .collect();

    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (their_controls, their_check) in checks(&theirs) {
        match our_checks.get(their_check.id.as_str()) {
            None => missing.push(their_check.id.clone()),
            Some((our_controls, our_check)) => {
                if our_check.scored != their_check.scored
                    || our_controls.node_type != their_controls.node_type
                {
                    mismatched.push(format!(
                        "{}: ours scored={} in {}, kube-bench scored={} in {}",
                        their_check.id,
                        our_check.scored,
                        our_controls.node_type,
                        their_check.scored,
                        their_controls.node_type
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "missing recommendations: {missing:?}");
    assert!(
        mismatched.is_empty(),
        "different from kube-bench: {mismatched:#?}"
    );

    let their_ids: BTreeSet<&str> = checks(&theirs).map(|(_, c)| c.id.as_str()).collect();
    let extra: Vec<&str> = our_checks
        .keys()
        .copied()
        .filter(|id| !their_ids.contains(id))
        .collect();
    assert!(
        extra.is_empty(),
        "checks that are not in CIS 1.12: {extra:?}"
    );
}

#[test]
fn automated_checks_have_tests_and_use_typed_probes_only() {
    let benchmark = ours();
    let mut automated = 0;
    for (controls, check) in checks(&benchmark) {
        let where_ = format!("{} {}", controls.node_type, check.id);
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
            continue;
        }
        automated += 1;
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
    }
    assert!(
        automated >= 90,
        "expected most checks automated, got {automated}"
    );
}

#[test]
fn manual_checks_tell_a_human_what_to_do() {
    let benchmark = ours();
    for (_, check) in checks(&benchmark) {
        assert!(
            check.remediation.trim().len() > 40,
            "{}: remediation too short to act on",
            check.id
        );
        assert!(
            check.text.ends_with("(Automated)") || check.text.ends_with("(Manual)"),
            "{}: title should end with the benchmark's (Automated) or (Manual)",
            check.id
        );
    }
}

/// `$<component><kind>` names a check uses must be defined for its node type, or they would
/// reach the report unsubstituted.
#[test]
fn every_variable_is_defined_for_its_node_type() {
    let config_text =
        std::fs::read_to_string(repo_root().join("cfg").join("config.yaml")).expect("config");
    let config: serde_json::Value = serde_saphyr::from_str(&config_text).expect("config parses");
    let variable =
        regex::Regex::new(r"\$([a-z]+?)(bin|conf|svc|kubeconfig|cafile|datadir)\b").expect("regex");

    for path in controls_files(&repo_root().join("cfg").join(BENCHMARK)) {
        let node_type = path.file_stem().unwrap().to_string_lossy().to_string();
        let section = &config[&node_type];
        let components: Vec<&str> = section["components"]
            .as_array()
            .unwrap_or_else(|| panic!("config.yaml has no components for {node_type}"))
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let text = std::fs::read_to_string(&path).expect("controls file");
        for capture in variable.captures_iter(&text) {
            let (component, kind) = (&capture[1], &capture[2]);
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
    }
}

#[test]
fn version_mapping_sends_kubernetes_1_32_and_newer_to_cis_1_12() {
    let config_text =
        std::fs::read_to_string(repo_root().join("cfg").join("config.yaml")).expect("config");
    let config: serde_json::Value = serde_saphyr::from_str(&config_text).expect("config parses");
    for minor in 32..=40 {
        let key = format!("1.{minor}");
        assert_eq!(
            config["version_mapping"][&key].as_str(),
            Some(BENCHMARK),
            "version_mapping {key}"
        );
    }
    let targets: Vec<&str> = config["target_mapping"][BENCHMARK]
        .as_array()
        .expect("target_mapping")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(
        targets,
        ["master", "node", "controlplane", "etcd", "policies"]
    );
}
