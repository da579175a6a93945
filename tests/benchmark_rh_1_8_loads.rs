//! Our rh-1.8 (OpenShift Container Platform 4.13+) loads, covers every recommendation
//! kube-bench's rh-1.8 has (same ids, `scored` flags and `type`s, in the same node type), and
//! automated checks use typed probes only: kube-bench's `oc get`/`oc exec`/`oc debug` audits
//! become probes that read the node (or the recorded cluster) directly. Every `$variable`
//! a check uses is defined for its node type in `cfg/config.yaml` merged with
//! `cfg/rh-1.8/config.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use cisgate::definitions::config::{BenchmarkConfig, FileKind};
use cisgate::definitions::model::{Audit, Check, Controls};
use cisgate::definitions::probe::Probe;
use cisgate::definitions::tree::BenchmarkTree;
use support::definitions::{checks, is_automated, kube_bench_dir, load_benchmark, ours};
use support::repo_root;

mod support;

const BENCHMARK: &str = "rh-1.8";

#[test]
fn each_controls_file_is_for_the_node_type_it_is_named_after() {
    let benchmark = ours(BENCHMARK);
    assert_eq!(
        benchmark.len(),
        5,
        "master, etcd, controlplane, node, policies"
    );
    for (path, controls) in benchmark {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(controls.node_type, stem, "{}: type", path.display());
        assert_eq!(controls.version, BENCHMARK, "{}: version", path.display());
    }
}

#[test]
fn check_ids_are_unique() {
    let benchmark = ours(BENCHMARK);
    let mut seen = BTreeSet::new();
    for (_, check) in checks(&benchmark) {
        assert!(seen.insert(check.id.clone()), "{} appears twice", check.id);
    }
}

#[test]
fn every_kube_bench_recommendation_is_present_with_the_same_id_scored_and_type() {
    let Some(reference) = kube_bench_dir(BENCHMARK) else {
        support::missing("kube-bench's rh-1.8 reference tree (shared/kube-bench-cfg/rh-1.8)");
        return;
    };
    let theirs = load_benchmark(&reference);
    let benchmark = ours(BENCHMARK);
    let our_checks: BTreeMap<&str, (&Controls, &Check)> = checks(&benchmark)
        .map(|(controls, check)| (check.id.as_str(), (controls, check)))
        .collect();
    let mut wrong = Vec::new();
    for (their_controls, their_check) in checks(&theirs) {
        let Some((our_controls, our_check)) = our_checks.get(their_check.id.as_str()) else {
            wrong.push(format!("{}: missing", their_check.id));
            continue;
        };
        if our_check.scored != their_check.scored
            || our_check.check_type != their_check.check_type
            || our_controls.node_type != their_controls.node_type
        {
            wrong.push(format!(
                "{}: ours scored={} type={:?} in {}, kube-bench scored={} type={:?} in {}",
                their_check.id,
                our_check.scored,
                our_check.check_type,
                our_controls.node_type,
                their_check.scored,
                their_check.check_type,
                their_controls.node_type
            ));
        }
    }
    let their_ids: BTreeSet<&str> = checks(&theirs).map(|(_, c)| c.id.as_str()).collect();
    for id in our_checks.keys().filter(|id| !their_ids.contains(*id)) {
        wrong.push(format!("{id}: not in kube-bench's rh-1.8"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn automated_checks_have_tests_and_use_typed_probes_only() {
    let benchmark = ours(BENCHMARK);
    let mut automated = 0;
    for (controls, check) in checks(&benchmark) {
        let place = format!("{} {}", controls.node_type, check.id);
        for (field, audit) in [
            ("audit", &check.audit),
            ("audit_config", &check.audit_config),
            ("audit_env", &check.audit_env),
        ] {
            assert!(
                !matches!(audit, Audit::Shell(_)),
                "{place}: {field} is a shell command; use a typed probe"
            );
        }
        if !is_automated(check) {
            assert!(
                check.audit.is_empty() && check.audit_config.is_empty(),
                "{place}: a manual check should not carry an audit"
            );
            continue;
        }
        automated += 1;
        let tests = check
            .tests
            .as_ref()
            .unwrap_or_else(|| panic!("{place}: automated check without tests"));
        assert!(!tests.test_items.is_empty(), "{place}: no test items");
        assert!(
            !(check.audit.is_empty() && check.audit_config.is_empty()),
            "{place}: automated check without an audit"
        );
        for item in &tests.test_items {
            assert!(item.env.is_empty(), "{place}: env items need an audit_env");
            assert!(
                !(item.flag.is_empty() && item.path.is_empty()),
                "{place}: a test item names no flag or path"
            );
            if !item.path.is_empty() {
                assert!(
                    !check.audit_config.is_empty(),
                    "{place}: a `path` item is only read from audit_config"
                );
            }
        }
    }
    assert_eq!(
        automated, 89,
        "automated checks in rh-1.8 (kube-bench automates the same 89)"
    );
}

#[test]
fn titles_keep_the_benchmark_designation_and_remediations_say_what_to_do() {
    let benchmark = ours(BENCHMARK);
    for (_, check) in checks(&benchmark) {
        assert!(
            check.remediation.trim().len() > 40,
            "{}: remediation too short to act on",
            check.id
        );
        assert!(
            check.text.ends_with("(Automated)") || check.text.ends_with("(Manual)"),
            "{}: title should end with (Automated) or (Manual)",
            check.id
        );
    }
}

/// The node paths a probe names, for the `$variable` check.
fn probe_texts(audit: &Audit) -> Vec<String> {
    match audit {
        Audit::Probe(Probe::FileMode { path, .. })
        | Audit::Probe(Probe::FileOwner { path, .. })
        | Audit::Probe(Probe::FileContent { path }) => vec![path.clone()],
        Audit::Probe(Probe::StaticPodFile { manifest, path, .. }) => {
            vec![manifest.clone(), path.clone()]
        }
        Audit::Probe(Probe::KubeletConfig { bin, config }) => {
            bin.iter().chain(config).cloned().collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn every_variable_is_defined_for_its_node_type_with_the_openshift_paths() {
    let tree = BenchmarkTree::directory(&repo_root().join("cfg")).expect("cfg/ loads");
    let config = BenchmarkConfig::load(&tree, Some(BENCHMARK)).expect("config merges");
    let variable =
        regex::Regex::new(r"\$([a-z]+?)(bin|conf|svc|kubeconfig|cafile|datadir)\b").expect("regex");
    let benchmark = ours(BENCHMARK);
    for (controls, check) in checks(&benchmark) {
        let components = config.components(&controls.node_type);
        let texts: Vec<String> = [&check.audit, &check.audit_config]
            .into_iter()
            .flat_map(probe_texts)
            .chain([check.remediation.to_string()])
            .collect();
        for text in &texts {
            for capture in variable.captures_iter(text) {
                let (name, kind) = (&capture[1], &capture[2]);
                let component = components
                    .iter()
                    .find(|c| c.name == name)
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: ${name}{kind} is not a {} component",
                            check.id, controls.node_type
                        )
                    });
                if kind == "bin" {
                    assert!(!component.bins.is_empty(), "{}: ${name}bin", check.id);
                    continue;
                }
                let defined = component.files.iter().any(|file| {
                    file.kind.suffix() == kind
                        && (!file.candidates.is_empty() || file.default.is_some())
                });
                assert!(defined, "{}: ${name}{kind} has no candidates", check.id);
            }
        }
    }
    // The OpenShift paths, not the kubeadm ones of the top config.
    let conf_of = |target: &str, component: &str, kind: FileKind| -> Vec<String> {
        config
            .components(target)
            .into_iter()
            .find(|c| c.name == component)
            .and_then(|c| c.files.into_iter().find(|file| file.kind == kind))
            .map(|file| {
                file.candidates
                    .iter()
                    .map(|path| path.to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        conf_of("master", "apiserver", FileKind::Conf),
        ["/etc/kubernetes/manifests/kube-apiserver-pod.yaml"]
    );
    assert_eq!(
        conf_of("node", "kubelet", FileKind::Conf),
        ["/etc/kubernetes/kubelet.conf"]
    );
    assert_eq!(
        conf_of("node", "kubelet", FileKind::Kubeconfig),
        ["/var/lib/kubelet/kubeconfig"]
    );
    assert_eq!(
        conf_of("etcd", "etcd", FileKind::Datadir),
        ["/var/lib/etcd"]
    );
}

#[test]
fn openshift_4_13_and_newer_map_to_rh_1_8_with_its_five_targets() {
    let tree = BenchmarkTree::directory(&repo_root().join("cfg")).expect("cfg/ loads");
    let config = BenchmarkConfig::load(&tree, Some(BENCHMARK)).expect("config merges");
    let openshift = &config.raw()["platforms"]["openshift"];
    assert_eq!(openshift["benchmarks"]["4.13"].as_str(), Some(BENCHMARK));
    assert_eq!(openshift["versioned_by"].as_str(), Some("platform"));
    let mut targets = config.targets_of(BENCHMARK).expect("target_mapping");
    targets.sort();
    assert_eq!(
        targets,
        ["controlplane", "etcd", "master", "node", "policies"]
    );
}
