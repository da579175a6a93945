//! `cisgate benchmarks list|show` and `cisgate explain`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::load::benchmark_controls;
use crate::definitions::model::{Audit, Check, Controls};
use crate::definitions::platform::VersionedBy;
use crate::definitions::tree::BenchmarkTree;
use crate::engine::substitute::typical_variables;
use crate::report::write_output;

#[derive(Debug, Subcommand)]
pub enum BenchmarksCommand {
    /// The benchmarks of the tree: the platform and versions each is chosen for, its targets.
    List(TreeArgs),
    /// The sections, groups and checks of a benchmark: each scored, unscored or manual.
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
    let mut coverage: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (benchmark, versions) in version_ranges(&config.version_mapping()) {
        coverage
            .entry(benchmark)
            .or_default()
            .push(("Kubernetes".to_owned(), versions));
    }
    for platform in config.platforms() {
        let what = match platform.versioned_by {
            VersionedBy::Kubernetes => format!("{}, Kubernetes", platform.title),
            VersionedBy::Platform => platform.title.clone(),
        };
        for (benchmark, versions) in version_ranges(&platform.benchmarks) {
            coverage
                .entry(benchmark)
                .or_default()
                .push((what.clone(), versions));
        }
    }
    let mut rows = Vec::new();
    for name in tree.benchmark_names() {
        let covers = coverage
            .get(&name)
            .map(|list| {
                list.iter()
                    .map(|(what, versions)| format!("{what} {versions}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| "only with --benchmark".to_owned());
        let targets = BenchmarkConfig::load(tree, Some(&name))?
            .targets_of(&name)
            .unwrap_or_default()
            .join(", ");
        rows.push((name, covers, targets));
    }
    let name_width = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    let for_width = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = String::new();
    writeln!(out, "Benchmarks in the {} tree:", tree.describe())?;
    writeln!(
        out,
        "  {:<name_width$}  {:<for_width$}  TARGETS",
        "BENCHMARK", "FOR"
    )?;
    for (name, covers, targets) in rows {
        writeln!(
            out,
            "  {name:<name_width$}  {covers:<for_width$}  {targets}"
        )?;
    }
    print(&out)
}

/// For each benchmark of a `version → benchmark` mapping, the versions it covers as ranges:
/// `1.28–1.30` up to the next entry's version, and `1.32+` for the newest (a version with no
/// entry uses the nearest lower one).
fn version_ranges(mapping: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut sorted: Vec<((u32, u32), &str)> = mapping
        .iter()
        .filter_map(|(version, benchmark)| {
            let (major, minor) = version.split_once('.')?;
            Some((
                (major.parse().ok()?, minor.parse().ok()?),
                benchmark.as_str(),
            ))
        })
        .collect();
    sorted.sort();
    let mut starts: Vec<((u32, u32), &str)> = Vec::new();
    for (version, benchmark) in sorted {
        if starts
            .last()
            .is_none_or(|(_, current)| *current != benchmark)
        {
            starts.push((version, benchmark));
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(index, ((major, minor), benchmark))| {
            let text = match starts.get(index + 1) {
                None => format!("{major}.{minor}+"),
                Some(((next_major, next_minor), _))
                    if *next_major == *major && *next_minor == minor + 1 =>
                {
                    format!("{major}.{minor}")
                }
                Some(((next_major, next_minor), _)) if *next_major == *major => {
                    format!("{major}.{minor}–{major}.{}", next_minor - 1)
                }
                Some(_) => format!("{major}.{minor}–{major}.x"),
            };
            (benchmark.to_string(), text)
        })
        .collect()
}

fn targets_of(tree: &BenchmarkTree, name: &str) -> anyhow::Result<Vec<(String, Controls)>> {
    Ok(benchmark_controls(tree, name)?)
}

/// What a check is to cisgate, as `benchmarks show` lists it: `scored` (tested; a failure is
/// FAIL), `unscored` (tested; a failure is WARN, as the benchmark's "(Manual)" titles say),
/// `manual` (no test: a person checks; always WARN) or `skip` (always INFO).
fn kind_of(check: &Check) -> &'static str {
    if check.check_type == "skip" {
        "skip"
    } else if check.check_type == "manual" || check.tests.is_none() {
        "manual"
    } else if check.scored {
        "scored"
    } else {
        "unscored"
    }
}

fn show(tree: &BenchmarkTree, name: &str) -> anyhow::Result<i32> {
    let mut out = String::from(
        "Each check: its id, how cisgate treats it (scored: a failure is FAIL; unscored: a \
         failure is WARN; manual: a person checks, always WARN; skip: always INFO), its title \
         with the benchmark's own (Automated)/(Manual) status.\n\n",
    );
    let mut sections = targets_of(tree, name)?;
    // In section order (1, 2, 3, …), as scans report them, not in target-mapping order.
    sections.sort_by(|(_, a), (_, b)| crate::results::compare_check_ids(&a.id, &b.id));
    for (target, controls) in sections {
        let checks: Vec<&Check> = controls.groups.iter().flat_map(|g| &g.checks).collect();
        let count = |kind: &str| checks.iter().filter(|c| kind_of(c) == kind).count();
        let mut counts = format!(
            "{} scored, {} unscored (a failure is WARN), {} manual",
            count("scored"),
            count("unscored"),
            count("manual")
        );
        if count("skip") > 0 {
            counts.push_str(&format!(", {} skipped", count("skip")));
        }
        writeln!(
            out,
            "{} {} [{target}]: {} checks: {counts}",
            controls.id,
            controls.text,
            checks.len(),
        )?;
        for group in &controls.groups {
            writeln!(out, "  {} {}", group.id, group.text)?;
            for check in &group.checks {
                writeln!(
                    out,
                    "    {:<8} {:<9} {}",
                    check.id,
                    kind_of(check),
                    check.text
                )?;
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

#[cfg(test)]
mod version_range_tests {
    use super::*;

    fn ranges(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mapping = pairs
            .iter()
            .map(|(v, b)| (v.to_string(), b.to_string()))
            .collect();
        version_ranges(&mapping)
    }

    #[test]
    fn each_benchmark_covers_up_to_the_next_entry_and_the_newest_is_open_ended() {
        let got = ranges(&[
            ("1.28", "cis-1.10"),
            ("1.29", "cis-1.11"),
            ("1.31", "cis-1.11"),
            ("1.32", "cis-1.12"),
            ("1.33", "cis-1.12"),
        ]);
        let text: Vec<String> = got.iter().map(|(b, r)| format!("{b} {r}")).collect();
        assert_eq!(
            text,
            ["cis-1.10 1.28", "cis-1.11 1.29–1.31", "cis-1.12 1.32+"]
        );
        let gke = ranges(&[("1.28", "gke-1.8.0"), ("1.31", "gke-1.9.0")]);
        assert_eq!(gke[0].1, "1.28–1.30");
    }
}
