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
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::load::load_controls;
use cisgate::definitions::tree::BenchmarkTree;
use cisgate::engine::choose::{self, Request};
use cisgate::engine::detect;
use cisgate::engine::run::{run_controls, CheckFilter, ProbeAnswers, TargetContext};
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
    time: Option<Duration>,
    memory: Option<u64>,
}

/// 100 files have no goal of their own: with 1,000 they give the memory growth per node.
const GOALS: [Goal; 3] = [
    Goal {
        files: 100,
        time: None,
        memory: None,
    },
    Goal {
        files: 1_000,
        time: Some(Duration::from_secs(1)),
        memory: None,
    },
    Goal {
        files: 10_000,
        time: Some(Duration::from_secs(10)),
        memory: Some(512 * MB),
    },
];

/// Runs of one fleet size repeat (up to 3) while they have taken less than this.
const REPEAT_WITHIN: Duration = Duration::from_secs(15);
/// A run still going after this is stopped and reported as "over": the bench stays short.
const DEADLINE: Duration = Duration::from_secs(30);

fn main() {
    // `cargo test --benches` / `--all-targets` runs this binary without `--bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("snapshot_fleet is a benchmark: run it with `cargo bench --bench snapshot_fleet`");
        return;
    }
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cisgate"));
    let work = tempfile::TempDir::new().expect("temp dir");
    let snapshot = record_snapshot();
    let template = serde_json::to_string(&snapshot).expect("snapshot serializes");
    let largest = GOALS.iter().map(|g| g.files).max().unwrap();
    // For profiling the binary on exactly this work (docs/performance.md).
    if let Some(out) = std::env::var_os("CISGATE_BENCH_FLEET_OUT") {
        write_fleet(Path::new(&out), &template, largest);
        println!(
            "wrote {largest} snapshot files to {}",
            Path::new(&out).display()
        );
        return;
    }
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
            link_subset(
                &all,
                &work.path().join(format!("fleet-{}", goal.files)),
                goal.files,
            )
        };
        let row = measure(&binary, &dir, goal);
        missed.extend(row.misses(goal));
        rows.push(row);
    }

    println!();
    println!(
        "snapshot fleet through the binary, reports off, {BENCHMARK}, {} cores",
        cores()
    );
    println!(
        "{:>7} {:>5} {:>12} {:>10} {:>10} {:>10} {:>16} {:>11}",
        "files", "runs", "median", "min", "target", "CPU", "peak RSS", "RSS goal"
    );
    for (goal, row) in GOALS.iter().zip(&rows) {
        row.print(goal);
    }
    if let Some(per_node) = rss_growth_per_node(&rows) {
        println!(
            "peak RSS growth per extra node ({} → {} files): {:.0} KB; one snapshot is {} KB as JSON",
            GOALS[0].files,
            GOALS[1].files,
            per_node / 1024.0,
            template.len() / 1024
        );
    }
    if let Some(cpu) = rows[1].median().cpu.filter(|_| !rows[1].median().stopped) {
        let per_node = cpu.as_secs_f64() / rows[1].files as f64;
        println!(
            "CPU per node: {:.1} ms; on {} idle cores that is {:.1} s for 1,000 files and {:.0} s \
             for 10,000 (estimate: CPU time / cores; wall times above include other load)",
            per_node * 1000.0,
            cores(),
            per_node * 1_000.0 / cores() as f64,
            per_node * 10_000.0 / cores() as f64
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
    let facts =
        RecordingFacts::new(SnapshotDirFacts::open(&example).expect("example snapshot opens"));
    let tree = BenchmarkTree::Embedded;
    let request = Request {
        benchmark: Some(BENCHMARK.into()),
        ..Request::default()
    };
    let selection = choose::benchmark(
        &tree,
        &request,
        &facts,
        || BenchmarkConfig::load(&tree, None).map(std::sync::Arc::new),
        || None,
    )
    .expect("benchmark")
    .selection;
    let config = BenchmarkConfig::load(&tree, Some(&selection.benchmark)).expect("config");
    let targets =
        choose::targets(&config, &selection.benchmark, &request, &facts, None).expect("targets");
    let filter = CheckFilter::default();
    let plan = ScanPlan {
        tree: &tree,
        config: &config,
        benchmark: &selection.benchmark,
        targets: &targets,
        filter: &filter,
        loaded: &Default::default(),
    };
    scan_node(
        &plan,
        &facts,
        "recording",
        detect::roles_of(&targets),
        &mut |_| {},
    )
    .expect("the example scans");
    let allow = cisgate::engine::reads::allowlist(&tree, &config, &selection.benchmark, &targets)
        .expect("allowlist");
    let mut snapshot = facts.into_snapshot(None, &allow);
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
    /// Stopped at [`DEADLINE`]: `elapsed` is a lower bound.
    stopped: bool,
    peak_rss: Option<u64>,
    /// User + system CPU time of cisgate: what the run costs without other load.
    cpu: Option<Duration>,
}

struct Row {
    files: usize,
    /// Sorted by time.
    runs: Vec<Run>,
}

impl Row {
    fn median(&self) -> &Run {
        &self.runs[self.runs.len() / 2]
    }

    fn peak_rss(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.peak_rss).max()
    }

    fn misses(&self, goal: &Goal) -> Vec<String> {
        let mut misses = Vec::new();
        let median = self.median();
        if let Some(time) = goal.time.filter(|time| median.elapsed >= *time) {
            misses.push(format!(
                "{} files: {}{} (median), over the {} target by {}{} ({:.0}x the target)",
                self.files,
                if median.stopped { "over " } else { "" },
                secs(median.elapsed),
                secs(time),
                if median.stopped { "more than " } else { "" },
                secs(median.elapsed - time),
                median.elapsed.as_secs_f64() / time.as_secs_f64()
            ));
        }
        if let (Some(limit), Some(peak)) = (goal.memory, self.peak_rss()) {
            if peak >= limit {
                misses.push(format!(
                    "{} files: peak memory {}{} MB, over {} MB",
                    self.files,
                    if median.stopped { "at least " } else { "" },
                    peak / MB,
                    limit / MB
                ));
            }
        }
        misses
    }

    fn print(&self, goal: &Goal) {
        let median = self.median();
        let over = if median.stopped { "> " } else { "" };
        println!(
            "{:>7} {:>5} {:>12} {:>10} {:>10} {:>10} {:>16} {:>11}",
            self.files,
            self.runs.len(),
            format!("{over}{}", secs(median.elapsed)),
            format!("{over}{}", secs(self.runs[0].elapsed)),
            goal.time.map_or("-".into(), |t| format!("< {}", secs(t))),
            median
                .cpu
                .map_or("?".into(), |c| format!("{over}{}", secs(c))),
            self.peak_rss().map_or("?".into(), |p| format!(
                "{}{:.1} MB",
                if median.stopped { ">= " } else { "" },
                p as f64 / MB as f64
            )),
            goal.memory
                .map_or("-".into(), |m| format!("< {} MB", m / MB))
        );
    }
}

/// Runs one fleet size up to three times, while the runs so far took under [`REPEAT_WITHIN`].
fn measure(binary: &Path, dir: &Path, goal: &Goal) -> Row {
    let mut runs = Vec::new();
    let started = Instant::now();
    while runs.len() < 3 && started.elapsed() < REPEAT_WITHIN {
        let run = run_binary(binary, dir);
        let stopped = run.stopped;
        runs.push(run);
        if stopped {
            break;
        }
    }
    runs.sort_by_key(|r| r.elapsed);
    Row {
        files: goal.files,
        runs,
    }
}

fn rss_growth_per_node(rows: &[Row]) -> Option<f64> {
    let [small, medium, ..] = rows else {
        return None;
    };
    let grown = medium.peak_rss()? as f64 - small.peak_rss()? as f64;
    Some(grown / (medium.files - small.files) as f64)
}

/// `cisgate scan --snapshot DIR --quiet --benchmark cis-1.12`, timed, with its peak RSS:
/// GNU time's report when the run ends, the polled VmHWM when it is stopped.
fn run_binary(binary: &Path, dir: &Path) -> Run {
    let gnu_time = Path::new("/usr/bin/time").is_file();
    let rss_file = dir.with_extension("time");
    let mut command = if gnu_time {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-v").arg("-o").arg(&rss_file).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .args(["scan", "--quiet", "--benchmark", BENCHMARK, "--snapshot"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = command.spawn().expect("start cisgate");
    let mut scanner = (!gnu_time).then_some(child.id());
    let mut polled = None;
    let mut polled_cpu = None;
    let mut stopped = false;
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() >= DEADLINE {
            // The group is the time wrapper and cisgate, both started here.
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            stopped = true;
            break;
        }
        scanner = scanner.or_else(|| first_child_of(child.id()));
        if let Some(pid) = scanner {
            polled = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|text| vm_hwm(&text))
                .or(polled);
            polled_cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|text| cpu_of_stat(&text))
                .or(polled_cpu);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("cisgate finishes");
    let elapsed = start.elapsed();
    if stopped {
        return Run {
            elapsed,
            stopped,
            peak_rss: polled,
            cpu: polled_cpu,
        };
    }
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "cisgate scan --snapshot {}: {:?}\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report = gnu_time
        .then(|| std::fs::read_to_string(&rss_file).ok())
        .flatten()
        .unwrap_or_default();
    Run {
        elapsed,
        stopped,
        peak_rss: max_rss(&report).or(polled),
        cpu: cpu_of_time_report(&report).or(polled_cpu),
    }
}

/// The process GNU time started (`/proc/<pid>/task/<pid>/children`).
fn first_child_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// GNU time's `Maximum resident set size (kbytes): N`, in bytes.
fn max_rss(report: &str) -> Option<u64> {
    kilobytes_after(report, "Maximum resident set size (kbytes):")
}

/// GNU time's `User time (seconds)` + `System time (seconds)`.
fn cpu_of_time_report(report: &str) -> Option<Duration> {
    let seconds = |label: &str| -> Option<f64> {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))?
            .trim()
            .parse()
            .ok()
    };
    Some(Duration::from_secs_f64(
        seconds("User time (seconds):")? + seconds("System time (seconds):")?,
    ))
}

/// utime + stime from `/proc/<pid>/stat` (fields 14 and 15, in clock ticks of 1/100 s
/// on Linux).
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// `/proc/<pid>/status`'s `VmHWM: N kB`, in bytes.
fn vm_hwm(status: &str) -> Option<u64> {
    kilobytes_after(status, "VmHWM:")
}

fn kilobytes_after(text: &str, label: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))?;
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
    // As the binary does: controls parsed once per target and set of variables, probes
    // answered once per node.
    let mut loaded_once = std::collections::HashMap::new();
    for index in 0..count {
        let mut clock = Instant::now();
        let mut lap = |phase: usize| {
            let now = Instant::now();
            phases[phase] += now - clock;
            clock = now;
        };
        let facts = SnapshotFacts::load(&dir.join(file_name(index))).expect("snapshot loads");
        lap(0);
        let targets = choose::targets(&config, BENCHMARK, &request, &facts, None).expect("targets");
        lap(1);
        let answers = ProbeAnswers::default();
        for target in &targets {
            let resolution = resolve(&config, target, &facts).expect("resolve");
            lap(2);
            let loaded = loaded_once
                .entry((target.clone(), resolution.variables.clone()))
                .or_insert_with(|| {
                    load_controls(&tree, BENCHMARK, target, &resolution.variables, &mut |_| {})
                        .expect("controls load")
                });
            lap(3);
            let ctx = TargetContext {
                facts: &facts as &dyn Facts,
                variables: &resolution.variables,
                missing: &resolution.missing,
                filter: &filter,
                answers: &answers,
            };
            std::hint::black_box(run_controls(loaded, &ctx));
            lap(4);
        }
    }
    let total: Duration = phases.iter().sum();
    println!("where one node's time goes (1 thread, in-process, mean of {count} nodes):");
    for (name, spent) in [
        "read + gunzip + parse the snapshot",
        "choose the targets",
        "resolve variables",
        "load the definitions (once per layout)",
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
