//! The example snapshot directories through the whole engine with the embedded
//! benchmark: kubeadm's defaults give the findings CIS is known to report on them.

use std::collections::BTreeMap;
use std::path::Path;

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::tree::BenchmarkTree;
use cisgate::engine::detect;
use cisgate::engine::run::CheckFilter;
use cisgate::engine::scan::{scan_node, ScanPlan};
use cisgate::facts::discover::{discover, SnapshotSource};
use cisgate::facts::Facts;
use cisgate::results::{NodeResults, State};

fn scan(facts: &dyn Facts) -> NodeResults {
    scan_with_locations(facts, true)
}

fn scan_with_locations(facts: &dyn Facts, locations: bool) -> NodeResults {
    let tree = BenchmarkTree::Embedded;
    let config = BenchmarkConfig::load(&tree, Some("cis-1.12")).unwrap();
    let all: Vec<String> = config.targets_of("cis-1.12").unwrap();
    let targets = detect::applicable_targets(&config, &all, facts);
    let filter = CheckFilter {
        only_checks: Vec::new(),
        only_groups: Vec::new(),
        skip: Vec::new(),
        scored_only: false,
        unscored_only: false,
    };
    let plan = ScanPlan {
        tree: &tree,
        config: &config,
        benchmark: "cis-1.12",
        targets: &targets,
        filter: &filter,
        loaded: &Default::default(),
        locations,
    };
    scan_node(
        &plan,
        facts,
        &facts.describe(),
        detect::roles_of(&targets),
        &mut |_| {},
    )
    .unwrap()
}

fn states(node: &NodeResults) -> BTreeMap<String, State> {
    node.sections
        .iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.checks)
        .map(|c| (c.id.to_string(), c.state))
        .collect()
}

fn example_sources() -> Vec<SnapshotSource> {
    discover(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshots")]).sources
}

#[test]
fn the_control_plane_example_shows_kubeadms_known_findings() {
    let source = &example_sources()[0];
    assert!(source.path.ends_with("control-plane-1"));
    let facts = source.open().unwrap();
    let node = scan(facts.as_ref());
    assert_eq!(node.node.roles, ["control-plane", "etcd", "worker"]);
    let states = states(&node);
    let expect = [
        ("1.1.1", State::Pass),  // apiserver manifest 600
        ("1.1.12", State::Fail), // etcd data dir owned by root
        ("1.2.5", State::Fail),  // no --kubelet-certificate-authority
        ("1.2.15", State::Fail), // --profiling not set
        ("1.2.16", State::Fail), // no audit log
        ("1.3.2", State::Fail),  // controller manager profiling
        ("1.4.1", State::Fail),  // scheduler profiling
        ("2.1", State::Pass),    // etcd serves TLS
        ("4.1.1", State::Fail),  // kubelet unit file is 644
        ("4.1.9", State::Fail),  // kubelet config.yaml is 644
        ("4.2.1", State::Pass),  // anonymous auth off
        ("4.2.5", State::Pass),  // 0s in the config file is the kubelet default (4h)
    ];
    assert!(!states.values().any(|s| *s == State::Error), "{states:?}");
    for (id, state) in expect {
        assert_eq!(states.get(id), Some(&state), "{id}: {states:?}");
    }
}

#[test]
fn the_worker_example_runs_node_checks_only() {
    let source = &example_sources()[1];
    let facts = source.open().unwrap();
    let node = scan(facts.as_ref());
    assert_eq!(node.node.roles, ["worker"]);
    let states = states(&node);
    assert!(
        states
            .keys()
            .all(|id| id.starts_with('4') || id.starts_with('5')),
        "{states:?}"
    );
    assert_eq!(states.get("4.1.1"), Some(&State::Fail), "{states:?}");
    assert_eq!(states.get("4.2.1"), Some(&State::Pass), "{states:?}");
    assert_eq!(states.get("4.2.7"), Some(&State::Pass), "{states:?}");
}

fn located(node: &NodeResults) -> usize {
    node.sections
        .iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.checks)
        .filter(|c| c.location.is_some())
        .count()
}

#[test]
fn a_scan_without_locations_gives_the_same_verdicts_and_evidence_and_no_location() {
    for source in example_sources() {
        let facts = cisgate::facts::snapshot_dir::SnapshotDirFacts::open(&source.path).unwrap();
        let mut located_scan = scan_with_locations(&facts, true);
        let unlocated = scan_with_locations(&facts, false);
        assert!(located(&located_scan) > 10, "{}", source.path.display());
        assert_eq!(located(&unlocated), 0);
        for check in located_scan
            .sections
            .iter_mut()
            .flat_map(|s| &mut s.groups)
            .flat_map(|g| &mut g.checks)
        {
            check.location = None;
        }
        assert_eq!(
            serde_json::to_value(&located_scan).unwrap(),
            serde_json::to_value(&unlocated).unwrap()
        );
    }
}

#[test]
fn a_recorded_snapshot_file_gives_its_sources_verdicts() {
    use cisgate::facts::recording::RecordingFacts;
    use cisgate::facts::snapshot::{Snapshot, SnapshotFacts};
    use cisgate::facts::snapshot_dir::SnapshotDirFacts;

    for source in example_sources() {
        let recording = RecordingFacts::new(SnapshotDirFacts::open(&source.path).unwrap());
        let direct = scan(&recording);
        let tree = BenchmarkTree::Embedded;
        let config = BenchmarkConfig::load(&tree, Some("cis-1.12")).unwrap();
        let targets = config.targets_of("cis-1.12").unwrap();
        let allow =
            cisgate::engine::reads::allowlist(&tree, &config, "cis-1.12", &targets).unwrap();
        let snapshot = recording.into_snapshot(None, &allow);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json.gz");
        std::fs::write(&path, snapshot.bytes_for_path(&path)).unwrap();
        assert_eq!(Snapshot::load(&path).unwrap(), snapshot);
        let replayed = scan(&SnapshotFacts::load(&path).unwrap());
        // The snapshot keeps only what checks read, so evidence shows less; verdicts match.
        assert_eq!(
            states(&replayed),
            states(&direct),
            "{}",
            source.path.display()
        );
        assert_eq!(replayed.node.name, direct.node.name);
        assert_eq!(replayed.node.roles, direct.node.roles);
        assert_eq!(replayed.totals, direct.totals);
    }
}
