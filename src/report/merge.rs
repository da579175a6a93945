//! Merges several results files (one per node, e.g. a fleet's nightly jobs) into one run.
//!
//! Nodes are concatenated and sorted by name; every total is recomputed from the checks; the
//! benchmark, its source and the gate policy must agree. The gate passes only when every input
//! passed. A baseline exception is stale in the merged run only when it was stale in every input
//! that applied that baseline file.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::results::{
    BaselineSummary, ExceptionRef, GateOutcome, NodeResults, PreviousSummary, RunResults,
    StaleException, Totals,
};

use super::findings::{disposition, Disposition};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge: no results were given")]
    Empty,
    #[error(
        "{file} was run with benchmark {found} but {first_file} with {expected}: \
         results of different benchmarks cannot be merged into one report"
    )]
    BenchmarkMismatch {
        file: String,
        found: String,
        first_file: String,
        expected: String,
    },
    #[error(
        "{file} was gated with {found} but {first_file} with {expected}: \
         merge results gated the same way (--fail-on, --allow-errors)"
    )]
    GateMismatch {
        file: String,
        found: String,
        first_file: String,
        expected: String,
    },
    #[error("node {node} appears both in {first_file} and in {file}")]
    DuplicateNode {
        node: String,
        first_file: String,
        file: String,
    },
}

/// `(label, results)`: the label (usually the file name) is used in error messages.
pub fn merge(inputs: Vec<(String, RunResults)>) -> Result<RunResults, MergeError> {
    let mut inputs = inputs.into_iter();
    let (first_file, first) = inputs.next().ok_or(MergeError::Empty)?;
    let mut rest: Vec<(String, RunResults)> = inputs.collect();
    if rest.is_empty() {
        let mut only = first;
        recompute_totals(&mut only);
        return Ok(only);
    }
    for (file, results) in &rest {
        check_compatible(&first_file, &first, file, results)?;
    }
    let mut all = vec![(first_file, first)];
    all.append(&mut rest);

    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (file, results) in &all {
        for node in &results.nodes {
            if let Some(first_file) = seen.insert(node.node.name.clone(), file.clone()) {
                return Err(MergeError::DuplicateNode {
                    node: node.node.name.clone(),
                    first_file,
                    file: file.clone(),
                });
            }
        }
    }

    let (_, head) = &all[0];
    let mut targets: Vec<String> = Vec::new();
    for (_, results) in &all {
        for target in &results.benchmark.targets {
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
    }
    let mut benchmark = head.benchmark.clone();
    benchmark.targets = targets;

    let mut nodes: Vec<NodeResults> = all
        .iter()
        .flat_map(|(_, results)| results.nodes.iter().cloned())
        .collect();
    nodes.sort_by(|a, b| a.node.name.cmp(&b.node.name));
    let mut unreadable: Vec<_> = all
        .iter()
        .flat_map(|(_, results)| results.unreadable.iter().cloned())
        .collect();
    unreadable.sort_by(|a, b| a.source.cmp(&b.source));

    let mut merged = RunResults {
        results_version: head.results_version,
        tool: head.tool.clone(),
        // The fleet's scan began with its earliest node's run.
        scanned_at: all
            .iter()
            .filter_map(|(_, results)| results.scanned_at)
            .min(),
        benchmark,
        benchmarks: Vec::new(),
        nodes,
        unreadable,
        totals: Totals::default(),
        gate: head.gate.clone(),
        baseline: merge_baselines(&all),
        previous: merge_previous(&all),
    };
    recompute_totals(&mut merged);
    merged.gate = merge_gates(&all, &merged);
    Ok(merged)
}

fn check_compatible(
    first_file: &str,
    first: &RunResults,
    file: &str,
    results: &RunResults,
) -> Result<(), MergeError> {
    let describe = |r: &RunResults| format!("{} ({})", r.benchmark.name, r.benchmark.source);
    if first.benchmark.name != results.benchmark.name
        || first.benchmark.source != results.benchmark.source
    {
        return Err(MergeError::BenchmarkMismatch {
            file: file.into(),
            found: describe(results),
            first_file: first_file.into(),
            expected: describe(first),
        });
    }
    let policy = |g: &GateOutcome| {
        format!(
            "--fail-on {}{}",
            g.fail_on,
            if g.allow_errors {
                " --allow-errors"
            } else {
                ""
            }
        )
    };
    if first.gate.fail_on != results.gate.fail_on
        || first.gate.allow_errors != results.gate.allow_errors
    {
        return Err(MergeError::GateMismatch {
            file: file.into(),
            found: policy(&results.gate),
            first_file: first_file.into(),
            expected: policy(&first.gate),
        });
    }
    Ok(())
}

/// Recomputes group, section, node and run totals from the checks themselves.
pub fn recompute_totals(results: &mut RunResults) {
    let mut run = Totals::default();
    for node in &mut results.nodes {
        let mut node_totals = Totals::default();
        for section in &mut node.sections {
            let mut section_totals = Totals::default();
            for group in &mut section.groups {
                let mut group_totals = Totals::default();
                for check in &group.checks {
                    group_totals.add(check.state);
                }
                group.totals = group_totals;
                section_totals.merge(&group_totals);
            }
            section.totals = section_totals;
            node_totals.merge(&section_totals);
        }
        node.totals = node_totals;
        run.merge(&node_totals);
    }
    results.totals = run;
}

fn merge_gates(all: &[(String, RunResults)], merged: &RunResults) -> GateOutcome {
    let regressions = merged
        .checks()
        .filter(|(_, _, check)| disposition(check, &merged.gate) == Disposition::Regression)
        .count();
    let passed = all.iter().all(|(_, r)| r.gate.passed) && regressions == 0;
    let exit_code = if !passed {
        1
    } else if !merged.unreadable.is_empty() {
        3
    } else {
        0
    };
    GateOutcome {
        fail_on: merged.gate.fail_on.clone(),
        allow_errors: merged.gate.allow_errors,
        passed,
        exit_code,
        regressions,
    }
}

fn joined_files<'a>(files: impl Iterator<Item = &'a str>) -> String {
    let unique: BTreeSet<&str> = files.collect();
    unique.into_iter().collect::<Vec<_>>().join(", ")
}

fn exception_key(e: &ExceptionRef) -> (String, u32) {
    (e.check.clone(), e.line)
}

fn union_exceptions<'a>(lists: impl Iterator<Item = &'a Vec<ExceptionRef>>) -> Vec<ExceptionRef> {
    let mut by_key: BTreeMap<(u32, String), ExceptionRef> = BTreeMap::new();
    for list in lists {
        for e in list {
            by_key
                .entry((e.line, e.check.clone()))
                .or_insert_with(|| e.clone());
        }
    }
    by_key.into_values().collect()
}

fn merge_baselines(all: &[(String, RunResults)]) -> Option<BaselineSummary> {
    let with: Vec<&BaselineSummary> = all
        .iter()
        .filter_map(|(_, r)| r.baseline.as_ref())
        .collect();
    if with.is_empty() {
        return None;
    }
    // Stale in the merged run = stale in every input that applied a baseline.
    let mut stale: BTreeMap<(String, u32), StaleException> = BTreeMap::new();
    let mut counts: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for baseline in &with {
        for s in &baseline.stale {
            let key = exception_key(&s.exception);
            *counts.entry(key.clone()).or_default() += 1;
            let entry = stale.entry(key).or_insert_with(|| s.clone());
            if s.why == "fixed" {
                entry.why = "fixed".into();
            }
        }
    }
    let mut stale: Vec<StaleException> = stale
        .into_iter()
        .filter(|(key, _)| counts.get(key) == Some(&with.len()))
        .map(|(_, s)| s)
        .collect();
    stale.sort_by_key(|s| s.exception.line);
    Some(BaselineSummary {
        file: joined_files(with.iter().map(|b| b.file.as_str())),
        accepted: with.iter().map(|b| b.accepted).sum(),
        regressions: with.iter().map(|b| b.regressions).sum(),
        stale,
        expiring: union_exceptions(with.iter().map(|b| &b.expiring)),
        expired: union_exceptions(with.iter().map(|b| &b.expired)),
        placeholder_reasons: union_exceptions(with.iter().map(|b| &b.placeholder_reasons)),
    })
}

fn merge_previous(all: &[(String, RunResults)]) -> Option<PreviousSummary> {
    let with: Vec<&PreviousSummary> = all
        .iter()
        .filter_map(|(_, r)| r.previous.as_ref())
        .collect();
    if with.is_empty() {
        return None;
    }
    Some(PreviousSummary {
        file: joined_files(with.iter().map(|p| p.file.as_str())),
        new: with.iter().map(|p| p.new).sum(),
        unchanged: with.iter().map(|p| p.unchanged).sum(),
        fixed: with.iter().map(|p| p.fixed).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> RunResults {
        serde_json::from_str(include_str!("../../tests/fixtures/results/small.json")).unwrap()
    }

    /// The small fixture split into one results file per node, as a fleet's jobs write them.
    fn per_node() -> Vec<(String, RunResults)> {
        let full = small();
        full.nodes
            .iter()
            .map(|node| {
                let mut one = full.clone();
                one.nodes = vec![node.clone()];
                one.unreadable.clear();
                recompute_totals(&mut one);
                (format!("{}.json", node.node.name), one)
            })
            .collect()
    }

    #[test]
    fn the_fixture_totals_are_consistent_with_its_checks() {
        let original = small();
        let mut recomputed = original.clone();
        recompute_totals(&mut recomputed);
        assert_eq!(original, recomputed);
    }

    #[test]
    fn merging_per_node_files_gives_back_the_whole_run_sorted_by_node() {
        let mut inputs = per_node();
        inputs.reverse();
        let merged = merge(inputs).unwrap();
        let full = small();
        let names: Vec<&str> = merged.nodes.iter().map(|n| n.node.name.as_str()).collect();
        assert_eq!(names, vec!["cp-1", "worker-1", "worker-2"]);
        assert_eq!(merged.totals, full.totals);
        assert_eq!(merged.gate.regressions, full.gate.regressions);
        assert!(!merged.gate.passed);
        assert_eq!(merged.gate.exit_code, 1);
        assert_eq!(
            merged.benchmark.targets,
            vec!["master".to_string(), "node".to_string()]
        );
    }

    #[test]
    fn stale_only_when_stale_in_every_input() {
        let mut inputs = per_node();
        inputs[1].1.baseline.as_mut().unwrap().stale.remove(0);
        let merged = merge(inputs).unwrap();
        let stale: Vec<&str> = merged
            .baseline
            .as_ref()
            .unwrap()
            .stale
            .iter()
            .map(|s| s.exception.check.as_str())
            .collect();
        assert_eq!(stale, vec!["9.9.*"]);
        assert_eq!(merged.baseline.as_ref().unwrap().expired.len(), 1);
    }

    #[test]
    fn different_benchmarks_are_refused_naming_both_files() {
        let mut inputs = per_node();
        inputs[2].1.benchmark.name = "cis-1.10".into();
        let error = merge(inputs).unwrap_err();
        assert_eq!(
            error.to_string(),
            "worker-2.json was run with benchmark cis-1.10 (embedded) but cp-1.json with \
             cis-1.12 (embedded): results of different benchmarks cannot be merged into one report"
        );
    }

    #[test]
    fn different_gate_policies_are_refused() {
        let mut inputs = per_node();
        inputs[1].1.gate.fail_on = "warn".into();
        assert!(matches!(
            merge(inputs),
            Err(MergeError::GateMismatch { .. })
        ));
    }

    #[test]
    fn the_same_node_twice_is_refused() {
        let mut inputs = per_node();
        let copy = inputs[0].clone();
        inputs.push(("again.json".into(), copy.1));
        assert_eq!(
            merge(inputs).unwrap_err(),
            MergeError::DuplicateNode {
                node: "cp-1".into(),
                first_file: "cp-1.json".into(),
                file: "again.json".into()
            }
        );
    }

    #[test]
    fn a_passing_fleet_with_an_unreadable_node_is_partial() {
        let mut inputs = per_node();
        inputs.retain(|(file, _)| file == "worker-2.json");
        let mut second = inputs[0].1.clone();
        second.nodes[0].node.name = "worker-3".into();
        second.unreadable = small().unreadable;
        for (_, results) in inputs.iter_mut() {
            results.gate.passed = true;
            results.gate.exit_code = 0;
            results.gate.regressions = 0;
        }
        second.gate.passed = true;
        inputs.push(("worker-3.json".into(), second));
        let merged = merge(inputs).unwrap();
        assert!(merged.gate.passed);
        assert_eq!(merged.gate.exit_code, 3);
    }
}
