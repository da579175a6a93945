//! `RecordingFacts`: wraps a source, forwards every question, and records every answer
//! so that `cisgate collect` writes exactly what the selected checks asked for.
//!
//! The caller gets the source's answer unchanged. Answers are held in memory as they
//! came; [`RecordingFacts::into_snapshot`] reduces them to what the benchmark's checks
//! read (see [`super::allowlist`]) and then removes whatever still looks like a secret
//! (see [`super::redact`]): nothing else is ever stored. Errors are recorded too and
//! replay as the same error, so a snapshot scan says "cannot read" exactly where the live
//! scan did.

use std::sync::{Arc, Mutex};

use super::allowlist::{self, Allowlist};
use super::api_value::ApiValue;
use super::redact::{self, redact_argv, redact_file_content, redact_text};
use super::snapshot::{
    normalize_node_path, ApiKindRecord, RecordedError, Redactions, ShellRecord, Snapshot,
    SnapshotNode, StatRecord, TreeRecord,
};
use crate::sync::locked;

use super::{
    FactError, Facts, FileStat, NodeIdentity, Process, ProcessList, ShellCommand, ShellOutput,
};

pub struct RecordingFacts<F: Facts> {
    inner: F,
    /// Answers as the source gave them; reduced only when the snapshot is made.
    recorded: Mutex<Snapshot>,
}

impl<F: Facts> RecordingFacts<F> {
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            recorded: Mutex::new(Snapshot::new(SnapshotNode::default())),
        }
    }

    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The snapshot of everything asked so far, keeping only what `allow` says the checks
    /// read. `collected_at` (RFC 3339) is left out when `None`, for reproducible snapshots.
    pub fn into_snapshot(self, collected_at: Option<String>, allow: &Allowlist) -> Snapshot {
        let identity = self.inner.identity();
        let source = self.inner.describe();
        let mut snapshot = self
            .recorded
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        reduce_snapshot(&mut snapshot, allow);
        snapshot.node = SnapshotNode {
            name: identity.name,
            roles: identity.roles,
            kubernetes_version: identity.kubernetes_version,
            platform: identity.platform,
            server_version: identity.server_version,
            collected_at,
            cluster: identity.cluster,
        };
        snapshot.source = Some(source);
        snapshot.redactions.rules = redact::RULES.iter().map(|r| r.to_string()).collect();
        snapshot
    }

    /// Forgets the recorded processes `keep` says no; run before [`Self::into_snapshot`],
    /// so that nothing about them is stored, not even in `redactions.applied`.
    pub fn retain_processes(&self, keep: impl FnMut(&Process) -> bool) {
        self.record(|snapshot| {
            if let Some(processes) = snapshot.processes.as_mut() {
                processes.retain(keep);
            }
        });
    }

    fn record(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut snapshot = locked(&self.recorded);
        change(&mut snapshot);
    }
}

/// Reduces every recorded answer in place: allowlisting first, then the secret rules.
fn reduce_snapshot(snapshot: &mut Snapshot, allow: &Allowlist) {
    let redactions = &mut snapshot.redactions;
    if let Some(processes) = snapshot.processes.as_mut() {
        for process in processes.iter_mut() {
            let (argv, removed) = allowlist::reduce_argv(&process.argv, allow);
            let (argv, redacted) = redact_argv(&argv);
            process.argv = argv;
            let what = format!("process {} ({}) argv", process.pid, process.comm);
            note(redactions, what, removed + redacted);
        }
    }
    for (path, record) in snapshot.files.iter_mut() {
        if let Some(content) = record.content.as_mut() {
            let (kept, removed) = if allow.whole_files.contains(path) {
                (content.clone(), 0)
            } else {
                let reduced = allowlist::reduce_text(content, allow);
                (reduced.text, reduced.removed)
            };
            let redacted = redact_file_content(path, &kept);
            *content = redacted.text;
            note(redactions, format!("file {path}"), removed + redacted.count);
        }
    }
    for (command, record) in snapshot.shell.iter_mut() {
        let reduced = allowlist::reduce_text(&record.output, allow);
        let redacted = redact_text(&reduced.text);
        record.output = redacted.text;
        let what = format!("shell `{command}`");
        note(redactions, what, reduced.removed + redacted.count);
    }
    for (kind, record) in snapshot.api.kinds.iter_mut() {
        // edited as serde_json values: the reductions remove and rewrite fields in place
        let mut count = 0;
        let kept = record.items.iter().map(|item| {
            let mut item = item.to_value();
            count += allowlist::reduce_api_object(&mut item, allow);
            count += redact::redact_api_object(&mut item);
            ApiValue::from(item)
        });
        record.items = std::sync::Arc::new(kept.collect());
        note(redactions, format!("api {kind}"), count);
    }
}

/// Names the fact and how many values left it; never what they were.
fn note(redactions: &mut Redactions, what: String, count: usize) {
    if count > 0 {
        let unit = if count == 1 { "value" } else { "values" };
        redactions
            .applied
            .insert(format!("{what}: {count} {unit} removed"));
    }
}

fn is_not_recorded<T>(answer: &Result<T, FactError>) -> bool {
    matches!(answer, Err(FactError::NotRecorded { .. }))
}

impl<F: Facts> Facts for RecordingFacts<F> {
    fn identity(&self) -> NodeIdentity {
        self.inner.identity()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn processes(&self) -> Result<ProcessList, FactError> {
        let answer = self.inner.processes();
        self.record(|snapshot| match &answer {
            Ok(processes) => {
                snapshot.processes = Some(processes.to_vec());
                snapshot.processes_error = None;
            }
            Err(error) => {
                if let Some(error) = RecordedError::from_fact_error(error) {
                    snapshot.processes_error = Some(error);
                }
            }
        });
        answer
    }

    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        let answer = self.inner.stat(path);
        if is_not_recorded(&answer) {
            return answer;
        }
        let key = normalize_node_path(path);
        self.record(|snapshot| {
            let record = snapshot.files.entry(key).or_default();
            match &answer {
                Ok(Some(stat)) => record.stat = Some(StatRecord::from(stat)),
                Ok(None) => record.absent = true,
                Err(error) => record.stat_error = RecordedError::from_fact_error(error),
            }
        });
        answer
    }

    fn read_file(&self, path: &str) -> Result<Option<String>, FactError> {
        let answer = self.inner.read_file(path);
        if is_not_recorded(&answer) {
            return answer;
        }
        let key = normalize_node_path(path);
        self.record(|snapshot| {
            let content = match &answer {
                Ok(Some(content)) => Some(content.clone()),
                _ => None,
            };
            let record = snapshot.files.entry(key).or_default();
            match (&answer, content) {
                (Ok(Some(_)), Some(content)) => record.content = Some(content),
                (Ok(_), _) => record.absent = true,
                (Err(error), _) => record.content_error = RecordedError::from_fact_error(error),
            }
        });
        answer
    }

    fn list_tree(&self, path: &str) -> Result<Arc<[String]>, FactError> {
        let answer = self.inner.list_tree(path);
        let key = normalize_node_path(path);
        self.record(|snapshot| {
            let record = match &answer {
                Ok(paths) => TreeRecord {
                    paths: paths.clone(),
                    error: None,
                },
                Err(error) => match RecordedError::from_fact_error(error) {
                    Some(error) => TreeRecord {
                        paths: Arc::default(),
                        error: Some(error),
                    },
                    None => return,
                },
            };
            snapshot.trees.insert(key, record);
        });
        answer
    }

    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        let answer = self.inner.run_shell(command);
        self.record(|snapshot| {
            let record = match &answer {
                Ok(output) => ShellRecord {
                    output: output.output.clone(),
                    exit_code: output.exit_code,
                    error: None,
                },
                Err(error) => match RecordedError::from_fact_error(error) {
                    Some(error) => ShellRecord {
                        error: Some(error),
                        ..ShellRecord::default()
                    },
                    None => return,
                },
            };
            snapshot.shell.insert(command.on_node.clone(), record);
        });
        answer
    }

    fn shell_path_prefix(&self) -> &str {
        self.inner.shell_path_prefix()
    }

    fn api_objects(&self, kind: &str) -> Result<crate::facts::ApiObjects, FactError> {
        let answer = self.inner.api_objects(kind);
        self.record(|snapshot| {
            let record = match &answer {
                Ok(items) => ApiKindRecord {
                    items: items.clone(),
                    error: None,
                },
                Err(error) => match RecordedError::from_fact_error(error) {
                    Some(error) => ApiKindRecord {
                        items: Default::default(),
                        error: Some(error),
                    },
                    None => return,
                },
            };
            snapshot.api.kinds.insert(kind.to_string(), record);
        });
        answer
    }

    fn prefetch_api_objects(&self, kinds: &[&str]) {
        self.inner.prefetch_api_objects(kinds)
    }

    fn api_reachable(&self) -> bool {
        let reachable = self.inner.api_reachable();
        self.record(|snapshot| snapshot.api.reachable = reachable);
        reachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::snapshot::SnapshotFacts;
    use crate::facts::snapshot_dir::SnapshotDirFacts;
    use std::path::{Path, PathBuf};

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVElGSUNBVEU=\n    client-key-data: UkVDT0dOSVNBQkxFLUtFWS1CWVRFUw==\n    token: recognisable-token-0123456789\n";
    const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nUkVDT0dOSVNBQkxFLVBSSVZBVEUtS0VZ\n-----END PRIVATE KEY-----\n";

    fn node_with_secrets() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        };
        write("etc/kubernetes/admin.conf", KUBECONFIG);
        write("etc/kubernetes/pki/apiserver.key", PRIVATE_KEY);
        write(
            "etc/kubernetes/manifests/kube-apiserver.yaml",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --token=recognisable-flag-token\n    - --profiling=false\n",
        );
        dir
    }

    fn allow() -> Allowlist {
        let mut allow = Allowlist::new();
        allow.add_flag("--profiling");
        allow.add_path("{.users[*].user.client-certificate-data}");
        allow
    }

    fn scan_like_a_check(facts: &dyn Facts) {
        for path in [
            "/etc/kubernetes/admin.conf",
            "/etc/kubernetes/pki/apiserver.key",
            "/etc/kubernetes/absent.conf",
        ] {
            let _ = facts.stat(path);
            let _ = facts.read_file(path);
        }
        let _ = facts.list_tree("/etc/kubernetes/pki");
        let _ = facts.processes();
        let _ = facts.run_shell(&ShellCommand {
            on_node: "cat /etc/kubernetes/admin.conf".into(),
            to_run: "cat /etc/kubernetes/admin.conf".into(),
        });
    }

    #[test]
    fn a_recorded_snapshot_holds_none_of_the_secret_bytes() {
        let node = node_with_secrets();
        let recording = RecordingFacts::new(SnapshotDirFacts::open(node.path()).unwrap());
        scan_like_a_check(&recording);
        let snapshot = recording.into_snapshot(None, &allow());
        let text = String::from_utf8(snapshot.to_json_bytes()).unwrap();
        for secret in [
            "UkVDT0dOSVNBQkxFLUtFWS1CWVRFUw==",
            "recognisable-token-0123456789",
            "UkVDT0dOSVNBQkxFLVBSSVZBVEUtS0VZ",
            "recognisable-flag-token",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into the snapshot");
        }
        assert!(
            text.contains("Q0VSVElGSUNBVEU="),
            "non-secret content is kept"
        );
        let applied = &snapshot.redactions.applied;
        assert!(
            applied.contains("file /etc/kubernetes/admin.conf: 2 values removed"),
            "{applied:?}"
        );
        let admin = snapshot.files["/etc/kubernetes/admin.conf"]
            .content
            .clone()
            .unwrap();
        assert!(
            !admin.contains("client-key-data") && admin.contains("client-certificate-data"),
            "only the keys a check reads are stored: {admin}"
        );
        assert!(!snapshot.redactions.rules.is_empty());
    }

    #[test]
    fn a_recorded_snapshot_answers_like_its_source() {
        let node = node_with_secrets();
        let source = SnapshotDirFacts::open(node.path()).unwrap();
        let recording = RecordingFacts::new(SnapshotDirFacts::open(node.path()).unwrap());
        scan_like_a_check(&recording);
        let snapshot = recording.into_snapshot(Some("2026-01-01T00:00:00Z".into()), &allow());
        let bytes = snapshot.to_gzip_bytes();
        let replay = SnapshotFacts::new(
            PathBuf::from("node.json.gz"),
            Snapshot::from_bytes(&bytes, Path::new("node.json.gz")).unwrap(),
        );
        for path in ["/etc/kubernetes/admin.conf", "/etc/kubernetes/absent.conf"] {
            assert_eq!(replay.stat(path), source.stat(path), "{path}");
        }
        assert_eq!(replay.read_file("/etc/kubernetes/absent.conf"), Ok(None));
        assert_eq!(
            replay.list_tree("/etc/kubernetes/pki"),
            source.list_tree("/etc/kubernetes/pki")
        );
        assert_eq!(replay.identity(), source.identity());
        // the shell audit was not evaluable from the source directory: nothing recorded
        assert!(matches!(
            replay.run_shell(&ShellCommand {
                on_node: "cat /etc/kubernetes/admin.conf".into(),
                to_run: String::new(),
            }),
            Err(FactError::NotRecorded { .. })
        ));
        let processes = replay.processes().unwrap();
        assert_eq!(
            processes[0].argv[1],
            format!("--token={}", allowlist::REMOVED)
        );
        assert_eq!(processes[0].argv[2], "--profiling=false");
        // never asked: not recorded
        assert!(matches!(
            replay.stat("/etc/kubernetes/kubelet.conf"),
            Err(FactError::NotRecorded { .. })
        ));
    }
}
