//! The project's GitHub workflows, the action and the example workflows: actionlint, zizmor and
//! the workflow/action JSON schemas find nothing; every action is pinned by commit SHA with its
//! version in a comment; the release workflow runs the release scripts the tests run; the
//! repository is one setting everywhere; CHANGELOG.md and docs/releasing.md are in shape.

#[path = "support/release.rs"]
mod release;
mod support;

use std::path::PathBuf;
use std::process::Command;

use release::{describe, repo_root, text};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

fn workflows() -> Vec<PathBuf> {
    yaml_files(".github/workflows")
}

fn example_workflows() -> Vec<PathBuf> {
    yaml_files("examples/github")
}

/// Every file the linters check: the project's workflows, the action, the examples.
fn checked_files() -> Vec<PathBuf> {
    let mut files = workflows();
    files.push(repo_root().join("action.yml"));
    files.extend(example_workflows());
    files
}

fn tool(program: &str, why: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok();
    if !found {
        support::missing(&format!("{program} is not installed ({why})"));
    }
    found
}

#[test]
fn the_workflows_and_examples_are_found() {
    let names: Vec<String> = workflows()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ci.yml", "release.yml"]);
    assert_eq!(example_workflows().len(), 2);
}

#[test]
fn actionlint_finds_nothing() {
    if !tool("actionlint", "lints the workflows") {
        return;
    }
    let mut files = workflows();
    files.extend(example_workflows());
    let run = Command::new("actionlint")
        .arg("-no-color")
        .args(&files)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", describe(&run));
}

#[test]
fn zizmor_finds_nothing() {
    if !tool("zizmor", "audits the workflows and the action") {
        return;
    }
    let run = Command::new("zizmor")
        .args([
            "--offline",
            "--no-progress",
            "--format",
            "plain",
            "--config",
        ])
        .arg(repo_root().join(".github/zizmor.yml"))
        .args(checked_files())
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", describe(&run));
    assert!(
        text(&run.stdout).contains("No findings"),
        "{}",
        describe(&run)
    );
}

#[test]
fn zizmor_would_notice_an_unpinned_action() {
    if !tool("zizmor", "audits the workflows and the action") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("unpinned.yml");
    let text_of = std::fs::read_to_string(repo_root().join(".github/workflows/ci.yml")).unwrap();
    let unpinned = regex::Regex::new(r"actions/checkout@[0-9a-f]{40} # v[0-9.]+")
        .unwrap()
        .replace_all(&text_of, "actions/checkout@v7");
    std::fs::write(&workflow, unpinned.as_ref()).unwrap();
    let run = Command::new("zizmor")
        .args([
            "--offline",
            "--no-progress",
            "--format",
            "plain",
            "--config",
        ])
        .arg(repo_root().join(".github/zizmor.yml"))
        .arg(&workflow)
        .output()
        .unwrap();
    assert!(!run.status.success(), "{}", describe(&run));
    assert!(
        text(&run.stdout).contains("unpinned-uses"),
        "{}",
        describe(&run)
    );
}

#[test]
fn the_workflows_and_the_action_match_their_schemas() {
    if !tool("check-jsonschema", "validates against the workflow schema") {
        return;
    }
    let mut workflow_files = workflows();
    workflow_files.extend(example_workflows());
    for (schema, files) in [
        ("vendor.github-workflows", workflow_files),
        (
            "vendor.github-actions",
            vec![repo_root().join("action.yml")],
        ),
    ] {
        let run = Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .args(&files)
            .output()
            .unwrap();
        assert!(run.status.success(), "{schema}: {}", describe(&run));
    }
}

#[test]
fn every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment() {
    let uses = regex::Regex::new(r"(?m)^\s*-?\s*uses:\s*(\S+)(.*)$").unwrap();
    let pinned = regex::Regex::new(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$").unwrap();
    let version_comment = regex::Regex::new(r"^\s*# v\d+(\.\d+){0,2}\s*$").unwrap();
    let own_action = format!("{}@v{}", repository(), env!("CARGO_PKG_VERSION"));
    let mut seen = 0;
    for file in checked_files() {
        let content = std::fs::read_to_string(&file).unwrap();
        for capture in uses.captures_iter(&content) {
            let (reference, rest) = (&capture[1], &capture[2]);
            seen += 1;
            if reference.starts_with("./") {
                continue;
            }
            if reference == own_action {
                assert!(
                    file.starts_with(repo_root().join("examples")),
                    "{reference}"
                );
                continue;
            }
            assert!(
                pinned.is_match(reference) && version_comment.is_match(rest),
                "{}: `{reference}{rest}` is not pinned as `owner/name@<40 hex> # vX.Y.Z`",
                file.display()
            );
        }
    }
    assert!(seen >= 15, "{seen} uses: found");
}

fn repository() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("repository = \"https://github.com/"))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml's repository is on GitHub")
        .to_string()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative)).unwrap()
}

#[test]
fn the_release_workflow_runs_the_release_scripts_the_tests_run() {
    let release = read(".github/workflows/release.yml");
    for script in [
        "scripts/release-build.sh \"$TARGET\"",
        "scripts/release-layout.sh \"$TAG\" dist",
        "scripts/release-notes.sh \"$TAG\"",
        "scripts/release-image.sh \"cisgate:$TAG\"",
    ] {
        assert!(
            release.contains(script),
            "release.yml does not run {script}"
        );
    }
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        assert!(release.contains(&format!("target: {target}")), "{target}");
    }
    for platform in ["linux/amd64=", "linux/arm64="] {
        assert!(release.contains(platform), "{platform}");
    }
    for step in [
        "actions/attest-build-provenance@",
        "sigstore/cosign-installer@",
        "cosign sign --yes",
        "podman manifest push --all",
        "gh release create",
        "tags: [\"v*\"]",
    ] {
        assert!(release.contains(step), "release.yml has no {step}");
    }
    let ci = read(".github/workflows/ci.yml");
    assert!(ci.contains("bash .ci/run"));
}

#[test]
fn the_repository_is_one_setting_and_no_placeholder_is_left() {
    let repository = repository();
    let install = read("scripts/install-cisgate.sh");
    assert!(
        install.contains(&format!("repository=${{CISGATE_REPOSITORY:-{repository}}}")),
        "the install script's default is Cargo.toml's repository"
    );
    assert!(read("Dockerfile").contains(&format!("ARG SOURCE=https://github.com/{repository}")));
    assert!(read("action.yml").contains("${{ github.action_repository }}"));
    let uses = regex::Regex::new(r"uses: ([\w-]+/cisgate)@").unwrap();
    let image = regex::Regex::new(r"ghcr\.io/([\w-]+/cisgate)").unwrap();
    let raw = regex::Regex::new(r"githubusercontent\.com/([\w-]+/cisgate)/").unwrap();
    let mut files = vec![
        "README.md".to_string(),
        "docs/ci-integration.md".to_string(),
        "docs/fleet.md".to_string(),
        "docs/releasing.md".to_string(),
        "examples/gitlab/cisgate.gitlab-ci.yml".to_string(),
    ];
    for dir in ["examples/github", "examples/kubernetes"] {
        for file in yaml_files(dir) {
            files.push(
                file.strip_prefix(repo_root())
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
    }
    let mut references = 0;
    for file in &files {
        let content = read(file);
        assert!(!content.contains("OWNER"), "{file} still says OWNER");
        for pattern in [&uses, &image, &raw] {
            for capture in pattern.captures_iter(&content) {
                references += 1;
                assert_eq!(&capture[1], repository, "{file}");
            }
        }
    }
    assert!(references >= 8, "{references} references found");
}

#[test]
fn the_changelog_keeps_a_changelog_with_a_section_for_this_version() {
    let changelog = read("CHANGELOG.md");
    assert!(changelog.starts_with("# Changelog\n"));
    assert!(changelog.contains("keepachangelog.com"));
    assert!(changelog.contains("## [Unreleased]"));
    let version = env!("CARGO_PKG_VERSION");
    let heading = regex::Regex::new(r"(?m)^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$").unwrap();
    let versions: Vec<&str> = heading
        .captures_iter(&changelog)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(
        versions.first(),
        Some(&version),
        "the newest section is Cargo.toml's version"
    );
    let kinds = [
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    ];
    for line in changelog.lines().filter(|l| l.starts_with("### ")) {
        assert!(
            kinds.contains(&&line[4..]),
            "not a Keep a Changelog kind: {line}"
        );
    }
    for v in &versions {
        assert!(changelog.contains(&format!("\n[{v}]: https://github.com/{}/", repository())));
    }

    let notes = Command::new(repo_root().join("scripts/release-notes.sh"))
        .arg(format!("v{version}"))
        .output()
        .unwrap();
    assert!(notes.status.success(), "{}", describe(&notes));
    let notes = text(&notes.stdout);
    assert!(notes.contains("### Added") && !notes.contains(&format!("## [{version}]")));
    let missing = Command::new(repo_root().join("scripts/release-notes.sh"))
        .arg("v99.0.0")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn the_release_checklist_names_every_step_the_release_depends_on() {
    let checklist = read("docs/releasing.md");
    for needed in [
        "Cargo.toml",
        "CHANGELOG.md",
        "scripts/release-layout.sh",
        "scripts/release-image.sh",
        "cosign verify",
        "gh attestation verify",
        "SHA256SUMS",
        "git tag",
    ] {
        assert!(
            checklist.contains(needed),
            "docs/releasing.md never mentions {needed}"
        );
    }
}
