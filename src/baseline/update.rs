//! `cisgate baseline create|update`: writes the allowlist from a run.
//!
//! - `update` keeps every existing entry as it is (reason, expiry, owner, ticket), adds
//!   one entry per newly failing check with [`PLACEHOLDER_REASON`] and no expiry, and
//!   removes stale entries only when asked to (`--prune`).
//! - A failure is *new* when no existing entry matches it, expired entries included: an
//!   expired exception is renewed by editing its date, never silently re-added.
//! - A new entry has no `nodes` scope when the check fails on every node that ran it
//!   (and none of them is covered yet); otherwise it lists the failing node names.
//! - The output is stable: entries sorted by check id (numerically, `1.2.10` after
//!   `1.2.9`), then scope. Comments are **not** kept: the YAML library reads values, not
//!   comments; the file starts with a fixed header saying so. Keep explanations in
//!   `reason` (and `ticket`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::classify::stale_lines;
use super::file::{BaselineFile, Entry, FILE_VERSION};
use super::PLACEHOLDER_REASON;
use crate::gate::GatePolicy;
use crate::results::RunResults;

/// The file as written, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub entries: Vec<Entry>,
    pub kept: usize,
    pub added: usize,
    /// Stale entries removed (`--prune`).
    pub pruned: Vec<Entry>,
    /// Stale entries left in place (no `--prune`).
    pub stale_kept: usize,
}

/// A new allowlist accepting every result of `results` that `policy` gates.
pub fn create(results: &RunResults, policy: &GatePolicy) -> Updated {
    update(&BaselineFile::empty(""), results, policy, false)
}

/// `existing` brought up to date with `results`.
pub fn update(
    existing: &BaselineFile,
    results: &RunResults,
    policy: &GatePolicy,
    prune: bool,
) -> Updated {
    let stale = stale_lines(results, existing);
    let (pruned, kept): (Vec<_>, Vec<_>) = existing
        .exceptions
        .iter()
        .partition(|e| prune && stale.contains(&e.line));
    let added = new_entries(existing, results, policy);
    let mut entries: Vec<Entry> = kept.iter().map(|e| e.entry.clone()).collect();
    let kept_count = entries.len();
    for entry in added {
        if !entries.iter().any(|e| e.identity() == entry.identity()) {
            entries.push(entry);
        }
    }
    let added_count = entries.len() - kept_count;
    entries.sort_by(compare_entries);
    Updated {
        entries,
        kept: kept_count,
        added: added_count,
        pruned: pruned.iter().map(|e| e.entry.clone()).collect(),
        stale_kept: if prune { 0 } else { stale.len() },
    }
}

/// One entry per check id that gates and that no existing entry matches.
fn new_entries(existing: &BaselineFile, results: &RunResults, policy: &GatePolicy) -> Vec<Entry> {
    let benchmark = &results.benchmark.name;
    // check id → (nodes that ran it, nodes where it fails uncovered)
    let mut by_check: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for (node, section, check) in results.checks() {
        let name = node.node.name.as_str();
        let (ran, uncovered) = by_check.entry(check.id.as_str()).or_default();
        ran.insert(name);
        let covered = existing
            .exceptions
            .iter()
            .any(|e| e.matches_check(&check.id) && e.in_scope(name, &section.target, benchmark));
        if policy.gates(check.state) && !covered {
            uncovered.insert(name);
        }
    }
    by_check
        .into_iter()
        .filter(|(_, (_, uncovered))| !uncovered.is_empty())
        .map(|(id, (ran, uncovered))| Entry {
            check: globset::escape(id),
            nodes: if uncovered == ran {
                Vec::new()
            } else {
                uncovered.into_iter().map(globset::escape).collect()
            },
            reason: PLACEHOLDER_REASON.to_string(),
            ..Entry::default()
        })
        .collect()
}

/// Check ids compare numerically part by part (`1.2.9` < `1.2.10`, numbers before
/// globs); then the scope.
fn compare_entries(a: &Entry, b: &Entry) -> Ordering {
    crate::results::compare_check_ids(&a.check, &b.check)
        .then_with(|| a.identity().cmp(&b.identity()))
}

const HEADER: &str = "\
# cisgate baseline: findings this team has accepted (docs/baseline.md).
# Written by `cisgate baseline create|update`, which keeps entries, reasons and dates
# but not comments: put explanations in `reason` and `ticket`.
";

#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    exceptions: &'a [Entry],
}

/// The file's text: the header, then the entries in the order given.
pub fn render(entries: &[Entry]) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.compact_list_indent = false;
    let body = serde_saphyr::to_string_with_options(
        &FileOut {
            version: FILE_VERSION,
            exceptions: entries,
        },
        options,
    )
    .expect("plain strings and lists always serialize");
    // A blank line between entries; block scalars are indented deeper, so this line
    // prefix only ever starts an entry.
    let spaced = body.replace("\n  - check: ", "\n\n  - check: ").replacen(
        "exceptions:\n\n",
        "exceptions:\n",
        1,
    );
    format!("{HEADER}{spaced}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::testing::{check, node, run};
    use crate::results::State;
    use jiff::civil::date;

    fn policy() -> GatePolicy {
        GatePolicy::default()
    }

    fn existing(yaml: &str) -> BaselineFile {
        BaselineFile::parse("baseline.yaml", yaml).unwrap()
    }

    fn fleet() -> RunResults {
        use State::{Fail, Pass, Warn};
        run(
            "cis-1.12",
            vec![
                node(
                    "cp-1",
                    "master",
                    vec![
                        check("1.2.10", Fail),
                        check("1.2.9", Fail),
                        check("1.1.1", Pass),
                        check("1.3.1", Warn),
                    ],
                ),
                node(
                    "cp-2",
                    "master",
                    vec![
                        check("1.2.10", Fail),
                        check("1.2.9", Pass),
                        check("1.1.1", Pass),
                        check("1.3.1", Pass),
                    ],
                ),
            ],
        )
    }

    fn checks_and_nodes(updated: &Updated) -> Vec<(String, Vec<String>)> {
        updated
            .entries
            .iter()
            .map(|e| (e.check.clone(), e.nodes.clone()))
            .collect()
    }

    #[test]
    fn create_accepts_every_gating_failure_sorted_with_placeholders() {
        let created = create(&fleet(), &policy());
        assert_eq!(
            checks_and_nodes(&created),
            vec![
                ("1.2.9".to_string(), vec!["cp-1".to_string()]),
                ("1.2.10".to_string(), vec![]),
            ]
        );
        assert!(created
            .entries
            .iter()
            .all(|e| e.reason == PLACEHOLDER_REASON && e.expires.is_none()));
        assert_eq!((created.added, created.kept), (2, 0));
    }

    #[test]
    fn fail_on_warn_also_accepts_warnings() {
        let policy = GatePolicy {
            fail_on: crate::gate::FailOn::Warn,
            ..GatePolicy::default()
        };
        let created = create(&fleet(), &policy);
        assert!(created.entries.iter().any(|e| e.check == "1.3.1"));
    }

    #[test]
    fn update_keeps_existing_reasons_and_adds_only_new_failures() {
        let file = existing(
            "exceptions:
  - check: 1.2.10
    reason: kubeadm sets this; upstream issue 123
    expires: 2026-12-31
    owner: platform
    ticket: OPS-1
",
        );
        let updated = update(&file, &fleet(), &policy(), false);
        assert_eq!(updated.entries[1], file.exceptions[0].entry);
        assert_eq!(updated.entries[0].check, "1.2.9");
        assert_eq!(updated.entries[0].reason, PLACEHOLDER_REASON);
        assert_eq!((updated.kept, updated.added), (1, 1));
    }

    #[test]
    fn an_expired_entry_is_kept_and_its_failure_is_not_re_added() {
        let file =
            existing("exceptions:\n  - check: \"1.2.*\"\n    reason: r\n    expires: 2020-01-01\n");
        let updated = update(&file, &fleet(), &policy(), false);
        assert_eq!(updated.entries.len(), 1);
        assert_eq!(updated.entries[0].expires, Some(date(2020, 1, 1)));
    }

    #[test]
    fn a_failure_on_a_node_outside_an_entrys_scope_gets_its_own_entry() {
        let file = existing("exceptions:\n  - check: 1.2.10\n    nodes: [cp-1]\n    reason: r\n");
        let updated = update(&file, &fleet(), &policy(), false);
        assert_eq!(
            checks_and_nodes(&updated),
            vec![
                ("1.2.9".to_string(), vec!["cp-1".to_string()]),
                ("1.2.10".to_string(), vec!["cp-1".to_string()]),
                ("1.2.10".to_string(), vec!["cp-2".to_string()]),
            ]
        );
    }

    #[test]
    fn stale_entries_are_removed_only_with_prune() {
        let yaml = "exceptions:
  - check: 1.1.1
    reason: fixed since
  - check: 7.7.7
    reason: check no longer exists
  - check: 1.2.10
    reason: still needed
  - check: 1.2.9
    benchmark: cis-1.8
    reason: other benchmark, left alone
";
        let file = existing(yaml);
        let kept = update(&file, &fleet(), &policy(), false);
        assert_eq!(kept.entries.len(), 5);
        assert_eq!(kept.stale_kept, 2);
        assert!(kept.pruned.is_empty());

        let pruned = update(&file, &fleet(), &policy(), true);
        let checks: Vec<&str> = pruned.entries.iter().map(|e| e.check.as_str()).collect();
        assert_eq!(checks, vec!["1.2.9", "1.2.9", "1.2.10"]);
        let removed: Vec<&str> = pruned.pruned.iter().map(|e| e.check.as_str()).collect();
        assert_eq!(removed, vec!["1.1.1", "7.7.7"]);
    }

    #[test]
    fn rendered_files_read_back_to_the_same_entries_and_are_stable() {
        let file = existing(
            "exceptions:
  - check: 1.2.10
    nodes: [\"cp-*\", edge]
    targets: [master]
    benchmark: \"cis-1.*\"
    reason: \"multi-word: with a colon, and # hash\"
    expires: 2026-12-31
    owner: platform
    ticket: \"123\"
",
        );
        let updated = update(&file, &fleet(), &policy(), false);
        let text = render(&updated.entries);
        let reread = BaselineFile::parse("baseline.yaml", &text).unwrap();
        let entries: Vec<Entry> = reread.exceptions.into_iter().map(|e| e.entry).collect();
        assert_eq!(entries, updated.entries);
        let again = update(&existing(&text), &fleet(), &policy(), false);
        assert_eq!(render(&again.entries), text);
        assert!(text.starts_with("# cisgate baseline"));
    }

    #[test]
    fn node_names_and_ids_are_escaped_so_they_match_literally() {
        let results = run(
            "cis-1.12",
            vec![
                node("odd[1]", "node", vec![check("4.1.1", State::Fail)]),
                node("plain", "node", vec![check("4.1.1", State::Pass)]),
            ],
        );
        let created = create(&results, &policy());
        let text = render(&created.entries);
        let reread = BaselineFile::parse("baseline.yaml", &text).unwrap();
        assert!(reread.exceptions[0].in_scope("odd[1]", "node", "cis-1.12"));
        assert!(!reread.exceptions[0].in_scope("odd1", "node", "cis-1.12"));
    }

    #[test]
    fn ids_sort_numerically() {
        let mut ids = vec!["1.2.10", "1.10.1", "1.2.9", "1.2.*", "4.1", "1.2"];
        ids.sort_by(|a, b| crate::results::compare_check_ids(a, b));
        assert_eq!(
            ids,
            vec!["1.2", "1.2.9", "1.2.10", "1.2.*", "1.10.1", "4.1"]
        );
    }
}
