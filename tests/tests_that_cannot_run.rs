//! A test that cannot run here must not look like a pass: it calls `support::missing` (a failure
//! under `CI`, "NOT RUN (not a pass)" in the normal output locally) instead of printing its own
//! note, which the test harness captures and shows only under `--nocapture`.

mod support;

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// A print that announces a test (or part of one) did not run.
fn is_own_skip_note(line: &str) -> bool {
    let line = line.to_lowercase();
    let prints = ["println!(", "eprintln!(", "print!(", "eprint!("]
        .iter()
        .any(|m| line.contains(m));
    let says_not_run = [
        "skip",
        "not run",
        "not installed",
        "is missing",
        "is absent",
    ]
    .iter()
    .any(|w| line.contains(w));
    prints && says_not_run
}

#[test]
fn no_test_prints_its_own_skip_note_instead_of_calling_missing() {
    let tests = support::repo_root().join("tests");
    let mut files = Vec::new();
    rust_files(&tests, &mut files);
    files.sort();
    // `missing` itself, and this file's examples of what is caught.
    let exempt = [
        tests.join("support/mod.rs"),
        tests.join("tests_that_cannot_run.rs"),
    ];
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !exempt.contains(f)) {
        let text = std::fs::read_to_string(file).unwrap();
        for (index, line) in text.lines().enumerate() {
            if is_own_skip_note(line) {
                offenders.push(format!(
                    "{}:{}: {}",
                    file.strip_prefix(&tests).unwrap().display(),
                    index + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "call support::missing(...) instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_catches_the_forms_that_hid_absent_tools() {
    for line in [
        r#"        eprintln!("skipped: kubectl is not installed");"#,
        r#"        eprintln!("SKIPPED: {program} is not installed ({reason})");"#,
        r#"        println!("NOT RUN: kubectl is not installed");"#,
        r#"    println!("missing: kube-bench's tree is absent");"#,
    ] {
        assert!(is_own_skip_note(line), "{line}");
    }
    assert!(!is_own_skip_note(
        r#"        support::missing("kubectl is not installed");"#
    ));
    assert!(!is_own_skip_note(r#"    println!("{}", report);"#));
}

#[test]
fn missing_fails_the_test_under_ci() {
    // The helper itself, as every test that cannot run calls it: run in a child so that the
    // panic is observed, with `CI` set and unset.
    let run = |ci: bool| {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "calls_missing_when_asked", "--nocapture"])
            .env("CISGATE_TEST_CALL_MISSING", "1");
        if ci {
            command.env("CI", "true");
        } else {
            command.env_remove("CI");
        }
        command.output().unwrap()
    };
    let under_ci = run(true);
    assert!(
        !under_ci.status.success(),
        "missing() under CI must fail the test"
    );
    let stderr = String::from_utf8_lossy(&under_ci.stderr);
    assert!(stderr.contains("and CI is set"), "{stderr}");
    let local = run(false);
    assert!(local.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&local.stdout),
        String::from_utf8_lossy(&local.stderr)
    );
    // Locally it says so (on the terminal when there is one, else on stderr).
    if std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        assert!(said.contains("NOT RUN (not a pass): a tool"), "{said}");
    }
}

#[test]
fn calls_missing_when_asked() {
    if std::env::var_os("CISGATE_TEST_CALL_MISSING").is_some() {
        support::missing("a tool is not installed");
    }
}
