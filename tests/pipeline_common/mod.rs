//! Shared by the pipeline tests (action, GitLab job, docs, manifests): the built binary, the
//! bundled examples, and [`missing`] when a tool is absent (a failure under `CI`, said in the
//! normal output locally).
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

pub use support::missing;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cisgate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cisgate"))
}

/// A directory holding `cisgate` (the binary under test) and the given programs, as links:
/// a PATH with nothing else on it.
pub fn bin_dir(dir: &Path, programs: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cisgate_bin(), bin.join("cisgate")).unwrap();
    for program in programs {
        if let Some(found) = which(program) {
            std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
        }
    }
    bin
}

/// `PATH` with the directory holding the binary under test first.
pub fn path_with_cisgate(dir: &Path) -> String {
    let bin = bin_dir(dir, &[]);
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Where `program` is on PATH; for python3 the interpreter itself (pyenv puts a shim on PATH
/// that needs the rest of PATH).
pub fn which(program: &str) -> Option<PathBuf> {
    if program == "python3" {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()?;
        let path = PathBuf::from(text(&out.stdout).trim());
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Whether `program` is installed; when it is not, the calling test cannot run: see [`missing`].
pub fn tool_available(program: &str, reason: &str) -> bool {
    if which(program).is_some() {
        true
    } else {
        missing(&format!("{program} is not installed ({reason})"));
        false
    }
}

/// Whether this build's `cisgate scan` takes `--snapshot`; a build without it cannot run the
/// snapshot-mode tests (see [`missing`]).
pub fn snapshot_scans_available() -> bool {
    let help = Command::new(cisgate_bin())
        .args(["scan", "--help"])
        .output()
        .expect("cisgate runs");
    let available = String::from_utf8_lossy(&help.stdout).contains("--snapshot");
    if !available {
        missing("this build's `cisgate scan` has no --snapshot");
    }
    available
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// `key=value` lines of a GitHub output file, in order.
pub fn output_lines(file: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn output_value(file: &Path, key: &str) -> Option<String> {
    output_lines(file)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
