//! What a reader sees of a finding in every report: the decisive value (the tested key and its
//! value), never the whole kubelet config or command line the tests read; remediations with
//! their lines as written; and the HTML's colours telling a 0% pass rate apart from a good one.

mod support;

use cisgate::report::asff::{findings, AsffContext};
use cisgate::report::codequality::CodeQualityEmitter;
use cisgate::report::html::HtmlEmitter;
use cisgate::report::junit::JunitEmitter;
use cisgate::report::markdown::MarkdownEmitter;
use cisgate::report::sarif::SarifEmitter;
use cisgate::report::text::Text;
use cisgate::report::{ConsoleFormat, Emitter, RenderOptions};
use cisgate::results::{CheckResult, RunResults, State};
use serde_json::Value;
use support::{render_string, small_fixture};

/// In the fixture, worker-1's 4.2.1 read the whole kubelet config (`actual`), and its
/// decisive value is one key.
const DECISIVE: &str = "authentication.anonymous.enabled: true";
/// A piece of the kubelet config that is not decisive.
const NOT_DECISIVE: &str = "cacheTTL";
/// cp-1's 1.2.1 read the whole kube-apiserver command line.
const API_DECISIVE: &str = "--anonymous-auth=true";
const API_NOT_DECISIVE: &str = "--advertise-address=10.0.0.10";

fn asff_context() -> AsffContext {
    AsffContext {
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        product_arn: "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
            .into(),
        cluster: "test".into(),
        timestamp: "2026-12-03T02:00:00.000Z".into(),
        run_id: "run-1".into(),
    }
}

fn with_test_output() -> RenderOptions {
    RenderOptions {
        include_test_output: true,
        ..RenderOptions::default()
    }
}

fn render_with(emitter: &dyn Emitter, results: &RunResults, options: &RenderOptions) -> String {
    String::from_utf8(emitter.render(results, options).unwrap()).unwrap()
}

fn kubelet_check(results: &mut RunResults) -> &mut CheckResult {
    results
        .nodes
        .iter_mut()
        .find(|n| n.node.name == "worker-1")
        .unwrap()
        .sections[0]
        .groups[0]
        .checks
        .iter_mut()
        .find(|c| c.id == "4.2.1")
        .unwrap()
}

#[test]
fn every_report_shows_the_decisive_value_and_not_the_whole_config() {
    let results = small_fixture();
    assert!(kubelet_check(&mut small_fixture())
        .evidence
        .actual
        .contains(NOT_DECISIVE));
    let sarif = render_string(&SarifEmitter, &results);
    let log: Value = serde_json::from_str(&sarif).unwrap();
    let messages: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["text"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains(DECISIVE)),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains(API_DECISIVE)),
        "{messages:?}"
    );
    let asff: Vec<String> = findings(&results, &asff_context())
        .iter()
        .map(|f| f["Description"].as_str().unwrap().to_owned())
        .collect();
    let reports = [
        ("SARIF", sarif),
        ("JUnit", render_string(&JunitEmitter, &results)),
        ("Code Quality", render_string(&CodeQualityEmitter, &results)),
        ("Markdown", render_string(&MarkdownEmitter, &results)),
        ("HTML", render_string(&HtmlEmitter, &results)),
        ("ASFF", asff.join("\n")),
        ("console", console_full(&results)),
    ];
    for (name, report) in &reports {
        // HTML escapes `/`, JSON nothing here, XML nothing here.
        assert!(report.contains(DECISIVE), "{name} does not show {DECISIVE}");
        assert!(
            !report.contains(NOT_DECISIVE),
            "{name} shows the whole kubelet config"
        );
        assert!(
            !report.contains(API_NOT_DECISIVE),
            "{name} shows the whole kube-apiserver command line"
        );
    }
    for message in messages {
        assert!(message.chars().count() <= 300, "{message}");
    }
}

#[test]
fn the_whole_audit_output_is_there_with_include_test_output() {
    let results = small_fixture();
    for (name, emitter) in [
        ("JUnit", &JunitEmitter as &dyn Emitter),
        ("HTML", &HtmlEmitter as &dyn Emitter),
    ] {
        let report = render_with(emitter, &results, &with_test_output());
        assert!(report.contains(NOT_DECISIVE), "{name}");
        assert!(report.contains(API_NOT_DECISIVE), "{name}");
    }
}

/// The fixture's remediation for 4.2.1, a YAML snippet between two sentences with backticks.
const SNIPPET: &str = "set\n  authentication:\n    anonymous:\n      enabled: false\nand remove";

#[test]
fn remediations_keep_their_lines_in_every_report() {
    let results = small_fixture();
    let markdown = render_string(&MarkdownEmitter, &results);
    assert!(markdown.contains(&format!(
        "```text\nIn /var/lib/kubelet/config.yaml {SNIPPET}"
    )));
    assert!(
        markdown.contains("any `--anonymous-auth=true` from"),
        "backticks shown as written, not escaped"
    );
    assert!(!markdown.contains("\\`"), "no escaped backticks");

    let html = render_string(&HtmlEmitter, &results);
    let html_snippet = "set\n  authentication:\n    anonymous:\n      enabled: false\nand remove";
    assert!(
        html.contains(&format!(
            "<pre>In &#x2f;var&#x2f;lib&#x2f;kubelet&#x2f;config.yaml {html_snippet}"
        )),
        "the HTML keeps the remediation in a pre block"
    );

    let log: Value = serde_json::from_str(&render_string(&SarifEmitter, &results)).unwrap();
    let rule = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "4.2.1")
        .unwrap();
    assert!(rule["help"]["text"].as_str().unwrap().contains(SNIPPET));
    let help = rule["help"]["markdown"].as_str().unwrap();
    assert!(
        help.contains(&format!(
            "```text\nIn /var/lib/kubelet/config.yaml {SNIPPET}"
        )),
        "{help}"
    );

    let junit = render_string(&JunitEmitter, &results);
    let document = roxmltree::Document::parse(&junit).unwrap();
    let failure = document
        .descendants()
        .find(|n| {
            n.has_tag_name("failure")
                && n.parent()
                    .and_then(|case| case.attribute("classname"))
                    .is_some_and(|class| class.starts_with("worker-1"))
        })
        .unwrap();
    assert!(failure.text().unwrap().contains(SNIPPET));

    let codequality: Value =
        serde_json::from_str(&render_string(&CodeQualityEmitter, &results)).unwrap();
    let body = codequality
        .as_array()
        .unwrap()
        .iter()
        .find(|issue| issue["check_name"] == "cisgate/4.2.1")
        .unwrap()["content"]["body"]
        .as_str()
        .unwrap();
    assert!(body.contains(&format!(
        "```text\nIn /var/lib/kubelet/config.yaml {SNIPPET}"
    )));
}

#[test]
fn html_does_not_colour_a_zero_pass_rate_green() {
    let mut results = small_fixture();
    // worker-2's only passing check becomes a manual WARN: 0 of 3 pass, nothing fails.
    let worker = results
        .nodes
        .iter_mut()
        .find(|n| n.node.name == "worker-2")
        .unwrap();
    let section = &mut worker.sections[0];
    let check = section.groups[0]
        .checks
        .iter_mut()
        .find(|c| c.state == State::Pass)
        .unwrap();
    check.state = State::Warn;
    for totals in [
        &mut section.totals,
        &mut section.groups[0].totals,
        &mut worker.totals,
    ] {
        totals.pass -= 1;
        totals.warn += 1;
    }
    let html = render_string(&HtmlEmitter, &results);
    let zero = regex::Regex::new(r#"<td class="num (\w+)" title="0 of 3 pass">0%</td>"#).unwrap();
    let level = &zero.captures(&html).expect("worker-2's 0% cell")[1];
    assert_ne!(level, "good", "a 0% pass rate is not coloured as good");
}

/// The console's per-check listing (a fleet's console is a summary by default).
fn console_full(results: &RunResults) -> String {
    let options = RenderOptions {
        format: Some(ConsoleFormat::Full),
        ..RenderOptions::default()
    };
    String::from_utf8(Text.render(results, &options).unwrap()).unwrap()
}
