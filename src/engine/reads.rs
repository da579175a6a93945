//! What a benchmark's checks read: the [`Allowlist`] `cisgate collect` keeps of a node.
//!
//! Test items name flags, paths and environment names; typed probes name API fields in
//! their `jq`; the engine itself reads a few more things (the kubelet's configuration
//! flags, k3s settings, static pod structure, program names) to derive what checks see.

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::error::DefinitionError;
use crate::definitions::load::{controls_file, parse_controls};
use crate::definitions::model::{Audit, Check};
use crate::definitions::probe::Probe;
use crate::definitions::tree::BenchmarkTree;
use crate::facts::allowlist::Allowlist;

use super::kubelet;
use super::substitute::program_of;

/// k3s `config.yaml` settings `k3s.rs` reads to derive the embedded components' flags
/// (the `*-arg` lists are reduced item by item instead, like any argv).
const K3S_SETTINGS: &[&str] = &[
    "advertise-address",
    "cluster-cidr",
    "cluster-dns",
    "cluster-domain",
    "cluster-init",
    "data-dir",
    "datastore-endpoint",
    "disable-cloud-controller",
    "https-listen-port",
    "node-ip",
    "node-label",
    "node-name",
    "protect-kernel-defaults",
    "secrets-encryption",
    "service-cidr",
    "service-node-port-range",
];

/// Words that start a component inside another program (`k3s server`, `rke2 agent`).
const SUBCOMMANDS: &[&str] = &["server", "agent"];

/// Node files the engine reads whole to derive facts (the k3s node name).
const WHOLE_FILES: &[&str] = &["/etc/hostname"];

/// The allowlist of one benchmark's `targets`: everything their checks and the engine read.
pub fn allowlist(
    tree: &BenchmarkTree,
    config: &BenchmarkConfig,
    benchmark: &str,
    targets: &[String],
) -> Result<Allowlist, DefinitionError> {
    let mut allow = Allowlist::new();
    for target in targets {
        let relative = controls_file(benchmark, target);
        if let Some(text) = tree.read(&relative)? {
            let controls = parse_controls(&tree.display_path(&relative), &text, &mut |_| {})?;
            for check in controls.groups.iter().flat_map(|group| &group.checks) {
                add_check(&mut allow, check);
            }
        }
        for bin in config
            .components(target)
            .into_iter()
            .flat_map(|component| component.bins)
        {
            if let Some(program) = program_of(&bin) {
                allow.add_program(&program);
            }
        }
    }
    for flag in kubelet::flags_read() {
        allow.add_flag(&format!("--{flag}"));
    }
    for setting in K3S_SETTINGS {
        allow.add_flag(&format!("--{setting}"));
    }
    for word in SUBCOMMANDS {
        allow.add_program(word);
    }
    allow
        .whole_files
        .extend(WHOLE_FILES.iter().map(|f| f.to_string()));
    allow.whole_files.extend(version_files(config));
    Ok(allow)
}

/// The files platform detection reads a version from (`version_from` in config.yaml's
/// `platforms`), kept whole: a collected snapshot must tell its version as the node did.
/// They hold version strings (`/etc/eks/kubelet-version.txt`, GKE's `kube-proxy.docker_tag`,
/// `/etc/os-release`); manifests among them keep their `image:` lines anyway and are
/// reduced like every manifest.
fn version_files(config: &BenchmarkConfig) -> Vec<String> {
    config
        .platforms()
        .iter()
        .flat_map(|platform| &platform.version_from)
        .map(|file| file.path.clone())
        .filter(|path| !path.ends_with(".yaml") && !path.ends_with(".yml"))
        .collect()
}

fn add_check(allow: &mut Allowlist, check: &Check) {
    for item in check.tests.iter().flat_map(|tests| &tests.test_items) {
        allow.add_flag(&item.flag);
        allow.add_env(&item.env);
        if !item.path.trim().is_empty() {
            allow.add_path(&item.path);
        }
    }
    for audit in [&check.audit, &check.audit_config, &check.audit_env] {
        if let Audit::Probe(probe) = audit {
            add_probe(allow, probe);
        }
    }
}

fn add_probe(allow: &mut Allowlist, probe: &Probe) {
    match probe {
        Probe::ApiObjects { jq: Some(jq), .. } | Probe::ApiQuery { jq, .. } => allow.add_jq(jq),
        _ => {}
    }
}
