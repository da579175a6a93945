//! The baseline gate end to end: a run with known failures passes the gate with a
//! baseline written from it, fails it when one exception is removed, and fails it when
//! one expires.
//!
//! `through_the_library` runs today on a hand-written results file
//! (`tests/fixtures/baseline/run.json`: cp-1 fails 1.1.12 and 1.2.6 and warns on 1.2.16;
//! worker-1 fails 4.2.6 and 4.2.10). `through_the_binary` runs the same story through
//! `cisgate scan` of a fake kubeadm worker and `cisgate baseline`.

use std::path::{Path, PathBuf};

#[path = "support/fake_node.rs"]
mod fake_node;

use cisgate::baseline::{self, update, BaselineArgs, BaselineFile, Entry};
use cisgate::gate::{self, GatePolicy, EXIT_OK, EXIT_REGRESSIONS};
use cisgate::results::{Change, Classification, RunResults};
use jiff::civil::{date, Date};

const TODAY: Date = date(2026, 6, 15);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/baseline")
        .join(name)
}

fn load_run(name: &str) -> RunResults {
    baseline::read_results(&fixture(name)).expect("the fixture is a results file")
}

/// Entries as `cisgate baseline create` would write them, with reasons filled in.
fn baseline_entries_for(results: &RunResults) -> Vec<Entry> {
    update::create(results, &GatePolicy::default())
        .entries
        .into_iter()
        .map(|entry| Entry {
            reason: format!("accepted in the test: {}", entry.check),
            ..entry
        })
        .collect()
}

fn write_baseline(dir: &Path, entries: &[Entry]) -> PathBuf {
    let path = dir.join("baseline.yaml");
    std::fs::write(&path, update::render(entries)).unwrap();
    path
}

/// Applies the baseline and decides the gate, as `cisgate scan` does.
fn gate_exit_code(run: &str, args: &BaselineArgs) -> (i32, RunResults) {
    let mut results = load_run(run);
    baseline::apply(&mut results, args, TODAY).expect("the baseline applies");
    let policy = GatePolicy {
        strict: args.strict,
        ..GatePolicy::default()
    };
    results.gate = gate::decide(&results, &policy);
    (results.gate.exit_code, results)
}

fn args_for(path: &Path) -> BaselineArgs {
    BaselineArgs {
        baseline: Some(path.to_path_buf()),
        ..BaselineArgs::default()
    }
}

mod through_the_library {
    use super::*;

    #[test]
    fn without_a_baseline_the_known_failures_fail_the_gate() {
        let args = BaselineArgs {
            no_baseline: true,
            ..BaselineArgs::default()
        };
        let (exit, results) = gate_exit_code("run.json", &args);
        assert_eq!(exit, EXIT_REGRESSIONS);
        assert_eq!(results.gate.regressions, 4);
        assert_eq!(results.baseline, None);
    }

    #[test]
    fn a_baseline_from_the_run_passes_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let entries = baseline_entries_for(&load_run("run.json"));
        let checks: Vec<&str> = entries.iter().map(|e| e.check.as_str()).collect();
        assert_eq!(checks, vec!["1.1.12", "1.2.6", "4.2.6", "4.2.10"]);
        let (exit, results) =
            gate_exit_code("run.json", &args_for(&write_baseline(dir.path(), &entries)));
        assert_eq!(exit, EXIT_OK);
        let summary = results.baseline.unwrap();
        // The WARN of the manual check 1.2.16 does not gate, so it was not baselined.
        assert_eq!((summary.accepted, summary.regressions), (4, 1));
        assert!(summary.stale.is_empty());
    }

    #[test]
    fn removing_one_exception_fails_the_gate_on_that_check_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = baseline_entries_for(&load_run("run.json"));
        entries.retain(|e| e.check != "4.2.6");
        let (exit, results) =
            gate_exit_code("run.json", &args_for(&write_baseline(dir.path(), &entries)));
        assert_eq!(exit, EXIT_REGRESSIONS);
        assert_eq!(results.gate.regressions, 1);
        let regression = results
            .checks()
            .find(|(_, _, c)| {
                c.baseline.as_ref().map(|m| m.classification) == Some(Classification::Regression)
                    && c.state == cisgate::results::State::Fail
            })
            .map(|(n, _, c)| (n.node.name.clone(), c.id.clone()));
        assert_eq!(regression, Some(("worker-1".into(), "4.2.6".into())));
    }

    #[test]
    fn an_expired_exception_fails_the_gate_and_says_when_it_expired() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = baseline_entries_for(&load_run("run.json"));
        for entry in &mut entries {
            entry.expires = Some(if entry.check == "1.2.6" {
                TODAY.yesterday().unwrap()
            } else {
                TODAY
            });
        }
        let (exit, results) =
            gate_exit_code("run.json", &args_for(&write_baseline(dir.path(), &entries)));
        assert_eq!(exit, EXIT_REGRESSIONS);
        let summary = results.baseline.unwrap();
        assert_eq!(summary.expired.len(), 1);
        assert_eq!(summary.expired[0].check, "1.2.6");
        assert_eq!(summary.expired[0].expires.as_deref(), Some("2026-06-14"));
        // Those expiring today are still valid, and listed as expiring soon.
        assert_eq!(summary.expiring.len(), 3);
    }

    #[test]
    fn a_fixed_finding_leaves_a_stale_entry_that_fails_only_under_strict() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = baseline_entries_for(&load_run("run.json"));
        entries.extend(baseline_entries_for(&load_run("run-later.json")));
        entries.sort_by(|a, b| a.check.cmp(&b.check));
        entries.dedup_by(|a, b| a.check == b.check);
        let path = write_baseline(dir.path(), &entries);
        // run-later.json: 1.1.12 was fixed, 4.2.1 newly fails (and is in the baseline).
        let (exit, results) = gate_exit_code("run-later.json", &args_for(&path));
        assert_eq!(exit, EXIT_OK);
        let stale = results.baseline.unwrap().stale;
        assert_eq!(stale.len(), 1);
        assert_eq!(
            (stale[0].exception.check.as_str(), stale[0].why.as_str()),
            ("1.1.12", "fixed")
        );
        let strict = BaselineArgs {
            strict: true,
            ..args_for(&path)
        };
        assert_eq!(
            gate_exit_code("run-later.json", &strict).0,
            EXIT_REGRESSIONS
        );
    }

    #[test]
    fn placeholder_reasons_fail_the_gate_only_with_require_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let created = update::create(&load_run("run.json"), &GatePolicy::default());
        let path = write_baseline(dir.path(), &created.entries);
        assert_eq!(gate_exit_code("run.json", &args_for(&path)).0, EXIT_OK);
        let require = BaselineArgs {
            require_reasons: true,
            ..args_for(&path)
        };
        let (exit, results) = gate_exit_code("run.json", &require);
        assert_eq!(exit, EXIT_REGRESSIONS);
        assert_eq!(results.baseline.unwrap().placeholder_reasons.len(), 4);
    }

    #[test]
    fn previous_marks_changes_without_changing_the_exit_code() {
        let args = BaselineArgs {
            no_baseline: true,
            previous: Some(fixture("run.json")),
            ..BaselineArgs::default()
        };
        let (exit, results) = gate_exit_code("run-later.json", &args);
        assert_eq!(exit, EXIT_REGRESSIONS);
        let without_previous = BaselineArgs {
            previous: None,
            ..args.clone()
        };
        assert_eq!(gate_exit_code("run-later.json", &without_previous).0, exit);
        let change = |id: &str| {
            results
                .checks()
                .find(|(_, _, c)| c.id == id)
                .and_then(|(_, _, c)| c.change)
        };
        assert_eq!(change("1.1.12"), Some(Change::Fixed));
        assert_eq!(change("4.2.1"), Some(Change::New));
        assert_eq!(change("1.2.6"), Some(Change::Unchanged));
        assert_eq!(change("1.1.1"), None);
    }

    #[test]
    fn an_invalid_baseline_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.yaml");
        std::fs::write(
            &path,
            "exceptions:\n  - check: 1.2.6\n    reason: ok\n    expires: soon\n",
        )
        .unwrap();
        let mut results = load_run("run.json");
        let error = baseline::apply(&mut results, &args_for(&path), TODAY)
            .unwrap_err()
            .to_string();
        let expected = format!(
            "{}:4: bad `expires` date \"soon\": expected YYYY-MM-DD",
            path.display()
        );
        assert!(error.starts_with(&expected), "{error}");
    }

    #[test]
    fn an_explicit_baseline_that_does_not_exist_is_an_error() {
        let mut results = load_run("run.json");
        let error = baseline::apply(
            &mut results,
            &args_for(Path::new("no/such/baseline.yaml")),
            TODAY,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("no/such/baseline.yaml: no such baseline file"),
            "{error}"
        );
    }

    #[test]
    fn baseline_file_round_trips_through_the_command() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            baseline: Baseline,
        }
        #[derive(clap::Subcommand)]
        enum Baseline {
            Baseline(cisgate::cli::baseline_cmd::BaselineCommand),
        }
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join(".cisgate/baseline.yaml");
        let from = fixture("run.json");
        let command = |words: &[&str]| {
            let mut argv = vec!["cisgate".to_string(), "baseline".to_string()];
            argv.extend(words.iter().map(|w| w.to_string()));
            argv.extend(["--from".into(), from.display().to_string()]);
            argv.extend(["-o".into(), output.display().to_string()]);
            let Baseline::Baseline(cmd) = Cli::try_parse_from(argv).unwrap().baseline;
            cisgate::cli::baseline_cmd::run(cmd)
        };
        assert_eq!(command(&["create"]).unwrap(), 0);
        let written = BaselineFile::load(&output).unwrap();
        assert_eq!(written.exceptions.len(), 4);
        assert!(command(&["create"]).is_err(), "create refuses to overwrite");
        // A reason written by hand survives update.
        let text = std::fs::read_to_string(&output).unwrap().replacen(
            baseline::PLACEHOLDER_REASON,
            "CNI needs it",
            1,
        );
        std::fs::write(&output, text).unwrap();
        assert_eq!(command(&["update"]).unwrap(), 0);
        let updated = BaselineFile::load(&output).unwrap();
        assert_eq!(updated.exceptions[0].entry.reason, "CNI needs it");
        assert_eq!(updated.exceptions.len(), 4);
    }
}

/// Through the binary: `cisgate baseline` on a results file, and `cisgate scan` of a fake
/// kubeadm worker (`tests/support/fake_node.rs`) with known failures.
mod through_the_binary {
    use super::*;
    use assert_cmd::Command;
    use fake_node::{FakeNode, NodeKind};

    fn cisgate(dir: &Path) -> Command {
        let mut command = Command::cargo_bin("cisgate").unwrap();
        command.current_dir(dir).env_remove("CISGATE_TODAY");
        command
    }

    /// Scans the fake node from `dir` (where `.cisgate/baseline.yaml` lives), writing
    /// `results.json`; returns the exit code.
    fn scan(dir: &Path, node: &FakeNode, extra: &[&str]) -> i32 {
        let output = cisgate(dir)
            .arg("scan")
            .arg("--root")
            .arg(node.root())
            .args([
                "--benchmark",
                "cis-1.12",
                "--targets",
                "node",
                "--kubectl",
                "/bin/false",
            ])
            .args(["--json", "results.json", "--quiet", "--no-color"])
            .args(extra)
            .output()
            .unwrap();
        let code = output.status.code().expect("cisgate exits with a code");
        assert!(
            code != 2,
            "cisgate scan could not run: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        code
    }

    fn rewrite_baseline(dir: &Path, edit: impl FnOnce(&mut Vec<Entry>)) {
        let path = dir.join(baseline::DEFAULT_PATH);
        let file = BaselineFile::load(&path).unwrap();
        let mut entries: Vec<Entry> = file.exceptions.into_iter().map(|e| e.entry).collect();
        edit(&mut entries);
        std::fs::write(&path, update::render(&entries)).unwrap();
    }

    #[test]
    fn baseline_create_writes_the_default_file_from_a_results_file() {
        let dir = tempfile::tempdir().unwrap();
        cisgate(dir.path())
            .args(["baseline", "create", "--from"])
            .arg(fixture("run.json"))
            .assert()
            .code(0);
        let written = BaselineFile::load(&dir.path().join(baseline::DEFAULT_PATH)).unwrap();
        assert_eq!(written.exceptions.len(), 4);
        cisgate(dir.path())
            .args(["baseline", "create", "--from"])
            .arg(fixture("run.json"))
            .assert()
            .code(2);
        std::fs::write(
            dir.path().join(baseline::DEFAULT_PATH),
            "exceptions:\n  - check: 1.1.1\n",
        )
        .unwrap();
        cisgate(dir.path())
            .args(["baseline", "update", "--from"])
            .arg(fixture("run.json"))
            .assert()
            .code(2)
            .stderr(predicates::str::contains(
                ".cisgate/baseline.yaml:2: missing `reason`",
            ));
    }

    #[test]
    fn a_malformed_baseline_names_the_line_and_shows_what_an_entry_looks_like() {
        let dir = tempfile::tempdir().unwrap();
        for (text, line, problem) in [
            (": : :\n", 1, "an empty key or value where text is expected"),
            (
                "exceptions:\n  check: 1.1.1\n  reason: r\n",
                2,
                "expected a list here",
            ),
        ] {
            std::fs::write(dir.path().join("allow.yaml"), text).unwrap();
            let output = cisgate(dir.path())
                .args([
                    "report",
                    "--gate",
                    "--quiet",
                    "--baseline",
                    "allow.yaml",
                    "--from",
                ])
                .arg(fixture("run.json"))
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(gate::EXIT_USAGE));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!("allow.yaml:{line}: {problem}")),
                "{stderr}"
            );
            assert!(
                stderr.contains("`- check: \"1.2.*\"` with `reason: why it is accepted`"),
                "{stderr}"
            );
            assert!(!stderr.contains("Option<String>"), "{stderr}");
        }
    }

    #[test]
    fn a_missing_baseline_file_is_named_once_with_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let output = cisgate(dir.path())
            .args([
                "report",
                "--gate",
                "--quiet",
                "--baseline",
                "nope.yaml",
                "--from",
            ])
            .arg(fixture("run.json"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(gate::EXIT_USAGE));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.matches("nope.yaml").count(), 2, "{stderr}");
        assert!(
            stderr.contains("nope.yaml: no such baseline file"),
            "{stderr}"
        );
        assert!(
            stderr.contains("`cisgate baseline create --from results.json -o nope.yaml`"),
            "{stderr}"
        );
        assert!(!stderr.contains("os error"), "{stderr}");
    }

    #[test]
    fn baseline_counts_are_said_in_the_singular_for_one() {
        let dir = tempfile::tempdir().unwrap();
        cisgate(dir.path())
            .args(["baseline", "create", "--from"])
            .arg(fixture("run.json"))
            .assert()
            .code(0)
            .stderr(predicates::str::contains("4 entries (0 kept, 4 added)"))
            .stderr(predicates::str::contains(
                "4 new entries have a placeholder",
            ));
        rewrite_baseline(dir.path(), |entries| {
            entries.remove(0);
            entries.push(Entry {
                check: "9.9.9".into(),
                reason: "no such check any more".into(),
                ..Entry::default()
            });
        });
        let output = cisgate(dir.path())
            .args(["baseline", "update", "--from"])
            .arg(fixture("run.json"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("5 entries (4 kept, 1 added)"), "{stderr}");
        assert!(
            stderr.contains("  1 new entry has a placeholder reason"),
            "{stderr}"
        );
        assert!(stderr.contains("  1 stale entry kept"), "{stderr}");
        assert!(!stderr.contains("1 new entries"), "{stderr}");
    }

    #[test]
    fn baseline_help_names_both_ways_to_give_a_run() {
        let help = cisgate(Path::new("."))
            .args(["baseline", "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        let about = help.split("\n\n").next().unwrap();
        assert!(
            about.contains("--from") && about.contains("--snapshot"),
            "{about}"
        );
    }

    #[test]
    fn a_node_with_known_failures_passes_with_its_baseline_and_fails_when_an_exception_is_removed_or_expires(
    ) {
        // kubeadm's worker, with a kubelet config readable by all (4.1.9 fails).
        let node = FakeNode::builder(NodeKind::Worker)
            .mode(fake_node::KUBELET_CONFIG, 0o644)
            .start();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(scan(dir.path(), &node, &[]), EXIT_REGRESSIONS);
        let failing = baseline::read_results(&dir.path().join("results.json")).unwrap();
        assert!(failing.gate.regressions >= 1);

        cisgate(dir.path())
            .args(["baseline", "create", "--from", "results.json"])
            .assert()
            .code(0);
        // The default .cisgate/baseline.yaml is picked up without --baseline.
        assert_eq!(scan(dir.path(), &node, &[]), EXIT_OK);
        assert_eq!(
            scan(dir.path(), &node, &["--no-baseline"]),
            EXIT_REGRESSIONS
        );
        assert_eq!(
            scan(dir.path(), &node, &["--require-reasons"]),
            EXIT_REGRESSIONS
        );

        // One exception removed: its finding is a regression again.
        rewrite_baseline(dir.path(), |entries| {
            entries.retain(|e| e.check != "4.1.9");
        });
        assert_eq!(scan(dir.path(), &node, &[]), EXIT_REGRESSIONS);

        // Put back by `update` (the others keep their reasons)...
        cisgate(dir.path())
            .args(["baseline", "update", "--from", "results.json"])
            .assert()
            .code(0);
        assert_eq!(scan(dir.path(), &node, &[]), EXIT_OK);
        // ...then expired.
        rewrite_baseline(dir.path(), |entries| {
            let entry = entries.iter_mut().find(|e| e.check == "4.1.9").unwrap();
            entry.expires = Some(date(2026, 6, 14));
        });
        assert_eq!(scan(dir.path(), &node, &["--today", "2026-06-14"]), EXIT_OK);
        assert_eq!(
            scan(dir.path(), &node, &["--today", "2026-06-15"]),
            EXIT_REGRESSIONS
        );
        let expired = baseline::read_results(&dir.path().join("results.json")).unwrap();
        let summary = expired.baseline.unwrap();
        assert_eq!(summary.expired.len(), 1);
        assert_eq!(summary.expired[0].check, "4.1.9");

        std::fs::write(dir.path().join(baseline::DEFAULT_PATH), "exceptions: [\n").unwrap();
        let output = cisgate(dir.path())
            .arg("scan")
            .arg("--root")
            .arg(node.root())
            .args(["--benchmark", "cis-1.12", "--targets", "node", "--quiet"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(gate::EXIT_USAGE));
        assert!(String::from_utf8_lossy(&output.stderr).contains(".cisgate/baseline.yaml:"));
    }
}

mod from_snapshots {
    use assert_cmd::Command;
    use std::path::Path;

    fn cisgate(dir: &Path) -> Command {
        let mut cmd = Command::cargo_bin("cisgate").unwrap();
        cmd.current_dir(dir);
        cmd
    }

    #[test]
    fn a_baseline_created_from_snapshots_accepts_their_findings_until_reasons_are_required() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshots");
        let dir = tempfile::TempDir::new().unwrap();
        cisgate(dir.path())
            .args(["scan", "--quiet", "--snapshot"])
            .arg(&examples)
            .assert()
            .code(1);
        cisgate(dir.path())
            .args(["baseline", "create", "--snapshot"])
            .arg(&examples)
            .assert()
            .success();
        assert!(dir.path().join(".cisgate/baseline.yaml").is_file());
        cisgate(dir.path())
            .args(["scan", "--quiet", "--snapshot"])
            .arg(&examples)
            .assert()
            .code(0);
        cisgate(dir.path())
            .args(["scan", "--quiet", "--require-reasons", "--snapshot"])
            .arg(&examples)
            .assert()
            .code(1);
    }
}
