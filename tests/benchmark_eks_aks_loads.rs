//! Our eks-1.8.0 and aks-1.8 benchmarks load, cover every recommendation of kube-bench's
//! trees of the same name (same ids, `scored`, `type` and target), and are automated with
//! typed probes only: no check falls back to a shell, and every `$variable` a check uses is
//! defined for its node type once the benchmark's own config.yaml is merged over
//! cfg/config.yaml.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use cisgate::definitions::model::{Audit, Check, Controls};
use serde_json::Value;
use support::definitions::{
    checks, controls_files, is_automated, kube_bench_dir as kube_bench_reference, load_benchmark,
    merged_config, ours,
};
use support::repo_root;

const BENCHMARKS: [&str; 2] = ["eks-1.8.0", "aks-1.8"];
const TARGETS: [&str; 5] = [
    "master",
    "controlplane",
    "node",
    "policies",
    "managedservices",
];

#[test]
fn each_controls_file_is_for_the_node_type_it_is_named_after() {
    for benchmark in BENCHMARKS {
        let files = ours(benchmark);
        let stems: BTreeSet<String> = files
            .iter()
            .map(|(path, _)| path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            stems,
            TARGETS.iter().map(|t| t.to_string()).collect(),
            "{benchmark}: one controls file per target"
        );
        for (path, controls) in files {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            assert_eq!(
                controls.node_type,
                stem.as_str(),
                "{}: type",
                path.display()
            );
            assert_eq!(controls.version, benchmark, "{}: version", path.display());
        }
    }
}

#[test]
fn check_ids_are_unique() {
    for benchmark in BENCHMARKS {
        let files = ours(benchmark);
        let mut seen = BTreeSet::new();
        for (_, check) in checks(&files) {
            assert!(
                seen.insert(check.id.to_string()),
                "{benchmark}: check id {} appears twice",
                check.id
            );
        }
    }
}

#[test]
fn every_kube_bench_recommendation_is_present_with_the_same_id_scored_type_and_target() {
    for benchmark in BENCHMARKS {
        let Some(reference) = kube_bench_reference(benchmark) else {
            return;
        };
        let theirs = load_benchmark(&reference);
        let files = ours(benchmark);
        let our_checks: BTreeMap<String, (&Controls, &Check)> = checks(&files)
            .map(|(controls, check)| (check.id.to_string(), (controls, check)))
            .collect();
        let mut wrong = Vec::new();
        for (their_controls, their_check) in checks(&theirs) {
            let Some((our_controls, our_check)) = our_checks.get(their_check.id.as_str()) else {
                wrong.push(format!("{}: missing", their_check.id));
                continue;
            };
            let ours = (
                our_check.scored,
                our_check.check_type.trim(),
                our_controls.node_type.as_str(),
            );
            let kube_bench = (
                their_check.scored,
                their_check.check_type.trim(),
                their_controls.node_type.as_str(),
            );
            if ours != kube_bench {
                wrong.push(format!(
                    "{}: ours (scored, type, target) = {ours:?}, kube-bench {kube_bench:?}",
                    their_check.id
                ));
            }
        }
        let their_ids: BTreeSet<String> = checks(&theirs).map(|(_, c)| c.id.to_string()).collect();
        for id in our_checks.keys().filter(|id| !their_ids.contains(*id)) {
            wrong.push(format!("{id}: not in kube-bench's {benchmark}"));
        }
        assert!(wrong.is_empty(), "{benchmark}:\n{}", wrong.join("\n"));
    }
}

#[test]
fn automated_checks_have_tests_and_use_typed_probes_only() {
    for benchmark in BENCHMARKS {
        let files = ours(benchmark);
        let mut automated = 0;
        for (controls, check) in checks(&files) {
            let at = format!("{benchmark} {} {}", controls.node_type, check.id);
            for (field, audit) in [
                ("audit", &check.audit),
                ("audit_config", &check.audit_config),
                ("audit_env", &check.audit_env),
            ] {
                assert!(
                    !matches!(audit, Audit::Shell(_)),
                    "{at}: {field} is a shell command; use a typed probe"
                );
            }
            if !is_automated(check) {
                assert!(
                    check.audit.is_empty() && check.audit_config.is_empty(),
                    "{at}: a manual or skipped check should not carry an audit"
                );
                continue;
            }
            automated += 1;
            let tests = check
                .tests
                .as_ref()
                .unwrap_or_else(|| panic!("{at}: automated check without tests"));
            assert!(!tests.test_items.is_empty(), "{at}: no test items");
            assert!(
                !(check.audit.is_empty() && check.audit_config.is_empty()),
                "{at}: automated check without an audit"
            );
            for item in &tests.test_items {
                assert!(
                    item.env.is_empty(),
                    "{at}: `env` items would get a generated shell audit_env"
                );
                assert!(
                    !(item.flag.is_empty() && item.path.is_empty()),
                    "{at}: a test item names no flag or path"
                );
            }
        }
        let expected = match benchmark {
            "eks-1.8.0" => 13 + 14, // node 3.x, policies 4.1.1–4.1.6, 4.2.x, 4.3.2, 4.4.1, 4.5.2
            _ => 13 + 1,            // node 3.x, policies 4.6.3
        };
        assert_eq!(automated, expected, "{benchmark}: automated checks");
    }
}

#[test]
fn titles_say_automated_or_manual_and_remediations_say_what_to_do() {
    for benchmark in BENCHMARKS {
        for (_, check) in checks(&ours(benchmark)) {
            assert!(
                check.remediation.trim().len() > 40,
                "{benchmark} {}: remediation too short to act on",
                check.id
            );
            assert!(
                check.text.ends_with("(Automated)") || check.text.ends_with("(Manual)"),
                "{benchmark} {}: title should end with (Automated) or (Manual)",
                check.id
            );
        }
    }
}

/// `$<component><kind>` names must be defined for the check's node type in the merged
/// configuration, or they would reach the report unsubstituted.
#[test]
fn every_variable_is_defined_for_its_node_type() {
    let variable =
        regex::Regex::new(r"\$([a-z]+?)(bin|conf|svc|kubeconfig|cafile|datadir)\b").unwrap();
    for benchmark in BENCHMARKS {
        let config = merged_config(benchmark);
        for path in controls_files(&repo_root().join("cfg").join(benchmark)) {
            let node_type = path.file_stem().unwrap().to_string_lossy().to_string();
            let section = &config[&node_type];
            let components: Vec<&str> = section["components"]
                .as_array()
                .unwrap_or_else(|| panic!("{benchmark}: no components for {node_type}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let text = std::fs::read_to_string(&path).unwrap();
            for capture in variable.captures_iter(&text) {
                let (component, kind) = (&capture[1], &capture[2]);
                assert!(
                    components.contains(&component),
                    "{}: ${component}{kind}, but {component} is not a {node_type} component",
                    path.display()
                );
                let keys: &[&str] = match kind {
                    "bin" => &["bins"],
                    "conf" => &["confs", "defaultconf"],
                    "svc" => &["svc", "defaultsvc"],
                    "kubeconfig" => &["kubeconfig", "defaultkubeconfig"],
                    "cafile" => &["cafile", "defaultcafile"],
                    _ => &["datadirs", "defaultdatadir"],
                };
                assert!(
                    keys.iter().all(|key| !section[component][*key].is_null()),
                    "{}: ${component}{kind} needs {keys:?} under {node_type}.{component}",
                    path.display()
                );
            }
        }
    }
}

/// The platform's own paths come first: what the node really has, not kubeadm's layout.
#[test]
fn node_paths_are_the_platforms_own() {
    let eks = merged_config("eks-1.8.0");
    let kubelet = &eks["node"]["kubelet"];
    assert_eq!(kubelet["confs"][0], "/etc/kubernetes/kubelet/config.json");
    assert_eq!(
        kubelet["confs"][1],
        "/etc/kubernetes/kubelet/kubelet-config.json"
    );
    assert_eq!(kubelet["kubeconfig"][0], "/var/lib/kubelet/kubeconfig");
    assert_eq!(kubelet["cafile"][0], "/etc/kubernetes/pki/ca.crt");
    assert_eq!(kubelet["svc"][0], "/etc/systemd/system/kubelet.service");

    let aks = merged_config("aks-1.8");
    let kubelet = &aks["node"]["kubelet"];
    assert_eq!(kubelet["confs"][0], "/etc/default/kubeletconfig.json");
    assert_eq!(kubelet["kubeconfig"][0], "/var/lib/kubelet/kubeconfig");
    assert_eq!(kubelet["cafile"][0], "/etc/kubernetes/certs/ca.crt");
    assert_eq!(
        aks["node"]["azure"]["confs"][0],
        "/etc/kubernetes/azure.json"
    );
    // The top config's other node settings survive the merge.
    assert!(aks["node"]["proxy"]["kubeconfig"].is_array());
}
