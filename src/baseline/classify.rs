//! Classification: which non-passing results the allowlist accepts, which are regressions,
//! and which entries are stale, expired or expiring soon.
//!
//! Rules (also in `docs/baseline.md`):
//! - A result is *non-passing* when its state is FAIL, WARN or ERROR. PASS and INFO are
//!   left unmarked.
//! - An entry matches a result when its `check` glob matches the check id and the result
//!   is in the entry's scope (`nodes` on the node name, `targets` on the section's
//!   target, `benchmark` on the benchmark name; an absent key matches everything).
//! - The first matching entry in file order that is *live* accepts the result. An entry
//!   is live when it has not expired (`expires: D` is valid through D, inclusive) and,
//!   with `--require-reasons`, its reason is not a placeholder.
//! - A result no live entry matches is a regression; when a non-live entry matched it,
//!   the mark names that entry (so the report can say "expired on D").
//! - An entry is *stale* when it applies to this run (some node × target of the run is
//!   in its scope) but matches no non-passing result: `fixed` when a check it names was
//!   run in scope (and passed), `unknown-check` when no check of that id was run.
//!   Entries whose scope is outside the run (another benchmark, nodes not scanned) are
//!   neither used nor stale.
//! - *Expiring*: entries that accepted a result and expire within `--warn-expiry` days
//!   (today included). *Expired*: expired entries that still match a non-passing result.

use jiff::civil::Date;
use jiff::ToSpan;

use super::file::{BaselineFile, Exception};
use super::is_placeholder_reason;
use crate::results::{
    BaselineMark, BaselineSummary, CheckResult, Classification, ExceptionRef, NodeResults,
    RunResults, StaleException, State,
};
use crate::runner::Stage;

#[derive(Debug, Clone, Copy)]
pub struct ClassifyOptions {
    pub today: Date,
    /// Entries expiring within this many days (today included) are listed as expiring.
    pub warn_expiry_days: u32,
    /// Placeholder reasons (`TODO…`) accept nothing.
    pub require_reasons: bool,
}

/// Whether a result needs an exception to be accepted.
pub fn is_non_passing(state: State) -> bool {
    matches!(state, State::Fail | State::Warn | State::Error)
}

/// Why a stale entry matched nothing.
pub const STALE_FIXED: &str = "fixed";
pub const STALE_UNKNOWN_CHECK: &str = "unknown-check";

/// What happened to one entry during classification.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// Some node × target of the run is in the entry's scope.
    applies: bool,
    /// A check with a matching id was run in scope, in any state.
    check_seen: bool,
    /// Non-passing results it matched (whether or not it accepted them).
    matched: usize,
    accepted: usize,
}

/// Classifies every non-passing result of `results` against `baseline`, and writes the
/// summary into `results.baseline`. Existing marks are replaced.
pub fn classify(results: &mut RunResults, baseline: &BaselineFile, options: &ClassifyOptions) {
    let mut classifier = Classifier::new(baseline, *options);
    for node in &mut results.nodes {
        classifier.mark(node, &results.benchmark.name);
    }
    results.baseline = Some(classifier.summary());
}

/// Classification node by node, as a run's nodes arrive: marks each node's results and
/// keeps only what the summary needs (counts per entry).
pub struct Classifier<B> {
    baseline: B,
    options: ClassifyOptions,
    usage: Vec<Usage>,
    accepted: usize,
    regressions: usize,
}

impl<B: std::borrow::Borrow<BaselineFile>> Classifier<B> {
    pub fn new(baseline: B, options: ClassifyOptions) -> Self {
        let entries = baseline.borrow().exceptions.len();
        Classifier {
            baseline,
            options,
            usage: vec![Usage::default(); entries],
            accepted: 0,
            regressions: 0,
        }
    }

    /// Marks one node's non-passing results; `run_benchmark` scopes a node that does not
    /// name its own benchmark.
    pub fn mark(&mut self, node: &mut NodeResults, run_benchmark: &str) {
        let baseline = self.baseline.borrow();
        // A fleet may mix benchmarks: each node is in scope of entries naming its own.
        let benchmark = node.node.benchmark.as_deref().unwrap_or(run_benchmark);
        for section in &mut node.sections {
            let in_scope: Vec<bool> = baseline
                .exceptions
                .iter()
                .map(|e| e.in_scope(&node.node.name, &section.target, benchmark))
                .collect();
            for (index, applies) in in_scope.iter().enumerate() {
                self.usage[index].applies |= applies;
            }
            let checks = section.groups.iter_mut().flat_map(|g| g.checks.iter_mut());
            for check in checks {
                let mark = mark_check(check, baseline, &in_scope, &mut self.usage, &self.options);
                match mark.as_ref().map(|m| m.classification) {
                    Some(Classification::Accepted) => self.accepted += 1,
                    Some(Classification::Regression) => self.regressions += 1,
                    None => {}
                }
                check.baseline = mark.map(Box::new);
            }
        }
    }

    /// What the whole run did with the allowlist.
    pub fn summary(&self) -> BaselineSummary {
        summarize(
            self.baseline.borrow(),
            &self.usage,
            &self.options,
            self.accepted,
            self.regressions,
        )
    }
}

impl Stage for Classifier<BaselineFile> {
    fn node(&mut self, node: &mut NodeResults) {
        self.mark(node, "");
    }

    fn end(&mut self, run: &mut RunResults) {
        run.baseline = Some(self.summary());
    }

    /// Exceptions name checks, nodes and roles, never a place.
    fn reads_locations(&self) -> bool {
        false
    }
}

fn mark_check(
    check: &CheckResult,
    baseline: &BaselineFile,
    in_scope: &[bool],
    usage: &mut [Usage],
    options: &ClassifyOptions,
) -> Option<BaselineMark> {
    let matching: Vec<usize> = (0..baseline.exceptions.len())
        .filter(|&i| in_scope[i] && baseline.exceptions[i].matches_check(&check.id))
        .collect();
    for &i in &matching {
        usage[i].check_seen = true;
    }
    if !is_non_passing(check.state) {
        return None;
    }
    for &i in &matching {
        usage[i].matched += 1;
    }
    let live = matching
        .iter()
        .copied()
        .find(|&i| is_live(&baseline.exceptions[i], options));
    if let Some(i) = live {
        usage[i].accepted += 1;
        return Some(BaselineMark {
            classification: Classification::Accepted,
            exception: Some(exception_ref(&baseline.exceptions[i], options.today)),
        });
    }
    Some(BaselineMark {
        classification: Classification::Regression,
        exception: matching
            .first()
            .map(|&i| exception_ref(&baseline.exceptions[i], options.today)),
    })
}

fn is_live(exception: &Exception, options: &ClassifyOptions) -> bool {
    let unexplained = options.require_reasons && is_placeholder_reason(&exception.entry.reason);
    !exception.is_expired(options.today) && !unexplained
}

fn is_expiring(exception: &Exception, options: &ClassifyOptions) -> bool {
    let horizon = options
        .today
        .saturating_add(i64::from(options.warn_expiry_days).days());
    exception
        .entry
        .expires
        .is_some_and(|expires| expires >= options.today && expires <= horizon)
}

fn summarize(
    baseline: &BaselineFile,
    usage: &[Usage],
    options: &ClassifyOptions,
    accepted: usize,
    regressions: usize,
) -> BaselineSummary {
    let mut summary = BaselineSummary {
        file: baseline.path.clone(),
        accepted,
        regressions,
        stale: Vec::new(),
        expiring: Vec::new(),
        expired: Vec::new(),
        placeholder_reasons: Vec::new(),
    };
    for (exception, usage) in baseline.exceptions.iter().zip(usage) {
        let reference = || exception_ref(exception, options.today);
        if usage.applies && usage.matched == 0 {
            summary.stale.push(StaleException {
                exception: reference(),
                why: if usage.check_seen {
                    STALE_FIXED
                } else {
                    STALE_UNKNOWN_CHECK
                }
                .to_string(),
            });
        }
        if usage.matched > 0 && exception.is_expired(options.today) {
            summary.expired.push(reference());
        }
        if usage.accepted > 0 && is_expiring(exception, options) {
            summary.expiring.push(reference());
        }
        if usage.matched > 0 && is_placeholder_reason(&exception.entry.reason) {
            summary.placeholder_reasons.push(reference());
        }
    }
    summary
}

/// The entry as results and reports show it.
pub fn exception_ref(exception: &Exception, today: Date) -> ExceptionRef {
    let entry = &exception.entry;
    ExceptionRef {
        check: entry.check.clone(),
        reason: entry.reason.clone(),
        expires: entry.expires.map(|d| d.to_string()),
        owner: entry.owner.clone(),
        ticket: entry.ticket.clone(),
        line: exception.line,
        expired: exception.is_expired(today),
    }
}

/// The stale entries of `baseline` for a run, without marking the results (for `--prune`).
pub fn stale_lines(results: &RunResults, baseline: &BaselineFile) -> Vec<u32> {
    let mut copy = results.clone();
    let options = ClassifyOptions {
        today: Date::MIN,
        warn_expiry_days: 0,
        require_reasons: false,
    };
    classify(&mut copy, baseline, &options);
    copy.baseline
        .map(|summary| summary.stale.iter().map(|s| s.exception.line).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::testing::{check, node, run};
    use jiff::civil::date;

    const TODAY: Date = date(2026, 6, 15);

    fn options() -> ClassifyOptions {
        ClassifyOptions {
            today: TODAY,
            warn_expiry_days: 14,
            require_reasons: false,
        }
    }

    fn baseline(yaml: &str) -> BaselineFile {
        BaselineFile::parse("baseline.yaml", yaml).unwrap()
    }

    /// The mark of check `id` on node `node_name` after classifying `results`.
    fn mark_of(results: &RunResults, node_name: &str, id: &str) -> Option<BaselineMark> {
        results
            .checks()
            .find(|(n, _, c)| n.node.name == node_name && c.id == id)
            .map(|(_, _, c)| c.baseline.as_deref().cloned())
            .expect("the check is in the run")
    }

    fn classification(
        yaml: &str,
        results: &mut RunResults,
        node_name: &str,
        id: &str,
    ) -> Option<Classification> {
        classify(results, &baseline(yaml), &options());
        mark_of(results, node_name, id).map(|m| m.classification)
    }

    /// One control-plane node `cp-1` (target master) and one worker `worker-1` (target node).
    fn fleet(master_state: State, node_state: State) -> RunResults {
        run(
            "cis-1.12",
            vec![
                node("cp-1", "master", vec![check("1.2.6", master_state)]),
                node("worker-1", "node", vec![check("4.2.6", node_state)]),
            ],
        )
    }

    #[test]
    fn matching_table() {
        use Classification::{Accepted, Regression};
        let entry = |extra: &str| {
            format!("exceptions:\n  - check: \"{{check}}\"\n    reason: accepted\n{extra}")
        };
        // (what, check pattern, extra keys, node, check id, expected)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            Option<Classification>,
        );
        let cases: &[Case] = &[
            ("exact id", "1.2.6", "", "cp-1", "1.2.6", Some(Accepted)),
            (
                "exact id, other check",
                "1.2.7",
                "",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
            (
                "exact id is not a prefix",
                "1.2",
                "",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
            (
                "glob on the group",
                "1.2.*",
                "",
                "cp-1",
                "1.2.6",
                Some(Accepted),
            ),
            (
                "glob on the section",
                "1.*",
                "",
                "cp-1",
                "1.2.6",
                Some(Accepted),
            ),
            (
                "glob of another group",
                "1.3.*",
                "",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
            (
                "question mark",
                "1.2.?",
                "",
                "cp-1",
                "1.2.6",
                Some(Accepted),
            ),
            (
                "alternation",
                "{1.2.6,4.2.6}",
                "",
                "worker-1",
                "4.2.6",
                Some(Accepted),
            ),
            (
                "node scope hit",
                "4.2.6",
                "    nodes: [\"worker-*\"]\n",
                "worker-1",
                "4.2.6",
                Some(Accepted),
            ),
            (
                "node scope miss",
                "1.2.6",
                "    nodes: [\"worker-*\"]\n",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
            (
                "any of the node globs",
                "1.2.6",
                "    nodes: [edge-9, \"cp-?\"]\n",
                "cp-1",
                "1.2.6",
                Some(Accepted),
            ),
            (
                "target scope hit",
                "*",
                "    targets: [node]\n",
                "worker-1",
                "4.2.6",
                Some(Accepted),
            ),
            (
                "target scope miss",
                "*",
                "    targets: [node]\n",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
            (
                "benchmark scope hit",
                "1.2.6",
                "    benchmark: \"cis-1.*\"\n",
                "cp-1",
                "1.2.6",
                Some(Accepted),
            ),
            (
                "benchmark scope miss",
                "1.2.6",
                "    benchmark: cis-1.8\n",
                "cp-1",
                "1.2.6",
                Some(Regression),
            ),
        ];
        for (what, pattern, extra, node_name, id, expected) in cases {
            let yaml = entry(extra).replace("{check}", pattern);
            let mut results = fleet(State::Fail, State::Fail);
            let got = classification(&yaml, &mut results, node_name, id);
            assert_eq!(got, *expected, "{what}\n{yaml}");
        }
    }

    #[test]
    fn expiry_table_with_a_fixed_clock() {
        use Classification::{Accepted, Regression};
        // (what, expires, classification, expired flag on the mark)
        let cases: &[(&str, &str, Classification, bool)] = &[
            ("expired yesterday", "2026-06-14", Regression, true),
            ("expires today: still valid", "2026-06-15", Accepted, false),
            ("expires tomorrow", "2026-06-16", Accepted, false),
            ("expired long ago", "2025-01-01", Regression, true),
        ];
        for (what, expires, expected, expired) in cases {
            let yaml = format!(
                "exceptions:\n  - check: 1.2.6\n    reason: accepted\n    expires: {expires}\n"
            );
            let mut results = fleet(State::Fail, State::Pass);
            classify(&mut results, &baseline(&yaml), &options());
            let mark = mark_of(&results, "cp-1", "1.2.6").unwrap();
            assert_eq!(mark.classification, *expected, "{what}");
            let exception = mark.exception.expect("the mark names the entry");
            assert_eq!(exception.expired, *expired, "{what}");
            assert_eq!(exception.expires.as_deref(), Some(*expires), "{what}");
            let summary = results.baseline.unwrap();
            assert_eq!(summary.expired.len(), usize::from(*expired), "{what}");
        }
    }

    #[test]
    fn a_live_entry_later_in_the_file_wins_over_an_expired_one() {
        let yaml = "exceptions:
  - check: 1.2.6
    reason: old
    expires: 2026-01-01
  - check: \"1.2.*\"
    reason: renewed
";
        let mut results = fleet(State::Fail, State::Pass);
        classify(&mut results, &baseline(yaml), &options());
        let mark = mark_of(&results, "cp-1", "1.2.6").unwrap();
        assert_eq!(mark.classification, Classification::Accepted);
        assert_eq!(mark.exception.unwrap().reason, "renewed");
        assert!(results.baseline.unwrap().expired.len() == 1);
    }

    #[test]
    fn passing_and_info_results_are_left_unmarked() {
        let yaml = "exceptions:\n  - check: \"*\"\n    reason: r\n";
        let mut results = fleet(State::Pass, State::Info);
        classify(&mut results, &baseline(yaml), &options());
        assert_eq!(mark_of(&results, "cp-1", "1.2.6"), None);
        assert_eq!(mark_of(&results, "worker-1", "4.2.6"), None);
    }

    #[test]
    fn warn_and_error_results_are_classified_too() {
        let yaml = "exceptions:\n  - check: 1.2.6\n    reason: r\n";
        let mut results = fleet(State::Warn, State::Error);
        classify(&mut results, &baseline(yaml), &options());
        let summary = results.baseline.clone().unwrap();
        assert_eq!((summary.accepted, summary.regressions), (1, 1));
        assert_eq!(
            mark_of(&results, "worker-1", "4.2.6"),
            Some(BaselineMark {
                classification: Classification::Regression,
                exception: None
            })
        );
    }

    #[test]
    fn stale_entries_say_whether_the_finding_was_fixed_or_the_check_is_unknown() {
        let yaml = "exceptions:
  - check: 1.2.6
    reason: was failing, now fixed
  - check: 9.9.9
    reason: no such check
  - check: 4.2.6
    reason: still failing
  - check: 1.2.6
    benchmark: cis-1.8
    reason: another benchmark, not this run's business
  - check: 4.2.6
    nodes: [\"gpu-*\"]
    reason: nodes not in this run
";
        let mut results = fleet(State::Pass, State::Fail);
        classify(&mut results, &baseline(yaml), &options());
        let stale: Vec<(u32, String)> = results
            .baseline
            .unwrap()
            .stale
            .into_iter()
            .map(|s| (s.exception.line, s.why))
            .collect();
        assert_eq!(
            stale,
            vec![(2, "fixed".to_string()), (4, "unknown-check".to_string())]
        );
    }

    #[test]
    fn expiring_lists_entries_in_use_that_end_within_the_warning_window() {
        let yaml = "exceptions:
  - check: 1.2.6
    reason: ends in 14 days
    expires: 2026-06-29
  - check: 4.2.6
    reason: ends in 15 days
    expires: 2026-07-30
  - check: 9.9.9
    reason: stale, ends today
    expires: 2026-06-15
";
        let mut results = fleet(State::Fail, State::Fail);
        classify(&mut results, &baseline(yaml), &options());
        let expiring: Vec<u32> = results
            .baseline
            .unwrap()
            .expiring
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(expiring, vec![2]);
    }

    #[test]
    fn required_reasons_turn_placeholder_entries_into_regressions() {
        let yaml =
            "exceptions:\n  - check: 1.2.6\n    reason: \"TODO: explain why this is accepted\"\n";
        for (require_reasons, expected) in [
            (false, Classification::Accepted),
            (true, Classification::Regression),
        ] {
            let mut results = fleet(State::Fail, State::Pass);
            let options = ClassifyOptions {
                require_reasons,
                ..options()
            };
            classify(&mut results, &baseline(yaml), &options);
            let mark = mark_of(&results, "cp-1", "1.2.6").unwrap();
            assert_eq!(mark.classification, expected);
            assert_eq!(results.baseline.unwrap().placeholder_reasons.len(), 1);
        }
    }

    #[test]
    fn the_summary_counts_accepted_and_regressions_over_all_nodes() {
        let yaml = "exceptions:\n  - check: 4.2.6\n    reason: r\n";
        let mut results = run(
            "cis-1.12",
            vec![
                node("worker-1", "node", vec![check("4.2.6", State::Fail)]),
                node("worker-2", "node", vec![check("4.2.6", State::Fail)]),
                node("worker-3", "node", vec![check("4.2.7", State::Fail)]),
            ],
        );
        classify(&mut results, &baseline(yaml), &options());
        let summary = results.baseline.unwrap();
        assert_eq!(summary.file, "baseline.yaml");
        assert_eq!((summary.accepted, summary.regressions), (2, 1));
        assert!(summary.stale.is_empty());
    }
}
