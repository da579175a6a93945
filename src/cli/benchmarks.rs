//! `cisgate benchmarks list|show` and `cisgate explain`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::load::{controls_file, parse_controls};
use crate::definitions::model::{Audit, Check, Controls};
use crate::definitions::tree::BenchmarkTree;
use crate::engine::substitute::typical_variables;
use crate::report::write_output;

#[derive(Debug, Subcommand)]
pub enum BenchmarksCommand {
    /// The benchmarks of the tree and the Kubernetes versions that map to each.
    List(TreeArgs),
    /// The sections, groups and checks of a benchmark, with automated/manual counts.
    Show {
        name: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// A kube-bench-format benchmark tree instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainCommand {
    /// The check id, e.g. 1.2.1.
    check: String,
    /// The benchmark (default: the newest in the version mapping).
    #[arg(long, value_name = "NAME")]
    benchmark: Option<String>,
    #[command(flatten)]
    tree: TreeArgs,
}

impl TreeArgs {
    fn tree(&self) -> anyhow::Result<BenchmarkTree> {
        Ok(match &self.config_dir {
            Some(dir) => BenchmarkTree::directory(dir)?,
            None => BenchmarkTree::Embedded,
        })
    }
}

pub fn run(cmd: BenchmarksCommand) -> anyhow::Result<i32> {
    match cmd {
        BenchmarksCommand::List(args) => list(&args.tree()?),
        BenchmarksCommand::Show { name, tree } => show(&tree.tree()?, &name),
    }
}

fn list(tree: &BenchmarkTree) -> anyhow::Result<i32> {
    let config = BenchmarkConfig::load(tree, None)?;
    let mapping = config.version_mapping();
    let mut out = String::new();
    writeln!(out, "Benchmarks in the {} tree:", tree.describe())?;
    for name in tree.benchmark_names() {
        let versions: Vec<&str> = mapping
            .iter()
            .filter(|(_, b)| **b == name)
            .map(|(v, _)| v.as_str())
            .collect();
        let targets = config.targets_of(&name).unwrap_or_default().join(", ");
        writeln!(
            out,
            "  {name:<22} Kubernetes {:<28} targets: {targets}",
            if versions.is_empty() {
                "-".to_owned()
            } else {
                versions.join(", ")
            }
        )?;
    }
    print(&out)
}

fn targets_of(tree: &BenchmarkTree, name: &str) -> anyhow::Result<Vec<(String, Controls)>> {
    let config = BenchmarkConfig::load(tree, Some(name))?;
    let targets = config.targets_of(name).unwrap_or_else(|| {
        [
            "master",
            "controlplane",
            "etcd",
            "node",
            "policies",
            "managedservices",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    });
    let mut loaded = Vec::new();
    for target in targets {
        let relative = controls_file(name, &target);
        let Some(text) = tree.read(&relative)? else {
            continue;
        };
        let controls = parse_controls(&tree.display_path(&relative), &text, &mut |_| {})?;
        loaded.push((target, controls));
    }
    if loaded.is_empty() {
        anyhow::bail!(
            "unknown benchmark `{name}` (available: {})",
            tree.benchmark_names().join(", ")
        );
    }
    Ok(loaded)
}

fn is_automated(check: &Check) -> bool {
    check.check_type != "manual" && check.check_type != "skip" && check.tests.is_some()
}

fn show(tree: &BenchmarkTree, name: &str) -> anyhow::Result<i32> {
    let mut out = String::new();
    for (target, controls) in targets_of(tree, name)? {
        let checks: Vec<&Check> = controls.groups.iter().flat_map(|g| &g.checks).collect();
        let automated = checks.iter().filter(|c| is_automated(c)).count();
        writeln!(
            out,
            "{} {} [{target}]: {} checks, {automated} automated, {} manual",
            controls.id,
            controls.text,
            checks.len(),
            checks.len() - automated
        )?;
        for group in &controls.groups {
            writeln!(out, "  {} {}", group.id, group.text)?;
            for check in &group.checks {
                let kind = if is_automated(check) {
                    "automated"
                } else {
                    "manual"
                };
                writeln!(out, "    {:<8} {:<9} {}", check.id, kind, check.text)?;
            }
        }
    }
    print(&out)
}

pub fn explain(cmd: ExplainCommand) -> anyhow::Result<i32> {
    let tree = cmd.tree.tree()?;
    let benchmark = match &cmd.benchmark {
        Some(name) => name.clone(),
        None => newest_benchmark(&tree)?,
    };
    let (target, check) = targets_of(&tree, &benchmark)?
        .into_iter()
        .find_map(|(target, controls)| {
            controls
                .groups
                .into_iter()
                .flat_map(|g| g.checks)
                .find(|c| c.id == cmd.check)
                .map(|c| (target, c))
        })
        .with_context(|| format!("benchmark {benchmark} has no check `{}`", cmd.check))?;
    let typical = typical_variables(&BenchmarkConfig::load(&tree, Some(&benchmark))?, &target);
    let resolved = |text: &str| typical.substitute_on_node(text);
    let mut out = String::new();
    writeln!(out, "{} {}", check.id, check.text)?;
    writeln!(
        out,
        "benchmark {benchmark}, target {target}, {}",
        if check.scored { "scored" } else { "not scored" }
    )?;
    for (role, audit) in [
        ("audit_env", &check.audit_env),
        ("audit", &check.audit),
        ("audit_config", &check.audit_config),
    ] {
        match audit {
            Audit::Shell(c) if !c.trim().is_empty() => {
                writeln!(out, "{role}: shell: {}", resolved(c.trim()))?
            }
            Audit::Probe(p) => writeln!(out, "{role}: {}", resolved(&p.describe()))?,
            _ => {}
        }
    }
    match &check.tests {
        Some(tests) => {
            let op = if tests.bin_op.is_empty() {
                "and"
            } else {
                tests.bin_op.as_str()
            };
            writeln!(
                out,
                "decides: {} test item(s) combined with `{op}`:",
                tests.test_items.len()
            )?;
            for item in &tests.test_items {
                let key = [
                    ("flag", &item.flag),
                    ("path", &item.path),
                    ("env", &item.env),
                ]
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" / ");
                let condition = match (&item.compare, item.set) {
                    (_, false) => "must not be present".to_owned(),
                    (Some(c), true) if !c.op.is_empty() => format!("{} {}", c.op, c.value),
                    _ => "must be present".to_owned(),
                };
                writeln!(out, "  - {key}: {condition}")?;
            }
        }
        None => writeln!(
            out,
            "decides: no tests ({})",
            if check.check_type == "manual" {
                "manual check"
            } else {
                "reported without evaluation"
            }
        )?,
    }
    writeln!(
        out,
        "remediation:\n{}",
        resolved(check.remediation.trim_end())
    )?;
    if typical
        .entries
        .iter()
        .any(|v| check_mentions(&check, &v.name))
    {
        writeln!(
            out,
            "(paths and binaries are the benchmark's defaults; a scan names the node's own)"
        )?;
    }
    print(&out)
}

/// Whether the check's audits or remediation name the `$variable`.
fn check_mentions(check: &Check, variable: &str) -> bool {
    let in_audit = |audit: &Audit| match audit {
        Audit::Shell(command) => command.contains(variable),
        Audit::Probe(probe) => probe.describe().contains(variable),
        Audit::None => false,
    };
    check.remediation.contains(variable)
        || [&check.audit, &check.audit_config, &check.audit_env]
            .into_iter()
            .any(in_audit)
}

/// Writes the command's output; a reader that stopped early (`| head`) is not an error.
fn print(out: &str) -> anyhow::Result<i32> {
    write_output(Path::new("-"), out.as_bytes())?;
    Ok(0)
}

fn newest_benchmark(tree: &BenchmarkTree) -> anyhow::Result<String> {
    let config = BenchmarkConfig::load(tree, None)?;
    let mut versions: Vec<(u32, u32, String)> = config
        .version_mapping()
        .into_iter()
        .filter_map(|(version, benchmark)| {
            let (major, minor) = version.split_once('.')?;
            Some((major.parse().ok()?, minor.parse().ok()?, benchmark))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, _, b)| b)
        .context("the version mapping is empty; name the benchmark with --benchmark")
}
