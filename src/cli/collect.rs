//! `cisgate collect`: on a node, record exactly the facts the selected benchmark asks
//! for — probes and shell audits alike — into a snapshot that scans offline with the
//! same verdicts. Only what the benchmark's checks read is stored (`engine::reads`,
//! `facts::allowlist`); every other value is removed before anything is written.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::{LimitArgs, LiveArgs, SelectionArgs};
use crate::definitions::config::BenchmarkConfig;
use crate::definitions::select::KubernetesVersion;
use crate::engine::detect;
use crate::engine::reads;
use crate::engine::run::CheckFilter;
use crate::engine::substitute::program_of;
use crate::facts::live::LiveFacts;
use crate::facts::recording::RecordingFacts;
use crate::facts::Facts;
use crate::report::sanitize;
use crate::report::write_output;
use crate::runner::{api_server_version, NodeFailure, NodeRunner};

#[derive(Debug, Args)]
pub struct CollectCommand {
    /// Where to write the snapshot (`.json`, or `.json.gz` compressed; `-` for stdout).
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
    /// Leave out the collection time, for snapshots that are byte-identical run to run.
    #[arg(long)]
    no_timestamp: bool,
    /// The cluster the node belongs to, recorded in the snapshot (scans store the run under
    /// it) [default: the kubeconfig's current context, when there is one]
    #[arg(long, value_name = "NAME", env = "CISGATE_CLUSTER")]
    cluster: Option<String>,
    /// Keep running and collect again every DURATION (e.g. 24h, 30m): a collector pod that
    /// needs no shell. A failed collection is reported on stderr and tried again next time.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    every: Option<std::time::Duration>,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    node: LiveArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

pub fn run(cmd: CollectCommand) -> anyhow::Result<i32> {
    cmd.limits.apply();
    cmd.node.ensure_root_is_a_node()?;
    let Some(interval) = cmd.every else {
        return collect_once(&cmd);
    };
    loop {
        if let Err(error) = collect_once(&cmd) {
            eprintln!(
                "cisgate: collect failed (next try in {} s): {error:#}",
                interval.as_secs()
            );
        }
        std::thread::sleep(interval);
    }
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    match super::history::parse_duration(text) {
        Ok(seconds) if seconds > 0 => Ok(std::time::Duration::from_secs(seconds as u64)),
        Ok(_) => Err("the interval must be longer than 0".into()),
        Err(error) => Err(error.to_string()),
    }
}

fn collect_once(cmd: &CollectCommand) -> anyhow::Result<i32> {
    let tree = cmd.selection.tree()?;
    let live = LiveFacts::new(cmd.node.options());
    let recording = RecordingFacts::new(live);
    let runner = NodeRunner::new(&tree, cmd.selection.request(), CheckFilter::default());
    let source = recording.describe();
    let evaluated = runner
        .evaluate(&recording, &source, || {
            api_server_version(recording.inner())
        })
        .map_err(|failure| match failure {
            NodeFailure::Fatal(error) => error,
            NodeFailure::Unreadable(reason) => anyhow::anyhow!(reason),
        })?;
    let version = detect::kubernetes_version(&recording)
        .map(|v| v.major_minor)
        .or(cmd.selection.k8s_version.clone());
    // The API server's version string names the platform when a snapshot is scanned later,
    // and tells the Kubernetes version where the node's files do not.
    let server_version = api_server_version(recording.inner());
    let version = version.or_else(|| {
        let text = server_version.as_deref()?;
        KubernetesVersion::parse(text, "the API server").map(|v| v.major_minor)
    });
    let timestamp = (!cmd.no_timestamp).then(|| jiff::Timestamp::now().to_string());
    let config = BenchmarkConfig::load(&tree, Some(&evaluated.selection.benchmark))?;
    let allow = reads::allowlist(
        &tree,
        &config,
        &evaluated.selection.benchmark,
        &evaluated.targets,
    )?;
    let programs = component_programs(&config, &evaluated.targets);
    recording.retain_processes(|process| programs.contains(&process.comm));
    let mut snapshot = recording.into_snapshot(timestamp, &allow);
    if let Some(cluster) = cmd
        .cluster
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        snapshot.node.cluster = Some(cluster.to_string());
    }
    if snapshot.node.kubernetes_version.is_none() {
        snapshot.node.kubernetes_version = version;
    }
    if snapshot.node.server_version.is_none() {
        snapshot.node.server_version = server_version;
    }
    if snapshot.node.roles.is_empty() {
        snapshot.node.roles = detect::roles_of(&evaluated.targets);
    }
    let bytes = snapshot.bytes_for_path(&cmd.output);
    if let Some(dir) = cmd.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    write_output(&cmd.output, &bytes)
        .with_context(|| format!("cannot write {}", cmd.output.display()))?;
    for fact in snapshot.unreadable_facts() {
        eprintln!("cisgate: could not read {}", sanitize::for_terminal(&fact));
    }
    eprintln!(
        "cisgate: collected {} for {} ({}; targets {})",
        cmd.output.display(),
        snapshot.node.name,
        evaluated.selection.benchmark,
        evaluated.targets.join(", ")
    );
    Ok(0)
}

/// The processes a check can ask about: those whose kernel command name is the program of
/// some component's candidate binaries. Everything else running on the node (and its
/// command line) stays out of the snapshot. Shell audits are recorded with their own
/// output, so they do not need the process list.
fn component_programs(config: &BenchmarkConfig, targets: &[String]) -> BTreeSet<String> {
    targets
        .iter()
        .flat_map(|target| config.components(target))
        .flat_map(|component| component.bins)
        .filter_map(|bin| program_of(&bin))
        .collect()
}
