//! The console shows the baseline (#13 item 4), end to end through the binary on the bundled
//! kubeadm control plane (`examples/snapshots/control-plane-1`, which fails 1.1.12, 1.2.5,
//! 1.2.15–1.2.19, 1.2.30, 1.3.2, 1.4.1, 4.1.1 and 4.1.9 and passes 1.2.2), with a baseline
//! written into a temporary directory and the date pinned by `--today`.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::{copy_tree, repo_root};
use tempfile::TempDir;

const TODAY: &str = "2026-06-15";

/// Line numbers matter: the tests look for `baseline.yaml:N`.
const BASELINE: &str = "\
exceptions:
  - check: 1.2.15
    reason: profiling is scraped by our debugging sidecar
    expires: 2026-12-31
    owner: platform-team
  - check: 1.2.16
    reason: audit logs go to the cloud provider
    expires: 2026-06-01
  - check: 1.3.2
    reason: controller manager profiling until the upgrade
    expires: 2026-06-20
  - check: 1.2.2
    reason: static tokens were removed last quarter
  - check: 9.9.9
    reason: an old check id
  - check: 1.4.1
    reason: \"TODO: explain why this is accepted\"
  - check: 1.2.5
    reason: FIXME ask security
  - check: 1.2.17
    reason: tbd
";

/// Scans the control plane with `BASELINE` from inside `dir`, the console in `--format full`.
fn scan(dir: &Path, node: &Path, extra: &[&str]) -> (i32, String) {
    std::fs::write(dir.join("baseline.yaml"), BASELINE).unwrap();
    scan_without_baseline(
        dir,
        node,
        &[&["--baseline", "baseline.yaml"], extra].concat(),
    )
}

fn scan_without_baseline(dir: &Path, node: &Path, extra: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .current_dir(dir)
        .args(["scan", "--snapshot"])
        .arg(node)
        .args(["--today", TODAY, "--format", "full"])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

fn control_plane() -> std::path::PathBuf {
    repo_root().join("examples/snapshots/control-plane-1")
}

/// The line starting with `prefix`, and the one after it.
fn line_and_next<'a>(text: &'a str, prefix: &str) -> (&'a str, &'a str) {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?} in:\n{text}"));
    (lines[at], lines.get(at + 1).copied().unwrap_or(""))
}

#[test]
fn an_accepted_finding_prints_as_accepted_with_its_entry_reason_and_expiry_on_the_next_line() {
    let dir = TempDir::new().unwrap();
    let (code, out) = scan(dir.path(), &control_plane(), &[]);
    assert_eq!(code, 1, "the expired entry and other findings still gate");
    let (line, next) = line_and_next(&out, "[ACCEPTED] 1.2.15 ");
    assert!(
        line.contains("API server profiling endpoints are off"),
        "{line}"
    );
    assert_eq!(
        next.trim(),
        "FAIL accepted by baseline.yaml:2 (check 1.2.15): profiling is scraped by our debugging \
         sidecar [expires 2026-12-31, owner platform-team]"
    );
    assert!(
        !out.contains("[FAIL] 1.2.15 "),
        "an accepted finding is not printed as [FAIL]"
    );
}

#[test]
fn remediations_are_never_followed_by_a_baseline_note_and_accepted_ones_are_counted() {
    let dir = TempDir::new().unwrap();
    let (_, out) = scan(dir.path(), &control_plane(), &[]);
    assert!(!out.contains("(accepted in the baseline"), "{out}");
    let remediations = out
        .split("== Remediations master ==")
        .nth(1)
        .and_then(|rest| rest.split("== Summary master ==").next())
        .expect("a remediations block for master");
    assert!(
        !remediations.contains("\n1.2.15 "),
        "the accepted finding's remediation is not repeated:\n{remediations}"
    );
    assert!(
        remediations.contains("\n1.2.16 "),
        "the expired one is shown"
    );
    assert!(
        remediations.contains("(5 findings accepted by the baseline not repeated here;"),
        "{remediations}"
    );
}

#[test]
fn stale_expired_and_expiring_entries_are_listed_by_check_and_baseline_line() {
    let dir = TempDir::new().unwrap();
    let (_, out) = scan(dir.path(), &control_plane(), &[]);
    for expected in [
        "[FAIL] baseline.yaml:6: the entry for 1.2.16 expired on 2026-06-01;",
        "[WARN] baseline.yaml:9: the entry for 1.3.2 expires soon, on 2026-06-20",
        "[WARN] baseline.yaml:12: the entry for 1.2.2 is stale (the check passes now);",
        "[WARN] baseline.yaml:14: the entry for 9.9.9 is stale (no check with this id was run);",
    ] {
        assert!(
            out.lines().any(|line| line.starts_with(expected)),
            "no line starts with {expected:?}:\n{out}"
        );
    }
    let (line, next) = line_and_next(&out, "[FAIL] 1.2.16 ");
    assert!(line.contains("audit log"), "{line}");
    assert_eq!(
        next.trim(),
        "not accepted: baseline.yaml:6 (check 1.2.16) expired on 2026-06-01"
    );
    let verdict = out.lines().last().unwrap();
    assert!(
        verdict.ends_with("2 stale, 1 expiring soon, 1 expired"),
        "{verdict}"
    );
}

#[test]
fn placeholder_reasons_are_warned_about_even_without_require_reasons() {
    let dir = TempDir::new().unwrap();
    let (_, out) = scan(dir.path(), &control_plane(), &[]);
    for (line, check, reason) in [
        (16, "1.4.1", "\"TODO: explain why this is accepted\""),
        (18, "1.2.5", "\"FIXME ask security\""),
        (20, "1.2.17", "\"tbd\""),
    ] {
        let expected = format!(
            "[WARN] baseline.yaml:{line}: the entry for {check} has a placeholder reason ({reason}); \
             write why it is accepted (--require-reasons would reject it)"
        );
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        out.contains("[ACCEPTED] 1.2.5 "),
        "still accepted without the flag"
    );
}

#[test]
fn require_reasons_says_which_entry_was_refused_and_why() {
    let dir = TempDir::new().unwrap();
    let (code, out) = scan(dir.path(), &control_plane(), &["--require-reasons"]);
    assert_eq!(code, 1);
    let (_, next) = line_and_next(&out, "[FAIL] 1.2.5 ");
    assert_eq!(
        next.trim(),
        "not accepted: baseline.yaml:18 (check 1.2.5) has a placeholder reason (\"FIXME ask \
         security\") and --require-reasons needs a real one"
    );
    let (_, next) = line_and_next(&out, "[FAIL] 1.4.1 ");
    assert!(next.contains("baseline.yaml:16 (check 1.4.1) has a placeholder reason"));
    assert!(out.contains(
        "[WARN] baseline.yaml:16: the entry for 1.4.1 has a placeholder reason (\"TODO: explain \
         why this is accepted\"); write why it is accepted (it accepts nothing under \
         --require-reasons)"
    ));
}

#[test]
fn previous_marks_new_and_fixed_checks_in_the_console() {
    let dir = TempDir::new().unwrap();
    let node = dir.path().join("control-plane-1");
    copy_tree(&control_plane(), &node);
    let earlier = dir.path().join("earlier.json");
    scan_without_baseline(dir.path(), &node, &["--json", earlier.to_str().unwrap()]);
    // Fix 1.2.15 (profiling off) and break 1.2.2 (a static token file).
    let manifest = node.join("etc/kubernetes/manifests/kube-apiserver.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replacen(
        "    - kube-apiserver\n",
        "    - kube-apiserver\n    - --profiling=false\n    - --token-auth-file=/etc/tokens.csv\n",
        1,
    );
    std::fs::write(&manifest, text).unwrap();
    let (_, out) = scan_without_baseline(
        dir.path(),
        &node,
        &["--previous", earlier.to_str().unwrap()],
    );
    let (line, _) = line_and_next(&out, "[FAIL] 1.2.2 ");
    assert!(line.ends_with(" [NEW]"), "{line}");
    let (line, _) = line_and_next(&out, "[PASS] 1.2.15 ");
    assert!(line.ends_with(" [FIXED]"), "{line}");
    let (line, _) = line_and_next(&out, "[FAIL] 1.2.16 ");
    assert!(
        !line.contains("[NEW]") && !line.contains("[FIXED]"),
        "{line}"
    );
    assert!(
        out.contains(&format!("Since {}: 1 new, 1 fixed, ", earlier.display())),
        "{out}"
    );
}
