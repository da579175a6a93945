//! The examples in README.md and docs/ cannot rot.
//!
//! Convention (documented in README.md, "Examples in the docs are tested"): a fenced `sh` block
//! right after a `<!-- test -->` line is run; `<!-- test exit=N -->` expects exit status N. The
//! tested blocks of one file run in order, in one fresh directory holding `examples/`, `cfg/` and `scripts/`
//! of this repository, with `cisgate` (the binary under test) first on PATH, under
//! `bash -euo pipefail`. Every other `cisgate …` line of every `sh` block is checked too: its
//! subcommand and each `--flag` must exist in that subcommand's `--help`.

mod pipeline_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pipeline_common::*;

struct Block {
    file: PathBuf,
    line: usize,
    text: String,
    /// `Some(expected exit status)` for tested blocks.
    test: Option<i32>,
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![repo_root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn test_marker(line: &str) -> Option<i32> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    let rest = inner.strip_prefix("test")?.trim();
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix("exit=").map(|code| {
        code.parse()
            .unwrap_or_else(|_| panic!("bad test marker: {line}"))
    })
}

fn blocks_of(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let fence = lines[index].trim_start();
        let is_shell = matches!(fence.trim(), "```sh" | "```bash" | "```shell");
        if is_shell {
            let start = index;
            let test = start
                .checked_sub(1)
                .and_then(|previous| test_marker(lines[previous]));
            index += 1;
            let mut body = String::new();
            while index < lines.len() && lines[index].trim_start() != "```" {
                body.push_str(lines[index]);
                body.push('\n');
                index += 1;
            }
            blocks.push(Block {
                file: file.to_path_buf(),
                line: start + 1,
                text: body,
                test,
            });
        }
        index += 1;
    }
    blocks
}

fn where_(block: &Block) -> String {
    format!(
        "{}:{}",
        block
            .file
            .strip_prefix(repo_root())
            .unwrap_or(&block.file)
            .display(),
        block.line
    )
}

/// A directory to run one file's examples in: the repository's examples and benchmark tree.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["examples", "cfg", "scripts"] {
        std::os::unix::fs::symlink(repo_root().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

#[test]
fn every_tested_example_in_readme_and_docs_runs_as_documented() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in markdown_files() {
        let tested: Vec<Block> = blocks_of(&file)
            .into_iter()
            .filter(|b| b.test.is_some())
            .collect();
        if tested.is_empty() {
            continue;
        }
        let dir = workspace();
        let path = path_with_cisgate(dir.path());
        for block in tested {
            let output = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &block.text])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("HOME", dir.path())
                .env("NO_COLOR", "1")
                .env_remove("CISGATE_CONFIG_DIR")
                .env_remove("CISGATE_TODAY")
                .output()
                .unwrap();
            ran += 1;
            let expected = block.test.unwrap();
            if output.status.code() != Some(expected) {
                failures.push(format!(
                    "{}: expected exit status {expected}\n{}\n{}",
                    where_(&block),
                    block.text,
                    describe(&output)
                ));
            }
        }
    }
    assert!(ran > 0, "no tested examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_pipeline_guide_has_tested_examples() {
    for name in [
        "README.md",
        "docs/getting-started.md",
        "docs/ci-integration.md",
        "docs/pre-deploy-gate.md",
        "docs/nightly-report.md",
        "docs/migrating-from-kube-bench.md",
        "docs/fleet.md",
    ] {
        let blocks = blocks_of(&repo_root().join(name));
        assert!(
            blocks.iter().any(|b| b.test.is_some()),
            "{name} has no <!-- test --> example"
        );
    }
}

/// `cisgate …` commands of a shell block, one per pipeline stage, continuation lines joined
/// and comments dropped.
fn cisgate_commands(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let code = match line.find(" #") {
            Some(at) => &line[..at],
            None => line,
        };
        if code.trim_start().starts_with('#') {
            continue;
        }
        for stage in code.split(['|', ';']).flat_map(|s| s.split("&&")) {
            let stage = stage.trim();
            if stage.starts_with("cisgate ") || stage == "cisgate" {
                commands.push(stage.to_string());
            }
        }
    }
    commands
}

/// The subcommand path (`scan`, `baseline create`) and the `--flags` of one command line.
fn subcommand_and_flags(command: &str) -> (Vec<String>, Vec<String>) {
    let words = shlex::split(command).unwrap_or_else(|| panic!("cannot split: {command}"));
    let mut path = Vec::new();
    let mut flags = Vec::new();
    for word in words.iter().skip(1) {
        if let Some(flag) = word.strip_prefix("--") {
            if flag.is_empty() {
                break;
            }
            flags.push(format!("--{}", flag.split('=').next().unwrap()));
        } else if flags.is_empty() && path.len() < 2 && word.chars().all(|c| c.is_ascii_lowercase())
        {
            path.push(word.clone());
        } else if flags.is_empty() {
            break;
        }
    }
    (path, flags)
}

fn help_of(path: &[String]) -> Option<String> {
    let output = Command::new(cisgate_bin())
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    output.status.success().then(|| text(&output.stdout))
}

#[test]
fn every_cisgate_command_in_readme_and_docs_uses_flags_that_exist() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        for block in blocks_of(&file) {
            for command in cisgate_commands(&block.text) {
                let (mut path, flags) = subcommand_and_flags(&command);
                // `cisgate explain 1.2.15`: the last word may be an argument, not a subcommand
                let help = help_of(&path).or_else(|| {
                    path.pop();
                    help_of(&path)
                });
                let Some(help) = help else {
                    problems.push(format!("{}: `{command}`: unknown command", where_(&block)));
                    continue;
                };
                for flag in flags {
                    let known = help
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                        .any(|word| word == flag);
                    if !known {
                        problems.push(format!(
                            "{}: `{command}`: `cisgate {}` has no {flag}",
                            where_(&block),
                            path.join(" ")
                        ));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_check_catches_a_flag_that_does_not_exist() {
    let (path, flags) = subcommand_and_flags("cisgate baseline create --from r.json --frm x");
    assert_eq!(path, ["baseline", "create"]);
    assert_eq!(flags, ["--from", "--frm"]);
    let help = help_of(&path).unwrap();
    assert!(help.contains("--from"));
    assert!(!help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|w| w == "--frm"));
    assert_eq!(
        cisgate_commands("a | cisgate scan \\\n  --quiet # cisgate nope\n# cisgate skip\n"),
        ["cisgate scan    --quiet"]
    );
}

#[test]
fn completions_parse_in_their_shells_and_the_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [
        ("bash", vec!["-n"]),
        ("zsh", vec!["-n"]),
        ("fish", vec!["--no-execute"]),
    ] {
        let output = Command::new(cisgate_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let script = text(&output.stdout);
        assert!(
            script.contains("scan") && script.contains("--snapshot"),
            "{shell}"
        );
        if shell == "bash" {
            // nested subcommands are completed after `help` too (their arguments are
            // built only when needed, `defer`)
            assert!(
                script.contains("cisgate__subcmd__help__subcmd__baseline__subcmd__create"),
                "{script}"
            );
        }
        if !tool_available(shell, "checks the completion script's syntax") {
            continue;
        }
        let file = dir.path().join(format!("cisgate.{shell}"));
        std::fs::write(&file, &output.stdout).unwrap();
        let parsed = Command::new(shell)
            .args(&check)
            .arg(&file)
            .output()
            .unwrap();
        assert!(parsed.status.success(), "{shell}: {}", describe(&parsed));
    }

    let man = Command::new(cisgate_bin()).arg("man").output().unwrap();
    assert!(man.status.success());
    let page = text(&man.stdout);
    assert!(page.contains(".TH cisgate 1"), "{page}");
    if tool_available("groff", "renders the man page") {
        let file = dir.path().join("cisgate.1");
        std::fs::write(&file, &man.stdout).unwrap();
        let rendered = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(rendered.status.success(), "{}", describe(&rendered));
        assert!(
            text(&rendered.stderr).trim().is_empty(),
            "groff warnings: {}",
            text(&rendered.stderr)
        );
    }

    let pages = dir.path().join("man");
    let written = Command::new(cisgate_bin())
        .args(["man", "--dir"])
        .arg(&pages)
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", describe(&written));
    for page in ["cisgate.1", "cisgate-scan.1", "cisgate-baseline-create.1"] {
        assert!(pages.join(page).is_file(), "{page}");
    }
}

#[test]
fn version_lists_the_embedded_benchmarks() {
    let output = Command::new(cisgate_bin())
        .arg("--version")
        .output()
        .unwrap();
    let version = text(&output.stdout);
    assert!(
        version.starts_with(&format!("cisgate {}\n", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let listed = version
        .split_once("\nembedded benchmarks:\n")
        .map(|(_, list)| list)
        .unwrap_or_else(|| panic!("no benchmark list in {version}"));
    for benchmark in [
        "cis-1.10",
        "cis-1.11",
        "cis-1.12",
        "eks-1.8.0",
        "gke-1.9.0",
        "aks-1.8",
        "rh-1.8",
    ] {
        assert!(
            listed.lines().any(|line| line == format!("  {benchmark}")),
            "{benchmark}: {version}"
        );
    }
    assert!(version.contains("\ncommit: "), "{version}");
    let short = Command::new(cisgate_bin()).arg("-V").output().unwrap();
    assert_eq!(
        text(&short.stdout),
        format!("cisgate {}\n", env!("CARGO_PKG_VERSION"))
    );
}
