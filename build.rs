//! Records what `cisgate --version` says about the build: the commit it was built from and
//! the target it was built for. And reads the embedded benchmarks (`cfg/`) once, here:
//! every controls file is parsed and validated with the crate's own code (the files below,
//! compiled into this script) and written out as the checked model in a compact binary
//! layout (`src/definitions/compiled_form.rs`), every `config.yaml` as JSON of its
//! documents; the binary loads those without a YAML parser, without parsing a controls
//! file's text at all, and without a regex compile (`src/definitions/tree.rs`). A
//! benchmark file that does not load fails the build with its file, line and message.
//!
//! The commit is `CISGATE_COMMIT` when set (the release workflow sets it to the tagged
//! commit), else `git rev-parse HEAD` when this package is the top of a git checkout, else
//! `unknown` (a crates.io download, a source tarball, a checkout without git).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

// The crate's own reading and checking of benchmark files, at the paths they have in the
// crate (`super::` and `crate::` resolve the same here). Only what they need of the crate
// may be added: they are the modules below `definitions` and `engine`.
#[allow(dead_code)]
#[path = "src/definitions/compiled_form.rs"]
mod compiled_form;
#[allow(dead_code)]
#[path = "src/definitions/error.rs"]
mod error;
#[allow(dead_code)]
#[path = "src/matching/mod.rs"]
mod matching;
#[allow(dead_code)]
#[path = "src/definitions/model.rs"]
mod model;
#[allow(dead_code)]
#[path = "src/definitions/parse.rs"]
mod parse;
#[allow(dead_code)]
#[path = "src/definitions/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "src/shared_text.rs"]
mod shared_text;
#[allow(dead_code)]
#[path = "src/sync.rs"]
mod sync;
#[allow(dead_code)]
#[path = "src/definitions/validate.rs"]
mod validate;

fn main() {
    compile_embedded_benchmarks();
    println!("cargo:rerun-if-env-changed=CISGATE_COMMIT");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let commit = std::env::var("CISGATE_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| git_commit(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_string());
    // Other names than the input's: cargo also sets these in the environment of `cargo test`
    // processes, where a CISGATE_COMMIT would reach a nested build (the release tests build
    // the release binary) and make it rebuild.
    println!("cargo:rustc-env=CISGATE_BUILD_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=CISGATE_BUILD_TARGET={target}");
    watch_release_link_inputs();
}

/// scripts/release-build.sh links with scripts/release-link.sh, which lays functions out in the
/// order of a file cargo knows nothing of: a changed order (or linker script) must link again.
fn watch_release_link_inputs() {
    println!("cargo:rerun-if-env-changed=CISGATE_SYMBOL_ORDER");
    if let Some(order) = std::env::var_os("CISGATE_SYMBOL_ORDER") {
        let order = PathBuf::from(order);
        println!("cargo:rerun-if-changed={}", order.display());
        if let Some(scripts) = order.parent() {
            for script in ["release-link.sh", "symbol-order.awk"] {
                println!("cargo:rerun-if-changed={}", scripts.join(script).display());
            }
        }
    }
}

/// `git -C dir ARGS`, its trimmed output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// HEAD's commit, only when the package directory is the top of the work tree (a package
/// vendored inside another repository must not report that repository's commit). Asks cargo
/// to run this again when HEAD moves: HEAD itself, the branch it points to, packed refs.
fn git_commit(manifest_dir: &Path) -> Option<String> {
    let top = git(manifest_dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), manifest_dir) {
        return None;
    }
    let commit = git(manifest_dir, &["rev-parse", "--verify", "HEAD"])?;
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "--quiet", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(manifest_dir, &["rev-parse", "--git-path", &name]) {
            let path = manifest_dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}

/// Where the embedded tree is named in messages, as `BenchmarkTree::display_path` names it.
const EMBEDDED_NAME: &str = "<embedded cfg>";

/// Writes `$OUT_DIR/embedded_cfg.rs`: `COMPILED`, each YAML file of `cfg/` by its relative
/// path with its text and its compiled form (see the top of this file). Panics — failing the
/// build — on a file that does not parse or validate.
fn compile_embedded_benchmarks() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    for watched in [
        "cfg",
        "src/definitions/compiled_form.rs",
        "src/definitions/error.rs",
        "src/definitions/model.rs",
        "src/definitions/parse.rs",
        "src/definitions/probe.rs",
        "src/definitions/validate.rs",
        "src/matching",
        "src/shared_text.rs",
        "src/sync.rs",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }
    let cfg = manifest_dir.join("cfg");
    let mut files = Vec::new();
    yaml_files(&cfg, &mut files);
    // Sorted by the relative path as text: the binary looks them up by binary search.
    let mut files: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&cfg).unwrap().to_string_lossy();
            (relative.replace('\\', "/"), path)
        })
        .collect();
    files.sort();
    let mut table = String::from("pub static COMPILED: &[(&str, &str, &[u8])] = &[\n");
    for (relative, path) in files {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
        let (compiled, extension) = if relative.ends_with("config.yaml") {
            (compile_config(&relative, &text).into_bytes(), "json")
        } else {
            (compile_controls(&relative, &text), "bin")
        };
        let name = format!("{}.{extension}", relative.replace('/', "__"));
        std::fs::write(out_dir.join(&name), compiled).unwrap();
        writeln!(
            table,
            "    ({relative:?}, include_str!({path:?}), include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\"))),"
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("embedded_cfg.rs"), table).unwrap();
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// A controls file in `compiled_form`'s layout: its unknown keys (warnings) and its model,
/// parsed and validated as `load_controls` does it before substitution, and checked to read
/// back as that same model.
fn compile_controls(relative: &str, text: &str) -> Vec<u8> {
    let file = Path::new(EMBEDDED_NAME).join(relative);
    let mut warnings = Vec::new();
    let controls = parse::parse_controls(&file, text, &mut |w| warnings.push(w))
        .and_then(|controls| validate::validate(&file, text, &controls).map(|()| controls))
        .unwrap_or_else(|e| panic!("embedded benchmark file does not load: {e}"));
    let bytes = compiled_form::encode(&warnings, &controls);
    match compiled_form::decode(&bytes) {
        Ok(read_back) if read_back == (warnings, controls) => bytes,
        Ok(_) => panic!("{relative}: the compiled form reads back differently"),
        Err(error) => panic!("{relative}: the compiled form does not read back: {error}"),
    }
}

/// A `config.yaml` as the JSON array of its YAML documents. Its platform regexes are
/// compiled here, once: the binary compiles an embedded one only when it uses it
/// (`src/definitions/platform.rs`).
fn compile_config(relative: &str, text: &str) -> String {
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|e| panic!("{EMBEDDED_NAME}/{relative}: {e}"));
    for document in &documents {
        check_platform_regexes(relative, document);
    }
    serde_json::to_string(&documents).unwrap()
}

/// Panics on a `platforms.NAME.server_version`, `node_markers[].regex` or
/// `version_from[].regex` that does not compile.
fn check_platform_regexes(relative: &str, document: &serde_json::Value) {
    let Some(platforms) = document.get("platforms").and_then(|p| p.as_object()) else {
        return;
    };
    for (name, platform) in platforms {
        let mut patterns: Vec<&serde_json::Value> =
            platform.get("server_version").into_iter().collect();
        for list in ["node_markers", "version_from"] {
            let entries = platform.get(list).and_then(|l| l.as_array());
            patterns.extend(entries.into_iter().flatten().filter_map(|m| m.get("regex")));
        }
        for pattern in patterns.into_iter().filter_map(|p| p.as_str()) {
            if let Err(e) = regex::Regex::new(pattern) {
                panic!("{EMBEDDED_NAME}/{relative}: platforms.{name}: invalid regex: {e}");
            }
        }
    }
}
