//! Nightly runs of a fleet with known incidents, for the store and trend tests and the
//! store benchmark: which (node, check) regress on which nights is declared in
//! [`INCIDENTS`], so a test can compute the expected trend numbers from the declaration
//! alone.
#![allow(dead_code)]

use cisgate::results::*;

/// A regression that opens on night `open` on nodes `nodes` (indices) and is fixed on
/// night `fixed` (the first night it no longer fails), or never.
#[derive(Debug, Clone)]
pub struct Incident {
    pub check: &'static str,
    pub nodes: std::ops::Range<usize>,
    pub open: usize,
    pub fixed: Option<usize>,
    pub state: State,
}

const fn incident(
    check: &'static str,
    nodes: std::ops::Range<usize>,
    open: usize,
    fixed: Option<usize>,
) -> Incident {
    Incident {
        check,
        nodes,
        open,
        fixed,
        state: State::Fail,
    }
}

/// Nights run 0..30. Nodes 0-2 are control planes, the rest workers.
pub const INCIDENTS: &[Incident] = &[
    Incident {
        state: State::Error,
        ..incident("1.1.4", 0..1, 2, Some(4))
    },
    incident("4.2.5", 10..50, 3, Some(10)),
    incident("4.2.6", 100..110, 5, Some(6)),
    // worker 199 is away on nights 10-13: the incident stays open until it is back.
    incident("4.2.8", 199..200, 8, Some(14)),
    incident("1.1.3", 1..2, 12, Some(25)),
    incident("4.2.9", 150..155, 15, Some(17)),
    incident("4.2.9", 155..160, 15, Some(21)),
    incident("4.2.7", 60..80, 20, None),
    incident("4.2.5", 10..12, 26, Some(28)),
];

/// The node that is away, and the nights it is away.
pub const AWAY_NODE: usize = 199;
pub const AWAY_NIGHTS: std::ops::Range<usize> = 10..14;

/// The accepted exception: check 4.2.2 fails on every worker, accepted until this date.
pub const ACCEPTED_CHECK: &str = "4.2.2";
pub const ACCEPTED_EXPIRES: &str = "2026-12-05";

pub const FIRST_NIGHT_UNIX: i64 = 1_793_498_400; // 2026-11-01T02:00:00Z

pub fn night_time(night: usize) -> i64 {
    FIRST_NIGHT_UNIX + night as i64 * 86_400
}

pub fn node_name(index: usize) -> String {
    if index < 3 {
        format!("cp-{index}")
    } else {
        format!("worker-{index:04}")
    }
}

fn is_active(incident: &Incident, node: usize, night: usize) -> bool {
    incident.nodes.contains(&node)
        && night >= incident.open
        && incident.fixed.is_none_or(|fixed| night < fixed)
}

/// Whether node `index` is in night `night`'s run.
pub fn present(index: usize, night: usize) -> bool {
    !(index == AWAY_NODE && AWAY_NIGHTS.contains(&night))
}

/// The checks of a node: control planes run section 1 (10 checks) and 4, workers section 4
/// (20 checks). `extra` adds more section-4 checks (for larger benchmarks in the bench).
fn sections(control_plane: bool, extra: usize) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let mut list = Vec::new();
    if control_plane {
        list.push((
            "1",
            "master",
            (1..=10).map(|i| format!("1.1.{i}")).collect::<Vec<_>>(),
        ));
    }
    let mut node_checks: Vec<String> = (1..=10).map(|i| format!("4.1.{i}")).collect();
    node_checks.extend((1..=10 + extra).map(|i| format!("4.2.{i}")));
    list.push(("4", "node", node_checks));
    list
}

/// Night `night`'s results for `nodes` nodes (the classification a baseline with the one
/// accepted exception gives, and the gate's verdict).
pub fn night(night: usize, nodes: usize) -> RunResults {
    night_with(night, nodes, 0)
}

/// As [`night`], with `extra` more checks per node.
pub fn night_with(night: usize, nodes: usize, extra: usize) -> RunResults {
    let exception = ExceptionRef {
        check: ACCEPTED_CHECK.into(),
        reason: "the CNI plugin needs it until the upgrade".into(),
        expires: Some(ACCEPTED_EXPIRES.into()),
        owner: Some("platform-team".into()),
        ticket: Some("OPS-42".into()),
        line: 3,
        expired: false,
    };
    let mut all = Vec::new();
    let mut run_totals = Totals::default();
    let mut regressions = 0;
    let mut accepted = 0;
    for index in (0..nodes).filter(|i| present(*i, night)) {
        let control_plane = index < 3;
        let mut node_totals = Totals::default();
        let mut node_sections = Vec::new();
        for (section_id, target, ids) in sections(control_plane, extra) {
            let mut totals = Totals::default();
            let mut checks = Vec::new();
            for id in ids {
                let incident = INCIDENTS
                    .iter()
                    .find(|i| i.check == id && is_active(i, index, night));
                let (state, mark) = if let Some(incident) = incident {
                    regressions += 1;
                    (
                        incident.state,
                        Some(BaselineMark {
                            classification: Classification::Regression,
                            exception: None,
                        }),
                    )
                } else if id == "4.1.1" {
                    // A manual check: WARN, not covered, does not gate.
                    (
                        State::Warn,
                        Some(BaselineMark {
                            classification: Classification::Regression,
                            exception: None,
                        }),
                    )
                } else if id == "4.1.2" {
                    (State::Info, None)
                } else if id == ACCEPTED_CHECK && !control_plane {
                    accepted += 1;
                    (
                        State::Fail,
                        Some(BaselineMark {
                            classification: Classification::Accepted,
                            exception: Some(exception.clone()),
                        }),
                    )
                } else {
                    (State::Pass, None)
                };
                totals.add(state);
                let failing = matches!(state, State::Fail | State::Error);
                checks.push(CheckResult {
                    id: id.as_str().into(),
                    text: format!("Setting {id} is as the benchmark asks").into(),
                    state,
                    scored: id != "4.1.1",
                    check_type: if id == "4.1.1" {
                        "manual".into()
                    } else {
                        Default::default()
                    },
                    reason: if id == "4.1.1" {
                        "Test marked as a manual test".into()
                    } else {
                        Default::default()
                    },
                    remediation: format!(
                        "Set {id} as the benchmark asks and restart the component."
                    )
                    .into(),
                    evidence: Evidence {
                        audits: vec![AuditEvidence {
                            role: "audit".into(),
                            kind: "probe".into(),
                            command: format!("probe file_mode /etc/kubernetes/{id}.conf").into(),
                            output: if failing {
                                "permissions=644".into()
                            } else {
                                "permissions=600".into()
                            },
                            exit_code: None,
                        }],
                        actual: if failing {
                            "permissions=644".into()
                        } else {
                            "permissions=600".into()
                        },
                        expected:
                            "permissions has permissions 600, expected 600 or more restrictive"
                                .into(),
                    },
                    location: Some(Box::new(Location {
                        path: format!("/etc/kubernetes/{id}.conf").into(),
                        line: None,
                        source_file: None,
                    })),
                    baseline: mark.map(Box::new),
                    change: None,
                });
            }
            node_totals.merge(&totals);
            node_sections.push(SectionResult {
                id: section_id.into(),
                text: format!("Section {section_id}").into(),
                version: "cis-1.12".into(),
                target: target.into(),
                groups: vec![GroupResult {
                    id: format!("{section_id}.1").into(),
                    text: "Checks".into(),
                    checks,
                    totals,
                }],
                totals,
            });
        }
        run_totals.merge(&node_totals);
        all.push(NodeResults {
            node: NodeInfo {
                name: node_name(index),
                roles: vec![if control_plane {
                    "control-plane".into()
                } else {
                    "worker".into()
                }],
                kubernetes_version: Some("1.33.1".into()),
                platform: Some("linux/amd64".into()),
                source: format!("snapshots/{}.json.gz", node_name(index)),
                benchmark: Some("cis-1.12".into()),
                distribution: None,
            },
            sections: node_sections,
            totals: node_totals,
        });
    }
    RunResults {
        results_version: RESULTS_VERSION,
        tool: ToolInfo::current(),
        scanned_at: None,
        benchmark: BenchmarkInfo {
            name: "cis-1.12".into(),
            source: "embedded".into(),
            selected_because: "--benchmark cis-1.12".into(),
            targets: vec!["master".into(), "node".into()],
        },
        benchmarks: Vec::new(),
        nodes: all,
        unreadable: Vec::new(),
        totals: run_totals,
        gate: GateOutcome {
            fail_on: "fail".into(),
            allow_errors: false,
            passed: regressions == 0,
            exit_code: i32::from(regressions > 0),
            regressions,
        },
        baseline: Some(BaselineSummary {
            file: ".cisgate/baseline.yaml".into(),
            accepted,
            regressions,
            stale: Vec::new(),
            expiring: Vec::new(),
            expired: Vec::new(),
            placeholder_reasons: Vec::new(),
        }),
        previous: None,
    }
}
