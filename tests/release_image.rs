//! The container image, built here with podman from the repository's Dockerfile by the script
//! the release workflow runs (scripts/release-image.sh), from the static binary of this
//! checkout. Running containers may be refused in this sandbox, so the image is created (not
//! started), exported, and the binary of the export runs on the example nodes: it must find
//! exactly what the binary under test finds. Its configuration: non-root, the OCI labels.

#[path = "support/image.rs"]
mod image;
#[path = "support/release.rs"]
mod release;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use image::*;
use release::*;
use serde_json::Value;

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

    let exported = export(&mut image);
    assert_eq!(
        exported.files,
        ["usr/local/bin/cisgate"],
        "the image holds the binary and nothing else"
    );
    let program = exported.rootfs().join("usr/local/bin/cisgate");
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
