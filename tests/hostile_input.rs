//! Hostile nodes and snapshots through the binary (issue #12): FIFOs, devices, sparse and
//! oversized files, gzip bombs and symlinked metadata never hang, exhaust or leak. Each run
//! is held to an address-space limit (`prlimit --as`) and a timeout (`timeout`), and
//! asserts the exit code and a message naming the file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Address space a scan may use: far below what reading any of these inputs would take.
const ADDRESS_SPACE: &str = "1500M";
/// Seconds a run may take before it counts as a hang.
const TIMEOUT_SECONDS: &str = "60";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all_text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// `timeout 60 prlimit --as=1500M cisgate ARGS`; `None` (after `support::missing`) when
/// either tool is absent.
fn run_bounded(args: &[&str]) -> Option<Run> {
    run_bounded_in(Path::new("."), args)
}

/// [`run_bounded`] with the working directory given.
fn run_bounded_in(cwd: &Path, args: &[&str]) -> Option<Run> {
    for tool in ["timeout", "prlimit"] {
        if !support::tool_available(tool, &["--version"]) {
            return None;
        }
    }
    let output = Command::new("timeout")
        .args(["--signal=KILL", TIMEOUT_SECONDS, "prlimit"])
        .arg(format!("--as={}", bytes_of(ADDRESS_SPACE)))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_cisgate"))
        .args(args)
        .env_remove("CISGATE_CONFIG_DIR")
        .current_dir(cwd)
        .output()
        .expect("timeout runs");
    let code = output.status.code().unwrap_or(-1);
    assert_ne!(code, 137, "killed after {TIMEOUT_SECONDS} s: a hang");
    assert_ne!(code, 124, "timed out after {TIMEOUT_SECONDS} s: a hang");
    Some(Run {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn bytes_of(size: &str) -> u64 {
    size.trim_end_matches('M').parse::<u64>().unwrap() << 20
}

/// A copy of the cis-1.12 good worker fixture to plant hostile files in.
fn worker_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("worker-1");
    let fixture = support::repo_root().join("tests/fixtures/cis-1.12/nodes/good-worker");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&node)
        .status()
        .unwrap();
    assert!(status.success());
    (dir, node)
}

fn replace_with_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A character device node (`/dev/zero`'s numbers), or `None` where mknod is not allowed.
fn replace_with_zero_device(path: &Path) -> Option<()> {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "5"])
        .status();
    if status.as_ref().is_ok_and(|s| s.success()) {
        Some(())
    } else {
        support::missing(
            "mknod could not make a device node here (needs the mknod program and CAP_MKNOD)",
        );
        None
    }
}

fn scan_snapshot(node: &Path, extra: &[&str]) -> Option<(Run, Value)> {
    let json = node.with_extension("results.json");
    let mut args = vec![
        "scan",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "node",
        "--quiet",
        "--snapshot",
        node.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = run_bounded(&args)?;
    let results = std::fs::read_to_string(&json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    Some((run, results))
}

/// check id → (state, the check's whole JSON as text) of the first node.
fn checks(results: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    collect_checks(results, &mut found);
    found
}

fn collect_checks(value: &Value, found: &mut Vec<(String, String, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(id)), Some(Value::String(state))) =
                (map.get("id"), map.get("state"))
            {
                found.push((id.clone(), state.clone(), value.to_string()));
            }
            map.values().for_each(|v| collect_checks(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_checks(v, found)),
        _ => {}
    }
}

/// Whether the run reported an error naming `path` and saying `what`: the node's (on stderr)
/// or a check's (ERROR in the results).
fn error_names(run: &Run, results: &Value, path: &str, what: &str) -> bool {
    let node_error = run.stderr.contains(path) && run.stderr.contains(what);
    let check_error = checks(results)
        .iter()
        .any(|(_, state, json)| state == "ERROR" && json.contains(path) && json.contains(what));
    node_error || check_error
}

#[test]
fn a_fifo_kubelet_config_is_an_error_for_its_checks_not_a_hang() {
    let (_dir, node) = worker_copy();
    replace_with_fifo(&node.join("var/lib/kubelet/config.yaml"));
    let Some((run, results)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(matches!(run.code, 0..=3), "{}", run.all_text());
    assert!(
        error_names(
            &run,
            &results,
            "/var/lib/kubelet/config.yaml",
            "a FIFO, not a regular file"
        ),
        "no error naming the FIFO: {}",
        run.all_text()
    );
}

#[test]
fn a_fifo_or_device_passwd_makes_the_node_an_error_naming_it() {
    let (_dir, node) = worker_copy();
    replace_with_fifo(&node.join("etc/passwd"));
    let Some((run, _)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(matches!(run.code, 2 | 3), "{}", run.all_text());
    assert!(
        run.stderr.contains("/etc/passwd") && run.stderr.contains("FIFO"),
        "{}",
        run.stderr
    );

    if replace_with_zero_device(&node.join("etc/passwd")).is_none() {
        return;
    }
    let Some((run, _)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(matches!(run.code, 2 | 3), "{}", run.all_text());
    assert!(
        run.stderr.contains("/etc/passwd") && run.stderr.contains("character device"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_sparse_manifest_past_the_limit_is_an_error_naming_file_and_limit() {
    let (_dir, node) = worker_copy();
    let config = node.join("var/lib/kubelet/config.yaml");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&config)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let Some((run, results)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(matches!(run.code, 0..=3), "{}", run.all_text());
    assert!(
        error_names(
            &run,
            &results,
            "/var/lib/kubelet/config.yaml",
            "larger than the 16 MiB limit (--max-file-size)"
        ),
        "no error naming the file and the limit: {}",
        run.all_text()
    );

    // The operator may raise the limit; a small real file then reads as before.
    std::fs::write(&config, "kind: KubeletConfiguration\n").unwrap();
    let Some((run, results)) = scan_snapshot(&node, &["--max-file-size", "1K"]) else {
        return;
    };
    assert!(matches!(run.code, 0 | 1), "{}", run.all_text());
    assert!(!results.to_string().contains("--max-file-size"));
}

#[test]
fn a_gzip_bomb_is_an_error_naming_the_file_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.json.gz");
    // 300 MiB of spaces before a valid document would be valid JSON: only the limit stops it.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{{ head -c 314572800 /dev/zero | tr '\\0' ' '; echo '{{}}'; }} | gzip -1 > '{}'",
            bomb.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::metadata(&bomb).unwrap().len() < 4 << 20);
    let Some(run) = run_bounded(&[
        "scan",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "node",
        "--snapshot",
        bomb.to_str().unwrap(),
    ]) else {
        return;
    };
    assert!(matches!(run.code, 2 | 3), "{}", run.all_text());
    assert!(
        run.all_text().contains("bomb.json.gz")
            && run
                .all_text()
                .contains("inflates to more than the 256 MiB limit (--max-snapshot-size)"),
        "{}",
        run.all_text()
    );
}

#[test]
fn a_metadata_symlink_to_a_host_file_never_reaches_the_output() {
    let outside = tempfile::tempdir().unwrap();
    let secret = "root:$6$HOSTSECRETHASHdoNotLeak:19000:0:99999:7:::";
    let host_file = outside.path().join("shadow");
    std::fs::write(&host_file, format!("{secret}\n")).unwrap();
    let (_dir, node) = worker_copy();
    let metadata = node.join("cisgate-node.yaml");
    std::fs::remove_file(&metadata).unwrap();
    std::os::unix::fs::symlink(&host_file, &metadata).unwrap();
    let Some((run, results)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(!run.all_text().contains("HOSTSECRET"), "{}", run.all_text());
    assert!(!results.to_string().contains("HOSTSECRET"));

    // Inside the snapshot the same link leads to the snapshot's own file, which is read;
    // its parse error quotes a short excerpt only.
    let long_line = format!("{secret}{}", "LONGTAIL".repeat(20));
    std::fs::create_dir_all(node.join(host_file.parent().unwrap().strip_prefix("/").unwrap()))
        .unwrap();
    std::fs::write(
        node.join(host_file.strip_prefix("/").unwrap()),
        format!("{long_line}\n"),
    )
    .unwrap();
    let Some((run, _)) = scan_snapshot(&node, &[]) else {
        return;
    };
    assert!(matches!(run.code, 2 | 3), "{}", run.all_text());
    assert!(run.stderr.contains("cisgate-node.yaml"), "{}", run.stderr);
    assert!(!run.all_text().contains("LONGTAIL"), "{}", run.all_text());
}

#[test]
fn live_fifos_and_devices_under_root_never_block() {
    let (_dir, node) = worker_copy();
    replace_with_fifo(&node.join("var/lib/kubelet/config.yaml"));
    replace_with_fifo(&node.join("etc/default/kubelet"));
    replace_with_fifo(&node.join("etc/hostname"));
    let json = node.with_extension("live.json");
    let Some(run) = run_bounded(&[
        "scan",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "node",
        "--quiet",
        "--root",
        node.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]) else {
        return;
    };
    assert!(matches!(run.code, 0..=3), "{}", run.all_text());
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        error_names(&run, &results, "/var/lib/kubelet/config.yaml", "a FIFO"),
        "{}",
        run.all_text()
    );

    if replace_with_zero_device(&node.join("etc/passwd")).is_none() {
        return;
    }
    let Some(run) = run_bounded(&[
        "scan",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "node",
        "--quiet",
        "--root",
        node.to_str().unwrap(),
    ]) else {
        return;
    };
    assert!(matches!(run.code, 2 | 3), "{}", run.all_text());
    assert!(
        run.stderr
            .contains("/etc/passwd: a character device, not a regular file"),
        "{}",
        run.all_text()
    );
}

#[test]
fn a_results_file_bomb_is_refused_by_report() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("results.json.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 3145728 /dev/zero | tr '\\0' ' ' | gzip -1 > '{}'",
            bomb.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("out.json");
    let Some(run) = run_bounded(&[
        "report",
        "--from",
        bomb.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
        "--max-snapshot-size",
        "1M",
    ]) else {
        return;
    };
    assert_eq!(run.code, 2, "{}", run.all_text());
    assert!(
        run.stderr.contains("results.json.gz")
            && run.stderr.contains("1 MiB limit (--max-snapshot-size)"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
}

#[test]
fn control_characters_from_a_node_never_reach_the_terminal_or_a_report_raw() {
    let (dir, node) = worker_copy();
    let metadata = node.join("cisgate-node.yaml");
    let text = std::fs::read_to_string(&metadata).unwrap().replace(
        "name: worker-1",
        "name: \"w\\e[2J\\rX\\b\\a\\0\\uFFFE\\uFFFFend\"",
    );
    std::fs::write(&metadata, text).unwrap();
    let out = |name: &str| dir.path().join(name);
    let Some(run) = run_bounded(&[
        "scan",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "node",
        "--no-color",
        "--snapshot",
        node.to_str().unwrap(),
        "--junit",
        out("junit.xml").to_str().unwrap(),
        "--html",
        out("report.html").to_str().unwrap(),
        "--summary-md",
        out("summary.md").to_str().unwrap(),
        "--sarif",
        out("report.sarif").to_str().unwrap(),
    ]) else {
        return;
    };
    assert!(matches!(run.code, 0 | 1), "{}", run.all_text());
    let raw = ['\u{1b}', '\r', '\u{8}', '\u{7}', '\0'];
    assert!(
        run.stdout.contains("w\\e[2J\\rX\\b\\u{7}\\0"),
        "the console shows the name escaped: {}",
        run.stdout
    );
    assert!(!run.all_text().contains(raw), "{}", run.all_text());
    for report in ["junit.xml", "report.html", "summary.md", "report.sarif"] {
        let text = std::fs::read_to_string(out(report)).unwrap();
        assert!(!text.contains(raw), "{report} holds a control character");
        assert!(
            !text.contains(['\u{fffe}', '\u{ffff}']),
            "{report} holds a noncharacter"
        );
        // (the summary and SARIF name no node when there is one)
        assert!(
            report.ends_with(".md") || report.ends_with(".sarif") || text.contains("w[2JXend"),
            "{report} lost the name's text"
        );
    }
    let junit = std::fs::read_to_string(out("junit.xml")).unwrap();
    roxmltree::Document::parse(&junit).expect("the JUnit report is well-formed XML");
}

#[test]
fn reports_to_devices_are_written_in_place_and_write_errors_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::repo_root().join("tests/fixtures/cis-1.12/nodes/good-worker");
    let scan = |json: &Path, junit: &Path| {
        run_bounded(&[
            "scan",
            "--benchmark",
            "cis-1.12",
            "--targets",
            "node",
            "--quiet",
            "--snapshot",
            fixture.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ])
    };
    let junit = dir.path().join("junit.xml");
    // a device node of our own (as root the rename would have replaced it)
    let null = dir.path().join("null");
    if replace_with_null_device(&null).is_some() {
        let Some(run) = scan(&null, &junit) else {
            return;
        };
        assert!(matches!(run.code, 0 | 1), "{}", run.all_text());
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // a symlink stays a symlink; what it leads to gets the report
    let target = dir.path().join("target.json");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::fs::write(&target, "old").unwrap();
    let Some(run) = scan(&link, &junit) else {
        return;
    };
    assert!(matches!(run.code, 0 | 1), "{}", run.all_text());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .contains("results_version"));
    // no space left: exit 2 naming the destination
    if Path::new("/dev/full").exists() {
        let Some(run) = scan(Path::new("/dev/full"), &junit) else {
            return;
        };
        assert_eq!(run.code, 2, "{}", run.all_text());
        assert!(run.stderr.contains("/dev/full"), "{}", run.stderr);
    } else {
        support::missing("/dev/full is absent (the no-space-left case)");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("cisgate-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn replace_with_null_device(path: &Path) -> Option<()> {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .status();
    if status.as_ref().is_ok_and(|s| s.success()) {
        Some(())
    } else {
        support::missing(
            "mknod could not make a device node here (needs the mknod program and CAP_MKNOD)",
        );
        None
    }
}

#[test]
fn a_root_with_quotes_spaces_and_command_substitution_is_data_not_shell() {
    let Some(cfg) = support::kube_bench_cfg() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("PWNED");
    // relative: the scan runs in `dir`, so a command that ran would create `dir/PWNED`
    let root = dir.path().join("r o'ot$(touch PWNED)");
    let fixture = support::repo_root().join("tests/fixtures/cis-1.12/nodes/good-worker");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("var/lib/kubelet/config.yaml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let json = dir.path().join("results.json");
    let Some(run) = run_bounded_in(
        dir.path(),
        &[
            "scan",
            "--config-dir",
            cfg.to_str().unwrap(),
            "--benchmark",
            "cis-1.10",
            "--targets",
            "node",
            "--quiet",
            "--root",
            root.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert!(!marker.exists(), "a command in --root ran");
    assert!(matches!(run.code, 0 | 1 | 3), "{}", run.all_text());
    // the kubelet config's permissions are read under the root, quoted as one word
    let text = std::fs::read_to_string(&json).unwrap();
    let results: Value = serde_json::from_str(&text).unwrap();
    let state = checks(&results)
        .into_iter()
        .find(|(id, _, _)| id == "4.1.9")
        .map(|(_, state, json)| (state, json))
        .expect("check 4.1.9");
    assert!(state.0 == "PASS", "{state:?}");
}

#[test]
fn a_benchmark_whose_jq_would_end_the_run_or_read_the_environment_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    let status = Command::new("cp")
        .arg("-a")
        .arg(support::repo_root().join("cfg"))
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(status.success());
    let policies = cfg.join("cis-1.12/policies.yaml");
    let original = std::fs::read_to_string(&policies).unwrap();
    let fixture = support::repo_root().join("tests/fixtures/cis-1.12/nodes/good-control-plane");
    for hostile in ["halt", "env | tostring", "[inputs]", "halt_error"] {
        let text = original.replacen("jq: |\n", &format!("jq: |\n            {hostile} |\n"), 1);
        assert_ne!(text, original);
        std::fs::write(&policies, text).unwrap();
        let Some(run) = run_bounded(&[
            "scan",
            "--config-dir",
            cfg.to_str().unwrap(),
            "--benchmark",
            "cis-1.12",
            "--targets",
            "policies",
            "--snapshot",
            fixture.to_str().unwrap(),
        ]) else {
            return;
        };
        assert_eq!(run.code, 2, "{hostile}: {}", run.all_text());
        assert!(
            run.stderr.contains("policies.yaml:") && run.stderr.contains("may not use"),
            "{hostile}: {}",
            run.stderr
        );
    }
}
