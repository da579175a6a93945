//! Issue 3: a fleet of control-plane snapshot files through the binary with all reports
//! off (`cisgate scan --snapshot DIR --quiet --benchmark cis-1.12`).
//! Targets: 1,000 files under 1 s; 10,000 under 10 s with peak memory under 512 MB that
//! grows with results, not with snapshots.
//!
//! The snapshot is recorded here from `examples/snapshots/control-plane-1` while scanning
//! it once (what `cisgate collect` would store), then written as N `.json.gz` files with
//! distinct node names. Peak memory is GNU time's maximum resident set size
//! (`/usr/bin/time -v`; `apt-get install -y time`), else the process's VmHWM polled from
//! `/proc`. A per-node breakdown of where the time goes (single thread, in-process) is
//! printed after the table.
//!
//! Run: `cargo bench --bench snapshot_fleet`. Exits 1 when a target is missed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::load::load_controls;
use cisgate::definitions::tree::BenchmarkTree;
use cisgate::engine::choose::{self, Request};
use cisgate::engine::detect;
use cisgate::engine::run::{run_controls, CheckFilter, TargetContext};
use cisgate::engine::scan::{scan_node, ScanPlan};
use cisgate::engine::substitute::resolve;
use cisgate::facts::recording::RecordingFacts;
use cisgate::facts::snapshot::{Snapshot, SnapshotFacts};
use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use cisgate::facts::Facts;
use flate2::write::GzEncoder;
use rayon::prelude::*;

const BENCHMARK: &str = "cis-1.12";
const NAME_PLACEHOLDER: &str = "cisgate-bench-node-name-placeholder";
const MB: u64 = 1024 * 1024;

struct Goal {
    files: usize,
    runs: usize,
    time: Duration,
    memory: Option<u64>,
}

const GOALS: [Goal; 2] = [
    Goal {
        files: 1_000,
        runs: 3,
        time: Duration::from_secs(1),
        memory: None,
    },
    Goal {
        files: 10_000,
        runs: 2,
        time: Duration::from_secs(10),
        memory: Some(512 * MB),
    },
];

fn main() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cisgate"));
    let work = tempfile::TempDir::new().expect("temp dir");
    let snapshot = record_snapshot();
    let template = serde_json::to_string(&snapshot).expect("snapshot serializes");
    let largest = GOALS.iter().map(|g| g.files).max().unwrap();
    let all = work.path().join(format!("fleet-{largest}"));
    let started = Instant::now();
    write_fleet(&all, &template, largest);
    let gz_bytes = std::fs::metadata(all.join(file_name(0))).unwrap().len();
    println!(
        "wrote {largest} snapshot files in {:.1} s ({} KB each gzipped, {} KB as JSON)",
        started.elapsed().as_secs_f64(),
        gz_bytes / 1024,
        template.len() / 1024
    );
    check_every_node_evaluates(&binary, &all, work.path());

    let mut missed = Vec::new();
    let mut rows = Vec::new();
    for goal in &GOALS {
        let dir = if goal.files == largest {
            all.clone()
        } else {
            link_subset(&all, &work.path().join(format!("fleet-{}", goal.files)), goal.files)
        };
        let mut runs: Vec<Run> = (0..goal.runs).map(|_| run_binary(&binary, &dir)).collect();
        runs.sort_by_key(|r| r.elapsed);
        let median = runs[runs.len() / 2].elapsed;
        let peak = runs.iter().filter_map(|r| r.peak_rss).max();
        if median >= goal.time {
            missed.push(format!(
                "{} files: {} (median), over the {} target by {} ({:.0}%)",
                goal.files,
                secs(median),
                secs(goal.time),
                secs(median - goal.time),
                100.0 * (median.as_secs_f64() / goal.time.as_secs_f64() - 1.0)
            ));
        }
        if let (Some(limit), Some(peak)) = (goal.memory, peak) {
            if peak >= limit {
                missed.push(format!(
                    "{} files: peak memory {} MB, over {} MB",
                    goal.files,
                    peak / MB,
                    limit / MB
                ));
            }
        }
        rows.push((goal, runs, median, peak));
    }

    println!();
    println!("snapshot fleet through the binary, reports off, {BENCHMARK}, {} cores", cores());
    println!(
        "{:>7} {:>5} {:>10} {:>10} {:>9} {:>14} {:>12}",
        "files", "runs", "median", "min", "target", "peak RSS", "memory goal"
    );
    for (goal, runs, median, peak) in &rows {
        println!(
            "{:>7} {:>5} {:>10} {:>10} {:>9} {:>14} {:>12}",
            goal.files,
            runs.len(),
            secs(*median),
            secs(runs[0].elapsed),
            format!("< {}", secs(goal.time)),
            peak.map_or("?".into(), |p| format!("{:.1} MB", p as f64 / MB as f64)),
            goal.memory
                .map_or("-".into(), |m| format!("< {} MB", m / MB))
        );
    }
    if let [(small, _, _, Some(small_peak)), (large, _, _, Some(large_peak))] = rows.as_slice() {
        let per_node = (*large_peak as f64 - *small_peak as f64) / (large.files - small.files) as f64;
        println!(
            "peak RSS growth per extra node: {:.1} KB (one snapshot as JSON: {} KB)",
            per_node / 1024.0,
            template.len() / 1024
        );
    }
    profile_phases(&all, 200);
    println!(
        "targets: {}",
        if missed.is_empty() { "met" } else { "MISSED" }
    );
    for reason in &missed {
        println!("  missed: {reason}");
    }
    if !missed.is_empty() {
        std::process::exit(1);
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The example control-plane directory, scanned once through a recorder: the snapshot
/// holds exactly what a `--benchmark cis-1.12` scan of it asks.
fn record_snapshot() -> Snapshot {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshots/control-plane-1");
    let facts = RecordingFacts::new(SnapshotDirFacts::open(&example).expect("example snapshot opens"));
    let tree = BenchmarkTree::Embedded;
    let request = Request {
        benchmark: Some(BENCHMARK.into()),
        ..Request::default()
    };
    let selection = choose::benchmark(&tree, &request, &facts, || None).expect("benchmark");
    let config = BenchmarkConfig::load(&tree, Some(&selection.benchmark)).expect("config");
    let targets = choose::targets(&config, &selection.benchmark, &request, &facts).expect("targets");
    let filter = CheckFilter::default();
    let plan = ScanPlan {
        tree: &tree,
        config: &config,
        benchmark: &selection.benchmark,
        targets: &targets,
        filter: &filter,
    };
    scan_node(&plan, &facts, "recording", detect::roles_of(&targets), &mut |_| {})
        .expect("the example scans");
    let mut snapshot = facts.into_snapshot(None);
    snapshot.node.name = NAME_PLACEHOLDER.into();
    snapshot
}

fn file_name(index: usize) -> String {
    format!("cp-{index:05}.json.gz")
}

fn write_fleet(dir: &Path, template: &str, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    (0..count).into_par_iter().for_each(|index| {
        let json = template.replace(NAME_PLACEHOLDER, &format!("cp-{index:05}"));
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(json.as_bytes()).unwrap();
        std::fs::write(dir.join(file_name(index)), encoder.finish().unwrap())
            .expect("write a snapshot file");
    });
}

/// The first `count` files of the full fleet, hard-linked.
fn link_subset(all: &Path, dir: &Path, count: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for index in 0..count {
        let name = file_name(index);
        std::fs::hard_link(all.join(&name), dir.join(&name)).expect("hard link");
    }
    dir.to_path_buf()
}

/// A handful of files with `--json`: every node evaluated, none unreadable, distinct names.
fn check_every_node_evaluates(binary: &Path, all: &Path, work: &Path) {
    let dir = link_subset(all, &work.join("fleet-check"), 5);
    let json = work.join("check.json");
    let output = Command::new(binary)
        .args(["scan", "--quiet", "--benchmark", BENCHMARK, "--snapshot"])
        .arg(&dir)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run cisgate");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "cisgate scan: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).expect("results are JSON");
    let nodes = results["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5, "every snapshot is a node");
    assert_eq!(results["unreadable"].as_array().map_or(0, Vec::len), 0);
    let checks = &results["totals"];
    println!(
        "each node: {} checks (pass {} fail {} warn {} info {} error {}), results JSON {} KB per node",
        ["pass", "fail", "warn", "info", "error"]
            .iter()
            .map(|k| checks[k].as_u64().unwrap_or(0))
            .sum::<u64>()
            / 5,
        checks["pass"].as_u64().unwrap_or(0) / 5,
        checks["fail"].as_u64().unwrap_or(0) / 5,
        checks["warn"].as_u64().unwrap_or(0) / 5,
        checks["info"].as_u64().unwrap_or(0) / 5,
        checks["error"].as_u64().unwrap_or(0) / 5,
        std::fs::metadata(&json).unwrap().len() / 5 / 1024
    );
}

struct Run {
    elapsed: Duration,
    peak_rss: Option<u64>,
}

/// `cisgate scan --snapshot DIR --quiet --benchmark cis-1.12`, timed, with its peak RSS.
fn run_binary(binary: &Path, dir: &Path) -> Run {
    let gnu_time = Path::new("/usr/bin/time");
    let rss_file = dir.with_extension("time");
    let mut command = if gnu_time.is_file() {
        let mut command = Command::new(gnu_time);
        command.arg("-v").arg("-o").arg(&rss_file).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .args(["scan", "--quiet", "--benchmark", BENCHMARK, "--snapshot"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn().expect("start cisgate");
    let mut polled = None;
    if !gnu_time.is_file() {
        let status = PathBuf::from(format!("/proc/{}/status", child.id()));
        while child.try_wait().expect("wait").is_none() {
            polled = std::fs::read_to_string(&status)
                .ok()
                .and_then(|text| vm_hwm(&text))
                .or(polled);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let output = child.wait_with_output().expect("cisgate finishes");
    let elapsed = start.elapsed();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "cisgate scan --snapshot {}: {:?}\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let peak_rss = if gnu_time.is_file() {
        std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|text| max_rss(&text))
    } else {
        polled
    };
    Run { elapsed, peak_rss }
}

/// GNU time's `Maximum resident set size (kbytes): N`, in bytes.
fn max_rss(report: &str) -> Option<u64> {
    kilobytes_after(report, "Maximum resident set size (kbytes):")
}

/// `/proc/<pid>/status`'s `VmHWM: N kB`, in bytes.
fn vm_hwm(status: &str) -> Option<u64> {
    kilobytes_after(status, "VmHWM:")
}

fn kilobytes_after(text: &str, label: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.trim().strip_prefix(label))?;
    let number = line.split_whitespace().next()?;
    Some(number.parse::<u64>().ok()? * 1024)
}

/// Where one node's time goes, single-threaded and in-process over `count` files:
/// reading and parsing the snapshot, resolving variables, loading the definitions,
/// running the checks.
fn profile_phases(dir: &Path, count: usize) {
    let tree = BenchmarkTree::Embedded;
    let config = BenchmarkConfig::load(&tree, Some(BENCHMARK)).expect("config");
    let request = Request {
        benchmark: Some(BENCHMARK.into()),
        ..Request::default()
    };
    let filter = CheckFilter::default();
    let mut phases = [Duration::ZERO; 5];
    for index in 0..count {
        let mut clock = Instant::now();
        let mut lap = |phase: usize| {
            let now = Instant::now();
            phases[phase] += now - clock;
            clock = now;
        };
        let facts = SnapshotFacts::load(&dir.join(file_name(index))).expect("snapshot loads");
        lap(0);
        let targets = choose::targets(&config, BENCHMARK, &request, &facts).expect("targets");
        lap(1);
        for target in &targets {
            let resolution = resolve(&config, target, &facts).expect("resolve");
            lap(2);
            let loaded = load_controls(&tree, BENCHMARK, target, &resolution.variables, &mut |_| {})
                .expect("controls load");
            lap(3);
            let ctx = TargetContext {
                facts: &facts as &dyn Facts,
                variables: &resolution.variables,
                missing: &resolution.missing,
                filter: &filter,
            };
            std::hint::black_box(run_controls(&loaded, &ctx));
            lap(4);
        }
    }
    let total: Duration = phases.iter().sum();
    println!("where one node's time goes (1 thread, in-process, mean of {count} nodes):");
    for (name, spent) in [
        "read + gunzip + parse the snapshot",
        "choose the targets",
        "resolve variables",
        "load the definitions (YAML)",
        "run the checks",
    ]
    .iter()
    .zip(phases)
    {
        println!(
            "  {:<38} {:>9.3} ms {:>5.1}%",
            name,
            spent.as_secs_f64() * 1000.0 / count as f64,
            100.0 * spent.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "  {:<38} {:>9.3} ms",
        "total",
        total.as_secs_f64() * 1000.0 / count as f64
    );
}

fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}
