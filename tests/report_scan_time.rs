//! Every report carries the scan's time (#13 item 8): UTC, RFC 3339, to the second;
//! `SOURCE_DATE_EPOCH` or `--today` pin it, so pinned output is reproducible.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::repo_root;
use tempfile::TempDir;

/// 2026-06-15T00:00:00Z.
const EPOCH: &str = "1781481600";
const PINNED: &str = "2026-06-15T00:00:00Z";

fn scan(out: &Path, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let mut command = Command::cargo_bin("cisgate").unwrap();
    command
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("CISGATE_TODAY");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .current_dir(repo_root())
        .args([
            "scan",
            "--snapshot",
            "examples/snapshots/worker-1",
            "--no-color",
        ])
        .args(extra);
    for (flag, file) in [
        ("--json", "results.json"),
        ("--sarif", "results.sarif"),
        ("--junit", "junit.xml"),
        ("--html", "report.html"),
        ("--summary-md", "summary.md"),
    ] {
        command.arg(flag).arg(out.join(file));
    }
    command.output().unwrap()
}

fn read(out: &Path, file: &str) -> String {
    std::fs::read_to_string(out.join(file)).unwrap()
}

fn json(out: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&read(out, file)).unwrap()
}

#[test]
fn source_date_epoch_pins_the_time_every_report_shows() {
    let out = TempDir::new().unwrap();
    let output = scan(out.path(), &[("SOURCE_DATE_EPOCH", EPOCH)], &[]);
    assert_eq!(output.status.code(), Some(1), "worker-1 has findings");
    let console = String::from_utf8(output.stdout).unwrap();
    assert!(
        console.contains(&format!("== Scanned at {PINNED} ==\n")),
        "{console}"
    );
    assert_eq!(json(out.path(), "results.json")["scanned_at"], PINNED);
    assert_eq!(
        json(out.path(), "results.sarif")["runs"][0]["invocations"][0]["startTimeUtc"],
        PINNED
    );
    let junit = read(out.path(), "junit.xml");
    assert!(
        junit.contains("timestamp=\"2026-06-15T00:00:00.000+00:00\""),
        "{junit}"
    );
    assert!(read(out.path(), "report.html").contains(&format!("<time datetime=\"{PINNED}\">")));
    assert!(read(out.path(), "summary.md").contains(&format!("Scanned at {PINNED}.")));
}

#[test]
fn today_pins_the_time_to_midnight_utc_of_that_date() {
    let out = TempDir::new().unwrap();
    scan(
        out.path(),
        &[("SOURCE_DATE_EPOCH", "1")],
        &["--today", "2026-06-15"],
    );
    assert_eq!(json(out.path(), "results.json")["scanned_at"], PINNED);
}

#[test]
fn without_a_pin_the_time_is_now_in_utc_to_the_second() {
    let out = TempDir::new().unwrap();
    let before = jiff::Timestamp::now().as_second();
    scan(out.path(), &[], &[]);
    let after = jiff::Timestamp::now().as_second();
    let shown = json(out.path(), "results.json")["scanned_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(shown.ends_with('Z') && !shown.contains('.'), "{shown}");
    let at: jiff::Timestamp = shown.parse().unwrap();
    assert!(
        (before..=after).contains(&at.as_second()),
        "{shown} not between {before} and {after}"
    );
}

#[test]
fn a_source_date_epoch_that_is_not_seconds_is_refused_by_name() {
    let out = TempDir::new().unwrap();
    let output = scan(out.path(), &[("SOURCE_DATE_EPOCH", "yesterday")], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SOURCE_DATE_EPOCH=yesterday"), "{stderr}");
    assert!(!out.path().join("results.json").exists());
}
