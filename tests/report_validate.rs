//! Every format checked by an independent consumer: the official SARIF schema, the junit-10 XSD
//! through xmllint, an XML parser reading the counts back, and GitLab's documented Code Quality
//! fields. A test that needs an absent schema or tool calls `support::missing` (a failure under CI).

mod support;

use std::collections::HashSet;
use std::process::Command;

use cisgate::report::codequality::CodeQualityEmitter;
use cisgate::report::findings::{disposition, Disposition};
use cisgate::report::junit::JunitEmitter;
use cisgate::report::markdown::MarkdownEmitter;
use cisgate::report::sarif::SarifEmitter;
use cisgate::results::{RunResults, State};
use support::{
    generated_fleet, render, repo_root, shared_file, small_fixture, tool_available, write_temp,
};

fn run_validator(command: &mut Command) {
    let output = command.output().expect("validator runs");
    assert!(
        output.status.success(),
        "validator rejected the report:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sarif_validates_against_the_official_2_1_0_schema() {
    let Some(schema) = shared_file("schemas/sarif-schema-2.1.0.json") else {
        return;
    };
    if !tool_available("check-jsonschema", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(
        dir.path(),
        "report.sarif",
        &render(&SarifEmitter, &small_fixture()),
    );
    run_validator(
        Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(schema)
            .arg(file),
    );
}

#[test]
fn sarif_schema_validation_catches_a_broken_report() {
    let Some(schema) = shared_file("schemas/sarif-schema-2.1.0.json") else {
        return;
    };
    if !tool_available("check-jsonschema", &["--version"]) {
        return;
    }
    let mut log: serde_json::Value =
        serde_json::from_slice(&render(&SarifEmitter, &small_fixture())).unwrap();
    log["runs"][0]["results"][0]["level"] = serde_json::json!("critical");
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "bad.sarif", &serde_json::to_vec(&log).unwrap());
    let status = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap()
        .status;
    assert!(
        !status.success(),
        "the validator must reject an invalid level"
    );
}

fn sarif_of(results: &RunResults) -> serde_json::Value {
    serde_json::from_slice(&render(&SarifEmitter, results)).unwrap()
}

#[test]
fn sarif_has_one_rule_per_check_and_one_result_per_non_passing_check() {
    let results = small_fixture();
    let log = sarif_of(&results);
    let run = &log["runs"][0];
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let check_ids: HashSet<&str> = results.checks().map(|(_, _, c)| c.id.as_str()).collect();
    assert_eq!(rule_ids.len(), check_ids.len());
    assert_eq!(rule_ids.iter().copied().collect::<HashSet<_>>(), check_ids);
    assert_eq!(
        rule_ids,
        vec![
            "1.1.1", "1.1.12", "1.2.1", "1.2.5", "1.2.9", "1.2.16", "1.4.1", "4.2.1", "4.2.6",
            "4.2.8"
        ]
    );
    let non_passing = results
        .checks()
        .filter(|(_, _, c)| c.state != State::Pass)
        .count();
    let sarif_results = run["results"].as_array().unwrap();
    assert_eq!(sarif_results.len(), non_passing);
    for result in sarif_results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rule_ids[index], result["ruleId"].as_str().unwrap());
    }
}

#[test]
fn every_sarif_result_has_a_relative_physical_location_with_a_base_id() {
    let log = sarif_of(&small_fixture());
    for result in log["runs"][0]["results"].as_array().unwrap() {
        let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
        let uri = artifact["uri"].as_str().expect("uri");
        assert!(
            !uri.starts_with('/') && !uri.contains("://"),
            "{uri} is not relative"
        );
        assert!(artifact["uriBaseId"].is_string());
        assert!(result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].is_string());
        assert!(result["partialFingerprints"]["cisgate/v1"].is_string());
    }
}

#[test]
fn sarif_regression_points_at_the_manifest_line_in_the_repository() {
    let log = sarif_of(&small_fixture());
    let result = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "1.2.1")
        .unwrap()
        .clone();
    assert_eq!(result["level"], "error");
    assert_eq!(result["baselineState"], "new");
    let physical = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        physical["artifactLocation"]["uri"],
        "snapshots/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    assert_eq!(physical["artifactLocation"]["uriBaseId"], "SRCROOT");
    assert_eq!(physical["region"]["startLine"], 14);
}

#[test]
fn sarif_accepted_exception_is_an_external_suppression_with_the_reason() {
    let log = sarif_of(&small_fixture());
    let results = log["runs"][0]["results"].as_array().unwrap();
    let suppressed: Vec<_> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["ruleId"], "1.1.12");
    let suppression = &suppressed[0]["suppressions"][0];
    assert_eq!(suppression["kind"], "external");
    assert_eq!(
        suppression["justification"],
        "kubeadm runs etcd as root; tracked in SEC-142"
    );
}

#[test]
fn sarif_fingerprints_survive_line_moves_and_evidence_changes() {
    let before = small_fixture();
    let mut after = small_fixture();
    for node in &mut after.nodes {
        for section in &mut node.sections {
            for group in &mut section.groups {
                for check in &mut group.checks {
                    if let Some(location) = &mut check.location {
                        location.line = location.line.map(|l| l + 7);
                    }
                    check.evidence.actual = format!("{} (changed)", check.evidence.actual).into();
                }
            }
        }
    }
    let prints = |results: &RunResults| -> Vec<String> {
        sarif_of(results)["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["cisgate/v1"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (a, b) = (prints(&before), prints(&after));
    assert_eq!(a, b);
    assert_eq!(
        a.iter().collect::<HashSet<_>>().len(),
        a.len(),
        "fingerprints are unique"
    );
}

#[test]
fn junit_validates_against_the_junit_10_xsd() {
    let Some(xsd) = shared_file("schemas/junit-10.xsd") else {
        return;
    };
    if !tool_available("xmllint", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(
        dir.path(),
        "junit.xml",
        &render(&JunitEmitter, &small_fixture()),
    );
    run_validator(
        Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd)
            .arg(file),
    );
}

#[test]
fn junit_counts_read_back_by_an_xml_parser_equal_the_results() {
    let results = small_fixture();
    let xml = String::from_utf8(render(&JunitEmitter, &results)).unwrap();
    let document = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let count = |tag: &str| {
        document
            .descendants()
            .filter(|n| n.has_tag_name(tag))
            .count()
    };
    let attr = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();

    let expected_errors = results
        .checks()
        .filter(|(_, _, c)| {
            c.state == State::Error && disposition(c, &results.gate) != Disposition::Accepted
        })
        .count();
    let expected_failures = results
        .checks()
        .filter(|(_, _, c)| {
            c.state != State::Error && disposition(c, &results.gate) == Disposition::Regression
        })
        .count();
    let expected_skipped =
        results.totals.checks() - results.totals.pass - expected_errors - expected_failures;

    assert_eq!(count("testcase"), results.totals.checks());
    assert_eq!(attr("tests"), results.totals.checks());
    assert_eq!(count("failure"), expected_failures);
    assert_eq!(attr("failures"), expected_failures);
    assert_eq!(count("error"), expected_errors);
    assert_eq!(attr("errors"), expected_errors);
    assert_eq!(count("skipped"), expected_skipped);
    assert_eq!(
        expected_failures + expected_errors,
        results.gate.regressions,
        "failures and errors together are the gate's regressions"
    );
    let suites = results
        .nodes
        .iter()
        .map(|n| n.sections.len())
        .sum::<usize>();
    assert_eq!(count("testsuite"), suites);
    for suite in document
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
    {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(
            suite.attribute("tests").unwrap().parse::<usize>().unwrap(),
            cases
        );
    }
}

#[test]
fn junit_case_names_and_classnames_follow_node_and_section() {
    let xml = String::from_utf8(render(&JunitEmitter, &small_fixture())).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    let case = document
        .descendants()
        .find(|n| {
            n.attribute("name")
                == Some("4.2.1 Ensure that the --anonymous-auth argument is set to false")
                && n.attribute("classname") == Some("worker-1.4")
        })
        .expect("case for worker-1 4.2.1");
    let failure = case
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    assert!(failure
        .text()
        .unwrap()
        .contains("Remediation: Set authentication.anonymous.enabled: false"));
    let accepted = document
        .descendants()
        .find(|n| n.has_tag_name("skipped") && n.attribute("type") == Some("accepted"))
        .expect("an accepted skip");
    assert!(accepted
        .attribute("message")
        .unwrap()
        .contains("tracked in SEC-142"));
}

#[test]
fn codequality_has_gitlabs_required_fields() {
    let schema = repo_root().join("tests/fixtures/schemas/gitlab-codequality.schema.json");
    if !tool_available("check-jsonschema", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(
        dir.path(),
        "gl-code-quality.json",
        &render(&CodeQualityEmitter, &small_fixture()),
    );
    run_validator(
        Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(schema)
            .arg(file),
    );
}

#[test]
fn codequality_lists_each_regression_once_with_a_unique_fingerprint() {
    let results = small_fixture();
    let issues: Vec<serde_json::Value> =
        serde_json::from_slice(&render(&CodeQualityEmitter, &results)).unwrap();
    assert_eq!(issues.len(), results.gate.regressions);
    let fingerprints: HashSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), issues.len());
    let anonymous = issues
        .iter()
        .find(|i| i["check_name"] == "cisgate/1.2.1")
        .unwrap();
    assert_eq!(
        anonymous["location"]["path"],
        "snapshots/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    assert_eq!(anonymous["location"]["lines"]["begin"], 14);
    assert_eq!(anonymous["severity"], "critical");
}

#[test]
fn markdown_summary_for_1000_nodes_stays_under_githubs_step_summary_limit() {
    let results = generated_fleet(1000, 130);
    let summary = String::from_utf8(render(&MarkdownEmitter, &results)).unwrap();
    assert!(summary.len() < 1024 * 1024, "{} bytes", summary.len());
    assert!(summary.contains("gate failed"));
    assert!(summary.contains("more node(s)"));
    assert!(summary.contains("[remediation](#fix-"));
}

#[test]
fn sarif_for_1000_nodes_validates_and_keeps_fingerprints_unique() {
    let results = generated_fleet(1000, 130);
    let bytes = render(&SarifEmitter, &results);
    let log: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let sarif_results = log["runs"][0]["results"].as_array().unwrap();
    let prints: HashSet<&str> = sarif_results
        .iter()
        .map(|r| r["partialFingerprints"]["cisgate/v1"].as_str().unwrap())
        .collect();
    assert_eq!(prints.len(), sarif_results.len());
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        130
    );
}
