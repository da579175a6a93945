//! The release as the release workflow publishes it, built from this checkout: the layout
//! (scripts/release-layout.sh: archives, SBOMs, SHA256SUMS), served on 127.0.0.1 and installed
//! by scripts/install-cisgate.sh and by the action's `version:` path (action.yml's steps run
//! with a fake GitHub environment and no Rust toolchain on PATH); tampering is refused.

#[path = "support/release.rs"]
mod release;
#[path = "support/static_http.rs"]
mod static_http;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use release::*;
use serde_json::Value;
use static_http::StaticServer;

fn asset_stem() -> String {
    format!("cisgate-v{VERSION}-{}", host_target())
}

/// A release laid out under `<dir>/<owner>/<name>/releases/download/vX.Y.Z/` (GitHub's paths)
/// and served from `<dir>`.
struct ServedRelease {
    dir: tempfile::TempDir,
    server: StaticServer,
}

impl ServedRelease {
    fn new() -> ServedRelease {
        let dir = tempfile::tempdir().unwrap();
        lay_out_release(&dir.path().join(release_path()));
        let server = StaticServer::serve(dir.path());
        ServedRelease { dir, server }
    }

    fn assets(&self) -> PathBuf {
        self.dir.path().join(release_path())
    }
}

fn release_path() -> String {
    format!("{}/releases/download/v{VERSION}", repository())
}

/// scripts/install-cisgate.sh with the download server pointed at `base`.
fn install(base: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/install-cisgate.sh"))
        .args(args)
        .env("CISGATE_DOWNLOAD_BASE", base)
        .env_remove("CISGATE_REPOSITORY")
        .output()
        .unwrap()
}

fn scan_examples(program: &Path) -> Output {
    Command::new(program)
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
        .unwrap()
}

#[test]
fn the_layout_packs_a_static_binary_with_its_sbom_and_checksums() {
    let out = tempfile::tempdir().unwrap();
    lay_out_release(out.path());
    let stem = asset_stem();

    let files: BTreeSet<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected: BTreeSet<String> = [
        format!("{stem}.tar.gz"),
        format!("{stem}.cdx.json"),
        "SHA256SUMS".to_string(),
    ]
    .into();
    assert_eq!(files, expected);

    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    assert_eq!(text(&check.stdout).lines().count(), 2, "both assets listed");

    let listing = Command::new("tar")
        .args(["-tvzf", &format!("{stem}.tar.gz")])
        .current_dir(out.path())
        .output()
        .unwrap();
    let listing = text(&listing.stdout);
    let entries: BTreeSet<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    let expected: BTreeSet<String> = ["/", "/cisgate", "/README.md", "/CHANGELOG.md"]
        .iter()
        .map(|f| format!("{stem}{f}"))
        .collect();
    assert_eq!(
        entries,
        expected.iter().map(String::as_str).collect(),
        "{listing}"
    );
    assert!(
        listing.lines().all(|l| l.contains(" 0/0 ")),
        "owned by 0:0: {listing}"
    );

    let unpacked = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(out.path().join(format!("{stem}.tar.gz")))
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(status.success());
    let binary = unpacked.path().join(&stem).join("cisgate");
    let elf = std::fs::read(&binary).unwrap();
    assert!(!has_program_interpreter(&elf), "a static binary");
    assert!(
        is_position_independent(&elf),
        "a static PIE: its code at a random address (docs/security.md)"
    );
    assert!(
        has_packed_relative_relocations(&elf),
        "relocations packed (DT_RELR), as scripts/release-build.sh links them"
    );
    let version = Command::new(&binary).arg("--version").output().unwrap();
    let version = text(&version.stdout);
    assert!(
        version.starts_with(&format!("cisgate {VERSION}\n")),
        "{version}"
    );
    assert!(
        version.contains(&format!("\ncommit: {}\n", expected_commit())),
        "{version}"
    );
    assert!(
        version.contains(&format!("\ntarget: {}\n", host_target())),
        "{version}"
    );
    assert!(
        version.contains(
            "embedded benchmarks:
"
        ) && version.lines().any(|l| l == "  cis-1.12"),
        "{version}"
    );
    // scripts/release-build.sh compiles mimalloc with a smaller first arena; its verbose
    // start-up lines show the option the C code was built with.
    let allocator = Command::new(&binary)
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .unwrap();
    let allocator = text(&allocator.stderr);
    assert!(
        allocator.contains("option 'arena_reserve': 262144 KiB"),
        "{allocator}"
    );
    // ... reading its options with getenv (MI_USE_ENVIRON=0): `MIMALLOC_X` and `mimalloc_x`,
    // not the mixed-case names its own scan of the environment would match.
    let mixed_case = Command::new(&binary)
        .arg("--version")
        .env("Mimalloc_Verbose", "1")
        .output()
        .unwrap();
    assert!(
        !text(&mixed_case.stderr).contains("option 'arena_reserve'"),
        "mimalloc matched a mixed-case name: it still scans the environment itself\n{}",
        text(&mixed_case.stderr)
    );
    // ... and without freeing its pages back to the system as the process ends
    // (MI_SKIP_COLLECT_ON_EXIT): a one-node scan's statistics, printed as mimalloc is done,
    // count no purge.
    let scan = Command::new(&binary)
        .args([
            "scan",
            "--snapshot",
            "examples/snapshots/control-plane-1",
            "-q",
        ])
        .current_dir(repo_root())
        .env("MIMALLOC_SHOW_STATS", "1")
        .output()
        .unwrap();
    let statistics = text(&scan.stderr);
    let purges = statistics
        .lines()
        .find_map(|line| line.trim().strip_prefix("purges"))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .and_then(|counts| counts.split_whitespace().next())
        .unwrap_or_else(|| panic!("no purge count in mimalloc's statistics:\n{statistics}"));
    assert_eq!(purges, "0", "{statistics}");

    let sbom: Value = serde_json::from_slice(
        &std::fs::read(out.path().join(format!("{stem}.cdx.json"))).unwrap(),
    )
    .unwrap();
    assert_sbom_describes(&sbom, &elf);
}

/// scripts/release-link.sh lays the functions of scripts/release-symbol-order.txt out first and
/// side by side (#14): the link map scripts/release-build.sh keeps next to the binary shows
/// where each went. The order file goes stale when functions are renamed or the scan runs
/// others; then this fails and says how to write it again.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_release_binary_lays_out_the_functions_a_scan_runs_side_by_side() {
    let binary = static_binary();
    let link_map = binary.with_file_name("cisgate.map");
    let link_map = std::fs::read_to_string(&link_map)
        .unwrap_or_else(|e| panic!("{}: {e}", link_map.display()));
    let functions = linked_functions(&link_map);
    assert!(functions.len() > 10_000, "{} functions", functions.len());
    let order =
        std::fs::read_to_string(repo_root().join("scripts/release-symbol-order.txt")).unwrap();
    let order: Vec<&str> = order
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();

    // What scripts/symbol-order.awk gives the linker: each name as it is when the binary has
    // it, else every function with its name but other hashes.
    let by_symbol: BTreeMap<&str, &LinkedFunction> = functions
        .iter()
        .map(|function| (function.symbol.as_str(), function))
        .collect();
    let mut by_name: BTreeMap<String, Vec<&LinkedFunction>> = BTreeMap::new();
    for function in &functions {
        by_name
            .entry(symbol_without_hashes(&function.symbol))
            .or_default()
            .push(function);
    }
    let rust: Vec<&str> = order
        .iter()
        .copied()
        .filter(|name| name.starts_with("_ZN") || name.starts_with("_R"))
        .collect();
    let mut placed: BTreeMap<&str, &LinkedFunction> = BTreeMap::new();
    let mut found = 0;
    for name in &rust {
        let matching = match by_symbol.get(name) {
            Some(function) => vec![*function],
            None => by_name
                .get(&symbol_without_hashes(name))
                .cloned()
                .unwrap_or_default(),
        };
        found += usize::from(!matching.is_empty());
        placed.extend(matching.into_iter().map(|f| (f.symbol.as_str(), f)));
    }
    let named = rust.len();
    assert!(named > 500, "{named} Rust functions ordered");
    assert!(
        found * 10 >= named * 9,
        "only {found} of the {named} Rust functions scripts/release-symbol-order.txt names are \
         in the binary: it no longer names the functions a scan runs. Write it again with \
         scripts/symbol-order.py (needs valgrind) and commit it"
    );

    // First and side by side: together they fill the code from its start to the last of them.
    let text_start = functions.iter().map(|f| f.address).min().unwrap();
    let end = placed.values().map(|f| f.address + f.size).max().unwrap();
    let bytes: u64 = placed.values().map(|f| f.size).sum();
    assert!(
        bytes * 10 >= (end - text_start) * 8,
        "{bytes} bytes of ordered functions spread over {} bytes from the start of the code",
        end - text_start
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn assert_sbom_describes(sbom: &Value, binary: &[u8]) {
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    let component = &sbom["metadata"]["component"];
    assert_eq!(component["name"], "cisgate");
    assert_eq!(component["version"], VERSION);
    assert_eq!(component["hashes"][0]["content"], sha256_hex(binary));
    let names: BTreeMap<&str, &Value> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    for crate_in_binary in [
        "clap",
        "serde",
        "serde_json",
        "mimalloc",
        "include_dir",
        "jaq-core",
    ] {
        let component = names
            .get(crate_in_binary)
            .unwrap_or_else(|| panic!("{crate_in_binary} in the SBOM"));
        assert!(component["purl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("pkg:cargo/{crate_in_binary}@")));
        assert_eq!(component["hashes"][0]["alg"], "SHA-256");
    }
    for dev_only in ["insta", "assert_cmd", "roxmltree", "predicates"] {
        assert!(
            !names.contains_key(dev_only),
            "{dev_only} is not in the binary"
        );
    }
    let refs: BTreeSet<&str> = sbom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ref"].as_str().unwrap())
        .collect();
    let components: BTreeSet<&str> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs.len(),
        components.len() + 1,
        "a dependency entry per component and cisgate"
    );
    assert!(components.iter().all(|c| refs.contains(c)));
}

#[test]
fn binstall_and_the_install_script_name_the_assets_the_layout_publishes() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let field = |key: &str| {
        manifest
            .split("[package.metadata.binstall]")
            .nth(1)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_string()
    };
    let render = |template: String| {
        template
            .replace("{ repo }", &format!("https://github.com/{}", repository()))
            .replace("{ version }", VERSION)
            .replace("{ name }", "cisgate")
            .replace("{ target }", &host_target())
            .replace("{ bin }", "cisgate")
            .replace("{ binary-ext }", "")
    };
    let url = install("https://github.com", &["--asset-url", VERSION]);
    assert!(url.status.success(), "{}", describe(&url));
    assert_eq!(text(&url.stdout).trim(), render(field("pkg-url")));
    assert_eq!(
        text(&url.stdout).trim(),
        format!(
            "https://github.com/{}/{}.tar.gz",
            release_path(),
            asset_stem()
        )
    );
    assert_eq!(
        render(field("bin-dir")),
        format!("{}/cisgate", asset_stem())
    );
    let arm = install("https://github.com", &["--asset-url", VERSION, "arm64"]);
    assert!(text(&arm.stdout).ends_with(&format!(
        "cisgate-v{VERSION}-aarch64-unknown-linux-gnu.tar.gz\n"
    )));
    let riscv = install("https://github.com", &["--asset-url", VERSION, "riscv64"]);
    assert_eq!(riscv.status.code(), Some(2));
    assert!(
        text(&riscv.stderr).contains("build from source"),
        "{}",
        describe(&riscv)
    );
}

#[test]
fn the_install_script_installs_the_served_release_after_checking_it() {
    let release = ServedRelease::new();
    let prefix = tempfile::tempdir().unwrap();
    let run = install(
        &release.server.url(),
        &[
            "--version",
            VERSION,
            "--prefix",
            prefix.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let program = prefix.path().join("bin/cisgate");
    assert_eq!(text(&run.stdout), format!("{}\n", program.display()));
    assert!(
        text(&run.stderr).contains("SHA-256 verified"),
        "{}",
        describe(&run)
    );
    let requests = release.server.requests();
    for asset in ["SHA256SUMS".to_string(), format!("{}.tar.gz", asset_stem())] {
        let path = format!("/{}/{asset}", release_path());
        assert!(requests.contains(&path), "{path} not in {requests:?}");
    }
    assert_eq!(
        std::fs::read(&program).unwrap(),
        std::fs::read(static_binary()).unwrap(),
        "the installed program is the release binary"
    );

    let scan = scan_examples(&program);
    assert_eq!(scan.status.code(), Some(1), "{}", describe(&scan));
    let results: Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert!(results["gate"]["regressions"].as_u64().unwrap() > 0);
    assert_eq!(results["tool"]["version"], VERSION);
}

fn assert_refused(release: &ServedRelease, expected_message: &str) {
    let prefix = tempfile::tempdir().unwrap();
    let run = install(
        &release.server.url(),
        &[
            "--version",
            VERSION,
            "--prefix",
            prefix.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains(expected_message),
        "{}",
        describe(&run)
    );
    assert!(text(&run.stdout).is_empty());
    assert!(
        !prefix.path().join("bin/cisgate").exists(),
        "nothing installed"
    );
}

#[test]
fn a_tampered_checksum_or_archive_is_refused_and_nothing_is_installed() {
    let release = ServedRelease::new();
    let sums_path = release.assets().join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path).unwrap();
    let archive = format!("{}.tar.gz", asset_stem());

    // The checksum of the archive changed in SHA256SUMS.
    let tampered: String = sums
        .lines()
        .map(|line| {
            if line.ends_with(&archive) {
                let flipped = if line.starts_with('0') { '1' } else { '0' };
                format!("{flipped}{}\n", &line[1..])
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_ne!(tampered, sums);
    std::fs::write(&sums_path, &tampered).unwrap();
    assert_refused(&release, "checksum mismatch");

    // The archive changed, SHA256SUMS as published.
    std::fs::write(&sums_path, &sums).unwrap();
    let archive_path = release.assets().join(&archive);
    let mut bytes = std::fs::read(&archive_path).unwrap();
    bytes.push(0);
    std::fs::write(&archive_path, &bytes).unwrap();
    assert_refused(&release, "checksum mismatch");

    // SHA256SUMS that does not list the archive.
    let without: String = sums
        .lines()
        .filter(|l| !l.ends_with(&archive))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&sums_path, without).unwrap();
    assert_refused(&release, "lists no checksum");
}

#[test]
fn a_release_that_does_not_exist_fails_with_the_url() {
    let release = ServedRelease::new();
    let prefix = tempfile::tempdir().unwrap();
    let run = install(
        &release.server.url(),
        &[
            "--version",
            "9.9.9",
            "--prefix",
            prefix.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains("could not download"),
        "{}",
        describe(&run)
    );
    assert!(text(&run.stderr).contains("/v9.9.9/"), "{}", describe(&run));
    let bad = install(&release.server.url(), &["--version", "latest"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

#[test]
fn the_layout_refuses_a_version_that_is_not_cargo_tomls() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(repo_root().join("scripts/release-layout.sh"))
        .args(["v9.9.9"])
        .arg(out.path())
        .arg(format!(
            "{}={}",
            host_target(),
            repo_root().join("Cargo.toml").display()
        ))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains("not Cargo.toml's"),
        "{}",
        describe(&run)
    );
}

/// `${{ … }}` of action.yml, as GitHub evaluates the few forms the action uses.
fn evaluate(
    value: &str,
    inputs: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let expression = regex::Regex::new(r"\$\{\{\s*([^}]+?)\s*\}\}").unwrap();
    expression
        .replace_all(value, |c: &regex::Captures| {
            let path: Vec<&str> = c[1].split('.').collect();
            match path.as_slice() {
                ["inputs", name] => inputs[*name].clone(),
                ["github", "action_path"] => repo_root().display().to_string(),
                ["github", "action_repository"] => repository(),
                ["steps", id, "outputs", name] => outputs
                    .get(*id)
                    .and_then(|o| o.get(*name))
                    .cloned()
                    .unwrap_or_default(),
                _ => panic!(
                    "action.yml uses an expression this test cannot evaluate: {}",
                    &c[1]
                ),
            }
        })
        .into_owned()
}

/// A PATH with only the programs the action's steps need on a runner: no cargo, no cisgate.
fn runner_path(dir: &Path) -> PathBuf {
    let bin = dir.join("runner-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let programs = [
        "bash",
        "curl",
        "tar",
        "gzip",
        "sha256sum",
        "awk",
        "mktemp",
        "install",
        "cut",
        "uname",
        "rm",
        "mkdir",
        "cat",
        "python3",
        "env",
        "dirname",
    ];
    for program in programs {
        let found = if program == "python3" {
            let out = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .unwrap();
            Some(PathBuf::from(text(&out.stdout).trim()))
        } else {
            std::env::split_paths(&std::env::var_os("PATH").unwrap())
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        };
        let found = found.unwrap_or_else(|| panic!("{program} is needed by the action"));
        std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
    }
    bin
}

#[test]
fn the_action_installs_the_release_with_version_and_gates_on_it_without_cargo() {
    let release = ServedRelease::new();
    let runner = tempfile::tempdir().unwrap();
    let path = runner_path(runner.path());
    let summary = runner.path().join("step_summary.md");
    std::fs::write(&summary, "").unwrap();

    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    let mut inputs: BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].as_str().unwrap_or("").to_string()))
        .collect();
    inputs.insert("version".into(), VERSION.into());
    inputs.insert("snapshots".into(), "examples/snapshots".into());
    inputs.insert("sarif".into(), "".into());

    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut last = None;
    for (index, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(step["shell"], "bash");
        let script = runner.path().join(format!("step-{index}.sh"));
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = runner.path().join(format!("output-{index}"));
        std::fs::write(&output_file, "").unwrap();
        let directory = step["working-directory"]
            .as_str()
            .map(|d| evaluate(d, &inputs, &outputs))
            .unwrap_or_else(|| ".".into());
        // GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        let mut command = Command::new(path.join("bash"));
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(repo_root().join(directory))
            .env_clear()
            .env("PATH", &path)
            .env("HOME", runner.path())
            .env("RUNNER_TEMP", runner.path())
            .env("GITHUB_WORKSPACE", repo_root())
            .env("GITHUB_ACTION_PATH", repo_root())
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary)
            // The runner's own environment: where the release is served from.
            .env("CISGATE_DOWNLOAD_BASE", release.server.url());
        for (name, value) in step["env"].as_object().into_iter().flatten() {
            command.env(name, evaluate(value.as_str().unwrap(), &inputs, &outputs));
        }
        let run = command.output().unwrap();
        let values: BTreeMap<String, String> = text(&std::fs::read(&output_file).unwrap())
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(id) = step["id"].as_str() {
            outputs.insert(id.to_string(), values);
        }
        if step["id"] == "install" {
            assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
            assert!(
                text(&run.stderr).contains("SHA-256 verified"),
                "{}",
                describe(&run)
            );
        }
        last = Some(run);
    }

    let installed = runner.path().join("cisgate/bin/cisgate");
    assert_eq!(
        outputs["install"]["program"],
        installed.display().to_string()
    );
    let scan = last.unwrap();
    assert_eq!(scan.status.code(), Some(1), "{}", describe(&scan));
    assert_eq!(outputs["scan"]["exit-code"], "1");
    assert_ne!(outputs["scan"]["regressions"], "0");
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("on 2 node(s)"));
    let requests = release.server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with(&format!("/{}/", repository()))),
        "the action's own repository: {requests:?}"
    );
}
