//! Issue 4: section 5 (the embedded cis-1.12 `policies` target) over 10,000 API objects.
//! Target: under 1 s, each kind read once however many objects there are.
//!
//! The objects are the cis-1.12 API fixtures (`tests/fixtures/cis-1.12/api/{good,bad}`)
//! repeated under new names and namespaces up to 10,000, spread over the kinds section 5
//! reads. Two sources serve them:
//!
//! - in-process: a `Facts` that hands out the generated objects and counts `api_objects`
//!   calls per kind. This times the engine alone. The calls per kind must be the same for
//!   1,000 and 10,000 objects (no call per object).
//! - kubectl: the real `LiveFacts`, whose kubectl is a script here that prints the
//!   generated list for `get KIND --all-namespaces -o json` and logs each call. This is the
//!   whole path of a live `policies` scan; each kind must be listed exactly once.
//!
//! Run: `cargo bench --bench policies`. Exits 1 when a target is missed.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::tree::BenchmarkTree;
use cisgate::engine::run::CheckFilter;
use cisgate::engine::scan::{scan_node, ScanPlan};
use cisgate::facts::kubectl::KubectlOptions;
use cisgate::facts::live::{LiveFacts, LiveOptions};
use cisgate::facts::{
    FactError, Facts, FileStat, NodeIdentity, ProcessList, ShellCommand, ShellOutput,
};
use cisgate::results::{NodeResults, Totals};
use serde_json::{json, Value};

const BENCHMARK: &str = "cis-1.12";
const TARGET: Duration = Duration::from_secs(1);
/// Timed runs per source: up to this many, while they have taken under [`REPEAT_WITHIN`].
const RUNS: usize = 10;
const REPEAT_WITHIN: Duration = Duration::from_secs(10);
const NAMESPACES: usize = 250;

/// How 10,000 objects are spread over the kinds section 5 reads.
const MIX: [(&str, usize); 9] = [
    ("pods", 4_500),
    ("serviceaccounts", 1_500),
    ("rolebindings", 1_200),
    ("roles", 800),
    ("clusterroles", 500),
    ("clusterrolebindings", 500),
    ("services", 500),
    ("namespaces", 250),
    ("networkpolicies", 250),
];

fn main() {
    // `cargo test --benches` / `--all-targets` runs this binary without `--bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("policies is a benchmark: run it with `cargo bench --bench policies`");
        return;
    }
    let mut missed = Vec::new();
    let small = generate(10);
    let large = generate(1);
    let total: usize = large.values().map(Vec::len).sum();
    assert_eq!(total, 10_000);
    if let Some(path) = std::env::var_os("CISGATE_BENCH_SNAPSHOT_OUT") {
        write_api_snapshot(Path::new(&path), &large);
    }

    let small_run = measure_in_process(&small, 1);
    let in_process = measure_in_process(&large, RUNS);
    if small_run.calls != in_process.calls {
        missed.push(format!(
            "api_objects calls per kind depend on the number of objects: {:?} for 1,000, {:?} for 10,000",
            small_run.calls, in_process.calls
        ));
    }
    let through_kubectl = measure_kubectl(&large, RUNS);
    for (kind, count) in &through_kubectl.calls {
        if *count != 1 {
            missed.push(format!(
                "kubectl listed {kind} {count} times in one scan, not once"
            ));
        }
    }
    for kind in in_process.calls.keys() {
        if !through_kubectl.calls.contains_key(kind) {
            missed.push(format!("kubectl never listed {kind}"));
        }
    }
    for (name, m) in [("in-process", &in_process), ("kubectl", &through_kubectl)] {
        if m.median >= TARGET {
            missed.push(format!(
                "{name}: {} (median), over the {} target by {}",
                ms(m.median),
                ms(TARGET),
                ms(m.median - TARGET)
            ));
        }
    }

    println!();
    println!("section 5 (policies), {BENCHMARK}, {total} API objects");
    println!(
        "{:<30} {:>5} {:>11} {:>11} {:>20}",
        "source", "runs", "median", "min", "pass/fail/warn/info/err"
    );
    in_process.print_row("in-process Facts");
    through_kubectl.print_row("LiveFacts + scripted kubectl");
    println!("reads per kind ({total} objects):");
    println!(
        "  {:<22} {:>8} {:>24} {:>16}",
        "kind", "objects", "api_objects calls (1k/10k)", "kubectl lists"
    );
    for (kind, calls) in &in_process.calls {
        println!(
            "  {:<22} {:>8} {:>24} {:>16}",
            kind,
            large.get(kind.as_str()).map_or(0, Vec::len),
            format!(
                "{}/{}",
                small_run.calls.get(kind).copied().unwrap_or(0),
                calls
            ),
            through_kubectl.calls.get(kind).copied().unwrap_or(0)
        );
    }
    slowest_checks(&large, 8);
    println!(
        "target: under {} with each kind listed once: {}",
        ms(TARGET),
        if missed.is_empty() { "met" } else { "MISSED" }
    );
    for reason in &missed {
        println!("  missed: {reason}");
    }
    if !missed.is_empty() {
        std::process::exit(1);
    }
}

type Objects = BTreeMap<&'static str, Vec<Value>>;

struct Measurement {
    runs: usize,
    median: Duration,
    min: Duration,
    /// Reads per kind in one scan.
    calls: BTreeMap<String, usize>,
    totals: Totals,
}

impl Measurement {
    fn print_row(&self, name: &str) {
        let t = &self.totals;
        println!(
            "{:<30} {:>5} {:>11} {:>11} {:>20}",
            name,
            self.runs,
            ms(self.median),
            ms(self.min),
            format!("{}/{}/{}/{}/{}", t.pass, t.fail, t.warn, t.info, t.error)
        );
    }
}

fn measure_in_process(objects: &Objects, runs: usize) -> Measurement {
    let mut last = None;
    let times = timed(runs, || {
        let facts = ServedApi::new(objects);
        let start = Instant::now();
        let totals = scan_policies(&facts);
        let elapsed = start.elapsed();
        last = Some((facts.calls(), totals));
        elapsed
    });
    let (calls, totals) = last.expect("at least one run");
    Measurement::new(times, calls, totals)
}

fn measure_kubectl(objects: &Objects, runs: usize) -> Measurement {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let kubectl = write_scripted_kubectl(dir.path(), objects);
    let log = dir.path().join("calls.log");
    let mut last = None;
    let times = timed(runs, || {
        let _ = std::fs::remove_file(&log);
        let start = Instant::now();
        let facts = LiveFacts::new(LiveOptions {
            root: dir.path().to_path_buf(),
            kubectl: KubectlOptions {
                binary: kubectl.clone(),
                ..KubectlOptions::default()
            },
            ..LiveOptions::default()
        });
        let totals = scan_policies(&facts);
        let elapsed = start.elapsed();
        last = Some((kubectl_calls(&log), totals));
        elapsed
    });
    let (calls, totals) = last.expect("at least one run");
    Measurement::new(times, calls, totals)
}

impl Measurement {
    fn new(mut times: Vec<Duration>, calls: BTreeMap<String, usize>, totals: Totals) -> Self {
        times.sort();
        Measurement {
            runs: times.len(),
            median: times[times.len() / 2],
            min: times[0],
            calls,
            totals,
        }
    }
}

/// One untimed warm-up, then up to `runs` timed runs (fewer when they are slow).
fn timed(runs: usize, mut run: impl FnMut() -> Duration) -> Vec<Duration> {
    run();
    let mut times = Vec::new();
    while times.len() < runs && times.iter().sum::<Duration>() < REPEAT_WITHIN {
        times.push(run());
    }
    times
}

fn scan_policies(facts: &dyn Facts) -> Totals {
    scan_checks(facts, CheckFilter::default()).totals
}

fn scan_checks(facts: &dyn Facts, filter: CheckFilter) -> NodeResults {
    let tree = BenchmarkTree::Embedded;
    let config = BenchmarkConfig::load(&tree, Some(BENCHMARK)).expect("config.yaml loads");
    let targets = vec!["policies".to_string()];
    let plan = ScanPlan {
        tree: &tree,
        config: &config,
        benchmark: BENCHMARK,
        targets: &targets,
        filter: &filter,
        loaded: &Default::default(),
    };
    let results = scan_node(&plan, facts, "bench", Vec::new(), &mut |_| {})
        .expect("the policies target runs");
    assert!(
        results.totals.error == 0,
        "no check may fail to evaluate: {:?}",
        results.totals
    );
    results
}

/// Each check of section 5 alone (`--check ID`), slowest first: where the time goes.
fn slowest_checks(objects: &Objects, shown: usize) {
    let facts = ServedApi::new(objects);
    let all = scan_checks(&facts, CheckFilter::default());
    let mut times: Vec<(Duration, String, String)> = all
        .sections
        .iter()
        .flat_map(|section| &section.groups)
        .flat_map(|group| &group.checks)
        .map(|check| {
            let start = Instant::now();
            scan_checks(
                &facts,
                CheckFilter {
                    only_checks: vec![check.id.to_string()],
                    ..CheckFilter::default()
                },
            );
            (
                start.elapsed(),
                check.id.to_string(),
                check.text.to_string(),
            )
        })
        .collect();
    times.sort_by_key(|t| std::cmp::Reverse(t.0));
    let total: Duration = times.iter().map(|t| t.0).sum();
    println!(
        "slowest checks, each run alone (all {} together: {}):",
        times.len(),
        ms(total)
    );
    for (time, id, text) in times.iter().take(shown) {
        let text: String = text.chars().take(60).collect();
        println!("  {:<8} {:>10}  {text}", id, ms(*time));
    }
}

/// 10,000 / `shrink` objects in the [`MIX`], made from the API fixtures.
fn generate(shrink: usize) -> Objects {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cis-1.12/api");
    MIX.iter()
        .map(|&(kind, count)| {
            let templates: Vec<Value> = ["good", "bad"]
                .iter()
                .flat_map(|set| items_of(&fixtures.join(set).join(format!("{kind}.json"))))
                .collect();
            assert!(!templates.is_empty(), "no {kind} fixtures");
            let objects = (0..count / shrink)
                .map(|i| renamed(&templates[i % templates.len()], kind, i))
                .collect();
            (kind, objects)
        })
        .collect()
}

fn items_of(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let list: Value = serde_json::from_str(&text).expect("fixture is JSON");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The template under a name of its own; namespaced objects outside the system
/// namespaces are spread over `ns-0000`... (the generated namespaces are those names).
fn renamed(template: &Value, kind: &str, i: usize) -> Value {
    let mut object = template.clone();
    let metadata = &mut object["metadata"];
    if kind == "namespaces" {
        metadata["name"] = json!(namespace_name(i));
        return object;
    }
    let name = metadata["name"].as_str().unwrap_or("object").to_string();
    metadata["name"] = json!(format!("{name}-{i}"));
    let namespace = metadata["namespace"].as_str().map(str::to_string);
    if let Some(namespace) = namespace {
        if !["default", "kube-system", "kube-public"].contains(&namespace.as_str()) {
            metadata["namespace"] = json!(namespace_name(i % NAMESPACES));
        }
    }
    object
}

fn namespace_name(i: usize) -> String {
    format!("ns-{i:04}")
}

/// A kubectl stand-in: prints the generated list of a kind, logs each list call.
fn write_scripted_kubectl(dir: &Path, objects: &Objects) -> PathBuf {
    for (kind, items) in objects {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        std::fs::write(
            dir.join(format!("{kind}.json")),
            serde_json::to_vec(&list).unwrap(),
        )
        .expect("write a kind's list");
    }
    let script = format!(
        "#!/bin/sh\n\
         # kubectl get KIND --all-namespaces -o json | kubectl get --raw /version\n\
         dir='{dir}'\n\
         if [ \"$2\" = --raw ]; then echo '{{\"gitVersion\":\"v1.33.1\"}}'; exit 0; fi\n\
         echo \"$2\" >> \"$dir/calls.log\"\n\
         if [ -f \"$dir/$2.json\" ]; then exec cat \"$dir/$2.json\"; fi\n\
         echo \"error: the server doesn't have a resource type \\\"$2\\\"\" >&2\n\
         exit 1\n",
        dir = dir.display()
    );
    let path = dir.join("kubectl");
    std::fs::write(&path, script).expect("write the kubectl script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The objects as a snapshot file, to profile the binary on the same work:
/// `cisgate scan --snapshot FILE --benchmark cis-1.12 --targets policies --quiet`.
fn write_api_snapshot(path: &Path, objects: &Objects) {
    let kinds: serde_json::Map<String, Value> = objects
        .iter()
        .map(|(kind, items)| (kind.to_string(), json!({ "items": items })))
        .collect();
    let snapshot = json!({
        "snapshot_version": cisgate::facts::snapshot::SNAPSHOT_VERSION,
        "node": {"name": "bench-cluster"},
        "processes": [],
        "api": {"reachable": true, "kinds": kinds},
    });
    std::fs::write(path, serde_json::to_vec(&snapshot).unwrap()).expect("write the snapshot");
    println!("wrote {}", path.display());
}

fn kubectl_calls(log: &Path) -> BTreeMap<String, usize> {
    let mut calls = BTreeMap::new();
    for kind in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *calls.entry(kind.to_string()).or_insert(0) += 1;
    }
    calls
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// A cluster's API objects and nothing else: no processes, no files, no shell.
struct ServedApi<'a> {
    objects: &'a Objects,
    calls: Mutex<BTreeMap<String, usize>>,
}

impl<'a> ServedApi<'a> {
    fn new(objects: &'a Objects) -> Self {
        ServedApi {
            objects,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn calls(&self) -> BTreeMap<String, usize> {
        self.calls.lock().unwrap().clone()
    }
}

impl Facts for ServedApi<'_> {
    fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            name: "bench-cluster".into(),
            ..NodeIdentity::default()
        }
    }
    fn describe(&self) -> String {
        "generated API objects".into()
    }
    fn processes(&self) -> Result<ProcessList, FactError> {
        Ok(ProcessList::default())
    }
    fn stat(&self, _path: &str) -> Result<Option<FileStat>, FactError> {
        Ok(None)
    }
    fn read_file(&self, _path: &str) -> Result<Option<String>, FactError> {
        Ok(None)
    }
    fn list_tree(&self, _path: &str) -> Result<Vec<String>, FactError> {
        Ok(Vec::new())
    }
    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        panic!("section 5 ran a shell audit: {}", command.on_node)
    }
    fn shell_path_prefix(&self) -> &str {
        ""
    }
    fn api_objects(&self, kind: &str) -> Result<Vec<Value>, FactError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(kind.to_string())
            .or_insert(0) += 1;
        self.objects
            .get(kind)
            .cloned()
            .ok_or_else(|| FactError::Api {
                kind: kind.into(),
                reason: "not generated".into(),
            })
    }
    fn api_reachable(&self) -> bool {
        true
    }
}
