//! The HTML report: escaping, the Nu HTML checker, what headless Chromium shows (counts, a
//! regression, a filter that hides rows), and the 1,000 nodes × 130 checks scale test.

mod support;

use std::time::Instant;

use cisgate::report::findings::{disposition, Disposition};
use cisgate::report::html::HtmlEmitter;
use cisgate::results::{RunResults, State};
use regex::Regex;
use support::{chromium_dom, generated_fleet, render, render_string, small_fixture, write_temp};

/// The small fixture with hostile text wherever a node or snapshot supplies it.
fn hostile_fixture() -> RunResults {
    let mut results = small_fixture();
    results.nodes[1].node.name = "<script>alert('node')</script>".into();
    results.nodes[1].node.roles = vec!["\"><img src=x onerror=alert(1)>".into()];
    let check = &mut results.nodes[1].sections[0].groups[0].checks[0];
    check.evidence.actual = "</code></td><script>alert('actual')</script>".into();
    check.evidence.audits[0].output = "<iframe src=javascript:alert(1)></iframe> & done".into();
    check.reason = "<b onmouseover=alert(1)>hover</b>".into();
    if let Some(location) = &mut check.location {
        location.path = "/etc/<svg onload=alert(1)>/config.yaml".into();
    }
    results.unreadable[0].reason = "<style>body{display:none}</style>".into();
    results
}

#[test]
fn html_escapes_everything_taken_from_nodes() {
    let html = render_string(&HtmlEmitter, &hostile_fixture());
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own script and its data"
    );
    let island = data_island(&html);
    assert!(
        !island.contains('<'),
        "the data island cannot close its element"
    );
    assert!(island.contains(r"\u003cscript>alert('node')\u003c/script>"));
    for injected in [
        "<img src=x",
        "<iframe",
        "<b onmouseover",
        "<svg onload",
        "<style>body",
        "</code></td><script",
    ] {
        assert!(
            !html.contains(injected),
            "{injected} reached the page unescaped"
        );
    }
    assert!(html.contains("&lt;script&gt;alert(&#x27;node&#x27;)&lt;&#x2f;script&gt;"));
}

/// The text of the page's JSON data island.
fn data_island(html: &str) -> &str {
    let start = html
        .find(r#"<script type="application/json" id="check-data">"#)
        .unwrap();
    let island = &html[start..];
    let island = &island[island.find('>').unwrap() + 1..];
    &island[..island.find("</script>").unwrap()]
}

fn nu_check(html: &[u8]) {
    support::assert_valid_html(html);
}

#[test]
fn html_passes_the_nu_html_checker() {
    nu_check(&render(&HtmlEmitter, &small_fixture()));
}

#[test]
fn html_with_hostile_input_still_passes_the_nu_html_checker() {
    nu_check(&render(&HtmlEmitter, &hostile_fixture()));
}

#[test]
fn html_needs_no_network() {
    let html = render_string(&HtmlEmitter, &small_fixture());
    for remote in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "src=\"//",
        "href=\"//",
    ] {
        assert!(!html.contains(remote), "the page loads {remote}…");
    }
}

fn element_text<'a>(dom: &'a str, id: &str) -> &'a str {
    let pattern = Regex::new(&format!(r#"id="{id}"[^>]*>([^<]*)<"#)).unwrap();
    pattern
        .captures(dom)
        .unwrap_or_else(|| panic!("no element #{id}"))
        .get(1)
        .unwrap()
        .as_str()
}

/// (state, hidden) for each row of the per-node checks table.
fn check_rows(dom: &str) -> Vec<(String, bool)> {
    let row = Regex::new(r#"<tr ([^>]*data-state="([A-Z]+)"[^>]*)>"#).unwrap();
    row.captures_iter(dom)
        .map(|c| (c[2].to_string(), c[1].contains("hidden")))
        .collect()
}

fn render_to_file(results: &RunResults) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "report.html", &render(&HtmlEmitter, results));
    (dir, file)
}

#[test]
fn chromium_shows_the_counts_and_the_regressions() {
    let results = small_fixture();
    let (_dir, file) = render_to_file(&results);
    let Some(dom) = chromium_dom(&format!("file://{}", file.display())) else {
        return;
    };
    assert_eq!(
        element_text(&dom, "total-checks"),
        results.totals.checks().to_string()
    );
    assert_eq!(
        element_text(&dom, "total-fail"),
        results.totals.fail.to_string()
    );
    assert_eq!(
        element_text(&dom, "total-error"),
        results.totals.error.to_string()
    );
    assert_eq!(
        element_text(&dom, "regression-count"),
        results.gate.regressions.to_string()
    );
    assert!(dom.contains("Gate failed"));
    // The first regression: 1.2.1 on cp-1, its manifest line and its remediation.
    let first = &dom[dom.find("id=\"regression-1\"").expect("a regression")..];
    let first = &first[..first.find("</article>").unwrap()];
    assert!(first.contains("1.2.1 Ensure that the --anonymous-auth argument is set to false"));
    assert!(first.contains("/etc/kubernetes/manifests/kube-apiserver.yaml:14"));
    assert!(first.contains("--anonymous-auth=true"));
    assert!(first.contains("set --anonymous-auth=false"));
    // Scripts ran: the filter form is shown, and with no filter every row is visible.
    assert!(!Regex::new(r#"<form id="filters"[^>]*hidden"#)
        .unwrap()
        .is_match(&dom));
    let rows = check_rows(&dom);
    assert_eq!(rows.len(), results.totals.checks());
    assert!(rows.iter().all(|(_, hidden)| !hidden));
}

#[test]
fn chromium_filter_from_the_url_fragment_hides_other_rows() {
    let results = small_fixture();
    let (_dir, file) = render_to_file(&results);
    let Some(dom) = chromium_dom(&format!("file://{}#state=FAIL", file.display())) else {
        return;
    };
    let rows = check_rows(&dom);
    let fails = rows.iter().filter(|(state, _)| state == "FAIL").count();
    assert_eq!(fails, results.totals.fail);
    for (state, hidden) in &rows {
        assert_eq!(*hidden, state != "FAIL", "{state} row hidden={hidden}");
    }
    assert_eq!(
        element_text(&dom, "shown-count"),
        format!(
            "{} of {} rows",
            results.totals.fail,
            results.totals.checks()
        )
    );
}

#[test]
fn chromium_filter_by_node_and_classification_combines() {
    let results = small_fixture();
    let (_dir, file) = render_to_file(&results);
    let Some(dom) = chromium_dom(&format!(
        "file://{}#node=cp-1&mark=regression",
        file.display()
    )) else {
        return;
    };
    let expected = results
        .checks()
        .filter(|(n, _, c)| {
            n.node.name == "cp-1" && disposition(c, &results.gate) == Disposition::Regression
        })
        .count();
    let shown = check_rows(&dom)
        .iter()
        .filter(|(_, hidden)| !hidden)
        .count();
    assert_eq!(shown, expected);
    assert_eq!(shown, 3);
}

/// Findings of one check that are alike on many nodes are one row naming the nodes.
fn regression_nodes(html: &str) -> usize {
    Regex::new(r#"<tr class="regression-row" data-nodes="(\d+)""#)
        .unwrap()
        .captures_iter(html)
        .map(|c| c[1].parse::<usize>().unwrap())
        .sum()
}

#[test]
fn html_for_1000_unlike_nodes_by_130_checks_is_under_5_mb_and_counts_every_regression() {
    let results = generated_fleet(1000, 130);
    assert_eq!(results.totals.checks(), 130_000);
    let html = render(&HtmlEmitter, &results);
    eprintln!("{} bytes", html.len());
    assert!(html.len() < 5_000_000, "{} bytes is over 5 MB", html.len());
    let text = String::from_utf8(html).unwrap();
    let regressions = results
        .checks()
        .filter(|(_, _, c)| disposition(c, &results.gate) == Disposition::Regression)
        .count();
    assert_eq!(regression_nodes(&text), regressions);
    assert!(
        !text.contains("<tr data-state"),
        "per-node rows are drawn by the script, not sent as HTML"
    );
    assert!(text.contains("(130000 rows)"));
}

/// `nodes` alike nodes: the small fixture's control-plane node under new names.
fn alike_fleet(nodes: usize) -> RunResults {
    let mut results = small_fixture();
    let template = results.nodes[0].clone();
    results.nodes = (0..nodes)
        .map(|n| {
            let mut node = template.clone();
            node.node.name = format!("cp-{n:05}");
            node.node.source = format!("snapshots/cp-{n:05}.json.gz");
            node
        })
        .collect();
    results.totals = Default::default();
    for node in &results.nodes {
        results.totals.merge(&node.totals);
    }
    results.unreadable.clear();
    results
}

#[test]
fn html_of_1000_alike_nodes_shares_their_texts_and_stays_under_5_mb() {
    let one = render(&HtmlEmitter, &alike_fleet(1)).len();
    let results = alike_fleet(1000);
    let html = render_string(&HtmlEmitter, &results);
    eprintln!("1 node: {one} bytes, 1000 nodes: {} bytes", html.len());
    assert!(html.len() < 5_000_000);
    // What each further node adds is its name in a few places and its fleet row, not its
    // results: every remediation is on the page once.
    let per_node = (html.len() - one) / 999;
    assert!(per_node < 1_000, "{per_node} bytes per node");
    let remediation = "set --anonymous-auth=false";
    assert_eq!(html.matches(remediation).count(), 1, "{remediation}");
    assert_eq!(
        regression_nodes(&html),
        results
            .checks()
            .filter(|(_, _, c)| disposition(c, &results.gate) == Disposition::Regression)
            .count()
    );
}

#[test]
fn fleet_table_of_a_big_fleet_lists_the_worst_200_nodes_and_counts_the_rest() {
    let mut results = alike_fleet(1500);
    // One node worse than the others: it must be among those listed.
    let worst = &mut results.nodes[1234].sections[0].groups[0].checks[0];
    worst.state = State::Error;
    let html = render_string(&HtmlEmitter, &results);
    let fleet = &html[html.find("id=\"fleet-table\"").unwrap()..];
    let fleet = &fleet[..fleet.find("</table>").unwrap()];
    assert_eq!(fleet.matches("<tr><td>").count(), 200);
    assert!(
        fleet.contains("<tr><td>cp-01234</td>"),
        "the worst node is listed"
    );
    assert!(html.contains("… and 1300 more nodes, none worse than those above"));
    // Every node is still in the data the per-node table is drawn from.
    assert!(data_island(&html).contains("\"cp-01499\""));
}

#[test]
fn chromium_filters_the_1000_node_page_from_its_url_fragment() {
    let results = alike_fleet(1000);
    let dir = tempfile::tempdir().unwrap();
    let html = render(&HtmlEmitter, &results);
    assert!(html.len() < 5_000_000);
    let file = write_temp(dir.path(), "report.html", &html);
    let Some(dom) = chromium_dom(&format!(
        "file://{}#node=cp-00500&mark=regression",
        file.display()
    )) else {
        return;
    };
    let expected = results
        .checks()
        .filter(|(n, _, c)| {
            n.node.name == "cp-00500" && disposition(c, &results.gate) == Disposition::Regression
        })
        .count();
    assert!(expected > 0);
    let rows =
        Regex::new(r#"<tr data-state="[A-Z]+" data-mark="regression"[^>]*><td>cp-00500</td>"#)
            .unwrap();
    assert_eq!(rows.find_iter(&dom).count(), expected);
    assert_eq!(check_rows(&dom).len(), expected, "no other row is drawn");
    assert_eq!(
        element_text(&dom, "shown-count"),
        format!("{expected} of {} rows", results.totals.checks())
    );
    // Unfiltered, the first page of rows is drawn and the rest is a click away.
    let Some(dom) = chromium_dom(&format!("file://{}", file.display())) else {
        return;
    };
    assert_eq!(check_rows(&dom).len(), 1000);
    assert_eq!(
        element_text(&dom, "shown-count"),
        format!("1000 drawn, {0} of {0} rows", results.totals.checks())
    );
    assert!(!Regex::new(r#"id="more-rows"[^>]*hidden"#)
        .unwrap()
        .is_match(&dom));
}

#[test]
fn chromium_loads_the_1000_node_page_quickly() {
    let results = generated_fleet(1000, 130);
    let (_dir, file) = render_to_file(&results);
    let started = Instant::now();
    let Some(dom) = chromium_dom(&format!("file://{}#state=ERROR", file.display())) else {
        return;
    };
    let elapsed = started.elapsed();
    eprintln!("chromium loaded, ran the filter and dumped the DOM in {elapsed:?}");
    // Browser start-up included; the page itself must stay well inside this.
    assert!(elapsed.as_secs() < 20, "took {elapsed:?}");
    let errors = results
        .checks()
        .filter(|(_, _, c)| c.state == State::Error)
        .count();
    let shown = check_rows(&dom)
        .iter()
        .filter(|(_, hidden)| !hidden)
        .count();
    assert_eq!(shown, errors);
}

/// A run where everything passes, with no baseline, no previous run and nothing unreadable.
fn clean_fixture() -> RunResults {
    let mut results = small_fixture();
    for node in &mut results.nodes {
        for check in node
            .sections
            .iter_mut()
            .flat_map(|s| s.groups.iter_mut())
            .flat_map(|g| g.checks.iter_mut())
        {
            check.state = State::Pass;
            check.baseline = None;
            check.change = None;
        }
    }
    results.baseline = None;
    results.previous = None;
    results.unreadable.clear();
    cisgate::report::merge::recompute_totals(&mut results);
    results.gate.passed = true;
    results.gate.exit_code = 0;
    results.gate.regressions = 0;
    results
}

#[test]
fn html_for_a_clean_run_says_passed_and_passes_the_nu_checker() {
    let html = render(&HtmlEmitter, &clean_fixture());
    let text = String::from_utf8(html.clone()).unwrap();
    assert!(text.contains("Gate passed"));
    assert!(text.contains("No regressions."));
    assert!(!text.contains("id=\"baseline\""));
    nu_check(&html);
}

#[test]
fn html_for_a_run_with_no_nodes_renders_and_passes_the_nu_checker() {
    let mut results = clean_fixture();
    results.nodes.clear();
    results.unreadable = small_fixture().unreadable;
    cisgate::report::merge::recompute_totals(&mut results);
    let html = render(&HtmlEmitter, &results);
    assert!(String::from_utf8_lossy(&html).contains("could not be evaluated"));
    nu_check(&html);
}

/// `cisgate scan --html` builds the page as nodes arrive (in completion order, on worker
/// threads); `cisgate report --from` builds it from saved results: the same bytes.
#[test]
fn the_streamed_html_of_a_scan_is_the_page_rendered_from_its_saved_results() {
    let dir = tempfile::tempdir().unwrap();
    let (json, streamed, saved) = (
        dir.path().join("results.json"),
        dir.path().join("streamed.html"),
        dir.path().join("saved.html"),
    );
    let mut scan = assert_cmd::Command::cargo_bin("cisgate").unwrap();
    scan.env("SOURCE_DATE_EPOCH", "1767225600")
        .current_dir(support::repo_root())
        .args([
            "scan",
            "--quiet",
            "--snapshot",
            "examples/snapshots",
            "--snapshot",
            "examples/collected",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&streamed);
    assert!(matches!(scan.output().unwrap().status.code(), Some(0 | 1)));
    let mut report = assert_cmd::Command::cargo_bin("cisgate").unwrap();
    report
        .args(["report", "--from"])
        .arg(&json)
        .arg("--html")
        .arg(&saved);
    let output = report.output().unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (a, b) = (
        std::fs::read_to_string(&streamed).unwrap(),
        std::fs::read_to_string(&saved).unwrap(),
    );
    assert!(a.contains("id=\"check-data\""));
    assert!(
        a == b,
        "the streamed page differs from the one rendered from results"
    );
}

/// The script draws node text from the data island as text, never as markup.
#[test]
fn chromium_draws_hostile_node_text_from_the_data_as_text() {
    let results = hostile_fixture();
    let (_dir, file) = render_to_file(&results);
    let Some(dom) = chromium_dom(&format!("file://{}", file.display())) else {
        return;
    };
    assert_eq!(check_rows(&dom).len(), results.totals.checks());
    assert!(dom.contains("<td>&lt;script&gt;alert('node')&lt;/script&gt;</td>"));
    assert!(dom.contains("<td>/etc/&lt;svg onload=alert(1)&gt;/config.yaml"));
    for injected in ["<svg onload", "<script>alert"] {
        assert!(!dom.contains(injected), "{injected} became markup");
    }
}
