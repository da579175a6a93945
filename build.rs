//! Records what `cisgate --version` says about the build: the commit it was built from and
//! the target it was built for.
//!
//! The commit is `CISGATE_COMMIT` when set (the release workflow sets it to the tagged
//! commit), else `git rev-parse HEAD` when this package is the top of a git checkout, else
//! `unknown` (a crates.io download, a source tarball, a checkout without git).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
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
