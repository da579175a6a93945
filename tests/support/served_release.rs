//! A cisgate release laid out by scripts/release-layout.sh (as the release workflow publishes
//! it) under GitHub's download paths and served on 127.0.0.1: what the install steps of the
//! CI examples download. The binary is the one under test, its debug info stripped (the
//! layout compresses it: 200 MB of debug info would cost a minute per release). Include
//! `support/release.rs` as `release` and `support/static_http.rs` as `static_http` beside it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::release::{host_target, repo_root, repository, VERSION};
use crate::static_http::StaticServer;

pub struct ServedRelease {
    /// Served from here; under the test target's scratch directory, replaced on every run.
    root: PathBuf,
    pub server: StaticServer,
}

impl ServedRelease {
    /// One release of the binary under test for the whole test process (read-only: tests
    /// that tamper with a release make their own with [`ServedRelease::new`]).
    pub fn shared() -> &'static ServedRelease {
        static SHARED: OnceLock<ServedRelease> = OnceLock::new();
        SHARED.get_or_init(|| ServedRelease::new("shared"))
    }

    /// A release of its own, named `name` within this test process.
    pub fn new(name: &str) -> ServedRelease {
        let crate_name = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("served-release")
            .join(crate_name)
            .join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let binary = root.join("cisgate");
        let stripped = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(env!("CARGO_BIN_EXE_cisgate"))
            .arg(&binary)
            .status()
            .expect("objcopy (binutils) runs");
        assert!(stripped.success());
        let assets = root.join("www").join(release_path());
        let output = Command::new(repo_root().join("scripts/release-layout.sh"))
            .arg(format!("v{VERSION}"))
            .arg(&assets)
            .arg(format!("{}={}", host_target(), binary.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/release-layout.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let server = StaticServer::serve(&root.join("www"));
        ServedRelease { root, server }
    }

    /// Where the assets are (to tamper with them).
    pub fn assets(&self) -> PathBuf {
        self.root.join("www").join(release_path())
    }
}

pub fn release_path() -> String {
    format!("{}/releases/download/v{VERSION}", repository())
}
