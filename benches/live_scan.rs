//! Issue 2: a live scan of the fake kubeadm control-plane node, sections 1–4 (targets
//! master, etcd, controlplane, node), with kube-bench's cis-1.12 definitions (shell
//! audits, `../shared/kube-bench-cfg`) and with the same checks written as probes (the
//! embedded cis-1.12). Target: the probe scan spawns no process and takes under 20 ms.
//!
//! Then the same questions are asked of the binary, timed as whole processes (issue 14):
//! a snapshot directory (`examples/snapshots/control-plane-1`) and a snapshot file
//! (`examples/collected/cp-1.json.gz`) with `-q`, target ≤ 3 ms each; and the live fake
//! node with the embedded probes next to kube-bench's shell definitions (`--config-dir`),
//! in the same run, target ≥ 150× faster. The targets are judged on the binary a release
//! ships (`scripts/release-build.sh`, glibc linked statically), installed as a copy; cargo's
//! dynamically linked build of the same commit is timed after it for comparison.
//!
//! Run: `cargo bench --bench live_scan`. Each scan is timed in-process the way
//! `cisgate scan --root <fake root> --benchmark cis-1.12 --targets ...` does it: a fresh
//! `LiveFacts`, the benchmark's config loaded, every target's controls loaded and
//! evaluated. Exits 1 when a target is missed.

#[path = "../tests/support/fake_node.rs"]
mod fake_node;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::load::load_controls;
use cisgate::definitions::tree::BenchmarkTree;
use cisgate::engine::detect;
use cisgate::engine::run::{run_controls, CheckFilter, TargetContext};
use cisgate::engine::scan::{scan_node, ScanPlan};
use cisgate::engine::substitute::resolve;
use cisgate::facts::live::{LiveFacts, LiveOptions};
use cisgate::facts::{
    FactError, Facts, FileStat, NodeIdentity, ProcessList, ShellCommand, ShellOutput,
};
use cisgate::results::Totals;
use fake_node::{FakeNode, NodeKind};

const BENCHMARK: &str = "cis-1.12";
const TARGETS: [&str; 4] = ["master", "etcd", "controlplane", "node"];
const PROBE_TARGET: Duration = Duration::from_millis(20);
const SHELL_RUNS: usize = 5;
const PROBE_RUNS: usize = 50;
/// A whole `cisgate scan -q` of one node, from exec to exit (issue 14).
const PROCESS_TARGET: Duration = Duration::from_millis(3);
/// The live probe scan as a process against kube-bench's shell definitions as a process.
const RATIO_TARGET: f64 = 150.0;
const PROCESS_RUNS: usize = 50;

fn main() {
    // `cargo test --benches` / `--all-targets` runs this binary without `--bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("live_scan is a benchmark: run it with `cargo bench --bench live_scan`");
        return;
    }
    let node = FakeNode::start(NodeKind::ControlPlane);
    let targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    let mut missed = Vec::new();

    let probes = measure(&BenchmarkTree::Embedded, node.root(), &targets, PROBE_RUNS);
    if probes.spawning_calls > 0 {
        missed.push(format!(
            "the probe scan asked for {} process-spawning facts (run_shell / API); expected 0",
            probes.spawning_calls
        ));
    }
    if probes.median >= PROBE_TARGET {
        missed.push(format!(
            "the probe scan took {} (median), over the {} target by {}",
            ms(probes.median),
            ms(PROBE_TARGET),
            ms(probes.median - PROBE_TARGET)
        ));
    }

    let shell = match kube_bench_cfg() {
        Some(dir) => {
            let tree = BenchmarkTree::directory(&dir).expect("kube-bench's cfg/ loads");
            Some(measure(&tree, node.root(), &targets, SHELL_RUNS))
        }
        None => {
            println!(
                "skipped the kube-bench run: no kube-bench-cfg/ in $CISGATE_SHARED, \
                 <repo>/../shared or <repo>/../../shared"
            );
            None
        }
    };

    println!();
    println!(
        "live scan of the fake control-plane node, sections 1-4 ({}), {BENCHMARK}",
        TARGETS.join(", ")
    );
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:>7} {:>24}",
        "definitions", "runs", "median", "min", "spawns", "pass/fail/warn/info/err"
    );
    if let Some(shell) = &shell {
        shell.print_row("kube-bench cis-1.12 (shell audits)");
    }
    probes.print_row("embedded cis-1.12 (probes)");
    if let Some(shell) = &shell {
        println!(
            "ratio shell / probes (median): {:.0}x",
            shell.median.as_secs_f64() / probes.median.as_secs_f64()
        );
    }
    println!(
        "target: probe scan under {} with 0 spawns: {}",
        ms(PROBE_TARGET),
        if missed.is_empty() { "met" } else { "MISSED" }
    );
    profile_phases(node.root(), &targets, 20);
    whole_processes(node.root(), &mut missed);
    drop(node);
    println!(
        "all targets: {}",
        if missed.is_empty() { "met" } else { "MISSED" }
    );
    for reason in &missed {
        println!("  missed: {reason}");
    }
    if !missed.is_empty() {
        std::process::exit(1);
    }
}

struct Measurement {
    runs: usize,
    median: Duration,
    min: Duration,
    /// run_shell + api_objects + api_reachable calls in one scan: each would start a process.
    spawning_calls: usize,
    totals: Totals,
}

impl Measurement {
    fn print_row(&self, name: &str) {
        let t = &self.totals;
        println!(
            "{:<34} {:>5} {:>10} {:>10} {:>7} {:>24}",
            name,
            self.runs,
            ms(self.median),
            ms(self.min),
            self.spawning_calls,
            format!("{}/{}/{}/{}/{}", t.pass, t.fail, t.warn, t.info, t.error)
        );
    }
}

/// One untimed warm-up scan, then `runs` timed scans, each with a fresh `LiveFacts`.
fn measure(tree: &BenchmarkTree, root: &Path, targets: &[String], runs: usize) -> Measurement {
    let (_, warm) = scan_once(tree, root, targets);
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let (elapsed, scan) = scan_once(tree, root, targets);
            assert_eq!(
                scan.spawning_calls, warm.spawning_calls,
                "every scan asks the same"
            );
            elapsed
        })
        .collect();
    times.sort();
    Measurement {
        runs,
        median: times[times.len() / 2],
        min: times[0],
        spawning_calls: warm.spawning_calls,
        totals: warm.totals,
    }
}

struct Scan {
    spawning_calls: usize,
    totals: Totals,
}

fn scan_once(tree: &BenchmarkTree, root: &Path, targets: &[String]) -> (Duration, Scan) {
    let start = Instant::now();
    let facts = Counting::new(LiveFacts::new(LiveOptions {
        root: root.to_path_buf(),
        ..LiveOptions::default()
    }));
    let config = BenchmarkConfig::load(tree, Some(BENCHMARK)).expect("config.yaml loads");
    let filter = CheckFilter::default();
    let plan = ScanPlan {
        tree,
        config: &config,
        benchmark: BENCHMARK,
        targets,
        filter: &filter,
        loaded: &Default::default(),
        locations: true,
    };
    let results = scan_node(
        &plan,
        &facts,
        "live node (bench)",
        detect::roles_of(targets),
        &mut |_| {},
    )
    .expect("the scan runs");
    let elapsed = start.elapsed();
    let checks = results.totals.pass
        + results.totals.fail
        + results.totals.warn
        + results.totals.info
        + results.totals.error;
    assert!(checks > 50, "sections 1-4 ran only {checks} checks");
    (
        elapsed,
        Scan {
            spawning_calls: facts.spawning_calls(),
            totals: results.totals,
        },
    )
}

/// kube-bench's benchmark tree: `$CISGATE_SHARED/kube-bench-cfg`, else `shared/` next to
/// the repository (or two levels up, for a git worktree under `<project>/wt/`).
fn kube_bench_cfg() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CISGATE_SHARED")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo.join("../shared"), repo.join("../../shared")])
        .map(|shared| shared.join("kube-bench-cfg"))
        .find(|dir| dir.join(BENCHMARK).is_dir())
}

/// Where the probe scan's time goes, over `count` scans: a fresh `LiveFacts` and the
/// config, resolving variables (the first target reads every process in /proc),
/// loading the definitions (YAML), running the checks.
fn profile_phases(root: &Path, targets: &[String], count: usize) {
    let tree = BenchmarkTree::Embedded;
    let filter = CheckFilter::default();
    let mut phases = [Duration::ZERO; 4];
    for _ in 0..count {
        let mut clock = Instant::now();
        let mut lap = |phase: usize| {
            let now = Instant::now();
            phases[phase] += now - clock;
            clock = now;
        };
        let facts = LiveFacts::new(LiveOptions {
            root: root.to_path_buf(),
            ..LiveOptions::default()
        });
        let config = BenchmarkConfig::load(&tree, Some(BENCHMARK)).expect("config.yaml loads");
        lap(0);
        for target in targets {
            let resolution = resolve(&config, target, &facts).expect("resolve");
            lap(1);
            let loaded =
                load_controls(&tree, BENCHMARK, target, &resolution.variables, &mut |_| {})
                    .expect("controls load");
            lap(2);
            let ctx = TargetContext {
                facts: &facts,
                variables: &resolution.variables,
                missing: &resolution.missing,
                filter: &filter,
                answers: &Default::default(),
                locations: true,
            };
            std::hint::black_box(run_controls(&loaded, &ctx));
            lap(3);
        }
    }
    let total: Duration = phases.iter().sum();
    println!("where the probe scan's time goes (mean of {count} scans):");
    for (name, spent) in [
        "load config.yaml",
        "resolve variables (reads /proc)",
        "load the definitions (YAML)",
        "run the checks",
    ]
    .iter()
    .zip(phases)
    {
        println!(
            "  {:<34} {:>8.2} ms {:>5.1}%",
            name,
            spent.as_secs_f64() * 1000.0 / count as f64,
            100.0 * spent.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "  {:<34} {:>8.2} ms",
        "total",
        total.as_secs_f64() * 1000.0 / count as f64
    );
}

/// `BINARY scan ARGS -q` for each binary, `runs` times after one untimed run: the median
/// wall time of each. The binaries take turns, in the other order every other round: a
/// change in the machine's speed falls on all of them, and so does the place in a round
/// (the first process of a round measured ~0.5 ms faster than the second here).
fn time_processes(binaries: &[&Path], args: &[&str], runs: usize) -> Vec<Duration> {
    let run = |binary: &Path| {
        let start = Instant::now();
        let status = std::process::Command::new(binary)
            .arg("scan")
            .args(args)
            .arg("-q")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("cisgate runs");
        let elapsed = start.elapsed();
        // 0 passes, 1 fails the gate; anything else is a usage or input error.
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "{} scan {args:?}: {status}",
            binary.display()
        );
        elapsed
    };
    binaries.iter().for_each(|binary| {
        run(binary);
    });
    let mut times = vec![Vec::with_capacity(runs); binaries.len()];
    for round in 0..runs {
        let mut order: Vec<usize> = (0..binaries.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            times[index].push(run(binaries[index]));
        }
    }
    times
        .into_iter()
        .map(|mut times| {
            times.sort();
            times[times.len() / 2]
        })
        .collect()
}

/// The binary a release ships (`scripts/release-build.sh`: glibc linked statically, built
/// here if it is not up to date), or why there is none.
fn release_binary() -> Result<PathBuf, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(repo.join("scripts/release-build.sh"))
        .current_dir(repo)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|error| format!("scripts/release-build.sh did not start: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "scripts/release-build.sh failed ({})",
            output.status
        ));
    }
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(repo.join(path))
}

/// A copy of the built release binary in `dir`, as an installation writes it (the release
/// archive unpacked, `install`): the file the linker wrote in pieces runs measurably slower
/// from the page cache than the same bytes written in one piece (docs/performance.md, "One
/// node, fourteenth round"), and no user runs the linker's output in place.
fn install_copy(built: &Path, dir: &Path) -> Result<PathBuf, String> {
    let installed = dir.join("cisgate");
    std::fs::copy(built, &installed)
        .map(|_| installed)
        .map_err(|error| format!("copying {} to {}: {error}", built.display(), dir.display()))
}

/// Whole-process scans of one node (see the top of this file), by the release binary —
/// the one the targets are judged on — and by cargo's own build of the same commit.
fn whole_processes(root: &Path, missed: &mut Vec<String>) {
    let cargo_binary = PathBuf::from(env!("CARGO_BIN_EXE_cisgate"));
    let installed = tempfile::tempdir().expect("a temp dir to install the release binary in");
    let release = release_binary()
        .and_then(|built| install_copy(&built, installed.path()))
        .unwrap_or_else(|reason| {
            missed.push(format!("no release binary to time: {reason}"));
            cargo_binary.clone()
        });
    let binaries = [release.as_path(), cargo_binary.as_path()];
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let snapshot_dir = repo.join("examples/snapshots/control-plane-1");
    let snapshot_file = repo.join("examples/collected/cp-1.json.gz");
    let root = root.to_str().expect("a UTF-8 temp path");
    let targets = TARGETS.join(",");
    let live = [
        "--root",
        root,
        "--benchmark",
        BENCHMARK,
        "--targets",
        &targets,
    ];
    println!();
    println!("whole process, `cisgate scan ... -q`, median of {PROCESS_RUNS} (shell: {SHELL_RUNS}), the two binaries taking turns");
    println!(
        "  release: {} (static, as shipped, installed as a copy; the targets are judged on it)",
        release.display()
    );
    println!("  cargo:   {} (dynamic)", cargo_binary.display());
    let row = |name: &str, times: &[Duration], target: &str| {
        println!(
            "{:<44} {:>10} {:>10} {:>10}",
            name,
            ms(times[0]),
            ms(times[1]),
            target
        );
    };
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "scan", "release", "cargo", "target"
    );
    for (name, path) in [
        ("snapshot dir", &snapshot_dir),
        ("snapshot file", &snapshot_file),
    ] {
        let path = path.to_str().expect("a UTF-8 repo path");
        let args = ["--snapshot", path, "--benchmark", BENCHMARK];
        let times = time_processes(&binaries, &args, PROCESS_RUNS);
        row(name, &times, &ms(PROCESS_TARGET));
        if times[0] > PROCESS_TARGET {
            missed.push(format!(
                "whole process, {name}: {} (median), over the {} target",
                ms(times[0]),
                ms(PROCESS_TARGET)
            ));
        }
    }
    let probes = time_processes(&binaries, &live, PROCESS_RUNS);
    row("live fake node, embedded cis-1.12 (probes)", &probes, "");
    let Some(kube_bench) = kube_bench_cfg() else {
        return;
    };
    let kube_bench = kube_bench.to_str().expect("a UTF-8 path").to_owned();
    let mut shell_args = live.to_vec();
    shell_args.extend(["--config-dir", &kube_bench]);
    let shell = time_processes(&binaries, &shell_args, SHELL_RUNS);
    row("live fake node, kube-bench cis-1.12 (shell)", &shell, "");
    let ratios: Vec<f64> = shell
        .iter()
        .zip(&probes)
        .map(|(shell, probes)| shell.as_secs_f64() / probes.as_secs_f64())
        .collect();
    println!(
        "{:<44} {:>9.0}x {:>9.0}x {:>9.0}x",
        "ratio shell / probes", ratios[0], ratios[1], RATIO_TARGET
    );
    if ratios[0] < RATIO_TARGET {
        missed.push(format!(
            "whole process, live: probes only {:.0}x faster than kube-bench's shell definitions, not {RATIO_TARGET:.0}x",
            ratios[0]
        ));
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Forwards every question and counts the ones that start a process on a live node.
struct Counting<F> {
    inner: F,
    shell: AtomicUsize,
    api: AtomicUsize,
}

impl<F: Facts> Counting<F> {
    fn new(inner: F) -> Self {
        Counting {
            inner,
            shell: AtomicUsize::new(0),
            api: AtomicUsize::new(0),
        }
    }

    fn spawning_calls(&self) -> usize {
        self.shell.load(Ordering::Relaxed) + self.api.load(Ordering::Relaxed)
    }
}

impl<F: Facts> Facts for Counting<F> {
    fn identity(&self) -> NodeIdentity {
        self.inner.identity()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn processes(&self) -> Result<ProcessList, FactError> {
        self.inner.processes()
    }
    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        self.inner.stat(path)
    }
    fn read_file(&self, path: &str) -> Result<Option<String>, FactError> {
        self.inner.read_file(path)
    }
    fn list_tree(&self, path: &str) -> Result<std::sync::Arc<[String]>, FactError> {
        self.inner.list_tree(path)
    }
    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        self.shell.fetch_add(1, Ordering::Relaxed);
        self.inner.run_shell(command)
    }
    fn shell_path_prefix(&self) -> &str {
        self.inner.shell_path_prefix()
    }
    fn api_objects(&self, kind: &str) -> Result<cisgate::facts::ApiObjects, FactError> {
        self.api.fetch_add(1, Ordering::Relaxed);
        self.inner.api_objects(kind)
    }
    fn api_reachable(&self) -> bool {
        self.api.fetch_add(1, Ordering::Relaxed);
        self.inner.api_reachable()
    }
}
