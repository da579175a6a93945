//! The container image of this checkout, built with podman by scripts/release-image.sh and
//! exported (running containers may be refused in this sandbox), and the containers of the
//! Kubernetes examples started from the export as the kubelet would start them: the image's
//! entrypoint or the manifest's `command`, `args` with `$(VAR)` expanded, the manifest's
//! environment only, its mounts as directories, its working directory. Nothing but the
//! image's files can run: a manifest that needs a shell fails here as it would in a cluster.
//! Include with `#[path = "support/release.rs"] mod release;` beside it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::release::{describe, repo_root, static_binary, text};

pub fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap()
}

pub fn podman_ok(args: &[&str]) -> String {
    let output = podman(args);
    assert!(
        output.status.success(),
        "podman {args:?}: {}",
        describe(&output)
    );
    text(&output.stdout)
}

/// Whether podman is installed; fails under CI when it is not (`support::missing`).
pub fn podman_available() -> bool {
    let found = Command::new("podman").arg("--version").output().is_ok();
    if !found {
        crate::support::missing("podman is not installed (it builds the container image)");
    }
    found
}

pub fn platform() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "linux/arm64",
        _ => "linux/amd64",
    }
}

/// The image (a manifest list) and its container, removed when dropped, pass or fail.
pub struct BuiltImage {
    pub tag: String,
    pub container: Option<String>,
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

/// Builds the image from the Dockerfile with the release script, under a tag of its own.
pub fn build_image() -> BuiltImage {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tag = format!(
        "localhost/cisgate-release-test:{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
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

/// An image's files (`podman create` + `podman export`, unpacked) and its configuration.
pub struct ExportedImage {
    /// Under the test target's scratch directory, replaced on every run.
    dir: PathBuf,
    /// `podman image inspect`'s first entry.
    pub config: Value,
    /// The files of the export, as `tar -tvf` lists them (directories left out).
    pub files: Vec<String>,
}

impl ExportedImage {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn config_list(&self, key: &str) -> Vec<String> {
        self.config["Config"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    pub fn entrypoint(&self) -> Vec<String> {
        self.config_list("Entrypoint")
    }

    pub fn cmd(&self) -> Vec<String> {
        self.config_list("Cmd")
    }
}

/// The image built, its filesystem exported and the image removed again, once per test
/// process; None (after saying why) where podman is missing.
pub fn exported_image() -> Option<&'static ExportedImage> {
    static EXPORTED: std::sync::OnceLock<Option<ExportedImage>> = std::sync::OnceLock::new();
    EXPORTED
        .get_or_init(|| {
            if !podman_available() {
                return None;
            }
            let mut image = build_image();
            Some(export(&mut image))
        })
        .as_ref()
}

/// Exports the image's filesystem (and drops nothing: `image` is removed when dropped).
pub fn export(image: &mut BuiltImage) -> ExportedImage {
    let config: Value =
        serde_json::from_str(&podman_ok(&["image", "inspect", &image.tag])).unwrap();
    let container = podman_ok(&["create", &image.tag]).trim().to_string();
    image.container = Some(container.clone());
    let crate_name = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("exported-image")
        .join(crate_name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("rootfs.tar");
    podman_ok(&["export", "--output", archive.to_str().unwrap(), &container]);
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&archive)
        .output()
        .unwrap();
    let files = text(&listing.stdout)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    let rootfs = dir.join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let unpack = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&rootfs)
        .output()
        .unwrap();
    assert!(unpack.status.success(), "{}", describe(&unpack));
    std::fs::remove_file(&archive).unwrap();
    ExportedImage {
        dir,
        config: config[0].clone(),
        files,
    }
}

/// What a pod's volumes are on this machine.
#[derive(Default)]
pub struct Volumes {
    /// A persistent volume claim's name → the directory that is the volume (shared by pods).
    pub claims: BTreeMap<String, PathBuf>,
    /// The node's root filesystem: a hostPath volume is a copy of its path under it.
    pub node_root: Option<PathBuf>,
    /// What `fieldRef: spec.nodeName` gives.
    pub node_name: String,
}

/// A container of a pod spec, ready to run from the exported image: the command and the
/// directory that stands for the container's filesystem (its mounts), kept while it runs.
pub struct Started {
    pub command: Command,
    /// argv as the kubelet hands it to the runtime, `$(VAR)` expanded, before any mapping.
    pub argv: Vec<String>,
    pub filesystem: tempfile::TempDir,
}

/// Prepares `container` of `pod_spec` as the kubelet would start it from `image`.
/// Panics (naming the manifest's program) when the program is not in the image.
pub fn start_container(
    image: &ExportedImage,
    pod_spec: &Value,
    container: &Value,
    volumes: &Volumes,
) -> Started {
    let filesystem = tempfile::tempdir().unwrap();
    let mounts = mount_volumes(filesystem.path(), pod_spec, container, volumes);
    let env = environment(container, volumes);
    let expand = |word: &str| expand_references(word, &env);
    let strings = |value: &Value| -> Option<Vec<String>> {
        value
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
    };
    // Kubernetes: `command` replaces the entrypoint (and drops the image's CMD); `args`
    // replaces CMD.
    let (entry, args) = match (strings(&container["command"]), strings(&container["args"])) {
        (Some(command), args) => (command, args.unwrap_or_default()),
        (None, Some(args)) => (image.entrypoint(), args),
        (None, None) => (image.entrypoint(), image.cmd()),
    };
    let argv: Vec<String> = entry.iter().chain(&args).map(|w| expand(w)).collect();
    let program = argv.first().expect("a container runs a program");
    assert!(
        program.starts_with('/'),
        "{program}: the image has no PATH lookup to rely on; name the program absolutely"
    );
    let in_image = image.rootfs().join(program.trim_start_matches('/'));
    assert!(
        in_image.is_file(),
        "{} runs {program}, which the image does not have (it holds only {:?})",
        container["name"],
        image.files
    );
    let map = |word: &str| map_paths(word, filesystem.path(), &mounts);
    let mut command = Command::new(in_image);
    command.args(argv[1..].iter().map(|w| map(w)));
    command.env_clear();
    for (name, value) in &env {
        command.env(name, map(value));
    }
    let working_dir = container["workingDir"].as_str().unwrap_or("/");
    let working_dir = filesystem.path().join(working_dir.trim_start_matches('/'));
    std::fs::create_dir_all(&working_dir).unwrap();
    command.current_dir(working_dir);
    Started {
        command,
        argv,
        filesystem,
    }
}

/// Makes each volume mount a directory under `filesystem`; returns the mount paths.
fn mount_volumes(
    filesystem: &Path,
    pod_spec: &Value,
    container: &Value,
    volumes: &Volumes,
) -> Vec<String> {
    let mut mounts = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let mount_path = mount["mountPath"].as_str().unwrap();
        let volume = pod_spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume {}", mount["name"]));
        let target = filesystem.join(mount_path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            let shared = volumes
                .claims
                .get(claim)
                .unwrap_or_else(|| panic!("the test gives no volume for claim {claim}"));
            std::os::unix::fs::symlink(shared, &target).unwrap();
        } else if let Some(host_path) = volume["hostPath"]["path"].as_str() {
            // A copy: `--root` resolves symlinks inside the root, so a link would lead out.
            std::fs::create_dir_all(&target).unwrap();
            let node_root = volumes
                .node_root
                .as_ref()
                .expect("a node root for hostPath");
            let source = node_root.join(host_path.trim_start_matches('/'));
            if source.is_dir() {
                let copied = Command::new("cp")
                    .arg("-a")
                    .arg(format!("{}/.", source.display()))
                    .arg(&target)
                    .status()
                    .unwrap();
                assert!(copied.success());
            }
        } else {
            panic!("a volume kind the test does not map: {volume}");
        }
        mounts.push(mount_path.to_string());
    }
    mounts
}

/// The container's environment, as the kubelet sets it (values, node name, optional secrets
/// left out), `$(VAR)` of earlier variables expanded.
fn environment(container: &Value, volumes: &Volumes) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().unwrap().to_string();
        let value = if let Some(value) = variable["value"].as_str() {
            expand_references(value, &env)
        } else if variable["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName" {
            volumes.node_name.clone()
        } else if variable["valueFrom"]["secretKeyRef"]["optional"] == true {
            continue;
        } else {
            panic!("an environment source the test does not provide: {variable}");
        };
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
    env
}

/// Kubernetes' `$(VAR)` references (`$$` escapes); unknown references stay as written.
fn expand_references(word: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let (Some(inner), Some(end)) = (after.strip_prefix('('), after.find(')')) {
            let name = &inner[..end - 1];
            match env.iter().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&rest[at..at + end + 2]),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// An absolute path in the container (a mount, inside one, or above one like `/host`), also
/// as the value of `--flag=PATH`, becomes the same path under `filesystem`.
fn map_paths(word: &str, filesystem: &Path, mounts: &[String]) -> String {
    let (prefix, value) = match word.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (format!("{flag}="), value),
        _ => (String::new(), word),
    };
    let within =
        |mount: &str| Path::new(value).starts_with(mount) || Path::new(mount).starts_with(value);
    if value.starts_with('/') && value != "/" && mounts.iter().any(|m| within(m)) {
        format!(
            "{prefix}{}",
            filesystem.join(value.trim_start_matches('/')).display()
        )
    } else {
        word.to_string()
    }
}
