//! The container image, built here with podman from the repository's Dockerfile by the script
//! the release workflow runs (scripts/release-image.sh), from the static binary of this
//! checkout. Running containers may be refused in this sandbox, so the image is created (not
//! started), exported, and the binary of the export runs on the example nodes: it must find
//! exactly what the binary under test finds. Its configuration: non-root, the OCI labels.

#[path = "support/release.rs"]
mod release;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use release::*;
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap()
}

fn podman_ok(args: &[&str]) -> String {
    let output = podman(args);
    assert!(
        output.status.success(),
        "podman {args:?}: {}",
        describe(&output)
    );
    text(&output.stdout)
}

fn podman_available() -> bool {
    let found = Command::new("podman").arg("--version").output().is_ok();
    if !found {
        support::missing("podman is not installed (it builds the container image)");
    }
    found
}

fn platform() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "linux/arm64",
        _ => "linux/amd64",
    }
}

/// The image (a manifest list) and its container, removed when the test ends, pass or fail.
struct BuiltImage {
    tag: String,
    container: Option<String>,
}

impl Drop for BuiltImage {
    fn drop(&mut self) {
        if let Some(container) = &self.container {
            podman(&["rm", "--force", container]);
        }
        // The list's images are untagged once the list is gone: remove them by digest.
        let list: Value =
            serde_json::from_slice(&podman(&["manifest", "inspect", &self.tag]).stdout)
                .unwrap_or_default();
        let digests: Vec<&str> = list["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["digest"].as_str())
            .collect();
        podman(&["manifest", "rm", &self.tag]);
        let images =
            text(&podman(&["images", "--no-trunc", "--format", "{{.ID}} {{.Digest}}"]).stdout);
        for line in images.lines() {
            if let Some((id, digest)) = line.split_once(' ') {
                if digests.contains(&digest) {
                    podman(&["rmi", "--force", id]);
                }
            }
        }
    }
}

fn build_image() -> BuiltImage {
    let tag = format!("localhost/cisgate-release-test:{}", std::process::id());
    let binary = static_binary();
    let build = Command::new(repo_root().join("scripts/release-image.sh"))
        .arg(&tag)
        .arg(format!("{}={}", platform(), binary.display()))
        .output()
        .unwrap();
    let image = BuiltImage {
        tag,
        container: None,
    };
    assert!(build.status.success(), "{}", describe(&build));
    image
}

/// `cisgate scan` of the example nodes as JSON: (exit code, check id → state per node).
fn scan_examples(program: &Path) -> (Option<i32>, BTreeSet<(String, String, String)>) {
    let output = Command::new(program)
        .args([
            "scan",
            "--snapshot",
            "examples/snapshots",
            "--quiet",
            "--json",
            "-",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let results: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", describe(&output)));
    let mut states = BTreeSet::new();
    for node in results["nodes"].as_array().unwrap() {
        let groups = node["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|section| section["groups"].as_array().unwrap());
        for check in groups.flat_map(|group| group["checks"].as_array().unwrap()) {
            states.insert((
                node["node"]["name"].as_str().unwrap().to_string(),
                check["id"].as_str().unwrap().to_string(),
                check["state"].as_str().unwrap().to_string(),
            ));
        }
    }
    (output.status.code(), states)
}

#[test]
fn the_image_holds_only_the_static_binary_which_finds_the_known_regressions() {
    if !podman_available() {
        return;
    }
    let mut image = build_image();

    let config: Value =
        serde_json::from_str(&podman_ok(&["image", "inspect", &image.tag])).unwrap();
    let config = &config[0];
    assert_eq!(config["Config"]["User"], "65532:65532", "non-root");
    assert_eq!(
        config["Config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/cisgate"])
    );
    assert_eq!(config["Os"], "linux");
    let labels = &config["Config"]["Labels"];
    let source = format!("https://github.com/{}", repository());
    for (key, value) in [
        ("title", "cisgate"),
        ("version", VERSION),
        ("revision", expected_commit().as_str()),
        ("source", source.as_str()),
        ("licenses", "Apache-2.0"),
        ("base.name", "scratch"),
    ] {
        assert_eq!(
            labels[format!("org.opencontainers.image.{key}")],
            value,
            "label {key}"
        );
    }
    let created = labels["org.opencontainers.image.created"].as_str().unwrap();
    assert!(
        regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            .unwrap()
            .is_match(created),
        "RFC 3339: {created}"
    );

    let container = podman_ok(&["create", &image.tag]).trim().to_string();
    image.container = Some(container.clone());
    let export = tempfile::tempdir().unwrap();
    let archive = export.path().join("rootfs.tar");
    podman_ok(&["export", "--output", archive.to_str().unwrap(), &container]);
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&archive)
        .output()
        .unwrap();
    let files: Vec<String> = text(&listing.stdout)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    assert_eq!(
        files,
        ["usr/local/bin/cisgate"],
        "{}",
        text(&listing.stdout)
    );

    let rootfs = export.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let unpack = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&rootfs)
        .output()
        .unwrap();
    assert!(unpack.status.success(), "{}", describe(&unpack));
    let program = rootfs.join("usr/local/bin/cisgate");
    assert_eq!(
        std::fs::read(&program).unwrap(),
        std::fs::read(static_binary()).unwrap(),
        "the image holds the release binary"
    );

    let version = Command::new(&program).arg("--version").output().unwrap();
    let version = text(&version.stdout);
    assert!(
        version.starts_with(&format!("cisgate {VERSION}\n")),
        "{version}"
    );
    assert!(
        version.contains(
            "embedded benchmarks:
"
        ) && version.lines().any(|l| l == "  cis-1.12"),
        "{version}"
    );

    let (code, states) = scan_examples(&program);
    assert_eq!(code, Some(1), "the example nodes have regressions");
    let failing: Vec<_> = states.iter().filter(|(_, _, s)| s == "FAIL").collect();
    assert!(!failing.is_empty());
    let (expected_code, expected) = scan_examples(Path::new(env!("CARGO_BIN_EXE_cisgate")));
    assert_eq!(code, expected_code);
    assert_eq!(
        states, expected,
        "the image's binary finds what the tested binary finds"
    );
}
