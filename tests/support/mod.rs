//! Shared by the report tests: fixtures, the shared folder, external tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cisgate::report::{Emitter, RenderOptions};
use cisgate::results::RunResults;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_path(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/results").join(name)
}

pub fn small_fixture() -> RunResults {
    let text = std::fs::read_to_string(fixture_path("small.json")).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is valid RunResults")
}

pub fn render(emitter: &dyn Emitter, results: &RunResults) -> Vec<u8> {
    emitter
        .render(results, &RenderOptions::default())
        .expect("renders")
}

pub fn render_string(emitter: &dyn Emitter, results: &RunResults) -> String {
    String::from_utf8(render(emitter, results)).expect("UTF-8")
}

/// `<repo>/../shared`, where CI keeps the schemas; `None` (and a printed reason) when absent.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = repo_root().join("..").join("shared").join(relative);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} is absent", path.display());
        None
    }
}

/// Whether a program can be run; prints why the test is skipped when not.
pub fn tool_available(program: &str, probe_args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe_args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: `{program}` is not installed");
    }
    ok
}

pub fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}
