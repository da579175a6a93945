//! `--previous`: marks each result new / unchanged / fixed relative to an earlier run.
//!
//! This is for reports only; it never changes the gate or the exit code. Results are
//! paired by node name and check id. A result is *failing* when it is FAIL, WARN or ERROR
//! (as for the baseline):
//! - failing now, not failing (or absent) before → `new`;
//! - failing now and before (the state may differ, FAIL ↔ WARN) → `unchanged`;
//! - not failing now, failing before → `fixed`;
//! - passing now and before (or absent before) → no mark.

use std::collections::{HashMap, HashSet};

use super::classify::is_non_passing;
use crate::results::{Change, NodeResults, PreviousSummary, RunResults};
use crate::runner::Stage;

/// Fills `CheckResult.change` for every result and `results.previous` with the counts.
pub fn mark(results: &mut RunResults, previous: &RunResults, file: &str) {
    let mut marker = Marker::new(previous, file);
    for node in &mut results.nodes {
        marker.mark(node);
    }
    results.previous = Some(marker.summary);
}

/// Marking node by node against an earlier run, as a run's nodes arrive.
pub struct Marker {
    /// Node name → ids of its results failing in the earlier run.
    failing_before: HashMap<String, HashSet<String>>,
    summary: PreviousSummary,
}

impl Marker {
    pub fn new(previous: &RunResults, file: &str) -> Marker {
        let mut failing_before: HashMap<String, HashSet<String>> = HashMap::new();
        for (node, _, check) in previous.checks() {
            if is_non_passing(check.state) {
                failing_before
                    .entry(node.node.name.clone())
                    .or_default()
                    .insert(check.id.to_string());
            }
        }
        Marker {
            failing_before,
            summary: PreviousSummary {
                file: file.to_string(),
                new: 0,
                unchanged: 0,
                fixed: 0,
            },
        }
    }

    pub fn mark(&mut self, node: &mut NodeResults) {
        let failing_before = self.failing_before.get(&node.node.name);
        let checks = node
            .sections
            .iter_mut()
            .flat_map(|s| s.groups.iter_mut())
            .flat_map(|g| g.checks.iter_mut());
        for check in checks {
            let was_failing = failing_before.is_some_and(|ids| ids.contains(check.id.as_str()));
            check.change = match (is_non_passing(check.state), was_failing) {
                (true, false) => Some(Change::New),
                (true, true) => Some(Change::Unchanged),
                (false, true) => Some(Change::Fixed),
                (false, false) => None,
            };
            match check.change {
                Some(Change::New) => self.summary.new += 1,
                Some(Change::Unchanged) => self.summary.unchanged += 1,
                Some(Change::Fixed) => self.summary.fixed += 1,
                None => {}
            }
        }
    }
}

impl Stage for Marker {
    fn node(&mut self, node: &mut NodeResults) {
        self.mark(node);
    }

    fn end(&mut self, run: &mut RunResults) {
        run.previous = Some(self.summary.clone());
    }

    /// Changes are matched by node and check, never by place.
    fn reads_locations(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::testing::{check, node, run};
    use crate::results::State;

    fn change_of(results: &RunResults, node_name: &str, id: &str) -> Option<Change> {
        results
            .checks()
            .find(|(n, _, c)| n.node.name == node_name && c.id == id)
            .map(|(_, _, c)| c.change)
            .expect("the check is in the run")
    }

    #[test]
    fn each_node_and_check_is_marked_against_the_earlier_run() {
        use State::{Fail, Pass, Warn};
        let before = run(
            "cis-1.12",
            vec![
                node(
                    "cp-1",
                    "master",
                    vec![
                        check("1.1.1", Fail),
                        check("1.1.2", Fail),
                        check("1.1.3", Pass),
                        check("1.1.4", Pass),
                        check("1.1.5", Warn),
                    ],
                ),
                node("cp-2", "master", vec![check("1.1.1", Pass)]),
            ],
        );
        let mut now = run(
            "cis-1.12",
            vec![
                node(
                    "cp-1",
                    "master",
                    vec![
                        check("1.1.1", Fail),
                        check("1.1.2", Pass),
                        check("1.1.3", Fail),
                        check("1.1.4", Pass),
                        check("1.1.5", Fail),
                        check("1.1.6", Fail),
                    ],
                ),
                // Failed on cp-1 before, never on cp-2: new on cp-2.
                node("cp-2", "master", vec![check("1.1.1", Fail)]),
                node("cp-3", "master", vec![check("1.1.1", Pass)]),
            ],
        );
        mark(&mut now, &before, "previous.json");
        let table = [
            ("cp-1", "1.1.1", Some(Change::Unchanged)),
            ("cp-1", "1.1.2", Some(Change::Fixed)),
            ("cp-1", "1.1.3", Some(Change::New)),
            ("cp-1", "1.1.4", None),
            ("cp-1", "1.1.5", Some(Change::Unchanged)),
            ("cp-1", "1.1.6", Some(Change::New)),
            ("cp-2", "1.1.1", Some(Change::New)),
            ("cp-3", "1.1.1", None),
        ];
        for (node_name, id, expected) in table {
            assert_eq!(change_of(&now, node_name, id), expected, "{node_name} {id}");
        }
        assert_eq!(
            now.previous,
            Some(PreviousSummary {
                file: "previous.json".into(),
                new: 3,
                unchanged: 2,
                fixed: 1,
            })
        );
    }

    #[test]
    fn marking_never_touches_the_gate() {
        let before = run("cis-1.12", vec![]);
        let mut now = run(
            "cis-1.12",
            vec![node("cp-1", "master", vec![check("1.1.1", State::Fail)])],
        );
        let gate = now.gate.clone();
        mark(&mut now, &before, "previous.json");
        assert_eq!(now.gate, gate);
        assert_eq!(now.nodes[0].sections[0].groups[0].checks[0].baseline, None);
    }
}
