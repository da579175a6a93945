//! `cisgate scan --store`, `--previous store`, `history import|report|prune|runs` and
//! `--asff` through the binary.

#[path = "support/nightly.rs"]
mod nightly;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use cisgate::store::{RunMeta, Store};
use serde_json::Value;

fn cisgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cisgate"))
        .current_dir(dir)
        .args(args)
        .env_remove("CISGATE_STORE")
        .env_remove("CISGATE_CLUSTER")
        .env_remove("GITHUB_RUN_ID")
        .env_remove("CI_PIPELINE_ID")
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .expect("cisgate runs")
}

fn snapshots() -> String {
    support::repo_root()
        .join("examples/snapshots")
        .display()
        .to_string()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn scans_store_runs_and_the_next_one_compares_with_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = snapshots();
    let first = cisgate(
        dir.path(),
        &[
            "scan",
            "--snapshot",
            &snapshots,
            "--quiet",
            "--store",
            "h.db",
            "--cluster",
            "prod",
            "--json",
            "one.json",
        ],
    );
    assert_eq!(
        first.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = cisgate(
        dir.path(),
        &[
            "scan",
            "--snapshot",
            &snapshots,
            "--store",
            "h.db",
            "--cluster",
            "prod",
            "--previous",
            "store",
            "--json",
            "two.json",
            "--summary-md",
            "summary.md",
        ],
    );
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("stored run local:prod/cis-1.12/"),
        "{stderr}"
    );
    let two = json(&dir.path().join("two.json"));
    let previous = &two["previous"];
    let failing = two["totals"]["fail"].as_u64().unwrap()
        + two["totals"]["warn"].as_u64().unwrap()
        + two["totals"]["error"].as_u64().unwrap();
    assert_eq!(previous["unchanged"].as_u64(), Some(failing), "{previous}");
    assert_eq!(previous["new"].as_u64(), Some(0));
    assert!(previous["file"]
        .as_str()
        .unwrap()
        .contains("of prod · cis-1.12"));
    // Another cluster has no earlier run: everything failing is new.
    let other = cisgate(
        dir.path(),
        &[
            "scan",
            "--snapshot",
            &snapshots,
            "--quiet",
            "--store",
            "h.db",
            "--cluster",
            "staging",
            "--previous",
            "store",
            "--json",
            "three.json",
        ],
    );
    assert_eq!(other.status.code(), Some(1));
    assert_eq!(
        json(&dir.path().join("three.json"))["previous"]["new"].as_u64(),
        Some(failing)
    );
    let runs = cisgate(
        dir.path(),
        &["history", "runs", "--store", "h.db", "--json"],
    );
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    let clusters: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["prod", "prod", "staging"]);
}

#[test]
fn previous_store_without_a_store_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = cisgate(
        dir.path(),
        &[
            "scan",
            "--snapshot",
            &snapshots(),
            "--quiet",
            "--previous",
            "store",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--previous store needs a results store")
    );
}

/// The scanning machine's kubeconfig names the pipeline's cluster, not the snapshots':
/// a snapshot scan takes the cluster its nodes name (tests/history_cluster.rs), else
/// `default`; a live scan takes the kubeconfig's context (also there).
#[test]
fn a_snapshot_scan_does_not_take_the_scanning_machines_kubeconfig_context() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".kube")).unwrap();
    std::fs::write(
        dir.path().join(".kube/config"),
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-dev\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    let output = cisgate(
        dir.path(),
        &["scan", "--snapshot", &snapshots(), "--store", "h.db"],
    );
    assert_eq!(output.status.code(), Some(1));
    let runs = cisgate(
        dir.path(),
        &["history", "runs", "--store", "h.db", "--json"],
    );
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["cluster"], "default");
}

#[test]
fn import_is_idempotent_and_prune_keeps_the_recent_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("old.json"),
        serde_json::to_vec(&nightly::night(1, 5)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("new.json"),
        serde_json::to_vec(&nightly::night(2, 5)).unwrap(),
    )
    .unwrap();
    let old = cisgate(
        dir.path(),
        &[
            "history",
            "import",
            "old.json",
            "--cluster",
            "prod",
            "--started-at",
            "2020-01-01T02:00:00Z",
            "--store",
            "h.db",
        ],
    );
    assert!(
        old.status.success(),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    let again = cisgate(
        dir.path(),
        &[
            "history",
            "import",
            "old.json",
            "--cluster",
            "prod",
            "--started-at",
            "2020-01-01T02:00:00Z",
            "--store",
            "h.db",
        ],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already stored, unchanged"));
    assert!(cisgate(
        dir.path(),
        &[
            "history",
            "import",
            "new.json",
            "--cluster",
            "prod",
            "--store",
            "h.db"
        ]
    )
    .status
    .success());
    let count = |dir: &Path| {
        let runs = cisgate(dir, &["history", "runs", "--store", "h.db", "--json"]);
        serde_json::from_slice::<Value>(&runs.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(dir.path()), 2);
    let prune = cisgate(
        dir.path(),
        &["history", "prune", "--keep", "90d", "--store", "h.db"],
    );
    assert!(prune.status.success());
    assert!(String::from_utf8_lossy(&prune.stderr).contains("deleted 1 run(s)"));
    assert_eq!(count(dir.path()), 1);
    let bad = cisgate(
        dir.path(),
        &["history", "prune", "--keep", "ninety", "--store", "h.db"],
    );
    assert_eq!(bad.status.code(), Some(2));
    let not_results = cisgate(
        dir.path(),
        &["history", "import", "h.db", "--store", "other.db"],
    );
    assert_eq!(not_results.status.code(), Some(2));
}

/// The trend report of 30 nights: valid HTML (Nu checker), the plot drawn in Chromium, and
/// the JSON and Markdown forms agreeing with it.
#[test]
fn the_trend_report_of_thirty_nights_is_valid_and_shows_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("h.db").display().to_string();
    let mut store = Store::open(&url).unwrap();
    for night in 0..30 {
        let meta = RunMeta {
            run_id: format!("night-{night}"),
            started_at: jiff::Timestamp::from_second(nightly::night_time(night)).unwrap(),
            cluster: "prod <eu>".into(),
            git_commit: Some(format!("{night:040x}")),
            pipeline_id: Some(night.to_string()),
            pipeline_url: Some(format!("https://ci.example/p/{night}?a=1&b=2")),
        };
        store.write_run(&meta, &nightly::night(night, 100)).unwrap();
    }
    drop(store);
    let output = cisgate(
        dir.path(),
        &[
            "history",
            "report",
            "--store",
            &url,
            "--html",
            "trend.html",
            "--json",
            "trend.json",
            "--summary-md",
            "trend.md",
            "--today",
            "2026-11-30",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trend = json(&dir.path().join("trend.json"));
    let group = &trend["groups"][0];
    assert_eq!(group["cluster"], "prod <eu>");
    assert_eq!(group["runs"].as_array().unwrap().len(), 30);
    let markdown = std::fs::read_to_string(dir.path().join("trend.md")).unwrap();
    assert!(
        markdown.contains("| 4.2.7 Setting 4.2.7 is as the benchmark asks | 20 | 2026-11-21 |"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(dir.path().join("trend.html")).unwrap();
    // To refresh the picture in docs/nightly-report.md: CISGATE_TREND_SAMPLE=/tmp/trend.html.
    if let Some(sample) = std::env::var_os("CISGATE_TREND_SAMPLE") {
        std::fs::write(sample, &html).unwrap();
    }
    assert!(
        html.contains("prod &lt;eu&gt;") && !html.contains("prod <eu>"),
        "escaped"
    );
    assert!(
        !html.contains("<script") && !html.contains("http://"),
        "self-contained, no scripts"
    );
    if let Some(jar) = support::vnu_jar() {
        let vnu = Command::new("java")
            .args(["-jar"])
            .arg(jar)
            .args(["--errors-only", "--format", "text"])
            .arg(dir.path().join("trend.html"))
            .output()
            .unwrap();
        assert!(
            vnu.status.success(),
            "Nu checker: {}{}",
            String::from_utf8_lossy(&vnu.stdout),
            String::from_utf8_lossy(&vnu.stderr)
        );
    }
    let url = format!("file://{}", dir.path().join("trend.html").display());
    if let Some(dom) = support::chromium_dom(&url) {
        let plot_start = dom
            .find("class=\"pass-rate-plot\"")
            .expect("the plot is in the page");
        let plot = &dom[plot_start..dom[plot_start..].find("</svg>").unwrap() + plot_start];
        let points = plot
            .split("points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .expect("the all-nodes line");
        assert_eq!(points.split(' ').count(), 30, "one point per night");
        assert_eq!(
            plot.matches("<polyline").count(),
            3,
            "all nodes and two pools"
        );
    }
}

/// ASFF field rules from the AwsSecurityFinding API reference, checked on every finding.
fn assert_valid_asff(finding: &Value) {
    let text = |key: &str| {
        finding[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string: {finding}"))
    };
    let within = |key: &str, max: usize| {
        let value = text(key);
        assert!(
            !value.is_empty() && value.chars().count() <= max,
            "{key}: {value}"
        );
    };
    assert_eq!(text("SchemaVersion"), "2018-10-08");
    within("Id", 512);
    within("ProductArn", 512);
    within("GeneratorId", 512);
    within("Title", 256);
    within("Description", 1024);
    let account = text("AwsAccountId");
    assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    assert!(text("ProductArn").starts_with("arn:aws:securityhub:"));
    for key in ["CreatedAt", "UpdatedAt"] {
        let at = text(key);
        assert!(
            at.parse::<jiff::Timestamp>().is_ok() && at.ends_with('Z'),
            "{key}: {at}"
        );
    }
    let types = finding["Types"].as_array().expect("Types");
    assert!(!types.is_empty() && types.len() <= 50);
    for t in types {
        let parts: Vec<&str> = t.as_str().unwrap().split('/').collect();
        assert!(parts.len() <= 3 && !parts[0].is_empty());
        assert!([
            "Software and Configuration Checks",
            "TTPs",
            "Effects",
            "Unusual Behaviors",
            "Sensitive Data Identifications"
        ]
        .contains(&parts[0]));
    }
    let label = finding["Severity"]["Label"].as_str().unwrap();
    assert!(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&label));
    let resources = finding["Resources"].as_array().expect("Resources");
    assert!((1..=32).contains(&resources.len()));
    for resource in resources {
        assert!(resource["Type"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.len() <= 256));
        assert!(resource["Id"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.len() <= 512));
        assert!(["aws", "aws-cn", "aws-us-gov"].contains(&resource["Partition"].as_str().unwrap()));
        for (key, value) in resource["Details"]["Other"].as_object().unwrap() {
            assert!(key.len() <= 128 && value.as_str().unwrap().chars().count() <= 1024);
        }
    }
    let fields = finding["ProductFields"].as_object().unwrap();
    assert!(fields.len() <= 50);
    for (key, value) in fields {
        assert!(key.chars().count() <= 128 && value.as_str().unwrap().chars().count() <= 2048);
    }
    if let Some(remediation) = finding.get("Remediation") {
        let text = remediation["Recommendation"]["Text"].as_str().unwrap();
        assert!(!text.is_empty() && text.chars().count() <= 512);
    }
    let status = finding["Compliance"]["Status"].as_str().unwrap();
    assert!(["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"].contains(&status));
    assert!(
        finding["Compliance"]["RelatedRequirements"]
            .as_array()
            .unwrap()
            .len()
            <= 32
    );
    assert!(["ACTIVE", "ARCHIVED"].contains(&finding["RecordState"].as_str().unwrap()));
    let allowed = [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "ProductFields",
        "Resources",
        "Compliance",
        "RecordState",
        "Remediation",
    ];
    for key in finding.as_object().unwrap().keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected field {key}");
    }
}

#[test]
fn asff_findings_follow_the_field_rules_and_keep_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let scan = |name: &str, extra: &[&str]| {
        let snapshots = snapshots();
        let mut args = vec![
            "scan",
            "--snapshot",
            &snapshots,
            "--quiet",
            "--cluster",
            "prod",
            "--asff",
            name,
            "--aws-account-id",
            "123456789012",
            "--aws-region",
            "eu-west-1",
        ];
        args.extend_from_slice(extra);
        let output = cisgate(dir.path(), &args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        json(&dir.path().join(name))
    };
    let first = scan("first.json", &["--json", "results.json"]);
    let results = json(&dir.path().join("results.json"));
    let findings = first.as_array().unwrap();
    assert_eq!(
        findings.len() as u64,
        results["gate"]["regressions"].as_u64().unwrap()
    );
    for finding in findings {
        assert_valid_asff(finding);
        assert_eq!(finding["Compliance"]["Status"], "FAILED");
        assert_eq!(
            finding["ProductArn"],
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
    }
    let ids: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f["Id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), findings.len(), "ids are unique");
    assert!(
        ids.contains("cisgate/prod/cis-1.12/control-plane-1/1.2.15"),
        "{ids:?}"
    );
    let with_remediation = findings
        .iter()
        .filter(|f| f.get("Remediation").is_some())
        .count();
    assert_eq!(with_remediation, findings.len());
    // The next run: the same ids, so Security Hub updates instead of adding.
    let second = scan("second.json", &["--previous", "results.json"]);
    let second_ids: std::collections::BTreeSet<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Id"].as_str().unwrap())
        .collect();
    assert_eq!(second_ids, ids);
    // Without an account the flag is refused.
    let output = cisgate(
        dir.path(),
        &[
            "scan",
            "--snapshot",
            &snapshots(),
            "--quiet",
            "--asff",
            "x.json",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--asff needs the AWS account"));
}

#[test]
fn a_fixed_regression_is_archived_in_asff() {
    let dir = tempfile::tempdir().unwrap();
    let before = nightly::night(5, 110);
    let after_fix = nightly::night(6, 110);
    std::fs::write(
        dir.path().join("before.json"),
        serde_json::to_vec(&before).unwrap(),
    )
    .unwrap();
    // Re-rendering is not a scan: build the run with --previous through the library.
    let mut marked = after_fix.clone();
    cisgate::baseline::previous::mark(&mut marked, &before, "before.json");
    let context = cisgate::report::asff::AsffArgs {
        asff: Some("f.json".into()),
        aws_account_id: Some("123456789012".into()),
        aws_region: Some("us-gov-west-1".into()),
        asff_product_arn: None,
    }
    .context(
        "prod",
        jiff::Timestamp::from_second(nightly::night_time(6)).unwrap(),
        "night-6",
    )
    .unwrap();
    let findings = cisgate::report::asff::findings(&marked, &context);
    let archived: Vec<&Value> = findings
        .iter()
        .filter(|f| f["RecordState"] == "ARCHIVED")
        .collect();
    // Incident 4.2.6 on nodes 100..110 was fixed on night 6.
    assert_eq!(archived.len(), 10);
    for finding in &findings {
        assert_valid_asff(finding);
        assert_eq!(finding["Resources"][0]["Partition"], "aws-us-gov");
    }
    assert!(archived
        .iter()
        .all(|f| f["Compliance"]["Status"] == "PASSED"));
    assert!(archived[0]["Id"]
        .as_str()
        .unwrap()
        .ends_with("/worker-0100/4.2.6"));
}
