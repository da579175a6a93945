//! rke2-cis-1.8 and k3s-cis-1.9 three ways: each fixture as a live node (real processes, real
//! files with their modes and owners under `--root`), as a snapshot directory, and as the
//! snapshot file `cisgate collect` records from the live node give the same verdicts; and
//! kube-bench's own trees, run chrooted on the same live node, agree except where
//! `docs/differences-from-kube-bench.md` says why.
//!
//! kube-bench's k3s tree reads what k3s logged (`journalctl -m -u k3s | grep 'Running
//! kube-apiserver' | tail -n1`). On each k3s node the test writes a real journal file into the
//! live node's `/var/log/journal/<machine-id>/` (with `systemd-journal-remote`, from journal
//! export format), holding the `Running <component> ...` lines k3s logs at start, in k3s's
//! logrus format under its unit (`k3s.service`, `k3s-agent.service`). The lines are the
//! `k3s_args` probe's derivation of the node's config, so this comparison is of the two
//! trees' test logic on the same command lines, not of the derivation itself (which the
//! expected-state table pins down).

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::path::Path;
use std::process::Command;

use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use live_tree::{assert_same_verdicts, documented_differences, scan_snapshot, states, LiveTree};
use support::{benchmark_fixture, missing};

const JOURNAL_REMOTE: &str = "/usr/lib/systemd/systemd-journal-remote";
const MACHINE_ID: &str = "5e1f0c2a9b8d4e7fa3c6b1d0e2f4a5b6";

const SERVER: &str = "master,etcd,controlplane,node";
const NODES: [(&str, &str, &str); 8] = [
    ("rke2-cis-1.8", "rke2-server", SERVER),
    ("rke2-cis-1.8", "rke2-server-cis", SERVER),
    ("rke2-cis-1.8", "rke2-broken-server", SERVER),
    ("rke2-cis-1.8", "rke2-agent", "node"),
    ("k3s-cis-1.9", "k3s-server", SERVER),
    ("k3s-cis-1.9", "k3s-server-hardened", SERVER),
    ("k3s-cis-1.9", "k3s-broken-server", SERVER),
    ("k3s-cis-1.9", "k3s-agent", "node"),
];

fn node_fixture(benchmark: &str, name: &str) -> std::path::PathBuf {
    benchmark_fixture(&format!("{benchmark}/nodes/{name}"))
}

#[test]
fn live_snapshot_directory_and_collected_snapshot_agree() {
    for (benchmark, name, targets) in NODES {
        let fixture = node_fixture(benchmark, name);
        let args = ["--benchmark", benchmark, "--targets", targets];
        let from_dir = scan_snapshot(&fixture, &args);
        let tree = LiveTree::start(&fixture);
        let live = tree.scan(&args);
        assert_eq!(live.code, from_dir.code, "{name}: {}", live.stderr);
        assert_eq!(
            states(&live.results),
            states(&from_dir.results),
            "{name}: live vs snapshot directory"
        );
        let out = tempfile::TempDir::new().unwrap();
        let snapshot = tree.collect(out.path(), &args);
        drop(tree);
        let collected = scan_snapshot(&snapshot, &args);
        assert_eq!(
            states(&live.results),
            states(&collected.results),
            "{name}: live vs collected snapshot"
        );
    }
}

#[test]
fn kube_bench_reference_trees_agree_except_documented_differences() {
    for (benchmark, name, targets) in NODES {
        let allowed = documented_differences(benchmark);
        assert!(
            !allowed.is_empty(),
            "the differences doc has a `## {benchmark}` section"
        );
        let fixture = node_fixture(benchmark, name);
        let tree = LiveTree::start(&fixture);
        if benchmark.starts_with("k3s") && !write_k3s_journal(&fixture, tree.root(), name) {
            continue;
        }
        let ours = tree.scan(&["--benchmark", benchmark, "--targets", targets]);
        let Some(theirs) = tree.scan_kube_bench(benchmark, targets) else {
            return;
        };
        assert!(
            states(&theirs.results).len() > 20,
            "{name}: {}",
            theirs.stderr
        );
        assert_same_verdicts(&ours.results, &theirs.results, &allowed);
    }
}

/// Writes the `Running <component> ...` lines k3s logs at start into a journal file of the
/// live node; `false` (after `support::missing`) when systemd-journal-remote is absent.
fn write_k3s_journal(fixture: &Path, root: &Path, name: &str) -> bool {
    if !Path::new(JOURNAL_REMOTE).is_file() {
        missing("systemd-journal-remote (Debian package systemd-journal-remote), which writes the k3s journal kube-bench's k3s tree reads");
        return false;
    }
    let facts = SnapshotDirFacts::open(fixture).expect("fixture");
    let unit = if name.ends_with("agent") {
        "k3s-agent"
    } else {
        "k3s"
    };
    let mut export = String::new();
    let components = [
        "kube-apiserver",
        "kube-scheduler",
        "kube-controller-manager",
        "kubelet",
        "kube-proxy",
    ];
    for (index, component) in components.into_iter().enumerate() {
        let line = cisgate::engine::k3s::command_line(&facts, component, None)
            .unwrap_or_else(|e| panic!("{name}: k3s_args {component}: {e}"));
        if line.is_empty() {
            continue;
        }
        let seconds = 1_733_209_200 + index as u64;
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={micros}\n__MONOTONIC_TIMESTAMP={mono}\n_BOOT_ID={MACHINE_ID}\n\
             _MACHINE_ID={MACHINE_ID}\n_HOSTNAME={name}\n_SYSTEMD_UNIT={unit}.service\n\
             SYSLOG_IDENTIFIER=k3s\n_PID=812\nPRIORITY=6\n\
             MESSAGE=time=\"2024-12-03T07:00:0{index}Z\" level=info msg=\"Running {line}\"\n\n",
            micros = seconds * 1_000_000,
            mono = (index as u64 + 5) * 1_000_000,
        ));
    }
    let dir = root.join("var/log/journal").join(MACHINE_ID);
    std::fs::create_dir_all(&dir).expect("journal directory");
    let export_file = root.join("k3s.export");
    std::fs::write(&export_file, export).expect("export file");
    let status = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(dir.join("system.journal"))
        .arg(&export_file)
        .output()
        .expect("run systemd-journal-remote");
    std::fs::remove_file(&export_file).expect("remove export file");
    assert!(
        status.status.success(),
        "systemd-journal-remote: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    true
}
