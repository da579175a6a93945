//! Benchmark files as the loads tests read them, once for every benchmark: our `cfg/` tree and
//! kube-bench's reference tree (`../shared/kube-bench-cfg`), each controls file parsed on its
//! own, and a benchmark's configuration merged by the library's own loader.

use std::path::{Path, PathBuf};

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::model::{Check, Controls};
use cisgate::definitions::tree::BenchmarkTree;
use serde_json::Value;

use super::{kube_bench_cfg, repo_root};

/// A benchmark's controls files, each with its path, sorted by file name.
pub type ControlsFiles = Vec<(PathBuf, Controls)>;

/// The controls files (every `*.yaml` but `config.yaml`) of a benchmark directory, sorted.
pub fn controls_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter(|path| path.file_name().is_some_and(|name| name != "config.yaml"))
        .collect();
    files.sort();
    files
}

/// One controls file, which must hold exactly one YAML document.
pub fn load_controls(path: &Path) -> Controls {
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

pub fn load_benchmark(dir: &Path) -> ControlsFiles {
    controls_files(dir)
        .into_iter()
        .map(|path| {
            let controls = load_controls(&path);
            (path, controls)
        })
        .collect()
}

/// Our embedded benchmark of that name.
pub fn ours(benchmark: &str) -> ControlsFiles {
    load_benchmark(&repo_root().join("cfg").join(benchmark))
}

/// The directory of kube-bench's tree of that name; `None` where the reference is absent
/// (see `support::missing`).
pub fn kube_bench_dir(benchmark: &str) -> Option<PathBuf> {
    let dir = kube_bench_cfg()?.join(benchmark);
    assert!(dir.is_dir(), "kube-bench's reference has no {benchmark}");
    Some(dir)
}

/// kube-bench's tree of that name, parsed; `None` where the reference is absent.
pub fn kube_bench(benchmark: &str) -> Option<ControlsFiles> {
    kube_bench_dir(benchmark).map(|dir| load_benchmark(&dir))
}

/// Every check of a benchmark with its controls file, in file and benchmark order.
pub fn checks(benchmark: &[(PathBuf, Controls)]) -> impl Iterator<Item = (&Controls, &Check)> {
    benchmark.iter().flat_map(|(_, controls)| {
        controls
            .groups
            .iter()
            .flat_map(move |group| group.checks.iter().map(move |check| (controls, check)))
    })
}

/// Neither `manual` nor `skip`: the check must be decided by its tests.
pub fn is_automated(check: &Check) -> bool {
    check.check_type != "manual" && check.check_type != "skip"
}

/// The top `config.yaml` with the benchmark's own merged over it, by the library's loader.
pub fn merged_config(benchmark: &str) -> Value {
    let tree =
        BenchmarkTree::directory(&repo_root().join("cfg")).expect("cfg/ is a benchmark tree");
    BenchmarkConfig::load(&tree, Some(benchmark))
        .unwrap_or_else(|e| panic!("{benchmark}'s config: {e}"))
        .raw()
        .clone()
}

/// A YAML file as a JSON value.
pub fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}
