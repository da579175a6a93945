//! A snapshot-directory fixture laid out as a live node, for live-scan and parity tests.
//!
//! [`LiveTree::start`] copies a fixture (a node's root tree, as under
//! `tests/fixtures/<benchmark>/nodes/`) into a temporary root with the modes and owners its
//! `cisgate-node.yaml` states, and starts one real process per process the fixture derives or
//! declares (a sleeper exec'd under the process's kernel command name, with its argv). Then:
//! - [`LiveTree::scan`] runs `cisgate scan --root <root>` with the embedded benchmarks;
//! - [`LiveTree::scan_kube_bench`] runs kube-bench's reference tree (`../shared/kube-bench-cfg`)
//!   against the same node, chrooted at the root inside a private mount namespace (`unshare
//!   -m`), so that kube-bench's shell audits — literal paths included — read the node's files
//!   through the machine's own `/bin/sh`, `ps`, `stat`, `find` and `grep`;
//! - [`LiveTree::collect`] writes a snapshot file with `cisgate collect --root <root>`.
//!
//! Directories are laid out merged-`/usr` (`/lib` → `usr/lib`, `/bin` → `usr/bin`), as the
//! distributions the fixtures describe are: a fixture's `lib/systemd/...` lands in
//! `usr/lib/systemd/...`, where `/lib/systemd/...` still finds it.
//!
//! Use from a test:
//! ```ignore
//! #[path = "support/fake_node.rs"] mod fake_node;
//! #[path = "support/live_tree.rs"] mod live_tree;
//! mod support;
//! ```
#![allow(dead_code)] // each test binary uses its own part of this file

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use cisgate::facts::{Facts, FileKind};
use serde_json::Value;
use tempfile::TempDir;

use crate::fake_node::{fake_component_binary, LiveNodeLock};
use crate::support::{kube_bench_cfg, repo_root};

/// Top-level directories that are links into `/usr` on a merged-`/usr` system.
const MERGED_USR: [(&str, &str); 4] = [
    ("bin", "usr/bin"),
    ("sbin", "usr/sbin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
];
/// Where the chrooted run finds the binary, the reference tree and writes its results.
const CHROOT_WORKDIR: &str = ".cisgate-test";
const SLEEPERS_DIR: &str = ".cisgate-test-programs";

/// A fixture running as a live node. Its processes end and its root is removed on drop.
pub struct LiveTree {
    root: TempDir,
    fixture: PathBuf,
    children: Vec<Child>,
    _lock: LiveNodeLock,
}

/// How a `cisgate` run ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    /// The JSON results (`--json`); `Value::Null` when none were written.
    pub results: Value,
    pub stderr: String,
}

impl LiveTree {
    /// Lays the fixture out under a new temporary root and starts its processes.
    pub fn start(fixture: &Path) -> LiveTree {
        let lock = LiveNodeLock::acquire();
        let facts = SnapshotDirFacts::open(fixture)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.display()));
        let root = tempfile::Builder::new()
            .prefix("cisgate-live-tree.")
            .tempdir()
            .expect("temp root");
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        lay_out_merged_usr(root.path());
        copy_node_tree(&facts, fixture, root.path());
        let mut tree = LiveTree {
            root,
            fixture: fixture.to_path_buf(),
            children: Vec::new(),
            _lock: lock,
        };
        let processes = facts
            .processes()
            .unwrap_or_else(|e| panic!("fixture {}: processes: {e}", fixture.display()));
        for process in processes.iter() {
            let child = spawn_sleeper(tree.root.path(), &process.comm, &process.argv);
            tree.children.push(child);
        }
        tree
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where a node path is on this machine.
    pub fn host_path(&self, node_path: &str) -> PathBuf {
        self.root.path().join(node_path.trim_start_matches('/'))
    }

    /// `cisgate scan --root <root> --json <file> ARGS` with the embedded benchmarks.
    pub fn scan(&self, args: &[&str]) -> Outcome {
        let out = TempDir::new().unwrap();
        let json = out.path().join("results.json");
        let output = Command::new(cisgate_binary())
            .arg("scan")
            .arg("--quiet")
            .arg("--root")
            .arg(self.root.path())
            .arg("--json")
            .arg(&json)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run cisgate");
        outcome(output, &json)
    }

    /// kube-bench's reference tree run against this node, chrooted in a private mount
    /// namespace: `cisgate scan --config-dir <kube-bench cfg> --benchmark B --targets T`.
    /// `None` where the reference tree is absent (see `support::missing`).
    pub fn scan_kube_bench(&self, benchmark: &str, targets: &str) -> Option<Outcome> {
        let reference = kube_bench_cfg()?;
        let work = self.root.path().join(CHROOT_WORKDIR);
        fs::create_dir_all(work.join("out")).unwrap();
        fs::create_dir_all(work.join("cfg")).unwrap();
        fs::write(work.join("cisgate"), b"").unwrap();
        let script = chroot_script();
        let output = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(script)
            .arg("chroot-scan")
            .arg(self.root.path())
            .arg(cisgate_binary())
            .arg(&reference)
            .args([
                "scan",
                "--quiet",
                "--config-dir",
                &format!("/{CHROOT_WORKDIR}/cfg"),
                "--benchmark",
                benchmark,
                "--targets",
                targets,
                "--json",
                &format!("/{CHROOT_WORKDIR}/out/results.json"),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run unshare");
        let result = outcome(output, &work.join("out/results.json"));
        fs::remove_dir_all(&work).unwrap();
        assert!(
            !result.results.is_null(),
            "the chrooted kube-bench run wrote no results (exit {}): {}",
            result.code,
            result.stderr
        );
        Some(result)
    }

    /// `cisgate collect --config-dir <kube-bench cfg> --benchmark B --targets T` run chrooted on
    /// this node like [`LiveTree::scan_kube_bench`]; the snapshot file is moved into `dir`.
    /// `None` where the reference tree is absent (see `support::missing`).
    pub fn collect_kube_bench(
        &self,
        dir: &Path,
        benchmark: &str,
        targets: &str,
    ) -> Option<PathBuf> {
        let reference = kube_bench_cfg()?;
        let work = self.root.path().join(CHROOT_WORKDIR);
        fs::create_dir_all(work.join("out")).unwrap();
        fs::create_dir_all(work.join("cfg")).unwrap();
        fs::write(work.join("cisgate"), b"").unwrap();
        let output = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(chroot_script())
            .arg("chroot-collect")
            .arg(self.root.path())
            .arg(cisgate_binary())
            .arg(&reference)
            .args([
                "collect",
                "--config-dir",
                &format!("/{CHROOT_WORKDIR}/cfg"),
                "--benchmark",
                benchmark,
                "--targets",
                targets,
                "-o",
                &format!("/{CHROOT_WORKDIR}/out/node.json.gz"),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run unshare");
        let snapshot = dir.join("kube-bench-node.json.gz");
        let written = fs::copy(work.join("out/node.json.gz"), &snapshot);
        fs::remove_dir_all(&work).unwrap();
        assert!(
            output.status.success() && written.is_ok(),
            "the chrooted collect failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Some(snapshot)
    }

    /// `cisgate collect --root <root> -o <file> ARGS`; returns the snapshot file, which lives
    /// as long as `dir`.
    pub fn collect(&self, dir: &Path, args: &[&str]) -> PathBuf {
        let snapshot = dir.join(format!(
            "{}.json.gz",
            self.fixture.file_name().unwrap().to_string_lossy()
        ));
        let output = Command::new(cisgate_binary())
            .arg("collect")
            .arg("--root")
            .arg(self.root.path())
            .arg("-o")
            .arg(&snapshot)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run cisgate collect");
        assert!(
            output.status.success() && snapshot.is_file(),
            "cisgate collect failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        snapshot
    }
}

impl Drop for LiveTree {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `cisgate` binary cargo built for this test run.
pub fn cisgate_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cisgate"))
}

/// `cisgate scan --snapshot PATH --json ARGS` (a snapshot file or directory).
pub fn scan_snapshot(snapshot: &Path, args: &[&str]) -> Outcome {
    let out = TempDir::new().unwrap();
    let json = out.path().join("results.json");
    let output = Command::new(cisgate_binary())
        .arg("scan")
        .arg("--quiet")
        .arg("--snapshot")
        .arg(snapshot)
        .arg("--json")
        .arg(&json)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cisgate");
    outcome(output, &json)
}

fn outcome(output: std::process::Output, json: &Path) -> Outcome {
    let results = fs::read(json)
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).expect("results JSON"))
        .unwrap_or(Value::Null);
    Outcome {
        code: output.status.code().unwrap_or(-1),
        results,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every check's state on the (single) node of a results document: id → state.
pub fn states(results: &Value) -> BTreeMap<String, String> {
    checks(results)
        .map(|check| {
            (
                check["id"].as_str().unwrap_or_default().to_owned(),
                check["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every check object of every node of a results document.
pub fn checks(results: &Value) -> impl Iterator<Item = &Value> {
    results["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|node| node["sections"].as_array().into_iter().flatten())
        .flat_map(|section| section["groups"].as_array().into_iter().flatten())
        .flat_map(|group| group["checks"].as_array().into_iter().flatten())
}

/// The check ids listed in `## <benchmark>` of `docs/differences-from-kube-bench.md`: the ids
/// at the start of each bullet (`- 4.2.1, 4.2.3: reason`), ranges `4.1.1–4.1.4` expanded.
pub fn documented_differences(benchmark: &str) -> BTreeSet<String> {
    let doc = fs::read_to_string(repo_root().join("docs/differences-from-kube-bench.md"))
        .expect("docs/differences-from-kube-bench.md");
    let heading = format!("## {benchmark}");
    let mut in_section = false;
    let mut ids = BTreeSet::new();
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_section = line.trim_end() == heading;
            continue;
        }
        let Some(bullet) = line.strip_prefix("- ") else {
            continue;
        };
        if in_section {
            ids.extend(bullet_ids(bullet));
        }
    }
    ids
}

/// `4.2.1, 4.2.3–4.2.5: why` → 4.2.1, 4.2.3, 4.2.4, 4.2.5; nothing when the bullet does not
/// start with ids.
fn bullet_ids(bullet: &str) -> Vec<String> {
    let Some((head, _)) = bullet.split_once(':') else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for token in head.split(',').map(str::trim) {
        match token.split_once('–') {
            Some((first, last)) => match expand_range(first.trim(), last.trim()) {
                Some(range) => ids.extend(range),
                None => return Vec::new(),
            },
            None if is_check_id(token) => ids.push(token.to_owned()),
            None => return Vec::new(),
        }
    }
    ids
}

fn is_check_id(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').count() >= 2
        && text
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn expand_range(first: &str, last: &str) -> Option<Vec<String>> {
    if !is_check_id(first) || !is_check_id(last) {
        return None;
    }
    let (prefix, from) = first.rsplit_once('.')?;
    let (last_prefix, to) = last.rsplit_once('.')?;
    if prefix != last_prefix {
        return None;
    }
    let (from, to): (u32, u32) = (from.parse().ok()?, to.parse().ok()?);
    Some((from..=to).map(|n| format!("{prefix}.{n}")).collect())
}

/// Panics listing every check whose state differs between the two runs and is not in
/// `allowed`, with both sides' evidence. Checks only one side ran are differences too.
pub fn assert_same_verdicts(ours: &Value, theirs: &Value, allowed: &BTreeSet<String>) {
    let evidence = |results: &Value, id: &str| {
        checks(results)
            .find(|check| check["id"] == id)
            .map(|check| {
                format!(
                    "{} — expected {} — actual {}",
                    check["state"],
                    check["evidence"]["expected"],
                    truncate(&check["evidence"]["actual"].to_string(), 300)
                )
            })
            .unwrap_or_else(|| "not run".to_owned())
    };
    let ours_states = states(ours);
    let theirs_states = states(theirs);
    let ids: BTreeSet<&String> = ours_states.keys().chain(theirs_states.keys()).collect();
    let mismatches: Vec<String> = ids
        .into_iter()
        .filter(|id| !allowed.contains(*id))
        .filter(|id| ours_states.get(*id) != theirs_states.get(*id))
        .map(|id| {
            format!(
                "{id}:\n    cisgate:    {}\n    kube-bench: {}",
                evidence(ours, id),
                evidence(theirs, id)
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} check(s) decide differently from kube-bench's tree and are not documented in \
         docs/differences-from-kube-bench.md:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn lay_out_merged_usr(root: &Path) {
    for (link, target) in MERGED_USR {
        fs::create_dir_all(root.join(target)).unwrap();
        symlink(target, root.join(link)).unwrap();
    }
}

/// A node path under the merged-`/usr` root: `/lib/x` → `usr/lib/x`.
fn merged_relative(node_path: &str) -> PathBuf {
    let relative = node_path.trim_start_matches('/');
    for (link, target) in MERGED_USR {
        if relative == link {
            return PathBuf::from(target);
        }
        if let Some(rest) = relative.strip_prefix(&format!("{link}/")) {
            return Path::new(target).join(rest);
        }
    }
    PathBuf::from(relative)
}

/// Every path the fixture has (its files and the directories and files its metadata declares),
/// with the mode and owner the fixture gives it. Symlinks are copied as symlinks.
fn copy_node_tree(facts: &SnapshotDirFacts, fixture: &Path, root: &Path) {
    let paths = facts
        .list_tree("/")
        .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.display()));
    for node_path in paths.iter().filter(|p| p.as_str() != "/") {
        let relative = merged_relative(node_path);
        let target = root.join(&relative);
        let source = fixture.join(node_path.trim_start_matches('/'));
        if let Ok(link) = fs::read_link(&source) {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            symlink(link, &target).unwrap();
            continue;
        }
        let stat = facts
            .stat(node_path)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.display()))
            .unwrap_or_else(|| {
                panic!(
                    "fixture {} lists {node_path} but has no stat",
                    fixture.display()
                )
            });
        match stat.kind {
            FileKind::Dir => fs::create_dir_all(&target).unwrap(),
            _ => {
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                if source.is_file() {
                    fs::copy(&source, &target).unwrap();
                } else {
                    fs::write(&target, b"").unwrap();
                }
            }
        }
        fs::set_permissions(&target, fs::Permissions::from_mode(stat.mode)).unwrap();
        std::os::unix::fs::lchown(&target, Some(stat.uid), Some(stat.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e} (the tests run as root)", target.display()));
    }
}

/// Starts the sleeper as `comm` (its program file's name, which the kernel takes as the
/// command name) with `argv`, and waits until `/proc` lists it so.
fn spawn_sleeper(root: &Path, comm: &str, argv: &[String]) -> Child {
    let programs = root.join(SLEEPERS_DIR);
    fs::create_dir_all(&programs).unwrap();
    let program = programs.join(comm);
    if !program.exists() && fs::hard_link(fake_component_binary(), &program).is_err() {
        fs::copy(fake_component_binary(), &program).expect("copy the sleeper");
    }
    let (argv0, args) = argv.split_first().expect("a process has an argv");
    let child = Command::new(&program)
        .arg0(argv0)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {comm}: {e}"));
    wait_until_listed(child.id(), comm);
    child
}

fn wait_until_listed(pid: u32, comm: &str) {
    let expected: String = comm.chars().take(15).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let listed = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if listed.trim_end() == expected && !cmdline.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("process {pid} ({comm}) did not show up in /proc");
}

/// The script `unshare` runs: bind-mounts this machine's programs and libraries, `/proc` and
/// `/dev` into the node's root, the binary and the reference tree into its work directory,
/// then runs the binary chrooted. Arguments: root, binary, reference tree, then cisgate's.
fn chroot_script() -> String {
    format!(
        r#"set -eu
root=$1; binary=$2; reference=$3; shift 3
for dir in /usr/bin /usr/sbin /usr/lib64 /usr/libexec /usr/lib/*-linux-gnu; do
  [ -d "$dir" ] || continue
  mkdir -p "$root$dir"
  mount --bind "$dir" "$root$dir"
done
for dir in /proc /dev; do
  mkdir -p "$root$dir"
  mount --rbind "$dir" "$root$dir"
done
mkdir -p "$root/tmp"
mount -t tmpfs tmpfs "$root/tmp"
mount --bind "$binary" "$root/{work}/cisgate"
mount --bind "$reference" "$root/{work}/cfg"
exec chroot "$root" "/{work}/cisgate" "$@"
"#,
        work = CHROOT_WORKDIR
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bullets_name_their_checks() {
        assert_eq!(bullet_ids("4.2.1, 4.2.3: why"), ["4.2.1", "4.2.3"]);
        assert_eq!(
            bullet_ids("4.1.1–4.1.3, 5.1: why"),
            ["4.1.1", "4.1.2", "4.1.3", "5.1"]
        );
        assert!(bullet_ids("**No shell anywhere.** Every audit: x").is_empty());
        assert!(bullet_ids("no colon here").is_empty());
    }
}
